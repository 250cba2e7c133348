"""One experiment: resolved settings, the runner, run records and generation evaluation."""
