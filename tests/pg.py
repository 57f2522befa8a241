"""A Postgres of a test's own (the embedded pgserver one, in the test's folder) that the test
may stop and start again, and fresh databases on a shared one."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.components import missing

_databases = itertools.count()


@dataclass
class DedicatedPostgres:
    folder: Path
    url: str
    system_user: str | None
    socket_dir: str

    def stop(self) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[import-untyped]

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.folder, user=self.system_user,
               timeout=60)

    def start(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l",
                str(self.folder / "log"), "start"], pgdata=self.folder, user=self.system_user,
               timeout=60)


@contextmanager
def dedicated_postgres(folder: Path) -> Iterator[DedicatedPostgres]:
    """An embedded Postgres (with pgvector) in `folder`, stopped at the end."""
    try:
        import pgserver
    except ImportError:
        missing("the pgserver package (embedded Postgres with pgvector)")
        raise
    folder.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(folder.resolve()), cleanup_mode="stop")  # type: ignore[attr-defined]
    url = str(server.get_uri())
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    postgres = DedicatedPostgres(folder.resolve(), url, server.system_user, query["host"][0])
    try:
        yield postgres
    finally:
        with contextlib.suppress(Exception):  # stopped already
            postgres.stop()


def fresh_database(url: str) -> str:
    """A new, empty database on the server `url` points at; its URL (callable from a test's
    event loop too: the database is made from a thread of its own)."""
    name = f"t{os.getpid()}_{next(_databases)}"

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, create()).result()
    parts = urllib.parse.urlparse(url)
    return urllib.parse.urlunparse(parts._replace(path=f"/{name}"))
