"""``schedgym/LLMCluster-v0``'s opt-in ``instance_index_feature`` (each instance node carries its index scaled to
[0, 1]: the identity a size split such as ``llumnix-sita``'s needs), the public contract with it on, the
``llm-cluster-indexed`` env preset that carries it into checkpoints, and ``rate`` given together with
``rate_range`` being refused (it used to be ignored silently)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents import make_policy
from schedgym.envs import testing
from schedgym.envs.llm.cluster_env import INSTANCE_INDEX_FEATURE, NODE_FEATURES, LLMClusterEnv

CLUSTER_ID = "schedgym/LLMCluster-v0"
SMALL = {"n_instances": 4, "max_kv_blocks": 1500, "n_requests": 40, "rate": 20.0, "migration_interval": 0.5}
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _indexed(**kw: Any) -> LLMClusterEnv:
    return LLMClusterEnv(**{**SMALL, **kw}, instance_index_feature=True)


def test_the_default_observation_is_unchanged() -> None:
    env = LLMClusterEnv(**SMALL)
    assert env.instance_index_feature is False
    assert env.graph_spec.node_feature_names == NODE_FEATURES
    assert env.observation_space["nodes"].shape[-1] == len(NODE_FEATURES)


def test_the_feature_is_the_instance_index_scaled_to_one_and_nothing_else_changes() -> None:
    plain, indexed = LLMClusterEnv(**SMALL), _indexed()
    assert indexed.graph_spec.node_feature_names == (*NODE_FEATURES, INSTANCE_INDEX_FEATURE)
    col = len(NODE_FEATURES)
    kv_jsq = make_policy("llumnix", env_id=CLUSTER_ID)
    o1, i1 = plain.reset(seed=3)
    o2, i2 = indexed.reset(seed=3)
    kv_jsq.reset(plain, 3)
    events = set()
    for _ in range(400):  # the same trajectory in both envs: every other feature and the mask are equal
        np.testing.assert_array_equal(o2["nodes"][:, :col], o1["nodes"])
        np.testing.assert_array_equal(o2["action_mask"], o1["action_mask"])
        inst = o2["nodes"][1:1 + plain.n_instances, col]
        np.testing.assert_allclose(inst, [0.0, 1 / 3, 2 / 3, 1.0], rtol=1e-6)
        assert not np.any(np.delete(o2["nodes"][:, col], np.arange(1, 1 + plain.n_instances)))
        events.add(plain.event)
        action = kv_jsq.act(o1, i1)
        o1, _, done, _, i1 = plain.step(action)
        o2, _, done2, _, i2 = indexed.step(action)
        assert done == done2
        if done:
            break
    assert events == {"dispatch", "migrate"}  # both kinds of observation were compared
    assert done and i1["metrics"] == i2["metrics"]
    one = LLMClusterEnv(**{**SMALL, "n_instances": 1}, instance_index_feature=True)
    obs, _ = one.reset(seed=0)
    assert obs["nodes"][1, col] == 0.0  # a single instance is index 0


@pytest.mark.parametrize("bad", ["yes", 1, 0.0, None, [True]])
def test_a_non_bool_is_refused_naming_the_option(bad: object) -> None:
    with pytest.raises(ValueError, match="instance_index_feature must be True or False"):
        LLMClusterEnv(**SMALL, instance_index_feature=bad)


def test_the_public_contract_holds_with_the_feature() -> None:
    def make() -> LLMClusterEnv:
        return _indexed(n_requests=30)

    testing.check_gymnasium_api(make)
    testing.check_determinism(make)
    testing.check_pickling(make)
    testing.check_illegal_action(make)
    assert testing.check_random_masked_steps(make, n_steps=1500, check_obs_every=3) >= 3


def test_a_model_trained_without_the_feature_is_refused_on_the_indexed_env() -> None:
    pytest.importorskip("torch")
    from schedgym.agents.gnn.model import compatible

    problem = compatible(LLMClusterEnv(**SMALL).graph_spec, _indexed().graph_spec)
    assert problem and "node_features 14 != trained 13" in problem


def test_the_indexed_preset_sets_the_feature_and_carries_it_into_checkpoints() -> None:
    cfg = yaml.safe_load((CONFIGS / "env" / "llm-cluster-indexed.yaml").read_text())
    mixed = yaml.safe_load((CONFIGS / "env" / "llm-cluster-mixed.yaml").read_text())
    assert cfg["kwargs"] == {**mixed["kwargs"], "instance_index_feature": True}
    assert cfg["policy_kwargs"] == ["migration_interval", "instance_index_feature"]
    env = gym.make(cfg["id"], **{**cfg["kwargs"], "n_requests": 20})
    assert env.unwrapped.graph_spec.node_feature_names[-1] == INSTANCE_INDEX_FEATURE
    env.close()


# ---------------------------------------------------------------- rate and rate_range
def test_rate_with_rate_range_is_refused_naming_both() -> None:
    with pytest.raises(ValueError) as err:
        LLMClusterEnv(n_requests=20, rate=20.0, rate_range=(12.0, 28.0))
    assert "rate=20.0" in str(err.value) and "rate_range=(12.0, 28.0)" in str(err.value)
    # either alone is fine; neither gives the documented default rate
    assert LLMClusterEnv(n_requests=20, rate_range=(12.0, 28.0)).rate_range == (12.0, 28.0)
    assert LLMClusterEnv(n_requests=20, rate=20.0).rate == 20.0
    assert LLMClusterEnv(n_requests=20).rate == 30.0


def test_no_preset_or_suite_gives_rate_with_rate_range() -> None:
    for path in sorted(CONFIGS.rglob("*.yaml")):
        text = yaml.safe_load(path.read_text())
        if not isinstance(text, dict):
            continue
        kwargs = [text.get("kwargs") or {}, text.get("env_kwargs") or {}]
        kwargs += [{**(text.get("env_kwargs") or {}), **(c.get("env_kwargs") or {})} for c in text.get("cases") or []]
        for kw in kwargs:
            assert not ("rate" in kw and "rate_range" in kw), path
