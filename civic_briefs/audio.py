"""MP3 helpers for rendered briefs: split dialogue into parts, join MP3 parts, tag, measure, encode.

Nothing here knows about Prefect or providers. MP3 means MPEG-1/2/2.5 Layer III. Errors about
audio bytes raise :class:`AudioError` (a ``ValueError``); no function returns a malformed file.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
from dataclasses import dataclass

import lameenc
from mutagen import MutagenError
from mutagen.id3 import COMM, ID3, TALB, TDRC, TIT2, TPE1
from mutagen.mp3 import MP3

from civic_briefs.models import Line


class AudioError(ValueError):
    """Audio bytes are empty, not MP3, or parts cannot be joined (different sample rate/channels)."""


# --------------------------------------------------------------------------- splitting text

_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+")


def split_into_parts(lines: list[Line], max_chars: int = 2000) -> list[list[Line]]:
    """Group ``lines`` into consecutive parts whose total ``len(text)`` is at most ``max_chars``.

    Parts break at line boundaries. A line longer than ``max_chars`` becomes several lines of the
    same speaker, cut at sentence ends, else between words, else (one word over the limit) inside
    the word; those pieces are stripped of surrounding whitespace. Lines with blank text are
    dropped. Order and every non-whitespace character are kept. Raises ``ValueError`` if
    ``max_chars < 1``.
    """
    return [[line for _, line in part] for part in split_into_indexed_parts(lines, max_chars)]


def split_into_indexed_parts(lines: list[Line], max_chars: int = 2000) -> list[list[tuple[int, Line]]]:
    """:func:`split_into_parts`, each piece with the index in ``lines`` of the line it comes from."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    pieces: list[tuple[int, Line]] = []
    for index, line in enumerate(lines):
        if not line.text.strip():
            continue
        if len(line.text) <= max_chars:
            pieces.append((index, line))
        else:
            pieces.extend((index, Line(speaker=line.speaker, text=t)) for t in _split_text(line.text, max_chars))

    parts: list[list[tuple[int, Line]]] = []
    size = 0
    for index, piece in pieces:
        if parts and size + len(piece.text) <= max_chars:
            parts[-1].append((index, piece))
            size += len(piece.text)
        else:
            parts.append([(index, piece)])
            size = len(piece.text)
    return parts


def _split_text(text: str, max_chars: int) -> list[str]:
    """Cut one long text into stripped chunks of at most ``max_chars`` (sentences, words, chars)."""
    units: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        units.append(text[start : match.end()].strip())
        start = match.end()
    units.append(text[start:].strip())

    fitted: list[str] = []
    for sentence in filter(None, units):
        if len(sentence) <= max_chars:
            fitted.append(sentence)
            continue
        for word in _pack(sentence.split(), max_chars):
            fitted.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return _pack(fitted, max_chars)


def _pack(units: list[str], max_chars: int) -> list[str]:
    """Greedily join ``units`` with single spaces into chunks of at most ``max_chars``.

    A unit that is itself longer than ``max_chars`` is returned alone (the caller cuts it).
    """
    chunks: list[str] = []
    for unit in units:
        if chunks and len(chunks[-1]) + 1 + len(unit) <= max_chars:
            chunks[-1] += " " + unit
        else:
            chunks.append(unit)
    return chunks


# --------------------------------------------------------------------------- MP3 frames

_BITRATES_KBPS = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}
_VERSION_BITS = {0: 25, 2: 2, 3: 1}  # header bits -> MPEG version (25 means 2.5)
_MONO = 3


@dataclass(frozen=True)
class _Frame:
    """One parsed Layer III frame header at ``offset`` in its buffer."""

    offset: int
    version: int  # 1, 2 or 25 (MPEG 2.5)
    bitrate_kbps: int
    sample_rate: int
    mode: int  # 0 stereo, 1 joint stereo, 2 dual channel, 3 mono
    length: int  # bytes, header included

    @property
    def channels(self) -> int:
        return 1 if self.mode == _MONO else 2

    @property
    def side_info(self) -> int:
        if self.version == 1:
            return 17 if self.mode == _MONO else 32
        return 9 if self.mode == _MONO else 17


