"""Corpora through Lhotse manifests: segments of long recordings read by offset, speed-perturbed cuts,
GigaSpeech's official release (GigaSpeech.json and long Opus recordings) as Lhotse prepares it."""

import json

import numpy as np
import pytest
import soundfile

from smolwhisper.data.base import GARBAGE_TAG, Utterance
from smolwhisper.data.manifest import open_source
from smolwhisper.data.sources import lhotse_splits

from helpers import write_lhotse_corpus, write_tone_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("lhotse")
    write_tone_corpus(root / "corpus", n_train=8, n_validation=4)
    return write_lhotse_corpus(root / "corpus", root / "manifests")


def test_segments_of_long_recordings_read_by_offset_are_the_utterances_themselves(corpus):
    lhotse = open_source(f"lhotse:{corpus}")
    direct = open_source(str(corpus / "direct"))
    assert sorted(lhotse) == sorted(direct) == ["train", "validation"]
    for split in direct:
        assert [(e.id, e.text, e.duration_s) for e in lhotse[split].entries] == \
               [(e.id, e.text, e.duration_s) for e in direct[split].entries]
        for index in range(len(direct[split])):
            ours, theirs = lhotse[split][index], direct[split][index]
            assert isinstance(ours, Utterance) and np.array_equal(ours.audio, theirs.audio), ours.id


def test_a_directory_names_its_training_part_and_finds_dev_and_test(tmp_path):
    for name in ("gigaspeech_cuts_XL", "gigaspeech_cuts_DEV", "gigaspeech_cuts_TEST", "librispeech_cuts_dev-other"):
        (tmp_path / f"{name}.jsonl.gz").write_bytes(b"")
    splits = lhotse_splits(f"lhotse:{tmp_path}:XL")
    assert {split: part.name for split, part in splits.items()} == {
        "train": "XL", "validation": "DEV", "test": "TEST", "dev-other": "dev-other"}
    with pytest.raises(ValueError, match=r"has no Lhotse part 'M'; it has \['DEV', 'TEST', 'XL', 'dev-other'\]"):
        lhotse_splits(f"lhotse:{tmp_path}:M")
    with pytest.raises(FileNotFoundError, match="Lhotse manifest 'nowhere' does not exist"):
        lhotse_splits("lhotse:nowhere")


def test_speed_perturbed_cuts_play_faster_as_lhotse_reads_them(corpus, tmp_path):
    from lhotse import CutSet, load_manifest

    recordings = load_manifest(corpus / "corpus_recordings_train.jsonl.gz")
    supervisions = load_manifest(corpus / "corpus_supervisions_train.jsonl.gz")
    cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions).trim_to_supervisions(
        keep_overlapping=False)
    perturbed = CutSet.from_cuts([cut.perturb_speed(1.1) for cut in cuts.subset(first=3)])
    perturbed.to_file(tmp_path / "corpus_cuts_train.jsonl.gz")
    [train] = open_source(f"lhotse:{tmp_path / 'corpus_cuts_train.jsonl.gz'}").values()
    for cut, entry, item in zip(perturbed, train.entries, (train[i] for i in range(len(train)))):
        assert entry.id == cut.id and entry.id.endswith("_sp1.1") and entry.duration_s == cut.duration
        reference = cut.load_audio()[0]  # Lhotse's own reading of the perturbed cut
        assert abs(len(item.audio) - len(reference)) <= 1
        n = min(len(item.audio), len(reference)) - 16  # the resamplers differ in their first and last samples
        assert np.corrcoef(item.audio[16:n], reference[16:n])[0, 1] > 0.999


