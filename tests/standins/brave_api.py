"""Stand-in for Brave Search news: ``GET /res/v1/news/search``.

Checks ``X-Subscription-Token`` (401 otherwise) and the documented parameter ranges (422
otherwise), and answers ``{"type": "news", "query": {...}, "results": [...]}`` with ``count``
results. Results come from ``control.results[q]`` when a test set them, else they are made up from
the query, with ``<strong>`` tags and HTML entities in titles and descriptions as Brave sends them.
Every answer carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``.

Extra fault kinds: ``rate_limit`` (429; ``reset="1, 86400"`` sets ``X-RateLimit-Reset``),
``server_error`` (500), ``forbidden`` (403).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tests.standins.common import DroppedResponse, dumps, generic_fault, json_response, record
from tests.standins.control import Controller

_FRESHNESS = re.compile(r"^(pd|pw|pm|py|\d{4}-\d{2}-\d{2}to\d{4}-\d{2}-\d{2})$")


class BraveControl(Controller):
    def __init__(self, api_key: str):
        super().__init__("brave", api_key)
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.latency = 0.0  # seconds each well-formed request waits before its answer (benchmarks)

    def _reset_extra(self) -> None:
        self.results.clear()
        self.latency = 0.0


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"type": "ErrorResponse", "error": {
        "id": "00000000-0000-0000-0000-000000000000", "status": status, "code": code, "detail": detail}}, headers)


def _problem(query: dict[str, str]) -> str | None:
    q = query.get("q", "")
    if not 1 <= len(q) <= 400 or len(q.split()) > 50:
        return "q must be 1-400 characters and at most 50 words"
    if not 1 <= int(query.get("count", "20")) <= 50 or not 0 <= int(query.get("offset", "0")) <= 9:
        return "count must be 1-50 and offset 0-9"
    if query.get("safesearch", "strict") not in ("off", "moderate", "strict"):
        return "safesearch must be off, moderate or strict"
    if "freshness" in query and not _FRESHNESS.match(query["freshness"]):
        return "freshness must be pd, pw, pm, py or YYYY-MM-DDtoYYYY-MM-DD"
    return None


def _made_up(q: str, count: int) -> list[dict[str, Any]]:
    topic = q.split()[0].capitalize()
    slug = "-".join(q.lower().split()[:3])
    return [{
        "type": "news_result",
        "title": f"<strong>{topic}</strong> bill {i + 1} advances &amp; lawmakers weigh &quot;next steps&quot;",
        "url": f"https://news{i % 3}.example.com/{slug}/{i + 1}",
        "description": f"Committee members discussed the <strong>{topic.lower()}</strong> measure on Tuesday &#8212; "
                       f"report {i + 1}.",
        "age": f"{i + 1} days ago", "page_age": "2026-11-28T10:00:00",
        "meta_url": {"scheme": "https", "netloc": f"news{i % 3}.example.com", "hostname": f"www.news{i % 3}.example.com"},
        "thumbnail": {"src": f"https://imgs.example.com/{i}.jpg"},
    } for i in range(count)]


async def news_search(request: Request) -> Response:
    control: BraveControl = request.app.state.brave
    number, fault, recorded = await record(control, request)
    limits = {"X-RateLimit-Limit": "1, 15000", "X-RateLimit-Policy": "1;w=1, 15000;w=2592000",
              "X-RateLimit-Remaining": f"0, {max(0, 15000 - number)}", "X-RateLimit-Reset": "1, 1419704"}
    if recorded.headers.get("x-subscription-token") != control.api_key:
        return _error(401, "SUBSCRIPTION_TOKEN_INVALID", "The provided subscription token is invalid.")
    try:
        problem = _problem(recorded.query)
    except ValueError:
        problem = "count and offset must be integers"
    if problem:
        control.problems.append(problem)
        return _error(422, "VALIDATION", problem)
    if control.latency:
        await asyncio.sleep(control.latency)
    kind = fault.kind if fault else None
    if fault and (response := generic_fault(fault)) is not None:
        return response
    if kind == "rate_limit":
        headers = {**limits, "X-RateLimit-Remaining": "0, 0", "X-RateLimit-Reset": fault.options.get("reset", "1, 1419704")}
        return _error(429, "RATE_LIMITED", "Request rate limit exceeded for plan.", headers)
    if kind == "server_error":
        return _error(500, "INTERNAL", "Internal error")
    if kind == "forbidden":
        return _error(403, "SUBSCRIPTION_NOT_FOUND", "The subscription does not include this endpoint.")
    q = recorded.query["q"]
    count = int(recorded.query.get("count", "20"))
    results = control.results[q] if q in control.results else _made_up(q, count)
    body = dumps({"type": "news", "query": {"original": q, "spellcheck_off": False}, "results": results[:count]})
    if kind == "drop":
        return DroppedResponse(body, headers=limits)
    return Response(body, media_type="application/json", headers=limits)
