"""Publishing a brief: store the MP3, then write the brief row and its bills in one transaction.

A published brief's audio never changes under its row. Each MP3 is a new object, its key versioned
by a hash of its bytes (``{prefix}/{user}/{type}/{date}-{version}.mp3``); the row points at it in the
same transaction that retires the object it replaces. So a remake that fails anywhere (a locked
database, a crash between upload and row) leaves the published brief exactly as it was, and a
player holding the old URL keeps playing it until replaced objects are removed
(``BRIEFS_REPLACED_AUDIO_HOURS`` later). Every upload is recorded before it starts
(``audio_objects``), so an object whose row never came is found and removed (``remove_stale_audio``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from civic_briefs import db, keys, repo
from civic_briefs.briefing import BriefCosts
from civic_briefs.models import BillSelection, BriefAudio, BriefType, NewsItem, PublishedBrief, Script
from civic_briefs.providers.base import AudioStorage
from civic_briefs.providers.storage import safe_key

log = logging.getLogger(__name__)


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


def audio_version(mp3: bytes) -> str:
    return hashlib.sha256(mp3).hexdigest()[:16]


def brief_claim_key(brief_id: str) -> str:
    """The claim held while a brief is made and published, and while its stale objects are removed."""
    return "brief-" + keys.content_hash(brief_id)


def audio_key(key_prefix: str, user_id: str, brief_type: BriefType, brief_date: dt.date, mp3: bytes) -> str:
    return safe_key(key_prefix, user_id, brief_type, brief_date, version=audio_version(mp3))


def publish(storage: AudioStorage, key_prefix: str, *, user_id: str, brief_type: BriefType, brief_date: dt.date,
            interests: list[str], script: Script, audio: BriefAudio, selection: BillSelection,
            news: list[NewsItem], costs: BriefCosts) -> PublishedBrief:
    """Record the upload, upload the MP3 as a new object, then save the row pointing at it (which
    retires the object it replaces). Safe to repeat after any failure: the key depends only on the
    bytes. The caller holds the brief's claim."""
    bid = repo.brief_id(user_id, brief_type, brief_date)
    key = audio_key(key_prefix, user_id, brief_type, brief_date, audio.mp3)
    remove_orphans(storage, bid, keep=key)
    db.run_with_reconnect(lambda c: repo.record_upload(c, key, bid))
    url = storage.put(key, audio.mp3)
    return db.run_with_reconnect(lambda c: save_published(
        c, user_id=user_id, brief_type=brief_type, brief_date=brief_date, interests=interests, script=script,
        audio=audio, audio_url=url, selection=selection, news=news, costs=costs, audio_key=key))


def _remove(storage: AudioStorage, found: repo.AudioObject) -> bool:
    storage.delete(found.key)
    return db.run_with_reconnect(lambda c: repo.forget_audio_object(c, found.key, found.state))


def remove_orphans(storage: AudioStorage, brief_id: str, keep: str | None = None) -> int:
    """Remove the objects of ``brief_id`` uploaded by a publisher that never saved their row. The
    caller holds the brief's claim, so no live publisher is between its upload and its row."""
    orphans = db.run_with_reconnect(lambda c: repo.audio_objects(c, state="uploading", brief_id=brief_id))
    removed = 0
    for orphan in orphans:
        if orphan.key != keep and _remove(storage, orphan):
            log.warning("Removed %s: uploaded for %s by a run that stopped before saving its row", orphan.key, brief_id)
            removed += 1
    return removed


@dataclass(frozen=True)
class StaleAudio:
    """What ``remove_stale_audio`` removed."""

    orphaned: int = 0
    replaced: int = 0
    busy: int = 0


def remove_stale_audio(storage: AudioStorage, claims: Any, replaced_before: dt.datetime) -> StaleAudio:
    """Remove every orphaned object (uploaded, its row never saved) and every replaced object retired
    before ``replaced_before``. A brief being published right now (its claim is held) is left for
    the next time."""
    stale = db.run_with_reconnect(lambda c: repo.audio_objects(c, state="uploading")
                                  + repo.audio_objects(c, state="retired", updated_before=replaced_before))
    orphaned = replaced = busy = 0
    for brief_id in sorted({found.brief_id for found in stale}):
        claim = brief_claim_key(brief_id)
        if not claims.claim(claim, wait_seconds=0):
            busy += 1
            continue
        try:
            orphaned += remove_orphans(storage, brief_id)
            # Read again under the claim: an old version made again may be live once more.
            retired = db.run_with_reconnect(lambda c: repo.audio_objects(
                c, state="retired", brief_id=brief_id, updated_before=replaced_before))
            replaced += sum(_remove(storage, found) for found in retired)
        finally:
            claims.release(claim)
    return StaleAudio(orphaned=orphaned, replaced=replaced, busy=busy)


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
    audio_key: str | None = None,
) -> PublishedBrief:
    """Save the ``briefs`` row and its ``brief_bills`` atomically (and make ``audio_key`` the brief's
    live object). Raises if the save fails (and then the run fails): a brief is published only once
    its row is."""
    url = audio_url
    bid = repo.brief_id(user_id, brief_type, brief_date)
    repo.save_brief(conn, {
        "id": bid, "user_id": user_id, "brief_type": brief_type, "brief_date": brief_date.isoformat(),
        "status": "published", "headline": script.headline, "title": script.title,
        "transcript": script.transcript, "digest": script.digest, "audio_url": url,
        "duration_seconds": round(audio.duration_seconds, 3), "policy_interests": interests,
        "news": [n.model_dump() for n in news], "costs": costs.model_dump(mode="json"), "error": None,
    }, [(item.bill.id, item.section) for item in selection.items], audio_key=audio_key)
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
