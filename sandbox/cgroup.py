"""Slot cgroups (v1 or v2): memory and process limits, counters, and killing everything inside."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import anyio

from sandbox.api import Limits

PARENT = "wingman-sandbox"


class CgroupUnavailable(Exception):
    """Slot cgroups cannot be created; the message says why."""


class SlotBusy(RuntimeError):
    """Another live sandbox holds this slot's cgroup (same uid range on this host)."""


@dataclass(frozen=True)
class Counters:
    oom_kills: int
    exact_oom: bool  # False: oom_kills is only memory.failcnt (old v1 kernels)
    pids_max: int  # how often fork/clone hit pids.max


class SlotCgroup:
    def __init__(self, memory: Path, pids: Path, unified: bool) -> None:
        self.memory, self.pids, self.unified = memory, pids, unified
        self._peak_fd: int | None = None
        # held until remove(): two sandboxes sharing a slot would kill each other's runs
        self._lock_fd = os.open(memory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SlotBusy(
                f"{memory} is used by another process sandbox; give each instance its own first_uid"
            ) from None

    @property
    def procs_files(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys((self.memory / "cgroup.procs", self.pids / "cgroup.procs")))

    def counters(self) -> Counters:
        pids_max = _keyed(self.pids / "pids.events").get("max", 0)
        events = _keyed(self.memory / ("memory.events" if self.unified else "memory.oom_control"))
        if "oom_kill" in events:
            return Counters(events["oom_kill"], True, pids_max)
        return Counters(int((self.memory / "memory.failcnt").read_text()), False, pids_max)

    def reset_peak(self) -> None:
        if not self.unified:
            (self.memory / "memory.max_usage_in_bytes").write_text("0")
            return
        self._close_peak()
        with contextlib.suppress(OSError):
            fd = os.open(self.memory / "memory.peak", os.O_RDWR)
            try:
                os.write(fd, b"reset\n")  # per-fd reset, Linux 6.12+; older kernels report 0
                self._peak_fd = fd
            except OSError:
                os.close(fd)

    def peak_kib(self) -> int:
        if not self.unified:
            return int((self.memory / "memory.max_usage_in_bytes").read_text()) // 1024
        if self._peak_fd is None:
            return 0
        value = int(os.pread(self._peak_fd, 64, 0))
        self._close_peak()
        return value // 1024

    def _close_peak(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None

    def members(self) -> list[int]:
        return [int(line) for line in (self.pids / "cgroup.procs").read_text().split()]

    def kill(self) -> None:
        if (self.memory / "cgroup.kill").exists():
            (self.memory / "cgroup.kill").write_text("1")
            return
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def empty(self) -> None:
        """Kills until no process is left (a fork bomb may add some between passes)."""
        while True:
            self.kill()
            if not self.members():
                return
            await anyio.sleep(0.005)

    def remove(self) -> None:
        self._close_peak()
        for group in dict.fromkeys((self.memory, self.pids)):
            with contextlib.suppress(OSError):
                group.rmdir()
        os.close(self._lock_fd)


def create_slot_cgroups(root: Path, names: list[str], limits: Limits) -> list[SlotCgroup]:
    if os.geteuid() != 0:
        raise CgroupUnavailable("not running as root")
    unified = (root / "cgroup.controllers").exists()
    slots: list[SlotCgroup] = []
    try:
        for name in names:
            slots.append(_v2_group(root, name) if unified else _v1_group(root, name))
            _configure(slots[-1], limits)
            slots[-1].kill()  # leftovers of a crashed server
    except (OSError, SlotBusy, CgroupUnavailable) as exc:
        for slot in slots:
            slot.remove()
        if isinstance(exc, OSError):
            raise CgroupUnavailable(str(exc)) from exc
        raise
    return slots


def _v1_group(root: Path, name: str) -> SlotCgroup:
    memory, pids = root / "memory" / PARENT / name, root / "pids" / PARENT / name
    for group, probe in ((memory, "memory.limit_in_bytes"), (pids, "pids.max")):
        if not (group.parent.parent / "cgroup.procs").exists():
            raise CgroupUnavailable(f"no cgroup v1 controller mounted at {group.parent.parent}")
        group.mkdir(parents=True, exist_ok=True)
        if not (group / probe).exists():
            raise CgroupUnavailable(f"{group} has no {probe}")
    return SlotCgroup(memory, pids, unified=False)


def _v2_group(root: Path, name: str) -> SlotCgroup:
    missing = {"memory", "pids"} - set((root / "cgroup.controllers").read_text().split())
    if missing:
        raise CgroupUnavailable(f"cgroup v2 at {root} lacks controllers {sorted(missing)}")
    _enable_controllers(root)
    (root / PARENT).mkdir(exist_ok=True)
    _enable_controllers(root / PARENT)
    (root / PARENT / name).mkdir(exist_ok=True)
    return SlotCgroup(root / PARENT / name, root / PARENT / name, unified=True)


def _configure(slot: SlotCgroup, limits: Limits) -> None:
    memory = str(limits.memory_bytes)
    if slot.unified:
        (slot.memory / "memory.max").write_text(memory)
        if (slot.memory / "memory.swap.max").exists():
            (slot.memory / "memory.swap.max").write_text("0")  # swap counts as memory
        (slot.memory / "memory.oom.group").write_text("1")
    else:
        swap = slot.memory / "memory.memsw.limit_in_bytes"  # only with swap accounting
        if swap.exists():
            swap.write_text("-1")  # memsw must stay >= the memory limit while both change
        (slot.memory / "memory.limit_in_bytes").write_text(memory)
        if swap.exists():
            swap.write_text(memory)
    (slot.pids / "pids.max").write_text(str(limits.processes))


def _enable_controllers(group: Path) -> None:
    control = group / "cgroup.subtree_control"
    if not {"memory", "pids"} <= set(control.read_text().split()):
        control.write_text("+memory +pids")


def remove_parents(root: Path) -> None:
    for parent in (root / PARENT, root / "memory" / PARENT, root / "pids" / PARENT):
        with contextlib.suppress(OSError):
            parent.rmdir()


def _keyed(path: Path) -> dict[str, int]:
    pairs = (line.split() for line in path.read_text().splitlines())
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2}
