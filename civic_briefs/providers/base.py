"""The four provider interfaces. Implementations know nothing of Prefect."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from civic_briefs.models import Bill, BriefType, NewsItem, RepresentativeMention, Section, Segment, Usage, User


class ProviderError(Exception):
    """A provider failed. ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class PermanentProviderError(ProviderError):
    """Bad input or a refusal (HTTP 400/401/403/404, unknown voice): retrying cannot help."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class ScriptValidationError(ProviderError):
    """A written script broke a rule (cut off, names an unknown bill, too short) on every attempt
    the writer made. Not retried again by the task: the writer already spent its bounded attempts."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message, retryable=retryable)


@runtime_checkable
class ScriptWriter(Protocol):
    """Writes the segments of a brief as two-host dialogue.

    ``name`` identifies the writer and its model in cache keys (e.g. ``offline-v1`` or
    ``claude:claude-sonnet-5-5``). ``limit`` names the Prefect global concurrency limit its
    requests take (``anthropic``), None for one that calls no service.
    """

    name: str
    limit: str | None

    def write_story(self, bill: Bill, section: Section, brief_date: dt.date, brief_type: BriefType) -> Segment:
        """One bill's story segment; depends on nothing about any user."""
        ...

    def write_news(self, interest: str, items: list[NewsItem], brief_date: dt.date, brief_type: BriefType) -> Segment:
        """One interest's news segment, shared by every user with that interest."""
        ...

    def write_opening(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date, brief_type: BriefType,
                      mentions: Sequence[RepresentativeMention] = ()) -> Segment:
        """The personal opening: greets the user by first name; carries headline and title; names
        the user's own members of Congress who sponsor or cosponsor one of its bills (``mentions``)."""
        ...

    def write_close(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date, brief_type: BriefType) -> Segment:
        """The personal close: AI disclosure and sign-off."""
        ...


class RenderedPart(Protocol):
    mp3: bytes
    request_id: str | None
    usage: Usage


@runtime_checkable
class SpeechRenderer(Protocol):
    """Turns a list of (speaker, text) lines into MP3 bytes.

    ``name`` identifies voices/model/format for cache keys; ``limit`` as for ``ScriptWriter``.
    """

    name: str
    limit: str | None

    def render_part(self, lines: list[tuple[str, str]], previous_request_ids: list[str],
                    slot: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext) -> "RenderedPartResult":
        """Render at most ~2,000 characters of dialogue. ``lines`` are (speaker "A"/"B", text).

        ``slot`` is entered around each request to the service (a concurrency limit shared by all
        workers), and not held while waiting to retry."""
        ...


class RenderedPartResult:
    """MP3 bytes of one rendered part, with the provider's request id and cost.

    ``line_times``: per line given to ``render_part``, (start, end) seconds from the start of the
    decoded MP3; None when the renderer cannot tell (the caller then estimates them)."""

    __slots__ = ("mp3", "request_id", "usage", "line_times")

    def __init__(self, mp3: bytes, request_id: str | None = None, usage: Usage | None = None,
                 line_times: list[tuple[float, float]] | None = None):
        self.mp3 = mp3
        self.request_id = request_id
        self.usage = usage or Usage()
        self.line_times = line_times


@runtime_checkable
class NewsSource(Protocol):
    name: str
    limit: str | None

    def fetch(self, interest: str, brief_date: dt.date) -> list[NewsItem]:
        """Recent news for one interest; an empty list when there is none."""
        ...


@runtime_checkable
class AudioStorage(Protocol):
    name: str

    def put(self, key: str, data: bytes, content_type: str = "audio/mpeg", cache_control: str | None = None) -> str:
        """Store ``data`` under ``key`` (``{prefix}/{user}/{type}/{date}-{version}.mp3``, or a file
        beside it: ``storage.KEY_SUFFIXES``) with ``content_type`` (``storage.CONTENT_TYPES``);
        return its URL. ``cache_control``: for an object that changes (a feed), instead of the
        store's default for versioned objects."""
        ...

    def url_for(self, key: str) -> str:
        """The URL ``put`` returns for ``key`` (a feed names its own URL before it is uploaded)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under ``key``; no error when there is none."""
        ...
