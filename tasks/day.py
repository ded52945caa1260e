"""The steps of a day (or of one ad-hoc brief), as Prefect tasks: plan, make, prune.

A day is a handful of task runs whatever its size: the work inside ``make-briefs`` is spread over
threads by ``civic_briefs.production``, each piece kept in the segment store, so a retry of the
task (or a rerun of the day) repays nothing that was finished.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.settings import get_current_settings

from civic_briefs import db, feed, keys, news, publishing, repo
from civic_briefs.interests import INTEREST_POLICY_AREAS
from civic_briefs.models import BriefType, User
from civic_briefs.plan import DayPlan, plan_day
from civic_briefs.production import BriefMaker, BriefOutcome
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings
from tasks.artifacts import create_brief_artifacts
from tasks.limits import require_limits, slot_for
from tasks.policy import RETRY_OPTIONS

# The day's report is updated at most this often while briefs are being made.
PROGRESS_EVERY_SECONDS = 2.0
ARTIFACT_THREADS = 4


@task(name="plan-briefs", task_run_name="plan-{brief_type}-briefs-{brief_date}", cache_policy=NO_CACHE,
      persist_result=False, **RETRY_OPTIONS)
def plan_briefs(users: list[User], brief_date: dt.date, brief_type: BriefType, stored: bool = True) -> DayPlan:
    """Every brief's bills (selected in bulk) and news (fetched once per interest), and the
    distinct shared segments they need. With ``stored`` (the day's run) the plan already stored for
    the day is reused, so a rerun works from the same plan; the users it cannot serve as it is
    (missing, interests changed, or nothing to say then) are planned afresh, together."""
    log = get_run_logger()
    settings = get_settings()
    if not stored:
        return _plan(users, brief_date, brief_type, stored, log, settings)
    # Runs of the day come every 15 minutes, each with the users due then, and by hand: the stored
    # plan is read, extended and saved by one of them at a time, so none loses another's users.
    claims = registry.claims(settings)
    key = "plan-" + keys.content_hash(f"{brief_type}:{brief_date.isoformat()}")
    if not claims.claim(key):
        log.warning("The claim on the %s plan for %s outlived its hold; planning anyway", brief_type, brief_date)
    try:
        return _plan(users, brief_date, brief_type, stored, log, settings)
    finally:
        claims.release(key)


def _plan(users: list[User], brief_date: dt.date, brief_type: BriefType, stored: bool, log: Any,
          settings: Any) -> DayPlan:
    providers = registry.providers(settings)
    started = time.monotonic()
    known: DayPlan | None = None
    if stored:
        saved = db.run_with_reconnect(lambda c: repo.get_day_plan(c, brief_type, brief_date))
        if saved:
            known = DayPlan.model_validate_json(saved)
            users = known.stale_for(users)
            log.info("Reusing the stored plan for %s (%d briefs); planning %d afresh (new, interests changed or "
                     "nothing to say then)", brief_date, len(known.users), len(users))
    if users or known is None:
        interests = [i for u in users for i in u.interests if i in INTEREST_POLICY_AREAS]
        source = providers.news
        found = news.fetch_day_news(interests, brief_date, source, registry.segment_store(settings),
                                    settings.news_per_interest, slot_for(source.limit) if getattr(source, "limit", None) else contextlib.nullcontext,
                                    log)
        plan = db.run_with_reconnect(lambda c: plan_day(
            c, users, brief_date, brief_type, news_by_interest=found, writer_name=providers.writer.name,
            dedup_days=settings.dedup_days, top_stories=settings.top_stories, quick_hits=settings.quick_hits,
            news_per_brief=settings.news_per_brief))
        plan = known.replacing(plan) if known else plan
        if stored:
            db.run_with_reconnect(lambda c: repo.save_day_plan(c, brief_type, brief_date, plan.model_dump_json()))
    else:
        plan = known
    listeners = plan.listeners()
    log.info("Planned %d briefs in %.1f s: %d distinct shared segments (%d stories, %d news) used %d times; "
             "%d briefs have nothing new to say", len(plan.users), time.monotonic() - started, len(listeners),
             sum(k.startswith("story-") for k in listeners), sum(k.startswith("news-") for k in listeners),
             sum(listeners.values()), sum(not p.has_content for p in plan.users))
    return plan


@task(name="make-briefs", task_run_name="make-{plan.brief_type}-briefs-{plan.brief_date}", cache_policy=NO_CACHE,
      persist_result=False, **RETRY_OPTIONS)
def make_briefs(plan: DayPlan, user_ids: list[str] | None = None, force: bool = False,
                max_concurrent_briefs: int | None = None, progress_key: str | None = None,
                beside_the_day: bool = False) -> list[BriefOutcome]:
    """Make the briefs of ``user_ids`` (default all of the plan's); one outcome per user, in the
    plan's order. A brief that fails is a failed outcome (and row), not an error: the others go on.
    Each brief published now gets its artifacts as soon as it is out. ``beside_the_day``: an
    ad-hoc brief, charged its share of shared segments as the day's stored plan counts them."""
    log = get_run_logger()
    settings = get_settings()
    providers = registry.providers(settings)
    sizes = require_limits(providers.limits())
    listeners = _listeners_beside_the_day(plan) if beside_the_day else None
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings),
                       limit_sizes=sizes, slot_for=slot_for,
                       max_concurrent_briefs=max_concurrent_briefs or settings.max_concurrent_briefs,
                       key_prefix=settings.s3_prefix, force=force, listeners=listeners)
    wanted = [p.user.id for p in plan.users] if user_ids is None else user_ids
    log.info("Making %d briefs (%d at once; claims: %s; segment store: %s)", len(wanted), maker.max_concurrent_briefs,
             maker.claims.kind, maker.store.name)
    progress = create_progress_artifact(0.0, key=progress_key, description=f"Briefs done for {plan.brief_date}") \
        if progress_key and len(wanted) > 1 else None
    started = last_report = time.monotonic()
    outcomes: dict[str, BriefOutcome] = {}
    # Artifacts are three API calls a brief: a few threads make them (in this task run's context,
    # so they belong to it) while the next briefs come out.
    reporters = ThreadPoolExecutor(ARTIFACT_THREADS, thread_name_prefix="artifacts")
    for outcome in maker.run(wanted):
        if outcome.status == "published" and outcome.made_now and outcome.script and outcome.brief and outcome.costs:
            reporters.submit(contextvars.copy_context().run, create_brief_artifacts, outcome.script, outcome.brief,
                             outcome.costs)
        # The script and costs were for the artifacts; the report keeps the facts (memory stays flat).
        outcomes[outcome.user_id] = outcome.model_copy(update={"script": None, "costs": None})
        if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            update_progress_artifact(progress, progress=100.0 * len(outcomes) / len(wanted))
        if len(outcomes) == 1:
            log.info("First brief done after %.1f s: %s %s", time.monotonic() - started, outcome.user_id, outcome.status)
    reporters.shutdown(wait=True)
    if progress is not None:
        update_progress_artifact(progress, progress=100.0)
    tally = maker.tally
    log.info("Made %d briefs in %.1f s: %d segments written and %d rendered now, %d taken from the segment store",
             len(outcomes), time.monotonic() - started, tally.written, tally.rendered, tally.reused)
    return [outcomes[uid] for uid in wanted if uid in outcomes]


