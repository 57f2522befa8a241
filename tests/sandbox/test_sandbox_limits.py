"""Limits and containment: time, memory, processes, output, disk, cancellation, leftovers."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import anyio
import pytest

from sandbox import Limit, Limits, ProcessSandbox, Stream
from tests.sandbox.support import (
    FIRST_UID,
    SLOTS,
    TEST_LIMITS,
    SandboxFactory,
    require,
    run,
    slot_processes,
)

WALL = TEST_LIMITS.wall_seconds
PROJECT = Path(__file__).resolve().parents[2]


async def test_infinite_loop_hits_the_wall_clock(sandbox: ProcessSandbox) -> None:
    started = time.monotonic()
    outcome, _ = await run(sandbox, "while True:\n    pass")
    assert outcome.limit == Limit.TIME
    assert outcome.exit_code is None
    assert WALL <= time.monotonic() - started < WALL + 1


async def test_closed_stdout_and_sleep_hits_the_wall_clock(sandbox: ProcessSandbox) -> None:
    started = time.monotonic()
    outcome, _ = await run(sandbox, "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(100)")
    assert outcome.limit == Limit.TIME
    assert time.monotonic() - started < WALL + 1


async def test_memory_hog_hits_the_memory_limit(enforced: ProcessSandbox) -> None:
    outcome, _ = await run(enforced, "hog = b'x' * (512 * 1024 * 1024)\nprint('survived')")
    assert outcome.limit == Limit.MEMORY
    assert outcome.peak_memory_kib > 64 * 1024


async def test_peak_memory_is_per_run(enforced: ProcessSandbox) -> None:
    await run(enforced, "hog = b'x' * (80 * 1024 * 1024)")
    outcome, _ = await run(enforced, "print(1)")
    assert 0 < outcome.peak_memory_kib < 40 * 1024


async def test_fork_bomb_is_contained(enforced: ProcessSandbox) -> None:
    started = time.monotonic()
    outcome, _ = await run(enforced, "import os\nwhile True:\n    os.fork()")
    assert outcome.limit in (Limit.PROCESSES, Limit.TIME)
    assert time.monotonic() - started < WALL + 1
    assert slot_processes() == []


async def test_process_limit_is_reported(enforced: ProcessSandbox) -> None:
    code = "import subprocess\nprocs = [subprocess.Popen(['sleep', '5']) for _ in range(100)]"
    outcome, output = await run(enforced, code)
    assert outcome.limit == Limit.PROCESSES
    assert "BlockingIOError" in output.text(Stream.STDERR)
    assert slot_processes() == []


async def test_background_processes_are_gone_after_the_run(enforced: ProcessSandbox) -> None:
    code = (
        "import os, subprocess, time\n"
        "subprocess.Popen(['sleep', '100'], start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(100)\n"
        "print('parent done')\n"
    )
    outcome, output = await run(enforced, code)
    assert output.text() == "parent done\n"
    assert outcome.exit_code == 0
    assert slot_processes() == []


async def test_huge_single_line_hits_the_output_cap(sandbox: ProcessSandbox) -> None:
    started = time.monotonic()
    outcome, output = await run(sandbox, "print('x' * (20 * 1024 * 1024))")
    assert outcome.limit == Limit.OUTPUT
    assert output.text() == "x" * TEST_LIMITS.output_bytes
    assert time.monotonic() - started < 2


async def test_stderr_flood_hits_the_output_cap(sandbox: ProcessSandbox) -> None:
    started = time.monotonic()
    outcome, output = await run(sandbox, "import sys\nwhile True:\n    sys.stderr.write('e' * 999)")
    assert outcome.limit == Limit.OUTPUT
    assert len(output.text(Stream.STDERR)) == TEST_LIMITS.output_bytes
    assert time.monotonic() - started < 2


async def test_big_file_hits_the_disk_limit(sandbox: ProcessSandbox) -> None:
    code = "with open('/tmp/big', 'wb') as f:\n    f.write(b'x' * (32 * 1024 * 1024))"
    outcome, _ = await run(sandbox, code)
    assert outcome.limit == Limit.DISK


async def test_cancel_event_stops_the_run(sandbox: ProcessSandbox) -> None:
    cancel = anyio.Event()
    result = []

    async def cancel_soon() -> None:
        await anyio.sleep(0.5)
        cancel.set()

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(cancel_soon)
        result.append(await run(sandbox, "while True:\n    pass", cancel=cancel))
    outcome, _ = result[0]
    assert outcome.limit == Limit.CANCELLED
    assert outcome.exit_code is None
    assert time.monotonic() - started < 1.5


async def test_cancelling_the_caller_kills_the_run(enforced: ProcessSandbox) -> None:
    code = (
        "import subprocess, time\nsubprocess.Popen(['sleep', '100'])\nprint('go')\ntime.sleep(100)"
    )
    started = time.monotonic()
    with anyio.move_on_after(0.5):
        await run(enforced, code)
    assert time.monotonic() - started < 1.5
    assert slot_processes() == []
    assert enforced.active == 0
    _outcome, output = await run(enforced, "print('next')")
    assert output.text() == "next\n"


async def test_network_is_unreachable(sandbox: ProcessSandbox) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            f"for port in ({port}, 6379):\n"
            "    try:\n"
            "        socket.create_connection(('127.0.0.1', port), timeout=1)\n"
            "        print('connected')\n"
            "    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n"
        )
        _outcome, output = await run(sandbox, code)
    assert "connected" not in output.text()
    assert output.text().count("refused") == 2


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", "/root", str(PROJECT)])
async def test_private_files_are_unreadable(sandbox: ProcessSandbox, path: str) -> None:
    code = (
        "import os\n"
        f"path = {path!r}\n"
        "try:\n"
        "    print(os.listdir(path) if os.path.isdir(path) else open(path).read())\n"
        "except OSError as exc:\n"
        "    print('denied', type(exc).__name__)\n"
    )
    _outcome, output = await run(sandbox, code)
    assert output.text().startswith("denied"), output.text()


async def test_filesystem_is_only_usr_and_scratch(sandbox: ProcessSandbox) -> None:
    code = (
        "import os\n"
        "print(sorted(os.listdir('/')))\n"
        "for path in ('/usr/x', '/x', '/dev/x', '/tmp/x', '/dev/shm/x'):\n"
        "    try:\n"
        "        open(path, 'w').close()\n"
        "        print(path)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    _outcome, output = await run(sandbox, code)
    listing, *writable = output.text().splitlines()
    allowed = {"bin", "dev", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    assert set(eval(listing)) <= allowed
    assert writable == ["/tmp/x", "/dev/shm/x"]


async def test_strict_mode_refuses_without_cgroups(
    open_sandbox: SandboxFactory, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="cannot enforce memory/process limits"):
        open_sandbox(TEST_LIMITS, strict=True, cgroup_root=tmp_path)


async def test_degraded_mode_warns_and_uses_rlimits(
    open_sandbox: SandboxFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = open_sandbox(TEST_LIMITS, cgroup_root=tmp_path)
    assert "cannot enforce memory/process limits" in caplog.text
    assert not sandbox.enforced
    outcome, output = await run(sandbox, "print('hi')")
    assert (outcome.exit_code, output.text()) == (0, "hi\n")
    outcome, _ = await run(sandbox, "hog = b'x' * (512 * 1024 * 1024)")
    assert outcome.limit == Limit.MEMORY


async def test_slots_are_exclusive_per_uid_range(
    enforced: ProcessSandbox, open_sandbox: SandboxFactory
) -> None:
    with pytest.raises(RuntimeError, match="another process sandbox"):
        open_sandbox(TEST_LIMITS)
    other = open_sandbox(TEST_LIMITS, slots=1, first_uid=FIRST_UID + SLOTS)
    _outcome, output = await run(other, "import os\nprint(os.getuid())")
    assert output.text() == f"{FIRST_UID + SLOTS}\n"


async def test_spare_chains_wait_between_runs_and_die_on_close(
    open_sandbox: SandboxFactory,
) -> None:
    sandbox = open_sandbox(TEST_LIMITS)
    require(sandbox.enforced, "root and cgroup memory/pids controllers")
    await run(sandbox, "print(1)")
    for _ in range(200):  # the spare harness drops to the slot uid once its chain is up
        if slot_processes():
            break
        await anyio.sleep(0.01)
    assert slot_processes() != []
    outcome, output = await run(sandbox, "print(2)")
    assert (outcome.exit_code, output.text()) == (0, "2\n")
    await sandbox.aclose()
    assert slot_processes() == []


async def test_cgroups_are_removed_on_close(open_sandbox: SandboxFactory) -> None:
    sandbox = open_sandbox(Limits())
    require(sandbox.enforced, "root and cgroup memory/pids controllers")
    await sandbox.aclose()
    root = Path("/sys/fs/cgroup")
    slot = Path("wingman-sandbox") / str(FIRST_UID)
    assert not any((root / part / slot).exists() for part in ("", "memory", "pids"))
