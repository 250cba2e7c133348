"""ldam-drw: LDAM loss with deferred re-weighting (Cao et al., "Learning Imbalanced Datasets with
Label-Distribution-Aware Margin Loss", NeurIPS 2019), the CIFAR-LT convention CBDM and SYNAuG
follow: margins C / n_y^(1/4) (largest 0.5), scale s = 30, a cosine classifier, and class weights
by the inverse effective number (beta = 0.9999) from 80% of training on (epoch 160 of 200)."""

from bench.method import Method

CAO = "Cao et al. 2019, official cifar_train.py (--loss_type LDAM --train_rule DRW)"


class LDAMDRW(Method):
    """LDAM margins + deferred re-weighting, on a cosine (NormedLinear) classifier."""

    paper = "Cao et al., NeurIPS 2019"
    RECIPE = {
        "loss": ("ldam-drw", CAO),
        "normed_head": (True, CAO + ": NormedLinear last layer with LDAM (use_norm)"),
        "ldam_max_m": (0.5, CAO + ": max_m = 0.5"),
        "ldam_s": (30.0, CAO + ": s = 30"),
        "drw_start": (0.8, CAO + ": DRW from epoch 160 of 200"),
        "drw_beta": (0.9999, CAO + ": beta = 0.9999"),
    }
