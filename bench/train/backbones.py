"""Classifier backbones by name: a small CNN for tiny images, LDAM-DRW's CIFAR ResNet-32,
torchvision's ResNet / ResNeXt (with IMAGENET1K_V1 weights from a local file or the torch hub
cache), or any timm model (with its weights from the Hugging Face cache). Pretrained weights are
entries of the weights manifest (bench/weights.yaml), read from local files only: nothing is
downloaded and nothing retries a network (bench.train.pretrained says which file; a run checks
it before any work)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench import weights
from bench.errors import ConfigError
from bench.registry import did_you_mean
from bench.train.pretrained import (
    HF_CACHE,
    RESNET32,
    SMALL_CNN,
    TINY,
    TORCHVISION,
    pretrained_requirement,
)

log = logging.getLogger(__name__)
# Last-layer keys a pretrained file may hold that the feature extractor does not have.
HEAD_KEYS = ("fc.", "head.", "classifier.", "scales")


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


class CifarBlock(nn.Module):
    """LDAM-DRW's BasicBlock (models/resnet_cifar.py): two 3x3 convs, option-A shortcut
    (stride-2 subsampling and zero-padded channels)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = (c_out - c_in) // 2 if stride != 1 or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.pad is not None:
            short = nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return torch.relu(out + short)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images: 16-32-64 channels, n blocks per stage (n=5: ResNet-32),
    Kaiming-normal convolutions, as LDAM-DRW's resnet32 (the backbone CBDM and SYNAuG train on
    CIFAR-LT)."""

    def __init__(self, in_chans: int, blocks: int = 5):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        ]
        c = 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(blocks):
                layers.append(CifarBlock(c, width, stride if i == 0 else 1))
                c = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_features = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def torchvision_body(name: str) -> tuple[nn.Module, int]:
    """A torchvision model without its fc layer (fc = Identity), randomly initialised."""
    # torchvision: heavy, imported where used (off the start-up path)
    import torchvision

    model = getattr(torchvision.models, TORCHVISION[name])(weights=None)
    num_features = model.fc.in_features
    model.fc = nn.Identity()
    return model, num_features


def tiny_body(name: str) -> tuple[nn.Module, int]:
    """A torchvision ResNet / ResNeXt with one block per stage, randomly initialised."""
    # torchvision: heavy, imported where used (off the start-up path)
    from torchvision.models import resnet

    spec = dict(TINY[name])
    block = getattr(resnet, spec.pop("block"))
    model = resnet.ResNet(block, [1, 1, 1, 1], **spec)
    num_features = model.fc.in_features
    model.fc = nn.Identity()
    return model, num_features


def pretrained_file(backbone: str, pretrained: str | None) -> str | None:
    """The local file of a backbone's pretrained weights, or a ConfigError naming what is
    missing and how to stage it (nothing is downloaded; no network is tried)."""
    req = pretrained_requirement(backbone, pretrained)
    if req is None:
        return None
    status = weights.check(req)
    if not status.ok:
        fetch = ""
        if req.artefact is not None:
            fetch = f"`bench weights download {req.artefact.name}` on a machine with network, or "
        raise ConfigError(
            f"recipe: pretrained={pretrained}: {req.what} [{req.source}] is {status.state}: "
            f"{status.detail}. Stage it ({fetch}copy the file there), "
            "give a local state_dict path, or train from scratch (pretrained=none)."
        )
    assert status.where is not None
    return str(status.where / req.files[0] if req.repo else status.where)


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
    if name in (SMALL_CNN, RESNET32) or name in TORCHVISION or name in TINY:
        return
    # timm: heavy, imported where used (off the start-up path)
    import timm

    known = timm.list_models()
    if name not in known:
        hint = did_you_mean(name, [SMALL_CNN, RESNET32, *TORCHVISION, *TINY, *known])
        raise ConfigError(
            f"recipe: unknown backbone {name!r}.{hint} Use 'small-cnn', 'resnet32', "
            f"{', '.join(repr(t) for t in TORCHVISION)} or a name from timm.list_models()."
        )


def build_classifier(
    backbone: str,
    num_classes: int,
    channels: int,
    pretrained: str | None = None,
    normed_head: bool = False,
) -> Classifier:
    file = pretrained_file(backbone, pretrained)  # local only: missing weights fail here, at once
    if backbone == SMALL_CNN:
        body: nn.Module = SmallCNN(channels)
        num_features = body.num_features
    elif backbone == RESNET32:
        body = CifarResNet(channels)
        num_features = body.num_features
    elif backbone in TORCHVISION:
        body, num_features = torchvision_body(backbone)
    elif backbone in TINY:
        body, num_features = tiny_body(backbone)
    else:
        # timm: heavy, imported where used (off the start-up path)
        import timm

        from_hub = pretrained == HF_CACHE  # timm's own loader: it adapts in_chans and heads
        body = timm.create_model(
            backbone,
            pretrained=from_hub,
            num_classes=0,
            in_chans=channels,
            **({"pretrained_cfg_overlay": {"file": file}} if from_hub else {}),
        )
        num_features = body.num_features
        file = None if from_hub else file
    if file:
        load_local_weights(body, file)
    return Classifier(body, num_features, num_classes, normed_head)


def load_local_weights(body: nn.Module, path: str) -> None:
    """Load a local state_dict into the feature extractor; last-layer weights in it (fc.*,
    head.*, classifier.*) are ignored. Any other mismatch (a file of another architecture) is
    an error listing the missing and unexpected keys."""
    state = read_weights(path)
    state = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel saves
    state = {k.removeprefix("features."): v for k, v in state.items()}  # a bench Classifier
    body_keys = set(body.state_dict())
    missing = sorted(body_keys - set(state))
    unexpected = sorted(k for k in set(state) - body_keys if not k.startswith(HEAD_KEYS))
    shapes = sorted(
        k
        for k in body_keys & set(state)
        if tuple(state[k].shape) != tuple(body.state_dict()[k].shape)
    )
    if missing or unexpected or shapes:

        def show(keys: list[str]) -> str:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            return (", ".join(keys[:5]) + more) if keys else "none"

        raise ConfigError(
            f"recipe: pretrained weights {path} do not fit backbone {type(body).__name__}: "
            f"{len(missing)} missing keys [{show(missing)}], {len(unexpected)} unexpected keys "
            f"[{show(unexpected)}], {len(shapes)} keys of another shape [{show(shapes)}]. Use a "
            "state_dict saved from the same architecture."
        )
    body.load_state_dict({k: v for k, v in state.items() if k in body_keys})
    log.info("loaded pretrained weights %s (%d tensors)", path, len(body_keys))


def read_weights(path: str) -> dict[str, Any]:
    """A local state_dict (tensors only: weights_only), or a ConfigError saying what is wrong."""

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
