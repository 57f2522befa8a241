"""The fair queue: bounded places per user and in all, slots handed out user by user."""

from __future__ import annotations

import anyio
import pytest

from sandbox.queue import FairQueue, QueueFull


def test_places_are_bounded_per_user_and_in_all() -> None:
    queue = FairQueue(slots=1, waiting=2, per_owner=2)
    tickets = [queue.reserve("ann"), queue.reserve("ann")]
    with pytest.raises(QueueFull, match="per user"):
        queue.reserve("ann")
    tickets.append(queue.reserve("bob"))
    with pytest.raises(QueueFull, match="queue is full"):
        queue.reserve("cy")
    tickets[0].close()
    tickets[0].close()  # twice is once
    assert queue.held == 2
    queue.reserve("cy")


async def test_waiting_runs_take_turns_user_by_user() -> None:
    queue = FairQueue(slots=1, waiting=10, per_owner=10)
    order: list[str] = []
    gate = anyio.Event()

    async def run(owner: str) -> None:
        async with queue.turn(owner):
            order.append(owner)
            await gate.wait()

    async with anyio.create_task_group() as group:
        for owner in ("ann", "ann", "ann", "bob", "cy"):
            group.start_soon(run, owner)
            await anyio.sleep(0.01)
        assert queue.active == 1 and queue.waiting == 4
        gate.set()
    # after ann's first run, bob and cy come before ann's other two
    assert order == ["ann", "bob", "cy", "ann", "ann"]


async def test_a_waiter_that_gives_up_leaves_the_line() -> None:
    queue = FairQueue(slots=1, waiting=10, per_owner=10)
    async with queue.turn("ann"):
        with anyio.move_on_after(0.05):
            async with queue.turn("bob"):
                pytest.fail("bob got a slot that was taken")
        assert queue.waiting == 0
    assert queue.active == 0
