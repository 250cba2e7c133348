"""Loading a finished run's classifier: one loader for every consumer.

FG's feedback classifier (a run dependency) and the `classifier` feature extractor of
`bench eval-gen` both read a run directory through `load_classifier`: its settings from
config.json, the checkpoint its selection rule picked, `weights_only=True`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.io import read_json
from bench.runs.config import RunConfig


@dataclass
class LoadedClassifier:
    """A run's trained classifier with what is needed to feed it images."""

    model: Any  # bench.train.backbones.Classifier, in eval mode
    run_dir: Path
    checkpoint: Path
    config: dict[str, Any]
    num_classes: int
    channels: int
    image_size: int | None
    normalize: str

    @property
    def dataset(self) -> str:
        return self.config["dataset"]


def load_classifier(run_dir: str | Path, device: str = "cpu") -> LoadedClassifier:
    """The classifier a finished run selected (model_best.pt or model_last.pt)."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    # torch: heavy, imported where used (off the start-up path)
    from bench.train.backbones import build_classifier

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise BenchError(f"{run_dir} is not a bench run directory (it has no config.json).")

    config = read_json(config_path)
    recipe = RunConfig.from_json(config).recipe_settings
    checkpoint = run_dir / ("model_best.pt" if recipe.selection == "best-val" else "model_last.pt")
    if not checkpoint.is_file():
        raise BenchError(
            f"{checkpoint} does not exist: {run_dir} is not a finished run (bench run writes "
            "model_best.pt and model_last.pt when it finishes). Finish or rerun it."
        )
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    num_classes, channels = int(state["head.weight"].shape[0]), input_channels(state)
    model = build_classifier(recipe.backbone, num_classes, channels)
    model.load_state_dict(state)
    model.to(device).eval()
    return LoadedClassifier(
        model=model,
        run_dir=run_dir,
        checkpoint=checkpoint,
        config=config,
        num_classes=num_classes,
        channels=channels,
        image_size=config["data"].get("image_size"),
        normalize=recipe.normalize,
    )


def input_channels(state: dict[str, Any]) -> int:
    """In-channels of the first convolution (or patch embedding) of a saved classifier."""
    for value in state.values():
        if value.ndim == 4:
            return int(value.shape[1])
    raise BenchError("cannot tell the classifier's input channels: it has no convolution.")
