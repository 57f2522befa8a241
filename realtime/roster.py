"""The node's open connections by user, so that a user signed out everywhere loses every socket."""

from __future__ import annotations

from collections.abc import Iterator

from realtime.codes import CloseCode
from realtime.connection import Connection


class Roster:
    def __init__(self) -> None:
        self._by_user: dict[str, set[Connection]] = {}

    def add(self, connection: Connection) -> None:
        self._by_user.setdefault(connection.user, set()).add(connection)

    def remove(self, connection: Connection) -> None:
        held = self._by_user.get(connection.user)
        if held is not None:
            held.discard(connection)
            if not held:
                del self._by_user[connection.user]

    def of(self, user: str) -> tuple[Connection, ...]:
        return tuple(self._by_user.get(user, ()))

    def sign_out(self, user: str, reason: str) -> None:
        for connection in self._by_user.get(user, ()):
            connection.close(CloseCode.UNAUTHENTICATED, reason)

    def connections(self) -> Iterator[Connection]:
        for held in tuple(self._by_user.values()):
            yield from tuple(held)

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_user.values())
