"""Classifier backbones by name: a small CNN for tiny images, or any timm model."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from bench.errors import ConfigError
from bench.registry import suggest

log = logging.getLogger(__name__)
SMALL_CNN = "small-cnn"


class SmallCNN(nn.Module):
    """Conv-BN-ReLU stages (max-pooling between them), global average pooling; for 8-32 px."""

    def __init__(self, in_chans: int, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_chans
        for i, w in enumerate(widths):
            layers += [
                nn.Conv2d(c, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
            ]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Classifier(nn.Module):
    """A feature extractor plus a linear head; `features(x)` gives the penultimate features."""

    def __init__(self, features: nn.Module, num_features: int, num_classes: int):
        super().__init__()
        self.features = features
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def check_backbone(name: str) -> None:
    """Fail early, with close matches, on a backbone name neither we nor timm know."""
    if name == SMALL_CNN:
        return
    import timm

    known = timm.list_models()
    if name not in known:
        hints = suggest(name, [SMALL_CNN, *known])
        hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
        raise ConfigError(
            f"recipe: unknown backbone {name!r}.{hint} Use 'small-cnn' or a name from "
            "timm.list_models()."
        )


def build_classifier(
    backbone: str, num_classes: int, channels: int, pretrained: str | None = None
) -> Classifier:
    if backbone == SMALL_CNN:
        body: nn.Module = SmallCNN(channels)
        num_features = body.num_features
    else:
        import timm

        body = timm.create_model(
            backbone, pretrained=pretrained == "hf-cache", num_classes=0, in_chans=channels
        )
        num_features = body.num_features
    if pretrained and pretrained != "hf-cache":
        load_local_weights(body, pretrained)
    return Classifier(body, num_features, num_classes)


def load_local_weights(body: nn.Module, path: str) -> None:
    """Load a local state_dict into the feature extractor; head weights in it are ignored."""
    state = read_weights(path)
    missing, unexpected = body.load_state_dict(state, strict=False)
    log.info("loaded %s: %d missing, %d unexpected keys", path, len(missing), len(unexpected))


def read_weights(path: str) -> dict[str, Any]:
    """A local state_dict (tensors only: weights_only), or a ConfigError saying what is wrong."""
    from pathlib import Path

    if not Path(path).is_file():
        raise ConfigError(f"recipe: pretrained weights {path} do not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways on a file that is no checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"recipe: pretrained={path} is not a PyTorch state_dict checkpoint ({first}). "
            "Point it at a file written by torch.save(model.state_dict(), path)."
        ) from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(
            f"recipe: pretrained={path} holds no state_dict (a mapping of parameter names to "
            "tensors). Save one with torch.save(model.state_dict(), path)."
        )
    return state
