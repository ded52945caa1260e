"""Stand-in for ElevenLabs Text to Dialogue: ``POST /v1/text-to-dialogue`` (and ``/stream``) and
``POST /v1/text-to-dialogue/with-timestamps``.

Checks ``xi-api-key``, ``output_format`` (query; MP3 formats only here), ``model_id``, the
``inputs`` (1+ items of ``{text, voice_id}``, at most 10 distinct voices, known voice ids, at most
``max_chars`` characters) and ``previous_request_ids`` (at most 3). The audio routes answer with
real MP3 bytes (a tone lasting ``seconds_per_char`` per character); ``with-timestamps`` answers
JSON as the real one does: ``audio_base64`` (one tone per input, its pitch set by the voice,
``line_pause`` seconds of silence between inputs), ``alignment`` / ``normalized_alignment`` (per
character, its input's span shared out evenly) and ``voice_segments`` (per input: voice, start and
end seconds, character indexes, ``dialogue_input_index``). Both carry the headers ``request-id``
and ``character-cost`` (the characters of all inputs).

Extra fault kinds: ``busy`` (429 ``too_many_concurrent_requests``), ``system_busy`` (429
``system_busy``), ``server_error`` (500), ``voice_not_found`` (404), ``empty`` (200, no body),
``not_mp3`` (200, a JSON body labelled audio/mpeg), ``drop`` (half the MP3, then closed),
``truncated`` (``keep=260``: 200 with only the first ``keep`` bytes of a real MP3, a complete reply).

Like the real service, it answers 429 ``too_many_concurrent_requests`` when more than
``concurrency_limit`` renders are in flight (each takes ``latency`` seconds); ``max_in_flight``
records the most it saw at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import zlib

from starlette.requests import Request
from starlette.responses import Response

from tests.standins.common import DroppedResponse, dumps, generic_fault, json_response, record
from tests.standins.control import Controller
from tests.standins.mp3 import dialogue_mp3, parse_output_format, tone_mp3

DEFAULT_VOICES = {"JBFqnCBsd6RMkjVDRZzb", "21m00Tcm4TlvDq8ikWAM"}


class ElevenLabsControl(Controller):
    def __init__(self, api_key: str):
        super().__init__("elevenlabs", api_key)
        self.voices: set[str] = set(DEFAULT_VOICES)
        self.models = {"eleven_v3"}
        self.max_chars = 2000
        self.seconds_per_char = 0.01
        self.line_pause = 0.3
        self.issued: list[str] = []  # request ids of successful renders
        self.concurrency_limit: int | None = None
        self.latency = 0.0
        self.in_flight = self.max_in_flight = 0

    def _reset_extra(self) -> None:
        # Every setting a test may change goes back to its default: the stand-ins serve the session.
        self.voices = set(DEFAULT_VOICES)
        self.models = {"eleven_v3"}
        self.max_chars = 2000
        self.seconds_per_char = 0.01
        self.line_pause = 0.3
        self.issued.clear()
        self.concurrency_limit, self.latency = None, 0.0
        self.in_flight = self.max_in_flight = 0


def _detail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"detail": {"status": code, "message": message}}, headers)


def voice_hz(voice_id: str) -> float:
    """The tone a voice speaks in: one of four pitches, fixed per voice id."""
    return 180.0 + 60.0 * (zlib.crc32(voice_id.encode()) % 4)


async def text_to_dialogue(request: Request) -> Response:
    return await _dialogue(request, timestamps=False)


async def text_to_dialogue_with_timestamps(request: Request) -> Response:
    return await _dialogue(request, timestamps=True)


def _timed_reply(texts: list[str], voices: list[str], mp3: bytes, times: tuple[tuple[float, float], ...]) -> dict:
    characters, starts, ends, segments = [], [], [], []
    for index, (text, voice, (start, end)) in enumerate(zip(texts, voices, times)):
        step = (end - start) / max(1, len(text))
        segments.append({"voice_id": voice, "start_time_seconds": start, "end_time_seconds": end,
                         "character_start_index": len(characters),
                         "character_end_index": len(characters) + len(text), "dialogue_input_index": index})
        for number, char in enumerate(text):
            characters.append(char)
            starts.append(round(start + number * step, 4))
            ends.append(round(start + (number + 1) * step, 4))
    alignment = {"characters": characters, "character_start_times_seconds": starts,
                 "character_end_times_seconds": ends}
    return {"audio_base64": base64.b64encode(mp3).decode(), "alignment": alignment,
            "normalized_alignment": alignment, "voice_segments": segments}


async def _dialogue(request: Request, *, timestamps: bool) -> Response:
    control: ElevenLabsControl = request.app.state.elevenlabs
    number, fault, recorded = await record(control, request)
    request_id = f"el{number:06d}standin"
    if recorded.headers.get("xi-api-key") != control.api_key:
        return _detail(401, "invalid_api_key", "Invalid API key")
    output_format = recorded.query.get("output_format", "mp3_44100_128")
    try:
        sample_rate, bitrate = parse_output_format(output_format)
        body = json.loads(recorded.body)
        inputs = body["inputs"]
        texts = [str(i["text"]) for i in inputs]
        voices = [str(i["voice_id"]) for i in inputs]
    except (ValueError, KeyError, TypeError):
        return json_response(422, {"detail": [{"loc": ["body"], "msg": "invalid request", "type": "value_error"}]})
    if not inputs or len(set(voices)) > 10 or len(body.get("previous_request_ids") or []) > 3:
        return _detail(400, "invalid_request", "1 to 10 voices and at most 3 previous_request_ids")
    if body.get("model_id", "eleven_v3") not in control.models:
        return _detail(400, "model_not_found", f"Model {body.get('model_id')} does not support dialogue")
    unknown = next((v for v in voices if v not in control.voices), None)
    kind = fault.kind if fault else None
    if unknown or kind == "voice_not_found":
        return _detail(404, "voice_not_found", f"A voice with the voice_id {unknown or voices[0]} was not found.")
    characters = sum(len(t) for t in texts)
    if characters > control.max_chars:
        return _detail(400, "text_too_long", f"{characters} characters; at most {control.max_chars} per request")
    if fault and (response := generic_fault(fault)) is not None:
        return response
    if kind == "busy":
        return _detail(429, "too_many_concurrent_requests",
                       "Too many concurrent requests. Your plan allows 2 at once.")
    if kind == "system_busy":
        return _detail(429, "system_busy", "Our services are experiencing high levels of traffic.")
    if kind == "server_error":
        return _detail(500, "internal_error", "Internal server error")
    headers = {"request-id": request_id, "character-cost": str(characters)}
    if kind in ("empty", "not_mp3"):
        audio = b"" if kind == "empty" else b'{"detail": "not audio"}'
        if timestamps:
            return json_response(200, {"audio_base64": base64.b64encode(audio).decode(), "alignment": None,
                                       "normalized_alignment": None, "voice_segments": []}, headers)
        return Response(audio, media_type="audio/mpeg", headers=headers)
    with control._lock:
        control.in_flight += 1
        control.max_in_flight = max(control.max_in_flight, control.in_flight)
        over = control.concurrency_limit is not None and control.in_flight > control.concurrency_limit
    try:
        if over:
            return _detail(429, "too_many_concurrent_requests",
                           f"Too many concurrent requests. Your plan allows {control.concurrency_limit} at once.")
        await asyncio.sleep(control.latency)
        if timestamps:
            lines = tuple((max(0.1, len(t) * control.seconds_per_char), voice_hz(v)) for t, v in zip(texts, voices))
            mp3, times = dialogue_mp3(lines, control.line_pause, sample_rate, bitrate)
        else:
            mp3, times = tone_mp3(max(0.2, characters * control.seconds_per_char), sample_rate, bitrate), ()
    finally:
        with control._lock:
            control.in_flight -= 1
    if kind == "truncated":
        # A whole HTTP reply (content-length matches) holding only the start of a real MP3.
        mp3 = mp3[: int(fault.options.get("keep", 260))]
    if timestamps:
        body, media_type = dumps(_timed_reply(texts, voices, mp3, times)), "application/json"
    else:
        body, media_type = mp3, "audio/mpeg"
    if kind == "drop":
        return DroppedResponse(body, media_type=media_type, headers=headers)
    if kind != "truncated":
        with control._lock:
            control.issued.append(request_id)
    return Response(body, media_type=media_type, headers=headers)
