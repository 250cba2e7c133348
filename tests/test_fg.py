"""FG guidance does what it claims, augcond's conditionings are what they say, bad settings fail.

The generator is the tiny fitted `ddpm` with image conditioning (and the tiny random-weight
Stable unCLIP for the direction test); the feedback classifier is a random-weight small CNN: the
claims hold for any differentiable classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_generators import ready, toy_data

from bench.errors import BenchError
from bench.generators.base import SynthesisRequest
from bench.hparams import build
from bench.io import read_json
from bench.method import MethodContext
from bench.methods import METHODS
from bench.methods.augcond import cutmix_box, embedding_dropout
from bench.methods.fg import Feedback, class_gaussians
from bench.runs.models import LoadedClassifier
from bench.train.backbones import SMALL_CNN, build_classifier


def classifier(data) -> LoadedClassifier:
    torch.manual_seed(3)
    model = build_classifier(SMALL_CNN, data.num_classes, data.channels).eval()
    return LoadedClassifier(model, Path("."), Path("."), {"dataset": data.name}, 3, 1, 8, "half")


def method(name: str, data, clf, **sets):
    cls = METHODS[name]
    hparams = build(cls.Hparams, {**cls.TINY, **sets}, name)
    return cls(hparams, MethodContext(data, 0, "cpu", False, {"classifier": clf}))


def requests(n: int, k: int = 1) -> list[SynthesisRequest]:
    labels = [0, 1, 2] * n
    ids = {0: (0, 1), 1: (6, 7), 2: (9, 9)}  # class 2 has one image: paired with itself
    return [SynthesisRequest(i, y, 1000 + i, cond_ids=ids[y][:k]) for i, y in enumerate(labels[:n])]


@pytest.fixture(scope="module")
def ddpm(tmp_path_factory: pytest.TempPathFactory):
    generator, data = ready("ddpm", {}, tmp_path_factory.mktemp("ddpm"))
    return generator, data, classifier(data)


def sample(generator, m, reqs, steps=4):
    return generator.sample(reqs, m.sampling_hooks(generator), steps=steps)


@pytest.mark.parametrize("criterion", ["loss", "entropy", "hardness"])
def test_guidance_raises_its_criterion_against_omega_zero_from_the_same_seeds(
    ddpm, criterion: str
) -> None:
    generator, data, clf = ddpm
    reqs = requests(12)
    sets = {"sampling_steps": 4, "guidance_every": 1, "cond_dropout": 0.0}
    plain = method(f"fg-{criterion}", data, clf, feedback_scale=0.0, **sets)
    guided = method(f"fg-{criterion}", data, clf, feedback_scale=0.2, **sets)
    feedback = Feedback(clf, plain.context, plain.hparams)

    def measured(batch) -> np.ndarray:
        """The criterion computed independently of methods/fg.py's criteria."""
        x = torch.as_tensor(batch.images).permute(0, 3, 1, 2).float() / 255.0
        x = (x - 0.5) / 0.5  # the classifier's "half" normalisation
        y = torch.tensor([r.label for r in reqs])
        with torch.no_grad():
            logits = clf.model(x)
            if criterion == "loss":
                return -logits.log_softmax(-1)[torch.arange(len(y)), y].numpy()
            if criterion == "entropy":
                return torch.distributions.Categorical(logits=logits).entropy().numpy()
            mean, precision = feedback.gaussians()
            diff = (clf.model.features(x) - mean[y]).numpy()
            return np.array([d @ p @ d for d, p in zip(diff, precision[y].numpy(), strict=True)])

    before = sample(generator, plain, reqs)
    after = sample(generator, guided, reqs)
    assert before.criterion is None and after.criterion.shape == (12,)
    up = measured(after) - measured(before)
    assert up.mean() > 0 and (up > 0).mean() >= 0.75, up


def test_omega_zero_reproduces_plain_sampling_bitwise(ddpm) -> None:
    generator, data, clf = ddpm
    reqs = requests(6)
    fg = method("fg-entropy", data, clf, feedback_scale=0.0, cond_dropout=0.5)
    base = method("augcond-dropout", data, clf, cond_dropout=0.5, guidance_scale=3.0)
    a, b = sample(generator, fg, reqs, 3), sample(generator, base, reqs, 3)
    assert np.array_equal(a.images, b.images)
    on = method("fg-entropy", data, clf, feedback_scale=0.05, cond_dropout=0.5)
    assert not np.array_equal(sample(generator, on, reqs, 3).images, a.images)


