"""BALMS's Meta Sampler (`sampler: meta`): its initial weights, its draws, its meta step, the stage
that uses it (head only, resumable bitwise) and the settings it refuses."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.datasets import DATASETS
from bench.errors import ConfigError
from bench.runs.config import resolve
from bench.train.backbones import Classifier
from bench.train.loop import train_classifier
from bench.train.losses import CrossEntropy
from bench.train.metasampler import (
    Draw,
    MetaSampler,
    differentiable_step,
    drawn_soft,
    initial_logits,
    noise_statistics,
)
from bench.train.recipe import StageFields
from bench.train.samplers import BatchPlan

META = StageFields(sampler="meta", trains="head", data="real")


def sampler(labels: np.ndarray, batch_size: int = 64, seed: int = 0) -> MetaSampler:
    classes = int(labels.max()) + 1
    meta = (None, BatchPlan(labels, None, 8, 1, "class-balanced", None, seed))
    return MetaSampler(labels, classes, batch_size, 1, seed, META, meta)


def test_initial_weights_follow_balms_init_learner() -> None:
    """sigmoid(w_c) = p_c^-0.3 / (min + max), p_c the class's share (init_pow 0.3, Places-LT)."""
    counts = np.array([400, 50, 0, 5])
    rate = torch.sigmoid(initial_logits(counts, 0.3)).double().numpy()
    p = np.array([400, 50, 5]) / 455
    expected = p**-0.3 / (p.min() ** -0.3 + p.max() ** -0.3)
    assert np.allclose(rate[[0, 1, 3]], expected, rtol=1e-5)
    assert rate[2] == 0.5  # no sample: never drawn, its weight is left at 0
    assert np.isclose(rate[0] + rate[3], 1.0)  # (min + max) / (min + max)
    flat = torch.sigmoid(initial_logits(counts, 0.0))  # init_pow 0: every class alike
    assert torch.allclose(flat[[0, 1, 3]], torch.tensor(0.5))


def test_draws_follow_the_instance_level_distribution() -> None:
    """Sample k is drawn with probability proportional to sigmoid(w_{y_k}): class c with
    n_c sigmoid(w_c) / sum, and uniformly within it."""
    labels = np.repeat(np.arange(4), [60, 25, 10, 5])
    plan = sampler(labels, batch_size=500)
    with torch.no_grad():
        plan.logit.copy_(torch.tensor([-2.0, 0.0, 1.0, 3.0]))
    drawn = np.concatenate([plan.draw(step).indices for step in range(20)])  # 10,000 draws
    rate = np.array([60, 25, 10, 5]) / (1 + np.exp(-np.array([-2.0, 0.0, 1.0, 3.0])))
    expected = rate / rate.sum()
    assert np.allclose(np.bincount(labels[drawn], minlength=4) / len(drawn), expected, atol=0.015)
    assert np.allclose(plan.class_frequencies(labels, 4), expected)
    within = np.bincount(drawn[labels[drawn] == 0], minlength=60)[:60]
    assert within.min() > 0.4 * within.mean()  # every sample of the class is drawn, alike
    again = sampler(labels, batch_size=500)
    again.load_state_dict(plan.state_dict())
    assert (again.draw(3).indices == plan.draw(3).indices).all()  # seeded by (epoch, step)
    plan.set_epoch(1)
    assert (again.draw(3).indices != plan.draw(3).indices).any()


def test_draws_and_gradients_are_the_instance_level_gumbel_softmax() -> None:
    """The per-class computation is BALMS's B x N hard Gumbel-softmax, exactly: the same draws
    from the same noise, the same soft value of each drawn sample and the same gradient to w."""
    torch.manual_seed(0)
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 2 + [3])  # sorted by class; class 4: none
    w = torch.randn(5, requires_grad=True)
    u = torch.empty(64, len(labels)).exponential_()
    logits = F.logsigmoid(w)[labels] - u.log()  # log sigmoid(w_{y_k}) + Gumbel noise
    chosen = logits.argmax(1)
    literal = logits.softmax(1).gather(1, chosen[:, None]).squeeze(1)
    top, mass = noise_statistics(u, labels, 5)
    classes = (F.logsigmoid(w.detach()) + top).argmax(1)
    assert torch.equal(classes, labels[chosen])
    soft = drawn_soft(w, Draw(np.zeros(0), classes, top, mass))
    assert torch.allclose(soft, literal, atol=1e-6)
    loss = torch.rand(64)
    (want,) = torch.autograd.grad((loss * literal).sum(), w)
    (got,) = torch.autograd.grad((loss * soft).sum(), w)
    assert torch.allclose(got, want, atol=1e-5) and want.abs().max() > 1e-3
    assert got[4] == 0  # a class with no sample gets no gradient


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_the_differentiable_step_is_the_optimisers_step(name: str) -> None:
    """One step of the copy equals the optimiser's own step, with its LR and its state (the
    momentum buffer / Adam's moments and step count after an earlier step)."""
    torch.manual_seed(1)
    layer = torch.nn.Linear(4, 3)
    params = list(layer.parameters())
    opt = (
        torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
        if name == "sgd"
        else torch.optim.Adam(params, lr=0.01, weight_decay=5e-4)
    )
    x, y = torch.randn(8, 4), torch.randint(3, (8,))
    for _ in range(2):  # the second step sees the state the first left
        start = [p.detach().requires_grad_() for p in params]
        out = torch.func.functional_call(
            layer, dict(zip(["weight", "bias"], start, strict=True)), (x,)
        )
        grads = torch.autograd.grad(F.cross_entropy(out, y), start, create_graph=True)
        stepped = differentiable_step(opt, params, start, grads)
        opt.zero_grad()
        F.cross_entropy(layer(x), y).backward()
        opt.step()
        for a, b in zip(stepped, params, strict=True):
            assert torch.allclose(a, b, atol=1e-6)
        assert stepped[0].requires_grad  # a function of the gradients, to differentiate


