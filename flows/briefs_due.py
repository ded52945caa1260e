"""The ``briefs-due`` flow: the briefs whose listeners' local delivery time comes next.

Its deployments run every 15 minutes (prefect.yaml), one run at a time. Each run takes the users
whose delivery time on their own local date is at most ``BRIEFS_DELIVERY_LEAD_MINUTES`` away (or
passed less than ``BRIEFS_DELIVERY_CATCH_UP_HOURS`` ago, if an earlier run missed it or failed) and
whose brief is not made yet, and makes them with the day's pipeline, one local date at a time
(``daily_briefs.make_day``): a brief is dated by its listener's local date and is out before their
delivery time, across daylight-saving changes (civic_briefs/delivery.py). A run with no brief due
reads the users and each due date's statuses, and ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed
from pydantic import Field

from civic_briefs import db, delivery, inputs, repo
from civic_briefs.settings import get_settings
from flows.daily_briefs import day_state, make_day
from flows.run_health import explain_crash_mark


def _due_run_name() -> str:
    from prefect.runtime import flow_run

    return f"{flow_run.parameters.get('brief_type') or 'daily'}-briefs-due"


@flow(name="briefs-due", flow_run_name=_due_run_name, validate_parameters=False,
      on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def briefs_due(
    brief_type: Literal["daily", "weekly"] = Field(
        default="daily", description="daily: every user's brief; weekly: the deep-dive of the users whose "
                                     "weekly day it is, where they are."),
    at: dt.datetime | None = Field(
        default=None, description="The moment to act as of (UTC); empty means now. For a catch-up after an outage."),
    max_concurrent_briefs: int = Field(default=get_settings().max_concurrent_briefs,
                                       description="How many briefs are in progress at once, 1 to 256."),
    fan_out: Literal["in-process", "deployment"] = Field(default=get_settings().fan_out,
                                                         description="As for daily-briefs."),
):
    """Make the briefs due now: each due user's, for their local date, before their delivery time."""
    log = get_run_logger()
    now = dt.datetime.now(dt.UTC)
    try:
        kind = inputs.check_choice(brief_type, inputs.BRIEF_TYPES, "brief_type")
        moment = inputs.check_moment(at, now)
        concurrency = inputs.check_max_concurrent_briefs(max_concurrent_briefs)
        fan = inputs.check_choice(fan_out, inputs.FAN_OUTS, "fan_out")
    except inputs.InputError as exc:
        log.error("%s", exc)
        return Failed(message=str(exc), data=exc)
    settings = get_settings()
    lead = dt.timedelta(minutes=settings.delivery_lead_minutes)
    catch_up = dt.timedelta(hours=settings.delivery_catch_up_hours)
    users = db.run_with_reconnect(repo.list_users_with_interests)
    wanted = delivery.by_date(delivery.due(users, moment, lead, catch_up, weekly=kind == "weekly"))
    todo: dict[dt.date, list[delivery.DueBrief]] = {}
    for day, briefs in wanted.items():
        done = db.run_with_reconnect(lambda c, d=day: repo.brief_statuses(c, kind, d))
        # Published, or skipped (nothing new to say for them that day): done. A failed one is tried
        # again by the next runs, until its catch-up time is over.
        left = [b for b in briefs if done.get(b.user.id) not in ("published", "skipped")]
        if left:
            todo[day] = left
    if not todo:
        return Completed(message=f"No {kind} brief due at {moment:%Y-%m-%d %H:%M} UTC "
                                 f"({sum(map(len, wanted.values()))} due already made)", data=[])
    for day, briefs in todo.items():
        first = min(b.deliver_at for b in briefs)
        log.info("%d %s briefs due for %s, the first by %s UTC", len(briefs), kind, day, f"{first:%H:%M}")
    days = [make_day([b.user for b in briefs], day, kind, concurrency, fan) for day, briefs in todo.items()]
    return day_state(days)
