"""Personal data at rest: what the users table and the log hold after real use, sealing rows
an older version left in plaintext, rotating keys with `wingman keys reseal`, where keys come
from."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import stat
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import httpx
import pytest

from server.pii_keys import load_sealer
from server.settings import Settings
from storage.db import Pool, open_pool
from storage.keycheck import KeyMismatch, check_keys
from storage.migrate import migrate, migrations
from storage.pii import PiiSealer
from storage.profiles import Profile, ProfileStore
from storage.resealing import seal_plaintext
from storage.users import EmailTaken, UserStore
from tests.components import running_node
from tests.test_cli import wingman

_ANY_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+\.[a-z]{2,}", re.IGNORECASE)
K1, K2, LOOKUP = os.urandom(32), os.urandom(32), os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_env(keys: dict[str, bytes], current: str) -> dict[str, str]:
    return {"PII_KEYS": json.dumps({kid: b64(key) for kid, key in keys.items()}),
            "PII_KEY_ID": current, "PII_LOOKUP_KEY": b64(LOOKUP)}


@pytest.fixture
async def scratch_url(database_url: str) -> AsyncIterator[str]:
    """A database of its own, so rotating keys here touches no other test's rows."""
    name = f"pii_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(database_url)
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def scratch(scratch_url: str) -> AsyncIterator[Pool]:
    pool = await open_pool(scratch_url, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def test_users_table_and_log_hold_no_email_or_name(database_url: str,
                                                         tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    email, name = f"Grace.{tag}@Example.com", f"Grace Hopper {tag}"
    password = "correct horse battery"
    with running_node(database_url, tmp_path / "node") as node:
        async with httpx.AsyncClient(base_url=node.url) as http:
            registered = await http.post("/auth/register", json={
                "email": email, "password": password, "name": name, "consent": True})
            assert registered.status_code == 200, registered.text
            user_id = registered.json()["user"]["id"]
            login = await http.post("/auth/login", json={"email": email.upper(),
                                                         "password": password})
            assert login.status_code == 200, login.text
            assert login.json()["user"] == registered.json()["user"]
            assert login.json()["user"]["name"] == name
            again = await http.post("/auth/register", json={
                "email": f"  grace.{tag}@EXAMPLE.com", "password": password, "name": "Other"})
            assert again.status_code == 409
            assert again.json()["error"]["code"] == "conflict"
        node.stop()
        log = node.log.read_text(errors="replace")

    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow("SELECT * FROM users WHERE id = $1", uuid.UUID(user_id))
        as_text = await connection.fetchval("SELECT u::text FROM users u WHERE id = $1",
                                            uuid.UUID(user_id))
    finally:
        await connection.close()
    assert row is not None and row["email"] is None and row["name"] is None
    assert row["email_lookup"] and row["email_sealed"] and row["name_sealed"]
    secrets = [email, email.lower(), name, f"Grace.{tag}", f"grace.{tag}", f"Hopper {tag}"]
    for column, value in row.items():
        shown = value if isinstance(value, bytes) else str(value).encode()
        for secret in secrets:
            assert secret.encode() not in shown, column
    for secret in secrets:
        assert secret not in as_text and secret.encode().hex() not in as_text
    assert "/auth/register" in log
    assert not _ANY_EMAIL.findall(log), _ANY_EMAIL.findall(log)
    assert name not in log


async def _apply_before_0003(pool: Pool) -> None:
    """The schema as a node of the previous version left it."""
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                           " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for version, name, sql in migrations():
            if version < 3:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name)"
                                   " VALUES ($1, $2)", version, name)


async def test_start_seals_plaintext_rows_left_by_the_previous_version(
        scratch: Pool, scratch_url: str, tmp_path: Path) -> None:
    await _apply_before_0003(scratch)
    legacy = {uuid.uuid4(): (f"user{i}@example.com", f"User {i}") for i in range(7)}
    await scratch.executemany(
        "INSERT INTO users (id, email, name, roles) VALUES ($1, $2, $3, '{learner}')",
        [(uid, email, name) for uid, (email, name) in legacy.items()])

    migrated = wingman(scratch_url, tmp_path, "migrate", **key_env({"k1": K1}, "k1"))
    assert migrated.returncode == 0, migrated.stderr
    assert "sealed the email and name of 7 users" in migrated.stderr
    assert "@example.com" not in migrated.stderr

    rows = await scratch.fetch("SELECT * FROM users")
    assert len(rows) == 7
    assert all(r["email"] is None and r["name"] is None and r["email_sealed"] for r in rows)
    sealer = PiiSealer({"k1": K1}, "k1", LOOKUP)
    users = UserStore(scratch, sealer)
    for uid, (email, name) in legacy.items():
        found = await users.by_email(email.upper())
        assert found is not None and (found.id, found.email, found.name) == (str(uid), email, name)
    with pytest.raises(EmailTaken):
        await users.add("USER3@example.com", "Someone", "hash", ["learner"], consent=False)
    assert await seal_plaintext(scratch, sealer, batch=3) == 0


