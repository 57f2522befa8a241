"""In-app notifications: kept for the page to list, and pushed live over /ws as
`{"type": "notification", "data": {...}}` to every socket of the user, on whichever node."""

from __future__ import annotations

import logging
from typing import Any

from realtime.frames import encode_message
from realtime.roster import Roster
from server.metrics import NOTIFICATIONS_PUSHED
from storage.notifications import Notification, NotificationStore
from storage.profiles import ProfileStore

log = logging.getLogger("wingman.notices")

# The kinds a user may get; each goes out only while their in-app notifications are on.
REVIEWS_DUE = "reviews.due"
MENTOR_INVITED = "mentor.invited"


class Notifier:
    def __init__(self, store: NotificationStore, profiles: ProfileStore, roster: Roster) -> None:
        self._store = store
        self._profiles = profiles
        self._roster = roster

    async def notify(self, user: str, kind: str, data: dict[str, Any]) -> Notification | None:
        """Keep and announce a notification, unless the user turned them off (then None)."""
        if not (await self._profiles.get(user)).app_notifications:
            return None
        return await self._store.add(user, kind, data)

    def deliver(self, user: str, body: dict[str, Any]) -> None:
        """Every node hears every notification; this pushes it to the user's sockets here."""
        connections = self._roster.of(user)
        if not connections:
            return
        frame = encode_message({"type": "notification", "data": body})
        for connection in connections:
            if connection.send(frame):
                NOTIFICATIONS_PUSHED.inc()

    async def listen(self) -> None:
        await self._store.listen(self.deliver)


async def notify_quietly(notifier: Notifier, user: str, kind: str, data: dict[str, Any]) -> None:
    """For background tasks: a failure is logged, never taken down the node's task group."""
    try:
        await notifier.notify(user, kind, data)
    except Exception as err:
        log.error("could not notify user %s (%s): %s", user, kind, type(err).__name__)
