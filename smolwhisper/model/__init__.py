"""The network: Whisper's encoder and decoder with its KV cache (whisper.py) and the
mixture-of-experts feed-forward (moe.py). Imports only torch and the config, nothing from
training or inference."""

from .moe import MoEFeedForward, routing_stats
from .whisper import (AudioEncoder, CTCTargets, DecoderOutput, KVCache, LayerCache, ModelOutput, PackedRows, TextDecoder,
                      Whisper)

__all__ = ["AudioEncoder", "CTCTargets", "DecoderOutput", "KVCache", "LayerCache", "ModelOutput", "MoEFeedForward", "PackedRows",
           "TextDecoder", "Whisper", "routing_stats"]
