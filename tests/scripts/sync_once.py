"""Sync one Congress from govinfo with the library alone (no Prefect), in a process of its own, for
tests that kill a sync mid-way.

    python -m tests.scripts.sync_once CONGRESS

Settings come from the environment (BRIEFS_*: the database, BRIEFS_GOVINFO_BASE_URL, retries).
"""

from __future__ import annotations

import sys

from civic_briefs import db
from civic_briefs.settings import get_settings
from civic_briefs.sync import GovinfoClient, list_changes, summary, sync_listing


def main() -> None:
    congress = int(sys.argv[1])
    settings = get_settings()
    db.init_db()
    with db.connection() as conn, GovinfoClient.from_settings(settings) as client:
        report = sync_listing(conn, client, list_changes(conn, client, congress, settings.sync_bill_types))
    print(summary([report]))


if __name__ == "__main__":
    main()
