"""Tests for civic_briefs.audio: splitting dialogue, joining/tagging/measuring MP3 (no Prefect)."""

from __future__ import annotations

import io
import math
import random
import struct

import pytest
from mutagen.id3 import ID3

from civic_briefs.audio import (
    AudioError,
    check_whole_mp3,
    encode_pcm_to_mp3,
    join_mp3,
    mp3_info,
    silence_mp3,
    split_into_parts,
    tag_mp3,
)
from civic_briefs.models import Line

RATE = 22050
FRAME_SECONDS = 576 / RATE  # one MPEG-2 Layer III frame


# --------------------------------------------------------------------------- splitting

WORDS = "the house passed a bill on friday sending it to senate where committee will hear".split()


def _random_text(rng: random.Random, max_words: int) -> str:
    words = []
    for _ in range(rng.randint(1, max_words)):
        word = rng.choice(WORDS)
        if rng.random() < 0.02:
            word = "x" * rng.randint(50, 400)  # a "word" longer than small limits
        words.append(word + rng.choice(["", "", "", ".", ",", "?", "!", ".\u201d"]))
    return rng.choice(["", " ", "\n"]) + " ".join(words) + rng.choice(["", " ", "  \n"])


def _assert_faithful(lines: list[Line], parts: list[list[Line]], max_chars: int) -> None:
    """Every part fits; pieces, in order, spell each non-blank line with its speaker."""
    assert all(parts), "no empty part"
    for part in parts:
        assert sum(len(line.text) for line in part) <= max_chars
    pieces = [line for part in parts for line in part]
    assert all(piece.text.strip() for piece in pieces)
    queue = iter(pieces)
    for line in lines:
        want = "".join(line.text.split())
        got = ""
        while len(got) < len(want):
            piece = next(queue)
            assert piece.speaker == line.speaker
            got += "".join(piece.text.split())
        assert got == want
    assert next(queue, None) is None, "pieces left over"


@pytest.mark.parametrize("max_chars", [1, 7, 40, 200, 2000])
def test_split_properties_hold_on_random_dialogues(max_chars: int) -> None:
    rng = random.Random(max_chars)
    for _ in range(40 if max_chars < 10 else 150):
        lines = [
            Line(speaker=rng.choice("AB"), text=_random_text(rng, rng.choice([3, 30, 400])))
            for _ in range(rng.randint(0, 12))
        ]
        _assert_faithful(lines, split_into_parts(lines, max_chars), max_chars)


def test_split_keeps_lines_that_fit_whole_and_groups_them() -> None:
    lines = [Line(speaker="A" if i % 2 else "B", text=f"Line {i} " + "word " * 30) for i in range(20)]
    parts = split_into_parts(lines, max_chars=1000)
    assert [line for part in parts for line in part] == lines  # untouched, same order
    assert len(parts) == math.ceil(sum(len(line.text) for line in lines) / 1000)  # greedy, no waste here
    assert split_into_parts(lines[:1]) == [lines[:1]]


def test_split_exact_limit_is_one_part() -> None:
    lines = [Line(speaker="A", text="a" * 600), Line(speaker="B", text="b" * 400)]
    assert split_into_parts(lines, max_chars=1000) == [lines]
    assert split_into_parts(lines, max_chars=999) == [lines[:1], lines[1:]]


def test_long_line_is_cut_at_sentence_ends() -> None:
    sentences = [f"Sentence number {i} says something about the bill." for i in range(100)]
    line = Line(speaker="B", text=" ".join(sentences))
    parts = split_into_parts([line], max_chars=300)
    pieces = [piece for part in parts for piece in part]
    assert len(pieces) > 1
    assert all(piece.speaker == "B" and piece.text.endswith(".") for piece in pieces)
    assert " ".join(piece.text for piece in pieces) == line.text


def test_long_sentence_is_cut_between_words_then_inside_a_giant_word() -> None:
    text = " ".join(["alpha", "beta", "gamma"] * 50)  # no sentence end
    pieces = [p for part in split_into_parts([Line(speaker="A", text=text)], 40) for p in part]
    assert all(set(p.text.split()) <= {"alpha", "beta", "gamma"} for p in pieces)
    assert " ".join(p.text for p in pieces) == text
    giant = [p.text for part in split_into_parts([Line(speaker="A", text="y" * 95)], 40) for p in part]
    assert giant == ["y" * 40, "y" * 40, "y" * 15]


