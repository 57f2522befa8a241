"""A small real WebSocket client of the wire contract, as other people's clients would be."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.components import RunningNode

_emails = itertools.count(1)
# Every client a test opened, closed after the test whatever happened in it.
OPEN: list[Client] = []


@dataclass
class Account:
    email: str
    password: str
    token: str
    user: str
    name: str


async def register(node: RunningNode, consent: bool = True, name: str = "Ada") -> Account:
    email = f"learner{next(_emails)}-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery"
    async with httpx.AsyncClient(base_url=node.url) as http:
        answer = await http.post("/auth/register", json={
            "email": email, "password": password, "name": name, "consent": consent})
    answer.raise_for_status()
    body = answer.json()
    return Account(email, password, body["access_token"], body["user"]["id"], name)


async def grant_roles(node: RunningNode, database_url: str, account: Account,
                      roles: list[str]) -> Account:
    """Give an account roles in the database, as `wingman user roles` does (that command has
    its own test), then sign in again so that its token carries them."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE users SET roles = $2 WHERE id = $1",
                           uuid.UUID(account.user), roles)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=node.url) as http:
        login = await http.post("/auth/login", json={"email": account.email,
                                                     "password": account.password})
    login.raise_for_status()
    account.token = login.json()["access_token"]
    return account


async def http_get(node: RunningNode, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=node.url) as http:
        return await http.get(path, headers=headers)


@dataclass
class Client:
    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[Any, dict[str, Any]] = field(default_factory=dict)
    frames: list[dict[str, Any]] = field(default_factory=list)
    _refs: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            await self.ws.send(orjson.dumps(frame).decode())
        else:
            await self.ws.send(frame)

    async def receive(self, within: float = 10.0) -> dict[str, Any]:
        with anyio.fail_after(within):
            raw = await self.ws.recv()
        message: dict[str, Any] = orjson.loads(raw)
        self.frames.append(message)
        if message.get("type") == "event":
            self.events.append(message)
        elif message.get("type") == "reply":
            self.replies[message.get("ref")] = message
        return message

    async def request(self, kind: str, within: float = 10.0, **fields: Any) -> dict[str, Any]:
        ref = next(self._refs)
        await self.send({"type": kind, "ref": ref, **fields})
        return await self.reply(ref, within)

    async def reply(self, ref: Any, within: float = 10.0) -> dict[str, Any]:
        with anyio.fail_after(within):
            while ref not in self.replies:
                await self.receive(within)
        return self.replies.pop(ref)

    async def ok(self, kind: str, within: float = 10.0, **fields: Any) -> dict[str, Any]:
        answer = await self.request(kind, within, **fields)
        assert answer["ok"], answer
        data: dict[str, Any] = answer["data"]
        return data

    async def until(self, kind: str, within: float = 15.0, **match: Any) -> dict[str, Any]:
        """The first event of `kind` whose data has the given values (looking at past ones too)."""
        def fits(event: dict[str, Any]) -> bool:
            return event["kind"] == kind and all(event["data"].get(k) == v
                                                 for k, v in match.items())
        with anyio.fail_after(within):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if fits(event):
                        return event
                seen = len(self.events)
                await self.receive(within)

    async def next_notification(self, within: float = 15.0) -> dict[str, Any]:
        """The next notification frame to arrive (past ones do not count)."""
        with anyio.fail_after(within):
            while True:
                frame = await self.receive(within)
                if frame.get("type") == "notification":
                    return frame

    async def close_code(self, within: float = 10.0) -> int | None:
        """Read on until the server closes the connection; the code it closed with."""
        try:
            with anyio.fail_after(within):
                while True:
                    await self.receive(within)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


async def open_client(node: RunningNode, token: str | None, origin: str | None = None,
                      authenticate: bool = True) -> Client:
    headers = {"Origin": origin} if origin else None
    ws = await connect(node.ws_url, subprotocols=["wingman.v1"],  # type: ignore[list-item]
                       additional_headers=headers, max_size=2**24)
    client = Client(ws)
    OPEN.append(client)
    if authenticate:
        answer = await client.request("auth", token=token)
        assert answer["ok"], answer
    return client
