"""bench: a benchmark harness for synthetic data in imbalanced image classification.

Kept import-light on purpose: `bench --help` and `bench list` must not import torch.
"""

__version__ = "0.1.0"
