"""daily_briefs with every real provider: the real SDKs against the loopback stand-ins, S3 on moto,
the limits as Prefect global concurrency limits on the test harness's API."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import uuid
from decimal import Decimal
from pathlib import Path

import mutagen.mp3
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from civic_briefs import db, demo, importer, repo
from civic_briefs.prefect_setup import ensure_concurrency_limits
from civic_briefs.publishing import audio_key
from civic_briefs.settings import get_settings
from flows.daily_briefs import daily_briefs
from flows.generate_brief import generate_brief
from tests.conftest import s3_admin_client

pytestmark = pytest.mark.usefixtures("prefect_api")
CDN = "https://cdn.briefs.example"


@pytest.fixture
def paid(settings_env, standins, moto_endpoint):
    bucket = f"briefs-{uuid.uuid4().hex[:10]}"
    s3_admin_client(moto_endpoint).create_bucket(Bucket=bucket)
    settings = settings_env(**standins.env(
        storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_endpoint,
        s3_access_key_id="test-key-id", s3_secret_access_key="test-secret", cdn_base_url=CDN,
        elevenlabs_concurrency=2,
    ))
    with get_client(sync_client=True) as client:
        ensure_concurrency_limits(client, settings)
    db.init_db()
    with db.connection() as conn:
        importer.import_sample(conn)
        users = demo.add_demo_users(conn)
    return settings, users, bucket


def _kinds(standins) -> list[str]:
    return [re.search(r"^Segment: (\w+)", standins.anthropic.user_text(i), re.M)[1]
            for i in range(standins.anthropic.count)]


def test_daily_briefs_with_every_real_provider(paid, standins, moto_endpoint):
    settings, users, bucket = paid
    day = dt.date(2026, 4, 7)
    standins.elevenlabs.fail_next("busy", times=2)  # 429 too_many_concurrent_requests, waited out
    state = daily_briefs(brief_date=day, return_state=True)
    assert state.is_completed(), state.message

    with db.connection() as conn:
        briefs = {u.id: repo.get_brief(conn, u.id, "daily", day) for u in users}
    assert {b["status"] for b in briefs.values()} == {"published"}

    # One Brave request per distinct interest, not per user.
    interests = {i for u in users for i in u.interests}
    assert standins.brave.count == len(interests)
    assert sorted(r.query["q"] for r in standins.brave.requests) == sorted(set(r.query["q"] for r in standins.brave.requests))

    # Claude: one request per distinct shared segment, plus an opening and a close per user.
    segments = {s["key"]: s for b in briefs.values() for s in b["costs"]["segments"]}
    story_keys = {k for k, s in segments.items() if s["kind"] == "story"}
    news_keys = {k for k, s in segments.items() if s["kind"] == "news"}
    story_uses = sum(1 for b in briefs.values() for s in b["costs"]["segments"] if s["kind"] == "story")
    assert len(story_keys) < story_uses  # users share bills
    kinds = _kinds(standins)
    assert kinds.count("story") == len(story_keys)
    assert kinds.count("news") == len(news_keys) and news_keys
    assert kinds.count("opening") == kinds.count("close") == len(users)
    assert len(story_keys) == len({(b["bill_id"], b["section"]) for brief in briefs.values() for b in brief["bills"]})
    assert all(s["made_now"] for s in segments.values())

    # ElevenLabs: one request per part of each distinct segment (each fits one part), plus the two 429s.
    assert standins.elevenlabs.count == len(segments) + 2
    # The rendered segments are kept in the bucket (private), where every worker finds them.
    stored = s3_admin_client(moto_endpoint).list_objects_v2(Bucket=bucket, Prefix="segments/render-")["Contents"]
    assert len([o for o in stored if o["Key"].endswith(".mp3")]) == len(segments)

    s3 = s3_admin_client(moto_endpoint)
    for user in users:
        brief = briefs[user.id]
        key = brief["audio_url"].removeprefix(f"{CDN}/")
        obj = s3.get_object(Bucket=bucket, Key=key)
        body = obj["Body"].read()
        assert key == audio_key("briefs", user.id, "daily", day, body)
        assert obj["ContentType"] == "audio/mpeg"
        assert mutagen.mp3.MP3(io.BytesIO(body)).info.length == pytest.approx(brief["duration_seconds"], abs=0.05)
        costs = brief["costs"]
        assert costs["script"]["input_tokens"] > 0 and costs["script"]["output_tokens"] > 0
        assert costs["speech"]["characters"] > 0
        assert Decimal(costs["total_dollars"]) == Decimal(costs["personal_dollars"]) + Decimal(costs["shared_dollars"])
        assert Decimal(costs["personal_dollars"]) > 0 and Decimal(costs["shared_dollars"]) > 0
        assert brief["news"] and all(set(n) >= {"title", "url", "interest"} for n in brief["news"])
        assert "<strong>" not in brief["digest"]
        assert brief["transcript"].count(f"{user.first_name}") >= 1

    # The shared segments' cost is split: the day's shared dollars add up to what they cost once.
    once = sum(Decimal(s["script"]["dollars"]) + Decimal(s["speech"]["dollars"]) for s in segments.values() if s["shared"])
    shared_total = sum(Decimal(b["costs"]["shared_dollars"]) for b in briefs.values())
    assert shared_total == pytest.approx(once, abs=Decimal("0.0001"))
    # No secret in the database, the persisted task results or Prefect's own files (its API database
    # holds the run logs), nor in the logs the flow runs sent to the API.
    secrets = [settings.anthropic_api_key, settings.elevenlabs_api_key, settings.brave_api_key,
               settings.s3_secret_access_key]
    places = [settings.database_url, os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"], os.environ["PREFECT_HOME"]]
    for secret in (s.get_secret_value().encode() for s in secrets):
        for place in map(Path, places):
            for file in ([place] if place.is_file() else [f for f in place.rglob("*") if f.is_file()]):
                assert secret not in file.read_bytes(), file
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(
            any_=[state.state_details.flow_run_id])), limit=200)
    assert logs and not any(s.get_secret_value() in log.message for s in secrets for log in logs)


def test_a_script_naming_an_unknown_bill_fails_the_brief_with_the_reason(paid, standins):
    day = dt.date(2026, 4, 8)
    standins.anthropic.fail_next("unknown_bill", times=200)
    state = generate_brief(user_id="james", brief_date=day, return_state=True)
    assert state.is_failed()
    with db.connection() as conn:
        row = repo.get_brief(conn, "james", "daily", day)
    assert row["status"] == "failed" and "not in its data" in row["error"] and row["audio_url"] is None
    # Each segment's writer made exactly claude_max_attempts tries; the task did not retry on top.
    per_segment: dict[str, int] = {}
    for i in range(standins.anthropic.count):
        text = standins.anthropic.user_text(i)
        per_segment[text.split("<", 1)[1][:200]] = per_segment.get(text.split("<", 1)[1][:200], 0) + 1
    assert set(per_segment.values()) == {get_settings().claude_max_attempts}
    assert standins.elevenlabs.count == 0  # nothing was rendered, nothing published
