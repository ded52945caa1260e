"""Rendering a segment to MP3 (split into parts, render each, join at frame level), and joining a
brief's rendered segments into one mastered MP3 with the times of every segment and line."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from civic_briefs import mastering
from civic_briefs.audio import (
    LAME_DELAY_SAMPLES,
    AudioError,
    check_whole_mp3,
    join_mp3,
    mp3_info,
    nearest_bitrate,
    split_into_indexed_parts,
)
from civic_briefs.models import BriefAudio, Line, RenderedSegment, Segment, Usage
from civic_briefs.providers.base import ProviderError, RenderedPartResult, SpeechRenderer

MAX_PART_CHARS = 2000
# Continuity hints the speech API accepts (at most three previous request ids).
MAX_PREVIOUS_IDS = 3
# Silence between two segments of a brief: clearly longer than the 0.35 s between two lines, so a
# listener hears one story end before the next begins.
SEGMENT_PAUSE_SECONDS = 1.0
# A segment's own silence at either end is cut to this before the pause goes in, so the pause is
# the same whatever the renderer left there.
EDGE_SECONDS = 0.02
_SILENT = 10 ** (-50 / 20)  # below -50 dBFS counts as silence at a segment's edges
# The shortest time a transcript line is given (a line with nothing to say, such as "[laughs]").
MIN_LINE_SECONDS = 0.01


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

    ``line_offsets`` hold, per line of ``segment``, its (start, end) seconds in the joined MP3:
    each part's times (from the renderer, else estimated from characters) moved by the length of
    the parts before it, which the frame-level join keeps exactly.
    """
    parts = split_into_indexed_parts(segment.lines, max_chars=MAX_PART_CHARS)
    mp3_parts: list[bytes] = []
    request_ids: list[str] = []
    usage = Usage()
    spans: dict[int, tuple[float, float]] = {}
    at = 0.0
    for number, part in enumerate(parts, start=1):
        lines = [line for _, line in part]
        result = renderer.render_part([(line.speaker, line.text) for line in lines], request_ids[-MAX_PREVIOUS_IDS:], slot)
        seconds = _check_part(renderer, result.mp3, number, len(parts))
        for (index, _), (start, end) in zip(part, _part_times(result, lines, seconds)):
            low, high = spans.get(index, (at + start, at + end))
            spans[index] = (min(low, at + start), max(high, at + end))
        at += seconds
        mp3_parts.append(result.mp3)
        usage += result.usage
        if result.request_id:
            request_ids.append(result.request_id)
    mp3 = join_mp3(mp3_parts)
    return RenderedSegment(
        key=segment.key, mp3=mp3, duration_seconds=mp3_info(mp3).duration_seconds,
        parts=len(parts), usage=usage, request_ids=request_ids, line_offsets=_every_line(spans, len(segment.lines)),
    )


def _part_times(result: RenderedPartResult, lines: list[Line], seconds: float) -> list[tuple[float, float]]:
    """The renderer's line times, or (when it gives none, or not one per line) an estimate: the
    part's length shared out in proportion to each line's characters."""
    times = getattr(result, "line_times", None)
    if times is not None and len(times) == len(lines):
        return [(float(start), float(end)) for start, end in times]
    total = sum(len(line.text) for line in lines) or 1
    estimated, at = [], 0.0
    for line in lines:
        length = seconds * len(line.text) / total
        estimated.append((at, at + length))
        at += length
    return estimated


def _every_line(spans: dict[int, tuple[float, float]], count: int) -> list[tuple[float, float]]:
    """A time for each of ``count`` lines: a blank line (never rendered) where the one before ended."""
    times, last = [], 0.0
    for index in range(count):
        start, end = spans.get(index, (last, last))
        times.append((start, end))
        last = max(last, end)
    return times


def _check_part(renderer: SpeechRenderer, mp3: bytes, number: int, total: int) -> float:
    """Refuse a part that does not decode whole (the join would drop its cut-off end silently);
    return its length in seconds."""
    try:
        return check_whole_mp3(mp3).duration_seconds
    except AudioError as err:
        raise ProviderError(f"{renderer.name} returned part {number} of {total} that is not a whole MP3: {err}",
                            retryable=True) from err


# --------------------------------------------------------------------------- the brief


def _speech_bounds(samples: np.ndarray, rate: int) -> tuple[int, int]:
    """Frames ``[start, stop)`` of ``samples`` without their silent ends (``EDGE_SECONDS`` kept)."""
    loud = np.flatnonzero(np.abs(samples).max(axis=1) > _SILENT)
    if not loud.size:
        return 0, samples.shape[0]
    edge = round(EDGE_SECONDS * rate)
    return max(0, int(loud[0]) - edge), min(samples.shape[0], int(loud[-1]) + 1 + edge)


