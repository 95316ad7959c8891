"""Turn a computed SweepResult into one self-contained HTML page: plotly charts, tables, transcripts.

plotly.js is inlined once (offline, no CDN); each chart is a JSON figure drawn by Plotly.newPlot.
The page layout lives in template.html (Jinja2, autoescaped).
"""

from __future__ import annotations

import difflib
import html
import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path

import jinja2
from markupsafe import Markup
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from smolwhisper.metric_names import (ATTENTION, DECODER_LABELS, VAL_AUDIO_GAIN, VAL_UNSEEN, cer_key, decoder_suffix,
                                     wer_key)

from .build import (Group, SweepResult, TrialResult, best_and_baseline, device_hours, display, load_sweep, ranked,
                    trial_devices)

TEMPLATE = Path(__file__).with_name("template.html")
PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
N_SAMPLE_UTTERANCES = 4
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=40, b=50), height=380,
              legend=dict(font=dict(size=11)), font=dict(size=12))


# -------------------------------------------------------------------------------- formatting

def percent(value: float, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}%"


def mean_pm(pair: tuple[float, float], fmt) -> str:
    mean, std = pair
    if math.isnan(mean):
        return "–"
    return fmt(mean) if math.isnan(std) else f"{fmt(mean)} ± {fmt(std)}"


def count(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def with_muted_spread(text: str) -> Markup:
    """"26.00% ± 1.41%" with the spread in a muted span, so the means line up and stand out."""
    mean, sep, spread = text.partition(" ± ")
    return Markup("{}{}").format(mean, Markup(' <span class="pm">± {}</span>').format(spread) if sep else "")


def points(value: float) -> str:
    """A WER difference in percentage points, signed."""
    return f"{100 * value:+.2f}"


# ------------------------------------------------------------------------------------ charts

def figure(fig: go.Figure, **layout) -> str:
    fig.update_layout(**{**LAYOUT, **layout})
    # "</" cannot appear inside a <script> element: escape it in the JSON (still valid JSON)
    return fig.to_json(validate=False).replace("</", "<\\/")


def colors_of(groups: list[Group]) -> dict[str, str]:
    return {g.name: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}


def curve_figure(trials: list[TrialResult], key: str, colors: dict[str, str], title: str, y_title: str,
                 y_percent: bool = False) -> go.Figure | None:
    fig, shown = go.Figure(), set()
    for trial in trials:
        if key not in trial.curves or not trial.curves[key][0]:
            continue
        steps, values = trial.curves[key]
        fig.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers" if len(steps) < 30 else "lines",
                                   name=trial.group, legendgroup=trial.group, showlegend=trial.group not in shown,
                                   line=dict(color=colors[trial.group], width=1.5), marker=dict(size=5),
                                   hovertemplate=f"{html.escape(trial.trial_id)}<br>step %{{x}}<br>%{{y:.4g}}"
                                                 "<extra></extra>"))
        shown.add(trial.group)
    if not fig.data:
        return None
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_title)
    if y_percent:
        fig.update_yaxes(tickformat=".1%")
    return fig


def wer_bars(groups: list[Group], colors: dict[str, str], metric: str) -> go.Figure | None:
    order = [g for g in ranked(groups, metric) if not math.isnan(g.summary[metric][0])][::-1]
    if not order:
        return None
    fig = go.Figure(go.Bar(
        y=[g.name for g in order], x=[g.summary[metric][0] for g in order], orientation="h",
        marker_color=[colors[g.name] for g in order], name="mean over seeds",
        error_x=dict(type="data", array=[0 if math.isnan(g.summary[metric][1]) else g.summary[metric][1]
                                         for g in order]),
        hovertemplate="%{y}<br>mean %{x:.2%}<extra></extra>"))
    seeds = [(g.name, t) for g in order for t in g.finished if metric in t.metrics]
    fig.add_trace(go.Scatter(y=[name for name, _ in seeds], x=[t.metrics[metric] for _, t in seeds], mode="markers",
                             marker=dict(color="black", size=6, symbol="circle-open"), name="one seed",
                             text=[t.trial_id for _, t in seeds], hovertemplate="%{text}<br>%{x:.2%}<extra></extra>"))
    fig.update_xaxes(tickformat=".1%", title=f"{metric} (bar: mean, whisker: ± 1 std over seeds)")
    fig.update_layout(height=max(300, 28 * len(order) + 120), showlegend=True,
                      margin=dict(l=20, r=20, t=40, b=50), title=f"{metric} per configuration")
    fig.update_yaxes(automargin=True)
    return fig


