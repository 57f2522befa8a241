"""The languages a run may use and the harness command of each, the same in both backends."""

from __future__ import annotations

from pathlib import Path

from sandbox.protocol import HARNESS_SOURCE

JS_HARNESS_SOURCE = (Path(__file__).parent / "harness.js").read_text()
PYTHON = "/usr/bin/python3"  # Debian's paths, on the host and in the runner image alike
NODE = "/usr/bin/node"
LANGUAGES = ("python", "javascript")


def harness_command(language: str, report_fd: int = 3) -> list[str]:
    """Interpreters run unbuffered, so output streams as it is written."""
    if language == "python":
        return [PYTHON, "-u", "-I", "-S", "-B", "-c", HARNESS_SOURCE, str(report_fd)]
    if language == "javascript":
        # stdout and stderr writes to pipes are synchronous in Node on Linux
        return [NODE, "-e", JS_HARNESS_SOURCE, str(report_fd)]
    raise ValueError(f"unsupported language: {language!r}")