@dataclass(frozen=True)
class SegmentAudio:
    """One rendered segment as the join takes it: its MP3, its line offsets (seconds in that MP3,
    see ``RenderedSegment.line_offsets``) and how many lines the script segment has."""

    mp3: bytes
    line_offsets: list[tuple[float, float]]
    lines: int


def join_brief(segments: list[SegmentAudio], pause_seconds: float = SEGMENT_PAUSE_SECONDS) -> BriefAudio:
    """Join a brief's rendered segments into one mastered MP3, measured.

    Each segment is decoded, its silent ends cut to ``EDGE_SECONDS``, and ``pause_seconds`` of
    silence put between segments; the whole is mastered to -16 LUFS and -1 dBTP true peak
    (``civic_briefs.mastering``) and encoded once, at the segments' sample rate and channels and
    (about) their bitrate, with an Info header so its duration reads exactly. Loudness and peak
    are measured on the encoded file. Times are seconds from the file's start, on the decoded
    timeline (which begins with LAME's delay): ``segment_starts`` / ``segment_ends`` where each
    segment's sound begins and ends (the last ends at the file's end), and ``line_times`` per
    segment per line, from its line offsets, kept inside its segment, increasing, each at least
    ``MIN_LINE_SECONDS`` long. A segment stored without line offsets (or not one per line) gets its
    lines' times shared out evenly over it. Raises AudioError when there is nothing to join, the segments differ in
    sample rate or channels, or the audio is silent.
    """
    if not segments:
        raise AudioError("no segments to join")
    decoded = [mastering.decode_mp3(segment.mp3) for segment in segments]
    rate, channels = decoded[0].sample_rate, decoded[0].channels
    for index, pcm in enumerate(decoded):
        if (pcm.sample_rate, pcm.channels) != (rate, channels):
            raise AudioError(f"segment {index} is {pcm.sample_rate} Hz/{pcm.channels} ch, "
                             f"segment 0 is {rate} Hz/{channels} ch")
    bitrate = nearest_bitrate(rate, mp3_info(segments[0].mp3).bitrate_kbps)
    pause = np.zeros((round(pause_seconds * rate), channels), dtype=np.float32)
    pieces, bounds, trims, at = [], [], [], 0
    for index, pcm in enumerate(decoded):
        start, stop = _speech_bounds(pcm.samples, rate)
        if index:
            pieces.append(pause)
            at += pause.shape[0]
        pieces.append(pcm.samples[start:stop])
        bounds.append((at, at + stop - start))
        trims.append(start)
        at += stop - start
    mastered = mastering.master_to_mp3(np.concatenate(pieces), rate, bitrate)
    mp3 = join_mp3([mastered.mp3])  # the Info header: players and mutagen read the exact length
    duration = mp3_info(mp3).duration_seconds

    def seconds(frame: int) -> float:
        return (frame + LAME_DELAY_SAMPLES) / rate

    starts = [seconds(low) for low, _ in bounds]
    ends = [seconds(high) for _, high in bounds[:-1]] + [duration]
    line_times = [_placed_lines(_offsets_for(segment), trim / rate, start, end)
                  for segment, trim, start, end in zip(segments, trims, starts, ends)]
    return BriefAudio(mp3=mp3, duration_seconds=duration, sample_rate=rate, bitrate_kbps=bitrate,
                      loudness_lufs=round(mastered.loudness.lufs, 2),
                      true_peak_dbtp=round(mastered.loudness.true_peak_dbtp, 2),
                      segment_starts=starts, segment_ends=ends, line_times=line_times)


def _offsets_for(segment: SegmentAudio) -> list[tuple[float, float]]:
    if len(segment.line_offsets) == segment.lines:
        return segment.line_offsets
    seconds = check_whole_mp3(segment.mp3).duration_seconds
    step = seconds / max(1, segment.lines)
    return [(n * step, (n + 1) * step) for n in range(segment.lines)]


def _placed_lines(offsets: list[tuple[float, float]], trimmed: float, start: float, end: float
                  ) -> list[tuple[float, float]]:
    """A segment's line offsets (seconds in its own MP3) as seconds in the brief, within
    ``[start, end]``, each line starting no earlier than the one before and lasting at least
    ``MIN_LINE_SECONDS``."""
    placed, last = [], start
    for low, high in offsets:
        low = min(max(start + low - trimmed, last), end - MIN_LINE_SECONDS)
        high = min(max(start + high - trimmed, low + MIN_LINE_SECONDS), end)
        placed.append((low, high))
        last = low
    return placed
