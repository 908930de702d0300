"""The README's gallery: one picture per domain, each from a short deterministic episode of a baseline.

Every domain whose manifest sets ``gallery=Gallery(env_id, policy, figure, ...)`` contributes ``<out>/<domain>.<format>``;
this module names no domain. The figures are the envs' paper figures (legend, labelled axes with units,
integer machine / PE / PM ticks), at the size of one column or a page of a two-column paper.

Usage::

    python -m schedgym.eval.gallery out=docs/img/gallery size=column formats=[png,svg]
    python -m schedgym.eval.gallery domains=[soc,vm] size=page formats=[pdf]
    python -m schedgym.eval.gallery size=6x3           # an explicit width x height in inches
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..configs.grammar import UsageError, parse_overrides, run_cli
from ..envs.figures import SIZE_NAMES as SIZES  # the named sizes every domain's figure offers

PROG = "python -m schedgym.eval.gallery"
SUMMARY = "One picture per domain (a short deterministic baseline episode) for the README's gallery."
EXAMPLES = ("out=docs/img/gallery size=column formats=[png,svg]", "domains=[soc,vm] size=page formats=[pdf]",
            "size=6x3")
#: the file formats a gallery can be written in
FORMATS = ("png", "svg", "pdf")


@dataclass
class GalleryConfig:
    out: str = "docs/img/gallery"  # folder the pictures are written to, as <domain>.<format>
    size: str = "column"  # column (3.5 in wide) | page (7 in wide) | WIDTHxHEIGHT in inches, e.g. 6x3
    formats: list[str] = field(default_factory=lambda: ["png"])  # any of png, svg, pdf
    dpi: int = 150  # resolution of the PNGs (dots per inch)
    domains: Optional[list[str]] = None  # domain names (default: every domain that declares a gallery figure)


def parse_size(text: str) -> str | tuple[float, float]:
    """``"column"`` / ``"page"``, or ``"WxH"`` in inches as ``(w, h)``; :class:`UsageError` otherwise."""
    text = str(text).strip()
    if text in SIZES:
        return text
    width, sep, height = text.lower().partition("x")
    try:
        size = (float(width), float(height))
    except ValueError:
        size = None
    if not sep or size is None or not all(0 < v <= 40 for v in size):
        raise UsageError(f"key 'size': must be one of {list(SIZES)} or WIDTHxHEIGHT in inches (e.g. 6x3), got {text!r}")
    return size


def parse_formats(formats: Any) -> list[str]:
    """The formats, lower case without a leading dot, each once; :class:`UsageError` for an unknown one."""
    names = [str(f).strip().lower().lstrip(".") for f in (formats or [])]
    if not names:
        raise UsageError(f"key 'formats': name at least one of {list(FORMATS)}")
    bad = [f for f in names if f not in FORMATS]
    if bad:
        raise UsageError(f"key 'formats': {bad[0]!r} is not one of {list(FORMATS)}")
    return list(dict.fromkeys(names))


def gallery_domains(names: list[str] | None) -> list[Any]:
    """The manifests to draw: the named ones (each must declare a gallery figure), or every one that does."""
    from ..envs.domains import domains

    known = {d.name: d for d in domains()}
    if names is None:
        return [d for d in known.values() if d.gallery]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"key 'domains': unknown domain(s) {unknown}; known: {list(known)}")
    without = [n for n in names if not known[n].gallery]
    if without:
        raise UsageError(f"key 'domains': {without} declare no gallery figure (the manifest's gallery=)")
    return [known[n] for n in names]


def gallery_figure(domain: Any, size: str | tuple[float, float] = "column") -> Any:
    """``domain``'s gallery picture (a matplotlib Figure) at ``size``: one validated episode of its
    :class:`~schedgym.envs.domain.Gallery` policy, drawn by its figure function; ``ValueError`` if the
    domain declares none."""
    import gymnasium as gym

    import schedgym.envs  # noqa: F401  registers the ids

    from ..agents.base import run_episode
    from ..agents.registry import make_policy
    from ..agents.spec import check_env_kwargs
    from ..envs.domain import load_reference

    spec = domain.gallery
    if spec is None:
        raise ValueError(f"domain {domain.name!r} declares no gallery figure")
    figure = load_reference(spec.figure, where=f"domain {domain.name!r} gallery")
    policy = make_policy(spec.policy, env_id=spec.env_id)
    # the env settings the policy asks for (e.g. sarathi's token budget), as schedgym-eval applies them
    kwargs = check_env_kwargs(spec.policy, policy.env_kwargs, dict(spec.env_kwargs),
                              given_by=f"domain {domain.name!r} gallery env_kwargs")
    env = gym.make(spec.env_id, **kwargs)
    try:
        run_episode(env, policy, seed=spec.seed)
        return figure(env, size)
    finally:
        env.close()


def write_gallery(out: str | Path, size: str | tuple[float, float] = "column", formats: list[str] | None = None,
                  dpi: int = 150, domain_names: list[str] | None = None) -> tuple[list[Path], dict[str, str]]:
    """Write ``<out>/<domain>.<format>`` for every gallery domain; returns the paths written and, per domain
    whose figure failed, the error (the other domains are still written)."""
    from ..envs.figures import save_figure

    fmts = parse_formats(["png"] if formats is None else formats)
    size = parse_size(size) if isinstance(size, str) else size
    if dpi < 1:
        raise UsageError(f"key 'dpi': must be >= 1, got {dpi}")
    out = Path(out)
    written: list[Path] = []
    failed: dict[str, str] = {}
    for d in gallery_domains(domain_names):
        try:
            fig = gallery_figure(d, size)
        except Exception as exc:  # one broken domain must not cost the others' pictures
            failed[d.name] = f"{type(exc).__name__}: {exc}"
            continue
        for fmt in fmts:
            written.append(save_figure(fig, out / f"{d.name}.{fmt}", dpi=dpi))
    return written, failed


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, lambda: _main(list(sys.argv[1:] if argv is None else argv)))


def _main(argv: list[str]) -> int:
    cfg = parse_overrides(PROG, argv, GalleryConfig, SUMMARY, EXAMPLES)
    size = parse_size(cfg.size)
    written, failed = write_gallery(cfg.out, size, list(cfg.formats), int(cfg.dpi),
                                    list(cfg.domains) if cfg.domains is not None else None)
    for path in written:
        print(path)
    for name, error in failed.items():
        print(f"{PROG}: domain {name!r}: gallery figure failed: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
