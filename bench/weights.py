"""The pretrained artefacts bench can load, where they live on disk, and whether they are there.

`bench/weights.yaml` is the manifest: every generator pipeline, classifier backbone and feature
extractor a protocol uses, with its repository (or URL), revision and the exact files read. The
code names its defaults through it (`repo_of`, `url_of`, `for_backbone`), so the two cannot
drift (tests/test_weights.py resolves every method x dataset and checks).

Where weights are read from, never downloaded while running:
- Hugging Face repositories: the Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else
  ~/.cache/huggingface/hub), `models--ORG--NAME/refs/REVISION` -> `snapshots/COMMIT/FILES`; or a
  folder written by `save_pretrained` (a generator's `model_dir`);
- single files (torchvision, torch-fidelity): the torch hub cache, `TORCH_HUB/checkpoints/FILE`.

`check(requirement)` looks at the files only (no network, no torch import for Hugging Face
artefacts) and says present / missing / incomplete (which file) / mismatch (another pipeline
class, another revision than the manifest's); `download(artefact)` fetches exactly the
manifest's files, for a machine with network (`bench weights download`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import BenchError
from bench.registry import unknown_name_message

MANIFEST = Path(__file__).with_name("weights.yaml")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Pipeline components bench never loads (it passes safety_checker=None).
UNLOADED = ("safety_checker",)
# Component classes that hold no weights (configs and vocabularies only).
WEIGHTLESS = ("Scheduler", "Tokenizer", "Processor", "FeatureExtractor")


@dataclass(frozen=True)
class Artefact:
    """One manifest entry."""

    name: str
    title: str
    kind: str  # "hf": a Hugging Face repository; "url": one file of the torch hub cache
    files: dict[str, str | None]  # file -> its size as listed (None: not confirmed)
    repo: str | None = None
    revision: str | None = None
    url: str | None = None
    pipeline: str | None = None  # the diffusers class model_index.json names
    backbone: str | None = None  # the recipe.backbone name it serves
    used_by: str = ""
    contains: str = ""
    unconfirmed: str = ""

    @property
    def source(self) -> str:
        return f"{self.repo}@{self.revision}" if self.kind == "hf" else str(self.url)


@functools.cache
def manifest() -> dict[str, Artefact]:
    """Every entry of bench/weights.yaml, by name."""
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["artefacts"]
    out = {}
    for name, entry in data.items():
        files = {str(k): (None if v is None else str(v)) for k, v in entry.pop("files").items()}
        out[name] = Artefact(name=name, files=files, **{k: str(v) for k, v in entry.items()})
    return out


def artefact(name: str) -> Artefact:
    entries = manifest()
    if name not in entries:
        raise BenchError(unknown_name_message("weights entry", name, list(entries)))
    return entries[name]


def repo_of(name: str) -> str:
    """The repository id of a manifest entry (settings defaults name their weights this way)."""
    return str(artefact(name).repo)


def url_of(name: str) -> str:
    return str(artefact(name).url)


def find(repo: str | None = None, url: str | None = None) -> Artefact | None:
    """The manifest entry of a repository id or URL, or None."""
    for entry in manifest().values():
        if (repo is not None and entry.repo == repo) or (url is not None and entry.url == url):
            return entry
    return None


def for_backbone(backbone: str) -> Artefact | None:
    """The manifest entry of a recipe.backbone's pretrained weights, or None."""
    return next((e for e in manifest().values() if e.backbone == backbone), None)


# Where the caches are ------------------------------------------------------------------------


