"""libSQL access: connecting (local file, Turso, or embedded replica) and schema migrations.

Migrations are the numbered ``migrations/NNNN_name.sql`` files, applied in order inside a
transaction each and recorded in ``schema_migrations``, so an existing database upgrades in place.
An up-to-date database is only read: a reader never waits on another process's write lock.

A local file that another process holds locked past the busy timeout raises
:class:`DatabaseLockedError`, one that cannot be written :class:`DatabaseReadOnlyError`, and one
that could not be opened for another reason :class:`DatabaseUnavailableError`; each says which file
and what to do. libSQL itself raises a plain ``ValueError`` for all three.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import libsql

from civic_briefs.settings import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Remote (Turso) errors that a fresh connection fixes: idle streams expire after about 15 s.
_TRANSIENT_MARKERS = ("stream_expired", "stream expired", "connection reset", "websocket", "broken pipe", "hrana")


# How long a write waits for another process's write lock before giving up (SQLite's busy timeout).
BUSY_TIMEOUT_MS = 30_000
_LOCKED_MARKERS = ("database is locked", "database table is locked", "sqlite_busy")
_READ_ONLY_MARKERS = ("readonly database", "read-only database", "sqlite_readonly")
# SQLite's CANTOPEN: the file or its -wal/-shm could not be opened. That is what an unwritable folder
# gives, but also too many open files (EMFILE) or a network filesystem's hiccup, which pass: which it
# is, only the file's and folder's permissions tell (see file_error).
_CANT_OPEN_MARKERS = ("unable to open database file", "sqlite_cantopen")


class DatabaseFileError(ValueError):
    """The database file cannot be used as it is now; the message names it and says what to do."""


class DatabaseLockedError(DatabaseFileError):
    """Another process held the database's write lock for longer than the busy timeout (transient)."""


class DatabaseReadOnlyError(DatabaseFileError):
    """The database file or its folder cannot be written by this process (permanent until fixed)."""


class DatabaseUnavailableError(DatabaseFileError):
    """The database file could not be opened though it and its folder are writable (transient: too
    many open files, a network filesystem that did not answer)."""


def is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def is_locked(exc: BaseException) -> bool:
    """True for libSQL's "database is locked" (and our own error for it)."""
    return isinstance(exc, DatabaseLockedError) or (
        not isinstance(exc, DatabaseFileError) and any(m in str(exc).lower() for m in _LOCKED_MARKERS))


def is_read_only(exc: BaseException) -> bool:
    """True for libSQL's "attempt to write a readonly database" (and our own error for it). Its "unable
    to open database file" is read-only only where the file or its folder cannot be written, which
    the error alone does not tell: ``file_error`` looks."""
    return isinstance(exc, DatabaseReadOnlyError) or (
        not isinstance(exc, DatabaseFileError) and any(m in str(exc).lower() for m in _READ_ONLY_MARKERS))


def _cannot_open(exc: BaseException) -> bool:
    return not isinstance(exc, DatabaseFileError) and any(m in str(exc).lower() for m in _CANT_OPEN_MARKERS)


def _writable(where: str) -> bool:
    """Whether this process may write the local database file ``where`` (when it exists) and its
    folder (which holds the -wal and -shm files). ``os.access`` asks the kernel, so a read-only mount
    answers no even to root (for whom permission bits say yes)."""
    path = Path(where)
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def file_error(exc: BaseException, where: str) -> DatabaseFileError | None:
    """The clear error for a locked, unwritable or unopenable database at ``where``, or None for any
    other error."""
    if isinstance(exc, DatabaseFileError):
        return exc
    if _cannot_open(exc) and (_is_remote(where) or _writable(where)):
        return DatabaseUnavailableError(
            f"The database file {where} could not be opened ({exc}), though it and its folder are writable: this "
            "process may have too many files open, or a network filesystem did not answer. It is tried again; if "
            "it keeps failing, check the open-file limit (ulimit -n) and the filesystem.")
    if is_locked(exc):
        return DatabaseLockedError(
            f"The database file {where} is locked by another process: a write waited {BUSY_TIMEOUT_MS / 1000:g} s "
            f"for its lock ({exc}). Another civic-briefs run, worker or server is writing to it. Wait for that run "
            "to finish, or stop it (`make stop` stops what `make serve` started), then try again.")
    if is_read_only(exc) or _cannot_open(exc):
        return DatabaseReadOnlyError(
            f"The database file {where} cannot be written ({exc}). Make the file and its folder (which holds its "
            "-wal and -shm files) writable by this user, or point BRIEFS_DATABASE_URL at a writable file.")
    return None


