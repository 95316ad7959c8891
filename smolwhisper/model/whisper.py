"""Whisper (tiny.en and friends) from scratch, with an optional mixture-of-experts decoder FFN.

Follows openai/whisper's model.py (same module names, so its state dicts load as they are),
and adds: variable-length mel input with a padding mask, an explicit KV cache, SDPA backend
selection, activation checkpointing, a MoE feed-forward (see moe.py) and an optional CTC head on
the encoder for joint CTC/attention training.
Imports nothing from training or orchestration.
"""

from __future__ import annotations

import itertools
import logging
import dataclasses
import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

try:
    from torch.nn.attention.varlen import varlen_attn
except ImportError:  # torch < 2.10
    varlen_attn = None

from ..config import ConfigError, ModelConfig
from .fused_loss import linear_cross_entropy
from .moe import MoEFeedForward

log = logging.getLogger(__name__)

# In this order: FlashAttention wherever it can run (no mask, half precision on CUDA), else the
# memory-efficient kernel (a mask, fp32). Not cuDNN attention, which torch 2.13 would otherwise
# prefer on H100s and whose backward can return NaN with a mask (pytorch issue 196678).
FUSED_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
MATH_BACKEND = [SDPBackend.MATH]


class LayerNorm(nn.LayerNorm):
    """Computed in fp32 whatever the activation dtype, as Whisper does."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).type(x.dtype)


class Linear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class Conv1d(nn.Conv1d):
    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return super()._conv_forward(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))


def sinusoids(length: int, channels: int, max_timescale: float = 10000) -> Tensor:
    """Whisper's sinusoidal encoder positions (sin then cos halves)."""
    log_timescale_increment = torch.log(torch.tensor(max_timescale)) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


@dataclass
class LayerCache:
    """Keys/values of one decoder block: self-attention grows per step, cross-attention is fixed."""

    self_kv: tuple[Tensor, Tensor] | None = None
    cross_kv: tuple[Tensor, Tensor] | None = None


@dataclass
class KVCache:
    layers: list[LayerCache]

    @classmethod
    def empty(cls, n_layers: int) -> KVCache:
        return cls([LayerCache() for _ in range(n_layers)])

    @property
    def length(self) -> int:
        kv = self.layers[0].self_kv
        return 0 if kv is None else kv[0].shape[2]

    def reorder(self, index: Tensor) -> None:
        """Select batch rows (beam search); cross-attention rows move with their beams."""
        for layer in self.layers:
            if layer.self_kv is not None:
                layer.self_kv = tuple(t.index_select(0, index) for t in layer.self_kv)
            if layer.cross_kv is not None:
                layer.cross_kv = tuple(t.index_select(0, index) for t in layer.cross_kv)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int, flash: bool, qk_norm: bool = False):
        super().__init__()
        self.n_head = n_head
        self.query = Linear(n_state, n_state)
        self.key = Linear(n_state, n_state, bias=False)
        self.value = Linear(n_state, n_state)
        self.out = Linear(n_state, n_state)
        self.q_norm = LayerNorm(n_state // n_head) if qk_norm else None
        self.k_norm = LayerNorm(n_state // n_head) if qk_norm else None
        self.flash = flash
        self.backends = FUSED_BACKENDS if flash else MATH_BACKEND

    def split_heads(self, x: Tensor, norm: LayerNorm | None = None) -> Tensor:
        """[B, L, n_state] -> [B, n_head, L, head_dim]; `norm` (qk_norm) on each head's vector before the
        transpose, where the rows are contiguous (Liger's LayerNorm views its input as rows)."""
        x = x.view(*x.shape[:2], self.n_head, -1)
        return (x if norm is None else norm(x)).transpose(1, 2)

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor], mask: Tensor | None = None,
                is_causal: bool = False, packed_q: PackedRows | None = None,
                packed_kv: PackedRows | None = None) -> Tensor:
        """packed_kv (and packed_q, for self-attention) say where the real rows of a padded batch are:
        where FlashAttention's varlen kernel runs, attention goes over the packed rows and `mask` is not
        used; elsewhere SDPA takes the mask."""
        q = self.split_heads(self.query(x), self.q_norm)
        if packed_kv is not None and self.flash and varlen_kernel_runs(q):
            y = packed_attention(q, *kv, packed_q, packed_kv)
        else:
            with sdpa_kernel(self.backends, set_priority=True):
                y = F.scaled_dot_product_attention(q, *kv, attn_mask=mask, is_causal=is_causal)
        return self.out(y.transpose(1, 2).flatten(2))

    def project_kv(self, source: Tensor) -> tuple[Tensor, Tensor]:
        return self.split_heads(self.key(source), self.k_norm), self.split_heads(self.value(source))


