"""``daily_briefs`` with ``fan_out=deployment``: the day's users in batches, each batch a run of the
``make-briefs`` deployment that any worker of its pool picks up. Briefs that cannot be handed to a
worker are made in this process instead, so the day never waits on runs nobody will start.

A batch whose run crashed (its worker or machine died: the zombie-run automation marks it Crashed
once its heartbeats stop), was cancelled without anyone asking, or failed before saving a row for
some of its briefs, is started again as a new make-briefs run for the briefs it did not finish, so
that any worker can take it; up to ``BRIEFS_BATCH_RETRIES`` times, then those briefs are made in
this process. What the crashed run finished is kept (brief rows, the segment store), so a retry
pays only for what was in flight.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from prefect.settings import get_current_settings

from civic_briefs import db, repo
from civic_briefs.plan import DayPlan
from civic_briefs.settings import get_settings

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


@dataclass
class FanOut:
    """How the day's batches ended. ``finished``: users whose batch (or its last retry) ran to an end,
    each brief's outcome on its row; ``stranded``: users to make in this process (no worker took
    their batch, it could not be started or waited for, or it still crashed after its retries);
    ``retries``: how many times each user's brief was started again after its batch crashed."""

    finished: list[str] = field(default_factory=list)
    stranded: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)


def run_batches(user_ids: list[str], brief_date: dt.date, brief_type: str, runs: int,
                log: logging.LoggerAdapter, max_concurrent_briefs: int | None = None,
                retries: int | None = None) -> FanOut:
    """Start the batches, wait for them, and start again (up to ``retries`` times, default
    ``BRIEFS_BATCH_RETRIES``) the unfinished briefs of a batch whose run crashed."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        reason = blocker(client)
    if reason:
        log.warning("fan_out=deployment, but %s: making the briefs in this process instead", reason)
        return FanOut(stranded=list(user_ids))
    batch = _Batches(brief_date, brief_type, max_concurrent_briefs, log,
                     get_settings().batch_retries if retries is None else retries)
    return asyncio.run(batch.run_all(batches(user_ids, runs)))


def _unfinished(row: dict[str, Any] | None) -> bool:
    return row is None or row["status"] not in ("published", "skipped")


class _Batches:
    """The day's make-briefs runs, each followed to its end and started again while it crashes."""

    def __init__(self, brief_date: dt.date, brief_type: str, max_concurrent_briefs: int | None,
                 log: logging.LoggerAdapter, retries: int):
        self.brief_date, self.brief_type, self.max_concurrent_briefs = brief_date, brief_type, max_concurrent_briefs
        self.log, self.retries = log, retries
        self.result = FanOut()
        saved = db.run_with_reconnect(lambda c: repo.get_day_plan(c, brief_type, brief_date))
        # Briefs that failed for bad input fail again however often they are started.
        self.bad_input = {p.user.id for p in DayPlan.model_validate_json(saved).users if p.error} if saved else set()

    async def run_all(self, groups: list[list[str]]) -> FanOut:
        started = []
        for users in groups:
            since = repo.now_iso()
            run = await self._start(users)
            if run is None:
                self.result.stranded.extend(users)
            else:
                started.append((run, users, since))
        self.log.info("Started %d make-briefs runs for %d users; waiting for them", len(started),
                      sum(len(users) for _, users, _ in started))
        await asyncio.gather(*(self._follow_or_strand(*one) for one in started))
        return self.result

    async def _follow_or_strand(self, run: Any, users: list[str], since: str) -> None:
        """``_follow``, whose error (say, the database failing while its rows are read) strands the
        batch's users not yet accounted for, rather than failing the whole day with no table while
        the other batches go on."""
        try:
            await self._follow(run, users, since)
        except Exception as exc:  # noqa: BLE001 - those briefs are made here instead
            done = set(self.result.finished) | set(self.result.stranded)
            left = [u for u in users if u not in done]
            self.log.warning("Following make-briefs run %s failed (%s: %s): making its %d unfinished briefs in this "
                             "process (%s)", getattr(run, "name", run.id), type(exc).__name__, exc, len(left),
                             ", ".join(left))
            self.result.stranded.extend(left)

    async def _start(self, users: list[str]) -> Any | None:
        from prefect.deployments import arun_deployment

        try:
            return await arun_deployment(MAKE_BRIEFS_DEPLOYMENT, timeout=0, parameters={
                "brief_date": self.brief_date.isoformat(), "brief_type": self.brief_type, "user_ids": users,
                "max_concurrent_briefs": self.max_concurrent_briefs})
        except Exception as exc:  # noqa: BLE001 - those briefs are made here instead
            self.log.warning("Could not start a make-briefs run for %d users (%s: %s): making them here",
                             len(users), type(exc).__name__, exc)
            return None

    async def _follow(self, run: Any, users: list[str], since: str) -> None:
        """Wait for ``run`` (started at ``since``); while it ends crashed with briefs not out, start
        those again."""
        attempt = 0
        while True:
            try:
                ended = await _wait_for(run.id, self.log)
            except Exception as exc:  # noqa: BLE001 - not known to have ended
                # What its batch did not publish is made here (a published brief is kept as it is).
                self.log.warning("Could not wait for make-briefs run %s (%s: %s): making what it did not publish here",
                                 run.id, type(exc).__name__, exc)
                self.result.stranded.extend(users)
                return
            if ended is None:  # no worker started it
                self.result.stranded.extend(users)
                return
            again = await self._to_retry(ended, users, since)
            self.result.finished.extend(u for u in users if u not in again)
            if not again:
                return
            why = f"{ended.name} ended {ended.state.name if ended.state else 'with no state'}"
            if attempt >= self.retries:
                self.log.warning("%s with %d briefs not out after %d retries: making them in this process (%s)",
                                 why, len(again), attempt, ", ".join(again))
                self.result.stranded.extend(again)
                return
            attempt += 1
            since = repo.now_iso()
            retry = await self._start(again)
            if retry is None:
                self.result.stranded.extend(again)
                return
            for uid in again:
                self.result.retries[uid] = self.result.retries.get(uid, 0) + 1
            self.log.warning("%s with %d briefs not out (%s): started them again as %s, on any worker (retry %d of %d)",
                             why, len(again), ", ".join(again), retry.name, attempt, self.retries)
            run, users = retry, again

    async def _to_retry(self, run: Any, users: list[str], since: str) -> list[str]:
        """The users of ``run`` to start again: none if it completed or failed for a reason of its
        own; if it crashed (or was cancelled by no one, or failed leaving briefs with no row), those
        whose brief is not published or skipped, except briefs that failed for bad input."""
        state = run.state
        if state is None or state.is_completed():
            return []
        rows = await asyncio.to_thread(lambda: {uid: db.run_with_reconnect(
            lambda c, u=uid: repo.get_brief(c, u, self.brief_type, self.brief_date)) for uid in users})
        unfinished = [u for u in users if u not in self.bad_input and _unfinished(rows[u])]
        if not unfinished:
            return []
        if state.is_crashed():
            return unfinished
        if state.is_cancelled():
            return [] if await _cancel_was_asked(run.id) else unfinished
        if state.is_failed():
            # Failed, having saved no row for some: its process broke off (a brief that fails has a row).
            return unfinished if any(rows[u] is None or rows[u]["updated_at"] < since for u in unfinished) else []
        return []


