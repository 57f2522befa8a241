"""The secret signing the OAuth state cookie: configured, or generated once beside the data."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets

from server.settings import Settings

log = logging.getLogger("wingman.keys")
SECRET_FILE = "session-secret"


def load_session_secret(settings: Settings) -> str:
    """SESSION_SECRET when set, else DATA_DIR/session-secret (created on first use)."""
    if settings.session_secret:
        return settings.session_secret
    path = settings.data_path(SECRET_FILE)
    if settings.database_url:
        log.warning("SESSION_SECRET is not set: using %s. Nodes behind one address need the "
                    "same secret, or sign-ins through Google or LinkedIn fail.", path)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32))
        # A link fails if the file appeared meanwhile: two processes starting at once agree.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text("utf-8").strip()
