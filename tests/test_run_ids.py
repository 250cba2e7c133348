"""Run ids of existing configs are pinned: a refactor that changes what a run hashes to
orphans every result already written under the old id.

The ids were computed at the commit before issue 20's restructuring. Each case is the id of
the resolved config and the id once bound to a fixed data fingerprint (as the runner binds
it), so the data binding of dependencies is pinned too. The first nine are the README's
`make run` configs (Makefile `run`: erm, balanced-softmax, ddpm-fill on digits-lt, seeds 0-2).
"""

from __future__ import annotations

import pytest

from bench.runs.config import resolve

FINGERPRINT = "0" * 16

PINNED = [
    ("erm", "digits-lt", 0, (), False, "e3169966dc6e", "f69c4c2013d7"),
    ("balanced-softmax", "digits-lt", 0, (), False, "a83769ce323b", "240e4bf67a32"),
    ("ddpm-fill", "digits-lt", 0, (), False, "effef2aa37ac", "0c0c2f8f3232"),
    ("erm", "digits-lt", 1, (), False, "994a253f96cb", "f491f7ba06e3"),
    ("balanced-softmax", "digits-lt", 1, (), False, "37db2448066a", "eb6f0cd0c53c"),
    ("ddpm-fill", "digits-lt", 1, (), False, "e8d9e1b1e738", "5bf2b202b7e1"),
    ("erm", "digits-lt", 2, (), False, "003a90cf0daa", "04e5ba963df4"),
    ("balanced-softmax", "digits-lt", 2, (), False, "79afdd2dd53c", "fc330abc2e1d"),
    ("ddpm-fill", "digits-lt", 2, (), False, "79ef31fb1027", "fcdfc12a4cf0"),
    (
        "erm",
        "digits-lt",
        0,
        ("recipe.epochs=20", "imbalance_factor=50"),
        False,
        "5ea3cc31b857",
        "33b8072efb94",
    ),
    (
        "augcond-embed-cutmix-dropout",
        "digits-lt",
        0,
        ("pretrained_generator=printed-digits",),
        False,
        "9ed9bf00bd46",
        "ebff5016e17b",
    ),
    ("fg-entropy", "places-lt", 0, (), False, "7efd1831d4d6", "7c7edc1b8726"),
    ("ddpm-fill", "imagenet-lt", 0, (), True, "a533f2975a79", "78832ee5afbc"),
    ("cbdm", "cifar10-lt", 0, (), False, "f2bbbae34ee7", "9b61506e009d"),
    ("synaug", "cifar100-lt", 0, (), False, "6e5816f31be4", "a2ec81a64ece"),
    ("ldm-txt", "nicopp", 0, (), False, "39aad839f8af", "31cff3babcdd"),
    ("fill-up", "imagenet-lt", 0, (), False, "d8f7b087e246", "b90db7965a94"),
]


@pytest.mark.parametrize(("method", "dataset", "seed", "sets", "smoke", "run_id", "bound"), PINNED)
def test_run_id_pinned(
    method: str, dataset: str, seed: int, sets: tuple, smoke: bool, run_id: str, bound: str
) -> None:
    config = resolve(method, dataset, seed, sets=list(sets), smoke=smoke)
    assert config.run_id == run_id
    assert config.with_data(FINGERPRINT).run_id == bound
