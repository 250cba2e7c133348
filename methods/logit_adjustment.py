"""logit-adjustment: the logit-adjusted loss (Menon et al., "Long-tail learning via logit
adjustment", ICLR 2021): CE(logits + tau log pi_y) in training, the plain logits at test; with
tau = 1 it is the same function as Balanced Softmax."""

from bench.method import Method

MENON = "Menon et al. 2021 Sec 4-5"


class LogitAdjustment(Method):
    """The logit-adjusted softmax cross-entropy with the real class priors."""

    paper = "Menon et al., ICLR 2021"
    RECIPE = {
        "loss": ("logit-adjusted", MENON + ": the logit-adjusted loss"),
        "la_tau": (1.0, MENON + ": tau = 1"),
        "prior": ("real", MENON + ": pi = the empirical training class frequencies"),
    }
