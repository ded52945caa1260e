"""Incremental sync from govinfo's BILLSTATUS bulk data.

1. **List** (``list_changes``): the sitemap index, then each of the congress's per-type sitemaps
   whose own lastmod is after the source's watermark; the files in them changed after it, oldest
   first. With nothing changed that is one request.
2. **Sync** (``sync_listing``): each file is downloaded (retried on 429, 5xx and cut downloads) and
   imported with the existing importer. A file whose bytes are those of its last import is not
   imported again; a file that is imported again with the same content keeps its bill's
   ``updated_at`` (``repo.upsert_bill`` writes only what changed), so its story keeps its key. A 404
   or a malformed file is reported by name and the sync goes on.

The watermark moves past a lastmod only once every file at or before it is done (imported, or
refused for good): a file that failed for now (retries used up), or a sitemap that could not be
read, holds it where it is, so the next sync tries again and skips nothing. A sync killed half-way
resumes from the watermark; the files it had done past it are not downloaded again (``sync_files``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from civic_briefs import importer, repo
from civic_briefs.sync import state
from civic_briefs.sync.client import FetchError, GovinfoClient
from civic_briefs.sync.models import BulkFile, FileResult, Listing, SyncReport, file_path
from civic_briefs.sync.sitemap import FILES_PREFIX, INDEX_PATH, SitemapError, entries, sitemap_path, sitemap_refs

log = logging.getLogger(__name__)
Progress = Callable[[FileResult], Any]


def source_name(congress: int) -> str:
    """One watermark per congress: adding a congress to the settings later syncs it from the start."""
    return f"govinfo-billstatus-{congress}"


def list_changes(conn: Any, client: GovinfoClient, congress: int, bill_types: Iterable[str]) -> Listing:
    """The congress's files changed after its watermark (see the module docstring)."""
    source = source_name(congress)
    watermark = state.get_watermark(conn, source)
    before = client.requests
    listing = Listing(source=source, congress=congress, watermark=watermark)

    def problem(name: str, reason: str, permanent: bool) -> None:
        log.warning("%s: %s", name, reason)
        listing.problems.append(FileResult(name=name, outcome="failed", reason=reason, permanent=permanent))

    try:
        refs = sitemap_refs(client.get(INDEX_PATH, "sitemapindex.xml"))
    except (FetchError, SitemapError) as exc:
        problem("sitemapindex.xml", getattr(exc, "reason", str(exc)), isinstance(exc, SitemapError))
        listing.complete = False
        listing.requests = client.requests - before
        return listing
    wanted = set(bill_types)
    changed: list[BulkFile] = []
    for ref in sorted((r for r in refs if r.congress == congress and r.bill_type in wanted), key=lambda r: r.bill_type):
        if watermark is not None and ref.lastmod is not None and ref.lastmod <= watermark:
            continue  # nothing in it changed since the last complete sync
        name = f"{congress}{ref.bill_type}/sitemap.xml"
        try:
            found = entries(client.get(sitemap_path(congress, ref.bill_type), name), name, "url")
        except (FetchError, SitemapError) as exc:
            problem(name, getattr(exc, "reason", str(exc)), isinstance(exc, SitemapError))
            listing.complete = False
            continue
        for entry in found:
            path = entry.path.removeprefix(FILES_PREFIX) if entry.path.startswith(FILES_PREFIX) else None
            path = path and file_path(path, congress, ref.bill_type)
            if path is None or entry.lastmod is None:
                what = "no lastmod" if path else f"not a {congress} {ref.bill_type} BILLSTATUS file in govinfo's layout"
                problem(entry.path.rsplit("/", 1)[-1] or entry.path, f"listed in {name} with {what}; skipped", True)
                continue
            if watermark is None or entry.lastmod > watermark:
                changed.append(BulkFile(path=path, lastmod=entry.lastmod))
    records = state.file_records(conn, source)
    for file in sorted(changed, key=lambda f: f.sort_key):
        record = records.get(file.path)
        done = record is not None and record.done and record.lastmod == file.lastmod
        (listing.resumed if done else listing.pending).append(file)
    listing.requests = client.requests - before
    return listing


def sync_listing(conn: Any, client: GovinfoClient, listing: Listing, progress: Progress | None = None) -> SyncReport:
    """Download and import the listing's pending files in lastmod order, moving the watermark as
    far as every file before it is done (see the module docstring). Database errors are raised
    (the watermark stays where the last finished lastmod left it)."""
    before = client.requests
    report = SyncReport(source=listing.source, congress=listing.congress, watermark_before=listing.watermark,
                        watermark_after=listing.watermark, results=list(listing.problems),
                        resumed=len(listing.resumed))
    records = state.file_records(conn, listing.source)
    resumed = {f.path for f in listing.resumed}
    files = sorted(listing.pending + listing.resumed, key=lambda f: f.sort_key)
    held = not listing.complete
    with tempfile.TemporaryDirectory(prefix="civic-briefs-sync-") as work:
        for i, file in enumerate(files):
            if file.path not in resumed:
                result, sha = _sync_file(conn, client, file, records.get(file.path), Path(work))
                state.record_file(conn, listing.source, file.path, file.lastmod, result, sha)
                report.results.append(result)
                if result.outcome == "failed":
                    log.warning("%s: %s", file.name, result.reason)
                    held = held or not result.permanent
                if progress:
                    progress(result)
            last_of_its_lastmod = i + 1 == len(files) or files[i + 1].lastmod != file.lastmod
            if last_of_its_lastmod and not held:
                state.set_watermark(conn, listing.source, file.lastmod)
                report.watermark_after = file.lastmod
    report.requests = listing.requests + client.requests - before
    return report


def _sync_file(conn: Any, client: GovinfoClient, file: BulkFile, record: state.FileRecord | None,
               work: Path) -> tuple[FileResult, str | None]:
    def failed(reason: str, permanent: bool) -> tuple[FileResult, None]:
        return FileResult(name=file.name, outcome="failed", bill_id=file.bill_id, reason=reason, permanent=permanent,
                          lastmod=file.lastmod), None

    try:
        data = client.get(FILES_PREFIX + file.path, file.name)
    except FetchError as exc:
        retries = "" if exc.permanent else f" (after {client.retries + 1} tries)"
        return failed(exc.reason + retries, exc.permanent)
    sha = hashlib.sha256(data).hexdigest()
    prior = repo.get_bill(conn, file.bill_id)
    if record is not None and record.content_sha256 == sha and prior is not None:
        return FileResult(name=file.name, outcome="unchanged", bill_id=file.bill_id, lastmod=file.lastmod), sha
    path = work / file.name
    path.write_bytes(data)
    try:
        imported = importer.import_paths(conn, [path])
    finally:
        path.unlink(missing_ok=True)
    if imported.failed:
        return failed(imported.failed[0].error, True)
    [bill_id] = imported.imported
    after = repo.get_bill(conn, bill_id)
    if bill_id != file.bill_id:
        log.warning("%s holds bill %s, not %s as its name says", file.name, bill_id, file.bill_id)
        prior = None
    if prior is None:
        outcome = "new"
    else:
        outcome = "unchanged" if after is not None and after.updated_at == prior.updated_at else "changed"
    return FileResult(name=file.name, outcome=outcome, bill_id=bill_id, lastmod=file.lastmod), sha
