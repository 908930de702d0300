"""Documentation generated from the domain manifests: the README's domain table.

``python -m schedgym.eval.docs`` prints the table; ``tests/test_readme.py`` checks that the README holds
exactly this table between the markers ``<!-- domains:start -->`` and ``<!-- domains:end -->``.
"""

from __future__ import annotations

START, END = "<!-- domains:start -->", "<!-- domains:end -->"


def domain_table() -> str:
    """One row per domain: its ids, what it models, its folders, docs and suites (from the manifests)."""
    from ..envs.domains import domains

    lines = ["| domain | ids | what it models | folders | docs | suites |", "|---|---|---|---|---|---|"]
    for d in domains():
        ids = ", ".join(f"`{i}`" for i in d.env_ids)
        folders = ", ".join(f"`{f}/`" for f in d.folders)
        docs = f"[{d.docs.split('#')[0]}]({d.docs})" if d.docs else "-"
        suites = ", ".join(f"`{s}`" for s in d.suites) or "-"
        lines.append(f"| {d.name} | {ids} | {d.title} | {folders} | {docs} | {suites} |")
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the markers replaced by ``block``."""
    i, j = text.index(START) + len(START), text.index(END)
    return text[:i] + "\n" + block + "\n" + text[j:]


if __name__ == "__main__":  # pragma: no cover
    print(domain_table())
