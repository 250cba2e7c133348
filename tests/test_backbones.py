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


def test_cifar_resnet32_is_ldam_drws() -> None:
    model = build_classifier("resnet32", num_classes=100, channels=3)
    # LDAM-DRW's resnet32 ("0.46 M"), counted by hand: stem 432 + 32; stage 1: 5 x (2 x 2,304 +
    # 64); stage 2: 4,608 + 9,216 + 128, then 4 x (2 x 9,216 + 128); stage 3: 18,432 + 36,864 +
    # 256, then 4 x (2 x 36,864 + 256); linear 6,400 + 100 (LWS scales not counted).
    n = sum(p.numel() for name, p in model.named_parameters() if name != "scales")
    assert n == 470_004
    x = torch.randn(2, 3, 32, 32)
    assert model.features(x).shape == (2, 64) and model(x).shape == (2, 100)


def test_torchvision_weights_from_a_local_file_and_the_torch_hub_cache(tmp_path, monkeypatch):
    import torchvision

    source = torchvision.models.resnet18(weights=None)  # random weights, torchvision's keys
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    model = build_classifier("tv-resnet18", 5, 3, pretrained=str(tmp_path / "r18.pth"))
    body = model.features.state_dict()
    assert all(torch.equal(body[k], v) for k, v in source.state_dict().items() if k in body)
    assert "fc.weight" not in body  # the 1000-way layer is not loaded; the head is new

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match=r"not in the torch hub cache .*resnet18-f37072fd\.pth"):
        build_classifier("tv-resnet18", 5, 3, pretrained="torch-hub")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "r18.pth").rename(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    hub = build_classifier("tv-resnet18", 5, 3, pretrained="torch-hub").features.state_dict()
    assert all(torch.equal(hub[k], body[k]) for k in body)
    with pytest.raises(ConfigError, match=r"'torch-hub' is for torchvision backbones"):
        build_classifier("small-cnn", 5, 1, pretrained="torch-hub")


def test_weights_of_another_architecture_report_missing_and_unexpected_keys(tmp_path) -> None:
    torch.save(build_classifier("small-cnn", 3, 3).state_dict(), tmp_path / "cnn.pt")
    with pytest.raises(ConfigError, match=r"do not fit.*\d+ missing keys \[.*\d+ unexpected keys"):
        build_classifier("resnet32", 3, 3, pretrained=str(tmp_path / "cnn.pt"))
    torch.save(build_classifier("small-cnn", 3, 1).state_dict(), tmp_path / "gray.pt")
    with pytest.raises(ConfigError, match=r"1 keys of another shape \[body\.0\.weight\]"):
        build_classifier("small-cnn", 3, 3, pretrained=str(tmp_path / "gray.pt"))
