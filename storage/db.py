"""The Postgres connection: the configured one, or the embedded one a laptop gets by default."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
import asyncpg

log = logging.getLogger("wingman.storage")

if TYPE_CHECKING:
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Pool = asyncpg.Pool


def as_uuid(text: str) -> uuid.UUID | None:
    """An id from a client, or None when it is not one (so it matches nothing)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def embedded_url(folder: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL 16 with pgvector kept in `folder`."""
    import pgserver  # imported here: only the laptop default needs it

    folder.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
       str(folder.resolve()), cleanup_mode="stop")
    return str(server.get_uri())


async def open_pool(url: str, min_size: int = 1, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init)
    log.info("postgres pool open")
    return pool


class JsonText(str):
    """Text that is JSON already: stored in a jsonb column as it is, not encoded again."""


def _encode_jsonb(value: Any) -> bytes:
    # jsonb's binary form is a version byte and the JSON text; binary so that COPY can take it.
    text = value if isinstance(value, JsonText) else json.dumps(value)
    return b"\x01" + text.encode()


def _decode_jsonb(data: bytes) -> Any:
    return json.loads(data[1:])


async def _init(connection: asyncpg.Connection[Any]) -> None:
    await connection.set_type_codec("jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb,
                                    schema="pg_catalog", format="binary")


async def resolve_url(configured: str | None, data_dir: Path) -> str:
    if configured:
        return configured
    return await anyio.to_thread.run_sync(embedded_url, data_dir / "postgres")