def _parse_header(data: bytes, pos: int) -> _Frame | None:
    """The Layer III frame header at ``data[pos:]``, or None if there is none."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    version = _VERSION_BITS.get((b1 >> 3) & 3)
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version is None or (b1 >> 1) & 3 != 1 or bitrate_index in (0, 15) or rate_index == 3 or b3 & 3 == 2:
        return None
    kbps = _BITRATES_KBPS[1 if version == 1 else 2][bitrate_index]
    rate = _SAMPLE_RATES[version][rate_index]
    samples = 1152 if version == 1 else 576
    length = samples // 8 * kbps * 1000 // rate + ((b2 >> 1) & 1)
    return _Frame(pos, version, kbps, rate, b3 >> 6, length)


def _synchsafe(raw: bytes) -> int | None:
    if len(raw) != 4 or any(b & 0x80 for b in raw):
        return None
    return (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]


def _audio_bounds(data: bytes) -> tuple[int, int]:
    """``(start, end)`` of ``data`` without leading ID3v2 tags and trailing ID3v1/APE/Lyrics3/ID3v2."""
    start = 0
    while data[start : start + 3] == b"ID3":
        size = _synchsafe(data[start + 6 : start + 10])
        if size is None:
            break
        start += 10 + size + (10 if data[start + 5] & 0x10 else 0)
    end = len(data)
    while True:
        tail = data[max(start, end - 355) : end]  # the last bytes, never reaching into ID3v2
        if tail[-128:-125] == b"TAG" and len(tail) >= 128:
            cut = 128 + (227 if tail[-355:-351] == b"TAG+" and len(tail) >= 355 else 0)
        elif tail[-32:-24] == b"APETAGEX" and len(tail) >= 32:
            size, flags = struct.unpack("<I4xI", tail[-20:-8])
            cut = size + (32 if flags & 0x80000000 else 0)
        elif tail[-9:] == b"LYRICS200" and len(tail) >= 15 and tail[-15:-9].isdigit():
            cut = int(tail[-15:-9]) + 15
        elif tail[-10:-7] == b"3DI" and len(tail) >= 10 and (size := _synchsafe(tail[-4:])) is not None:
            cut = size + 20
        else:
            break
        if cut <= 0 or end - cut < start:
            break
        end -= cut
    return min(start, len(data)), end


def _is_vbr_header(data: bytes, frame: _Frame, *, first: bool) -> bool:
    """True if ``frame`` is a Xing/Info or VBRI header frame (metadata, no audio).

    Found by its tag at the standard offset (or 2 bytes later, after a CRC). A frame other than
    a file's first must also have the all-zero side info such frames carry.
    """
    at = frame.offset + 4 + frame.side_info
    tagged = (
        data[at : at + 4] in (b"Xing", b"Info")
        or data[at + 2 : at + 6] in (b"Xing", b"Info")
        or data[frame.offset + 36 : frame.offset + 40] == b"VBRI"
    )
    return tagged and (first or not any(data[frame.offset + 4 : at]))


def _audio_frames(data: bytes) -> list[_Frame]:
    """Walk every Layer III frame of one MP3 file; return the audio frames in order.

    Tags and Xing/Info/VBRI frames are left out, as is a truncated last frame. After lost sync a
    new frame is accepted only when the next header follows it. Raises AudioError when no audio
    frame is found or more than a little of the data (4 KiB or 1 %) is not frames.
    """
    if not data:
        raise AudioError("empty MP3 data")
    start, end = _audio_bounds(data)
    frames: list[_Frame] = []
    pos, junk, synced = start, 0, False
    while pos + 4 <= end:
        frame = _parse_header(data, pos)
        if frame and pos + frame.length <= end and (synced or _confirmed(data, frame, end)):
            frames.append(frame)
            pos += frame.length
            synced = True
            continue
        synced = False
        nxt = data.find(b"\xff", pos + 1, end)
        nxt = end if nxt < 0 else nxt
        junk += nxt - pos
        pos = nxt
    junk += end - pos
    if junk > max(4096, (end - start) // 100):
        raise AudioError(f"not an MP3 stream: {junk} of {end - start} bytes are not MP3 frames")
    audio = [f for i, f in enumerate(frames) if not _is_vbr_header(data, f, first=i == 0)]
    if not audio:
        raise AudioError("no MP3 audio frames found")
    return audio


def _confirmed(data: bytes, frame: _Frame, end: int) -> bool:
    """A frame found by searching counts only if the data ends after it or a like frame follows."""
    after = frame.offset + frame.length
    if after == end:
        return True
    nxt = _parse_header(data, after)
    return nxt is not None and (nxt.sample_rate, nxt.channels) == (frame.sample_rate, frame.channels)


@dataclass(frozen=True)
class WholeMp3:
    """What :func:`check_whole_mp3` found: audio frames (no Xing/Info frame), Hz, channels, seconds."""

    audio_frames: int
    sample_rate: int
    channels: int
    duration_seconds: float


def check_whole_mp3(data: bytes) -> WholeMp3:
    """Check that ``data`` is one whole MP3: tags, then Layer III frames end to end, nothing else.

    Stricter than :func:`join_mp3`, which skips a cut-off last frame and a little junk: a reply
    cut short (the start of a real MP3) would join into a brief silently missing its end. Every
    frame must have a valid header and all its bytes, follow the previous one directly and match
    the first frame's sample rate and channels; at least one must carry audio. Raises AudioError
    saying which frame, at which byte, is wrong.
    """
    if not data:
        raise AudioError("empty MP3 data")
    start, end = _audio_bounds(data)
    pos, frames = start, []
    while pos < end:
        frame = _parse_header(data, pos)
        whole = f"after {len(frames)} whole frame{'s' * (len(frames) != 1)}"
        if frame is None:
            raise AudioError(f"not a whole MP3: no frame header at byte {pos} of {len(data)} ({whole})")
        if pos + frame.length > end:
            raise AudioError(f"not a whole MP3: frame {len(frames) + 1} at byte {pos} is cut off, "
                             f"{end - pos} of its {frame.length} bytes present ({whole})")
        if frames and (frame.sample_rate, frame.channels) != (frames[0].sample_rate, frames[0].channels):
            raise AudioError(f"not a whole MP3: frame {len(frames) + 1} at byte {pos} is {frame.sample_rate} Hz/"
                             f"{frame.channels} ch, the first is {frames[0].sample_rate} Hz/{frames[0].channels} ch")
        frames.append(frame)
        pos += frame.length
    audio = [f for i, f in enumerate(frames) if not _is_vbr_header(data, f, first=i == 0)]
    if not audio:
        raise AudioError(f"not a whole MP3: no audio frame in {len(data)} bytes")
    samples = 1152 if audio[0].version == 1 else 576
    return WholeMp3(audio_frames=len(audio), sample_rate=audio[0].sample_rate, channels=audio[0].channels,
                    duration_seconds=len(audio) * samples / audio[0].sample_rate)


def join_mp3(parts: list[bytes]) -> bytes:
    """Join MP3 files at frame level into one MP3 (bytes) with a single Info/Xing header in front.

    Each part's ID3v2/ID3v1/APE tags and its Xing/Info/VBRI frame are dropped; only audio frames
    are kept, in order. The new header carries the total frame count, so the joined duration can
    be read exactly. Raises AudioError when ``parts`` is empty, a part is empty or not MP3, or the
    parts differ in sample rate or channel count (mono vs stereo).
    """
    if not parts:
        raise AudioError("no MP3 parts to join")
    return join_frames([frames_of(data) for data in parts])


@dataclass(frozen=True)
class Mp3Frames:
    """The audio frames of one MP3 (walked once): ``data`` is those frames' bytes, end to end."""

    data: bytes
    frames: tuple[_Frame, ...]

    @property
    def count(self) -> int:
        return len(self.frames)

    @property
    def sample_rate(self) -> int:
        return self.frames[0].sample_rate

    @property
    def channels(self) -> int:
        return self.frames[0].channels

    @property
    def bitrate_kbps(self) -> int:
        return self.frames[0].bitrate_kbps

    @property
    def seconds(self) -> float:
        return self.count * samples_per_frame(self.sample_rate) / self.sample_rate

    def first(self, count: int) -> Mp3Frames:
        """The first ``count`` frames: an MP3 itself, since an encoder's first frame never borrows
        bits from before it and later frames only from earlier ones. Raises AudioError for fewer."""
        if not 1 <= count <= self.count:
            raise AudioError(f"cannot take {count} of the {self.count} frames of the MP3")
        end = self.frames[count - 1].offset + self.frames[count - 1].length
        return Mp3Frames(self.data[:end], self.frames[:count])


