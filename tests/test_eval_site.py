"""What schedgym-eval publishes beside results.csv: the static site (parsed in Python, and opened in a
headless Chromium when one is installed), the LaTeX / Markdown exports, progress lines in logs."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from schedgym.eval.cli import Progress, main

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
POLICIES = ["mwkr:nondelay", "spt:nondelay", "random"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "ev"
    rc = main(["suite=taillard-15x15", "cases=[ta01,ta02]", f"policies=[{','.join(POLICIES)}]", "seeds=[0,1]",
               f"out={out}", "progress=false", "print_leaderboard=false", "site_renders=true"])
    assert rc == 0
    return out


def _csv_cells(results: Path) -> dict[str, dict[str, list[float]]]:
    """policy -> {gap: [...], objective: [...]} of the validated rows, read with the csv module."""
    cells: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with results.open() as f:
        for r in csv.DictReader(f):
            if r["error"] == "" and r["validated"] == "True":
                cells[r["policy"]]["gap"].append(float(r["gap"]))
                cells[r["policy"]]["objective"].append(float(r["objective"]))
    return cells


class Tables(HTMLParser):
    """Every table of a page: its attributes and rows of (tag, attrs, text) cells; plus src / href links."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.links: list[str] = []
        self.scripts_with_src: list[str] = []
        self.stylesheets: list[str] = []
        self._cell: list | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"attrs": a, "head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"attrs": a, "cells": []})
        elif tag in ("td", "th") and self.tables and self.tables[-1]["rows"]:
            self._cell = [tag, a, ""]
        if tag in ("img", "a", "link", "script", "iframe", "source"):
            for key in ("src", "href"):
                if a.get(key):
                    self.links.append(a[key])
        if tag == "script" and a.get("src"):
            self.scripts_with_src.append(a["src"])
        if tag == "link":
            self.stylesheets.append(a.get("href", ""))

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1]["cells"].append(tuple(self._cell))
            self._cell = None


def _parse(path: Path) -> Tables:
    p = Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _column(table: dict, name: str) -> int:
    header = [c[2] for c in table["rows"][0]["cells"]]
    return header.index(name)


def test_site_tables_hold_the_csv_numbers(run: Path) -> None:
    site = run / "site"
    csv_cells = _csv_cells(run / "results.csv")
    page = _parse(site / "suite-taillard-15x15.html")
    (table,) = [t for t in page.tables if t["attrs"].get("data-suite") == "taillard-15x15"]
    gap_col, obj_col, n_col = (_column(table, c) for c in ("mean gap", "objective", "episodes"))
    seen = set()
    for row in table["rows"][1:]:
        policy = row["attrs"]["data-policy"]
        seen.add(policy)
        gaps = csv_cells[policy]["gap"]
        mean = sum(gaps) / len(gaps)
        _, attrs, text = row["cells"][gap_col]
        assert float(attrs["data-value"]) == pytest.approx(mean, rel=1e-12)
        assert text == f"{100 * mean:.2f}%"
        objs = csv_cells[policy]["objective"]
        assert float(row["cells"][obj_col][1]["data-value"]) == pytest.approx(sum(objs) / len(objs), rel=1e-12)
        assert row["cells"][n_col][2] == str(len(gaps)) == "4"
    assert seen == set(POLICIES)
    # the bars, one per policy, and the pictures of the best and worst episode per policy
    html = (site / "suite-taillard-15x15.html").read_text()
    assert html.count("<rect ") == len(POLICIES) and "<svg" in html
    renders = sorted((site / "assets").glob("render-*.png"))
    assert {p.name.split("taillard-15x15-")[1].rsplit("-", 1)[0] for p in renders} == {
        "mwkr-nondelay", "spt-nondelay", "random"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in renders)
    assert all(f"assets/{p.name}" in html for p in renders)
    assert "rerun" not in html and "not rendered" not in html  # seeded policies give the recorded episodes again
    # the index: the suite under its domain, linked, and every policy's mean gap
    index = _parse(site / "index.html")
    summary = next(t for t in index.tables if t["attrs"].get("id") == "summary")
    col = _column(summary, "taillard-15x15")
    for row in summary["rows"][1:]:
        gaps = csv_cells[row["attrs"]["data-policy"]]["gap"]
        assert float(row["cells"][col][1]["data-value"]) == pytest.approx(sum(gaps) / len(gaps), rel=1e-12)
    assert "suite-taillard-15x15.html" in index.links and ">jobshop</h3>" in (site / "index.html").read_text()


