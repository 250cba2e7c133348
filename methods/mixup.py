"""mixup: Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018).

Every mini-batch is mixed with a shuffled copy of itself, lam ~ Beta(alpha, alpha), and the loss
mixes the two label sets. SYNAuG (Alg. 1 step 2) trains with it; `recipe.mix_pairs` selects
real-real or SYNAuG's real-synthetic pairs.
"""

from bench.method import Method

ZHANG = "Zhang et al. 2018, official mixup-cifar10 train.py"


class Mixup(Method):
    """Cross-entropy on Mixup batches."""

    paper = "Zhang et al., ICLR 2018"
    RECIPE = {
        "loss": ("ce", ZHANG + ": cross-entropy on both label sets"),
        "batch_aug": ("mixup", ZHANG),
        "mix_alpha": (1.0, ZHANG + ": alpha = 1"),
    }
