"""Runs: a learner's code executed in the sandbox, its output streamed as events, tests judged
here in the server (expected values never enter the sandbox)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from anyio.abc import TaskGroup

from realtime.bus import Bus, Unavailable
from realtime.codes import ErrorCode, RequestError
from realtime.envelope import SYSTEM, Actor
from realtime.hub import Decision, LiveSession, SessionHub
from realtime.requests import RunMode
from realtime.state import SessionState
from sandbox import Call, Limit, RunOutcome, RunRequest, Sandbox, Stream, judge
from sandbox.queue import QueueFull, Ticket
from tutor.content import Case, Question

log = logging.getLogger("wingman.runs")


@dataclass
class _ActiveRun:
    run_id: str
    ticket: Ticket
    cancel: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)


class RunService:
    def __init__(self, hub: SessionHub, bus: Bus, sandbox: Sandbox, tasks: TaskGroup,
                 queue_limit: int, wall_seconds: float) -> None:
        self._hub = hub
        self._bus = bus
        self._sandbox = sandbox
        self._tasks = tasks
        self._queue_limit = queue_limit
        self._wall = wall_seconds
        self._active: dict[str, _ActiveRun] = {}

    @property
    def active(self) -> int:
        return len(self._active)

    async def start(self, live: LiveSession, by: Actor, question: Question, mode: RunMode,
                    code: str, stdin: str) -> str:
        sid = live.state.sid
        async with live.lock:
            if live.state.active_run is not None or sid in self._active:
                raise RequestError(ErrorCode.CONFLICT, "a run is already in progress",
                                   run_id=live.state.active_run)
            if len(self._active) >= self._queue_limit:
                raise RequestError(ErrorCode.BUSY, "the sandbox queue is full; try again soon")
            try:
                # a place in the sandbox's fair queue, held until the run has finished
                ticket = self._sandbox.reserve(by.user)
            except QueueFull as full:
                raise RequestError(ErrorCode.BUSY, str(full)) from None
            run = _ActiveRun(run_id=str(uuid.uuid4()), ticket=ticket)
            try:
                if code != live.state.code:
                    await self._hub.publish(sid, "code.updated", by, {"code": code})
            except BaseException:
                ticket.close()
                raise
            self._active[sid] = run

            def started(state: SessionState) -> Decision:
                # Another tab on another node may have started one since this node looked.
                if state.active_run is not None:
                    raise RequestError(ErrorCode.CONFLICT, "a run is already in progress",
                                       run_id=state.active_run)
                return "run.started", by, {"run_id": run.run_id, "mode": mode.value,
                                           "language": question.language}

            try:
                await self._hub.decide(live, started)
            except BaseException:
                self._active.pop(sid, None)
                ticket.close()
                raise
        self._tasks.start_soon(self._execute, sid, run, question, mode, code, stdin)
        return run.run_id

    def busy(self, sid: str) -> bool:
        return sid in self._active

    async def cancel(self, sid: str, run_id: str) -> None:
        """Cancel a run here, or tell the node that runs it."""
        run = self._active.get(sid)
        if run is not None and run.run_id == run_id:
            run.cancel.set()
            return
        try:
            owners = await self._bus.owners(sid)
            if owners.run != run_id or owners.run_node in ("", self._bus.node_id):
                raise RequestError(ErrorCode.NOT_FOUND, "no such active run")
            await self._bus.send_control(owners.run_node, _cancel_message(sid, run_id))
        except Unavailable as err:
            raise RequestError(ErrorCode.UNAVAILABLE, str(err)) from None

    def on_control(self, message: bytes) -> None:
        """A message from another node on this node's control channel."""
        try:
            order = orjson.loads(message)
            if order.get("op") == "cancel":
                run = self._active.get(str(order["sid"]))
                if run is not None and run.run_id == order["run_id"]:
                    run.cancel.set()
        except (orjson.JSONDecodeError, KeyError, AttributeError):
            log.warning("unreadable control message ignored")

    async def stop(self, sid: str) -> None:
        """Cancel the session's run, here or on its node; wait for it when it runs here."""
        run = self._active.get(sid)
        if run is None:
            owners = await self._bus.owners(sid)
            if owners.run and owners.run_node not in ("", self._bus.node_id):
                await self._bus.send_control(owners.run_node, _cancel_message(sid, owners.run))
            return
        run.cancel.set()
        with anyio.move_on_after(self._wall + 5):
            await run.done.wait()

    async def abandon(self, sid: str) -> None:
        """The learner left: stop the session's run, here or on its node, without waiting."""
        run = self._active.get(sid)
        if run is not None:
            run.cancel.set()
            return
        try:
            owners = await self._bus.owners(sid)
            if owners.run and owners.run_node not in ("", self._bus.node_id):
                await self._bus.send_control(owners.run_node, _cancel_message(sid, owners.run))
        except Unavailable as err:
            log.info("run of %s not stopped after its learner left: %s", sid, err)

    async def stop_all(self) -> None:
        """A node shutting down: cancel every run here and wait for them to be reported."""
        runs = list(self._active.values())
        for run in runs:
            run.cancel.set()
        with anyio.move_on_after(self._wall + 5):
            for run in runs:
                await run.done.wait()

    async def _execute(self, sid: str, run: _ActiveRun, question: Question, mode: RunMode,
                       code: str, stdin: str) -> None:
        """Runs in the node's task group: whatever happens, it ends the run and never the node."""
        try:
            finished = await self._run(sid, run, question, mode, code, stdin)
        except Exception:
            log.exception("run %s failed inside the server", run.run_id)
            finished = _failed(run.run_id)
        try:
            for attempt in (finished, _failed(run.run_id)):
                try:
                    await self._hub.publish(sid, "run.finished", SYSTEM, attempt)
                    break
                except RequestError as err:  # the session ended: nobody waits for it
                    log.info("run.finished for %s not published: %s", run.run_id, err.message)
                    break
                except Exception:
                    log.exception("run.finished of %s could not be published", run.run_id)
        finally:
            self._active.pop(sid, None)
            run.ticket.close()
            run.done.set()

    async def _run(self, sid: str, run: _ActiveRun, question: Question, mode: RunMode,
                   code: str, stdin: str) -> dict[str, Any]:
        async def stream(kind: Stream, chunk: str) -> None:
            await self._hub.publish(sid, "run.output", SYSTEM,
                                    {"run_id": run.run_id, "stream": kind.value, "chunk": chunk})

        async def silent(kind: Stream, chunk: str) -> None:
            """Hidden cases: their output could carry their inputs, so none leaves the server."""

        if mode is RunMode.RUN:
            outcome = await self._sandbox.run(
                RunRequest(language=question.language, code=code, stdin=stdin), stream,
                run.cancel, run.ticket)
            return _finished(run.run_id, [outcome], [])
        visible = await self._sandbox.run(_calls(question, code, question.visible), stream,
                                          run.cancel, run.ticket)
        outcomes, tests = [visible], _verdicts(question, question.visible, visible, hidden=False)
        if visible.limit is not Limit.CANCELLED:
            hidden = await self._sandbox.run(_calls(question, code, question.hidden), silent,
                                             run.cancel, run.ticket)
            outcomes.append(hidden)
            tests += _verdicts(question, question.hidden, hidden, hidden=True)
        return _finished(run.run_id, outcomes, tests)


