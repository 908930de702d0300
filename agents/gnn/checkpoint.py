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

**Safe loading.** Every value in the payload is a plain Python value (dict, list, tuple, str, int, float,
bool, None) or a tensor, so :func:`load_checkpoint` reads it with ``torch.load(..., weights_only=True)``:
a file that would need arbitrary unpickling (a class, a callable, a NumPy object: what a crafted ``.pt``
uses to run code) is refused with a :class:`CheckpointError` and nothing in it runs. ``save_checkpoint``
converts NumPy scalars and arrays to plain values before writing.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .model import GraphActorCritic

FORMAT = "schedgym-gnn/1"


class CheckpointError(ValueError):
    """A file that is not a loadable schedgym GNN checkpoint (the message names the file and why)."""


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars / arrays and mappings turned into plain Python values (tensors kept),
    so that ``torch.load(..., weights_only=True)`` can read it back."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, (list, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def safe_torch_load(path: str | os.PathLike[str], what: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a file that needs arbitrary unpickling, or is no torch file,
    raises :class:`CheckpointError` naming ``path`` (nothing in it is executed)."""
    import re
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL)\s+([\w.]+)", text, re.IGNORECASE)
        if found:
            raise CheckpointError(
                f"{path}: refused to load this {what}: it needs arbitrary unpickling ({found.group(1)}), which can run "
                "code; only plain values and tensors are read (re-save it with schedgym's save functions)"
            ) from None
        raise CheckpointError(f"{path}: not a readable {what} (not a torch file of plain values and tensors; nothing in it was run)") from None
    except Exception as exc:  # noqa: BLE001 - any other reader failure: a damaged or foreign file
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "empty or truncated"
        raise CheckpointError(f"{path}: not a readable {what} ({type(exc).__name__}: {msg})") from None


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
    payload = {k: (v if k == "state_dict" else plain(v)) for k, v in payload.items()}
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
    """Load a checkpoint: ``(module in eval mode, the payload without the weights)``.

    Reads with ``weights_only=True`` (see the module docstring); raises :class:`CheckpointError` (a
    ``ValueError``) for a file that is not a schedgym GNN checkpoint or would need arbitrary unpickling.
    """
    p = resolve_checkpoint_path(path)
    payload = safe_torch_load(p, "GNN checkpoint", map_location=device)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a schedgym GNN checkpoint (expected format {FORMAT!r})")
    try:
        module = GraphActorCritic.rebuild(payload["module"]).to(device)
        module.load_state_dict(payload.pop("state_dict"))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{p}: a damaged GNN checkpoint ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''})") from None
    module.eval()
    payload["path"] = str(p)
    return module, payload