def test_one_meta_step_raises_the_weight_of_the_class_the_head_gets_wrong() -> None:
    """A head right on classes 0 and 1 and wrong on class 2: weighting class 2's samples more in
    the inner step lowers the balanced meta loss, so w_2 rises (and the others do not); the
    model and its optimiser are left as they were."""
    torch.manual_seed(0)
    labels = np.repeat(np.arange(3), 20)
    plan = sampler(labels, batch_size=30)
    model = Classifier(torch.nn.Identity(), 3, 3)
    with torch.no_grad():
        model.head.weight.copy_(torch.diag(torch.tensor([3.0, 3.0, -3.0])))
        model.head.bias.zero_()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.5)
    drawn = plan.draw(0)
    y = torch.as_tensor(labels[drawn.indices])
    x = F.one_hot(y, 3).float() + 0.1 * torch.randn(30, 3)
    meta_y = torch.arange(3).repeat(8)
    meta_x = F.one_hot(meta_y, 3).float() + 0.1 * torch.randn(24, 3)
    before, head = plan.logit.detach().clone(), model.head.weight.detach().clone()
    loss_fn = CrossEntropy(None, None)
    plan.meta_step(model, drawn, x, y, meta_x, meta_y, opt, loss_fn, contextlib.nullcontext())
    moved = plan.logit.detach() - before
    assert moved[2] > 0 and moved[2] > moved[0] and moved[2] > moved[1], moved
    assert torch.equal(model.head.weight, head) and not opt.state


TINY = ["recipe.epochs=1", "recipe.steps_per_epoch=2", "recipe.batch_size=16"]
META_STAGE = [
    "recipe.then=ms",
    "stage.ms.sampler=meta",
    "stage.ms.reset_head=false",
    "stage.ms.loss=balanced-softmax",
    "stage.ms.optimizer=sgd",
    "stage.ms.lr=0.05",
    "stage.ms.epochs=2",
    "stage.ms.meta_batch_size=20",
]


class Stop(Exception):
    pass


def first_stage_data():
    return DATASETS["digits-lt"](resolve("erm", "digits-lt").dataset_settings).load()


def train(tmp_path: Path, state: str, on_epoch=lambda rows: None, *sets: str):
    config = resolve("erm", "digits-lt", sets=[*TINY, *META_STAGE, *sets])
    data = first_stage_data()
    args = (config.recipe_settings, data, None, config.seed, "cpu", tmp_path / state, on_epoch)
    return train_classifier(*args, progress=False, stages=config.stage_list())


def test_a_meta_stage_trains_the_head_and_learns_the_sampler(tmp_path: Path) -> None:
    first = train(tmp_path, "first.pt")  # main, then two meta-sampler epochs

    def after_main(rows):
        if len(rows) == 1:
            raise Stop

    with pytest.raises(Stop):
        train(tmp_path, "main.pt", after_main)
    main = torch.load(tmp_path / "main.pt", weights_only=True)["model"]
    last = first.last.state_dict()
    assert all(torch.equal(main[k], last[k]) for k in main if k.startswith("features."))
    assert not torch.equal(main["head.weight"], last["head.weight"])
    summary = first.stages[1]
    assert summary["sampler"] == "meta" and summary["trainable_parameters"] == 10 * 128 + 10
    blob = torch.load(tmp_path / "first.pt", weights_only=True)
    counts = np.bincount(first_stage_data().train.targets, minlength=10)
    learnt = blob["sampler"]["logit"]
    assert not torch.equal(learnt, initial_logits(counts, 0.3))  # the meta steps moved w
    assert torch.allclose(learnt, initial_logits(counts, 0.3), atol=0.01)  # 4 Adam steps of 1e-3


