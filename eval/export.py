"""Paper-ready tables: LaTeX (booktabs) and Markdown, from the same cells as the leaderboard.

Both are written by pandas (``DataFrame.to_latex``, which emits ``\\toprule`` / ``\\midrule`` /
``\\bottomrule``, and ``DataFrame.to_markdown``, which needs the ``tabulate`` package) from
:func:`schedgym.eval.leaderboard.display_table`: the same numbers, the same ``(n/N)`` marks and the
same bold cells as ``leaderboard.md``. ``schedgym-eval`` writes them beside ``results.csv`` as
``tables.tex`` (a summary table of every policy's mean gap on every suite, then one ``table``
environment per suite / group; needs ``\\usepackage{booktabs}``) and ``tables.md`` (the same).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .leaderboard import SuiteTable, display_summary, display_table
from .provenance import provenance_summary

_LATEX_SPECIAL = re.compile(r"([\\&%$#_{}~^])")
_LATEX_REPLACE = {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (``±`` and ``—`` become math / text dashes)."""
    out = _LATEX_SPECIAL.sub(lambda m: _LATEX_REPLACE.get(m.group(1), "\\" + m.group(1)), str(text))
    return out.replace("±", r"$\pm$").replace("—", "---")


def _label(st: SuiteTable) -> str:
    return "tab:" + re.sub(r"[^A-Za-z0-9]+", "-", f"{st.suite}-{st.group}".strip("-")).strip("-").lower()


def latex_table(st: SuiteTable) -> str:
    """One suite table as a LaTeX ``table`` (booktabs rules; the best mean gap in ``\\textbf``)."""
    text, bold = display_table(st)
    cells = text.map(latex_escape)
    cells = cells.where(~bold, cells.map(lambda v: rf"\textbf{{{v}}}"))
    cells.insert(0, "policy", [latex_escape(p) for p in cells.index])
    cells.columns = [latex_escape(c) for c in cells.columns]
    caption = latex_escape(st.title)
    if st.baseline:
        caption += (f". W/T/L: instances where the policy is better / equal / worse than the best baseline "
                    f"({latex_escape(st.baseline)})")
    return cells.to_latex(index=False, escape=False, column_format="l" + "r" * (len(cells.columns) - 1), caption=caption,
                          label=_label(st), position="ht")


def latex_summary(df: pd.DataFrame) -> str:
    """The mean gap of every policy on every suite as a LaTeX ``table`` (booktabs), or ``""``."""
    text, bold = display_summary(df)
    if text.empty:
        return ""
    cells = text.map(latex_escape)
    cells = cells.where(~bold, cells.map(lambda v: rf"\textbf{{{v}}}"))
    cells.insert(0, "policy", [latex_escape(p) for p in cells.index])
    cells.columns = [latex_escape(c) for c in cells.columns]
    return cells.to_latex(index=False, escape=False, column_format="l" + "r" * (len(cells.columns) - 1),
                          caption="Mean gap of every policy on every suite (lower is better; (n/N): over n of N episodes, "
                                  "not compared)", label="tab:summary", position="ht")


def markdown_summary(df: pd.DataFrame) -> str:
    """The mean gap of every policy on every suite as Markdown, or ``""``."""
    text, bold = display_summary(df)
    if text.empty:
        return ""
    cells = text.where(~bold, text.map(lambda v: f"**{v}**"))
    return cells.to_markdown(colalign=["left"] + ["right"] * len(cells.columns))


def markdown_table(st: SuiteTable) -> str:
    """One suite table as Markdown (pandas ``to_markdown``; the best mean gap in ``**bold**``)."""
    text, bold = display_table(st)
    cells = text.where(~bold, text.map(lambda v: f"**{v}**"))
    return cells.to_markdown(colalign=["left"] + ["right"] * len(cells.columns))


def write_exports(df: pd.DataFrame, tables: list[SuiteTable], out: Path) -> list[Path]:
    """Write ``tables.tex`` and ``tables.md`` into ``out``; returns the paths written.

    Raises ``ImportError`` naming ``tabulate`` when pandas cannot write Markdown (``tables.tex`` is
    written first)."""
    out = Path(out)
    prov = provenance_summary(df)
    tex = ["% schedgym-eval tables; needs \\usepackage{booktabs}"] + [f"% {line}" for line in prov]
    tex += [t for t in [latex_summary(df)] if t] + [latex_table(st) for st in tables]
    written = [_write(out / "tables.tex", "\n".join(tex) + "\n")]
    md = ["# Tables", ""] + [f"- {line}" for line in prov] + [""]
    try:
        summary = markdown_summary(df)
        if summary:
            md += ["## Mean gap per suite", "", summary, ""]
        for st in tables:
            md += [f"## {st.title}", "", markdown_table(st), ""]
    except ImportError as exc:
        raise ImportError(f"tables.md not written: pandas' to_markdown needs the 'tabulate' package ({exc})") from exc
    written.append(_write(out / "tables.md", "\n".join(md)))
    return written


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
