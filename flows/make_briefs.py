"""The ``make_briefs`` flow: a batch of one day's briefs from the stored day plan.

``daily_briefs`` with ``fan_out=deployment`` starts one run of its deployment per batch of users,
so every worker of the pool shares the day. Shared segments are made once across all of them:
each is looked up in the shared segment store and claimed (Redis) while it is made.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow
from pydantic import Field

from civic_briefs import db, repo
from civic_briefs.plan import DayPlan
from civic_briefs.production import BriefOutcome
from tasks.day import make_briefs


class NoPlanError(LookupError):
    """No plan is stored for that day: daily-briefs plans the day before it starts batches."""


def _batch_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return f"make-briefs-{p['brief_date']}-{len(p.get('user_ids') or [])}-users"


@flow(name="make-briefs", flow_run_name=_batch_run_name, validate_parameters=True)
def make_briefs_batch(
    brief_date: dt.date = Field(description="The day whose stored plan to work from."),
    user_ids: list[str] = Field(description="The users of the plan whose briefs this run makes."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    max_concurrent_briefs: int | None = Field(default=None, ge=1, le=256, description="Briefs in progress at once."),
) -> list[BriefOutcome]:
    saved = db.run_with_reconnect(lambda c: repo.get_day_plan(c, brief_type, brief_date))
    if saved is None:
        raise NoPlanError(f"No {brief_type} plan is stored for {brief_date}: run daily-briefs for that day")
    plan = DayPlan.model_validate_json(saved)
    return make_briefs(plan, user_ids, max_concurrent_briefs=max_concurrent_briefs)
