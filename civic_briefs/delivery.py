"""When each listener's brief is due: their delivery time on their own local date, in their own
IANA timezone, whatever the daylight-saving rules do to it.

A brief for local date D is due from ``lead`` before the user's delivery instant on D, so that a run
of the ``briefs-due`` deployment (every 15 minutes) makes it in time. The instant is found with
``zoneinfo``, so each local date has exactly one, across daylight-saving changes too.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from civic_briefs.models import WEEKDAYS, User

log = logging.getLogger(__name__)

# The tz database's names: read once (listing them takes ~0.1 s), as every user saved is checked.
_TIMEZONE_NAMES = functools.cache(available_timezones)


class InvalidDeliveryError(ValueError):
    """A timezone, delivery time or weekday that cannot be used; the message says why."""


def check_timezone(name: object) -> str:
    """An IANA timezone name that this machine's tz database knows (``America/New_York``)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidDeliveryError(f"timezone must be an IANA timezone name such as 'America/New_York', not {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError) as exc:
        raise InvalidDeliveryError(f"timezone {name!r} is not an IANA timezone (e.g. 'America/New_York', "
                                   f"'Europe/Berlin', 'UTC'): {type(exc).__name__}") from exc
    if name not in _TIMEZONE_NAMES() and name != "UTC":
        raise InvalidDeliveryError(f"timezone {name!r} is not an IANA timezone name (e.g. 'America/New_York')")
    return name


def check_delivery_time(value: object) -> dt.time:
    """A local wall-clock time ``HH:MM`` (24-hour), or a ``datetime.time``; seconds are dropped."""
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str):
        text = value.strip()
        hours, sep, minutes = text.partition(":")
        if sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) in (1, 2):
            if int(hours) < 24 and int(minutes) < 60:
                return dt.time(int(hours), int(minutes))
    raise InvalidDeliveryError(f"delivery_time must be a local time HH:MM from 00:00 to 23:59, not {value!r}")


def check_weekday(value: object) -> str:
    """A weekday's English name, any case: the day of the user's weekly deep-dive."""
    day = value.strip().lower() if isinstance(value, str) else value
    if day not in WEEKDAYS:
        raise InvalidDeliveryError(f"weekly_day must be one of {', '.join(WEEKDAYS)}, not {value!r}")
    return day  # type: ignore[return-value]


def delivery_instant(user: User, day: dt.date) -> dt.datetime:
    """The UTC instant of ``user``'s delivery time on local date ``day``. A wall time the clocks
    skip is moved on by the gap (02:30 on a spring-forward night is 03:30), one they repeat is its
    first occurrence (``fold=0`` does both), so each local date has exactly one instant."""
    wall = dt.datetime.combine(day, user.delivery_time).replace(tzinfo=ZoneInfo(user.timezone), fold=0)
    return wall.astimezone(dt.UTC)


def local_date(user: User, at: dt.datetime) -> dt.date:
    return at.astimezone(ZoneInfo(user.timezone)).date()


@dataclass(frozen=True)
class DueBrief:
    """One user's brief that a run starting ``at`` should make: for local date ``brief_date``,
    wanted by ``deliver_at`` (UTC)."""

    user: User
    brief_date: dt.date
    deliver_at: dt.datetime


def due(users: Iterable[User], at: dt.datetime, lead: dt.timedelta, catch_up: dt.timedelta,
        weekly: bool = False) -> list[DueBrief]:
    """The briefs due at ``at`` (aware): a user's brief for local date D from ``lead`` before their
    delivery on D (for an early delivery, 00:15 say, that is the evening before) until ``catch_up``
    after it, so that a run that was late or missed still makes it (``briefs_due`` leaves out those
    already made). A user whose timezone cannot be read is logged and left out, not the whole run.

    ``weekly``: only local dates that are the user's ``weekly_day``.
    """
    found = []
    for user in users:
        try:
            today = local_date(user, at)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            log.error("User %s has a timezone that cannot be read (%r: %s): no brief is due for them until it is "
                      "fixed (civic-briefs set-delivery)", user.id, user.timezone, exc)
            continue
        for day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
            if weekly and WEEKDAYS[day.weekday()] != user.weekly_day:
                continue
            instant = delivery_instant(user, day)
            if instant - lead <= at < instant + catch_up:
                found.append(DueBrief(user=user, brief_date=day, deliver_at=instant))
    return found


def by_date(briefs: Iterable[DueBrief]) -> dict[dt.date, list[DueBrief]]:
    grouped: dict[dt.date, list[DueBrief]] = defaultdict(list)
    for brief in briefs:
        grouped[brief.brief_date].append(brief)
    return dict(sorted(grouped.items()))
