"""Publishing a brief: store the MP3, then write the brief row and its bills in one transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from civic_briefs import repo
from civic_briefs.briefing import BriefCosts
from civic_briefs.models import BillSelection, BriefAudio, BriefType, NewsItem, PublishedBrief, Script
from civic_briefs.providers.base import AudioStorage
from civic_briefs.providers.storage import safe_key


def brief_from_row(row: dict[str, Any], **changes: Any) -> PublishedBrief:
    """A ``PublishedBrief`` for a stored brief (a row from ``repo.get_brief``), returned untouched:
    ``made_now`` is False."""
    values = dict(
        id=row["id"], user_id=row["user_id"], brief_type=row["brief_type"],
        brief_date=dt.date.fromisoformat(row["brief_date"]), status=row["status"], headline=row["headline"],
        audio_url=row["audio_url"], duration_seconds=row["duration_seconds"],
        bills_covered=[b["bill_id"] for b in row["bills"]], error=row["error"], made_now=False,
    )
    return PublishedBrief(**{**values, **changes})


def store_audio(storage: AudioStorage, key_prefix: str, user_id: str, brief_type: BriefType,
                brief_date: dt.date, mp3: bytes) -> str:
    """Upload the MP3 under ``{prefix}/{user}/{type}/{date}.mp3``; returns its URL."""
    return storage.put(safe_key(key_prefix, user_id, brief_type, brief_date), mp3)


def save_published(
    conn: Any,
    *,
    user_id: str,
    brief_type: BriefType,
    brief_date: dt.date,
    interests: list[str],
    script: Script,
    audio: BriefAudio,
    audio_url: str,
    selection: BillSelection,
    news: list[NewsItem],
    costs: BriefCosts,
) -> PublishedBrief:
    """Save the ``briefs`` row and its ``brief_bills`` atomically. Raises if the save fails (and
    then the run fails): a brief is published only once its row is."""
    url = audio_url
    bid = repo.brief_id(user_id, brief_type, brief_date)
    repo.save_brief(conn, {
        "id": bid, "user_id": user_id, "brief_type": brief_type, "brief_date": brief_date.isoformat(),
        "status": "published", "headline": script.headline, "title": script.title,
        "transcript": script.transcript, "digest": script.digest, "audio_url": url,
        "duration_seconds": round(audio.duration_seconds, 3), "policy_interests": interests,
        "news": [n.model_dump() for n in news], "costs": costs.model_dump(mode="json"), "error": None,
    }, [(item.bill.id, item.section) for item in selection.items])
    return PublishedBrief(
        id=bid, user_id=user_id, brief_type=brief_type, brief_date=brief_date, status="published",
        headline=script.headline, audio_url=url, duration_seconds=audio.duration_seconds,
        bills_covered=script.bills_covered,
    )


def record_outcome(conn: Any, *, user_id: str, brief_type: BriefType, brief_date: dt.date,
                   interests: list[str], status: str, reason: str) -> PublishedBrief:
    """Save a brief row with no audio: ``skipped`` (nothing to say) or ``failed`` (with the error).

    A published brief for the same user, type and date stays as it is and is returned instead
    (``made_now`` False): a remake that failed or found nothing new never takes it away."""
    bid = repo.brief_id(user_id, brief_type, brief_date)
    written = repo.save_brief(conn, {
        "id": bid, "user_id": user_id, "brief_type": brief_type, "brief_date": brief_date.isoformat(),
        "status": status, "policy_interests": interests, "error": reason,
    }, [], keep_published=True)
    if not written:
        return brief_from_row(repo.get_brief(conn, user_id, brief_type, brief_date),
                              error=f"kept the published brief; this run: {status}: {reason}")
    return PublishedBrief(id=bid, user_id=user_id, brief_type=brief_type, brief_date=brief_date,
                          status=status, error=reason)  # type: ignore[arg-type]
