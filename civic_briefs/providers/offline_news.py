"""The offline news source: no network, so no news. Briefs go on with bills alone."""

from __future__ import annotations

import datetime as dt

from civic_briefs.models import NewsItem


class NoNews:
    """Implements ``NewsSource``; always returns an empty list."""

    name = "offline-news"
    limit = None

    def fetch(self, interest: str, brief_date: dt.date) -> list[NewsItem]:
        return []