@dataclass
class PackedRows:
    """Where the real rows of a padded batch [B, T, ...] sit, for attention over packed sequences
    with cumulative lengths (FlashAttention's varlen kernel): no padding computed and no mask.
    Built on the host from lengths the host already knows, so that nothing is read back from the GPU."""

    index: Tensor  # [total] positions of the real rows in the flattened [B * T]
    cu_seqlens: Tensor  # [B + 1] int32, cumulative lengths

    @classmethod
    def from_lengths(cls, lengths: list[int], padded_len: int, device: torch.device | str) -> PackedRows:
        index = torch.cat([torch.arange(length) + row * padded_len for row, length in enumerate(lengths)])
        cu_seqlens = torch.tensor([0, *itertools.accumulate(lengths)], dtype=torch.int32)
        return cls(index.to(device, non_blocking=True), cu_seqlens.to(device, non_blocking=True))

    def pack(self, x: Tensor) -> Tensor:
        """[B, T, ...] -> [total, ...]"""
        return x.flatten(0, 1).index_select(0, self.index)

    def unpack(self, packed: Tensor, batch: int, padded_len: int) -> Tensor:
        """[total, ...] -> [B, T, ...], zeros on padded rows."""
        out = packed.new_zeros(batch * padded_len, *packed.shape[1:])
        return out.index_copy(0, self.index, packed).view(batch, padded_len, *packed.shape[1:])


def varlen_kernel_runs(q: Tensor) -> bool:
    """FlashAttention's varlen kernel is a CUDA kernel for half-precision inputs on Ampere or newer."""
    return (varlen_attn is not None and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16)
            and flash_attention_capable(q.device))


@functools.cache
def flash_attention_capable(device: torch.device) -> bool:
    """FlashAttention-2 refuses GPUs below compute capability 8.0 (T4, V100), where autocast still
    allows bf16 by emulation: there attention takes SDPA with the mask (its memory-efficient kernel)."""
    capable = torch.cuda.get_device_capability(device) >= (8, 0)
    if not capable:
        log.warning("flash: %s has compute capability %s.%s, below FlashAttention's 8.0; attention over "
                    "padded batches takes SDPA with a mask", torch.cuda.get_device_name(device),
                    *torch.cuda.get_device_capability(device))
    return capable


def packed_attention(q: Tensor, k: Tensor, v: Tensor, packed_q: PackedRows | None,
                     packed_kv: PackedRows) -> Tensor:
    """Attention over packed sequences: q, k, v [B, H, T, D] padded; packed_q None means every query
    row is real (the decoder's tokens in cross-attention). Returns [B, H, Tq, D], zeros on padded queries."""
    batch, _, n_q, _ = q.shape
    n_kv = k.shape[2]
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, T, H, D]
    if packed_q is None:
        q_rows = q.flatten(0, 1)
        cu_q = torch.arange(batch + 1, device=q.device, dtype=torch.int32) * n_q
    else:
        q_rows, cu_q = packed_q.pack(q), packed_q.cu_seqlens
    # max lengths: the padded lengths, upper bounds that the kernel accepts and that cost no device sync
    out = varlen_attn(q_rows, packed_kv.pack(k), packed_kv.pack(v), cu_q, packed_kv.cu_seqlens, n_q, n_kv)
    out = out.view(batch, n_q, *out.shape[1:]) if packed_q is None else packed_q.unpack(out, batch, n_q)
    return out.transpose(1, 2)


