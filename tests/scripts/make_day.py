"""Make a day's briefs in this process with the library alone (no Prefect), as a worker would, for
tests that need a real process to kill.

    python -m tests.scripts.make_day DATE [--force] [--kill-after-uploads N] [--users a,b]

Settings come from the environment (BRIEFS_*). With ``--kill-after-uploads N`` the process kills
itself with SIGKILL right after its Nth MP3 upload, before that brief's row is saved: the crash
between upload and row.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import signal
import sys

from civic_briefs import claims, db, repo
from civic_briefs.plan import plan_day
from civic_briefs.production import BriefMaker
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings


class KillingStorage:
    """The configured storage, killing this process after ``after`` uploads."""

    def __init__(self, inner, after: int):
        self._inner, self._after, self.name = inner, after, inner.name
        self.uploads = 0

    def put(self, key: str, data: bytes, content_type: str = "audio/mpeg", cache_control: str | None = None) -> str:
        url = self._inner.put(key, data, content_type, cache_control)
        # Only MP3s count: a brief's side files go up before its MP3.
        self.uploads += content_type == "audio/mpeg"
        if content_type == "audio/mpeg" and self.uploads >= self._after:
            print(f"KILLED-AFTER-UPLOAD {key}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return url

    def url_for(self, key: str) -> str:
        return self._inner.url_for(key)

    def delete(self, key: str) -> None:
        self._inner.delete(key)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("date", type=dt.date.fromisoformat)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--kill-after-uploads", type=int, default=0)
    parser.add_argument("--users", default="")
    parser.add_argument("--claim-hold", type=float, default=0, help="seconds a claim is held (tests: short)")
    args = parser.parse_args(argv)
    if args.claim_hold:
        claims.CLAIM_HOLD_SECONDS = args.claim_hold
    settings = get_settings()
    providers = registry.providers(settings)
    if args.kill_after_uploads:
        providers = dataclasses.replace(providers, storage=KillingStorage(providers.storage, args.kill_after_uploads))
    with db.connection() as conn:
        users = repo.list_users_with_interests(conn)
        if args.users:
            users = [u for u in users if u.id in args.users.split(",")]
        plan = plan_day(conn, users, args.date, "daily", news_by_interest={}, writer_name=providers.writer.name,
                        dedup_days=settings.dedup_days, top_stories=settings.top_stories,
                        quick_hits=settings.quick_hits, news_per_brief=settings.news_per_brief)
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings),
                       limit_sizes={}, max_concurrent_briefs=1, key_prefix=settings.s3_prefix, force=args.force)
    for outcome in maker.run():
        print(f"OUTCOME {outcome.user_id} {outcome.status} made_now={outcome.made_now} {outcome.audio_url}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
