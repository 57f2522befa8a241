"""Which local account an identity from an OpenID provider signs in to: a pure decision."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    SIGN_IN = "sign_in"  # the identity is linked already
    LINK = "link"  # a local account with that email, verified on both sides
    CREATE = "create"  # nobody has that email yet
    # Someone may have registered the address without owning it; linking would hand them in.
    LOCAL_UNVERIFIED = "local_unverified"
    PROVIDER_UNVERIFIED = "provider_unverified"


@dataclass(frozen=True)
class LocalAccount:
    id: str
    email_verified: bool


def decide(linked_user: str | None, provider_verified: bool,
           local: LocalAccount | None) -> Outcome:
    if linked_user is not None:
        return Outcome.SIGN_IN
    if not provider_verified:
        return Outcome.PROVIDER_UNVERIFIED
    if local is None:
        return Outcome.CREATE
    return Outcome.LINK if local.email_verified else Outcome.LOCAL_UNVERIFIED
