"""The one contract every schedgym environment follows.

Every decision in every domain is *"pick one node of the current graph"*:

* **Observation** — a :class:`gymnasium.spaces.Dict` of fixed-shape arrays padded to maxima fixed at
  construction (see :func:`graph_observation_space`)::

      nodes        (N_max, F) float32   node features (padding rows are 0)
      node_type    (N_max,)   int64     node type id in [0, n_node_types)
      edge_index   (2, E_max) int64     directed edges (src, dst); padding columns are 0
      edge_type    (E_max,)   int64     edge type id in [0, n_edge_types)
      n_nodes      (1,)       int64     how many rows of ``nodes`` are real
      n_edges      (1,)       int64     how many columns of ``edge_index`` are real
      action_mask  (N_max,)   int8      1 where picking that node is legal
      globals      (G,)       float32   graph-level features

* **Action** — ``Discrete(N_max)``: the index of the chosen node. "Wait", "launch the batch" and other
  non-node decisions are nodes too (global nodes), so there is no second action kind.
* **Mask** — one source (:meth:`GraphSchedulingEnv.action_masks`), given three ways: ``obs["action_mask"]``,
  ``info["action_mask"]`` and ``env.action_masks()`` (the method sb3-contrib looks for).
* **Episode end** — ``info["metrics"]`` (the domain's measures, including the primary objective) and
  ``info["solution"]`` (a plain record of what was decided, checked by the domain's validator).
* **Objective** — each env class declares :attr:`GraphSchedulingEnv.objective`, its name and direction.
* **Illegal actions** raise :class:`IllegalActionError` naming the action and the legal set. An action
  must be an integer (Python ``int``, a NumPy integer, or a one-element integer array); ``bool``,
  floats (``1.0``, ``inf``, ``nan``), strings and ``None`` are refused the same way.

Wrappers and vector envs
------------------------
``gym.make(id)`` returns the env inside Gymnasium wrappers, which (since Gymnasium 1.0) do not forward
unknown attributes: ``gym.make(id).action_masks()`` raises ``AttributeError``. Reach the method with
``env.unwrapped.action_masks()`` or ``env.get_wrapper_attr("action_masks")()`` (the latter also goes
through wrappers that override it), or read ``obs["action_mask"]`` / ``info["action_mask"]``.

``env.action_space.sample()`` draws a *legal* node only on a single env (``gym.make`` or the class):
the space is bound to that env's current mask (:class:`NodeActionSpace`). Under ``gym.make_vec``
the batched ``action_space`` is a plain ``MultiDiscrete`` and ``single_action_space`` is bound to one
sub-env at most (none under the async vector env), so a sample without a mask is uniform and mostly
illegal. Pass the masks from the batched observation instead::

    envs = gym.make_vec(env_id, num_envs=4)
    obs, info = envs.reset(seed=0)
    actions = envs.action_space.sample(mask=tuple(obs["action_mask"]))  # one legal node per sub-env
    a_i = envs.single_action_space.sample(mask=obs["action_mask"][i])   # the i-th sub-env alone

(Under the default ``NEXT_STEP`` autoreset the action sent after an episode's last step is ignored.)

Who owns an observation
-----------------------
By default (``copy_obs=True``) every observation returned by ``reset()`` / ``step()`` is the caller's
own: fresh arrays that the env never touches again. Envs keep their observation in preallocated arrays
updated in place (:class:`GraphObservation`), so that guarantee costs one copy of each padded array per
step. A caller that consumes each observation before the next step (a vector env or a rollout buffer
that copies it into its own storage, a benchmark, a greedy rollout) can opt out with ``copy_obs=False``
(an env argument where the env takes it, else ``env.unwrapped.copy_obs = False``): observations are then
**read-only views of the live arrays**, valid until the env's next ``step()`` or ``reset()`` (which
change them in place), and no step cost grows with the padding. The terminal observation (the one
returned with ``terminated or truncated``) is always a copy, so it survives the ``reset()`` that vector
envs and SB3's ``terminal_observation`` bookkeeping do right after it. ``info["action_mask"]`` is the
observation's own mask, the same array as ``obs["action_mask"]`` (the caller's copy by default, the live view
under ``copy_obs=False``), except at the terminal step, where it is a copy of its own.
Copy what you keep (``{k: v.copy() for k, v in obs.items()}``). An env may hand out its arrays as views
of one buffer (JobShop-v0 does, so that a snapshot is one copy): keeping a single array (say, only the
mask of every step) then keeps that whole buffer alive; copy the array (``obs["action_mask"].copy()``)
to keep just its own bytes.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBS_KEYS: tuple[str, ...] = (
    "nodes",
    "node_type",
    "edge_index",
    "edge_type",
    "n_nodes",
    "n_edges",
    "action_mask",
    "globals",
)


class IllegalActionError(ValueError):
    """An action outside the current action mask (or outside the action space)."""


class EpisodeOverError(RuntimeError):
    """``step()`` called after the episode ended, without ``reset()``."""


@dataclass(frozen=True)
class Objective:
    """The primary objective of a domain: the metric key in ``info["metrics"]`` and its direction."""

    name: str
    sense: Literal["min", "max"]

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        return a < b if self.sense == "min" else a > b

    def gap(self, value: float, reference: float) -> float:
        """Relative gap of ``value`` to ``reference`` (>= 0 means worse), as a fraction."""
        if reference == 0:
            return float("nan")
        if self.sense == "min":
            return (value - reference) / abs(reference)
        return (reference - value) / abs(reference)


@dataclass(frozen=True)
class GraphSpec:
    """The sizes of a graph observation, fixed at construction."""

    max_nodes: int
    max_edges: int
    node_features: int
    n_node_types: int
    n_edge_types: int
    global_features: int
    #: what each column of ``nodes`` means (length ``node_features``); travels with GNN checkpoints, so
    #: a policy is refused on an env whose features differ in meaning, not only in count
    node_feature_names: tuple[str, ...] = ()
    #: what each entry of ``globals`` means (length ``global_features``)
    global_feature_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for names, count, what in ((self.node_feature_names, self.node_features, "node_feature_names"),
                                   (self.global_feature_names, self.global_features, "global_feature_names")):
            if names and len(names) != count:
                raise ValueError(f"GraphSpec.{what} has {len(names)} names for {count} features")
        for field in ("max_nodes", "max_edges", "node_features", "n_node_types", "n_edge_types"):
            if getattr(self, field) < 1:
                raise ValueError(f"GraphSpec.{field} must be >= 1, got {getattr(self, field)}")
        if self.global_features < 1:
            raise ValueError("GraphSpec.global_features must be >= 1 (use a constant feature if none)")


def graph_observation_space(spec: GraphSpec) -> spaces.Dict:
    """The contract's observation space for the given sizes."""
    n, e = spec.max_nodes, spec.max_edges
    return spaces.Dict(
        {
            "nodes": spaces.Box(-np.inf, np.inf, (n, spec.node_features), np.float32),
            # bounds of at least 1 even for a single type: Gymnasium warns on Boxes with low == high
            "node_type": spaces.Box(0, max(spec.n_node_types - 1, 1), (n,), np.int64),
            "edge_index": spaces.Box(0, n - 1, (2, e), np.int64),
            "edge_type": spaces.Box(0, max(spec.n_edge_types - 1, 1), (e,), np.int64),
            "n_nodes": spaces.Box(0, n, (1,), np.int64),
            "n_edges": spaces.Box(0, e, (1,), np.int64),
            "action_mask": spaces.Box(0, 1, (n,), np.int8),
            "globals": spaces.Box(-np.inf, np.inf, (spec.global_features,), np.float32),
        }
    )


