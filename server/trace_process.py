"""Trace writers as processes of their own beside the node, so that writing a backlog to Postgres
never takes the node's event loop (or its core) from its sessions. The node starts them niced,
restarts one that dies, and they die with it; each reports what it wrote on its stdout, one JSON
line at a time, for the node's metrics. `wingman trace-writer` is the process."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from realtime.keys import trace_stream_names
from realtime.redis_client import connect_redis
from server.settings import Settings
from server.trace_streams import StreamTraceWriter, WriterObserver
from storage.db import open_pool
from storage.trace import TraceStore, Written

log = logging.getLogger("wingman.trace")

_PR_SET_PDEATHSIG = 1


def writer_command(consumer: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", "trace-writer", "--consumer", consumer]


def _report(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


def _die_with_parent(parent: int) -> None:
    """A writer outliving its node would hold entries nobody can claim while it lives."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the node died before the line above
        os._exit(1)


async def serve_trace_writer(settings: Settings, consumer: str) -> int:
    """The process: one consumer of the trace writers' group until SIGTERM (or its node) ends
    it. Entries are acknowledged only after their commit, so stopping anywhere loses nothing."""
    parent = os.getppid()
    if settings.trace_writer_parent == parent:
        _die_with_parent(parent)
    os.nice(settings.trace_writer_nice)
    if not settings.database_url or not settings.redis_url:
        log.error("a trace writer needs DATABASE_URL and REDIS_URL")
        return 2
    pool = await open_pool(settings.database_url, max_size=settings.trace_writer_tasks + 1)
    redis = connect_redis(settings.redis_url, settings.redis_cluster,
                          settings.trace_writer_tasks + 2)
    try:
        store = TraceStore(pool)
        store.on_set_aside = lambda reason: _report({"set_aside": reason})
        writer = StreamTraceWriter(
            redis, store, consumer, trace_stream_names(settings.trace_streams),
            settings.trace_batch, settings.trace_flush_seconds,
            settings.trace_claim_idle_seconds, settings.trace_writer_tasks,
            settings.trace_read_chunk,
            WriterObserver(lambda w: _report({"batch": [w.rows, w.set_aside]}),
                           lambda stream, n: _report({"length": [stream, n]})))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(writer.run)
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    break
            tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await pool.close()
            await redis.aclose()
    return 0


class TraceWriterProcesses:
    """The node's trace writer processes: started, read, restarted when one dies, stopped."""

    def __init__(self, settings: Settings, database_url: str, observer: WriterObserver,
                 on_set_aside: Callable[[str], None]) -> None:
        self._settings = settings
        self._observer = observer
        self._on_set_aside = on_set_aside
        self._env = {**os.environ, "DATABASE_URL": database_url,
                     "TRACE_WRITER_PARENT": str(os.getpid())}

    async def run(self) -> None:
        async with anyio.create_task_group() as tasks:
            for n in range(self._settings.trace_writer_processes):
                tasks.start_soon(self._keep, f"{self._settings.node_id}-w{n}")

    async def _keep(self, consumer: str) -> None:
        delay = 0.5
        while True:
            began = anyio.current_time()
            process = await anyio.open_process(writer_command(consumer), stdout=-1, stderr=None,
                                               env=self._env)
            try:
                await self._follow(process)
                code = await process.wait()
            finally:
                with anyio.CancelScope(shield=True):
                    await _stop(process)
            if anyio.current_time() - began > 60:
                delay = 0.5
            log.error("trace writer %s exited (%s); starting it again in %.1fs", consumer, code,
                      delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _follow(self, process: Process) -> None:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        while True:
            try:
                line = await lines.receive_until(b"\n", 65536)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                return
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("trace writer said something unreadable: %r", line[:200])
                continue
            if "batch" in message:
                rows, set_aside = message["batch"]
                self._observer.batch(Written(rows, set_aside))
            elif "length" in message:
                self._observer.length(*message["length"])
            elif "set_aside" in message:
                self._on_set_aside(message["set_aside"])


async def _stop(process: Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()
