"""A static leaderboard site, written by ``schedgym-eval`` into ``<out>/site/`` beside ``results.csv``.

* ``index.html``: the provenance of the rows, every suite grouped by domain (its best policy, best
  baseline and episode count, linked to its page) and the mean gap of every policy on every suite.
* ``suite-<suite>.html``: per group, the leaderboard table (the same cells as ``leaderboard.md``:
  :func:`schedgym.eval.leaderboard.display_table`), a bar chart of the mean gaps with their 95%
  confidence intervals (inline SVG), the suite's plots and, when rendered (``site_renders=true``), the
  picture of the best and the worst episode of every policy.

Every table sorts by a click on its header (a small inline script; each cell's ``data-value`` holds
the exact number behind its text). The site opens offline: no CDN, no web font, no remote asset;
styles and script are inline and pictures are files under ``site/assets/``.
"""

from __future__ import annotations

import html
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .leaderboard import SuiteTable, display_summary, display_table, summary_frames, with_gaps
from .provenance import provenance_summary

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1,h2,h3{font-weight:600}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}
th,td{padding:0.3em 0.7em;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
.scroll{overflow-x:auto}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #444;cursor:pointer;user-select:none;white-space:nowrap}
thead th[aria-sort=ascending]::after{content:" \\25B2"}
thead th[aria-sort=descending]::after{content:" \\25BC"}
td.best{font-weight:700}
.prov{font-size:0.85em;color:#555}
.note{font-size:0.85em;color:#555}
figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:46%}
figure img{max-width:100%;border:1px solid #ccc}
figcaption{font-size:0.8em;color:#444;max-width:40em}
img.plot{max-width:100%}
"""

# sorts a table by the clicked column: numbers by their data-value, text otherwise; toggles the order
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute("data-value");
        var n = v === null || v === "" ? NaN : Number(v);
        return isNaN(n) ? {num: false, v: cell.textContent} : {num: true, v: n};
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x.num !== y.num) { return x.num ? -1 : 1; }
        var c = x.num ? x.v - y.v : String(x.v).localeCompare(String(y.v));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


@dataclass(frozen=True)
class Render:
    """A picture of one episode for the site: ``which`` is ``best`` or ``worst`` of ``policy``."""

    suite: str
    group: str
    policy: str
    which: str
    case: str
    seed: int
    objective: float
    path: Path | None
    note: str = ""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def slug(name: str) -> str:
    """A file-name-safe form of ``name``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "suite"


def _num(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else repr(v)


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>", *body,
        f"<script>{SCRIPT}</script>", "</body>", "</html>", ""])


def _prov(df: pd.DataFrame) -> list[str]:
    lines = provenance_summary(df)
    if not lines:
        return []
    return ['<p class="prov">Produced with: ' + "; ".join(_e(x) for x in lines) + "</p>"]


def suite_table_html(st: SuiteTable) -> str:
    """The leaderboard table of ``st`` as a sortable HTML table (cells of :func:`display_table`)."""
    text, bold = display_table(st)
    t = st.table
    raw: dict[str, Any] = {"mean gap": "mean_gap", "95% CI": "gap_ci95", "objective": "objective",
                           "episodes": "episodes", "wall time (s)": "wall_time_s", "errors": "errors"}
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in ["policy", *text.columns])
    rows = []
    for p in text.index:
        cells = [f'<th scope="row" data-value="{_e(p)}">{_e(p)}</th>']
        for c in text.columns:
            src = raw.get(c, c if c in t.columns else None)
            if c.startswith("W/T/L") and pd.notna(t.loc[p, "wins"]):
                value = _num(int(t.loc[p, "wins"]) - int(t.loc[p, "losses"]))
            elif src is not None and src in t.columns and c != "proven optimal":
                value = _num(t.loc[p, src])
            else:
                value = ""
            cls = ' class="best"' if bold.loc[p, c] else ""
            cells.append(f'<td data-col="{_e(c)}" data-value="{_e(value)}"{cls}>{_e(text.loc[p, c])}</td>')
        rows.append(f'<tr data-policy="{_e(p)}">' + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="sortable" data-suite="{_e(st.suite)}" data-group="{_e(st.group)}">'
            f"<thead><tr>{head}</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def gap_bars_svg(st: SuiteTable, width: int = 640, bar: int = 18) -> str:
    """Horizontal bars of the mean gaps (with 95% CI whiskers), one per policy, as inline SVG."""
    t = st.table
    label_w, pad = 190, 60
    lo = [float(m - (h if pd.notna(h) else 0)) for m, h in zip(t["mean_gap"], t["gap_ci95"])]
    hi = [float(m + (h if pd.notna(h) else 0)) for m, h in zip(t["mean_gap"], t["gap_ci95"])]
    vmin = min([0.0, *[v for v in lo if not math.isnan(v)]])
    vmax = max([0.0, *[v for v in hi if not math.isnan(v)]])
    span = (vmax - vmin) or 1.0
    plot_w = width - label_w - pad
    x = lambda v: label_w + (v - vmin) / span * plot_w  # noqa: E731
    height = bar * len(t) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="11" font-family="sans-serif">',
             f"<title>{_e(st.title)}: mean gap per policy with 95% CI</title>"]
    for i, (p, m) in enumerate(t["mean_gap"].items()):
        y = 4 + i * bar
        if not math.isnan(float(m)):
            x0, x1 = sorted((x(0.0), x(float(m))))
            parts.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.5):.1f}" height="{bar - 6}" '
                         f'fill="{"#2b6cb0" if p == st.best() else "#90b4d8"}"><title>{_e(p)}: {100 * float(m):.2f}%</title></rect>')
            if not math.isnan(lo[i]) and hi[i] != lo[i]:
                parts.append(f'<line x1="{x(lo[i]):.1f}" x2="{x(hi[i]):.1f}" y1="{y + bar / 2}" y2="{y + bar / 2}" '
                             'stroke="#222" stroke-width="1"/>')
            parts.append(f'<text x="{x(max(hi[i], float(m))) + 4:.1f}" y="{y + bar / 2 + 4}">{100 * float(m):.2f}%</text>')
        parts.append(f'<text x="{label_w - 6}" y="{y + bar / 2 + 4}" text-anchor="end">{_e(p)}</text>')
    axis_y = 4 + len(t) * bar + 2
    parts.append(f'<line x1="{x(0.0):.1f}" x2="{x(0.0):.1f}" y1="2" y2="{axis_y}" stroke="#888"/>')
    parts.append(f'<text x="{label_w}" y="{axis_y + 14}">mean gap ({_e(st.gap_kind)}), 95% CI</text>')
    parts.append("</svg>")
    return "".join(parts)


