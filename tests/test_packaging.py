"""Packaging: every code folder is mapped into `schedgym`, and a built wheel carries code and data."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"envs": "schedgym.envs", "agents": "schedgym.agents", "train": "schedgym.train", "eval": "schedgym.eval",
          "configs": "schedgym.configs"}


def _declared() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_declared() -> None:
    found = set()
    for folder, name in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if rel.parts[:1] == ("_root",):  # envs/_root is the `schedgym` package root itself
                continue
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    missing = found - _declared()
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_version_and_license() -> None:
    import schedgym

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert schedgym.__version__ == meta["version"]
    assert meta["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]


def test_base_install_has_no_torch() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    heavy = ("torch", "torch-geometric", "stable-baselines3", "sb3-contrib", "ray", "wandb")
    assert not [d for d in meta["dependencies"] if d.split("[")[0].split("=")[0].split(">")[0] in heavy]
    assert {"train", "rllib", "all", "dev"} <= set(meta["optional-dependencies"])


def test_wheel_contains_code_and_data(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"wheel build failed: {proc.stderr[-2000:]}")
    wheel = next(tmp_path.glob("schedgym-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "schedgym/__init__.py" in names and "schedgym/envs/core.py" in names
    assert "schedgym/envs/llm/data/azure-conv-2023.csv.gz" in names  # suites run after a plain pip install
    assert any(n.endswith("LICENSE") for n in names)
    assert "schedgym/envs/jobshop/data/catalog.json" in names
    assert "schedgym/configs/suites/taillard-15x15.yaml" in names
    assert not any(n.startswith("envs/") for n in names), "a top-level 'envs' package would land in site-packages"
    # every data file a domain keeps under envs/<domain>/data/ ships (a run after pip install reads it)
    shipped_data = [p for p in (ROOT / "envs").glob("*/data/**/*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [str(p.relative_to(ROOT)) for p in shipped_data
               if "schedgym/envs/" + str(p.relative_to(ROOT / "envs")) not in names]
    assert not missing, f"add package-data globs in pyproject.toml for: {missing}"


def test_packaged_azure_trace_is_used_without_any_data_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a plain pip install (no mirror, no shared folder) the Azure suites still find their trace."""
    from schedgym.envs.llm.workload import azure_trace_path, load_trace

    for var in ("SCHEDGYM_DATA_MIRROR", "SCHEDGYM_AZURE_LLM_DIR"):
        monkeypatch.delenv(var, raising=False)
    path = azure_trace_path("conv")
    assert path.name == "azure-conv-2023.csv.gz"
    assert len(load_trace(path).arrival) == 19_366
    assert len(load_trace(azure_trace_path("code")).arrival) == 8_819
