"""``schedgym-eval``: run policies over evaluation suites, validate every solution, write a leaderboard.

Usage (OmegaConf ``key=value`` overrides; lists in brackets)::

    schedgym-eval suite=taillard-15x15
    schedgym-eval suite=[ft06,lawrence-10x5] policies=[mwkr:nondelay,cpsat:10] seeds=[0] out=runs/eval/small
    schedgym-eval suite=taillard-15x15 policies=[mwkr:nondelay,gnn:runs/train/x/best.pt]
    schedgym-eval show=true                         # the shipped suites and policies

Writes ``<out>/config.yaml``, ``<out>/results.csv`` (one row per suite x case x policy x seed:
objective, reference, gap, validated, wall time, metrics), ``<out>/leaderboard.md`` and any plots
the suites define. Running again with the same ``out`` resumes: finished rows are kept, not redone.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError


@dataclass
class EvalConfig:
    suite: Any = MISSING  # a suite name, a path to a suite YAML, or a list of them
    policies: Optional[list[str]] = None  # default: each suite's own list
    seeds: Optional[list[int]] = None  # default: each suite's own seeds
    cases: Optional[list[str]] = None  # restrict to these case names
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # extra env kwargs for every case, e.g. env_kwargs.reward=sparse
    out: Optional[str] = None  # default: runs/eval/<suite names>
    resume: bool = True  # skip rows already in <out>/results.csv
    jsplib_mirror: Optional[str] = None  # folder holding JSPLIB's instances/ (sets SCHEDGYM_JSPLIB_MIRROR)
    progress: bool = True
    show: bool = False  # print the shipped suites and policies, then exit
    print_leaderboard: bool = True


def parse_config(argv: list[str]) -> EvalConfig:
    """Parse ``key=value`` overrides into an :class:`EvalConfig`; unknown keys and bad types raise."""
    schema = OmegaConf.structured(EvalConfig)
    bad = [a for a in argv if "=" not in a]
    if bad:
        raise SystemExit(f"schedgym-eval: arguments must be key=value, got {bad}; keys: {list(EvalConfig.__dataclass_fields__)}")
    try:
        cfg = OmegaConf.merge(schema, OmegaConf.from_dotlist(argv))
    except (ConfigKeyError, ValidationError) as exc:
        key = getattr(exc, "full_key", None) or "?"
        msg = str(exc).split("\n")[0]
        raise SystemExit(f"schedgym-eval: bad override for key {key!r}: {msg}") from None
    if not cfg.show and OmegaConf.is_missing(cfg, "suite"):
        raise SystemExit("schedgym-eval: suite=<name> is required (schedgym-eval show=true shows the suites)")
    return cfg  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_config(argv)
    from ..agents.registry import policy_factories
    from .suites import suite_names

    if cfg.show:
        print("suites:  ", ", ".join(suite_names()))
        print("policies:", ", ".join(sorted(policy_factories())))
        return 0
    if cfg.jsplib_mirror:
        os.environ["SCHEDGYM_JSPLIB_MIRROR"] = str(Path(cfg.jsplib_mirror).resolve())
    return evaluate(cfg)


def evaluate(cfg: EvalConfig) -> int:
    import schedgym.envs  # noqa: F401  registers the ids

    from .leaderboard import load_results, render_markdown
    from .runner import ResultsWriter, plan, read_done, run_job
    from .suites import load_suite

    suite_args = [cfg.suite] if isinstance(cfg.suite, (str, int, float)) else list(cfg.suite)
    try:
        suites = [load_suite(str(s)) for s in suite_args]
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"schedgym-eval: {exc.args[0] if exc.args else exc}") from None
    if cfg.env_kwargs:
        extra = OmegaConf.to_container(cfg.env_kwargs, resolve=True)
        for s in suites:
            s.env_kwargs = {**s.env_kwargs, **extra}
    # fail fast on unknown cases and policy names, before anything is written or run
    from ..agents.registry import make_policy

    try:
        jobs = plan(suites, list(cfg.policies) if cfg.policies else None,
                    [int(s) for s in cfg.seeds] if cfg.seeds is not None else None,
                    list(cfg.cases) if cfg.cases else None)
        for name in sorted({j.policy for j in jobs}):
            make_policy(name)
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"schedgym-eval: {exc.args[0] if exc.args else exc}") from None
    out = Path(cfg.out or os.path.join("runs", "eval", "+".join(s.name for s in suites)))
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    print(OmegaConf.to_yaml(cfg).rstrip())
    results_path = out / "results.csv"
    done, existing = read_done(results_path) if cfg.resume else (set(), [])
    todo = [j for j in jobs if j.key not in done]
    writer = ResultsWriter(results_path, existing)
    print(f"{len(jobs)} episodes planned, {len(jobs) - len(todo)} already in {results_path}, {len(todo)} to run")
    failures = 0
    bar = None
    if cfg.progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="ep", dynamic_ncols=True)
    try:
        for job in todo:
            if bar is not None:
                bar.set_description(f"{job.suite.name} {job.case.name} {job.policy}")
            row = run_job(job)
            if row["error"]:
                failures += 1
                print(f"\nFAILED {job.key}: {row['error']}", file=sys.stderr)
            writer.add(row)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    df = load_results(results_path)
    metrics = {s.name: s.leaderboard_metrics for s in suites}
    board = render_markdown(df, metrics)
    (out / "leaderboard.md").write_text(board + "\n")
    for s in suites:
        if s.plot is not None:
            for p in s.plot(df[df["suite"] == s.name], out):
                print(f"plot: {p}")
    if cfg.print_leaderboard:
        print(board)
    print(f"\nresults: {results_path}\nleaderboard: {out / 'leaderboard.md'}")
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
