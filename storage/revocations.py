"""Signing a user out everywhere: their older access tokens stop counting, and every node is told
at once through Postgres LISTEN/NOTIFY so it can close their sockets."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio
import asyncpg

from storage.db import Pool, as_uuid

log = logging.getLogger("wingman.storage")
CHANNEL = "wingman_user_revoked"


class NoSuchUser(Exception):
    pass


class Revocations:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def revoke(self, user: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE users SET tokens_valid_after = now() WHERE id = $1",
                               uuid.UUID(user))
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, user)

    async def valid_after(self, user: str) -> datetime | None:
        """When the user's tokens start counting (None: all of them do)."""
        key = as_uuid(user)
        row = await self._pool.fetchrow(
            "SELECT tokens_valid_after FROM users WHERE id = $1", key) if key else None
        if row is None:
            raise NoSuchUser(user)
        value: datetime | None = row["tokens_valid_after"]
        return value

    async def listen(self, revoked: Callable[[str], None]) -> None:
        """Call `revoked(user)` for every revocation any node makes, until cancelled."""
        delay = 0.5
        while True:
            try:
                conn = await self._pool.acquire()
            except (OSError, asyncpg.PostgresError) as err:
                log.warning("revocation listener cannot connect: %s", type(err).__name__)
                await anyio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            lost = anyio.Event()

            def notified(_c: Any, _pid: int, _channel: str, payload: object) -> None:
                revoked(str(payload))

            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, notified)
                await lost.wait()
                log.warning("revocation listener lost its connection; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                log.warning("revocation listener failed (%s); reconnecting", type(err).__name__)
                await anyio.sleep(delay)
            finally:
                with anyio.CancelScope(shield=True):
                    # Postgres going away may already have taken the connection from us.
                    with contextlib.suppress(OSError, asyncpg.PostgresError,
                                             asyncpg.InterfaceError):
                        if not conn.is_closed():
                            await conn.remove_listener(CHANNEL, notified)
                    with contextlib.suppress(OSError, asyncpg.PostgresError,
                                             asyncpg.InterfaceError):
                        await self._pool.release(conn)
