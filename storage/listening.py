"""A Postgres LISTEN that outlives Postgres outages: it reconnects with backoff and hands each
payload on the channel to a callback, until cancelled."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import anyio
import asyncpg

from storage.db import Pool

log = logging.getLogger("wingman.storage")
# What Postgres going away raises, depending on where the connection was (asyncpg's own state
# machine raises InternalClientError when the server vanishes in the middle of a LISTEN).
LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


async def listen(pool: Pool, channel: str, what: str, arrived: Callable[[str], None]) -> None:
    """Call `arrived(payload)` for every NOTIFY on `channel`; `what` names the listener in logs."""
    delay = 0.5
    while True:
        try:
            conn = await pool.acquire()
        except LOST as err:
            log.warning("%s listener cannot connect: %s", what, type(err).__name__)
            await anyio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        delay = 0.5
        lost = anyio.Event()

        def notified(_c: Any, _pid: int, _channel: str, payload: object) -> None:
            arrived(str(payload))

        conn.add_termination_listener(lambda _c, lost=lost: lost.set())
        try:
            await conn.add_listener(channel, notified)
            await lost.wait()
            log.warning("%s listener lost its connection; reconnecting", what)
        except LOST as err:
            log.warning("%s listener failed (%s); reconnecting", what, type(err).__name__)
            await anyio.sleep(delay)
        finally:
            with anyio.CancelScope(shield=True):
                # Postgres going away may already have taken the connection from us.
                with contextlib.suppress(*LOST):
                    if not conn.is_closed():
                        await conn.remove_listener(channel, notified)
                with contextlib.suppress(*LOST):
                    await pool.release(conn)
