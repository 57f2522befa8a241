"""The Docker backend: each run gets a fresh container of the runner image, taken warm from a
pool per language, with no network, a read-only root, a small tmpfs, no capabilities, a
non-root user and memory, process, CPU, file and output limits; killed and removed after."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
import anyio

from sandbox.api import Limit, Limits, OutputSink, RunOutcome, RunRequest
from sandbox.container_run import ContainerRun, Warm
from sandbox.languages import LANGUAGES, PYTHON, harness_command
from sandbox.queue import FairQueue, Ticket
from sandbox.seccomp import program

LABEL = "org.socraticwingman.sandbox"
RUNNER_USER = "65534:65534"  # nobody: owns nothing in the image
RELAY_SOURCE = (Path(__file__).parent / "relay.py").read_text()
ENVIRONMENT = ["PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"]
REMOVE_SECONDS = 10.0
OWNER = f"{socket.gethostname()}:{os.getpid()}"  # which server process started a container

log = logging.getLogger("wingman.sandbox.docker")


class EngineUnavailable(RuntimeError):
    """No Docker engine answers, or it cannot enforce the limits; the message says which."""


def container_config(image: str, language: str, limits: Limits, node: str,
                     cpus: float) -> dict[str, Any]:
    filter_program = base64.b64encode(program()).decode()
    command = [PYTHON, "-I", "-S", "-B", "-c", RELAY_SOURCE, *harness_command(language, 3)]
    return {
        "Image": image,
        "Cmd": command,
        "Entrypoint": [],
        "Env": [*ENVIRONMENT, f"WINGMAN_SECCOMP={filter_program}"],
        "User": RUNNER_USER,
        "WorkingDir": "/tmp",
        "AttachStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
        "OpenStdin": True,
        "StdinOnce": True,  # the server hanging up closes stdin: the relay ends the container
        "Tty": False,
        "NetworkDisabled": True,
        "Labels": {LABEL: node, f"{LABEL}.language": language, f"{LABEL}.owner": OWNER},
        "HostConfig": {
            "NetworkMode": "none",
            "ReadonlyRootfs": True,
            "Tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.file_bytes},mode=1777"},
            "ShmSize": limits.file_bytes,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Privileged": False,
            "Memory": limits.memory_bytes,
            "MemorySwap": limits.memory_bytes,  # swap included: no swap at all
            "PidsLimit": limits.processes + 1,  # + the relay
            "NanoCpus": int(cpus * 1e9),
            "Ulimits": [
                {"Name": "nofile", "Soft": 256, "Hard": 256},
                {"Name": "fsize", "Soft": limits.file_bytes, "Hard": limits.file_bytes},
                {"Name": "core", "Soft": 0, "Hard": 0},
            ],
            "IpcMode": "private",
            "LogConfig": {"Type": "none"},  # output goes to the server only, never to a host file
            "AutoRemove": True,
            "Init": False,
            "OomScoreAdj": 500,
        },
    }


class ContainerPool:
    """Started containers waiting for a job, per language, so a run's first output comes fast."""

    def __init__(self, docker: aiodocker.Docker, image: str, limits: Limits, node: str,
                 size: int, cpus: float) -> None:
        self.docker, self.size = docker, size
        self._configs = {lang: container_config(image, lang, limits, node, cpus)
                         for lang in LANGUAGES}
        self._ready: dict[str, list[Warm]] = {lang: [] for lang in LANGUAGES}
        self._starting: dict[str, int] = dict.fromkeys(LANGUAGES, 0)
        # Runs that found no started container of their language and waited for one.
        self.misses: dict[str, int] = dict.fromkeys(LANGUAGES, 0)
        self.closed = False

    def ready(self, language: str) -> int:
        return len(self._ready[language])

    async def start(self, language: str) -> Warm:
        """A new container, attached before it starts so no byte of its output is missed."""
        container = await self.docker.containers.create(self._configs[language])
        stream = container.attach(stdin=True, stdout=True, stderr=True)
        try:
            await stream.__aenter__()
            await container.start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.close()
                await remove(container)
            raise
        return Warm(container, stream, language)

    async def take(self, language: str) -> Warm:
        ready = self._ready[language]
        if ready:
            return ready.pop()
        self.misses[language] += 1
        return await self.start(language)

    async def refill(self, language: str) -> None:
        while not self.closed and len(self._ready[language]) + self._starting[language] < self.size:
            self._starting[language] += 1
            try:
                warm = await self.start(language)
            except aiodocker.DockerError:
                log.exception("cannot start a %s container for the pool", language)
                return
            finally:
                self._starting[language] -= 1
            if self.closed:
                await warm.discard()
                return
            self._ready[language].append(warm)

    async def aclose(self) -> None:
        self.closed = True
        for ready in self._ready.values():
            while ready:
                await ready.pop().discard()


