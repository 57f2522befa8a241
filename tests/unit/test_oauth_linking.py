"""Account linking for provider sign-ins, every combination."""

from __future__ import annotations

import pytest

from server.oauth_linking import LocalAccount, Outcome, decide

VERIFIED = LocalAccount("u1", email_verified=True)
UNVERIFIED = LocalAccount("u1", email_verified=False)


@pytest.mark.parametrize(("provider_verified", "local"), [
    (True, None), (False, None), (True, VERIFIED), (False, UNVERIFIED)])
def test_a_linked_identity_signs_in_whatever_else_holds(provider_verified: bool,
                                                         local: LocalAccount | None) -> None:
    assert decide("u9", provider_verified, local) is Outcome.SIGN_IN


def test_an_unverified_provider_email_is_never_trusted() -> None:
    for local in (None, VERIFIED, UNVERIFIED):
        assert decide(None, False, local) is Outcome.PROVIDER_UNVERIFIED


def test_a_new_email_gets_an_account() -> None:
    assert decide(None, True, None) is Outcome.CREATE


def test_a_verified_local_account_is_linked() -> None:
    assert decide(None, True, VERIFIED) is Outcome.LINK


def test_an_unverified_local_account_is_refused() -> None:
    assert decide(None, True, UNVERIFIED) is Outcome.LOCAL_UNVERIFIED