def test_split_drops_blank_lines_and_rejects_bad_limit() -> None:
    assert split_into_parts([Line(speaker="A", text="  "), Line(speaker="B", text="")]) == []
    assert split_into_parts([]) == []
    with pytest.raises(ValueError):
        split_into_parts([Line(speaker="A", text="hi")], max_chars=0)


# --------------------------------------------------------------------------- MP3 fixtures


def _tone_pcm(seconds: float, hz: float) -> bytes:
    n = int(seconds * RATE)
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(n)))


def _tone_mp3(seconds: float, hz: float = 440.0) -> bytes:
    return encode_pcm_to_mp3(_tone_pcm(seconds, hz), RATE)


def _frame_length(mp3: bytes, at: int = 0) -> int:
    """Length of the MPEG-2 Layer III frame at ``at`` (all fixtures are 22,050 Hz)."""
    kbps = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)[mp3[at + 2] >> 4]
    return 72000 * kbps // RATE + ((mp3[at + 2] >> 1) & 1)


def _with_vbr_header(mp3: bytes, tag: bytes) -> bytes:
    """``mp3`` behind an encoder-style Xing/Info or VBRI frame (built here, independently)."""
    assert mp3[:2] == b"\xff\xf3", "fixture must be MPEG-2 Layer III without CRC"
    length = _frame_length(mp3)
    header = mp3[:2] + bytes([mp3[2] & 0xFD, mp3[3]])  # same bitrate, no padding
    frames = 0
    pos = 0
    while pos < len(mp3):
        frames, pos = frames + 1, pos + _frame_length(mp3, pos)
    if tag == b"VBRI":  # Fraunhofer: 32 bytes after the header, whatever the mode
        body = bytes(32) + b"VBRI" + struct.pack(">HHHII", 1, 0, 50, len(mp3), frames)
    else:  # Xing/Info right after the (all-zero, mono MPEG-2: 9 byte) side info
        body = bytes(9) + tag + struct.pack(">III", 3, frames, len(mp3) + length)
    frame = header + body
    return frame + bytes(length - len(frame)) + mp3


def _ape_tag() -> bytes:
    item = struct.pack("<II", 5, 0) + b"Title\x00hello"
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, len(item) + 32, 1, 0) + bytes(8)
    return item + footer


def _id3v1() -> bytes:
    return b"TAG" + b"Old title".ljust(30, b"\0") + bytes(95)


@pytest.fixture(scope="module")
def parts() -> list[bytes]:
    """Three plain CBR parts of different lengths and pitches."""
    return [_tone_mp3(1.3, 220), _tone_mp3(2.1, 440), _tone_mp3(0.7, 880)]


# --------------------------------------------------------------------------- joining


def test_fixture_headers_are_what_players_read(parts: list[bytes]) -> None:
    for tag in (b"Xing", b"Info", b"VBRI"):
        decorated = _with_vbr_header(parts[1], tag)
        assert tag in decorated
        # mutagen trusts the header's frame count: the fixture is a real VBR header
        assert mp3_info(decorated).duration_seconds == pytest.approx(mp3_info(parts[1]).duration_seconds, abs=0.03)


def test_join_three_parts_strips_tags_and_headers(parts: list[bytes]) -> None:
    decorated = [
        tag_mp3(_with_vbr_header(parts[0], b"Info"), "part one", comment="Info Xing") + _id3v1(),
        _with_vbr_header(parts[1], b"Xing") + _ape_tag() + _id3v1(),
        tag_mp3(_with_vbr_header(parts[2], b"VBRI"), "part three") + _ape_tag(),
    ]
    joined = join_mp3(decorated)

    expected = sum(mp3_info(p).duration_seconds for p in parts)
    info = mp3_info(joined)
    assert abs(info.duration_seconds - expected) <= 2 * FRAME_SECONDS * len(parts)
    assert (info.sample_rate, info.channels, info.bitrate_kbps) == (RATE, 1, 64)

    first = _frame_length(joined)
    assert joined[:2] == b"\xff\xf3"  # starts with a frame: no ID3v2 left in front
    assert joined[:first].count(b"Info") + joined[:first].count(b"Xing") == 1
    for marker in (b"Xing", b"Info", b"VBRI", b"ID3", b"TAG", b"APETAGEX", b"part one"):
        assert marker not in joined[first:], marker
    # the body is exactly the parts' audio frames, in order
    assert joined[first:] == b"".join(parts)


