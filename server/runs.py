"""Runs: a learner's code executed in the sandbox, its output streamed as events, tests judged
here in the server (expected values never enter the sandbox)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from realtime.codes import ErrorCode, RequestError
from realtime.envelope import SYSTEM, Actor
from realtime.hub import LiveSession, SessionHub
from realtime.requests import RunMode
from sandbox import Call, Limit, RunOutcome, RunRequest, Sandbox, Stream, judge
from tutor.content import Case, Question

log = logging.getLogger("wingman.runs")


@dataclass
class _ActiveRun:
    run_id: str
    cancel: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)


class RunService:
    def __init__(self, hub: SessionHub, sandbox: Sandbox, tasks: TaskGroup, queue_limit: int,
                 wall_seconds: float) -> None:
        self._hub = hub
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
            if code != live.state.code:
                await self._hub.publish(sid, "code.updated", by, {"code": code})
            run = _ActiveRun(run_id=str(uuid.uuid4()))
            self._active[sid] = run
            try:
                await self._hub.publish(sid, "run.started", by, {
                    "run_id": run.run_id, "mode": mode.value, "language": question.language})
            except BaseException:
                self._active.pop(sid, None)
                raise
        self._tasks.start_soon(self._execute, sid, run, question, mode, code, stdin)
        return run.run_id

    def cancel(self, sid: str, run_id: str) -> None:
        run = self._active.get(sid)
        if run is None or run.run_id != run_id:
            raise RequestError(ErrorCode.NOT_FOUND, "no such active run")
        run.cancel.set()

    async def stop(self, sid: str) -> None:
        """Cancel the session's run, if any, and wait until it has finished."""
        run = self._active.get(sid)
        if run is not None:
            run.cancel.set()
            with anyio.move_on_after(self._wall + 5):
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
                run.cancel)
            return _finished(run.run_id, [outcome], [])
        visible = await self._sandbox.run(_calls(question, code, question.visible), stream,
                                          run.cancel)
        outcomes, tests = [visible], _verdicts(question, question.visible, visible, hidden=False)
        if visible.limit is not Limit.CANCELLED:
            hidden = await self._sandbox.run(_calls(question, code, question.hidden), silent,
                                             run.cancel)
            outcomes.append(hidden)
            tests += _verdicts(question, question.hidden, hidden, hidden=True)
        return _finished(run.run_id, outcomes, tests)


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
