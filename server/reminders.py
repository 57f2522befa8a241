"""The daily reminder of due reviews, at each learner's chosen local time: by email (when their
address is verified) and in the app, each only while the learner keeps it on. Every node runs
the job; an advisory lock lets one look at a time, and a row per learner and local day makes
sure a reminder goes out once, whichever node sends it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio

from server.clock import Clock
from server.mail import Mail, MailError, MailSender
from server.metrics import REMINDERS
from server.notices import REVIEWS_DUE, Notifier
from storage.db import Pool
from storage.profiles import ProfileStore, Reminded
from storage.users import UserStore
from tutor.reminding import reminder_day

log = logging.getLogger("wingman.reminders")
# Any constant shared by all nodes, other than the migrations' lock.
_LOCK_KEY = 0x52454D49


@dataclass(frozen=True)
class DueReview:
    question_id: str
    title: str
    due_at: datetime


class DueReviews(Protocol):
    """Where the reviews a learner has due come from (the learning engine's review items)."""

    async def due(self, user: str, now: datetime) -> list[DueReview]: ...


@dataclass(frozen=True)
class Sent:
    user: str
    day: date
    due: int
    mailed: bool
    notified: bool


class ReminderJob:
    def __init__(self, pool: Pool, profiles: ProfileStore, users: UserStore,
                 reviews: DueReviews, notifier: Notifier, mail: MailSender, clock: Clock,
                 window: timedelta, public_base: str) -> None:
        self._pool = pool
        self._profiles = profiles
        self._users = users
        self._reviews = reviews
        self._notifier = notifier
        self._mail = mail
        self._clock = clock
        self._window = window
        self._base = public_base

    async def run(self, period: float) -> None:
        while True:
            await anyio.sleep(period)
            try:
                await self.once()
            except Exception:
                log.exception("the reminder pass failed")

    async def once(self) -> list[Sent]:
        """One pass, unless another node is in one; the reminders it sent."""
        async with self._pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
                return []
            try:
                now = await self._clock.now()
                sent = []
                for person in await self._profiles.reminded():
                    done = await self._remind(person, now)
                    if done is not None:
                        sent.append(done)
                return sent
            finally:
                with anyio.CancelScope(shield=True):
                    await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)

    async def _remind(self, person: Reminded, now: datetime) -> Sent | None:
        try:
            zone = ZoneInfo(person.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("user %s has an unknown time zone; no reminder", person.user)
            return None
        day = reminder_day(now, person.reminder_time, zone, self._window)
        if day is None:
            return None
        due = await self._reviews.due(person.user, now)
        if not due:
            # No claim: reviews falling due later in the window still get their reminder.
            return None
        user = await self._users.by_id(person.user)
        if user is None:
            return None
        # Mail goes only to an address its owner proved is theirs.
        mail = person.email_reminders and user.email_verified
        if not (mail or person.app_notifications):
            return None
        if not await self._profiles.claim_reminder(person.user, day, len(due)):
            return None
        mailed = notified = False
        if mail:
            try:
                await self._mail.send(self._letter(user.id, user.email, user.name, due))
                mailed = True
                REMINDERS.labels("mail", "sent").inc()
            except MailError as err:
                REMINDERS.labels("mail", "failed").inc()
                log.error("reminder to user %s not sent: %s", user.id, err)
                if not person.app_notifications:
                    # The next pass in the window tries again.
                    await self._profiles.release_reminder(person.user, day)
                    return None
        if person.app_notifications:
            notified = await self._notifier.notify(person.user, REVIEWS_DUE, {
                "due": len(due), "titles": [r.title for r in due[:5]],
                "day": day.isoformat()}) is not None
            if notified:
                REMINDERS.labels("app", "sent").inc()
        log.info("reminded user %s of %d due reviews (mail %s, app %s)", user.id, len(due),
                 mailed, notified)
        return Sent(person.user, day, len(due), mailed, notified)

    def _letter(self, user: str, to: str, name: str, due: list[DueReview]) -> Mail:
        count = f"{len(due)} review{'s' if len(due) != 1 else ''}"
        listed = "\n".join(f"  - {r.title}" for r in due[:10])
        more = f"\n  ... and {len(due) - 10} more" if len(due) > 10 else ""
        return Mail(user, to, f"You have {count} due on SocraticWingman",
                    f"Hello {name},\n\nthese questions are due for a review today:\n\n{listed}"
                    f"{more}\n\nStart one from your progress page:\n\n    {self._base}/#/progress"
                    "\n\nYou get this mail at the time you chose. To stop these mails, turn off "
                    "email reminders in your preferences.\n")


class StoredDueReviews:
    """The learning engine's review items that are due, titled from the question bank."""

    def __init__(self, pool: Pool, title: Callable[[str], str]) -> None:
        self._pool = pool
        self._title = title

    async def due(self, user: str, now: datetime) -> list[DueReview]:
        rows = await self._pool.fetch(
            "SELECT question_id, due FROM review_items WHERE learner_id = $1 AND due <= $2"
            " ORDER BY due", uuid.UUID(user), now)
        return [DueReview(r["question_id"], self._title(r["question_id"]), r["due"])
                for r in rows]
