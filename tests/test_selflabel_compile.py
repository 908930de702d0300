"""The self-labeling driver with ``agent.model.compile=true``: the labeler's rollouts are compiled too
(``gnn:<prev>#k=<k>&compile``), and execution options do not change a run's lineage (a finished round is
reused with or without them), while every other setting still does."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from schedgym.train import selflabel
from schedgym.train.config import ConfigError


def _round(tmp_path: Path, *overrides: str, k: int = 4):
    cli, rest = selflabel.split_args([f"run_dir={tmp_path}", f"k={k}", "rounds=1", *overrides])
    return selflabel.round_config(cli, rest, 1, "jobshop-10x10")


def test_the_labeler_is_compiled_with_the_model(tmp_path: Path) -> None:
    assert _round(tmp_path).imitation.expert == "gnn:jobshop-10x10#k=4"
    compiled = _round(tmp_path, "agent.model.compile=true")
    assert compiled.imitation.expert == "gnn:jobshop-10x10#k=4&compile"
    assert compiled.agent.model.compile is True


def test_execution_options_keep_the_lineage(tmp_path: Path) -> None:
    finished = tmp_path / "round_1"
    finished.mkdir()
    OmegaConf.save(_round(tmp_path), finished / "config.yaml")
    for options in (["agent.model.compile=true"], ["agent.model.micro_batch=32"],
                    ["agent.model.compile=true", "agent.model.micro_batch=32"]):
        selflabel.refuse_other_lineage(_round(tmp_path, *options), finished)  # reused: no error
    with pytest.raises(ConfigError, match=r"imitation: .*#k=4.*#k=8"):
        selflabel.refuse_other_lineage(_round(tmp_path, "agent.model.compile=true", k=8), finished)
    with pytest.raises(ConfigError, match=r"agent\.model: .*'hidden': 64.*'hidden': 32"):
        selflabel.refuse_other_lineage(_round(tmp_path, "agent.model.hidden=32"), finished)
