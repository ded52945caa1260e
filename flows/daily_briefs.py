"""The ``daily_briefs`` flow: every user's brief for one day, made concurrently as child flow runs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.settings import get_current_settings
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from civic_briefs import briefing, db, repo
from civic_briefs.settings import get_settings
from flows.generate_brief import _today, generate_brief

# The embedded (temporary, SQLite) API answered HTTP 503 at 32 concurrent child flow runs on a
# 2-core machine; 8 ran cleanly. Without a real server we never go above this.
EMBEDDED_API_MAX_CONCURRENCY = 8


@task(name="brief-for-user", task_run_name="brief-for-{user_id}", cache_policy=NO_CACHE)
def brief_for_user(user_id: str, brief_date: dt.date, brief_type: str) -> dict[str, Any]:
    """Run the child flow; report its outcome as a row instead of raising, so others go on."""
    state = generate_brief(user_id=user_id, brief_date=brief_date, brief_type=brief_type, return_state=True)
    row: dict[str, Any] = {"user": user_id, "status": "failed", "headline": "", "duration_s": None, "error": ""}
    if state.is_completed():
        brief = state.result()
        row.update(status=brief.status, headline=brief.headline or "", error=brief.error or "",
                   duration_s=round(brief.duration_seconds, 1) if brief.duration_seconds else None)
    else:
        try:
            state.result()
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
        else:
            row["error"] = state.message or state.type.value
    return row


def _effective_concurrency(requested: int, log: logging.LoggerAdapter) -> int:
    if not get_current_settings().api.url and requested > EMBEDDED_API_MAX_CONCURRENCY:
        log.warning("max_concurrent_briefs=%d is more than the embedded API holds; using %d. "
                    "Run a Prefect server (make serve) for more.", requested, EMBEDDED_API_MAX_CONCURRENCY)
        return EMBEDDED_API_MAX_CONCURRENCY
    return max(1, requested)


@flow(name="daily-briefs", flow_run_name="daily-briefs-{brief_date}", validate_parameters=True)
def daily_briefs(
    brief_date: dt.date | None = Field(default=None, description="The day to make briefs for (UTC); empty means today."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    max_concurrent_briefs: int = Field(
        default=get_settings().max_concurrent_briefs, ge=1, le=64,
        description="How many briefs are made at once (capped at 8 on the embedded API)."),
):
    """Make every user's brief for ``brief_date``. One user's failure does not stop the others;
    the run ends Failed if any brief failed, with a table artifact of all users."""
    log = get_run_logger()
    day = brief_date or _today()
    users = db.run_with_reconnect(repo.list_users_with_interests)
    log.info("Making %s briefs for %d users on %s", brief_type, len(users), day)
    progress_id = create_progress_artifact(progress=0.0, key=f"daily-briefs-progress-{day.isoformat()}",
                                           description=f"Briefs done for {day}")
    rows: list[dict[str, Any]] = []
    with ThreadPoolTaskRunner(max_workers=_effective_concurrency(max_concurrent_briefs, log)) as runner:
        futures = [runner.submit(brief_for_user, {"user_id": u.id, "brief_date": day, "brief_type": brief_type}) for u in users]
        for future in futures:
            rows.append(future.result())
            update_progress_artifact(progress_id, progress=100.0 * len(rows) / max(1, len(users)))
    update_progress_artifact(progress_id, progress=100.0)
    _settle_costs(day, brief_type)
    create_table_artifact(key=f"daily-briefs-{day.isoformat()}", table=rows,
                          description=f"{brief_type.title()} briefs for {day}: one row per user")
    failed = [r for r in rows if r["status"] == "failed"]
    summary = (f"{len(rows) - len(failed)} of {len(rows)} briefs done "
               f"({sum(r['status'] == 'published' for r in rows)} published, {sum(r['status'] == 'skipped' for r in rows)} skipped)")
    if failed:
        return Failed(message=f"{summary}; failed: {', '.join(r['user'] for r in failed)}", data=rows)
    return Completed(message=summary, data=rows)


def _settle_costs(day: dt.date, brief_type: str) -> None:
    """Charge each published brief its share of the day's shared segments."""
    def work(conn):
        briefs = [b for b in repo.list_briefs(conn, day) if b["status"] == "published" and b["brief_type"] == brief_type]
        settled = briefing.settle_shared_costs({b["id"]: json.loads(b["costs"] or "{}") for b in briefs})
        repo.update_costs(conn, settled)
    db.run_with_reconnect(work)
