"""The process backend: runs in a fixed set of slots, each with its own uid and cgroup."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio

from sandbox.api import Limit, Limits, OutputSink, RunOutcome, RunRequest
from sandbox.cgroup import CgroupUnavailable, SlotCgroup, create_slot_cgroups, remove_parents
from sandbox.execution import GRACE_SECONDS, Execution
from sandbox.languages import LANGUAGES
from sandbox.launch import Launched, Slot, Tools, launch
from sandbox.queue import FairQueue, Ticket

CGROUP_ROOT = Path("/sys/fs/cgroup")
FIRST_UID = 61000  # slot i runs as uid/gid FIRST_UID + i

log = logging.getLogger("wingman.sandbox")


class ProcessSandbox:
    name = "process"

    def __init__(
        self,
        limits: Limits,
        tools: Tools,
        slots: list[Slot],
        cgroup_root: Path,
        spares: bool,
        waiting: int = 32,
        per_owner: int = 4,
    ) -> None:
        self.limits = limits
        self.spares = spares
        self._tools = tools
        self._slots = slots
        self._free = list(reversed(slots))
        self.queue = FairQueue(len(slots), waiting, per_owner)
        self._spares: dict[int, Launched] = {}  # per slot: a chain already waiting for its job
        self._cgroup_root = cgroup_root
        self._closed = False

    @property
    def queued(self) -> int:
        return self.queue.waiting

    def reserve(self, owner: str) -> Ticket:
        return self.queue.reserve(owner)

    @property
    def active(self) -> int:
        return len(self._slots) - len(self._free)

    @property
    def enforced(self) -> bool:
        """True when memory and process limits are enforced by cgroups."""
        return all(slot.cgroup is not None for slot in self._slots)

    async def run(
        self,
        request: RunRequest,
        on_output: OutputSink,
        cancel: anyio.Event,
        ticket: Ticket | None = None,
    ) -> RunOutcome:
        if request.language not in LANGUAGES:
            raise ValueError(f"unsupported language: {request.language!r}")
        if request.calls and not request.function:
            raise ValueError("calls need a function to call")
        if self._closed:
            raise RuntimeError("process sandbox is closed")
        async with self.queue.turn(ticket.owner if ticket else ""):
            slot = self._free.pop()
            try:
                return await self._run_in(slot, request, on_output, cancel)
            finally:
                self._free.append(slot)

    async def _run_in(
        self, slot: Slot, request: RunRequest, on_output: OutputSink, cancel: anyio.Event
    ) -> RunOutcome:
        language = request.language
        launched = self._spares.pop(slot.index, None)
        if launched is not None and not (launched.usable() and launched.language == language):
            await launched.discard()
            launched = None
        try:
            launched = launched or await launch(self._tools, self.limits, slot, language)
        except OSError:
            log.exception("cannot start the sandbox chain")
            return RunOutcome(None, 0, 0, Limit.LOST, ())
        outcome = await Execution(self.limits, slot, launched, on_output).run(request, cancel)
        if self.spares and not self._closed:
            try:
                self._spares[slot.index] = await launch(self._tools, self.limits, slot, language)
            except OSError:
                log.exception("cannot start a spare sandbox chain")
        return outcome

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for spare in self._spares.values():
            await spare.discard()
        self._spares.clear()
        for slot in self._slots:
            if slot.cgroup is not None:
                with anyio.move_on_after(GRACE_SECONDS, shield=True):
                    await slot.cgroup.empty()
                slot.cgroup.remove()
        remove_parents(self._cgroup_root)


def open_process_sandbox(
    limits: Limits,
    slots: int = 4,
    strict: bool = False,
    *,
    first_uid: int = FIRST_UID,
    cgroup_root: Path = CGROUP_ROOT,
    spares: bool = True,
    waiting: int = 32,
    per_owner: int = 4,
) -> ProcessSandbox:
    """spares: after each run, launch the slot's next chain so it is ready before it is needed."""
    root = os.geteuid() == 0
    tools = Tools.find(root)
    cgroups: list[SlotCgroup | None]
    try:
        names = [str(first_uid + index) for index in range(slots)]
        cgroups = list(create_slot_cgroups(cgroup_root, names, limits))
    except CgroupUnavailable as exc:
        message = f"process sandbox cannot enforce memory/process limits: {exc}"
        if strict:
            raise RuntimeError(message) from exc
        log.warning("%s; running with rlimits only", message)
        cgroups = [None] * slots
    uids = [first_uid + index if root else None for index in range(slots)]
    return ProcessSandbox(
        limits,
        tools,
        [Slot(index, uids[index], cgroups[index]) for index in range(slots)],
        cgroup_root,
        spares,
        waiting,
        per_owner,
    )