class ConvModule(nn.Module):
    """Conformer's convolution module (Gulati et al. 2020), pre-norm: pointwise conv to a GLU,
    depthwise conv over time, norm, SiLU, pointwise conv. LayerNorm where the paper has BatchNorm,
    as ESPnet and WeNet allow: padding and DDP need no batch statistics then."""

    def __init__(self, n_state: int, kernel_size: int):
        super().__init__()
        self.ln = LayerNorm(n_state)
        self.pointwise_in = Linear(n_state, 2 * n_state)
        self.depthwise = Conv1d(n_state, n_state, kernel_size, padding=kernel_size // 2, groups=n_state)
        self.depthwise_ln = LayerNorm(n_state)
        self.pointwise_out = Linear(n_state, n_state)

    def forward(self, x: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """x [B, T, n_state]; frame_mask [B, T] True on real frames, which alone reach the depthwise conv."""
        h = F.glu(self.pointwise_in(self.ln(x)), dim=-1)
        if frame_mask is not None:
            h = h * frame_mask[..., None].to(h.dtype)
        h = self.depthwise(h.transpose(1, 2)).transpose(1, 2)
        return self.pointwise_out(F.silu(self.depthwise_ln(h)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int, n_mlp: int, flash: bool,
                 cross_attention: bool = False, moe: MoEFeedForward | None = None, conv_kernel: int = 0,
                 qk_norm: bool = False):
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head, flash, qk_norm)
        self.attn_ln = LayerNorm(n_state)
        self.conv = ConvModule(n_state, conv_kernel) if conv_kernel else None
        self.cross_attn = MultiHeadAttention(n_state, n_head, flash, qk_norm) if cross_attention else None
        self.cross_attn_ln = LayerNorm(n_state) if cross_attention else None
        self.mlp = moe or nn.Sequential(Linear(n_state, n_mlp), nn.GELU(), Linear(n_mlp, n_state))
        self.mlp_ln = LayerNorm(n_state)

    def forward(self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False,
                xa: Tensor | None = None, xa_mask: Tensor | None = None,
                cache: LayerCache | None = None, token_mask: Tensor | None = None,
                frame_mask: Tensor | None = None, packed: PackedRows | None = None,
                xa_packed: PackedRows | None = None) -> tuple[Tensor, dict | None]:
        """packed: the real rows of x (encoder self-attention); xa_packed: those of xa (cross-attention)."""
        h = self.attn_ln(x)
        kv = self.attn.project_kv(h)
        if cache is not None:
            if cache.self_kv is not None:
                kv = tuple(torch.cat([old, new], dim=2) for old, new in zip(cache.self_kv, kv))
            cache.self_kv = kv
        x = x + self.attn(h, kv, mask=mask, is_causal=is_causal, packed_q=packed, packed_kv=packed)
        if self.conv is not None:
            x = x + self.conv(x, frame_mask)
        if self.cross_attn is not None:
            if cache is not None and cache.cross_kv is not None:
                cross_kv = cache.cross_kv
            else:
                cross_kv = self.cross_attn.project_kv(xa)
                if cache is not None:
                    cache.cross_kv = cross_kv
            x = x + self.cross_attn(self.cross_attn_ln(x), cross_kv, mask=xa_mask, packed_kv=xa_packed)
        if isinstance(self.mlp, MoEFeedForward):
            y, stats = self.mlp(self.mlp_ln(x), token_mask)
            return x + y, stats
        return x + self.mlp(self.mlp_ln(x)), None


class AudioEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        n_state = cfg.n_audio_state
        self.stride = cfg.audio_stride
        self.conv1 = Conv1d(cfg.n_mels, n_state, kernel_size=3, stride=cfg.audio_stride // 2, padding=1)
        self.conv2 = Conv1d(n_state, n_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(cfg.n_audio_ctx, n_state))
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(n_state, cfg.n_audio_head, cfg.mlp_ratio * n_state, cfg.flash,
                                   conv_kernel=cfg.conv_kernel, qk_norm=cfg.qk_norm)
            for _ in range(cfg.n_audio_layer))
        self.ln_post = LayerNorm(n_state)
        self.checkpointing = cfg.activation_checkpointing

    def forward(self, mel: Tensor, mel_mask: Tensor | None = None,
                packed: PackedRows | None = None) -> tuple[Tensor, Tensor | None]:
        """mel [B, n_mels, T] with T <= stride * n_audio_ctx; mel_mask [B, T] True on real frames;
        packed: the real encoder frames (`Whisper.packed_frames`), for attention over packed sequences.

        Returns features [B, ceil(T/stride), n_state] and their mask (None when no mask was given).
        Padded frames are zeroed before each convolution so that a real frame next to padding
        sees the same zeros as at the end of an unpadded utterance.
        """
        n_frames = mel.shape[-1]
        max_frames = self.stride * self.positional_embedding.shape[0]
        if n_frames > max_frames:
            raise ValueError(f"mel has {n_frames} frames; at most {max_frames} ({max_frames // 100} s) "
                             f"fit the encoder's positions")
        if mel_mask is not None:
            mel = mel * mel_mask[:, None, :].to(mel.dtype)
        x = F.gelu(self.conv1(mel))
        if mel_mask is not None:
            x = x * mel_mask[:, None, :: self.stride // 2].to(x.dtype)
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        audio_mask = None if mel_mask is None else mel_mask[:, :: self.stride]
        # The residual stream stays in the parameters' dtype (fp32 under autocast); only the matmuls narrow.
        positions = self.positional_embedding[: x.shape[1]]
        x = x.to(positions.dtype) + positions
        attn_mask = None if audio_mask is None else audio_mask[:, None, None, :]
        for block in self.blocks:
            if self.checkpointing and self.training:
                x, _ = checkpoint(block, x, attn_mask, frame_mask=audio_mask, packed=packed, use_reentrant=False)
            else:
                x, _ = block(x, mask=attn_mask, frame_mask=audio_mask, packed=packed)
        return self.ln_post(x), audio_mask


@dataclass
class DecoderOutput:
    logits: Tensor | None
    hidden: Tensor
    moe_stats: list[dict] = field(default_factory=list)


class TextDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        n_state = cfg.n_text_state
        self.token_embedding = nn.Embedding(cfg.n_vocab, n_state)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.n_text_ctx, n_state))
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(
                n_state, cfg.n_text_head, cfg.mlp_ratio * n_state, cfg.flash, cross_attention=True,
                moe=MoEFeedForward(n_state, cfg.mlp_ratio * n_state, cfg.n_experts, cfg.top_k,
                                   cfg.noisy_topk, cfg.moe_grouped_mm) if cfg.is_moe_layer(i) else None,
                qk_norm=cfg.qk_norm)
            for i in range(cfg.n_text_layer))
        self.ln = LayerNorm(n_state)
        self.checkpointing = cfg.activation_checkpointing

    def forward(self, tokens: Tensor, audio_features: Tensor, audio_mask: Tensor | None = None,
                kv_cache: KVCache | None = None, return_logits: bool = True,
                token_mask: Tensor | None = None, audio_packed: PackedRows | None = None) -> DecoderOutput:
        """tokens [B, L]; with a cache, only the new tokens (positions continue from the cache).

        token_mask [B, L] marks the tokens that count in MoE routing statistics (not padding);
        audio_packed the real frames of audio_features, for cross-attention over packed sequences.
        """
        offset = kv_cache.length if kv_cache is not None else 0
        n_tokens = tokens.shape[1]
        if offset + n_tokens > self.positional_embedding.shape[0]:
            raise ValueError(f"{offset + n_tokens} tokens exceed n_text_ctx={self.positional_embedding.shape[0]}")
        # The residual stream stays in the parameters' dtype (fp32 under autocast); only the matmuls narrow.
        x = self.token_embedding(tokens) + self.positional_embedding[offset: offset + n_tokens]
        mask, is_causal = causal_mask(n_tokens, offset, tokens.device)
        xa_mask = None if audio_mask is None else audio_mask[:, None, None, :]
        moe_stats = []
        for i, block in enumerate(self.blocks):
            cache = kv_cache.layers[i] if kv_cache is not None else None
            if self.checkpointing and self.training and cache is None:
                x, stats = checkpoint(block, x, mask, is_causal, audio_features, xa_mask, None,
                                      token_mask, xa_packed=audio_packed, use_reentrant=False)
            else:
                x, stats = block(x, mask, is_causal, audio_features, xa_mask, cache, token_mask,
                                 xa_packed=audio_packed)
            if stats is not None:
                moe_stats.append(stats)
        x = self.ln(x)
        logits = self.logits(x) if return_logits else None
        return DecoderOutput(logits, x, moe_stats)

    def logits(self, hidden: Tensor) -> Tensor:
        # Output projection tied to the token embedding, as in Whisper.
        return (hidden @ self.token_embedding.weight.to(hidden.dtype).T).float()


