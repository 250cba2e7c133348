"""slurm/local/start and stop: which daemons are theirs, and a cluster that starts first time.

The first two tests need no SLURM: they check slurm/local/pids.sh, the one definition of "this
daemon is ours" that start and stop share. The loop (marked `slurm`; .ci/run runs it on the
cluster it started, serially with the other slurm tests) stops the running cluster, starts and
stops it LOOPS times, and leaves it running as it found it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers import REPO

LOCAL = REPO / "slurm" / "local"
LOOPS = 20


def pids_sh(pids: Path, script: str) -> subprocess.CompletedProcess:
    """Run `script` in bash with slurm/local/pids.sh sourced and PIDS set."""
    return subprocess.run(
        ["bash", "-c", f'set -eu; PIDS="$1"; . "$2"; {script}', "-", str(pids), LOCAL / "pids.sh"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_daemon_is_recognised_while_it_execs_into_its_program_and_not_after_it_exits(tmp_path):
    # start launches `setsid setpriv ... munged`: until the last exec the process runs another
    # program, which the old name check took for a dead daemon (start failed at random).
    out = pids_sh(
        tmp_path,
        'sh -c "sleep 0.5; exec sleep 1" & record munged $!; pid=$!\n'
        "early=$(pid_of munged); sleep 0.8; late=$(pid_of munged)\n"
        'wait $pid; sleep 0.1; echo "$early $late $pid"; pid_of munged || echo gone',
    )
    assert out.returncode == 0, out.stderr
    early, late, pid, gone = out.stdout.split()
    assert early == late == pid and gone == "gone"


def test_stop_leaves_alone_a_process_that_reuses_a_recorded_pid(tmp_path):
    # A recorded PID that now belongs to another process (same PID, other start time): stop must
    # not signal it, whatever its program is called.
    other = subprocess.Popen(["sleep", "60"])
    try:
        pids = tmp_path / "pids"
        pids.mkdir()
        start_time = pids_sh(pids, f"identity {other.pid}").stdout.split()[1]
        (pids / "munged.pid").write_text(f"{other.pid} {int(start_time) - 1}\n")
        env = {"PATH": "/usr/bin:/bin", "BENCH_SLURM_STATE": str(tmp_path)}
        subprocess.run([LOCAL / "stop"], env=env, capture_output=True, timeout=60)
        time.sleep(0.2)
        assert other.poll() is None  # still running
        assert not (pids / "munged.pid").exists()  # and no longer taken for the daemon
    finally:
        other.kill()
        other.wait()


def running() -> list[str]:
    """The daemons of slurm/local/start that run now (by their recorded PIDs, without asking
    SLURM: sinfo waits about 10 s for a controller that is not there)."""
    state = Path(os.environ.get("BENCH_SLURM_STATE", "/var/tmp/bench-slurm"))
    names = "munged mariadbd slurmdbd slurmctld slurmd"
    out = pids_sh(
        state / "pids", f"for n in {names}; do pid_of $n >/dev/null && echo $n; done; true"
    )
    return out.stdout.split()


def script(name: str) -> tuple[float, str]:
    """Run slurm/local/NAME; its wall time and output (a failure fails the test with both)."""
    began = time.monotonic()
    out = subprocess.run([LOCAL / name], capture_output=True, text=True, timeout=300)
    took = time.monotonic() - began
    assert out.returncode == 0, (
        f"slurm/local/{name} failed after {took:.1f} s:\n{out.stdout}{out.stderr}"
    )
    return took, out.stdout


@pytest.mark.slurm
def test_the_local_cluster_starts_and_stops_cleanly_every_time():
    if shutil.which("sinfo") is None or os.geteuid() != 0:
        pytest.fail("needs root and SLURM's packages: run slurm/local/start once as root")
    was_up = bool(running())
    if was_up:
        script("stop")
    starts, stops = [], []
    try:
        for i in range(LOOPS):
            took, _ = script("start")  # it returns once sinfo shows the node idle
            starts.append(took)
            assert len(running()) == 5
            if i == 0:  # a second start finds every daemon running and starts nothing
                _, out = script("start")
                assert out.count("already running") == 5, out
            took, _ = script("stop")  # it also fails if any daemon or job step is left
            stops.append(took)
            assert running() == []
    finally:
        if was_up:
            script("start")
    print(
        f"{LOOPS} starts: max {max(starts):.1f} s, mean {sum(starts) / LOOPS:.1f} s; "
        f"stops: max {max(stops):.1f} s, mean {sum(stops) / LOOPS:.1f} s"
    )
