"""The embedded pretrained generator: the `ddpm` backend pretrained on the printed-digits corpus.

In FG, augmentation-conditioning, Fill-Up and SYNAuG the generator was pretrained on broad web
data and already knows every class; the methods steer it towards the long-tailed target. With
`pretrained_generator=printed-digits` the `ddpm` backend plays that part offline (issue 14):

1. the corpus: `printed-digits` (datasets/printed_digits.py) at the generator's size and
   channels, `pretrain_per_class` images per digit (on colored-digits, painted on its background
   colours, balanced per class: the dataset's `info["printed_corpus"]` names those options);
2. with `image_conditioning`, the image encoder (the CLIP image encoder's analogue): the ddpm's
   small CNN encoder trained for `encoder_steps` as a 10-way classifier on the corpus (shifted
   views, cross-entropy), then frozen; it also embeds the real handwritten images the methods
   condition on;
3. the DDPM: the backend's own training (`DDPMGenerator.fit`, its settings unchanged) on the
   corpus, conditioned on the class and the frozen encoder's embedding.

The result is a model directory `<cache>/pretrained/<key>/` (key: the corpus digest and the
settings that shape the model), written once under a lock and resumable, with a
`model_index.json` as the `sd` / `unclip` weights have, and read back through the same loader
(`bench.generators.pretrained.weights_dir`, and its digest in cache keys). `pretrained_dir=DIR`
uses a directory made elsewhere instead. A run's generator is then that model as it is: its fit
on the long-tailed data copies it (nothing is trained on the real images).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.datasets.printed_digits import Options, PrintedDigits
from bench.errors import ConfigError, DataError
from bench.generators.ddpm_settings import DDPMSettings, settings_key
from bench.generators.pretrained import weights_digest, weights_dir
from bench.hparams import build
from bench.io import atomic_write_json, file_lock, inside, read_json, seed_hash, stable_hash

# Bump when the pretraining changes what it produces for the same settings.
VERSION = 1
MODEL_ID = "bench/ddpm-printed-digits"
DIGITS = [str(d) for d in range(10)]


def is_pretrained(settings: Any) -> bool:
    return settings.pretrained_generator != "none" or settings.pretrained_dir is not None


def pretraining_settings(settings: DDPMSettings) -> DDPMSettings:
    """The settings the pretrained model is trained with: the run's, as a plain DDPM on the
    balanced corpus (no class re-balancing or CBDM, no fine-tuning start)."""
    base = DDPMSettings()
    return dataclasses.replace(
        settings,
        label_sampling=base.label_sampling,
        cbdm_tau=base.cbdm_tau,
        cbdm_label_set=base.cbdm_label_set,
        init_from=None,
        pretrained_generator="none",
        pretrained_dir=None,
    )


def corpus_options(settings: Any, data: Any, image_size: int, channels: int) -> dict[str, Any]:
    """The printed-digits options of the corpus for this run's data and generator geometry."""
    return {
        **dict(data.info.get("printed_corpus") or {}),
        "per_class": settings.pretrain_per_class,
        "image_size": image_size,
        "channels": channels,
    }


def check_data(settings: Any, data: Any) -> None:
    """Fail before any work where the pretrained generator cannot serve this data."""
    if not is_pretrained(settings):
        return
    if list(data.class_names) != DIGITS:
        raise ConfigError(
            f"pretrained_generator={settings.pretrained_generator}: the pretrained generator "
            "knows the digits 0-9; "
            f"{data.name} has {data.num_classes} classes ({', '.join(data.class_names[:4])}"
            f"{', ...' if data.num_classes > 4 else ''}). Use it on digits-lt or colored-digits, "
            "or set pretrained_generator=none."
        )
    if settings.pretrained_dir is None:
        corpus = 10 * settings.pretrain_per_class
        if corpus < settings.batch_size:
            raise ConfigError(
                f"pretrain_per_class={settings.pretrain_per_class}: a printed-digits corpus of "
                f"{corpus} images is smaller than the generator's batch_size="
                f"{settings.batch_size}. Raise pretrain_per_class to at least "
                f"{-(-settings.batch_size // 10)} or lower batch_size."
            )


def model_dir(settings: Any) -> Path:
    """A pretrained model directory given by the user, checked by the sd / unclip loader."""

    spec = SimpleNamespace(model_dir=settings.pretrained_dir, model_id=MODEL_ID, revision="local")
    return weights_dir(spec)


def identity(settings: Any) -> dict[str, Any]:
    """What names the pretrained weights in cache keys (before they exist, for the stage)."""
    if settings.pretrained_dir is not None:
        path = model_dir(settings)
        return {"pretrained_dir": str(path), "digest": weights_digest(path)}
    if settings.pretrained_generator != "none":
        return {"pretrained": settings.pretrained_generator, "pretrain_version": VERSION}
    return {}


def check_geometry(path: Path, num_classes: int, image_size: int, channels: int, embed: bool):
    """The pretrained model's classes, size, channels and conditioning must be this run's."""
    meta_file = path / "generator.json"
    if not meta_file.is_file():
        raise DataError(
            f"pretrained_dir={path} holds no ddpm generator (generator.json is missing): give a "
            "directory the harness pretrained (<results>/cache/pretrained/<key>)."
        )
    meta = read_json(meta_file)
    theirs = (meta.get("num_classes"), meta.get("image_size"), meta.get("channels"))
    mine = (num_classes, image_size, channels)
    if theirs != mine:
        raise ConfigError(
            f"pretrained_dir={path}: that generator makes (classes, size, channels) = {theirs}, "
            f"this run needs {mine}. Use a generator pretrained for this geometry (or leave "
            "pretrained_dir unset so the harness pretrains one)."
        )
    has_embed = bool((meta.get("settings") or {}).get("image_conditioning"))
    if embed and not has_embed:
        raise ConfigError(
            f"pretrained_dir={path}: that generator takes no image embedding, this method "
            "conditions on real images (image_conditioning=true)."
        )


def ensure(model: Any, data: Any, root: Path, progress: bool) -> Path:
    """The pretrained model directory for `model`'s run (a DDPMGenerator: its settings and
    geometry): the user's, or pretrained once into root by `type(model).pretrain`."""
    settings, image_size, channels = model.settings, model.image_size, model.channels
    if settings.pretrained_dir is not None:
        path = model_dir(settings)
        check_geometry(path, data.num_classes, image_size, channels, settings.image_conditioning)
        return path
    check_data(settings, data)
    corpus = load_corpus(corpus_options(settings, data, image_size, channels))
    plain = pretraining_settings(settings)
    key = stable_hash(
        {
            "version": VERSION,
            "corpus": corpus.info["corpus_digest"],
            "settings": settings_key(plain),
        }
    )
    path = inside(root, key)
    path.mkdir(parents=True, exist_ok=True)
    with file_lock(Path(root) / f"{key}.lock"):
        if not (path / "done").exists():
            start = time.time()
            info = type(model).pretrain(plain, corpus, path, seed_hash(key, "pretrain"), progress)
            info["seconds"] = round(time.time() - start, 2)
            atomic_write_json(
                path / "model_index.json",
                {
                    "_class_name": "BenchDDPM",
                    "backend": "ddpm",
                    "model_id": MODEL_ID,
                    "corpus": {"name": corpus.name, **corpus.info},
                    "pretraining": info,
                },
            )
            atomic_write_json(path / "done", {"key": key})
    return path


def load_corpus(options: dict[str, Any]) -> Any:
    return PrintedDigits(build(Options, options, "printed-digits corpus")).load()