async def test_a_plaintext_duplicate_is_left_for_a_person_not_stopping_the_start(
        scratch: Pool, caplog: pytest.LogCaptureFixture) -> None:
    await migrate(scratch)
    sealer = PiiSealer({"k1": K1}, "k1", LOOKUP)
    sealed = await UserStore(scratch, sealer).add("ada@example.com", "Ada", "h", ["learner"],
                                                  consent=False)
    # What a node of the previous version, still running, could write after 0003 was applied.
    stray = uuid.uuid4()
    await scratch.execute("INSERT INTO users (id, email, name, roles)"
                          " VALUES ($1, 'ada@example.com', 'Ada Two', '{learner}')", stray)
    with caplog.at_level(logging.WARNING, "wingman.storage"):
        assert await seal_plaintext(scratch, sealer, batch=1) == 0
    assert f"user {stray} left unsealed" in caplog.text and "ada@" not in caplog.text
    users = UserStore(scratch, sealer)
    found, left = await users.by_email("ada@example.com"), await users.by_id(str(stray))
    assert found is not None and found.id == sealed.id
    assert left is not None and left.name == "Ada Two"


async def test_reseal_moves_every_row_to_the_current_key(scratch: Pool, scratch_url: str,
                                                          tmp_path: Path) -> None:
    await migrate(scratch)
    old = PiiSealer({"k1": K1}, "k1", LOOKUP)
    await check_keys(scratch, old)
    users = UserStore(scratch, old)
    added = [await users.add(f"u{i}@example.com", f"Name {i}", "h", ["learner"], consent=False)
             for i in range(5)]
    await ProfileStore(scratch, old).put(added[0].id, Profile(goal="A job in Lisbon"))

    both = key_env({"k1": K1, "k2": K2}, "k2")
    done = wingman(scratch_url, tmp_path, "keys", "reseal", **both)
    assert done.returncode == 0, done.stderr
    assert "re-sealed 5 accounts with key k2" in done.stdout
    assert "re-sealed 1 profile goals with key k2" in done.stdout
    again = wingman(scratch_url, tmp_path, "keys", "reseal", **both)
    assert "re-sealed 0 accounts" in again.stdout

    new_only = PiiSealer({"k2": K2}, "k2", LOOKUP)
    rows = await scratch.fetch("SELECT email_sealed, name_sealed FROM users")
    assert {new_only.kid_of(r[c]) for r in rows for c in ("email_sealed", "name_sealed")} == \
        {"k2"}
    moved = UserStore(scratch, new_only)
    for user in added:
        assert await moved.by_email(user.email) == user
    assert (await moved.by_id(added[0].id)) == added[0]
    assert (await ProfileStore(scratch, new_only).get(added[0].id)).goal == "A job in Lisbon"


async def test_a_node_with_other_keys_refuses_to_start(scratch: Pool, scratch_url: str,
                                                       tmp_path: Path) -> None:
    await migrate(scratch)
    await check_keys(scratch, PiiSealer({"k1": K1}, "k1", LOOKUP))
    with pytest.raises(KeyMismatch, match="PII_LOOKUP_KEY"):
        await check_keys(scratch, PiiSealer({"k1": K1}, "k1", os.urandom(32)))
    with pytest.raises(KeyMismatch, match="'k1'"):
        await check_keys(scratch, PiiSealer({"k1": K2}, "k1", LOOKUP))
    await check_keys(scratch, PiiSealer({"k1": K1, "k2": K2}, "k2", LOOKUP))

    # A laptop default pointed at a database sealed with other keys: the command says why.
    laptop = {k: v for k, v in os.environ.items() if not k.startswith("PII_")}
    generated = await anyio.run_process(
        [sys.executable, "-m", "server.cli", "migrate"], check=False,
        env={**laptop, "DATABASE_URL": scratch_url, "DATA_DIR": str(tmp_path)})
    errors = generated.stderr.decode()
    assert generated.returncode != 0
    assert "PII_LOOKUP_KEY is not the key" in errors and "PII_KEYS is not set" in errors


def test_laptop_keys_are_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    first = load_sealer(settings)
    path = tmp_path / "pii-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {"PII_KEYS", "PII_KEY_ID", "PII_LOOKUP_KEY"}
    second = load_sealer(settings)
    assert second.lookup("a@example.com") == first.lookup("a@example.com")
    assert second.open(first.seal("Ada", "users.name"), "users.name") == "Ada"


def test_generated_keys_with_a_configured_database_are_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "wingman.keys"):
        load_sealer(Settings(data_dir=tmp_path, database_url="postgresql://db.example/wingman"))
    assert "PII_KEYS is not set" in caplog.text


def test_configured_keys(tmp_path: Path) -> None:
    env = key_env({"k1": K1}, "k1")
    one = Settings(data_dir=tmp_path, pii_keys={"k1": b64(K1)},
                   pii_lookup_key=env["PII_LOOKUP_KEY"])
    assert load_sealer(one).current_kid == "k1"
    assert not (tmp_path / "pii-keys.json").exists()
    two = one.model_copy(update={"pii_keys": {"k1": b64(K1), "k2": b64(K2)}})
    with pytest.raises(ValueError, match="PII_KEY_ID"):
        load_sealer(two)
    assert load_sealer(two.model_copy(update={"pii_key_id": "k2"})).current_kid == "k2"
    with pytest.raises(ValueError, match="PII_LOOKUP_KEY"):
        load_sealer(one.model_copy(update={"pii_lookup_key": None}))
    with pytest.raises(ValueError, match=r"PII_KEYS\['k1'\] is not valid base64") as bad:
        load_sealer(one.model_copy(update={"pii_keys": {"k1": "not base64 at all!"}}))
    assert "not base64 at all" not in str(bad.value)
