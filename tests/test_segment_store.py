"""The segment store (civic_briefs.segment_store): a local folder and S3 (moto), typed round trips and pruning."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from decimal import Decimal

import pytest

from civic_briefs.models import Line, NewsItem, RenderedSegment, Segment, Usage
from civic_briefs.segment_store import LocalBlobStore, S3BlobStore, SegmentStore
from tests.conftest import s3_admin_client
from tests.standins.mp3 import tone_mp3

NEWS = [NewsItem(interest="healthcare", title="Clinic bill advances", url="https://news.example/1", source="Ex"),
        NewsItem(interest="healthcare", title="Second item", url="https://news.example/2", description="d")]
SEGMENT = Segment(key="story-x", kind="story", lines=[Line(speaker="A", text="Hello."), Line(speaker="B", text="Hi.")],
                  digest="- **H.R. 1**", bill_ids=["117-hr-1"], section="top_story", headline="H",
                  usage=Usage(input_tokens=10, output_tokens=20, requests=1, dollars=Decimal("0.0012")))


def rendered(key: str, seconds: float = 0.5) -> RenderedSegment:
    return RenderedSegment(key=key, mp3=tone_mp3(seconds), duration_seconds=seconds, parts=2,
                           usage=Usage(characters=42, requests=2, dollars=Decimal("0.0126")),
                           request_ids=["r1", "r2"])


def round_trip(store: SegmentStore) -> None:
    assert store.news("fetch-news-abc123") is None
    store.put_news("fetch-news-abc123", NEWS)
    assert store.news("fetch-news-abc123") == NEWS
    store.put_news("fetch-news-empty0", [])
    assert store.news("fetch-news-empty0") == []  # no news is an answer, not a miss

    assert store.segment("story-0123abcd") is None
    store.put_segment("story-0123abcd", SEGMENT)
    assert store.segment("story-0123abcd") == SEGMENT

    assert store.render("render-0123abcd") is None
    piece = rendered("render-0123abcd")
    store.put_render("render-0123abcd", piece)
    back = store.render("render-0123abcd")
    assert back == piece and back.mp3 == piece.mp3
    # The metadata alone (an MP3 lost or never written) is no render.
    store.blobs.put("render-feedbeef.json", store.blobs.get("render-0123abcd.json"))
    assert store.render("render-feedbeef") is None

    for bad in ("../etc/passwd", "story_x.json", "story-x.txt", ".json", "story-x"):
        with pytest.raises(ValueError):
            store.blobs.put(bad, b"x")


def test_local_round_trip(tmp_path):
    store = SegmentStore(LocalBlobStore(tmp_path / "segments"))
    round_trip(store)
    assert store.name == f"local:{(tmp_path / 'segments').resolve()}"
    files = sorted(p.relative_to(tmp_path / "segments").as_posix() for p in (tmp_path / "segments").rglob("*")
                   if p.is_file())
    # Spread by kind and the digest's first two characters; no temporary file is left behind.
    assert files == ["fetch-news/ab/fetch-news-abc123.json", "fetch-news/em/fetch-news-empty0.json",
                     "render/01/render-0123abcd.json", "render/01/render-0123abcd.mp3",
                     "render/fe/render-feedbeef.json", "story/01/story-0123abcd.json"]


def test_local_write_is_atomic(tmp_path, monkeypatch):
    blobs = LocalBlobStore(tmp_path)
    blobs.put("story-aa11.json", b"old")
    real_replace = os.replace
    seen = {}

    def failing_replace(src, dst):
        # The new bytes are whole in the temporary file before it takes the key's name...
        seen["tmp"] = open(src, "rb").read()
        seen["target_meanwhile"] = blobs.get("story-aa11.json")
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk gone"):
        blobs.put("story-aa11.json", b"new" * 1000)
    monkeypatch.setattr(os, "replace", real_replace)
    # ...a reader meanwhile sees the old entry, and a failed write leaves it and no temporary file.
    assert seen == {"tmp": b"new" * 1000, "target_meanwhile": b"old"}
    assert blobs.get("story-aa11.json") == b"old"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["story-aa11.json"]
    blobs.put("story-aa11.json", b"new")
    assert blobs.get("story-aa11.json") == b"new"


def test_local_prune_by_age(tmp_path):
    store = SegmentStore(LocalBlobStore(tmp_path / "segments"))
    assert store.prune(dt.datetime.now(dt.UTC)) == 0  # no folder yet
    store.put_segment("story-01aa", SEGMENT)
    store.put_render("render-02bb", rendered("render-02bb"))
    store.put_news("fetch-news-03cc", NEWS)
    now = time.time()
    ten_days_ago = now - 10 * 86400
    for key in ("story/01/story-01aa.json", "render/02/render-02bb.mp3", "render/02/render-02bb.json"):
        os.utime(tmp_path / "segments" / key, (ten_days_ago, ten_days_ago))
    cutoff = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=7)
    assert store.prune(cutoff) == 3
    assert store.segment("story-01aa") is None and store.render("render-02bb") is None
    assert store.news("fetch-news-03cc") == NEWS
    assert store.prune(cutoff) == 0


@pytest.fixture
def s3_store(moto_endpoint):
    client = s3_admin_client(moto_endpoint)
    bucket = f"segments-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, SegmentStore(S3BlobStore(client, bucket))


def test_s3_round_trip(s3_store):
    client, bucket, store = s3_store
    round_trip(store)
    assert store.name == f"s3:{bucket}/segments"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["segments/fetch-news-abc123.json", "segments/fetch-news-empty0.json",
                    "segments/render-0123abcd.json", "segments/render-0123abcd.mp3",
                    "segments/render-feedbeef.json", "segments/story-0123abcd.json"]
    # Private: no public-read grant on the pieces.
    grants = client.get_object_acl(Bucket=bucket, Key="segments/story-0123abcd.json")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)


def test_s3_prune_by_age_only_under_its_prefix(s3_store):
    client, bucket, store = s3_store
    store.put_segment("story-01aa", SEGMENT)
    store.put_render("render-02bb", rendered("render-02bb"))
    client.put_object(Bucket=bucket, Key="briefs/ana/daily/2026-01-01.mp3", Body=b"audio")  # not the store's
    first = max(client.head_object(Bucket=bucket, Key=k)["LastModified"]
                for k in ("segments/story-01aa.json", "segments/render-02bb.mp3", "segments/render-02bb.json"))
    # S3 times are to the second: the later piece is written in a later second.
    while dt.datetime.now(dt.UTC).replace(microsecond=0) <= first:
        time.sleep(0.05)
    time.sleep(1.0)
    store.put_news("fetch-news-03cc", NEWS)
    later = client.head_object(Bucket=bucket, Key="segments/fetch-news-03cc.json")["LastModified"]
    assert later > first
    assert store.prune(first - dt.timedelta(hours=1)) == 0
    assert store.prune(first + (later - first) / 2) == 3
    assert store.segment("story-01aa") is None and store.render("render-02bb") is None
    assert store.news("fetch-news-03cc") == NEWS
    assert sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "briefs/ana/daily/2026-01-01.mp3", "segments/fetch-news-03cc.json"]
    assert store.prune(later + dt.timedelta(seconds=1)) == 1
    assert store.news("fetch-news-03cc") is None
