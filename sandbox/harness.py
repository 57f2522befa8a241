"""Runs inside the sandbox (passed to python -c): reads one job frame, runs the learner's code.

Reports on the fd named by argv[1], one JSON line each: {"ready"}, one per call, {"exit"}.
Start-up matters: it imports only built-in modules until it needs more.
"""

from __future__ import annotations

import builtins
import io
import os
import sys

TYPE_CHECKING = False  # importing typing would cost start-up time; mypy still sees it
if TYPE_CHECKING:
    from typing import Any

HARNESS_FILE = "<string>"  # how python -c names this source in tracebacks
LEARNER_FILE = "main.py"
HARNESS = sys.modules[__name__]  # kept alive after the learner's module replaces __main__
PID = os.getpid()


class Reporter:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.write = os.write  # bound early: learner code may patch os

    def line(self, text: str) -> None:
        data = memoryview((text + "\n").encode())
        while data:
            data = data[self.write(self.fd, data) :]

    def result(self, name: str, value: Any) -> None:
        import json

        try:
            # NaN and infinities are not JSON: expected values can never be them.
            self.line(json.dumps({"name": name, "ok": True, "value": value}, allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            error = f"TypeError: result is not JSON-serialisable ({type(value).__name__})"
            self.failure(name, error)

    def failure(self, name: str, error: str) -> None:
        import json

        self.line(json.dumps({"name": name, "ok": False, "error": error}))


def read_job() -> Any:
    size = int.from_bytes(read_exact(4), "big")
    return parse_json(read_exact(size).decode())


def read_exact(size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(0, size)
        if not chunk:
            raise EOFError("job frame cut short")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def parse_json(text: str) -> Any:
    # the C scanner directly: `import json` pulls in re and enum, ~10 ms of start-up
    import _json

    class Context:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = float

    scanner: Any = _json.make_scanner(Context())  # type: ignore[arg-type]
    return scanner(text, 0)[0]


def summary(exc: BaseException) -> str:
    import traceback

    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def show_error(exc: BaseException, code: str) -> None:
    """Prints the traceback like python would, without the harness's own frames."""
    import linecache
    import traceback

    linecache.cache[LEARNER_FILE] = (len(code), None, code.splitlines(True), LEARNER_FILE)
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == HARNESS_FILE:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def limit_hint(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno in (27, 28, 122):  # EFBIG, ENOSPC, EDQUOT
        return "disk"
    return ""


def exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def leave_if_forked(status: int) -> None:
    """A child the learner forked ends here, quietly: it must not report as the harness."""
    if os.getpid() != PID:
        flush()
        os._exit(status)


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105  (contextlib would cost start-up time)
            stream.flush()
        except Exception:  # the learner may have closed or replaced it
            pass


def new_module(name: str) -> dict[str, Any]:
    module = type(sys)(name)
    sys.modules[name] = module
    return module.__dict__


def run_main(code: str) -> tuple[int, str]:
    status, hint = 0, ""
    try:
        exec(compile(code, LEARNER_FILE, "exec"), new_module("__main__"))
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException as exc:
        show_error(exc, code)
        status, hint = 1, limit_hint(exc)
    leave_if_forked(status)
    return status, hint


def run_calls(code: str, function: str, calls: list[Any], report: Reporter) -> tuple[int, str]:
    namespace = new_module("solution")
    status, hint, setup_error = 0, "", ""
    try:
        exec(compile(code, LEARNER_FILE, "exec"), namespace)
    except BaseException as exc:
        show_error(exc, code)
        status, hint, setup_error = 1, limit_hint(exc), summary(exc)
    leave_if_forked(status)
    for call in calls:
        if setup_error:
            report.failure(call["name"], setup_error)
            continue
        try:
            if function not in namespace:
                raise NameError(f"name '{function}' is not defined")
            value = namespace[function](*call["args"])
        except BaseException as exc:
            leave_if_forked(1)
            show_error(exc, code)
            hint = limit_hint(exc) or hint
            report.failure(call["name"], summary(exc))
            continue
        leave_if_forked(0)
        report.result(call["name"], value)
    return status, hint


def main() -> None:
    report = Reporter(int(sys.argv[1]))
    report.line('{"ready": true}')
    job = read_job()
    sys.stdin = io.StringIO(job["stdin"])
    sys.argv = [LEARNER_FILE]
    builtins.exit = builtins.quit = sys.exit  # type: ignore[assignment]  # -S skips site
    import _signal  # type: ignore[import-not-found]  # `signal` would import enum

    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)  # die on the file-size limit: DISK
    if job["calls"]:
        status, hint = run_calls(job["code"], job["function"] or "", job["calls"], report)
    else:
        status, hint = run_main(job["code"])
    flush()
    report.line(f'{{"exit": {status}, "hint": "{hint}"}}')
    raise SystemExit(status)


if __name__ == "__main__":
    main()