async def remove(container: Any) -> None:
    with anyio.move_on_after(REMOVE_SECONDS, shield=True), contextlib.suppress(
        aiodocker.DockerError
    ):
        await container.delete(force=True)


class DockerSandbox:
    name = "docker"

    def __init__(self, docker: aiodocker.Docker, pool: ContainerPool, limits: Limits,
                 queue: FairQueue) -> None:
        self.docker, self.pool, self.limits, self.queue = docker, pool, limits, queue
        self._closed = False

    @property
    def active(self) -> int:
        return self.queue.active

    @property
    def queued(self) -> int:
        return self.queue.waiting

    def reserve(self, owner: str) -> Ticket:
        return self.queue.reserve(owner)

    async def run(self, request: RunRequest, on_output: OutputSink, cancel: anyio.Event,
                  ticket: Ticket | None = None) -> RunOutcome:
        if request.language not in LANGUAGES:
            raise ValueError(f"unsupported language: {request.language!r}")
        if request.calls and not request.function:
            raise ValueError("calls need a function to call")
        if self._closed:
            raise RuntimeError("docker sandbox is closed")
        async with self.queue.turn(ticket.owner if ticket else ""):
            try:
                warm = await self.pool.take(request.language)
            except aiodocker.DockerError:
                log.exception("cannot start a sandbox container")
                return RunOutcome(None, 0, 0, Limit.LOST, ())
            async with anyio.create_task_group() as refill:
                # the next run's container starts while this one runs
                refill.start_soon(self.pool.refill, request.language)
                outcome = await ContainerRun(self.limits, warm, on_output).run(request, cancel)
        return outcome

    async def warm_up(self) -> None:
        for language in LANGUAGES:
            await self.pool.refill(language)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self.pool.aclose()
            await self.docker.close()


@dataclass(frozen=True)
class Engine:
    """What a node needs to know about its engine before it trusts it with runs."""

    version: str
    problems: tuple[str, ...]


async def check_engine(docker: aiodocker.Docker, image: str, within: float = 3.0) -> Engine:
    try:
        with anyio.fail_after(within):
            info = await docker.system.info()
            version = await docker.version()
            await docker.images.inspect(image)
    except TimeoutError as exc:
        raise EngineUnavailable(f"the Docker engine did not answer within {within:g} s") from exc
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            raise EngineUnavailable(
                f"the runner image {image} is missing; build it with `wingman sandbox build-image`"
            ) from exc
        raise EngineUnavailable(f"the Docker engine refused: {exc.message}") from exc
    except OSError as exc:
        raise EngineUnavailable(f"no Docker engine answers: {exc}") from exc
    problems = [what for key, what in (("MemoryLimit", "memory limits"),
                                       ("SwapLimit", "swap limits"),
                                       ("PidsLimit", "process limits"),
                                       ("CpuCfsQuota", "CPU limits")) if not info.get(key)]
    if not any("seccomp" in option for option in info.get("SecurityOptions") or []):
        problems.append("seccomp")
    return Engine(str(version.get("Version", "")), tuple(problems))


def _left_behind(labels: dict[str, str]) -> bool:
    """True unless a live process on this host other than this one started it (in tests, nodes
    with the same NODE_ID share an engine)."""
    host, _, pid = labels.get(f"{LABEL}.owner", "").partition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def sweep(docker: aiodocker.Docker, node: str) -> int:
    """Removes the containers a previous process of this node left behind."""
    found = await docker.containers.list(all=True, filters={"label": [f"{LABEL}={node}"]})
    left = [c for c in found if _left_behind(c._container.get("Labels") or {})]
    for container in left:
        await remove(container)
    return len(left)


async def open_docker_sandbox(limits: Limits, image: str, node: str, *, slots: int = 4,
                              waiting: int = 32, per_owner: int = 4, pool_size: int = 2,
                              cpus: float = 1.0, url: str | None = None) -> DockerSandbox:
    """Raises EngineUnavailable when no engine answers or it cannot enforce the limits."""
    try:
        docker = aiodocker.Docker(url=url)
    except (ValueError, OSError) as exc:
        raise EngineUnavailable(f"no Docker engine: {exc}") from exc
    try:
        engine = await check_engine(docker, image)
        if engine.problems:
            raise EngineUnavailable(
                f"the Docker engine cannot enforce {', '.join(engine.problems)}")
        swept = await sweep(docker, node)
        if swept:
            log.info("removed %d sandbox containers left by a previous run of %s", swept, node)
        pool = ContainerPool(docker, image, limits, node, pool_size, cpus)
        sandbox = DockerSandbox(docker, pool, limits, FairQueue(slots, waiting, per_owner))
        await sandbox.warm_up()
    except BaseException:
        await docker.close()
        raise
    log.info("docker sandbox on engine %s, image %s, %d warm per language", engine.version,
             image, pool_size)
    return sandbox
