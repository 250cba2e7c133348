"""Dataset adapters, installed as `bench.datasets`. Add one: a file here plus one line below."""

if __name__ == "datasets":  # pragma: no cover - exercised by tests/test_packaging.py
    # The repository root is on sys.path (e.g. `python -c` run from the checkout), so this folder
    # was found as the top-level `datasets` module. That name belongs to Hugging Face's library,
    # which diffusers and transformers import: hand it over instead of shadowing it.
    import importlib
    import os
    import sys

    _repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _repo]
    del sys.modules["datasets"]
    try:
        sys.modules["datasets"] = importlib.import_module("datasets")
    finally:
        sys.path[:] = _saved
else:
    from bench.registry import Registry

    # Embedded in the package (no download): where methods default to the harness's own DDPM
    # instead of their papers' web-pretrained generators.
    EMBEDDED = ("digits-lt", "colored-digits", "printed-digits")

    DATASETS = Registry(
        "dataset",
        {
            "digits-lt": "bench.datasets.digits_lt:DigitsLT",
            "colored-digits": "bench.datasets.colored_digits:ColoredDigits",
            "printed-digits": "bench.datasets.printed_digits:PrintedDigits",
            "imagenet-lt": "bench.datasets.imagenet_lt:ImageNetLT",
            "imagenet100-lt": "bench.datasets.imagenet100_lt:ImageNet100LT",
            "places-lt": "bench.datasets.places_lt:PlacesLT",
            "inat2018": "bench.datasets.inat2018:INat2018",
            "waterbirds": "bench.datasets.waterbirds:Waterbirds",
            "nicopp": "bench.datasets.nicopp:NICOpp",
            "utkface": "bench.datasets.utkface:UTKFace",
            "cifar10-lt": "bench.datasets.cifar10_lt:CIFAR10LT",
            "cifar100-lt": "bench.datasets.cifar100_lt:CIFAR100LT",
            "caltech101": "bench.datasets.caltech101:Caltech101",
            "flowers102": "bench.datasets.flowers102:Flowers102",
            "pascal-voc": "bench.datasets.pascal_voc:PascalVOC",
            "coco": "bench.datasets.coco:COCO",
        },
    )