def _cancel_message(sid: str, run_id: str) -> bytes:
    return orjson.dumps({"op": "cancel", "sid": sid, "run_id": run_id})


def _failed(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "exit_code": None, "duration_ms": 0, "peak_memory_kib": 0,
            "limit": None, "tests": [], "error": "the run could not be completed"}


def _calls(question: Question, code: str, cases: list[Case]) -> RunRequest:
    return RunRequest(language=question.language, code=code, function=question.function,
                      calls=tuple(Call(c.name, c.args) for c in cases))


def _verdicts(question: Question, cases: list[Case], outcome: RunOutcome,
              hidden: bool) -> list[dict[str, Any]]:
    results = {r.name: r for r in outcome.results}
    verdicts: list[dict[str, Any]] = []
    for case in cases:
        result = results.get(case.name)
        passed = bool(result and result.ok and _judged(question, case, result.value))
        if hidden:
            verdicts.append({"name": case.name, "passed": passed, "hidden": True})
            continue
        verdict: dict[str, Any] = {"name": case.name, "passed": passed, "hidden": False,
                                   "input": case.args, "expected": case.expected,
                                   "got": result.value if result and result.ok else None}
        if result is None:
            verdict["error"] = _why_missing(outcome)
        elif not result.ok:
            verdict["error"] = result.error
        verdicts.append(verdict)
    return verdicts


def _judged(question: Question, case: Case, got: Any) -> bool:
    try:
        return judge(question.compare.value, case.expected, got)
    except RecursionError:
        return False  # a value nested deeper than any expected one cannot be equal to it


def _why_missing(outcome: RunOutcome) -> str:
    if outcome.limit is not None:
        return f"did not run: the run stopped at its {outcome.limit.value} limit"
    return "did not run: the program ended before reaching this case"


def _finished(run_id: str, outcomes: list[RunOutcome], tests: list[dict[str, Any]]) -> dict[
        str, Any]:
    limit = next((o.limit for o in outcomes if o.limit is not None), None)
    # Only the visible phase's exit code: learner code could encode hidden inputs in the other.
    exit_code = outcomes[0].exit_code
    return {
        "run_id": run_id,
        "exit_code": exit_code,
        "duration_ms": sum(o.duration_ms for o in outcomes),
        "peak_memory_kib": max(o.peak_memory_kib for o in outcomes),
        "limit": limit.value if limit is not None else None,
        "tests": tests,
    }
