"""The token lifecycle as a browser and an attacker see it, over real HTTP and sockets: refresh
cookies that rotate, reuse that kills a family, sign-outs reaching every node, forged tokens."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from server.settings import Settings
from server.tokens import SigningKeys, TokenIssuer
from tests.client import Account, open_client, register
from tests.components import TEST_KEYS, RunningNode, running_node

DEFAULTS = Settings()


def cookie_of(answer: httpx.Response) -> str:
    header = answer.headers["set-cookie"]
    assert header.startswith("wingman_refresh=")
    return header.split(";", 1)[0].split("=", 1)[1]


async def post(node: RunningNode, path: str, cookie: str | None = None,
               **kwargs: object) -> httpx.Response:
    headers = {"Cookie": f"wingman_refresh={cookie}"} if cookie else {}
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=node.url) as http:
        return await http.post(path, headers=headers, **kwargs)  # type: ignore[arg-type]


async def login(node: RunningNode, account: Account) -> httpx.Response:
    answer = await post(node, "/auth/login", json={"email": account.email,
                                                     "password": account.password})
    assert answer.status_code == 200
    return answer


@pytest.fixture(scope="module")
def quick_grace(database_url: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(database_url, tmp_path_factory.mktemp("grace"),
                      REFRESH_GRACE_SECONDS="1") as running:
        yield running


async def test_login_sets_a_strict_httponly_refresh_cookie(node: RunningNode) -> None:
    answer = await login(node, await register(node))
    attributes = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
    assert {"httponly", "secure", "samesite=strict", "path=/auth"} <= set(attributes)
    assert any(a.startswith("max-age=") and int(a.split("=")[1]) > 6 * 86400
               for a in attributes)
    assert "wingman_refresh" not in answer.text


async def test_refresh_rotates_and_reuse_kills_the_family(quick_grace: RunningNode) -> None:
    node = quick_grace
    first = cookie_of(await login(node, await register(node)))
    rotated = await post(node, "/auth/refresh", first)
    assert rotated.status_code == 200 and rotated.json()["access_token"]
    second = cookie_of(rotated)
    assert second != first
    await anyio.sleep(1.5)  # past the grace for retries
    reused = await post(node, "/auth/refresh", first)
    assert reused.status_code == 401 and "reused" in reused.json()["error"]["message"]
    # The thief's replay signed out the rightful holder too: the whole family is dead.
    assert (await post(node, "/auth/refresh", second)).status_code == 401


async def test_a_retry_within_grace_gets_a_fresh_token(node: RunningNode) -> None:
    first = cookie_of(await login(node, await register(node)))
    lost = cookie_of(await post(node, "/auth/refresh", first))
    retried = await post(node, "/auth/refresh", first)
    assert retried.status_code == 200
    kept = cookie_of(retried)
    assert (await post(node, "/auth/refresh", lost)).status_code == 401
    assert (await post(node, "/auth/refresh", kept)).status_code == 200


async def test_only_the_cookie_carries_a_refresh_token(node: RunningNode) -> None:
    token = cookie_of(await login(node, await register(node)))
    for attempt in ({"json": {"refresh_token": token}},
                    {"headers": {"Authorization": f"Bearer {token}"}}):
        answer = await post(node, "/auth/refresh", **attempt)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthenticated"


async def test_logout_revokes_the_refresh_token(node: RunningNode) -> None:
    cookie = cookie_of(await login(node, await register(node)))
    out = await post(node, "/auth/logout", cookie)
    assert out.status_code == 200 and "wingman_refresh=" in out.headers["set-cookie"]
    assert (await post(node, "/auth/refresh", cookie)).status_code == 401


async def test_signing_out_everywhere_closes_sockets_on_every_node(
        node: RunningNode, quick_grace: RunningNode) -> None:
    account = await register(node)
    here = await open_client(node, account.token)
    there = await open_client(quick_grace, account.token)
    cookie = cookie_of(await login(node, account))
    out = await post(node, "/auth/logout", cookie, json={"everywhere": True},
                     headers={"Authorization": f"Bearer {account.token}"})
    assert out.status_code == 200
    for client in (here, there):
        began = time.monotonic()
        assert await client.close_code(within=5) == 4401
        assert time.monotonic() - began < 5
    async with httpx.AsyncClient(base_url=node.url) as http:
        old = await http.get("/api/questions",
                             headers={"Authorization": f"Bearer {account.token}"})
        assert old.status_code == 401
    refused = await open_client(node, None, authenticate=False)
    answer = await refused.request("auth", token=account.token)
    assert answer["error"]["code"] == "unauthenticated"
    assert (await post(node, "/auth/refresh", cookie)).status_code == 401
    fresh = (await login(node, account)).json()["access_token"]
    again = await open_client(node, fresh)
    assert "ts" in await again.ok("ping")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(user: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": DEFAULTS.jwt_issuer, "aud": DEFAULTS.jwt_audience, "sub": user,
              "name": "Mallory", "roles": ["learner", "admin"], "iat": now, "exp": now + 600}
    kid = TEST_KEYS.current.kid
    public = json.dumps(TEST_KEYS.current.as_dict(private=False)).encode()
    confused = jwt.encode({"alg": "HS256", "kid": kid}, claims, OctKey.import_key(public),
                          algorithms=["HS256"])
    other_keys = TokenIssuer(SigningKeys.generate(), DEFAULTS.jwt_issuer, DEFAULTS.jwt_audience,
                             600)
    other_audience = TokenIssuer(TEST_KEYS, DEFAULTS.jwt_issuer, "someone-else", 600)
    expired = TokenIssuer(TEST_KEYS, DEFAULTS.jwt_issuer, DEFAULTS.jwt_audience, 60)
    return {
        "none": f"{_b64({'alg': 'none', 'kid': kid})}.{_b64(claims)}.",
        "hs256 with the public key": confused,
        "another key": other_keys.issue(user, "M", ["admin"])[0],
        "another audience": other_audience.issue(user, "M", ["admin"])[0],
        "expired": expired.issue(user, "M", ["learner"], now=now - 3600)[0],
        "garbage": "not.a.token",
        "empty": "",
    }


async def test_forged_and_expired_tokens_are_refused(node: RunningNode) -> None:
    account = await register(node)
    for name, token in forged_tokens(account.user).items():
        async with httpx.AsyncClient(base_url=node.url) as http:
            header = f"Bearer {token}" if token else "Bearer"
            answer = await http.get("/api/questions", headers={"Authorization": header})
        assert answer.status_code == 401, name
        client = await open_client(node, None, authenticate=False)
        reply = await client.request("auth", token=token)
        assert reply["ok"] is False, name
        assert reply["error"]["code"] in ("unauthenticated", "bad_request"), name


async def test_rotated_keys_still_verify_what_they_signed(
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("rotation")
    old_keys = SigningKeys.generate()
    with running_node(database_url, folder, JWT_KEYS=old_keys.to_json()) as before:
        account = await register(before)
    rotated = old_keys.rotated()
    with running_node(database_url, folder, JWT_KEYS=rotated.to_json()) as after:
        client = await open_client(after, account.token)
        assert "ts" in await client.ok("ping")
        fresh = (await login(after, account)).json()["access_token"]
        header = json.loads(base64.urlsafe_b64decode(fresh.split(".")[0] + "=="))
        assert header == {"alg": "Ed25519", "kid": rotated.current.kid, "typ": "JWT"}
