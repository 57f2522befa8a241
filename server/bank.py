"""The question bank shipped with the project, and the node's view of the bank in Postgres:
which version of each question is offered to new sessions, and every version by number."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import msgspec

from storage.questions import QuestionStore
from tutor.content import Question, check_prerequisites, parse_question, prerequisite_problems

log = logging.getLogger("wingman.bank")


def shipped_questions() -> list[Question]:
    bank = resources.files("tutor").joinpath("bank")
    found = [parse_question(entry.read_bytes()) for entry in bank.iterdir()
             if entry.name.endswith(".json")]
    check_prerequisites(found)
    return sorted(found, key=lambda q: q.id)


class QuestionBank:
    """Offered (published) questions by id, and any version by (id, version) for the sessions
    pinned to it. Versions never change, so each is read from Postgres once; which version is
    offered is read again on `refresh` (an admin on any node may publish or retire)."""

    def __init__(self, questions: list[Question], store: QuestionStore | None = None) -> None:
        if store is None:
            check_prerequisites(questions)
        self._store = store
        self._versions = {(q.id, q.version): q for q in questions}
        self._offered = {q.id: q.version for q in questions}

    @classmethod
    def from_bodies(cls, bodies: list[dict[str, Any]]) -> QuestionBank:
        return cls([msgspec.convert(b, Question) for b in bodies])

    @classmethod
    async def open(cls, store: QuestionStore) -> QuestionBank:
        """Every stored version read once (old sessions and their titles need retired ones)."""
        bank = cls([], store)
        for _, body in await store.everything():
            question = msgspec.convert(body, Question)
            bank._versions[(question.id, question.version)] = question
        await bank.refresh()
        return bank

    async def refresh(self) -> None:
        if self._store is None:
            return
        offered = await self._store.offered()
        await self._read(list(offered.items()))
        if offered != self._offered:
            # Publishing checks prerequisites; a problem here is one of data changed by hand.
            for problem in prerequisite_problems(self._offered_now(offered)):
                log.warning("question bank: %s", problem)
        self._offered = offered

    def _offered_now(self, offered: dict[str, int]) -> list[Question]:
        return [q for q in (self._versions.get(k) for k in offered.items()) if q is not None]

    async def _read(self, wanted: list[tuple[str, int]]) -> None:
        missing = [w for w in wanted if w not in self._versions]
        if missing and self._store is not None:
            for body in await self._store.bodies(missing):
                question = msgspec.convert(body, Question)
                self._versions[(question.id, question.version)] = question

    def questions(self) -> list[Question]:
        """Every offered question, as this node last read them."""
        return self.offered()

    def get(self, question_id: str) -> Question | None:
        """The offered version, as this node last read it."""
        version = self._offered.get(question_id)
        return None if version is None else self._versions.get((question_id, version))

    def offered(self) -> list[Question]:
        """Every offered question, as this node last read them."""
        return self._offered_now(self._offered)

    async def pinned(self, question_id: str, version: int) -> Question | None:
        """That very version, whatever its state now (0: the one offered)."""
        if version <= 0:
            return self.get(question_id)
        await self._read([(question_id, version)])
        return self._versions.get((question_id, version))

    def title(self, question_id: str) -> str:
        """The title of the offered version, else of the newest this node knows (retired
        questions still name old sessions and invitations)."""
        question = self.get(question_id)
        if question is None:
            known = [q for (qid, _), q in self._versions.items() if qid == question_id]
            question = max(known, key=lambda q: q.version, default=None)
        return question.title if question else question_id

    def for_learner(self, question_id: str) -> dict[str, Any] | None:
        question = self.get(question_id)
        return _learner_view(question) if question else None

    async def pinned_for_learner(self, question_id: str, version: int) -> dict[str, Any] | None:
        question = await self.pinned(question_id, version)
        return _learner_view(question) if question else None

    def summaries(self) -> list[dict[str, Any]]:
        order = {"easy": 0, "medium": 1, "hard": 2}
        listed = sorted(self.offered(), key=lambda q: (order[q.difficulty.value], q.title))
        return [q.summary() for q in listed]


def _learner_view(question: Question) -> dict[str, Any]:
    return {**question.for_learner(), "version": question.version}
