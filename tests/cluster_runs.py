"""Shared by the LLMCluster preset tests: a tiny real run of a cluster train preset (imitation, then PPO)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tiny_cluster_run(preset: str, run_dir: Path, total_steps: int) -> dict[str, Any]:
    """Run ``preset`` tiny (40-request episodes, 3 demonstration episodes, 2 epochs, ``total_steps`` PPO steps in
    128-step rollouts, one validation seed) into ``run_dir``; returns its ``summary.json``."""
    from schedgym.train.cli import main

    argv = [f"preset={preset}", f"run_dir={run_dir}", "trainer.progress_bar=false", "wandb.mode=disabled",
            "env.kwargs.n_requests=40", "imitation.episodes=3", "imitation.epochs=2",
            f"trainer.total_steps={total_steps}", "agent.ppo.n_steps=128", "agent.ppo.batch_size=128",
            f"trainer.eval_every={total_steps}", f"trainer.checkpoint_every={total_steps}", "val.seeds=[10000]"]
    assert main(argv) == 0
    return json.loads((Path(run_dir) / "summary.json").read_text())


def tiny_fine_tune_of_the_released_clone(preset: str, run_dir: Path) -> dict[str, Any]:
    """:func:`tiny_cluster_run` of a preset that fine-tunes ``gnn:llm-cluster-sita`` with PPO (1,024 steps, no
    imitation), checking that it started from the released clone's weights (its ``step_0.pt`` equals them);
    returns its ``summary.json``."""
    import torch
    from schedgym.agents.gnn.checkpoint import RELEASED_DIR

    summary = tiny_cluster_run(preset, run_dir, 1024)
    assert "imitation" not in summary and summary["init"].endswith("llm-cluster-sita.pt")  # PPO from the clone
    assert summary["timesteps"] == 1024 and summary["n_updates"] >= 1, summary
    start = torch.load(Path(run_dir) / "checkpoints" / "step_0.pt", weights_only=True)["state_dict"]
    clone = torch.load(RELEASED_DIR / "llm-cluster-sita.pt", weights_only=True)["state_dict"]
    assert start.keys() == clone.keys() and all(torch.equal(start[k], clone[k]) for k in clone)
    return summary
