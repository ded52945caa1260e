"""Sync figures: every shared BILLSTATUS file through the govinfo stand-in on loopback, then a sync
with nothing changed, then one with two files touched. Prints files, seconds and requests.

    .venv/bin/python benchmarks/bench_sync.py [--folder ../shared/data/billstatus]

The library alone (no Prefect), on a fresh libSQL file; loopback, so the seconds are this
machine's parsing and database writes, not govinfo's network.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from civic_briefs import db, repo  # noqa: E402
from civic_briefs.settings import Settings  # noqa: E402
from civic_briefs.sync import GovinfoClient, list_changes, summary, sync_listing  # noqa: E402
from tests.standins import run_govinfo  # noqa: E402

TYPES = ("hr", "s", "hjres", "sjres", "hconres", "sconres", "hres", "sres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "billstatus")
    parser.add_argument("--congress", type=int, default=117)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_govinfo(args.folder) as govinfo:
        settings = Settings(_env_file=None, database_url=str(Path(tmp) / "sync.db"))
        db.init_db(settings)
        with db.connection(settings) as conn, GovinfoClient(govinfo.base_url, retry_wait=0) as client:
            def run(label: str) -> None:
                before = len(govinfo.requests)
                started = time.perf_counter()
                report = sync_listing(conn, client, list_changes(conn, client, args.congress, TYPES))
                seconds = time.perf_counter() - started
                print(f"{label}: {summary([report])}; {seconds:.2f} s, {len(govinfo.requests) - before} requests "
                      f"({report.requests} counted by the client); bills in the database: {repo.count_bills(conn)}")

            run("first sync")
            run("nothing changed")
            for name in govinfo.names[:2]:
                govinfo.touch(name)
            run("two files touched")


if __name__ == "__main__":
    main()
