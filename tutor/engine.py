"""The Socratic engine: answers a learner with questions, chosen from the question's material and
from what their code and last run show. It never states the solution."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tutor.content import Question
from tutor.reading import RunEvidence, last_exception, read_code
from tutor.retrieval import Retrieved

# Generic questions for exceptions a question's author did not foresee.
_GENERIC_ERRORS: dict[str, str] = {
    "IndexError": "Which index is the last valid one for a sequence of length n, and can any "
    "index you use go past it?",
    "KeyError": "At the moment of that lookup, what guarantees the key is already in the "
    "dictionary?",
    "TypeError": "What type does each value in that line have, and which operation did Python "
    "refuse to apply to them?",
    "ValueError": "Which value reached that line in a form the operation could not accept?",
    "NameError": "Where is that name defined, and is that line reached before it is used?",
    "AttributeError": "What type is the object on the left of the dot, and does it have that "
    "attribute?",
    "ZeroDivisionError": "Which input makes the divisor zero, and what should happen then?",
    "RecursionError": "What is the smallest input whose answer needs no further call, and does "
    "every call move closer to it?",
    "UnboundLocalError": "Is that variable assigned on every path before it is read?",
}

_LIMIT_QUESTIONS: dict[str, str] = {
    "time": "Your run hit the time limit. Is there a loop whose end condition is never reached, "
    "or one that runs far more often than you expect?",
    "memory": "Your run ran out of memory. Which structure keeps growing, and does it need to "
    "hold everything at once?",
    "output": "Your program printed more than the output limit. Which print sits inside a loop "
    "that runs more often than you think?",
    "processes": "Your program started too many processes. Does this problem need any?",
    "disk": "Your program wrote more to disk than allowed. What does it need to keep in a file?",
}

_WANTS_ANSWER = re.compile(
    r"\b(give me|tell me|show me|just)\b.*\b(answer|solution|code)\b"
    r"|\bsolve it\b|\bwrite (it|the code)\b",
    re.I,
)
_STUCK = re.compile(r"\b(stuck|no idea|lost|don'?t know|do not know|confused|help)\b", re.I)
_COMPLEXITY = re.compile(r"\b(slow|fast|faster|efficien\w*|complexity|big.?o|o\(n)", re.I)
_WHY_WRONG = re.compile(r"\b(why|wrong|fail\w*|error|bug|broken|crash\w*)\b", re.I)


@dataclass(frozen=True)
class TutorReply:
    text: str
    basis: str  # what the reply was drawn from, for traces and tests
    # What retrieval found that the reply points to: "lesson:<question id>", "mistake:<...>".
    drew_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class TutorContext:
    question: Question
    code: str
    learner_text: str
    last_run: RunEvidence | None
    asked: frozenset[str] = frozenset()
    # Lessons and past mistakes found for the last run's error (the server searches).
    retrieved: Retrieved = field(default_factory=Retrieved)


class SocraticEngine:
    def reply(self, ctx: TutorContext) -> TutorReply:
        opening, basis, candidates = self._ground(ctx)
        question = _first_unasked(candidates, ctx.asked)
        text = f"{opening} {question}".strip() if opening else question
        drew_on: tuple[str, ...] = ()
        if basis.startswith("exception:"):
            pointer, drew_on = _pointer(ctx.retrieved, basis.split(":", 1)[1])
            text = f"{text} {pointer}".strip()
        return TutorReply(text=text, basis=basis, drew_on=drew_on)

    def _ground(self, ctx: TutorContext) -> tuple[str, str, list[str]]:
        q, material = ctx.question, ctx.question.socratic
        text = ctx.learner_text
        if _WANTS_ANSWER.search(text):
            return (
                "I won't hand you the solution, but we'll get there together; the hint button "
                "reveals more as you try things.",
                "refuse",
                [*material.focus, *material.concepts],
            )
        if _COMPLEXITY.search(text):
            return "", "complexity", [material.complexity, *material.concepts]

        shape = read_code(ctx.code, q.function)
        if not shape.parses:
            where = f" (around line {shape.syntax_line})" if shape.syntax_line else ""
            return (
                f"Python cannot parse your code{where}.",
                "syntax",
                ["What did you mean to write on that line, and what does Python expect there?"],
            )
        run = ctx.last_run
        if run is not None and (_WHY_WRONG.search(text) or not _STUCK.search(text)):
            grounded = self._from_run(ctx, run)
            if grounded is not None:
                return grounded
        if not shape.defines_function:
            return (
                f"Your code does not define `{q.function}` yet.",
                "shape",
                ["What should the function receive, and what should it give back?"],
            )
        if shape.only_pass or not shape.returns_value:
            return "", "shape", [
                f"What does `{q.function}` return right now, and what should it return?",
                *material.focus,
            ]
        if shape.mutates_while_iterating:
            return "", "shape", [
                "You change a list while looping over it. What happens to the loop's position "
                "when an element disappears or appears under it?",
            ]
        if shape.recursive:
            return "", "shape", [_GENERIC_ERRORS["RecursionError"], *material.concepts]
        if shape.nested_loops:
            return "", "shape", [material.complexity, *material.concepts]
        if _STUCK.search(text):
            return "Let's narrow it down.", "focus", [*material.focus, *material.concepts]
        return "", "focus", [*material.focus, *material.concepts]

    def _from_run(self, ctx: TutorContext, run: RunEvidence) -> tuple[str, str, list[str]] | None:
        material = ctx.question.socratic
        if run.limit in _LIMIT_QUESTIONS:
            return "", f"limit:{run.limit}", [_LIMIT_QUESTIONS[run.limit]]
        failure = run.first_failure
        error = last_exception(run.stderr_tail)
        if failure is not None and failure.error:
            kind = failure.error.split(":", 1)[0].strip()
            return (
                f"On case '{failure.name}' your function raised {kind}.",
                f"exception:{kind}",
                [material.errors.get(kind) or _GENERIC_ERRORS.get(kind) or _generic(kind)],
            )
        if error is not None and (run.exit_code or 0) != 0:
            where = f" on line {error.line}" if error.line else ""
            return (
                f"Your last run stopped with {error.kind}{where}.",
                f"exception:{error.kind}",
                [material.errors.get(error.kind) or _GENERIC_ERRORS.get(error.kind)
                 or _generic(error.kind)],
            )
        if failure is not None:
            return (
                f"On case '{failure.name}' with input {_show(failure.args)} your function "
                f"returned {_show(failure.got)}, but {_show(failure.expected)} was expected.",
                "wrong_answer",
                list(material.wrong_answer),
            )
        if run.mode == "test" and run.hidden_failed:
            return (
                f"Every visible case passes, but {run.hidden_failed} hidden "
                f"case{'s' if run.hidden_failed != 1 else ''} fail.",
                "hidden_failures",
                ["Which inputs at the edges (empty, a single element, duplicates, negatives, "
                 "very large) have you not tried yet?", *material.wrong_answer],
            )
        if run.all_passed:
            return (
                "All tests pass.",
                "passed",
                [material.complexity,
                 "Could you explain to an interviewer why your approach is always correct?"],
            )
        return None


def _pointer(found: Retrieved, kind: str) -> tuple[str, tuple[str, ...]]:
    """A sentence pointing to the learner's own similar mistake (same kind of error) or else to
    the micro-lesson that fits; never more than one, so the question stays the point."""
    for past in found.mistakes:
        if past.kind == kind:
            when = "earlier today" if past.days_ago <= 0 else (
                "yesterday" if past.days_ago == 1 else f"{past.days_ago} days ago")
            return (f"You met a {kind} like this one in “{past.question_title}” {when}: what "
                    "did you change then?", (f"mistake:{past.question_id}",))
    for lesson in found.lessons:
        return (f"Could the micro-lesson “{lesson.title}” help here?",
                (f"lesson:{lesson.question_id}",))
    return "", ()


def _generic(kind: str) -> str:
    return f"What situation in your code leads Python to raise {kind}, and which input causes it?"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _first_unasked(candidates: Iterable[str], asked: frozenset[str]) -> str:
    listed = [c for c in candidates if c]
    for candidate in listed:
        if candidate not in asked:
            return candidate
    return listed[0] if listed else "What have you tried so far, and what did it show you?"


def stream_pieces(text: str, words_per_piece: int = 3) -> list[str]:
    """Split a reply into small pieces that, joined, give the text back exactly."""
    tokens = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    pieces = [
        "".join(tokens[i : i + words_per_piece]) for i in range(0, len(tokens), words_per_piece)
    ]
    if pieces:
        pieces[0] = lead + pieces[0]
    return pieces or [text]
