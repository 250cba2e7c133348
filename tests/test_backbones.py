"""Backbones by name: the small CNN and timm models, with penultimate features."""

from __future__ import annotations

import pytest
import torch

from bench.errors import ConfigError
from bench.train.backbones import build_classifier, check_backbone


@pytest.mark.parametrize(
    ("name", "channels", "size", "width"), [("small-cnn", 1, 16, 128), ("resnet18", 3, 32, 512)]
)
def test_classifier_gives_logits_and_features(name, channels, size, width) -> None:
    model = build_classifier(name, num_classes=7, channels=channels).eval()
    x = torch.randn(2, channels, size, size)
    assert model(x).shape == (2, 7)
    assert model.features(x).shape == (2, width)
    assert torch.allclose(model.head(model.features(x)), model(x))


def test_unknown_backbone_suggests_close_names() -> None:
    check_backbone("small-cnn")
    check_backbone("resnet18")
    with pytest.raises(ConfigError, match=r"unknown backbone 'resnet-18'.*resnet18"):
        check_backbone("resnet-18")


def test_local_pretrained_weights_load_into_the_features(tmp_path) -> None:
    source = build_classifier("small-cnn", num_classes=3, channels=1)
    torch.save(source.features.state_dict(), tmp_path / "w.pt")
    loaded = build_classifier("small-cnn", 3, 1, pretrained=str(tmp_path / "w.pt"))
    for a, b in zip(
        source.features.state_dict().values(), loaded.features.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="do not exist"):
        build_classifier("small-cnn", 3, 1, pretrained=str(tmp_path / "missing.pt"))
