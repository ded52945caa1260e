"""The listener's own members of Congress in their brief: who they are to the listener, whether they
sponsor or cosponsor one of the brief's bills, and the words the opening says about it.

A senator is the listener's when they sit for the listener's state; a member of the House (a
representative, a delegate or Puerto Rico's resident commissioner) when they sit for the listener's
state and district. The seat is the one the member's newest imported record gives (``members``),
and the districts are numbered as in that record's Congress. Withdrawn cosponsors never count.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from civic_briefs import repo
from civic_briefs.districts import AT_LARGE
from civic_briefs.models import Member, MemberRelation, RepresentativeMention, User
from civic_briefs.spoken import congress_ended, spoken_bill, spoken_list, spoken_member

_ID = re.compile(r"^(\d+)-([a-z]+)-(\d+)$")
_HOUSE_TITLES = {"Del.": "delegate", "Resident Commissioner": "resident commissioner"}
# The listener's House member is named first, then their senators.
_ORDER = {"representative": 0, "delegate": 0, "resident commissioner": 0, "senator": 1}


def relation(member: Member, user: User) -> MemberRelation | None:
    """What ``member`` is to ``user`` ("senator", "representative", ...), or None when they are not
    the user's own. A user in an at-large state who gave no district has its one seat."""
    if not user.state or member.state != user.state:
        return None
    if member.chamber == "senate":
        return "senator"
    district = user.district if user.district is not None else (0 if user.state in AT_LARGE else None)
    if member.chamber == "house" and district is not None and member.district == district:
        return next((r for title, r in _HOUSE_TITLES.items() if member.name.startswith(title)), "representative")
    return None


def represents(member: Member, user: User) -> bool:
    return relation(member, user) is not None


def find_mentions(conn: Any, briefs: Mapping[str, tuple[User, list[str]]]) -> dict[str, list[RepresentativeMention]]:
    """For each brief (user id -> the user and their bill ids in the order heard), the user's own
    members who sponsor or cosponsor one of those bills, in one query for all of them."""
    homes = {user.state for user, _ in briefs.values() if user.state}
    bill_ids = {b for user, ids in briefs.values() if user.state for b in ids}
    by_bill: dict[str, list] = {}
    for entry in repo.sponsorships(conn, bill_ids, states=homes):
        by_bill.setdefault(entry.bill_id, []).append(entry)
    found: dict[str, list[RepresentativeMention]] = {}
    for user_id, (user, ids) in briefs.items():
        mentions = [RepresentativeMention(member=s.member.model_copy(update={"updated_at": None}), relation=rel,
                                          bill_id=s.bill_id, role=s.role)
                    for bill_id in ids for s in by_bill.get(bill_id, []) if (rel := relation(s.member, user))]
        if mentions:
            found[user_id] = sorted(mentions, key=lambda m: _ORDER[m.relation])  # stable: bills stay in order
    return found


def _bill(bill_id: str) -> tuple[int, str, int]:
    match = _ID.match(bill_id)
    if not match:
        raise ValueError(f"not a bill id: {bill_id!r}")
    return int(match[1]), match[2], int(match[3])


def mention_sentences(mentions: Iterable[RepresentativeMention], brief_date: dt.date) -> list[str]:
    """One sentence per member (and tense): "Your representative, Rep. Jane Doe, is a cosponsor of
    H.R. thirteen fifteen." Two senators who cosponsor the same bills share one: "Your senators,
    Senator A and Senator B, are cosponsors of ...". A bill of a Congress that has ended is told in
    the past, and the member was the listener's then: "Your senator at the time, Senator John Roe,
    was the sponsor of S. five."
    """
    groups: dict[tuple[str, bool], list[RepresentativeMention]] = {}
    for mention in mentions:
        ended = congress_ended(_bill(mention.bill_id)[0], brief_date)
        groups.setdefault((mention.member.bioguide_id, ended), []).append(mention)
    # One sentence per key: a member's own, or the senators' who cosponsor the same bills.
    said: dict[tuple[Any, ...], tuple[MemberRelation, bool, tuple[str, ...], tuple[str, ...], list[str]]] = {}
    for (bioguide_id, ended), group in groups.items():
        sponsored, cosponsored = (tuple(spoken_bill(*_bill(m.bill_id)[1:]) for m in group if m.role == role)
                                  for role in ("sponsor", "cosponsor"))
        rel = group[0].relation
        key = ("senators", ended, cosponsored) if rel == "senator" and not sponsored else (bioguide_id, ended)
        said.setdefault(key, (rel, ended, sponsored, cosponsored, []))[4].append(spoken_name(group[0].member))
    sentences = []
    for rel, ended, sponsored, cosponsored, names in said.values():
        many = len(names) > 1
        roles = ([f"the sponsor of {spoken_list(sponsored)}"] if sponsored else []) + (
            [f"{'cosponsors' if many else 'a cosponsor'} of {spoken_list(cosponsored)}"] if cosponsored else [])
        who = f"Your {rel}{'s' if many else ''}{' at the time' if ended else ''}"
        verb = ("were" if many else "was") if ended else ("are" if many else "is")
        sentences.append(f"{who}, {spoken_list(names)}, {verb} {' and '.join(roles)}.")
    return sentences


def spoken_name(member: Member) -> str:
    return spoken_member(member.name, member.first_name, member.last_name, member.chamber)
