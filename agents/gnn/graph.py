"""Turn the contract's padded observations into torch-geometric graphs.

``to_pyg(obs)`` converts one observation into a :class:`torch_geometric.data.Data`;
``to_pyg_batch(obs_batch)`` converts a batch (a dict of arrays with a leading batch axis, as SB3 and
RLlib hand them to a policy) into one :class:`torch_geometric.data.Batch` with no Python loop per
graph: padding is stripped with boolean masks built from ``n_nodes`` / ``n_edges`` and edge indices
are shifted by each graph's node offset.

Both keep, per node, ``action_mask`` (bool) and ``node_type``; per edge, ``edge_type``; per graph,
``globals``. The batch also carries ``pad_index``: for every real node, its position in the padded
``(B * N_max)`` layout, so per-node outputs (logits) can be scattered back to padded form.

The batch is a proper PyG batch: ``to_data_list()``, ``batch[i]``, ``get_example(i)`` and
``index_select`` give back each graph as :func:`to_pyg` builds it (same keys and values), plus its
``pad_index`` in its own padded layout (``0..n_nodes - 1``, as in a batch of one).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

try:  # torch_geometric is a hard dependency, but keep the import error readable
    from torch_geometric.data import Batch, Data
except ImportError as exc:  # pragma: no cover
    raise ImportError("schedgym.agents.gnn.graph needs torch-geometric: pip install 'schedgym[train]'") from exc


def _tensor(x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(dtype) if dtype is not None else t


def to_pyg(obs: Mapping[str, Any]) -> Data:
    """One contract observation (unbatched) -> :class:`torch_geometric.data.Data` without padding."""
    n = int(np.asarray(obs["n_nodes"]).reshape(-1)[0])
    e = int(np.asarray(obs["n_edges"]).reshape(-1)[0])
    return Data(
        x=_tensor(obs["nodes"], torch.float32)[:n],
        edge_index=_tensor(obs["edge_index"], torch.long)[:, :e],
        edge_type=_tensor(obs["edge_type"], torch.long)[:e],
        node_type=_tensor(obs["node_type"], torch.long)[:n],
        action_mask=_tensor(obs["action_mask"])[:n].bool(),
        globals=_tensor(obs["globals"], torch.float32).reshape(1, -1),
        num_nodes=n,
    )


def to_pyg_batch(obs_batch: Mapping[str, Any]) -> Batch:
    """A batch of contract observations (leading batch axis) -> one :class:`Batch`, vectorized.

    Accepts NumPy arrays or torch tensors (floats are fine for the integer keys: SB3 stores every
    observation key as float32).
    """
    nodes = _tensor(obs_batch["nodes"], torch.float32)
    device = nodes.device
    b, n_max, _ = nodes.shape
    n_nodes = _tensor(obs_batch["n_nodes"]).reshape(b).to(device=device, dtype=torch.long)
    n_edges = _tensor(obs_batch["n_edges"]).reshape(b).to(device=device, dtype=torch.long)
    edge_index = _tensor(obs_batch["edge_index"]).to(device=device, dtype=torch.long)
    e_max = edge_index.shape[-1]

    node_valid = torch.arange(n_max, device=device).unsqueeze(0) < n_nodes.unsqueeze(1)  # (B, N)
    edge_valid = torch.arange(e_max, device=device).unsqueeze(0) < n_edges.unsqueeze(1)  # (B, E)
    offsets = torch.cumsum(n_nodes, 0) - n_nodes  # (B,)

    x = nodes[node_valid]
    node_type = _tensor(obs_batch["node_type"]).to(device=device, dtype=torch.long)[node_valid]
    action_mask = _tensor(obs_batch["action_mask"]).to(device)[node_valid].bool()
    batch_vec = torch.arange(b, device=device).unsqueeze(1).expand(b, n_max)[node_valid]
    pad_index = (torch.arange(b, device=device).unsqueeze(1) * n_max + torch.arange(n_max, device=device))[
        node_valid
    ]

    shifted = edge_index + offsets.view(b, 1, 1)  # (B, 2, E)
    ei = shifted.permute(1, 0, 2)[:, edge_valid]  # (2, total_edges)
    edge_type = _tensor(obs_batch["edge_type"]).to(device=device, dtype=torch.long)[edge_valid]
    globals_ = _tensor(obs_batch["globals"], torch.float32).to(device).reshape(b, -1)

    ptr = torch.zeros(b + 1, dtype=torch.long, device=device)
    ptr[1:] = torch.cumsum(n_nodes, 0)
    out = Batch(
        x=x,
        edge_index=ei,
        edge_type=edge_type,
        node_type=node_type,
        action_mask=action_mask,
        globals=globals_,
        batch=batch_vec,
        ptr=ptr,
        pad_index=pad_index,
    )
    out._num_graphs = b  # Batch.num_graphs reads this
    # what PyG's collate would have recorded, so the batch splits again (``to_data_list()``, ``batch[i]``,
    # ``get_example(i)``, ``index_select``): per key, where each graph's rows / columns start, and the
    # increment to undo. Device tensors, no host sync here; splitting reads them.
    e_ptr = torch.zeros(b + 1, dtype=torch.long, device=device)
    e_ptr[1:] = torch.cumsum(n_edges, 0)
    g_ptr = torch.arange(b + 1, device=device)
    zeros = torch.zeros(b, dtype=torch.long, device=device)
    out._slice_dict = {"x": ptr, "edge_index": e_ptr, "edge_type": e_ptr, "node_type": ptr, "action_mask": ptr,
                       "globals": g_ptr, "pad_index": ptr}
    out._inc_dict = {"x": zeros, "edge_index": offsets, "edge_type": zeros, "node_type": zeros, "action_mask": zeros,
                     "globals": zeros, "pad_index": torch.arange(b, device=device) * n_max}
    return out


def stack_observations(observations: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack unbatched observations into a batch dict (for :func:`to_pyg_batch`)."""
    if not observations:
        raise ValueError("stack_observations needs at least one observation")
    return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in observations[0]}
