"""Training: the recipe (recipe.py), the trainer's state in a checkpoint (state.py), optimizer and
learning-rate schedule (optim.py), device resolution and attention kernels (accelerator.py).

    python -m smolwhisper.train --config FILE.yaml [section.key=value ...]
    torchrun --nproc_per_node=N -m smolwhisper.train --config FILE.yaml ...
"""

from .recipe import Distributed, Trainer, TrainingError, end_distributed, main, setup_distributed

__all__ = ["Distributed", "Trainer", "TrainingError", "end_distributed", "main", "setup_distributed"]
