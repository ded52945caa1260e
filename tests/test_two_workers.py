"""Two worker processes making the same day's briefs at once: each runs the ``make-briefs`` flow for
all the same users from the stored plan, against the Prefect test harness's API. They share the
database file, the segment store (S3 on moto) and the claims (Redis), but not their local Prefect
result folders. No segment may be paid twice and no brief made twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId
from prefect.settings import get_current_settings

from civic_briefs import db, importer, repo
from civic_briefs.claims import redis_lock_manager
from civic_briefs.interests import INTEREST_POLICY_AREAS
from civic_briefs.models import User
from civic_briefs.prefect_setup import ensure_concurrency_limits
from tasks.day import plan_briefs
from tests.conftest import s3_admin_client

pytestmark = pytest.mark.usefixtures("prefect_api")

PROJECT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/0"
USERS = 12
ELEVENLABS_LIMIT = 3
DEADLINE_SECONDS = 240

WORKER = r'''
import json, sys, time
from pathlib import Path

go, ready, out, day, users = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
from civic_briefs.providers import registry
from flows.make_briefs import make_briefs_batch

registry.providers()
ready.write_text("ready")
deadline = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.01)
state = make_briefs_batch(brief_date=day, user_ids=users, max_concurrent_briefs=6, return_state=True)
outcomes = state.result()
out.write_text(json.dumps({"flow_run_id": str(state.state_details.flow_run_id), "outcomes": [
    {"user_id": o.user_id, "status": o.status, "made_now": o.made_now, "error": o.error} for o in outcomes]}))
'''


def generated_users() -> list[User]:
    rng = random.Random(1212)
    # Fewer interests than there are: users overlap a lot.
    interests = ["healthcare", "education", "economy", "taxes", "climate", "science", "technology", "defense"]
    assert set(interests) <= set(INTEREST_POLICY_AREAS)
    return [User(id=f"w{i:02d}", name=f"Worker{i:02d} Listener", interests=rng.sample(interests, rng.randint(2, 4)))
            for i in range(USERS)]


@pytest.fixture
def shared_day(settings_env, standins, moto_endpoint, tmp_path):
    if redis_lock_manager(REDIS_URL) is None:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: the two workers' claims need it")
    bucket = f"two-workers-{uuid.uuid4().hex[:10]}"
    s3_admin_client(moto_endpoint).create_bucket(Bucket=bucket)
    settings = settings_env(**standins.env(
        elevenlabs_concurrency=ELEVENLABS_LIMIT, storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_endpoint, s3_access_key_id="test-key-id",
        s3_secret_access_key="test-secret", locks="redis", redis_url=REDIS_URL,
        segment_store_path=tmp_path / "segments-unused",
    ))
    standins.elevenlabs.latency = 0.2
    standins.elevenlabs.concurrency_limit = ELEVENLABS_LIMIT
    with get_client(sync_client=True) as client:
        ensure_concurrency_limits(client, settings)
    db.init_db()
    users = generated_users()
    with db.connection() as conn:
        importer.import_sample(conn)
        for user in users:
            repo.upsert_user(conn, user)
        conn.commit()
    yield settings, users, bucket
    client = redis_lock_manager(REDIS_URL).client  # nothing of this run stays in Redis
    from civic_briefs.providers import registry

    for name in client.scan_iter(match=f"lock:civic-briefs-{registry.claims(settings)._namespace}-*"):
        client.delete(name)


def start_worker(index: int, tmp_path: Path, day: dt.date, user_ids: list[str], api_url: str) -> tuple:
    folder = tmp_path / f"worker-{index}"
    folder.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ)
    env.update({
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(folder / "results"),
        "PYTHONPATH": str(PROJECT),
    })
    log = (folder / "output.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "go"), str(folder / "ready"), str(folder / "outcomes.json"),
         day.isoformat(), json.dumps(user_ids)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, folder, log


def test_two_workers_pay_each_segment_once_and_publish_each_brief_once(shared_day, standins, moto_endpoint, tmp_path):
    settings, users, bucket = shared_day
    day = dt.datetime.now(dt.UTC).date()
    user_ids = [u.id for u in users]
    plan = plan_briefs(users, day, "daily", stored=True)
    with db.connection() as conn:
        assert repo.get_day_plan(conn, "daily", day) is not None
    assert standins.anthropic.count == standins.elevenlabs.count == 0
    brave_after_planning = standins.brave.count
    assert brave_after_planning == len({i for u in users for i in u.interests})

    api_url = get_current_settings().api.url
    assert api_url and api_url.startswith("http://127.0.0.1")
    workers = [start_worker(i, tmp_path, day, user_ids, api_url) for i in (1, 2)]
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not all((folder / "ready").exists() for _, folder, _ in workers):
            if any(p.poll() is not None for p, _, _ in workers) or time.monotonic() > deadline:
                pytest.fail("a worker did not start:\n" + "\n".join(
                    (f / "output.log").read_text(errors="replace")[-3000:] for _, f, _ in workers))
            time.sleep(0.05)
        (tmp_path / "go").write_text("go")  # both start at once
        for process, folder, _ in workers:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {folder.name} did not finish within {DEADLINE_SECONDS} s (deadlocked?):\n"
                            + (folder / "output.log").read_text(errors="replace")[-5000:])
    finally:
        for process, _, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    for process, folder, _ in workers:
        assert process.returncode == 0, (folder / "output.log").read_text(errors="replace")[-5000:]
    reports = [json.loads((folder / "outcomes.json").read_text()) for _, folder, _ in workers]

    # Each worker reports every user published; exactly one of them made each brief.
    for report in reports:
        assert [o["user_id"] for o in report["outcomes"]] == user_ids
        assert {o["user_id"]: (o["status"], o["error"]) for o in report["outcomes"]} == {
            uid: ("published", "") for uid in user_ids}
    made = {uid: [r["outcomes"][i]["made_now"] for r in reports] for i, uid in enumerate(user_ids)}
    assert {uid: sorted(flags) for uid, flags in made.items()} == {uid: [False, True] for uid in user_ids}

    with db.connection() as conn:
        rows = conn.execute("SELECT id, status FROM briefs WHERE brief_date = ?", (day.isoformat(),)).fetchall()
        briefs = {uid: repo.get_brief(conn, uid, "daily", day) for uid in user_ids}
    assert sorted(rows) == sorted((repo.brief_id(uid, "daily", day), "published") for uid in user_ids)

    # No segment paid twice: one request per distinct segment to each service, no two alike.
    distinct = {c["key"]: c for b in briefs.values() for c in b["costs"]["segments"]}
    listeners = plan.listeners()
    assert {k for k in distinct if k.startswith(("story-", "news-"))} == set(listeners)
    assert len(distinct) == len(listeners) + 2 * sum(p.has_content for p in plan.users)
    anthropic_bodies = [standins.anthropic.user_text(i) for i in range(standins.anthropic.count)]
    assert len(anthropic_bodies) == len(set(anthropic_bodies)) == len(distinct)
    el = standins.elevenlabs
    spoken = [json.dumps(r.json["inputs"]) for r in el.requests]
    assert len(spoken) == len(set(spoken)) == len(distinct) == len(el.issued)
    assert el.max_in_flight <= ELEVENLABS_LIMIT
    assert standins.brave.count == brave_after_planning  # the workers took the news from the plan

    # The shared store holds each piece once; each brief's audio is in the bucket.
    s3 = s3_admin_client(moto_endpoint)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])]
    assert sum(k.startswith("segments/render-") and k.endswith(".mp3") for k in keys) == len(distinct)
    briefs = {k for k in keys if k.startswith(f"{settings.s3_prefix}/") and k.endswith(".mp3")}
    assert sorted(k.rsplit("-", 1)[0] for k in briefs) == sorted(f"{settings.s3_prefix}/{uid}/daily/{day}" for uid in user_ids)

    # The two runs were at work at the same time.
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
            any_=[uuid.UUID(r["flow_run_id"]) for r in reports])), flow_filter=FlowFilter(name=FlowFilterName(
                any_=["make-briefs"])))
    assert len(runs) == 2 and all(r.state.is_completed() for r in runs)
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert second.start_time < first.end_time
