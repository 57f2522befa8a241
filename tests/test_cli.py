"""The `wingman` command as an operator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.components import TEST_PII_ENV, RunningNode


def wingman(database_url: str, data_dir: Path, *args: str, stdin: str = "",
            **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir),
           **TEST_PII_ENV, **extra_env}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_user_add_reads_the_password_from_stdin(node: RunningNode, database_url: str,
                                                      tmp_path: Path) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    added = wingman(database_url, tmp_path, "user", "add", email, "--role", "admin",
                    stdin="a sturdy password\n")
    assert added.returncode == 0, added.stderr
    assert "admin" in added.stdout
    again = wingman(database_url, tmp_path, "user", "add", email, "--role", "admin",
                    stdin="a sturdy password\n")
    assert again.returncode == 1 and "exists" in again.stderr
    weak = wingman(database_url, tmp_path, "user", "add", "x" + email, stdin="short\n")
    assert weak.returncode == 2 and "at least" in weak.stderr
    async with httpx.AsyncClient(base_url=node.url) as http:
        login = await http.post("/auth/login", json={"email": email,
                                                     "password": "a sturdy password"})
        assert login.status_code == 200
        assert set(login.json()["user"]["roles"]) == {"admin", "learner"}
        wrong = await http.post("/auth/login", json={"email": email, "password": "nope nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"


def test_migrate_is_idempotent(database_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        done = wingman(database_url, tmp_path, "migrate")
        assert done.returncode == 0, done.stderr
        assert "up to date" in done.stdout


def test_rotating_signing_keys_keeps_the_old_ones(database_url: str, tmp_path: Path) -> None:
    from server.tokens import SigningKeys

    env_free = {k: v for k, v in os.environ.items() if k != "JWT_KEYS"}
    def rotate() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", "keys", "rotate-signing"],
                              env={**env_free, "DATA_DIR": str(tmp_path)}, capture_output=True,
                              text=True, timeout=60, check=False)
    first = rotate()
    assert first.returncode == 0, first.stderr
    keys = SigningKeys.from_json((tmp_path / "jwt-keys.json").read_text())
    assert len(keys.keys) == 2 and keys.current.kid in first.stdout
    rotate()
    again = SigningKeys.from_json((tmp_path / "jwt-keys.json").read_text())
    assert [k.kid for k in again.keys[:2]] == [k.kid for k in keys.keys]
    assert oct((tmp_path / "jwt-keys.json").stat().st_mode)[-3:] == "600"
