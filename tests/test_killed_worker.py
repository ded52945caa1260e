"""Issue 8, item 2: a process making the day's briefs is SIGKILLed while a render is in flight; the day
run again in a new process publishes every brief within 2 minutes of the kill and pays again for at
most the requests that were in flight at the kill.

Both processes run ``civic-briefs run-daily`` (the day in process) against a real ``prefect server
start`` on loopback (its repossessor gives a killed holder's concurrency slots back; the test
harness's server never does), the real SDKs against the loopback stand-ins (ElevenLabs slowed so
that renders are in flight), a libSQL file, a local segment store and audio folder. The claims on
pieces are lock files or Redis (its own key prefix: the claims' namespace is this run's database).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from civic_briefs import db, importer, repo
from civic_briefs.claims import redis_lock_manager
from civic_briefs.models import User
from tests.real_prefect import CIVIC_BRIEFS, kill_tree, real_prefect_server, stop_group
from tests.worlds import segment_store_files

REDIS_URL = "redis://127.0.0.1:6379/0"
DAY = dt.date(2026, 4, 8)
USERS = [User(id="kw-ana", name="Ana Killtest", interests=["healthcare", "education"]),
         User(id="kw-ben", name="Ben Killtest", interests=["education", "economy"]),
         User(id="kw-cy", name="Cy Killtest", interests=["healthcare", "economy"])]
RENDER_SECONDS = 1.5  # each ElevenLabs render takes this long at the stand-in
ELEVENLABS_SLOTS = 2
RECOVERY_SECONDS = 120
MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with real_prefect_server(tmp_path_factory.mktemp("killed-worker-server")) as running:
        yield running
    if MEASURED:
        print("\nKilled worker (s): " + ", ".join(f"{k}: {v:.1f}" for k, v in MEASURED.items()))


@pytest.fixture
def day_env(server, standins, tmp_path, request):
    """The BRIEFS_* and PREFECT_* environment of a day process, its database ready."""
    locks = request.param
    if locks == "redis" and redis_lock_manager(REDIS_URL) is None:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    briefs = {f"BRIEFS_{k.upper()}": str(v) for k, v in standins.env(
        database_url=tmp_path / "briefs.db", storage_path=tmp_path / "audio", segment_store_path=tmp_path / "segments",
        locks=locks, redis_url=REDIS_URL, elevenlabs_concurrency=ELEVENLABS_SLOTS, top_stories=2, quick_hits=1,
        max_concurrent_briefs=8).items()}
    env = server.client_env(tmp_path / "prefect-home", **briefs)
    from civic_briefs.settings import Settings

    settings = Settings(_env_file=None, **{k.removeprefix("BRIEFS_").lower(): v for k, v in briefs.items()})
    db.init_db(settings)
    with db.connection(settings) as conn:
        importer.import_sample(conn)
        for user in USERS:
            repo.upsert_user(conn, user)
        conn.commit()
    setup = subprocess.run([str(CIVIC_BRIEFS), "setup-prefect"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    standins.elevenlabs.latency = RENDER_SECONDS
    standins.elevenlabs.concurrency_limit = ELEVENLABS_SLOTS
    yield env, settings
    if locks == "redis":
        from civic_briefs.providers import registry

        client = redis_lock_manager(REDIS_URL).client
        for name in client.scan_iter(match=f"lock:civic-briefs-{registry.claims(settings)._namespace}-*"):
            client.delete(name)


def start_day(env: dict[str, str], folder: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(CIVIC_BRIEFS), "run-daily", "--brief-date", DAY.isoformat()], cwd=folder, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


def published(settings) -> dict[str, dict]:
    with db.connection(settings) as conn:
        rows = {u.id: repo.get_brief(conn, u.id, "daily", DAY) for u in USERS}
    return {uid: row for uid, row in rows.items() if row and row["status"] == "published"}


def in_flight_at(standins) -> dict[str, object]:
    """What the stand-ins had started and not answered: Claude requests without a reply, ElevenLabs
    requests (by number) without an issued render."""
    el = standins.elevenlabs
    issued = {int(r.removeprefix("el").removesuffix("standin")) for r in el.issued}
    return {"anthropic": standins.anthropic.count - len(standins.anthropic.replies),
            "elevenlabs": {n for n in range(1, el.count + 1) if n not in issued}}


def kill_mid_render(process: subprocess.Popen, log: Path, standins, segments: Path,
                    timeout: float = 120) -> tuple[float, dict]:
    """SIGKILL the day process (its whole group) while renders are in flight, at a moment when no
    answer is on its way (the last one came 0.3 s ago or more) and every render answered is in the
    segment store, so that what was in flight is known. (An answered render is mastered before it is
    stored: a kill in that window repays it, as it would a render still at the provider.)"""
    el, anthropic = standins.elevenlabs, standins.anthropic
    deadline = time.monotonic() + timeout
    seen, changed = (-1, -1), time.monotonic()
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the day process ended or rendered nothing to kill it in:\n{log.read_text(errors='replace')[-4000:]}")
        now = (len(el.issued), len(anthropic.replies))
        if now != seen:
            seen, changed = now, time.monotonic()
        elif (el.in_flight >= 1 and len(el.issued) >= 3 and anthropic.count == len(anthropic.replies)
              and time.monotonic() - changed >= 0.3 and segment_store_files(segments)[("render", ".json")] == len(el.issued)):
            kill_tree(process.pid)
            killed = time.monotonic()
            pending = in_flight_at(standins)
            process.wait(timeout=10)
            return killed, pending
        time.sleep(0.02)


@pytest.mark.parametrize("day_env", ["file", "redis"], indirect=True)
def test_a_killed_day_process_costs_minutes_and_only_what_was_in_flight(day_env, server, standins, tmp_path):
    env, settings = day_env
    first, first_log = start_day(env, tmp_path, "killed")
    try:
        killed, pending = kill_mid_render(first, first_log, standins, tmp_path / "segments")
    finally:
        stop_group(first)
    assert pending["elevenlabs"], "no render was in flight at the kill"
    rendered_before = len(standins.elevenlabs.issued)
    written_before = len(standins.anthropic.replies)
    done_before = set(published(settings))
    assert len(done_before) < len(USERS), "every brief was out before the kill"

    second, second_log = start_day(env, tmp_path, "rerun")
    try:
        while len(published(settings)) < len(USERS) and second.poll() is None and time.monotonic() - killed < 300:
            time.sleep(0.25)
        all_out = time.monotonic() - killed
        second.wait(timeout=120)
    finally:
        stop_group(second)
    output = second_log.read_text(errors="replace")
    MEASURED[f"{settings.locks}: kill to every brief published"] = all_out
    assert second.returncode == 0, output[-5000:]
    assert "daily-briefs ended COMPLETED" in output, output[-3000:]
    briefs = published(settings)
    assert sorted(briefs) == sorted(u.id for u in USERS)
    assert all_out <= RECOVERY_SECONDS, f"every brief was out {all_out:.0f} s after the kill\n{output[-3000:]}"

    # Paid requests: a clean day asks once for each distinct segment (its script, then its audio);
    # this day asked again only for what was in flight at the kill.
    distinct = {s["key"] for b in briefs.values() for s in b["costs"]["segments"]}
    el, anthropic = standins.elevenlabs, standins.anthropic
    spoken = [json.dumps(r.json["inputs"]) for r in el.requests]
    written = [anthropic.user_text(i) for i in range(anthropic.count)]
    assert len(set(spoken)) == len(set(written)) == len(distinct)
    in_flight = len(pending["elevenlabs"]) + pending["anthropic"]
    assert (len(spoken) - len(distinct)) + (len(written) - len(distinct)) <= in_flight
    assert len(written) == len(distinct) and pending["anthropic"] == 0  # every script was written before the kill
    repeated = {body for body, n in Counter(spoken).items() if n > 1}
    assert repeated <= {spoken[n - 1] for n in pending["elevenlabs"]}, "a render answered before the kill was paid again"
    MEASURED[f"{settings.locks}: renders repaid / in flight at the kill"] = len(spoken) - len(distinct)
    assert len(spoken) - len(distinct) <= len(pending["elevenlabs"])
    assert standins.brave.count == len({i for u in USERS for i in u.interests})  # news only at planning
    # The rerun took from the store what was finished before the kill.
    assert rendered_before >= 3 and written_before == len(distinct)
    tally = [line for line in output.splitlines() if "taken from the segment store" in line]
    assert tally, output[-3000:]
    assert ": 0 segments written" in tally[-1], tally[-1]

    # The store holds each piece once, and nothing half-written; no claim is left behind.
    files = segment_store_files(settings.segment_store_path)
    assert files[("render", ".mp3")] == files[("render", ".json")] == len(distinct)
    assert not [k for k in files if k[0].startswith(".")], files
    claims_left = [p.name for p in (settings.segment_store_path / "claims").glob("*.lock")] if settings.locks == "file" else []
    assert claims_left == []
    # Each brief has one MP3 in storage.
    for uid in briefs:
        objects = list((settings.storage_path / settings.s3_prefix / uid / "daily").glob(f"{DAY}*.mp3"))
        assert len(objects) == 1, objects
    # The dead process's slots came back: nothing is held on the server now.
    deadline = time.monotonic() + 60
    while any(server.active_slots(n) for n in ("anthropic", "elevenlabs")) and time.monotonic() < deadline:
        time.sleep(1)
    assert {n: server.active_slots(n) for n in ("anthropic", "elevenlabs")} == {"anthropic": 0, "elevenlabs": 0}