def test_combined_draws_each_criterion_from_the_request_seed(ddpm) -> None:
    _, data, clf = ddpm
    m = method("fg-combined", data, clf)
    feedback = Feedback(clf, m.context, m.hparams)
    reqs = requests(30)
    x = torch.rand(30, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        mixed = feedback.combined(x, reqs)
        each = torch.stack([getattr(feedback, c)(x, reqs) for c in ("loss", "entropy", "hardness")])
    picked = [int(torch.nonzero(torch.isclose(each[:, i], mixed[i]))[0]) for i in range(30)]
    counts = np.bincount(picked, minlength=3)
    assert (counts >= 4).all(), counts  # all three are used, none dominates
    with torch.no_grad():
        again = feedback.combined(x.flip(0), reqs[::-1])
    assert torch.allclose(again.flip(0), mixed)  # per request, not per batch position


def test_class_gaussians_are_exact_without_shrinkage_and_invertible_for_one_image() -> None:
    rng = np.random.default_rng(0)
    feats = torch.as_tensor(rng.normal(size=(203, 3)))
    targets = np.array([0] * 200 + [1] * 2 + [2])
    means, precision = class_gaussians(feats, targets, 3, kappa=0.0)
    exact = np.linalg.inv(np.cov(feats[:200].numpy().T, bias=True))
    assert np.allclose(precision[0].numpy(), exact, rtol=1e-3)
    assert np.allclose(means[0].numpy(), feats[:200].mean(0).numpy(), atol=1e-6)
    _, shrunk = class_gaussians(feats, targets, 3, kappa=10.0)
    assert torch.isfinite(shrunk).all() and torch.linalg.eigvalsh(shrunk[2]).min() > 0


def test_hardness_is_the_mahalanobis_distance_to_the_class(ddpm) -> None:
    _, data, clf = ddpm
    m = method("fg-hardness", data, clf, hardness_shrinkage=0.0)
    feedback = Feedback(clf, m.context, m.hparams)
    real = torch.as_tensor(data.train.images[:6]).permute(0, 3, 1, 2).float() / 127.5 - 1
    reqs = [SynthesisRequest(i, 0, i) for i in range(6)]
    with torch.no_grad():
        mean, _ = feedback.gaussians()
        feats = clf.model.features(feedback.inputs(real))
        values = feedback.hardness(real, reqs)
    assert torch.allclose(mean[0], feats.mean(0), atol=1e-5)
    # The mean of the squared Mahalanobis distances of a class to its own Gaussian is tr(I) = D
    # where the covariance is full rank; here rank <= 5, so it is at most that (plus eps).
    assert 0 < float(values.mean()) <= 5.0 + 1e-2


def test_hardness_takes_each_sample_to_its_own_class_gaussian(ddpm) -> None:
    """Samples of three classes in one batch: each one's value is the Mahalanobis distance to
    its own class's Gaussian (a batch of one class cannot tell)."""
    _, data, clf = ddpm
    m = method("fg-hardness", data, clf)
    feedback = Feedback(clf, m.context, m.hparams)
    x = torch.as_tensor(data.train.images[[0, 6, 9]]).permute(0, 3, 1, 2).float() / 127.5 - 1
    reqs = [SynthesisRequest(i, y, i) for i, y in enumerate([0, 1, 2])]
    with torch.no_grad():
        mean, precision = feedback.gaussians()
        feats = clf.model.features(feedback.inputs(x))
        values = feedback.hardness(x, reqs)
    expected = [(f - mean[y]) @ precision[y] @ (f - mean[y]) for y, f in enumerate(feats)]
    assert torch.allclose(values, torch.stack(expected), rtol=1e-4)
    against_zero = [(f - mean[0]) @ precision[0] @ (f - mean[0]) for f in feats]
    assert not torch.allclose(values, torch.stack(against_zero), rtol=1e-2)


def test_guidance_runs_at_steps_0_k_2k_only(ddpm) -> None:
    """FG App F: the criterion every k-th step (k = 3 here, never 1 as elsewhere), from step 0."""
    from bench.generators.base import X0Guidance

    guidance = X0Guidance(lambda images, requests: images.sum((1, 2, 3)), 0.1, every=3)
    assert [guidance.active(i) for i in range(8)] == [True, False, False] * 2 + [True, False]
    assert not X0Guidance(guidance.criterion, 0.0, every=3).active(0)  # omega 0: never
    generator, data, clf = ddpm
    calls = []

    def counted(images, requests):
        calls.append(len(requests))
        return images.float().pow(2).sum((1, 2, 3))

    hooks = method("fg-entropy", data, clf, sampling_steps=7, guidance_every=3)
    hooks = hooks.sampling_hooks(generator)
    hooks.guidance = X0Guidance(counted, 0.1, every=3)
    generator.sample(requests(3), hooks, steps=7)
    assert calls == [3, 3, 3]  # steps 0, 3 and 6 of 7


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"feedback_scale": -0.1}, "feedback_scale"),
        ({"guidance_every": 7, "sampling_steps": 5}, r"guidance_every=7 .* 1\.\.5"),
        ({"guidance_every": 0}, "guidance_every"),
        ({"cond_dropout": 1.5}, "cond_dropout"),
        ({"cond_dropout": -0.1}, "cond_dropout"),
        ({"generator": "sd"}, "generator"),
        ({"generator": "unclip", "scheduler": "pndm", "sampling_steps": 3}, "at least 4 steps"),
    ],
)
def test_bad_fg_settings_fail_before_synthesis(sets: dict, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        build(METHODS["fg-entropy"].Hparams, sets, "fg-entropy")


# Augmentation-conditioning ----------------------------------------------------------------


def test_pixel_mixup_and_cutmix_combine_the_pair_per_request_seed() -> None:
    data = toy_data()
    pair = np.stack([np.zeros((8, 8, 1)), np.full((8, 8, 1), 200)]).astype(np.uint8)[None]
    reqs = [SynthesisRequest(0, 0, 7, cond_ids=(0, 1))]
    mixup = method("augcond-mixup", data, None).mix_images(pair, reqs)[0]
    assert len(np.unique(mixup)) == 1 and 0 < mixup[0, 0, 0] < 200  # one lambda everywhere
    cut = method("augcond-cutmix", data, None).mix_images(pair, reqs)[0]
    assert set(np.unique(cut)) <= {0, 200}  # pixels of one image or the other
    again = method("augcond-cutmix", data, None).mix_images(np.concatenate([pair, pair]), reqs * 2)
    assert np.array_equal(again[0], cut) and np.array_equal(again[1], cut)
    y0, y1, x0, x1 = cutmix_box(100, 100, 0.75, np.random.default_rng(0))
    assert (y1 - y0) * (x1 - x0) <= 0.25 * 100 * 100 + 1


def test_embedding_mixup_cutmix_and_dropout() -> None:
    data = toy_data()
    a, b = torch.zeros(16), torch.ones(16)
    embeds = torch.stack([a, b])[None]
    reqs = [SynthesisRequest(0, 0, 11, cond_ids=(0, 1))]
    mix = method("augcond-embed-mixup", data, None).embedding_hook(embeds, reqs)[0]
    assert torch.allclose(mix, mix[0].expand(16)) and 0 < float(mix[0]) < 1
    cut = method("augcond-embed-cutmix", data, None).embedding_hook(embeds, reqs)[0]
    ones = torch.nonzero(cut).flatten()
    assert set(cut.tolist()) <= {0.0, 1.0}
    if len(ones):  # one contiguous span from the second embedding
        assert int(ones[-1] - ones[0]) + 1 == len(ones)
    x = torch.ones(2, 1000)
    two = [SynthesisRequest(0, 0, 1), SynthesisRequest(1, 0, 2)]
    # a batch: each request mixes its own two embeddings, never another request's
    batch = torch.stack(
        [torch.full((2, 16), 10.0 * i) + torch.tensor([[0.0], [1.0]]) for i in range(4)]
    )
    reqs4 = [SynthesisRequest(i, i % 3, 20 + i, cond_ids=(0, 1)) for i in range(4)]
    for name in ("augcond-embed-cutmix", "augcond-embed-mixup"):
        mixed = method(name, data, None).embedding_hook(batch, reqs4)
        for i in range(4):
            assert ((mixed[i] >= 10 * i) & (mixed[i] <= 10 * i + 1)).all(), (name, i)
    dropped = embedding_dropout(x, two, 0.4)
    assert abs(float((dropped == 0).float().mean()) - 0.4) < 0.05
    assert torch.allclose(dropped[dropped != 0], torch.tensor(1 / 0.6))
    assert torch.equal(embedding_dropout(x[1:], two[1:], 0.4)[0], dropped[1])  # per request
    assert not torch.equal(dropped[0], dropped[1])
    assert torch.equal(embedding_dropout(x, two, 1.0), torch.zeros_like(x))
    assert embedding_dropout(x, two, 0.0) is x


@pytest.mark.parametrize(
    "name", ["augcond-mixup-dropout", "augcond-embed-cutmix-dropout", "ldm-txt-img"]
)
def test_conditionings_sample_on_the_embedded_generator(ddpm, name: str) -> None:
    generator, data, clf = ddpm
    m = method(name, data, clf)
    k = m.conditioning()
    batch = sample(generator, m, requests(6, k), steps=2)
    assert batch.images.shape == (6, 8, 8, 1) and batch.images.dtype == np.uint8
    assert np.array_equal(sample(generator, m, requests(6, k), steps=2).images, batch.images)


# End to end through the real loader of Stable unCLIP (a tiny random-weight pipeline) ----------


@pytest.fixture(scope="module")
def unclip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.tiny_pipelines import save_tiny_unclip

    return save_tiny_unclip(tmp_path_factory.mktemp("pipelines") / "unclip")


@pytest.mark.parametrize(
    "name",
    ["fg-hardness", "fg-combined", "augcond-mixup-dropout", "augcond-embed-cutmix", "ldm-txt"],
)
def test_method_runs_on_the_unclip_backend(name: str, unclip_dir: Path, results: Path) -> None:
    from helpers import run_digits, tiny_sets

    sets = [
        *tiny_sets(name),
        "generator=unclip",
        f"model_dir={unclip_dir}",
        "resolution=32",
        "plan=fill:6",
    ]
    if METHODS[name].DEPENDENCIES:
        sets.append("dep.classifier.recipe.epochs=1")
    run_dir = run_digits(name, results, sets)
    result = read_json(run_dir / "result.json")
    assert result["info"]["generator"]["backend"] == "unclip"
    counts = np.add(result["metrics"]["train_counts"], result["metrics"]["synthetic_counts"])
    assert (counts >= 6).all()
    manifest = read_json(next((results / "cache" / "synthetic").glob("*/manifest.json")))
    assert manifest["image_size"] == 32 and manifest["channels"] == 3


@pytest.fixture(scope="module")
def imgvar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.tiny_pipelines import save_tiny_imgvar

    return save_tiny_imgvar(tmp_path_factory.mktemp("pipelines") / "sd-imgvar")


@pytest.mark.parametrize("backend", ["unclip", "sd-imgvar"])
def test_reimagine_and_image_variation_train_on_synthetic_data_alone(
    backend: str, unclip_dir: Path, imgvar_dir: Path, results: Path
) -> None:
    """Fill-Up Table 1's Reimagine (unclip, empty prompt) and Image Variation (sd-imgvar) rows
    (results/published/methods.csv): a real image's CLIP embedding, no prompt, the classifier
    trained on the synthetic images alone."""
    from helpers import run_digits, tiny_sets

    from bench.synthesis.store import SyntheticSet

    sets = [
        *tiny_sets("ldm-txt-img"),
        f"generator={backend}",
        f"model_dir={unclip_dir if backend == 'unclip' else imgvar_dir}",
        "resolution=32",
        "prompt=",
        "plan=add:2",
        "recipe.data=synthetic",
        "recipe.loss=ce",
    ]
    run_dir = run_digits("ldm-txt-img", results, sets)
    result = read_json(run_dir / "result.json")
    assert result["info"]["generator"]["backend"] == backend
    main = result["metrics"]["stages"][0]
    assert main["data"] == "synthetic" and main["train_samples"] == 20
    key = result["info"]["synthesis"]["key"]
    prompts = SyntheticSet(results / "cache" / "synthetic" / key).metadata(0)["prompts"]
    assert set(prompts) <= {"", None}
