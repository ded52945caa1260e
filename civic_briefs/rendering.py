"""Rendering a segment to MP3: split into parts, render each, join at frame level."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from civic_briefs.audio import AudioError, check_whole_mp3, join_mp3, mp3_info, split_into_parts
from civic_briefs.models import RenderedSegment, Segment, Usage
from civic_briefs.providers.base import ProviderError, SpeechRenderer

MAX_PART_CHARS = 2000
# Continuity hints the speech API accepts (at most three previous request ids).
MAX_PREVIOUS_IDS = 3


def render_segment(
    renderer: SpeechRenderer,
    segment: Segment,
    slot: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
) -> RenderedSegment:
    """Render ``segment`` part by part (each <= 2,000 characters, split at line boundaries).

    Consecutive parts pass the previous parts' request ids for continuity. ``slot`` is entered
    around each provider request (a concurrency limit), not while the renderer waits to retry.
    Each part must be a whole MP3 (every frame complete): one that is not raises a retryable
    ``ProviderError``, as an empty reply does, so the segment is made again rather than the brief
    failing for good. Raises ``AudioError`` if the parts cannot be joined (different formats).
    """
    parts = split_into_parts(segment.lines, max_chars=MAX_PART_CHARS)
    mp3_parts: list[bytes] = []
    request_ids: list[str] = []
    usage = Usage()
    for number, part in enumerate(parts, start=1):
        result = renderer.render_part([(line.speaker, line.text) for line in part], request_ids[-MAX_PREVIOUS_IDS:], slot)
        _check_part(renderer, result.mp3, number, len(parts))
        mp3_parts.append(result.mp3)
        usage += result.usage
        if result.request_id:
            request_ids.append(result.request_id)
    mp3 = join_mp3(mp3_parts)
    return RenderedSegment(
        key=segment.key, mp3=mp3, duration_seconds=mp3_info(mp3).duration_seconds,
        parts=len(parts), usage=usage, request_ids=request_ids,
    )


def _check_part(renderer: SpeechRenderer, mp3: bytes, number: int, total: int) -> None:
    """Refuse a part that does not decode whole: the join would drop its cut-off end silently."""
    try:
        check_whole_mp3(mp3)
    except AudioError as err:
        raise ProviderError(f"{renderer.name} returned part {number} of {total} that is not a whole MP3: {err}",
                            retryable=True) from err
