"""Questions as authored: statement, tests, the five hints, a micro-lesson, Socratic material."""

from __future__ import annotations

from collections.abc import Iterable
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
    # Ids of the questions to have solved before this one; the bank checks they exist, no cycle.
    prerequisites: list[str] = []

    def __post_init__(self) -> None:
        if len(self.hints) != 5:
            raise ValueError(f"question {self.id} needs exactly 5 hints")
        if not self.visible or not self.hidden:
            raise ValueError(f"question {self.id} needs visible and hidden cases")
        if self.id in self.prerequisites:
            raise ValueError(f"question {self.id} cannot be its own prerequisite")
        if len(set(self.prerequisites)) != len(self.prerequisites):
            raise ValueError(f"question {self.id} names a prerequisite twice")

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


def prerequisite_problems(questions: Iterable[Question]) -> list[str]:
    """What is wrong with the prerequisites of a set of questions read together: ids that name no
    question of the set, and cycles (a question that would have to be solved before itself)."""
    by_id = {q.id: q for q in questions}
    problems = [f"question {q.id} names unknown prerequisite {p}"
                for q in by_id.values() for p in q.prerequisites if p not in by_id]
    # Depth-first search with three colours: a grey node met again closes a cycle.
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root in sorted(by_id):
        if root in state:
            continue
        path: list[str] = [root]
        pending: list[list[str]] = [[p for p in by_id[root].prerequisites if p in by_id]]
        state[root] = 1
        while pending:
            if not pending[-1]:
                state[path.pop()] = 2
                pending.pop()
                continue
            nxt = pending[-1].pop()
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                problems.append("prerequisites form a cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append([p for p in by_id[nxt].prerequisites if p in by_id])
    return problems


def check_prerequisites(questions: Iterable[Question]) -> None:
    """Raises ValueError listing every unknown prerequisite and cycle."""
    problems = prerequisite_problems(questions)
    if problems:
        raise ValueError("; ".join(problems))
