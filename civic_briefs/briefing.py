"""Putting a brief together: segments into a script, and what the brief cost.

Pure functions over the pipeline's models; no I/O.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from civic_briefs.interests import INTEREST_NAMES
from civic_briefs.models import Bill, BillSelection, Script, Segment, SegmentKind, Usage
from civic_briefs.show_notes import link_bill


def assemble_script(opening: Segment, stories: list[Segment], news: list[Segment], close: Segment,
                    selection: BillSelection) -> Script:
    """Order the segments (opening, top stories, quick hits, news, close) and build the digest.

    ``stories`` are in selection order. The digest is markdown: the headline, then top stories,
    quick hits and news, each a bullet from its segment; each bill's bullet links its Congress.gov
    page (added here, so it holds whichever writer wrote the bullet), each news bullet its source.
    """
    by_bill = {s.bill_ids[0]: s for s in stories if s.bill_ids}
    top = [by_bill[i.bill.id] for i in selection.top_stories if i.bill.id in by_bill]
    quick = [by_bill[i.bill.id] for i in selection.quick_hits if i.bill.id in by_bill]
    bills = {i.bill.id: i.bill for i in selection.items}
    headline = opening.headline or "Your Civic Brief"
    parts = [f"# {headline}"]
    if top:
        parts.append("## Top stories\n" + "\n".join(_story_notes(s, bills) for s in top))
    if quick:
        parts.append("## Quick hits\n" + "\n".join(_story_notes(s, bills) for s in quick))
    for segment in news:
        interest = segment.interest or ""
        parts.append(f"## In the news: {INTEREST_NAMES.get(interest, interest)}\n{segment.digest}")
    return Script(
        headline=headline,
        title=opening.title or headline,
        digest="\n\n".join(parts) + "\n",
        segments=[opening, *top, *quick, *news, close],
        bills_covered=[i.bill.id for i in selection.items],
    )


def _story_notes(segment: Segment, bills: dict[str, Bill]) -> str:
    digest = segment.digest
    for bill_id in segment.bill_ids:
        if bill_id in bills:
            digest = link_bill(digest, bills[bill_id])
    return digest


class SegmentCost(BaseModel):
    """What one segment of a brief cost: writing and rendering it, and this brief's share of it."""

    key: str = Field(description="The segment's content key in the segment store.")
    kind: SegmentKind
    shared: bool
    listeners: int = Field(default=1, description="Briefs of the day that use this segment.")
    made_now: bool = Field(description="Paid for by this run (False: taken from the segment store).")
    script: Usage = Field(default_factory=Usage)
    speech: Usage = Field(default_factory=Usage)

    @property
    def full_dollars(self) -> Decimal:
        return self.script.dollars + self.speech.dollars

    @property
    def charged_dollars(self) -> Decimal:
        """A shared segment costs each of its listeners an equal share."""
        return self.full_dollars / max(1, self.listeners) if self.shared else self.full_dollars


class BriefCosts(BaseModel):
    """What a brief cost, as stored in ``briefs.costs``: its segments, and its share of the
    shared ones (each shared segment's cost divided by the day's briefs that use it)."""

    segments: list[SegmentCost] = Field(default_factory=list)
    script: Usage = Field(default_factory=Usage, description="Full cost of writing its segments.")
    speech: Usage = Field(default_factory=Usage, description="Full cost of rendering its segments.")
    personal_dollars: Decimal = Decimal("0")
    shared_dollars: Decimal = Field(default=Decimal("0"), description="This brief's share of its shared segments.")
    total_dollars: Decimal = Decimal("0")

    @classmethod
    def of(cls, segments: list[SegmentCost]) -> BriefCosts:
        personal = sum((s.full_dollars for s in segments if not s.shared), Decimal("0"))
        shared = sum((s.charged_dollars for s in segments if s.shared), Decimal("0")).quantize(Decimal("0.000001"))
        return cls(segments=segments, script=sum((s.script for s in segments), Usage()),
                   speech=sum((s.speech for s in segments), Usage()), personal_dollars=personal,
                   shared_dollars=shared, total_dollars=personal + shared)
