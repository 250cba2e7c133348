"""group-dro: online Group DRO (Sagawa et al., "Distributionally Robust Neural Networks for Group
Shifts", ICLR 2020): the loss weights groups by q_g, which grows exponentially with each group's
loss. Groups are the dataset's (class, attribute) groups; where a dataset has none the classes
stand in (groups=auto, as SubpopBench does for datasets without attributes)."""

from bench.method import Method

SAGAWA = "Sagawa et al. 2020, official run_expt.py / loss.py"


class GroupDRO(Method):
    """Cross-entropy minimised for the worst group (online Group DRO)."""

    paper = "Sagawa et al., ICLR 2020"
    RECIPE = {
        "loss": ("group-dro", SAGAWA),
        "dro_eta": (0.01, SAGAWA + ": robust_step_size = 0.01"),
        "groups": ("auto", "SubpopBench: without attributes the groups are the classes"),
    }
