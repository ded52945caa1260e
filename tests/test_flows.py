"""The flows on a real Prefect API (the test harness), a real libSQL file and offline providers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import mutagen.mp3
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentTaskRunId

from civic_briefs import db, repo
from civic_briefs.models import User
from civic_briefs.publishing import audio_version
from flows.daily_briefs import daily_briefs
from flows.generate_brief import generate_brief
from tests import worlds

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def seeded(settings_env):
    settings = settings_env()
    return settings, worlds.seed()


def task_runs_of(flow_run_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200)


def child_flow_runs(parent_flow_run_id) -> list:
    with get_client(sync_client=True) as client:
        parent_tasks = task_runs_of(parent_flow_run_id)
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[t.id for t in parent_tasks])), limit=200)


def test_daily_briefs_publishes_every_user_and_shares_segments(seeded):
    settings, users = seeded
    day = dt.date(2026, 3, 2)
    state = daily_briefs(brief_date=day, return_state=True)
    assert state.is_completed(), state.message
    assert state.message == "5 of 5 briefs done (5 published, 0 skipped; 5 made now, 0 already there)"

    with db.connection() as conn:
        for user in users:
            brief = repo.get_brief(conn, user.id, "daily", day)
            assert brief["status"] == "published", brief["error"]
            assert brief["transcript"].startswith(f"A: Good morning, {user.first_name}!")
            assert "written and voiced by AI" in brief["transcript"]
            assert 3 <= len(brief["bills"]) <= 8  # a standard brief: at most 3 top stories and 5 quick hits
            assert [b["section"] for b in brief["bills"]][:3] == ["top_story"] * 3
            assert brief["policy_interests"] == user.interests
            path = Path(brief["audio_url"].removeprefix("file://"))
            # The object's key is versioned by its bytes: a remake is a new object.
            assert path == settings.storage_path / "briefs" / user.id / "daily" / f"{day}-{audio_version(path.read_bytes())}.mp3"
            audio = mutagen.mp3.MP3(path)
            assert audio.info.length == pytest.approx(brief["duration_seconds"], abs=0.05)
            assert audio.info.length > 60
            assert audio.tags["TIT2"].text[0] == brief["title"]
        # Shared segments: science and technology users share bills; so do economy and taxes.
        costs = [repo.get_brief(conn, u.id, "daily", day)["costs"] for u in users]
    used = sum(len(c["segments"]) for c in costs)
    distinct = {s["key"] for c in costs for s in c["segments"]}
    assert len(distinct) < used
    # Each distinct segment was made once, by this run, and rendered once into the segment store.
    assert {s["key"] for c in costs for s in c["segments"] if s["made_now"]} == distinct
    assert len(list(settings.segment_store_path.glob("render/*/*.mp3"))) == len(distinct)
    listeners = {s["key"]: s["listeners"] for c in costs for s in c["segments"] if s["shared"]}
    assert max(listeners.values()) > 1
    for key, count in listeners.items():
        assert count == sum(key in {s["key"] for s in c["segments"]} for c in costs)

    # The whole day is a handful of task runs, however many users: no child flow runs at all.
    assert sorted(t.name.rsplit("-", 1)[0] if t.name.startswith("prune") else t.name
                  for t in task_runs_of(state.state_details.flow_run_id)) == [
        f"make-daily-briefs-{day}", f"plan-daily-briefs-{day}", "prune-store"]
    assert child_flow_runs(state.state_details.flow_run_id) == []

    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(limit=200)
    table = next(a for a in artifact if a.key == f"daily-briefs-{day}")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert sorted((row["user"], row["status"]) for row in rows) == sorted((u.id, "published") for u in users)
    progress = next(a for a in artifact if a.key == f"daily-briefs-progress-{day}")
    assert float(progress.data) == 100.0
    # Each brief's own artifacts, made on the day's make-briefs task run.
    make_run = next(t for t in task_runs_of(state.state_details.flow_run_id) if t.name.startswith("make-"))
    for user in users:
        for key in (f"brief-{user.id}-{day}", f"brief-audio-{user.id}-{day}", f"brief-costs-{user.id}-{day}"):
            found = next(a for a in artifact if a.key == key)
            assert found.task_run_id == make_run.id, key
    markdown = next(a for a in artifact if a.key == f"brief-maria-{day}")
    assert "## Digest" in markdown.data and "**Alex:**" in markdown.data


def test_second_run_makes_nothing_and_forced_rerun_hits_the_cache(seeded):
    settings, users = seeded
    day = dt.date(2026, 3, 3)
    first = generate_brief(user_id="maria", brief_date=day)
    assert first.status == "published"
    with db.connection() as conn:
        created = repo.get_brief(conn, "maria", "daily", day)["created_at"]

    again = generate_brief(user_id="maria", brief_date=day, return_state=True)
    assert again.result().audio_url == first.audio_url
    assert task_runs_of(again.state_details.flow_run_id) == []  # no step ran at all

    forced = generate_brief(user_id="maria", brief_date=day, force=True, return_state=True)
    runs = [(t.name, t.state.name) for t in task_runs_of(forced.state_details.flow_run_id)]
    # A forced remake plans afresh (the same bills: nothing changed) and publishes again; every
    # segment comes from the segment store.
    assert sorted(runs) == [(f"make-daily-briefs-{day}", "Completed"), (f"plan-daily-briefs-{day}", "Completed")]
    assert forced.result().made_now
    with db.connection() as conn:
        row = repo.get_brief(conn, "maria", "daily", day)
    assert row["created_at"] == created and row["status"] == "published" and row["updated_at"] >= created
    assert [b["bill_id"] for b in row["bills"]] == first.bills_covered
    assert len(row["costs"]["segments"]) >= 5 and not any(s["made_now"] for s in row["costs"]["segments"])


def test_one_failure_does_not_stop_the_others_and_nothing_to_say_is_skipped(seeded):
    settings, users = seeded
    day = dt.date(2026, 3, 4)
    with db.connection() as conn:
        repo.upsert_user(conn, User(id="bad", name="Bad Data", interests=["healthcare", "astrology"]))
        # "quiet" heard every immigration bill yesterday, so today has nothing new for them.
        repo.upsert_user(conn, User(id="quiet", name="Quinn Quiet", interests=["immigration"]))
        immigration = [r[0] for r in conn.execute("SELECT id FROM bills WHERE policy_area = 'Immigration'").fetchall()]
        assert immigration
        yesterday = day - dt.timedelta(days=1)
        repo.save_brief(conn, {"id": repo.brief_id("quiet", "daily", yesterday), "user_id": "quiet",
                               "brief_type": "daily", "brief_date": yesterday.isoformat(), "status": "published"},
                        [(bill_id, "top_story") for bill_id in immigration])
    state = daily_briefs(brief_date=day, return_state=True)
    assert state.is_failed()
    assert state.message == "6 of 7 briefs done (5 published, 1 skipped; 6 made now, 0 already there); failed: bad"
    with db.connection() as conn:
        bad = repo.get_brief(conn, "bad", "daily", day)
        quiet = repo.get_brief(conn, "quiet", "daily", day)
        assert bad["status"] == "failed" and "astrology" in bad["error"] and bad["audio_url"] is None
        assert quiet["status"] == "skipped" and "immigration" in quiet["error"] and quiet["bills"] == []
        assert all(repo.get_brief(conn, u.id, "daily", day)["status"] == "published" for u in users)
    # The bad input failed that brief at planning, and nothing else: the day's steps each ran once.
    runs = task_runs_of(state.state_details.flow_run_id)
    assert all(t.state.is_completed() and t.run_count == 1 for t in runs), [(t.name, t.state.name) for t in runs]


def test_unknown_user_fails_with_a_clear_error(seeded):
    state = generate_brief(user_id="nobody", return_state=True)
    assert state.is_failed()
    with pytest.raises(repo.UnknownUserError, match="'nobody'"):
        state.result()


def test_a_remake_that_fails_or_finds_nothing_keeps_the_published_brief(seeded, settings_env, monkeypatch):
    from civic_briefs.providers import registry
    from civic_briefs.providers.base import PermanentProviderError

    day = dt.date(2026, 3, 5)
    first = generate_brief(user_id="james", brief_date=day)
    assert first.status == "published"

    class RefusingStorage:
        name = "refusing"

        def put(self, key, data, content_type="audio/mpeg"):
            raise PermanentProviderError("403 AccessDenied")

    with monkeypatch.context() as patch:
        patch.setattr(registry, "_build_audio_storage", lambda settings: RefusingStorage())
        settings_env()  # a new settings object: the registry builds its providers again
        failed = generate_brief(user_id="james", brief_date=day, force=True, return_state=True)
    assert failed.is_failed() and "AccessDenied" in failed.message
    settings_env()

    # Every defense bill heard the day before: a forced remake today finds nothing new to say.
    with db.connection() as conn:
        defense = [r[0] for r in conn.execute(
            "SELECT id FROM bills WHERE policy_area = 'Armed Forces and National Security'").fetchall()]
        yesterday = day - dt.timedelta(days=1)
        repo.save_brief(conn, {"id": repo.brief_id("james", "daily", yesterday), "user_id": "james", "brief_type": "daily",
                               "brief_date": str(yesterday), "status": "published"},
                        [(bill_id, "top_story") for bill_id in defense])
    kept = generate_brief(user_id="james", brief_date=day, force=True, policy_interests=["defense"])
    assert kept.status == "published" and not kept.made_now and kept.audio_url == first.audio_url

    with db.connection() as conn:
        row = repo.get_brief(conn, "james", "daily", day)
    assert row["status"] == "published" and row["audio_url"] == first.audio_url and row["error"] is None
    assert [b["bill_id"] for b in row["bills"]] == first.bills_covered


def test_ad_hoc_interests_shape_the_whole_brief(seeded):
    day = dt.date(2026, 3, 6)
    brief = generate_brief(user_id="maria", brief_date=day, policy_interests=["defense"])
    with db.connection() as conn:
        row = repo.get_brief(conn, "maria", "daily", day)
        areas = {repo.get_bill(conn, b["bill_id"]).policy_area for b in row["bills"]}
    assert row["policy_interests"] == ["defense"] and areas == {"Armed Forces and National Security"}
    assert "We're following defense for you" in row["transcript"]
    assert brief.status == "published"


def test_import_bills_flow_reports_bad_files_and_imports_the_rest(settings_env, tmp_path):
    from flows.import_bills import import_bills
    from tests.conftest import SHARED_DATA

    bad = tmp_path / "BILLSTATUS-bad.xml"
    bad.write_text("<billStatus><bill>")
    state = import_bills(paths=[str(SHARED_DATA / "billstatus"), str(bad)], return_state=True)
    assert state.is_failed()
    assert state.message.startswith("Imported 56 bills; 1 files failed")
    with db.connection() as conn:
        assert repo.count_bills(conn) == 56
    with get_client(sync_client=True) as client:
        table = client.read_latest_artifacts(limit=200)
    failures = next(a for a in table if a.key == "import-bills-failures")
    rows = json.loads(failures.data) if isinstance(failures.data, str) else failures.data
    assert [row["file"] for row in rows] == ["BILLSTATUS-bad.xml"] and "malformed XML" in rows[0]["error"]

    (tmp_path / "empty").mkdir()
    empty = import_bills(paths=[str(tmp_path / "empty")], return_state=True)
    assert empty.is_failed() and empty.message.startswith("No BILLSTATUS XML files found in")


def test_news_that_cannot_be_fetched_does_not_stop_the_brief(seeded, settings_env, monkeypatch, caplog):
    from civic_briefs.providers import registry
    from civic_briefs.providers.base import PermanentProviderError

    class DownNews:
        name = "down-news"

        def fetch(self, interest, brief_date):
            raise PermanentProviderError("401 invalid subscription token")

    monkeypatch.setattr(registry, "_build_news_source", lambda settings: DownNews())
    settings_env()
    brief = generate_brief(user_id="priya", brief_date=dt.date(2026, 3, 7))
    assert brief.status == "published" and brief.made_now
    with db.connection() as conn:
        assert repo.get_brief(conn, "priya", "daily", dt.date(2026, 3, 7))["news"] == []
    assert "No news for climate: the fetch failed (PermanentProviderError: 401 invalid subscription token)" in caplog.text
