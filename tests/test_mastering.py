"""Mastering and the brief join (civic_briefs.mastering, rendering.join_brief), measured on the file.

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


def joined(renderer, segments: list[Segment]):
    rendered = [rendering.render_segment(renderer, segment) for segment in segments]
    return rendering.join_brief([rendering.SegmentAudio(r.mp3, r.line_offsets, len(s.lines))
                                 for r, s in zip(rendered, segments)])


@pytest.fixture(scope="module")
def offline_brief():
    return joined(OfflineSpeech(), script_segments())


@pytest.fixture
def elevenlabs_brief(standins):
    speech = ElevenLabsSpeech(standins.settings(), timeout=10)
    return joined(speech, script_segments())


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
    assert rendered.line_offsets[3] == pytest.approx((3 * 5.3, 3 * 5.3 + 5.0), abs=1e-3)
    assert rendered.line_offsets[4] == pytest.approx((part_one, part_one + 5.0), abs=1e-3)
    assert part_one > 4 * 5.0 + 3 * 0.3  # the first part's MP3 runs past its last line (encoder delay, padding)


def test_stored_renders_keep_line_offsets_and_older_ones_still_load(tmp_path):
    from civic_briefs.models import RenderedSegment
    from civic_briefs.segment_store import LocalBlobStore, SegmentStore

    store = SegmentStore(LocalBlobStore(tmp_path))
    mp3 = silence_mp3(0.5)
    store.put_render("render-aa11", RenderedSegment(key="render-aa11", mp3=mp3, duration_seconds=0.5, parts=1,
                                                    line_offsets=[(0.05, 0.3), (0.3, 0.45)]))
    assert store.render("render-aa11").line_offsets == [(0.05, 0.3), (0.3, 0.45)]
    # a render stored before lines were timed: its metadata has no line_offsets
    store.blobs.put("render-bb22.mp3", mp3)
    store.blobs.put("render-bb22.json", b'{"duration_seconds": 0.5, "parts": 1, "usage": {}, "request_ids": ["r1"]}')
    old = store.render("render-bb22")
    assert (old.mp3, old.line_offsets, old.request_ids) == (mp3, [], ["r1"])
