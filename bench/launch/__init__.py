"""`bench sweep`: many runs on a scheduler the user already has.

A sweep spec (spec.py) expands into resolved run configs; the planner (units.py) turns them into
a DAG of units of work with stable keys, grouped into stages; a launcher (launchers.py: slurm
through submitit, local processes, or in-process debug) executes each stage, the SLURM one as a
job array that waits on the arrays before it (`afterok`). Every unit is a `bench run`-equivalent
and resumable on disk, so a sweep is safe to relaunch, requeue or preempt; what was submitted
is kept in `results/sweeps/<name>/state.json` (state.py) for `--status`, `--cancel` and
`--retry-failed`.
"""
