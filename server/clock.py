"""What time it is for jobs that act at people's local times: the system clock, or (tests and
drills) an instant read from a file, so a test can move time for a real running node."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import anyio


class Clock(Protocol):
    async def now(self) -> datetime: ...


class SystemClock:
    async def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """Now is the ISO-8601 instant in the file; no file, or an empty one, means real time."""

    def __init__(self, path: Path) -> None:
        self._path = anyio.Path(path)

    async def now(self) -> datetime:
        try:
            text = (await self._path.read_text("utf-8")).strip()
        except FileNotFoundError:
            text = ""
        if not text:
            return datetime.now(UTC)
        instant = datetime.fromisoformat(text)
        if instant.tzinfo is None:
            raise ValueError(f"the clock file {self._path} needs an instant with its offset")
        return instant.astimezone(UTC)


def clock_for(path: Path | None) -> Clock:
    return FileClock(path) if path is not None else SystemClock()
