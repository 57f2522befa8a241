"""Sign-in with an OpenID provider, end to end over real HTTP: a real provider on localhost
(tests/oidc_provider.py), a real node, and a client that follows the redirects as a browser
would. New accounts, linking, refusals, forged ID tokens, replayed state, PKCE."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from tests.client import register
from tests.components import RunningNode, free_port, running_node
from tests.oidc_provider import Person, Provider, running_provider

# Every email a provider asserted here; the node's log must name none of them.
EMAILS: list[str] = []


@dataclass
class Setup:
    node: RunningNode
    provider: Provider


@pytest.fixture(scope="module")
def setup(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    port = free_port()
    with running_provider() as provider:
        discovery = f"{provider.issuer}/.well-known/openid-configuration"
        for name in ("google", "linkedin"):
            provider.add_client(f"{name}-client", f"{name}-secret",
                                f"http://127.0.0.1:{port}/auth/oauth/{name}/callback")
        with running_node(database_url, tmp_path_factory.mktemp("oauth"), port=port,
                          COOKIE_SECURE="false",
                          GOOGLE_CLIENT_ID="google-client", GOOGLE_CLIENT_SECRET="google-secret",
                          GOOGLE_DISCOVERY_URL=discovery,
                          LINKEDIN_CLIENT_ID="linkedin-client",
                          LINKEDIN_CLIENT_SECRET="linkedin-secret",
                          LINKEDIN_DISCOVERY_URL=discovery) as node:
            yield Setup(node, provider)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


def person(verified: bool = True, email: str | None = None) -> Person:
    email = email or f"oauth-{uuid.uuid4().hex[:10]}@example.org"
    EMAILS.append(email)
    return Person(f"sub-{uuid.uuid4().hex}", email, verified)


@dataclass
class Flow:
    http: httpx.AsyncClient
    callback: str  # the provider's redirect back to the node, code and state included
    answer: httpx.Response  # the node's answer to it


async def sign_in(setup: Setup, http: httpx.AsyncClient, provider: str = "google") -> Flow:
    """Click "sign in with", let the provider approve, land back on the node."""
    out = await http.get(f"{setup.node.url}/auth/oauth/{provider}/login")
    assert out.status_code == 302, out.text
    assert out.headers["location"].startswith(setup.provider.issuer + "/authorize?")
    back = await http.get(out.headers["location"])
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(f"{setup.node.url}/auth/oauth/{provider}/callback?")
    answer = await http.get(callback, headers={"Accept": "text/html"})
    return Flow(http, callback, answer)


async def signed_in_user(setup: Setup, http: httpx.AsyncClient, flow: Flow) -> str:
    """The account the flow signed in to, as the page would learn it: POST /auth/refresh."""
    assert flow.answer.status_code == 303, flow.answer.text
    assert flow.answer.headers["location"] == "/"
    assert "wingman_refresh" in flow.answer.headers.get("set-cookie", "")
    refreshed = await http.post(f"{setup.node.url}/auth/refresh")
    assert refreshed.status_code == 200, refreshed.text
    user: str = refreshed.json()["user"]["id"]
    return user


async def test_a_new_person_gets_an_account_and_comes_back_to_it(
        setup: Setup, db: asyncpg.Connection) -> None:
    setup.provider.person = person()
    async with httpx.AsyncClient() as http:
        first = await signed_in_user(setup, http, await sign_in(setup, http))
    row = await db.fetchrow("SELECT * FROM users WHERE id = $1", uuid.UUID(first))
    assert row is not None
    assert row["email_verified"] and row["password_hash"] is None
    assert list(row["roles"]) == ["learner"] and not row["consent"]
    async with httpx.AsyncClient() as http:
        again = await signed_in_user(setup, http, await sign_in(setup, http))
    assert again == first


async def test_google_sends_pkce_s256_and_linkedin_does_not_by_default(setup: Setup) -> None:
    setup.provider.person = person()
    async with httpx.AsyncClient() as http:
        await signed_in_user(setup, http, await sign_in(setup, http, "google"))
    asked = setup.provider.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["nonce"] and asked["state"] and "openid" in asked["scope"].split()
    async with httpx.AsyncClient() as http:
        await signed_in_user(setup, http, await sign_in(setup, http, "linkedin"))
    asked = setup.provider.authorize_requests[-1]
    assert asked["client_id"] == "linkedin-client" and "code_challenge" not in asked


async def test_a_verified_password_account_is_linked(setup: Setup,
                                                     db: asyncpg.Connection) -> None:
    account = await register(setup.node)
    await db.execute("UPDATE users SET email_verified = true WHERE id = $1",
                     uuid.UUID(account.user))
    setup.provider.person = person(email=account.email)
    async with httpx.AsyncClient() as http:
        assert await signed_in_user(setup, http, await sign_in(setup, http)) == account.user
    linked = await db.fetchval("SELECT user_id FROM oauth_identities WHERE subject = $1",
                               setup.provider.person.sub)
    assert str(linked) == account.user
    async with httpx.AsyncClient() as http:  # the password still works
        login = await http.post(f"{setup.node.url}/auth/login",
                                json={"email": account.email, "password": account.password})
    assert login.status_code == 200


async def test_an_unverified_account_with_that_email_is_refused(
        setup: Setup, db: asyncpg.Connection) -> None:
    account = await register(setup.node)  # perhaps by someone who does not own the address
    setup.provider.person = person(email=account.email)
    async with httpx.AsyncClient() as http:
        flow = await sign_in(setup, http)
        assert flow.answer.status_code == 403
        assert "text/html" in flow.answer.headers["content-type"]
        assert "verify your email" in flow.answer.text and "password" in flow.answer.text
        assert "wingman_refresh" not in flow.answer.headers.get("set-cookie", "")
        assert (await http.post(f"{setup.node.url}/auth/refresh")).status_code == 401
    assert await db.fetchval("SELECT count(*) FROM oauth_identities WHERE user_id = $1",
                             uuid.UUID(account.user)) == 0


async def test_a_provider_that_does_not_vouch_for_the_email_is_refused(
        setup: Setup, db: asyncpg.Connection) -> None:
    setup.provider.person = person(verified=False)
    async with httpx.AsyncClient() as http:
        flow = await sign_in(setup, http)
    assert flow.answer.status_code == 403 and "did not confirm" in flow.answer.text
    assert await db.fetchval("SELECT count(*) FROM oauth_identities WHERE subject = $1",
                             setup.provider.person.sub) == 0


async def test_a_forged_id_token_is_refused(setup: Setup) -> None:
    setup.provider.person = person()
    setup.provider.forge = True
    try:
        async with httpx.AsyncClient() as http:
            flow = await sign_in(setup, http)
            json_too = await http.get(f"{setup.node.url}/auth/oauth/google/callback?code=x")
    finally:
        setup.provider.forge = False
    assert flow.answer.status_code == 400, flow.answer.text
    assert "could not be verified" in flow.answer.text
    assert "wingman_refresh" not in flow.answer.headers.get("set-cookie", "")
    assert json_too.status_code == 400 and json_too.json()["error"]["code"] == "bad_request"


async def test_an_id_token_for_another_client_is_refused(setup: Setup) -> None:
    setup.provider.person = person()
    setup.provider.audience = "someone-elses-client"
    try:
        async with httpx.AsyncClient() as http:
            flow = await sign_in(setup, http)
    finally:
        setup.provider.audience = None
    assert flow.answer.status_code == 400, flow.answer.text


async def test_a_replayed_callback_is_refused(setup: Setup) -> None:
    setup.provider.person = person()
    async with httpx.AsyncClient() as http:
        out = await http.get(f"{setup.node.url}/auth/oauth/google/login")
        state_cookie = http.cookies["wingman_oauth"]
        back = await http.get(out.headers["location"])
        callback = back.headers["location"]
        assert (await http.get(callback)).status_code == 303
        # The browser's own cookie no longer holds that state.
        again = await http.get(callback)
        assert again.status_code == 400
    # An attacker with the old state cookie too: the code was used, the provider refuses it.
    async with httpx.AsyncClient(cookies={"wingman_oauth": state_cookie}) as thief:
        stolen = await thief.get(callback)
    assert stolen.status_code == 400 and "wingman_refresh" not in stolen.headers.get(
        "set-cookie", "")
    # And a state nobody started here.
    async with httpx.AsyncClient() as stranger:
        assert (await stranger.get(callback)).status_code == 400


async def test_a_denied_consent_is_a_400(setup: Setup) -> None:
    setup.provider.person = person()
    setup.provider.deny = True
    try:
        async with httpx.AsyncClient() as http:
            flow = await sign_in(setup, http)
    finally:
        setup.provider.deny = False
    assert "error=access_denied" in flow.callback
    assert flow.answer.status_code == 400


async def test_the_state_cookie_is_lax_and_scoped(setup: Setup) -> None:
    async with httpx.AsyncClient() as http:
        out = await http.get(f"{setup.node.url}/auth/oauth/google/login")
    attributes = [a.strip().lower() for a in out.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("wingman_oauth=")
    assert {"httponly", "samesite=lax", "path=/auth/oauth"} <= set(attributes)


async def test_a_provider_not_configured_is_a_404(setup: Setup, node: RunningNode) -> None:
    async with httpx.AsyncClient() as http:
        unknown = await http.get(f"{setup.node.url}/auth/oauth/github/login")
        disabled = await http.get(f"{node.url}/auth/oauth/google/login")
        callback = await http.get(f"{node.url}/auth/oauth/linkedin/callback?code=x&state=y")
    for answer in (unknown, disabled, callback):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"


def test_the_node_log_names_no_email(setup: Setup) -> None:
    logged = setup.node.log.read_text()
    assert EMAILS and not [email for email in EMAILS if email in logged]
    assert "signed in with google" in logged


def test_a_provider_that_does_not_answer_is_a_502(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    with running_node(database_url, tmp_path_factory.mktemp("oauth-down"),
                      GOOGLE_CLIENT_ID="id", GOOGLE_CLIENT_SECRET="secret",
                      GOOGLE_DISCOVERY_URL=nowhere) as down:
        answer = httpx.get(f"{down.url}/auth/oauth/google/login")
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "unavailable"


async def test_the_login_page_learns_which_providers_are_on(node: RunningNode,
                                                            setup: Setup) -> None:
    async with httpx.AsyncClient() as http:
        configured = await http.get(setup.node.url + "/auth/oauth/providers")
        unconfigured = await http.get(node.url + "/auth/oauth/providers")
    assert configured.json() == {"providers": ["google", "linkedin"]}
    assert unconfigured.json() == {"providers": []}
