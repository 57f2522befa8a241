"""What the learner's code and last run show, read without running anything."""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from typing import Any

_EXCEPTION_LINE = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception|Interrupt|Exit))(?::\s*(.*))?$"
)
_FRAME_LINE = re.compile(r'File "([^"]*)", line (\d+)')


@dataclass(frozen=True)
class FailedCase:
    name: str
    args: list[Any]
    expected: Any
    got: Any
    error: str | None


@dataclass(frozen=True)
class RunEvidence:
    """The facts of one finished run that the tutor may talk about (never hidden inputs)."""

    mode: str
    exit_code: int | None
    limit: str | None
    stderr_tail: str
    first_failure: FailedCase | None
    hidden_failed: int
    tests_total: int
    tests_passed: int

    @property
    def all_passed(self) -> bool:
        return self.mode == "test" and 0 < self.tests_total == self.tests_passed


@dataclass(frozen=True)
class Exception_:
    kind: str
    message: str
    line: int | None


def last_exception(stderr: str) -> Exception_ | None:
    """The exception a traceback ends with, and the deepest line of learner code it names."""
    kind: str | None = None
    message = ""
    for raw in reversed(stderr.strip().splitlines()):
        match = _EXCEPTION_LINE.match(raw.strip())
        if match:
            kind, message = match.group(1).rsplit(".", 1)[-1], match.group(2) or ""
            break
    if kind is None:
        return None
    line = None
    for frame in _FRAME_LINE.finditer(stderr):
        if "harness" not in frame.group(1):
            line = int(frame.group(2))
    return Exception_(kind, message[:200], line)


@dataclass(frozen=True)
class CodeShape:
    parses: bool
    syntax_line: int | None
    defines_function: bool
    returns_value: bool
    only_pass: bool
    nested_loops: bool
    recursive: bool
    mutates_while_iterating: bool


def read_code(code: str, function: str) -> CodeShape:
    try:
        with warnings.catch_warnings():
            # Learner code may carry odd escapes; a warning about them is not ours to raise.
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        line = err.lineno if isinstance(err, SyntaxError) else None
        return CodeShape(False, line, False, False, False, False, False, False)
    target = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function), None
    )
    if target is None:
        return CodeShape(True, None, False, False, False, False, False, False)
    returns = any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(target))
    only_pass = all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in target.body
    )
    recursive = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == function
        for n in ast.walk(target)
    )
    return CodeShape(
        parses=True,
        syntax_line=None,
        defines_function=True,
        returns_value=returns,
        only_pass=only_pass,
        nested_loops=_has_nested_loops(target),
        recursive=recursive,
        mutates_while_iterating=_mutates_while_iterating(target),
    )


_LOOPS = (ast.For, ast.While)


def _has_nested_loops(tree: ast.AST) -> bool:
    for outer in ast.walk(tree):
        if isinstance(outer, _LOOPS):
            for inner in ast.walk(outer):
                if inner is not outer and isinstance(inner, _LOOPS):
                    return True
    return False


def _mutates_while_iterating(tree: ast.AST) -> bool:
    for loop in ast.walk(tree):
        if not (isinstance(loop, ast.For) and isinstance(loop.iter, ast.Name)):
            continue
        name = loop.iter.id
        for node in ast.walk(loop):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == name
                and node.func.attr in {"remove", "pop", "append", "insert", "clear"}
            ):
                return True
    return False
