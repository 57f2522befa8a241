"""The launch chain: sh (joins the slot cgroup) → prlimit → setpriv → bwrap → python harness."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import Process
from anyio.lowlevel import EventLoopToken, current_token

from sandbox.api import Limits
from sandbox.cgroup import SlotCgroup
from sandbox.languages import PYTHON, harness_command
from sandbox.seccomp import program

SEARCH_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
LAUNCHER_ENV = {"PATH": "/usr/bin:/bin"}  # the server's environment never reaches the chain
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class Slot:
    index: int
    uid: int | None  # None: not root, runs as the server's user
    cgroup: SlotCgroup | None  # None: degraded mode, rlimits only


@dataclass(frozen=True)
class Tools:
    sh: str
    prlimit: str
    setpriv: str | None  # None when not root: bwrap then runs as the server's user
    bwrap: str

    @classmethod
    def find(cls, root: bool) -> Tools:
        names = ["sh", "prlimit", "bwrap", *(["setpriv"] if root else [])]
        found = {name: shutil.which(name, path=SEARCH_PATH) or "" for name in names}
        missing = [name for name, path in found.items() if not path]
        missing += [] if os.path.exists(PYTHON) else [PYTHON]
        if missing:
            raise RuntimeError(f"process sandbox needs missing programs: {', '.join(missing)}")
        version = subprocess.run([found["bwrap"], "--version"], capture_output=True, text=True)
        # --disable-userns and --size appeared in bubblewrap 0.8.0
        if [int(part) for part in re.findall(r"\d+", version.stdout)[:2]] < [0, 8]:
            raise RuntimeError(f"process sandbox needs bubblewrap >= 0.8.0: {version.stdout}")
        setpriv = found.get("setpriv")
        return cls(found["sh"], found["prlimit"], setpriv, found["bwrap"])


def _root_entries() -> list[str]:
    """Mounts for /bin, /lib… : symlinks into /usr on merged-usr systems, read-only binds else."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


ROOT_ENTRIES = _root_entries()


@dataclass(frozen=True)
class Launched:
    """A started chain whose harness waits for its job; started early, it hides start-up time."""

    process: Process
    results_fd: int  # read end of the harness's report pipe
    loop: EventLoopToken  # the process belongs to this event loop
    language: str

    def usable(self) -> bool:
        return self.process.returncode is None and self.loop == current_token()

    async def discard(self) -> None:
        with contextlib.suppress(ProcessLookupError, RuntimeError):
            self.process.kill()
        if self.loop == current_token():  # another loop's process cannot be awaited here
            with anyio.move_on_after(1, shield=True):
                await self.process.aclose()
        os.close(self.results_fd)


def _filter_fd() -> int:
    """A pipe holding the seccomp program, for bwrap --seccomp to read once."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, program())  # a few hundred bytes: fits the pipe's buffer
    finally:
        os.close(write_fd)
    return read_fd


async def launch(tools: Tools, limits: Limits, slot: Slot, language: str = "python") -> Launched:
    read_fd, write_fd = os.pipe()
    filter_fd = _filter_fd()
    try:
        with anyio.CancelScope(shield=True):  # a half-started chain would escape the cleanup
            process = await anyio.open_process(
                launch_command(tools, limits, slot, write_fd, filter_fd, language),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd, filter_fd),
                env=LAUNCHER_ENV,
            )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
        os.close(filter_fd)
    return Launched(process, read_fd, current_token(), language)


def launch_command(tools: Tools, limits: Limits, slot: Slot, results_fd: int,
                   filter_fd: int, language: str = "python") -> list[str]:
    cpu = math.ceil(limits.wall_seconds) + 1
    # soft < hard so the kernel sends SIGXCPU (reported as TIME) before SIGKILL
    rlimits = [f"--cpu={cpu}:{cpu + 1}", f"--fsize={limits.file_bytes}", "--nofile=256", "--core=0"]
    if slot.cgroup is None:  # degraded mode: weak stand-ins for the cgroup limits
        rlimits.append(f"--as={limits.memory_bytes}")
        if slot.uid is not None:
            rlimits.append(f"--nproc={limits.processes}")
    command = [tools.prlimit, *rlimits, "--"]
    if tools.setpriv is not None and slot.uid is not None:
        command += [tools.setpriv, f"--reuid={slot.uid}", f"--regid={slot.uid}", "--clear-groups"]
        command += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    command += [tools.bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
    command += ["--die-with-parent", "--new-session", "--clearenv", "--seccomp", str(filter_fd)]
    for key, value in ENVIRONMENT.items():
        command += ["--setenv", key, value]
    command += ["--ro-bind", "/usr", "/usr", *ROOT_ENTRIES, "--proc", "/proc"]
    size = str(limits.file_bytes)  # writable space: only /tmp and /dev/shm, each this big
    command += ["--dev", "/dev", "--remount-ro", "/dev", "--size", size, "--tmpfs", "/dev/shm"]
    command += ["--size", size, "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/tmp"]
    command += ["--", *harness_command(language, results_fd)]
    if slot.cgroup is None:
        return command
    # joins the cgroup before exec, so not even the first instruction runs outside it
    joins = (f"echo $$ > {shlex.quote(str(path))}" for path in slot.cgroup.procs_files)
    return [tools.sh, "-c", f'{" && ".join(joins)} && exec "$@"', "sh", *command]
