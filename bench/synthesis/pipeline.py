"""The cached stages between a method's declarations and the classifier: generator, then set.

    plan      = make_plan(method's plan, real data)            (checked before any work)
    generator = cache/generators/<key>/  fitted once per backend settings + data + seed
                (pretrained backends: loaded from their local weights, keyed by id + revision)
    requests  = expand(plan, set key, prompt template, conditioning images)
    store     = cache/synthetic/<key>/   filled shard by shard, by one job or many

The generator key holds the backend, its settings, the weights it starts from, the dataset and
its options and the generator seed, so methods with the same backend settings share one
generator (as the papers share their pretrained ones). The set key adds the method, its
synthesis settings, the run seed, the plan and the ids of the runs it depends on.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import CorruptCacheError
from bench.generators import GENERATORS
from bench.generators.base import SampleBatch
from bench.hparams import keyed, specs
from bench.io import (
    atomic_write_json,
    changed_files,
    file_lock,
    inside,
    read_json,
    seed_hash,
    stable_hash,
    tree_digests,
)
from bench.method import generator_seed_of
from bench.progress import progress_bar
from bench.seeding import seed_everything
from bench.synthesis.plans import Plan, expand, make_plan
from bench.synthesis.store import StoreWriter, SyntheticSet, drop_damaged

log = logging.getLogger(__name__)
# What a fitted generator's checksums leave out (see Synthesis._write_done).
GENERATOR_SKIP = ("done", "failure.json", "attempts", "parts", "tasks")
# A smoke run draws at most this many images per cell.
SMOKE_PER_CELL = 2


def plain(value: Any) -> Any:
    """Settings dataclass -> JSON-ready dict (tuples as lists)."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def part_settings(method: Any, part: str) -> dict[str, Any]:
    """The method settings that belong to one part of the pipeline (they make its cache key)."""
    declared = specs(type(method).Hparams)
    values = {k: plain(getattr(method.hparams, k)) for k, s in declared.items() if s.part == part}
    return keyed(type(method).Hparams, values)