def hf_hub_cache() -> Path:
    """The Hugging Face cache, as huggingface_hub resolves it (read from the environment now)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hf_repo_dir(repo: str) -> Path:
    return hf_hub_cache() / ("models--" + repo.replace("/", "--"))


def torch_hub_file(url: str) -> Path:
    """Where torch (torchvision, torch-fidelity) caches the file of `url`: torch.hub.get_dir()
    once torch is imported (it may have been moved by torch.hub.set_dir), else the same rule
    read from the environment ($TORCH_HOME/hub), without importing torch."""
    name = url.rsplit("/", 1)[-1]
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints" / name
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch"
    )
    return Path(home).expanduser() / "hub" / "checkpoints" / name


def resolve_snapshot(repo: str, revision: str) -> tuple[Path | None, str]:
    """The snapshot folder of `repo` at `revision` in the Hugging Face cache (None if absent),
    and what was found (the commit, or why there is none)."""
    root = hf_repo_dir(repo)
    if not root.is_dir():
        return None, f"no {root.name} in the Hugging Face cache {root.parent}"
    commit = revision
    if not COMMIT.match(revision):
        ref = root / "refs" / revision
        if not ref.is_file():
            found = sorted(p.name for p in (root / "snapshots").glob("*"))
            seen = f" (snapshots there: {', '.join(found)})" if found else ""
            return None, f"no refs/{revision} in {root}{seen}"
        commit = ref.read_text(encoding="utf-8").strip()
    folder = root / "snapshots" / commit
    if not folder.is_dir():
        return None, f"refs/{revision} of {root} points to {commit}, whose snapshot is absent"
    return folder, commit


# What a run needs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """A pretrained artefact some code will load: a repository (at a revision) of the Hugging
    Face cache, a local folder or file, or a file of the torch hub cache."""

    what: str  # for people: the manifest's title, else the id
    artefact: Artefact | None = None  # its manifest entry (None: not in the manifest)
    repo: str | None = None
    revision: str = "main"
    files: tuple[str, ...] = ()  # () with a pipeline: any complete save_pretrained layout
    pipeline: str | None = None
    path: str | None = None  # a local folder (model_dir) or file (a state_dict) given by the user
    url: str | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.repo, self.revision, self.path, self.url, self.files)

    @property
    def source(self) -> str:
        if self.path:
            return self.path
        return f"{self.repo}@{self.revision}" if self.repo else str(self.url)


def pipeline_requirement(
    model_id: str, revision: str, model_dir: str | None, pipeline: str
) -> Requirement:
    """A diffusers pipeline, from `model_dir` or the Hugging Face cache."""
    entry = find(repo=model_id)
    what = entry.title if entry else f"{model_id} (not in the manifest)"
    files = () if model_dir or entry is None else tuple(entry.files)
    return Requirement(what, entry, model_id, revision, files, pipeline, model_dir)


def artefact_requirement(entry: Artefact) -> Requirement:
    """A manifest entry as it stands: its repository at its revision, or its file."""
    if entry.kind == "url":
        return Requirement(entry.title, entry, files=tuple(entry.files), url=entry.url)
    return Requirement(
        entry.title, entry, entry.repo, str(entry.revision), tuple(entry.files), entry.pipeline
    )


@dataclass
class Status:
    """What `check` found for a requirement."""

    requirement: Requirement
    state: str  # present | missing | incomplete | mismatch
    where: Path | None = None
    detail: str = ""
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "present"

    def line(self) -> str:
        req = self.requirement
        name = f"{req.artefact.name}: " if req.artefact else ""
        text = f"{self.state:<10} {name}{req.what} [{req.source}]"
        return text + (f"\n           {self.detail}" if self.detail else "")


def check(req: Requirement) -> Status:
    """Whether a requirement's files are on this machine (reads no weights, no network)."""
    if req.url:
        path = torch_hub_file(req.url)
        if path.is_file():
            return Status(req, "present", path)
        return Status(req, "missing", path, f"not in the torch hub cache ({path})", [path.name])
    if req.path and not req.repo:
        if Path(req.path).expanduser().is_file():
            return Status(req, "present", Path(req.path))
        return Status(
            req, "missing", Path(req.path), f"the weights {req.path} do not exist", [req.path]
        )
    if req.path:
        return check_folder(req, Path(req.path).expanduser(), "model_dir")
    wrong = revision_mismatch(req)
    if wrong is not None:
        return wrong
    folder, found = resolve_snapshot(str(req.repo), req.revision)
    if folder is None:
        return Status(req, "missing", hf_repo_dir(str(req.repo)), found)
    return check_folder(req, folder, f"snapshot {found}")


