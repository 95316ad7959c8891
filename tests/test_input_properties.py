"""Generated bad data: manifests, audio bytes and damaged checkpoints each end in a clear error or a
counted skip, never a traceback, a hang or a silently wrong model.
Cases per test: the Hypothesis profile (tests/conftest.py; HYPOTHESIS_PROFILE=thorough for thousands)."""

import csv
import io
import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import event, given, reject, settings
from hypothesis import strategies as st

from smolwhisper import checkpoint
from smolwhisper.audio import SAMPLE_RATE, AudioError, decode_audio
from smolwhisper.checkpoint import CheckpointError
from smolwhisper.config import model_preset, to_dict
from smolwhisper.data.base import Skipped, Utterance
from smolwhisper.data.manifest import (AUDIO_COLUMNS, DURATION_COLUMNS, ID_COLUMNS, SPEAKER_COLUMNS, TEXT_COLUMNS,
                                       ManifestError, load_manifest)
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import train_bpe

from helpers import randomize, write_tone

MAX_DURATION_S = 30.0
# A hang shows as a case slower than this (the slowest real case, a 10 s decode under load, takes ~1 s).
HANG = settings(deadline=timedelta(seconds=30))

# ---------------------------------------------------------------------------------------- manifests


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory) -> Path:
    """Real files next to the manifests: good ones at several rates, a long one, a corrupt one."""
    directory = tmp_path_factory.mktemp("audio")
    write_tone(directory / "a.wav", 1.0)
    write_tone(directory / "b.flac", 0.5, sample_rate=44100, channels=2)
    write_tone(directory / "long.wav", 40.0, sample_rate=8000)
    (directory / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEthis is not audio")
    (directory / "empty.wav").write_bytes(b"")
    return directory


def path_values(directory: Path):
    return st.one_of(st.sampled_from(["a.wav", "b.flac", "long.wav", "corrupt.wav", "empty.wav", "gone.wav",
                                      "../a.wav", "./a.wav", "", " ", "~/a.wav", "~nobody_here/a.wav", ".",
                                      "a" * 300, "a\x00b.wav", str(directory / "a.wav"), str(directory)]),
                     st.text(max_size=20))


cell_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                        st.text(max_size=30), st.sampled_from(["", "  ", "hello world", "1e400", "-1", "nan"]),
                        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                              max_size=1))
columns = st.sampled_from(AUDIO_COLUMNS + TEXT_COLUMNS + DURATION_COLUMNS + SPEAKER_COLUMNS + ID_COLUMNS + ("other",))


@st.composite
def manifest_rows(draw, directory: Path) -> list[dict]:
    """Rows that mostly hold an audio path and a text, with anything in any column now and then."""
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = {}
        if draw(st.integers(0, 19)):
            row[draw(st.sampled_from(AUDIO_COLUMNS))] = draw(path_values(directory))
        if draw(st.integers(0, 19)):
            row[draw(st.sampled_from(TEXT_COLUMNS))] = draw(st.text(max_size=30) if draw(st.integers(0, 9))
                                                            else cell_values)
        if draw(st.booleans()):
            row[draw(st.sampled_from(DURATION_COLUMNS))] = draw(st.floats(0, 40) if draw(st.integers(0, 4)) else st.one_of(
                st.sampled_from([-1.0, 1e300, float("nan"), float("inf"), "1.5", "soon"]), cell_values))
        if not draw(st.integers(0, 4)):
            row[draw(columns)] = draw(cell_values)
        rows.append(row)
    return rows


