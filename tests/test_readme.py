"""The README's Python quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python block"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})  # noqa: S102


def test_readme_domain_table_comes_from_the_manifests() -> None:
    from schedgym.eval.docs import END, START, domain_table

    text = README.read_text()
    block = text[text.index(START) + len(START):text.index(END)].strip()
    assert block == domain_table(), "README's domain table is stale: run python -m schedgym.eval.docs"
