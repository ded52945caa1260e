"""A logging filter that masks URL paths, queries and passwords in every record a handler writes.

The Prefect server sends failed-run alerts itself, through a notification block whose URL is a
secret (a Slack or Teams webhook's path *is* its token). When the webhook answers 4xx/5xx, httpx
raises an error whose text holds that URL, Prefect does not catch it (it is not a
NotificationError) and the server's message consumer logs it with its traceback, on every retry.
Prefect has no redaction setting, so deployments/logging.yml puts this filter on every handler of
the server that deployments/serve.sh starts. The failure still shows, its URL as
``scheme://host:port/***``, so an operator sees that an alert could not be sent and where to.

No prefect import: the server imports this module while it configures logging.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"
# scheme://[userinfo@]host[:port] then an optional path, query or fragment, up to whitespace or a
# quote (an error text puts the URL between quotes).
_URL = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<authority>[^/?#\s'\"<>]*)"
                  r"(?P<rest>[^\s'\"<>]*)")
# Env vars whose value is a secret URL: masked wherever it shows, even outside a URL form.
SECRET_URL_VARS = ("BRIEFS_ALERT_WEBHOOK_URL",)


def _netloc(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
    except ValueError:
        return ""


def _mask_url(match: re.Match[str], keep: frozenset[str]) -> str:
    scheme, authority, rest = match.group("scheme", "authority", "rest")
    userinfo, at, hostport = authority.rpartition("@")
    if at:  # user:password@ - a database URL's password
        authority = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}" if ":" in userinfo else f"{MASK}@{hostport}"
    if hostport.lower() in keep or rest in ("", "/"):
        return scheme + authority + rest
    return f"{scheme}{authority}/{MASK}"


class UrlMasker:
    """Masks the path, query and password of every URL in a text, except URLs of ``keep_origins``
    (the server's own API: its links say nothing secret), and every ``secrets`` string."""

    def __init__(self, keep_origins: Iterable[str] = (), secrets: Iterable[str] = ()):
        self.keep = frozenset(n.lower() for n in map(_netloc, keep_origins) if n)
        self.secrets = self._secret_parts(secrets)

    def _secret_parts(self, secrets: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """(text, its replacement) for each secret URL and its path-and-query (a token can show
        without its host); the whole URL first."""
        parts: dict[str, str] = {}
        for secret in filter(None, secrets):
            _, _, after_scheme = secret.partition("://")
            tail = after_scheme[after_scheme.find("/"):] if "/" in after_scheme else ""
            if len(tail) > 1:
                parts[tail] = f"/{MASK}"
            parts[secret] = _URL.sub(lambda m: _mask_url(m, frozenset()), secret)
        return tuple(sorted(parts.items(), key=lambda item: len(item[0]), reverse=True))

    def __call__(self, text: str) -> str:
        for secret, replacement in self.secrets:
            text = text.replace(secret, replacement)
        return _URL.sub(lambda m: _mask_url(m, self.keep), text)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> UrlMasker:
        env = os.environ if environ is None else environ
        return cls(keep_origins=[env.get("PREFECT_API_URL", ""), env.get("PREFECT_UI_URL", "")],
                   secrets=[env.get(name, "") for name in SECRET_URL_VARS])


class MaskUrlsFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack so that no URL path, query or password
    is written; never drops a record. A record with nothing to mask is left as it came (uvicorn's
    access formatter, for one, reads ``record.args``)."""

    def __init__(self, name: str = "", masker: UrlMasker | None = None, *, every_record: bool = False):
        super().__init__(name)
        self.mask = masker or UrlMasker.from_environment()
        if every_record:
            mask_every_record(self)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format: logging would print its args raw
            message = f"{record.msg} {record.args!r}"
            record.msg, record.args = message, None
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = self.mask(text)
            if record.exc_text != text:
                # A formatter that renders exc_info itself (Prefect's JSON one) would print the
                # URL again: the masked exc_text stands in for it.
                record.exc_info = None
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def mask_every_record(masking: MaskUrlsFilter) -> None:
    """Mask each record as it is made, whatever handler writes it: uvicorn.run configures its own
    handlers (for the uvicorn loggers) after Prefect has read logging.yml, so a filter there does
    not reach them."""
    base = logging.getLogRecordFactory()
    if getattr(base, "masks_urls", False):
        return

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        masking.filter(record)
        return record

    make_record.masks_urls = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
