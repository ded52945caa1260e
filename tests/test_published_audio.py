"""A published brief's audio never changes under its row (issue 8, items 1, 5 and 7).

Real parts: a libSQL file, the offline writer and espeak-ng speech, local storage, lock-file claims,
and real processes killed with SIGKILL where the guarantee is about a crash.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import mutagen.mp3
import pytest

from civic_briefs import db, importer, production, publishing, repo, retrying
from civic_briefs.claims import AtomicFileLockManager, Claims
from civic_briefs.models import User
from civic_briefs.plan import plan_day
from civic_briefs.production import BriefMaker
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 3, 2)
ANA = User(id="ana", name="Ana Reyes", interests=["healthcare", "education"])
BEN = User(id="ben", name="Ben Okafor", interests=["economy", "taxes"])


@pytest.fixture
def world(settings_env):
    settings = settings_env(locks="file")
    with db.connection() as conn:
        db.migrate(conn)
        importer.import_sample(conn)
        for user in (ANA, BEN):
            repo.upsert_user(conn, user)
        conn.commit()
    return settings


def make(users: list[User], *, force: bool = False, claims: Claims | None = None, providers=None):
    settings = get_settings()
    providers = providers or registry.providers(settings)
    with db.connection() as conn:
        plan = plan_day(conn, users, DAY, "daily", news_by_interest={}, writer_name=providers.writer.name,
                        dedup_days=settings.dedup_days, top_stories=settings.top_stories,
                        quick_hits=settings.quick_hits, news_per_brief=settings.news_per_brief)
    maker = BriefMaker(plan, providers, registry.segment_store(settings), claims or registry.claims(settings),
                       limit_sizes={}, max_concurrent_briefs=2, key_prefix=settings.s3_prefix, force=force)
    return {o.user_id: o for o in maker.run()}


def row(user_id: str) -> dict:
    with db.connection() as conn:
        return repo.get_brief(conn, user_id, "daily", DAY)


def objects(settings, user_id: str) -> dict[str, bytes]:
    folder = settings.storage_path / settings.s3_prefix / user_id / "daily"
    return {p.name: p.read_bytes() for p in sorted(folder.glob(f"{DAY}*.mp3"))} if folder.is_dir() else {}


def recorded(state: str | None = None) -> list[repo.AudioObject]:
    with db.connection() as conn:
        return repo.audio_objects(conn, state=state)


def played(url: str) -> tuple[bytes, float]:
    """The bytes at a row's URL and their duration as a player measures it."""
    path = Path(url.removeprefix("file://"))
    return path.read_bytes(), mutagen.mp3.MP3(path).info.length


# The killed process's claims expire this soon (a real one's hold is a minute).
KILLED_CLAIM_HOLD = 4.0


def run_script(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.scripts.make_day", DAY.isoformat(),
                           "--claim-hold", str(KILLED_CLAIM_HOLD), *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=timeout)


def sweep_once_free(wait: float = 3 * KILLED_CLAIM_HOLD) -> publishing.StaleAudio:
    """The sweep, once the killed publisher's claim on its brief has expired."""
    deadline = time.monotonic() + wait
    while True:
        now = dt.datetime.now(dt.UTC)
        swept = publishing.remove_stale_audio(registry.providers().storage, registry.claims(),
                                              replaced_before=now, orphaned_before=now)
        if not swept.busy or time.monotonic() > deadline:
            return swept
        time.sleep(0.5)


def rename(user: User, name: str) -> User:
    """The user with another name: a remake then says something else (a new MP3)."""
    changed = user.model_copy(update={"name": name})
    with db.connection() as conn:
        repo.upsert_user(conn, changed)
        conn.commit()
    return changed


