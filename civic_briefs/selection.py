"""Choosing the bills for one user's brief.

Rules: a bill matches when its policy area is one of the user's interests' areas; bills featured in
this user's published briefs of the last ``dedup_days`` days are skipped; priority is status (enacted
first, then vetoed, passed both chambers, passed one chamber, in committee, introduced) then the most
recent latest action; the first ``top_stories`` become top stories and the next ``quick_hits`` quick
hits. Interests are served in turn so one busy interest does not crowd out the others.

A weekly brief dated D (the week in review) takes the bills that moved in the week D-6 to D
(``civic_briefs.weekly``), ranked the same way, then fills up with the most recently moved others,
which its script tells as not this week's. It may retell bills of the week's daily briefs (it is a
recap), but not those of the listener's previous weekly brief, unless they moved since.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from civic_briefs import repo, weekly
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
    return _sections(_in_turns(candidates, priority), top_stories, quick_hits)


def rank_week(candidates: dict[str, list[Bill]], brief_date: dt.date, top_stories: int,
              quick_hits: int) -> list[tuple[Bill, str, str]]:
    """``rank_bills`` for a weekly brief: every bill that moved in the week first (by priority),
    then, when fewer moved than there are slots, the others, most recently moved first."""
    moved = {i: [b for b in bills if weekly.moved_in_week(b, brief_date)] for i, bills in candidates.items()}
    rest = {i: [b for b in bills if not weekly.moved_in_week(b, brief_date)] for i, bills in candidates.items()}
    return _sections(_in_turns(moved, priority) + _in_turns(rest, _recency), top_stories, quick_hits)


def _recency(bill: Bill) -> tuple[str, int, str]:
    return (bill.latest_action_date.isoformat() if bill.latest_action_date else "", BILL_STATUSES.index(bill.status),
            bill.id)


def _in_turns(candidates: dict[str, list[Bill]], key: Callable[[Bill], Any]) -> list[tuple[Bill, str]]:
    """(bill, interest), the interests taking turns, each round's picks strongest first by ``key``."""
    queues = {interest: sorted(bills, key=key, reverse=True) for interest, bills in candidates.items()}
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
        ordered.extend(sorted(round_picks, key=lambda pair: key(pair[0]), reverse=True))
    return ordered


def _sections(ordered: list[tuple[Bill, str]], top_stories: int, quick_hits: int) -> list[tuple[Bill, str, str]]:
    return [(bill, "top_story" if index < top_stories else "quick_hit", interest)
            for index, (bill, interest) in enumerate(ordered[: top_stories + quick_hits])]


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
    """Select bills for one user from the ``bills`` table (see ``select_for_users``)."""
    return select_for_users(conn, {user_id: interests}, brief_date, brief_type, dedup_days=dedup_days,
                            top_stories=top_stories, quick_hits=quick_hits)[user_id]


def select_for_users(
    conn: Any,
    interests_by_user: dict[str, list[str]],
    brief_date: dt.date,
    brief_type: BriefType = "daily",
    *,
    dedup_days: int = 30,
    top_stories: int = 3,
    quick_hits: int = 4,
    counts_by_user: dict[str, tuple[int, int]] | None = None,
) -> dict[str, BillSelection]:
    """Select every user's bills with two queries in all: the bills of every policy area asked
    for, and every user's recently heard bills. ``counts_by_user`` gives a user their own
    (top stories, quick hits), their brief length's; the others get ``top_stories``/``quick_hits``.

    Raises ``UnknownInterestError`` naming any interest id not in the taxonomy. Interests whose
    policy areas match no bill in the database are logged as a warning, not ignored silently.
    """
    all_interests = list(dict.fromkeys(i for interests in interests_by_user.values() for i in interests))
    bills = repo.bills_in_policy_areas(conn, policy_areas_for(all_interests))
    # A bill whose latest action is after the brief's date did not exist yet for that brief.
    bills = [b for b in bills if not (b.latest_action_date and b.latest_action_date > brief_date)]
    by_interest: dict[str, list[Bill]] = {
        interest: [b for b in bills if b.policy_area in INTEREST_POLICY_AREAS[interest]] for interest in all_interests}
    for interest, matched in by_interest.items():
        if not matched:
            log.warning("Interest %r matches no bill in the database (policy areas %s)",
                        interest, ", ".join(INTEREST_POLICY_AREAS[interest]))
    heard = (_told_last_week(conn, bills, brief_date) if brief_type == "weekly" else
             repo.recently_featured_by_user(conn, brief_date - dt.timedelta(days=dedup_days), brief_date, brief_type))
    selections = {}
    for user_id, interests in interests_by_user.items():
        recent = heard.get(user_id, set())
        candidates = {interest: [b for b in by_interest[interest] if b.id not in recent]
                      for interest in dict.fromkeys(interests)}
        counts = (counts_by_user or {}).get(user_id, (top_stories, quick_hits))
        picks = rank_week(candidates, brief_date, *counts) if brief_type == "weekly" else rank_bills(candidates, *counts)
        selections[user_id] = BillSelection(
            user_id=user_id, interests=list(candidates),
            items=[SelectedBill(bill=b, section=s, interest=i) for b, s, i in picks])
    return selections


def _told_last_week(conn: Any, bills: list[Bill], brief_date: dt.date) -> dict[str, set[str]]:
    """Per user, the bills of their previous weekly brief that have not moved since it."""
    latest = {b.id: b.latest_action_date for b in bills}
    told = {}
    for user_id, (day, bill_ids) in repo.previous_weekly_bills(conn, brief_date).items():
        told[user_id] = {i for i in bill_ids if not ((moved := latest.get(i)) and moved > day)}
    return told
