"""How ``daily_briefs`` runs its children: in this process, or as runs of the ``generate-brief``
deployment that any worker of its pool picks up.

Each way returns one row per user: ``{user, status, made_now, headline, duration_s, error, flow_run}``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner

from civic_briefs import db, repo
from flows.generate_brief import generate_brief

# The embedded (temporary, SQLite) API answered HTTP 503 at 32 concurrent child flow runs on a
# 2-core machine; 8 ran cleanly. Without a real server we never go above this.
EMBEDDED_API_MAX_CONCURRENCY = 8

# fan_out="deployment": each brief is a run of this deployment (see prefect.yaml).
GENERATE_BRIEF_DEPLOYMENT = "generate-brief/generate-brief"
CHILD_POLL_SECONDS = 3.0
API_PAGE = 200
# A parent waiting for children that no worker picks up (every worker slot busy, e.g. the parent's
# own, with a worker started with --limit 1) gives up waiting after this long with none running and
# none changing state: it cancels them and makes those briefs itself, in process.
CHILD_STALL_SECONDS = 600.0


@task(name="brief-for-user", task_run_name="brief-for-{user_id}", cache_policy=NO_CACHE)
def brief_for_user(user_id: str, brief_date: dt.date, brief_type: str) -> dict[str, Any]:
    """Run the child flow; report its outcome as a row instead of raising, so others go on."""
    state = generate_brief(user_id=user_id, brief_date=brief_date, brief_type=brief_type, return_state=True)
    if state.is_completed():
        brief = state.result()
        return _row(user_id, brief.status, brief.headline or "",
                    round(brief.duration_seconds, 1) if brief.duration_seconds else None, brief.error or "", "in process",
                    made_now=brief.made_now)
    try:
        state.result()
    except Exception as exc:
        return _row(user_id, error=f"{type(exc).__name__}: {exc}", flow_run="in process")
    return _row(user_id, error=state.message or state.type.value, flow_run="in process")


def _effective_concurrency(requested: int, log: logging.LoggerAdapter) -> int:
    if not get_current_settings().api.url and requested > EMBEDDED_API_MAX_CONCURRENCY:
        log.warning("max_concurrent_briefs=%d is more than the embedded API holds; using %d. "
                    "Run a Prefect server (make serve) for more.", requested, EMBEDDED_API_MAX_CONCURRENCY)
        return EMBEDDED_API_MAX_CONCURRENCY
    return max(1, requested)


def in_process(user_ids: list[str], day: dt.date, brief_type: str, max_concurrent_briefs: int,
               on_row: Callable[[dict[str, Any]], None], log: logging.LoggerAdapter) -> list[dict[str, Any]]:
    """Each brief as a child flow run in this process, ``max_concurrent_briefs`` at once."""
    if not user_ids:
        return []
    with ThreadPoolTaskRunner(max_workers=_effective_concurrency(max_concurrent_briefs, log)) as runner:
        futures = {runner.submit(brief_for_user, {"user_id": uid, "brief_date": day, "brief_type": brief_type}): uid
                   for uid in user_ids}
        rows_by_user: dict[str, dict[str, Any]] = {}
        for future in as_completed(futures):
            uid = futures[future]
            # brief_for_user reports failures as rows; a crash of the task itself becomes one too.
            try:
                rows_by_user[uid] = future.result()
            except Exception as exc:
                rows_by_user[uid] = _row(uid, error=f"brief-for-user failed: {type(exc).__name__}: {exc}")
            on_row(rows_by_user[uid])
    return [rows_by_user[uid] for uid in user_ids]


def _deployment_fan_out_blocker(client: Any) -> str | None:
    """Why children started from the generate-brief deployment could never run, or None.

    Seen up front: no server (the embedded API has no workers), no such deployment, no worker online
    in its pool, or a pool limit that leaves no slot besides this run's own. A worker started with
    ``--limit 1`` that runs this parent is not visible here: the stall check in the wait covers it.
    """
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
    from prefect.context import FlowRunContext
    from prefect.exceptions import ObjectNotFound

    if not get_current_settings().api.url:
        return "there is no Prefect server (PREFECT_API_URL is not set), so no worker can run them"
    try:
        deployment = client.read_deployment_by_name(GENERATE_BRIEF_DEPLOYMENT)
    except ObjectNotFound:
        return f"deployment {GENERATE_BRIEF_DEPLOYMENT} does not exist (prefect --no-prompt deploy --all)"
    pool_name = deployment.work_pool_name
    if not pool_name:
        return f"deployment {GENERATE_BRIEF_DEPLOYMENT} has no work pool"
    pool = client.read_work_pool(pool_name)
    context = FlowRunContext.get()
    same_pool = bool(context and context.flow_run and context.flow_run.work_pool_name == pool_name)
    needed = 2 if same_pool else 1
    if pool.concurrency_limit is not None and pool.concurrency_limit < needed:
        return (f"work pool {pool_name!r} has a concurrency limit of {pool.concurrency_limit}"
                + (", taken by this run itself" if same_pool else ""))
    online = client.read_workers_for_work_pool(
        pool_name, worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"])))
    if not online:
        return f"no worker is online in work pool {pool_name!r}"
    return None


def via_deployment(user_ids: list[str], day: dt.date, brief_type: str, max_concurrent_briefs: int,
                   on_row: Callable[[dict[str, Any]], None], log: logging.LoggerAdapter) -> list[dict[str, Any]]:
    """Each brief as a run of the generate-brief deployment (linked to this run as a subflow); wait
    for all of them. Briefs that cannot be handed to a worker are made in process instead."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    rows_by_user: dict[str, dict[str, Any]] = {}
    with get_client(sync_client=True) as client:
        blocker = _deployment_fan_out_blocker(client)
        if blocker:
            log.warning("fan_out=deployment, but %s: making the briefs in this process instead", blocker)
            return in_process(user_ids, day, brief_type, max_concurrent_briefs, on_row, log)

        waiting: dict[Any, str] = {}  # child flow run id -> user id
        for uid in user_ids:
            try:
                child = run_deployment(GENERATE_BRIEF_DEPLOYMENT, timeout=0, parameters={
                    "user_id": uid, "brief_date": day.isoformat(), "brief_type": brief_type})
            except Exception as exc:  # noqa: BLE001 - one user's failure must not stop the others
                rows_by_user[uid] = _row(uid, error=f"could not start: {type(exc).__name__}: {exc}")
                on_row(rows_by_user[uid])
                continue
            waiting[child.id] = uid
        log.info("Started %d generate-brief runs; waiting for them", len(waiting))

        rows_by_user.update(_wait(client, waiting, day, brief_type, on_row, log, stall_seconds=CHILD_STALL_SECONDS))

    stranded = [uid for uid in user_ids if uid not in rows_by_user]
    if stranded:
        for row in in_process(stranded, day, brief_type, max_concurrent_briefs, on_row, log):
            rows_by_user[row["user"]] = {**row, "flow_run": "in process (no worker slot)"}
    return [rows_by_user[uid] for uid in user_ids]


