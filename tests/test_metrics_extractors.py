"""Feature extractors: offline loading from local files, shapes, torch-fidelity cross-checks.

Real weights cannot be downloaded here, so each extractor's real loading code runs on a random-
weight model of the real architecture written in the real file format (torch-fidelity's
InceptionV3 state dict, a transformers save_pretrained directory, a bench run directory).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.metrics.extractors import (
    INCEPTION_FILE,
    ExtractorContext,
    build_extractor,
)
from bench.metrics.generation import GenerationSettings, generation_metrics


def uint8_images(seed: int, n: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# small -------------------------------------------------------------------------------------------


def test_small_extractor_is_fixed_and_deterministic() -> None:
    images = uint8_images(0, 6)
    a, b = build_extractor("small")(images), build_extractor("small")(images)
    assert a["features"].shape == (6, 64) and a["logits"].shape == (6, 10)
    assert np.array_equal(a["features"], b["features"])
    assert a["features"].std() > 0.1  # features of a useful scale, not all near zero


def test_our_pipeline_equals_torch_fidelity_calculate_metrics() -> None:
    """torch-fidelity's own end-to-end run (its data loading, extraction and metrics) on the
    registered 'bench-small' extractor gives the numbers `generation_metrics` gives."""
    import torch_fidelity

    class Images(torch.utils.data.Dataset):
        def __init__(self, x: np.ndarray):
            self.x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> torch.Tensor:
            return self.x[i]

    real = uint8_images(1, 150)
    fake = np.clip(uint8_images(2, 150).astype(int) // 2 + 60, 0, 255).astype(np.uint8)
    tf = torch_fidelity.calculate_metrics(
        input1=Images(fake),
        input2=Images(real),
        feature_extractor="bench-small",
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        kid_subset_size=100,
        prc_neighborhood=5,
        cuda=False,
        save_cpu_ram=True,
        cache=False,
        verbose=False,
    )
    extractor = build_extractor("small")
    real_f, fake_f = extractor(real), extractor(fake)
    settings = GenerationSettings(kid_subset_size=100, prd_runs=1, prd_clusters_per_class=1)
    ours = generation_metrics(
        real_f["features"], fake_f["features"], fake_f["logits"], settings, 10
    )
    assert ours["fid"] == pytest.approx(tf["frechet_inception_distance"], rel=1e-5)
    assert ours["fid"] > 1.0  # the two sets differ, so the check is not 0 == 0
    assert ours["kid_mean"] == pytest.approx(tf["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["is_mean"] == pytest.approx(tf["inception_score_mean"], rel=1e-6)
    assert ours["precision"] == pytest.approx(tf["precision"], abs=1 / 150)
    assert ours["recall"] == pytest.approx(tf["recall"], abs=1 / 150)


# inception ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torch-fidelity's InceptionV3 state dict, with random weights, in its file format."""
    from unittest import mock

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    folder = tmp_path_factory.mktemp("inception")
    torch.save({}, folder / "empty.pth")
    torch.manual_seed(0)
    # Build the architecture without loading weights, only to write its state dict to a file.
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        model = FeatureExtractorInceptionV3(
            "inception-v3-compat",
            ["2048"],
            feature_extractor_weights_path=str(folder / "empty.pth"),
        )
    path = folder / INCEPTION_FILE
    torch.save(model.state_dict(), path)
    return path


