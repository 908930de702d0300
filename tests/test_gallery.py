"""The README gallery: ``python -m schedgym.eval.gallery`` writes one picture per domain per format from the
manifests' ``gallery=`` functions; bad keys give one clear line and exit 2; one broken domain costs only its
own picture."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from schedgym.envs.domains import domains
from schedgym.eval.gallery import gallery_figure, main

ROOT = Path(__file__).resolve().parents[1]
HEADERS = {"png": b"\x89PNG", "pdf": b"%PDF"}


def test_every_domain_declares_a_gallery_figure() -> None:
    from schedgym.agents.registry import make_policy
    from schedgym.envs.domain import load_reference

    assert all(d.gallery for d in domains()), [d.name for d in domains() if not d.gallery]
    for d in domains():  # one of its own ids, a policy that serves it, a figure function that exists
        assert d.gallery.env_id in d.env_ids and d.gallery.caption, d.name
        make_policy(d.gallery.policy, env_id=d.gallery.env_id)
        assert callable(load_reference(d.gallery.figure, where=d.name))


def test_gallery_episode_runs_with_the_env_settings_its_policy_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import gymnasium as gym

    from schedgym.agents.registry import make_policy
    from schedgym.eval.gallery import gallery_figure

    made: list[dict] = []
    real_make = gym.make
    monkeypatch.setattr(gym, "make", lambda env_id, **kw: made.append(kw) or real_make(env_id, **kw))
    for d in domains():
        made.clear()
        gallery_figure(d)
        wanted = make_policy(d.gallery.policy, env_id=d.gallery.env_id).env_kwargs
        assert all(made[0].get(k) == v for k, v in wanted.items()), (d.name, wanted, made[0])


def test_gallery_cli_writes_one_file_per_domain_per_format(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "gallery"
    assert main([f"out={out}", "size=column", "formats=[png,svg]", "dpi=100"]) == 0
    names = sorted(d.name for d in domains())
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{n}.{fmt}" for n in names for fmt in ("png", "svg"))
    for name in names:
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(HEADERS["png"]) and 5_000 < len(png) < 150_000, (name, len(png))
        assert ET.fromstring((out / f"{name}.svg").read_bytes()).tag.endswith("svg")
    assert capsys.readouterr().out.split() == [str(out / f"{d.name}.{fmt}") for d in domains() for fmt in ("png", "svg")]


def test_gallery_is_deterministic_and_takes_a_page_size(tmp_path: Path) -> None:
    name = domains()[0].name
    for run in ("a", "b"):
        assert main([f"out={tmp_path / run}", "size=page", "formats=[.PDF,png]", f"domains=[{name}]"]) == 0
    for fmt in ("pdf", "png"):
        a, b = (tmp_path / run / f"{name}.{fmt}" for run in ("a", "b"))
        assert a.read_bytes().startswith(HEADERS[fmt]) and a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("arg, message", [
    ("size=poster", "key 'size': must be one of ['column', 'page'] or WIDTHxHEIGHT"),
    ("size=0x3", "key 'size'"),
    ("formats=[png,gif]", "key 'formats': 'gif' is not one of ['png', 'svg', 'pdf']"),
    ("formats=[]", "key 'formats': name at least one"),
    ("domains=[nowhere]", "key 'domains': unknown domain(s) ['nowhere']"),
    ("dpi=0", "key 'dpi'"),
    ("colour=red", "key 'colour'"),
])
def test_gallery_bad_keys_name_the_key_and_write_nothing(arg: str, message: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    assert main([f"out={tmp_path / 'g'}", arg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m schedgym.eval.gallery: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "g").exists()


def test_a_broken_domain_costs_only_its_own_picture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    import importlib

    registry = importlib.import_module("schedgym.envs.domains")  # the module (the package re-exports its function)

    good = domains()[0]
    broken = dataclasses.replace(good, name="broken",
                                 gallery=dataclasses.replace(good.gallery, figure="schedgym.eval.gallery:no_such_function"))
    monkeypatch.setattr(registry, "domains", lambda: (broken, good))
    assert main([f"out={tmp_path}", "formats=[png]"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"{good.name}.png"]
    err = capsys.readouterr().err
    assert "domain 'broken': gallery figure failed" in err and "no_such_function" in err
    no_gallery = dataclasses.replace(good, name="plain", gallery=None)
    with pytest.raises(ValueError, match="declares no gallery"):
        gallery_figure(no_gallery)
    monkeypatch.setattr(registry, "domains", lambda: (no_gallery,))
    assert main([f"out={tmp_path}", "domains=[plain]"]) == 2
    assert "declare no gallery figure" in capsys.readouterr().err


def test_gallery_runs_as_a_module(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "schedgym.eval.gallery", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "formats" in proc.stdout and "size" in proc.stdout
