"""Putting a brief together: segments into a script, and what the brief cost.

Pure functions over the pipeline's models; no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from civic_briefs.interests import INTEREST_NAMES
from civic_briefs.models import BillSelection, RenderedSegment, Script, Segment, Usage


def assemble_script(opening: Segment, stories: list[Segment], news: list[Segment], close: Segment,
                    selection: BillSelection) -> Script:
    """Order the segments (opening, top stories, quick hits, news, close) and build the digest.

    ``stories`` are in selection order. The digest is markdown: the headline, then top stories,
    quick hits and news, each a bullet from its segment.
    """
    by_bill = {s.bill_ids[0]: s for s in stories if s.bill_ids}
    top = [by_bill[i.bill.id] for i in selection.top_stories if i.bill.id in by_bill]
    quick = [by_bill[i.bill.id] for i in selection.quick_hits if i.bill.id in by_bill]
    headline = opening.headline or "Your Civic Brief"
    parts = [f"# {headline}"]
    if top:
        parts.append("## Top stories\n" + "\n".join(s.digest for s in top))
    if quick:
        parts.append("## Quick hits\n" + "\n".join(s.digest for s in quick))
    for segment in news:
        interest = segment.key.split(":")[1]
        parts.append(f"## In the news: {INTEREST_NAMES.get(interest, interest)}\n{segment.digest}")
    return Script(
        headline=headline,
        title=opening.title or headline,
        digest="\n\n".join(parts) + "\n",
        segments=[opening, *top, *quick, *news, close],
        bills_covered=[i.bill.id for i in selection.items],
    )


def _usage_dict(usage: Usage) -> dict[str, Any]:
    data = usage.model_dump()
    data["dollars"] = str(usage.dollars)
    return data


def brief_costs(script: Script, rendered: list[RenderedSegment]) -> dict[str, Any]:
    """Costs of one brief, as stored in ``briefs.costs``.

    Shape: ``{"script": Usage, "speech": Usage, "segments": {key: {"shared", "script_dollars",
    "speech_dollars"}}, "personal_dollars", "shared_dollars", "total_dollars"}`` with dollars as
    decimal strings. Shared segments are listed at full cost here; ``settle_shared_costs`` later
    charges each brief its share (cost divided by the briefs that used the segment that day).
    """
    speech_by_key = {r.key: r.usage for r in rendered}
    segments: dict[str, dict[str, Any]] = {}
    script_usage, speech_usage = Usage(), Usage()
    for segment in script.segments:
        speech = speech_by_key.get(segment.key, Usage())
        script_usage += segment.usage
        speech_usage += speech
        segments[segment.key] = {
            "shared": segment.shared,
            "script_dollars": str(segment.usage.dollars),
            "speech_dollars": str(speech.dollars),
        }
    personal = sum((Decimal(v["script_dollars"]) + Decimal(v["speech_dollars"])
                    for v in segments.values() if not v["shared"]), Decimal("0"))
    shared = sum((Decimal(v["script_dollars"]) + Decimal(v["speech_dollars"])
                  for v in segments.values() if v["shared"]), Decimal("0"))
    return {
        "script": _usage_dict(script_usage),
        "speech": _usage_dict(speech_usage),
        "segments": segments,
        "personal_dollars": str(personal),
        "shared_dollars": str(shared),
        "total_dollars": str(personal + shared),
    }


def settle_shared_costs(costs_by_brief: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Charge each brief its share of the shared segments it used.

    ``costs_by_brief`` maps brief id to its ``costs`` (as from ``brief_costs``) for one day's briefs.
    Returns new costs with ``shared_dollars`` = sum over shared segments of cost / number of briefs
    that used it, and ``total_dollars`` updated.
    """
    users_of: dict[str, int] = {}
    for costs in costs_by_brief.values():
        for key, seg in costs.get("segments", {}).items():
            if seg["shared"]:
                users_of[key] = users_of.get(key, 0) + 1
    settled = {}
    for brief_id, costs in costs_by_brief.items():
        share = Decimal("0")
        for key, seg in costs.get("segments", {}).items():
            if seg["shared"]:
                share += (Decimal(seg["script_dollars"]) + Decimal(seg["speech_dollars"])) / users_of[key]
        share = share.quantize(Decimal("0.000001"))
        settled[brief_id] = {**costs, "shared_dollars": str(share),
                             "total_dollars": str(Decimal(costs.get("personal_dollars", "0")) + share),
                             "shared_segment_users": {k: users_of[k] for k in costs.get("segments", {}) if k in users_of}}
    return settled