def _asset(src: Path, assets: Path) -> str:
    """Copy ``src`` into ``assets`` (once) and return its path relative to the site folder."""
    assets.mkdir(parents=True, exist_ok=True)
    dst = assets / src.name
    if src.resolve() != dst.resolve():
        shutil.copyfile(src, dst)
    return f"{assets.name}/{dst.name}"


def _figures(paths: Iterable[Path], assets: Path) -> list[str]:
    out = []
    for p in paths:
        p = Path(p)
        if p.is_file() and p.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg", ".gif"):
            out.append(f'<figure><img class="plot" src="{_e(_asset(p, assets))}" alt="{_e(p.stem)}">'
                       f"<figcaption>{_e(p.name)}</figcaption></figure>")
    return out


def _render_figures(renders: list[Render], assets: Path) -> list[str]:
    out = []
    for r in renders:
        caption = (f"{r.policy}, {r.which} episode: case {r.case}, seed {r.seed}, objective {r.objective:g}"
                   + (f" ({r.note})" if r.note else ""))
        if r.path is not None and Path(r.path).is_file():
            out.append(f'<figure><img src="{_e(_asset(Path(r.path), assets))}" alt="{_e(caption)}">'
                       f"<figcaption>{_e(caption)}</figcaption></figure>")
        else:
            out.append(f'<p class="note">{_e(caption)}: no picture</p>')
    return out


def suite_page(suite: str, tables: list[SuiteTable], df: pd.DataFrame, plots: list[Path],
               renders: list[Render], assets: Path) -> str:
    """The HTML page of one suite."""
    body = ['<p><a href="index.html">&larr; all suites</a></p>', f"<h1>{_e(suite)}</h1>"]
    body += _prov(df[df["suite"] == suite])
    body.append('<p class="note">Gap: the objective\'s relative distance to the reference (or to the best policy '
                "of the run on the same case and seed) in the objective's direction; lower is better; the best "
                "comparable mean in bold. 95% CI: Student's t interval over cases and seeds. A mean over fewer "
                "episodes than the table's most is marked (n/N) and not compared. W/T/L: instances (case, seed) "
                "where the policy's objective is better / equal / worse than the best baseline's. Click a column "
                "header to sort.</p>")
    for st in tables:
        body.append(f"<h2>{_e(st.title)}</h2>")
        body.append(suite_table_html(st))
        body.append(gap_bars_svg(st))
        mine = [r for r in renders if r.group == st.group]
        if mine:
            body.append("<h3>Best and worst episode of each policy</h3>")
            body += _render_figures(mine, assets)
    figs = _figures(plots, assets)
    if figs:
        body.append("<h2>Plots</h2>")
        body += figs
    return _page(f"schedgym: {suite}", body)


