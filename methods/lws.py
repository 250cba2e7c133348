"""lws: learnable weight scaling (Kang et al., ICLR 2020).

Stage 1 is instance-balanced cross-entropy; stage 2 (`lws`) keeps the classifier's weights and
learns one scale per class (logits z_i -> f_i z_i) with class-balanced sampling, everything else
frozen.
"""

from bench.method import Method

KANG = "Kang et al. 2020 Sec 4 (LWS) and classifier-balancing configs stage_2 LWS"


class LWS(Method):
    """Instance-balanced joint training, then per-class logit scales learnt class-balanced."""

    paper = "Kang et al., ICLR 2020"
    RECIPE = {
        "loss": ("ce", KANG + ": stage 1 is instance-balanced cross-entropy"),
        "then": (("lws",), KANG + ": a second stage learning the scales only"),
    }
    STAGES = {
        "lws": {
            "trains": ("lws", KANG + ": only the per-class scales f_i are learnt"),
            "reset_head": (False, KANG + ": the classifier weights are kept"),
            "sampler": ("class-balanced", KANG + ": class-balanced sampling"),
            "data": ("real", KANG),
            "epochs": (10, KANG + ": 10 epochs"),
        }
    }
