"""ElevenLabs speech renderer: two-host dialogue to MP3 with Text to Dialogue (``elevenlabs`` SDK).

``render_part(lines, previous_request_ids)`` sends one ``POST /v1/text-to-dialogue/with-timestamps``
through ``client.text_to_dialogue.with_raw_response.convert_with_timestamps(...)``: ``lines`` are
``(speaker, text)`` pairs, speaker "A" speaking with ``settings.voice_host_a`` and "B" with
``settings.voice_host_b``, each text with the pronunciation lexicon's respellings in place of the
words it lists (``civic_briefs.lexicon``: "Kowalski" is sent as "kuh-WALL-skee"); at most the last
three ``previous_request_ids`` are sent for continuity. It returns a ``RenderedPartResult`` with
the MP3 bytes (the reply's base64 audio), the ``request-id`` header, ``Usage(characters=<character-cost
header>, requests=1, dollars=characters / 1000 * settings.elevenlabs_price_per_1k_chars)`` and
per line (start, end) seconds from the reply's ``voice_segments`` (each names its
``dialogue_input_index``). The service's times are on its own audio's timeline, which the MP3's
decoder delay (about 25 ms) shifts slightly; a reply without voice segments has its line times
estimated in proportion to each line's characters.

The SDK does not retry the audio endpoints, so this module does:

* HTTP 429 (``detail.status`` ``too_many_concurrent_requests`` or ``system_busy``): wait with
  exponential backoff and jitter (``backoff_initial`` doubling up to ``backoff_max`` seconds, or the
  server's ``retry-after`` if longer, still capped) and retry, ``busy_attempts`` attempts in all;
* HTTP 5xx, 408, dropped connections (``httpx.RemoteProtocolError``) and other transport errors:
  retry, ``error_attempts`` attempts in all;
* then ``ProviderError(retryable=True)``.

Any other 4xx (``voice_not_found``, bad key, quota, invalid request) raises
``PermanentProviderError`` at once. A 200 whose body is not the JSON expected, or whose audio is
empty, is not MP3, or is not a whole MP3 (a frame cut off or damaged: see ``audio.check_whole_mp3``)
raises ``ProviderError(retryable=True)`` without retrying here (it may have been billed): the
caller's retry makes the part again. The SDK's own retries are turned off for this request (it
would retry a 429 on its own clock, outside the concurrency slot).

At most ``settings.elevenlabs_concurrency`` requests run at once per base URL in this process.
"""

from __future__ import annotations

import base64
import binascii
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

from civic_briefs import lexicon
from civic_briefs.audio import AudioError, check_whole_mp3
from civic_briefs.models import Usage
from civic_briefs.providers.base import PermanentProviderError, ProviderError, RenderedPartResult
from civic_briefs.settings import Settings

log = logging.getLogger(__name__)