def test_joined_duration_is_exact_frame_count(parts: list[bytes]) -> None:
    joined = join_mp3(parts)
    frames = sum(len(p) for p in parts) / (72000 * 64 / RATE)  # CBR 64 kbit/s: ~208.98 bytes a frame
    assert mp3_info(joined).duration_seconds == pytest.approx(round(frames) * FRAME_SECONDS, abs=1e-6)
    assert join_mp3([joined]) == joined  # joining is idempotent: the old header is replaced


def test_join_drops_a_truncated_last_frame(parts: list[bytes]) -> None:
    whole = join_mp3([parts[0]])
    cut = join_mp3([parts[0][:-50]])
    assert mp3_info(whole).duration_seconds - mp3_info(cut).duration_seconds == pytest.approx(FRAME_SECONDS)


def test_tags_are_readable(parts: list[bytes]) -> None:
    joined = join_mp3(parts)
    tagged = tag_mp3(joined, "Daily brief", "Civic Briefs", "Civic Briefs Daily", "2025-06-02", "AI voices")
    tags = ID3(io.BytesIO(tagged))
    assert str(tags["TIT2"]) == "Daily brief"
    assert str(tags["TPE1"]) == "Civic Briefs"
    assert str(tags["TALB"]) == "Civic Briefs Daily"
    assert str(tags["TDRC"]).startswith("2025")
    assert tags.getall("COMM")[0].text == ["AI voices"]
    assert tagged.endswith(joined)
    assert mp3_info(tagged).duration_seconds == mp3_info(joined).duration_seconds
    retagged = tag_mp3(tagged, "Second title")  # replaces, does not stack
    assert str(ID3(io.BytesIO(retagged))["TIT2"]) == "Second title"
    assert retagged.count(b"ID3") == 1


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not an mp3 at all " * 100,
        random.Random(1).randbytes(50_000),
        b"RIFF" + struct.pack("<I", 36 + 40000) + b"WAVEfmt " + bytes(20) + b"data" + _tone_pcm(1, 440)[:40000],
        b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(16),  # a tag and nothing else
    ],
    ids=["empty", "text", "random", "wav", "tag-only"],
)
def test_non_mp3_raises(bad: bytes, parts: list[bytes]) -> None:
    with pytest.raises(AudioError):
        join_mp3([bad])
    with pytest.raises(AudioError):
        join_mp3([parts[0], bad])
    with pytest.raises(AudioError):
        mp3_info(bad)
    with pytest.raises(AudioError):
        tag_mp3(bad, "x")


def test_join_nothing_raises_value_error() -> None:
    with pytest.raises(ValueError):
        join_mp3([])
    assert issubclass(AudioError, ValueError)


def test_join_rejects_mismatched_sample_rate_or_channels(parts: list[bytes]) -> None:
    with pytest.raises(AudioError, match="Hz"):
        join_mp3([parts[0], silence_mp3(1.0, sample_rate=24000)])
    with pytest.raises(AudioError, match="ch"):
        join_mp3([parts[0], silence_mp3(1.0, channels=2)])


# --------------------------------------------------------------------------- whole parts


@pytest.fixture(scope="module")
def speech_like() -> bytes:
    """A real 44.1 kHz 128 kbit/s mono MP3 (ElevenLabs' default mp3_44100_128): 417/418-byte frames."""
    pcm = struct.pack("<44100h", *(int(6000 * math.sin(2 * math.pi * 220 * i / 44100)) for i in range(44100)))
    return encode_pcm_to_mp3(pcm, 44100, bitrate_kbps=128)


