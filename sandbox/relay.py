"""Runs as a sandbox container's first process (passed to python -c): starts the language
harness, then relays its stdout, stderr and report pipe as frames on the container's stdout.

Learner code never holds the container's stdout, and this process is not dumpable, so no
frame can be forged. Frames: one kind byte (1 stdout, 2 stderr, 3 report, x the end), a 4-byte
big-endian length, the bytes. Input on stdin: a 4-byte length and the harness's whole stdin;
any byte after that asks for the run to stop. The end frame carries the harness's exit status
and the container's memory and process counters, read from its own cgroup.
"""

from __future__ import annotations

import os
import select
import sys
import time

READ_BYTES = 65536
GRACE_SECONDS = 0.2  # after the harness ends: for output its children still hold to drain
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send(kind: bytes, data: bytes) -> None:
    write_all(1, kind + len(data).to_bytes(4, "big") + data)


def keep_private() -> None:
    """Not dumpable: processes of the same uid cannot open /proc/1/fd or ptrace this one."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def install_filter(program: bytes) -> None:
    """Loads a seccomp BPF program (struct sock_filter[]); the harness inherits it."""
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    fprog = SockFprog(len(program) // 8, program)
    # PR_SET_SECCOMP, SECCOMP_MODE_FILTER; no-new-privileges is already set by the engine
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


def start_harness(argv: list[str]) -> tuple[int, int, dict[int, bytes]]:
    """Forks the harness with fresh pipes on 0, 1, 2 and 3; returns pid, its stdin, readers."""
    stdin_r, stdin_w = os.pipe()
    import fcntl

    # room for the harness's input; past the per-user pipe budget (every container runs as
    # nobody) the kernel refuses, and the rest waits in the relay until the harness reads it
    try:  # noqa: SIM105  (contextlib would cost start-up time)
        fcntl.fcntl(stdin_w, 1031, 1 << 20)  # F_SETPIPE_SZ
    except OSError:
        pass
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for source, target in ((stdin_r, 0), (out_w, 1), (err_w, 2), (report_w, 3)):
            if source == target:
                os.set_inheritable(target, True)
            else:
                os.dup2(source, target)
        os.closerange(4, 65536)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    for fd in (stdin_r, out_w, err_w, report_w):
        os.close(fd)
    os.set_blocking(stdin_w, False)  # learner code that never reads stdin must not stall output
    return pid, stdin_w, {out_r: b"1", err_r: b"2", report_r: b"3"}


def kill_others() -> None:
    """As the namespace's first process, kill(-1) reaches every other process in it."""
    try:  # noqa: SIM105  (contextlib would cost start-up time)
        os.kill(-1, 9)
    except ProcessLookupError:
        pass


def counters() -> dict[str, int]:
    found: dict[str, int] = {}
    for name, path in (
        ("peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"),
        ("peak", "/sys/fs/cgroup/memory.peak"),
    ):
        value = read_number(path)
        if value is not None:
            found[name] = value
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        value = keyed(path).get("oom_kill")
        if value is not None:
            found["oom_kills"] = value
    for path in ("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"):
        value = keyed(path).get("max")
        if value is not None:
            found["pids_max"] = value
    return found


def read_number(path: str) -> int | None:
    try:
        with open(path) as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def keyed(path: str) -> dict[str, int]:
    try:
        with open(path) as file:
            pairs = [line.split() for line in file]
    except OSError:
        return {}
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].isdigit()}


class Relay:
    def __init__(self, argv: list[str]) -> None:
        self.pid, self.stdin, self.readers = start_harness(argv)
        self.wanted: int | None = None  # bytes of harness stdin still to pass on
        self.head = b""
        self.pending = bytearray()  # harness input the pipe could not take yet
        self.waiting = False
        self.status: int | None = None
        self.poller = select.poll()
        for fd in (0, *self.readers):
            self.poller.register(fd, select.POLLIN)
        try:
            self.pidfd: int | None = os.pidfd_open(self.pid)
            self.poller.register(self.pidfd, select.POLLIN)
        except (AttributeError, OSError):
            self.pidfd = None  # polled instead

    def run(self) -> None:
        deadline: float | None = None
        while self.readers:
            timeout = None if self.pidfd is not None else 20
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                timeout = int(left * 1000) + 1
            for fd, _ in self.poller.poll(timeout):
                if fd == 0:
                    self.from_server()
                elif fd == self.stdin:
                    self.flush()
                elif fd == self.pidfd:
                    self.poller.unregister(fd)
                elif fd in self.readers:
                    self.from_harness(fd)
            if self.status is None and self.reap():
                kill_others()  # what the learner left running ends with the harness
                deadline = time.monotonic() + GRACE_SECONDS
        kill_others()
        if not self.reap():  # its pipes can close a moment before it can be waited for
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        send(b"x", encode_end(self.status, counters()))

    def from_server(self) -> None:
        data = os.read(0, READ_BYTES)
        if not data:  # the server is gone: nobody reads what follows
            kill_others()
            os._exit(0)
        if self.wanted is None:
            self.head += data
            if len(self.head) < 4:
                return
            self.wanted = int.from_bytes(self.head[:4], "big")
            data, self.head = self.head[4:], b""
            self.pass_on(b"")
        if self.stdin >= 0:
            part, data = data[: self.wanted], data[self.wanted :]
            self.pass_on(part)
        if data:
            kill_others()  # asked to stop

    def pass_on(self, part: bytes) -> None:
        assert self.wanted is not None
        self.wanted -= len(part)
        self.pending += part
        self.flush()

    def flush(self) -> None:
        """Writes what the harness's stdin pipe takes now; closes it once all input is in."""
        try:
            while self.pending:
                del self.pending[: os.write(self.stdin, self.pending)]
        except BlockingIOError:
            pass
        except OSError:
            self.pending, self.wanted = bytearray(), 0  # the harness died before reading its input
        if bool(self.pending) != self.waiting:  # poll for room only while input is held back
            if self.pending:
                self.poller.register(self.stdin, select.POLLOUT)
            else:
                self.poller.unregister(self.stdin)
            self.waiting = bool(self.pending)
        if self.wanted == 0 and not self.pending:
            os.close(self.stdin)
            self.stdin = -1

    def from_harness(self, fd: int) -> None:
        data = os.read(fd, READ_BYTES)
        if data:
            send(self.readers[fd], data)
        else:
            self.poller.unregister(fd)
            os.close(fd)
            del self.readers[fd]

    def reap(self) -> bool:
        """Collects exited children; True once the harness itself has ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return self.status is not None
            if pid == 0:
                return self.status is not None
            if pid == self.pid:
                code = os.waitstatus_to_exitcode(status)
                self.status = code


def encode_end(status: int | None, found: dict[str, Any]) -> bytes:
    parts = [f'"exit": {"null" if status is None else status}']
    parts += [f'"{key}": {int(value)}' for key, value in found.items()]
    return ("{" + ", ".join(parts) + "}").encode()


def main() -> None:
    program = os.environ.pop("WINGMAN_SECCOMP", "")
    keep_private()
    if program:
        import binascii

        install_filter(binascii.a2b_base64(program))
    Relay(sys.argv[1:]).run()


if __name__ == "__main__":
    main()
