"""rs: class-balanced re-sampling (every class equally likely in a mini-batch).

The "RS" baseline of CBDM Sec 4.1 and Kang et al. 2020's class-balanced sampling, applied
to the whole (one-stage) training.
"""

from bench.method import Method


class RS(Method):
    """Cross-entropy with class-balanced sampling."""

    paper = "CBDM Sec 4.1 'RS'; Kang et al. 2020 class-balanced sampling"
    RECIPE = {
        "loss": ("ce", "RS: plain cross-entropy"),
        "sampler": ("class-balanced", "CBDM Sec 4.1: uniform class sampling"),
    }
