"""Checks of what people hand the pipeline: CLI options and flow parameters (from the UI form, a
``prefect deployment run`` or a call in Python).

One module, so a wrong value gets the same message wherever it comes from. Each message starts
with the parameter's name and says the rule. The flows turn off Prefect's own parameter
validation and call these instead: Prefect's server does not check a date's format, and its
messages differ from the CLI's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from civic_briefs import delivery, districts, repo
from civic_briefs.interests import UnknownInterestError, validate_interests
from civic_briefs.models import BRIEF_LENGTHS, BriefLength, BriefType, User
from civic_briefs.providers import storage

T = TypeVar("T")
MIN_CONCURRENT_BRIEFS, MAX_CONCURRENT_BRIEFS = 1, 256
BRIEF_TYPES: tuple[str, ...] = get_args(BriefType)
FAN_OUTS = ("in-process", "deployment")


class InputError(ValueError):
    """A parameter is wrong: bad input, never retried. The message names it and the rule."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


class UnknownUserError(InputError, repo.UnknownUserError):
    """``user_id`` names no user (also a ``repo.UnknownUserError``)."""


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# --- dates ---------------------------------------------------------------------------------------

# Only the README's form: from 3.11 on, fromisoformat also takes 20250602 and 2025-W23-1.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: object, parameter: str = "brief_date") -> dt.date:
    """A ``YYYY-MM-DD`` string or a date, as a date. A datetime (from Python) is taken as the date it
    is in UTC when it is aware, and as its own date when naive (no zone to convert from)."""
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo is not None else value).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _DATE.fullmatch(text):
            raise InputError(parameter, f"{parameter} {_show(value)} is not a date (YYYY-MM-DD)")
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise InputError(parameter, f"{parameter} {_show(value)} is not a date (YYYY-MM-DD): {exc}") from exc
    raise InputError(parameter, f"{parameter} must be a date (YYYY-MM-DD), not {_show(value)}")


def check_not_in_future(day: dt.date, today: dt.date, parameter: str = "brief_date") -> dt.date:
    """The one rule for how far ahead a brief may be: not after ``today`` (today itself is fine).

    ``today`` is a parameter so that the caller decides whose today it is (UTC for now)."""
    if day > today:
        raise InputError(parameter, f"{parameter} {day.isoformat()} is in the future (today is {today.isoformat()}): "
                                    "a brief is made for today or an earlier day")
    return day


def check_brief_date(value: object, today: dt.date, parameter: str = "brief_date") -> dt.date:
    """The brief's date: ``today`` when empty, else a date that is not after ``today``."""
    if value is None or value == "":
        return today
    return check_not_in_future(parse_date(value, parameter), today, parameter)


def check_moment(value: object, now: dt.datetime, parameter: str = "at") -> dt.datetime:
    """An aware moment, not after ``now``; ``now`` when empty. Naive datetimes and ISO text without
    an offset are taken as UTC."""
    if value is None or value == "":
        return now
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InputError(parameter, f"{parameter} {_show(value)} is not a date and time (YYYY-MM-DDTHH:MM, UTC)") from exc
    if not isinstance(moment, dt.datetime):
        raise InputError(parameter, f"{parameter} must be a date and time (YYYY-MM-DDTHH:MM, UTC), not {_show(value)}")
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    if moment > now:
        raise InputError(parameter, f"{parameter} {moment:%Y-%m-%dT%H:%M}Z is in the future (now is {now:%Y-%m-%dT%H:%M}Z)")
    return moment


# --- numbers and choices -------------------------------------------------------------------------