def _listeners_beside_the_day(plan: DayPlan) -> Counter[str]:
    counts = plan.listeners()
    saved = db.run_with_reconnect(lambda c: repo.get_day_plan(c, plan.brief_type, plan.brief_date))
    if saved:
        day = DayPlan.model_validate_json(saved).listeners()
        counts = Counter({key: max(count, day.get(key, 0)) for key, count in counts.items()})
    return counts


@task(name="prune-store", cache_policy=NO_CACHE, persist_result=False)
def prune_store() -> dict[str, int]:
    """Remove pieces, task results and day plans older than ``BRIEFS_SEGMENT_RETENTION_DAYS``, MP3s
    whose row was never saved, and MP3s replaced more than ``BRIEFS_REPLACED_AUDIO_HOURS`` ago."""
    settings = get_settings()
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.segment_retention_days)
    pruned = {"segments": registry.segment_store(settings).prune(cutoff)}
    results = Path(get_current_settings().results.local_storage_path).expanduser()
    removed = 0
    if results.is_dir():
        for path in results.rglob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
                removed += 1
    pruned["task results"] = removed
    pruned["day plans"] = db.run_with_reconnect(lambda c: repo.prune_day_plans(c, cutoff))
    # MP3s uploaded by a run that died before saving their row, and those a remake replaced.
    stale = publishing.remove_stale_audio(
        registry.providers(settings).storage, registry.claims(settings),
        replaced_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=settings.replaced_audio_hours))
    pruned["orphaned MP3s"], pruned["replaced MP3s"] = stale.orphaned, stale.replaced
    # Feeds whose write after a publish failed (the brief itself is out).
    pruned["stale feeds rewritten"] = feed.rewrite_stale(registry.providers(settings).storage, settings.s3_prefix)
    get_run_logger().info("Pruned what is older than %d days: %s", settings.segment_retention_days,
                          ", ".join(f"{n} {what}" for what, n in pruned.items()))
    return pruned
