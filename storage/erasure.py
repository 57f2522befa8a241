"""Removing one person's learning data, or all of their data: by session id through the
indexes, with tombstones so that events still queued cannot write it back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from storage.db import Pool
from storage.trace import session_day

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


@dataclass(frozen=True)
class Erased:
    sessions: int
    events: int


async def erase_traces(conn: Conn, sids: list[uuid.UUID]) -> int:
    """Delete the stored events of these (tombstoned) sessions through the (sid, seq, day)
    index, each in its own day's partition, and mark the tombstones done; the events deleted."""
    if not sids:
        return 0
    days: list[date | None] = [session_day(s) for s in sids]
    if None not in days:
        deleted = await conn.execute(
            "DELETE FROM trace_events WHERE sid = ANY($1::uuid[]) AND day = ANY($2::date[])",
            sids, sorted({d for d in days if d is not None}))
    else:  # an id that is not a UUIDv7: no day to go by
        deleted = await conn.execute("DELETE FROM trace_events WHERE sid = ANY($1::uuid[])", sids)
    await conn.execute("DELETE FROM trace_dead_letters WHERE sid = ANY($1::uuid[])", sids)
    await conn.execute("UPDATE trace_tombstones SET erased_at = now() WHERE sid = ANY($1::uuid[])",
                       sids)
    return int(deleted.split()[-1])


class Erasure:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def traces_of(self, user: str) -> Erased:
        """A learner's stored sessions and their traces (consent withdrawn)."""
        async with self._pool.acquire() as conn, conn.transaction():
            sids = [r["sid"] for r in await conn.fetch(
                "SELECT sid FROM sessions WHERE learner_id = $1", uuid.UUID(user))]
            await conn.executemany(
                "INSERT INTO trace_tombstones (sid) VALUES ($1) ON CONFLICT DO NOTHING",
                [(sid,) for sid in sids])
            events = await erase_traces(conn, sids)
            await conn.execute("DELETE FROM sessions WHERE sid = ANY($1::uuid[])", sids)
        return Erased(len(sids), events)

    async def account(self, user: str) -> Erased:
        """Everything of one account: its traces, then the account (refresh tokens, linked
        sign-ins, mentor invitations sent and received and the rest go with it by foreign
        key)."""
        erased = await self.traces_of(user)
        await self._pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(user))
        return erased

    async def tombstoned(self, sids: list[str]) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT sid FROM trace_tombstones WHERE sid = ANY($1::uuid[])",
            [uuid.UUID(s) for s in sids])
        return {str(r["sid"]) for r in rows}
