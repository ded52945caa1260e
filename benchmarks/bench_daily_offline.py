"""Benchmark the daily run on the embedded defaults: N users, offline providers, a temporary
Prefect home and database. Prints wall time per brief and segments made vs used, so the
effect of shared segments shows as users grow. Not a test.

Run: ``.venv/bin/python benchmarks/bench_daily_offline.py [--users 20] [--concurrency 4]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    os.environ.update({
        "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp / "results"),
        "PREFECT_LOGGING_LEVEL": "WARNING", "BRIEFS_DATABASE_URL": str(tmp / "briefs.db"),
        "BRIEFS_STORAGE_PATH": str(tmp / "audio"),
    })
    import datetime as dt

    from civic_briefs import db, demo, importer, repo
    from civic_briefs.cli import segment_counts
    from civic_briefs.models import User
    from flows.daily_briefs import daily_briefs

    db.init_db()
    with db.connection() as conn:
        importer.import_sample(conn)
        base = demo.demo_users()
        for i in range(args.users):
            model = base[i % len(base)]
            repo.upsert_user(conn, User(id=f"user{i:04d}", name=f"Listener{i} Bench", interests=model.interests))
        conn.commit()
    day = dt.date(2026, 11, 30)
    started_at = repo.now_iso()
    started = time.perf_counter()
    state = daily_briefs(brief_date=day, max_concurrent_briefs=args.concurrency, return_state=True)
    wall = time.perf_counter() - started
    with db.connection() as conn:
        rows = [r for r in repo.list_briefs(conn, day) if r["status"] == "published"]
    rendered = segment_counts([r["costs"] or {} for r in rows if r["updated_at"] >= started_at])[0]
    used = segment_counts([r["costs"] or {} for r in rows])[1]
    audio = sum(r["duration_seconds"] for r in rows)
    print(f"users              {args.users} (concurrency {args.concurrency}); run {state.type.value}")
    print(f"briefs published   {len(rows)}, {audio / 60:.1f} min of audio")
    print(f"wall seconds       {wall:.1f} in all, {wall / max(1, len(rows)):.2f} per brief (incl. embedded API start)")
    print(f"segments           {used} used, {rendered} made by this run ({rendered / max(1, used):.0%})")


if __name__ == "__main__":
    main()