def graph_spec_of(space: spaces.Dict) -> GraphSpec:
    """Recover the :class:`GraphSpec` from a contract observation space (used by the agents).

    ``n_node_types`` / ``n_edge_types`` are read from the Box bounds, which are at least 1 (so a
    single-type space reports 2: an upper bound on the type ids, which is all an embedding needs).
    """
    missing = [k for k in OBS_KEYS if k not in space.spaces]
    if missing:
        raise ValueError(f"not a schedgym graph observation space: missing keys {missing}")
    nodes = space["nodes"].shape
    return GraphSpec(
        max_nodes=int(nodes[0]),
        max_edges=int(space["edge_index"].shape[1]),
        node_features=int(nodes[1]),
        n_node_types=int(space["node_type"].high.max()) + 1,
        n_edge_types=int(space["edge_type"].high.max()) + 1,
        global_features=int(space["globals"].shape[0]),
    )


_MEMORYVIEWS = ("mv_nodes", "mv_node_type", "mv_edge_index", "mv_edge_type", "mv_action_mask", "mv_globals")


class GraphObservation:
    """Preallocated, padded arrays of one graph observation, updated in place by an environment.

    Environments mutate these arrays incrementally (a step usually touches a few rows). Two ways to hand
    them out:

    * :meth:`snapshot` — a fresh copy of every array (the contract's default: a returned observation
      never changes behind the caller's back). Costs one copy of each padded array, so it grows with
      the padding maxima.
    * :meth:`view` — the live arrays through read-only views made once at construction: no copy at
      all, whatever the instance size, but the values change with the env's next ``step()`` /
      ``reset()``. Used by envs built with ``copy_obs=False`` (see :class:`GraphSchedulingEnv`).

    For hot paths, ``mv_nodes``, ``mv_node_type``, ``mv_edge_index``, ``mv_edge_type``,
    ``mv_action_mask`` and ``mv_globals`` are flat writable :class:`memoryview` s of the same memory
    (``mv_nodes[row * node_features + column]``, ``mv_edge_index[row * max_edges + column]``): a scalar
    write through them costs about half of NumPy's indexing. They are rebuilt after unpickling.
    """

    def __init__(self, spec: GraphSpec) -> None:
        self.spec = spec
        self.nodes = np.zeros((spec.max_nodes, spec.node_features), np.float32)
        self.node_type = np.zeros(spec.max_nodes, np.int64)
        self.edge_index = np.zeros((2, spec.max_edges), np.int64)
        self.edge_type = np.zeros(spec.max_edges, np.int64)
        self.n_nodes = 0
        self.n_edges = 0
        self.action_mask = np.zeros(spec.max_nodes, np.int8)
        self.globals = np.zeros(spec.global_features, np.float32)
        self._make_views()

    def _make_views(self) -> None:
        # flat writable memoryviews of the live arrays: C-level scalar writes, about half the cost of
        # NumPy's ``a[i, j] = v`` (same values: float32 stores round like NumPy's cast)
        self.mv_nodes = memoryview(self.nodes).cast("B").cast("f")  # index: row * node_features + column
        self.mv_node_type = memoryview(self.node_type).cast("B").cast("q")
        self.mv_edge_index = memoryview(self.edge_index).cast("B").cast("q")  # index: row * max_edges + column
        self.mv_edge_type = memoryview(self.edge_type).cast("B").cast("q")
        self.mv_action_mask = memoryview(self.action_mask).cast("B").cast("b")
        self.mv_globals = memoryview(self.globals).cast("B").cast("f")
        # one-element count arrays (written from the int attributes when handed out) and read-only views
        # of every live array: the env writes through the arrays above, a caller can only read
        self._counts = np.zeros(2, np.int64)
        self._counts_mv = memoryview(self._counts)
        self._n_nodes_arr = self._counts[0:1]
        self._n_edges_arr = self._counts[1:2]
        views = {}
        for key in OBS_KEYS:
            arr = {"n_nodes": self._n_nodes_arr, "n_edges": self._n_edges_arr}.get(key)
            v = (getattr(self, key) if arr is None else arr).view()
            v.flags.writeable = False
            views[key] = v
        self._views = views

    def __getstate__(self) -> dict[str, Any]:
        # views do not survive pickling as views (each would unpickle as its own copy): rebuild them
        state = self.__dict__.copy()
        for key in ("_views", "_counts", "_counts_mv", "_n_nodes_arr", "_n_edges_arr", *_MEMORYVIEWS):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_views()

    def clear(self) -> None:
        self.nodes.fill(0)
        self.node_type.fill(0)
        self.edge_index.fill(0)
        self.edge_type.fill(0)
        self.n_nodes = 0
        self.n_edges = 0
        self.action_mask.fill(0)
        self.globals.fill(0)

    def add_edges(self, src: np.ndarray | int, dst: np.ndarray | int, edge_type: int) -> None:
        """Append edges of one type; raises if ``max_edges`` would be exceeded."""
        src = np.atleast_1d(src)
        k = src.shape[0]
        start, stop = self.n_edges, self.n_edges + k
        if stop > self.spec.max_edges:
            raise RuntimeError(f"edge capacity {self.spec.max_edges} exceeded (need {stop})")
        self.edge_index[0, start:stop] = src
        self.edge_index[1, start:stop] = dst
        self.edge_type[start:stop] = edge_type
        self.n_edges = stop

    def snapshot(self) -> dict[str, np.ndarray]:
        """A copy of the observation as the contract's dict of arrays (each array the caller's own)."""
        counts = self._counts_mv
        counts[0] = self.n_nodes
        counts[1] = self.n_edges
        return {
            "nodes": self.nodes.copy(),
            "node_type": self.node_type.copy(),
            "edge_index": self.edge_index.copy(),
            "edge_type": self.edge_type.copy(),
            "n_nodes": self._n_nodes_arr.copy(),
            "n_edges": self._n_edges_arr.copy(),
            "action_mask": self.action_mask.copy(),
            "globals": self.globals.copy(),
        }

    def view(self) -> dict[str, np.ndarray]:
        """The live observation, without copying: read-only views of the arrays the env updates in
        place (so their values change with the env's next ``step()`` / ``reset()``; copy what you keep).
        A new dict each call, holding the same view objects."""
        counts = self._counts_mv
        counts[0] = self.n_nodes
        counts[1] = self.n_edges
        return self._views.copy()


