"""BraveNews with httpx against the loopback Brave Search stand-in, and plain_text."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from civic_briefs.models import NewsItem
from civic_briefs.providers.base import NewsSource, PermanentProviderError, ProviderError
from civic_briefs.providers.brave_news import BraveNews, plain_text

TODAY = dt.date(2026, 11, 30)


def make_news(standins, **options) -> BraveNews:
    settings = {k: options.pop(k) for k in list(options) if k in ("news_per_interest", "brave_api_key",
                                                                  "brave_requests_per_second")}
    return BraveNews(standins.settings(**settings), today=lambda: TODAY, **options)


def test_fetch_sends_the_documented_request_and_strips_html(standins):
    news = make_news(standins)
    assert isinstance(news, NewsSource)

    items = news.fetch("healthcare", TODAY)

    (request,) = standins.brave.requests
    assert request.path == "/res/v1/news/search"
    assert request.headers["x-subscription-token"] == "brave-standin-key"
    assert request.headers["accept"] == "application/json"
    assert request.query == {"q": "healthcare legislation Congress", "count": "3", "freshness": "pw",
                             "safesearch": "moderate", "country": "US", "search_lang": "en"}
    assert [i.title for i in items] == [f'Healthcare bill {n} advances & lawmakers weigh "next steps"' for n in (1, 2, 3)]
    assert items[0].description == "Committee members discussed the healthcare measure on Tuesday \u2014 report 1."
    assert items[0].url == "https://news0.example.com/healthcare-legislation-congress/1"
    assert items[0].source == "news0.example.com" and items[0].age == "1 days ago"
    assert {i.interest for i in items} == {"healthcare"}


def test_results_are_cleaned_and_unusable_ones_skipped(standins):
    standins.brave.results["tax legislation Congress"] = [
        {"title": "<strong>Tax</strong> credit &#39;expansion&#39; clears &lt;committee&gt;", "url": "https://t.example.org/a",
         "description": "<p>The <em>House</em> panel voted &amp; moved on.</p>", "profile": {"name": "Tax Times"}},
        {"title": "No link", "url": ""},
        {"title": "", "url": "https://t.example.org/empty-title"},
    ]
    (item,) = make_news(standins).fetch("taxes", TODAY)
    assert item.title == "Tax credit 'expansion' clears <committee>"
    assert item.description == "The House panel voted & moved on."
    assert item.source == "Tax Times"


def test_no_results_is_an_empty_list(standins):
    standins.brave.results["housing legislation Congress"] = []
    assert make_news(standins).fetch("housing", TODAY) == []


def test_an_earlier_brief_date_asks_for_that_week(standins):
    make_news(standins).fetch("healthcare", dt.date(2026, 11, 1))
    assert standins.brave.requests[0].query["freshness"] == "2026-10-25to2026-11-01"


def test_a_rate_limit_waits_for_the_reset_then_succeeds(standins):
    standins.brave.fail_next("rate_limit", reset="0.3, 86400")
    started = time.monotonic()
    items = make_news(standins).fetch("healthcare", TODAY)
    assert len(items) == 3 and standins.brave.count == 2
    assert time.monotonic() - started >= 0.3


def test_a_reset_longer_than_allowed_is_not_waited_for(standins):
    standins.brave.fail_next("rate_limit", reset="30, 86400")
    started = time.monotonic()
    with pytest.raises(ProviderError, match="429") as caught:
        make_news(standins, max_reset_wait=2.0).fetch("healthcare", TODAY)
    assert caught.value.retryable and standins.brave.count == 1 and time.monotonic() - started < 2


def test_rate_limits_beyond_the_retries_are_retryable(standins):
    standins.brave.fail_next("rate_limit", times=5, reset="0.01, 86400")
    with pytest.raises(ProviderError) as caught:
        make_news(standins, rate_limit_retries=2).fetch("healthcare", TODAY)
    assert caught.value.retryable and standins.brave.count == 3


@pytest.mark.parametrize("fault", ["forbidden", None])
def test_auth_failures_are_permanent_after_one_request(standins, fault):
    options = {} if fault else {"brave_api_key": "wrong-secret"}
    if fault:
        standins.brave.fail_next(fault)
    with pytest.raises(PermanentProviderError) as caught:
        make_news(standins, **options).fetch("healthcare", TODAY)
    assert standins.brave.count == 1 and "wrong-secret" not in str(caught.value)


@pytest.mark.parametrize("kind", ["server_error", "malformed", "drop"])
def test_server_trouble_is_retryable(standins, kind):
    standins.brave.fail_next(kind)
    with pytest.raises(ProviderError) as caught:
        make_news(standins).fetch("healthcare", TODAY)
    assert caught.value.retryable and not isinstance(caught.value, PermanentProviderError)


def test_requests_are_spaced_to_the_plan_rate(standins):
    news = make_news(standins, brave_requests_per_second=5.0)
    started = time.monotonic()
    for interest in ("healthcare", "taxes", "housing"):
        news.fetch(interest, TODAY)
    assert time.monotonic() - started >= 0.4 and standins.brave.count == 3


def item(interest: str, url: str, title: str = "t") -> NewsItem:
    return NewsItem(interest=interest, title=title, url=url)


def test_plain_text():
    assert plain_text("<strong>Senate</strong> passes &quot;H.R. 1&quot; &amp; more  \n today") == \
        'Senate passes "H.R. 1" & more today'
    assert plain_text(None) == ""
