"""Personal data sealed at rest: AES-256-GCM under a key ring that can rotate, and a keyed hash
that finds an account by email without storing the email.

A sealed value is laid out as
    version (1 byte) | kid length (1 byte) | kid (ascii) | nonce (12 bytes) | ciphertext + tag
and its associated data is that header plus the column name, so a value cannot be moved to
another column, nor its kid rewritten, without failing to open.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
# Fixed input whose HMAC under a key identifies that key without revealing it.
_FINGERPRINT_LABEL = b"socraticwingman pii key fingerprint v1"


class SealError(ValueError):
    """A sealed value that cannot be opened: damaged, moved to another column, or not ours."""


class UnknownKey(SealError):
    """A sealed value whose key id is not in the key ring."""


def normalised_email(email: str) -> str:
    return email.strip().lower()


def _valid_kid(kid: str) -> bool:
    return 1 <= len(kid) <= 255 and kid.isascii() and kid.isprintable()


class PiiSealer:
    """Seals text under the current key, opens it under any key of the ring, hashes emails."""

    def __init__(self, keys: Mapping[str, bytes], current: str, lookup_key: bytes) -> None:
        if current not in keys:
            raise ValueError(f"the current PII key id {current!r} is not among the keys")
        for kid, key in keys.items():
            if not _valid_kid(kid):
                raise ValueError(f"PII key id {kid!r} must be 1 to 255 printable ascii characters")
            if len(key) != KEY_BYTES:
                raise ValueError(f"PII key {kid!r} has {len(key)} bytes, AES-256 needs 32")
        if len(lookup_key) < KEY_BYTES:
            raise ValueError("the PII lookup key needs at least 32 bytes")
        if any(hmac.compare_digest(lookup_key, key) for key in keys.values()):
            raise ValueError("the PII lookup key must differ from every sealing key")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self._keys = dict(keys)
        self._current = current
        self._lookup_key = lookup_key

    @property
    def current_kid(self) -> str:
        return self._current

    @property
    def current_header(self) -> bytes:
        """The first bytes of every value sealed now; anything else needs re-sealing."""
        return _header(self._current)

    def seal(self, text: str, column: str) -> bytes:
        header = _header(self._current)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, text.encode("utf-8"),
                                                      header + column.encode())
        return header + nonce + sealed

    def open(self, blob: bytes, column: str) -> str:
        header, kid, nonce, sealed = _parts(blob)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKey(f"sealed with PII key id {kid!r}, which is not in the key ring")
        try:
            plain = cipher.decrypt(nonce, sealed, header + column.encode())
        except InvalidTag:
            raise SealError(f"a value sealed with key {kid!r} does not open as {column!r}: "
                            "damaged, or sealed for another column") from None
        return plain.decode("utf-8")

    def kid_of(self, blob: bytes) -> str:
        return _parts(blob)[1]

    def lookup(self, email: str) -> bytes:
        """The keyed hash of an email, equal for any letter case or surrounding space."""
        return hmac.new(self._lookup_key, normalised_email(email).encode("utf-8"),
                        hashlib.sha256).digest()

    def fingerprints(self) -> dict[str, bytes]:
        """One value per sealing key id, telling keys apart without revealing them."""
        return {kid: _fingerprint(key) for kid, key in self._keys.items()}

    def lookup_fingerprint(self) -> bytes:
        return _fingerprint(self._lookup_key)


def _header(kid: str) -> bytes:
    encoded = kid.encode("ascii")
    return bytes((VERSION, len(encoded))) + encoded


def _parts(blob: bytes) -> tuple[bytes, str, bytes, bytes]:
    if len(blob) < 2 or blob[0] != VERSION:
        raise SealError("not a sealed value of a known version")
    end = 2 + blob[1]
    if len(blob) < end + NONCE_BYTES + _TAG_BYTES:
        raise SealError("a sealed value too short to hold its nonce and tag")
    try:
        kid = blob[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise SealError("a sealed value with a damaged key id") from None
    return blob[:end], kid, blob[end:end + NONCE_BYTES], blob[end + NONCE_BYTES:]


def _fingerprint(key: bytes) -> bytes:
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).digest()
