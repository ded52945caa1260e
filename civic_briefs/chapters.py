"""Chapters and transcripts of a brief, from the times measured in its joined MP3.

One chapter per script segment ("Opening", "H.R. 1315: Lumbee Recognition Act", "In the news: Health
care", "Wrap-up"), written three ways: ID3v2 ``CHAP``/``CTOC`` frames inside the MP3 (players that
read ID3 chapters), a Podcasting 2.0 JSON chapters file, and one transcript cue per script line (a
Podcasting 2.0 JSON transcript and WebVTT captions with the host's name as the voice).

The side files depend only on the script, the measured times and the hosts' names; the MP3 carries
a hash of them (``TXXX:CIVIC_BRIEFS_FILES``), so an MP3 version (a hash of its bytes) names exactly
one set of side files and a side file under a published brief's key never changes.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

from mutagen import MutagenError
from mutagen.id3 import CHAP, CTOC, ID3, TIT2, TXXX, CTOCFlags, ID3NoHeaderError

from civic_briefs.interests import INTEREST_NAMES
from civic_briefs.models import Bill, BriefAudio, Script, Segment, Speaker

CHAPTERS_VERSION = "1.2.0"
TRANSCRIPT_VERSION = "1.0.0"
TOC_ID = "toc"
FILES_TAG = "CIVIC_BRIEFS_FILES"
# ID3 chapter frames: "offset not used" (times are the reference, not byte offsets).
_NO_OFFSET = 0xFFFFFFFF


@dataclass(frozen=True)
class Chapter:
    title: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Cue:
    """One script line as heard: its host's name, its times in seconds and its text."""

    speaker: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SideFiles:
    """What goes beside a brief's MP3 (and, as ID3 frames, into it)."""

    chapters: list[Chapter]
    cues: list[Cue]
    chapters_json: bytes
    transcript_json: bytes
    vtt: bytes

    @property
    def digest(self) -> str:
        """A hash of the three files' bytes: the MP3 carries it, so its version covers them."""
        hashed = hashlib.sha256()
        for body in (self.chapters_json, self.transcript_json, self.vtt):
            hashed.update(len(body).to_bytes(8, "big") + body)
        return hashed.hexdigest()


class TimingError(ValueError):
    """The measured times do not fit the script (a count differs, or times go backwards)."""


# --------------------------------------------------------------------------- titles and times


def chapter_title(segment: Segment, bills: dict[str, Bill]) -> str:
    """What a listener sees for a segment in a chapter list."""
    if segment.kind == "opening":
        return "Opening"
    if segment.kind == "close":
        return "Wrap-up"
    if segment.kind == "news":
        name = INTEREST_NAMES.get(segment.interest or "", segment.interest or "news").removeprefix("the ")
        return f"In the news: {name[:1].upper()}{name[1:]}"
    bill = next((bills[b] for b in segment.bill_ids if b in bills), None)
    if bill is None:
        return segment.headline or "Story"
    return f"{bill.label}: {bill.title}"


def chapters_for(script: Script, audio: BriefAudio, bills: dict[str, Bill]) -> list[Chapter]:
    """One chapter per segment, end to end over the whole file: each starts at its segment's
    measured start (the first at 0) and ends where the next starts (the last at the file's end), so
    the pause after a segment belongs to it."""
    starts = audio.segment_starts
    if len(starts) != len(script.segments):
        raise TimingError(f"{len(starts)} measured segment starts for {len(script.segments)} script segments")
    end_ms = round(audio.duration_seconds * 1000)
    starts_ms = [0] + [round(s * 1000) for s in starts[1:]]
    bounds = starts_ms + [end_ms]
    if any(b >= a for a, b in zip(bounds[1:], bounds)):
        raise TimingError(f"segment starts {starts} do not increase within {audio.duration_seconds:.3f} s")
    return [Chapter(chapter_title(seg, bills), start, end)
            for seg, start, end in zip(script.segments, bounds, bounds[1:])]


