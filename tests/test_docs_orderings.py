"""docs/printed-digits.md's orderings table is generated: it is what `bench compare --claims
--metric few` prints for `make embedded-pretrained`'s records. Those records are not in the
repository (about 50 minutes per seed to make); the test builds them from the measurement
tables above the section in the same document: each run's config as `make
embedded-pretrained` resolves it (same --set items), its few-shot accuracy exact (k of the 300
few-shot test images, which one decimal pins down). Regenerate the section with
BENCH_UPDATE_GOLDEN=1 (the run rewrites it and fails; review the diff)."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from helpers import REPO

from bench.methods import METHODS
from bench.report import published
from bench.report.cli import report_of_claims
from bench.report.layout import Options, collect
from bench.report.render import render
from bench.runs.config import resolve

DOC = REPO / "docs" / "printed-digits.md"
BEGIN = "<!-- generated: bench compare --claims --metric few"
END = "<!-- end of generated section -->"
TABLES = {"**At the target's recipe**": [], "**At a reduced classifier budget**": [
    "recipe.epochs=6", "recipe.steps_per_epoch=25"]}  # fmt: skip
PRETRAINED = ["pretrained_generator=printed-digits"]
UNIFORM_ONLY = ["recipe.batch_aug=none", "recipe.mix_pairs=batch", "stage.ft.epochs=0"]
FEW_IMAGES = 300  # digits-lt's few-shot classes: 6 x 50 test images


def run_sets(label: str) -> tuple[str, list[str]]:
    """A measurement row's method and the --set items `make embedded-pretrained` gives it."""
    method = label.split(" (")[0]
    if label == "synaug (uniformisation only)":
        return method, PRETRAINED + UNIFORM_ONLY
    if "(pretrained" not in label:
        return method, []
    return method, PRETRAINED + (["image_conditioning=true"] if method == "ldm-txt" else [])


def measured_records(text: str) -> list[dict[str, Any]]:
    records = []
    for heading, budget in TABLES.items():
        table = text.split(heading, 1)[1].split("\n\n| method |", 1)[1].split("\n\n", 1)[0]
        for line in table.splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            method, sets = run_sets(cells[0])
            for seed, few in enumerate(cells[5].split(" / ")):
                k = round(float(few) * FEW_IMAGES / 100)
                assert f"{100 * k / FEW_IMAGES:.1f}" == few  # one decimal pins k down
                records.append(record(method, seed, sets + budget, k / FEW_IMAGES))
    return records


def record(method: str, seed: int, sets: list[str], few: float) -> dict[str, Any]:
    config = resolve(method, "digits-lt", seed=seed, sets=sets).to_json()
    backend = config["hparams"].get("generator") or METHODS[method].generator
    info = {"synthetic_plan": {"backend": backend}} if backend else {}
    return {"config": config, "result": {"metrics": {"test": {"few": few}}, "info": info}}


def generated(text: str) -> str:
    pub = published.load(published.default_directory())
    options = Options(tuple(METHODS), registered=frozenset(METHODS), metric="few")
    report = collect(measured_records(text), options, published=pub)
    return render(report_of_claims(report), "md")


def test_the_orderings_table_is_the_generators_output() -> None:
    text = DOC.read_text()
    assert BEGIN in text and END in text
    head, rest = text.split(BEGIN, 1)
    marker_line, rest = rest.split("\n", 1)
    section, tail = rest.split(END, 1)
    expected = generated(text)
    if os.environ.get("BENCH_UPDATE_GOLDEN"):
        DOC.write_text(head + BEGIN + marker_line + "\n" + expected + END + tail)
        pytest.fail("docs/printed-digits.md's orderings section rewritten; review the diff")
    assert section == expected
    # the headline orderings the document's prose states, as the generator finds them
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:3]): line
            for line in section.splitlines() if line.startswith("| ") and "vs" in line}  # fmt: skip
    verdict = {k[0] + (" (6x25)" if "epochs=6" in k[2] else ""): v.rsplit("|", 2)[1].strip()
               for k, v in rows.items()}  # fmt: skip
    assert verdict["Embed-CutMix-Dropout > Random Image"] == "holds on every seed"
    assert verdict["Mixup + fine-tuning > uniformisation alone"] == "holds on every seed"
    assert verdict["Mixup + fine-tuning > uniformisation alone (6x25)"] == "holds on every seed"
    assert verdict["LDM (txt+img) > LDM (txt)"] == "reversed"
    assert verdict["learned token > class name"] == "reversed"
    assert re.search(r"\+1\.3 / \+7\.7 / \+4\.0", rows[next(k for k in rows if k[0].startswith(
        "FG-entropy") and "epochs=6" not in k[2])])  # fmt: skip
