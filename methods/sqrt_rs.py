"""sqrt-rs: square-root re-sampling (class drawn with probability proportional to sqrt(n_c)).

The "RS-SQRT" baseline of CBDM Sec 4.1; Mahajan et al. 2018 / Kang et al. 2020's
square-root sampling.
"""

from bench.method import Method


class SqrtRS(Method):
    """Cross-entropy with square-root class sampling."""

    paper = "CBDM Sec 4.1 'RS-SQRT'; Kang et al. 2020 square-root sampling"
    RECIPE = {
        "loss": ("ce", "RS-SQRT: plain cross-entropy"),
        "sampler": ("sqrt", "CBDM Sec 4.1: sampling proportional to sqrt class frequency"),
    }