def test_gigaspeechs_official_release_through_lhotse_manifests(tmp_path):
    """A GigaSpeech.json (the official release's metadata: long Opus recordings, segments by begin and end
    time, transcripts with tags) and the Lhotse manifests made from it as `lhotse prepare gigaspeech` does."""
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    rng = np.random.default_rng(0)
    release = {"audios": []}
    for n, texts in enumerate([["WELL <COMMA> HELLO THERE <PERIOD>", "<MUSIC>"], ["IS IT RAINING <QUESTIONMARK>"]]):
        path = tmp_path / "audio" / "podcast" / f"POD000000000{n}.opus"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, (0.1 * rng.standard_normal(16000 * 8)).astype(np.float32), 16000,
                        format="OGG", subtype="OPUS")
        segments = [{"sid": f"POD000000000{n}_S000000{k}", "speaker": "N/A", "begin_time": 1.0 + 3 * k,
                     "end_time": 2.5 + 3 * k, "text_tn": text, "subsets": ["{XS}"]} for k, text in enumerate(texts)]
        release["audios"].append({"aid": f"POD000000000{n}", "path": str(path.relative_to(tmp_path)),
                                  "segments": segments})
    (tmp_path / "GigaSpeech.json").write_text(json.dumps(release))

    audios = json.loads((tmp_path / "GigaSpeech.json").read_text())["audios"]
    recordings = [Recording.from_file(tmp_path / a["path"], recording_id=a["aid"]) for a in audios]
    supervisions = [SupervisionSegment(s["sid"], a["aid"], start=s["begin_time"],
                                       duration=round(s["end_time"] - s["begin_time"], 8), text=s["text_tn"],
                                       speaker=s["speaker"]) for a in audios for s in a["segments"]]
    RecordingSet.from_recordings(recordings).to_file(tmp_path / "gigaspeech_recordings_XS.jsonl.gz")
    SupervisionSet.from_segments(supervisions).to_file(tmp_path / "gigaspeech_supervisions_XS.jsonl.gz")

    [train] = open_source(f"lhotse:{tmp_path}:XS").values()
    assert [(e.id, e.text, e.duration_s) for e in train.entries] == [
        ("POD0000000000_S0000000", "well, hello there.", 1.5), ("POD0000000001_S0000000", "is it raining?", 1.5)]
    assert train.skipped == {GARBAGE_TAG: 1}
    whole, _ = soundfile.read(tmp_path / audios[0]["path"], dtype="float32")
    assert np.array_equal(train[0].audio, whole[16000: 16000 + 24000])  # read by seeking, to the sample


@pytest.mark.slow  # a two-trial sweep through Ray, torchrun and MLflow: about 2 minutes on 2 cores
def test_a_sweep_over_lhotse_manifests_scores_as_the_same_utterances_read_directly(tmp_path):
    """Segments inside long recordings, read through Lhotse manifests, train and score exactly as the
    same utterances read from their own files: same log-mels (each source's cache built by the
    orchestrator), same batches, same model, same WER."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from smolwhisper import run_files

    root = Path(__file__).resolve().parents[1]
    write_tone_corpus(tmp_path / "corpus", n_train=32, n_validation=6)
    manifests = write_lhotse_corpus(tmp_path / "corpus", tmp_path / "manifests")
    config = {"model": {"preset": "test", "n_text_ctx": 32},
              "data": {"vocab_size": 300, "max_batch_s": 30, "max_duration_s": 2, "num_workers": 0,
                       "unseen_split": "", "feature_cache": True, "cache_dir": str(tmp_path / "features")},
              "optim": {"warmup_steps": 2, "lr": 3.0e-3}, "train": {"max_steps": 12, "checkpoint_every": 12},
              "eval": {"every_steps": 12, "max_tokens": 8}}
    spec = {"name": "lhotse", "base": {"config": config}, "max_concurrent": 2, "retries": 0,
            "resources": {"cpus": 1, "nproc_per_node": 1},
            "sweep": {"variants": {"lhotse": {"data.source": f"lhotse:{manifests}"},
                                   "direct": {"data.source": str(manifests / "direct")}}, "seeds": [0]}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    run = subprocess.run([sys.executable, str(root / "run.py"), "spec.yaml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    summaries = {name: run_files.read_summary(tmp_path / "runs" / "lhotse" / "trials" / f"{name},seed=0" / "run")
                 for name in ("lhotse", "direct")}
    assert {s["status"] for s in summaries.values()} == {"FINISHED"}
    lhotse, direct = (summaries[name]["metrics"] for name in ("lhotse", "direct"))
    assert lhotse["val/wer"] == direct["val/wer"] and lhotse["val/loss"] == pytest.approx(direct["val/loss"], abs=1e-6)
