import json

import pytest

from smolwhisper.data.base import (EMPTY_TRANSCRIPT, MISSING_FILE, TOO_LONG, TOO_SHORT, UNREADABLE_AUDIO, Skipped,
                                   Utterance)
from smolwhisper.data.manifest import ManifestError, load_audiofolder, load_manifest, open_source

from helpers import write_tone


@pytest.fixture
def audio_dir(tmp_path):
    """Real files at three sample rates, one stereo, one corrupt; `gone.wav` is never written."""
    audio = tmp_path / "audio"
    audio.mkdir()
    write_tone(audio / "a.wav", 1.0, sample_rate=16000)
    write_tone(audio / "b.flac", 0.5, sample_rate=44100, channels=2)
    write_tone(audio / "c.wav", 2.0, sample_rate=8000)
    (audio / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEthis is not audio")
    return audio


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_jsonl_manifest_resolves_paths_reads_durations_and_resamples_to_16khz(tmp_path, audio_dir):
    manifest = write_jsonl(tmp_path / "manifests" / "train.jsonl", [
        {"audio_filepath": "../audio/a.wav", "text": "first", "duration": 1.0, "speaker": "ann"},
        {"audio_filepath": str(audio_dir / "b.flac"), "text": "second", "voice": "joe", "id": "utt-b"},
        {"audio_filepath": "../audio/c.wav", "text": "third", "speaker": 0, "id": 0},
    ])
    dataset = load_manifest(manifest)
    assert [entry.id for entry in dataset.entries] == ["../audio/a.wav", "utt-b", "0"]
    assert [entry.speaker for entry in dataset.entries] == ["ann", "joe", "0"]
    # durations missing from the manifest come from the file headers
    assert dataset.durations_s == pytest.approx([1.0, 0.5, 2.0])
    for index, expected_s in enumerate([1.0, 0.5, 2.0]):
        item = dataset[index]
        assert isinstance(item, Utterance)
        assert item.audio.dtype.name == "float32" and item.audio.ndim == 1
        assert len(item.audio) == pytest.approx(expected_s * 16000, abs=2)  # 44.1 and 8 kHz resampled
    assert dataset[0].text == "first" and dataset.skipped == {}


def test_missing_and_corrupt_files_are_skipped_and_counted(tmp_path, audio_dir):
    rows = [{"audio_filepath": "audio/a.wav", "text": "fine"},
            {"audio_filepath": "audio/corrupt.wav", "text": "corrupt"},
            {"audio_filepath": "audio/gone.wav", "text": "missing"}]
    # without durations the headers are read up front: the bad files are dropped there
    dataset = load_manifest(write_jsonl(tmp_path / "probe.jsonl", rows))
    assert len(dataset) == 1
    assert dataset.skipped == {MISSING_FILE: 1, UNREADABLE_AUDIO: 1}
    # with durations nothing is opened up front, and the items come back as Skipped
    dataset = load_manifest(write_jsonl(tmp_path / "trusted.jsonl", [dict(row, duration=1.0) for row in rows]))
    items = [dataset[index] for index in range(len(dataset))]
    assert isinstance(items[0], Utterance)
    assert [(item.id, item.reason) for item in items[1:]] == [("audio/corrupt.wav", UNREADABLE_AUDIO),
                                                              ("audio/gone.wav", MISSING_FILE)]
    assert all(isinstance(item, Skipped) for item in items[1:])


def test_csv_and_tsv_manifests_accept_column_aliases(tmp_path, audio_dir):
    csv_manifest = tmp_path / "set.csv"
    csv_manifest.write_text('path,transcript,duration\naudio/a.wav,"hello, world",1.0\naudio/c.wav,bye,\n')
    tsv_manifest = tmp_path / "set.tsv"
    tsv_manifest.write_text("file\tsentence\tspeaker_id\naudio/b.flac\tstereo, resampled\tspk1\n")
    from_csv, from_tsv = load_manifest(csv_manifest), load_manifest(tsv_manifest)
    assert [entry.text for entry in from_csv.entries] == ["hello, world", "bye"]
    assert from_csv.durations_s == pytest.approx([1.0, 2.0])  # the empty duration cell is read from the header
    assert from_csv.entries[0].speaker is None
    assert from_tsv.entries[0].text == "stereo, resampled" and from_tsv.entries[0].speaker == "spk1"
    assert len(from_tsv[0].audio) == pytest.approx(8000, abs=2)


def test_metadata_filters_are_counted(tmp_path, audio_dir):
    manifest = write_jsonl(tmp_path / "m.jsonl", [
        {"audio_filepath": "audio/a.wav", "text": "ok", "duration": 1.0},
        {"audio_filepath": "audio/b.flac", "text": "too short", "duration": 0.5},
        {"audio_filepath": "audio/c.wav", "text": "too long", "duration": 2.0},
        {"audio_filepath": "audio/a.wav", "text": "  ", "duration": 1.0, "id": "blank"},
    ])
    dataset = load_manifest(manifest, min_duration_s=0.8, max_duration_s=1.5)
    assert [entry.text for entry in dataset.entries] == ["ok"]
    assert dataset.skipped == {TOO_SHORT: 1, TOO_LONG: 1, EMPTY_TRANSCRIPT: 1}


def test_malformed_manifests_fail_naming_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl"):
        load_manifest(tmp_path / "nowhere.jsonl")
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"audio_filepath": "a.wav", "text": "x", "duration": 1}\n\n{"audio_filepath": oops}\n')
    with pytest.raises(ManifestError, match=r"bad\.jsonl:3: not valid JSON"):
        load_manifest(bad_json)
    no_text = write_jsonl(tmp_path / "no_text.jsonl", [{"audio_filepath": "a.wav", "duration": 1}])
    with pytest.raises(ManifestError, match=r"no_text\.jsonl:1: no value for any of the columns \('text'"):
        load_manifest(no_text)
    bad_duration = write_jsonl(tmp_path / "dur.jsonl", [{"audio_filepath": "a.wav", "text": "x", "duration": "soon"}])
    with pytest.raises(ManifestError, match=r"dur\.jsonl:1: duration must be"):
        load_manifest(bad_duration)
    no_text_column = tmp_path / "no_text.csv"
    no_text_column.write_text("path,duration\na.wav,1.0\n")
    with pytest.raises(ManifestError, match=r"no_text\.csv:1: header .* has no text column"):
        load_manifest(no_text_column)
    duplicate = write_jsonl(tmp_path / "dup.jsonl", [{"path": "a.wav", "text": "x", "duration": 1}] * 2)
    with pytest.raises(ManifestError, match=r"dup\.jsonl:2: id 'a.wav' already used on line 1"):
        load_manifest(duplicate)


