"""Where the day's made pieces are kept: fetched news, written segments and rendered segments,
each under its content key (``civic_briefs.keys``).

Anything found here is never paid for again: a day that is run again after a crash, an ad-hoc
brief after the day, or a second worker all take it from here. The store is a local folder by
default; with ``BRIEFS_STORAGE=s3`` it is the same bucket (under ``segments/``, private), so every
worker on every machine sees the same pieces. Entries older than ``BRIEFS_SEGMENT_RETENTION_DAYS``
are pruned by each day's run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from pydantic import TypeAdapter

from civic_briefs.models import NewsItem, RenderedSegment, Segment, Usage

log = logging.getLogger(__name__)

_NEWS = TypeAdapter(list[NewsItem])


class BlobStore(Protocol):
    """Bytes under keys (``[a-z0-9-]`` names with a suffix)."""

    name: str

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...

    def prune(self, older_than: dt.datetime) -> int:
        """Delete entries last written before ``older_than``; return how many."""
        ...


def _check(key: str) -> str:
    stem, _, suffix = key.partition(".")
    if not stem or not all(c.isalnum() or c == "-" for c in stem) or suffix not in ("json", "mp3"):
        raise ValueError(f"not a segment store key: {key!r}")
    return key


class LocalBlobStore:
    """A folder, written atomically (a reader sees a whole file or none)."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder).expanduser().resolve()
        self.name = f"local:{self.folder}"

    def _path(self, key: str) -> Path:
        kind, _, digest = _check(key).split(".")[0].rpartition("-")
        return self.folder / kind / digest[:2] / key

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def prune(self, older_than: dt.datetime) -> int:
        cutoff = older_than.timestamp()
        removed = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.rglob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class S3BlobStore:
    """Objects under ``{prefix}/`` in the briefs' bucket, private (no public-read ACL)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "segments"):
        self._client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.name = f"s3:{bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_check(key)}"

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def prune(self, older_than: dt.datetime) -> int:
        removed = 0
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/"):
            old = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["LastModified"] < older_than]
            for start in range(0, len(old), 1000):
                self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": old[start:start + 1000]})
            removed += len(old)
        return removed


class SegmentStore:
    """Typed access to the pieces of briefs in a ``BlobStore``."""

    def __init__(self, blobs: BlobStore):
        self.blobs = blobs
        self.name = blobs.name

    def news(self, key: str) -> list[NewsItem] | None:
        data = self.blobs.get(f"{key}.json")
        return _NEWS.validate_json(data) if data is not None else None

    def put_news(self, key: str, items: list[NewsItem]) -> None:
        self.blobs.put(f"{key}.json", _NEWS.dump_json(items))

    def segment(self, key: str) -> Segment | None:
        data = self.blobs.get(f"{key}.json")
        return Segment.model_validate_json(data) if data is not None else None

    def put_segment(self, key: str, segment: Segment) -> None:
        self.blobs.put(f"{key}.json", segment.model_dump_json().encode())

    def render(self, key: str) -> RenderedSegment | None:
        # The metadata is written after the MP3, so its presence means the MP3 is whole.
        meta = self.blobs.get(f"{key}.json")
        if meta is None:
            return None
        mp3 = self.blobs.get(f"{key}.mp3")
        if mp3 is None:
            return None
        return _RenderMeta.model_validate_json(meta).with_mp3(key, mp3)

    def put_render(self, key: str, rendered: RenderedSegment) -> None:
        self.blobs.put(f"{key}.mp3", rendered.mp3)
        meta = _RenderMeta(**rendered.model_dump(exclude={"key", "mp3"}))
        self.blobs.put(f"{key}.json", meta.model_dump_json().encode())

    def prune(self, older_than: dt.datetime) -> int:
        removed = self.blobs.prune(older_than)
        log.info("Pruned %d entries older than %s from the segment store %s", removed, older_than, self.name)
        return removed


class _RenderMeta(RenderedSegment):
    """A rendered segment without its MP3 (stored beside it)."""

    key: str = ""
    mp3: bytes = b""

    def with_mp3(self, key: str, mp3: bytes) -> RenderedSegment:
        # Fields missing from older metadata (line offsets, mastering) load as their defaults.
        return RenderedSegment(**{**self.model_dump(exclude={"key", "mp3", "usage"}), "key": key, "mp3": mp3,
                                  "usage": self.usage or Usage()})
