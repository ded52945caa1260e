"""Choosing the bills for one user's brief.

Rules: a bill matches when its policy area is one of the user's interests' areas; bills featured in
this user's published briefs of the last ``dedup_days`` days are skipped; priority is status (enacted
first, then vetoed, passed both chambers, passed one chamber, in committee, introduced) then the most
recent latest action; the first ``top_stories`` become top stories and the next ``quick_hits`` quick
hits. Interests are served in turn so one busy interest does not crowd out the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from civic_briefs import repo
from civic_briefs.interests import INTEREST_POLICY_AREAS, policy_areas_for
from civic_briefs.models import BILL_STATUSES, Bill, BillSelection, BriefType, SelectedBill

log = logging.getLogger(__name__)


def priority(bill: Bill) -> tuple[int, str, str]:
    """Sort key, highest first: status rank, latest action date, id (for a stable order)."""
    return (
        BILL_STATUSES.index(bill.status),
        bill.latest_action_date.isoformat() if bill.latest_action_date else "",
        bill.id,
    )


def rank_bills(candidates: dict[str, list[Bill]], top_stories: int, quick_hits: int) -> list[tuple[Bill, str, str]]:
    """Pick (bill, section, interest) from per-interest candidate lists.

    Top stories go to the highest-priority bills overall, with each interest getting its best bill
    first when there are enough slots; quick hits follow the same round robin.
    """
    queues = {interest: sorted(bills, key=priority, reverse=True) for interest, bills in candidates.items()}
    taken: set[str] = set()
    ordered: list[tuple[Bill, str]] = []
    while any(queues.values()):
        round_picks = []
        for interest, queue in queues.items():
            while queue and queue[0].id in taken:
                queue.pop(0)
            if queue:
                bill = queue.pop(0)
                taken.add(bill.id)
                round_picks.append((bill, interest))
        # Within a round, stronger bills come first so top stories are the most significant.
        ordered.extend(sorted(round_picks, key=lambda pair: priority(pair[0]), reverse=True))
    picks = []
    for index, (bill, interest) in enumerate(ordered[: top_stories + quick_hits]):
        picks.append((bill, "top_story" if index < top_stories else "quick_hit", interest))
    return picks


def select_bills(
    conn: Any,
    user_id: str,
    interests: list[str],
    brief_date: dt.date,
    brief_type: BriefType = "daily",
    *,
    dedup_days: int = 30,
    top_stories: int = 3,
    quick_hits: int = 4,
) -> BillSelection:
    """Select bills for ``user_id`` from the ``bills`` table.

    Raises ``UnknownInterestError`` naming any interest id not in the taxonomy. Interests whose
    policy areas match no bill in the database are logged as a warning, not ignored silently.
    """
    areas = policy_areas_for(interests)
    bills = repo.bills_in_policy_areas(conn, areas)
    present = {b.policy_area for b in bills}
    for interest in interests:
        if not present.intersection(INTEREST_POLICY_AREAS[interest]):
            log.warning("Interest %r matches no bill in the database (policy areas %s)",
                        interest, ", ".join(INTEREST_POLICY_AREAS[interest]))
    since = brief_date - dt.timedelta(days=dedup_days)
    recent = repo.recently_featured_bill_ids(conn, user_id, since, brief_date, exclude_brief_id=repo.brief_id(user_id, brief_type, brief_date))
    candidates: dict[str, list[Bill]] = {interest: [] for interest in dict.fromkeys(interests)}
    for bill in bills:
        if bill.id in recent:
            continue
        if bill.latest_action_date and bill.latest_action_date > brief_date:
            continue
        for interest in candidates:
            if bill.policy_area in INTEREST_POLICY_AREAS[interest]:
                candidates[interest].append(bill)
    picks = rank_bills(candidates, top_stories, quick_hits)
    return BillSelection(
        user_id=user_id,
        interests=list(candidates),
        items=[SelectedBill(bill=b, section=s, interest=i) for b, s, i in picks],
    )
