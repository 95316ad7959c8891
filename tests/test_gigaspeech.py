"""GigaSpeech loading on a tiny local dataset with exactly the Hub copy's columns (no network)."""

import io
import pickle

import datasets
import numpy as np
import pytest
import soundfile

from smolwhisper.data.base import GARBAGE_TAG, UNREADABLE_AUDIO, Skipped, Utterance
from smolwhisper.data.gigaspeech import GigaSpeechStream, GigaSpeechUnavailable, load_gigaspeech
from smolwhisper.data.manifest import open_source
from smolwhisper.inference.metrics import normalize_gigaspeech, wer

# (segment_id, text as GigaSpeech writes it, begin_time, end_time, sample rate of the audio)
SPLITS = {
    "train": [
        ("YOU0000000315_S0000660", "AS THEY'RE LEAVING <COMMA> CAN KASH PULL ZAHRA ASIDE REALLY QUICKLY <QUESTIONMARK>",
         390.02, 392.21, 16000),
        ("POD0000000001_S0000001", "<COMMA> WELL I DON'T KNOW <PERIOD> I REALLY DON'T <EXCLAMATIONPOINT>",
         10.0, 11.5, 8000),
        ("POD0000000001_S0000002", "<SIL>", 11.5, 12.0, 16000),
        ("POD0000000001_S0000003", "<MUSIC>", 12.0, 14.0, 16000),
        ("AUD0000000002_S0000009", "THE END OF THE CHAPTER", 0.0, 1.0, None),  # corrupt audio bytes
    ],
    "validation": [("POD1000000004_S0000017", "THAT'S A GOOD QUESTION <QUESTIONMARK>", 5.0, 6.25, 16000)],
    "test": [("POD1000000032_S0000094", "WE'LL SEE YOU NEXT WEEK <PERIOD>", 100.0, 101.5, 16000)],
}
TRAIN_TEXTS = ["as they're leaving, can kash pull zahra aside really quickly?",
               "well i don't know. i really don't!",
               "the end of the chapter"]


def wav_bytes(seconds, sample_rate):
    buffer = io.BytesIO()
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), sample_rate, format="WAV")
    return buffer.getvalue()


def gigaspeech_split(rows):
    columns = {name: [] for name in ("segment_id", "speaker", "text", "audio", "begin_time", "end_time", "audio_id",
                                     "title", "url", "source", "category", "original_full_path")}
    for segment_id, text, begin, end, rate in rows:
        audio_id = segment_id.split("_")[0]
        audio = wav_bytes(end - begin, rate) if rate else b"definitely not a wav file"
        values = {"segment_id": segment_id, "speaker": "N/A", "text": text,
                  "audio": {"bytes": audio, "path": f"{segment_id}.wav"}, "begin_time": begin, "end_time": end,
                  "audio_id": audio_id, "title": "a title", "url": "https://example.org", "source": 2,
                  "category": 24, "original_full_path": f"audio/podcast/P0000/{audio_id}.opus"}
        for name, value in values.items():
            columns[name].append(value)
    return datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio())


@pytest.fixture(scope="module")
def local_copies(tmp_path_factory):
    """The same three splits saved twice: as a DatasetDict on disk and as <split>.parquet files."""
    root = tmp_path_factory.mktemp("gigaspeech")
    splits = datasets.DatasetDict({name: gigaspeech_split(rows) for name, rows in SPLITS.items()})
    splits.save_to_disk(str(root / "saved"))
    for name, split in splits.items():
        split.to_parquet(str(root / "parquet" / f"{name}.parquet"))
    return {"saved": root / "saved", "parquet": root / "parquet", "cache": root / "cache"}


def test_transcripts_are_normalised_and_garbage_segments_dropped_and_counted(local_copies):
    train = load_gigaspeech("xs", "train", path=local_copies["saved"])
    assert [entry.text for entry in train.entries] == TRAIN_TEXTS
    assert train.skipped == {GARBAGE_TAG: 2}
    assert train.durations_s == pytest.approx([392.21 - 390.02, 1.5, 1.0])  # end_time - begin_time
    assert all(entry.speaker is None for entry in train.entries)  # GigaSpeech's "N/A"
    plain = load_gigaspeech("xs", "train", path=local_copies["saved"], keep_punctuation=False, lowercase=False)
    assert [entry.text for entry in plain.entries] == [
        "AS THEY'RE LEAVING CAN KASH PULL ZAHRA ASIDE REALLY QUICKLY", "WELL I DON'T KNOW I REALLY DON'T",
        "THE END OF THE CHAPTER"]


