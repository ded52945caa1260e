"""Tests for the offline espeak-ng renderer (no network, no system packages, no Prefect)."""

from __future__ import annotations

import array
import statistics
from concurrent.futures import ThreadPoolExecutor

import pytest

from civic_briefs import lexicon, mastering
from civic_briefs.audio import join_mp3, mp3_info
from civic_briefs.providers import offline_speech
from civic_briefs.providers.base import PermanentProviderError, SpeechRenderer
from civic_briefs.providers.offline_speech import SAMPLE_RATE, OfflineSpeech, spoken_phonemes, synthesize_pcm

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
    assert speech.name == f"espeak-ng-v2:en-us+m3/en-us+f3:22050:64k:lexicon-{lexicon.default().version}"


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


def test_both_hosts_speak_american_english(speech: OfflineSpeech) -> None:
    """One accent: espeak says the same sentence with the same (rhotic, American) phonemes in both
    voices; the British voice host B had before says it differently."""
    sentence = "The water in the car is better after dinner."
    american = [spoken_phonemes(sentence, speech.voices[host]) for host in "AB"]
    assert american[0] == american[1] == "D@2 w'O:t#3r- InD@2 k'A@r- Iz b'Et#3r- 'aaft3 d'In3\n"
    assert spoken_phonemes(sentence, "en+f3") != american[0]
    assert all(voice.startswith("en-us") for voice in speech.voices.values())


@pytest.mark.parametrize("name", ["Kowalski", "Cicilline", "Inhofe"])
def test_lexicon_names_are_spoken_from_their_phonemes(speech: OfflineSpeech, name: str) -> None:
    """espeak's trace of what it spoke has the lexicon's phonemes for the name, not its own guess."""
    listed = lexicon.default().entries[name].espeak
    said = spoken_phonemes(speech.spoken_text(f"Representative {name} said so."), speech.voices["B"])
    assert said.split()[1] == listed, said
    guessed = spoken_phonemes(f"Representative {name} said so.", speech.voices["B"])
    assert guessed.split()[1] != listed  # without the lexicon espeak says it another way


def test_line_times_are_where_the_lines_are_heard(speech: OfflineSpeech) -> None:
    """Each line's time holds its sound; the 0.35 s pause between lines is silent."""
    lines = [("A", "The first line is here."), ("B", "[laughs]"), ("B", "A second, longer line follows it.")]
    part = speech.render_part(lines, [])
    pcm = mastering.decode_mp3(part.mp3)
    samples, rate = pcm.samples[:, 0], pcm.sample_rate
    (a0, a1), (b0, b1), (c0, c1) = part.line_times
    assert b0 == b1 == a1  # nothing said: a zero-length time where it would have been
    assert c0 - a1 == pytest.approx(0.35, abs=0.001)
    assert c1 == pytest.approx(len(samples) / rate, abs=0.06)  # the encoder's padding after the last line

    def peak(start: float, end: float) -> float:
        return float(abs(samples[round(start * rate):round(end * rate)]).max())

    assert peak(a1 + 0.03, c0 - 0.03) < 0.003  # the pause
    assert peak(a0, a0 + 0.2) > 0.05 and peak(c0, c0 + 0.2) > 0.05  # speech from the line's start
    assert peak(0, a0 - 0.005) < 0.003  # LAME's delay before the first line


def test_each_line_uses_its_speakers_voice(speech: OfflineSpeech, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[tuple[str, str]] = []
    real = offline_speech.synthesize_pcm

    def spy(text: str, voice: str) -> bytes:
        used.append((voice, text))
        return real(text, voice)

    monkeypatch.setattr(offline_speech, "synthesize_pcm", spy)
    speech.render_part([("A", "One."), ("B", "Two [laughs]."), ("A", "  "), ("A", "Three.")], [])
    assert used == [("en-us+m3", "One."), ("en-us+f3", "Two  ."), ("en-us+m3", "Three.")]


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
