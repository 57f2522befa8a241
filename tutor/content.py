"""Questions as authored: statement, tests, the five hints, a micro-lesson, Socratic material."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class Difficulty(StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class Compare(StrEnum):
    EXACT = "exact"
    UNORDERED = "unordered"
    UNORDERED_NESTED = "unordered_nested"


class Case(msgspec.Struct, frozen=True):
    name: str
    args: list[Any]
    expected: Any


class Lesson(msgspec.Struct, frozen=True):
    title: str
    body: str


class Socratic(msgspec.Struct, frozen=True):
    focus: list[str]
    concepts: list[str]
    errors: dict[str, str]
    wrong_answer: list[str]
    complexity: str


class Question(msgspec.Struct, frozen=True):
    id: str
    version: int
    title: str
    language: str
    difficulty: Difficulty
    tags: list[str]
    statement: str
    function: str
    signature: str
    starter: str
    compare: Compare
    visible: list[Case]
    hidden: list[Case]
    hints: list[str]
    lesson: Lesson
    socratic: Socratic

    def __post_init__(self) -> None:
        if len(self.hints) != 5:
            raise ValueError(f"question {self.id} needs exactly 5 hints")
        if not self.visible or not self.hidden:
            raise ValueError(f"question {self.id} needs visible and hidden cases")

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "tags": self.tags,
            "difficulty": self.difficulty.value,
            "language": self.language,
        }

    def for_learner(self) -> dict[str, Any]:
        """What the learner may see: never hidden cases, hints or Socratic material."""
        return {
            **self.summary(),
            "statement": self.statement,
            "signature": self.signature,
            "starter": self.starter,
            "visible": [msgspec.to_builtins(c) for c in self.visible],
            "lesson": msgspec.to_builtins(self.lesson),
        }


def parse_question(raw: bytes | str) -> Question:
    return msgspec.json.decode(raw, type=Question)
