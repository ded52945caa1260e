"""The day's plan: what every brief needs, worked out once before anything is written or rendered.

A plan names the distinct shared segments (a story per bill and role, a news segment per
interest) and, per user, the ordered list of those segments their brief is made of. The personal
segments (opening and close) depend on what the shared ones say, so they are keyed when written.
The plan is stored in the database, so a day that is run again (after a crash, or on other
workers) works from the same plan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from civic_briefs import keys, members, news, selection
from civic_briefs.interests import UnknownInterestError, validate_interests
from civic_briefs.models import (
    Bill,
    BillSelection,
    BriefType,
    NewsItem,
    RepresentativeMention,
    Section,
    SelectedBill,
    User,
)
from civic_briefs.settings import BriefCounts, get_settings

log = logging.getLogger(__name__)


class PlannedStory(BaseModel):
    """One story segment of a brief: shared by every user whose brief has this bill in this role."""

    key: str
    bill_id: str
    section: Section
    interest: str


class PlannedNews(BaseModel):
    """One news segment of a brief: shared by every user whose brief takes this interest's news."""

    key: str
    interest: str


class UserPlan(BaseModel):
    """One user's brief: the user (their interests as this brief has them) and its shared segments,
    in the order they are heard; ``mentions``: the user's own members of Congress on its bills, which
    its opening names (a personal touch: the shared segments do not change)."""

    user: User
    stories: list[PlannedStory] = Field(default_factory=list)
    news: list[PlannedNews] = Field(default_factory=list)
    mentions: list[RepresentativeMention] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Why this brief cannot be made (bad input), if so.")

    @property
    def has_content(self) -> bool:
        return bool(self.stories or self.news)

    @property
    def shared_keys(self) -> list[str]:
        return [s.key for s in self.stories] + [n.key for n in self.news]


class DayPlan(BaseModel):
    """Every brief of one day and type, and the distinct shared work they need."""

    brief_date: dt.date
    brief_type: BriefType
    writer_name: str
    bills: dict[str, Bill] = Field(default_factory=dict, description="Every bill some brief tells, by id.")
    news: dict[str, list[NewsItem]] = Field(default_factory=dict, description="The day's news, by interest.")
    users: list[UserPlan] = Field(default_factory=list)

    def user(self, user_id: str) -> UserPlan:
        for plan in self.users:
            if plan.user.id == user_id:
                return plan
        raise KeyError(user_id)

    def listeners(self) -> Counter[str]:
        """How many briefs use each shared segment: each is charged its share of the segment's cost."""
        return Counter(key for plan in self.users for key in plan.shared_keys)

    def selection(self, plan: UserPlan) -> BillSelection:
        """The user's bills as a ``BillSelection`` (what the brief row records)."""
        return BillSelection(user_id=plan.user.id, interests=plan.user.interests, items=[
            SelectedBill(bill=self.bills[s.bill_id], section=s.section, interest=s.interest) for s in plan.stories])

    def news_items(self, plan: UserPlan) -> list[NewsItem]:
        """The news items a brief lists, the first of each URL."""
        return news.unique_items({n.interest: self.news[n.interest] for n in plan.news})

    def stale_for(self, users: list[User]) -> list[User]:
        """Those of ``users`` this plan cannot serve as it is: not in it, planned with other
        interests, another length or another home, or planned with nothing to say (bills imported
        since may give them a brief)."""
        planned = {p.user.id: p for p in self.users}
        return [u for u in users if (p := planned.get(u.id)) is None or not p.has_content
                or p.user.interests != u.interests or p.user.brief_length != u.brief_length
                or (p.user.state, p.user.district) != (u.state, u.district)]

    def replacing(self, other: DayPlan) -> DayPlan:
        """This plan with the users of ``other`` in place of its own plans for them (new ones at
        the end), and their news: ``other`` was planned afresh for them. A bill both plans tell is
        told as this plan has it (see ``_told_as``)."""
        bills, fresh = self._told_as(other)
        by_id = {p.user.id: p for p in fresh}
        kept = [by_id.pop(p.user.id, p) for p in self.users]
        return self.model_copy(update={"bills": bills, "news": {**self.news, **other.news},
                                       "users": kept + list(by_id.values())})

    def merged(self, other: DayPlan) -> DayPlan:
        """This plan with the users of ``other`` it lacks (their bills and news too)."""
        bills, fresh = self._told_as(other)
        known = {p.user.id for p in self.users}
        added = [p for p in fresh if p.user.id not in known]
        return self.model_copy(update={"bills": bills, "news": {**other.news, **self.news}, "users": self.users + added})

    def _told_as(self, other: DayPlan) -> tuple[dict[str, Bill], list[UserPlan]]:
        """The bills of both plans, this plan's version of a bill winning (a bill imported again
        since must not be told in two versions under one key), and ``other``'s users with their
        story keys made for those versions."""
        bills = {**other.bills, **self.bills}
        changed = {i for i, bill in other.bills.items()
                   if bills[i].model_dump(exclude={"updated_at"}) != bill.model_dump(exclude={"updated_at"})}
        if not changed:
            return bills, other.users
        fresh = [p.model_copy(update={"stories": [
            s.model_copy(update={"key": keys.story_key(bills[s.bill_id], s.section, self.brief_date, self.brief_type,
                                                       self.writer_name)}) if s.bill_id in changed else s
            for s in p.stories]}) for p in other.users]
        return bills, fresh


