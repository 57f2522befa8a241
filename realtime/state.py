"""A session's state, folded from its events in seq order: what a snapshot shows and what the
tutor and the ladder decide from. Pure: no I/O."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec

from realtime.envelope import DECISIVE, Event, Role
from tutor.ladder import HintLadder, LadderState
from tutor.moments import (
    CodeEdited,
    Fact,
    HintRequested,
    LearnerText,
    MomentDetector,
    MomentReason,
    RunFinished,
    Tick,
)
from tutor.reading import FailedCase, RunEvidence, last_exception

# A snapshot carries the last runs and the tail of their output, not all of history.
SNAPSHOT_RUNS = 20
SNAPSHOT_OUTPUT_CHARS = 64 * 1024
STDERR_TAIL_CHARS = 4 * 1024
SNAPSHOT_MOMENTS = 50


class Phase(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class IllegalTransition(Exception):
    pass


@dataclass
class RunRecord:
    run_id: str
    mode: str
    language: str
    output: list[dict[str, str]] = field(default_factory=list)
    output_chars: int = 0
    truncated: bool = False
    stderr_tail: str = ""
    finished: dict[str, Any] | None = None

    def add_output(self, stream: str, chunk: str) -> None:
        if stream == "stderr":
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL_CHARS:]
        if self.output_chars + len(chunk) > SNAPSHOT_OUTPUT_CHARS:
            self.truncated = True
            return
        self.output.append({"stream": stream, "chunk": chunk})
        self.output_chars += len(chunk)


@dataclass
class Turn:
    turn_id: str
    question: str
    answer: str = ""
    done: bool = False


@dataclass
class SessionState:
    sid: str
    learner: str
    question_id: str
    epoch: int = 0
    # The question's version the session is pinned to (0 in states written before versions).
    question_version: int = 0
    seq: int = 0
    phase: Phase = Phase.ACTIVE
    end_reason: str | None = None
    code: str = ""
    runs: dict[str, RunRecord] = field(default_factory=dict)
    active_run: str | None = None
    run_count: int = 0
    turns: dict[str, Turn] = field(default_factory=dict)
    active_turn: str | None = None
    hints: list[dict[str, Any]] = field(default_factory=list)
    ladder: LadderState = field(default_factory=LadderState)
    # "user role" -> {"user", "role", "name"}: who is in the session, on any node.
    present: dict[str, dict[str, str]] = field(default_factory=dict)
    # The seq of the last decisive event: the version compare-and-set on the bus checks.
    dseq: int = 0
    last_activity_ms: int = 0
    # Complex moments: the detector fed from the events (so every node holds the same one),
    # those it found and no node has reported yet, and those reported (moment.detected).
    detector: MomentDetector = field(default_factory=MomentDetector)
    due: list[dict[str, Any]] = field(default_factory=list)
    moments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED

    def apply(self, event: Event) -> bool:
        """Fold one event in; False for one already applied (a duplicate delivery)."""
        if event.seq <= self.seq and event.epoch == self.epoch:
            return False
        if self.ended:
            raise IllegalTransition(f"{event.kind} after the session ended")
        self.epoch, self.seq = event.epoch, event.seq
        if event.kind in DECISIVE:
            self.dseq = event.seq
        if event.by.role in (Role.LEARNER,):
            self.last_activity_ms = event.ts
        handler = _REDUCERS.get(event.kind)
        if handler is not None:
            handler(self, event)
        fact = _fact(self, event)
        if fact is not None:
            for moment in self.detector.observe(fact):
                self.due.append({"reason": moment.reason.value, "detail": moment.detail,
                                 "at_seq": event.seq})
        return True

    def idle_moment(self, now_ms: int) -> dict[str, Any] | None:
        """The silence moment that time passing alone makes due now, if any (the detector is
        not changed: it learns of the moment when its event is folded in)."""
        if self.ended or self.detector.failed_at is None or self.detector.idle_told:
            return None
        probe = copy.deepcopy(self.detector)
        for moment in probe.observe(Tick(now_ms)):
            return {"reason": moment.reason.value, "detail": moment.detail, "at_ms": now_ms}
        return None

    def snapshot(self, question: dict[str, Any]) -> dict[str, Any]:
        runs = list(self.runs.values())[-SNAPSHOT_RUNS:]
        return {
            "question": question,
            "code": self.code,
            "runs": [
                {"run_id": r.run_id, "mode": r.mode, "language": r.language,
                 "output": r.output, "truncated": r.truncated, "finished": r.finished}
                for r in runs
            ],
            "conversation": [
                {"turn_id": t.turn_id, "question": t.question, "answer": t.answer, "done": t.done}
                for t in self.turns.values()
            ],
            "hints": self.hints,
            "hint_level": self.ladder.level,
            "moments": self.moments,
            "present": list(self.present.values()),
            "ended": self.ended,
            "end_reason": self.end_reason,
        }

    def evidence(self) -> RunEvidence | None:
        """The last finished run, as the tutor may speak of it."""
        for record in reversed(self.runs.values()):
            if record.finished is not None:
                return _evidence(record)
        return None

    def asked(self) -> frozenset[str]:
        return frozenset(t.answer for t in self.turns.values())

    def to_blob(self) -> bytes:
        """The state as JSON, for a snapshot any node can start from."""
        return msgspec.json.encode(self)

    @classmethod
    def from_blob(cls, blob: bytes) -> SessionState:
        return msgspec.json.decode(blob, type=cls)


def run_evidence(record: RunRecord) -> RunEvidence:
    """A finished run, as the tutor may speak of it."""
    return _evidence(record)


def _evidence(record: RunRecord) -> RunEvidence:
    finished = record.finished or {}
    tests = finished.get("tests") or []
    first = next((t for t in tests if not t["passed"] and not t.get("hidden")), None)
    failure = None
    if first is not None:
        failure = FailedCase(first["name"], first.get("input", []), first.get("expected"),
                             first.get("got"), first.get("error"))
    return RunEvidence(
        mode=record.mode,
        exit_code=finished.get("exit_code"),
        limit=finished.get("limit"),
        stderr_tail=record.stderr_tail,
        first_failure=failure,
        hidden_failed=sum(1 for t in tests if t.get("hidden") and not t["passed"]),
        tests_total=len(tests),
        tests_passed=sum(1 for t in tests if t["passed"]),
    )


_ladder = HintLadder()


def _presence_join(state: SessionState, event: Event) -> None:
    d = event.data
    state.present[f"{d['user']} {d['role']}"] = {"user": d["user"], "role": d["role"],
                                                  "name": d.get("name", "")}


def _presence_leave(state: SessionState, event: Event) -> None:
    state.present.pop(f"{event.data['user']} {event.data['role']}", None)


def _code_updated(state: SessionState, event: Event) -> None:
    if "code" in event.data:
        state.code = event.data["code"]


def _run_started(state: SessionState, event: Event) -> None:
    d = event.data
    state.runs[d["run_id"]] = RunRecord(d["run_id"], d["mode"], d.get("language", "python"))
    state.active_run = d["run_id"]
    state.run_count += 1
    while len(state.runs) > SNAPSHOT_RUNS * 2:
        del state.runs[next(iter(state.runs))]


def _run_output(state: SessionState, event: Event) -> None:
    record = state.runs.get(event.data["run_id"])
    if record is not None:
        record.add_output(event.data["stream"], event.data["chunk"])


def _run_finished(state: SessionState, event: Event) -> None:
    d = event.data
    record = state.runs.get(d["run_id"])
    if record is not None:
        record.finished = d
    if state.active_run == d["run_id"]:
        state.active_run = None
    tests = d.get("tests") or []
    test = record is not None and record.mode == "test"
    passed = bool(tests) and all(t["passed"] for t in tests) and d.get("limit") is None
    state.ladder = _ladder.attempted(state.ladder, test=test, passed=passed)


def _turn_start(state: SessionState, event: Event) -> None:
    turn = Turn(event.data["turn_id"], event.data.get("question", ""))
    state.turns[turn.turn_id] = turn
    state.active_turn = turn.turn_id


def _turn_delta(state: SessionState, event: Event) -> None:
    turn = state.turns.get(event.data["turn_id"])
    if turn is not None:
        turn.answer += event.data["text"]


def _turn_end(state: SessionState, event: Event) -> None:
    turn = state.turns.get(event.data["turn_id"])
    if turn is not None:
        turn.done = True
    if state.active_turn == event.data["turn_id"]:
        state.active_turn = None


def _hint_given(state: SessionState, event: Event) -> None:
    state.ladder = _ladder.hint_given(state.ladder, event.data["level"])
    state.hints.append({"level": event.data["level"], "text": event.data["text"]})


def _moment(state: SessionState, event: Event) -> None:
    reason = event.data.get("reason")
    for due in state.due:
        if due["reason"] == reason:
            state.due.remove(due)
            break
    if reason == MomentReason.IDLE and not state.detector.idle_told:
        # Noticed by a node's clock rather than by an event: the detector learns of it here.
        state.detector.observe(Tick(max(event.ts, int(event.data.get("at_ms") or 0))))
        state.detector.idle_told = True
    state.moments.append({"reason": reason, "detail": event.data.get("detail", ""),
                          "seq": event.seq, "ts": event.ts})
    del state.moments[:-SNAPSHOT_MOMENTS]


def _fact(state: SessionState, event: Event) -> Fact | None:
    """What an event tells the moment detector, if anything."""
    kind, at = event.kind, event.ts
    if kind == "run.finished":
        if event.data.get("limit") in ("cancelled", "lost"):
            return None
        record = state.runs.get(event.data.get("run_id", ""))
        failed, error = _failure(record, event.data)
        return RunFinished(at, failed, error)
    if kind == "hint.given":
        return HintRequested(at)
    if kind == "tutor.turn.start" and event.by.role is Role.LEARNER:
        return LearnerText(at, str(event.data.get("question", "")))
    if kind == "code.updated" and event.by.role is Role.LEARNER:
        return CodeEdited(at)
    return None


def _failure(record: RunRecord | None, finished: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether a run failed, and the exception type it failed with when one can be read."""
    tests = finished.get("tests") or []
    failed = (finished.get("limit") is not None or finished.get("exit_code") not in (0, None)
              or any(not t.get("passed") for t in tests)
              or (finished.get("exit_code") is None and not tests))
    if not failed:
        return False, None
    raised = last_exception(record.stderr_tail) if record is not None else None
    if raised is None:
        for test in tests:
            raised = last_exception(str(test.get("error") or ""))
            if raised is not None:
                break
    if raised is not None:
        return True, raised.kind
    limit = finished.get("limit")
    return True, f"the {limit} limit" if limit else None


def _ended(state: SessionState, event: Event) -> None:
    state.phase = Phase.ENDED
    state.end_reason = event.data.get("reason")
    state.active_run = None
    state.active_turn = None


_REDUCERS = {
    "presence.join": _presence_join,
    "presence.leave": _presence_leave,
    "code.updated": _code_updated,
    "run.started": _run_started,
    "run.output": _run_output,
    "run.finished": _run_finished,
    "tutor.turn.start": _turn_start,
    "tutor.delta": _turn_delta,
    "tutor.turn.end": _turn_end,
    "hint.given": _hint_given,
    "moment.detected": _moment,
    "session.ended": _ended,
}