def frames_of(mp3: bytes) -> Mp3Frames:
    """``mp3``'s audio frames (no tags, no Xing/Info/VBRI frame). Raises AudioError as :func:`join_mp3`."""
    frames = _audio_frames(mp3)
    data = b"".join(mp3[f.offset : f.offset + f.length] for f in frames)
    at, moved = 0, []
    for f in frames:
        moved.append(_Frame(at, f.version, f.bitrate_kbps, f.sample_rate, f.mode, f.length))
        at += f.length
    return Mp3Frames(data, tuple(moved))


def join_frames(parts: list[Mp3Frames]) -> bytes:
    """:func:`join_mp3` of parts already walked (:func:`frames_of`)."""
    if not parts:
        raise AudioError("no MP3 parts to join")
    first = parts[0].frames[0]
    for index, part in enumerate(parts):
        if any((f.sample_rate, f.channels) != (first.sample_rate, first.channels) for f in part.frames):
            bad = next(f for f in part.frames if (f.sample_rate, f.channels) != (first.sample_rate, first.channels))
            raise AudioError(
                f"part {index} is {bad.sample_rate} Hz/{bad.channels} ch, "
                f"part 0 is {first.sample_rate} Hz/{first.channels} ch"
            )
    audio = b"".join(part.data for part in parts)
    all_frames = [f for part in parts for f in part.frames]
    return _info_frame(parts[0].data, first, all_frames, len(audio)) + audio


