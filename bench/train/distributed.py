"""Data-parallel classifier training over several processes (`torch.distributed`).

A run launched as N processes (`bench run --nproc N`, torchrun, or `srun` with N tasks) trains
one model: every process (rank) takes its 1/N slice of every global batch of the single-process
batch plan, with the same per-sample augmentation seeds; gradients are averaged across ranks
(DistributedDataParallel) and the loss is reduced over the whole global batch, and batch norm
uses the statistics of the whole global batch. Rank 0 alone writes the run's files.

Single-process runs never import torch.distributed: `current()` is a world of one.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.errors import BenchError, ConfigError

log = logging.getLogger(__name__)
# Rank 0 may synthesise or evaluate for hours while the others wait in a collective.
TIMEOUT = timedelta(hours=float(os.environ.get("BENCH_DIST_TIMEOUT_H", "24")))


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            # torch: heavy, imported where used (off the start-up path)
            import torch.distributed as dist

            dist.barrier()

    def agree(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (a decision all must take together)."""
        if not self.distributed:
            return value
        # torch: heavy, imported where used (off the start-up path)
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 does the work first (filling caches), then the others (reading them)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        # torch: heavy, imported where used (off the start-up path)
        import torch.distributed as dist

        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def shard(self, n: int) -> range:
        """This rank's contiguous share of n items (as equal as n allows)."""
        return range(self.rank * n // self.size, (self.rank + 1) * n // self.size)


SINGLE = World()  # one process: no torch.distributed


def current() -> World:
    """The world of this process: its rank among the processes training one run."""
    if "torch.distributed" not in __import__("sys").modules:
        return SINGLE
    # torch: heavy, imported where used (off the start-up path)
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return SINGLE
    local = int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0")))
    return World(dist.get_rank(), dist.get_world_size(), local)


def env_world() -> World:
    """The world the environment describes: torchrun's RANK / WORLD_SIZE / LOCAL_RANK, else
    SLURM's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID (`srun` with several tasks)."""
    env = os.environ
    try:
        if "WORLD_SIZE" in env:
            return World(
                int(env.get("RANK", "0")), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0"))
            )
        if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
            return World(
                int(env["SLURM_PROCID"]),
                int(env["SLURM_NTASKS"]),
                int(env.get("SLURM_LOCALID", "0")),
            )
    except ValueError as exc:
        raise ConfigError(
            f"distributed launch: a rank variable is not an integer ({exc})."
        ) from None
    return World()


def init(device: str | None = None) -> World:
    """Join the process group the environment describes (gloo on the CPU, nccl on CUDA); a
    world of one when the environment describes none. Idempotent."""
    world = current()
    if world.distributed:
        return world
    want = env_world()
    if not want.distributed:
        return want
    if device and device.startswith("cuda:"):
        raise ConfigError(
            f"--device {device} with {want.size} processes: each process uses the GPU of its "
            "local rank (cuda:LOCAL_RANK); pass --device cuda, and choose the GPUs with "
            "CUDA_VISIBLE_DEVICES."
        )
    # torch: heavy, imported where used (off the start-up path)
    import torch
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", os.environ.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1"))
    if "MASTER_PORT" not in os.environ:
        job = int(os.environ.get("SLURM_JOB_ID", "0") or 0)
        os.environ["MASTER_PORT"] = str(20000 + job % 20000)
    cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if cuda:
        torch.cuda.set_device(want.local_rank)
    dist.init_process_group(
        "nccl" if cuda else "gloo", rank=want.rank, world_size=want.size, timeout=TIMEOUT
    )
    log.info("rank %d of %d joined (%s)", want.rank, want.size, dist.get_backend())
    return current()


def close() -> None:
    if current().distributed:
        # torch: heavy, imported where used (off the start-up path)
        import torch.distributed as dist

        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(nproc: int, fn: Callable[..., Any], *args: Any, quiet: bool = False) -> Any:
    """Run fn(*args) in `nproc` local processes forming one world (a one-machine torchrun) and
    return rank 0's result; if one fails, the others are ended and its error is raised here."""
    # torch: heavy, imported where used (off the start-up path)
    import torch.multiprocessing as mp

    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: give 1 or more processes.")
    queue = mp.get_context("spawn").SimpleQueue()
    try:
        mp.start_processes(
            _child,
            args=(nproc, free_port(), quiet, queue, fn, args),
            nprocs=nproc,
            join=True,
            start_method="spawn",
        )
    except mp.ProcessRaisedException as exc:  # the child's traceback is in the message
        raise RankFailed(f"a training process failed:\n{exc}") from None
    except mp.ProcessExitedException as exc:
        raise RankFailed(f"a training process died: {exc}") from None
    return queue.get() if not queue.empty() else None


class RankFailed(BenchError):
    pass


def _child(
    rank: int,
    nproc: int,
    port: int,
    quiet: bool,
    queue: Any,
    fn: Callable[..., Any],
    fn_args: tuple,
) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(nproc),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter(f"%(levelname)s [rank {rank}] %(message)s"))
    level = logging.INFO if rank == 0 and not quiet else logging.WARNING
    console.setLevel(level)
    logging.basicConfig(level=logging.INFO, handlers=[console], force=True)
    try:
        result = fn(*fn_args)
        if rank == 0:
            queue.put(result)
    finally:
        close()
