"""Real runs through the process sandbox: streaming, stdin, calls mode, exit codes."""

from __future__ import annotations

import os
import time

import anyio
import pytest

from sandbox import Call, Limits, ProcessSandbox, RunRequest, Stream
from tests.sandbox.support import FIRST_UID, SLOTS, Output, SandboxFactory, run


async def test_hello_world_streams(sandbox: ProcessSandbox) -> None:
    outcome, output = await run(sandbox, "print('hi')")
    assert output.text() == "hi\n"
    assert outcome.exit_code == 0
    assert outcome.limit is None
    assert outcome.results == ()


async def test_output_arrives_while_running(sandbox: ProcessSandbox) -> None:
    code = "import time\nprint('first')\ntime.sleep(1.5)\nprint('second')"
    outcome, output = await run(sandbox, code)
    returned = time.monotonic()
    assert output.text() == "first\nsecond\n"
    first_at, _, first_text = output.chunks[0]
    assert first_text == "first\n"
    assert returned - first_at > 1.0
    assert outcome.limit is None


async def test_stdin_is_readable(sandbox: ProcessSandbox) -> None:
    code = "import sys\nname = input()\nprint('hello', name)\nprint(sys.stdin.read().upper())"
    outcome, output = await run(sandbox, code, stdin="ada\nrest\nof it\n")
    assert output.text() == "hello ada\nREST\nOF IT\n\n"
    assert outcome.exit_code == 0


async def test_runs_as_main_with_exit_codes(sandbox: ProcessSandbox) -> None:
    outcome, output = await run(sandbox, "if __name__ == '__main__':\n    exit(3)")
    assert outcome.exit_code == 3
    outcome, output = await run(sandbox, "import sys\nsys.exit('bye')")
    assert (outcome.exit_code, output.text(Stream.STDERR)) == (1, "bye\n")


async def test_traceback_shows_learner_frames_only(sandbox: ProcessSandbox) -> None:
    outcome, output = await run(sandbox, "def f():\n    return 1 / 0\n\nf()\n")
    stderr = output.text(Stream.STDERR)
    assert outcome.exit_code == 1
    assert stderr.startswith('Traceback (most recent call last):\n  File "main.py", line 4')
    assert "return 1 / 0" in stderr
    assert stderr.endswith("ZeroDivisionError: division by zero\n")
    assert "<string>" not in stderr


async def test_signal_death_is_a_negative_exit_code(sandbox: ProcessSandbox) -> None:
    outcome, _ = await run(sandbox, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")
    assert outcome.exit_code == -15
    assert outcome.limit is None


async def test_calls_return_values_and_errors(sandbox: ProcessSandbox) -> None:
    code = "def f(a, b):\n    print('called', a, b)\n    return a / b if b != 2 else {a}\n"
    calls = (Call("ok", [6, 3]), Call("zero", [1, 0]), Call("set", [1, 2]), Call("list", [[1], 1]))
    outcome, output = await run(sandbox, code, function="f", calls=calls)
    ok, zero, unserialisable, wrong_type = outcome.results
    assert (ok.name, ok.ok, ok.value, ok.error) == ("ok", True, 2.0, None)
    assert (zero.name, zero.ok, zero.error) == (
        "zero",
        False,
        "ZeroDivisionError: division by zero",
    )
    assert unserialisable.error == "TypeError: result is not JSON-serialisable (set)"
    assert wrong_type.error is not None and wrong_type.error.startswith("TypeError:")
    assert output.text() == "called 6 3\ncalled 1 0\ncalled 1 2\ncalled [1] 1\n"
    assert "ZeroDivisionError" in output.text(Stream.STDERR)
    assert outcome.limit is None


async def test_calls_do_not_run_the_main_block(sandbox: ProcessSandbox) -> None:
    code = "def g(x):\n    return [x, x]\n\nif __name__ == '__main__':\n    input()\n"
    outcome, _ = await run(sandbox, code, function="g", calls=(Call("a", ["x"]), Call("b", [None])))
    assert [(result.ok, result.value) for result in outcome.results] == [
        (True, ["x", "x"]),
        (True, [None, None]),
    ]


async def test_calls_report_a_broken_module_for_every_call(sandbox: ProcessSandbox) -> None:
    calls = (Call("a", []), Call("b", []))
    outcome, output = await run(sandbox, "def f(:\n    pass", function="f", calls=calls)
    assert [result.ok for result in outcome.results] == [False, False]
    assert all("SyntaxError" in str(result.error) for result in outcome.results)
    assert "SyntaxError" in output.text(Stream.STDERR)
    outcome, _ = await run(sandbox, "x = 1", function="f", calls=calls[:1])
    assert outcome.results[0].error == "NameError: name 'f' is not defined"


async def test_invalid_utf8_becomes_replacement_characters(sandbox: ProcessSandbox) -> None:
    code = "import sys\nsys.stdout.buffer.write(b'a\\xffb\\xe2\\x82\\xacc\\xe2\\x82')"
    _outcome, output = await run(sandbox, code)
    assert output.text() == "a\ufffdb€c\ufffd"


async def test_unknown_language_is_rejected(sandbox: ProcessSandbox) -> None:
    with pytest.raises(ValueError, match="ruby"):
        await sandbox.run(RunRequest("ruby", "puts 1"), Output(), anyio.Event())


async def test_environment_is_clean(
    sandbox: ProcessSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINGMAN_SECRET", "hunter2")
    _outcome, output = await run(sandbox, "import os\nprint(sorted(os.environ.items()))")
    assert "hunter2" not in output.text()
    assert "('HOME', '/tmp')" in output.text()
    assert "('PATH', '/usr/bin:/bin')" in output.text()


async def test_runs_as_the_slot_user(sandbox: ProcessSandbox) -> None:
    _outcome, output = await run(
        sandbox, "import os\nprint(os.getuid(), os.getgid(), os.getgroups())"
    )
    uid, gid, groups = output.text().split(" ", 2)
    if os.geteuid() == 0:
        assert FIRST_UID <= int(uid) < FIRST_UID + SLOTS
        assert (gid, groups) == (uid, "[]\n")
    assert int(uid) != 0


async def test_four_runs_in_parallel(sandbox: ProcessSandbox) -> None:
    outputs: dict[int, str] = {}
    started = time.monotonic()

    async def one(index: int) -> None:
        outcome, output = await run(sandbox, f"import time\ntime.sleep(1)\nprint({index})")
        assert outcome.exit_code == 0
        outputs[index] = output.text()

    async with anyio.create_task_group() as group:
        for index in range(SLOTS):
            group.start_soon(one, index)
        await anyio.sleep(0.5)
        assert sandbox.active == SLOTS
    assert outputs == {index: f"{index}\n" for index in range(SLOTS)}
    assert time.monotonic() - started < 1.9
    assert sandbox.active == 0


async def test_runs_beyond_the_slots_wait_their_turn(sandbox: ProcessSandbox) -> None:
    codes: list[int | None] = []

    async def one() -> None:
        outcome, _ = await run(sandbox, "import time\ntime.sleep(0.5)")
        codes.append(outcome.exit_code)

    async with anyio.create_task_group() as group:
        for _ in range(SLOTS + 2):
            group.start_soon(one)
        await anyio.sleep(0.2)
        assert (sandbox.active, sandbox.queued) == (SLOTS, 2)
    assert codes == [0] * (SLOTS + 2)


async def test_closed_sandbox_refuses_runs(open_sandbox: SandboxFactory) -> None:
    sandbox = open_sandbox(Limits())
    await sandbox.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await run(sandbox, "print(1)")
