"""Progress bars that show on a terminal and stay out of log files (SLURM, CI)."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Any = None, enabled: bool = True, **kwargs: Any) -> Any:
    """tqdm that is off when `enabled` is False and, otherwise, when stderr is not a terminal."""

    return tqdm(iterable, disable=None if enabled else True, leave=False, **kwargs)
