"""A database locked or read-only (issue 8, item 8): reads go on, writes say what is wrong.

The lock is held by a real second process (``BEGIN IMMEDIATE`` on the same libSQL file); the
reader is the ``civic-briefs`` command itself, run as a process.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from civic_briefs import db, repo
from civic_briefs.retrying import is_retryable, with_retries
from civic_briefs.settings import Settings
from tests.factories import make_user

CLI = Path(sys.executable).with_name("civic-briefs")
DAY = dt.date(2026, 3, 2)

HOLDER = """
import sys, libsql
conn = libsql.connect(sys.argv[1])
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO users (id, name, created_at) VALUES ('holder', 'Holder', datetime('now'))")
print("held", flush=True)
sys.stdin.readline()  # hold the write lock until told (or killed)
conn.rollback()
print("released", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def database(tmp_path) -> Path:
    """A migrated file with one user and one published brief row."""
    path = tmp_path / "briefs.db"
    settings = Settings(database_url=str(path))
    db.init_db(settings)
    with db.connection(settings) as conn:
        repo.upsert_user(conn, make_user("ann"))
        conn.commit()
        repo.save_brief(conn, {"id": f"ann:daily:{DAY}", "user_id": "ann", "brief_type": "daily",
                               "brief_date": DAY.isoformat(), "status": "published", "headline": "Clinics bill moves"}, [])
    return path


class Holder:
    """Another process holding the database's write lock."""

    def __init__(self, path: Path):
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "released"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def holder(database):
    held = Holder(database)
    yield held
    held.stop()


def _cli(*args: str, database_url: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIEFS_")} | {"BRIEFS_DATABASE_URL": database_url}
    started = time.monotonic()
    done = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started


def _write(settings: Settings, attempts: list[float]):
    def write() -> None:
        attempts.append(time.monotonic())
        db.run_with_reconnect(lambda c: (repo.upsert_user(c, make_user("bob")), c.commit()), settings)
    return write


def test_briefs_lists_rows_at_once_while_another_process_holds_the_write_lock(database, holder):
    done, seconds = _cli("briefs", database_url=str(database))
    assert done.returncode == 0, done.stderr
    assert "ann" in done.stdout and "2026-03-02" in done.stdout and "published" in done.stdout
    assert "Clinics bill moves" in done.stdout
    # The lock's holder waits 30 s for nobody: the reader did not wait on it.
    assert seconds < 5, f"civic-briefs briefs took {seconds:.1f} s under another process's write lock"


def test_a_write_under_a_held_lock_fails_within_the_busy_timeout_saying_so(database, holder, monkeypatch):
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1500)
    attempts: list[float] = []
    started = time.monotonic()
    with pytest.raises(db.DatabaseLockedError) as caught:
        _write(Settings(database_url=str(database)), attempts)()
    seconds = time.monotonic() - started
    assert 1.4 <= seconds < 4, seconds
    assert str(caught.value).startswith(f"The database file {database} is locked by another process: a write waited "
                                        "1.5 s for its lock (database is locked).")
    assert "Wait for that run to finish, or stop it (`make stop` stops what `make serve` started)" in str(caught.value)
    assert is_retryable(caught.value) and len(attempts) == 1


def test_a_locked_write_is_retried_for_a_bounded_time_and_ends_with_the_clear_error(database, holder, monkeypatch):
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)
    settings = Settings(database_url=str(database))
    attempts: list[float] = []
    with pytest.raises(db.DatabaseLockedError, match=r"is locked by another process.*`make stop`"):
        with_retries(_write(settings, attempts), "saving a user", retries=2, initial_wait=0.05)
    assert len(attempts) == 3
    # A lock is another process's, for a while: once it lets go, the retry gets through.
    attempts.clear()
    with_retries(_write(settings, attempts), "saving a user", retries=2, initial_wait=0.05, before_sleep=holder.release)
    assert len(attempts) == 2
    with db.connection(settings) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM users ORDER BY id").fetchall()] == ["ann", "bob"]


def test_a_read_only_database_is_read_and_a_write_fails_once_saying_so(database):
    # As root, chmod does not stop writes; SQLite's own read-only open (a file: URI) does.
    url = f"file:{database}?mode=ro"
    done, seconds = _cli("briefs", database_url=url)
    assert done.returncode == 0 and "Clinics bill moves" in done.stdout and seconds < 5, done.stderr

    attempts: list[float] = []
    with pytest.raises(db.DatabaseReadOnlyError) as caught:
        with_retries(_write(Settings(database_url=url), attempts), "saving a user", initial_wait=0.05)
    assert len(attempts) == 1
    assert str(caught.value) == (
        f"The database file {database} cannot be written (attempt to write a readonly database). Make the file and "
        "its folder (which holds its -wal and -shm files) writable by this user, or point BRIEFS_DATABASE_URL at a "
        "writable file.")
    assert not is_retryable(caught.value) and not is_retryable(ValueError("attempt to write a readonly database"))


def test_a_prefect_task_does_not_retry_a_read_only_database(database, prefect_api):
    from prefect import task

    from tasks.policy import RETRY_OPTIONS

    attempts: list[float] = []
    write = _write(Settings(database_url=f"file:{database}?mode=ro"), attempts)
    state = task(write, name="write-user", **RETRY_OPTIONS)(return_state=True)
    assert state.is_failed() and len(attempts) == 1
    with pytest.raises(db.DatabaseReadOnlyError, match="cannot be written"):
        state.result()


MOUNTED = """
import json, sys
from civic_briefs import db
from civic_briefs.retrying import with_retries
from civic_briefs.settings import Settings
attempts = []
def write():
    attempts.append(1)
    db.run_with_reconnect(lambda c: (c.execute("DELETE FROM briefs"), c.commit()), Settings(database_url=sys.argv[1]))
try:
    with_retries(write, "clearing briefs", initial_wait=0.05)
except Exception as exc:
    print(json.dumps({"attempts": len(attempts), "type": type(exc).__name__, "message": str(exc)}))
"""


def _mounted_read_only(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """``command`` in a private mount namespace where ``folder`` is a read-only bind mount (as root)."""
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(folder), *command], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])


def test_a_database_on_a_read_only_mount_fails_once_saying_so(database):
    import json

    folder = database.parent
    if shutil.which("unshare") is None or _mounted_read_only(folder, "true").returncode != 0:
        pytest.skip("needs a private mount namespace (unshare -m, as root) for a read-only bind mount")
    done = _mounted_read_only(folder, sys.executable, "-c", MOUNTED, str(database))
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    # The folder cannot hold the -shm file, so even opening it fails: permanent, tried once.
    assert outcome["attempts"] == 1 and outcome["type"] == "DatabaseReadOnlyError", (outcome, done.stderr)
    assert outcome["message"].startswith(f"The database file {database} cannot be written (unable to open database file)")
    with db.connection(Settings(database_url=str(database))) as conn:  # outside the mount: untouched
        assert conn.execute("SELECT count(*) FROM briefs").fetchall() == [(1,)]
