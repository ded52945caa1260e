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
    # The reader did not wait on the lock (a wait would be the 30 s busy timeout); the bound leaves room
    # for a loaded 2-core machine starting the CLI (a few seconds of imports).
    assert seconds < 15, f"civic-briefs briefs took {seconds:.1f} s under another process's write lock"


def test_a_write_under_a_held_lock_fails_within_the_busy_timeout_saying_so(database, holder, monkeypatch):
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 1500)
    attempts: list[float] = []
    started = time.monotonic()
    with pytest.raises(db.DatabaseLockedError) as caught:
        _write(Settings(database_url=str(database)), attempts)()
    seconds = time.monotonic() - started
    # It waited the busy timeout (1.5 s here), once: not the 30 s default, nor a retry after it.
    assert 1.4 <= seconds < 15, seconds
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
    assert done.returncode == 0 and "Clinics bill moves" in done.stdout and seconds < 15, done.stderr

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


TOO_MANY_OPEN = """
import json, logging, os, resource, sys
from civic_briefs import db
from civic_briefs.retrying import with_retries
from civic_briefs.settings import Settings
settings = Settings(_env_file=None, database_url=sys.argv[1])
db.connect(settings).close()  # libSQL starts its runtime (descriptors of its own) on a first connection
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
filler = []
try:
    while True:
        filler.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
os.close(filler.pop())  # one left: the database file opens, its -wal/-shm do not (EMFILE)
attempts, warnings = [], []
def write():
    attempts.append(1)
    db.run_with_reconnect(lambda c: (c.execute("UPDATE briefs SET headline = 'Retried'"), c.commit()), settings)
def close_the_filler():  # the descriptors come back, as when a burst of open files ends
    while filler:
        os.close(filler.pop())
class Seen(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())
logging.getLogger("civic_briefs.retrying").addHandler(Seen())
with_retries(write, "saving a headline", initial_wait=0.05, before_sleep=close_the_filler)
print(json.dumps({"attempts": len(attempts), "warnings": warnings}))
"""


def test_a_database_that_cannot_be_opened_for_too_many_open_files_is_tried_again(database):
    """SQLite says "unable to open database file" when a process runs out of file descriptors too: the
    file is writable, so that is transient (tried again), not "cannot be written" (tried once)."""
    import json

    done = subprocess.run([sys.executable, "-c", TOO_MANY_OPEN, str(database)], capture_output=True, text=True,
                          timeout=60, cwd=database.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["attempts"] == 2, outcome
    [warning] = outcome["warnings"]
    assert warning.startswith(f"saving a headline failed (try 1 of 4): DatabaseUnavailableError: The database file "
                              f"{database} could not be opened (unable to open database file), though it and its "
                              "folder are writable: this process may have too many files open")
    with db.connection(Settings(database_url=str(database))) as conn:
        assert conn.execute("SELECT headline FROM briefs").fetchall() == [("Retried",)]


def test_unable_to_open_is_read_only_only_where_the_file_or_folder_cannot_be_written(tmp_path):
    cannot_open = ValueError("unable to open database file")
    error = db.file_error(cannot_open, str(tmp_path / "briefs.db"))
    assert isinstance(error, db.DatabaseUnavailableError) and is_retryable(error)
    assert str(error).startswith(f"The database file {tmp_path / 'briefs.db'} could not be opened (unable to open "
                                 "database file), though it and its folder are writable")
    # A folder that does not exist cannot hold the file: as unwritable as a read-only one.
    missing = db.file_error(cannot_open, str(tmp_path / "gone" / "briefs.db"))
    assert isinstance(missing, db.DatabaseReadOnlyError) and not is_retryable(missing)
    # libSQL's own "readonly database" needs no look at the file: it is read-only wherever it is.
    assert isinstance(db.file_error(ValueError("attempt to write a readonly database"), str(tmp_path / "briefs.db")),
                      db.DatabaseReadOnlyError)
