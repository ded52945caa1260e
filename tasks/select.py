"""Step 1: choose the bills for one user's brief."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from civic_briefs import db, selection
from civic_briefs.models import BillSelection, BriefType
from civic_briefs.settings import get_settings
from tasks.policy import RETRY_OPTIONS, content_hash


def _selection_key(context: TaskRunContext, p: dict[str, Any]) -> str:
    # The same user, interests (in order: they take turns) and day in the same database select the same bills.
    s = get_settings()
    return "select-" + content_hash(s.database_url, p["user_id"], list(p["interests"]), p["brief_date"], p["brief_type"],
                                    s.top_stories, s.quick_hits, s.dedup_days)


@task(
    name="select-bills",
    task_run_name="select-bills-{user_id}",
    cache_key_fn=_selection_key,
    # A resumed run picks the same bills; a new day (a new brief_date) selects afresh.
    cache_expiration=dt.timedelta(hours=20),
    **RETRY_OPTIONS,
)
def select_bills(user_id: str, interests: list[str], brief_date: dt.date, brief_type: BriefType) -> BillSelection:
    """Bills for ``user_id`` from the database; raises UnknownInterestError at once for bad ids."""
    settings = get_settings()
    return db.run_with_reconnect(
        lambda conn: selection.select_bills(
            conn, user_id, interests, brief_date, brief_type,
            dedup_days=settings.dedup_days, top_stories=settings.top_stories, quick_hits=settings.quick_hits,
        )
    )
