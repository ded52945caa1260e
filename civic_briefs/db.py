"""libSQL access: connecting (local file, Turso, or embedded replica) and schema migrations.

Migrations are the numbered ``migrations/NNNN_name.sql`` files, applied in order inside a
transaction each and recorded in ``schema_migrations``, so an existing database upgrades in place.
"""

from __future__ import annotations

import contextlib
import logging
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


def is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def connect(settings: Settings | None = None) -> Any:
    """Open a libSQL connection from settings.

    ``database_url`` is a local file path (created with its folder), or ``libsql://...`` for Turso
    with ``database_auth_token``; with ``database_replica_path`` set, the local file is an embedded
    replica synced from Turso on connect.
    """
    settings = settings or get_settings()
    url = settings.database_url
    token = settings.database_auth_token.get_secret_value() if settings.database_auth_token else ""
    remote = url.startswith(("libsql://", "https://", "http://", "wss://", "ws://"))
    if remote and settings.database_replica_path:
        Path(settings.database_replica_path).parent.mkdir(parents=True, exist_ok=True)
        conn = libsql.connect(str(settings.database_replica_path), sync_url=url, auth_token=token)
        conn.sync()
        return conn
    if remote:
        return libsql.connect(url, auth_token=token)
    path = Path(url.removeprefix("file:"))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = libsql.connect(str(path))
    # Several tasks write at once from their own connections: wait for the lock, do not fail; and
    # with write-ahead logging readers do not block the writer.
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextlib.contextmanager
def connection(settings: Settings | None = None) -> Iterator[Any]:
    """A connection that is closed afterwards."""
    conn = connect(settings)
    try:
        yield conn
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


def migrate(conn: Any, folder: Path | None = None) -> list[str]:
    """Apply pending migrations (``NNNN_name.sql`` in ``folder``, default the package's) in order;
    return the names applied (empty when up to date). A failing migration is rolled back and raised."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    conn.commit()
    applied = []
    for name, sql in _migration_files(folder):
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
