"""The weights manifest (bench/weights.yaml), `bench weights list | check | download`, and the
checks of bad weights before any work.

The Hugging Face caches here are built offline from tiny random-weight pipelines of the real
classes (tests/fixtures/hf_cache.py); `download` runs huggingface_hub's real code against a fake
hub served by an httpx2 MockTransport (the HTTP transport is the only thing replaced).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from helpers import cli

from bench import weights
from bench.errors import BenchError, ConfigError

TINY = ["sd-unclip-2.1", "sd-1.5", "sd-image-variations"]


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory) -> Path:
    """A Hugging Face cache holding tiny pipelines of three manifest entries (built once)."""
    from fixtures.hf_cache import tiny_cache

    root = tmp_path_factory.mktemp("hub")
    tiny_cache(root / "hub", root / "work", TINY)
    return root / "hub"


@pytest.fixture
def caches(tmp_path, monkeypatch) -> Path:
    """Empty Hugging Face and torch hub caches (this machine's real ones are never read)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


@pytest.fixture
def no_network(monkeypatch) -> list[str]:
    """Every attempt to resolve a host name or open a socket connection is recorded and fails at
    once: a test that uses this and asserts the list is empty proves no network was tried."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


# The manifest and the code -------------------------------------------------------------------


def test_manifest_entries_name_their_source_revision_and_files() -> None:
    entries = weights.manifest()
    assert {"sd-unclip-2.1", "sd-1.5", "sd-2.1-base", "sd-image-variations"} <= set(entries)
    for name, entry in entries.items():
        assert entry.title and entry.files and entry.used_by and entry.unconfirmed, name
        if entry.kind == "hf":
            assert entry.repo and entry.revision, name
        else:
            assert entry.kind == "url" and list(entry.files) == [entry.url.rsplit("/", 1)[-1]]
        for size in entry.files.values():  # "2.53 GB" as listed, or None (not confirmed)
            assert size is None or size.split()[1] in ("B", "kB", "MB", "GB"), (name, size)
    # SD 1.5's original repository was taken down: nothing may name it
    assert weights.repo_of("sd-1.5") == "stable-diffusion-v1-5/stable-diffusion-v1-5"


def resolvable_pairs():
    from bench.datasets import DATASETS
    from bench.methods import METHODS
    from bench.runs.config import resolve

    for method in METHODS:
        for dataset in DATASETS:
            yield method, dataset, resolve(method, dataset)


def test_every_weight_a_default_resolves_to_is_a_manifest_entry() -> None:
    """Every method x dataset, dependencies included: each generator model id and backbone
    weights file its defaults load is in bench/weights.yaml (so the manifest cannot drift)."""
    from bench.generators import GENERATORS
    from bench.hparams import specs
    from bench.runs.preflight import needed_weights

    seen = set()
    for method, dataset, config in resolvable_pairs():
        for need in needed_weights(config):
            req = need.requirement
            assert req.artefact is not None, f"{method} on {dataset}: {req.source} not in manifest"
            seen.add(req.artefact.name)
    for name in GENERATORS:  # the backends' own defaults, used or not
        model_id = specs(GENERATORS[name].Settings).get("model_id")
        assert model_id is None or weights.find(repo=model_id.default), name
    assert {"sd-1.5", "sd-2.1-base", "timm-resnet50", "timm-resnet152"} <= seen


def test_the_code_names_manifest_entries() -> None:
    import torchvision
    from timm.models import get_pretrained_cfg

    from bench.metrics import extractors
    from bench.train.pretrained import TORCHVISION

    assert weights.find(url=extractors.INCEPTION_URL).name == "inception-fid"
    assert weights.find(repo=extractors.CLIP_DEFAULT).name == "clip-vit-b32"
    classes = {"resnext50_32x4d": "ResNeXt50_32X4D_Weights"}
    for backbone, model in TORCHVISION.items():  # each file is torchvision's own IMAGENET1K_V1
        tv = getattr(torchvision.models, classes.get(model, f"ResNet{model[6:]}_Weights"))
        entry = weights.for_backbone(backbone)
        assert entry.url == tv.IMAGENET1K_V1.url
        assert (
            entry.files[entry.url.rsplit("/", 1)[-1]]
            == f"{tv.IMAGENET1K_V1.meta['_file_size']:.1f} MB"
        )
    for entry in weights.manifest().values():  # timm entries are timm's default weights
        if entry.backbone and not entry.backbone.startswith("tv-"):
            assert get_pretrained_cfg(entry.backbone).hf_hub_id == entry.repo


# bench weights check ------------------------------------------------------------------------


def test_check_reports_each_artefact_against_a_tiny_hugging_face_cache(tiny_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hub))
    code, out, _ = cli("weights", "check", "--json")
    states = {row["artefact"]: row for row in json.loads(out)}
    assert code == 1  # not everything is here
    assert {n for n, r in states.items() if r["state"] == "present"} == set(TINY)
    assert states["sd-2.1-base"]["state"] == "missing"
    assert "models--stabilityai--stable-diffusion-2-1-base" in states["sd-2.1-base"]["detail"]
    code, out, _ = cli("weights", "check")
    assert "present    sd-unclip-2.1: Stable unCLIP 2.1" in out


def test_a_missing_file_makes_an_artefact_incomplete_and_names_the_file(tiny_hub, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    import shutil

    hub = tmp_path / "hub"
    shutil.copytree(tiny_hub, hub, symlinks=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    snapshot = next((hub / "models--stabilityai--stable-diffusion-2-1-unclip").glob("snapshots/*"))
    (snapshot / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    _, out, _ = cli("weights", "check", "--json")
    row = next(r for r in json.loads(out) if r["artefact"] == "sd-unclip-2.1")
    assert row["state"] == "incomplete"
    assert row["missing"] == ["unet/diffusion_pytorch_model.safetensors"]
    # a dangling blob link (an interrupted copy) is as missing as an absent file
    blob = (snapshot / "vae" / "config.json").resolve()
    blob.unlink()
    _, out, _ = cli("weights", "check", "--json")
    row = next(r for r in json.loads(out) if r["artefact"] == "sd-unclip-2.1")
    assert "vae/config.json" in row["missing"]


def test_check_of_a_run_lists_what_it_and_its_dependencies_need(caches) -> None:
    code, out, _ = cli("weights", "check", "--method", "fg-entropy", "--dataset", "places-lt",
                       "--set", "method.generator=unclip")  # fmt: skip
    assert code == 1
    assert "missing    sd-unclip-2.1" in out and "missing    timm-resnet152" in out
    assert "of fg-entropy on places-lt's dependency 'classifier' (erm)" in out
    code, out, _ = cli("weights", "check", "--method", "erm", "--dataset", "digits-lt")
    assert code == 0 and "loads no pretrained weights" in out


def test_list_names_every_entry_and_the_defaults_that_load_it() -> None:
    code, out, _ = cli("weights", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and set(listed) == set(weights.manifest())
    assert listed["timm-resnet152"]["used_by_default"]["places-lt"]  # every method there
    assert "fill-up" in listed["sd-1.5"]["used_by_default"]["imagenet-lt"]


# Bad weights, before any work -----------------------------------------------------------------


def fg_unclip(results: Path, *sets: str) -> list[str]:
    return ["run", "--method", "fg-entropy", "--dataset", "digits-lt", "--quiet",
            "--results", str(results), "--set", "method.generator=unclip",
            *[f"--set={s}" for s in sets]]  # fmt: skip


def refused(argv: list[str], results: Path, *fragments: str) -> str:
    """`bench ARGV` exits 2 in seconds, its message has every fragment, nothing was written."""
    start = time.time()
    code, _, err = cli(*argv)
    assert code == 2, err
    assert time.time() - start < 10
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not results.exists()
    return err


def test_a_model_dir_of_another_pipeline_class_is_refused(tiny_hub, caches) -> None:
    sd = next(
        (tiny_hub / "models--stable-diffusion-v1-5--stable-diffusion-v1-5").glob("snapshots/*")
    )
    err = refused(fg_unclip(caches / "results", f"method.model_dir={sd}"), caches / "results",
                  "names 'StableDiffusionPipeline', but this generator loads a "
                  "StableUnCLIPImg2ImgPipeline", "needed as the generator (unclip)")  # fmt: skip
    assert "Stable unCLIP 2.1" in err


def test_a_model_dir_missing_a_weights_file_is_refused(tiny_hub, tmp_path, caches) -> None:
    import shutil

    folder = tmp_path / "unclip"
    source = next(
        (tiny_hub / "models--stabilityai--stable-diffusion-2-1-unclip").glob("snapshots/*")
    )
    shutil.copytree(source, folder)  # follows the links: a plain save_pretrained folder
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    refused(fg_unclip(caches / "results", f"method.model_dir={folder}"), caches / "results",
            "incomplete", "lacks unet/ (its weights: *.safetensors or *.bin)")  # fmt: skip


def test_a_revision_other_than_the_manifests_is_refused(tiny_hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hub))
    err = refused(fg_unclip(tmp_path / "results", "method.revision=fp16"), tmp_path / "results",
                  "mismatch", "revision 'fp16' asked for; the manifest (bench/weights.yaml) pins "
                  "'main'", "Use revision=main")  # fmt: skip
    assert "stabilityai/stable-diffusion-2-1-unclip@fp16" in err
    # the commit main points to in this cache is the manifest's revision too: accepted
    from fixtures.hf_cache import commit_of

    commit = commit_of("stabilityai/stable-diffusion-2-1-unclip")
    req = weights.pipeline_requirement(weights.repo_of("sd-unclip-2.1"), commit, None,
                                       "StableUnCLIPImg2ImgPipeline")  # fmt: skip
    assert weights.check(req).ok


# Offline: nothing tries the network ------------------------------------------------------------


def test_missing_backbone_weights_fail_at_once_without_the_network(caches, no_network) -> None:
    from bench.train.backbones import build_classifier

    start = time.time()
    with pytest.raises(ConfigError, match=r"timm/resnet152\.a1h_in1k.*is missing.*bench weights "
                       r"download timm-resnet152"):  # fmt: skip
        build_classifier("resnet152", 10, 3, pretrained="hf-cache")
    with pytest.raises(ConfigError, match=r"timm/test_resnet\.r160_in1k \(not in the manifest\)"):
        build_classifier("test_resnet", 10, 3, pretrained="hf-cache")
    assert time.time() - start < 5 and no_network == []


def test_timm_weights_load_from_the_hugging_face_cache_alone(caches, no_network) -> None:
    import timm
    import torch
    from fixtures.hf_cache import put_in_hf_cache
    from safetensors.torch import save_file

    from bench.train.backbones import build_classifier

    source = timm.create_model("test_resnet", pretrained=False)  # random weights, timm's keys
    (caches / "w").mkdir()
    save_file(source.state_dict(), caches / "w" / "model.safetensors")
    put_in_hf_cache(caches / "hf", "timm/test_resnet.r160_in1k", caches / "w")
    model = build_classifier("test_resnet", 5, 3, pretrained="hf-cache")
    body = model.features.state_dict()
    assert all(torch.equal(body[k], v) for k, v in source.state_dict().items() if k in body)
    assert build_classifier("test_resnet", 5, 1, pretrained="hf-cache")  # timm adapts in_chans
    assert no_network == []


def test_generator_weights_are_read_from_the_cache_alone(tiny_hub, monkeypatch, no_network):
    from bench.generators import GENERATORS
    from bench.generators.pretrained import pretrained_identity
    from bench.hparams import build
    from bench.runs.describe import generator_line

    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_hub))
    backend = GENERATORS["unclip"]
    settings = build(backend.Settings, {"resolution": 32}, "unclip")
    generator = backend.for_data(settings, None)
    assert type(generator.pipe).__name__ == "StableUnCLIPImg2ImgPipeline"
    identity = pretrained_identity(settings)  # in generator cache keys and the run's record
    line = generator_line({"backend": "unclip", "weights": identity})  # logs and `bench show`
    assert line == (
        f"unclip, stabilityai/stable-diffusion-2-1-unclip @ main, digest {identity['digest']}"
    )
    assert no_network == []


# bench weights download ---------------------------------------------------------------------


class FakeHub:
    """The Hugging Face hub's file endpoints (HEAD and GET .../resolve/REV/FILE) for a few
    repositories, answered by an httpx2 MockTransport: what huggingface_hub asks, recorded."""

    def __init__(self, files: dict[str, dict[str, bytes]]):
        self.files, self.asked = files, []

    def __call__(self, request):
        import hashlib

        import httpx2

        path = request.url.path.lstrip("/")
        if "/resolve/" not in path:  # huggingface_hub's other calls (e.g. its api/ queries)
            return httpx2.Response(404)
        repo, _, rest = path.partition("/resolve/")
        repo_files = self.files.get(repo, {})
        _, _, name = rest.partition("/")
        self.asked.append((request.method, repo, name))
        if name not in repo_files:
            return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound"})
        data = repo_files[name]
        headers = {
            "X-Repo-Commit": "a" * 40,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Content-Length": str(len(data)),
        }
        return httpx2.Response(
            200, headers=headers, content=b"" if request.method == "HEAD" else data
        )


@pytest.fixture
def fake_hub(monkeypatch):
    import httpx2
    from huggingface_hub.utils import _http

    hub = FakeHub({})
    client = lambda: httpx2.Client(transport=httpx2.MockTransport(hub), follow_redirects=True)  # noqa: E731
    _http.set_client_factory(client)
    yield hub
    _http.set_client_factory(_http.default_client_factory)


def test_download_fetches_exactly_the_manifest_files(caches, fake_hub, no_network) -> None:
    for name in ("sd-1.5", "timm-resnet50"):
        entry = weights.artefact(name)
        # the hub holds more than bench reads (fp16 variants, the safety checker, ...)
        extra = {"unet/diffusion_pytorch_model.fp16.safetensors": b"x", "README.md": b"card"}
        files = {f: f"{name}:{f}".encode() for f in entry.files} | extra
        if entry.pipeline:
            files["model_index.json"] = json.dumps({"_class_name": entry.pipeline}).encode()
        fake_hub.files[str(entry.repo)] = files
    code, out, err = cli("weights", "download", "sd-1.5", "timm-resnet50")
    assert code == 0, err
    fetched = {(repo, f) for method, repo, f in fake_hub.asked if method == "GET"}
    expected = {(weights.artefact(n).repo, f) for n in ("sd-1.5", "timm-resnet50")
                for f in weights.artefact(n).files}  # fmt: skip
    assert fetched == expected and no_network == []
    code, out, _ = cli("weights", "check", "--json")
    states = {row["artefact"]: row["state"] for row in json.loads(out)}
    assert states["sd-1.5"] == states["timm-resnet50"] == "present"
    snapshot = next((caches / "hf" / "models--timm--resnet50.a1_in1k").glob("snapshots/*"))
    assert (snapshot / "model.safetensors").read_bytes() == b"timm-resnet50:model.safetensors"


def test_download_of_a_run_fetches_what_it_lacks(caches, fake_hub) -> None:
    entry = weights.artefact("timm-resnet152")
    fake_hub.files[str(entry.repo)] = {f: b"w" for f in entry.files}
    code, out, err = cli("weights", "download", "--method", "erm", "--dataset", "places-lt")
    assert code == 0, err
    assert out.startswith("timm-resnet152: ")
    assert {repo for _, repo, _ in fake_hub.asked} == {"timm/resnet152.a1h_in1k"}


def test_download_refuses_when_offline_and_checks_torch_file_hashes(caches, monkeypatch) -> None:
    import io

    import torch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchError, match="HF_HUB_OFFLINE is set: downloads are off"):
        weights.download(weights.artefact("timm-resnet50"))
    monkeypatch.delenv("HF_HUB_OFFLINE")

    class Response(io.BytesIO):  # what urllib's urlopen returns, for torch.hub
        headers = {"Content-Length": "11"}

        def info(self):
            return self

        def get_all(self, name):
            return ["11"] if name == "Content-Length" else None

    monkeypatch.setattr(torch.hub, "urlopen", lambda request: Response(b"not weights"))
    with pytest.raises(BenchError, match=r"could not download tv-resnet18 .*(hash|sha256)"):
        weights.download(weights.artefact("tv-resnet18"))
    assert not list((caches / "torch").rglob("*.pth"))  # a corrupt file is never kept