def _where(settings: Settings) -> str:
    """The database, as messages name it: the local file, or the remote URL (never its token)."""
    url = settings.database_url
    if not _is_remote(url):
        return str(_local_target(url)[1].resolve())
    return str(settings.database_replica_path or url.split("?", 1)[0])


def _is_remote(url: str) -> bool:
    return url.startswith(("libsql://", "https://", "http://", "wss://", "ws://"))


def _local_target(url: str) -> tuple[str, Path]:
    """What libSQL opens for a local ``database_url``, and the file's path.

    A ``file:`` URI with a query (``file:briefs.db?mode=ro``, read-only) is passed on whole.
    """
    if url.startswith("file:") and "?" in url:
        path = url.removeprefix("file:").split("?", 1)[0].removeprefix("//")
        return url, Path(path)
    path = Path(url.removeprefix("file:"))
    return str(path), path


def connect(settings: Settings | None = None) -> Any:
    """Open a libSQL connection from settings.

    ``database_url`` is a local file path (created with its folder), a ``file:`` URI (e.g.
    ``file:briefs.db?mode=ro`` to open it read-only), or ``libsql://...`` for Turso with
    ``database_auth_token``; with ``database_replica_path`` set, the local file is an embedded
    replica synced from Turso on connect.
    """
    settings = settings or get_settings()
    url = settings.database_url
    token = settings.database_auth_token.get_secret_value() if settings.database_auth_token else ""
    remote = _is_remote(url)
    if remote and settings.database_replica_path:
        Path(settings.database_replica_path).parent.mkdir(parents=True, exist_ok=True)
        conn = libsql.connect(str(settings.database_replica_path), sync_url=url, auth_token=token)
        conn.sync()
        return conn
    if remote:
        return libsql.connect(url, auth_token=token)
    target, path = _local_target(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = libsql.connect(target)
        # Several tasks write at once from their own connections: wait for the lock, do not fail; and
        # with write-ahead logging readers and the writer do not wait on each other. Switching to WAL
        # writes, so it is done only once, for a file not yet in WAL (a read-only one can still be read).
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
        if conn.execute("PRAGMA journal_mode").fetchall()[0][0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except Exception as exc:
        raise (file_error(exc, str(path.resolve())) or exc) from exc
    return conn


@contextlib.contextmanager
def connection(settings: Settings | None = None) -> Iterator[Any]:
    """A connection that is closed afterwards."""
    settings = settings or get_settings()
    conn = connect(settings)
    try:
        yield conn
    except Exception as exc:
        clear = file_error(exc, _where(settings))
        if clear is None or clear is exc:
            raise
        raise clear from exc
    finally:
        conn.close()


def run_with_reconnect(work: Callable[[Any], T], settings: Settings | None = None, attempts: int = 3) -> T:
    """Run ``work(conn)``; on a transient remote error open a new connection and try again."""
    for attempt in range(1, attempts + 1):
        with connection(settings) as conn:
            try:
                return work(conn)
            except Exception as exc:
                if attempt == attempts or not is_transient(exc):
                    raise
                log.warning("Transient database error (attempt %d/%d), reconnecting: %s", attempt, attempts, exc)
                time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _migration_files(folder: Path | None = None) -> list[tuple[str, str]]:
    folder = folder or resources.files("civic_briefs") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def _applied_migrations(conn: Any) -> set[str] | None:
    """The names in ``schema_migrations``, or None before that table exists (a read, no lock)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchall()
    if not found:
        return None
    return {row[0] for row in conn.execute("SELECT name FROM schema_migrations").fetchall()}


def migrate(conn: Any, folder: Path | None = None) -> list[str]:
    """Apply pending migrations (``NNNN_name.sql`` in ``folder``, default the package's) in order;
    return the names applied (empty when up to date). A failing migration is rolled back and raised.

    Looks first, only reading: an up-to-date database takes no write lock, so every command that
    opens one (``civic-briefs briefs`` too) works while another process writes to it."""
    files = _migration_files(folder)
    done = _applied_migrations(conn)
    if done is not None and all(name in done for name, _ in files):
        return []
    if done is None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        conn.commit()
    applied = []
    for name, sql in files:
        if done and name in done:
            continue
        statements = [s.strip() for s in sql.split(";") if s.strip()]
        # DDL does not open a transaction implicitly: begin one (taking the write lock at once) so a
        # failure undoes it all, and look again inside it, as another process may have applied it.
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchall():
            conn.rollback()
            continue
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
            )
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        log.info("Applied migration %s", name)
        applied.append(name)
    return applied


def init_db(settings: Settings | None = None) -> list[str]:
    """Create or upgrade the database named by settings; return the migrations applied."""
    return run_with_reconnect(migrate, settings)
