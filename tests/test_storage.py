"""Tests for civic_briefs.providers.storage: safe_key, LocalStorage and S3Storage (against moto)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import urllib.request
import uuid
from pathlib import Path

import pytest

from civic_briefs.providers.base import AudioStorage, PermanentProviderError
from civic_briefs.providers.storage import CONTENT_TYPES, LocalStorage, S3Storage, UnsafeKeyError, safe_key, sibling_key
from civic_briefs.settings import Settings
from tests.conftest import s3_admin_client

DAY = dt.date(2025, 6, 2)
# An "MP3-ish" blob: an ID3v2 header, an MPEG-1 Layer III frame header, then filler.
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + os.urandom(5000)

ACCESS_KEY = "AKIATESTKEYID0000000"
SECRET_KEY = "dummy-secret-never-logged-7f3a"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


# --- safe_key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    ["alice", "u-123", "user_42", "A1", "7", "first.last", "x" * 128, "a_", "a-"],
)
def test_safe_key_accepts_normal_ids(user_id: str) -> None:
    assert safe_key("briefs", user_id, "daily", DAY) == f"briefs/{user_id}/daily/2025-06-02.mp3"


def test_safe_key_shapes() -> None:
    assert safe_key("briefs", "u1", "weekly", dt.date(2025, 1, 5)) == "briefs/u1/weekly/2025-01-05.mp3"
    assert safe_key("/briefs/", "u1", "daily", DAY) == "briefs/u1/daily/2025-06-02.mp3"
    assert safe_key("env/prod", "u1", "daily", DAY) == "env/prod/u1/daily/2025-06-02.mp3"
    assert safe_key("", "u1", "daily", DAY) == "u1/daily/2025-06-02.mp3"


@pytest.mark.parametrize(
    "user_id",
    [
        "../x",
        "..",
        ".",
        "a/b",
        "/abs",
        "a\\b",
        "..\\x",
        ".hidden",
        "",
        "-flag",
        "_x",
        "trailing.",
        "a b",
        "a\x00b",
        "a\nb",
        "tab\t",
        "del\x7f",
        "a@b.com",
        "a:b",
        "caf\u00e9",
        "x" * 129,
        "x" * 10_000,
    ],
)
def test_safe_key_rejects_unsafe_ids(user_id: str) -> None:
    with pytest.raises(ValueError, match="Unsafe user id") as info:
        safe_key("briefs", user_id, "daily", DAY)
    # The message names the id (shortened when absurdly long).
    assert repr(user_id)[:40] in str(info.value)


def test_safe_key_rejects_bad_prefix_type_and_date() -> None:
    for prefix in ("../up", "a/../b", "a//b", "a b", "a\\b"):
        with pytest.raises(ValueError, match="Unsafe key prefix"):
            safe_key(prefix, "u1", "daily", DAY)
    with pytest.raises(ValueError, match="Unknown brief type"):
        safe_key("briefs", "u1", "monthly", DAY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        safe_key("briefs", "u1", "daily", dt.datetime(2025, 6, 2, 12, 0))
    with pytest.raises(TypeError):
        safe_key("briefs", "u1", "daily", "2025-06-02")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        safe_key("briefs", None, "daily", DAY)  # type: ignore[arg-type]


# --- LocalStorage -----------------------------------------------------------------------------


def test_local_storage_writes_bytes_and_returns_file_uri(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "audio")
    assert isinstance(store, AudioStorage)
    assert store.name == f"local:{(tmp_path / 'audio').resolve()}"
    key = safe_key("briefs", "u-1", "daily", DAY)

    url = store.put(key, MP3)

    path = tmp_path / "audio" / "briefs" / "u-1" / "daily" / "2025-06-02.mp3"
    assert path.read_bytes() == MP3
    assert url == path.resolve().as_uri()
    assert url.startswith("file:///")
    assert (path.stat().st_mode & 0o777) == 0o644
    # Only the final file: the temporary file was moved into place, not left behind.
    assert [p.name for p in path.parent.iterdir()] == ["2025-06-02.mp3"]


def test_local_storage_overwrites_and_uses_public_base_url(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, public_base_url="https://cdn.example.org/audio/")
    key = safe_key("briefs", "u-1", "daily", DAY)
    store.put(key, b"old")
    url = store.put(key, MP3)
    assert url == "https://cdn.example.org/audio/briefs/u-1/daily/2025-06-02.mp3"
    assert (tmp_path / key).read_bytes() == MP3
    assert sorted(p.name for p in (tmp_path / key).parent.iterdir()) == ["2025-06-02.mp3"]


@pytest.mark.parametrize(
    "key",
    ["../escape.mp3", "a/../../escape.mp3", "/etc/escape.mp3", "a\\..\\b.mp3", "", "a//b.mp3", "./a.mp3", "a/\x00.mp3"],
)
def test_local_storage_rejects_escaping_keys(tmp_path: Path, key: str) -> None:
    folder = tmp_path / "audio"
    store = LocalStorage(folder)
    with pytest.raises(ValueError, match="Unsafe storage key"):
        store.put(key, MP3)
    assert not (tmp_path / "escape.mp3").exists()


def test_local_storage_rejects_symlink_escape(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    outside = tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "link").symlink_to(outside, target_is_directory=True)
    store = LocalStorage(folder)
    with pytest.raises(ValueError, match="resolves outside"):
        store.put("link/x.mp3", MP3)
    assert list(outside.iterdir()) == []


def test_local_storage_rejects_empty_mp3(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        LocalStorage(tmp_path).put("briefs/u/daily/2025-06-02.mp3", b"")


# --- S3Storage against moto -------------------------------------------------------------------


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"briefs-{uuid.uuid4().hex[:12]}"
    s3_admin_client(moto_endpoint).create_bucket(Bucket=name)
    return name


def _settings(**overrides) -> Settings:
    values = dict(
        storage="s3",
        s3_bucket="briefs-test",
        s3_endpoint_url=None,
        s3_region="us-east-1",
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_prefix="briefs",
        s3_addressing_style="path",
        s3_public_read=True,
        s3_cache_control="public, max-age=31536000, immutable",
        cdn_base_url=None,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_s3_upload_roundtrip_with_headers_acl_and_cdn_url(moto_endpoint: str, bucket: str, caplog) -> None:
    caplog.set_level(logging.INFO)
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint, cdn_base_url="https://cdn.example.org/"))
    assert isinstance(store, AudioStorage)
    assert store.name == f"s3:{bucket}"
    key = safe_key(store.prefix, "u-1", "daily", DAY)

    url = store.put(key, MP3)

    assert url == "https://cdn.example.org/briefs/u-1/daily/2025-06-02.mp3"
    admin = s3_admin_client(moto_endpoint)
    obj = admin.get_object(Bucket=bucket, Key=key)
    assert obj["Body"].read() == MP3
    assert obj["ContentType"] == "audio/mpeg"
    assert obj["CacheControl"] == "public, max-age=31536000, immutable"
    grants = admin.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    assert any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in grants), grants
    # No secret in name, repr or logs.
    for text in (store.name, repr(store), caplog.text):
        assert SECRET_KEY not in text
        assert ACCESS_KEY not in text


def test_s3_path_style_url_without_cdn_serves_the_object(moto_endpoint: str, bucket: str) -> None:
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint + "/"))
    key = safe_key("briefs", "u-2", "weekly", DAY)
    url = store.put(key, MP3)
    assert url == f"{moto_endpoint}/{bucket}/briefs/u-2/weekly/2025-06-02.mp3"
    with urllib.request.urlopen(url, timeout=10) as response:  # anonymous GET of the public URL
        assert response.read() == MP3


def test_s3_private_upload_has_no_public_grant(moto_endpoint: str, bucket: str) -> None:
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint, s3_public_read=False, s3_cache_control="no-cache"))
    key = safe_key("briefs", "u-3", "daily", DAY)
    store.put(key, MP3)
    admin = s3_admin_client(moto_endpoint)
    assert admin.head_object(Bucket=bucket, Key=key)["CacheControl"] == "no-cache"
    grants = admin.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    assert not any(g["Grantee"].get("URI") == ALL_USERS for g in grants), grants


def test_s3_multipart_sized_upload(moto_endpoint: str, bucket: str) -> None:
    """Above boto3's 8 MB multipart threshold (a long brief): still stored whole, with headers."""
    big = MP3 + os.urandom(9 * 1024 * 1024)
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint))
    key = safe_key("briefs", "u-4", "weekly", DAY)
    store.put(key, big)
    obj = s3_admin_client(moto_endpoint).get_object(Bucket=bucket, Key=key)
    assert obj["Body"].read() == big
    assert obj["ContentType"] == "audio/mpeg"


