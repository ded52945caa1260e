"""ElevenLabsSpeech with the real ``elevenlabs`` SDK against the loopback Text to Dialogue stand-in."""

from __future__ import annotations

import io
import threading
from decimal import Decimal

import pytest
from mutagen.mp3 import MP3

from civic_briefs import lexicon
from civic_briefs.audio import LAME_DELAY_SAMPLES
from civic_briefs.providers.base import PermanentProviderError, ProviderError, SpeechRenderer
from civic_briefs.providers.elevenlabs_speech import ElevenLabsSpeech, looks_like_mp3

LINES = [("A", "Welcome back. Today we look at a bill about rural clinics."),
         ("B", "Who introduced it, and where does it stand?")]
CHARS = sum(len(text) for _, text in LINES)
LEXICON = lexicon.default().version


def make_speech(standins, waits: list[float] | None = None, **settings) -> ElevenLabsSpeech:
    import time

    def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        time.sleep(seconds)

    return ElevenLabsSpeech(standins.settings(**settings), backoff_initial=0.01, backoff_max=0.05,
                            busy_attempts=4, error_attempts=3, timeout=60, sleep=sleep)


def test_render_part_returns_mp3_request_id_billed_characters_and_line_times(standins):
    speech = make_speech(standins)
    assert isinstance(speech, SpeechRenderer)
    assert speech.name == f"elevenlabs-v2:eleven_v3:JBFqnCBsd6RMkjVDRZzb:21m00Tcm4TlvDq8ikWAM:mp3_44100_128:lexicon-{LEXICON}"

    part = speech.render_part(LINES, [])

    assert looks_like_mp3(part.mp3)
    audio = MP3(io.BytesIO(part.mp3))
    # one tone per line at 0.01 s a character, 0.3 s apart, plus the encoder's delay and padding
    assert audio.info.sample_rate == 44100 and audio.info.length == pytest.approx(CHARS * 0.01 + 0.3, abs=0.06)
    assert part.request_id == "el000001standin" == standins.elevenlabs.issued[0]
    assert part.usage.characters == CHARS and part.usage.requests == 1
    assert part.usage.dollars == Decimal(CHARS) * Decimal("0.30") / 1000
    first, second = (len(text) * 0.01 for _, text in LINES)
    # the service's voice segments, on its own timeline
    flat = [t for span in part.line_times for t in span]
    assert flat == pytest.approx([0.0, first, first + 0.3, first + 0.3 + second], abs=1 / 44100)
    (request,) = standins.elevenlabs.requests
    assert request.path == "/v1/text-to-dialogue/with-timestamps" and request.query == {"output_format": "mp3_44100_128"}
    assert request.headers["xi-api-key"] == "xi-standin-key"
    assert request.json["model_id"] == "eleven_v3" and "previous_request_ids" not in request.json
    assert request.json["inputs"] == [
        {"text": LINES[0][1], "voice_id": "JBFqnCBsd6RMkjVDRZzb"},
        {"text": LINES[1][1], "voice_id": "21m00Tcm4TlvDq8ikWAM"},
    ]


def test_line_times_match_where_each_voice_is_heard(standins):
    """The stand-in gives each voice its own pitch: the decoded part has host A's tone inside A's
    time and host B's inside B's (shifted by the MP3's decoder delay)."""
    import numpy as np

    from civic_briefs import mastering
    from tests.standins.elevenlabs_api import voice_hz

    part = make_speech(standins).render_part(LINES, [])
    pcm = mastering.decode_mp3(part.mp3)
    samples, rate = pcm.samples[:, 0], pcm.sample_rate
    for (start, end), voice in zip(part.line_times, ["JBFqnCBsd6RMkjVDRZzb", "21m00Tcm4TlvDq8ikWAM"]):
        window = samples[LAME_DELAY_SAMPLES + round(start * rate) + 441:LAME_DELAY_SAMPLES + round(end * rate) - 441]
        spectrum = np.abs(np.fft.rfft(window))
        assert np.fft.rfftfreq(len(window), 1 / rate)[spectrum.argmax()] == pytest.approx(voice_hz(voice), abs=3)
    gap = samples[LAME_DELAY_SAMPLES + round(part.line_times[0][1] * rate) + 441:
                  LAME_DELAY_SAMPLES + round(part.line_times[1][0] * rate) - 441]
    assert abs(gap).max() < 0.003


