"""Seeding the global random generators before each stage.

torch seeds its default generator randomly in every new process, so anything a method's hook
draws from it (weight initialisation above all) must be seeded by the harness, or the same
config would give a different generator in every job.
"""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