class NodeActionSpace(spaces.Discrete):
    """``Discrete(N_max)`` whose :meth:`sample` without a mask draws a *legal* node.

    It reads the mask of the :class:`GraphObservation` it is bound to, so ``env.action_space.sample()``
    (as ``check_env`` and quick scripts use it) never draws a masked-out action. With an explicit
    ``mask`` or ``probability`` it behaves exactly like :class:`gymnasium.spaces.Discrete`.
    """

    def __init__(self, n: int, graph: GraphObservation | None = None, seed: int | None = None) -> None:
        super().__init__(n, seed=seed)
        self._graph = graph

    def sample(self, mask: np.ndarray | None = None, probability: np.ndarray | None = None) -> np.int64:
        if mask is None and probability is None and self._graph is not None and self._graph.action_mask.any():
            return super().sample(mask=self._graph.action_mask.astype(np.int8))
        return super().sample(mask=mask, probability=probability)


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    exclusive: bool = False,
    maximum: float | None = None,
    integer: bool = False,
    allow_none: bool = False,
    owner: str = "",
) -> Any:
    """Check one numeric parameter and return it (as ``int`` when ``integer``): a real, finite number
    (NaN and +-inf are refused, which range checks such as ``x <= 0`` let through), not a bool, at
    least ``minimum`` (strictly more when ``exclusive``) and at most ``maximum``. ``None`` passes when
    ``allow_none``. The ``ValueError`` names the parameter (prefixed by ``owner``)."""
    label = f"{owner}: {name}" if owner else name
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{label} must be {kind}, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{label} must be finite, got {value!r}")
    if integer:
        if float(value) != int(value):
            raise ValueError(f"{label} must be an integer, got {value!r}")
        value = int(value)
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise ValueError(f"{label} must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{label} must be <= {maximum:g}, got {value!r}")
    return value