def causal_mask(n_tokens: int, offset: int, device: torch.device) -> tuple[Tensor | None, bool]:
    """Mask for new tokens at positions offset.. attending to the cache plus themselves.

    SDPA's is_causal aligns the triangle to the top-left, which is only right without a cache. It is
    a constant, not computed from a (symbolic, under torch.compile) size: one token alone is causal too.
    """
    if offset == 0:
        return None, True
    if n_tokens == 1:
        return None, False
    return torch.ones(n_tokens, offset + n_tokens, dtype=torch.bool, device=device).tril(offset), False


@dataclass
class ModelOutput:
    logits: Tensor | None  # [B, L, n_vocab] fp32; None when the loss was fused (liger)
    loss: Tensor | None  # token cross-entropy, when targets were given
    ctc_loss: Tensor | None  # CTC loss of the encoder's head, when it exists and ctc_targets were given
    ctc_log_probs: Tensor | None  # [B, T, n_vocab + 1] fp32, blank last; with the CTC head
    ctc_lengths: Tensor | None  # [B] valid encoder frames of ctc_log_probs
    load_balance_loss: Tensor  # mean over MoE layers (0 for a dense decoder)
    router_z_loss: Tensor
    expert_counts: Tensor | None  # [n_moe_layers, n_experts] tokens routed per expert


