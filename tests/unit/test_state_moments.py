"""Moments folded from a session's events: the same events give the same moments on every node,
a moment is due until its `moment.detected` is folded, and silence is noticed only by time."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from realtime.envelope import SYSTEM, TUTOR, Actor, Event, Role
from realtime.state import SessionState
from tutor.moments import MomentDetector, MomentRules

LEARNER = Actor("u1", Role.LEARNER)
RULES = MomentRules(same_error_runs=3, idle_seconds=60, hint_burst=3, hint_window_seconds=120)


class Session:
    def __init__(self) -> None:
        self.state = SessionState(sid="s", learner="u1", question_id="q",
                                  detector=MomentDetector(RULES))
        self.seq = itertools.count(1)
        self.runs = itertools.count(1)

    def fold(self, kind: str, by: Actor, data: dict[str, Any], ts: int) -> None:
        assert self.state.apply(Event("s", 1, next(self.seq), ts, kind, by, data))

    def failing_run(self, ts: int, error: str = "IndexError") -> None:
        run_id = f"r{next(self.runs)}"
        self.fold("run.started", LEARNER, {"run_id": run_id, "mode": "run"}, ts)
        self.fold("run.output", SYSTEM, {"run_id": run_id, "stream": "stderr",
                                         "chunk": f"Traceback...\n{error}: boom\n"}, ts)
        self.fold("run.finished", SYSTEM, {"run_id": run_id, "exit_code": 1, "limit": None,
                                           "tests": []}, ts + 10)

    def passing_run(self, ts: int) -> None:
        run_id = f"r{next(self.runs)}"
        self.fold("run.started", LEARNER, {"run_id": run_id, "mode": "run"}, ts)
        self.fold("run.finished", SYSTEM, {"run_id": run_id, "exit_code": 0, "limit": None,
                                           "tests": []}, ts + 10)

    def report(self) -> None:
        """What the node winning the compare-and-set publishes."""
        due = dict(self.state.due[0])
        self.fold("moment.detected", TUTOR, due, 0)


def test_three_failing_runs_with_one_error_make_one_moment_until_reported() -> None:
    s = Session()
    s.failing_run(1_000)
    s.failing_run(2_000)
    assert s.state.due == []
    s.failing_run(3_000)
    assert [d["reason"] for d in s.state.due] == ["repeated_error"]
    assert "IndexError" in s.state.due[0]["detail"]
    s.report()
    assert s.state.due == [] and [m["reason"] for m in s.state.moments] == ["repeated_error"]
    s.failing_run(4_000)
    assert s.state.due == []  # the same episode
    assert s.state.snapshot({})["moments"] == s.state.moments


def test_silence_after_a_failure_is_noticed_by_time_and_reported_once() -> None:
    s = Session()
    s.failing_run(10_000)
    assert s.state.idle_moment(10_000 + 59_000) is None
    idle = s.state.idle_moment(10_010 + 60_000)
    assert idle is not None and idle["reason"] == "idle"
    s.fold("moment.detected", TUTOR, idle, 10_010 + 60_000)
    assert s.state.idle_moment(10_010 + 600_000) is None
    assert s.state.due == []


def test_a_cancelled_run_and_the_tutor_s_words_are_not_the_learner_s() -> None:
    s = Session()
    s.fold("run.started", LEARNER, {"run_id": "x", "mode": "run"}, 1)
    s.fold("run.finished", SYSTEM, {"run_id": "x", "exit_code": None, "limit": "cancelled",
                                    "tests": []}, 2)
    s.fold("tutor.turn.start", TUTOR, {"turn_id": "t", "question": "I'm stuck"}, 3)
    assert s.state.due == [] and s.state.detector.failed_at is None


def test_the_state_with_its_detector_survives_a_snapshot_blob() -> None:
    s = Session()
    s.failing_run(1_000)
    s.failing_run(2_000)
    copy = SessionState.from_blob(s.state.to_blob())
    assert copy.detector == s.state.detector
    copy.apply(Event("s", 1, s.state.seq + 1, 3_000, "run.started", LEARNER,
                     {"run_id": "r9", "mode": "run"}))
    copy.apply(Event("s", 1, s.state.seq + 2, 3_000, "run.output", SYSTEM,
                     {"run_id": "r9", "stream": "stderr", "chunk": "IndexError: x\n"}))
    copy.apply(Event("s", 1, s.state.seq + 3, 3_010, "run.finished", SYSTEM,
                     {"run_id": "r9", "exit_code": 1, "limit": None, "tests": []}))
    assert [d["reason"] for d in copy.due] == ["repeated_error"]


@given(st.lists(st.sampled_from(["fail", "fail_other", "pass", "hint", "stuck", "edit"]),
                max_size=30))
def test_two_nodes_folding_the_same_events_agree_and_never_repeat_an_episode(
        steps: list[str]) -> None:
    a, b = Session(), Session()
    ts = 0
    for step in steps:
        ts += 1_000
        for s in (a, b):
            match step:
                case "fail":
                    s.failing_run(ts)
                case "fail_other":
                    s.failing_run(ts, "TypeError")
                case "pass":
                    s.passing_run(ts)
                case "hint" if s.state.ladder.level < 5:
                    s.fold("hint.given", LEARNER, {"level": s.state.ladder.level + 1,
                                                   "text": "h"}, ts)
                case "stuck":
                    s.fold("tutor.turn.start", LEARNER, {"turn_id": f"t{ts}",
                                                         "question": "I give up"}, ts)
                    s.fold("tutor.turn.end", TUTOR, {"turn_id": f"t{ts}"}, ts)
                case "edit":
                    s.fold("code.updated", LEARNER, {"code": "x"}, ts)
        assert a.state.due == b.state.due
        for s in (a, b):
            while s.state.due:
                s.report()
    assert a.state.moments == b.state.moments
    reasons = [m["reason"] for m in a.state.moments]
    # Between two reports of a repeated error there is a passing run or another error.
    assert reasons.count("stuck") <= 1 + steps.count("pass")
