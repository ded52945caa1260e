"""What many tests start from: a migrated database with the demo sample and some users, and one
user's brief made through the real pipeline (plan_day and BriefMaker with the configured providers)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from civic_briefs import db, demo, importer, repo
from civic_briefs.models import Bill, User
from civic_briefs.plan import plan_day
from civic_briefs.production import BriefMaker
from civic_briefs.providers import registry
from civic_briefs.settings import Settings


def seed(users: list[User] | None = None) -> list[User]:
    """The settings' database migrated, with the sample bills and ``users`` (default: the demo users)."""
    db.init_db()
    with db.connection() as conn:
        importer.import_sample(conn)
        if users is None:
            return demo.add_demo_users(conn)
        for user in users:
            repo.upsert_user(conn, user)
        conn.commit()
    return users


def made_brief(settings: Settings, user: User, day: dt.date, *, top_stories: int, quick_hits: int,
               news_per_brief: int = 0) -> dict[str, Any]:
    """``user``'s brief for ``day`` made and published with the settings' providers: its row."""
    providers = registry.providers(settings)
    with db.connection() as conn:
        plan = plan_day(conn, [user], day, "daily", news_by_interest={}, writer_name=providers.writer.name,
                        dedup_days=30, top_stories=top_stories, quick_hits=quick_hits, news_per_brief=news_per_brief)
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings), limit_sizes={},
                       max_concurrent_briefs=1, key_prefix="briefs")
    [outcome] = list(maker.run())
    assert outcome.status == "published", outcome.error
    with db.connection() as conn:
        return repo.get_brief(conn, user.id, "daily", day)


def listener_with_two_bills() -> list[Bill]:
    """The sample and one listener, Ana (healthcare); two of the sample's bills to publish briefs about."""
    seed([User(id="ana", name="Ana Reyes", interests=["healthcare"])])
    with db.connection() as conn:
        return [repo.get_bill(conn, "117-s-1315"), repo.get_bill(conn, "117-hr-941")]


def segment_store_files(folder: Path) -> Counter:
    """A local segment store's entries by kind and suffix (``("render", ".json")``: a render stored
    whole, its metadata being written last); anything else (a temporary file) by its name."""
    found: Counter = Counter()
    for path in folder.rglob("*"):
        if path.is_file() and "claims" not in path.relative_to(folder).parts:
            kind = path.name.split(".")[0].rpartition("-")[0] if not path.name.startswith(".") else path.name
            found[(kind, path.suffix)] += 1
    return found
