"""A learner's profile and preferences, and who the reminder job should look at. The goal is
their own words, so it is stored sealed (storage/pii.py) like their name and email."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time

import asyncpg

from storage.db import Pool
from storage.pii import PiiSealer

GOAL = "profiles.goal"


@dataclass(frozen=True)
class Profile:
    goal: str = ""
    experience: str | None = None
    target_date: date | None = None
    languages: tuple[str, ...] = field(default_factory=tuple)
    daily_goal: int = 1
    reminder_time: time | None = None
    time_zone: str = "UTC"
    email_reminders: bool = True
    app_notifications: bool = True
    onboarded: bool = False


@dataclass(frozen=True)
class Reminded:
    """Someone who wants a reminder at a local time, and how."""

    user: str
    reminder_time: time
    time_zone: str
    email_reminders: bool
    app_notifications: bool


class ProfileStore:
    def __init__(self, pool: Pool, sealer: PiiSealer) -> None:
        self._pool = pool
        self._sealer = sealer

    async def get(self, user: str) -> Profile:
        """The stored profile, or the defaults for someone who never saved one."""
        row = await self._pool.fetchrow("SELECT * FROM profiles WHERE user_id = $1",
                                        uuid.UUID(user))
        return self._profile(row) if row else Profile()

    async def put(self, user: str, profile: Profile) -> Profile:
        goal = self._sealer.seal(profile.goal, GOAL) if profile.goal else None
        row = await self._pool.fetchrow(
            "INSERT INTO profiles (user_id, goal_sealed, experience, target_date, languages,"
            " daily_goal, reminder_time, time_zone, email_reminders, app_notifications,"
            " onboarded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (user_id) DO UPDATE SET goal_sealed = $2, experience = $3,"
            " target_date = $4, languages = $5, daily_goal = $6, reminder_time = $7,"
            " time_zone = $8, email_reminders = $9, app_notifications = $10, onboarded = $11,"
            " updated_at = now() RETURNING *",
            uuid.UUID(user), goal, profile.experience, profile.target_date,
            list(profile.languages), profile.daily_goal, profile.reminder_time,
            profile.time_zone, profile.email_reminders, profile.app_notifications,
            profile.onboarded)
        assert row is not None
        return self._profile(row)

    async def reminded(self) -> list[Reminded]:
        rows = await self._pool.fetch(
            "SELECT user_id, reminder_time, time_zone, email_reminders, app_notifications"
            " FROM profiles WHERE reminder_time IS NOT NULL"
            " AND (email_reminders OR app_notifications)")
        return [Reminded(str(r["user_id"]), r["reminder_time"], r["time_zone"],
                         r["email_reminders"], r["app_notifications"]) for r in rows]

    async def claim_reminder(self, user: str, local_day: date, due: int) -> bool:
        """True for the one caller that may remind `user` on their `local_day`."""
        claimed = await self._pool.fetchval(
            "INSERT INTO reminders_sent (user_id, local_day, due) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true", uuid.UUID(user), local_day, due)
        return bool(claimed)

    async def release_reminder(self, user: str, local_day: date) -> None:
        """A reminder that could not go out: the next pass may try again."""
        await self._pool.execute(
            "DELETE FROM reminders_sent WHERE user_id = $1 AND local_day = $2",
            uuid.UUID(user), local_day)

    async def reminders_of(self, user: str) -> list[tuple[date, datetime, int]]:
        rows = await self._pool.fetch(
            "SELECT local_day, sent_at, due FROM reminders_sent WHERE user_id = $1"
            " ORDER BY local_day", uuid.UUID(user))
        return [(r["local_day"], r["sent_at"], r["due"]) for r in rows]

    def _profile(self, row: asyncpg.Record) -> Profile:
        sealed = row["goal_sealed"]
        return Profile(
            goal=self._sealer.open(sealed, GOAL) if sealed is not None else "",
            experience=row["experience"], target_date=row["target_date"],
            languages=tuple(row["languages"]), daily_goal=row["daily_goal"],
            reminder_time=row["reminder_time"], time_zone=row["time_zone"],
            email_reminders=row["email_reminders"], app_notifications=row["app_notifications"],
            onboarded=row["onboarded"])
