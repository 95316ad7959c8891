import pytest
import torch

from smolwhisper.config import model_preset
from smolwhisper.model import Whisper

from helpers import randomize


@pytest.fixture(scope="session")
def tiny_en() -> Whisper:
    torch.manual_seed(0)
    return randomize(Whisper(model_preset("tiny.en"))).eval()