class Synthesis:
    """The synthesis of one run: its plan, generator, requests and store."""

    def __init__(
        self,
        config: Any,
        method: Any,
        data: Any,
        cache: Path,
        progress: bool = True,
        rebuild_cache: bool = False,
    ):
        self.config, self.method, self.data = config, method, data
        self.cache, self.progress = Path(cache), progress
        # Damaged cache entries (checksums not matching) are deleted and made again, not errors.
        self.rebuild_cache, self._store_rebuilt = rebuild_cache, False
        self.backend = GENERATORS[method.generator]
        self.settings = method.generator_settings(self.backend.Settings)
        self.backend.check_data(self.settings, data)
        self.plan: Plan = make_plan(method.hparams.plan, data, allow_empty=config.smoke)
        if config.smoke:
            self.plan = self.plan.capped(SMOKE_PER_CELL)
        self._weights: dict[str, Any] | None = None
        self.generator_key = stable_hash(self.generator_identity())
        self.key = stable_hash(self.set_identity())
        # Every request, checked before the generator fits (prompt fields, image ids, plan).
        self.requests = expand(
            self.plan, self.key, data, method.prompt(), method.conditioning(), method.modifiers()
        )
        self.backend.check_requests(self.requests, len(data.train), self.settings)
        self._generator = None

    def generator_identity(self) -> dict[str, Any]:
        c = self.config
        identity = {
            "backend": self.backend.name,
            "settings": keyed(type(self.settings), plain(self.settings)),
            "weights": self.weights,
        }
        if self.backend.trains:
            identity.update(
                dataset=c.dataset,
                dataset_version=c.dataset_version,
                data=keyed(type(c.dataset_settings), c.data),
                seed=generator_seed_of(c.hparams, c.seed),
            )
            if "real_kept" in self.data.info:  # the run's seed drew the real images it fits on
                identity["real_kept_seed"] = c.seed
        return identity

    @property
    def weights(self) -> dict[str, Any]:
        """The identity of the weights the generator starts from (id, revision, digest), read
        once (it hashes the weight files' configs and sizes)."""
        if self._weights is None:
            self._weights = self.backend.weights_identity(self.settings)
        return self._weights

    def set_identity(self) -> dict[str, Any]:
        c = self.config
        identity = {
            "generator": self.generator_key,
            "method": c.method,
            "method_version": c.method_version,
            "synthesis": part_settings(self.method, "synthesis"),
            "seed": c.seed,  # run seeds vary the samples even when the generator is shared
            "plan": self.plan.to_json(),
            "dependencies": {k: d.run_id for k, d in c.dependencies.items()},
        }
        modifiers = self.method.modifiers()
        if modifiers:  # an edited modifier list is a new set (absent otherwise: keys unchanged)
            identity["modifiers"] = {str(k): v for k, v in modifiers.items()}
        return identity

    @property
    def store_dir(self) -> Path:
        return inside(self.cache, "synthetic", self.key)

    # The generator -------------------------------------------------------------------------

    def generator(self, device: str) -> tuple[Any, dict[str, Any]]:
        """The fitted (or pretrained) generator, fitting it once under a lock if needed."""
        if self._generator is not None:
            return self._generator, {"cached": True}
        if not self.backend.trains:
            info: dict[str, Any] = {"key": self.generator_key, "backend": self.backend.name}
            self._generator = self.backend.for_data(self.settings, self.data, device)
            info["weights"] = self.backend.weights_identity(self.settings)
            return self._generator, info
        info = self.fit(device)
        self._generator = self.backend.load(Path(info["dir"]), device)
        return self._generator, info

    @property
    def generator_dir(self) -> Path:
        return inside(self.cache, "generators", self.generator_key)

    def fit(self, device: str, parts: Sequence[int] | None = None) -> dict[str, Any]:
        """Fit the generator into its cache directory unless it is there (a sweep's generator
        task does only this); once, however many processes ask.

        A backend whose fit splits into parts (`fit_parts`, e.g. one per class) is fitted part
        by part, each under its own lock and marked done when fitted, so processes fitting
        disjoint (or the same) parts work at once; `parts` limits this call to some of them (a
        sweep's range task). Whichever process finds every part done writes the generator's
        `done`. Other backends fit whole, under the generator's lock (`parts` is then an error).
        """
        info: dict[str, Any] = {"key": self.generator_key, "backend": self.backend.name}
        if not self.backend.trains:
            raise ValueError(f"the {self.backend.name} backend is pretrained: nothing to fit.")
        workdir = self.generator_dir
        num_parts = self.backend.fit_parts(self.settings, self.data)
        if parts is not None and not num_parts:
            raise ValueError(f"the {self.backend.name} backend fits whole: it has no parts.")
        with file_lock(self.generator_lock):
            cached = (workdir / "done").exists() and self._intact(workdir)
            if not cached and not num_parts:
                workdir.mkdir(parents=True, exist_ok=True)
                self._write_done(workdir, info, self._fit_whole(device, workdir))
                log.info("generator: fitted in %.1f s -> %s", info["seconds"], workdir)
        if not cached and num_parts:
            todo = range(num_parts) if parts is None else parts
            fitted = self._fit_parts(device, workdir, todo)
            info["fitted_parts"] = fitted["parts"]
            with file_lock(self.generator_lock):  # whoever finds every part done finishes
                if not (workdir / "done").exists():
                    if all(part_done(workdir, p) for p in range(num_parts)):
                        generator = fitted["generator"] or self._fresh(device)
                        generator.save(workdir)
                        self._write_done(workdir, info, fitted["seconds"])
                        log.info("generator: all %d parts fitted -> %s", num_parts, workdir)
                    else:
                        info["complete"] = False  # other processes fit the remaining parts
        if cached:
            log.info("generator: reusing %s", workdir)
            info["cached"] = True
        info["dir"] = str(workdir)
        return info

    @property
    def generator_lock(self) -> Path:
        return inside(self.cache, "generators", f"{self.generator_key}.lock")

    def _fresh(self, device: str) -> Any:
        seed_everything(seed_hash(self.generator_key, "fit-generator"))  # e.g. weight init
        return self.backend.for_data(self.settings, self.data, device)

    def _fit_whole(self, device: str, workdir: Path) -> float:
        start = time.time()
        fresh = self._fresh(device)
        fresh.fit(self.data, workdir, seed_hash(self.generator_key, "fit-generator"), self.progress)
        return time.time() - start

    def _fit_parts(self, device: str, workdir: Path, todo: Sequence[int]) -> dict[str, Any]:
        """Fit the parts of `todo` not done yet, each under its lock: first those no other
        process holds, then (waiting for their locks) the rest, which are usually done by then."""
        start, fitted, generator = time.time(), [], None
        seed = seed_hash(self.generator_key, "fit-generator")
        for blocking in (False, True):
            for part in todo:
                if part_done(workdir, part):
                    continue
                with file_lock(workdir / "parts" / f"{part}.lock", blocking) as got:
                    if not got or part_done(workdir, part):
                        continue
                    if generator is None:
                        generator = self._fresh(device)
                    generator.fit_part(self.data, workdir, seed, part, self.progress)
                    atomic_write_json(part_marker(workdir, part), {"part": part})
                    fitted.append(part)
        return {"generator": generator, "parts": fitted, "seconds": time.time() - start}

    def _write_done(self, workdir: Path, info: dict[str, Any], seconds: float) -> None:
        info.update(cached=False, seconds=round(seconds, 2))
        # checked on every reuse; not part of the generator: a sweep task's failure record
        # (written next to it and removed on success), range tasks' records, part markers and
        # locks, set-aside checkpoints
        files = tree_digests(workdir, skip=GENERATOR_SKIP)
        done = {**info, "identity": self.generator_identity(), "files": files}
        atomic_write_json(workdir / "done", done)

    def _intact(self, workdir: Path) -> bool:
        """Whether a fitted generator's files still match the checksums its `done` recorded.

        A damaged one is an error naming the file, or (rebuild_cache) deleted so it is fitted
        again. Generators fitted before checksums were recorded are taken as they are.
        """
        done = workdir / "done"
        try:
            record = read_json(done)
            files = record.get("files", {}) if isinstance(record, dict) else None
            bad = [done] if not isinstance(files, dict) else changed_files(workdir, files)
        except (OSError, ValueError):
            bad = [done]
        if not bad:
            return True
        if not self.rebuild_cache:
            raise CorruptCacheError(
                f"{bad[0]}: the cached generator {workdir} is damaged (it does not match the "
                f"sha256 recorded in {done} when it was fitted; {len(bad)} file(s) in all). "
                f"Rerun with --rebuild-cache (it fits this generator again), or delete {workdir}.",
                bad,
            )
        log.warning("generator: %s is damaged (%s); fitting it again", workdir, bad[0])
        shutil.rmtree(workdir)
        return False

    # The synthetic set ---------------------------------------------------------------------

    def writer(self, image_size: int, channels: int) -> StoreWriter:
        manifest = {
            "key": self.key,
            "num_images": len(self.requests),
            "image_size": image_size,
            "channels": channels,
            "dtype": "uint8",
            "generator": self.generator_key,
            "backend": self.backend.name,
            "plan": self.plan.to_json(),
            "settings": part_settings(self.method, "synthesis"),
            "method": self.config.method,
            "class_names": list(self.data.class_names),
        }
        return StoreWriter(self.store_dir, manifest)

    def run(
        self, device: str, shards: list[int] | None = None, record: Any = None
    ) -> SyntheticSet | None:
        """Fill the set (or the given shards of it) and return it once complete."""
        if self.plan.total == 0:
            log.info("the plan gives no class any synthetic image: nothing to synthesise")
            return None
        if (self.store_dir / "done").exists():
            store = self._open_store()
            if store is not None:
                return store
        generator, gen_info = self.generator(device)
        if record is not None:
            record.info.setdefault("generator", gen_info)
        generator.set_real_images(self.data.train, self.data.channels)
        hooks = self.method.sampling_hooks(generator)
        steps = self.method.hparams.sampling_steps
        batch = self.method.hparams.sample_batch_size

        bar = None  # images made so far, with images/s (the store's shards hold 256 each)

        def generate(requests):
            seed_everything(seed_hash(self.key, "shard", requests[0].index))
            parts = []
            for i in range(0, len(requests), batch):
                parts.append(generator.sample(requests[i : i + batch], hooks, steps=steps))
                bar.update(len(parts[-1].images))
            crit = [p.criterion for p in parts]
            criterion = None if any(c is None for c in crit) else np.concatenate(crit)
            return SampleBatch(np.concatenate([p.images for p in parts]), criterion)

        store = None
        while store is None:  # again only after damaged shards were deleted (rebuild_cache)
            writer = self.writer(generator.image_size, generator.channels)
            bar = self._progress(writer, shards)
            stats = writer.fill(self.requests, generate, shards, progress=False)
            bar.close()
            if record is not None:
                n = len(writer.shards)
                record.info["synthesis"] = {"key": self.key, "num_shards": n, **stats}
            if not writer.finish():
                return None  # some shards belong to other jobs (e.g. other array tasks)
            store = self._open_store()
        return store

    def _progress(self, writer: StoreWriter, shards: list[int] | None) -> Any:
        """A bar over the images of `shards` (default all), the finished ones counted done."""
        todo = range(len(writer.shards)) if shards is None else shards
        sizes = {i: writer.shards[i][1] - writer.shards[i][0] for i in todo}
        done = sum(n for i, n in sizes.items() if writer.complete(i))
        total = sum(sizes.values())
        return progress_bar(
            None, self.progress, total=total, initial=done, desc="synthesise", unit="img"
        )

    def _open_store(self) -> SyntheticSet | None:
        """The finished set; None if damaged shards were deleted to be generated again."""
        try:
            return SyntheticSet(self.store_dir)
        except CorruptCacheError as exc:
            if not self.rebuild_cache or self._store_rebuilt:  # damage that comes back: an error
                raise
            drop_damaged(self.store_dir, exc.paths)
            self._store_rebuilt = True
            return None


def part_marker(workdir: Path, part: int) -> Path:
    """Written once part `part` of a split generator fit is fitted (Synthesis.fit)."""
    return Path(workdir) / "parts" / f"{part}.done"


def part_done(workdir: Path, part: int) -> bool:
    return part_marker(workdir, part).exists()


def describe(synthesis: Synthesis) -> dict[str, Any]:
    """What a run record says about its synthetic data."""
    plan = synthesis.plan
    return {
        "key": synthesis.key,
        "generator_key": synthesis.generator_key,
        "backend": synthesis.backend.name,
        "weights": synthesis.weights,
        "plan": plan.spec,
        "num_images": plan.total,
        "num_shards": -(-plan.total // 256) if plan.total else 0,
        "skipped_cells": plan.skipped,
    }