def test_audiofolder_with_split_directories(tmp_path):
    folder = tmp_path / "folder"
    for split, rate in (("train", 22050), ("test", 16000)):
        (folder / split).mkdir(parents=True)
        write_tone(folder / split / "x.wav", 0.75, sample_rate=rate)
    write_jsonl(folder / "train" / "metadata.jsonl", [{"file_name": "x.wav", "transcription": "train words"}])
    (folder / "test" / "metadata.csv").write_text("file_name,text\nx.wav,test words\n")
    train = load_audiofolder(folder, "train")
    assert train.entries[0].text == "train words" and train.durations_s == pytest.approx([0.75], abs=1e-4)
    assert len(train[0].audio) == pytest.approx(12000, abs=2)
    assert load_audiofolder(folder, "test").entries[0].text == "test words"
    with pytest.raises(ValueError, match=r"has splits \['test', 'train'\]"):
        load_audiofolder(folder)
    with pytest.raises(ValueError, match=r"no split 'dev'; found \['test', 'train'\]"):
        load_audiofolder(folder, "dev")


def test_open_source_resolves_files_audiofolders_and_split_manifest_directories(tmp_path, audio_dir):
    # the synthetic corpus layout: <split>.jsonl beside <split>/ audio directories
    corpus = tmp_path / "corpus"
    for split in ("train", "dev", "test"):
        (corpus / split).mkdir(parents=True)
        write_tone(corpus / split / "x.flac", 0.5, sample_rate=22050)
        write_jsonl(corpus / f"{split}.jsonl", [{"audio_filepath": f"{split}/x.flac", "text": f"{split} text",
                                                 "duration": 0.5, "speaker": "slt", "engine": "flite"}])
    (corpus / "summary.json").write_text("{}")  # not a split name: ignored
    training = open_source(corpus)
    assert sorted(training) == ["train", "validation"]  # "dev" is read as validation; test is withheld
    assert training["validation"].entries[0].text == "dev text"
    assert sorted(open_source(corpus, purpose="evaluate")) == ["test", "train", "validation"]
    with pytest.raises(ValueError, match="only a test split"):
        open_source(corpus / "test.jsonl")
    assert open_source(corpus / "test.jsonl", purpose="evaluate")["test"][0].text == "test text"

    folder = tmp_path / "folder"
    folder.mkdir()
    write_tone(folder / "y.wav", 0.25)
    (folder / "metadata.csv").write_text("file_name,transcription\ny.wav,top level\n")
    assert open_source(folder)["train"].entries[0].text == "top level"
    with pytest.raises(FileNotFoundError, match="absent"):
        open_source(tmp_path / "absent")
    with pytest.raises(ValueError, match="neither an audiofolder"):
        open_source(audio_dir)


