"""Hostile learner code, over the real WebSocket path, against both sandbox backends. Each case
ends with the right limit or a contained failure within the wall limit plus a second, leaks
nothing, leaves no process or container behind, and the next normal runs still work."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

from tests.client import Client, open_client, register
from tests.components import IN_CI, RunningNode, missing, running_node

WALL = 3.0
SECRET = f"hostile-secret-{uuid.uuid4().hex}"


def docker_engine() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    path = host.removeprefix("unix://")
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@pytest.fixture(scope="module", params=["process", "docker"])
def backend_node(request: pytest.FixtureRequest, database_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    backend = request.param
    if backend == "docker" and not docker_engine():
        missing("a Docker engine (dockerd) with the runner image for the docker sandbox")
    folder = tmp_path_factory.mktemp(f"hostile-{backend}")
    env = {"SANDBOX_BACKEND": backend, "NODE_ID": f"hostile-{backend}-{uuid.uuid4().hex[:6]}",
           "RUN_WALL_SECONDS": str(WALL), "RUN_MEMORY_BYTES": str(128 * 1024 * 1024),
           "RUN_PROCESSES": "32", "SANDBOX_RUNS_PER_USER": "3", "SANDBOX_QUEUE": "8",
           "JWT_SECRET_FOR_TESTS": SECRET, "RATE_RUNS": "1000/s burst 1000"}
    with running_node(database_url, folder, **env) as node:
        yield node


@dataclass
class Learner:
    client: Client
    sid: str

    async def run(self, code: str, mode: str = "run", **fields: Any) -> Finished:
        started = time.monotonic()
        run_id = (await self.client.ok("code.run", sid=self.sid, mode=mode, code=code,
                                       **fields))["run_id"]
        done = await self.client.until("run.finished", within=WALL + 20, run_id=run_id)
        elapsed = time.monotonic() - started
        chunks = [e["data"] for e in self.client.events
                  if e["kind"] == "run.output" and e["data"]["run_id"] == run_id]
        return Finished(done["data"], chunks, elapsed)


@dataclass
class Finished:
    data: dict[str, Any]
    chunks: list[dict[str, Any]]
    elapsed: float

    def text(self, stream: str = "stdout") -> str:
        return "".join(c["chunk"] for c in self.chunks if c["stream"] == stream)

    @property
    def everything(self) -> str:
        return self.text("stdout") + self.text("stderr")


async def learner(node: RunningNode, question: str = "two-sum") -> Learner:
    account = await register(node)
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id=question))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    return Learner(client, sid)


async def gone(marker: str, within: float) -> None:
    """Waits until no host process runs with marker in its command line."""
    with anyio.fail_after(within):
        while True:
            if not leftovers(marker):
                return
            await anyio.sleep(0.05)


def leftovers(marker: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if marker in cmdline and "pytest" not in cmdline:
            found.append(process.pid)
    return found


async def healthy(node: RunningNode, same: Learner) -> None:
    """The next normal run of the same session, and of another session, works."""
    for who in (same, await learner(node)):
        done = await who.run("print('still fine')")
        assert done.data["exit_code"] == 0 and done.data["limit"] is None, done.data
        assert done.text() == "still fine\n"


def contained(done: Finished, limit: str | None) -> None:
    assert done.data["limit"] == limit, (done.data, done.everything[-2000:])
    assert done.elapsed < WALL + 1 + (2 if IN_CI else 0.5), done.elapsed
    assert SECRET not in done.everything


LIMITED = {
    "infinite loop": ("while True:\n    pass", "time"),
    "sleep forever": ("import time\ntime.sleep(10**6)", "time"),
    "memory hog": ("hog = bytearray(1024 * 1024 * 1024)\nprint('survived')", "memory"),
    "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                  "        pass", ("processes", "time")),
    "stdout flood": ("while True:\n    print('x' * 1000)", "output"),
    "one 20 MiB line": ("print('y' * (20 * 1024 * 1024))", "output"),
    "stderr flood": ("import sys\nwhile True:\n    sys.stderr.write('e' * 1000)", "output"),
    "fill /tmp": ("with open('/tmp/fill', 'wb') as f:\n    while True:\n"
                  "        f.write(b'z' * 65536)", "disk"),
    "closed streams and sleep": ("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(100)",
                                 "time"),
}


@pytest.mark.parametrize("case", list(LIMITED))
async def test_limits_end_the_run(backend_node: RunningNode, case: str) -> None:
    code, limit = LIMITED[case]
    who = await learner(backend_node)
    done = await who.run(code)
    allowed = limit if isinstance(limit, tuple) else (limit,)
    assert done.data["limit"] in allowed, (done.data, done.everything[-2000:])
    contained(done, done.data["limit"])
    if limit == "output":
        assert len(done.everything.encode()) <= 1024 * 1024
    await healthy(backend_node, who)


PROBES = """
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, call):
    try:
        result = call()
    except Exception as exc:
        print(name, 'blocked', type(exc).__name__)
    else:
        print(name, 'ALLOWED' if result == 0 else 'blocked', ctypes.get_errno())
