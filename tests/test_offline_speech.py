"""Tests for the offline espeak-ng renderer (no network, no system packages, no Prefect)."""

from __future__ import annotations

import array
import statistics
from concurrent.futures import ThreadPoolExecutor

import pytest

from civic_briefs.audio import join_mp3, mp3_info
from civic_briefs.providers import offline_speech
from civic_briefs.providers.base import PermanentProviderError, SpeechRenderer
from civic_briefs.providers.offline_speech import SAMPLE_RATE, OfflineSpeech, synthesize_pcm

SENTENCE = "The House passed the infrastructure bill on Friday, sending it to the Senate."
FRAME_SECONDS = 576 / SAMPLE_RATE


def median_pitch_hz(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    """Median fundamental frequency of the voiced 40 ms windows of 16-bit mono ``pcm``.

    Autocorrelation over 60-400 Hz on a 4x-decimated signal; windows quieter than half the RMS
    or without a clear period are skipped.
    """
    samples = array.array("h", pcm)
    step = 4
    x = [sum(samples[i : i + step]) / step for i in range(0, len(samples) - step, step)]
    fs = rate / step
    width = int(0.04 * fs)
    loud = 0.25 * sum(v * v for v in x) / len(x)
    pitches = []
    for start in range(0, len(x) - width, width):
        window = x[start : start + width]
        mean = sum(window) / width
        window = [v - mean for v in window]
        energy = sum(v * v for v in window)
        if energy / width < loud:
            continue
        score, lag = max(
            (sum(window[i] * window[i + lag] for i in range(width - lag)) / energy, lag)
            for lag in range(int(fs / 400), int(fs / 60) + 1)
        )
        if score > 0.5:
            pitches.append(fs / lag)
    assert len(pitches) >= 10, "too few voiced windows to measure pitch"
    return statistics.median(pitches)


@pytest.fixture(scope="module")
def speech() -> OfflineSpeech:
    return OfflineSpeech()


def test_is_a_speech_renderer(speech: OfflineSpeech) -> None:
    assert isinstance(speech, SpeechRenderer)
    assert speech.name == "espeak-ng:en-us+m3/en+f3:22050:64k"


def test_renders_a_two_line_dialogue(speech: OfflineSpeech) -> None:
    lines = [("A", "Welcome to Civic Briefs. H.R. 3684 is on the move."), ("B", "Let's see what it does.")]
    result = speech.render_part(lines, previous_request_ids=["earlier"])
    info = mp3_info(result.mp3)
    assert (info.sample_rate, info.channels, info.bitrate_kbps) == (22050, 1, 64)
    assert info.duration_seconds > 1.0
    assert result.usage.characters == sum(len(text) for _, text in lines)
    assert (result.usage.requests, result.usage.dollars) == (1, 0)
    again = speech.render_part(lines, previous_request_ids=[])
    assert again.request_id == result.request_id  # a hash of the input
    # espeak's pitch flutter carries over between calls, so bytes vary by a few samples
    assert mp3_info(again.mp3).duration_seconds == pytest.approx(info.duration_seconds, abs=2 * FRAME_SECONDS)
    assert speech.render_part(lines[:1], []).request_id != result.request_id


def test_hosts_have_clearly_different_voices(speech: OfflineSpeech) -> None:
    pitch_a = median_pitch_hz(synthesize_pcm(SENTENCE, speech.voices["A"]))
    pitch_b = median_pitch_hz(synthesize_pcm(SENTENCE, speech.voices["B"]))
    assert 70 < pitch_a < 160, pitch_a  # a male voice
    assert pitch_b > 1.5 * pitch_a, (pitch_a, pitch_b)  # a much higher, female voice
    mp3_a = speech.render_part([("A", SENTENCE)], []).mp3
    mp3_b = speech.render_part([("B", SENTENCE)], []).mp3
    assert mp3_a != mp3_b


def test_each_line_uses_its_speakers_voice(speech: OfflineSpeech, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[tuple[str, str]] = []
    real = offline_speech.synthesize_pcm

    def spy(text: str, voice: str) -> bytes:
        used.append((voice, text))
        return real(text, voice)

    monkeypatch.setattr(offline_speech, "synthesize_pcm", spy)
    speech.render_part([("A", "One."), ("B", "Two [laughs]."), ("A", "  "), ("A", "Three.")], [])
    assert used == [("en-us+m3", "One."), ("en+f3", "Two  ."), ("en-us+m3", "Three.")]


def test_audio_tags_are_not_spoken(speech: OfflineSpeech) -> None:
    only_tag = mp3_info(speech.render_part([("B", "[laughs]")], []).mp3)
    assert only_tag.duration_seconds < 0.6  # the pause, nothing said


def test_rejects_bad_input(speech: OfflineSpeech) -> None:
    with pytest.raises(PermanentProviderError):
        speech.render_part([("C", "Who am I?")], [])
    with pytest.raises(PermanentProviderError):
        speech.render_part([], [])
    with pytest.raises(PermanentProviderError):
        speech.render_part([("A", "   ")], [])
    with pytest.raises(PermanentProviderError):
        synthesize_pcm("hello", "no-such-voice-xyz")
    assert synthesize_pcm("hello", "en-us+m3")  # a failed voice change leaves espeak usable


def test_concurrent_renders_match_sequential(speech: OfflineSpeech) -> None:
    """Without the lock, threads would share espeak's callback buffer and mix their audio."""
    jobs = [[("A" if i % 2 else "B", "Item number " + "and more " * i + "ends here.")] for i in range(8)]

    def seconds(lines: list[tuple[str, str]]) -> float:
        return mp3_info(speech.render_part(lines, []).mp3).duration_seconds

    sequential = [seconds(lines) for lines in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(seconds, jobs))
    assert threaded == pytest.approx(sequential, abs=2 * FRAME_SECONDS)
    assert sequential == sorted(sequential)  # longer text, longer audio: the jobs really differ


def test_join_three_rendered_parts(speech: OfflineSpeech) -> None:
    rendered = [
        speech.render_part([("A", f"This is part {n}."), ("B", "And this is the reply to it.")], []).mp3
        for n in (1, 2, 3)
    ]
    joined = join_mp3(rendered)
    expected = sum(mp3_info(part).duration_seconds for part in rendered)
    assert abs(mp3_info(joined).duration_seconds - expected) <= 2 * FRAME_SECONDS * len(rendered)
