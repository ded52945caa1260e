"""Each user's private podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces.

One item per published brief of the last ``FEED_DAYS`` days, newest first: its MP3 as the
enclosure (its size in bytes, as stored), ``itunes:duration``, the digest as the description, and
``podcast:transcript`` / ``podcast:chapters`` for the files beside the MP3.

The feed is an object in the same storage as the audio, at ``{prefix}/feeds/{token}.xml``: the
token (``secrets.token_urlsafe``, 256 bits) is the only thing that keeps it private, so it is never
logged (``storage.loggable_key``), and rotating it (``rotate_feed``) writes the feed under a new one
and removes the old object. Unlike the versioned MP3s, the feed changes, so it is uploaded with
``BRIEFS_FEED_CACHE_CONTROL`` (short). It is rewritten whenever one of the user's briefs is
published (``civic_briefs.publishing``), and at the day's end when that write failed (``rewrite_stale``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from civic_briefs import db, delivery, repo
from civic_briefs.models import User
from civic_briefs.player_page import digest_html
from civic_briefs.providers.base import AudioStorage
from civic_briefs.providers.storage import CONTENT_TYPES, FEEDS_FOLDER
from civic_briefs.settings import get_settings

log = logging.getLogger(__name__)

FEED_DAYS = 30
TOKEN_BYTES = 32
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
AUTHOR = "Civic Briefs"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def feed_key(prefix: str, token: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), FEEDS_FOLDER, f"{token}.xml") if p)


@dataclass(frozen=True)
class Episode:
    """One published brief as a feed item."""

    guid: str
    title: str
    published_at: dt.datetime
    description_html: str
    audio_url: str
    audio_bytes: int
    duration_seconds: float
    page_url: str | None
    transcript_url: str | None
    captions_url: str | None
    chapters_url: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Episode:
        # A new MP3 (a brief made again) is a new episode to podcast apps: the guid names the version.
        version = hashlib.sha256(row["audio_url"].encode()).hexdigest()[:16]
        return cls(
            guid=f"{row['id']}@{version}", title=row["title"] or row["headline"] or row["id"],
            published_at=dt.datetime.fromisoformat(row["updated_at"]),
            description_html=digest_html(row["digest"] or row["headline"] or ""),
            audio_url=row["audio_url"],
            # Briefs published before sizes were recorded: 0 is RSS's "length unknown".
            audio_bytes=row["audio_bytes"] or 0, duration_seconds=row["duration_seconds"] or 0.0,
            page_url=row.get("page_url"), transcript_url=row.get("transcript_url"),
            captions_url=row.get("captions_url"), chapters_url=row.get("chapters_url"))


class _PodcastIndex(BaseExtension):
    """The Podcasting 2.0 namespace, which feedgen does not know (its "podcast" is iTunes')."""

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}


class _PodcastIndexEntry(BaseEntryExtension):
    def __init__(self) -> None:
        self.files: list[tuple[str, dict[str, str]]] = []

    def extend_rss(self, item: Any) -> Any:
        for tag, attributes in self.files:
            xml_elem(f"{{{PODCAST_NS}}}{tag}", item).attrib.update(attributes)
        return item


def feed_xml(user: User, episodes: list[Episode], *, feed_url: str, image_url: str) -> bytes:
    """The feed's bytes; ``episodes`` newest first."""
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcastindex", _PodcastIndex, _PodcastIndexEntry)
    fg.title(f"Civic Briefs for {user.name}")
    fg.description(f"{user.name}'s personal briefing on US legislation: the bills on their interests, "
                   "and the news on them. Written and voiced by AI.")
    fg.author(name=AUTHOR)
    fg.link(href=feed_url, rel="self")
    fg.link(href=episodes[0].page_url if episodes and episodes[0].page_url else feed_url, rel="alternate")
    fg.language("en-us")
    fg.image(url=image_url, title=f"Civic Briefs for {user.name}",
             link=episodes[0].page_url if episodes and episodes[0].page_url else feed_url)
    fg.podcast.itunes_author(AUTHOR)
    fg.podcast.itunes_image(image_url)
    fg.podcast.itunes_category("News", "Politics")
    fg.podcast.itunes_explicit("no")
    # A private feed: podcast directories must not list it.
    fg.podcast.itunes_block(True)
    for episode in reversed(episodes):  # add_entry prepends: the newest ends up first
        fe = fg.add_entry()
        fe.guid(episode.guid, permalink=False)
        fe.title(episode.title)
        fe.pubDate(episode.published_at)
        fe.description(episode.description_html or episode.title)
        if episode.page_url:
            fe.link(href=episode.page_url)
        fe.enclosure(episode.audio_url, str(episode.audio_bytes), CONTENT_TYPES[".mp3"])
        fe.podcast.itunes_duration(max(1, round(episode.duration_seconds)))
        files = []
        if episode.transcript_url:
            files.append(("transcript", {"url": episode.transcript_url, "type": CONTENT_TYPES[".transcript.json"]}))
        if episode.captions_url:
            files.append(("transcript", {"url": episode.captions_url, "type": CONTENT_TYPES[".vtt"], "rel": "captions"}))
        if episode.chapters_url:
            files.append(("chapters", {"url": episode.chapters_url, "type": CONTENT_TYPES[".chapters.json"]}))
        fe.podcastindex.files = files
    return fg.rss_str(pretty=True)


