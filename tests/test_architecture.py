"""The house rules: one manifest per domain, layers that point one way, a light import.

* every registered id belongs to exactly one manifest; every manifest's suites load, its policies
  module exists, its docs page exists;
* ``envs`` imports nothing from ``agents`` / ``train`` / ``eval``; ``agents`` nothing from ``train`` /
  ``eval``; ``train`` and ``eval`` name no domain (statically, over the source);
* ``import schedgym.envs``, building every env and every non-learned, non-exact policy loads neither
  torch, torch_geometric nor ortools (in a fresh interpreter whose import of those raises).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import pytest

import schedgym.envs
from schedgym.agents.registry import policy_entries, serves
from schedgym.envs.domains import domains
from schedgym.eval.suites import load_suite

ROOT = Path(__file__).resolve().parents[1]
LAYER_OF = {"envs": 0, "agents": 1, "train": 2, "eval": 2, "configs": 0}
HEAVY = ("torch", "torch_geometric", "ortools")


# ----------------------------------------------------------------------------- manifests
def test_every_registered_id_belongs_to_exactly_one_manifest() -> None:
    registered = {i for i in gym.registry if i.startswith("schedgym/")}
    declared = [i for d in domains() for i in d.env_ids]
    assert len(declared) == len(set(declared)), "an id is declared by two manifests"
    assert registered == set(declared) == set(schedgym.envs.ENV_IDS)


@pytest.mark.parametrize("name", [d.name for d in domains()])
def test_manifest_points_at_real_things(name: str) -> None:
    d = next(d for d in domains() if d.name == name)
    for folder in d.folders:
        assert (ROOT / folder).is_dir(), f"{name}: folder {folder} missing"
    assert (ROOT / d.docs.split("#")[0]).is_file(), f"{name}: docs {d.docs} missing"
    for env_id, entry in d.env_ids.items():
        cls = entry.env_class()
        assert cls.__doc__ and entry.summary, f"{env_id}: needs a docstring and a summary"
    assert d.suites, f"{name} declares no suites"
    for suite in d.suites:
        s = load_suite(suite)
        assert s.env_id in d.env_ids, f"suite {suite} runs {s.env_id}, not an id of {name}"
    import importlib

    assert hasattr(importlib.import_module(d.policies), "POLICIES")


def test_every_policy_serves_registered_ids_and_documents_itself() -> None:
    ids = set(schedgym.envs.ENV_IDS)
    for name, entry in policy_entries().items():
        assert entry.summary, name
        assert entry.env_ids == ("*",) or set(entry.env_ids) <= ids, f"{name} claims unknown ids {entry.env_ids}"


def _cheap_policy_cases() -> list[tuple[str, str]]:
    """Every non-learned policy x every env id it claims, on small default settings."""
    cases = []
    for name, entry in sorted(policy_entries().items()):
        if entry.kind == "learned":
            continue
        for env_id in sorted(schedgym.envs.ENV_IDS):
            if entry.env_ids != ("*",) and serves(entry, env_id):
                cases.append((name, env_id))
    return cases


# small env settings for the policy x env sweep (defaults where absent); exact solvers get short limits
SMALL = {
    "schedgym/JobShop-v0": {"n_jobs": 4, "n_machines": 3},
    "schedgym/ISBJobShop-v0": {"n_jobs": 4, "n_machines": 3},
    "schedgym/BlockingJobShop-v0": {"n_jobs": 4, "n_machines": 3},
    "schedgym/InterruptJobShop-v0": {"n_jobs": 4, "n_machines": 3},
    "schedgym/LLMServe-v0": {"n_requests": 40, "max_nodes": 64},
    "schedgym/LLMCluster-v0": {"n_requests": 40},
}


@pytest.mark.parametrize(("policy", "env_id"), _cheap_policy_cases())
def test_every_policy_runs_a_validated_episode_on_every_id_it_claims(policy: str, env_id: str) -> None:
    from schedgym.agents import make_policy, run_episode
    from schedgym.agents.spec import PolicyError, check_env_kwargs

    entry = policy_entries()[policy]
    spec = policy
    if entry.kind in ("exact", "oracle") and entry.options and "seconds" in entry.options:
        spec = f"{policy}:2"
    try:
        pol = make_policy(spec, env_id=env_id)
    except PolicyError as exc:  # an optional package (an extra) that is not installed here
        if "not installed" not in str(exc):
            raise
        pytest.skip(str(exc))
    kwargs = check_env_kwargs(spec, pol.env_kwargs, SMALL.get(env_id, {}))
    env = gym.make(env_id, **kwargs)
    result = run_episode(env, pol, seed=0)
    assert result.validated_objective == pytest.approx(result.objective), (policy, env_id)


def test_policy_env_kwargs_conflict_is_an_error_naming_both() -> None:
    from schedgym.agents.spec import PolicyError, check_env_kwargs

    with pytest.raises(PolicyError, match=r"mwkr:active.*schedule_builder='active'.*'nondelay'"):
        check_env_kwargs("mwkr:active", {"schedule_builder": "active"}, {"schedule_builder": "nondelay"})
    assert check_env_kwargs("x", {"a": 1}, {"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_policy_spec_parsing_and_module_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from schedgym.agents import make_policy
    from schedgym.agents.spec import PolicyError, PolicySpec

    assert PolicySpec.parse("mwkr:active") == PolicySpec("mwkr", "active")
    assert PolicySpec.parse("gnn:runs/x/best.pt#k=8") == PolicySpec("gnn", "runs/x/best.pt#k=8")
    assert PolicySpec.parse("my_pkg.mod:make:fast") == PolicySpec("my_pkg.mod:make", "fast")
    (tmp_path / "user_pkg").mkdir()
    (tmp_path / "user_pkg" / "__init__.py").write_text("")
    (tmp_path / "user_pkg" / "policies.py").write_text(textwrap.dedent('''
        from schedgym.agents.base import RandomPolicy

        def make(option=None):
            policy = RandomPolicy()
            policy.name = f"mine:{option}"
            return policy
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    pol = make_policy("user_pkg.policies:make:fast")
    assert pol.name == "mine:fast"
    with pytest.raises(PolicyError, match="no attribute"):
        make_policy("user_pkg.policies:nope")
    with pytest.raises(PolicyError, match="takes no option"):
        make_policy("cluster-rr:3")
    with pytest.raises(PolicyError, match="does not serve"):
        make_policy("vllm-fcfs", env_id="schedgym/JobShop-v0")
    with pytest.raises(KeyError, match="unknown policy 'mwrk'"):
        make_policy("mwrk")


# ----------------------------------------------------------------------------- layers (static)
def _imports(path: Path) -> list[str]:
    """Absolute module names a file imports (relative imports resolved inside ``schedgym``)."""
    rel = path.relative_to(ROOT)
    package = ["schedgym", *rel.parts[:-1]]
    if rel.name == "__init__.py":
        package_parts = package
    else:
        package_parts = package
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                out.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                out.append(node.module)
    return out


def _code_files(folder: str) -> list[Path]:
    return [p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts]


@pytest.mark.parametrize("folder", ["envs", "agents", "configs"])
def test_layers_point_one_way(folder: str) -> None:
    bad = []
    for path in _code_files(folder):
        for mod in _imports(path):
            parts = mod.split(".")
            if parts[0] == "schedgym" and len(parts) > 1 and parts[1] in LAYER_OF:
                if LAYER_OF[parts[1]] > LAYER_OF[folder]:
                    bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


@pytest.mark.parametrize("folder", ["train", "eval"])
def test_shared_rooms_name_no_domain(folder: str) -> None:
    names = {d.name for d in domains()}
    bad = []
    for path in _code_files(folder):
        for mod in _imports(path):
            parts = mod.split(".")
            if len(parts) > 2 and parts[0] == "schedgym" and parts[1] in ("envs", "agents") and parts[2] in names:
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
        text = path.read_text()
        for env_id in schedgym.envs.ENV_IDS:
            if env_id in text:
                bad.append(f"{path.relative_to(ROOT)} names {env_id}")
    assert not bad, "shared code that knows a domain by name:\n" + "\n".join(bad)


# ----------------------------------------------------------------------------- light imports (runtime)
_BLOCKER = textwrap.dedent('''
    import importlib.abc, json, sys
    HEAVY = {heavy!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                raise ImportError(f"blocked heavy import: {{name}}")
            return None

    sys.meta_path.insert(0, Block())
''')


def _run_blocked(body: str) -> dict:
    code = _BLOCKER.format(heavy=HEAVY) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_envs_and_baselines_build_without_torch_or_ortools() -> None:
    out = _run_blocked('''
        import gymnasium as gym
        import schedgym.envs
        from schedgym.agents.registry import policy_entries, serves
        from schedgym.agents import make_policy
        built, envs = [], []
        for env_id in schedgym.envs.ENV_IDS:
            env = gym.make(env_id)
            env.reset(seed=0)
            envs.append(env_id)
        for name, entry in policy_entries().items():
            if entry.kind in ("baseline", "random"):
                make_policy(name)
                built.append(name)
        from schedgym.agents.spec import PolicyError
        try:
            make_policy("gnn:jobshop-10x10")
            gnn_error = ""
        except PolicyError as exc:
            gnn_error = str(exc)
        print(json.dumps({"envs": envs, "built": built, "gnn_error": gnn_error,
                          "loaded": [m for m in sys.modules if m.split(".")[0] in HEAVY]}))
    ''')
    assert out["loaded"] == [] and len(out["envs"]) == len(schedgym.envs.ENV_IDS)
    assert "schedgym[train]" in out["gnn_error"]  # without torch, a gnn policy says which extra it needs
    assert "mwkr" in out["built"] and "vllm-fcfs" in out["built"]
