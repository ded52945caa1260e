"""The ``generate_brief`` flow: one user's brief, ad hoc (from the UI, the CLI or a deployment run).

It is a day of one: the same plan, the same segment store and content keys as the day's run, so
an ad-hoc brief after the day reuses the day's segments, and the reverse.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow, get_run_logger
from prefect.states import Failed
from pydantic import Field

from civic_briefs import db, delivery, inputs, publishing, repo
from civic_briefs.interests import validate_interests
from civic_briefs.models import PublishedBrief
from civic_briefs.production import today
from civic_briefs.providers import registry
from flows.run_health import explain_crash_mark
from tasks.day import make_briefs, plan_briefs
from tasks.limits import require_limits


class BriefFailed(RuntimeError):
    """The brief could not be made; the message says why (it is saved on the brief's row too)."""


def _brief_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return f"brief-{p['user_id']}-{p.get('brief_date') or 'local'}"


# Prefect's own validation is off: the parameters are checked by civic_briefs.inputs, so a bad
# one gets the CLI's message (Prefect's server does not check a date's format; its messages differ).
@flow(name="generate-brief", flow_run_name=_brief_run_name, validate_parameters=False,
      on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def generate_brief(
    user_id: str = Field(description="The id of the user in the users table."),
    policy_interests: list[str] | None = Field(
        default=None, description="Interest ids for this run only (e.g. [\"healthcare\", \"climate\"]); empty uses the user's own."),
    brief_date: dt.date | None = Field(default=None, description="The brief's date, today (UTC) or earlier; empty means the user's own local date now (their timezone)."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    force: bool = Field(default=False, description="Make the brief again even if one exists for this user, type and date."),
    brief_length: Literal["short", "standard", "long"] | None = Field(
        default=None, description="short (about 2 minutes), standard (about 5) or long (about 10) for this run only; "
                                  "empty uses the user's own."),
) -> PublishedBrief:
    """Make and publish one brief. An existing published brief is returned untouched unless
    ``force``; a skipped one is made if there is now something to say. Bad parameters end the
    run Failed at once, with the reason as its message, before anything is written."""
    log = get_run_logger()
    try:
        request = inputs.brief_request(user_id=user_id, policy_interests=policy_interests, brief_date=brief_date,
                                       brief_type=brief_type, force=force, today=today(), brief_length=brief_length)
        user = db.run_with_reconnect(lambda conn: inputs.known_user(conn, request.user_id))
    except inputs.InputError as exc:
        log.error("%s", exc)
        return Failed(message=str(exc), data=exc)
    user_id, policy_interests, day = request.user_id, request.policy_interests, request.brief_date
    if brief_date is None or brief_date == "":
        day = delivery.local_date(user, dt.datetime.now(dt.UTC))  # the listener's today, as scheduled briefs are dated
    brief_type, force = request.brief_type, request.force
    length = request.brief_length or user.brief_length
    existing = db.run_with_reconnect(lambda conn: repo.get_brief(conn, user_id, brief_type, day))
    if existing and existing["status"] == "published" and not force:
        log.info("Brief %s already published; nothing to do (force=True makes it again)", existing["id"])
        if policy_interests and policy_interests != existing["policy_interests"]:
            log.warning("The existing brief is for interests %s, not %s: pass force=True to make it again "
                        "(it replaces this user's %s brief for %s)", existing["policy_interests"], policy_interests,
                        brief_type, day)
        if request.brief_length and request.brief_length != user.brief_length:
            log.warning("The existing brief may not be %s (the user's length is %s): pass force=True to make it "
                        "again at that length", request.brief_length, user.brief_length)
        return publishing.brief_from_row(existing)
    interests = policy_interests or user.interests
    try:
        interests = validate_interests(interests)
        providers = registry.providers()
        log.info("Providers: %s", providers.names().describe())
        require_limits(providers.limits())
    except Exception as exc:
        # The row tells operators and the app why there is no brief (a published one is kept).
        reason = f"{type(exc).__name__}: {exc}"
        try:
            db.run_with_reconnect(lambda c: publishing.record_outcome(
                c, user_id=user_id, brief_type=brief_type, brief_date=day, interests=interests, status="failed",
                reason=reason))
        except Exception as save_error:  # noqa: BLE001
            log.error("Could not record the failure of %s: %s", user_id, save_error)
        raise
    # An ad-hoc run's interests and length are this brief's, in the opening too. A forced remake
    # selects afresh (bills imported since count): an ad-hoc plan is never the stored day plan.
    plan = plan_briefs([user.model_copy(update={"interests": interests, "brief_length": length})], day, brief_type,
                       stored=False)
    outcome = make_briefs(plan, [user_id], force=force, max_concurrent_briefs=1, beside_the_day=True)[0]
    if outcome.status == "failed":
        raise BriefFailed(outcome.error)
    assert outcome.brief is not None
    log.info("%s %s: %s (%s s) at %s", "Made" if outcome.made_now else "Kept", outcome.brief.id, outcome.status,
             outcome.duration_seconds, outcome.audio_url)
    return outcome.brief