def test_render_captions_say_when_the_rerun_differs_or_fails(run: Path, tmp_path: Path) -> None:
    from schedgym.eval.leaderboard import load_results
    from schedgym.eval.site import render_episodes
    from schedgym.eval.suites import load_suite

    df = load_results(run / "results.csv")
    df = df[df["policy"].isin(["mwkr:nondelay", "spt:nondelay"])].copy()
    mwkr = df.index[df["policy"] == "mwkr:nondelay"]
    df.loc[mwkr, "objective"] += 1.0  # as if recorded by another version: the rerun differs
    spt = df.index[df["policy"] == "spt:nondelay"]
    df.loc[spt, "case"] = "nosuch"  # a case the suite no longer has
    renders = render_episodes(df, [load_suite("taillard-15x15")], tmp_path)["taillard-15x15"]
    by = {(r.policy, r.which): r for r in renders}
    assert {w for p, w in by if p == "mwkr:nondelay"} == {"best", "worst"}
    for which in ("best", "worst"):
        r = by[("mwkr:nondelay", which)]
        assert r.path is not None and r.path.is_file() and "the rerun's objective is" in r.note
    bad = [r for r in renders if r.policy == "spt:nondelay"]
    assert bad and all(r.path is None and "not in suite" in r.note for r in bad)


def test_site_opens_offline(run: Path) -> None:
    """No remote asset (no CDN, no web font): every link is a local file that exists."""
    site = run / "site"
    for page in site.glob("*.html"):
        parsed = _parse(page)
        assert not parsed.scripts_with_src and not parsed.stylesheets, page
        for link in parsed.links:
            assert "://" not in link and not link.startswith("//"), (page, link)
            assert (site / link).resolve().is_file(), (page, link)
        assert "@import" not in page.read_text() and "url(" not in page.read_text()