def samples_per_frame(sample_rate: int) -> int:
    """PCM frames one Layer III frame holds at ``sample_rate``: 1,152 for MPEG-1, else 576."""
    return 1152 if sample_rate in _SAMPLE_RATES[1] else 576


def _info_frame(data: bytes, first: _Frame, frames: list[_Frame], audio_bytes: int) -> bytes:
    """A silent Layer III frame holding an Info (CBR) or Xing (VBR) header for ``frames``.

    Layout: header, zero side info, tag, flags=7 (frames, bytes, TOC), frame count (audio frames
    only), total bytes (this frame included), 100-byte seek table.
    """
    needed = 4 + first.side_info + 16 + 100
    table = _BITRATES_KBPS[1 if first.version == 1 else 2]
    header = bytearray(data[first.offset : first.offset + 4])
    header[1] |= 0x01  # no CRC
    indexes = [table.index(first.bitrate_kbps)] + list(range(1, 15))
    for bitrate_index in indexes:
        header[2] = (bitrate_index << 4) | (header[2] & 0x0C)  # keep sample rate, no padding
        info = _parse_header(bytes(header), 0)
        if info and info.length >= needed:
            break
    total = info.length + audio_bytes
    toc, offset, offsets = bytearray(), info.length, []
    for frame in frames:
        offsets.append(offset)
        offset += frame.length
    for percent in range(100):
        toc.append(min(255, offsets[percent * len(frames) // 100] * 256 // total))
    cbr = len({f.bitrate_kbps for f in frames}) == 1
    body = (b"Info" if cbr else b"Xing") + struct.pack(">III", 7, len(frames), total) + bytes(toc)
    frame = bytes(header) + bytes(first.side_info) + body
    return frame + bytes(info.length - len(frame))


# --------------------------------------------------------------------------- tags and measuring


@dataclass(frozen=True)
class Mp3Info:
    """What mutagen measures in an MP3: seconds, Hz, kbit/s (rounded), 1 or 2 channels."""

    duration_seconds: float
    sample_rate: int
    bitrate_kbps: int
    channels: int


def mp3_info(mp3: bytes) -> Mp3Info:
    """Measure ``mp3`` with mutagen (exact for files with a Xing/Info header, as ``join_mp3`` writes).

    Raises AudioError if the bytes are empty or not MP3.
    """
    _audio_frames(mp3)
    try:
        info = MP3(io.BytesIO(mp3)).info
    except MutagenError as exc:
        raise AudioError(f"mutagen cannot read the MP3: {exc}") from exc
    return Mp3Info(
        duration_seconds=float(info.length),
        sample_rate=int(info.sample_rate),
        bitrate_kbps=round(info.bitrate / 1000),
        channels=int(info.channels),
    )


def tag_mp3(
    mp3: bytes,
    title: str,
    artist: str | None = None,
    album: str | None = None,
    date: dt.date | str | None = None,
    comment: str | None = None,
) -> bytes:
    """Return ``mp3`` with an ID3v2.3 tag (replacing any ID3v2 tag in front) holding the given fields.

    ``date`` may be a ``date`` or an ISO string ("2025-06-01" or "2025"). Fields left ``None``
    are not written. Raises AudioError if ``mp3`` is empty or not MP3.
    """
    _audio_frames(mp3)
    tags = ID3()
    tags.add(TIT2(encoding=3, text=title))
    if artist is not None:
        tags.add(TPE1(encoding=3, text=artist))
    if album is not None:
        tags.add(TALB(encoding=3, text=album))
    if date is not None:
        tags.add(TDRC(encoding=3, text=date.isoformat() if isinstance(date, dt.date) else date))
    if comment is not None:
        tags.add(COMM(encoding=3, lang="eng", desc="", text=comment))
    buffer = io.BytesIO(mp3)
    try:
        tags.save(buffer, v2_version=3, padding=lambda info: 0)
    except MutagenError as exc:
        raise AudioError(f"cannot write ID3 tags: {exc}") from exc
    return buffer.getvalue()


# --------------------------------------------------------------------------- encoding

# LAME's encoder delay (576) plus the decoder's (529): the first PCM sample given to
# :func:`encode_pcm_to_mp3` is the 1,105th of the decoded file, at any sample rate.
LAME_DELAY_SAMPLES = 1105


def encode_pcm_to_mp3(
    pcm: bytes, sample_rate: int, channels: int = 1, bitrate_kbps: int = 64, quality: int = 5
) -> bytes:
    """Encode signed 16-bit little-endian PCM (interleaved if stereo) to CBR MP3 at ``sample_rate``.

    ``sample_rate`` must be an MP3 rate (8000-48000 Hz) and ``bitrate_kbps`` valid for it (8-160
    below 32 kHz, 32-320 from 32 kHz); ``quality`` is LAME's 0 (best, slowest) to 9. The output
    has no tags and no Xing header. Raises AudioError for empty or odd-sized PCM or bad settings.
    """
    version = next((v for v, rates in _SAMPLE_RATES.items() if sample_rate in rates), None)
    if version is None:
        raise AudioError(f"{sample_rate} Hz is not an MP3 sample rate")
    if bitrate_kbps not in _BITRATES_KBPS[1 if version == 1 else 2][1:]:
        raise AudioError(f"{bitrate_kbps} kbit/s is not valid at {sample_rate} Hz")
    if channels not in (1, 2):
        raise AudioError(f"channels must be 1 or 2, got {channels}")
    if not pcm or len(pcm) % (2 * channels):
        raise AudioError(f"PCM must be a non-empty whole number of {2 * channels}-byte samples")
    encoder = lameenc.Encoder()
    encoder.silence()
    encoder.set_channels(channels)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_out_sample_rate(sample_rate)
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_quality(quality)
    try:
        mp3 = bytes(encoder.encode(pcm)) + bytes(encoder.flush())
    except RuntimeError as exc:
        raise AudioError(f"lame failed: {exc}") from exc
    _audio_frames(mp3)
    return mp3


def nearest_bitrate(sample_rate: int, kbps: int) -> int:
    """The lowest valid MP3 bitrate at ``sample_rate`` that is at least ``kbps`` (else the highest)."""
    version = next((v for v, rates in _SAMPLE_RATES.items() if sample_rate in rates), None)
    if version is None:
        raise AudioError(f"{sample_rate} Hz is not an MP3 sample rate")
    valid = _BITRATES_KBPS[1 if version == 1 else 2][1:]
    return next((b for b in valid if b >= kbps), valid[-1])


def silence_pcm(seconds: float, sample_rate: int, channels: int = 1) -> bytes:
    """``seconds`` of 16-bit zero samples (at least one sample per channel)."""
    return bytes(2 * channels * max(1, round(seconds * sample_rate)))


def silence_mp3(seconds: float, sample_rate: int = 22050, channels: int = 1, bitrate_kbps: int = 64) -> bytes:
    """An MP3 of ``seconds`` of silence (plus the encoder's ~50 ms of delay and padding)."""
    return encode_pcm_to_mp3(silence_pcm(seconds, sample_rate, channels), sample_rate, channels, bitrate_kbps)
