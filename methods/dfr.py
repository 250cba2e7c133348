"""dfr: deep feature re-weighting (Kirichenko et al., "Last Layer Re-Training is Sufficient for
Robustness to Spurious Correlations", ICLR 2023).

Stage 1 is ERM; stage 2 (`dfr`) re-initialises the last layer and re-trains it alone on a
group-balanced random subsample of the data, the features frozen. The paper re-trains on half of
the validation set (DFR^Val_Tr) with an L1-regularised logistic regression averaged over 10
subsamples; here the subsample is drawn from the training split (the paper's DFR^Tr_Tr variant)
and the layer is trained by the harness's optimiser, so validation stays for model selection.
"""

from bench.method import Method

DFR = "Kirichenko et al. 2023 Sec 4-5 (DFR^Tr_Tr: group-balanced subsample of the train split)"


class DFR(Method):
    """ERM, then the last layer re-trained from scratch on group-balanced data."""

    paper = "Kirichenko et al., ICLR 2023"
    RECIPE = {
        "loss": ("ce", DFR + ": stage 1 is ERM"),
        "then": (("dfr",), DFR + ": last-layer re-training"),
        "groups": ("auto", "SubpopBench: without attributes the groups are the classes"),
    }
    STAGES = {
        "dfr": {
            "trains": ("head", DFR + ": features frozen"),
            "reset_head": (True, DFR + ": a new logistic-regression layer"),
            "data": ("group-balanced-subsample", DFR),
            "sampler": ("instance", DFR + ": the subsample is already balanced"),
            "epochs": (10, "cRT's 10 epochs (Kang et al. 2020); DFR fits to convergence"),
        }
    }