async def _cancel_was_asked(run_id: Any) -> bool:
    """Whether someone asked for the run to be cancelled (it went through Cancelling), rather than its
    infrastructure cancelling it."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        states = await client.read_flow_run_states(run_id)
    return any(s.type.value == "CANCELLING" for s in states)


async def _wait_for(run_id: Any, log: logging.LoggerAdapter) -> Any | None:
    """The run once it has ended, or None if no worker started it in ``START_WAIT_SECONDS`` (it is
    then cancelled, so that its briefs can be made elsewhere)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.flow_runs import wait_for_flow_run
    from prefect.states import Cancelled

    async with get_client() as client:
        try:
            return await wait_for_flow_run(run_id, timeout=int(START_WAIT_SECONDS), client=client)
        except Exception:  # noqa: BLE001 - FlowRunWaitTimeout: has a worker started it at all?
            run = await client.read_flow_run(run_id)
            if run.state and run.state.is_scheduled():
                result = await client.set_flow_run_state(run_id, Cancelled(
                    message="No worker started this batch; daily-briefs made its briefs in process"))
                if result.status == SetStateStatus.ACCEPT:
                    log.warning("%s was not started by any worker in %.0f s (is every worker slot busy? start "
                                "workers with --limit 2 or more): making its briefs here", run.name, START_WAIT_SECONDS)
                    return None
            return await wait_for_flow_run(run_id, timeout=int(FINISH_WAIT_SECONDS), client=client)
