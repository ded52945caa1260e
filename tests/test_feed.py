"""Each user's private podcast feed (issue 10): read back with feedparser, as podcast apps read it.

Real parts: briefs published by ``publishing.publish`` (MP3s joined from real encoded parts, with
their chapters and transcripts) into a libSQL file and local storage or moto's S3 server, the feed
fetched over HTTP from moto.
"""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import feedparser
import httpx
import pytest

from civic_briefs import db, feed, publishing, repo
from civic_briefs.briefing import BriefCosts
from civic_briefs.models import User
from civic_briefs.providers.storage import LocalStorage, S3Storage
from tests import worlds
from tests.conftest import s3_admin_client
from tests.test_chapters import make_script, timed_audio

PODCAST = "{https://podcastindex.org/namespace/1.0}"
TODAY = dt.datetime.now(dt.UTC).date()
# Inside the last 30 days (today and 29 days back) and outside it.
INSIDE = [0, 1, 29]
OUTSIDE = [30, 45]


@pytest.fixture
def world(settings_env):
    settings = settings_env()
    return settings, worlds.listener_with_two_bills()



def publish_days(storage, bills, days_ago: list[int], user_id: str = "ana") -> dict[dt.date, dict]:
    """A brief for each of those days (each a different length), published; their rows by date."""
    for n, back in enumerate(days_ago):
        script, selection = make_script(bills[: 1 + n % 2], greeting=f"Good morning, Ana! ({back})")
        script = script.model_copy(update={"title": f"Ana's brief, {back} days ago",
                                           "digest": f"- [S. 1315](https://www.congress.gov/bill/117th-congress/"
                                                     f"senate-bill/1315) moved <b>{back}</b> days ago"})
        publishing.publish(storage, "briefs", user_id=user_id, brief_type="daily",
                           brief_date=TODAY - dt.timedelta(days=back), interests=["healthcare"], script=script,
                           audio=timed_audio(script, seconds=0.3 + 0.05 * n), selection=selection, news=[],
                           costs=BriefCosts.of([]))
    with db.connection() as conn:
        return {TODAY - dt.timedelta(days=b): repo.get_brief(conn, user_id, "daily", TODAY - dt.timedelta(days=b))
                for b in days_ago}


def local_bytes(url: str) -> bytes:
    return Path(url.removeprefix("file://")).read_bytes()


def token_of(user_id: str = "ana") -> str:
    with db.connection() as conn:
        return repo.feed_token(conn, user_id)


def check_feed(parsed, xml: bytes, rows: dict[dt.date, dict], stored_bytes) -> None:
    """The channel, and one item per brief of the last 30 days, newest first, each enclosure's
    length the stored object's size."""
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "rss20"
    channel = parsed.feed
    assert channel.title == "Civic Briefs for Ana Reyes"
    assert channel.author == "Civic Briefs"
    assert channel.itunes_block == 1  # kept out of podcast directories
    inside = [rows[TODAY - dt.timedelta(days=b)] for b in INSIDE]
    assert [e.title for e in parsed.entries] == [f"Ana's brief, {b} days ago" for b in INSIDE]
    for entry, row in zip(parsed.entries, inside):
        [enclosure] = entry.enclosures
        assert enclosure.href == row["audio_url"] and enclosure.type == "audio/mpeg"
        assert int(enclosure.length) == len(stored_bytes(row["audio_url"])) == row["audio_bytes"] > 0
        assert entry.id.startswith(row["id"] + "@") and entry.guidislink is False
        published = dt.datetime.fromisoformat(row["updated_at"]).replace(microsecond=0)
        assert dt.datetime(*entry.published_parsed[:6], tzinfo=dt.UTC) == published
        assert int(entry.itunes_duration) == round(row["duration_seconds"])
        # (feedparser turns file:/// into file:// in links, so the page is compared by its name.)
        assert entry.link.rsplit("/", 1)[1] == row["page_url"].rsplit("/", 1)[1]
        assert entry.podcast_chapters == {"url": row["chapters_url"], "type": "application/json+chapters"}
        # The digest as HTML: its link kept, its raw HTML escaped, not markup.
        assert 'href="https://www.congress.gov/bill/117th-congress/senate-bill/1315"' in entry.summary
        assert "&lt;b&gt;" in entry.summary and "<b>" not in entry.summary
    # feedparser keeps one podcast:transcript per item; both are there.
    items = ET.fromstring(xml).find("channel").findall("item")
    assert [[(t.get("url"), t.get("type")) for t in item.findall(PODCAST + "transcript")] for item in items] == [
        [(row["transcript_url"], "application/json"), (row["captions_url"], "text/vtt")] for row in inside]


