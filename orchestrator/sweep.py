"""One sweep, end to end: expand, prepare data and tracking, run what is not finished, summarise.

    runs/<spec name>/trials/<trial id>/{config.yaml, trial.json, train.log, mlflow_run_id, run/...}

A trial is finished when its run/summary.json says FINISHED for the same config hash; running
the same spec again skips those and resumes the others from their last checkpoint.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import yaml

from smolwhisper import run_files
from smolwhisper.config import to_dict
from smolwhisper.metric_names import ATTENTION, DECODERS, VAL_AUDIO_GAIN, cer_key, wer_key

from .expand import Expansion, Trial, expand, same_experiment
from .failures import failure_reason
from .monitor import print_watch_lines
from .schedule import Launch, _safe, forwarded_env, log_tail, run_with_ray, stop_ray
from .spec import Spec, load_spec
from .tracking import SweepTracking, default_uri


def trials_table(trials: list[Trial], spec: Spec) -> str:
    resources = f"{spec.resources.nproc_per_node} proc, {spec.resources.cpus} cpu, {spec.resources.gpus} gpu"
    width = max(len(t.trial_id) for t in trials)
    lines = [f"{'trial':<{width}}  {'hash':<8}  {'resources':<22}  overrides"]
    for t in trials:
        overrides = " ".join(f"{k}={v}" for k, v in t.overrides.items())
        lines.append(f"{t.trial_id:<{width}}  {t.config_hash[:8]}  {resources:<22}  {overrides}")
    return "\n".join(lines)


def summary_of(trial_dir: Path) -> dict:
    return run_files.read_summary(trial_dir / "run")


DONE = ("FINISHED", run_files.STOPPED)  # a trial its stop rule ended is a result too: not run again


def is_finished(trial_dir: Path, trial: Trial) -> bool:
    return ran_this_trial(trial_dir, trial) and summary_of(trial_dir).get("status") in DONE


def ran_this_trial(trial_dir: Path, trial: Trial) -> bool:
    """Whether the trial directory holds this trial's experiment (the same config hash, or a config
    from before fields that this version added at their defaults)."""
    record, config = trial_dir / "trial.json", trial_dir / "config.yaml"
    if not record.exists():
        return False
    if json.loads(record.read_text()).get("config_hash") == trial.config_hash:
        return True
    return config.exists() and same_experiment(yaml.safe_load(config.read_text()), trial.config)


def prepare_trial_dir(trial: Trial, trial_dir: Path) -> None:
    """Write the trial's resolved config. A directory left by another experiment is kept, renamed
    after its config hash, and the trial starts over in a new one."""
    record = trial_dir / "trial.json"
    if record.exists() and not ran_this_trial(trial_dir, trial):
        old_hash = json.loads(record.read_text()).get("config_hash", "unknown")[:8]
        kept = trial_dir.with_name(f"{trial_dir.name}.config-{old_hash}")
        for copy in itertools.count(2):
            if not kept.exists():
                break
            kept = trial_dir.with_name(f"{trial_dir.name}.config-{old_hash}-{copy}")
        trial_dir.rename(kept)
        print(f"{trial.trial_id}: its directory held another config; kept as {kept}, starting over")
    trial_dir.mkdir(parents=True, exist_ok=True)
    config = to_dict(trial.config)
    config["train"]["out_dir"] = str(trial_dir / "run")
    config["train"]["progress"] = False
    # No tracking URI for the trainer: the trial's Ray actor mirrors its run directory into MLflow.
    config["tracking"].update(mlflow_uri="", run_name=trial.trial_id)
    (trial_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    record.write_text(json.dumps({"trial_id": trial.trial_id, "variant": trial.variant, "seed": trial.seed,
                                  "config_hash": trial.config_hash, "overrides": trial.overrides}, indent=2))


def prepare_data(trials: list[Trial], workdir: Path) -> None:
    """Make each synthetic corpus once, here, rather than in every trial at the same time."""
    wanted = {(t.config.data.synth_dir, t.config.data.synth_hours, t.config.data.synth_seed)
              for t in trials if t.config.data.source == "synthetic"}
    if not wanted:
        return
    from smolwhisper.data.synth import SynthConfig, synthesize_corpus

    for synth_dir, hours, seed in sorted(wanted):
        print(f"data: synthetic corpus of {hours:g} h (seed {seed}) in {synth_dir}", flush=True)
        synthesize_corpus(SynthConfig(hours=hours, seed=seed), workdir / synth_dir)


def prepare_feature_caches(trials: list[Trial], workdir: Path) -> None:
    """Build (or find) each log-mel cache the trials will read, once, here, with every core, before any
    trial starts: trials of one source and front-end share it and only read it. A split a source lacks
    is left for its trial to report."""
    from smolwhisper.data.prepare import describe, prepare_features
    from smolwhisper.data.sources import source_splits

    groups: dict[tuple, list[str]] = {}
    for trial in trials:
        data = trial.config.data
        if data.feature_cache:
            source = data.synth_dir if data.source == "synthetic" else data.source
            key = (source, trial.config.model.n_mels, data.cache_dir, data.train_split, data.validation_split,
                   data.min_duration_s, data.max_duration_s)
            groups.setdefault(key, []).append(trial.trial_id)
    for (source, n_mels, cache_dir, *splits, min_s, max_s), trial_ids in groups.items():
        with contextlib.chdir(workdir):  # where the trials resolve relative paths (and name their caches)
            try:
                present = tuple(split for split in splits if split in source_splits(source))
                print(f"data: feature cache of {source} ({', '.join(present)}) for {len(trial_ids)} trial(s)",
                      flush=True)
                for split in prepare_features(source, n_mels, cache_dir, present, min_s, max_s):
                    print(f"data: {describe(split)}", flush=True)
            except (OSError, ValueError, RuntimeError) as error:  # the trials then say it themselves
                print(f"data: feature cache of {source} not built: {' '.join(str(error).split())}", flush=True)


def sweep_directory(workdir: Path, name: str) -> Path:
    return workdir.resolve() / "runs" / name


def run_sweep(spec_path: str, dry_run: bool = False, address: str | None = None, restart: bool = False,
              workdir: Path | None = None, overrides: list[str] = (), fast_dev_run: bool = False) -> int:
    spec = load_spec(spec_path, overrides)
    expansion: Expansion = expand(spec)
    print(f"sweep {spec.name!r}: {len(expansion.trials)} trials")
    print(trials_table(expansion.trials, spec))
    for note in expansion.notes:
        print(f"note: {note}")
    workdir = (workdir or Path.cwd()).resolve()
    if dry_run:
        from .cost import cost_table

        print(cost_table(spec, expansion.trials, workdir / "runs"))
        return 0
    if fast_dev_run:
        from .rehearsal import fast_dev_run as rehearse

        return rehearse(spec, expansion.trials, workdir, execute, address)

    return execute(spec, expansion.trials, workdir, address, restart)


def execute(spec: Spec, trials: list[Trial], workdir: Path, address: str | None = None, restart: bool = False,
            trainer_args: tuple[str, ...] = (), report: bool = True) -> int:
    """Run `trials` (those not finished yet) in runs/<spec name>, tracked in MLflow; the exit status."""
    sweep_dir = sweep_directory(workdir, spec.name)
    if restart and (sweep_dir / "trials").exists():
        shutil.rmtree(sweep_dir / "trials")
    uri = spec.tracking.mlflow_uri or default_uri(workdir)
    trial_dirs = {t.trial_id: sweep_dir / "trials" / _safe(t.trial_id) for t in trials}
    todo = [t for t in trials if not is_finished(trial_dirs[t.trial_id], t)]
    for trial in trials:
        if trial not in todo:
            status = summary_of(trial_dirs[trial.trial_id]).get("status")
            print(f"skip {trial.trial_id}: {'finished' if status == 'FINISHED' else 'stopped'} earlier with the "
                  "same config")
    interrupted = False
    try:
        if todo:
            # Before any thread starts: the feature caches are built by forked DataLoader workers, and a
            # process forked while another thread holds a lock (importing mlflow) waits for it forever.
            prepare_data(todo, workdir)
            prepare_feature_caches(todo, workdir)
    except KeyboardInterrupt:
        interrupted = True
    # MLflow's runs are made in a thread while Ray starts (seconds each); an MLflow error surfaces when
    # the trials need their runs.
    with ThreadPoolExecutor(1) as pool:
        opening = pool.submit(open_tracking, spec, uri, sweep_dir, restart, todo, trial_dirs, workdir, trainer_args)
        try:
            if todo and not interrupted:
                interrupted = run_with_ray(partial(announced_launches, opening, uri), sweep_dir, spec.max_concurrent,
                                           spec.retries, address, spec.report.metric)
        except KeyboardInterrupt:
            interrupted = True
        tracking, launches = opening.result()
    wait_for_trainers([Path(launch.trial_dir) / "run" for launch in launches])
    stop_ray()
    return summarise(trials, trial_dirs, spec, tracking, uri, sweep_dir, interrupted, report)


def announced_launches(opening: Future, uri: str, dashboard_url: str) -> list[Launch]:
    """The prepared trials, once where to watch the sweep is printed (run_with_ray calls it when Ray is up)."""
    tracking, launches = opening.result()
    print_watch_lines(uri, tracking.experiment_id, dashboard_url)
    return launches


def summarise(trials: list[Trial], trial_dirs: dict[str, Path], spec: Spec, tracking: SweepTracking, uri: str,
              sweep_dir: Path, interrupted: bool, report: bool = True) -> int:
    """Every run closed with its status, the comparison printed and the report written; the exit status."""
    recorded = {t.trial_id: summary_of(trial_dirs[t.trial_id]).get("status") for t in trials}
    # Killed by anything but our Ctrl-C (and out of retries) is a failure, as the retries rule has it.
    statuses = {trial_id: status if status in DONE else "KILLED" if interrupted else "FAILED"
                for trial_id, status in recorded.items()}
    close_trials(trials, trial_dirs, tracking, statuses)
    failures = [trial_id for trial_id, status in statuses.items() if status == "FAILED"]
    tracking.finish("KILLED" if interrupted else "FAILED" if failures else "FINISHED")
    print(results_table(trials, trial_dirs, spec.report.metric))
    for trial in trials:
        if statuses[trial.trial_id] == run_files.STOPPED:
            reason = summary_of(trial_dirs[trial.trial_id]).get("stop_reason", "")
            print(f"stopped early: {trial.trial_id}: {reason}")
    if report:
        write_report(uri, spec, sweep_dir / "report.html")
    print()
    print_watch_lines(uri, tracking.experiment_id)
    if failures:
        print(f"\n{len(failures)} trial(s) failed: {', '.join(failures)}")
        for trial_id in failures:
            print(f"  {trial_id}: {failure_reason(trial_dirs[trial_id])}")
    if interrupted:
        print("\nstopped: run the same command again to resume the unfinished trials")
        return 130
    return 1 if failures else 0


def open_tracking(spec: Spec, uri: str, sweep_dir: Path, restart: bool, todo: list[Trial],
                  trial_dirs: dict[str, Path], workdir: Path,
                  trainer_args: tuple[str, ...] = ()) -> tuple[SweepTracking, list[Launch]]:
    """The sweep's parent run, and each trial to run prepared with its child run."""
    tracking = SweepTracking(uri, spec.tracking.experiment or spec.name, spec.name, sweep_dir, restart)
    tracking.log_artifact(tracking.parent_id, spec.path)
    launches = []
    for trial in todo:
        trial_dir = trial_dirs[trial.trial_id]
        prepare_trial_dir(trial, trial_dir)
        run_id = tracking.child_run(trial, trial_dir, restart)
        launches.append(Launch(trial.trial_id, str(trial_dir), str(workdir), spec.resources.nproc_per_node,
                               spec.resources.cpus, spec.resources.gpus, uri, run_id, trial.config.train.max_steps,
                               list(trainer_args), tuple(sorted(forwarded_env()))))
    return tracking, launches


