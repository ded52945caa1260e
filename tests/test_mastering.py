"""Mastering and the brief join (civic_briefs.mastering, rendering.join_brief), measured on the file.

Each segment is mastered once, when it is rendered (rendering.render_segment); a brief is its
segments' frames with encoded silence between them, decoded once to be measured.

Every figure is measured again here from the bytes written, with the libraries themselves
(miniaudio to decode, pyloudnorm for BS.1770 loudness, scipy's 4x oversampling for true peak), not
with the code under test.
"""

from __future__ import annotations

import math

import miniaudio
import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from civic_briefs import mastering, rendering
from civic_briefs.audio import AudioError, encode_pcm_to_mp3, mp3_info, silence_mp3
from civic_briefs.models import Line, Segment
from civic_briefs.providers.elevenlabs_speech import ElevenLabsSpeech
from civic_briefs.providers.offline_speech import OfflineSpeech

SCRIPT = [
    ["Good morning, Lena. Three stories today.", "And one from the news."],
    ["H.R. thirteen fifteen came from Representative Cicilline.", "It would change how judges are picked.",
     "It died in committee when the 117th Congress ended."],
    ["The GAO looked at rural clinics.", "Senator Inhofe asked for the report.", "What did it find?"],
    ["In the news: transportation.", "Two bridges closed this week."],
    ["That's the brief. It was written and voiced by AI.", "See you tomorrow."],
]


def script_segments() -> list[Segment]:
    return [Segment(key=f"seg-{n}", kind="story", lines=[Line(speaker="AB"[(n + i) % 2], text=text)
                                                          for i, text in enumerate(texts)])
            for n, texts in enumerate(SCRIPT)]


def decoded(mp3: bytes) -> tuple[np.ndarray, int]:
    sound = miniaudio.mp3_read_f32(mp3)
    return np.frombuffer(sound.samples, dtype=np.float32).reshape(-1, sound.nchannels), sound.sample_rate


def loudness_and_peak(mp3: bytes) -> tuple[float, float]:
    samples, rate = decoded(mp3)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    peak = float(np.abs(resample_poly(samples, 4, 1, axis=0)).max())
    return lufs, 20 * math.log10(peak)


