"""Where GigaSpeech is and whether it opens, asked of the Hub (or a local copy, or the cache offline)
without reading audio: what `load_gigaspeech` opens, and what run.py checks before a sweep starts.
Imports no torch, so that the check takes seconds.

The Hub copy's revisions before its Parquet conversion hold a loading script, which `datasets` >= 4
refuses: each failure is one line naming the way out.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

HUB_ID = "speechcolab/gigaspeech"
SUBSETS = ("xs", "s", "m", "l", "xl")
SPLITS = ("train", "validation", "test")  # validation = GigaSpeech DEV, test = GigaSpeech TEST
COLUMNS = ("segment_id", "speaker", "text", "audio", "begin_time", "end_time", "audio_id", "title", "url",
           "source", "category", "original_full_path")
METADATA_COLUMNS = ("segment_id", "speaker", "text", "begin_time", "end_time")


class GigaSpeechUnavailable(RuntimeError):
    """GigaSpeech could not be opened; the message (one line) says why and the way out."""


TERMS_URL = f"https://huggingface.co/datasets/{HUB_ID}"
SCRIPT_FILE = "gigaspeech.py"  # the loading script of the repository's revisions before its Parquet conversion
PARQUET_REVISION = "refs/pr/20"  # the Parquet conversion opened in February 2026


def _way_out(subset: str) -> str:
    return (f"accept the terms at {TERMS_URL} and run `hf auth login` (or set HF_TOKEN); or "
            f"`hf download {HUB_ID} --repo-type dataset --local-dir D` then data.source: gigaspeech:{subset}:D; "
            f"or the official release through Lhotse (`lhotse prepare gigaspeech`, then data.source: lhotse:DIR)")


def _script_help(subset: str, where: str) -> str:
    return (f"{where} holds the loading script {SCRIPT_FILE}, which datasets >= 4 no longer runs: pick a "
            f"Parquet revision (data.source: gigaspeech:{subset}@{PARQUET_REVISION}), download one "
            f"(`hf download {HUB_ID} --repo-type dataset --revision {PARQUET_REVISION} --local-dir D`, then "
            f"gigaspeech:{subset}:D), or read the official release through Lhotse (`lhotse prepare gigaspeech`, "
            f"then data.source: lhotse:DIR)")


def check_gigaspeech(subset: str, path: str | PathLike | None = None, revision: str | None = None,
                     token: str | None = None) -> str:
    """What `load_gigaspeech` would open, checked the way it opens it but without reading audio: the
    token, the terms, no loading script, the subset among the configs, the three splits and GigaSpeech's
    columns (offline, in the local cache). A one-line description; GigaSpeechUnavailable (or
    FileNotFoundError/ValueError for a local copy) naming the way out."""
    opened = open_gigaspeech(subset, path, revision, token)
    opened.check_schema()
    at = f" at commit {opened.commit}" if opened.commit else ""
    return f"{opened.where}{at}: subset {subset}, splits {', '.join(SPLITS)}"


class OpenedGigaSpeech:
    """A subset resolved to a `datasets` builder (or a saved DatasetDict), before any data is read."""

    def __init__(self, subset: str, where: str, builder=None, saved=None, commit: str | None = None,
                 token: str | None = None):
        self.subset, self.where, self.builder, self.saved, self.commit = subset, where, builder, saved, commit
        self.token = token

    def splits(self) -> list[str]:
        if self.saved is not None:
            return [str(split) for split in self.saved]
        data_files = getattr(self.builder.config, "data_files", None)
        return [str(split) for split in (data_files or self.builder.info.splits or {})]

    def columns(self) -> list[str] | None:
        if self.saved is not None:
            return next(iter(self.saved.values())).column_names
        if self.builder.info.features is not None:
            return list(self.builder.info.features)
        data_files = getattr(self.builder.config, "data_files", None) or {}
        first = next((files[0] for files in data_files.values() if files), None)
        return _parquet_columns(first, self.token) if first and str(first).endswith(".parquet") else None

    def check_schema(self) -> None:
        missing = [split for split in SPLITS if split not in self.splits()]
        if missing:
            raise GigaSpeechUnavailable(f"{self.where} (subset {self.subset}) has splits {self.splits()}, not "
                                        f"{missing}: GigaSpeech's are {list(SPLITS)} (validation = DEV, test = TEST)")
        columns = self.columns()
        if columns is not None:
            check_columns(columns, f"{self.where} (subset {self.subset})")

    def split(self, split: str, streaming: bool):
        if split not in self.splits():
            raise ValueError(f"{self.where} (subset {self.subset}) has splits {sorted(self.splits())}, not {split!r}")
        if self.saved is not None:
            return self.saved[split].to_iterable_dataset() if streaming else self.saved[split]
        if streaming:
            return self.builder.as_streaming_dataset(split=split)
        self.builder.download_and_prepare()
        return self.builder.as_dataset(split=split)


def open_gigaspeech(subset: str, path=None, revision: str | None = None, token: str | None = None,
                    cache_dir=None) -> OpenedGigaSpeech:
    check_choice("subset", subset, SUBSETS)
    if path is not None:
        return _open_local(Path(path), subset, cache_dir)
    token = token or _hub_token()
    offline = _offline()
    if token is None and not offline:
        raise GigaSpeechUnavailable(f"no Hugging Face token found for the gated {HUB_ID}: {_way_out(subset)}")
    commit = None if offline else _probe_hub(subset, revision, token)
    builder = _builder(HUB_ID, subset, revision=commit or revision, token=token, cache_dir=cache_dir,
                       where=HUB_ID + (f"@{revision}" if revision else ""))
    return OpenedGigaSpeech(subset, HUB_ID, builder, commit=commit or builder.hash, token=token)


def _probe_hub(subset: str, revision: str | None, token: str) -> str:
    """The commit `revision` resolves to, after checking that the token may read the repository and that
    the revision is not one of the loading script's."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    api, at = HfApi(), f"{HUB_ID}@{revision}" if revision else HUB_ID
    try:
        api.auth_check(HUB_ID, repo_type="dataset", token=token)
        info = api.dataset_info(HUB_ID, revision=revision, token=token)
    except GatedRepoError:
        raise GigaSpeechUnavailable(f"{HUB_ID} is gated and this token's account has not accepted its terms: "
                                    f"accept them at {TERMS_URL} (logged in as that account), then run again; "
                                    f"or use a local copy: `hf download {HUB_ID} --repo-type dataset --local-dir D`"
                                    f" then data.source: gigaspeech:{subset}:D") from None
    except RevisionNotFoundError:
        raise GigaSpeechUnavailable(f"{HUB_ID} has no revision {revision!r}: give a branch, tag, commit or "
                                    f"refs/pr/N (e.g. gigaspeech:{subset}@{PARQUET_REVISION})") from None
    except RepositoryNotFoundError:
        raise GigaSpeechUnavailable(f"the Hub refused this token for {HUB_ID} (invalid or expired): run "
                                    f"`hf auth login` again or set HF_TOKEN; or {_way_out(subset)}") from None
    except (HfHubHTTPError, OSError, ConnectionError) as error:
        raise GigaSpeechUnavailable(f"cannot reach the Hub for {at} ({_first_line(error)}): with GigaSpeech in "
                                    f"the local cache set HF_HUB_OFFLINE=1; or {_way_out(subset)}") from None
    if SCRIPT_FILE in {sibling.rfilename for sibling in info.siblings or ()}:
        raise GigaSpeechUnavailable(_script_help(subset, f"{at} (commit {info.sha})"))
    return info.sha


