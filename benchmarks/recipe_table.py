"""Mean +- std over seeds of the measurements in docs/recipe.md, from a results directory.

    .venv/bin/python benchmarks/recipe_table.py /tmp/meas

One row per (dataset, method, recipe.prior): test accuracy (overall, many, medium, few) and, for
datasets with groups, worst-group accuracy, at the selected checkpoint; n = seeds found.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.runs.records import finished_runs


def sample_std(values: list[float]) -> float:
    """Sample std (ddof 1), as the leaderboard; 0 for one seed."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def main() -> None:
    rows: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for run in finished_runs(Path(sys.argv[1])):
        cfg, res = run["config"], run["result"]
        prior = cfg["recipe"].get("prior") if cfg["method"] == "ddpm-fill" else ""
        key = (cfg["dataset"], cfg["method"], prior)
        rows[key][cfg["seed"]] = res["metrics"]  # the latest run of a seed wins
    cols = ("overall", "many", "medium", "few", "worst")
    print("| dataset | method | prior | " + " | ".join(cols) + " | n |")
    print("|---" * (len(cols) + 4) + "|")
    for (dataset, method, prior), by_seed in sorted(rows.items()):
        cells = []
        for col in cols:
            values = [
                (m["test"].get("group", {}).get("worst") if col == "worst" else m["test"].get(col))
                for m in by_seed.values()
            ]
            values = [v for v in values if v is not None]
            cells.append(
                f"{100 * np.mean(values):.1f} ± {100 * sample_std(values):.1f}" if values else "-"
            )
        print(f"| {dataset} | {method} | {prior} | " + " | ".join(cells) + f" | {len(by_seed)} |")


if __name__ == "__main__":
    main()