def test_lexicon_words_are_sent_as_their_respellings(standins):
    speech = make_speech(standins)
    speech.render_part([("A", "Rep. Kowalski and the GAO agree."), ("B", "So does Senator Inhofe's office.")], [])
    texts = [i["text"] for i in standins.elevenlabs.requests[0].json["inputs"]]
    assert texts == ["Rep. kuh-WALL-skee and the G-A-O agree.", "So does Senator IN-hoff's office."]


def test_a_reply_without_voice_segments_gets_line_times_in_proportion_to_characters():
    from elevenlabs import DialogueInput

    from civic_briefs.providers.elevenlabs_speech import _line_times

    inputs = [DialogueInput(text="x" * 30, voice_id="a"), DialogueInput(text="y" * 10, voice_id="b")]
    assert _line_times([0, None, 1], inputs, {}, 4.0) == [(0.0, 3.0), (3.0, 3.0), (3.0, 4.0)]
    assert _line_times([0, 1], inputs, {0: (0.1, 2.0), 1: (2.5, 3.9)}, 4.0) == [(0.1, 2.0), (2.5, 3.9)]


def test_voices_format_and_previous_request_ids_come_from_settings_and_caller(standins):
    standins.elevenlabs.voices |= {"voiceA", "voiceB"}
    speech = make_speech(standins, voice_host_a="voiceA", voice_host_b="voiceB", elevenlabs_output_format="mp3_22050_32")
    assert speech.name == f"elevenlabs-v2:eleven_v3:voiceA:voiceB:mp3_22050_32:lexicon-{LEXICON}"
    part = speech.render_part([("B", "Hi."), ("A", "Hello.")], ["r1", "r2", "r3", "r4"])
    assert MP3(io.BytesIO(part.mp3)).info.sample_rate == 22050
    body = standins.elevenlabs.requests[0].json
    assert [i["voice_id"] for i in body["inputs"]] == ["voiceB", "voiceA"]
    assert body["previous_request_ids"] == ["r2", "r3", "r4"]  # the API takes at most three, nearest last


def test_too_many_concurrent_requests_twice_then_success(standins):
    waits: list[float] = []
    speech = make_speech(standins, waits)
    standins.elevenlabs.fail_next("busy", times=2)
    part = speech.render_part(LINES, [])
    assert looks_like_mp3(part.mp3) and part.request_id == "el000003standin"
    assert standins.elevenlabs.count == 3 and len(waits) == 2
    assert 0.005 <= waits[0] <= 0.01 and 0.01 <= waits[1] <= 0.02  # exponential with jitter


def test_system_busy_until_the_attempts_run_out_is_retryable(standins):
    speech = make_speech(standins)
    standins.elevenlabs.fail_next("system_busy", times=10)
    with pytest.raises(ProviderError, match="system_busy") as caught:
        speech.render_part(LINES, [])
    assert caught.value.retryable and not isinstance(caught.value, PermanentProviderError)
    assert standins.elevenlabs.count == 4


def test_unknown_voice_is_permanent_after_one_request(standins):
    speech = make_speech(standins, voice_host_b="no-such-voice")
    with pytest.raises(PermanentProviderError, match="voice_not_found"):
        speech.render_part(LINES, [])
    assert standins.elevenlabs.count == 1


def test_wrong_key_is_permanent_after_one_request(standins):
    speech = make_speech(standins, elevenlabs_api_key="xi-wrong-secret")
    with pytest.raises(PermanentProviderError, match="invalid_api_key") as caught:
        speech.render_part(LINES, [])
    assert "xi-wrong-secret" not in str(caught.value) and standins.elevenlabs.count == 1


