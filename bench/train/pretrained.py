"""Which pretrained file a classifier backbone loads (torch-free, so a run checks its weights
before torch is imported): the names of the harness's and torchvision's backbones, and
`pretrained_requirement` (bench.train.backbones reads the file it names)."""

from __future__ import annotations

from bench import weights
from bench.errors import ConfigError

SMALL_CNN = "small-cnn"
RESNET32 = "resnet32"
# torchvision models whose IMAGENET1K_V1 weights classifier-balancing, DA-Fusion and SubpopBench
# load (the manifest entry of the same name); "tv-" keeps them apart from timm's same-named models
# (differently trained weights).
TORCHVISION = {
    "tv-resnet18": "resnet18",
    "tv-resnet50": "resnet50",
    "tv-resnet152": "resnet152",
    "tv-resnext50_32x4d": "resnext50_32x4d",
}
# Tiny members of the ResNet / ResNeXt families (one block per stage), for smoke runs: the
# protocol's kind of network, trained from scratch in a fraction of a second on a CPU.
TINY = {
    "tiny-resnet": {"block": "BasicBlock"},
    "tiny-resnext": {"block": "Bottleneck", "groups": 32, "width_per_group": 4},
}
# The backbones bench builds itself: never pretrained, whatever a dataset's hf-cache default says.
HARNESS = (SMALL_CNN, RESNET32, *TINY)
TORCH_HUB = "torch-hub"
HF_CACHE = "hf-cache"
TIMM_FILE = "model.safetensors"  # the file timm reads first from a Hugging Face repository


def pretrained_requirement(backbone: str, pretrained: str | None) -> weights.Requirement | None:
    """The file `build_classifier(backbone, pretrained=...)` reads (None: from scratch): a
    torchvision file of the torch hub cache, timm weights in the Hugging Face cache, or a local
    state_dict. The harness's own backbones have no hf-cache weights: a dataset's hf-cache
    default leaves them from scratch. Cheap (no weights read; timm imported only for a name the
    manifest lacks)."""
    if pretrained in (None, "none"):
        return None
    entry = weights.for_backbone(backbone)
    if pretrained == TORCH_HUB:
        if backbone not in TORCHVISION:
            raise ConfigError(
                f"recipe: pretrained='torch-hub' is for torchvision backbones "
                f"({', '.join(TORCHVISION)}), not {backbone!r}; give a local state_dict path "
                "instead."
            )
        return weights.artefact_requirement(weights.artefact(backbone))
    if pretrained != HF_CACHE:
        return weights.Requirement(f"the state_dict {pretrained}", path=pretrained)
    if backbone in HARNESS:
        return None  # built by the harness, never pretrained: the dataset's hf-cache default
    if backbone in TORCHVISION:
        raise ConfigError(
            f"recipe: pretrained='hf-cache' is for timm models; {backbone!r} is torchvision's: "
            "its ImageNet weights are recipe.pretrained=torch-hub (or give a local state_dict "
            "path, or pretrained=none)."
        )
    if entry is not None:
        return weights.artefact_requirement(entry)
    return timm_requirement(backbone)


def timm_requirement(backbone: str) -> weights.Requirement:
    """timm's default pretrained weights of a model the manifest does not list."""
    # timm: heavy, imported where used (off the start-up path)
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(backbone)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise ConfigError(
            f"recipe: pretrained='hf-cache', but timm has no Hugging Face weights for "
            f"{backbone!r}. Give a local state_dict path, or pretrained=none."
        )
    return weights.Requirement(f"timm {repo} (not in the manifest)", repo=repo, files=(TIMM_FILE,))
