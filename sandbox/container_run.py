"""One run in one container: send the job, relay frames into live output and the report,
enforce the wall clock and the output cap, then close the stream and remove the container."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import aiodocker
import anyio
from anyio.abc import ObjectReceiveStream

from sandbox.api import Limit, Limits, OutputSink, RunOutcome, RunRequest, Stream
from sandbox.output import Coalescer, OutputCap
from sandbox.protocol import Report, encode_frame

GRACE_SECONDS = 0.4  # after a stop: for the relay to send its counters
REMOVE_SECONDS = 10.0
STDOUT = 1  # Docker's stream numbers in an attach stream

log = logging.getLogger("wingman.sandbox.docker")


@dataclass
class Warm:
    """A started container whose relay waits for its job, and the attach stream to it."""

    container: Any
    stream: Any
    language: str

    async def discard(self, ended: bool = False) -> None:
        """ended: the relay has reported and exits; the engine removes its container itself."""
        with anyio.CancelScope(shield=True):
            # the stream first: a container whose attach stream is left open can hold its lock
            # and make kill hang (moby/moby#41827)
            with contextlib.suppress(Exception):
                await self.stream.close()
            if ended:
                return
            with anyio.move_on_after(REMOVE_SECONDS), contextlib.suppress(aiodocker.DockerError):
                await self.container.delete(force=True)


@dataclass
class RelayFrames:
    """Splits the relay's stdout into (kind, bytes) frames."""

    buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buffer += data
        frames: list[tuple[bytes, bytes]] = []
        while len(self.buffer) >= 5:
            size = int.from_bytes(self.buffer[1:5], "big")
            if len(self.buffer) < 5 + size:
                break
            frames.append((bytes(self.buffer[:1]), bytes(self.buffer[5 : 5 + size])))
            del self.buffer[: 5 + size]
        return frames


class ContainerRun:
    def __init__(self, limits: Limits, warm: Warm, on_output: OutputSink) -> None:
        self.limits, self.warm = limits, warm
        self.stopped: Limit | None = None
        self.report = Report()
        self.end: dict[str, Any] | None = None
        self.cap = OutputCap(limits.output_bytes, lambda: self.stop(Limit.OUTPUT))
        self.results_cap = OutputCap(limits.output_bytes, lambda: self.stop(Limit.OUTPUT))
        self.outputs = {b"1": Coalescer(Stream.STDOUT, on_output),
                        b"2": Coalescer(Stream.STDERR, on_output)}
        self.frames = RelayFrames()
        self._stop_asked = anyio.Event()
        self._reading = anyio.CancelScope()

    def stop(self, limit: Limit) -> None:
        if self.stopped is None:
            self.stopped = limit
        self._stop_asked.set()

    async def run(self, request: RunRequest, cancel: anyio.Event) -> RunOutcome:
        started = anyio.current_time()
        try:
            await self._supervise(request, cancel)
            duration_ms = round((anyio.current_time() - started) * 1000)
        finally:
            await self.warm.discard(ended=self.end is not None)
        return self._outcome(duration_ms)

    async def _supervise(self, request: RunRequest, cancel: anyio.Event) -> None:
        job = encode_frame(request)
        messages_in, messages = anyio.create_memory_object_stream[Any](16)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._read, messages_in)
            tasks.start_soon(self._watch, cancel)
            try:
                await self.warm.stream.write_in(len(job).to_bytes(4, "big") + job)
            except (OSError, RuntimeError, aiodocker.DockerError):
                log.warning("the sandbox container took no job", exc_info=True)
            else:
                allowed = self.limits.wall_seconds + GRACE_SECONDS
                self._reading.deadline = anyio.current_time() + allowed
                with self._reading:
                    await self._consume(messages)
            tasks.cancel_scope.cancel()
        for output in self.outputs.values():
            await output.finish()

    async def _watch(self, cancel: anyio.Event) -> None:
        with anyio.move_on_after(self.limits.wall_seconds):
            async with anyio.create_task_group() as either:
                async def cancelled() -> None:
                    await cancel.wait()
                    self.stop(Limit.CANCELLED)
                    either.cancel_scope.cancel()

                async def stop_asked() -> None:
                    await self._stop_asked.wait()
                    either.cancel_scope.cancel()

                either.start_soon(cancelled)
                either.start_soon(stop_asked)
        self.stop(Limit.TIME)  # no-op when stopped already for another reason
        self._reading.deadline = min(self._reading.deadline, anyio.current_time() + GRACE_SECONDS)
        with contextlib.suppress(Exception):
            await self.warm.stream.write_in(b"k")  # the relay kills everything, then reports

    async def _read(self, messages: Any) -> None:
        async with messages:
            while True:
                try:
                    message = await self.warm.stream.read_out()
                except (OSError, aiodocker.DockerError, RuntimeError):
                    return
                if message is None:
                    return
                await messages.send(message)

    async def _consume(self, messages: ObjectReceiveStream[Any]) -> None:
        async with messages:
            while self.end is None:
                deadline = min(output.deadline for output in self.outputs.values())
                message = None
                with anyio.CancelScope(deadline=deadline):
                    try:
                        message = await messages.receive()
                    except anyio.EndOfStream:
                        return
                if message is None:
                    for output in self.outputs.values():
                        if output.deadline <= anyio.current_time():
                            await output.flush()
                    continue
                if message.stream != STDOUT:
                    log.warning("sandbox relay: %s", message.data[:2000].decode(errors="replace"))
                    continue
                for kind, payload in self.frames.feed(message.data):
                    await self._take(kind, payload)

    async def _take(self, kind: bytes, payload: bytes) -> None:
        if kind in self.outputs:
            # bytes past the cap are dropped, but reading goes on until the relay ends
            await self.outputs[kind].add(self.cap.admit(payload))
        elif kind == b"3":
            self.report.feed(self.results_cap.admit(payload))
        elif kind == b"x":
            try:
                self.end = json.loads(payload)
            except ValueError:
                self.end = {}

    def _outcome(self, duration_ms: int) -> RunOutcome:
        end = self.end or {}
        status = end.get("exit")
        exit_code = None if self.stopped or not isinstance(status, int) else status
        peak = int(end.get("peak", 0)) // 1024
        limit = self._limit(exit_code, end)
        return RunOutcome(exit_code, duration_ms, peak, limit, tuple(self.report.results))

    def _limit(self, exit_code: int | None, end: dict[str, Any]) -> Limit | None:
        if self.stopped in (Limit.CANCELLED, Limit.OUTPUT):
            return self.stopped
        failed = exit_code != 0 or any(not result.ok for result in self.report.results)
        if end.get("pids_max", 0) > 0 and failed:
            return Limit.PROCESSES  # before MEMORY: a fork bomb often exhausts both
        if end.get("oom_kills", 0) > 0 or self.report.hint == "memory":
            return Limit.MEMORY
        if self.stopped is not None:
            return self.stopped
        if exit_code == -signal.SIGXFSZ or self.report.hint == "disk":
            return Limit.DISK
        if self.end is None or not self.report.ready:
            return Limit.LOST
        return None
