"""Compares a learner's JSON result with the expected one: exact, unordered, unordered_nested."""

from __future__ import annotations

import math
from typing import Any

TOLERANCE = 1e-9


def judge(compare: str, expected: Any, got: Any) -> bool:
    expected, got = _lists(expected), _lists(got)
    if compare == "exact":
        return _same(expected, got)
    if compare not in ("unordered", "unordered_nested"):
        raise ValueError(f"unknown compare mode: {compare!r}")
    if not isinstance(expected, list) or not isinstance(got, list):
        return False
    if compare == "unordered_nested":
        if not all(isinstance(item, list) for item in expected + got):
            return False
        expected, got = [_sorted(item) for item in expected], [_sorted(item) for item in got]
    return len(expected) == len(got) and all(map(_same, _sorted(expected), _sorted(got)))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b  # True is not 1 in a test answer
    if isinstance(a, float | int) and isinstance(b, float | int):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        if a != a and b != b:  # NaN: an answer of NaN matches NaN
            return True
        try:
            return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
        except OverflowError:  # an int too large for a float
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return type(a) is type(b) and bool(a == b)


def _lists(value: Any) -> Any:
    """Tuples become lists, recursively, as they would after a JSON round trip."""
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    return value


def _sorted(items: list[Any]) -> list[Any]:
    # one total order over mixed JSON values, so equal multisets line up pairwise
    return sorted(items, key=_order)


def _order(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        # NaN compares with nothing: it sorts after every number instead of tying with 0.
        return (2, 1, 0.0) if value != value else (2, 0, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, list):
        return (4, tuple(_order(item) for item in value))
    if isinstance(value, dict):
        return (5, tuple(sorted((str(key), _order(item)) for key, item in value.items())))
    return (6, repr(value))
