"""``daily_briefs`` with ``fan_out=deployment``: the day's users in batches, each batch a run of the
``make-briefs`` deployment that any worker of its pool picks up. Briefs that cannot be handed to a
worker are made in this process instead, so the day never waits on runs nobody will start.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from prefect.settings import get_current_settings

MAKE_BRIEFS_DEPLOYMENT = "make-briefs/make-briefs"
# A batch that no worker has started after this long (every slot busy, e.g. with this run's own
# on a worker started with --limit 1) is cancelled and made in this process.
START_WAIT_SECONDS = 600.0
# How long a started batch may take.
FINISH_WAIT_SECONDS = 6 * 3600.0


def blocker(client: Any) -> str | None:
    """Why batches started from the make-briefs deployment could never run, or None: no server,
    no such deployment, no worker online in its pool, or a pool limit with no slot besides ours."""
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
    from prefect.context import FlowRunContext
    from prefect.exceptions import ObjectNotFound

    if not get_current_settings().api.url:
        return "there is no Prefect server (PREFECT_API_URL is not set), so no worker can run them"
    try:
        deployment = client.read_deployment_by_name(MAKE_BRIEFS_DEPLOYMENT)
    except ObjectNotFound:
        return f"deployment {MAKE_BRIEFS_DEPLOYMENT} does not exist (prefect --no-prompt deploy --all)"
    pool_name = deployment.work_pool_name
    if not pool_name:
        return f"deployment {MAKE_BRIEFS_DEPLOYMENT} has no work pool"
    pool = client.read_work_pool(pool_name)
    context = FlowRunContext.get()
    same_pool = bool(context and context.flow_run and context.flow_run.work_pool_name == pool_name)
    if pool.concurrency_limit is not None and pool.concurrency_limit < (2 if same_pool else 1):
        return (f"work pool {pool_name!r} has a concurrency limit of {pool.concurrency_limit}"
                + (", taken by this run itself" if same_pool else ""))
    online = client.read_workers_for_work_pool(
        pool_name, worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"])))
    if not online:
        return f"no worker is online in work pool {pool_name!r}"
    return None


def batches(user_ids: list[str], runs: int) -> list[list[str]]:
    """``user_ids`` in at most ``runs`` batches of near-equal size, each in the users' order."""
    runs = max(1, min(runs, len(user_ids)))
    size, extra = divmod(len(user_ids), runs)
    out, start = [], 0
    for index in range(runs):
        end = start + size + (1 if index < extra else 0)
        out.append(user_ids[start:end])
        start = end
    return [b for b in out if b]


def run_batches(user_ids: list[str], brief_date: dt.date, brief_type: str, runs: int,
                log: logging.LoggerAdapter, max_concurrent_briefs: int | None = None) -> tuple[list[str], list[str]]:
    """Start the batches and wait for them. Returns (users whose batch ran to an end, users to
    make in this process: no worker could take them, or their batch could not be started or
    waited for). Each brief's outcome is on its row."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        reason = blocker(client)
    if reason:
        log.warning("fan_out=deployment, but %s: making the briefs in this process instead", reason)
        return [], user_ids
    started: dict[Any, list[str]] = {}
    unstarted: list[str] = []
    for batch in batches(user_ids, runs):
        try:
            run = run_deployment(MAKE_BRIEFS_DEPLOYMENT, timeout=0, parameters={
                "brief_date": brief_date.isoformat(), "brief_type": brief_type, "user_ids": batch,
                "max_concurrent_briefs": max_concurrent_briefs})
        except Exception as exc:  # noqa: BLE001 - those briefs are made here instead
            log.warning("Could not start a make-briefs run for %d users (%s: %s): making them here",
                        len(batch), type(exc).__name__, exc)
            unstarted.extend(batch)
            continue
        started[run.id] = batch
    log.info("Started %d make-briefs runs for %d users; waiting for them", len(started), len(user_ids))
    finished, stranded = asyncio.run(_wait(started, log)) if started else ([], [])
    return finished, stranded + unstarted


async def _wait(started: dict[Any, list[str]], log: logging.LoggerAdapter) -> tuple[list[str], list[str]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.flow_runs import wait_for_flow_run
    from prefect.states import Cancelled

    async def one(run_id: Any) -> tuple[Any, bool]:
        async with get_client() as client:
            try:
                run = await wait_for_flow_run(run_id, timeout=int(START_WAIT_SECONDS), client=client)
                return run_id, True
            except Exception:  # noqa: BLE001 - FlowRunWaitTimeout: has a worker started it at all?
                run = await client.read_flow_run(run_id)
                if run.state and run.state.is_scheduled():
                    result = await client.set_flow_run_state(run_id, Cancelled(
                        message="No worker started this batch; daily-briefs made its briefs in process"))
                    if result.status == SetStateStatus.ACCEPT:
                        log.warning("%s was not started by any worker in %.0f s (is every worker slot busy? start "
                                    "workers with --limit 2 or more): making its briefs here", run.name, START_WAIT_SECONDS)
                        return run_id, False
                await wait_for_flow_run(run_id, timeout=int(FINISH_WAIT_SECONDS), client=client)
                return run_id, True

    finished, stranded = [], []
    outcomes = await asyncio.gather(*(one(r) for r in started), return_exceptions=True)
    for run_id, outcome in zip(started, outcomes):
        if isinstance(outcome, BaseException):
            # Not known to have ended: what its batch did not publish is made here (a published
            # brief is kept as it is).
            log.warning("Could not wait for make-briefs run %s (%s: %s): making what it did not publish here",
                        run_id, type(outcome).__name__, outcome)
            stranded.extend(started[run_id])
        else:
            (finished if outcome[1] else stranded).extend(started[run_id])
    return finished, stranded
