"""Step 2: recent news for one interest, shared by every user with that interest that day."""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task
from prefect.context import TaskRunContext

from civic_briefs.models import NewsItem
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings
from tasks.limits import slot_for
from tasks.policy import RETRY_OPTIONS, content_hash, shared_cache


def _news_key(context: TaskRunContext, p: dict) -> str:
    # How many items are asked for is part of the answer.
    return "fetch-news-" + content_hash(p["interest"], p["brief_date"], p["source_name"], get_settings().news_per_interest)


@task(
    name="fetch-news",
    task_run_name="fetch-news-{interest}-{brief_date}",
    # Keyed by (interest, date, source): users with the same interest share one fetch.
    cache_policy=shared_cache(_news_key),
    cache_expiration=dt.timedelta(days=1),
    **RETRY_OPTIONS,
)
def fetch_news(interest: str, brief_date: dt.date, source_name: str) -> list[NewsItem]:
    """News items for ``interest`` from the configured source (``source_name`` keys the cache)."""
    source = registry.news_source()
    with slot_for(source.name)():
        items = source.fetch(interest, brief_date)
    if not items:
        get_run_logger().info("No news for %s on %s from %s: the brief goes on without it", interest, brief_date, source_name)
    return items
