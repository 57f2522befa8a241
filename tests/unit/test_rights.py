"""Who may do what to which session, decided in one place."""

from __future__ import annotations

import pytest

from realtime.connection import Identity
from realtime.rights import Action, SessionFacts, allowed

SESSION = SessionFacts(learner="ada", mentors=frozenset({"mia"}))


def who(user: str, *roles: str) -> Identity:
    return Identity(user, user, frozenset(roles), 0)


@pytest.mark.parametrize(("person", "action", "expected"), [
    (who("ada", "learner"), Action.WORK, True),
    (who("ada", "learner"), Action.JOIN_LEARNER, True),
    (who("ada", "learner"), Action.OBSERVE, False),
    (who("ada", "learner"), Action.READ_TRACE, True),
    (who("ada", "learner"), Action.END, True),
    (who("eve", "learner"), Action.WORK, False),
    (who("eve", "learner"), Action.JOIN_LEARNER, False),
    (who("eve", "learner"), Action.OBSERVE, False),
    (who("eve", "learner"), Action.READ_TRACE, False),
    (who("eve", "learner"), Action.END, False),
    (who("mia", "mentor"), Action.OBSERVE, True),
    (who("mia", "mentor"), Action.WORK, False),
    (who("mia", "mentor"), Action.END, False),
    (who("max", "mentor"), Action.OBSERVE, False),
    (who("root", "admin"), Action.OBSERVE, True),
    (who("root", "admin"), Action.END, True),
    (who("root", "admin"), Action.WORK, False),
    (who("ops", "system"), Action.OBSERVE, True),
    (who("ops", "system"), Action.END, True),
    (who("ops", "system"), Action.WORK, False),
    (who("ops", "system"), Action.JOIN_LEARNER, False),
])
def test_rights(person: Identity, action: Action, expected: bool) -> None:
    assert allowed(person, action, SESSION) is expected


def test_only_learners_create_and_nothing_without_a_session() -> None:
    assert allowed(who("ada", "learner"), Action.CREATE)
    assert not allowed(who("mia", "mentor"), Action.CREATE)
    assert not allowed(who("ada", "learner"), Action.WORK, None)
