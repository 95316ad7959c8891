"""Where a data source's splits are, found without reading them: the manifest file of each split of
a manifest file, an audiofolder or a corpus directory. Imports no torch (nor audio libraries), so that
run.py checks a sweep's data before anything starts in a fraction of a second."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


JSONL_SUFFIXES = (".jsonl", ".json")
TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}
MANIFEST_SUFFIXES = JSONL_SUFFIXES + tuple(TABLE_DELIMITERS)

# Split directory and file names that Hugging Face's audiofolder recognises, by canonical split.
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
AUDIOFOLDER_METADATA = ("metadata.jsonl", "metadata.csv")


GIGASPEECH_PREFIX = "gigaspeech:"


@dataclass(frozen=True)
class GigaSpeechSource:
    """`gigaspeech:SUBSET[@REVISION][:LOCAL_PATH]`: a subset of the Hub copy at a revision (a branch, tag,
    commit or `refs/pr/N`; the default branch when absent), or of a local copy."""

    subset: str
    revision: str | None = None
    path: str | None = None


def parse_gigaspeech(source: str) -> GigaSpeechSource:
    head, _, path = source[len(GIGASPEECH_PREFIX):].partition(":")
    subset, _, revision = head.partition("@")
    return GigaSpeechSource(subset, revision or None, path or None)


LHOTSE_PREFIX = "lhotse:"
# Lhotse's recipes name their manifests <corpus>_<kind>_<part>.jsonl.gz (gigaspeech_cuts_XL,
# librispeech_recordings_dev-clean, ...).
LHOTSE_MANIFEST = re.compile(r"^(?P<corpus>.+?)_(?P<kind>cuts|recordings|supervisions)_(?P<part>.+?)\.jsonl(?:\.gz)?$")


@dataclass(frozen=True)
class LhotsePart:
    """One part of a Lhotse corpus: a cuts manifest, or a recordings and a supervisions manifest."""

    name: str
    cuts: Path | None = None
    recordings: Path | None = None
    supervisions: Path | None = None


def lhotse_splits(source: str) -> dict[str, LhotsePart]:
    """The parts of `lhotse:CUTS.jsonl.gz` or `lhotse:DIR[:PART]` by split: `train` is PART (or the part
    named train), `validation` the part named dev/validation (else the first dev-*), `test` likewise;
    the other parts keep their names."""
    spec = source[len(LHOTSE_PREFIX):]
    path, train_part = Path(spec), None
    if not path.exists() and ":" in spec:
        head, _, train_part = spec.rpartition(":")
        path = Path(head)
    if path.is_file():
        match = LHOTSE_MANIFEST.match(path.name)
        part = match["part"] if match else path.name.split(".")[0]
        return {canonical_split(part): LhotsePart(part, cuts=path)}
    if not path.is_dir():
        raise FileNotFoundError(f"Lhotse manifest {str(path)!r} does not exist")
    parts = _lhotse_parts(path)
    if train_part is not None and train_part not in parts:
        raise ValueError(f"{str(path)!r} has no Lhotse part {train_part!r}; it has {sorted(parts)}")
    named = {"train": train_part or _part_for(parts, "train", "train"),
             "validation": _part_for(parts, "validation", "dev"), "test": _part_for(parts, "test", "test")}
    splits = {split: parts[part] for split, part in named.items() if part}
    splits.update({name: part for name, part in parts.items() if name not in named.values()})
    return splits


def _lhotse_parts(directory: Path) -> dict[str, LhotsePart]:
    found: dict[str, dict[str, Path]] = {}
    for file in sorted(directory.iterdir()):
        match = LHOTSE_MANIFEST.match(file.name)
        if match and file.is_file():
            found.setdefault(match["part"], {})[match["kind"]] = file
    parts = {}
    for name, kinds in found.items():
        if "cuts" not in kinds and not {"recordings", "supervisions"} <= set(kinds):
            raise ValueError(f"{str(directory)!r}: Lhotse part {name!r} has {sorted(kinds.values())}; it needs a "
                             f"cuts manifest, or both a recordings and a supervisions manifest")
        parts[name] = LhotsePart(name, kinds.get("cuts"), kinds.get("recordings"), kinds.get("supervisions"))
    if not parts:
        raise ValueError(f"{str(directory)!r} holds no Lhotse manifests (<corpus>_cuts_<part>.jsonl.gz, or "
                         f"<corpus>_recordings_<part>.jsonl.gz with <corpus>_supervisions_<part>.jsonl.gz)")
    return parts


def _part_for(parts: dict[str, LhotsePart], split: str, prefix: str) -> str | None:
    exact = [name for name in parts if canonical_split(name) == split]
    return (exact or sorted(name for name in parts if name.lower().startswith(prefix)) or [None])[0]


def source_splits(source: str) -> set[str]:
    """The split names a data source offers, found without reading it."""
    if source.startswith(GIGASPEECH_PREFIX):
        return {"train", "validation", "test"}
    if source.startswith(LHOTSE_PREFIX):
        return set(lhotse_splits(source))
    return set(source_files(Path(source)))


def source_files(path: Path) -> dict[str, Path]:
    """Manifest files by split name for a manifest file or a corpus directory."""
    if path.is_file():
        if path.suffix not in MANIFEST_SUFFIXES:
            raise ValueError(f"{str(path)!r}: a manifest must end in one of {MANIFEST_SUFFIXES}")
        return {canonical_split(path.stem): path}
    if path.is_dir():
        return _directory_sources(path)
    raise FileNotFoundError(f"data source {str(path)!r} does not exist")


def is_test_split(name: str) -> bool:
    return name == "test" or name.startswith("test_")


def canonical_split(name: str) -> str:
    """'dev' -> 'validation', 'training' -> 'train', ...; unknown names come back unchanged."""
    lowered = name.lower()
    return next((split for split, aliases in SPLIT_ALIASES.items() if lowered in aliases), name)


def audiofolder_splits(directory: Path) -> dict[str, Path]:
    """Metadata files of an audiofolder by canonical split; "" is the top-level one, if any."""
    found = {}
    top = _metadata_file(directory)
    if top:
        found[""] = top
    for child in sorted(directory.iterdir()):
        metadata = _metadata_file(child) if child.is_dir() else None
        if metadata and canonical_split(child.name) in SPLIT_ALIASES:
            found[canonical_split(child.name)] = metadata
    if not found:
        raise ValueError(f"{str(directory)!r} has no {' or '.join(AUDIOFOLDER_METADATA)}, "
                         f"neither at the top nor in split directories {sorted(SPLIT_ALIASES)}")
    return found


def _directory_sources(path: Path) -> dict[str, Path]:
    """Manifest files by split name: an audiofolder's metadata files, or <split>.jsonl files."""
    if any((path / name).is_file() for name in AUDIOFOLDER_METADATA) or any(
            _metadata_file(child) for child in path.iterdir() if child.is_dir()):
        splits = audiofolder_splits(path)
        if len(splits) > 1:
            splits.pop("", None)  # split directories win over a top-level metadata file
        return {(name or "train"): metadata for name, metadata in splits.items()}
    manifests = {}
    listed = _corpus_splits(path)
    for file in sorted(path.iterdir()):
        split = canonical_split(file.stem)
        if file.is_file() and file.suffix in MANIFEST_SUFFIXES and (split in SPLIT_ALIASES or split in listed):
            if split in manifests:
                raise ValueError(f"{str(path)!r}: both {manifests[split].name} and {file.name} give split {split!r}")
            manifests[split] = file
    if not manifests:
        raise ValueError(f"{str(path)!r} is neither an audiofolder (no {' or '.join(AUDIOFOLDER_METADATA)}) "
                         f"nor a directory of <split>{'|'.join(MANIFEST_SUFFIXES)} manifests "
                         f"(split names: {sorted(SPLIT_ALIASES)} or their aliases)")
    return manifests


def _corpus_splits(path: Path) -> set[str]:
    """The split names a synthetic corpus's corpus.json lists (validation_unseen_voices, ...)."""
    try:
        splits = json.loads((path / "corpus.json").read_text(encoding="utf-8")).get("splits", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return set(splits) if isinstance(splits, (dict, list)) else set()


def _metadata_file(directory: Path) -> Path | None:
    return next((directory / name for name in AUDIOFOLDER_METADATA if (directory / name).is_file()), None)