def index_page(df: pd.DataFrame, tables: list[SuiteTable], domain_of: dict[str, str], pages: dict[str, str],
               files: Iterable[str] = ()) -> str:
    """The index: provenance, the suites grouped by domain, and every policy's mean gap per suite."""
    ok = with_gaps(df)
    n_err = int((df["error"] != "").sum()) if "error" in df else 0
    body = ["<h1>schedgym leaderboard</h1>",
            f'<p>{len(ok)} validated episodes' + (f", {n_err} failed (see results.csv)" if n_err else "") + ".</p>"]
    body += _prov(df)
    by_domain: dict[str, list[SuiteTable]] = {}
    for st in tables:
        by_domain.setdefault(domain_of.get(st.suite, "other"), []).append(st)
    body.append("<h2>Suites by domain</h2>")
    for dom in sorted(by_domain):
        body.append(f"<h3>{_e(dom)}</h3>")
        head = "".join(f'<th scope="col">{c}</th>' for c in
                       ("suite", "group", "objective", "policies", "episodes", "best policy", "best mean gap", "best baseline"))
        rows = []
        for st in by_domain[dom]:
            best = st.best()
            gap = st.table.loc[best, "mean_gap"] if best is not None else float("nan")
            link = f'<a href="{_e(pages[st.suite])}">{_e(st.suite)}</a>' if st.suite in pages else _e(st.suite)
            rows.append(
                f'<tr data-suite="{_e(st.suite)}" data-group="{_e(st.group)}">'
                f'<th scope="row" data-value="{_e(st.suite)}">{link}</th>'
                f'<td data-value="{_e(st.group)}">{_e(st.group or "-")}</td>'
                f'<td data-value="{_e(st.objective_name)}">{_e(st.objective_name)} ({_e(st.sense)})</td>'
                f'<td data-value="{len(st.table)}">{len(st.table)}</td>'
                f'<td data-value="{int(st.table["episodes"].sum())}">{int(st.table["episodes"].sum())}</td>'
                f'<td data-value="{_e(best or "")}">{_e(best or "-")}</td>'
                f'<td data-col="best mean gap" data-value="{_num(gap)}">'
                f'{"-" if math.isnan(float(gap)) else f"{100 * float(gap):.2f}%"}</td>'
                f'<td data-value="{_e(st.baseline or "")}">{_e(st.baseline or "-")}</td></tr>')
        body.append(f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    text, bold = display_summary(df)
    if not text.empty:
        summary, _ = summary_frames(df)
        body.append("<h2>Mean gap of every policy on every suite</h2>")
        head = '<th scope="col">policy</th>' + "".join(f'<th scope="col">{_e(c)}</th>' for c in text.columns)
        rows = []
        for p in text.index:
            cells = [f'<th scope="row" data-value="{_e(p)}">{_e(p)}</th>']
            for c in text.columns:
                cls = ' class="best"' if bold.loc[p, c] else ""
                cells.append(f'<td data-col="{_e(c)}" data-value="{_num(summary.loc[p, c])}"{cls}>{_e(text.loc[p, c])}</td>')
            rows.append(f'<tr data-policy="{_e(p)}">' + "".join(cells) + "</tr>")
        body.append(f'<div class="scroll"><table class="sortable" id="summary"><thead><tr>{head}</tr></thead>'
                    f'<tbody>{"".join(rows)}</tbody></table></div>')
    files = list(files)
    if files:
        body.append('<p class="note">Files: ' + ", ".join(f'<a href="../{_e(f)}">{_e(f)}</a>' for f in files) + ".</p>")
    return _page("schedgym leaderboard", body)


def render_episodes(df: pd.DataFrame, suites: Iterable[Any], assets: Path) -> dict[str, list[Render]]:
    """Rerun the best and the worst episode (by gap) of every policy of every suite / group with
    ``render_mode="rgb_array"`` and save the env's final ``render()`` as a PNG under ``assets``.

    The episode is rebuilt from the suite (its case's env kwargs and the row's seed) and rerun with its
    policy: a deterministic policy gives the recorded episode again; where the rerun's objective
    differs (a time-limited solver, a row made with other settings) the caption says so. An episode
    that cannot be rerun or rendered gets a caption with the reason and no picture."""
    import matplotlib.image

    from ..agents.base import run_episode
    from .runner import Job, build

    ok = with_gaps(df)
    assets.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Render]] = {}
    for suite in suites:
        sub = ok[ok["suite"] == suite.name]
        for (group, policy), rows in sub.groupby(["group", "policy"], sort=False):
            score = rows["gap"].where(rows["gap"].notna(),
                                      rows["objective"] * rows["sense"].map({"min": 1.0, "max": -1.0}))
            picks = {"best": score.idxmin(), "worst": score.idxmax()}
            if picks["best"] == picks["worst"]:
                picks = {"best": picks["best"]}
            for which, idx in picks.items():
                row = rows.loc[idx]
                case = next((c for c in suite.cases if c.name == str(row["case"]) and c.group == str(group)), None)
                seed, recorded = int(row["seed"]), float(row["objective"])
                note, path = "", None
                try:
                    if case is None:
                        raise LookupError(f"case {row['case']!r} is not in suite {suite.name!r}")
                    job = Job(suite, case, str(policy), seed)
                    pol, env, _ = build(job, render_mode="rgb_array")
                    try:
                        result = run_episode(env, pol, seed=seed, validate=False)
                        frame = env.render()
                    finally:
                        env.close()
                    if frame is None:
                        raise ValueError("the env's render() returned nothing")
                    parts = [slug(suite.name), *([slug(str(group))] if str(group) else []), slug(str(policy)), which]
                    path = assets / ("render-" + "-".join(parts) + ".png")
                    matplotlib.image.imsave(path, frame)
                    if "settings" in row and str(row["settings"]) != job.settings:
                        note = "rerun with the suite's current settings, not the row's"
                    if not math.isclose(result.objective, recorded, rel_tol=1e-9, abs_tol=1e-9):
                        note = (note + "; " if note else "") + f"the rerun's objective is {result.objective:g}"
                except Exception as exc:  # noqa: BLE001 - the site says why, the run goes on
                    note, path = f"not rendered: {type(exc).__name__}: {exc}"[:300], None
                out.setdefault(suite.name, []).append(
                    Render(suite.name, str(group), str(policy), which, str(row["case"]), seed, recorded, path, note))
    return out