def test_a_whole_mp3_passes_with_its_frames_and_duration(speech_like: bytes, parts: list[bytes]) -> None:
    whole = check_whole_mp3(speech_like)
    assert (whole.sample_rate, whole.channels) == (44100, 1)
    frames = round(len(speech_like) / (144 * 128000 / 44100))  # CBR: ~417.96 bytes a frame
    assert whole.audio_frames == frames and whole.duration_seconds == pytest.approx(frames * 1152 / 44100)
    # mutagen reads it exactly from the Info header the join writes.
    assert whole.duration_seconds == pytest.approx(mp3_info(join_mp3([speech_like])).duration_seconds, abs=1e-6)
    # What the pipeline itself writes passes too: joined (an Info frame in front, not counted), tagged.
    joined = tag_mp3(join_mp3(parts), "t", comment="c") + _id3v1()
    assert check_whole_mp3(joined).audio_frames == sum(check_whole_mp3(p).audio_frames for p in parts)
    assert check_whole_mp3(_with_vbr_header(parts[1], b"Xing")).audio_frames == check_whole_mp3(parts[1]).audio_frames


def test_the_first_260_bytes_of_a_real_mp3_are_refused_though_join_found_no_fault_in_their_start(
        speech_like: bytes) -> None:
    cut = speech_like[:260]
    assert cut[:2] == b"\xff\xfb"  # starts like an MP3 (what the old check looked at)
    with pytest.raises(AudioError, match=r"frame 1 at byte 0 is cut off, 260 of its 417 bytes present \(after 0 whole"):
        check_whole_mp3(cut)
    with pytest.raises(AudioError, match=r"frame 1 at byte 10 is cut off, 260 of its 417 bytes"):
        check_whole_mp3(b"ID3\x03\x00\x00\x00\x00\x00\x00" + cut)  # behind an empty ID3v2 tag


def test_an_mp3_cut_mid_frame_is_refused_where_join_would_drop_its_end(speech_like: bytes) -> None:
    whole = check_whole_mp3(speech_like)
    # Cut 100 bytes into the 30th frame: join_mp3 would keep 29 frames and say nothing.
    offsets = [0]
    while len(offsets) < 30:
        offsets.append(offsets[-1] + (417 + ((speech_like[offsets[-1] + 2] >> 1) & 1)))  # padded: 418
    cut = speech_like[: offsets[29] + 100]
    assert whole.audio_frames > 30
    assert check_whole_mp3(speech_like[: offsets[29]]).audio_frames == 29  # a cut between frames is whole
    assert mp3_info(join_mp3([cut])).duration_seconds == pytest.approx(29 * 1152 / 44100, abs=1e-6)
    with pytest.raises(AudioError, match=rf"frame 30 at byte {offsets[29]} is cut off, 100 of its 41[78] bytes "
                                         r"present \(after 29 whole frames\)"):
        check_whole_mp3(cut)


@pytest.mark.parametrize("damage,message", [
    (lambda mp3: mp3 + b"\x00" * 10, r"no frame header at byte {n} of {n_plus_10} "),  # trailing junk
    (lambda mp3: mp3 + b"garbage!" + mp3, r"no frame header at byte {n} "),
    (lambda mp3: b"", "empty"),
    (lambda mp3: _with_vbr_header(mp3, b"Info")[:_frame_length(_with_vbr_header(mp3, b"Info"))], "no audio frame"),
], ids=["trailing-junk", "junk-inside", "empty", "header-frame-only"])
def test_damaged_mp3_is_refused_with_where(damage, message, parts: list[bytes]) -> None:
    with pytest.raises(AudioError, match=message.format(n=len(parts[0]), n_plus_10=len(parts[0]) + 10)):
        check_whole_mp3(damage(parts[0]))


def test_frames_of_another_format_inside_a_part_are_refused(parts: list[bytes]) -> None:
    with pytest.raises(AudioError, match=r"is 24000 Hz/1 ch, the first is 22050 Hz/1 ch"):
        check_whole_mp3(parts[0] + silence_mp3(0.5, sample_rate=24000))


# --------------------------------------------------------------------------- encoding