def write_manifest(path: Path, rows: list[dict], damage: bytes | None) -> int:
    """Write `rows` in the suffix's format (and `damage` spliced in); returns how many rows it holds."""
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(row, allow_nan=True) + "\n" for row in rows)
    else:
        header = sorted({key for row in rows for key in row})
        out = io.StringIO()
        writer = csv.DictWriter(out, header, delimiter="," if path.suffix == ".csv" else "\t")
        writer.writeheader()
        writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
        text = out.getvalue()
    data = text.encode("utf-8")
    if damage is not None:
        data = data[: len(data) // 2] + damage + data[len(data) // 2:]
    path.write_bytes(data)
    return len(rows)


@HANG
@given(data=st.data(), suffix=st.sampled_from([".jsonl", ".csv", ".tsv"]),
       damage=st.one_of(st.none(), st.none(), st.none(), st.binary(min_size=1, max_size=4),
                        st.sampled_from([b"\xff\xfe", b"\x00", b"\n", b'"'])))
def test_generated_manifests_load_with_counted_skips_or_fail_naming_file_and_line(audio_files, data, suffix, damage):
    rows = data.draw(manifest_rows(audio_files), label="rows")
    path = audio_files / f"manifest{suffix}"
    n_rows = write_manifest(path, rows, damage)
    try:
        dataset = load_manifest(path, min_duration_s=0.2, max_duration_s=MAX_DURATION_S)
    except ManifestError as error:
        event(f"ManifestError: {str(error).split(': ', 1)[1][:18]}")
        assert str(error).startswith(f"{path}:"), str(error)  # file and line
        return
    event(f"loaded, {sum(dataset.skipped.values())} skipped up front")
    if damage is None and (suffix == ".jsonl" or rows and all(rows)):  # (CSV: an empty row writes no line)
        assert len(dataset) + sum(dataset.skipped.values()) == n_rows  # every row used or counted
    for index in range(len(dataset)):
        item = dataset[index]
        assert isinstance(item, (Utterance, Skipped))
        if isinstance(item, Utterance):
            assert item.audio.dtype == np.float32 and np.isfinite(item.audio).all()
            assert 0 < item.duration_s <= MAX_DURATION_S
        else:
            event(f"skipped when loaded: {item.reason}")


# -------------------------------------------------------------------------------------- audio bytes

FORMATS = {"wav16": ("WAV", "PCM_16"), "wavfloat": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_16"),
           "ogg": ("OGG", "VORBIS")}
samples = st.one_of(st.floats(-1, 1, width=32), st.sampled_from([0.0, float("nan"), float("inf"), -float("inf"),
                                                                 1e30, 1.5]))


@st.composite
def audio_bytes(draw) -> bytes:
    """An encoded file (format, rate, channels, samples) as written, then truncated, overwritten in
    places or replaced, now and then."""
    kind = draw(st.sampled_from(sorted(FORMATS)))
    file_format, subtype = FORMATS[kind]
    if kind == "ogg":
        rate = draw(st.sampled_from([8000, 16000, 22050, 44100, 48000]))
    else:
        rate = draw(st.one_of(st.sampled_from([8000, 16000, 44100, 48000]), st.integers(1, 700_000)))
    channels = draw(st.integers(1, 3))
    n = draw(st.integers(0, 4000))
    fill = draw(samples)
    audio = np.full((n, channels), fill, np.float32)
    if n and draw(st.booleans()):
        audio[draw(st.integers(0, n - 1))] = draw(samples)
    if kind != "wavfloat":
        audio = np.nan_to_num(audio, posinf=1.0, neginf=-1.0).clip(-1, 1)  # integer formats cannot hold them
    out = io.BytesIO()
    try:
        soundfile.write(out, audio, rate, format=file_format, subtype=subtype)
    except soundfile.LibsndfileError:  # a rate the encoder refuses (FLAC's limits): nothing to decode
        reject()
    encoded = out.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "overwrite", "replace"]))
    if damage == "truncate":
        encoded = encoded[: draw(st.integers(0, len(encoded)))]
    elif damage == "overwrite" and encoded:
        encoded = bytearray(encoded)
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(encoded) - 1))
            encoded[position] = draw(st.integers(0, 255))
        encoded = bytes(encoded)
    elif damage == "replace":
        encoded = draw(st.binary(max_size=200))
    event(f"{kind}, {damage}")
    return encoded


@HANG
@given(encoded=audio_bytes())
def test_generated_audio_decodes_to_a_finite_waveform_or_raises_audio_error(encoded):
    try:
        audio = decode_audio(io.BytesIO(encoded), "generated", max_duration_s=MAX_DURATION_S)
    except AudioError as error:
        event("AudioError")
        assert "generated" in str(error)
        return
    event("decoded")
    assert audio.dtype == np.float32 and audio.ndim == 1 and 0 < audio.size <= MAX_DURATION_S * SAMPLE_RATE + 1
    assert np.isfinite(audio).all()