def test_inception_loads_a_local_weights_file(random_inception_weights: Path) -> None:
    extractor = build_extractor(f"inception:{random_inception_weights}")
    out = extractor(uint8_images(3, 2))
    assert out["features"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    assert extractor.feature == "2048" and extractor.logits == "logits_unbiased"
    assert len(extractor.identity["sha256"]) == 64


def test_inception_found_through_the_environment_variable(
    random_inception_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_INCEPTION_WEIGHTS", str(random_inception_weights))
    assert build_extractor("inception").name == "inception"


def test_missing_inception_weights_say_which_file_goes_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(BenchError) as err:
        build_extractor("inception")
    message = str(err.value)
    assert INCEPTION_FILE in message and "nothing is downloaded" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / INCEPTION_FILE) in message


def test_a_file_that_is_not_inception_weights_is_named(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(BenchError, match=r"other\.pth is not torch-fidelity's InceptionV3"):
        build_extractor(f"inception:{path}")


# clip --------------------------------------------------------------------------------------------


def tiny_clip_config():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=4,
        projection_dim=16,
    )


def test_clip_projected_embeddings_from_a_local_directory(tmp_path: Path) -> None:
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(tiny_clip_config()).eval()
    model.save_pretrained(tmp_path / "clip")
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    CLIPImageProcessor(image_mean=mean, image_std=std).save_pretrained(tmp_path / "clip")
    extractor = build_extractor(f"clip:{tmp_path / 'clip'}")
    images = uint8_images(4, 3, size=32)  # already at the model's resolution
    out = extractor(images)
    assert out["features"].shape == (3, 16) and "logits" not in out
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    pixel = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model(pixel_values=pixel).image_embeds.numpy()
    np.testing.assert_allclose(out["features"], expected, rtol=1e-4, atol=1e-5)
    assert extractor.identity["embedding"] == "projection"


def test_clip_without_projection_uses_the_pooled_output(tmp_path: Path) -> None:
    from transformers import CLIPVisionModel

    CLIPVisionModel(tiny_clip_config()).save_pretrained(tmp_path / "tower")
    extractor = build_extractor(f"clip:{tmp_path / 'tower'}")
    assert extractor.identity["embedding"] == "pooler"
    assert extractor(uint8_images(5, 2))["features"].shape == (2, 32)


def test_clip_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="does not exist"):
        build_extractor(f"clip:{tmp_path / 'nothing'}")
    with pytest.raises(BenchError, match=r"is not on this machine.*nothing is downloaded"):
        build_extractor("clip:bench-tests/no-such-clip-model")


# classifier --------------------------------------------------------------------------------------


def run_loader() -> ExtractorContext:
    """The context bench eval-gen builds: bench.metrics gets the run loader from its caller."""
    from bench.runs.models import load_classifier

    return ExtractorContext("cpu", None, load_classifier)


def test_classifier_extractor_gives_the_run_classifiers_features(tmp_path: Path) -> None:
    from bench.data.torchdata import ArrayImages
    from bench.io import atomic_write_json
    from bench.runs.config import resolve
    from bench.train.backbones import build_classifier

    config = resolve("erm", "digits-lt")  # small-cnn, 16 x 16 grayscale, normalize "half"
    run_dir = tmp_path / "runs" / config.run_name
    atomic_write_json(run_dir / "config.json", config.to_json())
    torch.manual_seed(0)
    model = build_classifier("small-cnn", 10, 1).eval()
    torch.save(model.state_dict(), run_dir / "model_best.pt")

    gray = np.random.default_rng(6).integers(0, 256, (5, 16, 16, 1), dtype=np.uint8)
    extractor = build_extractor(f"classifier:{run_dir}", run_loader())
    out = extractor(np.repeat(gray, 3, axis=-1))
    # The evaluation pre-processing the runner uses, then Classifier.features / head.
    x = torch.stack([ArrayImages(gray, np.zeros(5), 16, "half", "none")[i][0] for i in range(5)])
    with torch.no_grad():
        features = model.features(x)
        logits = model.head(features)
    np.testing.assert_allclose(out["features"], features.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["logits"], logits.numpy(), rtol=1e-5, atol=1e-5)
    assert extractor.identity["checkpoint"] == "model_best.pt"


def test_classifier_extractor_needs_a_finished_run(tmp_path: Path) -> None:
    from bench.io import atomic_write_json
    from bench.runs.config import resolve

    with pytest.raises(BenchError, match="not a bench run directory"):
        build_extractor(f"classifier:{tmp_path}", run_loader())
    atomic_write_json(tmp_path / "config.json", resolve("erm", "digits-lt").to_json())
    with pytest.raises(BenchError, match=r"model_best\.pt does not exist"):
        build_extractor(f"classifier:{tmp_path}", run_loader())
    with pytest.raises(BenchError, match="needs a run"):
        build_extractor("classifier", run_loader())
    with pytest.raises(BenchError, match="needs a run loader"):
        build_extractor(f"classifier:{tmp_path}")


def test_unknown_extractor_suggests_close_names() -> None:
    with pytest.raises(BenchError, match="Did you mean 'inception'"):
        build_extractor("incepton")
