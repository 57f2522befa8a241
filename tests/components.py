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


@dataclass
class RunningRedisCluster:
    """A real Redis Cluster of masters on one host: `url` names one of them (any will do as the
    client's starting point), `ports` all of them."""

    url: str
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]

    def nodes(self) -> list[tuple[str, int, list[tuple[int, int]]]]:
        """Each master as (node id, port, slot ranges), from CLUSTER NODES."""
        listing = subprocess.run(
            ["redis-cli", "-p", str(self.ports[0]), "CLUSTER", "NODES"], check=True,
            capture_output=True, text=True).stdout
        masters = []
        for line in listing.splitlines():
            fields = line.split()
            if "master" not in fields[2].split(","):
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            ranges = []
            for spec in fields[8:]:
                if spec.startswith("["):
                    continue  # a slot being migrated
                low, _, high = spec.partition("-")
                ranges.append((int(low), int(high or low)))
            masters.append((fields[0], port, ranges))
        return masters

    def port_of_slot(self, slot: int) -> int:
        for _, port, ranges in self.nodes():
            if any(low <= slot <= high for low, high in ranges):
                return port
        raise LookupError(f"no master serves slot {slot}")


@contextmanager
def redis_cluster(folder: Path, masters: int = 3) -> Iterator[RunningRedisCluster]:
    """A real Redis Cluster: `masters` redis-servers in cluster mode on free ports, joined with
    `redis-cli --cluster create`, the slots spread evenly; stopped at the end."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        missing("redis-server and redis-cli (apt-get install redis-server)")
        return
    folder.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in range(masters)]
    processes = []
    try:
        for port in ports:
            # The cluster bus gets its own free port (by default it is port + 10000).
            node_dir = folder / str(port)
            node_dir.mkdir(exist_ok=True)
            log = node_dir / "redis.log"
            with log.open("wb") as out:
                processes.append(subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled",
                     "yes", "--cluster-port", str(free_port()), "--cluster-config-file",
                     str(node_dir / "nodes.conf"), "--cluster-node-timeout", "2000", "--save", "",
                     "--appendonly", "no", "--dir", str(node_dir)],
                    stdout=out, stderr=subprocess.STDOUT))
            _wait_redis(port, processes[-1], log)
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        _wait_cluster_ok(cli, ports)
        yield RunningRedisCluster(f"redis://127.0.0.1:{ports[0]}/0", ports, processes)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_cluster_ok(cli: str, ports: list[int], within: float = 30.0) -> None:
    """Every master agrees the cluster is up (all slots served) before anyone uses it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        states = [subprocess.run([cli, "-p", str(p), "CLUSTER", "INFO"], capture_output=True,
                                 text=True).stdout for p in ports]
        if all("cluster_state:ok" in s for s in states):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the Redis Cluster on {ports} did not come up in {within}s")