# -------------------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint of the test preset, and one of another preset (cpu-small) to take files from."""
    root = tmp_path_factory.mktemp("checkpoints")
    tokenizer = train_bpe(["the cat sat on the mat", "a dog ran in the park"] * 20, vocab_size=300)
    checkpoint.save(randomize(Whisper(model_preset("test"))).eval(), tokenizer, root / "test")
    checkpoint.save(Whisper(model_preset("cpu-small", n_vocab=300)), tokenizer, root / "other")
    return root


FILES = (checkpoint.WEIGHTS_FILE, checkpoint.CONFIG_FILE, "tokenizer.json")


@st.composite
def damage(draw, directory: Path, other: Path):
    """One to three kinds of damage to a copy of a checkpoint."""
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(FILES))
        path = directory / name
        kind = draw(st.sampled_from(["remove", "truncate", "flip", "swap", "edit_model", "edit_top", "edit_inference"]))
        event(kind if kind.startswith("edit") else f"{kind} {name}")
        if kind == "remove":
            path.unlink(missing_ok=True)
        elif kind == "swap":  # the file of another checkpoint (another preset)
            shutil.copy(other / name, path)
        elif not path.exists():
            continue
        elif kind == "truncate":
            data = path.read_bytes()
            path.write_bytes(data[: draw(st.integers(0, max(len(data) - 1, 0)))])
        elif kind == "flip":
            data = bytearray(path.read_bytes())
            for _ in range(draw(st.integers(1, 4))):
                if data:
                    data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
            path.write_bytes(bytes(data))
        else:  # a hand edit of config.json: a field of the model or inference config, or a top-level key
            try:
                config = json.loads((directory / checkpoint.CONFIG_FILE).read_text())
                section = {"edit_model": config["model"], "edit_inference": config["inference"], "edit_top": config}[kind]
            except (OSError, ValueError, KeyError, TypeError):  # config.json removed or damaged by an earlier edit
                continue
            if not isinstance(section, dict):
                continue
            key = draw(st.one_of(st.sampled_from(sorted(section)), st.text(max_size=6)))
            section[key] = draw(st.one_of(st.none(), st.booleans(), st.integers(-2, 10**6), st.floats(),
                                          st.text(max_size=6), st.sampled_from([True, False, 0, 2, 4, 64, 1e9]),
                                          st.lists(st.integers(), max_size=2)))
            (directory / checkpoint.CONFIG_FILE).write_text(json.dumps(config))


RUNTIME = set(checkpoint.RUNTIME_SWITCHES)


@HANG
@given(data=st.data())
def test_damaged_checkpoints_are_refused_or_load_unchanged(saved, data):
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "ckpt"
        shutil.copytree(saved / "test", directory)
        data.draw(damage(directory, saved / "other"), label="damage")
        try:
            model, tokenizer = checkpoint.load(directory)
        except CheckpointError as error:
            event("CheckpointError")
            assert str(error).startswith(str(directory)), str(error)  # names the directory or its file
            return
    # Loaded: the checkpoint as saved, or the other one where all of its files were swapped in, but for
    # runtime switches edited in config.json. Never a model that is neither.
    event("loaded")
    assert any(same_model(model, tokenizer, *checkpoint.load(saved / name)) for name in ("test", "other"))


def same_model(model, tokenizer, original, original_tokenizer) -> bool:
    def architecture(m):
        return {k: v for k, v in to_dict(m.config).items() if k not in RUNTIME}

    state, original_state = model.state_dict(), original.state_dict()
    return (architecture(model) == architecture(original) and model.inference_config == original.inference_config
            and state.keys() == original_state.keys() and all(torch.equal(state[k], original_state[k]) for k in state)
            and tokenizer.hf.to_str() == original_tokenizer.hf.to_str())


# ---------------------------------------------------------------------------------- feature caches

def test_a_damaged_feature_cache_is_refused_naming_it(audio_files, tmp_path):
    from smolwhisper.data.features import INDEX_FILE, MEL_FILE, CachedFeatures, build_feature_cache

    manifest = tmp_path / "train.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(audio_files / "a.wav"), "text": "a"}) + "\n")
    dataset = load_manifest(manifest)
    build_feature_cache(dataset, 80, tmp_path / "cache", log=lambda message: None)
    for name, keep in ((MEL_FILE, 0.5), (INDEX_FILE, 0.5)):
        data = (tmp_path / "cache" / name).read_bytes()
        (tmp_path / "cache" / name).write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(ValueError, match=r"feature cache .*cache.*remove it to have it built again"):
            CachedFeatures(dataset, tmp_path / "cache")