def plan_day(conn: Any, users: list[User], brief_date: dt.date, brief_type: BriefType, *,
             news_by_interest: dict[str, list[NewsItem]], writer_name: str, dedup_days: int, top_stories: int,
             quick_hits: int, news_per_brief: int, lengths: Mapping[str, BriefCounts] | None = None) -> DayPlan:
    """Plan the briefs of ``users`` (each with the interests and length their brief has): their
    bills, selected in bulk, and which interests' news each takes.

    ``top_stories``, ``quick_hits`` and ``news_per_brief`` are a standard daily brief's counts; the
    other lengths' come from ``lengths`` (default: the settings'). A weekly brief takes at least the
    settings' weekly counts (``Settings.weekly_counts``)."""
    counts = {**(lengths if lengths is not None else get_settings().brief_counts()),
              "standard": BriefCounts(top_stories=top_stories, quick_hits=quick_hits, news_items=news_per_brief)}
    if brief_type == "weekly":
        counts = get_settings().weekly_counts(counts)
    refused: dict[str, str] = {}
    for user in users:
        try:
            validate_interests(user.interests)
        except UnknownInterestError as exc:
            # One user's bad data fails that user's brief, not the day.
            refused[user.id] = f"{type(exc).__name__}: {exc}"
    selections = selection.select_for_users(
        conn, {u.id: u.interests for u in users if u.id not in refused}, brief_date, brief_type,
        dedup_days=dedup_days, top_stories=top_stories, quick_hits=quick_hits,
        counts_by_user={u.id: (counts[u.brief_length].top_stories, counts[u.brief_length].quick_hits) for u in users})
    bills: dict[str, Bill] = {}
    used_news: dict[str, list[NewsItem]] = {}
    plans = []
    for user in users:
        if user.id in refused:
            plans.append(UserPlan(user=user, error=refused[user.id]))
            continue
        chosen = selections[user.id]
        wanted_counts = counts[user.brief_length]
        _say_if_short(user, len(chosen.items), wanted_counts)
        stories = []
        for item in chosen.items:
            bills[item.bill.id] = item.bill
            stories.append(PlannedStory(key=keys.story_key(item.bill, item.section, brief_date, brief_type, writer_name),
                                        bill_id=item.bill.id, section=item.section, interest=item.interest))
        wanted = {i: news_by_interest.get(i, []) for i in user.interests}
        news_segments = []
        # An interest's list is cut the same way for every brief (at the standard's count, whatever
        # the length), so its segment stays shared and the plan holds one list per interest.
        for interest, items in _fitting(wanted, news_per_brief, wanted_counts.news_items).items():
            used_news[interest] = items
            news_segments.append(PlannedNews(key=keys.news_key(interest, items, brief_date, brief_type, writer_name),
                                             interest=interest))
        plans.append(UserPlan(user=user, stories=stories, news=news_segments))
    found = members.find_mentions(conn, {p.user.id: (p.user, [s.bill_id for s in p.stories]) for p in plans if p.stories})
    plans = [p.model_copy(update={"mentions": found[p.user.id]}) if p.user.id in found else p for p in plans]
    return DayPlan(brief_date=brief_date, brief_type=brief_type, writer_name=writer_name, bills=bills,
                   news=used_news, users=plans)


def _fitting(news_by_interest: dict[str, list[NewsItem]], cut: int, limit: int) -> dict[str, list[NewsItem]]:
    """``news.news_for_brief`` with each interest's list cut at ``cut`` whatever the brief's
    ``limit``: a shorter length takes fewer interests' news, never a shorter list of one (with
    ``cut == limit`` the two are the same)."""
    kept: dict[str, list[NewsItem]] = {}
    seen: set[str] = set()
    for interest, items in news_by_interest.items():
        items = items[:cut]
        urls = {news.normalise_url(item.url) for item in items}
        if not items or urls <= seen or len(seen | urls) > limit:
            continue
        kept[interest] = items
        seen |= urls
    return kept


def _say_if_short(user: User, bills: int, wanted: BriefCounts) -> None:
    """A user with fewer matching bills than their length takes gets what there is, and a brief
    shorter than its length: the log says so (the length's promise holds when there are enough)."""
    if bills < wanted.top_stories + wanted.quick_hits:
        log.info("%s's %s brief has %d of the %d bills its length takes (%d top stories, %d quick hits): "
                 "their interests match no more unheard bills, so it runs shorter", user.id, user.brief_length,
                 bills, wanted.top_stories + wanted.quick_hits, wanted.top_stories, wanted.quick_hits)
