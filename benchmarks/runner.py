"""One measured run of the pipeline, in a process of its own (started by ``bench_day.py``).

    python -m benchmarks.runner MODE OUT.json [--user ID] [--users K]

MODE:
* ``day``: the ``daily-briefs`` flow (the real flow, tasks and ``civic_briefs`` code);
* ``brief``: the ``generate-brief`` flow for ``--user``;
* ``library``: the same day without Prefect (plan, news, ``BriefMaker`` with no slots): what the
  work costs on its own, so the difference to ``day`` is what orchestration costs;
* ``oldway``: the first ``--users`` K users one after another, each brief written and rendered
  whole, part after part, news fetched per user, no segment store (the library's providers).

Everything is configured by the environment (``BRIEFS_*``, ``PREFECT_*``) that ``bench_day.py``
sets. ``BENCH_UPLOAD_LATENCY`` (s) is added to every upload of a brief's MP3 (the storage is
wrapped); ``BENCH_SERVER_PIDS`` are the Prefect server's processes, whose CPU over the measured
window is reported with this process's own. Writes its figures as JSON to OUT. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import procstat  # noqa: E402

UPLOADS: list[float] = []
API_CALLS: dict[str, int] = {}
_lock = threading.Lock()


def _count_api_calls() -> None:
    """Count every HTTP request this process sends that is not to the stand-ins (so: to Prefect)."""
    import httpx

    standins = os.environ.get("BRIEFS_ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
    moto = os.environ.get("BRIEFS_S3_ENDPOINT_URL") or "\0"

    def note(request: httpx.Request) -> None:
        url = str(request.url)
        if url.startswith(standins) or url.startswith(moto):
            return
        path = request.url.path
        parts = [p for p in path.split("/") if p and not (len(p) >= 32 and "-" in p)]
        name = f"{request.method} /" + "/".join(parts[:3])
        with _lock:
            API_CALLS[name] = API_CALLS.get(name, 0) + 1

    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def send(self, request, *args, **kwargs):
        note(request)
        return sync_send(self, request, *args, **kwargs)

    async def asend(self, request, *args, **kwargs):
        note(request)
        return await async_send(self, request, *args, **kwargs)

    httpx.Client.send, httpx.AsyncClient.send = send, asend


class SlowStorage:
    """An ``AudioStorage`` whose every upload takes ``latency`` seconds more (a remote bucket)."""

    def __init__(self, inner, latency: float):
        self._inner, self._latency = inner, latency
        self.name = inner.name

    def put(self, key: str, data: bytes, *content_type: str, **options: str | None) -> str:
        if self._latency:
            time.sleep(self._latency)
        url = self._inner.put(key, data, *content_type, **options)
        if key.endswith(".mp3"):  # a brief's MP3; the files beside it are not briefs
            with _lock:
                UPLOADS.append(time.time())
        return url

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _wrap_storage() -> None:
    from civic_briefs.providers import registry

    build = registry._build_audio_storage
    latency = float(os.environ.get("BENCH_UPLOAD_LATENCY", "0"))
    registry._build_audio_storage = lambda settings: SlowStorage(build(settings), latency)


def _day():
    import datetime as dt
    return dt.date.fromisoformat(os.environ["BENCH_DAY"])


def run_day() -> dict:
    from flows.daily_briefs import daily_briefs

    state = daily_briefs(brief_date=_day(), return_state=True)
    return {"state": state.type.value, "message": (state.message or "")[:300]}


def run_brief(user_id: str) -> dict:
    from flows.generate_brief import generate_brief

    state = generate_brief(user_id=user_id, brief_date=_day(), return_state=True)
    return {"state": state.type.value, "message": (state.message or "")[:300]}


def run_library() -> dict:
    """The day's work with no Prefect at all: what ``daily_briefs`` does, minus the orchestration."""
    import contextlib
    import logging

    from civic_briefs import db, news, repo
    from civic_briefs.plan import plan_day
    from civic_briefs.production import BriefMaker
    from civic_briefs.providers import registry
    from civic_briefs.settings import get_settings

    settings = get_settings()
    providers = registry.providers(settings)
    day = _day()
    users = db.run_with_reconnect(repo.list_users_with_interests)
    found = news.fetch_day_news([i for u in users for i in u.interests], day, providers.news,
                                registry.segment_store(settings), settings.news_per_interest,
                                contextlib.nullcontext, logging.getLogger("bench"))
    plan = db.run_with_reconnect(lambda c: plan_day(
        c, users, day, "daily", news_by_interest=found, writer_name=providers.writer.name,
        dedup_days=settings.dedup_days, top_stories=settings.top_stories, quick_hits=settings.quick_hits,
        news_per_brief=settings.news_per_brief))
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings),
                       limit_sizes={"anthropic": settings.anthropic_concurrency,
                                    "elevenlabs": settings.elevenlabs_concurrency},
                       max_concurrent_briefs=settings.max_concurrent_briefs, key_prefix=settings.s3_prefix)
    statuses = [o.status for o in maker.run()]
    return {"state": "COMPLETED", "published": statuses.count("published"), "failed": statuses.count("failed")}


