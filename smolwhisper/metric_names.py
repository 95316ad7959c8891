"""The names of the metrics a training run logs: the one place that owns them.

    train/loss, train/lr, train/grad_norm, train/tokens_per_s, train/audio_s_per_s, train/utterances, train/step_s
    train/ctc_loss                     with a CTC head (model.ctc_weight > 0)
    train/nonfinite_steps              once a step was skipped for a non-finite gradient
    val/loss, val/utterances
    val/audio_gain                     nats per token the decoder's val/loss rises when each transcript is
                                       paired with another utterance's audio: near 0 for a decoder that
                                       does not listen (logged once a validation batch holds 2+ utterances)
    val/wer<suffix>, val/cer<suffix>   per decoder the run scores: "" for the attention decoder,
                                       "_<decoder>" for the others (val/wer_ctc, val/wer_rescore_lm)
    val_unseen/...                     the same on data.unseen_split (voices never heard in training)
    real/...                           the same on held-out real recordings, with eval.real_speech
    moe/load_balance_loss, moe/router_z_loss, moe/load_l<layer>_e<expert>   with a MoE decoder
    gpu/peak_memory_gb                 on CUDA; gpu/mfu too where the GPU's peak FLOP/s is known
    data/skipped_<reason>              once an utterance was skipped for that reason

The trainer logs under these names, reports read them, and a sweep spec's `report.metric` must be
one that `logged_metrics` says every trial logs.
"""

from __future__ import annotations

from .config import DECODERS, ConfigError, RunConfig

TRAIN_LOSS = "train/loss"
TRAIN_LR = "train/lr"
TRAIN_GRAD_NORM = "train/grad_norm"
TRAIN_TOKENS_PER_S = "train/tokens_per_s"
TRAIN_AUDIO_S_PER_S = "train/audio_s_per_s"
TRAIN_UTTERANCES = "train/utterances"
TRAIN_STEP_S = "train/step_s"  # seconds per optimizer step, mean over the log window
TRAIN_CTC_LOSS = "train/ctc_loss"
TRAIN_NONFINITE_STEPS = "train/nonfinite_steps"
VAL = "val"  # validation metrics' prefix: val/wer, val/loss, ...
VAL_UNSEEN = "val_unseen"  # the same on data.unseen_split
REAL = "real"  # the same on held-out real recordings (eval.real_speech)
VAL_LOSS = "val/loss"
VAL_UTTERANCES = "val/utterances"
AUDIO_GAIN = "audio_gain"  # higher is better, so never a ranking metric
VAL_AUDIO_GAIN = f"{VAL}/{AUDIO_GAIN}"
MOE_LOAD_BALANCE_LOSS = "moe/load_balance_loss"
MOE_ROUTER_Z_LOSS = "moe/router_z_loss"
GPU_PEAK_MEMORY_GB = "gpu/peak_memory_gb"
GPU_MFU = "gpu/mfu"
SKIPPED_PREFIX = "data/skipped_"

TRAIN_METRICS = (TRAIN_LOSS, TRAIN_LR, TRAIN_GRAD_NORM, TRAIN_TOKENS_PER_S, TRAIN_AUDIO_S_PER_S, TRAIN_UTTERANCES,
                 TRAIN_STEP_S)
ATTENTION = "attention"  # the model's own decoder, whose metrics carry no suffix

# The label reports give each decoder of config.DECODERS: one line a decoder.
DECODER_LABELS: dict[str, str] = {
    ATTENTION: "attention",
    "ctc": "CTC greedy",
    "rescore": "CTC n-best, attention rescoring",
    "joint": "joint CTC/attention",
    "ctc_lm": "CTC + LM",
    "joint_lm": "joint CTC/attention + LM",
    "rescore_lm": "CTC + LM n-best, attention rescoring",
}
LM_DECODERS = tuple(decoder for decoder in DECODERS if decoder.endswith("_lm"))  # need the word LM


def decoder_suffix(decoder: str) -> str:
    """'' for the attention decoder, '_<decoder>' for the others."""
    return "" if decoder == ATTENTION else f"_{decoder}"


def wer_key(decoder: str = ATTENTION, prefix: str = VAL) -> str:
    """val/wer (attention), val/wer_ctc, val_unseen/wer_ctc_lm, ..."""
    return f"{prefix}/wer{decoder_suffix(decoder)}"


def cer_key(decoder: str = ATTENTION, prefix: str = VAL) -> str:
    return f"{prefix}/cer{decoder_suffix(decoder)}"


def decoder_of(metric: str) -> str:
    """The decoder a WER or CER metric scores (val/wer_ctc -> 'ctc'); 'attention' for any other metric."""
    prefix = metric.split("/", 1)[0]
    return next((decoder for decoder in DECODERS
                 if metric in (wer_key(decoder, prefix), cer_key(decoder, prefix))), ATTENTION)


