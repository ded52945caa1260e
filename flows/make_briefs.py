"""The ``make_briefs`` flow: a batch of one day's briefs from the stored day plan.

``daily_briefs`` with ``fan_out=deployment`` starts one run of its deployment per batch of users,
so every worker of the pool shares the day. Shared segments are made once across all of them:
each is looked up in the shared segment store and claimed (Redis) while it is made.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow, get_run_logger
from prefect.states import Failed
from pydantic import Field

from civic_briefs import db, inputs, repo
from civic_briefs.plan import DayPlan
from civic_briefs.production import BriefOutcome
from flows.run_health import explain_crash_mark
from tasks.day import make_briefs


class NoPlanError(LookupError):
    """No plan is stored for that day: daily-briefs plans the day before it starts batches."""


def _batch_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return f"make-briefs-{p['brief_date']}-{len(p.get('user_ids') or [])}-users"


# Prefect's own validation is off: civic_briefs.inputs checks the parameters (see generate_brief).
@flow(name="make-briefs", flow_run_name=_batch_run_name, validate_parameters=False,
      on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def make_briefs_batch(
    brief_date: dt.date = Field(description="The day whose stored plan to work from."),
    user_ids: list[str] = Field(description="The users of the plan whose briefs this run makes."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    max_concurrent_briefs: int | None = Field(default=None, description="Briefs in progress at once, 1 to 256."),
) -> list[BriefOutcome]:
    try:
        request = inputs.batch_request(brief_date=brief_date, user_ids=user_ids, brief_type=brief_type,
                                       max_concurrent_briefs=max_concurrent_briefs)
    except inputs.InputError as exc:
        get_run_logger().error("%s", exc)
        return Failed(message=str(exc), data=exc)
    saved = db.run_with_reconnect(lambda c: repo.get_day_plan(c, request.brief_type, request.brief_date))
    if saved is None:
        raise NoPlanError(f"No {request.brief_type} plan is stored for {request.brief_date}: run daily-briefs for that day")
    plan = DayPlan.model_validate_json(saved)
    planned = {p.user.id for p in plan.users}
    strangers = [u for u in request.user_ids if u not in planned]
    if strangers:
        exc = inputs.InputError("user_ids", f"user_ids not in the stored {request.brief_type} plan for "
                                            f"{request.brief_date}: {', '.join(strangers)}")
        get_run_logger().error("%s", exc)
        return Failed(message=str(exc), data=exc)
    return make_briefs(plan, request.user_ids, max_concurrent_briefs=request.max_concurrent_briefs)