def test_exports_are_booktabs_latex_and_markdown_with_the_same_numbers(run: Path) -> None:
    tex = (run / "tables.tex").read_text()
    md = (run / "tables.md").read_text()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}", "\\caption{taillard-15x15"):
        assert rule in tex
    csv_cells = _csv_cells(run / "results.csv")
    means = {p: sum(v["gap"]) / len(v["gap"]) for p, v in csv_cells.items()}
    best = min(means, key=means.get)
    for policy, mean in means.items():
        tex_line = next(x for x in tex.splitlines() if x.startswith(policy + " &"))
        md_line = next(x for x in md.splitlines() if x.startswith(f"| {policy} "))
        pct = f"{100 * mean:.2f}"
        if policy == best:
            assert f"\\textbf{{{pct}\\%}}" in tex_line and f"**{pct}%**" in md_line
        else:
            assert f"{pct}\\%" in tex_line and f"{pct}%" in md_line and "**" not in md_line
    assert "$\\pm$" in tex and "W/T/L vs" in md and "schedgym: " in md  # CI, paired comparison, provenance
    # the summary table of every policy on every suite comes first, in both
    assert tex.index("\\label{tab:summary}") < tex.index("\\label{tab:taillard-15x15}")
    assert md.index("## Mean gap per suite") < md.index("## taillard-15x15")


def test_latex_escape() -> None:
    from schedgym.eval.export import latex_escape

    assert latex_escape("a_b 5% & #1 {x} ± y") == "a\\_b 5\\% \\& \\#1 \\{x\\} $\\pm$ y"
    assert latex_escape("c:\\d~") == "c:\\textbackslash{}d\\textasciitilde{}"


def test_site_and_exports_can_be_turned_off_and_help_lists_the_keys(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ev"
    assert main(["suite=ft06", "policies=[spt:nondelay]", f"out={out}", "progress=false", "print_leaderboard=false",
                 "site=false", "exports=false"]) == 0
    assert (out / "results.csv").is_file() and not (out / "site").exists() and not (out / "tables.tex").exists()
    assert main(["suite=ft06", "policies=[spt:nondelay]", f"out={out}", "progress=false", "print_leaderboard=false",
                 "exports=false"]) == 0
    links = _parse(out / "site" / "index.html").links
    assert "../results.csv" in links and "../tables.tex" not in links  # no link to a file that is not there
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for key in ("site", "site_renders", "exports", "progress"):
        assert f"  {key} " in text


def test_eval_prints_the_site_index(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ev"
    assert main(["suite=ft06", "policies=[spt:nondelay]", f"out={out}", "progress=false", "print_leaderboard=false"]) == 0
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last == f"site: {(out / 'site' / 'index.html').resolve()}"
    assert not list((out / "site").glob("assets/render-*")), "renders only with site_renders=true"


def test_progress_writes_periodic_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()  # not a TTY, as a log file or CI
    p = Progress(100, stream=stream)
    for i in range(100):
        p.describe(f"case {i}")
        p.update()
    p.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20 and "\r" not in stream.getvalue()
    assert lines[0].startswith("[5/100 episodes, 5%]") and lines[-1] == "[100/100 episodes, 100%] case 99"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = Progress(3, stream=tty)
    assert bar.bar is not None  # a tqdm bar on a terminal
    bar.update()
    bar.close()
    assert "ep" in tty.getvalue()


# ----------------------------------------------------------------------------- in a real browser
def _browser_missing() -> str | None:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.exists()):
        return (f"no headless browser: needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
                "apt-get install -y chromium chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_site_renders_in_headless_chromium_without_console_errors(run: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    profile = tempfile.mkdtemp(prefix="schedgym-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        csv_cells = _csv_cells(run / "results.csv")
        means = {p: sum(v["gap"]) / len(v["gap"]) for p, v in csv_cells.items()}
        for page in ("index.html", "suite-taillard-15x15.html"):
            driver.get((run / "site" / page).resolve().as_uri())
            assert driver.execute_script("return document.readyState") == "complete"
            errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            assert not errors, errors
            broken = driver.execute_script(
                "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            assert not broken, broken
        table = driver.find_element(By.CSS_SELECTOR, 'table[data-suite="taillard-15x15"]')
        shown = {r.get_attribute("data-policy"): r.find_element(By.CSS_SELECTOR, 'td[data-col="mean gap"]').text
                 for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert shown == {p: f"{100 * m:.2f}%" for p, m in means.items()}
        # sorting by a click: descending on the second click
        header = table.find_elements(By.CSS_SELECTOR, "thead th")[1]
        header.click()
        header.click()
        order = [r.get_attribute("data-policy") for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert order == sorted(means, key=means.get, reverse=True)
        assert header.get_attribute("aria-sort") == "descending"
        assert not [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_index_groups_suites_by_domain_and_links_each_page(tmp_path: Path) -> None:
    import pandas as pd

    from schedgym.eval.leaderboard import suite_tables
    from schedgym.eval.site import write_site

    rows = []
    for suite, sense in (("alpha", "min"), ("beta", "max")):
        for policy, obj in (("p1", 10.0), ("p2", 12.0)):
            for case in ("c0", "c1"):
                rows.append({"suite": suite, "group": "", "case": case, "seed": 0, "settings": "s", "policy": policy,
                             "policy_kind": "baseline", "objective": obj, "objective_name": "cost", "sense": sense,
                             "gap": float("nan"), "validated": True, "error": "", "wall_time_s": 0.1})
    df = pd.DataFrame(rows)
    index = write_site(tmp_path, df, suite_tables(df), {"alpha": "dom-a", "beta": "dom-b"})
    text = index.read_text()
    assert text.index(">dom-a</h3>") < text.index('href="suite-alpha.html"') < text.index(">dom-b</h3>") \
        < text.index('href="suite-beta.html"')
    parsed = _parse(index)
    best = {r["attrs"]["data-suite"]: r["cells"][5][2] for t in parsed.tables for r in t["rows"][1:]
            if "data-suite" in r["attrs"]}
    assert best == {"alpha": "p1", "beta": "p2"}  # the direction of each objective is respected
    assert (tmp_path / "site" / "suite-alpha.html").is_file() and (tmp_path / "site" / "suite-beta.html").is_file()


def test_gallery_writes_one_picture_per_domain(tmp_path: Path, capsys) -> None:
    from schedgym.envs.domains import domains

    assert main([f"gallery={tmp_path / 'g'}"]) == 0
    names = [d.name for d in domains()]
    pictures = sorted((tmp_path / "g").glob("*.png"))
    assert sorted(p.stem for p in pictures) == sorted(names)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pictures)
    md = (tmp_path / "g" / "gallery.md").read_text()
    for d in domains():
        assert f"![{d.name}]({d.name}.png)" in md and next(iter(d.env_ids)) in md
    assert str(tmp_path / "g" / "gallery.md") in capsys.readouterr().out


def test_without_tabulate_the_latex_is_written_and_the_markdown_export_says_why(tmp_path: Path, monkeypatch,
                                                                               capsys) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tabulate", None)  # import tabulate raises ImportError
    out = tmp_path / "ev"
    assert main(["suite=ft06", "policies=[spt:nondelay]", f"out={out}", "progress=false", "print_leaderboard=false"]) == 0
    assert (out / "tables.tex").is_file() and not (out / "tables.md").exists()
    assert "tabulate" in capsys.readouterr().err
    assert (out / "site" / "index.html").is_file()


def test_the_browser_test_names_what_is_missing(monkeypatch, tmp_path: Path) -> None:
    import sys

    mod = sys.modules[__name__]
    monkeypatch.setattr(mod, "CHROMIUM", tmp_path / "no-chromium")
    reason = mod._browser_missing()
    assert reason is not None and "apt-get install -y chromium chromium-driver" in reason