def write_gallery(folder: Path) -> list[Path]:
    """``schedgym-eval gallery=<folder>``: the README gallery's pictures (:func:`schedgym.eval.gallery.write_gallery`,
    one column-sized PNG per domain) plus ``<folder>/gallery.md``, a Markdown table of them. Returns the
    paths written; a domain whose figure fails raises, naming it."""
    from ..envs.domains import domains
    from .gallery import write_gallery as write_pictures

    folder = Path(folder)
    written, failed = write_pictures(folder, "column", ["png"])
    if failed:
        name, error = next(iter(failed.items()))
        raise RuntimeError(f"gallery figure of domain {name!r} failed: {error}")
    names = {p.stem for p in written}
    cells = [f"| {d.name} | `{d.gallery.env_id}` | `{d.gallery.policy}`, seed {d.gallery.seed}: {d.gallery.caption} | "
             f"![{d.name}]({d.name}.png) |" for d in domains() if d.name in names and d.gallery is not None]
    md = ["| domain | env id | episode | picture |", "|---|---|---|---|", *cells, ""]
    _write(folder / "gallery.md", "\n".join(md))
    return [*written, folder / "gallery.md"]


def write_site(out: Path, df: pd.DataFrame, tables: list[SuiteTable], domain_of: dict[str, str],
               plots: dict[str, list[Path]] | None = None, renders: dict[str, list[Render]] | None = None) -> Path:
    """Write ``<out>/site/``: ``index.html`` and one page per suite; returns the index's path.

    ``domain_of``: suite name -> domain name; ``plots``: suite name -> picture files; ``renders``: suite
    name -> :class:`Render` pictures of episodes."""
    site = Path(out) / "site"
    assets = site / "assets"
    site.mkdir(parents=True, exist_ok=True)
    plots, renders = plots or {}, renders or {}
    pages: dict[str, str] = {}
    for suite in dict.fromkeys(st.suite for st in tables):
        name = f"suite-{slug(suite)}.html"
        pages[suite] = name
        page = suite_page(suite, [st for st in tables if st.suite == suite], df, plots.get(suite, []),
                          renders.get(suite, []), assets)
        _write(site / name, page)
    index = site / "index.html"
    files = [f for f in ("results.csv", "leaderboard.md", "tables.tex", "tables.md") if (Path(out) / f).is_file()]
    _write(index, index_page(df, tables, domain_of, pages, files))
    return index


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