def test_audio_is_decoded_from_bytes_at_16khz_and_corrupt_audio_is_skipped(local_copies):
    train = load_gigaspeech("xs", "train", path=local_copies["saved"])
    first, resampled, corrupt = train[0], train[1], train[2]
    assert isinstance(first, Utterance) and len(first.audio) == pytest.approx(2.19 * 16000, abs=2)
    assert isinstance(resampled, Utterance) and len(resampled.audio) == pytest.approx(1.5 * 16000, abs=2)  # from 8 kHz
    assert resampled.audio.dtype == np.float32
    assert isinstance(corrupt, Skipped) and corrupt.reason == UNREADABLE_AUDIO
    # DataLoader workers receive the dataset pickled; the copy reads the same audio
    copy = pickle.loads(pickle.dumps(train))
    np.testing.assert_array_equal(copy[1].audio, resampled.audio)


def test_parquet_directory_loads_through_the_same_path(local_copies):
    train = load_gigaspeech("xs", "train", path=local_copies["parquet"], cache_dir=local_copies["cache"])
    assert [entry.text for entry in train.entries] == TRAIN_TEXTS
    assert isinstance(train[0], Utterance)


def test_the_test_split_is_never_reachable_from_a_training_loader(local_copies):
    with pytest.raises(ValueError, match="test split is for final evaluation only"):
        load_gigaspeech("xs", "test", purpose="train", path=local_copies["saved"])
    training = open_source(f"gigaspeech:xs:{local_copies['saved']}")
    assert sorted(training) == ["train", "validation"]
    test_ids = {row[0] for row in SPLITS["test"]}
    assert not test_ids & {entry.id for dataset in training.values() for entry in dataset.entries}
    assert sorted(open_source(f"gigaspeech:xs:{local_copies['saved']}", purpose="evaluate")) == ["test", "validation"]
    evaluation = load_gigaspeech("xs", "test", purpose="evaluate", path=local_copies["saved"])
    assert [entry.id for entry in evaluation.entries] == sorted(test_ids)


def test_streaming_yields_the_same_utterances(local_copies):
    stream = load_gigaspeech("xs", "train", path=local_copies["saved"], streaming=True)
    assert isinstance(stream, GigaSpeechStream)
    items = list(stream)
    assert [item.text for item in items if isinstance(item, Utterance)] == TRAIN_TEXTS[:2]
    assert [item.reason for item in items if isinstance(item, Skipped)] == [UNREADABLE_AUDIO]
    assert stream.skipped == {GARBAGE_TAG: 2}
    # two DDP ranks see disjoint parts that together make the whole split
    parts = [[item.id for item in stream.for_rank(rank, 2)] for rank in range(2)]
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(item.id for item in items)


def test_references_from_the_loader_score_like_the_original_transcripts(local_copies):
    # the official scoring gives the same words from our lower-cased, punctuated text as from the raw tags
    train = load_gigaspeech("xs", "train", path=local_copies["saved"])
    raw = {segment_id: text for segment_id, text, *_ in SPLITS["train"]}
    for entry in train.entries:
        assert normalize_gigaspeech(entry.text) == normalize_gigaspeech(raw[entry.id])
    hyps = ["as they're leaving can cash pull zara aside really quickly", "um well i know i really don't",
            "the end of chapter"]
    # 10 + 7 + 5 reference words; errors: 2 substitutions; 1 deletion (DON'T); 1 deletion (THE): 4 / 22
    assert wer([entry.text for entry in train.entries], hyps, normalize=normalize_gigaspeech) == pytest.approx(4 / 22)


def test_without_a_token_the_hub_loader_fails_fast_with_instructions(tmp_path, monkeypatch):
    import huggingface_hub.constants

    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(GigaSpeechUnavailable) as error:
        load_gigaspeech("xs", "train")
    message = str(error.value)
    assert "hf auth login" in message and "HF_TOKEN" in message and "data.source: gigaspeech:xs:D" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match=r"subset must be one of \('xs', 's', 'm', 'l', 'xl'\), got 'xxl'"):
        load_gigaspeech("xxl", "train")


@pytest.mark.slow  # starts a fresh interpreter: 2.5 s alone, 5 s on a busy machine
def test_offline_without_a_cached_copy_fails_with_instructions(tmp_path):
    # a fresh interpreter, because huggingface_hub reads HF_HUB_OFFLINE when it is imported
    import os
    import subprocess
    import sys

    code = ("from smolwhisper.data.gigaspeech import load_gigaspeech\n"
            f"load_gigaspeech('xs', 'validation', cache_dir={str(tmp_path / 'cache')!r})\n")
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "home"))
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "GigaSpeechUnavailable: speechcolab/gigaspeech (subset xs) is not in the local cache" in result.stderr
    assert "data.source: gigaspeech:xs:D" in result.stderr


# --- the data check against a simulated Hub (tests/fake_hub.py) ---

@pytest.fixture(scope="module")
def hub_repos(tmp_path_factory):
    import fake_hub

    return fake_hub.make_repos(tmp_path_factory.mktemp("hub"))