def wait_for_trainers(run_dirs: list[Path], timeout_s: float = 60.0) -> None:
    """Tune can return while stopped trainers still write their summaries: wait until each has
    let go of its run directory."""
    import time

    deadline = time.monotonic() + timeout_s
    for run_dir in run_dirs:
        if not run_files.wait_unlocked(run_dir, max(0.0, deadline - time.monotonic())):
            print(f"warning: a trainer still holds {run_dir} after {timeout_s:.0f} s")


def write_report(uri: str, spec: Spec, out: Path) -> None:
    """The HTML report; a report that cannot be built is a warning, never a failed sweep."""
    from reports import build_report

    try:
        print()
        build_report(uri, str(spec.path), out)  # prints where the report is
    except Exception as error:  # noqa: BLE001 - the sweep's own outcome must not change
        print(f"\nwarning: the report could not be built ({type(error).__name__}: {error}); "
              f"try again with: python run.py report {spec.path}")


def close_trials(trials: list[Trial], trial_dirs: dict[str, Path], tracking: SweepTracking,
                 statuses: dict[str, str]) -> None:
    """Give every child run what MLflow still lacks of its run directory (anything a killed mirror did
    not log), the log, its final status and, where it failed, its log tail."""
    from smolwhisper.tracking import RunMirror

    for trial in trials:
        trial_dir = trial_dirs[trial.trial_id]
        run_id_file = trial_dir / "mlflow_run_id"
        if not run_id_file.exists():
            continue
        run_id, status = run_id_file.read_text().strip(), statuses[trial.trial_id]
        RunMirror(tracking.client, run_id, trial_dir / "run").finish(status, trial_dir / "train.log")
        failed = status not in DONE
        tracking.close_trial(run_id, status, log_tail(trial_dir / "train.log") if failed else "",
                             failure_reason(trial_dir) if failed else "")


