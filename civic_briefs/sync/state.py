"""The sync's own rows: a watermark per source (``sync_watermarks``) and what the last sync of each
file did (``sync_files``). Each write commits: a sync killed at any point keeps what it did."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from civic_briefs.repo import now_iso
from civic_briefs.sync.models import FileResult


@dataclass(frozen=True)
class FileRecord:
    lastmod: dt.datetime
    content_sha256: str | None
    bill_id: str | None
    outcome: str
    permanent: bool

    @property
    def done(self) -> bool:
        """Imported, or refused for good: nothing left to do until the source changes the file."""
        return self.outcome != "failed" or self.permanent


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def get_watermark(conn: Any, source: str) -> dt.datetime | None:
    rows = conn.execute("SELECT watermark FROM sync_watermarks WHERE source = ?", (source,)).fetchall()
    return dt.datetime.fromisoformat(rows[0][0]) if rows else None


def set_watermark(conn: Any, source: str, watermark: dt.datetime) -> None:
    """Move the watermark forward (never back: two syncs at once leave the later one's)."""
    stamp = _stamp(watermark)
    try:
        conn.execute(
            "INSERT INTO sync_watermarks (source, watermark, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (source) DO UPDATE SET watermark = excluded.watermark, updated_at = excluded.updated_at "
            "WHERE excluded.watermark > sync_watermarks.watermark",
            (source, stamp, now_iso()))
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def file_records(conn: Any, source: str) -> dict[str, FileRecord]:
    rows = conn.execute("SELECT path, lastmod, content_sha256, bill_id, outcome, permanent FROM sync_files "
                        "WHERE source = ?", (source,)).fetchall()
    return {path: FileRecord(dt.datetime.fromisoformat(lastmod), sha, bill_id, outcome, bool(permanent))
            for path, lastmod, sha, bill_id, outcome, permanent in rows}


def record_file(conn: Any, source: str, path: str, lastmod: dt.datetime, result: FileResult,
                content_sha256: str | None) -> None:
    try:
        conn.execute(
            "INSERT INTO sync_files (source, path, lastmod, content_sha256, bill_id, outcome, permanent, error, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, path) DO UPDATE SET "
            "lastmod = excluded.lastmod, content_sha256 = COALESCE(excluded.content_sha256, sync_files.content_sha256), "
            "bill_id = COALESCE(excluded.bill_id, sync_files.bill_id), outcome = excluded.outcome, "
            "permanent = excluded.permanent, error = excluded.error, updated_at = excluded.updated_at",
            (source, path, _stamp(lastmod), content_sha256, result.bill_id, result.outcome, int(result.permanent),
             result.reason, now_iso()))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