def run_oldway(count: int) -> dict:
    """Briefs one after another, each written and rendered whole: the way before shared segments."""
    from civic_briefs import audio, briefing, db, news, repo, selection
    from civic_briefs.providers import registry
    from civic_briefs.rendering import render_segment
    from civic_briefs.settings import get_settings

    settings = get_settings()
    providers = registry.providers(settings)
    day = _day()
    users = db.run_with_reconnect(repo.list_users_with_interests)[:count]
    per_brief = []
    for user in users:
        started = time.perf_counter()
        fetched = {i: providers.news.fetch(i, day) for i in user.interests}  # news per user
        chosen = db.run_with_reconnect(lambda c: selection.select_bills(
            c, user.id, user.interests, day, "daily", dedup_days=settings.dedup_days,
            top_stories=settings.top_stories, quick_hits=settings.quick_hits))
        wanted = news.news_for_brief({i: fetched[i][:settings.news_per_interest] for i in user.interests},
                                     settings.news_per_brief)
        w = providers.writer
        stories = [w.write_story(item.bill, item.section, day, "daily") for item in chosen.items]
        news_segments = [w.write_news(i, items, day, "daily") for i, items in wanted.items()]
        opening = w.write_opening(user, stories, news_segments, day, "daily")
        close = w.write_close(user, stories, news_segments, day, "daily")
        script = briefing.assemble_script(opening, stories, news_segments, close, chosen)
        rendered = [render_segment(providers.speech, segment) for segment in script.segments]
        mp3 = audio.tag_mp3(audio.join_mp3([r.mp3 for r in rendered]), title=script.title, artist="Civic Briefs",
                            album="Civic Briefs daily", date=day.isoformat(), comment=script.headline)
        providers.storage.put(f"oldway/{user.id}/daily/{day.isoformat()}.mp3", mp3)
        per_brief.append(time.perf_counter() - started)
    return {"state": "COMPLETED", "briefs": len(users), "per_brief_s": per_brief}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["day", "brief", "library", "oldway"])
    parser.add_argument("out")
    parser.add_argument("--user")
    parser.add_argument("--users", type=int, default=1)
    args = parser.parse_args()

    t_import = time.time()
    _count_api_calls()
    _wrap_storage()
    import prefect  # noqa: F401 - imported before the window opens

    import civic_briefs.production  # noqa: F401
    t_sdk = time.time()
    # The providers' SDKs are imported lazily by the registry, inside the first flow run: a
    # long-lived worker pays that once, so the window opens after it (its cost is reported).
    import civic_briefs.providers.brave_news  # noqa: F401
    import civic_briefs.providers.claude_writer  # noqa: F401
    import civic_briefs.providers.elevenlabs_speech  # noqa: F401
    sdk_import_s = time.time() - t_sdk
    if args.mode in ("day", "brief"):
        import flows.daily_briefs  # noqa: F401
        import flows.generate_brief  # noqa: F401

    server_pids = [int(p) for p in os.environ.get("BENCH_SERVER_PIDS", "").split(",") if p]
    server_before = procstat.tree_cpu(server_pids)
    pg_before = {p: procstat.cpu_seconds(p) for p in procstat.named("postgres")}
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    with _lock:
        API_CALLS.clear()
    t0 = time.time()
    wall0 = time.perf_counter()
    Path(args.out + ".started").write_text(str(t0))
    if args.mode == "day":
        result = run_day()
    elif args.mode == "brief":
        result = run_brief(args.user)
    elif args.mode == "library":
        result = run_library()
    else:
        result = run_oldway(args.users)
    wall = time.perf_counter() - wall0
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    server_after = procstat.tree_cpu(server_pids)
    pg_after = {p: procstat.cpu_seconds(p) for p in procstat.named("postgres")}
    with _lock:
        calls = dict(API_CALLS)
        uploads = sorted(UPLOADS)
    result.update({
        "mode": args.mode, "t0": t0, "wall_s": wall, "startup_s": t0 - t_import, "sdk_import_s": sdk_import_s,
        "cpu_s": (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime),
        "cpu_total_s": usage_after.ru_utime + usage_after.ru_stime,
        "max_rss_mb": usage_after.ru_maxrss / 1024,
        "server_cpu_s": procstat.cpu_delta(server_before, server_after) if server_pids else None,
        "postgres_cpu_s": procstat.cpu_delta(pg_before, pg_after),
        "prefect_api_calls": sum(calls.values()), "prefect_api_calls_by_kind": dict(sorted(
            calls.items(), key=lambda kv: -kv[1])[:15]),
        "uploads": len(uploads), "first_upload_s": (uploads[0] - t0) if uploads else None,
        "last_upload_s": (uploads[-1] - t0) if uploads else None,
    })
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
