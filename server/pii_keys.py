"""The keys personal data is sealed with: configured, or generated once beside the laptop's data."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
from pathlib import Path

from server.settings import Settings
from storage.pii import KEY_BYTES, PiiSealer

log = logging.getLogger("wingman.keys")
KEY_FILE = "pii-keys.json"


def load_sealer(settings: Settings) -> PiiSealer:
    """PII_KEYS, PII_KEY_ID and PII_LOOKUP_KEY when any is set, else DATA_DIR/pii-keys.json."""
    if settings.pii_keys or settings.pii_key_id or settings.pii_lookup_key:
        return _configured(settings.pii_keys, settings.pii_key_id, settings.pii_lookup_key)
    path = settings.data_path(KEY_FILE)
    if settings.database_url:
        log.warning(
            "PII_KEYS is not set: personal data is sealed with keys kept only in %s. Losing "
            "that file loses every email and name, and nodes on other hosts cannot read them. "
            "Set PII_KEYS, PII_KEY_ID and PII_LOOKUP_KEY in production (the file holds the "
            "current ones).", path)
    fields = _read_or_create(path)
    keys, current, lookup = (fields.get(k) for k in ("PII_KEYS", "PII_KEY_ID", "PII_LOOKUP_KEY"))
    if not (isinstance(keys, dict) and isinstance(current, str) and isinstance(lookup, str)
            and all(isinstance(v, str) for v in keys.values())):
        raise ValueError(f"{path} does not hold PII_KEYS, PII_KEY_ID and PII_LOOKUP_KEY")
    return _configured(keys, current, lookup)


def _configured(keys: dict[str, str], current: str | None, lookup: str | None) -> PiiSealer:
    if not keys or not lookup:
        raise ValueError("PII_KEYS and PII_LOOKUP_KEY are both needed once either is set")
    if current is None:
        if len(keys) != 1:
            raise ValueError("PII_KEY_ID must name the current key when PII_KEYS has several")
        current = next(iter(keys))
    ring = {kid: _decoded(f"PII_KEYS[{kid!r}]", value) for kid, value in keys.items()}
    return PiiSealer(ring, current, _decoded("PII_LOOKUP_KEY", lookup))


def _decoded(name: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # The value itself is a secret: the message names the setting only.
        raise ValueError(f"{name} is not valid base64") from None


def _read_or_create(path: Path) -> dict[str, object]:
    if not path.exists():
        kid = f"local-{secrets.token_hex(4)}"
        fields = {"PII_KEY_ID": kid, "PII_KEYS": {kid: _new_key()}, "PII_LOOKUP_KEY": _new_key()}
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(fields, out, indent=2)
        try:
            # A link fails if the file appeared meanwhile: two processes starting at once agree.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    loaded = json.loads(path.read_text("utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} does not hold PII keys")
    return loaded


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