def test_s3_put_works_with_a_running_event_loop(moto_endpoint: str, bucket: str) -> None:
    """prefect-aws methods dispatch to their async variant when a loop runs; put forces sync."""
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint))
    key = safe_key("briefs", "u-5", "daily", DAY)

    async def call_from_async_code() -> str:
        return store.put(key, MP3)

    url = asyncio.run(call_from_async_code())
    assert url == f"{moto_endpoint}/{bucket}/{key}"
    assert s3_admin_client(moto_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read() == MP3


def test_s3_missing_bucket_is_permanent(moto_endpoint: str) -> None:
    store = S3Storage(_settings(s3_bucket=f"missing-{uuid.uuid4().hex[:8]}", s3_endpoint_url=moto_endpoint))
    with pytest.raises(PermanentProviderError) as info:
        store.put("briefs/u/daily/2025-06-02.mp3", MP3)
    assert SECRET_KEY not in str(info.value)


def test_s3_rejects_bad_keys_and_empty_body(moto_endpoint: str, bucket: str) -> None:
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint))
    for key in ("../x.mp3", "/abs.mp3", "a//b.mp3", ""):
        with pytest.raises(ValueError, match="Unsafe storage key"):
            store.put(key, MP3)
    with pytest.raises(ValueError, match="empty"):
        store.put("briefs/u/daily/2025-06-02.mp3", b"")


