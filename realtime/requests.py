"""Every request a client may send, as typed structs; the `type` field picks the struct."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

Ref = int | str | None


class Since(msgspec.Struct, frozen=True):
    epoch: int
    seq: int


class JoinRole(StrEnum):
    LEARNER = "learner"
    OBSERVER = "observer"


class RunMode(StrEnum):
    RUN = "run"
    TEST = "test"


class Request(msgspec.Struct, frozen=True, tag_field="type", forbid_unknown_fields=False):
    ref: Ref = None
    key: str | None = None


class Auth(Request, frozen=True, tag="auth"):
    token: str = ""


class Ping(Request, frozen=True, tag="ping"):
    pass


class SessionCreate(Request, frozen=True, tag="session.create"):
    question_id: str = ""
    # Review mode: the learner started it from their due reviews.
    review: bool = False


class SessionJoin(Request, frozen=True, tag="session.join"):
    sid: str = ""
    role: JoinRole = JoinRole.LEARNER
    since: Since | None = None


class SessionLeave(Request, frozen=True, tag="session.leave"):
    sid: str = ""


class SessionEnd(Request, frozen=True, tag="session.end"):
    sid: str = ""


class CodeUpdate(Request, frozen=True, tag="code.update"):
    sid: str = ""
    code: str | None = None
    cursor: dict[str, Any] | None = None


class CodeRun(Request, frozen=True, tag="code.run"):
    sid: str = ""
    mode: RunMode = RunMode.RUN
    code: str | None = None
    stdin: str = ""


class RunCancel(Request, frozen=True, tag="run.cancel"):
    sid: str = ""
    run_id: str = ""


class TutorAsk(Request, frozen=True, tag="tutor.ask"):
    sid: str = ""
    text: str = ""


class HintRequest(Request, frozen=True, tag="hint.request"):
    sid: str = ""


class MentorInvite(Request, frozen=True, tag="mentor.invite"):
    sid: str = ""
    mentor: str = ""  # the mentor's email
    invisible: bool = False  # the learner lets this mentor watch unseen


class MentorInvites(Request, frozen=True, tag="mentor.invites"):
    sid: str = ""  # given by a learner: that session's invitations; else the caller's own


class MentorInviteAccept(Request, frozen=True, tag="mentor.invite.accept"):
    invite: str = ""


class MentorInviteRevoke(Request, frozen=True, tag="mentor.invite.revoke"):
    invite: str = ""


class MentorNote(Request, frozen=True, tag="mentor.note"):
    sid: str = ""
    text: str = ""
    private: bool = False  # for the learner alone; other members get it redacted


class MonitorSubscribe(Request, frozen=True, tag="monitor.subscribe"):
    pass


AnyRequest = (
    Auth
    | Ping
    | SessionCreate
    | SessionJoin
    | SessionLeave
    | SessionEnd
    | CodeUpdate
    | CodeRun
    | RunCancel
    | TutorAsk
    | HintRequest
    | MentorInvite
    | MentorInvites
    | MentorInviteAccept
    | MentorInviteRevoke
    | MentorNote
    | MonitorSubscribe
)

# Fields that must be present and non-empty, per request type (msgspec defaults keep decoding
# total so that a missing field is reported by name rather than as a generic error).
REQUIRED: dict[type[Request], tuple[str, ...]] = {
    Auth: ("token",),
    SessionCreate: ("question_id",),
    SessionJoin: ("sid",),
    SessionLeave: ("sid",),
    SessionEnd: ("sid",),
    CodeUpdate: ("sid", "code"),
    CodeRun: ("sid",),
    RunCancel: ("sid", "run_id"),
    TutorAsk: ("sid", "text"),
    HintRequest: ("sid",),
    MentorInvite: ("sid", "mentor"),
    MentorInviteAccept: ("invite",),
    MentorInviteRevoke: ("invite",),
    MentorNote: ("sid", "text"),
}
