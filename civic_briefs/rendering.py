"""Rendering a segment to MP3 (split into parts, render each, join at frame level, master it once),
and joining a brief's mastered segments at frame level into one MP3, measured, with the times of
every segment and line.

Mastering is done per segment, when it is rendered: a shared story is rendered once a day and heard
in many briefs, so its decoding, loudness and limiting are paid for once. A brief is then its
segments' MP3 frames with frames of encoded silence between them, decoded once to be measured."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from civic_briefs import mastering
from civic_briefs.audio import (
    AudioError,
    Mp3Frames,
    check_whole_mp3,
    frames_of,
    join_frames,
    join_mp3,
    mp3_info,
    samples_per_frame,
    silence_mp3,
    split_into_indexed_parts,
)
from civic_briefs.mastering import Loudness
from civic_briefs.models import BriefAudio, Line, RenderedSegment, Segment, Usage
from civic_briefs.providers.base import ProviderError, RenderedPartResult, SpeechRenderer

MAX_PART_CHARS = 2000
# Continuity hints the speech API accepts (at most three previous request ids).
MAX_PREVIOUS_IDS = 3
# Silence between two segments of a brief: clearly longer than the 0.35 s between two lines, so a
# listener hears one story end before the next begins.
SEGMENT_PAUSE_SECONDS = 1.0
EDGE_SECONDS = mastering.EDGE_SECONDS
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
    joined = join_mp3(mp3_parts)
    mastered, line_offsets = master(joined, _every_line(spans, len(segment.lines)))
    mp3 = join_mp3([mastered.mp3])  # the Info header: its duration reads exactly
    return RenderedSegment(
        key=segment.key, mp3=mp3, duration_seconds=mp3_info(mp3).duration_seconds,
        parts=len(parts), usage=usage, request_ids=request_ids, line_offsets=line_offsets,
        loudness_lufs=round(mastered.loudness.lufs, 2), true_peak_dbtp=round(mastered.loudness.true_peak_dbtp, 2),
        sound_start=mastered.sound_start, sound_end=mastered.sound_end,
    )


def master(mp3: bytes, line_offsets: list[tuple[float, float]]
           ) -> tuple[mastering.MasteredSegment, list[tuple[float, float]]]:
    """A segment's MP3 mastered on its own (``mastering.master_segment``, at about its bitrate),
    and its line offsets moved onto the mastered MP3's timeline. Raises AudioError for silence."""
    mastered = mastering.master_segment(mp3, mp3_info(mp3).bitrate_kbps)
    shift = mastered.sound_start - mastered.trimmed_seconds
    return mastered, [(start + shift, end + shift) for start, end in line_offsets]


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


@dataclass(frozen=True)
class SegmentAudio:
    """One rendered segment as the join takes it: its MP3, its line offsets (seconds in that MP3,
    see ``RenderedSegment.line_offsets``), how many lines the script segment has, and, when it
    was mastered as it was rendered, where its sound lies in that MP3 (seconds) and its measured
    true peak (see ``RenderedSegment``). ``sound`` None: the join masters it first."""

    mp3: bytes
    line_offsets: list[tuple[float, float]]
    lines: int
    sound: tuple[float, float] | None = None
    true_peak_dbtp: float | None = None

    @classmethod
    def of(cls, rendered: RenderedSegment, lines: int) -> SegmentAudio:
        if not rendered.mastered:
            return cls(rendered.mp3, rendered.line_offsets, lines)
        return cls(rendered.mp3, rendered.line_offsets, lines, (rendered.sound_start, rendered.sound_end),
                   rendered.true_peak_dbtp)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Part:
    """A mastered segment ready to join: its audio frames, its sound and lines (seconds in it), its true peak."""

    audio: Mp3Frames
    sound: tuple[float, float]
    line_offsets: list[tuple[float, float]]
    lines: int
    true_peak_dbtp: float | None


@functools.lru_cache(maxsize=8)
def _silence(rate: int, channels: int, bitrate_kbps: int) -> Mp3Frames:
    """Encoded silence of one format, encoded once a process: each pause is its first frames."""
    return frames_of(silence_mp3(2 * SEGMENT_PAUSE_SECONDS + 0.5, rate, channels, bitrate_kbps))


# The brief's sample peak may pass its loudest segment's true peak by this much (the decoders'
# rounding) before its true peak is measured on the file rather than taken from its segments.
_PEAK_SLACK_DB = 0.05


