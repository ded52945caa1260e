"""The ``generate_brief`` flow: one user's brief, from bills to a published MP3."""

from __future__ import annotations

import datetime as dt
import time
from typing import Literal

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from civic_briefs import briefing, db, news, publishing, repo
from civic_briefs.interests import validate_interests
from civic_briefs.models import PublishedBrief
from civic_briefs.providers import registry
from civic_briefs.providers.storage import check_user_id
from civic_briefs.settings import get_settings
from tasks.artifacts import create_brief_artifacts
from tasks.audio import join_audio, render_segment
from tasks.limits import require_limits
from tasks.news import fetch_news
from tasks.publish import publish_brief, record_outcome
from tasks.script import write_close, write_news, write_opening, write_story
from tasks.select import select_bills


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _brief_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return f"brief-{p['user_id']}-{p.get('brief_date') or _today()}"


@flow(name="generate-brief", flow_run_name=_brief_run_name, task_runner=ThreadPoolTaskRunner(max_workers=get_settings().max_parallel_renders),
      validate_parameters=True)
def generate_brief(
    user_id: str = Field(description="The id of the user in the users table."),
    policy_interests: list[str] | None = Field(
        default=None, description="Interest ids for this run only (e.g. [\"healthcare\", \"climate\"]); empty uses the user's own."),
    brief_date: dt.date | None = Field(default=None, description="The brief's date (UTC); empty means today."),
    brief_type: Literal["daily", "weekly"] = Field(default="daily", description="daily or weekly."),
    force: bool = Field(default=False, description="Make the brief again even if one exists for this user, type and date."),
) -> PublishedBrief:
    """Make and publish one brief. An existing published or skipped brief is returned untouched
    unless ``force``. Raises UnknownUserError / UnknownInterestError at once for bad input."""
    log = get_run_logger()
    settings = get_settings()
    day = brief_date or _today()
    # A day of slack: for listeners east of UTC, tomorrow has already begun.
    if day > _today() + dt.timedelta(days=1):
        raise ValueError(f"brief_date {day} is more than a day ahead of today (UTC)")
    # Bad input is refused before anything is looked at, paid for or written.
    check_user_id(user_id)
    if policy_interests:
        policy_interests = validate_interests(policy_interests)
    user = db.run_with_reconnect(lambda conn: repo.get_user(conn, user_id))
    existing = db.run_with_reconnect(lambda conn: repo.get_brief(conn, user_id, brief_type, day))
    if existing and existing["status"] in ("published", "skipped") and not force:
        log.info("Brief %s already %s; nothing to do (force=True makes it again)", existing["id"], existing["status"])
        if policy_interests and policy_interests != existing["policy_interests"]:
            log.warning("The existing brief is for interests %s, not %s: pass force=True to make it again "
                        "(it replaces this user's %s brief for %s)", existing["policy_interests"], policy_interests,
                        brief_type, day)
        return publishing.brief_from_row(existing)
    interests = policy_interests or user.interests
    try:
        interests = validate_interests(interests)
        providers = registry.chosen_names(settings)
        log.info("Providers: %s", providers.describe())
        require_limits(providers)
        # An ad-hoc run's interests are this brief's interests, in the opening too.
        return _make_brief(user.model_copy(update={"interests": interests}), interests, day, brief_type, providers, force)
    except Exception as exc:
        # The row tells operators and the app why there is no brief (a published one is kept as it
        # is); the run still fails with the original error even if saving that row fails too.
        try:
            record_outcome(user_id, brief_type, day, interests, "failed", f"{type(exc).__name__}: {exc}")
        except Exception as save_error:
            log.error("Could not record the failure of %s: %s", user_id, save_error)
        raise exc


def _make_brief(user, interests, day, brief_type, providers, force: bool = False) -> PublishedBrief:
    log = get_run_logger()
    settings = get_settings()
    started = time.monotonic()

    # A forced remake selects afresh (bills imported since count); a resumed run reuses its selection.
    selection = select_bills.with_options(refresh_cache=force)(user.id, interests, day, brief_type)
    news_futures = {i: fetch_news.submit(i, day, providers.news) for i in interests}
    news_by_interest = news.news_for_brief({i: _news_or_none(f, i) for i, f in news_futures.items()},
                                           settings.news_per_brief)
    all_news = news.unique_items(news_by_interest)
    log.info("Selected %d bills (%d top stories) and %d news items in %.1f s",
             len(selection.items), len(selection.top_stories), len(all_news), time.monotonic() - started)
    if not selection.items and not all_news:
        reason = f"No bills or news matched interests {', '.join(interests)} that this user has not heard lately"
        log.info("Skipping the brief: %s", reason)
        return record_outcome(user.id, brief_type, day, interests, "skipped", reason)

    step = time.monotonic()
    story_futures = [write_story.submit(i.bill, i.section, day, brief_type, providers.script) for i in selection.items]
    news_seg_futures = [write_news.submit(i, items, day, brief_type, providers.script) for i, items in news_by_interest.items()]
    stories = [f.result() for f in story_futures]
    news_segments = [f.result() for f in news_seg_futures]
    opening = write_opening.submit(user, stories, news_segments, day, brief_type, providers.script)
    close = write_close.submit(user, stories, news_segments, day, brief_type, providers.script)
    script = briefing.assemble_script(opening.result(), stories, news_segments, close.result(), selection)
    log.info("Script: %d segments, %d lines in %.1f s", len(script.segments),
             sum(len(s.lines) for s in script.segments), time.monotonic() - step)

    step = time.monotonic()
    rendered_futures = [render_segment.submit(segment, providers.speech) for segment in script.segments]
    # A cached render may come from another segment with the same words: label it as this one's.
    rendered = [f.result().model_copy(update={"key": segment.key})
                for f, segment in zip(rendered_futures, script.segments)]
    tags = {"title": script.title, "artist": "Civic Briefs", "album": f"Civic Briefs {brief_type}",
            "date": day.isoformat(), "comment": script.headline}
    audio = join_audio(rendered, tags)
    log.info("Audio: %d segments, %.1f s of audio in %.1f s", len(rendered), audio.duration_seconds, time.monotonic() - step)

    costs = briefing.brief_costs(script, rendered)
    published = publish_brief(user.id, brief_type, day, interests, script, audio, selection, all_news, costs)
    create_brief_artifacts(script, published, costs)
    log.info("Published %s (%.1f s) at %s in %.1f s total", published.id, audio.duration_seconds,
             published.audio_url, time.monotonic() - started)
    return published


def _news_or_none(future, interest: str) -> list:
    """News is optional: an interest whose fetch failed (after its retries) brings none."""
    try:
        return future.result()
    except Exception as exc:
        get_run_logger().warning("No news for %s: the fetch failed (%s: %s); the brief goes on without it",
                                 interest, type(exc).__name__, exc)
        return []