def test_s3_urls_by_addressing_style() -> None:
    key = "briefs/u-1/daily/2025-06-02.mp3"
    vultr = "https://ewr1.vultrobjects.com"
    path_style = S3Storage(_settings(s3_bucket="civic", s3_endpoint_url=vultr))
    assert path_style.url_for(key) == f"https://ewr1.vultrobjects.com/civic/{key}"
    virtual = S3Storage(_settings(s3_bucket="civic", s3_endpoint_url=vultr, s3_addressing_style="virtual"))
    assert virtual.url_for(key) == f"https://civic.ewr1.vultrobjects.com/{key}"
    cdn = S3Storage(_settings(s3_bucket="civic", s3_endpoint_url=vultr, cdn_base_url="https://audio.example.org"))
    assert cdn.url_for(key) == f"https://audio.example.org/{key}"


def test_s3_settings_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="BRIEFS_S3_BUCKET"):
        S3Storage(_settings(s3_bucket=None))
    with pytest.raises(ValueError, match="credentials"):
        S3Storage(_settings(s3_secret_access_key=None))
    with pytest.raises(ValueError, match="BRIEFS_S3_ENDPOINT_URL"):
        S3Storage(_settings(s3_endpoint_url="ewr1.vultrobjects.com"))


def test_s3_sends_no_default_checksums(moto_endpoint: str, bucket: str) -> None:
    """boto3 >= 1.36 would add CRC checksums that some S3-compatible stores reject; put sends none."""
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint))
    client = store.client()
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    sent: list[dict[str, str]] = []

    def record(request, **_: object) -> None:
        sent.append({k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()})

    client.meta.events.register("before-send.s3.PutObject", record)
    try:
        store.put(safe_key("briefs", "u-6", "daily", DAY), MP3)
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", record)
    assert len(sent) == 1
    assert not [h for h in sent[0] if "checksum" in h], sent[0]
    assert "aws-chunked" not in sent[0].get("content-encoding", "")
    assert sent[0]["x-amz-acl"] == "public-read"


# --- versions and deletes ----------------------------------------------------------------------

def test_safe_key_with_a_version_and_bad_versions() -> None:
    assert safe_key("briefs", "u1", "daily", DAY, version="0123abcd4567ef89") == "briefs/u1/daily/2025-06-02-0123abcd4567ef89.mp3"
    for version in ("", "ABCDEF12", "0123", "../etc/passwd", "g" * 16, 12345678):
        with pytest.raises(ValueError, match="object version"):
            safe_key("briefs", "u1", "daily", DAY, version=version)  # type: ignore[arg-type]


