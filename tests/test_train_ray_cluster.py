"""Past one machine: RLlib training on a local multi-node Ray cluster (issue 13, item 4).

A head node and a worker node are started as separate processes (``ray.cluster_utils.Cluster``: a GCS
server and one raylet per node), each with its own resources (one CPU). ``schedgym-train`` joins it
through ``rllib.address=<head>``, its two env runners (one CPU each) land one on each node, the run is
resumed from its checkpoint set through the same address, and the cluster is shut down (only its own
processes: ``ray stop`` would stop every Ray on the machine). 20-55 s on the shared 2-core machine, so it
runs in CI (not marked slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from schedgym.train.cli import build, train  # noqa: E402
from schedgym.train.config import resolve_config  # noqa: E402

TINY = [
    "backend=rllib",
    "rllib.num_env_runners=2",
    "trainer.total_steps=120",
    "trainer.checkpoint_every=120",
    "trainer.eval_every=0",
    "trainer.progress_bar=false",
    "agent.model.hidden=16",
    "agent.model.n_layers=1",
    "agent.model.head_hidden=16",
    "agent.ppo.n_steps=30",
    "agent.ppo.batch_size=30",
    "agent.ppo.n_epochs=1",
    "val.seeds=[0]",
    "val.baselines=[]",
]


def test_rllib_on_a_two_node_cluster_with_resume(tmp_path: Path, monkeypatch) -> None:
    from ray.cluster_utils import Cluster
    from ray.rllib.algorithms.ppo import PPOConfig

    from schedgym.agents.gnn import load_checkpoint

    assert not ray.is_initialized()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        address = cluster.address

        runner_nodes: list[set[str]] = []
        original = PPOConfig.build_algo

        def build_and_record(self, *args, **kwargs):  # where the env runners of each run were placed
            algo = original(self, *args, **kwargs)
            nodes = algo.env_runner_group.foreach_env_runner(
                lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False)
            runner_nodes.append(set(nodes))
            return algo

        monkeypatch.setattr(PPOConfig, "build_algo", build_and_record)
        run_dir = tmp_path / "run"
        cfg = resolve_config("jobshop-small", [f"run_dir={run_dir}", "env=jobshop-3x3", f"rllib.address={address}", *TINY])
        summary = train(cfg, run_dir, resume=False)
        assert summary["timesteps"] >= 120
        assert not ray.is_initialized()  # the backend disconnected from the cluster it joined ...
        assert len(cluster.list_all_nodes()) == 2  # ... and left it running
        assert (run_dir / "checkpoints" / "state" / "rllib").is_dir()

        cfg, rdir, resuming, _ = build([f"resume={run_dir}", "trainer.total_steps=240"])
        assert resuming and cfg.rllib.address == address
        summary = train(cfg, rdir, resume=True)
        assert summary["timesteps"] >= 240
        assert load_checkpoint(run_dir / "last.pt")[1]["timesteps"] == summary["timesteps"]

        alive = {n.node_id for n in cluster.list_all_nodes()}
        assert len(runner_nodes) == 2
        for nodes in runner_nodes:  # both runs had an env runner on each node
            assert nodes == alive, (nodes, alive)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
