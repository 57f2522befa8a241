"""The sequencer puts a session's events back in order whatever order they arrive in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from realtime.envelope import SYSTEM, Event
from realtime.ordering import Sequencer


def event(seq: int, epoch: int = 1) -> Event:
    return Event(sid="s", epoch=epoch, seq=seq, ts=0, kind="code.updated", by=SYSTEM, data={})


@given(st.permutations(list(range(1, 30))), st.lists(st.integers(1, 29), max_size=20))
def test_any_arrival_order_comes_out_gapless_and_once(order: list[int], repeats: list[int]) -> None:
    sequencer = Sequencer(epoch=1, seq=0)
    out: list[int] = []
    for seq in order + repeats:
        out += [e.seq for e in sequencer.offer(event(seq))]
    assert out == list(range(1, 30))
    assert not sequencer.gap


def test_an_early_event_waits_for_the_gap() -> None:
    sequencer = Sequencer(epoch=1, seq=4)
    assert sequencer.offer(event(7)) == []
    assert sequencer.gap and sequencer.held_from == 7
    assert [e.seq for e in sequencer.offer(event(5))] == [5]
    assert [e.seq for e in sequencer.offer(event(6))] == [6, 7]
    assert not sequencer.gap


def test_events_of_another_epoch_are_not_mixed_in() -> None:
    sequencer = Sequencer(epoch=1, seq=3)
    assert sequencer.offer(event(4, epoch=2)) == []
    sequencer.restart(2, 10)
    assert [e.seq for e in sequencer.offer(event(11, epoch=2))] == [11]
