"""judge(): exact, unordered and unordered_nested comparison of JSON answers."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import judge

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(json_values)
def test_exact_is_reflexive(value: Any) -> None:
    assert judge("exact", value, value)


@given(st.lists(json_values, max_size=8), st.randoms())
def test_a_shuffled_list_matches_unordered(items: list[Any], rng: random.Random) -> None:
    shuffled = items[:]
    rng.shuffle(shuffled)
    assert judge("unordered", items, shuffled)


@given(st.lists(st.lists(scalars, max_size=4), max_size=5), st.randoms())
def test_shuffled_inner_and_outer_lists_match_unordered_nested(
    items: list[list[Any]], rng: random.Random
) -> None:
    shuffled = [rng.sample(inner, len(inner)) for inner in items]
    rng.shuffle(shuffled)
    assert judge("unordered_nested", items, shuffled)


@given(st.lists(st.integers(), min_size=1, max_size=8))
def test_a_missing_item_never_matches(items: list[int]) -> None:
    for mode in ("exact", "unordered"):
        assert not judge(mode, items, items[1:])
        assert not judge(mode, items, [*items, items[0]])


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_floats_match_within_the_tolerance(value: float) -> None:
    assert judge("exact", [value, {"x": value}], (value * (1 + 1e-12), {"x": value + 1e-12}))
    assert not judge("exact", value, value + 1e-3)


def test_tuples_compare_as_lists() -> None:
    assert judge("exact", [1, [2, 3]], (1, (2, 3)))


def test_booleans_are_not_numbers() -> None:
    assert not judge("exact", True, 1)
    assert not judge("exact", [0], [False])


def test_unordered_keeps_multiplicity_and_inner_order() -> None:
    assert judge("unordered", [1, 1, 2], [2, 1, 1])
    assert not judge("unordered", [1, 1, 2], [1, 2, 2])
    assert not judge("unordered", [[1, 2]], [[2, 1]])
    assert judge("unordered_nested", [[1, 2], [3]], [[3], [2, 1]])
    assert not judge("unordered_nested", [[1, 2]], [1, 2])
    assert not judge("unordered", [1], "1")


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="sorted"):
        judge("sorted", [], [])