def test_encode_and_silence_measure_right() -> None:
    info = mp3_info(silence_mp3(2.0))
    assert (info.sample_rate, info.channels, info.bitrate_kbps) == (RATE, 1, 64)
    assert 2.0 <= info.duration_seconds <= 2.0 + 0.12  # encoder delay and padding
    stereo = mp3_info(encode_pcm_to_mp3(bytes(4 * 44100), 44100, channels=2, bitrate_kbps=128))
    assert (stereo.sample_rate, stereo.channels, stereo.bitrate_kbps) == (44100, 2, 128)
    assert stereo.duration_seconds == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    "pcm,rate,channels,kbps",
    [
        (b"", RATE, 1, 64),  # nothing to encode
        (b"\0" * 3, RATE, 1, 64),  # half a sample
        (b"\0" * 6, RATE, 2, 64),  # half a stereo frame
        (b"\0" * 100, 22000, 1, 64),  # not an MP3 sample rate
        (b"\0" * 100, RATE, 1, 320),  # too high for MPEG-2
    ],
)
def test_encode_rejects_bad_input(pcm: bytes, rate: int, channels: int, kbps: int) -> None:
    with pytest.raises(AudioError):
        encode_pcm_to_mp3(pcm, rate, channels, kbps)


# --------------------------------------------------------------------------- delay, bitrates, indexed parts


@pytest.mark.parametrize("rate,kbps", [(22050, 64), (44100, 128), (24000, 48)])
def test_a_click_encoded_at_sample_n_decodes_at_n_plus_the_lame_delay(rate: int, kbps: int) -> None:
    import miniaudio

    from civic_briefs.audio import LAME_DELAY_SAMPLES

    at = rate // 2
    pcm = bytearray(2 * rate)
    pcm[2 * at:2 * at + 4] = struct.pack("<hh", 20000, -20000)
    decoded = miniaudio.mp3_read_f32(join_mp3([encode_pcm_to_mp3(bytes(pcm), rate, bitrate_kbps=kbps)]))
    samples = [abs(s) for s in decoded.samples]
    assert samples.index(max(samples)) - at == LAME_DELAY_SAMPLES


def test_nearest_bitrate_is_a_valid_one_at_the_rate() -> None:
    from civic_briefs.audio import nearest_bitrate

    assert [nearest_bitrate(44100, k) for k in (128, 127, 129, 400)] == [128, 128, 160, 320]
    assert [nearest_bitrate(22050, k) for k in (64, 65, 200)] == [64, 80, 160]
    with pytest.raises(AudioError):
        nearest_bitrate(12345, 64)


def test_indexed_parts_name_the_line_each_piece_comes_from() -> None:
    from civic_briefs.audio import split_into_indexed_parts

    lines = [Line(speaker="A", text="Short."), Line(speaker="B", text="  "),
             Line(speaker="B", text="One sentence here. Another one there."), Line(speaker="A", text="End.")]
    parts = split_into_indexed_parts(lines, max_chars=20)
    assert [[(i, piece.text) for i, piece in part] for part in parts] == [
        [(0, "Short.")], [(2, "One sentence here.")], [(2, "Another one there.")], [(3, "End.")]]
    assert [[line for _, line in part] for part in parts] == split_into_parts(lines, max_chars=20)


def test_the_first_frames_of_a_silence_mp3_are_an_mp3_of_that_many_frames():
    """Pauses are cut from one encoded silence: any prefix decodes whole, to exactly its frames' samples."""
    import miniaudio

    from civic_briefs.audio import frames_of, join_frames, samples_per_frame

    for rate, kbps in ((22050, 64), (44100, 128)):
        silence = frames_of(silence_mp3(2.5, sample_rate=rate, bitrate_kbps=kbps))
        for count in (1, 7, silence.count):
            joined = join_frames([silence.first(count)])
            sound = miniaudio.mp3_read_f32(joined)
            assert len(sound.samples) == count * samples_per_frame(rate)
            assert max(map(abs, sound.samples)) == 0.0
            assert mp3_info(joined).duration_seconds == pytest.approx(count * samples_per_frame(rate) / rate)
        with pytest.raises(AudioError, match=f"cannot take {silence.count + 1} of the {silence.count} frames"):
            silence.first(silence.count + 1)


def test_joining_walked_frames_gives_the_bytes_join_mp3_gives():
    from civic_briefs.audio import frames_of, join_frames

    parts = [silence_mp3(0.3), silence_mp3(1.1), silence_mp3(0.05)]
    assert join_frames([frames_of(p) for p in parts]) == join_mp3(parts)
    assert frames_of(join_mp3(parts)).data == b"".join(frames_of(p).data for p in parts)
