"""The runner image, built here from Debian packages with no registry: debootstrap a minimal
Debian with Python 3 and Node.js, import it as a base image, then a runner image on top."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker

from sandbox.docker import LABEL, RUNNER_USER

log = logging.getLogger("wingman.sandbox.image")

# python3-venv: the server's own Dockerfile builds from the same base in CI.
PACKAGES = ("python3", "python3-venv", "nodejs", "ca-certificates")
RUNNER_DOCKERFILE = f"""FROM {{base}}
LABEL {LABEL}.image=runner
USER {RUNNER_USER}
WORKDIR /tmp
"""


@dataclass(frozen=True)
class ImageNames:
    base: str  # plain Debian with the interpreters; the server's Dockerfile may start from it
    runner: str  # what each sandbox container runs


def debootstrap(target: Path, suite: str, mirror: str) -> None:
    """A minimal Debian tree in target, from the Debian archive (packages verified by apt keys)."""
    tool = shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if tool is None:
        raise RuntimeError("building the runner image needs debootstrap (apt-get install it)")
    include = ",".join(PACKAGES)
    subprocess.run([tool, "--variant=minbase", f"--include={include}", suite, str(target),
                    mirror], check=True, stdout=subprocess.DEVNULL)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (target / leftover).glob("*"):
            if path.is_file():
                path.unlink()


def _context(files: dict[str, Path | bytes]) -> io.BufferedRandom:
    """A build context (tar) on disk: the rootfs tar may be a few hundred MiB."""
    context = tempfile.TemporaryFile()  # noqa: SIM115  (the caller closes it)
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, source in files.items():
            if isinstance(source, Path):
                tar.add(source, arcname=name)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(source)
                tar.addfile(info, io.BytesIO(source))
    context.seek(0)
    return context


def _rootfs_tar(rootfs: Path, into: Path) -> Path:
    tar_path = into / "rootfs.tar"
    # numeric owners as they are in the tree (root), whatever the host's names
    subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tar_path), "."],
                   check=True)
    return tar_path


async def _build(docker: aiodocker.Docker, tag: str, files: dict[str, Path | bytes],
                 say: Callable[[str], None]) -> None:
    context = _context(files)
    try:
        stream: Any = docker.images.build(fileobj=context, encoding="identity", tag=tag,
                                          rm=True, forcerm=True, stream=True)
        async for line in stream:
            if "error" in line:
                raise RuntimeError(f"building {tag} failed: {line['error']}")
            text = str(line.get("stream", "")).strip()
            if text:
                say(text)
    finally:
        context.close()


async def build_images(docker: aiodocker.Docker, names: ImageNames, suite: str, mirror: str,
                       say: Callable[[str], None] = print, rebuild: bool = False) -> None:
    if rebuild or not await _exists(docker, names.base):
        with tempfile.TemporaryDirectory(prefix="wingman-rootfs-") as work:
            rootfs = Path(work) / "rootfs"
            say(f"debootstrap {suite} from {mirror} with {', '.join(PACKAGES)}")
            debootstrap(rootfs, suite, mirror)
            tar_path = _rootfs_tar(rootfs, Path(work))
            shutil.rmtree(rootfs)
            dockerfile = b"FROM scratch\nADD rootfs.tar /\nCMD [\"/bin/bash\"]\n"
            await _build(docker, names.base, {"Dockerfile": dockerfile, "rootfs.tar": tar_path},
                         say)
    dockerfile = RUNNER_DOCKERFILE.format(base=names.base).encode()
    await _build(docker, names.runner, {"Dockerfile": dockerfile}, say)
    say(f"built {names.runner} on {names.base}")


async def _exists(docker: aiodocker.Docker, name: str) -> bool:
    try:
        await docker.images.inspect(name)
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise
    return True