def revision_mismatch(req: Requirement) -> Status | None:
    """A revision other than the manifest's: refused, unless it is the commit the manifest's
    revision points to in this cache."""
    entry = req.artefact
    if entry is None or entry.revision is None or req.revision == entry.revision:
        return None
    _, pinned = resolve_snapshot(str(req.repo), entry.revision)
    if req.revision == pinned:
        return None
    detail = (
        f"revision {req.revision!r} asked for; the manifest (bench/weights.yaml) pins "
        f"{entry.revision!r}"
        + (f" (commit {pinned} in this cache)" if COMMIT.match(pinned) else "")
        + f". Use revision={entry.revision}, or a save_pretrained folder of that revision as "
        "model_dir."
    )
    return Status(req, "mismatch", hf_repo_dir(str(req.repo)), detail)


def check_folder(req: Requirement, folder: Path, label: str) -> Status:
    """The files of a snapshot (the manifest's list) or of a save_pretrained folder."""
    if not folder.is_dir():
        return Status(req, "missing", folder, f"{label} {folder} is not a folder")
    if req.pipeline:
        wrong = pipeline_class_problem(folder, req.pipeline)
        if wrong:
            return Status(req, "mismatch", folder, wrong)
    if req.files:
        missing = [f for f in req.files if not (folder / f).is_file()]
    else:
        missing = missing_components(folder)
    if not missing:
        return Status(req, "present", folder)
    more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
    detail = f"{label} {folder} lacks {', '.join(missing[:3])}{more}"
    return Status(req, "incomplete", folder, detail, missing)


def pipeline_class_problem(folder: Path, pipeline: str) -> str | None:
    """Why `folder` is not a `pipeline` (its model_index.json), or None."""
    index = folder / "model_index.json"
    if not index.is_file():
        return None  # reported as a missing file
    try:
        found = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return f"{index} is not a diffusers model_index.json (unreadable JSON)"
    if found == pipeline:
        return None
    return (
        f"{index} names {found!r}, but this generator loads a {pipeline}: the folder holds "
        "another pipeline. Point it at the right weights."
    )


def missing_components(folder: Path) -> list[str]:
    """What a save_pretrained folder lacks: model_index.json, or a component's folder, config
    or weights file."""
    index = folder / "model_index.json"
    if not index.is_file():
        return ["model_index.json"]
    components = json.loads(index.read_text(encoding="utf-8"))
    missing = []
    for name, spec in components.items():
        if name.startswith("_") or name in UNLOADED or not isinstance(spec, list):
            continue
        if spec[0] is None:
            continue
        sub = folder / name
        if not any(sub.glob("*.json")):
            missing.append(f"{name}/ (its config)")
        elif not any(w in str(spec[1]) for w in WEIGHTLESS) and not weights_files(sub):
            missing.append(f"{name}/ (its weights: *.safetensors or *.bin)")
    return missing


def weights_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file()]


# Fetching (a machine with network) -------------------------------------------------------------


def download(entry: Artefact) -> Path:
    """Fetch exactly the manifest's files of `entry` into the cache bench reads; returns where
    they are. Files already there are kept (huggingface_hub and torch check them)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise BenchError(
            "HF_HUB_OFFLINE is set: downloads are off. Run `bench weights download` on a "
            "machine with network and HF_HUB_OFFLINE unset, then copy the cache here."
        )
    try:
        if entry.kind == "url":
            return download_url(str(entry.url))
        # huggingface_hub: heavy, imported where used (off the start-up path)
        from huggingface_hub import hf_hub_download

        cache = hf_hub_cache()
        for name in entry.files:
            hf_hub_download(str(entry.repo), name, revision=entry.revision, cache_dir=cache)
    except Exception as exc:  # huggingface_hub and torch raise many kinds (network, HTTP, hash)
        raise BenchError(
            f"could not download {entry.name} ({entry.source}): {type(exc).__name__}: {exc}"
        ) from None
    folder, _ = resolve_snapshot(str(entry.repo), str(entry.revision))
    return folder or hf_repo_dir(str(entry.repo))


def download_url(url: str) -> Path:
    """A torch hub cache file, its sha256 prefix (in its name) checked by torch."""
    # torch: heavy, imported where used (off the start-up path)
    import torch

    path = torch_hub_file(url)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = re.search(r"-([a-f0-9]{6,})\.", path.name)
    torch.hub.download_url_to_file(url, str(path), prefix.group(1) if prefix else None)
    return path