@pytest.mark.parametrize("kind", ["server_error", "drop"])
def test_server_errors_and_dropped_connections_are_retried(standins, kind):
    speech = make_speech(standins)
    standins.elevenlabs.fail_next(kind)
    assert looks_like_mp3(speech.render_part(LINES, []).mp3)
    assert standins.elevenlabs.count == 2


@pytest.mark.parametrize("kind", ["server_error", "drop"])
def test_server_errors_until_the_attempts_run_out_are_retryable(standins, kind):
    speech = make_speech(standins)
    standins.elevenlabs.fail_next(kind, times=5)
    with pytest.raises(ProviderError) as caught:
        speech.render_part(LINES, [])
    assert caught.value.retryable and standins.elevenlabs.count == 3


@pytest.mark.parametrize("kind,message", [("empty", "empty body"), ("not_mp3", "not MP3"),
                                          ("malformed", "not the JSON expected")])
def test_empty_or_non_mp3_body_is_a_provider_error(standins, kind, message):
    speech = make_speech(standins)
    standins.elevenlabs.fail_next(kind)
    with pytest.raises(ProviderError, match=message) as caught:
        speech.render_part(LINES, [])
    assert caught.value.retryable and standins.elevenlabs.count == 1


@pytest.mark.parametrize("keep", [260, 5000])
def test_a_reply_holding_only_the_start_of_an_mp3_is_a_retryable_provider_error(standins, keep):
    speech = make_speech(standins)
    standins.elevenlabs.fail_next("truncated", keep=keep)
    with pytest.raises(ProviderError, match=rf"an MP3 cut short or damaged \({keep} bytes, request-id el000001standin\)"
                                            r": not a whole MP3: frame \d+ at byte \d+ is cut off") as caught:
        speech.render_part(LINES, [])
    assert caught.value.retryable and standins.elevenlabs.count == 1
    assert len(speech.render_part(LINES, []).mp3) > keep  # the next reply is whole


def test_concurrency_stays_within_the_plan(standins):
    standins.elevenlabs.concurrency_limit = 1  # the stand-in answers 429 beyond one render at a time
    standins.elevenlabs.latency = 0.1
    speech = make_speech(standins, elevenlabs_concurrency=1)
    results, errors = [], []

    def render() -> None:
        try:
            results.append(speech.render_part(LINES, []))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=render) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 3
    assert standins.elevenlabs.count == 3 and standins.elevenlabs.max_in_flight == 1


def test_bad_input_is_refused_before_any_request(standins):
    speech = make_speech(standins)
    with pytest.raises(PermanentProviderError, match="unknown speaker"):
        speech.render_part([("C", "Hi")], [])
    with pytest.raises(PermanentProviderError, match="at most 2000"):
        speech.render_part([("A", "x" * 2001)], [])
    with pytest.raises(PermanentProviderError, match="not MP3"):
        make_speech(standins, elevenlabs_output_format="pcm_44100")
    assert standins.elevenlabs.count == 0


def test_looks_like_mp3():
    assert not looks_like_mp3(b"") and not looks_like_mp3(b'{"detail": 1}')
    assert looks_like_mp3(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64")
    assert not looks_like_mp3(b"\xff\xfb\xf0\x64")  # bitrate index 1111 is invalid


def test_the_shared_slot_is_held_per_request_not_while_backing_off(standins):
    """A 429's back-off happens outside the slot, so other renders can use it meanwhile."""
    import contextlib

    events: list[str] = []

    @contextlib.contextmanager
    def slot():
        events.append("take")
        try:
            yield
        finally:
            events.append("give")

    waits: list[float] = []
    speech = ElevenLabsSpeech(standins.settings(), backoff_initial=0.01, backoff_max=0.02,
                              sleep=lambda s: (events.append("sleep"), waits.append(s)))
    standins.elevenlabs.fail_next("busy", times=2)
    part = speech.render_part(LINES, [], slot)
    assert looks_like_mp3(part.mp3)
    assert events == ["take", "give", "sleep", "take", "give", "sleep", "take", "give"]
    assert standins.elevenlabs.count == 3
