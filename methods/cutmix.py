"""cutmix: CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features", ICCV 2019): a random box of a shuffled partner is pasted in, and the labels
are mixed by the pasted area."""

from bench.method import Method

YUN = "Yun et al. 2019, official train.py"


class CutMix(Method):
    """Cross-entropy on CutMix batches."""

    paper = "Yun et al., ICCV 2019"
    RECIPE = {
        "loss": ("ce", YUN + ": cross-entropy on both label sets"),
        "batch_aug": ("cutmix", YUN),
        "mix_alpha": (1.0, YUN + ": beta = 1"),
    }