def silent_runs(mp3: bytes, threshold_db: float = -45.0, shortest: float = 0.15) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch at least ``shortest`` long below ``threshold_db`` (10 ms windows)."""
    samples, rate = decoded(mp3)
    window = rate // 100
    frames = samples[: len(samples) // window * window, 0].reshape(-1, window)
    quiet = np.abs(frames).max(axis=1) < 10 ** (threshold_db / 20)
    runs, start = [], None
    for index, still in enumerate(np.append(quiet, False)):
        if still and start is None:
            start = index
        elif not still and start is not None:
            if (index - start) / 100 >= shortest:
                runs.append((start / 100, index / 100))
            start = None
    return runs


def rendered_and_joined(renderer, segments: list[Segment]):
    rendered = [rendering.render_segment(renderer, segment) for segment in segments]
    return rendered, rendering.join_brief([rendering.SegmentAudio.of(r, len(s.lines))
                                           for r, s in zip(rendered, segments)])


@pytest.fixture(scope="module")
def offline_rendered():
    return rendered_and_joined(OfflineSpeech(), script_segments())


@pytest.fixture(scope="module")
def offline_brief(offline_rendered):
    return offline_rendered[1]


@pytest.fixture
def elevenlabs_rendered(standins):
    speech = ElevenLabsSpeech(standins.settings(), timeout=10)
    return rendered_and_joined(speech, script_segments())


@pytest.fixture
def elevenlabs_brief(elevenlabs_rendered):
    return elevenlabs_rendered[1]


def check_mastered(brief) -> None:
    lufs, peak = loudness_and_peak(brief.mp3)
    assert lufs == pytest.approx(-16.0, abs=0.25), lufs  # the issue allows +/- 1 LU; it lands much closer
    assert peak <= -1.0, peak
    assert brief.loudness_lufs == pytest.approx(lufs, abs=0.01)
    assert brief.true_peak_dbtp == pytest.approx(peak, abs=0.01)


def check_times(brief, segments: list[Segment]) -> None:
    starts, ends = brief.segment_starts, brief.segment_ends
    assert len(starts) == len(ends) == len(brief.line_times) == len(segments)
    assert all(a < b for a, b in zip(starts, starts[1:]))
    assert all(s < e <= n for s, e, n in zip(starts, ends, starts[1:]))
    assert ends[-1] == pytest.approx(brief.duration_seconds, abs=0.05)
    assert brief.duration_seconds == pytest.approx(mp3_info(brief.mp3).duration_seconds, abs=1e-6)
    for segment, start, end, times in zip(segments, starts, ends, brief.line_times):
        assert len(times) == len(segment.lines)
        assert all(start <= a < b <= end for a, b in times)
        assert all(a1 <= a2 for (a1, _), (a2, _) in zip(times, times[1:]))


def test_offline_brief_is_mastered_to_minus_16_lufs_and_minus_1_dbtp(offline_brief):
    check_mastered(offline_brief)
    assert (offline_brief.sample_rate, offline_brief.bitrate_kbps) == (22050, 64)


def test_elevenlabs_brief_through_the_sdk_is_mastered_the_same(standins, elevenlabs_brief):
    check_mastered(elevenlabs_brief)
    assert (elevenlabs_brief.sample_rate, elevenlabs_brief.bitrate_kbps) == (44100, 128)
    assert standins.elevenlabs.count == len(SCRIPT)  # one request a segment, each timed


@pytest.mark.parametrize("which", ["offline", "elevenlabs"])
def test_segment_and_line_times_fit_the_file(which, request):
    brief = request.getfixturevalue(f"{which}_brief")
    check_times(brief, script_segments())


@pytest.mark.parametrize("which", ["offline", "elevenlabs"])
def test_the_pause_between_segments_is_longer_than_between_lines(which, request):
    brief = request.getfixturevalue(f"{which}_brief")
    runs = silent_runs(brief.mp3)
    boundaries = brief.segment_starts[1:]
    between = [end - start for start, end in runs if any(start <= b <= end + 0.03 for b in boundaries)]
    within = [end - start for start, end in runs if not any(start <= b <= end + 0.03 for b in boundaries)]
    assert len(between) == len(boundaries)  # a measured silence at every segment boundary
    assert within, "the lines inside segments are paused too"
    assert min(between) >= 0.95 and max(between) <= 1.1, between
    assert max(within) <= 0.45, within
    assert min(between) > 2 * max(within)


def test_offline_line_times_hold_the_speech(offline_brief):
    """Offline times are exact: a line's first 0.2 s are loud, the stretch before it (a pause) is not."""
    samples, rate = decoded(offline_brief.mp3)

    def peak(start: float, end: float) -> float:
        return float(np.abs(samples[round(start * rate):round(end * rate)]).max())

    for times in offline_brief.line_times:
        for (_, before_end), (start, _) in zip(times, times[1:]):
            assert peak(before_end + 0.04, start - 0.04) < 0.01
            assert peak(start, start + 0.2) > 0.1


