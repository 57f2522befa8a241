"""Bringing every account's personal data under the current key: sealing what migration 0003
left in plaintext, and re-sealing what an older key sealed. Both go in batches, by id, with
rows another node is working on skipped, and can be run again at any time."""

from __future__ import annotations

import logging
import uuid

from storage.db import Pool
from storage.pii import PiiSealer
from storage.profiles import GOAL
from storage.users import EMAIL, NAME

log = logging.getLogger("wingman.storage")

_PLAINTEXT = """
SELECT id, email, name FROM users
WHERE id > $1 AND (email IS NOT NULL OR name IS NOT NULL)
ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
"""
# A row whose email another account already has is left as it is, for a person to resolve.
_SEAL = """
UPDATE users SET email_lookup = COALESCE(u.lookup, users.email_lookup),
                 email_sealed = COALESCE(u.email, users.email_sealed),
                 name_sealed = COALESCE(u.name, users.name_sealed),
                 email = NULL, name = NULL
FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[]) AS u(id, lookup, email, name)
WHERE users.id = u.id
  AND (u.lookup IS NULL OR NOT EXISTS (
      SELECT 1 FROM users other WHERE other.email_lookup = u.lookup AND other.id <> u.id))
RETURNING users.id
"""
_STALE = """
SELECT id, email_sealed, name_sealed FROM users
WHERE id > $1 AND (substring(email_sealed from 1 for $3) <> $2
                   OR substring(name_sealed from 1 for $3) <> $2)
ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED
"""
_RESEAL = """
UPDATE users SET email_sealed = u.email, name_sealed = u.name
FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS u(id, email, name)
WHERE users.id = u.id
"""


async def seal_plaintext(pool: Pool, sealer: PiiSealer, batch: int = 500) -> int:
    """Seal the email and name of rows that still hold them in plaintext; how many were."""
    sealed = 0
    after = uuid.UUID(int=0)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_PLAINTEXT, after, batch)
            if not rows:
                return sealed
            ids = [r["id"] for r in rows]
            lookups = [sealer.lookup(r["email"]) if r["email"] is not None else None
                       for r in rows]
            emails = [sealer.seal(r["email"], EMAIL) if r["email"] is not None else None
                      for r in rows]
            names = [sealer.seal(r["name"], NAME) if r["name"] is not None else None
                     for r in rows]
            done = {r["id"] for r in await conn.fetch(_SEAL, ids, lookups, emails, names)}
        for user_id in ids:
            if user_id not in done:
                log.warning("user %s left unsealed: another account has the same email", user_id)
        sealed += len(done)
        after = ids[-1]


async def reseal(pool: Pool, sealer: PiiSealer, batch: int = 500) -> int:
    """Re-seal under the current key whatever an older key sealed; how many rows changed."""
    return await _reseal_stale(pool, sealer, batch, _STALE, "id",
                               [("email_sealed", EMAIL), ("name_sealed", NAME)], _RESEAL)


async def _reseal_stale(pool: Pool, sealer: PiiSealer, batch: int, stale: str, key: str,
                        sealed: list[tuple[str, str]], update: str) -> int:
    """Page through the rows `stale` finds by `key`, re-sealing each (column, pii) of `sealed`
    and writing them back with `update` (key ids first, then the columns in order)."""
    header = sealer.current_header
    resealed = 0
    after = uuid.UUID(int=0)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(stale, after, header, len(header), batch)
            if not rows:
                return resealed
            ids = [r[key] for r in rows]
            await conn.execute(update, ids, *([_again(sealer, r[column], pii) for r in rows]
                                              for column, pii in sealed))
        resealed += len(rows)
        after = ids[-1]


def _again(sealer: PiiSealer, blob: bytes | None, column: str) -> bytes | None:
    return None if blob is None else sealer.seal(sealer.open(blob, column), column)


_STALE_GOALS = """
SELECT user_id, goal_sealed FROM profiles
WHERE user_id > $1 AND substring(goal_sealed from 1 for $3) <> $2
ORDER BY user_id LIMIT $4 FOR UPDATE SKIP LOCKED
"""


async def reseal_goals(pool: Pool, sealer: PiiSealer, batch: int = 500) -> int:
    """The same for the goals learners wrote in their profile; how many changed."""
    return await _reseal_stale(
        pool, sealer, batch, _STALE_GOALS, "user_id", [("goal_sealed", GOAL)],
        "UPDATE profiles SET goal_sealed = u.goal FROM unnest($1::uuid[], $2::bytea[])"
        " AS u(id, goal) WHERE profiles.user_id = u.id")
