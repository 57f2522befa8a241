"""Who may do what to which session, decided in one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.parametrize(("person", "action", "expected"), [
    (who("ada", "learner"), Action.INVITE, True),
    (who("eve", "learner"), Action.INVITE, False),
    (who("mia", "mentor"), Action.INVITE, False),
    (who("root", "admin"), Action.INVITE, False),
    (who("mia", "mentor"), Action.NOTE, True),
    (who("max", "mentor"), Action.NOTE, False),
    (who("ada", "learner"), Action.NOTE, False),
    (who("root", "admin"), Action.NOTE, False),
    (who("ops", "system"), Action.NOTE, False),
])
def test_inviting_and_notes(person: Identity, action: Action, expected: bool) -> None:
    assert allowed(person, action, SESSION) is expected


# An invitation's facts: its learner and its one mentor.
INVITATION = SessionFacts(learner="ada", mentors=frozenset({"mia"}))


@pytest.mark.parametrize(("person", "action", "expected"), [
    (who("mia", "mentor"), Action.ACCEPT_INVITE, True),
    (who("ada", "learner"), Action.ACCEPT_INVITE, False),
    (who("max", "mentor"), Action.ACCEPT_INVITE, False),
    (who("root", "admin"), Action.ACCEPT_INVITE, False),
    (who("ada", "learner"), Action.REVOKE_INVITE, True),
    (who("mia", "mentor"), Action.REVOKE_INVITE, True),
    (who("max", "mentor"), Action.REVOKE_INVITE, False),
    (who("eve", "learner"), Action.REVOKE_INVITE, False),
])
def test_answering_invitations(person: Identity, action: Action, expected: bool) -> None:
    assert allowed(person, action, INVITATION) is expected


def test_a_mentor_not_yet_accepted_may_neither_observe_nor_note() -> None:
    pending = SessionFacts(learner="ada")
    assert not allowed(who("mia", "mentor"), Action.OBSERVE, pending)
    assert not allowed(who("mia", "mentor"), Action.NOTE, pending)
    assert not allowed(who("mia", "mentor"), Action.INVITE, None)


_people = st.sampled_from(["ada", "mia", "max", "eve"])
_roles = st.frozensets(st.sampled_from(["learner", "mentor", "admin", "system"]))


@given(_people, _roles, _people, st.frozensets(_people))
def test_a_note_needs_the_right_to_observe_and_only_the_learner_invites(
        user: str, roles: frozenset[str], learner: str, mentors: frozenset[str]) -> None:
    person, facts = Identity(user, user, roles, 0), SessionFacts(learner, mentors)
    if allowed(person, Action.NOTE, facts):
        assert allowed(person, Action.OBSERVE, facts)
    assert allowed(person, Action.INVITE, facts) is (user == learner)
