"""The one event envelope: everything that happens in a session, as every client receives it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class Role(StrEnum):
    LEARNER = "learner"
    OBSERVER = "observer"
    ADMIN = "admin"
    TUTOR = "tutor"
    SYSTEM = "system"


class Actor(msgspec.Struct, frozen=True):
    user: str
    role: Role


# Events that change what a session decides from (active run, tutor turn, attempts, hint level);
# each moves the session's decision version that compare-and-set checks (a moment is reported
# once, by whichever node wins that check).
DECISIVE = frozenset({"run.started", "run.finished", "tutor.turn.start", "tutor.turn.end",
                      "hint.given", "moment.detected", "session.ended"})

TUTOR = Actor(user="tutor", role=Role.TUTOR)
SYSTEM = Actor(user="system", role=Role.SYSTEM)


class Draft(msgspec.Struct, frozen=True, omit_defaults=True):
    """An event before the bus gives it its place (seq) and time (ts)."""

    sid: str
    kind: str
    by: Actor
    data: dict[str, Any]
    # Set for events only one member may read in full (a private note); others get it redacted.
    private_to: str | None = None
    # W3C traceparent of the action that caused it, when tracing is on (one trace across nodes).
    trace: str | None = None

    def placed(self, epoch: int, seq: int, ts: int) -> Event:
        return Event(sid=self.sid, epoch=epoch, seq=seq, ts=ts, kind=self.kind, by=self.by,
                     data=self.data, private_to=self.private_to, trace=self.trace)


class Event(msgspec.Struct, frozen=True, tag="event", tag_field="type", omit_defaults=True):
    sid: str
    epoch: int
    seq: int
    ts: int
    kind: str
    by: Actor
    data: dict[str, Any]
    private_to: str | None = None
    trace: str | None = None

    def redacted(self) -> Event:
        return msgspec.structs.replace(self, data={"redacted": True}, private_to=None)

    def readable_by(self, user: str) -> bool:
        return self.private_to is None or user in (self.private_to, self.by.user)
