"""Classifier backbones by name: a small CNN for tiny images, or any timm model."""

from __future__ import annotations

import logging

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


class NormedLinear(nn.Module):
    """Cosine classifier: normalised features times normalised weight columns (LDAM-DRW's
    official models/resnet_cifar.py NormedLinear, weights uniform(-1, 1) renormed)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x, dim=1) @ nn.functional.normalize(self.weight, dim=0)


class Classifier(nn.Module):
    """A feature extractor plus a linear head; `features(x)` gives the penultimate features.

    `scales` are LWS's per-class logit scales (Kang et al. 2020): ones, trained only by a stage
    that `trains: lws` (multiplying by 1.0 leaves the logits bitwise unchanged otherwise).
    """

    def __init__(
        self, features: nn.Module, num_features: int, num_classes: int, normed: bool = False
    ):
        super().__init__()
        self.features = features
        self.head = (NormedLinear if normed else nn.Linear)(num_features, num_classes)
        self.scales = nn.Parameter(torch.ones(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)) * self.scales


TRAINABLE = {
    "all": lambda name: not name.startswith("scales"),
    "head": lambda name: name.startswith("head."),
    "lws": lambda name: name.startswith("scales"),
}


def check_separable(model: nn.Module, trains: str, where: str) -> None:
    """A head-only or LWS stage needs a feature extractor and a separate last layer."""
    if trains == "all":
        return
    head = getattr(model, "head", None)
    if not (
        isinstance(model, Classifier)
        and hasattr(model, "features")
        and isinstance(head, (nn.Linear, NormedLinear))
    ):
        raise ConfigError(
            f"{where}: trains={trains!r} needs a backbone with a separable last layer "
            f"(features + linear head); {type(model).__name__} has none. Use trains='all', or "
            f"a backbone built by bench (valid trains: {', '.join(TRAINABLE)})."
        )


def set_trainable(model: nn.Module, trains: str, where: str = "recipe") -> list[nn.Parameter]:
    """Freeze everything but what `trains` names; returns the parameters left trainable."""
    check_separable(model, trains, where)
    keep = TRAINABLE[trains]
    out = []
    for name, param in model.named_parameters():
        param.requires_grad_(keep(name))
        if param.requires_grad:
            out.append(param)
    return out


def train_mode(model: nn.Module, trains: str) -> None:
    """model.train(), but a frozen backbone stays in eval mode (its BN statistics unchanged)."""
    model.train()
    if trains != "all":
        model.features.eval()


def reset_head(model: Classifier) -> None:
    """Re-initialise the last layer as a new one would be (cRT, DFR), from torch's RNG."""
    model.head.reset_parameters()


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
    backbone: str,
    num_classes: int,
    channels: int,
    pretrained: str | None = None,
    normed_head: bool = False,
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
    return Classifier(body, num_features, num_classes, normed_head)


def load_local_weights(body: nn.Module, path: str) -> None:
    """Load a local state_dict into the feature extractor; head weights in it are ignored."""
    from pathlib import Path

    if not Path(path).is_file():
        raise ConfigError(f"recipe: pretrained weights {path} do not exist.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    missing, unexpected = body.load_state_dict(state, strict=False)
    log.info("loaded %s: %d missing, %d unexpected keys", path, len(missing), len(unexpected))