# One sign at most, then ASCII digits: lstrip("+-") let "--3" through and str.isdigit takes "²", both of
# which int() refuses with a ValueError (a traceback in the CLI instead of a usage error).
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def check_max_concurrent_briefs(value: object, parameter: str = "max_concurrent_briefs") -> int:
    """A whole number from 1 to 256 (an int, or its digits as text)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or not MIN_CONCURRENT_BRIEFS <= number <= MAX_CONCURRENT_BRIEFS:
        # "-3" from the CLI and -3 from a flow parameter get the same message.
        shown = number if number is not None else _show(value)
        raise InputError(parameter, f"{parameter} must be a whole number from {MIN_CONCURRENT_BRIEFS} to "
                                    f"{MAX_CONCURRENT_BRIEFS}, not {shown}")
    return number


def check_choice(value: object, choices: tuple[str, ...], parameter: str) -> str:
    if value not in choices:
        raise InputError(parameter, f"{parameter} must be {' or '.join(choices)}, not {_show(value)}")
    return value  # type: ignore[return-value]


def check_brief_length(value: object, parameter: str = "brief_length") -> BriefLength:
    """short, standard or long (about 2, 5 and 10 minutes)."""
    return check_choice(value, BRIEF_LENGTHS, parameter)  # type: ignore[return-value]


def check_optional_brief_length(value: object, parameter: str = "brief_length") -> BriefLength | None:
    """A length for one brief; None (the user's own) when empty."""
    return None if value is None or value == "" else check_brief_length(value, parameter)


def check_flag(value: object, parameter: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(parameter, f"{parameter} must be true or false, not {_show(value)}")
    return value


# --- users and interests -------------------------------------------------------------------------

def check_user_id(value: object, parameter: str = "user_id") -> str:
    """A user id that can name a storage key (letters, digits, ``.``, ``_``, ``-``)."""
    if not isinstance(value, str):
        raise InputError(parameter, f"{parameter} must be a user id (text), not {_show(value)}")
    try:
        storage.check_user_id(value)
    except storage.UnsafeKeyError as exc:
        raise InputError(parameter, f"{parameter} {_show(value)} is not a valid user id: {exc}") from exc
    return value


def known_user(conn: Any, value: str, parameter: str = "user_id") -> User:
    """The user ``value`` names; an ``InputError`` when no row has that id."""
    try:
        return repo.get_user(conn, check_user_id(value, parameter))
    except repo.UnknownUserError as exc:
        raise UnknownUserError(parameter, f"{parameter} {value!r} is not a known user (no row in the users table)") from exc


def check_user_ids(value: object, parameter: str = "user_ids") -> list[str]:
    """A non-empty list of valid user ids, each once, in the given order."""
    if not isinstance(value, list) or not value:
        raise InputError(parameter, f"{parameter} must be a non-empty list of user ids, not {_show(value)}")
    return list(dict.fromkeys(check_user_id(v, parameter) for v in value))


def check_policy_interests(value: object, parameter: str = "policy_interests") -> list[str] | None:
    """Interest ids for one brief, de-duplicated; None (the user's own) when empty."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(parameter, f"{parameter} must be a list of interest ids, e.g. [\"healthcare\"], "
                                    f"not {_show(value)}")
    try:
        return validate_interests(value)
    except UnknownInterestError as exc:
        raise InputError(parameter, f"{parameter}: {exc}") from exc


def check_state(value: object, parameter: str = "state") -> str:
    """A USPS code of a state or territory with a seat in Congress ("wa" is taken as "WA")."""
    try:
        return districts.check_state(value)
    except districts.InvalidHomeError as exc:
        raise InputError(parameter, str(exc)) from exc


def check_home(state: object, district: object = None) -> tuple[str | None, int | None]:
    """Where a user lives: (state, district), see ``civic_briefs.districts``; a district needs a state."""
    try:
        return districts.check_home(state, district)
    except districts.InvalidHomeError as exc:
        raise InputError(exc.parameter, str(exc)) from exc


def _delivery_check(check: Callable[[object], T], parameter: str) -> Callable[[object], T]:
    def checked(value: object) -> T:
        try:
            return check(value)
        except delivery.InvalidDeliveryError as exc:
            raise InputError(parameter, str(exc)) from exc
    return checked


check_timezone = _delivery_check(delivery.check_timezone, "timezone")
check_delivery_time = _delivery_check(delivery.check_delivery_time, "delivery_time")
check_weekday = _delivery_check(delivery.check_weekday, "weekly_day")


def check_paths(value: object, parameter: str = "paths") -> list[str]:
    """A non-empty list of paths; one path given as text is a list of one."""
    if isinstance(value, str) and value.strip():
        return [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(parameter, f"{parameter} must be a non-empty list of files or folders, not {_show(value)}")
    return value


# govinfo's BILLSTATUS bulk data starts with the 108th Congress (2003).
FIRST_BILLSTATUS_CONGRESS = 108


def check_congresses(value: object, today: dt.date, parameter: str = "congresses") -> list[int]:
    """A non-empty list of Congress numbers that have BILLSTATUS data (108th to the current one)."""
    from civic_briefs.sync.models import current_congress

    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str) and value.strip().isdigit():
        value = [int(value)]
    latest = current_congress(today)
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and FIRST_BILLSTATUS_CONGRESS <= v <= latest
                       for v in value)):
        raise InputError(parameter, f"{parameter} must be a non-empty list of Congress numbers from "
                                    f"{FIRST_BILLSTATUS_CONGRESS} to {latest} (the current one), not {_show(value)}")
    return sorted(set(value))


# --- each flow's parameters, checked at once -----------------------------------------------------

@dataclass(frozen=True)
class BriefRequest:
    """``generate_brief``'s parameters, checked (the user's existence is checked with the database)."""

    user_id: str
    policy_interests: list[str] | None
    brief_date: dt.date
    brief_type: BriefType
    force: bool
    brief_length: BriefLength | None = None


@dataclass(frozen=True)
class DayRequest:
    """``daily_briefs``'s parameters, checked."""

    brief_date: dt.date
    brief_type: BriefType
    max_concurrent_briefs: int
    fan_out: str


@dataclass(frozen=True)
class BatchRequest:
    """``make_briefs``'s parameters, checked."""

    brief_date: dt.date
    user_ids: list[str]
    brief_type: BriefType
    max_concurrent_briefs: int | None


def brief_request(*, user_id: object, policy_interests: object, brief_date: object, brief_type: object,
                  force: object, today: dt.date, brief_length: object = None) -> BriefRequest:
    return BriefRequest(user_id=check_user_id(user_id), policy_interests=check_policy_interests(policy_interests),
                        brief_date=check_brief_date(brief_date, today),
                        brief_type=check_choice(brief_type, BRIEF_TYPES, "brief_type"),  # type: ignore[arg-type]
                        force=check_flag(force, "force"), brief_length=check_optional_brief_length(brief_length))


def day_request(*, brief_date: object, brief_type: object, max_concurrent_briefs: object, fan_out: object,
                today: dt.date) -> DayRequest:
    return DayRequest(brief_date=check_brief_date(brief_date, today),
                      brief_type=check_choice(brief_type, BRIEF_TYPES, "brief_type"),  # type: ignore[arg-type]
                      max_concurrent_briefs=check_max_concurrent_briefs(max_concurrent_briefs),
                      fan_out=check_choice(fan_out, FAN_OUTS, "fan_out"))


def batch_request(*, brief_date: object, user_ids: object, brief_type: object,
                  max_concurrent_briefs: object) -> BatchRequest:
    """A batch is always for a given day, the stored plan's (no default), and only its format is
    checked: daily-briefs checked that it is not in the future when it planned the day. Checked again
    against this worker's clock, the parent's day would be refused whenever the worker's clock is a
    little behind at 00:00 UTC."""
    return BatchRequest(brief_date=parse_date(brief_date), user_ids=check_user_ids(user_ids),
                        brief_type=check_choice(brief_type, BRIEF_TYPES, "brief_type"),  # type: ignore[arg-type]
                        max_concurrent_briefs=None if max_concurrent_briefs is None
                        else check_max_concurrent_briefs(max_concurrent_briefs))
