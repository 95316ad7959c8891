"""data.concat_s: training examples joined from consecutive utterances of one speaker."""

import json

import numpy as np
import pytest

from smolwhisper.config import ConfigError, load_run_config
from smolwhisper.data.base import MISSING_FILE, Skipped
from smolwhisper.data.concat import PAUSE_S, ConcatenatedSplit
from smolwhisper.data.features import fingerprint
from smolwhisper.data.manifest import load_manifest
from smolwhisper.train import Distributed, Trainer

from helpers import write_tone_corpus
from test_train import overrides


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The tone corpus with three speakers in its training manifest."""
    root = write_tone_corpus(tmp_path_factory.mktemp("corpus"), n_train=30)
    lines = [json.loads(line) for line in (root / "train.jsonl").read_text().splitlines()]
    for index, record in enumerate(lines):
        record["speaker"] = f"voice{index % 3}"
    (root / "train.jsonl").write_text("".join(json.dumps(record) + "\n" for record in lines))
    return root


def test_each_utterance_is_in_one_example_of_one_speaker_within_the_length(corpus):
    split = load_manifest(corpus / "train.jsonl")
    joined = ConcatenatedSplit(split, concat_s=4.0)
    members = sorted(index for group in joined.groups for index in group)
    assert members == list(range(len(split)))
    assert any(len(group) > 1 for group in joined.groups) and len(joined) < len(split)
    for group, entry in zip(joined.groups, joined.entries):
        assert len({split.entries[index].speaker for index in group}) == 1
        assert entry.duration_s <= 4.0 or len(group) == 1
        assert entry.text == " ".join(split.entries[index].text for index in group)
    assert ConcatenatedSplit(split, concat_s=4.0).groups == joined.groups  # fixed: trials share its caches


def test_utterances_without_a_speaker_are_joined_too(corpus):
    split = load_manifest(corpus / "validation.jsonl")  # no speaker column
    assert not any(entry.speaker for entry in split.entries)
    assert any(len(group) > 1 for group in ConcatenatedSplit(split, concat_s=4.0).groups)


def test_an_example_is_its_members_audio_with_pauses_between(corpus):
    split = load_manifest(corpus / "train.jsonl")
    joined = ConcatenatedSplit(split, concat_s=4.0)
    index = next(i for i, group in enumerate(joined.groups) if len(group) > 1)
    utterance, group = joined[index], joined.groups[index]
    first, second = split.load_audio(group[0]), split.load_audio(group[1])
    pause = round(joined.pauses[index][0] * 16000)
    assert PAUSE_S[0] * 16000 <= pause <= PAUSE_S[1] * 16000
    np.testing.assert_array_equal(utterance.audio[:len(first)], first)
    assert not utterance.audio[len(first): len(first) + pause].any()
    np.testing.assert_array_equal(utterance.audio[len(first) + pause: len(first) + pause + len(second)], second)
    assert utterance.duration_s == pytest.approx(joined.entries[index].duration_s, abs=1e-3)


def test_an_example_with_a_missing_member_is_skipped_and_the_rest_load(corpus, tmp_path):
    split = load_manifest(corpus / "train.jsonl")
    joined = ConcatenatedSplit(split, concat_s=4.0)
    index = next(i for i, group in enumerate(joined.groups) if len(group) > 1)
    split.audio_paths[split.entries[joined.groups[index][1]].id] = tmp_path / "gone.wav"
    skipped = joined[index]
    assert isinstance(skipped, Skipped) and skipped.reason == MISSING_FILE
    assert sum(isinstance(joined[i], Skipped) for i in range(len(joined))) == 1


def test_the_caches_tell_joined_examples_from_single_utterances(corpus):
    split = load_manifest(corpus / "train.jsonl")
    prints = {fingerprint(split, 80), fingerprint(ConcatenatedSplit(split, 4.0), 80),
              fingerprint(ConcatenatedSplit(split, 3.0), 80)}
    assert len(prints) == 3


def test_a_member_file_rewritten_changes_the_caches_fingerprint(corpus, tmp_path):
    split = load_manifest(corpus / "train.jsonl")
    before = fingerprint(ConcatenatedSplit(split, 4.0), 80)
    member = tmp_path / "rewritten.wav"
    member.write_bytes(split.audio_paths[split.entries[0].id].read_bytes() + b"\0")
    split.audio_paths[split.entries[0].id] = member  # same ids and durations, other audio
    assert fingerprint(ConcatenatedSplit(split, 4.0), 80) != before


def test_training_reads_joined_examples_and_validates_on_single_utterances(corpus, tmp_path):
    values = {"data.max_duration_s": 6, "data.concat_s": 4, "train.max_steps": 2}
    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path, **values)), Distributed())
    assert isinstance(trainer.datasets["train"], ConcatenatedSplit)
    assert not isinstance(trainer.datasets["validation"], ConcatenatedSplit)
    ids = [utterance_id for batch in trainer.loader for utterance_id in batch.ids]
    assert len(ids) == len(trainer.datasets["train"]) < 30 and any("+" in utterance_id for utterance_id in ids)
    assert trainer.train_step()["train/loss"] > 0


def test_concat_s_is_checked():
    with pytest.raises(ConfigError, match=r"data.concat_s.*must be in \[0, data.max_duration_s=30\]"):
        load_run_config(None, ["data.concat_s=31"])
    with pytest.raises(ConfigError, match="data.concat_s"):
        load_run_config(None, ["data.concat_s=-1"])
