"""The run-record schema (bench.runs.schema): written down in docs/leaderboard.md as it is in
the code, and met by what `bench run` writes. Records failing it are in tests/test_bad_input.py
(`bench show` refuses them, the leaderboard never counts them)."""

from __future__ import annotations

from helpers import REPO

from bench.runs.schema import (
    CONFIG,
    NUMBER,
    RESULT,
    SAME,
    Field,
    config_problem,
    result_problem,
)


def documented_fields(spec: Field, where: str = "") -> list[tuple[str, Field]]:
    """Every field of `spec` with its dotted name (sections documented by reference: once)."""
    out = []
    for key, sub in spec.fields.items():
        name = f"{where}.{key}" if where else key
        out.append((name, sub))
        if not sub.doc.startswith(SAME):
            out += documented_fields(sub, name)
    return out


JSON_TYPES = {dict: "object", list: "array", str: "string", int: "integer", bool: "boolean"}


def markdown_table(spec: Field) -> str:
    """The schema as the table docs/leaderboard.md shows ("Run records")."""
    lines = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, sub in documented_fields(spec):
        types = [JSON_TYPES.get(t, "null" if t is type(None) else "number") for t in sub.types]
        types = ["number" if sub.types[:2] == NUMBER and t == "integer" else t for t in types]
        kinds = " or ".join(dict.fromkeys(types))
        lines.append(f"| `{name}` | {kinds} | {'yes' if sub.required else ''} | {sub.doc} |")
    return "\n".join(lines)


def test_the_docs_show_the_schema_the_code_checks() -> None:
    docs = (REPO / "docs" / "leaderboard.md").read_text()
    assert "`config.json`:\n\n" + markdown_table(CONFIG) + "\n" in docs
    assert "`result.json`:\n\n" + markdown_table(RESULT) + "\n" in docs


def test_a_minimal_record_passes_and_each_required_field_is_needed() -> None:
    config = {"method": "erm", "dataset": "digits-lt", "seed": 0, "hparams": {}, "data": {},
              "recipe": {}}  # fmt: skip
    result = {"metrics": {"test": {"overall": 0.5, "many": None}}}
    assert config_problem(config) is None and result_problem(result, config) is None
    for key in config:
        assert config_problem({k: v for k, v in config.items() if k != key}) == (
            f"no {key!r} (not a bench record)"
        )
    assert result_problem({"metrics": {"test": {}}}) == "no 'metrics.test.overall'"
    assert result_problem({**result, "seed": 0, "method": "erm"}, config) is None
    assert "another run" in result_problem({**result, "method": "crt"}, config)


def test_test_predictions_are_optional_and_checked() -> None:
    """Records grow per-image test predictions (what `bench compare` bootstraps over); records
    written before them still pass, broken ones do not."""
    config = {"method": "erm", "dataset": "digits-lt", "seed": 0, "hparams": {}, "data": {},
              "recipe": {}}  # fmt: skip
    older = {"metrics": {"test": {"overall": 0.5}}}
    assert result_problem(older, config) is None
    good = {"labels": [0, 1, 2], "predicted": [0, 2, 2]}
    assert result_problem({"metrics": {**older["metrics"], "test_predictions": good}}) is None
    for bad, says in (
        ({"labels": [0, 1], "predicted": [0]}, "has 2 labels but 1 predictions"),
        ({"labels": [0, 1], "predicted": [0, 1.5]}, "not a class index"),
        ({"labels": [0, 1]}, "no 'metrics.test_predictions.predicted'"),
    ):
        found = result_problem({"metrics": {**older["metrics"], "test_predictions": bad}})
        assert found is not None and says in found, found
