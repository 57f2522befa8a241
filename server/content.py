"""Questions as admins hand them in: validation with a message naming the field, and the bundle
and folder forms that export and import move the bank in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sandbox.languages import LANGUAGES
from storage.questions import State
from tutor.content import Question

BUNDLE_FORMAT = "wingman-content/1"
# The folder form: one file per version, and the state of each version beside them.
STATES_FILE = "states.json"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_FIELD_AT = re.compile(r"at `\$\.?([A-Za-z_]*)")
_FIELD_NAMED = re.compile(r"field `([A-Za-z_]+)`")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


class ContentError(Exception):
    """A question or bundle that cannot be taken, and the field at fault ('' when no one)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Entry:
    state: State
    question: Question

    def body(self) -> dict[str, Any]:
        return as_body(self.question)


def as_body(question: Question) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(question)
    return body


def same_question(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stored or given bodies are one question (defaults filled in)."""
    try:
        return msgspec.convert(a, Question) == msgspec.convert(b, Question)
    except msgspec.ValidationError:
        return False


def validate(raw: object, question_id: str | None = None, version: int | None = None) -> Question:
    """A question from decoded JSON; `question_id` and `version`, when given, are the server's
    to decide and overrule the body's."""
    if not isinstance(raw, dict):
        raise ContentError("a question is a JSON object")
    fields = set(Question.__struct_fields__)
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ContentError(f"unknown field `{unknown[0]}`", unknown[0])
    given = dict(raw)
    if question_id is not None:
        given["id"] = question_id
    if version is not None:
        given["version"] = version
    # The checks Question makes of the whole question, here so that the field is named.
    for name in ("visible", "hidden"):
        if given.get(name) == []:
            raise ContentError(f"{name}: at least one case", name)
    hints = given.get("hints")
    if isinstance(hints, list) and len(hints) != 5:
        raise ContentError("hints: exactly five, one for each level", "hints")
    try:
        question = msgspec.convert(given, Question)
    except msgspec.ValidationError as err:
        raise ContentError(str(err), _field_of(str(err), fields)) from None
    _check(question)
    return question


def _field_of(message: str, fields: set[str]) -> str:
    for pattern in (_FIELD_AT, _FIELD_NAMED):
        match = pattern.search(message)
        if match and match.group(1) in fields:
            return match.group(1)
    # Checks of the whole question (five hints, visible and hidden cases) name it in words.
    return next((f for f in sorted(fields) if re.search(rf"\b{f}\b", message)), "")


def _check(q: Question) -> None:
    if not _ID.match(q.id):
        raise ContentError("id: lowercase letters, digits and dashes, at most 64", "id")
    if q.version < 1:
        raise ContentError("version: a whole number from 1", "version")
    if q.language not in LANGUAGES:
        raise ContentError(f"language: one of {', '.join(LANGUAGES)}", "language")
    for name in ("title", "statement", "signature", "starter"):
        if not getattr(q, name).strip():
            raise ContentError(f"{name} must not be empty", name)
    if not _IDENTIFIER.match(q.function):
        raise ContentError("function: the name of the function the tests call", "function")
    if not q.tags or any(not t.strip() for t in q.tags):
        raise ContentError("tags: at least one, none empty", "tags")
    if any(not h.strip() for h in q.hints):
        raise ContentError("hints: none may be empty", "hints")
    names = [c.name for c in [*q.visible, *q.hidden]]
    if len(set(names)) != len(names):
        raise ContentError("visible/hidden: each case needs its own name", "hidden")
    if q.id in getattr(q, "prerequisites", ()):
        raise ContentError("prerequisites: a question cannot require itself", "prerequisites")


def bundle(entries: list[Entry]) -> dict[str, Any]:
    return {"format": BUNDLE_FORMAT,
            "questions": [{"state": e.state.value, "question": e.body()} for e in entries]}


def from_bundle(raw: object) -> list[Entry]:
    if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
        raise ContentError(f"a bundle is an object with \"format\": \"{BUNDLE_FORMAT}\"", "format")
    items = raw.get("questions")
    if not isinstance(items, list):
        raise ContentError("questions: a list of {state, question}", "questions")
    entries = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ContentError(f"questions[{n}]: an object with state and question", "questions")
        try:
            state = State(item.get("state", "draft"))
        except ValueError:
            raise ContentError(f"questions[{n}].state: draft, published or retired",
                               "state") from None
        try:
            question = validate(item.get("question"))
        except ContentError as err:
            raise ContentError(f"questions[{n}]: {err.message}", err.field) from None
        entries.append(Entry(state, question))
    return _ordered(entries)


def _ordered(entries: list[Entry]) -> list[Entry]:
    keys = [(e.question.id, e.question.version) for e in entries]
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise ContentError(f"{twice[0]} version {twice[1]} is given twice")
    # Lower versions first, so publishing a later one leaves it the one published.
    return sorted(entries, key=lambda e: (e.question.id, e.question.version))


def write_folder(entries: list[Entry], folder: Path) -> int:
    """One `<id>.v<version>.json` per version (the bank's own format) and the states beside."""
    folder.mkdir(parents=True, exist_ok=True)
    states: dict[str, dict[str, str]] = {}
    for e in entries:
        q = e.question
        (folder / f"{q.id}.v{q.version}.json").write_bytes(
            msgspec.json.format(msgspec.json.encode(e.body()), indent=2) + b"\n")
        states.setdefault(q.id, {})[str(q.version)] = e.state.value
    (folder / STATES_FILE).write_bytes(
        msgspec.json.format(msgspec.json.encode(states), indent=2) + b"\n")
    return len(entries)


def read_folder(folder: Path, publish: bool = False) -> list[Entry]:
    """Every question file in the folder (any name ending .json, the shipped bank's included);
    a version `states.json` does not name is a draft, or published when `publish` says so."""
    if not folder.is_dir():
        raise ContentError(f"{folder} is not a folder")
    states: dict[str, dict[str, str]] = {}
    states_path = folder / STATES_FILE
    if states_path.exists():
        try:
            states = msgspec.json.decode(states_path.read_bytes(), type=dict[str, dict[str, str]])
        except msgspec.MsgspecError as err:
            raise ContentError(f"{STATES_FILE}: {err}") from None
    entries = []
    for path in sorted(folder.glob("*.json")):
        if path.name == STATES_FILE:
            continue
        try:
            question = validate(msgspec.json.decode(path.read_bytes()))
        except msgspec.DecodeError as err:
            raise ContentError(f"{path.name}: {err}") from None
        except ContentError as err:
            raise ContentError(f"{path.name}: {err.message}", err.field) from None
        named = states.get(question.id, {}).get(str(question.version))
        try:
            state = State(named) if named else State.PUBLISHED if publish else State.DRAFT
        except ValueError:
            raise ContentError(f"{STATES_FILE}: {question.id} v{question.version}: draft, "
                               "published or retired", "state") from None
        entries.append(Entry(state, question))
    return _ordered(entries)