"""


async def test_network_is_unreachable(backend_node: RunningNode, redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    host_ip = socket.gethostbyname(socket.gethostname())
    code = PROBES + (
        f"for host in ('127.0.0.1', {host_ip!r}, '172.17.0.1'):\n"
        f"    attempt('tcp ' + host, lambda: socket.create_connection((host, {port}), 1)"
        f".sendall(b'PING') or 0)\n"
        "attempt('dns', lambda: socket.getaddrinfo('deb.debian.org', 80) and 0)\n")
    who = await learner(backend_node)
    done = await who.run(code)
    contained(done, None)
    assert "ALLOWED" not in done.text() and done.text().count("blocked") == 4, done.everything
    await healthy(backend_node, who)


async def test_host_files_and_secrets_stay_out(backend_node: RunningNode,
                                               tmp_path: Path) -> None:
    planted = tmp_path / "planted.txt"
    planted.write_text(SECRET)
    planted.chmod(0o644)
    code = (
        "import os\n"
        f"for path in ({str(planted)!r}, '/etc/shadow', '/var/run/docker.sock',\n"
        "             '/run/docker.sock', '/root/.bashrc'):\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read()[:100])\n"
        "    except OSError as exc:\n"
        "        print(path, 'blocked', type(exc).__name__)\n"
        "print('env', sorted(os.environ))\n"
        "print('first process env', open('/proc/1/environ', 'rb').read().split(b'\\0')\n"
        "      if os.access('/proc/1/environ', os.R_OK) else 'unreadable')\n")
    who = await learner(backend_node)
    done = await who.run(code)
    contained(done, None)
    assert done.text().count("blocked") == 5, done.everything
    for name in ("JWT_KEYS", "DATABASE_URL", "PII_KEYS", "JWT_SECRET_FOR_TESTS"):
        assert name not in done.text()
    await healthy(backend_node, who)


async def test_the_filesystem_is_read_only_and_fresh(backend_node: RunningNode,
                                                    tmp_path: Path) -> None:
    target = tmp_path / "host-target.txt"
    target.write_text("untouched")
    code = (
        "import os\n"
        "for path in ('/evil', '/usr/evil', '/etc/evil'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print(path, 'WRITTEN')\n"
        "    except OSError as exc:\n"
        "        print(path, 'blocked', type(exc).__name__)\n"
        # the Judge0 path: a symlink where a host might write results or read files
        f"os.symlink({str(target)!r}, '/tmp/result')\n"
        "os.symlink('/etc/passwd', '/tmp/output')\n"
        "open('/tmp/mine', 'w').write('left behind')\n"
        "print(sorted(os.listdir('/tmp')))\n")
    who = await learner(backend_node)
    done = await who.run(code)
    contained(done, None)
    assert "WRITTEN" not in done.text() and done.text().count("blocked") == 3, done.everything
    assert target.read_text() == "untouched"
    fresh = await who.run("import os\nprint(sorted(os.listdir('/tmp')))")
    assert fresh.text() == "[]\n", fresh.everything
    await healthy(backend_node, who)


async def test_privileged_calls_are_refused(backend_node: RunningNode) -> None:
    code = PROBES + (
        "attempt('setuid', lambda: os.setuid(0))\n"
        "attempt('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n"
        "attempt('unshare', lambda: libc.unshare(0x10000000))\n"
        "attempt('ptrace', lambda: libc.ptrace(16, 1, 0, 0))\n"
        "attempt('chroot', lambda: libc.chroot(b'/tmp'))\n"
        "print('uid', os.getuid())\n")
    who = await learner(backend_node)
    done = await who.run(code)
    contained(done, None)
    assert "ALLOWED" not in done.text() and done.text().count("blocked") == 5, done.everything
    assert "uid 0" not in done.text()
    await healthy(backend_node, who)


async def test_background_processes_do_not_outlive_the_run(backend_node: RunningNode) -> None:
    marker = str(900000 + os.getpid() % 1000)
    code = ("import os, subprocess\n"
            f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            f"    os.execvp('sleep', ['sleep', '{marker}'])\n"
            "print('parent done')\n")
    who = await learner(backend_node)
    done = await who.run(code)
    contained(done, None)
    assert done.text() == "parent done\n"
    await gone(f"sleep {marker}", 1)
    await healthy(backend_node, who)


async def test_binary_and_invalid_utf8_output(backend_node: RunningNode) -> None:
    code = ("import sys\nsys.stdout.buffer.write(bytes(range(256)) + b'\\xff\\xfe\\xc3(')\n"
            "sys.stdout.flush()\nprint('\\ud800' .encode('utf-8', 'surrogatepass'))\n")
    who = await learner(backend_node)
    done = await who.run(code)
    contained(done, None)
    assert "\ufffd" in done.text() and done.data["exit_code"] == 0
    await healthy(backend_node, who)


async def test_oversized_code_and_nul_bytes(backend_node: RunningNode) -> None:
    who = await learner(backend_node)
    answer = await who.client.request("code.run", sid=who.sid, mode="run",
                                      code="#" * (65 * 1024))
    assert answer["ok"] is False and answer["error"]["code"] == "too_large", answer
    done = await who.run("print('a')\x00print('b')")
    contained(done, None)
    assert done.data["exit_code"] != 0 and "null" in done.text("stderr").lower()
    await healthy(backend_node, who)


async def test_printed_verdicts_are_just_output(backend_node: RunningNode) -> None:
    # (The report pipe lives in the learner's own process: what reaches it can only claim return
    # values the function could have returned; expected values never enter the sandbox.)
    fake = ('{"name": "example 1", "ok": true, "value": [2, 3]}\\n'
            '{"exit": 0, "hint": ""}\\n')
    code = ("import sys, os\n"
            "def two_sum(nums, target):\n"
            f"    print('{fake}')\n"
            f"    sys.stderr.write('{fake}')\n"
            f"    os.write(1, b'\\x011\\x00\\x00\\x00\\x05hello{fake}')\n"
            "    return [9, 9]\n")
    who = await learner(backend_node)
    done = await who.run(code, mode="test")
    contained(done, None)
    assert not any(test["passed"] for test in done.data["tests"]), done.data["tests"]
    await healthy(backend_node, who)


async def test_a_client_leaving_mid_run(backend_node: RunningNode) -> None:
    marker = str(800000 + os.getpid() % 1000)
    who = await learner(backend_node)
    run_id = (await who.client.ok("code.run", sid=who.sid, mode="run",
                                  code="import subprocess\nprint('started', flush=True)\n"
                                       f"subprocess.run(['sleep', '{marker}'])"))["run_id"]
    await who.client.until("run.output", run_id=run_id)
    started = time.monotonic()
    await who.client.close()  # the run ends by its wall clock at the latest
    await gone(f"sleep {marker}", WALL + 1 + (2 if IN_CI else 0.5))
    assert time.monotonic() - started < WALL + 1 + (2 if IN_CI else 0.5)
    await healthy(backend_node, await learner(backend_node))


async def test_many_parallel_runs_of_one_user(backend_node: RunningNode) -> None:
    account = await register(backend_node)
    sessions = []
    for _ in range(6):
        client = await open_client(backend_node, account.token)
        sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
        await client.ok("session.join", sid=sid, role="learner")
        sessions.append(Learner(client, sid))
    answers = [await s.client.request("code.run", sid=s.sid, mode="run",
                                      code="import time\ntime.sleep(1)\nprint('done')")
               for s in sessions]
    accepted = [(s, a["data"]["run_id"]) for s, a in zip(sessions, answers, strict=True)
                if a["ok"]]
    refused = [a for a in answers if not a["ok"]]
    assert len(accepted) == 3 and all(a["error"]["code"] == "busy" for a in refused), answers
    other = await learner(backend_node)
    done = await other.run("print('my turn')")  # another user is not starved
    assert done.text() == "my turn\n" and done.elapsed < 3
    for session, run_id in accepted:
        finished = await session.client.until("run.finished", within=WALL + 10, run_id=run_id)
        assert finished["data"]["exit_code"] == 0
    await healthy(backend_node, sessions[0])


async def test_a_run_id_of_another_user(backend_node: RunningNode) -> None:
    owner = await learner(backend_node)
    run_id = (await owner.client.ok("code.run", sid=owner.sid, mode="run",
                                    code="import time\ntime.sleep(1)\nprint('mine')"))["run_id"]
    stranger = await learner(backend_node)
    for sid in (owner.sid, stranger.sid):
        answer = await stranger.client.request("run.cancel", sid=sid, run_id=run_id)
        assert answer["ok"] is False and answer["error"]["code"] in ("forbidden", "not_found")
    finished = await owner.client.until("run.finished", run_id=run_id)
    assert finished["data"]["limit"] is None and finished["data"]["exit_code"] == 0
    await healthy(backend_node, owner)


async def test_javascript_runs_and_tests_in_both_backends(backend_node: RunningNode) -> None:
    who = await learner(backend_node, "js-running-sum")
    done = await who.run("console.log('hello', [1, 2].map((x) => x * 2).join(','));"
                         "process.stderr.write('warned\\n');")
    assert done.text() == "hello 2,4\n" and done.text("stderr") == "warned\n", done.data
    code = ("function runningSum(nums) {\n  let t = 0;\n  return nums.map((x) => (t += x));\n}\n")
    tested = await who.run(code, mode="test")
    assert tested.data["tests"] and all(t["passed"] for t in tested.data["tests"]), tested.data
    loop = await who.run("while (true) {}")
    contained(loop, "time")
    await healthy(backend_node, await learner(backend_node))


async def test_unread_stdin_does_not_stall_output(backend_node: RunningNode) -> None:
    # The harness's input pipe may be small (the kernel's per-user pipe budget): input the
    # program never reads must wait in the relay, not hold up the output it is writing.
    stdin = "x" * (60 * 1024) + "\n"
    for question, code in (
        ("js-running-sum",
         "for (let i = 0; i < 3000; i++) console.log('line', i, '.'.repeat(90));"),
        ("two-sum", "for i in range(3000):\n    print('line', i, '.' * 90)\n"),
    ):
        who = await learner(backend_node, question)
        done = await who.run(code, stdin=stdin)
        contained(done, None)
        assert done.data["exit_code"] == 0 and done.text().count("\n") == 3000, done.data
    await healthy(backend_node, who)