#: exact types of the step fast path (bool, a subclass of int, is not among them)
_INT_TYPES = frozenset({int, np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8,
                        np.intp, np.uintp})


def _node_index(action: Any) -> int | None:
    """``action`` as a node index, or None when it is not an integer (bool, float, str, None...)."""
    if isinstance(action, np.ndarray):
        if action.size != 1 or action.dtype.kind not in "iu":
            return None
        return int(action.reshape(()))
    if isinstance(action, (bool, np.bool_, float, np.floating, str, bytes)) or action is None:
        return None
    try:
        return operator.index(action)  # int, NumPy integers, integer tensors
    except TypeError:
        return None


def _copy_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in metadata.items()}


class GraphSchedulingEnv(gym.Env[dict, int]):
    """Base class of every schedgym environment: the contract's plumbing in one place.

    Subclasses set :attr:`objective`, build ``self.graph`` (a :class:`GraphObservation`) and
    ``self.observation_space`` via :meth:`_init_graph`, and implement:

    * ``_reset_state(options)`` — start a new episode, using ``self.np_random`` only; fill ``self.graph``.
    * ``_apply(action) -> (reward, terminated, truncated)`` — apply a legal action; update ``self.graph``.
    * ``_episode_metrics()`` and ``_episode_solution()`` — for ``info`` at episode end.
    * ``_describe_illegal(action)`` (optional) — a domain-specific reason an action is illegal.

    The base class checks actions against the mask, keeps the three views of the mask in sync and
    assembles ``info``.
    """

    objective: ClassVar[Objective]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every class gets its own metadata dict (a copy of its parent's, or of the one it declares):
        # Gymnasium's vector envs write ``metadata["autoreset_mode"]`` into the dict they find
        super().__init_subclass__(**kwargs)
        cls.metadata = _copy_metadata(cls.metadata)
        cls._has_step_info = cls._step_info is not GraphSchedulingEnv._step_info

    def __new__(cls, *args: Any, **kwargs: Any) -> "GraphSchedulingEnv":
        # ... and every instance its own copy, so one vector env cannot change what the next env sees
        obj = super().__new__(cls)
        obj.metadata = _copy_metadata(cls.metadata)
        return obj

    graph: GraphObservation
    #: the class of ``self.graph`` built by :meth:`_init_graph` (a subclass may pick a
    #: :class:`GraphObservation` subclass with the same arrays, e.g. a faster :meth:`~GraphObservation.snapshot`)
    graph_class: ClassVar[type[GraphObservation]] = GraphObservation
    _done: bool = True
    _has_step_info: ClassVar[bool] = False  # whether the class overrides _step_info (set per subclass)
    #: hand out copies (True, the default) or read-only live views (False) of the observation arrays;
    #: see "Who owns an observation" in :mod:`schedgym.envs.core`
    copy_obs: bool = True

    def _init_render(self, render_mode: str | None) -> None:
        """Check and store ``render_mode`` (one of ``metadata["render_modes"]`` or None)."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"{type(self).__name__}: render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode

    def _init_graph(self, spec: GraphSpec) -> None:
        self.graph_spec = spec
        self.graph = self.graph_class(spec)
        self.observation_space = graph_observation_space(spec)
        self.action_space = NodeActionSpace(spec.max_nodes, self.graph)

    # ----------------------------------------------------------------- subclass hooks
    def _reset_state(self, options: dict[str, Any] | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, action: int) -> tuple[float, bool, bool]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _episode_metrics(self) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _episode_solution(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _describe_illegal(self, action: int) -> str:
        return "it is masked out in the current state"

    def validate_solution(self, solution: dict[str, Any]) -> float:  # pragma: no cover - abstract
        """Check ``info["solution"]`` of the episode just finished with the domain's independent
        validator; return the objective it recomputes, or raise (an ``AssertionError`` subclass)."""
        raise NotImplementedError

    def _step_info(self) -> dict[str, Any]:
        """Extra per-step info entries (override to add domain data)."""
        return {}

    # ----------------------------------------------------------------- the contract
    def action_masks(self) -> np.ndarray:
        """The legal actions as a bool array of shape ``(N_max,)`` (sb3-contrib's hook)."""
        return self.graph.action_mask.astype(bool)

    def legal_actions(self) -> np.ndarray:
        """Indices of the legal actions."""
        return np.flatnonzero(self.graph.action_mask)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_state(options)
        self._done = False
        self._elapsed_steps = 0
        obs = self.graph.snapshot() if self.copy_obs else self.graph.view()
        return obs, self._info(False, obs["action_mask"])

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._done:
            raise EpisodeOverError(
                f"{type(self).__name__}.step() called after the episode ended; call reset() first"
            )
        graph = self.graph
        # fast path: a legal Python / NumPy integer (anything else goes through the full check)
        if not (
            type(action) in _INT_TYPES
            and 0 <= (a := int(action)) < self.graph_spec.max_nodes
            and graph.mv_action_mask[a]
        ):
            a = self._check_action(action)
        reward, terminated, truncated = self._apply(a)
        self._elapsed_steps += 1
        # the terminal observation is always a copy: it outlives the reset() that usually follows it
        if terminated or truncated:
            self._done = True
            return graph.snapshot(), float(reward), bool(terminated), bool(truncated), self._info(True)
        obs = graph.snapshot() if self.copy_obs else graph.view()  # (self._done is still False, as reset left it)
        info = {"action_mask": obs["action_mask"]}  # = self._info(False, obs["action_mask"]), inlined
        if self._has_step_info:
            info.update(self._step_info())
        return obs, float(reward), False, False, info  # not done: neither flag is set

    def _check_action(self, action: Any) -> int:
        if isinstance(action, (int, np.integer)) and not isinstance(action, (bool, np.bool_)):  # fast path
            a = int(action)
            if 0 <= a < self.graph_spec.max_nodes and self.graph.action_mask[a]:
                return a
            action_index = a
        else:
            action_index = _node_index(action)
            if action_index is None:
                raise IllegalActionError(
                    f"{type(self).__name__}: action {action!r} is not an integer node index "
                    f"(got {type(action).__name__}; a node is an int, a NumPy integer or a one-element "
                    "integer array; bool and float are refused)"
                )
        a = action_index
        n = self.graph_spec.max_nodes
        if not 0 <= a < n or not self.graph.action_mask[a]:
            legal = self.legal_actions()
            shown = legal[:20].tolist()
            more = f" ... ({legal.size} in all)" if legal.size > 20 else ""
            why = (
                f"it is outside the action space Discrete({n})"
                if not 0 <= a < n
                else self._describe_illegal(a)
            )
            raise IllegalActionError(
                f"{type(self).__name__}: illegal action {a}: {why}. Legal actions: {shown}{more}"
            )
        return a

    def _info(self, done: bool, mask: np.ndarray | None = None) -> dict[str, Any]:
        """``info`` of a reset or step; ``mask``: the live mask view to hand out (``copy_obs=False``),
        else a copy is made."""
        info: dict[str, Any] = {"action_mask": self.graph.action_mask.copy() if mask is None else mask}
        if self._has_step_info:
            info.update(self._step_info())
        if done:
            info["metrics"] = self._episode_metrics()
            info["solution"] = self._episode_solution()
        return info
