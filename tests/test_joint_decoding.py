"""Joint CTC/attention decoding and attention rescoring (smolwhisper/inference/joint_decoding.py), each against
the search or the brute-force score it must reduce to."""

import math
from dataclasses import replace

import pytest
import torch

from smolwhisper.config import model_preset
from smolwhisper.inference.ctc_lm import LexiconDecoder, LexiconSearch, WordNgramLM
from smolwhisper.inference.ctc_prefix import ctc_prefix_beam_search
from smolwhisper.inference.decoding import DecodingTask
from smolwhisper.inference.joint_decoding import (DECODERS, DecoderOptions, decode_batch, joint_beam_search, pick_best,
                                                  rescoring_scores)
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import train_bpe

from helpers import randomize
from test_ctc_prefix import all_alignments
from test_ctc_lm import frames_spelling

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the dog sat on a log"]


@pytest.fixture(scope="module")
def small():
    """A random model with a CTC head and a bytes-only tokenizer (every piece is one byte)."""
    tokenizer = train_bpe(TEXTS * 20, vocab_size=300, min_frequency=10_000)
    torch.manual_seed(0)  # the initialisation that randomize perturbs, whatever ran before
    model = randomize(Whisper(model_preset("test", n_vocab=tokenizer.n_vocab, ctc_weight=0.3)), seed=5).eval()
    return model, tokenizer


def _features(model, lengths: list[int], seed: int):
    mel = torch.randn(len(lengths), 80, 2 * max(lengths), generator=torch.Generator().manual_seed(seed))
    mel_mask = torch.arange(mel.shape[-1])[None, :] < 2 * torch.tensor(lengths)[:, None]
    return model.encoder(mel, mel_mask)


def _spiky_ctc(tokenizer, letters: str, n_frames: int, n_utterances: int, seed: int) -> torch.Tensor:
    """CTC log-probs whose mass lies on `letters`' byte tokens and blank alone (log 0 elsewhere)."""
    classes = [tokenizer.hf.token_to_id(c) for c in letters] + [tokenizer.n_vocab]
    logits = torch.full((n_utterances, n_frames, tokenizer.n_vocab + 1), -math.inf)
    logits[..., classes] = 2 * torch.randn(n_utterances, n_frames, len(classes),
                                           generator=torch.Generator().manual_seed(seed))
    return logits.log_softmax(dim=-1)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_with_ctc_weight_0_the_joint_search_is_whispers_beam_search(small, beam_size):
    model, tokenizer = small
    features, mask = _features(model, [150, 90, 40], seed=0)
    options = DecoderOptions(joint_beam_size=beam_size, ctc_weight=0.0, max_tokens=10)
    ctc = model.ctc_log_probs(features, mask)
    joint = joint_beam_search(model, tokenizer, features, mask, *ctc, options)
    whisper = DecodingTask(model, tokenizer, options.joint_options()).run(features, mask)
    assert [r.tokens for r in joint] == [r.tokens for r in whisper]
    assert [r.sum_logprob for r in joint] == pytest.approx([r.sum_logprob for r in whisper], abs=1e-4)
    assert any(r.tokens for r in joint)


@pytest.mark.parametrize("seed", range(3))
def test_with_ctc_weight_1_the_joint_search_finds_what_the_ctc_prefix_beam_search_finds(small, seed):
    model, tokenizer = small
    n_frames, lengths = 7, torch.tensor([7, 5])
    ctc = _spiky_ctc(tokenizer, "abc", n_frames, 2, seed)
    features, mask = _features(model, lengths.tolist(), seed)
    options = DecoderOptions(joint_beam_size=4, ctc_weight=1.0, max_tokens=10, max_tokens_per_second=0)
    joint = joint_beam_search(model, tokenizer, features, mask, ctc, lengths, options)
    prefix_search = ctc_prefix_beam_search(ctc, lengths, beam_size=4)
    classes = {tokenizer.hf.token_to_id(c): i for i, c in enumerate("abc")}
    for i, length in enumerate(lengths.tolist()):
        assert joint[i].tokens == prefix_search[i][0][0]
        # both are the most likely transcript of all, and the joint score is its CTC log-likelihood
        small_ctc = ctc[i, :length][:, [*classes, tokenizer.n_vocab]]
        exact = all_alignments(small_ctc)
        best = max(exact, key=exact.get)
        assert [classes[t] for t in joint[i].tokens] == list(best)
        assert joint[i].sum_logprob == pytest.approx(exact[best], abs=1e-4)


