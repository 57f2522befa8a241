"""Slot cgroup set-up for cgroup v2, on a stand-in directory tree (this host may run v1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import Limits
from sandbox.cgroup import PARENT, CgroupUnavailable, SlotBusy, create_slot_cgroups
from tests.sandbox.support import require


def fake_v2_root(root: Path, controllers: str = "cpu memory pids") -> Path:
    (root / "cgroup.controllers").write_text(controllers)
    (root / "cgroup.subtree_control").write_text("cpu")
    slot = root / PARENT / "7"
    slot.mkdir(parents=True)
    (root / PARENT / "cgroup.subtree_control").write_text("")
    for name, value in {
        "cgroup.procs": "",
        "memory.swap.max": "max",
        "pids.events": "max 0",
    }.items():
        (slot / name).write_text(value)
    (slot / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    return slot


@pytest.fixture(autouse=True)
def needs_root() -> None:
    require(os.geteuid() == 0, "root (cgroup set-up)")


def test_v2_slot_gets_limits_and_controllers(tmp_path: Path) -> None:
    slot_dir = fake_v2_root(tmp_path)
    limits = Limits(memory_bytes=100_000_000, processes=12)
    (slot,) = create_slot_cgroups(tmp_path, ["7"], limits)
    try:
        assert slot.unified and slot.procs_files == (slot_dir / "cgroup.procs",)
        assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids"
        assert (tmp_path / PARENT / "cgroup.subtree_control").read_text() == "+memory +pids"
        written = {name: (slot_dir / name).read_text() for name in ("memory.max", "pids.max")}
        assert written == {"memory.max": "100000000", "pids.max": "12"}
        assert (slot_dir / "memory.swap.max").read_text() == "0"
        assert (slot.counters().oom_kills, slot.counters().pids_max) == (1, 0)
        with pytest.raises(SlotBusy):
            create_slot_cgroups(tmp_path, ["7"], limits)
    finally:
        slot.remove()


def test_v2_without_the_controllers_is_unavailable(tmp_path: Path) -> None:
    fake_v2_root(tmp_path, controllers="cpu io")
    with pytest.raises(CgroupUnavailable, match="lacks controllers"):
        create_slot_cgroups(tmp_path, ["7"], Limits())


def test_missing_hierarchy_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CgroupUnavailable, match="no cgroup v1 controller"):
        create_slot_cgroups(tmp_path, ["7"], Limits())
