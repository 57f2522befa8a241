"""One run in one slot: send the job, stream output, enforce limits, leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal

import anyio
from anyio.abc import ByteSendStream, Process

from sandbox.api import Limit, Limits, OutputSink, RunOutcome, RunRequest, Stream
from sandbox.cgroup import Counters
from sandbox.launch import Launched, Slot
from sandbox.output import READ_BYTES, Coalescer, OutputCap, pump
from sandbox.protocol import Report, encode_frame

GRACE_SECONDS = 0.4  # after a kill: for output to drain, then for the processes to go


class Execution:
    def __init__(
        self, limits: Limits, slot: Slot, launched: Launched, on_output: OutputSink
    ) -> None:
        self.limits, self.slot, self.launched = limits, slot, launched
        self.process: Process = launched.process
        self.stopped: Limit | None = None
        self.report = Report()
        self.cap = OutputCap(limits.output_bytes, lambda: self.stop(Limit.OUTPUT))
        self.results_cap = OutputCap(limits.output_bytes, lambda: self.stop(Limit.OUTPUT))
        self.stdout = Coalescer(Stream.STDOUT, on_output)
        self.stderr = Coalescer(Stream.STDERR, on_output)

    def stop(self, limit: Limit) -> None:
        """Records why the run ends (first reason wins) and kills everything in the slot."""
        if self.stopped is None:
            self.stopped = limit
        self.kill()

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()  # bwrap dies, --die-with-parent takes the pid namespace down
        if self.slot.cgroup is not None:
            self.slot.cgroup.kill()

    async def run(self, request: RunRequest, cancel: anyio.Event) -> RunOutcome:
        cgroup = self.slot.cgroup
        before = cgroup.counters() if cgroup else None
        if cgroup:
            cgroup.reset_peak()
        started = anyio.current_time()
        try:
            await self._supervise(request, cancel)
        finally:
            with anyio.CancelScope(shield=True):
                await self._clean_up()
        duration_ms = round((anyio.current_time() - started) * 1000)
        return self._outcome(duration_ms, before)

    async def _supervise(self, request: RunRequest, cancel: anyio.Event) -> None:
        process = self.process
        assert process.stdin and process.stdout and process.stderr
        # backstop for output that keeps draining slowly after a kill
        with anyio.move_on_after(self.limits.wall_seconds + GRACE_SECONDS):
            async with anyio.create_task_group() as streams:
                streams.start_soon(self._feed, process.stdin, encode_frame(request))
                streams.start_soon(pump, process.stdout, self.stdout, self.cap)
                streams.start_soon(pump, process.stderr, self.stderr, self.cap)
                streams.start_soon(self._read_results)
                with anyio.move_on_after(self.limits.wall_seconds):
                    async with anyio.create_task_group() as watch:
                        watch.start_soon(self._watch_cancel, cancel)
                        await process.wait()
                        watch.cancel_scope.cancel()
                if process.returncode is None:
                    self.stop(Limit.TIME)

    async def _feed(self, stdin: ByteSendStream, frame: bytes) -> None:
        try:
            await stdin.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the harness died before reading its job; the outcome says how
        finally:
            await stdin.aclose()

    async def _read_results(self) -> None:
        fd = self.launched.results_fd
        os.set_blocking(fd, False)
        while True:
            await anyio.wait_readable(fd)
            try:
                data = os.read(fd, READ_BYTES)
            except BlockingIOError:
                continue
            if not data:
                return
            self.report.feed(self.results_cap.admit(data))

    async def _watch_cancel(self, cancel: anyio.Event) -> None:
        await cancel.wait()
        self.stop(Limit.CANCELLED)

    async def _clean_up(self) -> None:
        self.kill()
        with anyio.move_on_after(GRACE_SECONDS):
            await self.process.aclose()
            if self.slot.cgroup is not None:
                await self.slot.cgroup.empty()
        os.close(self.launched.results_fd)

    def _outcome(self, duration_ms: int, before: Counters | None) -> RunOutcome:
        status = self.process.returncode
        if status is not None and status > 128 and self.report.exit_status is None:
            status = 128 - status  # bwrap reports a signal death as 128 + signal
        exit_code = None if self.stopped else status
        cgroup = self.slot.cgroup
        peak = cgroup.peak_kib() if cgroup else 0
        after = cgroup.counters() if cgroup else None
        limit = self._limit(exit_code, before, after)
        return RunOutcome(exit_code, duration_ms, peak, limit, tuple(self.report.results))

    def _limit(
        self, exit_code: int | None, before: Counters | None, after: Counters | None
    ) -> Limit | None:
        if self.stopped in (Limit.CANCELLED, Limit.OUTPUT):
            return self.stopped
        failed = exit_code != 0 or any(not result.ok for result in self.report.results)
        if before and after and after.pids_max > before.pids_max and failed:
            return Limit.PROCESSES  # before MEMORY: a fork bomb often exhausts both
        oom = (
            before is not None
            and after is not None
            and after.oom_kills > before.oom_kills
            and (after.exact_oom or exit_code == -signal.SIGKILL)
        )
        if oom or self.report.hint == "memory":
            return Limit.MEMORY
        if self.stopped is not None:
            return self.stopped
        if exit_code == -signal.SIGXFSZ or self.report.hint == "disk":
            return Limit.DISK
        if exit_code == -signal.SIGXCPU:
            return Limit.TIME
        return None if self.report.ready else Limit.LOST
