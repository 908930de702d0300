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

from typing import Any, Mapping, NamedTuple

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


class FlatGraphs(NamedTuple):
    """A batch of padded observations as flat tensors (what :func:`to_pyg_batch` wraps into a PyG
    :class:`Batch`; the model reads these directly, without building a ``Batch`` object).

    Integer keys arrive as they come (SB3 stores every key as float32; the casts to ``long`` happen
    once here)."""

    x: torch.Tensor  # (total_nodes, F) float32
    node_type: torch.Tensor  # (total_nodes,) long
    action_mask: torch.Tensor  # (total_nodes,) bool
    batch: torch.Tensor  # (total_nodes,) long: each node's graph
    pad_index: torch.Tensor  # (total_nodes,) long: position in the padded (B * N_max) layout
    edge_index: torch.Tensor  # (2, total_edges) long, shifted by each graph's node offset
    edge_type: torch.Tensor  # (total_edges,) long
    globals: torch.Tensor  # (B, G) float32
    n_nodes: torch.Tensor  # (B,) long
    n_edges: torch.Tensor  # (B,) long
    offsets: torch.Tensor  # (B,) long: first node of each graph
    num_graphs: int
    n_max: int


def _long(x: Any, device: torch.device) -> torch.Tensor:
    t = _tensor(x)
    if t.dtype != torch.long or t.device != device:
        t = t.to(device=device, dtype=torch.long)
    return t


def flatten_batch(obs_batch: Mapping[str, Any]) -> FlatGraphs:
    """A batch of contract observations (leading batch axis) -> :class:`FlatGraphs`, vectorized (boolean
    masks built from ``n_nodes`` / ``n_edges`` strip the padding; no Python loop per graph)."""
    nodes = _tensor(obs_batch["nodes"], torch.float32)
    device = nodes.device
    b, n_max, _ = nodes.shape
    n_nodes = _long(obs_batch["n_nodes"], device).reshape(b)
    n_edges = _long(obs_batch["n_edges"], device).reshape(b)
    edge_index = _long(obs_batch["edge_index"], device)
    e_max = edge_index.shape[-1]

    node_valid = torch.arange(n_max, device=device).unsqueeze(0) < n_nodes.unsqueeze(1)  # (B, N)
    edge_valid = torch.arange(e_max, device=device).unsqueeze(0) < n_edges.unsqueeze(1)  # (B, E)
    offsets = torch.cumsum(n_nodes, 0) - n_nodes  # (B,)

    pad_all = torch.arange(b * n_max, device=device).view(b, n_max)
    pad_index = pad_all[node_valid]
    batch_vec = torch.div(pad_index, n_max, rounding_mode="floor")
    flat_nodes = nodes.reshape(b * n_max, -1)
    x = flat_nodes.index_select(0, pad_index)
    node_type = _long(obs_batch["node_type"], device).reshape(-1).index_select(0, pad_index)
    mask = _tensor(obs_batch["action_mask"]).to(device).reshape(-1).index_select(0, pad_index)
    action_mask = mask if mask.dtype == torch.bool else mask != 0

    shifted = edge_index + offsets.view(b, 1, 1)  # (B, 2, E)
    ei = shifted.permute(1, 0, 2)[:, edge_valid]  # (2, total_edges)
    edge_type = _long(obs_batch["edge_type"], device)[edge_valid]
    globals_ = _tensor(obs_batch["globals"], torch.float32).to(device).reshape(b, -1)
    return FlatGraphs(x, node_type, action_mask, batch_vec, pad_index, ei, edge_type, globals_, n_nodes, n_edges,
                      offsets, b, n_max)


def to_pyg_batch(obs_batch: Mapping[str, Any]) -> Batch:
    """A batch of contract observations (leading batch axis) -> one :class:`Batch`, vectorized.

    Accepts NumPy arrays or torch tensors (floats are fine for the integer keys: SB3 stores every
    observation key as float32).
    """
    return flat_to_pyg(flatten_batch(obs_batch))


def flat_to_pyg(g: FlatGraphs) -> Batch:
    """:class:`FlatGraphs` as a proper PyG :class:`Batch` (splits again into its graphs)."""
    b, n_max, device = g.num_graphs, g.n_max, g.x.device
    ptr = torch.zeros(b + 1, dtype=torch.long, device=device)
    ptr[1:] = torch.cumsum(g.n_nodes, 0)
    out = Batch(
        x=g.x,
        edge_index=g.edge_index,
        edge_type=g.edge_type,
        node_type=g.node_type,
        action_mask=g.action_mask,
        globals=g.globals,
        batch=g.batch,
        ptr=ptr,
        pad_index=g.pad_index,
    )
    out._num_graphs = b  # Batch.num_graphs reads this
    # what PyG's collate would have recorded, so the batch splits again (``to_data_list()``, ``batch[i]``,
    # ``get_example(i)``, ``index_select``): per key, where each graph's rows / columns start, and the
    # increment to undo. Device tensors, no host sync here; splitting reads them.
    e_ptr = torch.zeros(b + 1, dtype=torch.long, device=device)
    e_ptr[1:] = torch.cumsum(g.n_edges, 0)
    g_ptr = torch.arange(b + 1, device=device)
    zeros = torch.zeros(b, dtype=torch.long, device=device)
    out._slice_dict = {"x": ptr, "edge_index": e_ptr, "edge_type": e_ptr, "node_type": ptr, "action_mask": ptr,
                       "globals": g_ptr, "pad_index": ptr}
    out._inc_dict = {"x": zeros, "edge_index": g.offsets, "edge_type": zeros, "node_type": zeros,
                     "action_mask": zeros, "globals": zeros, "pad_index": torch.arange(b, device=device) * n_max}
    return out


def stack_observations(observations: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack unbatched observations into a batch dict (for :func:`to_pyg_batch`)."""
    if not observations:
        raise ValueError("stack_observations needs at least one observation")
    return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in observations[0]}