def test_the_local_feed_lists_the_last_30_days_newest_first_with_real_sizes(world):
    settings, bills = world
    storage = LocalStorage(settings.storage_path)
    rows = publish_days(storage, bills, OUTSIDE + INSIDE)
    # Every publish rewrote the feed: it is there without asking.
    key = feed.feed_key("briefs", token_of())
    xml = (settings.storage_path / key).read_bytes()
    check_feed(feedparser.parse(xml), xml, rows, local_bytes)
    # The cover art is uploaded beside the feeds and is a square PNG podcast apps take.
    image = feedparser.parse(xml).feed.image.href
    cover = local_bytes(image)
    assert cover[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(cover[16:20], "big") == int.from_bytes(cover[20:24], "big") == 1400
    # The page of each brief is beside its MP3.
    for row in rows.values():
        assert row["page_url"].removesuffix(".html") == row["audio_url"].removesuffix(".mp3")
        assert local_bytes(row["page_url"]).startswith(b"<!doctype html>")


@pytest.fixture
def s3(settings_env, moto_endpoint):
    bucket = f"feeds-{TODAY:%Y%m%d}-{id(settings_env) % 100000}"
    s3_admin_client(moto_endpoint).create_bucket(Bucket=bucket)
    settings = settings_env(storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_endpoint,
                            s3_access_key_id="AKIAFEEDTEST", s3_secret_access_key="feed-secret")
    return S3Storage(settings), s3_admin_client(moto_endpoint), bucket


def test_the_s3_feed_has_real_sizes_and_a_short_cache_while_the_mp3_stays_immutable(world, s3, caplog):
    # What a run logs (INFO and up; botocore's and urllib3's DEBUG lines name every request's path).
    caplog.set_level(logging.INFO)
    storage, admin, bucket = s3
    _, bills = world
    rows = publish_days(storage, bills, OUTSIDE + INSIDE)
    # No log line of ours names the feed's key with its token (prefect-aws's uploads log their keys);
    # werkzeug's are moto's, the S3 server's own access log.
    assert not [r for r in caplog.records if token_of() in r.getMessage() and r.name != "werkzeug"]
    assert [r for r in caplog.records if r.name == "werkzeug" and token_of() in r.getMessage()]  # it was uploaded

    def stored(url: str) -> bytes:
        return admin.get_object(Bucket=bucket, Key=url.split(f"/{bucket}/", 1)[1])["Body"].read()

    key = feed.feed_key("briefs", token_of())
    url = storage.url_for(key)
    response = httpx.get(url)  # as a podcast app fetches it
    assert response.status_code == 200
    check_feed(feedparser.parse(response.content), response.content, rows, stored)
    head = admin.head_object(Bucket=bucket, Key=key)
    assert (head["ContentType"], head["CacheControl"]) == ("application/rss+xml", "public, max-age=300")
    newest = rows[TODAY]["audio_url"].split(f"/{bucket}/", 1)[1]
    assert admin.head_object(Bucket=bucket, Key=newest)["CacheControl"] == "public, max-age=31536000, immutable"
    page = admin.head_object(Bucket=bucket, Key=newest.removesuffix(".mp3") + ".html")
    assert (page["ContentType"], page["CacheControl"]) == ("text/html; charset=utf-8", "public, max-age=300")


def test_rotating_the_token_moves_the_feed_and_the_old_url_is_gone(world, caplog):
    settings, bills = world
    caplog.set_level(logging.DEBUG)
    storage = LocalStorage(settings.storage_path)
    rows = publish_days(storage, bills, [0])
    old = token_of()
    old_path = settings.storage_path / feed.feed_key("briefs", old)
    assert old_path.is_file()

    new_url = feed.rotate_feed(storage, "briefs", "ana")
    new = token_of()
    assert new != old and len(new) >= 43 and len(old) >= 43  # 32 random bytes, URL-safe base64
    assert not old_path.exists()
    assert new_url == storage.url_for(feed.feed_key("briefs", new))
    parsed = feedparser.parse(local_bytes(new_url))
    assert [e.enclosures[0].href for e in parsed.entries] == [rows[TODAY]["audio_url"]]
    # The next publish writes under the new token only.
    publish_days(storage, bills, [1])
    assert not old_path.exists()
    assert len(feedparser.parse(local_bytes(new_url)).entries) == 2
    # Neither token was ever logged.
    assert not [r for r in caplog.records if old in r.getMessage() or new in r.getMessage()]


class FeedFails(LocalStorage):
    """Local storage that cannot write feeds (a bucket policy refusing the feeds folder)."""

    def put(self, key, data, content_type="audio/mpeg", cache_control=None):
        if content_type == "application/rss+xml":
            raise PermissionError(13, "Permission denied", str(self.folder / key))
        return super().put(key, data, content_type, cache_control)


def test_a_feed_that_cannot_be_written_leaves_the_brief_published_and_the_days_end_rewrites_it(world, caplog):
    settings, bills = world
    [row] = publish_days(FeedFails(settings.storage_path), bills, [0]).values()
    assert row["status"] == "published" and local_bytes(row["audio_url"])
    [warning] = [r.getMessage() for r in caplog.records if "feed was not rewritten" in r.getMessage()]
    assert "PermissionError: [Errno 13] Permission denied: " in warning and "/briefs/feeds/***.xml" in warning
    assert token_of() not in warning and not [r for r in caplog.records if token_of() in r.getMessage()]
    key = feed.feed_key("briefs", token_of())
    assert not (settings.storage_path / key).exists()
    with db.connection() as conn:
        assert repo.stale_feed_users(conn) == ["ana"]

    assert feed.rewrite_stale(LocalStorage(settings.storage_path), "briefs") == 1
    assert len(feedparser.parse((settings.storage_path / key).read_bytes()).entries) == 1
    with db.connection() as conn:
        assert repo.stale_feed_users(conn) == []


def test_a_feed_write_that_missed_a_brief_published_meanwhile_writes_again(world):
    """A's feed write read the briefs before B was published and lands after B's own write: it
    goes again, so the feed that stays holds both."""
    settings, bills = world
    published_meanwhile: list[dict] = []

    class BriefBetweenReadAndWrite(LocalStorage):
        def put(self, key, data, content_type="audio/mpeg", cache_control=None):
            if content_type == "application/rss+xml" and not published_meanwhile:
                published_meanwhile.append({})
                published_meanwhile[0] = publish_days(LocalStorage(settings.storage_path), bills, [1])
            return super().put(key, data, content_type, cache_control)

    publish_days(BriefBetweenReadAndWrite(settings.storage_path), bills, [0])
    assert published_meanwhile and published_meanwhile[0]
    xml = (settings.storage_path / feed.feed_key("briefs", token_of())).read_bytes()
    assert [e.title for e in feedparser.parse(xml).entries] == ["Ana's brief, 0 days ago", "Ana's brief, 1 days ago"]
    with db.connection() as conn:
        assert repo.stale_feed_users(conn) == []


def test_the_feeds_30_days_are_the_listeners_own():
    # UTC+14 and UTC-11 are 25 hours apart: their dates differ at every moment.
    ahead = User(id="k", name="Kiri", timezone="Pacific/Kiritimati")
    behind = User(id="p", name="Pago", timezone="Pacific/Pago_Pago")
    legacy = User(id="l", name="Old Row", timezone="Eastern")
    assert feed._local_today(ahead) > feed._local_today(behind)
    assert feed._local_today(ahead) == dt.datetime.now(dt.timezone(dt.timedelta(hours=14))).date()
    assert feed._local_today(legacy) == dt.datetime.now(dt.UTC).date()