def scatter_vs(groups: list[Group], colors: dict[str, str], metric: str, x_key: str, x_title: str,
               log_x: bool) -> go.Figure | None:
    fig = go.Figure()
    for g in groups:
        x, y = g.summary.get(x_key, (math.nan, math.nan)), g.summary[metric]
        if math.isnan(x[0]) or math.isnan(y[0]):
            continue
        fig.add_trace(go.Scatter(
            x=[x[0]], y=[y[0]], mode="markers", name=g.name, marker=dict(size=11, color=colors[g.name]),
            error_y=dict(type="data", array=[0 if math.isnan(y[1]) else y[1]]),
            error_x=dict(type="data", array=[0 if math.isnan(x[1]) else x[1]]),
            hovertemplate=f"{html.escape(g.name)}<br>%{{x:.4g}}<br>%{{y:.2%}}<extra></extra>"))
    if not fig.data:
        return None
    fig.update_xaxes(title=x_title, type="log" if log_x else "linear")
    fig.update_yaxes(title=metric, tickformat=".1%")
    return fig


def effects_figure(sweep: SweepResult) -> go.Figure | None:
    effects = sweep.effects + ([sweep.headline] if sweep.headline else [])
    if not effects:
        return None
    labels = [effect_label(e) for e in effects][::-1]
    effects = effects[::-1]
    fig = go.Figure(go.Scatter(
        x=[100 * e.bootstrap.difference for e in effects], y=labels, mode="markers",
        marker=dict(size=10, color=["#888" if e.bootstrap.within_noise else "#d62728" if e.bootstrap.difference > 0
                                    else "#2ca02c" for e in effects]),
        error_x=dict(type="data", symmetric=False,
                     array=[100 * (e.bootstrap.high - e.bootstrap.difference) for e in effects],
                     arrayminus=[100 * (e.bootstrap.difference - e.bootstrap.low) for e in effects]),
        hovertemplate="%{y}<br>%{x:+.2f} WER points<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_xaxes(title="WER difference, percentage points (95% paired-bootstrap CI); < 0 is better")
    fig.update_yaxes(automargin=True)
    fig.update_layout(height=max(260, 34 * len(effects) + 120), margin=dict(l=20, r=20, t=40, b=50),
                      title="Effects: value minus reference, matched trials")
    return fig


def effect_label(effect) -> str:
    if effect.axis == "group":
        return f"best vs baseline: {effect.value} vs {effect.reference}"
    return f"{effect.axis.split('.')[-1]}: {display(effect.value)} vs {display(effect.reference)}"


def expert_load_figure(group: Group) -> go.Figure | None:
    """Fraction of tokens per expert (columns) in each MoE layer (rows), at the end of training,
    averaged over the finished seeds. A balanced router gives 1 / n_experts everywhere."""
    trials = group.finished or group.trials
    cells: dict[tuple[int, int], list[float]] = {}
    for trial in trials:
        for key, value in trial.metrics.items():
            if key.startswith("moe/load_l"):
                layer, expert = key[len("moe/load_l"):].split("_e")
                cells.setdefault((int(layer), int(expert)), []).append(value)
    if not cells:
        return None
    n_layers, n_experts = max(l for l, _ in cells) + 1, max(e for _, e in cells) + 1
    z = [[sum(cells[(l, e)]) / len(cells[(l, e)]) if (l, e) in cells else None for e in range(n_experts)]
         for l in range(n_layers)]
    highest = max(max(v or 0 for v in row) for row in z)
    fig = go.Figure(go.Heatmap(z=z, x=[f"e{e}" for e in range(n_experts)], y=[f"layer {l}" for l in range(n_layers)],
                               colorscale="Viridis", zmin=0, zmax=max(2 / n_experts, highest),
                               colorbar=dict(title="share", tickformat=".0%"),
                               hovertemplate="%{y}, %{x}: %{z:.1%} of tokens<extra></extra>"))
    fig.update_layout(title=dict(text=html.escape(group.name), font=dict(size=12)),
                      height=max(220, 26 * n_layers + 120), margin=dict(l=60, r=10, t=40, b=40))
    return fig


# ------------------------------------------------------------------------------- transcripts

def normalizer_for(trial: TrialResult):
    from smolwhisper.inference.metrics import normalize_english, normalize_gigaspeech

    return normalize_gigaspeech if trial.params.get("eval.normalizer") == "gigaspeech" else normalize_english


def word_diff(reference: str, hypothesis: str) -> str:
    """The hypothesis as HTML, with substituted, inserted and deleted words marked (difflib alignment
    of the word lists; close to, though not always identical with, the Levenshtein alignment
    that counted the errors)."""
    ref, hyp = reference.split(), hypothesis.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_opcodes():
        said, heard = html.escape(" ".join(ref[i1:i2])), html.escape(" ".join(hyp[j1:j2]))
        if op == "equal":
            parts.append(heard)
        elif op == "replace":
            parts.append(f'<span class="sub" title="reference: {said}">{heard}</span>')
        elif op == "insert":
            parts.append(f'<ins title="inserted">{heard}</ins>')
        else:
            parts.append(f'<del title="deleted">{said}</del>')
    return " ".join(parts)


def sample_transcripts(groups: list[Group], decoder: str = ATTENTION) -> list[dict]:
    """Utterances on which the configurations disagree most, with each one's hypothesis from `decoder`.

    Each group shows its lowest finished seed's latest evaluation."""
    errors_key, hypothesis_key = f"word_errors{decoder_suffix(decoder)}", f"hypothesis{decoder_suffix(decoder)}"
    shown = {}
    for g in groups:
        trials = sorted((t for t in g.finished if t.utterances), key=lambda t: (len(t.seed), t.seed))
        if trials:
            shown[g.name] = trials[0]
    if not shown:
        return []
    ids = set.intersection(*({i for i, record in t.utterances.items() if errors_key in record}
                             for t in shown.values()))

    def disagreement(utterance_id: str):
        errors = [t.utterances[utterance_id][errors_key] for t in shown.values()]
        return (-(max(errors) - min(errors)), -sum(errors), utterance_id)

    samples = []
    for utterance_id in sorted(ids, key=disagreement)[:N_SAMPLE_UTTERANCES]:
        first = next(iter(shown.values()))
        normalize = normalizer_for(first)
        reference = normalize(str(first.utterances[utterance_id].get("reference", "")))
        rows = []
        for name, trial in shown.items():
            record = trial.utterances[utterance_id]
            rows.append({"group": name, "trial": trial.trial_id,
                         "html": word_diff(reference, normalize(str(record.get(hypothesis_key, "")))),
                         "errors": record[errors_key], "words": record["reference_words"]})
        samples.append({"id": utterance_id, "reference": reference, "rows": rows})
    return samples


# ------------------------------------------------------------------------------------- page

def scores_unseen(sweep: SweepResult) -> bool:
    return any(wer_key(sweep.decoder, VAL_UNSEEN) in t.metrics for t in sweep.trials)


def unseen_gap(group: Group, decoder: str) -> tuple[float, str]:
    """Unseen-voice WER minus validation WER, seed means, in points."""
    gap = group.summary[wer_key(decoder, VAL_UNSEEN)][0] - group.summary[wer_key(decoder)][0]
    return gap, "–" if math.isnan(gap) else points(gap)


def table_rows(sweep: SweepResult, groups: list[Group], best: Group | None, baseline: Group | None) -> list[dict]:
    rows, wer, cer = [], wer_key(sweep.decoder), cer_key(sweep.decoder)
    unseen = wer_key(sweep.decoder, VAL_UNSEEN)
    for g in groups:
        s = g.summary
        unseen_cells = [(s[unseen][0], mean_pm(s[unseen], percent)), unseen_gap(g, sweep.decoder)]
        statuses = [t.status for t in g.trials]
        rows.append({
            "name": g.name, "variant": g.variant, "best": g is best, "baseline": g.variant == sweep.baseline_variant,
            "axes": [display(g.axes.get(a)) for a in sweep.axes],
            "seeds": f"{len(g.finished)}/{len(g.trials)}",
            "cells": [
                (s["params.total"][0], count(s["params.total"][0])),
                (s["params.active"][0], count(s["params.active"][0])),
                (s["train/loss"][0], mean_pm(s["train/loss"], lambda v: f"{v:.3f}")),
                (s["val/loss"][0], mean_pm(s["val/loss"], lambda v: f"{v:.3f}")),
                (s[wer][0], mean_pm(s[wer], percent)),
                (s[cer][0], mean_pm(s[cer], percent)),
                *(unseen_cells if scores_unseen(sweep) else []),
                (s["throughput"][0], mean_pm(s["throughput"], lambda v: f"{v:.1f}")),
                (s["wall_time_s"][0], mean_pm(s["wall_time_s"], duration)),
            ],
            "status": ", ".join(f"{statuses.count(x)} {x.lower()}" for x in dict.fromkeys(statuses) if x != "FINISHED")
                      or "finished",
            "failed": any(x != "FINISHED" for x in statuses),
        })
    return rows


def trial_rows(sweep: SweepResult) -> list[dict]:
    rows, wer, cer = [], wer_key(sweep.decoder), cer_key(sweep.decoder)
    devices, _ = trial_devices(sweep)
    for t in sweep.trials:
        hours = t.wall_time_s * devices / 3600  # the compute the trial used, its failed attempts' included
        rows.append({"id": t.trial_id, "group": t.group, "seed": t.seed, "status": t.status,
                     "kernel": t.params.get("gpu.attention_kernel", "–"),
                     "cells": [(t.metrics.get("train/loss", math.nan), f"{t.metrics.get('train/loss', math.nan):.3f}"),
                               (t.metrics.get("val/loss", math.nan), f"{t.metrics.get('val/loss', math.nan):.3f}"),
                               (t.metrics.get(VAL_AUDIO_GAIN, math.nan),
                                f"{t.metrics.get(VAL_AUDIO_GAIN, math.nan):.3f}"),
                               (t.metrics.get(wer, math.nan), percent(t.metrics.get(wer, math.nan))),
                               (t.metrics.get(cer, math.nan), percent(t.metrics.get(cer, math.nan))),
                               (t.throughput, f"{t.throughput:.1f}"), (t.wall_time_s, duration(t.wall_time_s)),
                               (hours, f"{hours:.2f}")]})
    return rows


def effect_rows(sweep: SweepResult) -> list[dict]:
    rows = []
    for e in ([sweep.headline] if sweep.headline else []) + sweep.effects:
        b = e.bootstrap
        if b.within_noise:
            verdict = "no detectable difference: the 95% interval contains 0"
        elif not e.detectable:
            verdict = (f"no detectable difference: below the {points(e.smallest_difference).lstrip('+')} points "
                       "this comparison can detect (seed spread included)")
        else:
            verdict = f"real: {display(e.value)} is {'worse' if b.difference > 0 else 'better'}"
        rows.append({"label": effect_label(e), "difference": points(b.difference),
                     "interval": f"[{points(b.low)}, {points(b.high)}]", "verdict": verdict,
                     "noise": not e.detectable, "better": b.difference < 0, "pairs": e.n_pairs,
                     "utterances": b.n_utterances, "seed_mean": points(e.seed_mean_difference)})
    return rows


def resolution_line(sweep: SweepResult) -> str:
    """The smallest difference the sweep can detect between two configurations, and what it rests on."""
    r = sweep.resolution
    if r is None or math.isnan(r.smallest_difference):
        return ("The smallest detectable difference is unknown: no two configurations share scored utterances "
                "and no configuration has two seeds.")
    seeds = (f"a seed-to-seed spread of {points(r.seed_std).lstrip('+')} points over {r.seeds} seeds per configuration"
             if not math.isnan(r.seed_std) else "no seed spread (one seed per configuration: it is not counted)")
    utterances = (f"paired-bootstrap intervals of ±{points(r.bootstrap_half_width).lstrip('+')} points over "
                  f"{r.n_utterances} utterances" if not math.isnan(r.bootstrap_half_width) else "no paired comparison")
    return (f"Smallest detectable difference between two configurations: {points(r.smallest_difference).lstrip('+')} "
            f"WER points (95%), from {seeds} and {utterances}. Differences below it are no detectable difference.")


def ratio(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}×"


def switch_rows(sweep: SweepResult) -> list[dict]:
    rows = []
    for check in sweep.switch_checks:
        noise = ("no seed spread: tolerance 2% of the loss" if math.isnan(check.seed_noise)
                 else f"seed spread {check.seed_noise:.4f}")
        verdict = (f"suspected numerical bug: the loss curves part by more than {check.tolerance:.4f} ({noise})"
                   if check.suspect else f"consistent: within {check.tolerance:.4f} ({noise})")
        rows.append({"label": f"{check.axis.split('.')[-1]}: {display(check.value)} vs {display(check.reference)}",
                     "pairs": check.n_pairs, "throughput": ratio(check.throughput_ratio), "mfu": ratio(check.mfu_ratio),
                     "memory": ratio(check.memory_ratio), "loss": f"{check.loss_difference:+.4f}",
                     "kernels": f"{check.kernels[1]} vs {check.kernels[0]}", "verdict": verdict,
                     "suspect": check.suspect})
    return rows


def header(sweep: SweepResult, generated: str, tracking_uri: str) -> dict:
    tags = sweep.parent.data.tags
    resources = sweep.spec.get("resources") or {}
    hours, unit = device_hours(sweep)
    statuses = [t.status for t in sweep.trials]
    on_gpu = any("gpu/peak_memory_gb" in t.metrics for t in sweep.trials)
    started = datetime.fromtimestamp(sweep.parent.info.start_time / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "name": sweep.name, "experiment": sweep.experiment, "generated": generated, "started": started,
        "commit": tags.get("smolwhisper.git_commit", "unknown"), "host": tags.get("smolwhisper.host", "unknown"),
        "hardware": (f"{resources.get('gpus', 0)} GPU, {resources.get('cpus', 1)} CPU, "
                     f"{resources.get('nproc_per_node', 1)} process(es) per trial"
                     + ("" if on_gpu or not resources.get("gpus") else " (no GPU metrics logged)")),
        "n_trials": len(statuses),
        "statuses": ", ".join(f"{statuses.count(s)} {s.lower()}" for s in dict.fromkeys(statuses)),
        "device_hours": f"{hours:.2f} {unit}", "status": sweep.parent.info.status, "tracking_uri": tracking_uri,
        "metric": sweep.metric, "baseline": sweep.baseline_variant,
    }


def render(sweep: SweepResult, generated: str, tracking_uri: str) -> str:
    groups = ranked(sweep.groups, sweep.metric)
    colors = colors_of(groups)
    best, baseline = best_and_baseline(sweep)
    leader = best or (sweep.tied[0] if sweep.tied else None)  # the top group, best or first of a tie
    trials = sorted(sweep.trials, key=lambda t: [g.name for g in groups].index(t.group))
    wer_curve = sweep.metric if any(sweep.metric in t.curves for t in trials) else "val/wer"  # what it ranks by
    charts = {
        "train_loss": curve_figure(trials, "train/loss", colors, "Training loss", "train/loss"),
        "val_loss": curve_figure(trials, "val/loss", colors, "Validation loss", "val/loss"),
        "wer_steps": curve_figure(trials, wer_curve, colors, f"Validation {wer_curve} over training", wer_curve, True),
        "wer_bars": wer_bars(groups, colors, sweep.metric),
        "params_wer": scatter_vs(groups, colors, sweep.metric, "params.active", "active parameters (log)", True),
        "throughput_wer": scatter_vs(groups, colors, sweep.metric, "throughput", "throughput, audio s / s", False),
        "effects": effects_figure(sweep),
        "balance": curve_figure(trials, "moe/load_balance_loss", colors, "MoE load-balance loss", "load balance loss"),
    }
    heatmaps = [(g.name, fig) for g in groups if (fig := expert_load_figure(g))]
    figures = {name: figure(fig) for name, fig in charts.items() if fig is not None}
    heatmap_figures = [(f"heatmap_{i}", name, figure(fig, height=fig.layout.height, margin=fig.layout.margin))
                       for i, (name, fig) in enumerate(heatmaps)]
    failed = [t for t in sweep.trials if t.status != "FINISHED"]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True,
                                     undefined=jinja2.StrictUndefined)
    return environment.get_template(TEMPLATE.name).render(
        h=header(sweep, generated, tracking_uri), axes=[a.split(".")[-1] for a in sweep.axes],
        axis_keys=sweep.axes, rows=table_rows(sweep, groups, best, baseline), trial_rows=trial_rows(sweep),
        compute_unit=trial_devices(sweep)[1].replace("-hours", "-h"),
        effects=effect_rows(sweep), switches=switch_rows(sweep), unseen=scores_unseen(sweep),
        best_gap=unseen_gap(leader, sweep.decoder)[1] if leader and scores_unseen(sweep) else None,
        best_unseen=(mean_pm(leader.summary[wer_key(sweep.decoder, VAL_UNSEEN)], percent)
                     if leader and scores_unseen(sweep) else None), leader=leader,
        show_kernels=any("gpu.attention_kernel" in t.params for t in sweep.trials), figures=figures, heatmaps=heatmap_figures, failed=failed,
        samples=sample_transcripts(groups, sweep.decoder), best=best, baseline=baseline, headline=sweep.headline,
        headline_row=effect_rows(sweep)[0] if sweep.headline else None,
        tied=sweep.tied if len(sweep.tied) > 1 else [], resolution=resolution_line(sweep),
        plotly_js=get_plotlyjs(), figures_json=json.dumps(list(figures) + [h[0] for h in heatmap_figures]),
        colors=colors, percent=percent, mean_pm=mean_pm, pm=with_muted_spread,
        decoder="" if sweep.decoder == ATTENTION else DECODER_LABELS[sweep.decoder],
    )


def build_report(tracking_uri: str, sweep: str, out: Path | None = None) -> Path:
    """Write the sweep's self-contained HTML report; returns its path (default runs/<name>/report.html)."""
    started = time.perf_counter()
    data = load_sweep(tracking_uri, sweep)
    out = Path(out) if out else Path("runs") / data.name / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.write_text(render(data, generated, tracking_uri), encoding="utf-8")
    print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)")
    return out
