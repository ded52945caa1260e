"""The ``sync-bills`` flow: bring the bills table up to date from govinfo's BILLSTATUS bulk data,
incrementally (a deployment every 4 hours; ``civic-briefs sync-bills`` runs it once)."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.states import Completed, Failed
from pydantic import Field

from civic_briefs import inputs
from civic_briefs.settings import get_settings
from civic_briefs.sync import SyncReport, current_congress, summary
from flows.run_health import explain_crash_mark
from tasks.sync import download_and_import, list_billstatus_changes

ARTIFACT_KEY = "sync-bills"
# A first sync of a Congress lists thousands of files; the table keeps the failures and changes first.
MAX_ROWS = 5_000
_ORDER = {"failed": 0, "new": 1, "changed": 2, "unchanged": 3}


def artifact_rows(reports: list[SyncReport]) -> list[dict[str, str]]:
    rows = [{"congress": str(r.congress), "file": f.name, "bill": f.bill_id or "", "outcome": f.outcome,
             "reason": f.reason or "", "lastmod": f.lastmod.isoformat() if f.lastmod else ""}
            for r in reports for f in r.results]
    return sorted(rows, key=lambda row: _ORDER[row["outcome"]])  # stable: lastmod order within each outcome


# Prefect's own validation is off: civic_briefs.inputs checks the parameters (see generate_brief).
@flow(name="sync-bills", flow_run_name="sync-bills", validate_parameters=False,
      on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def sync_bills(
    congresses: list[int] | None = Field(
        default=None, description="Congress numbers to sync (108 to the current one); default "
                                  "BRIEFS_SYNC_CONGRESSES, or the current Congress when that is empty."),
):
    """Download and import the BILLSTATUS files govinfo changed since the last sync. A file that
    fails is reported by name and the others go on; the run ends Failed if any did, with a table
    artifact ``sync-bills`` of every file (new, changed, unchanged, failed and why)."""
    log = get_run_logger()
    today = dt.datetime.now(dt.UTC).date()
    try:
        congresses = inputs.check_congresses(congresses or get_settings().sync_congresses or [current_congress(today)],
                                             today)
    except inputs.InputError as exc:
        log.error("%s", exc)
        return Failed(message=str(exc), data=exc)
    reports = [download_and_import(list_billstatus_changes(congress)) for congress in congresses]
    said = f"Synced congress {', '.join(map(str, congresses))}: {summary(reports)}"
    rows = artifact_rows(reports)
    description = said if len(rows) <= MAX_ROWS else f"{said} (the first {MAX_ROWS:,} of {len(rows):,} rows)"
    create_table_artifact(key=ARTIFACT_KEY, table=rows[:MAX_ROWS], description=description)
    failed = [f.name for r in reports for f in r.failed]
    data = {"reports": [r.model_dump(mode="json") for r in reports]}
    if failed:
        shown = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
        return Failed(message=f"{said}; failed: {shown}", data=data)
    return Completed(message=said, data=data)
