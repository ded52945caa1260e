"""The deadlock test: a day of many users on the real providers (SDKs against the loopback stand-ins),
with ElevenLabs slowed down and allowing only as many renders at once as the ``elevenlabs`` global
concurrency limit, on the Prefect test harness. The run is guarded by a timeout, so a deadlock
fails the test instead of hanging it."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading

import pytest
from prefect.client.orchestration import get_client

from civic_briefs import db, importer, repo
from civic_briefs.interests import INTEREST_POLICY_AREAS
from civic_briefs.models import User
from civic_briefs.prefect_setup import ensure_concurrency_limits
from flows.daily_briefs import daily_briefs
from flows.generate_brief import generate_brief

pytestmark = pytest.mark.usefixtures("prefect_api")

USERS = 40
MAX_CONCURRENT_BRIEFS = 8
ELEVENLABS_LIMIT = 3
ELEVENLABS_LATENCY = 0.2
DEADLINE_SECONDS = 240  # a healthy run takes well under a minute here


def generated_users() -> list[User]:
    rng = random.Random(20260407)
    interests = sorted(INTEREST_POLICY_AREAS)
    users = []
    for i in range(USERS):
        picked = rng.sample(interests, rng.randint(2, 4))
        users.append(User(id=f"user{i:02d}", name=f"Listener{i:02d} Test", email=f"user{i:02d}@example.org",
                          interests=picked))
    return users


@pytest.fixture
def busy_day(settings_env, standins, tmp_path):
    settings = settings_env(**standins.env(
        elevenlabs_concurrency=ELEVENLABS_LIMIT, segment_store_path=tmp_path / "segments", locks="file"))
    standins.elevenlabs.latency = ELEVENLABS_LATENCY
    standins.elevenlabs.concurrency_limit = ELEVENLABS_LIMIT
    with get_client(sync_client=True) as client:
        ensure_concurrency_limits(client, settings)
        assert client.read_global_concurrency_limit_by_name("elevenlabs").limit == ELEVENLABS_LIMIT
    db.init_db()
    users = generated_users()
    with db.connection() as conn:
        importer.import_sample(conn)
        for user in users:
            repo.upsert_user(conn, user)
        conn.commit()
    return settings, users


def run_guarded(what: str, work):
    """``work()`` in a thread; the test fails if it has not returned within DEADLINE_SECONDS."""
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"guarded-{what}", daemon=True)
    thread.start()
    thread.join(DEADLINE_SECONDS)
    if thread.is_alive():
        pytest.fail(f"{what} did not finish within {DEADLINE_SECONDS} s: deadlocked or stuck")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


def kind_of(standins, index: int) -> str:
    return re.search(r"^Segment: (\w+)", standins.anthropic.user_text(index), re.M)[1]


def spoken(request) -> str:
    return json.dumps([(i["voice_id"], i["text"]) for i in request.json["inputs"]])


def test_a_busy_day_with_a_slow_elevenlabs_finishes_paying_each_piece_once(busy_day, standins):
    settings, users = busy_day
    # Today: a day older than the retention would have its stored plan pruned at the end of its run.
    day = dt.datetime.now(dt.UTC).date()
    state = run_guarded("daily_briefs", lambda: daily_briefs(
        brief_date=day, max_concurrent_briefs=MAX_CONCURRENT_BRIEFS, return_state=True))
    assert state.is_completed(), state.message
    assert state.message == f"{USERS} of {USERS} briefs done ({USERS} published, 0 skipped; {USERS} made now, 0 already there)"

    with db.connection() as conn:
        briefs = {u.id: repo.get_brief(conn, u.id, "daily", day) for u in users}
        plan_json = repo.get_day_plan(conn, "daily", day)
    assert {uid: b["status"] for uid, b in briefs.items()} == {u.id: "published" for u in users}
    assert [p["user"]["id"] for p in json.loads(plan_json)["users"]] == [u.id for u in users]
    segments = [c for b in briefs.values() for c in b["costs"]["segments"]]
    distinct = {c["key"]: c for c in segments}
    by_kind = {kind: {k for k, c in distinct.items() if c["kind"] == kind} for kind in ("story", "news", "opening", "close")}
    assert len(by_kind["opening"]) == len(by_kind["close"]) == USERS
    story_uses = sum(c["kind"] == "story" for c in segments)
    assert len(by_kind["story"]) < story_uses / 2  # the day really shares stories
    assert len(by_kind["news"]) < sum(c["kind"] == "news" for c in segments)
    # Every segment of every brief was made by this run, for the first of its listeners only.
    assert all(c["made_now"] for c in segments)

    # Claude: one request per distinct segment, none twice.
    assert standins.anthropic.count == len(distinct)
    kinds = [kind_of(standins, i) for i in range(standins.anthropic.count)]
    assert {k: kinds.count(k) for k in by_kind} == {k: len(keys) for k, keys in by_kind.items()}
    bodies = [standins.anthropic.user_text(i) for i in range(standins.anthropic.count)]
    assert len(set(bodies)) == len(bodies)

    # ElevenLabs: one request per distinct segment (each fits one part), no text rendered twice, no
    # 429 (it would have been retried, adding requests), never more in flight than the limit, and
    # the limit's slots all in use while renders were waiting.
    el = standins.elevenlabs
    assert sum(c["speech"]["requests"] for c in distinct.values()) == len(distinct)
    assert el.count == len(distinct) == len(el.issued)
    texts = [spoken(r) for r in el.requests]
    assert len(set(texts)) == len(texts)
    assert el.max_in_flight == ELEVENLABS_LIMIT
    # Brave: one request per distinct interest.
    assert standins.brave.count == len({i for u in users for i in u.interests})

    # An ad-hoc brief for a user afterwards, forced, takes every piece from the day's segment store.
    before = (standins.anthropic.count, el.count, standins.brave.count)
    user = users[0]
    brief = run_guarded("generate_brief", lambda: generate_brief(user_id=user.id, brief_date=day, force=True))
    assert brief.status == "published" and brief.made_now
    new_kinds = [kind_of(standins, i) for i in range(before[0], standins.anthropic.count)]
    assert [k for k in new_kinds if k in ("story", "news")] == []
    assert (standins.anthropic.count, el.count, standins.brave.count) == before  # nothing at all was paid again
    with db.connection() as conn:
        again = repo.get_brief(conn, user.id, "daily", day)
    assert again["updated_at"] >= briefs[user.id]["updated_at"]
    assert again["transcript"] == briefs[user.id]["transcript"]
    assert again["duration_seconds"] == briefs[user.id]["duration_seconds"]
    assert not any(c["made_now"] for c in again["costs"]["segments"])
