"""Where published MP3 files go: a local folder or S3-compatible object storage (Vultr).

Both implement ``AudioStorage`` (``providers/base.py``): ``put(key, data, content_type) -> url`` and
``delete(key)``. Keys come from ``safe_key``; both stores also re-check the key they are given, so a
key built some other way cannot escape the folder/prefix either.

Key shape: ``{prefix}/{user_id}/{brief_type}/{YYYY-MM-DD}-{version}.mp3``, e.g.
``briefs/u-123/daily/2025-06-02-3f2a9c1e0b7d.mp3``: the version is a hash of the MP3's bytes, so an
object never changes once written and a brief made again is a new object (``civic_briefs.publishing``).
Its chapters and transcript sit beside it under the same name with another ending
(``KEY_SUFFIXES``: ``.chapters.json``, ``.transcript.json``, ``.vtt``), each stored with its content
type (``CONTENT_TYPES``).

User ids allowed in a key (decided here, used by both stores):

* 1 to 128 characters;
* ASCII letters, digits, ``-``, ``_`` and ``.``;
* the first character is a letter or a digit (no leading ``.``, ``-`` or ``_``), and the last
  is not ``.`` (Windows drops trailing dots, which would make two ids share a file).

Everything else is refused with ``ValueError`` naming the id: ``/``, ``\\``, ``..`` as a path,
``:`` (``repo.brief_id`` uses it as a separator), whitespace, control characters, non-ASCII
(look-alike ids), and ``@``. AWS lists ``@`` among key characters that "might require special
handling" (it must be encoded in some URL positions), and ids here are slugs, not e-mails; a
project that keys users by e-mail should map them to a slug first. Ids differing only in case are
distinct keys on S3 but the same file on case-insensitive file systems (macOS, Windows).

``S3Storage`` is built on ``prefect-aws`` (``AwsCredentials`` + ``S3Bucket``) as the project brief
asks; it does not need a Prefect run context or API server, and it is safe to call from sync code
inside or outside a flow or task, including from a thread that runs an event loop (see ``put``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args
from urllib.parse import quote, urlsplit

from civic_briefs.models import BriefType
from civic_briefs.providers.base import PermanentProviderError, ProviderError

if TYPE_CHECKING:
    from civic_briefs.settings import Settings

log = logging.getLogger(__name__)

MAX_USER_ID_LENGTH = 128
_USER_ID_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_-])?")
_PREFIX_SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]+")
_VERSION_RE = re.compile(r"[0-9a-f]{8,64}")
_BRIEF_TYPES: tuple[str, ...] = get_args(BriefType)
# The endings a brief's objects may have, and the Content-Type each is served with. Podcasting 2.0
# asks for application/json+chapters for JSON chapters.
CONTENT_TYPES: dict[str, str] = {
    ".mp3": "audio/mpeg",
    ".chapters.json": "application/json+chapters",
    ".transcript.json": "application/json",
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    # The listener's files (civic_briefs.feed, civic_briefs.player_page): a brief's web player page
    # beside its MP3, each user's podcast feed and the feeds' cover art.
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml",
    ".png": "image/png",
}
# Feeds live under this folder of the prefix, named by their owner's secret token: a key there is
# never logged whole (``loggable_key``).
FEEDS_FOLDER = "feeds"
KEY_SUFFIXES: tuple[str, ...] = tuple(CONTENT_TYPES)
# Characters left as-is when a key is put into a URL (everything safe_key can produce).
_URL_SAFE = "/-_.~"

# HTTP statuses after which retrying the same upload cannot help.
_PERMANENT_STATUSES = {400, 401, 403, 404, 405, 411, 413}
# ...except these, which are transient whatever their status.
_RETRYABLE_CODES = {"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "OperationAborted"}
_PERMANENT_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "InvalidBucketName",
    "NoSuchBucket",
    "SignatureDoesNotMatch",
    "AccessControlListNotSupported",
    "InvalidArgument",
    "InvalidRequest",
}


def _show(value: object, limit: int = 60) -> str:
    """``repr`` of a value for an error message, shortened when absurdly long."""
    text = repr(value)
    if len(text) > limit:
        size = f" ({len(value)} chars)" if isinstance(value, str) else ""
        return f"{text[:limit]}...{size}"
    return text


class UnsafeKeyError(ValueError):
    """A user id, prefix or key that could escape its place in storage; bad input, never retried."""


def check_user_id(user_id: str) -> None:
    """Raise UnsafeKeyError unless ``user_id`` can name a storage key (see ``safe_key``)."""
    _check_user_id(user_id)


def _check_user_id(user_id: str) -> None:
    if not isinstance(user_id, str):
        raise TypeError(f"user id must be a str, got {type(user_id).__name__}: {_show(user_id)}")
    if not user_id:
        raise UnsafeKeyError("Unsafe user id '': it is empty")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise UnsafeKeyError(
            f"Unsafe user id {_show(user_id)}: longer than {MAX_USER_ID_LENGTH} characters"
        )
    if not _USER_ID_RE.fullmatch(user_id):
        raise UnsafeKeyError(
            f"Unsafe user id {_show(user_id)}: use 1-{MAX_USER_ID_LENGTH} ASCII letters, digits, "
            "'-', '_' or '.', starting with a letter or digit and not ending with '.'"
        )


def _normalize_prefix(prefix: str) -> str:
    """``prefix`` without surrounding slashes; ``""`` for no prefix. ``ValueError`` when unsafe."""
    if not isinstance(prefix, str):
        raise TypeError(f"key prefix must be a str, got {type(prefix).__name__}")
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    for segment in stripped.split("/"):
        if segment in ("", ".", "..") or not _PREFIX_SEGMENT_RE.fullmatch(segment):
            raise UnsafeKeyError(
                f"Unsafe key prefix {_show(prefix)}: use '/'-separated parts of ASCII letters, "
                "digits, '-', '_' or '.', with no empty, '.' or '..' parts"
            )
    return stripped


def safe_key(prefix: str, user_id: str, brief_type: BriefType, brief_date: dt.date, version: str | None = None,
             suffix: str = ".mp3") -> str:
    """The storage key of one brief: ``{prefix}/{user_id}/{brief_type}/{YYYY-MM-DD}-{version}.mp3``
    (``{YYYY-MM-DD}.mp3`` without a version; ``version`` is 8-64 lowercase hex digits). ``suffix``
    names a file beside the MP3 instead: one of ``KEY_SUFFIXES``.

    ``prefix`` may be ``""`` (no prefix) and may contain ``/``; surrounding slashes are dropped.
    ``brief_date`` must be a ``datetime.date`` (a ``datetime`` is refused: which day it is depends on
    a time zone the caller must pick).

    Raises ``ValueError`` naming the id when ``user_id`` could escape the prefix or is otherwise
    outside the allowed set (see the module docstring), ``ValueError`` for an unsafe prefix or an
    unknown brief type, and ``TypeError`` for values of the wrong type.
    """
    _check_user_id(user_id)
    if brief_type not in _BRIEF_TYPES:
        raise ValueError(f"Unknown brief type {_show(brief_type)}: expected one of {_BRIEF_TYPES}")
    if not isinstance(brief_date, dt.date) or isinstance(brief_date, dt.datetime):
        raise TypeError(f"brief_date must be a datetime.date, got {type(brief_date).__name__}")
    if version is not None and (not isinstance(version, str) or not _VERSION_RE.fullmatch(version)):
        raise ValueError(f"Bad object version {_show(version)}: expected 8-64 lowercase hex digits")
    if suffix not in KEY_SUFFIXES:
        raise ValueError(f"Unknown key ending {_show(suffix)}: expected one of {KEY_SUFFIXES}")
    name = brief_date.isoformat() + (f"-{version}" if version else "")
    parts = [_normalize_prefix(prefix), user_id, brief_type, f"{name}{suffix}"]
    return "/".join(p for p in parts if p)


def sibling_key(mp3_key: str, suffix: str) -> str:
    """The key of the file ending in ``suffix`` (one of ``KEY_SUFFIXES``) beside the MP3 ``mp3_key``:
    what ``safe_key`` gives for the same brief and version with that ``suffix``."""
    _check_key(mp3_key)
    if not mp3_key.endswith(".mp3"):
        raise UnsafeKeyError(f"Not an MP3 key: {_show(mp3_key)}")
    if suffix not in KEY_SUFFIXES:
        raise ValueError(f"Unknown key ending {_show(suffix)}: expected one of {KEY_SUFFIXES}")
    return mp3_key.removesuffix(".mp3") + suffix


def loggable_key(key: str) -> str:
    """``key`` as logs and error messages may show it: a feed's name (its owner's token) hidden."""
    parts = key.split("/")
    if len(parts) >= 2 and parts[-2] == FEEDS_FOLDER and parts[-1].endswith(".xml"):
        return "/".join([*parts[:-1], "***.xml"])
    return key


def _check_content_type(content_type: str) -> str:
    if content_type not in CONTENT_TYPES.values():
        raise ValueError(f"Unknown content type {_show(content_type)}: expected one of {sorted(CONTENT_TYPES.values())}")
    return content_type


def _check_key(key: str) -> list[str]:
    """The '/'-separated parts of a relative storage key; ``ValueError`` naming it when unsafe."""
    if not isinstance(key, str):
        raise TypeError(f"storage key must be a str, got {type(key).__name__}")
    problem = None
    if not key:
        problem = "it is empty"
    elif key.startswith("/"):
        problem = "it is absolute"
    elif "\\" in key:
        problem = "it contains a backslash"
    elif any(ord(c) < 32 or ord(c) == 127 for c in key):
        problem = "it contains control characters"
    elif len(key) > 1024:
        problem = "it is longer than 1024 characters"
    if problem is None:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            problem = "it has an empty, '.' or '..' part"
        else:
            return parts
    raise UnsafeKeyError(f"Unsafe storage key {_show(key)}: {problem}")


def _as_bytes(data: bytes, content_type: str = "audio/mpeg") -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    body = bytes(data)
    if not body:
        raise ValueError("Refusing to store an empty MP3" if content_type == "audio/mpeg"
                         else f"Refusing to store an empty {content_type} file")
    return body


def _join_url(base: str, key: str) -> str:
    return base.rstrip("/") + "/" + quote(key, safe=_URL_SAFE)


class LocalStorage:
    """Stores MP3 files under ``folder``; the default store, for development and single hosts.

    ``name`` is ``local:<absolute folder>``. ``put`` returns a ``file://`` URI, or
    ``public_base_url`` + ``/`` + key when a web server publishes the folder.
    """

    def __init__(self, folder: str | os.PathLike[str], public_base_url: str | None = None):
        self.folder = Path(folder).expanduser().resolve()
        self.public_base_url = public_base_url or None
        self.name = f"local:{self.folder}"

    def __repr__(self) -> str:
        return f"LocalStorage(folder={str(self.folder)!r}, public_base_url={self.public_base_url!r})"

    def _target(self, key: str) -> Path:
        parts = _check_key(key)
        target = self.folder.joinpath(*parts)
        resolved = target.resolve()
        if resolved == self.folder or not resolved.is_relative_to(self.folder):
            raise UnsafeKeyError(f"Unsafe storage key {_show(key)}: it resolves outside {self.folder}")
        return target

    def url_for(self, key: str) -> str:
        """The URL ``put`` returns for ``key``."""
        target = self._target(key)
        if self.public_base_url:
            return _join_url(self.public_base_url, key)
        return target.resolve().as_uri()

    def put(self, key: str, data: bytes, content_type: str = "audio/mpeg", cache_control: str | None = None) -> str:
        """Write ``data`` to ``folder/key`` atomically and return its URL. ``content_type`` (one of
        ``CONTENT_TYPES``) is checked only: a web server serving the folder goes by the key's ending,
        and sets its own caching (``cache_control`` is for object stores).

        The bytes go to a temporary file in the same directory, are flushed to disk and then
        moved into place with ``os.replace``: a reader sees the old file or the whole new one,
        never a partial write. The file is made world-readable (0644) so a web server can serve it.

        Raises ``ValueError`` naming the key when it is absolute, has ``..``/empty parts, a
        backslash or control characters, or resolves (through symlinks) outside the folder;
        ``ValueError`` for empty data or an unknown content type; ``OSError`` when writing fails
        (no partial file is left).
        """
        body = _as_bytes(data, _check_content_type(content_type))
        target = self._target(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A symlink may have appeared between the check and mkdir: check again once it exists.
        target = self._target(key)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
        log.info("Stored %d bytes at %s", len(body), self.folder / loggable_key(key))
        return self.url_for(key)

    def delete(self, key: str) -> None:
        """Remove ``folder/key``; nothing to do when it is not there."""
        self._target(key).unlink(missing_ok=True)


def _classify(error: BaseException, action: str, bucket: str, key: str) -> ProviderError:
    """Turn a boto3/botocore error into a ``ProviderError`` (permanent for 4xx auth/bucket errors)."""
    from botocore.exceptions import ClientError

    client_error = error
    if not isinstance(client_error, ClientError):
        # boto3 wraps transfer ClientErrors in S3UploadFailedError (raised inside `except`).
        client_error = error.__cause__ or error.__context__  # type: ignore[assignment]
    message = f"S3 {action} of s3://{bucket}/{loggable_key(key)} failed: {error}"
    if isinstance(client_error, ClientError):
        info = client_error.response.get("Error", {})
        code = str(info.get("Code", ""))
        status = client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code not in _RETRYABLE_CODES and (code in _PERMANENT_CODES or status in _PERMANENT_STATUSES):
            return PermanentProviderError(message)
    return ProviderError(message, retryable=True)


class S3Storage:
    """Stores MP3 files in an S3-compatible bucket (Vultr Object Storage) via ``prefect-aws``.

    Built from ``Settings``: ``s3_bucket`` (required), ``s3_endpoint_url`` (e.g.
    ``https://ewr1.vultrobjects.com``; ``None`` means AWS itself), ``s3_region``,
    ``s3_access_key_id`` + ``s3_secret_access_key`` (both required: the boto3 default credential
    chain is deliberately not consulted), ``s3_prefix`` (used by callers with ``safe_key``),
    ``s3_addressing_style``, ``s3_public_read``, ``s3_cache_control`` and ``cdn_base_url``.

    ``name`` is ``s3:<bucket>``. Neither ``name`` nor ``repr`` carries a credential; nothing here
    logs one.

    Raises ``ValueError`` at construction for missing bucket/credentials or a malformed endpoint.
    """

    def __init__(self, settings: Settings):
        from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

        if not settings.s3_bucket:
            raise ValueError("S3 storage needs a bucket: set BRIEFS_S3_BUCKET")
        key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
        if key_id is None or secret is None or not key_id.get_secret_value() or not secret.get_secret_value():
            raise ValueError(
                "S3 storage needs credentials: set both BRIEFS_S3_ACCESS_KEY_ID and BRIEFS_S3_SECRET_ACCESS_KEY"
            )
        endpoint = settings.s3_endpoint_url.rstrip("/") if settings.s3_endpoint_url else None
        if endpoint is not None:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(
                    f"BRIEFS_S3_ENDPOINT_URL must look like https://ewr1.vultrobjects.com, got {endpoint!r}"
                )

        self.bucket = settings.s3_bucket
        self.endpoint_url = endpoint
        self.region = settings.s3_region
        self.prefix = settings.s3_prefix
        self.addressing_style = settings.s3_addressing_style
        self.public_read = settings.s3_public_read
        self.cache_control = settings.s3_cache_control
        self.cdn_base_url = settings.cdn_base_url or None
        self.name = f"s3:{self.bucket}"

        # botocore Config options as a dict: AwsClientParameters stores `config` as a dict (a Config
        # object is turned into its user-provided options) and builds Config(**config) per client.
        client_config: dict[str, Any] = {
            "s3": {"addressing_style": self.addressing_style},
            # boto3 >= 1.36 adds CRC checksums by default; several S3-compatible stores reject
            # them or store them wrongly. Only send/validate checksums the operation requires.
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "retries": {"mode": "standard", "max_attempts": 5},
            "connect_timeout": 10,
            "read_timeout": 60,
        }
        self._credentials = AwsCredentials(
            aws_access_key_id=key_id.get_secret_value(),
            aws_secret_access_key=secret,
            region_name=self.region,
            aws_client_parameters=AwsClientParameters(endpoint_url=endpoint, config=client_config),
        )
        self._bucket = S3Bucket(bucket_name=self.bucket, credentials=self._credentials)

    def __repr__(self) -> str:
        return (
            f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r}, "
            f"addressing_style={self.addressing_style!r}, cdn_base_url={self.cdn_base_url!r})"
        )

    def client(self) -> Any:
        """The boto3 S3 client ``put`` uses (cached by prefect-aws per credentials/config)."""
        return self._credentials.get_s3_client()

    def url_for(self, key: str) -> str:
        """The public URL of ``key``.

        ``cdn_base_url`` + ``/`` + key when a CDN is set; otherwise from the endpoint:
        path style ``{endpoint}/{bucket}/{key}``, virtual-host style ``{scheme}://{bucket}.{host}/{key}``
        (the endpoint's scheme, https for Vultr). Without an endpoint, AWS's regional host is used.
        The URL only works for anonymous readers when the object is public (``s3_public_read``).
        """
        _check_key(key)
        if self.cdn_base_url:
            return _join_url(self.cdn_base_url, key)
        endpoint = self.endpoint_url or f"https://s3.{self.region}.amazonaws.com"
        if self.addressing_style == "virtual":
            parts = urlsplit(endpoint)
            return _join_url(f"{parts.scheme}://{self.bucket}.{parts.netloc}", key)
        return _join_url(f"{endpoint}/{quote(self.bucket, safe='')}", key)

    def put(self, key: str, data: bytes, content_type: str = "audio/mpeg", cache_control: str | None = None) -> str:
        """Upload ``data`` to ``key`` and return its public URL.

        Sent with ``ContentType: content_type`` (one of ``CONTENT_TYPES``), ``CacheControl:
        cache_control``, by default ``s3_cache_control`` (an MP3 and its side files are versioned, so
        never change: a feed, which changes, passes a short one) and, when
        ``s3_public_read``, ``ACL: public-read``. After the upload a ``HeadObject`` checks the stored
        size equals ``len(data)``.

        The prefect-aws call is forced synchronous (``_sync=True``): its methods are
        ``@async_dispatch`` and would otherwise return an un-awaited coroutine when called from
        an async flow/task or from any thread with a running event loop.

        Raises ``ValueError`` for an unsafe key, empty data or an unknown content type;
        ``PermanentProviderError`` when the
        store refuses (no such bucket, access denied, bad signature, ACLs not supported);
        ``ProviderError`` (retryable) for network errors, 5xx/throttling and a size mismatch.
        """
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        _check_key(key)
        body = _as_bytes(data, _check_content_type(content_type))
        extra_args = {"ContentType": content_type, "CacheControl": cache_control or self.cache_control}
        if self.public_read:
            extra_args["ACL"] = "public-read"
        try:
            # The block's own client, not its upload_from_file_object: that logs the key at INFO, and a
            # feed's key holds its listener's private token.
            self.client().put_object(Bucket=self.bucket, Key=key, Body=body, **extra_args)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise _classify(exc, "upload", self.bucket, key) from exc
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _classify(exc, "check (HeadObject)", self.bucket, key) from exc
        stored = head.get("ContentLength")
        if stored != len(body):
            raise ProviderError(
                f"S3 upload of s3://{self.bucket}/{loggable_key(key)} stored {stored} bytes, expected {len(body)}",
                retryable=True,
            )
        log.info("Uploaded %d bytes to s3://%s/%s", len(body), self.bucket, loggable_key(key))
        return self.url_for(key)

    def delete(self, key: str) -> None:
        """Remove the object ``key``; S3 answers a missing key with success too."""
        from botocore.exceptions import BotoCoreError, ClientError

        _check_key(key)
        try:
            self.client().delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _classify(exc, "delete", self.bucket, key) from exc
