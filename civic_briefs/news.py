"""Choosing which interests' news goes into a brief.

Each interest's news segment is written from that interest's whole list of items, so every
listener with the interest hears the same segment. Per brief, duplicates across interests are
handled by dropping an interest whose items the brief already has, and the brief stays within
a bounded number of items by leaving out whole interests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from civic_briefs.models import NewsItem

_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "ocid", "cmpid")


def normalise_url(url: str) -> str:
    """A comparison key for a URL: no scheme, no ``www.``, no fragment, tracking params or trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith(_TRACKING)])
    return urlunsplit(("", host, parts.path.rstrip("/"), query, ""))


def news_for_brief(news_by_interest: dict[str, list[NewsItem]], limit: int) -> dict[str, list[NewsItem]]:
    """The interests (in the given order) whose news goes into one brief, each with its whole list.

    An interest is left out when all its items are already in the brief (by normalised URL), or
    when adding it would take the brief over ``limit`` items. An interest with more than ``limit``
    items on its own is cut to ``limit``.
    """
    kept: dict[str, list[NewsItem]] = {}
    seen: set[str] = set()
    for interest, items in news_by_interest.items():
        items = items[:limit]
        urls = {normalise_url(item.url) for item in items}
        if not items or urls <= seen or len(seen | urls) > limit:
            continue
        kept[interest] = items
        seen |= urls
    return kept


def unique_items(news_by_interest: dict[str, list[NewsItem]]) -> list[NewsItem]:
    """All items, the first of each normalised URL, in order: what a brief lists as its news."""
    seen: set[str] = set()
    out = []
    for items in news_by_interest.values():
        for item in items:
            key = normalise_url(item.url)
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def fetch_day_news(interests: list[str], brief_date: dt.date, source: Any, store: Any, per_interest: int,
                   slot: Callable[[], AbstractContextManager[object]], log: Any,
                   max_parallel: int = 8) -> dict[str, list[NewsItem]]:
    """Each interest's news for the day, fetched once and kept in the segment store: a day run
    again, or an ad-hoc brief that day, hears the same news. The interests are fetched side by
    side (``slot`` spaces the requests out: the source's rate limit). A fetch that fails (after
    its retries) leaves that interest without news; the briefs go on."""
    from concurrent.futures import ThreadPoolExecutor

    from civic_briefs import keys
    from civic_briefs.retrying import with_retries

    def one(interest: str) -> list[NewsItem] | None:
        key = keys.news_fetch_key(interest, brief_date, source.name, per_interest)
        items = store.news(key)
        if items is not None:
            return items

        def fetch() -> list[NewsItem]:
            with slot():
                return source.fetch(interest, brief_date)
        try:
            items = with_retries(fetch, f"news for {interest}")
        except Exception as exc:  # noqa: BLE001 - news is optional
            log.warning("No news for %s: the fetch failed (%s: %s); the briefs go on without it",
                        interest, type(exc).__name__, exc)
            return None
        store.put_news(key, items)
        return items

    wanted = list(dict.fromkeys(interests))
    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=min(max_parallel, len(wanted)), thread_name_prefix="news") as pool:
        fetched = list(pool.map(one, wanted))
    return {interest: items for interest, items in zip(wanted, fetched) if items is not None}
