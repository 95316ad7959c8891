"""`smolwhisper data prepare`: a source's feature cache built once, found the next time, as trainers name it."""

import re

from smolwhisper import cli
from smolwhisper.config import load_run_config
from smolwhisper.data.features import cache_path
from smolwhisper.data.manifest import open_source

from helpers import write_tone_corpus


def test_prepare_builds_each_split_once_where_a_trainer_will_look_and_says_size_and_time(tmp_path, capsys):
    corpus = write_tone_corpus(tmp_path / "corpus", n_train=6, n_validation=2)
    args = ["data", "prepare", str(corpus), "--cache-dir", str(tmp_path / "cache"), "--workers", "1"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^train: 6 utterances, 0\.00 h, feature cache [\d.]+ MB \(\d+ MB/h\) in .*, built in [\d.]+ s$",
                     out, re.MULTILINE), out
    assert re.search(r"^validation: 2 utterances, .* built in", out, re.MULTILINE), out
    assert re.search(r"ready in [\d.]+ s; feature caches [\d.]+ GB on disk", out), out
    # where a trainer with the same data settings looks
    config = load_run_config(None, [f"data.source={corpus}", f"data.cache_dir={tmp_path / 'cache'}"])
    for split, dataset in open_source(str(corpus), min_duration_s=config.data.min_duration_s,
                                      max_duration_s=config.data.max_duration_s).items():
        assert cache_path(dataset, config.model.n_mels, config.data.cache_dir).is_dir(), split
    assert cli.main(args) == 0
    assert out.count("built in") == 2 and capsys.readouterr().out.count("found, built before") == 2


def test_prepare_of_a_source_that_cannot_be_opened_says_why_in_one_line(tmp_path, capsys):
    assert cli.main(["data", "prepare", "gigaspeech:s:nowhere", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "smolwhisper data prepare: local GigaSpeech copy 'nowhere' does not exist\n"
