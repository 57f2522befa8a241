"""What gets embedded (the text of a question, of its micro-lesson, of a mistake), and what the
tutor is handed back from a search: found lessons and the learner's own similar mistakes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tutor.content import Question
from tutor.reading import RunEvidence, last_exception


def _tag_words(tags: list[str]) -> str:
    return " ".join(t.replace("-", " ") for t in tags)


def question_parts(q: Question) -> list[tuple[str, float]]:
    """A question as searched for similar ones, in parts weighted by how much they say about
    its topic: tags and titles most, the Socratic concepts next, the wording of the statement
    (full of words every question uses) least."""
    return [
        (_tag_words(q.tags), 0.45),
        (f"{q.title}\n{q.lesson.title}", 0.2),
        ("\n".join([*q.socratic.concepts, *q.socratic.focus]), 0.2),
        (q.statement, 0.15),
    ]


def lesson_parts(q: Question) -> list[tuple[str, float]]:
    """A micro-lesson as searched when a learner hits an error: its title and topics, its body,
    and the author's notes on the errors it explains."""
    notes = "\n".join(f"{kind}: {note}" for kind, note in q.socratic.errors.items())
    return [
        (f"{q.lesson.title}\n{_tag_words(q.tags)}", 0.4),
        (q.lesson.body, 0.35),
        (notes, 0.25),
    ]


def parts_text(parts: list[tuple[str, float]]) -> str:
    return "\n".join(f"{weight}:{text}" for text, weight in parts)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Mistake:
    """An error a run ended with, as remembered and searched."""

    kind: str
    message: str
    line: str

    def summary(self) -> str:
        said = f"{self.kind}: {self.message}" if self.message else self.kind
        return f"{said} at `{self.line}`" if self.line else said

    def text(self, q: Question) -> str:
        """The search text: the error twice (it matters most), the code line, the topics."""
        return "\n".join([self.kind, self.summary(), self.line, _tag_words(q.tags), q.title])


def mistake_of(run: RunEvidence, code: str) -> Mistake | None:
    """The exception a run ended with (a failing case's, or the traceback's), if any, with the
    line of the learner's code it was raised on when the traceback names one."""
    error = last_exception(run.stderr_tail)
    failure = run.first_failure
    if failure is not None and failure.error:
        kind, _, message = failure.error.partition(":")
        kind, message = kind.strip(), message.strip()
    elif error is not None and run.exit_code:
        kind, message = error.kind, error.message
    else:
        return None
    line = ""
    lines = code.splitlines()
    if error is not None and error.line is not None and 0 < error.line <= len(lines):
        line = lines[error.line - 1].strip()[:200]
    return Mistake(kind, message[:200], line)


@dataclass(frozen=True)
class LessonHit:
    question_id: str
    title: str
    similarity: float


@dataclass(frozen=True)
class MistakeHit:
    question_id: str
    question_title: str
    kind: str
    summary: str
    days_ago: int
    similarity: float


@dataclass(frozen=True)
class Retrieved:
    """What a search found for the tutor's next turn; empty when nothing was close enough."""

    lessons: tuple[LessonHit, ...] = ()
    mistakes: tuple[MistakeHit, ...] = ()