def _wait(client: Any, waiting: dict[Any, str], day: dt.date, brief_type: str,
          on_row: Callable[[dict[str, Any]], None], log: logging.LoggerAdapter,
          stall_seconds: float) -> dict[str, dict[str, Any]]:
    """Wait for the child runs in ``waiting`` (flow run id -> user id) to end; their rows by user.

    If none has started or changed state for ``stall_seconds``, the ones still scheduled are
    cancelled and left out of the result, for the caller to make in process. Runs a worker took
    just before they could be cancelled are waited for to the end.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Cancelled

    rows: dict[str, dict[str, Any]] = {}
    seen: dict[Any, str] = {}
    last_change = time.monotonic()
    gave_up = False
    while waiting:
        time.sleep(CHILD_POLL_SECONDS)
        ids = list(waiting)
        runs = [run for start in range(0, len(ids), API_PAGE)  # the API answers at most 200 runs a call
                for run in client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=ids[start:start + API_PAGE])), limit=API_PAGE)]
        for run in runs:
            state_name = run.state.name if run.state else "unknown"
            if seen.get(run.id) != state_name:
                seen[run.id] = state_name
                last_change = time.monotonic()
            if run.state and run.state.is_final():
                uid = waiting.pop(run.id)
                rows[uid] = _row_from_child(uid, day, brief_type, run)
                on_row(rows[uid])
                log.info("%s: %s (%s)", run.name, run.state.name, rows[uid]["status"])
        started = [r for r in runs if r.id in waiting and r.state and not r.state.is_scheduled()]
        if not gave_up and waiting and not started and time.monotonic() - last_change > stall_seconds:
            gave_up = True
            log.warning("No worker has started any of the %d waiting generate-brief runs for %.0f s (is every "
                        "worker slot busy, e.g. with this run? Start workers with --limit 2 or more): "
                        "cancelling them and making those briefs in this process", len(waiting), stall_seconds)
            for run_id in list(waiting):
                result = client.set_flow_run_state(run_id, Cancelled(
                    message="No worker picked this run up; daily-briefs made the brief in process"))
                if result.status == SetStateStatus.ACCEPT:
                    waiting.pop(run_id)
    return rows


def _row(user_id: str, status: str = "failed", headline: str = "", duration_s: float | None = None,
         error: str = "", flow_run: str = "", made_now: bool = True) -> dict[str, Any]:
    """One user's line in the day's table. ``made_now`` is False for a brief that already existed."""
    return {"user": user_id, "status": status, "made_now": made_now, "headline": headline, "duration_s": duration_s,
            "error": error, "flow_run": flow_run}


def _row_from_child(user_id: str, day: dt.date, brief_type: str, run: Any) -> dict[str, Any]:
    """A finished child run's row, from the brief it saved (the results of a run on another worker
    may be in storage this process cannot read; the database is shared)."""
    brief = db.run_with_reconnect(lambda conn: repo.get_brief(conn, user_id, brief_type, day))
    if run.state.is_completed() and brief and brief["status"] in ("published", "skipped"):
        duration = brief["duration_seconds"]
        # Saved during this child run, or returned untouched from before it.
        made_now = run.start_time is None or dt.datetime.fromisoformat(brief["updated_at"]) >= run.start_time.replace(
            microsecond=0)
        return _row(user_id, brief["status"], brief["headline"] or "", round(duration, 1) if duration else None,
                    brief["error"] or "", run.name, made_now=made_now)
    error = (brief["error"] if brief and brief["status"] == "failed" and brief["error"] else "") \
        or run.state.message or f"generate-brief ended {run.state.name}"
    if run.state.is_completed():
        error = f"generate-brief completed but saved no brief ({error})"
    return _row(user_id, "failed", error=f"{run.state.name}: {error}", flow_run=run.name)
