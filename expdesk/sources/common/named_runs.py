"""Records in a run's config that name another tool's run: join evidence for the index (`names.<tool>`
links), never followed by the reader itself.

A Hydra job that resumes or attaches to a W&B run names it in its config (lightning-hydra-template:
`logger.wandb.id`), an MLflow logger its run (`logger.mlflow.run_id`). Only plain values count: a missing
value (`null`, `???`) or an interpolation (`${...}`, never resolved) names nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from expdesk.core.entities import Link

#: config key endings that name a run of a tool: (dotted suffix, tool)
NAMING_KEYS = (
    ("wandb.id", "wandb"),
    ("wandb.run_id", "wandb"),
    ("wandb.resume_id", "wandb"),
    ("mlflow.run_id", "mlflow"),
)
_EMPTY = {"", "none", "null", "???", "~"}


def named_runs(params: Mapping[str, str], where: str) -> list[Link]:
    """`names.<tool>` links for the config keys of `params` (flattened with dots) that name a run."""
    links = []
    for key, value in params.items():
        text = value.strip()
        if text.lower() in _EMPTY or "${" in text or len(text) > 200:
            continue
        for suffix, tool in NAMING_KEYS:
            if key == suffix or key.endswith("." + suffix):
                evidence = (("format", tool), ("recorded", f"{where} {key}"))
                links.append(Link(rule=f"names.{tool}", target_native_id=text, evidence=evidence))
    return links
