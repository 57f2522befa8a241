"""One session's events put back in seq order as a node receives them: repeats dropped, early
ones held until the gap before them fills. Pure: the hub decides how to fill a gap."""

from __future__ import annotations

from realtime.envelope import Event


class Sequencer:
    def __init__(self, epoch: int, seq: int) -> None:
        self.epoch = epoch
        self.seq = seq
        self._held: dict[int, Event] = {}

    @property
    def gap(self) -> bool:
        """Events are held waiting for earlier ones that have not arrived."""
        return bool(self._held)

    @property
    def held_from(self) -> int | None:
        return min(self._held) if self._held else None

    def offer(self, event: Event) -> list[Event]:
        """The events that can now be delivered, in order (none for a repeat or an early one)."""
        if event.epoch != self.epoch or event.seq <= self.seq:
            return []
        self._held[event.seq] = event
        ready: list[Event] = []
        while (following := self._held.pop(self.seq + 1, None)) is not None:
            ready.append(following)
            self.seq += 1
        return ready

    def restart(self, epoch: int, seq: int) -> None:
        """Continue from a new place (a new epoch, or past events that cannot be had)."""
        self.epoch, self.seq = epoch, seq
        self._held = {s: e for s, e in self._held.items() if e.epoch == epoch and s > seq}
