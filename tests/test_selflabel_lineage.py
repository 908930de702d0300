"""The self-labeling driver's lineage check and ``agent.model.compile=true``: the labeler's rollouts are
compiled too (``gnn:<prev>#k=<k>&compile``); execution options do not change a run's lineage (a finished round
is reused with or without them), nor do keys added to the schema after a round was saved (they count as their
defaults), while every other setting still does."""

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


def test_a_round_saved_before_new_schema_keys_is_reused(tmp_path: Path) -> None:
    """A round saved before ``imitation.dagger_*`` and ``agent.model.threads`` existed: absent there, they count
    as their defaults; set to something else now, they are a different lineage."""
    finished = tmp_path / "round_1"
    finished.mkdir()
    old = OmegaConf.to_container(_round(tmp_path))
    for key in ("dagger_rounds", "dagger_episodes", "dagger_epochs"):
        del old["imitation"][key]
    del old["agent"]["model"]["threads"]
    OmegaConf.save(OmegaConf.create(old), finished / "config.yaml")
    selflabel.refuse_other_lineage(_round(tmp_path), finished)
    with pytest.raises(ConfigError, match="dagger_rounds"):
        selflabel.refuse_other_lineage(_round(tmp_path, "imitation.dagger_rounds=2"), finished)