# --- cover art ---------------------------------------------------------------------------------

_covers_put: set[tuple[str, str]] = set()
_covers_lock = threading.Lock()


def cover_url(storage: AudioStorage, prefix: str) -> str:
    """``BRIEFS_FEED_IMAGE_URL``, or the project's cover uploaded beside the feeds (under a name
    versioned by its bytes, so once per process and storage is enough)."""
    configured = get_settings().feed_image_url
    if configured:
        return configured
    image = (resources.files("civic_briefs") / "data" / "cover.png").read_bytes()
    key = "/".join(p for p in (prefix.strip("/"), FEEDS_FOLDER,
                               f"cover-{hashlib.sha256(image).hexdigest()[:12]}.png") if p)
    with _covers_lock:
        if (storage.name, key) not in _covers_put:
            storage.put(key, image, CONTENT_TYPES[".png"])
            _covers_put.add((storage.name, key))
    return storage.url_for(key)


# --- writing and rotating ----------------------------------------------------------------------

def _local_today(user: User) -> dt.date:
    now = dt.datetime.now(dt.UTC)
    try:
        return delivery.local_date(user, now)
    except (ZoneInfoNotFoundError, ValueError):  # a timezone stored before they were checked
        return now.date()


def publish_feed(storage: AudioStorage, prefix: str, user_id: str, today: dt.date | None = None) -> str:
    """Write ``user_id``'s feed (giving them a token first if they have none) and return its URL."""
    token = db.run_with_reconnect(lambda c: repo.save_feed_token(c, user_id, new_token(), replace=False))
    key = feed_key(prefix, token)
    # Two of a user's briefs published at once (a daily and a weekly) each write the feed: whichever
    # write lands last must hold both, so a write that missed a brief published meanwhile goes again.
    for _ in range(3):
        # Taken before the briefs are read: a brief published after it makes this feed stale.
        stamp = repo.now_iso()
        user = db.run_with_reconnect(lambda c: repo.get_user(c, user_id))
        # The last 30 of the listener's own days: their briefs are dated by their local date.
        since = (today or _local_today(user)) - dt.timedelta(days=FEED_DAYS - 1)
        rows = db.run_with_reconnect(lambda c: repo.published_briefs_since(c, user_id, since))
        body = feed_xml(user, [Episode.of(r) for r in rows if r["audio_url"]], feed_url=storage.url_for(key),
                        image_url=cover_url(storage, prefix))
        try:
            url = storage.put(key, body, CONTENT_TYPES[".xml"], cache_control=get_settings().feed_cache_control)
        except Exception as exc:
            # An OSError names the file, token and all: the message is logged, the token must not be.
            raise FeedWriteError(f"{type(exc).__name__}: {str(exc).replace(token, '***')}") from None
        # Rotated meanwhile: the old token's feed must not come back.
        if db.run_with_reconnect(lambda c: repo.feed_token(c, user_id)) != token:
            storage.delete(key)
            raise FeedRotatedError(f"{user_id}'s feed token was rotated while the feed was written; "
                                   "the new one is current")
        db.run_with_reconnect(lambda c: repo.mark_feed_written(c, user_id, token, stamp))
        if not db.run_with_reconnect(lambda c: repo.published_since(c, user_id, stamp)):
            break
    log.info("Wrote %s's feed: %d briefs, %d bytes", user_id, len(rows), len(body))
    return url


def current_url(storage: AudioStorage, prefix: str, user_id: str) -> str | None:
    """The URL of ``user_id``'s feed as it stands (None if they have none yet); writes nothing."""
    token = db.run_with_reconnect(lambda c: repo.feed_token(c, user_id))
    return storage.url_for(feed_key(prefix, token)) if token else None


class FeedWriteError(RuntimeError):
    """The feed could not be stored; the message never holds the token."""


class FeedRotatedError(RuntimeError):
    """The token changed while the feed was being written under the old one (which was removed)."""


def rotate_feed(storage: AudioStorage, prefix: str, user_id: str) -> str:
    """Give ``user_id`` a new token: write their feed under it, remove the old one; the new URL."""
    old = db.run_with_reconnect(lambda c: repo.feed_token(c, user_id))
    db.run_with_reconnect(lambda c: repo.save_feed_token(c, user_id, new_token(), replace=True))
    url = publish_feed(storage, prefix, user_id)
    if old:
        storage.delete(feed_key(prefix, old))
    return url


def rewrite_stale(storage: AudioStorage, prefix: str) -> int:
    """Rewrite every feed whose write after a publish failed; how many were rewritten."""
    rewritten = 0
    for user_id in db.run_with_reconnect(repo.stale_feed_users):
        try:
            publish_feed(storage, prefix, user_id)
            rewritten += 1
        except Exception as exc:  # noqa: BLE001 - one feed must not stop the others
            log.warning("Could not rewrite %s's feed: %s: %s", user_id, type(exc).__name__, exc)
    return rewritten
