"""The in-process bus keeps the same contract as the Redis one: one order, compare-and-set on
the decision version, a refusal after the end, and a lost counter reported rather than remade."""

from __future__ import annotations

import pytest

from realtime.bus import Ended, InProcessBus, Lost, SessionMeta, Stale
from realtime.envelope import SYSTEM, Draft, Event

META = SessionMeta("learner", "two-sum", keep=False)


def draft(kind: str, **data: object) -> Draft:
    return Draft("s", kind, SYSTEM, dict(data))


async def test_publish_places_events_in_order_and_keeps_history() -> None:
    bus = InProcessBus(history_events=3)
    got: list[Event] = []
    position = await bus.create("s", META)
    await bus.subscribe("s", got.append)
    for i in range(5):
        await bus.publish(draft("code.updated", code=str(i)))
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await bus.history("s", position.epoch, 2) or []] == [3, 4, 5]
    assert await bus.history("s", position.epoch, 0) is None  # history does not reach back
    assert await bus.history("s", position.epoch + 1, 4) is None  # another epoch


async def test_a_guarded_publish_fails_once_a_decision_moved_on() -> None:
    bus = InProcessBus(history_events=10)
    await bus.create("s", META)
    first = await bus.publish(draft("hint.given", level=1, text=""), expect=0)
    await bus.publish(draft("code.updated", code=""), expect=first.seq)  # not decisive
    with pytest.raises(Stale) as stale:
        await bus.publish(draft("hint.given", level=2, text=""), expect=0)
    assert (stale.value.seq, stale.value.dseq) == (2, 1)
    await bus.publish(draft("hint.given", level=2, text=""), expect=1)


async def test_run_ownership_follows_the_events() -> None:
    bus = InProcessBus(history_events=10, node_id="n1")
    await bus.create("s", META)
    await bus.publish(draft("run.started", run_id="r", mode="run", language="python"))
    owners = await bus.owners("s")
    assert (owners.run, owners.run_node) == ("r", "n1")
    await bus.publish(draft("run.finished", run_id="r"))
    assert (await bus.owners("s")).run == ""


async def test_nothing_after_the_end_and_no_counter_remade() -> None:
    bus = InProcessBus(history_events=10)
    with pytest.raises(Lost):
        await bus.publish(draft("code.updated", code=""))
    await bus.seed("s", META, above_seq=41, dseq=40)
    event = await bus.publish(draft("session.ended", reason="done"))
    assert event.seq == 42
    with pytest.raises(Ended):
        await bus.publish(draft("code.updated", code=""))
