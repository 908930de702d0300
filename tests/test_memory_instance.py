"""Memory domain: instance files (MiniMalloc CSV, schedgym JSON), bad input, the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from schedgym.envs.memory.catalog import (
    MINIMALLOC_CHALLENGING,
    load_instance,
    minimalloc_example,
    minimalloc_instance,
    model_names,
)
from schedgym.envs.memory.env import MemoryEnv
from schedgym.envs.memory.instance import (
    InstanceFormatError,
    MemoryInstance,
    read_instance,
    read_instance_json,
    read_minimalloc_csv,
    write_instance_json,
    write_minimalloc_csv,
)

ROOT = Path(__file__).resolve().parents[1]
MINIMALLOC = (ROOT.parent / "shared" / "data" / "minimalloc").resolve()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_minimalloc_example_matches_the_shared_file() -> None:
    if not (MINIMALLOC / "input.12.csv").is_file():
        pytest.skip("shared MiniMalloc data not found")
    inst, off = read_minimalloc_csv(MINIMALLOC / "input.12.csv")
    ex = minimalloc_example()
    assert off is None and inst.capacity == 12 == ex.capacity and inst.ids == ex.ids
    for a in ("lower", "upper", "size"):
        np.testing.assert_array_equal(getattr(inst, a), getattr(ex, a))
    assert inst.max_load() == 12  # b3, b5 and one of b1/b2 (or b4) are live together: 3 x 4


def test_challenging_instances_read_with_capacity_from_file_name() -> None:
    if not MINIMALLOC.is_dir():
        pytest.skip("shared MiniMalloc data not found")
    sizes = []
    for c in MINIMALLOC_CHALLENGING:
        inst = minimalloc_instance(c)
        assert inst.capacity == 1_048_576 and inst.name == f"minimalloc/{c}"
        assert inst.max_load() <= inst.capacity  # feasible instances: the live total never exceeds the capacity
        sizes.append(inst.n_buffers)
    assert min(sizes) == 154 and max(sizes) == 454  # as the MiniMalloc paper states


def test_csv_roundtrip_with_offsets(tmp_path: Path) -> None:
    inst = minimalloc_example()
    off = np.array([8, 8, 4, 4, 0])
    path = tmp_path / "sol.12.csv"
    write_minimalloc_csv(path, inst, off)
    assert path.read_text().splitlines()[0] == "id,lower,upper,size,offset"
    back, off2 = read_minimalloc_csv(path)
    np.testing.assert_array_equal(off2, off)
    np.testing.assert_array_equal(back.size, inst.size)
    assert back.capacity == 12 and back.ids == inst.ids


def test_json_roundtrip_keeps_the_program(tmp_path: Path) -> None:
    inst = load_instance("gpt2-block-b1-s128")
    path = tmp_path / "x.json"
    write_instance_json(path, inst)
    back = read_instance_json(path)
    assert back.program is not None and inst.program is not None
    np.testing.assert_array_equal(back.size, inst.size)
    np.testing.assert_array_equal(back.program.use_bytes, inst.program.use_bytes)
    assert back.program.hardware == inst.program.hardware and back.prefetch.tolist() == inst.prefetch.tolist()
    assert read_instance(path).n_buffers == inst.n_buffers


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("id,lower,size\nb1,0,4\n", "line 1: missing column(s) ['upper']"),
        ("id,lower,upper,size\nb1,3,3,4\n", "line 2: buffer 'b1': lower 3 >= upper 3"),
        ("id,lower,upper,size\nb1,0,3,4\nb2,0,3,-4\n", "line 3: buffer 'b2': negative size -4"),
        ("id,lower,upper,size\nb1,0,3,x\n", "line 2: lower, upper, size (and offset) must be integers"),
        ("id,lower,upper,size\nb1,0,3,4\nb1,0,3,4\n", "line 3: duplicate id 'b1'"),
        ("id,lower,upper,size\nb1,0,3,40\n", "line 2: buffer 'b1': size 40 > capacity 12"),
        ("id,lower,upper,size\nb1,0,3\n", "line 2: 3 fields, expected 4"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, "bad.12.csv", text)
    with pytest.raises(InstanceFormatError) as err:
        read_minimalloc_csv(path)
    assert str(path) in str(err.value) and needle in str(err.value), str(err.value)


def test_capacity_is_required_without_a_number_in_the_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "plain.csv", "id,lower,upper,size\nb1,0,3,4\n")
    with pytest.raises(InstanceFormatError, match="no capacity given"):
        read_minimalloc_csv(path)
    assert read_minimalloc_csv(path, capacity=8)[0].capacity == 8


def test_allocation_env_refuses_a_buffer_larger_than_the_capacity(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.csv", "id,lower,upper,size\nb1,0,3,4\nb2,1,2,9\n")
    inst, _ = read_minimalloc_csv(path, capacity=8, check_capacity=False)
    with pytest.raises(InstanceFormatError) as err:
        MemoryEnv(mode="allocation", instance=inst)
    assert str(path) in str(err.value) and "line 3" in str(err.value) and "'b2'" in str(err.value)


def test_malformed_json_names_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(InstanceFormatError, match=r"x\.json: line 1: invalid JSON"):
        read_instance_json(_write(tmp_path, "x.json", "{nope"))
    with pytest.raises(InstanceFormatError, match=r"y\.json: missing field 'buffers.size'"):
        read_instance_json(_write(tmp_path, "y.json",
                                  '{"format": "schedgym-memory/1", "name": "y", "capacity": 4, "buffers": {"lower": [0], "upper": [1]}}'))
    with pytest.raises(InstanceFormatError, match=r"z\.json: field 'format'"):
        read_instance_json(_write(tmp_path, "z.json", '{"name": "z"}'))


def test_instance_checks_uses_against_lifetimes() -> None:
    from schedgym.envs.memory.hardware import get_hardware
    from schedgym.envs.memory.instance import Program

    prog = Program([1.0, 1.0], [1], [0], [4.0], get_hardware("a100-l2"))
    with pytest.raises(ValueError, match="used by instruction 1 outside its live interval"):
        MemoryInstance("bad", 8, [0], [1], [4], program=prog)


def test_catalog_names_and_unknown_name() -> None:
    names = model_names()
    assert {"gpt2-block-b1-s128", "resnet18-b1", "resnet50-b8", "mlp-b64"} <= set(names)
    with pytest.raises(KeyError, match="close"):
        load_instance("gpt2-blok-b1-s128")
    for name in names:
        inst = load_instance(name)
        assert inst.program is not None and inst.program.n_instructions > 0
        assert inst.evict.any() and inst.prefetch.any()
