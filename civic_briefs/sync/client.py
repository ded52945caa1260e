"""HTTP to govinfo: GET with retries on what passes (429, 5xx, a cut or timed-out connection) and a
clear, named error for what does not (404 and other 4xx, a body over the cap)."""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from civic_briefs.billstatus import MAX_FILE_BYTES

log = logging.getLogger(__name__)
USER_AGENT = "civic-briefs-sync (+https://github.com/civic-briefs)"


class FetchError(RuntimeError):
    """A GET that did not give a whole body: ``permanent`` when trying again cannot help."""

    def __init__(self, name: str, reason: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason, self.permanent, self.retry_after = name, reason, permanent, retry_after


class GovinfoClient:
    """GETs below ``base_url`` on one keep-alive connection pool; ``requests`` counts every try."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, retries: int = 4, retry_wait: float = 2.0,
                 max_retry_wait: float = 60.0, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.retries, self.retry_wait, self.max_retry_wait = retries, retry_wait, max_retry_wait
        self.requests = 0
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"User-Agent": USER_AGENT}, follow_redirects=True)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> GovinfoClient:
        return cls(settings.govinfo_base_url, timeout=settings.sync_timeout_seconds, retries=settings.sync_retries,
                   retry_wait=settings.sync_retry_wait_seconds, max_retry_wait=settings.sync_max_retry_wait_seconds,
                   **kwargs)

    def __enter__(self) -> GovinfoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, name: str | None = None) -> bytes:
        """The body at ``path`` (below the base URL). Raises ``FetchError`` naming ``name``."""
        name = name or path.rsplit("/", 1)[-1]

        def waiting(state: RetryCallState) -> float:
            backoff = wait_exponential_jitter(multiplier=self.retry_wait, max=self.max_retry_wait,
                                              jitter=self.retry_wait)(state)
            error = state.outcome.exception() if state.outcome else None
            asked = getattr(error, "retry_after", None)
            return max(backoff, min(asked, self.max_retry_wait)) if asked is not None else backoff

        def warn(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("GET %s failed (try %d of %d): %s; retrying", path, state.attempt_number, self.retries + 1,
                        getattr(error, "reason", error))

        retrying = Retrying(stop=stop_after_attempt(self.retries + 1), wait=waiting, before_sleep=warn, reraise=True,
                            retry=retry_if_exception(lambda e: isinstance(e, FetchError) and not e.permanent))
        return retrying(self._get_once, path, name)

    def _get_once(self, path: str, name: str) -> bytes:
        self.requests += 1
        try:
            with self._http.stream("GET", path) as response:
                if response.status_code != 200:
                    raise _status_error(name, response)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_FILE_BYTES:
                        raise FetchError(name, f"the body is over {MAX_FILE_BYTES:,} bytes, the cap", permanent=True)
                return bytes(body)
        except httpx.TransportError as exc:
            # A cut download (fewer bytes than Content-Length) is h11's RemoteProtocolError, a transport error.
            raise FetchError(name, f"{type(exc).__name__}: {exc or 'no detail'}", permanent=False) from exc


def _status_error(name: str, response: httpx.Response) -> FetchError:
    status = response.status_code
    reason = f"HTTP {status} {response.reason_phrase}".rstrip()
    if status == 429 or status >= 500 or status == 408:
        return FetchError(name, reason, permanent=False, retry_after=_retry_after(response.headers.get("retry-after")))
    return FetchError(name, reason, permanent=True)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