def unseen(metric: str) -> str:
    """The same metric on the unseen-voice split: val/wer_ctc_lm -> val_unseen/wer_ctc_lm."""
    return metric.replace(f"{VAL}/", f"{VAL_UNSEEN}/", 1) if metric.startswith(f"{VAL}/") else metric


def skipped_key(reason: str) -> str:
    """data/skipped_<reason>: how many utterances were skipped for `reason` (smolwhisper.data.base)."""
    return f"{SKIPPED_PREFIX}{reason}"


def moe_load_key(layer: int, expert: int) -> str:
    """The share of tokens routed to `expert` in the `layer`-th MoE layer (counting MoE layers only)."""
    return f"moe/load_l{layer}_e{expert}"


def scored_decoders(cfg: RunConfig) -> list[str]:
    return cfg.scored_decoders


def needs_word_lm(cfg: RunConfig) -> bool:
    return any(decoder in LM_DECODERS for decoder in scored_decoders(cfg))


def select_metric(cfg: RunConfig) -> str:
    """What picks checkpoints/best: eval.select_metric, else the WER of the strongest decoder scored."""
    if cfg.eval.select_metric:
        return cfg.eval.select_metric
    scored = scored_decoders(cfg)
    return wer_key(max(scored, key=DECODERS.index))


def check_select_metric(cfg: RunConfig) -> None:
    """eval.select_metric must be a metric the run logs at each evaluation (ConfigError otherwise)."""
    logged = {name for name in logged_metrics(cfg) if name.startswith((f"{VAL}/", f"{VAL_UNSEEN}/"))}
    if cfg.eval.select_metric and cfg.eval.select_metric not in logged:
        raise ConfigError(f"eval.select_metric: {cfg.eval.select_metric!r} is not allowed; allowed: a metric this "
                          f"run logs at each evaluation: {', '.join(ranking_metrics(logged))} "
                          f"(decoders scored: {', '.join(scored_decoders(cfg))})")


def check_stop_metric(cfg: RunConfig) -> None:
    """stop.metric must be a metric the run logs at each evaluation, audio gain included (ConfigError)."""
    metric = cfg.stop.metric
    if not metric:
        return
    prefixes = (f"{VAL}/", f"{VAL_UNSEEN}/")
    logged = {name for name in logged_metrics(cfg) if name.startswith(prefixes)} | {VAL_AUDIO_GAIN}
    if scores_unseen(cfg):
        logged.add(unseen(VAL_AUDIO_GAIN))
    if metric not in logged:
        raise ConfigError(f"stop.metric: {metric!r} is not allowed; allowed: a metric this run logs at each "
                          f"evaluation: {', '.join(sorted(logged))}")


def scores_unseen(cfg: RunConfig) -> bool:
    """Whether every run of this config scores data.unseen_split: the synthetic corpus always has it."""
    return bool(cfg.data.unseen_split) and cfg.data.source == "synthetic"


def logged_metrics(cfg: RunConfig, cuda: bool | None = None) -> set[str]:
    """The metrics every run with this config logs. Left out: those logged only once something happens
    (data/skipped_*, train/nonfinite_steps, */audio_gain), and gpu/mfu (only for GPUs of known peak).
    `cuda`: whether the run trains on a GPU; by default, whether train.device names CUDA ("auto"
    promises nothing)."""
    names = set(TRAIN_METRICS) | {VAL_LOSS, VAL_UTTERANCES}
    if cfg.model.ctc_weight > 0:
        names.add(TRAIN_CTC_LOSS)
    prefixes = [VAL, VAL_UNSEEN] if scores_unseen(cfg) else [VAL]
    for decoder in scored_decoders(cfg):
        names |= {key(decoder, prefix) for key in (wer_key, cer_key) for prefix in prefixes}
    if scores_unseen(cfg):
        names |= {unseen(VAL_LOSS), unseen(VAL_UTTERANCES)}
    if cfg.eval.real_speech:
        names |= {f"{REAL}/loss", f"{REAL}/utterances"}
        names |= {key(decoder, REAL) for key in (wer_key, cer_key) for decoder in scored_decoders(cfg)}
    if cfg.model.is_moe:
        n_moe_layers = sum(cfg.model.is_moe_layer(index) for index in range(cfg.model.n_text_layer))
        names |= {MOE_LOAD_BALANCE_LOSS, MOE_ROUTER_Z_LOSS}
        names |= {moe_load_key(layer, expert) for layer in range(n_moe_layers) for expert in range(cfg.model.n_experts)}
    if cfg.train.device.startswith("cuda") if cuda is None else cuda:
        names.add(GPU_PEAK_MEMORY_GB)
    return names


def ranking_metrics(names: set[str]) -> list[str]:
    """The metrics among `names` a sweep can rank trials by (lower is better), for messages."""
    return sorted(name for name in names if name == TRAIN_LOSS
                  or (name.startswith((f"{VAL}/", f"{VAL_UNSEEN}/")) and not name.endswith("/utterances")))
