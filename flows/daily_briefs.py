"""The ``daily_briefs`` flow: every user's brief for one day, made concurrently as child flow runs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.states import Completed, Failed
from pydantic import Field

from civic_briefs import briefing, db, repo
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings
from flows import children
from flows.generate_brief import _today


def _daily_run_name() -> str:
    from prefect.runtime import flow_run

    return f"daily-briefs-{flow_run.parameters.get('brief_date') or _today()}"


@flow(name="daily-briefs", flow_run_name=_daily_run_name, validate_parameters=True)
def daily_briefs(
    brief_date: dt.date | None = Field(default=None, description="The day to make briefs for (UTC); empty means today."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    max_concurrent_briefs: int = Field(
        default=get_settings().max_concurrent_briefs, ge=1, le=64,
        description="How many briefs are made at once in process (capped at 8 on the embedded API)."),
    fan_out: Literal["in-process", "deployment"] = Field(
        default=get_settings().fan_out,
        description="in-process: every brief is a child flow run in this run's process. deployment: every "
                    "brief is a run of the generate-brief deployment, picked up by any worker of its pool "
                    "(needs a server and workers with a free slot besides this run's: make serve)."),
):
    """Make every user's brief for ``brief_date``. One user's failure does not stop the others;
    the run ends Failed if any brief failed, with a table artifact of all users."""
    log = get_run_logger()
    day = brief_date or _today()
    users = db.run_with_reconnect(repo.list_users_with_interests)
    log.info("Making %s briefs for %d users on %s (fan-out: %s)", brief_type, len(users), day, fan_out)
    # Fails here, before any brief, when settings ask for a provider that cannot work.
    log.info("Providers: %s", registry.chosen_names().describe())
    progress_id = create_progress_artifact(progress=0.0, key=f"{_artifact_prefix(brief_type)}-progress-{day.isoformat()}",
                                           description=f"Briefs done for {day}")
    done = 0

    def on_row(row: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        update_progress_artifact(progress_id, progress=100.0 * done / max(1, len(users)))

    user_ids = [u.id for u in users]
    if fan_out == "deployment":
        rows = children.via_deployment(user_ids, day, brief_type, max_concurrent_briefs, on_row, log)
    else:
        rows = children.in_process(user_ids, day, brief_type, max_concurrent_briefs, on_row, log)
    update_progress_artifact(progress_id, progress=100.0)
    create_table_artifact(key=f"{_artifact_prefix(brief_type)}-{day.isoformat()}", table=rows,
                          description=f"{brief_type.title()} briefs for {day}: one row per user")
    try:
        _settle_costs(day, brief_type)
    except Exception as exc:  # the briefs are out; a cost report that failed must not fail the day
        log.error("Could not settle the shared costs of %s: %s", day, exc)
    failed = [r for r in rows if r["status"] == "failed"]
    finished = [r for r in rows if r["status"] != "failed"]
    summary = (f"{len(finished)} of {len(rows)} briefs done ({sum(r['status'] == 'published' for r in rows)} published, "
               f"{sum(r['status'] == 'skipped' for r in rows)} skipped; {sum(r['made_now'] for r in finished)} made now, "
               f"{sum(not r['made_now'] for r in finished)} already there)")
    if failed:
        return Failed(message=f"{summary}; failed: {', '.join(r['user'] for r in failed)}", data=rows)
    return Completed(message=summary, data=rows)


def _artifact_prefix(brief_type: str) -> str:
    """``daily-briefs`` or ``weekly-briefs``: a weekly run does not overwrite the day's table."""
    return f"{brief_type}-briefs"


def _settle_costs(day: dt.date, brief_type: str) -> None:
    """Charge each published brief its share of the day's shared segments."""
    def work(conn):
        # Read and write as one transaction: a brief published meanwhile waits instead of being overwritten.
        conn.execute("BEGIN IMMEDIATE")
        try:
            briefs = [b for b in repo.list_briefs(conn, day) if b["status"] == "published" and b["brief_type"] == brief_type]
            settled = briefing.settle_shared_costs({b["id"]: json.loads(b["costs"] or "{}") for b in briefs})
            repo.update_costs(conn, settled)
        except Exception:
            conn.rollback()
            raise
    db.run_with_reconnect(work)
