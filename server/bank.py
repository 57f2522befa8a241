"""The question bank shipped with the project, and the node's view of the published questions."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec

from tutor.content import Question, check_prerequisites, parse_question


def shipped_questions() -> list[Question]:
    bank = resources.files("tutor").joinpath("bank")
    found = [parse_question(entry.read_bytes()) for entry in bank.iterdir()
             if entry.name.endswith(".json")]
    check_prerequisites(found)
    return sorted(found, key=lambda q: q.id)


class QuestionBank:
    """Published questions by id, as loaded at start."""

    def __init__(self, questions: list[Question]) -> None:
        check_prerequisites(questions)
        self._by_id = {q.id: q for q in questions}

    @classmethod
    def from_bodies(cls, bodies: list[dict[str, Any]]) -> QuestionBank:
        return cls([msgspec.convert(b, Question) for b in bodies])

    def questions(self) -> list[Question]:
        return list(self._by_id.values())

    def get(self, question_id: str) -> Question | None:
        return self._by_id.get(question_id)

    def title(self, question_id: str) -> str:
        question = self._by_id.get(question_id)
        return question.title if question else question_id

    def for_learner(self, question_id: str) -> dict[str, Any] | None:
        question = self._by_id.get(question_id)
        return question.for_learner() if question else None

    def summaries(self) -> list[dict[str, Any]]:
        order = {"easy": 0, "medium": 1, "hard": 2}
        listed = sorted(self._by_id.values(), key=lambda q: (order[q.difficulty.value], q.title))
        return [q.summary() for q in listed]