def test_local_storage_delete_removes_the_file_and_ignores_a_missing_one(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    key = safe_key("briefs", "u-1", "daily", DAY, version="0123abcd")
    store.put(key, MP3)
    store.delete(key)
    assert not (tmp_path / key).exists() and (tmp_path / "briefs/u-1/daily").is_dir()
    store.delete(key)  # already gone: nothing to do
    with pytest.raises(ValueError):
        store.delete("../outside.mp3")


def test_s3_delete_removes_the_object(moto_endpoint: str, bucket: str) -> None:
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint))
    keep, drop = (safe_key(store.prefix, "u-9", "daily", DAY, version=v) for v in ("aaaaaaaa", "bbbbbbbb"))
    store.put(keep, MP3)
    store.put(drop, MP3)
    store.delete(drop)
    store.delete(drop)
    admin = s3_admin_client(moto_endpoint)
    listed = [o["Key"] for o in admin.list_objects_v2(Bucket=bucket, Prefix="briefs/u-9/")["Contents"]]
    assert listed == [keep]


# --- files beside the MP3: endings and content types ---------------------------------------------

def test_safe_key_and_sibling_key_name_the_files_beside_an_mp3() -> None:
    mp3_key = safe_key("briefs", "u1", "daily", DAY, version="0123abcd")
    assert mp3_key == "briefs/u1/daily/2025-06-02-0123abcd.mp3"
    for suffix in (".chapters.json", ".transcript.json", ".vtt", ".srt"):
        key = safe_key("briefs", "u1", "daily", DAY, version="0123abcd", suffix=suffix)
        assert key == f"briefs/u1/daily/2025-06-02-0123abcd{suffix}" == sibling_key(mp3_key, suffix)
    for suffix in (".json", "mp3", ".vtt/../../x", "/.vtt", ".exe", ""):
        with pytest.raises(ValueError, match="Unknown key ending"):
            safe_key("briefs", "u1", "daily", DAY, version="0123abcd", suffix=suffix)
        with pytest.raises(ValueError, match="Unknown key ending"):
            sibling_key(mp3_key, suffix)
    # Only a safe MP3 key has siblings: the key checks still apply.
    for bad in ("briefs/u1/daily/2025-06-02.vtt", "../x.mp3", "/abs/x.mp3", "a//b.mp3"):
        with pytest.raises(UnsafeKeyError):
            sibling_key(bad, ".vtt")


def test_local_storage_stores_side_files_and_refuses_unknown_types(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, public_base_url="https://files.example.org")
    key = safe_key("briefs", "u-1", "daily", DAY, version="0123abcd", suffix=".vtt")
    assert store.put(key, b"WEBVTT\n", "text/vtt") == f"https://files.example.org/{key}"
    assert (tmp_path / key).read_bytes() == b"WEBVTT\n"
    with pytest.raises(ValueError, match="Unknown content type 'text/html'"):
        store.put(key, b"<script>", "text/html")
    with pytest.raises(ValueError, match="empty text/vtt file"):
        store.put(key, b"", "text/vtt")
    assert (tmp_path / key).read_bytes() == b"WEBVTT\n"


def test_s3_puts_each_file_with_its_content_type(moto_endpoint: str, bucket: str) -> None:
    store = S3Storage(_settings(s3_bucket=bucket, s3_endpoint_url=moto_endpoint, s3_cache_control="public, max-age=60"))
    admin = s3_admin_client(moto_endpoint)
    for suffix, content_type in CONTENT_TYPES.items():
        key = safe_key(store.prefix, "u-7", "daily", DAY, version="0123abcd", suffix=suffix)
        body = MP3 if suffix == ".mp3" else f"body of {suffix}".encode()
        assert store.put(key, body, content_type) == f"{moto_endpoint}/{bucket}/{key}"
        obj = admin.get_object(Bucket=bucket, Key=key)
        assert (obj["Body"].read(), obj["ContentType"], obj["CacheControl"]) == (body, content_type, "public, max-age=60")
    assert CONTENT_TYPES == {".mp3": "audio/mpeg", ".chapters.json": "application/json+chapters",
                             ".transcript.json": "application/json", ".vtt": "text/vtt", ".srt": "application/x-subrip",
                             ".html": "text/html; charset=utf-8", ".xml": "application/rss+xml", ".png": "image/png"}
    with pytest.raises(ValueError, match="Unknown content type"):
        store.put(safe_key(store.prefix, "u-7", "daily", DAY, suffix=".vtt"), b"x", "text/vtt\r\nX-Evil: 1")
    assert "u-7/daily/2025-06-02.vtt" not in str(admin.list_objects_v2(Bucket=bucket, Prefix="briefs/u-7/"))
