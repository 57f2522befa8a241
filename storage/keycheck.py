"""The check that a node's PII keys are the ones the database's personal data was sealed with."""

from __future__ import annotations

from storage.db import Pool
from storage.pii import PiiSealer


class KeyMismatch(Exception):
    pass


async def check_keys(pool: Pool, sealer: PiiSealer) -> None:
    """Record the fingerprints of keys the database has not seen; refuse keys that differ."""
    ours = [("seal", kid, fp) for kid, fp in sorted(sealer.fingerprints().items())]
    ours.append(("lookup", "", sealer.lookup_fingerprint()))
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO pii_keys (kind, kid, fingerprint) VALUES ($1, $2, $3)"
            " ON CONFLICT (kind, kid) DO NOTHING", ours)
        rows = await conn.fetch("SELECT kind, kid, fingerprint FROM pii_keys")
    known = {(r["kind"], r["kid"]): bytes(r["fingerprint"]) for r in rows}
    if known[("lookup", "")] != sealer.lookup_fingerprint():
        raise KeyMismatch(
            "PII_LOOKUP_KEY is not the key this database's emails were hashed with; "
            "no account could be found by email. Configure the database's keys.")
    for kind, kid, fingerprint in ours:
        if kind == "seal" and known[(kind, kid)] != fingerprint:
            raise KeyMismatch(
                f"PII key {kid!r} is not the key of that id this database's personal data was "
                "sealed with. Configure the database's keys, or give a new key a new id.")