def results_table(trials: list[Trial], trial_dirs: dict[str, Path], metric: str) -> str:
    """The console comparison next to the HTML report: the report's metric first (what the report ranks
    by and checkpoints/best was picked by), then WER and CER of every decoder the trials scored."""
    summaries = {t.trial_id: summary_of(trial_dirs[t.trial_id]) for t in trials}
    logged = {key for s in summaries.values() for key in s.get("metrics", {})}
    decoders = [d for d in DECODERS if wer_key(d) in logged]
    columns = [(metric, f"{metric} (ranked)")]
    columns += [(key(d), f"{'' if d == ATTENTION else d + ' '}{name}") for d in decoders
                for key, name in ((wer_key, "WER"), (cer_key, "CER")) if key(d) != metric]
    width = max(len("trial"), *(len(t.trial_id) for t in trials))
    lines = [f"\n{'trial':<{width}}  {'status':<9}  {'step':>6}  {'train loss':>10}  {'val loss':>8}  "
             + f"{'audio gain':>10}  " + "".join(f"{title:>{max(7, len(title))}}  " for _, title in columns)
             + f"{'params (active)':>16}  {'wall':>7}"]
    for t in trials:
        s = summaries[t.trial_id]
        m, p = s.get("metrics", {}), s.get("params", {})

        def number(key: str) -> str:
            if key not in m:
                return "-"
            return format(m[key], ".1%" if "/wer" in key or "/cer" in key else ".3f")

        params = f"{p['total'] / 1e6:.2f}M ({p['active'] / 1e6:.2f}M)" if p else "-"
        wall = f"{s['wall_time_s'] / 60:.1f}m" if "wall_time_s" in s else "-"
        values = "".join(f"{number(key):>{max(7, len(title))}}  " for key, title in columns)
        lines.append(f"{t.trial_id:<{width}}  {s.get('status', 'NOT RUN'):<9}  {s.get('step', 0):>6}  "
                     f"{number('train/loss'):>10}  {number('val/loss'):>8}  {number(VAL_AUDIO_GAIN):>10}  "
                     f"{values}{params:>16}  {wall:>7}")
    return "\n".join(lines)
