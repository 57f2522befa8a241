"""Fixtures for real sandbox runs: they need bubblewrap, and root for the cgroup limits."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sandbox import Limits, ProcessSandbox, open_process_sandbox
from sandbox.launch import SEARCH_PATH
from tests.sandbox.support import FIRST_UID, SLOTS, TEST_LIMITS, SandboxFactory, require


@pytest.fixture
async def open_sandbox() -> AsyncIterator[SandboxFactory]:
    require(shutil.which("bwrap", path=SEARCH_PATH) is not None, "bubblewrap (bwrap) installed")
    opened: list[ProcessSandbox] = []

    def factory(limits: Limits = TEST_LIMITS, **options: Any) -> ProcessSandbox:
        options.setdefault("slots", SLOTS)
        options.setdefault("first_uid", FIRST_UID)
        opened.append(open_process_sandbox(limits, **options))
        return opened[-1]

    yield factory
    for sandbox in opened:
        await sandbox.aclose()


@pytest.fixture
def sandbox(open_sandbox: SandboxFactory) -> ProcessSandbox:
    return open_sandbox()


@pytest.fixture
def enforced(open_sandbox: SandboxFactory) -> ProcessSandbox:
    """Cgroup-enforced limits and no spare chains, so any slot process left after a run leaked."""
    sandbox = open_sandbox(spares=False)
    require(sandbox.enforced, "root and cgroup memory/pids controllers")
    return sandbox