def test_files_deleted_cut_or_replaced_after_the_manifest_was_read_are_skipped_and_counted(tmp_path):
    """The manifest is read when the job starts; its files may change while it trains."""
    import numpy as np
    import soundfile

    from smolwhisper.data.base import TRUNCATED
    from smolwhisper.data.loader import Collator
    from smolwhisper.tokenizer import train_bpe

    names = ["kept", "deleted", "cut", "cut_flac", "grown", "nan"]
    for name in names:
        write_tone(tmp_path / f"{name}.{'flac' if name == 'cut_flac' else 'wav'}", 2.0)
    dataset = load_manifest(write_jsonl(tmp_path / "train.jsonl", [  # durations from the headers
        {"audio_filepath": f"{name}.{'flac' if name == 'cut_flac' else 'wav'}", "text": name} for name in names]),
        max_duration_s=10)
    (tmp_path / "deleted.wav").unlink()
    for name in ("cut.wav", "cut_flac.flac"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 3])
    write_tone(tmp_path / "grown.wav", 40.0)
    soundfile.write(tmp_path / "nan.wav", np.full(32000, np.nan, np.float32), 16000, subtype="FLOAT")

    items = [dataset[i] for i in range(len(dataset))]
    assert isinstance(items[0], Utterance)
    assert {item.id: item.reason for item in items[1:]} == {
        "deleted.wav": MISSING_FILE, "cut.wav": TRUNCATED, "cut_flac.flac": UNREADABLE_AUDIO, "grown.wav": TOO_LONG,
        "nan.wav": UNREADABLE_AUDIO}
    batch = Collator(train_bpe(names * 10, vocab_size=300), n_text_ctx=32)(items)
    assert batch.ids == ["kept.wav"]
    assert batch.skipped == {MISSING_FILE: 1, TRUNCATED: 1, UNREADABLE_AUDIO: 2, TOO_LONG: 1}


def test_training_counts_files_that_went_missing_mid_run(tmp_path):
    """End to end: the trainer logs data/skipped_<reason> for files deleted after it read the manifest."""
    import json

    from smolwhisper.config import load_run_config
    from smolwhisper.train import Distributed, Trainer

    from helpers import write_tone_corpus

    corpus = write_tone_corpus(tmp_path / "corpus", n_train=8, n_validation=2)
    cfg = load_run_config(None, [f"{k}={v}" for k, v in {
        "model.preset": "test", "model.n_text_ctx": 32, "data.source": corpus, "data.vocab_size": 300,
        "data.max_batch_s": 30, "data.max_duration_s": 2, "data.num_workers": 0, "train.max_steps": 1,
        "train.out_dir": tmp_path / "run", "train.progress": False, "eval.every_steps": 1,
        "eval.max_tokens": 4}.items()])  # one step: one batch holding the whole split
    trainer = Trainer(cfg, Distributed())
    for path in sorted((corpus / "train").glob("*.wav"))[:3]:
        path.unlink()
    summary = trainer.fit()
    assert summary["status"] == "FINISHED" and summary["skipped"] == {MISSING_FILE: 3}
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["data/skipped_missing_file"] for line in lines if "train/loss" in line] == [3]