def join_brief(segments: list[SegmentAudio], pause_seconds: float = SEGMENT_PAUSE_SECONDS) -> BriefAudio:
    """Join a brief's mastered segments at frame level into one MP3 and measure it.

    Between two segments go as many frames of encoded silence as make the silence from one
    segment's sound to the next's ``pause_seconds`` (to half an MP3 frame, 13 ms). A segment stored
    before segments were mastered is mastered here first (``master``). The joined file has an Info
    header so its duration reads exactly, and is decoded once (``mastering.measure_mp3``) for its
    integrated loudness and sample peak. Its true peak is its loudest segment's, measured on that
    segment's own file: the join re-encodes nothing and its pauses are digital silence, so it makes
    no new peak (tests/test_mastering.py proves it on the file); should the brief's sample peak
    ever pass that, the true peak is measured on the brief itself. Never published off
    -16 +/- 1 LUFS or above -1 dBTP.

    Times are seconds from the file's start on the decoded timeline: ``segment_starts`` /
    ``segment_ends`` where each segment's sound begins and ends (the last ends at the file's end),
    and ``line_times`` per segment per line, from its line offsets, kept inside its segment,
    increasing, each at least ``MIN_LINE_SECONDS`` long. A segment stored without line offsets (or
    not one per line) gets its lines' times shared out evenly over its sound. Raises AudioError when
    there is nothing to join, the segments differ in sample rate or channels, a segment is silent, or
    the brief misses the target.
    """
    if not segments:
        raise AudioError("no segments to join")
    walked = [frames_of(segment.mp3) for segment in segments]
    rate, channels = walked[0].sample_rate, walked[0].channels
    for index, found in enumerate(walked):
        if (found.sample_rate, found.channels) != (rate, channels):
            raise AudioError(f"segment {index} is {found.sample_rate} Hz/{found.channels} ch, "
                             f"segment 0 is {rate} Hz/{channels} ch")
    parts = [_part(segment, audio) for segment, audio in zip(segments, walked)]
    bitrate = parts[0].audio.bitrate_kbps
    spf = samples_per_frame(rate)
    silence = _silence(rate, channels, bitrate)
    pieces, starts, ends, at = [], [], [], 0  # at: audio frames of the brief before the current part
    for index, part in enumerate(parts):
        if index:
            before = parts[index - 1]
            gap = part.sound[0] + before.audio.seconds - before.sound[1]  # silence already there
            count = min(silence.count, max(0, round((pause_seconds - gap) * rate / spf)))
            if count:
                pieces.append(silence.first(count))
                at += count
        pieces.append(part.audio)
        starts.append(at * spf / rate + part.sound[0])
        ends.append(at * spf / rate + part.sound[1])
        at += part.audio.count
    mp3 = join_frames(pieces)
    duration = at * spf / rate  # what the Info header says, and what the file decodes to
    ends[-1] = duration
    lufs, peak = _measured(mp3, parts)
    if not Loudness(lufs=lufs, true_peak_dbtp=peak).meets_target():
        raise AudioError(f"the joined brief missed the target: {lufs:.2f} LUFS, {peak:.2f} dBTP")
    line_times = [_placed_lines(_offsets_for(part), part.sound[0], start, end)
                  for part, start, end in zip(parts, starts, ends)]
    return BriefAudio(mp3=mp3, duration_seconds=duration, sample_rate=rate, bitrate_kbps=bitrate,
                      loudness_lufs=round(lufs, 2), true_peak_dbtp=round(peak, 2),
                      segment_starts=starts, segment_ends=ends, line_times=line_times)


def _measured(mp3: bytes, parts: list[_Part]) -> tuple[float, float]:
    """The joined brief's integrated loudness and true peak (see :func:`join_brief`)."""
    peaks = [part.true_peak_dbtp for part in parts]
    known = None if None in peaks else max(peaks)  # type: ignore[type-var]
    found = mastering.measure_mp3(mp3, true_peak=known is None)
    if known is not None and found.sample_peak_dbfs > known + _PEAK_SLACK_DB:
        found = mastering.measure_mp3(mp3, true_peak=True)
        known = None
    return found.lufs, known if known is not None else found.true_peak_dbtp  # type: ignore[return-value]


def _part(segment: SegmentAudio, audio: Mp3Frames) -> _Part:
    """``segment`` as frames to join, mastered here if it was not when it was rendered."""
    offsets, sound, peak = segment.line_offsets, segment.sound, segment.true_peak_dbtp
    if sound is None:
        if len(offsets) != segment.lines:
            offsets = _even(audio.seconds, segment.lines)
        mastered, offsets = master(segment.mp3, offsets)
        audio, sound = frames_of(mastered.mp3), (mastered.sound_start, mastered.sound_end)
        peak = mastered.loudness.true_peak_dbtp
    return _Part(audio=audio, sound=sound, line_offsets=offsets, lines=segment.lines, true_peak_dbtp=peak)


def _even(seconds: float, lines: int, start: float = 0.0) -> list[tuple[float, float]]:
    step = seconds / max(1, lines)
    return [(start + n * step, start + (n + 1) * step) for n in range(lines)]


def _offsets_for(part: _Part) -> list[tuple[float, float]]:
    if len(part.line_offsets) == part.lines:
        return part.line_offsets
    return _even(part.sound[1] - part.sound[0], part.lines, part.sound[0])


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
