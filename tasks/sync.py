"""The sync-bills tasks: list what a source changed since its watermark, then download and import it."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from civic_briefs import db
from civic_briefs.settings import get_settings
from civic_briefs.sync import FileResult, GovinfoClient, Listing, SyncReport, list_changes, summary, sync_listing
from tasks.policy import RETRY_OPTIONS


# Requests are retried inside (civic_briefs.sync.client); a task retry is for what broke the whole
# step (a lost database). Both steps are safe to run again: they start from the watermark.
@task(name="list-billstatus-changes", task_run_name="list-billstatus-changes-{congress}", cache_policy=NO_CACHE,
      persist_result=False, **RETRY_OPTIONS)
def list_billstatus_changes(congress: int) -> Listing:
    settings = get_settings()
    db.init_db()
    with db.connection() as conn, GovinfoClient.from_settings(settings) as client:
        listing = list_changes(conn, client, congress, settings.sync_bill_types)
    get_run_logger().info(
        "Congress %d: %d files changed since %s (%d done by an earlier run), %d requests%s", congress,
        len(listing.pending), listing.watermark.isoformat() if listing.watermark else "the start", len(listing.resumed),
        listing.requests, "" if listing.complete else f"; incomplete: {', '.join(p.name for p in listing.problems)}")
    return listing


@task(name="download-import-billstatus", task_run_name="download-import-billstatus-{listing.congress}",
      cache_policy=NO_CACHE, persist_result=False, **RETRY_OPTIONS)
def download_and_import(listing: Listing) -> SyncReport:
    log = get_run_logger()
    total = len(listing.pending)
    progress_id = create_progress_artifact(progress=0.0 if total else 100.0,
                                           description=f"Congress {listing.congress}: {total} BILLSTATUS files")
    done = 0

    def advance(result: FileResult) -> None:
        nonlocal done
        done += 1
        if result.outcome == "failed":
            log.warning("Failed %s: %s", result.name, result.reason)
        if done == total or done % max(1, total // 100) == 0:
            update_progress_artifact(progress_id, progress=100.0 * done / total)

    with db.connection() as conn, GovinfoClient.from_settings(get_settings()) as client:
        report = sync_listing(conn, client, listing, progress=advance)
    log.info("Congress %d: %s; watermark %s", listing.congress, summary([report]),
             report.watermark_after.isoformat() if report.watermark_after else "not set yet")
    return report