def _builder(repo: str, config: str | None, *, where: str, subset: str | None = None, revision: str | None = None,
             token: str | None = None, cache_dir=None):
    """`datasets.load_dataset_builder`, its failures turned into one line naming the way out."""
    import datasets

    subset = subset or config
    try:
        return datasets.load_dataset_builder(repo, config, revision=revision, token=token,
                                             cache_dir=str(cache_dir) if cache_dir else None)
    except RuntimeError as error:
        if "scripts are no longer supported" in str(error):
            raise GigaSpeechUnavailable(_script_help(subset, where)) from None
        raise GigaSpeechUnavailable(f"cannot open {where} (subset {subset}): {_first_line(error)}") from None
    except ValueError as error:
        if "BuilderConfig" in str(error):
            raise GigaSpeechUnavailable(f"{where} has no config {config!r} ({_first_line(error)}); GigaSpeech's "
                                        f"subsets are {list(SUBSETS)}, or pick another revision") from None
        raise GigaSpeechUnavailable(f"cannot open {where} (subset {subset}): {_first_line(error)}") from None
    except ConnectionError as error:
        raise GigaSpeechUnavailable(f"{where} (subset {subset}) is not in the local cache and the Hub cannot be "
                                    f"reached ({_first_line(error)}): run once online (HF_HOME shared by the nodes),"
                                    f" or {_way_out(subset)}") from None
    except (OSError, datasets.exceptions.DatasetsError) as error:
        if "gated" in str(error):
            raise GigaSpeechUnavailable(f"{where} is gated: accept its terms at {TERMS_URL} with the token's "
                                        f"account; or {_way_out(subset)}") from None
        raise GigaSpeechUnavailable(f"cannot open {where} (subset {subset}): {_first_line(error)}; "
                                    f"{_way_out(subset)}") from None


def _parquet_columns(url: str, token: str | None) -> list[str]:
    """A Parquet file's column names from its footer (a range read on the Hub), not its rows."""
    import fsspec
    import pyarrow.parquet

    options = {"token": token} if str(url).startswith("hf://") and token else {}
    with fsspec.open(str(url), "rb", **options) as file:
        return pyarrow.parquet.read_schema(file).names


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _open_local(path: Path, subset: str, cache_dir) -> OpenedGigaSpeech:
    import datasets

    if not path.exists():
        raise FileNotFoundError(f"local GigaSpeech copy {str(path)!r} does not exist")
    where = f"local copy {str(path)!r}"
    if (path / "state.json").is_file():
        raise ValueError(f"{str(path)!r} holds a single saved Dataset, so its split is unknown; save a DatasetDict "
                         f"with splits {SPLITS} (DatasetDict.save_to_disk) so that train and test stay apart")
    if (path / "dataset_dict.json").is_file():
        return OpenedGigaSpeech(subset, where, saved=datasets.load_from_disk(str(path)))
    if (path / SCRIPT_FILE).is_file():
        raise GigaSpeechUnavailable(_script_help(subset, where))
    # a clone of the Hub repository names its subsets as configs in README.md; a bare directory of
    # train/validation/test files has a single unnamed config
    config = subset if (path / "README.md").is_file() else None
    return OpenedGigaSpeech(subset, where, _builder(str(path), config, where=where, subset=subset, cache_dir=cache_dir))


def check_columns(columns, source) -> None:
    missing = [name for name in (*METADATA_COLUMNS, "audio") if name not in columns]
    if missing:
        raise ValueError(f"{source}: not in GigaSpeech's schema, missing columns {missing}; expected {list(COLUMNS)}")


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"GigaSpeech {field} must be one of {allowed}, got {value!r}")


def _hub_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def _offline() -> bool:
    # an offline user may still have the dataset in the local cache, so let `datasets` look there
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on") or \
        os.environ.get("HF_DATASETS_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
