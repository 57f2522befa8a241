"""Questions as admins hand them in (server/content.py): the error names the field at fault, and
bundles and folders give back what they were made from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.bank import shipped_questions
from server.content import (
    ContentError,
    Entry,
    as_body,
    bundle,
    from_bundle,
    read_folder,
    validate,
    write_folder,
)
from storage.questions import State
from tutor.content import Question

SHIPPED = shipped_questions()
REQUIRED = [f for f in Question.__struct_fields__
            if f not in {"prerequisites"}]


def body_of(index: int) -> dict[str, Any]:
    return as_body(SHIPPED[index % len(SHIPPED)])


# No deadline: a loaded machine makes an example slow, not wrong.
@settings(deadline=None)
@given(st.integers(min_value=0), st.sets(st.sampled_from(REQUIRED), min_size=1))
def test_a_missing_field_is_named(index: int, dropped: set[str]) -> None:
    body = {k: v for k, v in body_of(index).items() if k not in dropped}
    with pytest.raises(ContentError) as refused:
        validate(body)
    assert refused.value.field in dropped


# No deadline: a loaded machine makes an example slow, not wrong.
@settings(deadline=None)
@given(st.integers(min_value=0), st.sampled_from(["title", "statement", "function", "tags",
                                                  "hints", "visible", "lesson", "difficulty",
                                                  "compare", "language", "socratic"]),
       st.sampled_from([None, 7, [], {}, ""]))
def test_a_wrong_value_is_named(index: int, field: str, value: Any) -> None:
    body = {**body_of(index), field: value}
    try:
        validate(body)
    except ContentError as err:
        assert err.field == field, err.message
    else:
        raise AssertionError(f"{field}={value!r} was taken")


def test_the_server_decides_id_and_version() -> None:
    question = validate({**body_of(0), "version": 9}, question_id="renamed", version=3)
    assert (question.id, question.version) == ("renamed", 3)


# No deadline: a loaded machine makes an example slow, not wrong.
@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(list(State))),
                max_size=8, unique_by=lambda t: t[0] % len(SHIPPED)))
def test_a_bundle_gives_back_its_entries(picked: list[tuple[int, State]]) -> None:
    entries = [Entry(state, SHIPPED[i % len(SHIPPED)]) for i, state in picked]
    again = from_bundle(msgspec.json.decode(msgspec.json.encode(bundle(entries))))
    key = lambda e: (e.question.id, e.question.version)  # noqa: E731
    assert sorted(again, key=key) == sorted(entries, key=key)


def test_a_bundle_naming_a_version_twice_is_refused() -> None:
    entry = Entry(State.DRAFT, SHIPPED[0])
    with pytest.raises(ContentError, match="twice"):
        from_bundle(bundle([entry, entry]))


def test_a_folder_gives_back_its_entries(tmp_path: Path) -> None:
    entries = [Entry(State.PUBLISHED if i % 2 else State.RETIRED, q)
               for i, q in enumerate(SHIPPED)]
    write_folder(entries, tmp_path)
    assert read_folder(tmp_path) == sorted(entries, key=lambda e: (e.question.id,
                                                                   e.question.version))


def test_the_shipped_bank_folder_imports_as_drafts_or_published() -> None:
    bank = Path(__file__).resolve().parents[2] / "tutor" / "bank"
    assert {e.state for e in read_folder(bank)} == {State.DRAFT}
    published = read_folder(bank, publish=True)
    assert {e.state for e in published} == {State.PUBLISHED}
    assert [e.question for e in published] == SHIPPED
