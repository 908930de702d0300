"""``schedgym-eval``: run policies over evaluation suites, validate every solution, write a leaderboard.

Usage (OmegaConf ``key=value`` overrides; lists in brackets)::

    schedgym-eval suite=taillard-15x15
    schedgym-eval suite=[ft06,lawrence-10x5] policies=[mwkr:nondelay,cpsat:10] seeds=[0] out=runs/eval/small
    schedgym-eval suite=taillard-15x15 policies=[mwkr:nondelay,gnn:runs/train/x/best.pt]
    schedgym-eval show=true                         # the domains, suites and policies
    schedgym-eval gallery=docs/gallery              # the README gallery (python -m schedgym.eval.gallery) and gallery.md
    schedgym-eval --help                            # every key, its type, default and meaning

A single value is a one-element list (``policies=mwkr:nondelay``, ``seeds=0``). ``env_kwargs.<k>=<v>``
applies to every case that does not set ``<k>`` itself; one that sets it to another value is an error
(a case's own settings are never silently overridden; write a suite file instead).

Writes ``<out>/config.yaml``, ``<out>/results.csv`` (one row per suite x case x policy x seed:
objective, reference, gap, validated, wall time, metrics, provenance), ``<out>/leaderboard.md`` (mean
gaps with 95% CIs, episode counts, wins / ties / losses against the best baseline), the suites' plots,
``<out>/tables.tex`` / ``<out>/tables.md`` (``exports=true``) and the static site
``<out>/site/index.html`` (``site=true``; ``site_renders=true`` adds pictures of episodes). Running
again with the same ``out`` resumes: finished rows are kept, not redone.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from ..agents.spec import PolicyError
from ..configs.grammar import UsageError, parse_overrides, run_cli
from ..envs.data import DATA_MIRROR_ENV


@dataclass
class RayConfig:
    address: Optional[str] = None  # ray.init(address=...): "auto" joins the cluster `ray start` made here, "ray://host:10001" a remote head, "local" starts one


@dataclass
class EvalConfig:
    suite: Any = MISSING  # a suite name, a path to a suite YAML, or a list of them (see show=true)
    policies: Optional[list[str]] = None  # policy specs (default: each suite's own list), e.g. [mwkr:nondelay,cpsat:10]
    seeds: Optional[list[int]] = None  # episode seeds (default: each suite's own seeds)
    cases: Optional[list[str]] = None  # restrict to these case names
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # extra env kwargs for every case, e.g. env_kwargs.reward=sparse (a key a case sets itself is an error)
    out: Optional[str] = None  # output folder (default: runs/eval/<suite names>)
    resume: bool = True  # skip rows already in <out>/results.csv
    data_mirror: Optional[str] = None  # folder laid out like the shared data (jsplib/, azure-llm-2023/, ...); sets SCHEDGYM_DATA_MIRROR
    progress: bool = True  # a progress bar on a terminal; elsewhere (logs, CI) one line per 5% of the episodes
    exports: bool = True  # write tables.tex (LaTeX, booktabs) and tables.md beside results.csv
    site: bool = True  # write the static leaderboard site <out>/site/index.html (opens offline)
    site_renders: bool = False  # on the site, a picture of each policy's best and worst episode (reruns those episodes)
    show: bool = False  # print the domains, their env ids, suites and policies, then exit
    gallery: Optional[str] = None  # write the gallery (one column-sized PNG per domain, python -m schedgym.eval.gallery for sizes and formats) and gallery.md into this folder, then exit
    print_leaderboard: bool = True  # print the leaderboard at the end
    workers: int = 1  # run episodes in this many worker processes (rows stay in plan order, as a serial run writes them)
    ray: RayConfig = field(default_factory=RayConfig)  # ray.address=auto|ray://host:10001|local runs each episode as a Ray task


SUMMARY = ("Run policies over evaluation suites, validate every solution with the domain's validator, and write "
           "results.csv, leaderboard.md, LaTeX / Markdown tables, the suites' plots and a static leaderboard site.")
EXAMPLES = (
    "show=true",
    "suite=taillard-15x15",
    "suite=[ft06,lawrence-10x5] policies=[mwkr:nondelay,cpsat:10] seeds=[0] out=runs/eval/small",
    "suite=taillard-15x15 policies=[mwkr:nondelay,gnn:runs/train/x/best.pt]",
    "suite=ft06 policies=[my_pkg.policies:make_policy]",
    "gallery=docs/gallery",
)


#: keys typed as lists: a single value is a one-element list
LIST_KEYS = ("policies", "seeds", "cases")


def _normalize(argv: list[str]) -> list[str]:
    """Wrap a single value of a list key in brackets, and check that every value parses (a YAML error
    becomes a :class:`UsageError` naming the key instead of a traceback)."""
    out = []
    for arg in argv:
        if "=" not in arg or arg.startswith("-"):
            out.append(arg)  # the grammar reports it
            continue
        key, value = arg.split("=", 1)
        if key in LIST_KEYS and value.strip() and not value.lstrip().startswith("[") and value.strip() != "null":
            arg = f"{key}=[{value}]"
        try:
            parsed = OmegaConf.from_dotlist([arg])
        except Exception as exc:  # noqa: BLE001 - OmegaConf grammar and YAML parser errors
            text = " ".join(str(exc).split())
            raise UsageError(f"key {key!r}: cannot parse {value!r} ({text[:160]}) (see schedgym-eval --help)") from None
        if key == "env_kwargs" and not isinstance(parsed.get("env_kwargs"), (DictConfig, type(None))):
            raise UsageError(f"key 'env_kwargs': expects a mapping such as {{reward: sparse}}, got {value!r}")
        out.append(arg)
    return out


def parse_config(argv: list[str]) -> EvalConfig:
    """Parse ``key=value`` overrides into an :class:`EvalConfig`; raises :class:`UsageError` naming the key."""
    cfg = parse_overrides("schedgym-eval", _normalize(list(argv)), EvalConfig, SUMMARY, EXAMPLES)
    if not cfg.show and not cfg.gallery and OmegaConf.is_missing(cfg, "suite"):
        raise UsageError("key 'suite' is required: suite=<name> (schedgym-eval show=true lists them)")
    for key in LIST_KEYS:
        value = cfg[key]
        if value is not None and len(value) == 0:
            raise UsageError(f"key {key!r}: an empty list selects nothing; omit {key}= to use each suite's own")
    if cfg.workers < 1:
        raise UsageError(f"key 'workers': must be >= 1, got {cfg.workers}")
    if cfg.ray.address is not None and not str(cfg.ray.address).strip():
        raise UsageError("key 'ray.address': empty; use auto, ray://host:10001 or local")
    if cfg.out and Path(cfg.out).exists() and not Path(cfg.out).is_dir():
        raise UsageError(f"key 'out': {cfg.out} is a file; out= names the output folder")
    return cfg  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    return run_cli("schedgym-eval", lambda: _main(list(sys.argv[1:] if argv is None else argv)),
                   usage_errors=(PolicyError,))


def _main(argv: list[str]) -> int:
    cfg = parse_config(argv)
    if cfg.show:
        print(show_text())
        return 0
    if cfg.gallery:
        from .site import write_gallery

        for path in write_gallery(Path(cfg.gallery)):
            print(path)
        return 0
    if cfg.data_mirror:
        os.environ[DATA_MIRROR_ENV] = str(Path(cfg.data_mirror).resolve())
    return evaluate(cfg)


def show_text() -> str:
    """The domains (from their manifests) with their env ids, suites and docs, and every policy."""
    from ..agents.registry import policy_entries, serves
    from ..envs.domains import domains

    entries = policy_entries()
    lines: list[str] = []
    for d in domains():
        lines.append(f"{d.name}: {d.title}  (docs: {d.docs})")
        for env_id, entry in d.env_ids.items():
            lines.append(f"  {env_id}: {entry.summary}")
        lines.append(f"  suites: {', '.join(d.suites) or '-'}")
        mine = sorted(n for n, e in entries.items() if e.env_ids != ("*",) and any(serves(e, i) for i in d.env_ids))
        lines.append(f"  policies: {', '.join(mine) or '-'}")
    lines.append("policies (name[:option]  kind  what; option):")
    for name, e in sorted(entries.items()):
        option = f"; option: {e.options}" if e.options else ""
        lines.append(f"  {name:<16} {e.kind:<8} {e.summary}{option}")
    lines.append("your own: policies=[pkg.module:factory[:option]] or the 'schedgym.policies' entry-point group")
    return "\n".join(lines)


def evaluate(cfg: EvalConfig) -> int:
    import schedgym.envs  # noqa: F401  registers the ids

    from .leaderboard import load_results, render_markdown
    from .parallel import run_jobs
    from .runner import ResultsWriter, plan, read_done
    from .suites import load_suite

    suite_args = [cfg.suite] if isinstance(cfg.suite, (str, int, float)) else list(cfg.suite)
    try:
        suites = [load_suite(str(s)) for s in suite_args]
    except (KeyError, ValueError) as exc:
        raise UsageError(f"key 'suite': {exc.args[0] if exc.args else exc}") from None
    if cfg.env_kwargs:
        extra = OmegaConf.to_container(cfg.env_kwargs, resolve=True)
        for s in suites:
            for case in [c for c in s.cases if not cfg.cases or c.name in cfg.cases]:  # a case's own kwargs win over the suite's: never silently over the user's
                clash = {k: v for k, v in case.env_kwargs.items() if k in extra and v != extra[k]}  # type: ignore[operator]
                if clash:
                    k = sorted(clash)[0]
                    raise UsageError(f"key 'env_kwargs.{k}': case {case.name!r} of suite {s.name!r} sets {k}={clash[k]!r} "
                                     "itself; a case's own settings are not overridden (write a suite file, or "
                                     "pick other cases with cases=)")
            s.env_kwargs = {**s.env_kwargs, **extra}
    # fail fast on unknown cases and policy names, before anything is written or run
    from ..agents.registry import make_policy

    try:
        jobs = plan(suites, list(cfg.policies) if cfg.policies else None,
                    [int(s) for s in cfg.seeds] if cfg.seeds is not None else None,
                    list(cfg.cases) if cfg.cases else None)
    except (KeyError, ValueError) as exc:
        raise UsageError(f"key 'cases': {exc.args[0] if exc.args else exc}") from None
    for env_id, name in sorted({(j.suite.env_id, j.policy) for j in jobs}):
        try:
            make_policy(name, env_id=env_id)  # PolicyError: one line naming the policy
        except PolicyError as exc:
            msg = str(exc.args[0]) if exc.args else str(exc)
            raise UsageError(f"key 'policies': {msg}") from None
    out = Path(cfg.out or os.path.join("runs", "eval", "+".join(s.name for s in suites)))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "config.yaml.tmp"
    tmp.write_text(OmegaConf.to_yaml(cfg))
    tmp.replace(out / "config.yaml")  # never half-written
    print(OmegaConf.to_yaml(cfg).rstrip())
    results_path = out / "results.csv"
    done, existing = read_done(results_path) if cfg.resume else (set(), [])
    todo = [j for j in jobs if j.key not in done]
    writer = ResultsWriter(results_path, existing)
    print(f"{len(jobs)} episodes planned, {len(jobs) - len(todo)} already in {results_path}, {len(todo)} to run")
    failures = 0
    progress = Progress(len(todo)) if cfg.progress and todo else None
    if todo and (cfg.workers > 1 or cfg.ray.address):
        print(f"running on {'Ray at ' + str(cfg.ray.address) if cfg.ray.address else f'{cfg.workers} worker processes'}")
    try:
        for job, row in zip(todo, run_jobs(todo, cfg.workers, cfg.ray.address)):
            if row["error"]:
                failures += 1
                print(f"\nFAILED {job.key}: {row['error']}", file=sys.stderr)
            writer.add(row)
            if progress is not None:
                progress.describe(f"{job.suite.name} {job.case.name} {job.policy}")
                progress.update()
    finally:
        if progress is not None:
            progress.close()
    df = load_results(results_path)
    metrics = {s.name: s.leaderboard_metrics for s in suites}
    board = render_markdown(df, metrics)
    tmp = out / "leaderboard.md.tmp"
    tmp.write_text(board + "\n")
    tmp.replace(out / "leaderboard.md")
    plots: dict[str, list[Path]] = {}
    for s in suites:
        if s.plot is not None:
            for p in s.plot(df[df["suite"] == s.name], out):
                plots.setdefault(s.name, []).append(Path(p))
                print(f"plot: {p}")
    publish(cfg, df, suites, metrics, plots, out)
    if cfg.print_leaderboard:
        print(board)
    print(f"\nresults: {results_path}\nleaderboard: {out / 'leaderboard.md'}")
    if cfg.exports and (out / "tables.tex").is_file():
        print(f"tables: {out / 'tables.tex'}" + (f", {out / 'tables.md'}" if (out / "tables.md").is_file() else ""))
    if cfg.site:
        print(f"site: {(out / 'site' / 'index.html').resolve()}")
    return 1 if failures else 0


def publish(cfg: EvalConfig, df: Any, suites: list[Any], metrics: dict[str, list[str]], plots: dict[str, list[Path]],
            out: Path) -> None:
    """Write what ``exports`` / ``site`` / ``site_renders`` ask for from the results in ``df``."""
    if not (cfg.exports or cfg.site):
        return
    from .leaderboard import suite_tables

    tables = suite_tables(df, metrics)
    if cfg.exports:
        from .export import write_exports

        try:
            write_exports(df, tables, out)
        except ImportError as exc:  # pandas' optional writers: jinja2 (to_latex), tabulate (to_markdown)
            print(f"schedgym-eval: {exc}", file=sys.stderr)
    if cfg.site:
        from ..envs.domains import domain_of
        from .site import render_episodes, write_site

        domains: dict[str, str] = {}
        for s in suites:
            try:
                domains[s.name] = domain_of(s.env_id).name
            except KeyError:
                domains[s.name] = "other"
        renders = render_episodes(df, suites, out / "site" / "assets") if cfg.site_renders else None
        write_site(out, df, tables, domains, plots, renders)


class Progress:
    """Episodes done out of ``total``: a tqdm bar on a terminal; elsewhere (a log file, CI) a plain line
    every 5% of the episodes (at most about 20 lines), so logs hold no redraws."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total, self.done, self.desc = total, 0, ""
        self.stream = stream if stream is not None else sys.stderr
        self.every = max(1, -(-total // 20))
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="ep", dynamic_ncols=True, file=self.stream)

    def describe(self, text: str) -> None:
        self.desc = text
        if self.bar is not None:
            self.bar.set_description(text)

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.done % self.every == 0 or self.done == self.total:
            print(f"[{self.done}/{self.total} episodes, {100 * self.done // self.total}%] {self.desc}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