def cues_for(script: Script, audio: BriefAudio, hosts: dict[Speaker, str]) -> list[Cue]:
    """One cue per script line, in order, with its measured times."""
    if len(audio.line_times) != len(script.segments):
        raise TimingError(f"line times for {len(audio.line_times)} segments, the script has {len(script.segments)}")
    cues: list[Cue] = []
    for index, (segment, times) in enumerate(zip(script.segments, audio.line_times)):
        if len(times) != len(segment.lines):
            raise TimingError(f"segment {index} ({segment.kind}) has {len(segment.lines)} lines "
                              f"and {len(times)} measured line times")
        for line, (start, end) in zip(segment.lines, times):
            if end <= start or (cues and start < cues[-1].start) or end > audio.duration_seconds + 0.05:
                raise TimingError(f"line at {start:.3f}-{end:.3f} s in segment {index} is out of order")
            cues.append(Cue(hosts[line.speaker], round(start, 3), round(end, 3), line.text))
    return cues


# --------------------------------------------------------------------------- the files


def _json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode() + b"\n"


def chapters_json(chapters: list[Chapter], title: str) -> bytes:
    """Podcasting 2.0 JSON chapters (version 1.2.0): ``startTime``/``endTime`` in seconds."""
    return _json({"version": CHAPTERS_VERSION, "title": title, "chapters": [
        {"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title} for c in chapters]})


def transcript_json(cues: list[Cue]) -> bytes:
    """Podcasting 2.0 JSON transcript (version 1.0.0): one segment per script line."""
    return _json({"version": TRANSCRIPT_VERSION, "segments": [
        {"speaker": c.speaker, "startTime": c.start, "endTime": c.end, "body": c.text} for c in cues]})


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _vtt_text(text: str) -> str:
    # A cue's text ends at a blank line and may not hold "-->": one line, markup characters escaped.
    return " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt(cues: list[Cue]) -> bytes:
    """WebVTT captions: one numbered cue per line, the speaker as a voice span (``<v Alex>``)."""
    blocks = ["WEBVTT"]
    for number, cue in enumerate(cues, 1):
        blocks.append(f"{number}\n{_timestamp(cue.start)} --> {_timestamp(cue.end)}\n"
                      f"<v {_vtt_text(cue.speaker)}>{_vtt_text(cue.text)}")
    return ("\n\n".join(blocks) + "\n").encode()


def side_files(script: Script, audio: BriefAudio, bills: dict[str, Bill], hosts: dict[Speaker, str]) -> SideFiles | None:
    """The chapters and transcript of a brief, or None when its audio carries no measured times.

    Raises TimingError when the times do not fit the script."""
    if not audio.segment_starts and not audio.line_times:
        return None
    chapters = chapters_for(script, audio, bills)
    cues = cues_for(script, audio, hosts)
    return SideFiles(chapters=chapters, cues=cues, chapters_json=chapters_json(chapters, script.title),
                     transcript_json=transcript_json(cues), vtt=webvtt(cues))


# --------------------------------------------------------------------------- ID3 frames


def embed(mp3: bytes, files: SideFiles) -> bytes:
    """``mp3`` with its ID3v2.3 tag (kept, or made) also holding a top-level ordered ``CTOC`` of one
    ``CHAP`` per chapter (ids ``ch0``, ``ch1``...; each with a ``TIT2`` title) and the side files'
    hash. Chapters already there are replaced."""
    try:
        tags = ID3(io.BytesIO(mp3))
    except ID3NoHeaderError:
        tags = ID3()
    except MutagenError as exc:
        raise ValueError(f"cannot read the MP3's ID3 tag: {exc}") from exc
    for frame_id in ("CHAP", "CTOC", f"TXXX:{FILES_TAG}"):
        tags.delall(frame_id)
    ids = [f"ch{i}" for i in range(len(files.chapters))]
    tags.add(CTOC(element_id=TOC_ID, flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                  sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
    for element_id, chapter in zip(ids, files.chapters):
        tags.add(CHAP(element_id=element_id, start_time=chapter.start_ms, end_time=chapter.end_ms,
                      start_offset=_NO_OFFSET, end_offset=_NO_OFFSET,
                      sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    tags.add(TXXX(encoding=3, desc=FILES_TAG, text=[files.digest]))
    buffer = io.BytesIO(mp3)
    tags.save(buffer, v2_version=3, padding=lambda info: 0)
    return buffer.getvalue()
