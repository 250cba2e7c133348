"""bench.launch.estimate: the cost arithmetic (pure functions) and the throughput figures."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.launch import estimate as est


@pytest.fixture(scope="module")
def figs():
    return est.load_figures()


def test_every_figure_has_a_source_and_none_is_measured_yet(figs):
    assert {"gpu_tflops", "sd_unet_tflop_per_eval_512", "fg_guided_ratio"} <= set(figs)
    assert all(f.source and f.unit and not f.measured for f in figs.values())


def test_a_measured_figure_overrides_the_estimate(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "estimates: {gpu_tflops: {value: 100, unit: u, source: s}}\n"
        "measured: {gpu_tflops: {value: 50, unit: u, source: gpu_check.sh on an H100}}\n"
    )
    fig = est.load_figures(path)["gpu_tflops"]
    assert (fig.value, fig.measured) == (50, True)
    path.write_text("estimates: {}\nmeasured: {gpu_tflop: {value: 1, unit: u, source: s}}\n")
    with pytest.raises(ConfigError, match=r"measured\.gpu_tflop overrides no estimate"):
        est.load_figures(path)


def test_synthesis_cost_is_steps_times_cfg_times_unet_plus_decode(figs):
    s = est.Sampling(1000, "sd", 512, 50, guidance=7.5)
    cost = est.sampling_cost(s, figs)
    tflop = 1000 * (50 * 2 * 0.8 + 2.5)  # 82,500 TFLOP
    assert cost.gpu_h == pytest.approx(tflop / 346 / 3600)
    assert cost.disk_bytes == 1000 * 512 * 512 * 3
    plain = est.sampling_cost(est.Sampling(1000, "sd", 512, 50, guidance=1.0), figs)
    assert plain.gpu_h == pytest.approx(1000 * (50 * 0.8 + 2.5) / 346 / 3600)
    guided = est.sampling_cost(est.Sampling(1000, "sd", 512, 50, 1.0, feedback=True), figs)
    assert guided.gpu_h == pytest.approx(plain.gpu_h * 5.7)
    big = est.sampling_cost(est.Sampling(1000, "unclip", 768, 50, 1.0), figs)
    assert big.gpu_h == pytest.approx(plain.gpu_h * 2.25)
    assert est.sampling_cost(est.Sampling(None, "sd", 512, 50), figs).gpu_h is None


def test_fit_and_training_costs(figs):
    ddpm = est.fit_cost(est.Fit("ddpm", 32, 1000, 128), figs)
    assert ddpm.gpu_h == pytest.approx(1000 * 128 * 3 * 12e-3 / 346 / 3600)
    ti = est.fit_cost(est.Fit("sd-ti", 512, 2000, 2, parts=10), figs)
    assert ti.gpu_h == pytest.approx(10 * 2000 * 2 * 3 * 0.8 / 346 / 3600)
    t = est.training_cost(est.Training("resnet50", 224, 1_000_000), "classifier", figs)
    assert t.gpu_h == pytest.approx(1e6 * 8.2 * 3 / 1e3 / 346 / 3600)
    assert t.cpu_h == pytest.approx(1e6 / 250 / 3600)
    small = est.training_cost(est.Training("resnet32", 32, 1000, decoded=False), "c", figs)
    assert small.cpu_h == 0.0 and small.gpu_h > 0
    assert est.training_cost(est.Training("nonet", 224, 10), "c", figs).gpu_h is None


def test_total_is_unknown_where_a_part_is():
    a, b = est.Cost("x", 1.0, 2.0, 3), est.Cost("y", 0.5, 0.5, 1)
    assert est.total([a, b]) == est.Cost("total", 1.5, 2.5, 4)
    assert est.total([a, est.Cost("z", None, None, None)]).gpu_h is None


@pytest.mark.parametrize(
    ("plan", "images"),
    [("add:500", 50_000), ("ratio:15", 15 * 10_847), ("fill:500", 39_153), ("fill:max", None)],
)
def test_plan_images_from_official_counts(plan, images):
    assert est.plan_images(plan, 100, 10_847)[0] == images


def test_fill_max_from_the_official_largest_class():
    """ImageNet-LT: 1,000 classes filled up to its largest (1,280) from 115,846 real images."""
    assert est.plan_images("fill:max", 1000, 115_846, 1280)[0] == 1280 * 1000 - 115_846
    from bench.datasets import DATASETS

    counts = DATASETS["imagenet-lt"].expected(None)["train_counts"]
    assert counts == {"max": 1280, "min": 5}
