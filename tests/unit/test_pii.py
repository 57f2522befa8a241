"""The sealer alone: what opens, what refuses to, and how keys rotate."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.pii import NONCE_BYTES, PiiSealer, SealError, UnknownKey

OLD, NEW, LOOKUP = os.urandom(32), os.urandom(32), os.urandom(32)
sealer = PiiSealer({"k1": OLD}, "k1", LOOKUP)
rotated = PiiSealer({"k1": OLD, "k2": NEW}, "k2", LOOKUP)


def test_round_trip() -> None:
    blob = sealer.seal("ada@example.com", "users.email")
    assert sealer.open(blob, "users.email") == "ada@example.com"
    assert b"ada" not in blob


def test_layout_is_version_kid_nonce_ciphertext() -> None:
    blob = sealer.seal("Ada", "users.name")
    assert blob[0] == 1 and blob[1] == 2 and blob[2:4] == b"k1"
    assert len(blob) == 4 + NONCE_BYTES + len("Ada") + 16
    assert sealer.kid_of(blob) == "k1"


def test_same_text_seals_differently_each_time() -> None:
    assert sealer.seal("Ada", "users.name") != sealer.seal("Ada", "users.name")


@pytest.mark.parametrize("at", [4, 4 + NONCE_BYTES, -1])
def test_a_changed_byte_does_not_open(at: int) -> None:
    blob = bytearray(sealer.seal("ada@example.com", "users.email"))
    blob[at] ^= 0x01
    with pytest.raises(SealError):
        sealer.open(bytes(blob), "users.email")


def test_a_value_moved_to_another_column_does_not_open() -> None:
    email = sealer.seal("ada@example.com", "users.email")
    with pytest.raises(SealError, match=r"users\.name"):
        sealer.open(email, "users.name")


def test_a_rewritten_kid_does_not_open() -> None:
    # Same length kid, so only the header binding can catch it.
    blob = rotated.seal("Ada", "users.name")
    with pytest.raises(SealError):
        rotated.open(blob[:2] + b"k1" + blob[4:], "users.name")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x02k1" + bytes(40),
                                  b"\x01\x02k1" + bytes(5)])
def test_malformed_values_say_so(blob: bytes) -> None:
    with pytest.raises(SealError):
        sealer.open(blob, "users.name")


def test_an_unknown_kid_is_a_clear_error() -> None:
    blob = rotated.seal("Ada", "users.name")
    with pytest.raises(UnknownKey, match="'k2'"):
        sealer.open(blob, "users.name")


def test_rotation_keeps_old_values_readable_and_reseal_moves_them() -> None:
    old = sealer.seal("Ada", "users.name")
    assert rotated.open(old, "users.name") == "Ada"
    assert not old.startswith(rotated.current_header)
    again = rotated.seal(rotated.open(old, "users.name"), "users.name")
    assert again.startswith(rotated.current_header) and rotated.kid_of(again) == "k2"
    assert rotated.open(again, "users.name") == "Ada"


def test_lookup_ignores_case_and_space_and_needs_the_key() -> None:
    assert sealer.lookup("Ada@Example.COM ") == sealer.lookup("ada@example.com")
    assert sealer.lookup("ada@example.com") != sealer.lookup("bob@example.com")
    other = PiiSealer({"k1": OLD}, "k1", os.urandom(32))
    assert other.lookup("ada@example.com") != sealer.lookup("ada@example.com")
    assert len(sealer.lookup("ada@example.com")) == 32


def test_fingerprints_tell_keys_apart_without_revealing_them() -> None:
    prints = rotated.fingerprints()
    assert set(prints) == {"k1", "k2"} and prints["k1"] == sealer.fingerprints()["k1"]
    assert prints["k1"] != prints["k2"] and OLD not in prints.values()


@pytest.mark.parametrize(("keys", "current", "lookup", "problem"), [
    ({"k1": OLD}, "k9", LOOKUP, "not among"),
    ({"k1": OLD[:16]}, "k1", LOOKUP, "32"),
    ({"": OLD}, "", LOOKUP, "ascii"),
    ({"k1": OLD}, "k1", LOOKUP[:8], "lookup key"),
    ({"k1": OLD}, "k1", OLD, "differ"),
])
def test_bad_key_rings_are_refused(keys: dict[str, bytes], current: str, lookup: bytes,
                                   problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PiiSealer(keys, current, lookup)


@given(st.text(), st.sampled_from(["users.email", "users.name"]))
def test_any_text_round_trips(text: str, column: str) -> None:
    assert rotated.open(rotated.seal(text, column), column) == text
    assert rotated.open(sealer.seal(text, column), column) == text