class Whisper(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = AudioEncoder(cfg)
        self.decoder = TextDecoder(cfg)
        # Blank is the extra last class, so the head needs nothing from the tokenizer.
        self.ctc = Linear(cfg.n_audio_state, cfg.n_vocab + 1) if cfg.ctc_weight > 0 else None
        self.reset_parameters()
        self.fused_loss = _enable_liger(self) if cfg.liger else None

    def reset_parameters(self) -> None:
        """GPT-2-style init for training from scratch (Whisper ships no init of its own)."""
        residual_std = 0.02 / (2 * (self.config.n_audio_layer + self.config.n_text_layer)) ** 0.5
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, MoEFeedForward):
                module.reset_parameters(std=0.02, residual_std=residual_std)
        for block in [*self.encoder.blocks, *self.decoder.blocks]:
            for projection in (block.attn.out, block.cross_attn and block.cross_attn.out,
                               block.conv and block.conv.pointwise_out,
                               isinstance(block.mlp, nn.Sequential) and block.mlp[2]):
                if projection:
                    nn.init.normal_(projection.weight, std=residual_std)
        nn.init.normal_(self.decoder.positional_embedding, std=0.01)

    def embed_audio(self, mel: Tensor, mel_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.encoder(mel, mel_mask)

    def ctc_log_probs(self, audio_features: Tensor, audio_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """The CTC head's log-probabilities [B, T, n_vocab + 1] (blank last) and valid frames [B]."""
        if self.ctc is None:
            raise ValueError("this model has no CTC head (model.ctc_weight is 0)")
        log_probs = F.log_softmax(self.ctc(audio_features).float(), dim=-1)
        lengths = (audio_mask.sum(dim=1) if audio_mask is not None else
                   torch.full((len(log_probs),), log_probs.shape[1], device=log_probs.device))
        return log_probs, lengths

    def packed_frames(self, mel_lengths: list[int], n_mel_frames: int,
                      device: torch.device | str) -> PackedRows | None:
        """The real encoder frames of a batch whose mel rows hold mel_lengths real frames out of
        n_mel_frames; None when no row is padded."""
        stride = self.encoder.stride
        lengths = encoder_frames(mel_lengths, stride)
        padded_len = -(-n_mel_frames // stride)
        if all(length >= padded_len for length in lengths):
            return None
        return PackedRows.from_lengths(lengths, padded_len, device)

    def forward(self, mel: Tensor, tokens: Tensor, mel_mask: Tensor | None = None,
                targets: Tensor | None = None, ctc_targets: CTCTargets | Tensor | None = None,
                packed: PackedRows | None = None) -> ModelOutput:
        """targets [B, L] with -100 on positions that do not count (padding, the prompt).
        ctc_targets: `CTCTargets` with lengths the host knows (training), or [B, S] each row's text
        tokens in order, -100 elsewhere (no specials), whose lengths are then counted on the device.
        packed: `packed_frames(...)` of mel_mask, for attention over packed sequences where it runs."""
        audio_features, audio_mask = self.encoder(mel, mel_mask, packed)
        return self.decode(audio_features, audio_mask, tokens, targets, ctc_targets, packed)

    def decode(self, audio_features: Tensor, audio_mask: Tensor | None, tokens: Tensor,
               targets: Tensor | None = None, ctc_targets: CTCTargets | Tensor | None = None,
               packed: PackedRows | None = None) -> ModelOutput:
        """`forward` from the encoder's output on: the CTC head and the decoder, with their losses.
        Training from cached encoder states (a frozen encoder) starts here."""
        ctc_log_probs = ctc_lengths = ctc_loss = None
        if self.ctc is not None:
            ctc_log_probs, ctc_lengths = self.ctc_log_probs(audio_features, audio_mask)
            if isinstance(ctc_targets, Tensor):
                ctc_targets = CTCTargets.from_targets(ctc_targets, ctc_lengths)
            if ctc_targets is not None:
                ctc_loss = ctc_loss_per_token(ctc_log_probs, ctc_targets)
        fused = self.fused_loss is not None and targets is not None
        token_mask = None if targets is None else targets != -100
        out = self.decoder(tokens, audio_features, audio_mask, return_logits=not fused, token_mask=token_mask,
                           audio_packed=packed)
        loss = None
        if fused:
            loss = self.fused_loss(self.decoder.token_embedding.weight, out.hidden.flatten(0, 1), targets.flatten())
        elif targets is not None:
            loss = F.cross_entropy(out.logits.flatten(0, 1), targets.flatten(), ignore_index=-100,
                                   label_smoothing=self.config.label_smoothing)
        zero = audio_features.new_zeros((), dtype=torch.float32)
        stats = out.moe_stats
        return ModelOutput(
            logits=out.logits,
            loss=loss,
            ctc_loss=ctc_loss,
            ctc_log_probs=ctc_log_probs,
            ctc_lengths=ctc_lengths,
            load_balance_loss=torch.stack([s["load_balance_loss"] for s in stats]).mean() if stats else zero,
            router_z_loss=torch.stack([s["router_z_loss"] for s in stats]).mean() if stats else zero,
            expert_counts=torch.stack([s["expert_counts"] for s in stats]) if stats else None,
        )

    def param_counts(self) -> dict[str, int]:
        """Total parameters, and those active per token (top_k of n_experts in MoE layers)."""
        total = sum(p.numel() for p in self.parameters())
        inactive = 0
        for module in self.modules():
            if isinstance(module, MoEFeedForward):
                per_expert = sum(p.numel() for p in module.expert_parameters()) // module.n_experts
                inactive += (module.n_experts - module.top_k) * per_expert
        return {"total": total, "active": total - inactive}


def encoder_frames(mel_lengths: list[int], stride: int) -> list[int]:
    """Encoder frames of utterances of mel_lengths log-mel frames (the convolutions' stride, rounded up)."""
    return [-(-length // stride) for length in mel_lengths]


@dataclass
class CTCTargets:
    """The CTC head's labels and both length vectors. Lengths built on the host stay there: CUDA's CTC
    reads them on the host, and lengths on the GPU would be copied back (a stall) in forward and backward."""

    labels: Tensor  # [B, S] each row's labels at the front, 0 after
    label_lengths: Tensor  # [B] int64
    frame_lengths: Tensor  # [B] int64, valid encoder frames
    n_labels: Tensor  # () all labels of the batch, on the host when built there

    @classmethod
    def from_targets(cls, targets: Tensor, frame_lengths: list[int] | Tensor) -> CTCTargets:
        """targets [B, S]: each row's labels in order, -100 elsewhere. They are moved to the front of
        their row by a stable sort rather than picked out by a boolean index (a sync on a GPU)."""
        labelled = targets != -100
        order = (~labelled).to(torch.uint8).argsort(dim=1, stable=True)
        labels = targets.gather(1, order).masked_fill(~labelled.gather(1, order), 0)
        label_lengths = labelled.sum(dim=1)
        frames = torch.as_tensor(frame_lengths, dtype=torch.long)
        return cls(labels, label_lengths, frames, label_lengths.sum())

    def to(self, device: torch.device | str) -> CTCTargets:
        """The labels to `device`; the lengths stay where they are."""
        return dataclasses.replace(self, labels=self.labels.to(device, non_blocking=True))


def ctc_loss_per_token(log_probs: Tensor, targets: CTCTargets) -> Tensor:
    """CTC loss summed over the batch and divided by its target tokens, on the scale of the
    decoder's per-token cross-entropy. An utterance too short for its text (fewer frames than
    CTC needs) adds nothing instead of infinity."""
    total, _ = torch.ops.smolwhisper.ctc_loss_sum(log_probs, targets.frame_lengths, targets.labels,
                                                  targets.label_lengths)
    return total / targets.n_labels.clamp(min=1)


@torch.library.custom_op("smolwhisper::ctc_loss_sum", mutates_args=())
def _ctc_loss_sum(log_probs: Tensor, lengths: Tensor, targets: Tensor,
                  target_lengths: Tensor) -> tuple[Tensor, Tensor]:
    """F.ctc_loss (sum over the batch, blank last) and its gradient with respect to log_probs, as one
    op: torch has no shape function for CTC, so torch.compile could not trace it (a graph break).
    The gradient is computed with the loss, as warp-ctc does, and scaled in the backward pass."""
    time_major = log_probs.transpose(0, 1)
    blank, lengths, target_lengths = log_probs.shape[-1] - 1, lengths.long(), target_lengths.long()
    nll, log_alpha = torch.ops.aten._ctc_loss.Tensor(time_major, targets, lengths, target_lengths, blank, True)
    # The explicit .Tensor overloads: the overload packet would first try the int-list one, whose
    # failure message prints (reads back) the length tensors.
    grad = torch.ops.aten._ctc_loss_backward.Tensor(torch.ones_like(nll), time_major, targets, lengths,
                                                    target_lengths, nll, log_alpha, blank, True)
    return torch.where(torch.isinf(nll), 0.0, nll).sum(), grad.transpose(0, 1).contiguous()


@_ctc_loss_sum.register_fake
def _(log_probs: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> tuple[Tensor, Tensor]:
    return log_probs.new_empty(()), torch.empty_like(log_probs)


def _ctc_loss_sum_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])


def _ctc_loss_sum_backward(ctx, grad_loss: Tensor, _grad_of_grad: Tensor):
    (grad,) = ctx.saved_tensors
    return grad * grad_loss, None, None, None


_ctc_loss_sum.register_autograd(_ctc_loss_sum_backward, setup_context=_ctc_loss_sum_setup)


def _enable_liger(model: Whisper):
    """Swap LayerNorms for Liger's and return its fused linear cross-entropy (no logits in memory)."""
    if not torch.cuda.is_available():
        raise ConfigError("model.liger: True needs a CUDA GPU (Liger kernels are Triton kernels) and "
                          "none is available; set model.liger=false")
    from liger_kernel.transformers import LigerLayerNorm

    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, LayerNorm):
                setattr(parent, name, LigerLayerNorm(child.normalized_shape[0], eps=child.eps))
    log.info("liger: LayerNorm and the fused linear cross-entropy use Liger Triton kernels")
    return functools.partial(linear_cross_entropy, label_smoothing=model.config.label_smoothing)