def test_rescoring_scores_are_the_brute_force_scores_and_pick_their_best(small):
    model, tokenizer = small
    lengths = torch.tensor([8, 6])
    ctc = _spiky_ctc(tokenizer, "ab", 8, 2, seed=7)
    features, mask = _features(model, lengths.tolist(), seed=7)
    candidates = [["ab", "ba", "abab", "b", ""], ["a", "bab", "aab"]]
    weight = 0.4
    scores = rescoring_scores(model, tokenizer, features, mask, ctc, lengths, candidates, weight)

    prompt = [tokenizer.sot, tokenizer.no_timestamps]
    classes = [tokenizer.hf.token_to_id(c) for c in ("Ġ", "a", "b")]
    for i, group in enumerate(candidates):
        paths = all_alignments(ctc[i, :lengths[i]][:, [*classes, tokenizer.n_vocab]])
        brute = []
        for text in group:
            tokens = tokenizer.encode(" " + text) if text else []
            ctc_score = paths.get(tuple(classes.index(t) for t in tokens), -math.inf)
            sequence = torch.tensor([[*prompt, *tokens, tokenizer.eot]])
            with torch.no_grad():  # alone, unpadded, one full decoder pass per candidate
                logits = model.decoder(sequence[:, :-1], features[i:i + 1, :lengths[i]]).logits
            attention = logits.log_softmax(-1)[0, len(prompt) - 1:].gather(1, sequence[0, len(prompt):, None]).sum()
            brute.append(weight * ctc_score + (1 - weight) * attention.item())
        assert scores[i] == pytest.approx(brute, abs=1e-4)
        assert pick_best([group], [scores[i]]) == [group[max(range(len(group)), key=brute.__getitem__)]]


def test_the_joint_search_with_the_lm_corrects_a_misspelt_word_as_the_lexicon_search_does():
    tokenizer = train_bpe(TEXTS * 20, vocab_size=300, min_frequency=10_000)
    torch.manual_seed(0)
    model = randomize(Whisper(model_preset("test", n_vocab=tokenizer.n_vocab, ctc_weight=0.3)), seed=2).eval()
    text = " the cat sat on the mat"
    ctc = frames_spelling(tokenizer, text, confusions={text.index("t on"): ("d", 0.5)})[None]
    lengths = torch.tensor([ctc.shape[1]])
    lexicon = LexiconDecoder(WordNgramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=8))
    features, mask = _features(model, lengths.tolist(), seed=0)
    options = DecoderOptions(joint_beam_size=4, ctc_weight=1.0, max_tokens=40, max_tokens_per_second=0)
    without_lm = joint_beam_search(model, tokenizer, features, mask, ctc, lengths, options)
    assert without_lm[0].text == "the cat sad on the mat"
    with_lm = joint_beam_search(model, tokenizer, features, mask, ctc, lengths, options, lexicon.fusion)
    assert with_lm[0].text == lexicon(ctc, lengths)[0] == "the cat sat on the mat"


def test_every_decoder_decodes_a_batch_and_the_lm_decoders_stay_in_the_lexicon(small):
    model, tokenizer = small
    mel = torch.randn(3, 80, 240, generator=torch.Generator().manual_seed(3))
    mel_mask = torch.arange(240)[None, :] < torch.tensor([240, 160, 60])[:, None]
    lexicon = LexiconDecoder(WordNgramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=8))
    options = DecoderOptions(beam_size=2, max_tokens=12)
    texts = decode_batch(model, tokenizer, mel, mel_mask, DECODERS, options, lexicon)
    assert set(texts) == set(DECODERS) and all(len(t) == 3 for t in texts.values())
    words = {w for text in TEXTS for w in text.split()}
    for name in ("ctc_lm", "rescore_lm", "joint_lm"):
        assert all(set(text.split()) <= words for text in texts[name]), name
    # one utterance decoded alone gives what it gave in the padded batch
    alone = decode_batch(model, tokenizer, mel[1:2, :, :160], None, DECODERS, options, lexicon)
    assert {name: t[1] for name, t in texts.items()} == {name: t[0] for name, t in alone.items()}


def test_decoders_that_cannot_run_say_why(small):
    model, tokenizer = small
    mel = torch.randn(1, 80, 100)
    no_head = Whisper(model_preset("test", n_vocab=tokenizer.n_vocab))
    with pytest.raises(ValueError, match="decoder 'joint' needs a CTC head"):
        decode_batch(no_head, tokenizer, mel, None, ["joint"])
    with pytest.raises(ValueError, match="decoder 'rescore_lm' needs the word LM"):
        decode_batch(model, tokenizer, mel, None, ["rescore_lm"])
    with pytest.raises(ValueError, match="decoder 'beam' is unknown; allowed: attention, ctc"):
        decode_batch(model, tokenizer, mel, None, ["beam"])
    with pytest.raises(ValueError, match="DecoderOptions.ctc_weight: 1.5 must be between 0 and 1"):
        replace(DecoderOptions(), ctc_weight=1.5)
