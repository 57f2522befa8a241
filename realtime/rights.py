"""The one place that decides who may do what to which session (and to the question bank)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from realtime.codes import ErrorCode, RequestError
from realtime.connection import Identity


class Action(StrEnum):
    CREATE = "create"
    JOIN_LEARNER = "join_learner"
    OBSERVE = "observe"
    WORK = "work"  # edit, run, ask the tutor, request hints
    CANCEL_RUN = "cancel_run"
    END = "end"
    READ_TRACE = "read_trace"
    INVITE = "invite"  # invite mentors to watch, see whom one invited
    NOTE = "note"  # write a mentor note (the caller must also be joined to the session)
    # On one invitation, whose facts are its learner and its one mentor:
    ACCEPT_INVITE = "accept_invite"
    REVOKE_INVITE = "revoke_invite"
    # The question bank: create, edit, publish, retire, import and export questions.
    MANAGE_CONTENT = "manage_content"
    MONITOR = "monitor"  # watch every live session on every node (no session given)


@dataclass(frozen=True)
class SessionFacts:
    learner: str
    # Mentors whose invitation is accepted and not revoked (read from storage when it matters).
    mentors: frozenset[str] = frozenset()


def allowed(who: Identity, action: Action, session: SessionFacts | None = None) -> bool:
    if action is Action.CREATE:
        return "learner" in who.roles
    if action in (Action.MANAGE_CONTENT, Action.MONITOR):
        return "admin" in who.roles
    if session is None:
        return False
    owner = who.user == session.learner
    # A system account is an operator's tool: it may look at and stop sessions, never work in them.
    admin = bool({"admin", "system"} & who.roles)
    invited = who.user in session.mentors
    match action:
        case Action.JOIN_LEARNER | Action.WORK | Action.INVITE:
            return owner
        case Action.NOTE | Action.ACCEPT_INVITE:
            return invited
        case Action.REVOKE_INVITE:
            return owner or invited
        case Action.OBSERVE:
            return admin or invited
        case Action.READ_TRACE:
            return owner or admin or invited
        case Action.CANCEL_RUN | Action.END:
            return owner or admin
    return False


def require(who: Identity, action: Action, session: SessionFacts | None = None) -> None:
    if not allowed(who, action, session):
        raise RequestError(ErrorCode.FORBIDDEN, "you may not do that in this session")
