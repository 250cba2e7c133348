"""One-line descriptions of what a run ran, from its plain config and record (the run log and
`bench show` print the same lines): its generator and weights, its training stages, smoke."""

from __future__ import annotations

from typing import Any


def generator_line(plan: dict[str, Any] | None) -> str | None:
    """The generator backend and the weights it started from (record.info["synthetic_plan"])."""
    if not isinstance(plan, dict) or not plan.get("backend"):
        return None
    backend, weights = plan["backend"], plan.get("weights") or {}
    if weights.get("model_id") == "tiny":
        return f"{backend}, tiny random weights {weights.get('revision', '')} (smoke run)"
    if weights.get("model_id"):
        digest = f", digest {weights['digest']}" if weights.get("digest") else ""
        return f"{backend}, {weights['model_id']} @ {weights.get('revision', '?')}{digest}"
    if weights:  # the harness ddpm pretrained on a corpus
        return f"{backend}, pretrained " + ", ".join(f"{k} {v}" for k, v in weights.items())
    return f"{backend}, trained by the harness on the run's data (key {plan.get('generator_key')})"


def stages_line(config: dict[str, Any]) -> str:
    """Each training stage: what trains, on what, for how many epochs."""
    recipe = config.get("recipe") or {}
    parts = [stage_text("main", recipe)]
    for name in recipe.get("then") or []:
        stage = {
            **recipe,
            **{
                k: v for k, v in (config.get("stages") or {}).get(name, {}).items() if v is not None
            },
        }
        parts.append(stage_text(name, stage))
    return "; ".join(parts)


def stage_text(name: str, st: dict[str, Any]) -> str:
    sampler = "" if st.get("sampler") in (None, "instance") else f", {st['sampler']} sampler"
    return (
        f"{name}: {st.get('trains', 'all')} on {st.get('data', 'real+synthetic')}, "
        f"{st.get('epochs')} epochs, {st.get('loss')}{sampler}"
    )
