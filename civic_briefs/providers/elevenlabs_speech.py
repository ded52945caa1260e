"""ElevenLabs speech renderer: two-host dialogue to MP3 with Text to Dialogue (``elevenlabs`` SDK).

``render_part(lines, previous_request_ids)`` sends one ``POST /v1/text-to-dialogue`` through
``client.text_to_dialogue.with_raw_response.convert(...)``: ``lines`` are ``(speaker, text)`` pairs,
speaker "A" speaking with ``settings.voice_host_a`` and "B" with ``settings.voice_host_b``; at most
the last three ``previous_request_ids`` are sent for continuity. It returns a ``RenderedPartResult``
with the MP3 bytes, the ``request-id`` header, and ``Usage(characters=<character-cost header>,
requests=1, dollars=characters / 1000 * settings.elevenlabs_price_per_1k_chars)``.

The SDK does not retry the audio endpoints, so this module does:

* HTTP 429 (``detail.status`` ``too_many_concurrent_requests`` or ``system_busy``): wait with
  exponential backoff and jitter (``backoff_initial`` doubling up to ``backoff_max`` seconds, or the
  server's ``retry-after`` if longer, still capped) and retry, ``busy_attempts`` attempts in all;
* HTTP 5xx, 408, dropped connections (``httpx.RemoteProtocolError``) and other transport errors:
  retry, ``error_attempts`` attempts in all;
* then ``ProviderError(retryable=True)``.

Any other 4xx (``voice_not_found``, bad key, quota, invalid request) raises
``PermanentProviderError`` at once. A 200 whose body is empty, is not MP3, or is not a whole MP3
(a frame cut off or damaged: see ``audio.check_whole_mp3``) raises ``ProviderError(retryable=True)``
without retrying here (it may have been billed): the caller's retry makes the part again.

At most ``settings.elevenlabs_concurrency`` requests run at once per base URL in this process.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import httpx
from elevenlabs import DialogueInput
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.parse_error import ParsingError

from civic_briefs.audio import AudioError, check_whole_mp3
from civic_briefs.models import Usage
from civic_briefs.providers.base import PermanentProviderError, ProviderError, RenderedPartResult
from civic_briefs.settings import Settings

log = logging.getLogger(__name__)

_SLOTS: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _slots_for(base_url: str, size: int) -> threading.BoundedSemaphore:
    """One semaphore per account endpoint, shared by every renderer in the process."""
    with _SLOTS_LOCK:
        return _SLOTS.setdefault((base_url, size), threading.BoundedSemaphore(max(1, size)))


def looks_like_mp3(data: bytes) -> bool:
    """True when ``data`` starts with an MPEG audio frame header, optionally after an ID3v2 tag."""
    offset = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        offset = 10 + size + (10 if data[5] & 0x10 else 0)
    header = data[offset:offset + 4]
    return (
        len(header) == 4 and header[0] == 0xFF and header[1] & 0xE0 == 0xE0
        and (header[1] >> 3) & 3 != 1          # MPEG version not reserved
        and (header[1] >> 1) & 3 != 0          # layer not reserved
        and header[2] >> 4 != 0xF              # bitrate index valid
        and (header[2] >> 2) & 3 != 3          # sample-rate index valid
    )


class _Retry(Exception):
    """An attempt failed in a way worth retrying (internal)."""

    def __init__(self, message: str, *, busy: bool, retry_after: float | None = None):
        super().__init__(message)
        self.busy = busy
        self.retry_after = retry_after


def _detail(body: Any) -> tuple[str, str]:
    """``(status, message)`` from an ElevenLabs error body ``{"detail": {"status", "message"}}``."""
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return str(detail.get("status") or detail.get("code") or ""), str(detail.get("message") or "")
    if isinstance(detail, list):  # 422 validation errors
        return "invalid_request", "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return "", str(detail or "")[:300]


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ElevenLabsSpeech:
    """Implements ``SpeechRenderer``; see the module docstring. ``name`` holds model, voices and format."""

    def __init__(self, settings: Settings, *, client: ElevenLabs | None = None, busy_attempts: int = 8,
                 error_attempts: int = 3, backoff_initial: float = 1.0, backoff_max: float = 30.0,
                 timeout: float = 240.0, max_part_chars: int = 2000, sleep: Callable[[float], None] = time.sleep):
        if not settings.elevenlabs_output_format.startswith("mp3_"):
            raise PermanentProviderError(f"output format {settings.elevenlabs_output_format!r} is not MP3")
        if client is None:
            key = settings.elevenlabs_api_key.get_secret_value() if settings.elevenlabs_api_key else ""
            if not key:
                raise PermanentProviderError("ElevenLabs renderer needs BRIEFS_ELEVENLABS_API_KEY")
            client = ElevenLabs(api_key=key, base_url=settings.elevenlabs_base_url, timeout=timeout)
        self._client = client
        self.settings = settings
        self._voices = {"A": settings.voice_host_a, "B": settings.voice_host_b}
        self._slots = _slots_for(settings.elevenlabs_base_url or "production", settings.elevenlabs_concurrency)
        self.busy_attempts, self.error_attempts = max(1, busy_attempts), max(1, error_attempts)
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.max_part_chars = max_part_chars
        self._sleep = sleep
        self.limit = "elevenlabs"
        self.name = (f"elevenlabs:{settings.elevenlabs_model}:{settings.voice_host_a}:{settings.voice_host_b}:"
                     f"{settings.elevenlabs_output_format}")

    def render_part(self, lines: list[tuple[str, str]], previous_request_ids: list[str],
                    slot: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext) -> RenderedPartResult:
        inputs = self._inputs(lines)
        busy = errors = 0
        while True:
            try:
                # The slot is held for the request only: a 429's back-off leaves it to others.
                with slot():
                    return self._attempt(inputs, previous_request_ids)
            except _Retry as err:
                if err.busy:
                    busy += 1
                    exhausted, count, limit = busy >= self.busy_attempts, busy, self.busy_attempts
                else:
                    errors += 1
                    exhausted, count, limit = errors >= self.error_attempts, errors, self.error_attempts
                if exhausted:
                    raise ProviderError(f"ElevenLabs: {err} ({count} of {limit} attempts)", retryable=True) from err
                wait = self._backoff(count, err.retry_after)
                log.info("ElevenLabs: %s; retrying in %.2fs (attempt %d of %d)", err, wait, count, limit)
                self._sleep(wait)

    def _inputs(self, lines: list[tuple[str, str]]) -> list[DialogueInput]:
        inputs = []
        for speaker, text in lines:
            if speaker not in self._voices:
                raise PermanentProviderError(f"unknown speaker {speaker!r}; expected 'A' or 'B'")
            if text.strip():
                inputs.append(DialogueInput(text=text.strip(), voice_id=self._voices[speaker]))
        total = sum(len(i.text) for i in inputs)
        if not inputs:
            raise PermanentProviderError("nothing to render: every line is empty")
        if total > self.max_part_chars:
            raise PermanentProviderError(f"part has {total} characters; split it to at most {self.max_part_chars}")
        return inputs

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait

    def _attempt(self, inputs: list[DialogueInput], previous_request_ids: list[str]) -> RenderedPartResult:
        options: dict[str, Any] = {"inputs": inputs, "model_id": self.settings.elevenlabs_model,
                                   "output_format": self.settings.elevenlabs_output_format}
        if previous_request_ids:
            options["previous_request_ids"] = list(previous_request_ids)[-3:]
        with self._slots:
            try:
                with self._client.text_to_dialogue.with_raw_response.convert(**options) as response:
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    mp3 = b"".join(response.data)
            except (ApiError, ParsingError) as err:  # non-2xx: ParsingError only for odd 422 bodies
                raise self._classify(err) from err
            except httpx.TransportError as err:  # RemoteProtocolError (dropped mid-body), timeouts, resets
                raise _Retry(f"connection failed ({type(err).__name__})", busy=False) from err
        request_id = headers.get("request-id")
        if not mp3:
            raise ProviderError(f"ElevenLabs returned an empty body (request-id {request_id})", retryable=True)
        if not looks_like_mp3(mp3):
            raise ProviderError(f"ElevenLabs returned {len(mp3)} bytes that are not MP3 (request-id {request_id})",
                                retryable=True)
        try:
            # A reply cut short still starts like an MP3; only walking every frame tells.
            check_whole_mp3(mp3)
        except AudioError as err:
            raise ProviderError(f"ElevenLabs returned an MP3 cut short or damaged ({len(mp3)} bytes, request-id "
                                f"{request_id}): {err}", retryable=True) from err
        return RenderedPartResult(mp3=mp3, request_id=request_id, usage=self._usage(headers, inputs))

    def _classify(self, err: ApiError | ParsingError) -> Exception:
        status = err.status_code or 0
        code, message = _detail(err.body)
        headers = {k.lower(): v for k, v in (err.headers or {}).items()}
        text = f"HTTP {status} {code}: {message}".strip()
        if status == 429:
            return _Retry(text, busy=True, retry_after=_seconds(headers.get("retry-after")))
        if status >= 500 or status in (0, 408):
            return _Retry(text, busy=False)
        return PermanentProviderError(f"ElevenLabs refused the request: {text}")

    def _usage(self, headers: dict[str, str], inputs: list[DialogueInput]) -> Usage:
        try:
            characters = int(float(headers["character-cost"]))
        except (KeyError, ValueError):
            characters = sum(len(i.text) for i in inputs)
            log.warning("ElevenLabs reply had no character-cost header; counting %d characters", characters)
        dollars = Decimal(characters) * self.settings.elevenlabs_price_per_1k_chars / Decimal(1000)
        return Usage(characters=characters, requests=1, dollars=dollars)
