"""crt: classifier re-training (Kang et al., "Decoupling Representation and Classifier for
Long-Tailed Recognition", ICLR 2020).

Stage 1 learns the representation with plain instance-balanced cross-entropy; stage 2 (`crt`)
re-initialises the last layer and re-trains it alone, backbone frozen, with class-balanced
sampling for 10 epochs. Every other setting of stage 2 is the first stage's.
"""

from bench.method import Method

KANG = "Kang et al. 2020 Sec 4 (cRT) and classifier-balancing configs stage_2"


class CRT(Method):
    """Instance-balanced joint training, then the classifier re-trained class-balanced."""

    paper = "Kang et al., ICLR 2020"
    RECIPE = {
        "loss": ("ce", KANG + ": stage 1 is instance-balanced cross-entropy"),
        "then": (("crt",), KANG + ": a second, classifier-only stage"),
    }
    STAGES = {
        "crt": {
            "trains": ("head", KANG + ": the representation is fixed"),
            "reset_head": (True, KANG + ": the classifier is re-initialised"),
            "sampler": ("class-balanced", KANG + ": class-balanced sampling"),
            "data": ("real", KANG),
            "epochs": (10, KANG + ": 10 epochs"),
        }
    }