def test_a_remake_is_a_new_object_and_the_replaced_one_stays_until_its_grace_ends(world):
    first = make([ANA])["ana"]
    old_url, old_row = first.audio_url, row("ana")
    old_bytes, _ = played(old_url)
    assert old_url.endswith(f"/{DAY}-{publishing.audio_version(old_bytes)}.mp3")

    remade = make([rename(ANA, "Anabel Reyes")], force=True)["ana"]
    new_row = row("ana")
    assert remade.made_now and new_row["audio_url"] == remade.audio_url != old_url
    new_bytes, new_length = played(new_row["audio_url"])
    assert new_length == pytest.approx(new_row["duration_seconds"], abs=0.05)
    assert "Anabel" in new_row["transcript"] and new_bytes != old_bytes
    # A player holding the old URL still plays the old brief, whole.
    assert played(old_url) == (old_bytes, pytest.approx(old_row["duration_seconds"], abs=0.05))
    assert {(o.key.rsplit("/", 1)[1], o.state) for o in recorded()} == {
        (old_url.rsplit("/", 1)[1], "retired"), (new_row["audio_url"].rsplit("/", 1)[1], "live")}

    claims = registry.claims()
    kept = publishing.remove_stale_audio(registry.providers().storage, claims,
                                         replaced_before=dt.datetime.now(dt.UTC) - dt.timedelta(hours=24))
    assert kept == publishing.StaleAudio() and len(objects(world, "ana")) == 2
    gone = publishing.remove_stale_audio(registry.providers().storage, claims,
                                         replaced_before=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert gone == publishing.StaleAudio(replaced=1)
    assert list(objects(world, "ana")) == [new_row["audio_url"].rsplit("/", 1)[1]]
    assert played(new_row["audio_url"])[0] == new_bytes
    assert [(o.state) for o in recorded()] == ["live"]
    assert old_row["duration_seconds"] != new_row["duration_seconds"] or old_row["transcript"] != new_row["transcript"]


def test_a_remake_killed_between_upload_and_row_leaves_the_published_brief_as_it_was(world):
    make([ANA])
    before = row("ana")
    before_bytes, before_length = played(before["audio_url"])
    rename(ANA, "Anabel Reyes")

    killed = run_script("--force", "--users", "ana", "--kill-after-uploads", "1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert "KILLED-AFTER-UPLOAD" in killed.stdout

    # The row, and the audio at its URL, are the published brief's, byte for byte.
    after = row("ana")
    assert {k: after[k] for k in ("audio_url", "duration_seconds", "transcript", "updated_at")} == {
        k: before[k] for k in ("audio_url", "duration_seconds", "transcript", "updated_at")}
    assert played(after["audio_url"]) == (before_bytes, before_length)
    assert before_length == pytest.approx(before["duration_seconds"], abs=0.05)
    # The new upload is on record as an orphan, and the next sweep removes it.
    [orphan] = recorded("uploading")
    assert orphan.brief_id == before["id"] and len(objects(world, "ana")) == 2
    assert sweep_once_free() == publishing.StaleAudio(orphaned=1)
    assert list(objects(world, "ana")) == [before["audio_url"].rsplit("/", 1)[1]]
    assert [o.state for o in recorded()] == ["live"]


def test_a_remake_while_the_database_is_locked_fails_and_leaves_the_published_brief_as_it_was(world, monkeypatch):
    from tests.test_database_locks import Holder

    make([ANA])
    before = row("ana")
    before_audio = played(before["audio_url"])
    renamed = rename(ANA, "Anabel Reyes")
    # The same retries, with short waits and a short busy timeout, so the test takes seconds.
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(production, "with_retries", functools.partial(retrying.with_retries, initial_wait=0.02))
    holder = Holder(Path(world.database_url))
    try:
        outcome = make([renamed], force=True)["ana"]
    finally:
        holder.stop()
    assert outcome.status == "failed" and not outcome.made_now
    assert "locked" in outcome.error and world.database_url in outcome.error
    after = row("ana")
    assert {k: after[k] for k in ("status", "audio_url", "duration_seconds", "transcript", "updated_at")} == {
        k: before[k] for k in ("status", "audio_url", "duration_seconds", "transcript", "updated_at")}
    assert played(after["audio_url"]) == before_audio
    # Nothing was uploaded: the upload is recorded first, and that write met the lock.
    assert list(objects(world, "ana")) == [before["audio_url"].rsplit("/", 1)[1]]
    assert [o.state for o in recorded()] == ["live"]


def test_a_day_killed_between_upload_and_row_is_finished_by_the_next_run(world):
    killed = run_script("--kill-after-uploads", "1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    uploaded = killed.stdout.split("KILLED-AFTER-UPLOAD ", 1)[1].split()[0]
    victim = uploaded.split("/")[1]
    assert row(victim) is None and [o.key for o in recorded("uploading")] == [uploaded]

    outcomes = make([ANA, BEN])
    assert {u: (o.status, o.made_now) for u, o in outcomes.items()} == {
        "ana": ("published", True), "ben": ("published", True)}
    for user in ("ana", "ben"):
        brief = row(user)
        body, length = played(brief["audio_url"])
        assert length == pytest.approx(brief["duration_seconds"], abs=0.05)
        # One object per brief: the killed run's upload was the same bytes, now live.
        assert list(objects(world, user)) == [brief["audio_url"].rsplit("/", 1)[1]]
    assert sorted(o.state for o in recorded()) == ["live", "live"]


def test_an_orphan_whose_brief_is_not_made_again_is_removed_by_the_sweep(world):
    killed = run_script("--users", "ana", "--kill-after-uploads", "1")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(objects(world, "ana")) == 1 and row("ana") is None
    time.sleep(KILLED_CLAIM_HOLD + 0.5)  # the killed publisher's claim has expired
    claims = registry.claims()
    # While a publisher holds the brief's claim, its upload is not an orphan.
    holder = Claims(AtomicFileLockManager(world.segment_store_path / "claims"),
                    f"{world.database_url}|{registry.segment_store().name}", "files")
    claim = publishing.brief_claim_key(repo.brief_id("ana", "daily", DAY))
    assert holder.claim(claim, wait_seconds=0)
    try:
        now = dt.datetime.now(dt.UTC)
        assert publishing.remove_stale_audio(registry.providers().storage, claims, now, orphaned_before=now) == \
            publishing.StaleAudio(busy=1)
        assert len(objects(world, "ana")) == 1
    finally:
        holder.release(claim)
    # An upload younger than an hour may still be on its way to its row: the day's prune leaves it.
    assert publishing.remove_stale_audio(registry.providers().storage, claims, dt.datetime.now(dt.UTC)) == \
        publishing.StaleAudio()
    now = dt.datetime.now(dt.UTC)
    assert publishing.remove_stale_audio(registry.providers().storage, claims, now, orphaned_before=now) == \
        publishing.StaleAudio(orphaned=1)
    assert objects(world, "ana") == {} and recorded() == []


class GrantingClaims:
    """Claims that grant everything: a sweeper that wrongly believes no one is publishing."""

    def claim(self, key, wait_seconds=None):
        return True

    def release(self, key):
        pass


def test_a_sweep_racing_a_publisher_never_leaves_a_row_without_its_audio(world, monkeypatch):
    monkeypatch.setattr(production, "with_retries", functools.partial(retrying.with_retries, initial_wait=0.02))
    base = registry.providers()
    swept: list[publishing.StaleAudio] = []

    class SweptMidUpload:
        """Storage whose first upload is preceded by a sweep that takes the new upload for an orphan."""

        name = base.storage.name

        def put(self, key, data, *args):
            if not swept:
                now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
                swept.append(publishing.remove_stale_audio(base.storage, GrantingClaims(), now, orphaned_before=now))
            return base.storage.put(key, data, *args)

        def delete(self, key):
            base.storage.delete(key)

    import dataclasses

    outcome = make([ANA], providers=dataclasses.replace(base, storage=SweptMidUpload()))["ana"]
    assert swept == [publishing.StaleAudio(orphaned=1)]
    # The save found its record gone, nothing was saved, and publishing again uploaded it again.
    assert outcome.status == "published"
    brief = row("ana")
    body, length = played(brief["audio_url"])
    assert length == pytest.approx(brief["duration_seconds"], abs=0.05)
    assert [(o.key.rsplit("/", 1)[1], o.state) for o in recorded()] == [(brief["audio_url"].rsplit("/", 1)[1], "live")]


class CountingWriter:
    """The configured writer, counting its requests (what a paid writer would bill)."""

    def __init__(self, inner):
        self._inner, self.name, self.limit = inner, inner.name, getattr(inner, "limit", None)
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name):
        method = getattr(self._inner, name)

        def counted(*args, **kwargs):
            with self._lock:
                self.calls.append(name)
            return method(*args, **kwargs)
        return counted


@pytest.mark.parametrize("force", [False, True])
def test_two_runs_started_together_make_the_brief_once(world, force):
    import dataclasses

    user = ANA
    if force:
        make([ANA])
        user = rename(ANA, "Anabel Reyes")  # so the remake has new personal segments to pay for
    base = registry.providers()
    writer = CountingWriter(base.writer)
    providers = dataclasses.replace(base, writer=writer)
    namespace = f"{world.database_url}|{registry.segment_store().name}"
    outcomes: list = []
    start = threading.Barrier(2)

    def run() -> None:
        # Each run its own claims holder, as two processes are.
        claims = Claims(AtomicFileLockManager(world.segment_store_path / "claims"), namespace, "files")
        start.wait()
        outcomes.append(make([user], force=force, claims=claims, providers=providers)["ana"])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert sorted(o.made_now for o in outcomes) == [False, True]
    assert len({o.audio_url for o in outcomes}) == 1 and all(o.status == "published" for o in outcomes)
    # The personal segments were written once: the second run waited, then returned the first's brief.
    assert writer.calls.count("write_opening") == 1 and writer.calls.count("write_close") == 1
    assert len(objects(world, "ana")) == 1 + (1 if force else 0)


def test_a_brief_published_before_objects_were_recorded_has_its_old_mp3_removed_after_a_remake(world):
    first = make([ANA])["ana"]
    # As a brief published before migration 0003 was: its MP3 under the unversioned key, not recorded.
    versioned = Path(first.audio_url.removeprefix("file://"))
    legacy = versioned.with_name(f"{DAY}.mp3")
    versioned.rename(legacy)
    with db.connection() as conn:
        conn.execute("UPDATE briefs SET audio_url = ? WHERE id = ?", (legacy.as_uri(), row("ana")["id"]))
        conn.execute("DELETE FROM audio_objects")
        conn.commit()

    make([rename(ANA, "Anabel Reyes")], force=True)
    brief = row("ana")
    assert sorted((o.key.rsplit("/", 1)[1], o.state) for o in recorded()) == sorted(
        [(legacy.name, "retired"), (brief["audio_url"].rsplit("/", 1)[1], "live")])
    assert legacy.exists()  # its grace first
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert publishing.remove_stale_audio(registry.providers().storage, registry.claims(), later) == \
        publishing.StaleAudio(replaced=1)
    assert not legacy.exists() and list(objects(world, "ana")) == [brief["audio_url"].rsplit("/", 1)[1]]
