"""Publishing a brief: store the MP3, then write the brief row and its bills in one transaction.

A published brief's audio never changes under its row. Each MP3 is a new object, its key versioned
by a hash of its bytes (``{prefix}/{user}/{type}/{date}-{version}.mp3``); the row points at it in the
same transaction that retires the object it replaces. So a remake that fails anywhere (a locked
database, a crash between upload and row) leaves the published brief exactly as it was, and a
player holding the old URL keeps playing it until replaced objects are removed
(``BRIEFS_REPLACED_AUDIO_HOURS`` later). Every upload is recorded before it starts
(``audio_objects``), so an object whose row never came is found and removed (``remove_stale_audio``).

Beside the MP3 go its chapters, transcript and captions (``civic_briefs.chapters``), under the MP3's
key with other endings (``...-{version}.chapters.json``, ``.transcript.json``, ``.vtt``). They are
one bundle with it: the MP3's record covers them, they are uploaded after it is recorded and before
it, and removed with it. The chapters are written into the MP3 with a hash of the side files before
the version is taken, so one version names one set of side files and none changes under a row.

Once the row is saved, the brief's web player page goes beside the MP3 (``...-{version}.html``,
``civic_briefs.player_page``; removed with it too) and its user's podcast feed is rewritten
(``civic_briefs.feed``). Neither is part of the brief: a failure writing them is logged and leaves the
published brief as it is (the next publish, or the day's end, rewrites the feed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from civic_briefs import chapters, db, feed, keys, player_page, repo
from civic_briefs.briefing import BriefCosts
from civic_briefs.models import BillSelection, BriefAudio, BriefType, NewsItem, PublishedBrief, Script, Speaker
from civic_briefs.providers.base import AudioStorage
from civic_briefs.providers.storage import CONTENT_TYPES, safe_key, sibling_key
from civic_briefs.settings import get_settings

log = logging.getLogger(__name__)

# The files beside a brief's MP3: key ending, the brief row's column for its URL, its bytes.
SIDE_FILES: tuple[tuple[str, str, str], ...] = (
    (".chapters.json", "chapters_url", "chapters_json"),
    (".transcript.json", "transcript_url", "transcript_json"),
    (".vtt", "captions_url", "vtt"),
)
FILE_URL_COLUMNS = tuple(column for _, column, _ in SIDE_FILES)
# Written beside the MP3 after its row, and removed with it.
PAGE_SUFFIX = ".html"


def brief_from_row(row: dict[str, Any], **changes: Any) -> PublishedBrief:
    """A ``PublishedBrief`` for a stored brief (a row from ``repo.get_brief``), returned untouched:
    ``made_now`` is False."""
    values = dict(
        id=row["id"], user_id=row["user_id"], brief_type=row["brief_type"],
        brief_date=dt.date.fromisoformat(row["brief_date"]), status=row["status"], headline=row["headline"],
        audio_url=row["audio_url"], duration_seconds=row["duration_seconds"],
        bills_covered=[b["bill_id"] for b in row["bills"]], error=row["error"], made_now=False,
        **{column: row.get(column) for column in FILE_URL_COLUMNS}, page_url=row.get("page_url"),
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
            news: list[NewsItem], costs: BriefCosts, hosts: dict[Speaker, str] | None = None) -> PublishedBrief:
    """Write the chapters into the MP3, record the upload, upload the side files and the MP3 as new
    objects, then save the row pointing at them (which retires the objects they replace). Safe to
    repeat after any failure: every key depends only on the MP3's bytes. The caller holds the
    brief's claim. ``hosts``: the transcript's names for speakers A and B (default: the settings')."""
    bid = repo.brief_id(user_id, brief_type, brief_date)
    hosts = hosts or _configured_hosts()
    files = chapters.side_files(script, audio, {item.bill.id: item.bill for item in selection.items}, hosts)
    if files is None:
        log.warning("Brief %s has no measured segment times: published without chapters or transcript", bid)
    else:
        audio = audio.model_copy(update={"mp3": chapters.embed(audio.mp3, files)})
    key = audio_key(key_prefix, user_id, brief_type, brief_date, audio.mp3)
    remove_orphans(storage, bid, keep=key)
    db.run_with_reconnect(lambda c: repo.record_upload(c, key, bid))
    file_urls = {}
    for suffix, column, attribute in SIDE_FILES if files else ():
        file_urls[column] = storage.put(sibling_key(key, suffix), getattr(files, attribute), CONTENT_TYPES[suffix])
    url = storage.put(key, audio.mp3)
    published = db.run_with_reconnect(lambda c: save_published(
        c, user_id=user_id, brief_type=brief_type, brief_date=brief_date, interests=interests, script=script,
        audio=audio, audio_url=url, selection=selection, news=news, costs=costs, audio_key=key, file_urls=file_urls,
        legacy_key=safe_key(key_prefix, user_id, brief_type, brief_date)))
    return publish_for_listeners(storage, key_prefix, published, key, script, audio, files, hosts)


def publish_for_listeners(storage: AudioStorage, key_prefix: str, brief: PublishedBrief, mp3_key: str, script: Script,
                          audio: BriefAudio, files: chapters.SideFiles | None, hosts: dict[Speaker, str]) -> PublishedBrief:
    """Write the published brief's player page and its user's feed; the brief with its page's URL.
    A failure is logged, never raised: the brief is published whatever happens here."""
    cache_control = get_settings().feed_cache_control
    try:
        page = player_page.page_for(script, brief.brief_date, mp3_key, audio.duration_seconds,
                                    files.chapters if files else None, files.cues if files else None, hosts)
        page_url = player_page.publish_page(storage, mp3_key, page, cache_control)
        if db.run_with_reconnect(lambda c: repo.set_page_url(c, brief.id, brief.audio_url, page_url)):
            brief = brief.model_copy(update={"page_url": page_url})
    except Exception as exc:  # noqa: BLE001 - the brief is out; its page is a convenience
        log.warning("Brief %s is published, but its player page was not written: %s: %s", brief.id,
                    type(exc).__name__, exc)
    try:
        feed.publish_feed(storage, key_prefix, brief.user_id)
    except Exception as exc:  # noqa: BLE001 - the next publish or the day's end rewrites it
        log.warning("Brief %s is published, but %s's feed was not rewritten (the next publish or the day's end "
                    "will): %s: %s", brief.id, brief.user_id, type(exc).__name__, exc)
    return brief


def _configured_hosts() -> dict[Speaker, str]:
    settings = get_settings()
    return {"A": settings.host_a_name, "B": settings.host_b_name}


def _remove(storage: AudioStorage, found: repo.AudioObject) -> bool:
    """Remove a recorded MP3 and the files beside it. The record goes first, and only if it is
    still as it was seen: a publisher that made the object live meanwhile keeps it, and one whose
    record went finds out when it saves its row (``repo.save_brief`` raises) and uploads again.
    A delete that fails leaves the object behind, untracked (logged), never a row without audio."""
    if not db.run_with_reconnect(lambda c: repo.forget_audio_object(c, found.key, found.state)):
        return False
    try:
        for suffix in (*(suffix for suffix, _, _ in SIDE_FILES), PAGE_SUFFIX):
            storage.delete(sibling_key(found.key, suffix))
        storage.delete(found.key)
    except Exception as exc:  # noqa: BLE001 - left in storage, harmless to listeners
        log.warning("Could not remove %s (%s: %s); it is no longer tracked", found.key, type(exc).__name__, exc)
    return True


# An upload recorded longer ago than this with no row is an orphan: a publisher takes seconds from
# its record to its row, and one paused longer has lost its claim (and uploads again if it goes on).
ORPHAN_AGE = dt.timedelta(hours=1)


def remove_orphans(storage: AudioStorage, brief_id: str, keep: str | None = None,
                   orphaned_before: dt.datetime | None = None) -> int:
    """Remove the objects of ``brief_id`` uploaded (before ``orphaned_before``, default an hour ago)
    by a publisher that never saved their row. The caller holds the brief's claim."""
    before = orphaned_before or dt.datetime.now(dt.UTC) - ORPHAN_AGE
    orphans = db.run_with_reconnect(lambda c: repo.audio_objects(c, state="uploading", brief_id=brief_id,
                                                                 updated_before=before))
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


def remove_stale_audio(storage: AudioStorage, claims: Any, replaced_before: dt.datetime,
                       orphaned_before: dt.datetime | None = None) -> StaleAudio:
    """Remove every orphaned object (uploaded before ``orphaned_before``, default an hour ago, its row
    never saved) and every replaced object retired before ``replaced_before``. A brief being
    published right now (its claim is held) is left for the next time."""
    orphaned_before = orphaned_before or dt.datetime.now(dt.UTC) - ORPHAN_AGE
    stale = db.run_with_reconnect(lambda c: repo.audio_objects(c, state="uploading", updated_before=orphaned_before)
                                  + repo.audio_objects(c, state="retired", updated_before=replaced_before))
    orphaned = replaced = busy = 0
    for brief_id in sorted({found.brief_id for found in stale}):
        claim = brief_claim_key(brief_id)
        if not claims.claim(claim, wait_seconds=0):
            busy += 1
            continue
        try:
            orphaned += remove_orphans(storage, brief_id, orphaned_before=orphaned_before)
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
    file_urls: dict[str, str] | None = None,
    legacy_key: str | None = None,
) -> PublishedBrief:
    """Save the ``briefs`` row and its ``brief_bills`` atomically (and make ``audio_key`` the brief's
    live object). ``file_urls``: the side files' URLs by column (``FILE_URL_COLUMNS``). Raises if the
    save fails (and then the run fails): a brief is published only once its row is."""
    file_urls = {column: (file_urls or {}).get(column) for column in FILE_URL_COLUMNS}
    url = audio_url
    bid = repo.brief_id(user_id, brief_type, brief_date)
    repo.save_brief(conn, {
        "id": bid, "user_id": user_id, "brief_type": brief_type, "brief_date": brief_date.isoformat(),
        "status": "published", "headline": script.headline, "title": script.title,
        "transcript": script.transcript, "digest": script.digest, "audio_url": url,
        "duration_seconds": round(audio.duration_seconds, 3), "policy_interests": interests,
        "news": [n.model_dump() for n in news], "costs": costs.model_dump(mode="json"), "error": None,
        "loudness_lufs": audio.loudness_lufs, "true_peak_dbtp": audio.true_peak_dbtp, "audio_bytes": len(audio.mp3),
        **file_urls,
    }, [(item.bill.id, item.section) for item in selection.items], audio_key=audio_key, legacy_key=legacy_key)
    return PublishedBrief(
        id=bid, user_id=user_id, brief_type=brief_type, brief_date=brief_date, status="published",
        headline=script.headline, audio_url=url, duration_seconds=audio.duration_seconds,
        bills_covered=script.bills_covered, **file_urls,
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
