"""Who is in which session, as which role, across nodes. A node reports its own members; the
registry says when a user's first connection in a role arrives anywhere and its last one leaves."""

from __future__ import annotations

from typing import Protocol

from realtime.envelope import Role


class Presence(Protocol):
    async def enter(self, sid: str, user: str, role: Role, visible: bool) -> bool:
        """This node now has `user` in `sid` as `role`; True when nobody had before (anywhere)."""
        ...

    async def exit(self, sid: str, user: str, role: Role) -> bool:
        """This node no longer has them; True when nobody has them any more (anywhere)."""
        ...

    async def observers(self, sid: str) -> set[str]:
        """The users observing `sid`, seen or unseen, on every node."""
        ...


class LocalPresence:
    """One node: presence is what this process holds."""

    def __init__(self) -> None:
        self._members: dict[str, dict[tuple[str, Role], bool]] = {}

    async def enter(self, sid: str, user: str, role: Role, visible: bool) -> bool:
        members = self._members.setdefault(sid, {})
        first = (user, role) not in members
        members[(user, role)] = visible
        return first

    async def exit(self, sid: str, user: str, role: Role) -> bool:
        members = self._members.get(sid, {})
        members.pop((user, role), None)
        if not members:
            self._members.pop(sid, None)
        return True

    async def observers(self, sid: str) -> set[str]:
        return {u for (u, r) in self._members.get(sid, {}) if r in (Role.OBSERVER, Role.ADMIN)}
