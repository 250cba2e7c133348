"""balanced-softmax: Balanced Softmax on the real long-tailed data, no synthetic images.

Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020: train with
CE(logits + log n_y) and predict with the plain logits (BALMS issue #13). It is the "BS" row of
Fill-Up Table 3 and FG Table 1, and the loss every synthetic-data method here is paired with.
"""

from bench.method import Method

BALMS = "Ren et al. 2020 (BalancedMetaSoftmax loss/BalancedSoftmaxLoss.py)"


class BalancedSoftmax(Method):
    """Balanced Softmax (logit adjustment by the real class counts) on real data only."""

    paper = "Ren et al., NeurIPS 2020"
    RECIPE = {
        "loss": ("balanced-softmax", BALMS),
        "prior": ("real", BALMS + ": the per-class training counts"),
    }