def test_a_meta_stage_killed_midway_resumes_bitwise(tmp_path: Path) -> None:
    """Stopped after the meta stage's first epoch, the relaunch ends with the uninterrupted
    run's weights, history and sampler state (w and its Adam moments). The uninterrupted run
    has a loader worker: the meta batches load there, while each training batch is still drawn
    in the training process, from the weights of the step before, so the numbers are the
    same."""

    def after_first_meta_epoch(rows):
        if len(rows) == 2:
            raise Stop

    with pytest.raises(Stop):
        train(tmp_path, "killed.pt", after_first_meta_epoch)
    stopped = torch.load(tmp_path / "killed.pt", weights_only=True)
    assert stopped["state"]["stage"] == 1 and stopped["state"]["epoch"] == 1
    assert stopped["sampler"]["opt"]["state"]  # Adam's moments are in the checkpoint
    resumed = train(tmp_path, "killed.pt")
    straight = train(tmp_path, "straight.pt", lambda rows: None, "recipe.num_workers=1")
    a, b = resumed.last.state_dict(), straight.last.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

    def timeless(rows):
        return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]

    assert timeless(resumed.history) == timeless(straight.history)
    ends = [
        torch.load(tmp_path / f, weights_only=True)["sampler"] for f in ("killed.pt", "straight.pt")
    ]
    assert torch.equal(ends[0]["logit"], ends[1]["logit"])
    moments = [end["opt"]["state"][0]["exp_avg_sq"] for end in ends]
    assert torch.equal(*moments)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["recipe.sampler=meta"], r"sampler='meta' does not work with trains='all'.*trains=head"),
        (["stage.ms.trains=all"], r"stage\.ms: sampler='meta' does not work with trains='all'"),
        (["stage.ms.data=class-balanced-subsample"], r"data='class-balanced-subsample'.*data=real"),
        (["stage.ms.batch_aug=mixup"], r"batch_aug='mixup': its meta step weights each"),
        (["stage.ms.loss=group-dro"], r"loss='group-dro': its inner step averages"),
        (["stage.ms.prior=batch"], r"prior='batch': the sampler's class shares change"),
        (
            ["stage.ms.sampler=sqrt"],
            r"meta_batch_size=20 does not apply to erm: .* sampler is meta",
        ),
    ],
)
def test_the_meta_sampler_is_refused_where_it_cannot_work(sets, message) -> None:
    """At resolve time, before any data is loaded or any generator fitted."""
    with pytest.raises(ConfigError, match=message):
        resolve("erm", "digits-lt", sets=[*META_STAGE, *sets])


def test_the_meta_sampler_trains_in_one_process() -> None:
    from bench.train.distributed import World
    from bench.train.loop import check_world, stage_plan

    config = resolve("erm", "digits-lt", sets=[*META_STAGE, "recipe.batch_size=64"])
    plan = stage_plan(config.recipe_settings, config.stage_list())
    check_world(plan, World(0, 1))
    with pytest.raises(ConfigError, match=r"stage\.ms: sampler='meta' trains in one process"):
        check_world(plan, World(0, 2))
    with pytest.raises(ValueError, match=r"'meta' draws from what training has learnt"):
        BatchPlan(np.arange(4), None, 2, 1, "meta", None, 0)


def test_the_documented_meta_stage_resolves(tmp_path: Path) -> None:
    """docs/recipe.md's Meta Sampler stage (FG App F.4's last-layer fine-tuning) is valid."""
    import re
    import textwrap

    text = (Path(__file__).parent.parent / "docs" / "recipe.md").read_text()
    section = text.split("### Meta Sampler")[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "balms.yaml"
    path.write_text(textwrap.dedent(block))
    config = resolve("erm", "digits-lt", config_file=path)
    st = config.stage_settings["balms"]
    assert (st.trains, st.sampler, st.loss, st.epochs, st.meta_batch_size) == (
        "head", "meta", "balanced-softmax", 10, 512,
    )  # fmt: skip
    assert "meta_lr" not in config.identity()["stages"]["balms"]  # keyless at its default


@pytest.mark.parametrize(("where", "augments"), [("train", True), ("val", False)])
def test_the_meta_batches_come_class_balanced_from_the_split_named(where, augments) -> None:
    """meta_set=train: the training split, augmented as the stage's data; val: the val split,
    unaugmented (BALMS's ImageNet-LT / Places-LT meta set)."""
    from bench.train.loop import training_data

    config = resolve("erm", "digits-lt")
    data = first_stage_data()
    st = StageFields(sampler="meta", trains="head", data="real", meta_set=where, batch_size=32)
    dataset, plan = training_data(st, config.recipe_settings, data, None, seed=0).plan.meta_set
    split = data.splits[where]
    assert len(dataset) == len(split) and dataset.augments == augments
    plan.set_epoch(0)
    labels = split.targets[np.concatenate(list(plan))]
    assert len(labels) == plan.steps * 512
    assert np.allclose(np.bincount(labels, minlength=10) / len(labels), 0.1, atol=0.02)
