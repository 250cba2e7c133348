"""The mutation pass: realistic bugs in the methods' core math and the harness's guards, one at a
time, each checked against the default test tier (docs/testing.md has the table).

    .venv/bin/python tests/mutants.py                 # every mutation
    .venv/bin/python tests/mutants.py fg-hardness-class-0 slurm-afterany
    .venv/bin/python tests/mutants.py --snapshot DIR  # on a copy of the repository (its tests)

A snapshot is a copy laid out as the installed package (DIR/bench with methods/ and datasets/
inside it, DIR/tests, DIR/pyproject.toml): its tests import it through PYTHONPATH, so the
working tree is never touched (e.g. to count what an earlier version of the tests caught).

A mutation replaces one exact piece of source text (it must occur exactly once), the tests it
names run (`-m "not slow"`, so only the default tier counts), and the file is restored whatever
happens. A mutation is caught when pytest reports failing tests (exit status 1); any other
status (a collection error, a timeout) is reported as such, never as caught.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the bug, in words
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids or files that should catch it


M = Mutation
MUTATIONS = [
    # The list: bugs the tests missed -------------------------------------------------
    M(
        "fg-hardness-class-0",
        "FG hardness measured against class 0's Gaussian for every sample",
        "methods/fg.py",
        '- mean[y]\n        return self.torch.einsum("nd,nde,ne->n", diff, precision[y], diff)',
        '- mean[0]\n        return self.torch.einsum("nd,nde,ne->n", diff, precision[0], diff)',
        (
            "tests/test_fg.py::test_hardness_takes_each_sample_to_its_own_class_gaussian",
            "tests/test_fg.py",
        ),
    ),
    M(
        "guidance-every-step",
        "FG guidance applied at every step instead of every k-th",
        "bench/generators/base.py",
        "return self.scale > 0 and step % self.every == 0",
        "return self.scale > 0",
        (
            "tests/test_fg.py::test_guidance_runs_at_steps_0_k_2k_only",
            "tests/test_fg.py",
        ),
    ),
    M(
        "cbdm-own-label",
        "CBDM's y' taken from the sample's own label",
        "bench/generators/ddpm.py",
        "other = torch.multinomial(self._other_labels, len(y), True, generator=rng)",
        "other = labels[idx].clone()",
        (
            "tests/test_cbdm.py::test_y_prime_is_drawn_from_the_label_set_not_from_the_sample",
            "tests/test_cbdm.py",
        ),
    ),
    M(
        "embed-cutmix-other-request",
        "Embed-CutMix mixes with another request's embedding",
        "methods/augcond.py",
        "a, b = embeds[i, 0], embeds[i, 1]",
        "a, b = embeds[i, 0], embeds[(i + 1) % len(requests), 0]",
        ("tests/test_fg.py",),
    ),
    M(
        "balanced-softmax-at-test",
        "Balanced Softmax's log prior added at test time",
        "bench/runs/evaluate.py",
        '    for name, model in (("best", trained.best), ("last", trained.last)):\n',
        '    for name, model in (("best", trained.best), ("last", trained.last)):\n'
        "        import torch\n\n"
        "        prior = torch.log(torch.as_tensor(counts, dtype=torch.float32).clamp_min(1))\n"
        "        plain = model\n"
        "        model = lambda x, m=plain: m(x) + prior.to(x.device)  # noqa: E731\n"
        "        model.eval = plain.eval\n",
        (
            "tests/test_losses.py::test_test_predictions_use_the_plain_logits",
            "tests/test_losses.py",
        ),
    ),
    M(
        "slurm-afterany",
        "the SLURM dependency afterok turned into afterany",
        "bench/launch/launchers.py",
        'extra["dependency"] = "afterok:"',
        'extra["dependency"] = "afterany:"',
        (
            "tests/test_sweep.py::test_each_slurm_array_waits_afterok_on_the_arrays_it_needs",
            "tests/test_sweep.py",
        ),
    ),
    M(
        "fillup-stage2-inherits-lr",
        "Fill-Up Stage II silently inheriting Stage I's LR",
        "methods/fillup.py",
        '    "lr": (1e-3, B4 + ": initial LR 1e-3"),\n',
        "",
        (
            "tests/test_stages.py::test_fill_up_stage_two_fine_tunes_all_on_real_data_at_its_own_lr",
            "tests/test_fillup.py",
            "tests/test_stages.py",
        ),
    ),
    M(
        "worst-group-as-mean",
        "the validation worst-group (model selection) computed as a mean",
        "bench/train/loop.py",
        'out["val_worst_group"] = min(',
        'out["val_worst_group"] = np.mean(',
        (
            "tests/test_runner_subgroups.py::test_validation_worst_group_is_the_smallest_group_accuracy",
            "tests/test_runner_subgroups.py",
            "tests/test_stages.py",
        ),
    ),
    M(
        "fillup-stage2-synthetic",
        "Fill-Up Stage II training on real + synthetic data",
        "methods/fillup.py",
        '    "data": ("real", B4 + ": only real data"),',
        '    "data": ("real+synthetic", B4 + ": only real data"),',
        (
            "tests/test_stages.py::test_fill_up_stage_two_fine_tunes_all_on_real_data_at_its_own_lr",
            "tests/test_fillup.py",
            "tests/test_stages.py",
        ),
    ),
    M(
        "synaug-stage-all",
        "SYNAuG's last-layer stage training the whole network",
        "methods/synaug.py",
        '"trains": ("head", f"{ALG1} step 3: only the last layer")',
        '"trains": ("all", f"{ALG1} step 3: only the last layer")',
        (
            "tests/test_stages.py::test_synaug_fine_tunes_the_last_layer_only",
            "tests/test_synaug.py",
            "tests/test_stages.py",
        ),
    ),
    # Two more forms of the bugs (a single-request or single-class test misses them)
    M(
        "fg-hardness-mean-0",
        "FG hardness: every sample's distance to class 0's mean (its own class's precision)",
        "methods/fg.py",
        "diff = self.model.features(self.inputs(images)).float() - mean[y]",
        "diff = self.model.features(self.inputs(images)).float() - mean[0]",
        (
            "tests/test_fg.py::test_hardness_takes_each_sample_to_its_own_class_gaussian",
            "tests/test_fg.py",
        ),
    ),
    M(
        "embed-cutmix-neighbours-image",
        "Embed-CutMix takes its second embedding from the next request of the batch",
        "methods/augcond.py",
        "a, b = embeds[i, 0], embeds[i, 1]",
        "a, b = embeds[i, 0], embeds[(i + 1) % len(requests), 1]",
        ("tests/test_fg.py",),
    ),
    # Our own pass over the core math ---------------------------------------------------------
    M(
        "guidance-sign",
        "FG guidance steps down the criterion's gradient",
        "bench/generators/base.py",
        "return (x.detach() + step.to(x.dtype))",
        "return (x.detach() - step.to(x.dtype))",
        ("tests/test_fg.py",),
    ),
    M(
        "guidance-schedule-offset",
        "FG guides steps 1, k+1, ... instead of 0, k, 2k",
        "bench/generators/base.py",
        "return self.scale > 0 and step % self.every == 0",
        "return self.scale > 0 and step % self.every == 1 % self.every",
        (
            "tests/test_fg.py::test_guidance_runs_at_steps_0_k_2k_only",
            "tests/test_fg.py",
        ),
    ),
    M(
        "cbdm-no-stop-gradient",
        "CBDM's regulariser without the stop-gradient on eps(x_t, y')",
        "bench/generators/balancing.py",
        "reg = (pred - pred_other.detach()).pow(2)",
        "reg = (pred - pred_other).pow(2)",
        ("tests/test_cbdm.py",),
    ),
    M(
        "cbdm-weight-unscaled",
        "CBDM's weight tau t not rescaled to T timesteps",
        "bench/generators/balancing.py",
        "return tau * t.float() * (1000.0 / num_train_timesteps)",
        "return tau * t.float()",
        ("tests/test_cbdm.py",),
    ),
    M(
        "cbdm-gamma-on-wrong-term",
        "CBDM's gamma weighting L_r instead of the commitment term",
        "bench/generators/balancing.py",
        "reg = (pred - pred_other.detach()).pow(2) + gamma * (pred.detach() - pred_other).pow(2)",
        "reg = gamma * (pred - pred_other.detach()).pow(2) + (pred.detach() - pred_other).pow(2)",
        ("tests/test_cbdm.py",),
    ),
    M(
        "pair-from-any-class",
        "conditioning images drawn from every class, not the request's",
        "bench/synthesis/plans.py",
        "cond = tuple(int(j) for j in rng.choice(pool, size=conditioning, replace=True))",
        "cond = tuple(int(j) for j in rng.choice(len(train), size=conditioning, replace=True))",
        ("tests/test_synthesis_plans.py", "tests/test_fg.py"),
    ),
    M(
        "pair-seed-shared",
        "every request of a cell draws the same conditioning images",
        "bench/synthesis/plans.py",
        "rng = np.random.default_rng(seed)\n",
        "rng = np.random.default_rng(label)\n",
        (
            "tests/test_synthesis_plans.py::test_each_request_draws_its_own_conditioning_images",
            "tests/test_synthesis_plans.py",
            "tests/test_fg.py",
        ),
    ),
    M(
        "frozen-backbone-trains",
        "a head-only stage leaves the backbone trainable",
        "bench/train/backbones.py",
        "        param.requires_grad_(keep(name))",
        "        param.requires_grad_(True)",
        ("tests/test_stages.py",),
    ),
    M(
        "frozen-bn-updates",
        "a head-only stage lets the frozen backbone's BN statistics move",
        "bench/train/backbones.py",
        '    if trains != "all":\n        model.features.eval()',
        '    if trains == "none":\n        model.features.eval()',
        ("tests/test_stages.py",),
    ),
    M(
        "balanced-softmax-no-prior",
        "Balanced Softmax trains without its log prior",
        "bench/train/losses.py",
        "return logits + self.tau * self.log_prior.to(logits)",
        "return logits",
        ("tests/test_losses.py",),
    ),
    M(
        "drw-from-the-start",
        "deferred re-weighting applied from the first epoch",
        "bench/train/losses.py",
        "self.weights = self.drw if epoch >= self.drw_epoch else None",
        "self.weights = self.drw",
        ("tests/test_losses.py",),
    ),
    M(
        "drw-never",
        "deferred re-weighting never applied",
        "bench/train/losses.py",
        "self.weights = self.drw if epoch >= self.drw_epoch else None",
        "self.weights = self.drw if epoch > self.drw_epoch + 10**6 else None",
        ("tests/test_losses.py",),
    ),
    M(
        "many-shot-inclusive",
        "a class of exactly 100 training images counted many-shot",
        "bench/data/base.py",
        "np.flatnonzero(counts > many)",
        "np.flatnonzero(counts >= many)",
        ("tests/test_accuracy.py", "tests/test_properties.py"),
    ),
    M(
        "few-shot-inclusive",
        "a class of exactly 20 training images counted few-shot",
        "bench/data/base.py",
        '"few": [int(c) for c in np.flatnonzero(counts < few)]',
        '"few": [int(c) for c in np.flatnonzero(counts <= few)]',
        ("tests/test_accuracy.py", "tests/test_properties.py"),
    ),
    M(
        "worst-group-largest",
        "the worst group taken as the largest group",
        "bench/metrics/group.py",
        "worst = min(present, key=lambda g: acc[g])",
        "worst = max(present, key=lambda g: sizes[g])",
        ("tests/test_metrics_group.py",),
    ),
    M(
        "fingerprint-no-sizes",
        "the data fingerprint ignores the image files' sizes",
        "bench/data/fingerprint.py",
        '"".join(f"{relative(f, root)}\\t{sizes.get(f, -1)}\\n" for f in split.files)',
        '"".join(f"{relative(f, root)}\\n" for f in split.files)',
        ("tests/test_data_integrity.py", "tests/test_records.py"),
    ),
    M(
        "fingerprint-no-labels",
        "the data fingerprint ignores the labels",
        "bench/data/fingerprint.py",
        'out: dict[str, Any] = {"count": len(split), "labels": hash_array(split.targets)}',
        'out: dict[str, Any] = {"count": len(split)}',
        (
            "tests/test_data_integrity.py::test_the_fingerprint_of_in_memory_data_covers_its_labels_groups_and_pixels",
            "tests/test_data_integrity.py",
            "tests/test_records.py",
        ),
    ),
    M(
        "run-id-without-fingerprint",
        "the run id leaves the data fingerprint out",
        "bench/runs/config.py",
        '        if self.data_fingerprint is not None:\n            out["data_fingerprint"]',
        '        if False:\n            out["data_fingerprint"]',
        ("tests/test_data_integrity.py", "tests/test_records.py", "tests/test_config.py"),
    ),
    M(
        "shard-checksum-skipped",
        "a shard's sha256 never compared on open",
        "bench/synthesis/store.py",
        "if recorded is not None and file_digest(path) != recorded:",
        "if False:",
        ("tests/test_store.py", "tests/test_cache_integrity.py"),
    ),
    M(
        "generator-checksum-skipped",
        "a cached generator's checksums never compared",
        "bench/synthesis/pipeline.py",
        "if not bad:\n            return True",
        "if True:\n            return True",
        ("tests/test_cache_integrity.py",),
    ),
    M(
        "synthesis-ignores-generator",
        "synthesis tasks do not wait for their generator's fit",
        "bench/launch/units.py",
        "deps = tuple(u.key for u in earlier)  # the generator fit and the run's dependencies",
        'deps = tuple(u.key for u in earlier if u.kind != "generator")',
        ("tests/test_sweep.py",),
    ),
    M(
        "run-ignores-synthesis",
        "a run does not wait for its set's synthesis tasks",
        "bench/launch/units.py",
        'deps = tuple(u.key for u in earlier if u.kind != "generator")  # synthesis waits on it',
        'deps = tuple(u.key for u in earlier if u.kind == "dependency")',
        ("tests/test_sweep.py",),
    ),
    M(
        "sweep-waits-on-done-units",
        "a stage waits on the jobs of units already done",
        "bench/launch/sweep.py",
        'if status.get(dep) != "done" and sweep.state.last_job(dep)',
        "if sweep.state.last_job(dep)",
        (
            "tests/test_sweep.py::test_a_relaunch_waits_only_on_units_not_done",
            "tests/test_sweep.py",
        ),
    ),
]


def run(mutation: Mutation, root: Path = REPO, timeout: int = 1500) -> tuple[str, str, float]:
    """(outcome, the first failing test, seconds) of one mutation."""
    path = root / mutation.file
    if not path.exists():  # a snapshot: methods/ and datasets/ live inside bench/
        path = root / "bench" / mutation.file
    source = path.read_text()
    if source.count(mutation.old) != 1:
        return f"source text found {source.count(mutation.old)} times", "", 0.0
    start = time.time()
    path.write_text(source.replace(mutation.old, mutation.new))
    try:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if root != REPO:
            env["PYTHONPATH"] = str(root)
        tier = "not slow and not gpu and not real_data and not slurm"
        args = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                "-m", tier, *mutation.tests]  # fmt: skip
        try:
            done = subprocess.run(args, cwd=root, env=env, capture_output=True, timeout=timeout)
            code, out = done.returncode, done.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired:
            code, out = -1, ""
    finally:
        path.write_text(source)
    outcome = {0: "MISSED", 1: "caught", -1: "timeout"}.get(code, f"pytest exit {code}")
    failed = [line.split()[1] for line in out.splitlines() if line.startswith("FAILED ")]
    return outcome, failed[0] if failed else "", time.time() - start


def main(names: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `finally` restores the file
    root = REPO
    if names[:1] == ["--snapshot"]:
        root, names = Path(names[1]).resolve(), names[2:]
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    caught = 0
    for m in chosen:
        outcome, test, seconds = run(m, root)
        caught += outcome == "caught"
        print(f"{m.name:28} {outcome:7} {seconds:5.0f}s  {m.what}  [{test}]", flush=True)
    print(f"caught {caught} of {len(chosen)}")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
