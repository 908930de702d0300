"""The backend-independent GNN checkpoint: one ``.pt`` file both backends write and the Policy reads.

A checkpoint is a ``torch.save`` of a plain dict::

    format            "schedgym-gnn/1"
    module            GraphActorCritic.extra_state(): the GraphSpec and the model config
    state_dict        the module's weights
    env_id            the environment id it was trained on
    env_kwargs        the training env kwargs
    policy_env_kwargs the subset of env kwargs an evaluation must use (e.g. the job shop's schedule builder)
    backend           "sb3" or "rllib"
    timesteps         env steps trained when written
    config            the resolved training config (a plain dict)
    validation        the validation result when written (or None)

Backend-native state for exact resumption (the SB3 zip, the RLlib checkpoint folder) lives beside it in
the run folder; this file is only what acting needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from .model import GraphActorCritic

FORMAT = "schedgym-gnn/1"

#: checkpoints shipped with the package: ``make_policy("gnn:released/<name>")`` or ``"gnn:<name>"``
RELEASED_DIR = Path(__file__).resolve().parent / "released"


def save_checkpoint(
    path: str | os.PathLike[str],
    module: GraphActorCritic,
    *,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    policy_env_kwargs: Mapping[str, Any],
    backend: str,
    timesteps: int,
    config: Mapping[str, Any] | None = None,
    validation: Mapping[str, Any] | None = None,
    feature_names: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "module": _with_feature_names(module.extra_state(), feature_names),
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
        "env_id": env_id,
        "env_kwargs": dict(env_kwargs),
        "policy_env_kwargs": dict(policy_env_kwargs),
        "backend": backend,
        "timesteps": int(timesteps),
        "config": dict(config or {}),
        "validation": dict(validation) if validation else None,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _with_feature_names(extra: dict[str, Any], names: tuple[tuple[str, ...], tuple[str, ...]] | None) -> dict[str, Any]:
    """The module's rebuild record with the env's node / global feature names in its spec (so a policy is
    refused on an env whose features mean something else, not only when their count differs)."""
    if names is not None:
        node, glob = names
        extra = {**extra, "spec": {**extra["spec"], "node_feature_names": tuple(node), "global_feature_names": tuple(glob)}}
    return extra


def resolve_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """A ``.pt`` file, a run folder (-> ``best.pt``, else ``last.pt``), or the name of a released
    checkpoint (``"jobshop-10x10"`` or ``"released/jobshop-10x10"`` -> ``agents/gnn/released/jobshop-10x10.pt``)."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.exists():
        name = p.name[:-3] if p.name.endswith(".pt") else p.name
        if p.parent in (Path("."), Path("released")) and (RELEASED_DIR / f"{name}.pt").is_file():
            return RELEASED_DIR / f"{name}.pt"
    if p.is_dir():
        for name in ("best.pt", "last.pt", "checkpoints/best.pt", "checkpoints/last.pt"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"no best.pt or last.pt in run folder {p}")
    if not p.is_file():
        shipped = sorted(x.stem for x in RELEASED_DIR.glob("*.pt"))
        raise FileNotFoundError(f"GNN checkpoint not found: {p} (released checkpoints: {shipped})")
    return p


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[GraphActorCritic, dict[str, Any]]:
    """Load a checkpoint: ``(module in eval mode, the payload without the weights)``."""
    p = resolve_checkpoint_path(path)
    payload = torch.load(p, map_location=device, weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{p} is not a schedgym GNN checkpoint (expected format {FORMAT!r})")
    module = GraphActorCritic.rebuild(payload["module"]).to(device)
    module.load_state_dict(payload.pop("state_dict"))
    module.eval()
    payload["path"] = str(p)
    return module, payload
