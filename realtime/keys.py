"""Every Redis key name the server uses, in one place; all under one prefix, so a Redis shared
with other applications stays readable."""

from __future__ import annotations

PREFIX = "wingman"


def rate(limit: str, subject: str) -> str:
    """A rate limit's state for one subject (a user id, an address, a hashed email)."""
    return f"{PREFIX}:rate:{limit}:{subject}"