def test_a_peaky_quiet_signal_is_limited_and_brought_up():
    """Clicks 30 dB above a quiet tone: the gain that reaches -16 LUFS would clip them; the limiter holds them."""
    rate = 22050
    t = np.arange(rate * 20) / rate
    signal = 0.02 * np.sin(2 * np.pi * 300 * t)
    signal[::rate // 3] = 0.9
    mastered = mastering.master_to_mp3(signal.astype(np.float32)[:, None], rate, 64)
    lufs, peak = loudness_and_peak(mastered.mp3)
    assert lufs == pytest.approx(-16.0, abs=0.25) and peak <= -1.0
    assert (mastered.loudness.lufs, mastered.loudness.true_peak_dbtp) == pytest.approx((lufs, peak), abs=0.01)


def test_limiter_gain_never_lets_a_peak_through():
    rate = 22050
    envelope = np.full(rate, 0.1, dtype=np.float32)
    envelope[[100, 5000, 5003, rate - 1]] = [2.0, 1.5, 3.0, 1.2]
    gain = mastering.limiter_gain(envelope, rate, ceiling_dbtp=-2.0)
    assert (envelope * gain).max() <= 10 ** (-2 / 20) + 1e-6
    assert gain[12000] == 1.0  # far from every peak: untouched
    assert np.abs(np.diff(gain)).max() < 0.1  # no step: the reduction fades in and out


def test_silence_cannot_be_mastered():
    with pytest.raises(AudioError, match="silent"):
        rendering.join_brief([rendering.SegmentAudio(silence_mp3(1.0), [], 1)])


def test_segments_of_different_formats_are_refused():
    voice = encode_pcm_to_mp3((np.sin(np.arange(22050) / 5) * 8000).astype("<i2").tobytes(), 22050)
    other = silence_mp3(0.5, sample_rate=44100, bitrate_kbps=128)
    with pytest.raises(AudioError, match="segment 1 is 44100 Hz/1 ch, segment 0 is 22050 Hz/1 ch"):
        rendering.join_brief([rendering.SegmentAudio(voice, [], 1), rendering.SegmentAudio(other, [], 1)])


def test_a_stored_render_without_line_offsets_gets_even_line_times():
    tone = encode_pcm_to_mp3((np.sin(np.arange(22050 * 2) / 5) * 8000).astype("<i2").tobytes(), 22050)
    brief = rendering.join_brief([rendering.SegmentAudio(tone, [], 4)])
    (times,) = brief.line_times
    assert len(times) == 4
    lengths = [b - a for a, b in times]
    assert max(lengths) - min(lengths) < 0.06 and sum(lengths) == pytest.approx(2.0, abs=0.1)


def test_the_encoder_level_constant_is_what_lame_does_and_mastering_is_deterministic():
    rate = 44100
    tone = (0.25 * np.sin(2 * np.pi * 1000 * np.arange(rate * 3) / rate)).astype(np.float32)
    samples, _ = decoded(encode_pcm_to_mp3(mastering.to_pcm16(tone), rate, bitrate_kbps=128))
    level = 20 * math.log10(np.sqrt((samples[rate:2 * rate, 0] ** 2).mean()) / np.sqrt((tone[rate:2 * rate] ** 2).mean()))
    assert level == pytest.approx(mastering.ENCODER_LEVEL_DB, abs=0.02)
    once = mastering.master_to_mp3(tone[:, None], rate, 128)
    assert once.encodings == 1  # the constant made up for: no second encoding
    assert mastering.master_to_mp3(tone[:, None], rate, 128).mp3 == once.mp3


def test_line_offsets_of_a_segment_in_several_parts_follow_the_parts(standins):
    """Five 500-character lines make two requests; the second part's line sits after the whole first part."""
    from civic_briefs.audio import check_whole_mp3
    from tests.standins.elevenlabs_api import voice_hz
    from tests.standins.mp3 import dialogue_mp3

    settings = standins.settings()
    speech = ElevenLabsSpeech(settings, timeout=10)
    lines = [Line(speaker="AB"[i % 2], text=(f"Line {i} " + "word " * 100)[:500]) for i in range(5)]
    rendered = rendering.render_segment(speech, Segment(key="long", kind="story", lines=lines))
    assert rendered.parts == 2 and standins.elevenlabs.count == 2
    hz = {"A": voice_hz(settings.voice_host_a), "B": voice_hz(settings.voice_host_b)}
    first_mp3, _ = dialogue_mp3(tuple((5.0, hz[line.speaker]) for line in lines[:4]), 0.3)  # what the stand-in sent
    part_one = check_whole_mp3(first_mp3).duration_seconds
    # Mastering cut the silence before the first line's sound to EDGE_SECONDS and put LAME's delay in front.
    samples, rate = decoded(first_mp3)
    first_sound = int(np.flatnonzero(np.abs(samples[:, 0]) > 10 ** (-50 / 20))[0])
    shift = rendered.sound_start - max(0, first_sound - round(rendering.EDGE_SECONDS * rate)) / rate
    assert rendered.sound_start == pytest.approx(1105 / rate)
    assert rendered.line_offsets[3] == pytest.approx((3 * 5.3 + shift, 3 * 5.3 + 5.0 + shift), abs=1e-3)
    assert rendered.line_offsets[4] == pytest.approx((part_one + shift, part_one + 5.0 + shift), abs=1e-3)
    assert part_one > 4 * 5.0 + 3 * 0.3  # the first part's MP3 runs past its last line (encoder delay, padding)


def test_stored_renders_keep_line_offsets_and_older_ones_still_load(tmp_path):
    from civic_briefs.models import RenderedSegment
    from civic_briefs.segment_store import LocalBlobStore, SegmentStore

    store = SegmentStore(LocalBlobStore(tmp_path))
    mp3 = silence_mp3(0.5)
    store.put_render("render-aa11", RenderedSegment(key="render-aa11", mp3=mp3, duration_seconds=0.5, parts=1,
                                                    line_offsets=[(0.05, 0.3), (0.3, 0.45)], loudness_lufs=-16.02,
                                                    true_peak_dbtp=-1.61, sound_start=0.05, sound_end=0.46))
    back = store.render("render-aa11")
    assert back.line_offsets == [(0.05, 0.3), (0.3, 0.45)]
    assert (back.loudness_lufs, back.true_peak_dbtp, back.sound_start, back.sound_end, back.mastered) == (
        -16.02, -1.61, 0.05, 0.46, True)
    # a render stored before lines were timed: its metadata has no line_offsets
    store.blobs.put("render-bb22.mp3", mp3)
    store.blobs.put("render-bb22.json", b'{"duration_seconds": 0.5, "parts": 1, "usage": {}, "request_ids": ["r1"]}')
    old = store.render("render-bb22")
    assert (old.mp3, old.line_offsets, old.request_ids) == (mp3, [], ["r1"])
    assert (old.loudness_lufs, old.sound_start, old.mastered) == (None, None, False)


# --------------------------------------------------------------------------- mastered once, per segment


def measured_between_pauses(mp3: bytes) -> float:
    """A segment's loudness as heard in a brief: with silence either side."""
    samples, rate = decoded(mp3)
    padded = np.pad(samples.astype(np.float64), ((rate, rate), (0, 0)))
    return pyloudnorm.Meter(rate).integrated_loudness(padded)


@pytest.mark.parametrize("which", ["offline", "elevenlabs"])
def test_each_segment_is_mastered_when_it_is_rendered(which, request):
    rendered, _ = request.getfixturevalue(f"{which}_rendered")
    for render in rendered:
        samples, rate = decoded(render.mp3)
        lufs, peak = measured_between_pauses(render.mp3), loudness_and_peak(render.mp3)[1]
        assert render.mastered
        assert lufs == pytest.approx(-16.0, abs=0.25) and peak <= mastering.SEGMENT_MAX_TRUE_PEAK_DBTP
        assert (render.loudness_lufs, render.true_peak_dbtp) == pytest.approx((lufs, peak), abs=0.01)
        # its sound lies where it says: LAME's delay before it, the encoder's padding after it, silent
        level = np.abs(samples[:, 0])
        start, end = round(render.sound_start * rate), round(render.sound_end * rate)
        assert start == 1105 and level[:start].max() < 0.01 and level[end + 100:].max(initial=0) < 0.01
        edge = round(rendering.EDGE_SECONDS * rate)
        assert level[start + edge: start + edge + rate // 10].max() > 10 ** (-50 / 20) * 0.9
        assert render.duration_seconds == pytest.approx(len(samples) / rate, abs=1e-6)


@pytest.mark.parametrize("which", ["offline", "elevenlabs"])
def test_the_brief_is_the_segments_frames_and_its_peak_is_theirs(which, request):
    """Joined at frame level: no segment is encoded again, and the brief's true peak measured on its
    file is the loudest segment's (the join makes no new peaks)."""
    rendered, brief = request.getfixturevalue(f"{which}_rendered")
    for render in rendered:
        assert mastering_frames(render.mp3) in brief.mp3
    _, peak = loudness_and_peak(brief.mp3)
    assert peak == pytest.approx(max(r.true_peak_dbtp for r in rendered), abs=0.1)
    assert brief.true_peak_dbtp == pytest.approx(peak, abs=0.01)


def mastering_frames(mp3: bytes) -> bytes:
    """The audio frames of an MP3 with an Info header (the header is the first frame)."""
    from civic_briefs.audio import frames_of

    return frames_of(mp3).data


@pytest.mark.parametrize("which", ["offline", "elevenlabs"])
def test_segment_times_are_where_each_segment_sound_is_in_the_file(which, request):
    """Each segment starts where its frames land in the brief, plus its own lead-in; its line times
    are its offsets moved there."""
    rendered, brief = request.getfixturevalue(f"{which}_rendered")
    samples, rate = decoded(brief.mp3)
    for render, start, end, times in zip(rendered, brief.segment_starts, brief.segment_ends, brief.line_times):
        at = brief.mp3.index(mastering_frames(render.mp3))
        assert start - render.sound_start == pytest.approx(frames_before(brief.mp3, at) * spf(rate) / rate, abs=1e-9)
        # (kept inside the segment: a line time may begin in the EDGE_SECONDS the trim left)
        assert times[0][0] == pytest.approx(max(start, start - render.sound_start + render.line_offsets[0][0]), abs=1e-6)
        own, _ = decoded(render.mp3)
        # the decoded segment inside the brief is the decoded segment alone (past the first frame's overlap)
        first = round(start * rate) - render.sound_start * rate
        here = samples[int(first) + 2 * spf(rate): int(first) + own.shape[0] - spf(rate)]
        assert np.abs(here - own[2 * spf(rate): own.shape[0] - spf(rate)]).max() < 1e-4
        if end != brief.segment_ends[-1]:
            assert end - start == pytest.approx(render.sound_end - render.sound_start, abs=1e-9)


def spf(rate: int) -> int:
    return 1152 if rate >= 32000 else 576


def frames_before(mp3: bytes, offset: int) -> int:
    """Audio frames (after the Info frame) in ``mp3`` before byte ``offset``."""
    from civic_briefs.audio import _audio_frames

    return sum(1 for f in _audio_frames(mp3) if f.offset < offset)


def test_a_render_stored_before_mastering_is_mastered_at_the_join():
    """An old render (raw renderer output, no sound bounds) beside a mastered one: both at -16 LUFS in
    the brief, the pause between them 1 s, each segment's times inside the file."""
    speech = OfflineSpeech()
    segments = script_segments()[:2]
    old_raw = rendering.join_mp3([speech.render_part([(l.speaker, l.text) for l in segments[0].lines], []).mp3])
    new = rendering.render_segment(speech, segments[1])
    brief = rendering.join_brief([rendering.SegmentAudio(old_raw, [], len(segments[0].lines)),
                                  rendering.SegmentAudio.of(new, len(segments[1].lines))])
    check_mastered(brief)
    check_times(brief, segments)
    samples, rate = decoded(brief.mp3)
    first_half = samples[: round(brief.segment_ends[0] * rate)].astype(np.float64)
    assert pyloudnorm.Meter(rate).integrated_loudness(first_half) == pytest.approx(-16.0, abs=0.3)
    pause = [e - s for s, e in silent_runs(brief.mp3) if s <= brief.segment_starts[1] <= e + 0.03]
    assert len(pause) == 1 and 0.95 <= pause[0] <= 1.1, pause


def test_the_streamed_meter_gives_what_pyloudnorm_and_4x_oversampling_give_on_the_whole_file():
    """Stereo, 7 s at 44.1 kHz, a loud and a quiet stretch: measured in 3 s chunks, as on the whole."""
    rate = 44100
    t = np.arange(rate * 7) / rate
    left = 0.5 * np.sin(2 * np.pi * 997 * t) * (t < 3) + 0.05 * np.sin(2 * np.pi * 220 * t)
    right = 0.3 * np.sin(2 * np.pi * 5003 * t) * (t > 4)
    pcm = mastering.to_pcm16(np.stack([left, right], axis=1).astype(np.float32))
    mp3 = encode_pcm_to_mp3(pcm, rate, channels=2, bitrate_kbps=192)
    lufs, peak = loudness_and_peak(mp3)
    found = mastering.measure_mp3(mp3)
    samples, _ = decoded(mp3)
    assert (found.lufs, found.true_peak_dbtp) == pytest.approx((lufs, peak), abs=1e-6)
    assert found.sample_peak_dbfs == pytest.approx(20 * math.log10(np.abs(samples).max()), abs=1e-6)
    assert found.frames == samples.shape[0]


def test_a_brief_louder_than_its_segments_say_has_its_true_peak_measured_on_the_file(offline_rendered):
    """The segments' peaks are trusted only while the brief's own samples agree with them."""
    rendered, _ = offline_rendered
    understated = [rendering.SegmentAudio(r.mp3, r.line_offsets, len(s.lines), (r.sound_start, r.sound_end), -20.0)
                   for r, s in zip(rendered, script_segments())]
    brief = rendering.join_brief(understated)
    _, peak = loudness_and_peak(brief.mp3)
    assert peak > -19.0 and brief.true_peak_dbtp == pytest.approx(peak, abs=1e-2)
