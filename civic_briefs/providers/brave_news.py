"""Brave Search news: recent news items for one interest, and de-duplication across interests.

``BraveNews.fetch(interest, brief_date)`` sends ``GET {settings.brave_base_url}/res/v1/news/search``
with ``X-Subscription-Token`` and params ``q`` (a query phrase per interest id, ``QUERIES``),
``count=settings.news_per_interest``, ``freshness`` (``pw``, or the week before ``brief_date`` as
``YYYY-MM-DDtoYYYY-MM-DD`` when the brief is for an earlier day), ``safesearch=moderate``,
``country=US``, ``search_lang=en``. It returns ``NewsItem``s with HTML tags stripped and entities
unescaped in title and description, ``source`` from the result's publisher or host name; ``[]``
when there are no results.

Requests are spaced to ``settings.brave_requests_per_second``. HTTP 429 waits for the first number
of ``X-RateLimit-Reset`` (seconds; the per-second window) and retries, ``rate_limit_retries`` times,
never waiting longer than ``max_reset_wait`` seconds. Errors raised: ``PermanentProviderError`` for
401/403 and other 4xx; ``ProviderError(retryable=True)`` for 429 beyond those retries, 5xx, transport
errors and malformed JSON.

"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import httpx

from civic_briefs.interests import INTEREST_NAMES
from civic_briefs.models import NewsItem
from civic_briefs.providers.base import PermanentProviderError, ProviderError
from civic_briefs.settings import Settings

log = logging.getLogger(__name__)

# Query phrase per interest id; others fall back to "<spoken name> legislation Congress".
QUERIES: dict[str, str] = {
    "healthcare": "healthcare legislation Congress",
    "education": "education legislation Congress",
    "science": "science policy legislation Congress",
    "technology": "technology policy legislation Congress",
    "climate": "climate energy legislation Congress",
    "economy": "economy jobs legislation Congress",
    "business": "business trade legislation Congress",
    "taxes": "tax legislation Congress",
    "immigration": "immigration legislation Congress",
    "housing": "housing legislation Congress",
    "defense": "defense national security legislation Congress",
    "transportation": "transportation infrastructure legislation Congress",
    "agriculture": "agriculture food legislation Congress",
    "social": "social programs families legislation Congress",
    "civil-rights": "civil rights criminal justice legislation Congress",
}


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(value: str | None) -> str:
    """``"<strong>Senate</strong> passes H.R. 1 &amp; more"`` -> ``"Senate passes H.R. 1 & more"``."""
    parser = _TextOnly()
    parser.feed(value or "")
    parser.close()
    return " ".join("".join(parser.parts).split())


def _reset_seconds(value: str | None) -> float | None:
    """First number of ``X-RateLimit-Reset`` ("1, 1419704") in seconds."""
    try:
        return float(value.split(",")[0]) if value else None
    except ValueError:
        return None


class BraveNews:
    """Implements ``NewsSource`` with the Brave Search news endpoint; see the module docstring."""

    name = "brave-news"
    # A rate limit (requests a second), not a count of requests in flight.
    limit = "brave"

    def __init__(self, settings: Settings, *, client: httpx.Client | None = None, rate_limit_retries: int = 3,
                 max_reset_wait: float = 10.0, timeout: float = 15.0, sleep: Callable[[float], None] = time.sleep,
                 today: Callable[[], dt.date] = dt.date.today):
        key = settings.brave_api_key.get_secret_value() if settings.brave_api_key else ""
        if not key:
            raise PermanentProviderError("Brave news needs BRIEFS_BRAVE_API_KEY")
        self._client = client or httpx.Client(timeout=timeout)
        self._url = settings.brave_base_url.rstrip("/") + "/res/v1/news/search"
        self._headers = {"X-Subscription-Token": key, "Accept": "application/json"}
        self.count = min(max(settings.news_per_interest, 1), 50)
        self.rate_limit_retries, self.max_reset_wait = rate_limit_retries, max_reset_wait
        self._interval = 1.0 / settings.brave_requests_per_second if settings.brave_requests_per_second > 0 else 0.0
        self._next_slot = 0.0
        self._lock = threading.Lock()
        self._sleep, self._today = sleep, today

    def params(self, interest: str, brief_date: dt.date) -> dict[str, Any]:
        """The query parameters for one interest and brief date."""
        query = QUERIES.get(interest) or f"{INTEREST_NAMES.get(interest, interest)} legislation Congress"
        freshness = "pw"
        if (self._today() - brief_date).days > 1:
            freshness = f"{(brief_date - dt.timedelta(days=7)).isoformat()}to{brief_date.isoformat()}"
        return {"q": query, "count": self.count, "freshness": freshness, "safesearch": "moderate",
                "country": "US", "search_lang": "en"}

    def fetch(self, interest: str, brief_date: dt.date) -> list[NewsItem]:
        params = self.params(interest, brief_date)
        for attempt in range(self.rate_limit_retries + 1):
            response = self._get(params)
            if response.status_code != 429:
                return self._items(interest, response)
            wait = _reset_seconds(response.headers.get("X-RateLimit-Reset"))
            wait = 1.0 if wait is None else wait
            if attempt == self.rate_limit_retries or wait > self.max_reset_wait:
                raise ProviderError(f"Brave rate limit (HTTP 429; reset in {wait:g}s)", retryable=True)
            log.info("Brave rate limit; waiting %.2fs", wait)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _get(self, params: dict[str, Any]) -> httpx.Response:
        with self._lock:  # space requests to the plan's rate
            now = time.monotonic()
            start = max(now, self._next_slot)
            self._next_slot = start + self._interval
        if start > now:
            self._sleep(start - now)
        try:
            return self._client.get(self._url, params=params, headers=self._headers)
        except httpx.TransportError as err:
            raise ProviderError(f"Brave unreachable ({type(err).__name__})", retryable=True) from err

    def _items(self, interest: str, response: httpx.Response) -> list[NewsItem]:
        status = response.status_code
        if status >= 500:
            raise ProviderError(f"Brave HTTP {status}", retryable=True)
        if status >= 400:
            raise PermanentProviderError(f"Brave refused the request: HTTP {status} {response.text[:200]}")
        try:
            results = response.json().get("results") or []
        except (ValueError, AttributeError) as err:
            raise ProviderError("Brave sent a malformed reply", retryable=True) from err
        items = []
        for result in results:
            if not isinstance(result, dict):
                continue
            url, title = str(result.get("url") or ""), plain_text(result.get("title"))
            if not title or not url.startswith(("http://", "https://")):
                continue
            meta, profile = result.get("meta_url") or {}, result.get("profile") or {}
            source = profile.get("name") or (meta.get("hostname") or "").removeprefix("www.") or None
            items.append(NewsItem(interest=interest, title=title, url=url,
                                  description=plain_text(result.get("description")), source=source,
                                  age=result.get("age") or result.get("page_age")))
        return items
