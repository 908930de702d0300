"""VM rescheduling model: snapshot formats, the VMR2L loader's checks, FR, the generator, the simulator."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from schedgym.envs.vm.generator import TYPE_MIXES, SnapshotGenerator, generate, statistics
from schedgym.envs.vm.instance import (
    BOTH,
    DEFAULT_TYPES,
    SnapshotFormatError,
    VMSnapshot,
    load_vmr2l,
    read_snapshot,
    write_snapshot,
    write_vmr2l,
)
from schedgym.envs.vm.state import VMState


def tiny() -> VMSnapshot:
    """2 PMs of 2 x 44 cores: PM a holds a 16- and an 8-core VM on NUMA 0 and a 32-core double-NUMA VM
    (16 on each node); PM b holds an 8-core VM on NUMA 0."""
    types = DEFAULT_TYPES
    idx = {t.cpu: i for i, t in enumerate(types)}
    return VMSnapshot(
        name="tiny", pm_ids=["a", "b"], pm_active=[True, True], pm_rack=[0, 0], racks=["r"],
        numa_cpu=[[44, 44], [44, 44]], numa_mem=[[184388, 184388], [184388, 184388]], types=types,
        vm_ids=["v16", "v8", "v32", "w8"], vm_type=[idx[16], idx[8], idx[32], idx[8]],
        vm_pm=[0, 0, 0, 1], vm_numa=[0, 0, BOTH, 0], vm_migratable=[True, True, True, True],
    )


def test_fragment_rate_by_hand() -> None:
    s = tiny()
    free, _ = s.free()
    assert free.tolist() == [[4, 28], [36, 44]]  # 44-16-8-16, 44-16, 44-8, 44
    # remainders 4 + 12 + 4 + 12 = 32 over 112 free cores
    assert s.fragment_rate() == pytest.approx(32 / 112)
    st = VMState(s)
    assert st.fr() == pytest.approx(32 / 112) and st.slots16() == 0 + 1 + 2 + 2
    # move w8 (PM b NUMA 0) to PM a NUMA 0 (4 free: does not fit) -> illegal; to PM a NUMA 1 (28 free)
    assert "needs 8 cores" in st.why_illegal(3, 0, 0)
    st.move(3, 0, 1)  # b0: 36 -> 44 (rem 4 -> 12), a1: 28 -> 20 (rem 12 -> 4): FR unchanged
    assert st.fr() == pytest.approx(32 / 112)
    st.move(1, 1, 0)  # v8 a0 -> b0: a0 4 -> 12, b0 44 -> 36 (rem 12 -> 4): +8 -8
    assert st.fr() == pytest.approx(32 / 112)
    st.move(0, 1, 1)  # v16 a0 -> b1: a0 12 -> 28 (rem 12), b1 44 -> 28 (rem 12): unchanged sum
    with pytest.raises(ValueError, match=r"VM 'v32'.*PM 'a'.*no-op"):
        st.move(2, 0, 0)


def test_schedgym_json_roundtrip(tmp_path: Path) -> None:
    s = generate("small", seed=3, anti_affinity_groups=3)
    path = tmp_path / "snap.json"
    write_snapshot(s, path)
    back = read_snapshot(path)
    assert back.to_dict() == s.to_dict()
    assert back.fragment_rate() == s.fragment_rate() and len(back.groups) == 3


def test_vmr2l_roundtrip_and_detection(tmp_path: Path) -> None:
    s = generate("small", seed=1, anti_affinity_groups=2, nonmigratable_share=0.1, inactive_share=0.1)
    data = write_vmr2l(s)
    snap, report = load_vmr2l(data, name="x")
    assert report.clean, str(report)
    assert snap.n_vms == s.n_vms and snap.fragment_rate() == pytest.approx(s.fragment_rate())
    assert (snap.vm_migratable == s.vm_migratable).all() and (snap.pm_active == s.pm_active).all()
    assert [g.vms.tolist() for g in snap.groups] == [g.vms.tolist() for g in s.groups]
    path = tmp_path / "vmr2l.json"
    path.write_text(json.dumps(data))
    assert read_snapshot(path).n_vms == s.n_vms  # detected by cluster_list


def _vmr2l() -> dict:
    return write_vmr2l(generate("small", seed=2))


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["cluster_list"][0]["vm_instance"][0].update(instance_type="ecs.nope"), r"vm_instance\[0\].*unknown VM type 'ecs.nope'"),
    (lambda d: d["cluster_list"][0]["vm_instance"][1].update(host_id="pm_999"), r"vm_instance\[1\].*host_id 'pm_999'"),
    (lambda d: d["cluster_list"][0]["host_info"][0]["numa"][0].update(free_cpu=43), r"host 'pm_0'.*declared free cores"),
    (lambda d: d["cluster_list"][0]["host_info"][2]["numa"][1].update(total_cpu=-4), r"host_info\[2\].*negative"),
    (lambda d: d["vm_type_list"].append({"vm_type": "huge", "request_cpu": 200, "request_mem_mb": 4096, "numa": 2})
     or d["cluster_list"][0]["vm_instance"][0].update(instance_type="huge"), r"needs 100 cores.*more than any NUMA"),
    (lambda d: d["cluster_list"][0]["vm_instance"][0]["numa"][0].update(cpu=-2), r"negative"),
    (lambda d: d.pop("vm_type_list"), r"'cluster_list' and 'vm_type_list'"),
])
def test_vmr2l_bad_input_names_file_and_record(tmp_path: Path, mutate, match) -> None:
    data = _vmr2l()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotFormatError, match=match) as err:
        load_vmr2l(path)
    assert str(path) in str(err.value)


def test_vmr2l_repairs_reported_when_not_strict() -> None:
    data = _vmr2l()
    data["cluster_list"][0]["host_info"][0]["numa"][0]["free_cpu"] = 43
    del data["cluster_list"][0]["vm_instance"][3]["allow_migration"]
    vms = data["cluster_list"][0]["vm_instance"]
    same_host = [v["instance_id"] for v in vms if v["host_id"] == vms[0]["host_id"]][:2]
    data["cluster_list"][0]["other_requirement"] = {"deployment_set": [{"granularity": "host", "data": same_host}]}
    with pytest.raises(SnapshotFormatError):
        load_vmr2l(copy.deepcopy(data))
    snap, report = load_vmr2l(data, strict=False)
    text = str(report)
    assert "recomputed from the placements" in text and "allow_migration set to true" in text
    assert "already broken" in text and not snap.groups
    assert snap.fragment_rate() == pytest.approx(generate("small", seed=2).fragment_rate())


def test_schedgym_format_errors(tmp_path: Path) -> None:
    d = generate("small", seed=0).to_dict()
    d["vms"][5]["pm"] = "nowhere"
    with pytest.raises(SnapshotFormatError, match=r"vms\[5\].*unknown PM 'nowhere'"):
        VMSnapshot.from_dict(d, "f.json")
    d = generate("small", seed=0).to_dict()
    d["vms"][0]["numa"] = [0, 1] if d["vms"][0]["numa"] != [0, 1] else [0]
    with pytest.raises(SnapshotFormatError, match="NUMA placement code|over capacity"):
        VMSnapshot.from_dict(d, "f.json")


def test_generator_seeded_and_placed_by_the_process() -> None:
    a, b = generate("small", seed=7), generate("small", seed=7)
    assert a.to_dict() == b.to_dict()
    assert generate("small", seed=8).to_dict() != a.to_dict()
    a.check()
    st = a.stats()
    assert 0.93 <= st["cpu_allocated"] <= 0.975
    with pytest.raises(ValueError, match="placement"):
        SnapshotGenerator(placement="random")
    with pytest.raises(ValueError, match="type_mix"):
        SnapshotGenerator(type_mix=(0.5, 0.5))


def test_generator_medium_matches_published_statistics() -> None:
    """VMR2L's medium set: ~280 PMs / 2,089 VMs, 93-97% of cores allocated, ~88% of VMs <= 16 cores,
    ~10% double-NUMA, initial FR ~0.5-0.6 (the full table is in docs/vm.md)."""
    st = statistics([generate("medium", seed=s) for s in range(4)])
    assert st["pms"] == 280
    assert 1900 <= st["vms"] <= 2300
    assert 0.93 <= st["cpu_allocated"] <= 0.97
    assert 0.85 <= st["share_vms_le16"] <= 0.92
    assert 0.08 <= st["share_double_numa"] <= 0.14
    assert 0.45 <= st["fragment_rate"] <= 0.70


def test_generator_large_matches_published_counts_allocation_and_fr() -> None:
    """VMR2L's large set: ~1,176 PMs / 4,546 VMs, 93-97% of cores allocated, initial FR ~0.5-0.6. Its size
    shares come out at ~84% of VMs <= 16 cores and ~16% double-NUMA rather than ~88% / ~10%: docs/vm.md
    shows why those two cannot hold together with the count, the allocation and the FR on 44-core NUMA
    nodes. The live type mix follows the arrival mix (requests that do not fit wait, they are not
    dropped), and every snapshot passes the capacity checks."""
    snaps = [generate("large", seed=s) for s in range(2)]
    st = statistics(snaps)
    assert st["pms"] == 1176
    assert 4300 <= st["vms"] <= 4800
    assert 0.93 <= st["cpu_allocated"] <= 0.97
    assert 0.45 <= st["fragment_rate"] <= 0.70
    assert 0.80 <= st["share_vms_le16"] <= 0.90 and 0.10 <= st["share_double_numa"] <= 0.20
    arrival = np.asarray(TYPE_MIXES["large"])
    for snap in snaps:
        snap.check()
        live = np.bincount(snap.vm_type, minlength=arrival.size) / snap.n_vms
        np.testing.assert_allclose(live, arrival, atol=0.02)


def test_a_tail_of_64_core_vms_leaves_unfillable_remainders() -> None:
    """Why the large preset's heavy tail is 88-core VMs: a 64-core VM takes 32 of each NUMA node's 44 cores
    and leaves 12-core remainders that only 2/4/8-core VMs can fill; with the earlier tail (10% 64-core,
    10% 88-core) the same process leaves almost no free 16-core slot (FR near 1)."""
    earlier = generate("large", seed=0, type_mix=(0.25, 0.20, 0.15, 0.20, 0.0, 0.10, 0.10), first_fit_share=0.0)
    now = generate("large", seed=0)
    assert earlier.fragment_rate() > 0.85 and now.fragment_rate() < 0.7
    assert earlier.stats()["slots16"] < now.stats()["slots16"] / 4


def test_best_fit_packs_tighter_than_first_fit() -> None:
    """The placement rule matters: pure first fit spreads free cores thinly (FR near 1), best fit leaves
    16-core slots."""
    bf = statistics([generate("small", seed=s, n_pms=60, first_fit_share=0.0) for s in range(3)])
    ff = statistics([generate("small", seed=s, n_pms=60, placement="first-fit") for s in range(3)])
    assert bf["fragment_rate"] < ff["fragment_rate"] and bf["slots16"] > ff["slots16"]


def test_state_deltas_match_recomputation() -> None:
    s = generate("small", seed=5)
    st = VMState(s)
    rng = np.random.default_rng(0)
    for _ in range(30):
        has = np.flatnonzero(st.has_destination())
        v = int(rng.choice(has))
        mask = st.dest_mask(v)
        # has_destination agrees with dest_mask for every VM
        assert all(st.dest_mask(int(u)).any() == bool(h) for u, h in enumerate(st.has_destination()))
        delta = st.move_delta(v)
        p, k = map(int, np.argwhere(mask)[rng.integers(mask.sum())])
        before = st.sum_mod
        st.move(v, p, k)
        assert st.sum_mod - before == delta[p, k]
        free = st.free_cpu[st.active]
        assert st.sum_mod == int((free % 16).sum())
        assert st.placement_snapshot().fragment_rate() == pytest.approx(st.fr())


def test_vmr2l_whole_floats_accepted_fractions_rejected() -> None:
    """The published file writes some numbers as floats (``"free_cpu": 6.0``)."""
    data = _vmr2l()
    for host in data["cluster_list"][0]["host_info"]:
        for numa in host["numa"]:
            numa["free_cpu"] = float(numa["free_cpu"])
            numa["memory_huge_free_mb"] = float(numa["memory_huge_free_mb"])
    snap, report = load_vmr2l(data)
    assert report.clean and snap.n_vms == generate("small", seed=2).n_vms
    data["cluster_list"][0]["host_info"][1]["numa"][0]["free_cpu"] = 6.5
    with pytest.raises(SnapshotFormatError, match=r"host_info\[1\].*whole number"):
        load_vmr2l(data)
