"""The profile's rules without I/O: what a change may set, and that a refused change names its
field and changes nothing."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.profile import Invalid, ProfileChange, changed
from storage.profiles import Profile

TODAY = date(2026, 11, 25)


@given(st.integers(0, 23), st.integers(0, 59))
def test_every_clock_time_is_taken_and_shown_back(hour: int, minute: int) -> None:
    text = f"{hour:02d}:{minute:02d}"
    profile = changed(Profile(), ProfileChange(reminder_time=text), TODAY)
    assert profile.reminder_time == time(hour, minute)
    assert profile.reminder_time.strftime("%H:%M") == text


@given(st.text(max_size=8))
def test_anything_else_is_not_a_clock_time(text: str) -> None:
    if len(text) == 5 and text[2] == ":" and text[:2].isdigit() and text[3:].isdigit() \
            and text.isascii() and int(text[:2]) < 24 and int(text[3:]) < 60:
        return
    if text == "":
        assert changed(Profile(), ProfileChange(reminder_time=text), TODAY).reminder_time is None
        return
    with pytest.raises(Invalid) as refused:
        changed(Profile(), ProfileChange(reminder_time=text), TODAY)
    assert refused.value.field == "reminder_time"


def test_only_what_is_sent_changes() -> None:
    before = Profile(goal="a job", daily_goal=3, time_zone="Europe/Paris")
    after = changed(before, ProfileChange(email_reminders=False), TODAY)
    assert after == Profile(goal="a job", daily_goal=3, time_zone="Europe/Paris",
                            email_reminders=False)
    cleared = changed(Profile(reminder_time=time(8)), ProfileChange(reminder_time=None), TODAY)
    assert cleared.reminder_time is None


@pytest.mark.parametrize(("text", "ok"), [
    ("2026-11-24", True),  # the learner's today may be our yesterday
    ("2026-11-23", False), ("2036-11-01", True), ("2037-01-01", False), ("soon", False)])
def test_a_target_date_is_near_enough_and_not_past(text: str, ok: bool) -> None:
    change = ProfileChange(target_date=text)
    if ok:
        assert changed(Profile(), change, TODAY).target_date == date.fromisoformat(text)
    else:
        with pytest.raises(Invalid):
            changed(Profile(), change, TODAY)


@given(st.lists(st.sampled_from(["python", "javascript", "cobol", "rust"]), max_size=4))
def test_languages_are_distinct_and_known(languages: list[str]) -> None:
    fine = set(languages) <= {"python", "javascript"} and len(set(languages)) == len(languages)
    if fine:
        assert changed(Profile(), ProfileChange(languages=languages), TODAY).languages == \
            tuple(languages)
    else:
        with pytest.raises(Invalid):
            changed(Profile(), ProfileChange(languages=languages), TODAY)
