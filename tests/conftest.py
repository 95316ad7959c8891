import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from smolwhisper.config import model_preset
from smolwhisper.model import Whisper

from helpers import randomize

# Property tests: a few dozen generated cases each in `make test`; `HYPOTHESIS_PROFILE=thorough` (or
# `pytest --hypothesis-profile thorough`) runs thousands, for a release or after changing a parser.
# No example database: a failure prints the example that reproduces it.
settings.register_profile("default", max_examples=40, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def tiny_en() -> Whisper:
    torch.manual_seed(0)
    return randomize(Whisper(model_preset("tiny.en"))).eval()
