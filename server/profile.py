"""A learner's profile and preferences (`/api/me/profile`) and their in-app notifications
(`/api/me/notifications`)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import available_timezones

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from realtime.codes import ErrorCode
from realtime.connection import Identity
from server.accounts import error, read_body
from server.api import authenticated
from server.node import Node
from storage.profiles import Profile

EXPERIENCE = ("beginner", "intermediate", "advanced")
LANGUAGES = ("python", "javascript")
MAX_GOAL_CHARS = 300
MAX_DAILY_GOAL = 20
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ZONES = frozenset(available_timezones())
# Unset fields are left as they are; `None` clears the ones that may be empty.
UNSET: Any = msgspec.UNSET
Unset = msgspec.UnsetType


class ProfileChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = UNSET
    goal: str | msgspec.UnsetType = UNSET
    experience: str | msgspec.UnsetType | None = UNSET
    target_date: str | msgspec.UnsetType | None = UNSET
    languages: list[str] | msgspec.UnsetType = UNSET
    daily_goal: int | msgspec.UnsetType = UNSET
    reminder_time: str | msgspec.UnsetType | None = UNSET
    time_zone: str | msgspec.UnsetType = UNSET
    email_reminders: bool | msgspec.UnsetType = UNSET
    app_notifications: bool | msgspec.UnsetType = UNSET
    onboarded: bool | msgspec.UnsetType = UNSET


class Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def profile_json(name: str, profile: Profile) -> dict[str, Any]:
    return {
        "name": name, "goal": profile.goal, "experience": profile.experience,
        "target_date": profile.target_date.isoformat() if profile.target_date else None,
        "languages": list(profile.languages), "daily_goal": profile.daily_goal,
        "reminder_time": profile.reminder_time.strftime("%H:%M") if profile.reminder_time
        else None,
        "time_zone": profile.time_zone, "email_reminders": profile.email_reminders,
        "app_notifications": profile.app_notifications, "onboarded": profile.onboarded}


def changed(profile: Profile, change: ProfileChange, today: date) -> Profile:
    """The profile with the change applied, or Invalid naming the first field at fault."""
    updates: dict[str, Any] = {}
    if not isinstance(change.goal, Unset):
        goal = change.goal.strip()
        if len(goal) > MAX_GOAL_CHARS:
            raise Invalid("goal", f"a goal has at most {MAX_GOAL_CHARS} characters")
        updates["goal"] = goal
    if not isinstance(change.experience, Unset):
        if change.experience is not None and change.experience not in EXPERIENCE:
            raise Invalid("experience", "experience is one of " + ", ".join(EXPERIENCE))
        updates["experience"] = change.experience
    if not isinstance(change.target_date, Unset):
        updates["target_date"] = _target_date(change.target_date, today)
    if not isinstance(change.languages, Unset):
        unknown = [x for x in change.languages if x not in LANGUAGES]
        if unknown or len(set(change.languages)) != len(change.languages):
            raise Invalid("languages", "languages are distinct, among " + ", ".join(LANGUAGES))
        updates["languages"] = tuple(change.languages)
    if not isinstance(change.daily_goal, Unset):
        if not 1 <= change.daily_goal <= MAX_DAILY_GOAL:
            raise Invalid("daily_goal", f"a daily goal is 1 to {MAX_DAILY_GOAL} questions")
        updates["daily_goal"] = change.daily_goal
    if not isinstance(change.reminder_time, Unset):
        updates["reminder_time"] = _clock_time(change.reminder_time)
    if not isinstance(change.time_zone, Unset):
        if change.time_zone not in _ZONES:
            raise Invalid("time_zone", "a time zone is an IANA name such as Europe/Paris")
        updates["time_zone"] = change.time_zone
    for flag in ("email_reminders", "app_notifications", "onboarded"):
        value = getattr(change, flag)
        if not isinstance(value, Unset):
            updates[flag] = value
    return replace(profile, **updates)


def _target_date(text: str | None, today: date) -> date | None:
    if text is None or text == "":
        return None
    try:
        when = date.fromisoformat(text)
    except ValueError:
        raise Invalid("target_date", "a target date looks like 2027-03-01") from None
    # A day of slack: the learner's today may still be our yesterday.
    if when < today - timedelta(days=1):
        raise Invalid("target_date", "the target date is in the past")
    if when > today + timedelta(days=3660):
        raise Invalid("target_date", "the target date is more than ten years away")
    return when


def _clock_time(text: str | None) -> time | None:
    if text is None or text == "":
        return None
    match = _CLOCK_TIME.match(text)
    if match is None:
        raise Invalid("reminder_time", "a reminder time is HH:MM on a 24-hour clock")
    return time(int(match.group(1)), int(match.group(2)))


@authenticated
async def get_profile(request: Request, who: Identity, node: Node) -> Response:
    user = await node.users.by_id(who.user)
    if user is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    return JSONResponse(profile_json(user.name, await node.profiles.get(who.user)))


@authenticated
async def put_profile(request: Request, who: Identity, node: Node) -> Response:
    """Sets the fields sent; the others keep their value."""
    body = await read_body(request, ProfileChange)
    if isinstance(body, JSONResponse):
        return body
    user = await node.users.by_id(who.user)
    if user is None:
        return error(401, ErrorCode.UNAUTHENTICATED, "this account no longer exists")
    name = user.name
    if not isinstance(body.name, Unset):
        name = body.name.strip()
        if not 1 <= len(name) <= 100:
            return error(400, ErrorCode.BAD_REQUEST, "a name needs 1 to 100 characters",
                         field="name")
    try:
        profile = changed(await node.profiles.get(who.user), body, datetime.now(UTC).date())
    except Invalid as bad:
        return error(400, ErrorCode.BAD_REQUEST, bad.message, field=bad.field)
    if name != user.name:
        await node.users.set_name(who.user, name)
    saved = await node.profiles.put(who.user, profile)
    return JSONResponse(profile_json(name, saved))


class Reading(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # None: every unread notification.
    ids: list[int] | None = None


@authenticated
async def notifications(request: Request, who: Identity, node: Node) -> Response:
    unread_only = request.query_params.get("unread") in ("1", "true")
    listed = await node.notifications.of_user(who.user, unread_only=unread_only)
    return JSONResponse({"unread": await node.notifications.unread(who.user),
                         "notifications": [n.as_json() for n in listed]})


@authenticated
async def read_notifications(request: Request, who: Identity, node: Node) -> Response:
    body = await read_body(request, Reading, empty=Reading())
    if isinstance(body, JSONResponse):
        return body
    if body.ids is not None and len(body.ids) > 500:
        return error(400, ErrorCode.BAD_REQUEST, "at most 500 ids at once", field="ids")
    marked = await node.notifications.mark_read(who.user, body.ids)
    return JSONResponse({"marked": marked, "unread": await node.notifications.unread(who.user)})


routes = [
    Route("/api/me/profile", get_profile, methods=["GET"]),
    Route("/api/me/profile", put_profile, methods=["PUT"]),
    Route("/api/me/notifications", notifications, methods=["GET"]),
    Route("/api/me/notifications/read", read_notifications, methods=["POST"]),
]
