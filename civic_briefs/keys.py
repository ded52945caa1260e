"""Content keys: what a piece of a brief depends on, hashed.

The day's run and an ad-hoc brief use these same keys for the segment store, so a story written
for the day is reused by an ad-hoc brief after it, and the reverse. A key names exactly what the
work depends on: a bill's story has no user in it, so every listener of that bill that day shares it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from civic_briefs.models import Bill, BriefType, NewsItem, RepresentativeMention, Section, Segment, User


def content_hash(*parts: Any) -> str:
    """A stable hash of JSON-able values (pydantic models are dumped in JSON mode)."""
    def plain(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        return value

    blob = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def news_fetch_key(interest: str, brief_date: dt.date, source_name: str, per_interest: int) -> str:
    return "fetch-news-" + content_hash(interest, brief_date, source_name, per_interest)


def story_key(bill: Bill, section: Section, brief_date: dt.date, brief_type: BriefType, writer_name: str) -> str:
    # updated_at changes on every import; the story depends on what the bill says, not when it was read.
    return "story-" + content_hash(bill.model_dump(mode="json", exclude={"updated_at"}), section, brief_date,
                                   brief_type, writer_name)


def news_key(interest: str, items: list[NewsItem], brief_date: dt.date, brief_type: BriefType, writer_name: str) -> str:
    return "news-" + content_hash(interest, items, brief_date, brief_type, writer_name)


def personal_key(kind: str, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date,
                 brief_type: BriefType, writer_name: str, mentions: list[RepresentativeMention] | None = None) -> str:
    """The opening and close depend on the listener and on what the shared segments say; the
    opening also on the listener's own members of Congress it names (``mentions``)."""
    listener: dict[str, Any] = {"id": user.id, "name": user.name, "interests": user.interests}
    # Claude's opening names the length. Only the other lengths enter the key, so the openings and
    # closes stored before lengths existed (all standard) keep their keys and are not paid for again.
    if user.brief_length != "standard":
        listener["brief_length"] = user.brief_length
    # Likewise only an opening that names a member has them in its key.
    if mentions and kind == "opening":
        listener["mentions"] = [m.model_dump(mode="json", exclude={"member": {"updated_at"}}) for m in mentions]
    # A weekly story's ``week`` note is part of what it says; the other segments have none, and
    # leaving it out keeps their listeners' keys as they were before weekly briefs had one.
    segments = [s.model_dump(mode="json", exclude={"usage"} if s.week else {"usage", "week"}) for s in stories + news]
    return f"{kind}-" + content_hash(listener, segments, brief_date, brief_type, writer_name)


def render_key(segment: Segment, speech_name: str) -> str:
    # The same words in the same voices, model and format sound the same, whoever hears them.
    return "render-" + content_hash([(line.speaker, line.text) for line in segment.lines], speech_name)