# Bumped when the sound changes for the same text, voices, model and format (v2: lexicon respellings,
# timed lines), so stored renders are not reused.
RENDER_VERSION = 2

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
                 timeout: float = 240.0, max_part_chars: int = 2000, sleep: Callable[[float], None] = time.sleep,
                 words: lexicon.Lexicon | None = None):
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
        self.lexicon = words or lexicon.default()
        self.limit = "elevenlabs"
        self.name = (f"elevenlabs-v{RENDER_VERSION}:{settings.elevenlabs_model}:{settings.voice_host_a}:"
                     f"{settings.voice_host_b}:{settings.elevenlabs_output_format}:lexicon-{self.lexicon.version}")

    def render_part(self, lines: list[tuple[str, str]], previous_request_ids: list[str],
                    slot: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext) -> RenderedPartResult:
        inputs, sent = self._inputs(lines)
        busy = errors = 0
        while True:
            try:
                # The slot is held for the request only: a 429's back-off leaves it to others.
                with slot():
                    result = self._attempt(inputs, previous_request_ids)
                break
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
        mp3, request_id, usage, spans = result
        return RenderedPartResult(mp3=mp3, request_id=request_id, usage=usage,
                                  line_times=_line_times(sent, inputs, spans, check_whole_mp3(mp3).duration_seconds))

    def _inputs(self, lines: list[tuple[str, str]]) -> tuple[list[DialogueInput], list[int | None]]:
        """The inputs to send, and per line the index of its input (None: a blank line, not sent)."""
        inputs, sent = [], []
        for speaker, text in lines:
            if speaker not in self._voices:
                raise PermanentProviderError(f"unknown speaker {speaker!r}; expected 'A' or 'B'")
            if text.strip():
                sent.append(len(inputs))
                inputs.append(DialogueInput(text=self.lexicon.for_elevenlabs(text.strip()), voice_id=self._voices[speaker]))
            else:
                sent.append(None)
        total = sum(len(i.text) for i in inputs)
        if not inputs:
            raise PermanentProviderError("nothing to render: every line is empty")
        if total > self.max_part_chars:
            raise PermanentProviderError(f"part has {total} characters; split it to at most {self.max_part_chars}")
        return inputs, sent

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait

    def _attempt(self, inputs: list[DialogueInput], previous_request_ids: list[str]
                 ) -> tuple[bytes, str | None, Usage, dict[int, tuple[float, float]]]:
        options: dict[str, Any] = {"inputs": inputs, "model_id": self.settings.elevenlabs_model,
                                   "output_format": self.settings.elevenlabs_output_format,
                                   "request_options": {"max_retries": 0}}
        if previous_request_ids:
            options["previous_request_ids"] = list(previous_request_ids)[-3:]
        with self._slots:
            try:
                response = self._client.text_to_dialogue.with_raw_response.convert_with_timestamps(**options)
                headers = {k.lower(): v for k, v in response.headers.items()}
                reply = response.data
            except (ApiError, ParsingError) as err:  # non-2xx, or a 2xx body that is not JSON
                raise self._classify(err) from err
            except httpx.TransportError as err:  # RemoteProtocolError (dropped mid-body), timeouts, resets
                raise _Retry(f"connection failed ({type(err).__name__})", busy=False) from err
        request_id = headers.get("request-id")
        try:
            mp3 = base64.b64decode(getattr(reply, "audio_base_64", None) or "", validate=True)
        except (binascii.Error, ValueError, TypeError) as err:
            raise ProviderError(f"ElevenLabs returned audio that is not base64 (request-id {request_id})",
                                retryable=True) from err
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
        return mp3, request_id, self._usage(headers, inputs), _spans(getattr(reply, "voice_segments", None) or [])

    def _classify(self, err: ApiError | ParsingError) -> Exception:
        status = err.status_code or 0
        code, message = _detail(err.body)
        headers = {k.lower(): v for k, v in (err.headers or {}).items()}
        text = f"HTTP {status} {code}: {message}".strip()
        if 200 <= status < 300:  # a reply that may have been billed: not retried here
            return ProviderError(f"ElevenLabs returned a body that is not the JSON expected (HTTP {status})",
                                 retryable=True)
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


def _spans(voice_segments: list[Any]) -> dict[int, tuple[float, float]]:
    """Per dialogue input index, the (first start, last end) of its voice segments, in seconds."""
    spans: dict[int, tuple[float, float]] = {}
    for seg in voice_segments:
        try:
            index, start, end = int(seg.dialogue_input_index), float(seg.start_time_seconds), float(seg.end_time_seconds)
        except (AttributeError, TypeError, ValueError):
            continue
        low, high = spans.get(index, (start, end))
        spans[index] = (min(low, start), max(high, end))
    return spans


def _line_times(sent: list[int | None], inputs: list[DialogueInput], spans: dict[int, tuple[float, float]],
                seconds: float) -> list[tuple[float, float]]:
    """Per line, (start, end) seconds in the part's audio: from the service's voice segments when
    every input has one, else in proportion to the characters of each input over ``seconds`` (an
    estimate). A blank line, never sent, gets a zero-length time where the previous line ended."""
    if not all(i in spans for i in range(len(inputs))):
        total = sum(len(i.text) for i in inputs) or 1
        at, spans = 0.0, {}
        for index, item in enumerate(inputs):
            length = seconds * len(item.text) / total
            spans[index] = (at, at + length)
            at += length
    times, last = [], 0.0
    for index in sent:
        start, end = spans[index] if index is not None else (last, last)
        start, end = max(0.0, min(start, seconds)), max(0.0, min(end, seconds))
        times.append((start, max(start, end)))
        last = max(last, end)
    return times
