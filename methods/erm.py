"""erm: plain empirical risk minimisation on the real long-tailed data (cross-entropy).

The "ERM" baseline row of every paper (e.g. FG Table 1, SYNAuG Table 1); it is the harness's
classifier recipe with nothing changed.
"""

from bench.method import Method


class ERM(Method):
    """Cross-entropy on the real long-tailed training split; no synthetic data."""

    paper = "baseline (e.g. FG Table 1 'ERM')"
    RECIPE = {"loss": ("ce", "ERM: plain cross-entropy")}
