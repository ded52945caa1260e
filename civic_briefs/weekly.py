"""The week a weekly brief covers, and how a bill is told against it.

A weekly brief dated D covers the seven days D-6 to D. A bill *moved* in that week when its latest
action, or its introduction, falls in it. Bills that did not move are told only as a catch-up, and
said so: an old action is never told as this week's. Everything here depends on the bill and the
week only, so a weekly story stays shared by every listener of that bill that week. The words come
from ``civic_briefs.spoken`` (tense by Congress, spoken dates and labels).
"""

from __future__ import annotations

import datetime as dt

from civic_briefs.models import Bill, WeekNote
from civic_briefs.spoken import (
    congress_ended,
    reached_floor,
    spoken_bill,
    spoken_date,
    spoken_month,
    spoken_weekday_date,
    where_now,
)

DAYS = 7


def week_start(brief_date: dt.date) -> dt.date:
    return brief_date - dt.timedelta(days=DAYS - 1)


def in_week(day: dt.date | None, brief_date: dt.date) -> bool:
    return day is not None and week_start(brief_date) <= day <= brief_date


def moved_in_week(bill: Bill, brief_date: dt.date) -> bool:
    return in_week(bill.latest_action_date, brief_date) or in_week(bill.introduced_date, brief_date)


def live(bill: Bill, brief_date: dt.date) -> bool:
    """Whether the bill can still move: not law yet, and its Congress is still sitting."""
    return bill.status != "enacted" and not congress_ended(bill.congress, brief_date)


def note(bill: Bill, brief_date: dt.date) -> WeekNote:
    return WeekNote(moved=moved_in_week(bill, brief_date), policy_area=bill.policy_area,
                    live=live(bill, brief_date), label_spoken=spoken_bill(bill.bill_type, bill.bill_number))


def spoken_week(brief_date: dt.date) -> str:
    """2026-11-29 -> "the week of November 23" (the week's first day)."""
    start = week_start(brief_date)
    return f"the week of {start:%B} {start.day}"


def week_span(brief_date: dt.date) -> str:
    """2026-11-29 -> "Monday, November 23 to Sunday, November 29, 2026"."""
    return f"{spoken_weekday_date(week_start(brief_date))} to {spoken_weekday_date(brief_date)}, {brief_date.year}"


def this_week(bill: Bill, brief_date: dt.date, then: str = "") -> str:
    """What the bill did this week, in one sentence that leaves what happened to ``standing``:
    "This one moved this week, on Tuesday, November 24." / "Nothing moved on it this week; the
    latest on it is from March 4, 2022." ``then``: what is said right after it; when that dates the
    latest action already, the date is not said twice."""
    latest, introduced = bill.latest_action_date, bill.introduced_date
    if in_week(introduced, brief_date) and (latest is None or latest == introduced or bill.status == "introduced"):
        return f"It's new this week: it was introduced on {spoken_weekday_date(introduced)}."  # type: ignore[arg-type]
    if in_week(latest, brief_date):
        return f"This one moved this week, on {spoken_weekday_date(latest)}."  # type: ignore[arg-type]
    if in_week(introduced, brief_date):
        return f"It's new this week: it was introduced on {spoken_weekday_date(introduced)}."  # type: ignore[arg-type]
    if latest is None:
        return "Nothing moved on it this week, and the record shows no action on it yet."
    if spoken_date(latest) in then or spoken_month(latest) in then:
        return "Nothing moved on it this week; here's the latest."
    return f"Nothing moved on it this week; the latest on it is from {spoken_date(latest)}."


def what_comes_next(bill: Bill, brief_date: dt.date) -> str:
    """What comes next for the bill, from its status and its Congress: how the process goes on
    from where it stands, never a forecast. It follows ``spoken.standing`` (which says where the
    bill stands, once) and does not say the status again."""
    where = where_now(bill)
    if bill.status == "enacted" and congress_ended(bill.congress, brief_date):
        return "It stays law unless a later Congress changes it, and the agencies it names carry it out."
    if bill.status == "enacted":
        return "As a law, it takes effect on the dates its text sets, and the agencies it names put it into practice."
    if congress_ended(bill.congress, brief_date):
        return ("Nothing more can happen to it: to get another chance, it would have to start over as a new bill "
                "in a new Congress.")
    if bill.status == "vetoed":
        return "So the next thing to watch is whether either chamber tries to override the veto."
    if bill.status == "passed_both":
        return "Next, the President has ten days, Sundays aside, to sign it or veto it."
    if bill.status in ("passed_house", "passed_senate"):
        passed, other = ("House", "Senate") if bill.status == "passed_house" else ("Senate", "House")
        return (f"If the {other} passes it as it is, it goes to the President; if the {other} changes it, "
                f"the {passed} has to agree to those changes first.")
    if bill.status == "in_committee" and reached_floor(bill):
        return f"Next, it needs a vote of the full {where}."
    if bill.status == "in_committee":
        return (f"Next, the committee has to vote to send it to the full {where} before any floor vote, "
                "and most bills never get that far.")
    return "Next, a committee has to take it up, and most bills never get past that step."
