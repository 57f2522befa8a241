"""Real components for the tests: a Postgres with pgvector and a running `wingman serve` node.
In CI a component that cannot be had fails the test; elsewhere it skips, saying what is missing."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.tokens import SigningKeys

IN_CI = bool(os.environ.get("CI"))
_nodes = itertools.count()
# Sandbox slot uids of the nodes a test run starts; concurrent test runs on one host need their own.
UID_BASE = int(os.environ.get("WINGMAN_TEST_UID_BASE", "62000"))
# One signing key set for every node a test run starts, so tests can mint tokens themselves.
TEST_KEYS = SigningKeys.generate()


def _test_key(label: bytes) -> str:
    return base64.b64encode(hashlib.sha256(label).digest()).decode()


# Fixed, so a reused DATABASE_URL keeps matching the keys its personal data was sealed with.
TEST_PII_ENV = {"PII_KEYS": json.dumps({"test-1": _test_key(b"seal")}), "PII_KEY_ID": "test-1",
                "PII_LOOKUP_KEY": _test_key(b"lookup")}


def missing(what: str) -> None:
    """Fail in CI (a missing component there is a broken build), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"CI needs {what}")
    pytest.skip(f"needs {what} (with CI set this fails instead)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_url(folder: Path) -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    try:
        import pgserver  # noqa: F401
    except ImportError:
        missing("the pgserver package (embedded Postgres with pgvector) or DATABASE_URL")
    from storage.db import embedded_url

    return embedded_url(folder)


def have_bwrap() -> bool:
    return shutil.which("bwrap") is not None


@dataclass
class RunningNode:
    url: str
    ws_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_node(database_url: str, data_dir: Path, port: int | None = None,
                 **env: str) -> Iterator[RunningNode]:
    if not have_bwrap():
        missing("bubblewrap (apt-get install bubblewrap) for the process sandbox")
    port = port or free_port()
    first_uid = UID_BASE + 16 * next(_nodes)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"node-{port}.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "JWT_KEYS": TEST_KEYS.to_json(),
        "PORT": str(port),
        "SANDBOX_FIRST_UID": str(first_uid),
        **TEST_PII_ENV,
        # Every test client comes from 127.0.0.1, so limits per address would trip across tests.
        "RATE_LOGIN_ADDRESS": "100000/s",
        "RATE_REGISTER_ADDRESS": "100000/s",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"], env=environment, stdout=out,
            stderr=subprocess.STDOUT)
    node = RunningNode(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", process, log)
    try:
        _wait_ready(node)
        yield node
    finally:
        node.stop()


def _wait_ready(node: RunningNode, within: float = 60.0) -> None:
    """Until the node serves: /healthz (uvicorn answers only once the node has started; /readyz
    would also wait for Redis, which some tests start the node without)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"node exited early:\n{node.log.read_text()[-4000:]}")
        try:
            if httpx.get(node.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"node not ready in {within}s:\n{node.log.read_text()[-4000:]}")


@contextmanager
def running_redis(folder: Path) -> Iterator[str]:
    """The Redis REDIS_URL names, or a real redis-server started here. Yields its URL."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with redis_server(folder) as url:
        yield url


@contextmanager
def redis_server(folder: Path, port: int | None = None, persist: bool = False) -> Iterator[str]:
    """A real redis-server, stopped at the end; with `persist`, an append-only file fsynced every
    second (as production runs it) in `folder`. Yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server (apt-get install redis-server) or REDIS_URL")
        return
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"redis-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "yes" if persist else "no", "--appendfsync", "everysec", "--dir", str(folder)],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_redis(port, process, log)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_redis(port: int, process: subprocess.Popen[bytes], log: Path,
                within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited early:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis-server not ready in {within}s:\n{log.read_text()[-4000:]}")
