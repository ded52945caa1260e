"""The ``daily_briefs`` flow: every user's brief for one day.

Plan the day once (bills in bulk, news once per interest, the distinct shared segments), make
every distinct segment once, publish each brief as soon as its own segments are ready. In process
that is two task runs for the whole day; with ``fan_out=deployment`` the users are split into
batches, each a ``make-briefs`` run on any worker of the pool.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import Completed, Failed, State
from pydantic import Field

from civic_briefs import db, delivery, inputs, publishing, repo
from civic_briefs.models import BriefType, User
from civic_briefs.production import BriefOutcome, today
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings
from flows import fan_out as deployment_fan_out
from flows.run_health import explain_crash_mark
from tasks.day import make_briefs, plan_briefs, prune_store


def _daily_run_name() -> str:
    from prefect.runtime import flow_run

    return f"daily-briefs-{flow_run.parameters.get('brief_date') or 'local-' + today().isoformat()}"


@dataclass
class DayOutcome:
    """What making one date's briefs came to: a row per user, and how often a brief was started again."""

    brief_date: dt.date
    rows: list[BriefOutcome]
    retries: dict[str, int] = field(default_factory=dict)


# Prefect's own validation is off: civic_briefs.inputs checks the parameters (see generate_brief).
@flow(name="daily-briefs", flow_run_name=_daily_run_name, validate_parameters=False,
      on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def daily_briefs(
    brief_date: dt.date | None = Field(
        default=None, description="The day to make every user's brief for (UTC), today or earlier; empty means "
                                  "each user's own local date now (their timezone)."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    max_concurrent_briefs: int = Field(
        default=get_settings().max_concurrent_briefs,
        description="How many briefs are in progress at once in a process, 1 to 256 (segments are shared however many)."),
    fan_out: Literal["in-process", "deployment"] = Field(
        default=get_settings().fan_out,
        description="in-process: this run makes every brief. deployment: the users are split into batches, each "
                    "a run of the make-briefs deployment picked up by any worker of its pool (needs a server and "
                    "workers with a free slot besides this run's: make serve)."),
):
    """Make every user's brief for ``brief_date`` (or each user's for their own local date). One
    user's failure does not stop the others; the run ends Failed if any brief failed, with a table
    artifact of all users per date."""
    log = get_run_logger()
    try:
        request = inputs.day_request(brief_date=brief_date, brief_type=brief_type,
                                     max_concurrent_briefs=max_concurrent_briefs, fan_out=fan_out, today=today())
    except inputs.InputError as exc:
        log.error("%s", exc)
        return Failed(message=str(exc), data=exc)
    users = db.run_with_reconnect(repo.list_users_with_interests)
    if brief_date is None or brief_date == "":
        now = dt.datetime.now(dt.UTC)
        days: dict[dt.date, list[User]] = {}
        for user in users:
            days.setdefault(delivery.local_date(user, now), []).append(user)
    else:
        days = {request.brief_date: users}
    outcomes = [make_day(day_users, day, request.brief_type, request.max_concurrent_briefs, request.fan_out)
                for day, day_users in sorted(days.items())]
    return day_state(outcomes)


def make_day(users: list[User], day: dt.date, brief_type: BriefType, max_concurrent_briefs: int,
             fan_out: str) -> DayOutcome:
    """Make ``users``' briefs for ``day``: plan (the day's stored plan, with these users), make, and
    write the day's table artifact. Briefs already published are left as they are."""
    log = get_run_logger()
    settings = get_settings()
    log.info("Making %s briefs for %d users on %s (fan-out: %s)", brief_type, len(users), day, fan_out)
    # Fails here, before any brief, when settings ask for a provider that cannot work.
    log.info("Providers: %s", registry.providers(settings).names().describe())
    plan = plan_briefs(users, day, brief_type, stored=True)
    user_ids = [u.id for u in users]
    progress_key = f"{_artifact_prefix(brief_type)}-progress-{day.isoformat()}"
    retries: dict[str, int] = {}  # fan_out=deployment: times a brief was started again after its batch crashed
    if fan_out == "deployment":
        started = repo.now_iso()
        fanned = deployment_fan_out.run_batches(user_ids, day, brief_type, settings.fan_out_runs, log,
                                                max_concurrent_briefs)
        retries = fanned.retries
        outcomes = {o.user_id: o for o in _outcomes_from_rows(fanned.finished, day, brief_type, started)}
        if fanned.stranded:
            outcomes.update({o.user_id: o for o in make_briefs(plan, fanned.stranded, max_concurrent_briefs=max_concurrent_briefs,
                                                                progress_key=progress_key)})
        rows = [outcomes[uid] for uid in user_ids]
    else:
        rows = make_briefs(plan, user_ids, max_concurrent_briefs=max_concurrent_briefs, progress_key=progress_key)
    create_table_artifact(key=f"{_artifact_prefix(brief_type)}-{day.isoformat()}", table=[_table_row(r, retries) for r in rows],
                          description=f"{brief_type.title()} briefs for {day}: one row per user")
    return DayOutcome(brief_date=day, rows=rows, retries=retries)


def day_state(days: list[DayOutcome]) -> State:
    """The run's final state: Failed naming the failed briefs, if any; the prune of the segment store
    is done first (the briefs are out; pruning is housekeeping)."""
    log = get_run_logger()
    try:
        prune_store()
    except Exception as exc:  # noqa: BLE001
        log.error("Could not prune the segment store: %s", exc)
    rows = [r for d in days for r in d.rows]
    retries = {uid: n for d in days for uid, n in d.retries.items()}
    failed = [r for r in rows if r.status == "failed"]
    finished_rows = [r for r in rows if r.status != "failed"]
    summary = (f"{len(finished_rows)} of {len(rows)} briefs done ({sum(r.status == 'published' for r in rows)} published, "
               f"{sum(r.status == 'skipped' for r in rows)} skipped; {sum(r.made_now for r in finished_rows)} made now, "
               f"{sum(not r.made_now for r in finished_rows)} already there)")
    if len(days) > 1:
        summary += " for " + ", ".join(f"{d.brief_date} ({len(d.rows)})" for d in days)
    if retries:
        summary += f"; {len(retries)} started again after their make-briefs run crashed"
    table = [{"brief_date": d.brief_date.isoformat()} | _table_row(r, retries) for d in days for r in d.rows]
    if failed:
        return Failed(message=f"{summary}; failed: {', '.join(r.user_id for r in failed)}", data=table)
    return Completed(message=summary, data=table)


def _artifact_prefix(brief_type: str) -> str:
    """``daily-briefs`` or ``weekly-briefs``: a weekly run does not overwrite the day's table."""
    return f"{brief_type}-briefs"


def _table_row(outcome: BriefOutcome, retries: dict[str, int]) -> dict[str, object]:
    return {"user": outcome.user_id, "status": outcome.status, "made_now": outcome.made_now,
            "headline": outcome.headline, "duration_s": outcome.duration_seconds, "error": outcome.error,
            "retries": retries.get(outcome.user_id, 0)}


def _outcomes_from_rows(user_ids: list[str], day: dt.date, brief_type: str, since: str) -> list[BriefOutcome]:
    """Briefs made by make-briefs runs, from the rows they saved (their results may be in storage
    this process cannot read; the database is shared)."""
    outcomes = []
    for uid in user_ids:
        row = db.run_with_reconnect(lambda c, u=uid: repo.get_brief(c, u, brief_type, day))
        if row is None:
            outcomes.append(BriefOutcome(user_id=uid, status="failed", error="its make-briefs run saved no brief"))
            continue
        brief = publishing.brief_from_row(row)
        outcomes.append(BriefOutcome(user_id=uid, status=brief.status, made_now=row["updated_at"] >= since, headline=brief.headline or "",
                                     duration_seconds=round(brief.duration_seconds, 1) if brief.duration_seconds else None,
                                     audio_url=brief.audio_url, error=brief.error or "", brief=brief))
    return outcomes
