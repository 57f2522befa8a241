"""Turns at the sandbox's slots: a bounded number of runs held per user and in all, and when
the slots are full, waiting runs take turns user by user (round robin), so one user with many
runs cannot starve another's."""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio


class QueueFull(Exception):
    """No room for another run; the message says whose limit it is."""


class Ticket:
    """A run's place: taken when the run is accepted, given back once it has finished."""

    def __init__(self, queue: FairQueue, owner: str) -> None:
        self.queue, self.owner = queue, owner
        self.closed = False

    def turn(self) -> AbstractAsyncContextManager[None]:
        return self.queue.turn(self.owner)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.give_back(self)


class FairQueue:
    def __init__(self, slots: int, waiting: int, per_owner: int) -> None:
        self.slots, self.waiting_limit, self.per_owner = slots, waiting, per_owner
        self._free = slots
        self._lines: OrderedDict[str, deque[anyio.Event]] = OrderedDict()
        self._tickets: Counter[str] = Counter()
        self._served: dict[str, int] = {}  # when each user last got a slot
        self._clock = 0

    @property
    def active(self) -> int:
        return self.slots - self._free

    @property
    def waiting(self) -> int:
        return sum(len(line) for line in self._lines.values())

    @property
    def held(self) -> int:
        return self._tickets.total()

    def reserve(self, owner: str) -> Ticket:
        if self._tickets[owner] >= self.per_owner:
            raise QueueFull(f"at most {self.per_owner} runs at a time per user; try again soon")
        if self.held >= self.slots + self.waiting_limit:
            raise QueueFull("the sandbox queue is full; try again soon")
        self._tickets[owner] += 1
        return Ticket(self, owner)

    def give_back(self, ticket: Ticket) -> None:
        self._tickets[ticket.owner] -= 1
        if self._tickets[ticket.owner] <= 0:
            del self._tickets[ticket.owner]
            if ticket.owner not in self._lines:
                self._served.pop(ticket.owner, None)

    @asynccontextmanager
    async def turn(self, owner: str) -> AsyncIterator[None]:
        if self._free > 0 and not self._lines:
            self._free -= 1
            self._stamp(owner)
        else:
            granted = anyio.Event()
            self._lines.setdefault(owner, deque()).append(granted)
            try:
                await granted.wait()
            except BaseException:
                if granted.is_set():
                    self._pass_on()  # handed a slot just as it stopped waiting
                else:
                    self._leave(owner, granted)
                raise
        try:
            yield
        finally:
            self._pass_on()

    def _leave(self, owner: str, granted: anyio.Event) -> None:
        line = self._lines[owner]
        line.remove(granted)
        if not line:
            del self._lines[owner]

    def _stamp(self, owner: str) -> None:
        self._clock += 1
        self._served[owner] = self._clock

    def _pass_on(self) -> None:
        """The freed slot goes to the waiting user served least recently."""
        if not self._lines:
            self._free += 1
            return
        owner = min(self._lines, key=lambda name: self._served.get(name, 0))
        line = self._lines[owner]
        granted = line.popleft()
        if not line:
            del self._lines[owner]
        self._stamp(owner)
        granted.set()
