"""Step 3: write the script's segments. Story and news segments are shared across users.

Cache keys name exactly what a segment depends on, so a bill's story is written once per
(bill content, role, date, brief type, writer) however many users hear it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from civic_briefs.models import Bill, BriefType, NewsItem, Section, Segment, User
from civic_briefs.providers import registry
from tasks.limits import slot_for
from tasks.policy import RETRY_OPTIONS, SCRIPT_CACHE_EXPIRATION, content_hash, shared_cache


def _story_key(context: TaskRunContext, p: dict[str, Any]) -> str:
    bill = p["bill"].model_dump(mode="json", exclude={"updated_at"})
    return "story-" + content_hash(bill, p["section"], p["brief_date"], p["brief_type"], p["writer_name"])


def _news_key(context: TaskRunContext, p: dict[str, Any]) -> str:
    return "news-" + content_hash(p["interest"], p["items"], p["brief_date"], p["brief_type"], p["writer_name"])


def _personal_key(context: TaskRunContext, p: dict[str, Any]) -> str:
    segments = [s.model_dump(mode="json", exclude={"usage"}) for s in p["stories"] + p["news"]]
    return f"{context.task.name}-" + content_hash(p["user"], segments, p["brief_date"], p["brief_type"], p["writer_name"])


_OPTIONS: dict[str, Any] = dict(cache_expiration=SCRIPT_CACHE_EXPIRATION, **RETRY_OPTIONS)


@task(name="write-story", task_run_name="write-story-{bill.id}-{section}", cache_policy=shared_cache(_story_key), **_OPTIONS)
def write_story(bill: Bill, section: Section, brief_date: dt.date, brief_type: BriefType, writer_name: str) -> Segment:
    writer = registry.script_writer()
    with slot_for(writer.name)():
        return writer.write_story(bill, section, brief_date, brief_type)


@task(name="write-news", task_run_name="write-news-{interest}", cache_policy=shared_cache(_news_key), **_OPTIONS)
def write_news(interest: str, items: list[NewsItem], brief_date: dt.date, brief_type: BriefType, writer_name: str) -> Segment:
    writer = registry.script_writer()
    with slot_for(writer.name)():
        return writer.write_news(interest, items, brief_date, brief_type)


@task(name="write-opening", task_run_name="write-opening-{user.id}", cache_key_fn=_personal_key, **_OPTIONS)
def write_opening(user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date,
                  brief_type: BriefType, writer_name: str) -> Segment:
    writer = registry.script_writer()
    with slot_for(writer.name)():
        return writer.write_opening(user, stories, news, brief_date, brief_type)


@task(name="write-close", task_run_name="write-close-{user.id}", cache_key_fn=_personal_key, **_OPTIONS)
def write_close(user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date,
                brief_type: BriefType, writer_name: str) -> Segment:
    writer = registry.script_writer()
    with slot_for(writer.name)():
        return writer.write_close(user, stories, news, brief_date, brief_type)
