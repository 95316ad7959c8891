"""Test-only, put on PYTHONPATH by tests/test_orchestrator.py: in a trainer process whose config path
names a trial with "deaf" in its id, every decoder block's cross-attention outputs zeros, so the decoder
cannot hear the audio (val/audio_gain is exactly 0), as a collapsed decoder nearly is after hours of
training. A real trial, run through Ray and torchrun, with no hook in the product's code: Python imports
sitecustomize at start-up, and this one only watches for the model module to be imported."""

import importlib.abc
import importlib.machinery
import sys

MODULE = "smolwhisper.model.whisper"


def _deafen(module) -> None:
    block = module.ResidualAttentionBlock
    original_init = block.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.cross_attn is not None:
            self.cross_attn.register_forward_hook(lambda _module, _inputs, output: output * 0)

    block.__init__ = init


class _DeafenOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE or not any("deaf" in arg for arg in sys.argv):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_and_deafen(module):
            exec_module(module)
            _deafen(module)

        spec.loader.exec_module = exec_and_deafen
        return spec


sys.meta_path.insert(0, _DeafenOnImport())