@pytest.fixture
def hub(hub_repos, tmp_path, monkeypatch):
    """Install the simulated repository `name` with a (fake) token; returns its directory."""
    import fake_hub

    monkeypatch.setenv("HF_TOKEN", fake_hub.FAKE_TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)

    def install(name: str):
        fake_hub.install(hub_repos[name], name, monkeypatch.setattr)
        return hub_repos[name]
    return install


def check_fails(subset, **kwargs) -> str:
    from smolwhisper.data.gigaspeech_hub import check_gigaspeech

    with pytest.raises(GigaSpeechUnavailable) as error:
        check_gigaspeech(subset, **kwargs)
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_hub_revision_with_the_loading_script_is_refused_naming_a_way_out(hub):
    hub("script")
    message = check_fails("s")
    assert "speechcolab/gigaspeech (commit 0000000000000000000000000000000000000001) holds the loading script " \
           "gigaspeech.py, which datasets >= 4 no longer runs" in message
    assert "data.source: gigaspeech:s@refs/pr/20" in message and "lhotse prepare gigaspeech" in message
    assert "hf download speechcolab/gigaspeech --repo-type dataset --revision refs/pr/20 --local-dir D" in message


def test_a_local_clone_with_the_loading_script_is_refused_whatever_its_directory_is_called(hub_repos, tmp_path):
    import shutil

    message = check_fails("s", path=hub_repos["script"])  # the directory named gigaspeech
    assert "holds the loading script gigaspeech.py" in message
    renamed = shutil.copytree(hub_repos["script"], tmp_path / "my-copy")
    assert "holds the loading script gigaspeech.py" in check_fails("s", path=renamed)


def test_terms_not_accepted_say_where_to_accept_them(hub):
    hub("gated")
    message = check_fails("xs")
    assert "has not accepted its terms: accept them at https://huggingface.co/datasets/speechcolab/gigaspeech" in message


def test_a_subset_the_revision_lacks_names_the_configs_it_has(hub):
    hub("parquet")
    message = check_fails("s")
    assert "speechcolab/gigaspeech has no config 's'" in message and "'xs'" in message


def test_the_parquet_layout_passes_the_check_and_loads_recording_its_commit(hub):
    from smolwhisper.data.gigaspeech_hub import check_gigaspeech

    hub("parquet")
    commit = "0" * 39 + "2"
    assert check_gigaspeech("xs") == (f"speechcolab/gigaspeech at commit {commit}: subset xs, "
                                      "splits train, validation, test")
    train = load_gigaspeech("xs", "train")
    assert [entry.text for entry in train.entries] == ["well, hello there."] and train.revision == commit
    assert isinstance(train[0], Utterance)


def test_a_copy_without_gigaspeechs_columns_or_splits_is_refused(tmp_path):
    import datasets

    from smolwhisper.data.gigaspeech_hub import check_gigaspeech

    for split in ("train", "validation"):
        datasets.Dataset.from_dict({"segment_id": ["a"], "text": ["HI"]}).to_parquet(str(tmp_path / f"{split}.parquet"))
    with pytest.raises(GigaSpeechUnavailable, match=r"has splits \['train', 'validation'\], not \['test'\]"):
        check_gigaspeech("xs", path=tmp_path)
    datasets.Dataset.from_dict({"segment_id": ["a"], "text": ["HI"]}).to_parquet(str(tmp_path / "test.parquet"))
    with pytest.raises(ValueError, match=r"missing columns \['speaker', 'begin_time', 'end_time', 'audio'\]"):
        check_gigaspeech("xs", path=tmp_path)


def test_a_run_on_the_hub_copy_records_the_commit_it_read(hub, tmp_path):
    import json

    from smolwhisper.train.recipe import main

    hub("parquet")
    run_dir = tmp_path / "run"
    args = ["model.preset=test", "model.n_text_ctx=32", "data.source=gigaspeech:xs", "data.vocab_size=300",
            "data.num_workers=0", "train.max_steps=1", f"train.out_dir={run_dir}",
            "train.progress=false", "eval.every_steps=1", "eval.max_tokens=4"]
    assert main(args) == 0
    params = json.loads((run_dir / "params.json").read_text())
    assert params["data.revision"] == "0" * 39 + "2"


def test_offline_the_check_asks_the_local_cache_not_the_hub(hub, monkeypatch):
    """HF_HUB_OFFLINE: no token needed and no Hub call (the simulated repository would refuse it as
    gated); what `datasets` finds locally (here the simulated repository, standing in for its cache)
    is checked as online."""
    from smolwhisper.data.gigaspeech_hub import check_gigaspeech

    hub("gated")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN")
    found = check_gigaspeech("xs")
    assert found.startswith("speechcolab/gigaspeech at commit ") and "0" * 39 + "3" not in found
    assert "has no config 's'" in check_fails("s")
