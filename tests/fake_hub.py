"""A simulated Hugging Face Hub for `speechcolab/gigaspeech`, offline.

huggingface_hub's repository calls (`HfApi.auth_check`, `HfApi.dataset_info`) are answered from a
local repository, and `datasets.load_dataset_builder("speechcolab/gigaspeech", ...)` reads that
repository's directory: `datasets` resolves a local directory's README configs and data files as it
does a Hub repository's (both through the dataset card), so what differs from the Hub is transport.

Repositories (`make_repos`):
- `script`: the repository before its Parquet conversion: `gigaspeech.py` (a loading script) and a
  README without configs; `datasets` >= 4 refuses it.
- `gated`: any repository whose terms the token's account has not accepted (`auth_check` raises).
- `parquet`: laid out as the Parquet conversion (Hub PR #20, February 2026): README YAML `configs`,
  one per subset, with `train`, `validation` and `test` data files under `data/`. Confirmed from the
  PR's announcement (SpeechColab/GigaSpeech issue 143): config names are the subsets (`xl`), there is a
  `train` split, and the rows carry `text` (tags as in the original) and `audio`. Assumed: the other
  columns are the loading script's, the evaluation sets are the `validation` and `test` splits of
  every config, and the file paths (`data/<subset>/<split>-*.parquet`).
- `parquet` asked for a subset it does not have (only `xs` is made) is the unknown config.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile

HUB_ID = "speechcolab/gigaspeech"
FAKE_TOKEN = "hf_fake_token_for_tests"
COMMITS = {"script": "0" * 39 + "1", "parquet": "0" * 39 + "2", "gated": "0" * 39 + "3"}
PARQUET_README = """---
configs:
- config_name: xs
  data_files:
  - split: train
    path: data/xs/train-*.parquet
  - split: validation
    path: data/dev/validation-*.parquet
  - split: test
    path: data/test/test-*.parquet
---
# GigaSpeech
"""
ROWS = {"train": [("POD0000000001_S0000001", "WELL <COMMA> HELLO THERE <PERIOD>", 10.0, 11.5),
                  ("POD0000000001_S0000002", "<SIL>", 11.5, 12.0)],
        "validation": [("POD1000000004_S0000017", "THAT'S A GOOD QUESTION <QUESTIONMARK>", 5.0, 6.25)],
        "test": [("POD1000000032_S0000094", "WE'LL SEE YOU NEXT WEEK <PERIOD>", 100.0, 101.5)]}


def make_repos(root: Path) -> dict[str, Path]:
    """The simulated repositories under `root`, by name; each directory is named as the Hub repo."""
    repos = {name: Path(root) / name / "gigaspeech" for name in COMMITS}
    script = repos["script"]
    script.mkdir(parents=True)
    (script / "gigaspeech.py").write_text("import datasets\n\nclass Gigaspeech(datasets.GeneratorBasedBuilder):\n"
                                          "    pass\n")
    (script / "README.md").write_text("---\nlicense: apache-2.0\n---\n# GigaSpeech\n")
    for name in ("parquet", "gated"):
        write_parquet_repo(repos[name])
    return repos


def write_parquet_repo(repo: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "README.md").write_text(PARQUET_README)
    for split, folder in (("train", "xs"), ("validation", "dev"), ("test", "test")):
        path = repo / "data" / folder / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        gigaspeech_rows(ROWS[split]).to_parquet(str(path))


def gigaspeech_rows(rows) -> "datasets.Dataset":
    import datasets

    columns: dict[str, list] = {name: [] for name in (
        "segment_id", "speaker", "text", "audio", "begin_time", "end_time", "audio_id", "title", "url", "source",
        "category", "original_full_path")}
    for segment_id, text, begin, end in rows:
        buffer = io.BytesIO()
        t = np.arange(round((end - begin) * 16000)) / 16000
        soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000, format="WAV")
        audio_id = segment_id.split("_")[0]
        values = {"segment_id": segment_id, "speaker": "N/A", "text": text,
                  "audio": {"bytes": buffer.getvalue(), "path": f"{segment_id}.wav"}, "begin_time": begin,
                  "end_time": end, "audio_id": audio_id, "title": "a title", "url": "https://example.org",
                  "source": 2, "category": 24, "original_full_path": f"audio/podcast/P0000/{audio_id}.opus"}
        for name, value in values.items():
            columns[name].append(value)
    return datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio())


def install(repo: Path, name: str, setattr_=None) -> None:
    """Answer the Hub's calls for HUB_ID from `repo` (the `name` repository of `make_repos`). `setattr_`
    is pytest's monkeypatch.setattr (undone after the test); plain setattr in a child process."""
    import datasets
    import httpx2 as httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    setattr_ = setattr_ or setattr
    real_builder = datasets.load_dataset_builder

    def auth_check(self, repo_id, *, repo_type=None, token=None):
        assert repo_id == HUB_ID and repo_type == "dataset"
        if name == "gated":
            url = f"https://huggingface.co/api/datasets/{HUB_ID}/auth-check"
            response = httpx.Response(403, request=httpx.Request("GET", url))
            raise GatedRepoError(f"403 Client Error. Access to dataset {HUB_ID} is restricted.", response=response)

    def dataset_info(self, repo_id, *, revision=None, token=None, **_):
        assert repo_id == HUB_ID
        files = [str(p.relative_to(repo)) for p in sorted(repo.rglob("*")) if p.is_file()]
        return SimpleNamespace(id=HUB_ID, sha=COMMITS[name], siblings=[SimpleNamespace(rfilename=f) for f in files])

    def load_dataset_builder(path, name=None, *args, revision=None, token=None, **kwargs):
        if path == HUB_ID:
            path = str(repo)
        return real_builder(path, name, *args, **kwargs)

    setattr_(HfApi, "auth_check", auth_check)
    setattr_(HfApi, "dataset_info", dataset_info)
    setattr_(datasets, "load_dataset_builder", load_dataset_builder)
