"""Offline speech: espeak-ng (from the ``espeakng-loader`` wheel, driven by ctypes) plus ``lameenc``.

Needs no system package and no network. Output: mono MP3, 22,050 Hz, 64 kbit/s CBR, both hosts
American English: host A ``en-us+m3`` (male, about 105 Hz) and host B ``en-us+f3`` (female, about
210 Hz). Names and acronyms of the pronunciation lexicon (``civic_briefs.lexicon``) are spoken
from its phonemes through espeak's ``[[...]]`` phoneme input. Each line is synthesized on its
own and the lines joined with a pause, so each line's place in the part is known to the sample.
espeak-ng keeps process-global state, so every call into it holds ``_LOCK``; the library is
initialised once per process.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import espeakng_loader

from civic_briefs import lexicon
from civic_briefs.audio import LAME_DELAY_SAMPLES, encode_pcm_to_mp3, silence_pcm
from civic_briefs.models import Usage
from civic_briefs.providers.base import PermanentProviderError, ProviderError, RenderedPartResult

SAMPLE_RATE = 22050  # what espeak_Initialize returns for its voices
BITRATE_KBPS = 64
VOICES = {"A": "en-us+m3", "B": "en-us+f3"}
# Bumped when the sound changes for the same text and voices, so stored renders are not reused.
RENDER_VERSION = 2
PAUSE_SECONDS = 0.35  # silence between lines
_AUDIO_TAG = re.compile(r"\[[^\]\n]{1,40}\]")  # ElevenLabs v3 tags such as [laughs]: not read aloud

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of exit() on bad data
_CHARS_UTF8 = 1
_PHONEME_INPUT = 0x100  # espeakPHONEMES: speak [[...]] as espeak phoneme mnemonics
_SHOW_PHONEMES = 1
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_LOCK = threading.Lock()
_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None
_chunks: list[bytes] = []  # PCM collected by the callback; only touched while _LOCK is held


@_SynthCallback
def _on_audio(wav, count, _events):  # type: ignore[no-untyped-def]
    """espeak's synth callback: ``count`` 16-bit samples at ``wav``; returning 0 means go on."""
    if count > 0 and wav:
        _chunks.append(ctypes.string_at(wav, count * 2))
    return 0


def _library() -> ctypes.CDLL:
    """Load and initialise espeak-ng once (call with ``_LOCK`` held). Raises ProviderError."""
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetPhonemeTrace.argtypes = [ctypes.c_int, ctypes.c_void_p]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, _INITIALIZE_DONT_EXIT)
    if rate != SAMPLE_RATE:
        raise ProviderError(f"espeak-ng initialised at {rate} Hz, expected {SAMPLE_RATE}", retryable=False)
    lib.espeak_SetSynthCallback(_on_audio)
    _lib = lib
    return lib


def synthesize_pcm(text: str, voice: str) -> bytes:
    """Speak ``text`` with espeak-ng ``voice``: mono signed 16-bit little-endian PCM at 22,050 Hz.

    ``[[...]]`` in ``text`` is spoken as espeak phonemes. Raises PermanentProviderError for an
    unknown voice, ProviderError if synthesis fails.
    """
    return _synthesize(text, voice, trace=False)[0]


def spoken_phonemes(text: str, voice: str) -> str:
    """The phonemes espeak-ng speaks for ``text`` in ``voice`` (its phoneme trace of a real
    synthesis, in espeak's mnemonics, clauses on separate lines): what a listener hears."""
    return _synthesize(text, voice, trace=True)[1]


def _c_library() -> ctypes.CDLL:
    """The C library, for a temporary FILE that espeak writes its phoneme trace to."""
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None)
        libc.tmpfile.restype = ctypes.c_void_p
        libc.fflush.argtypes = libc.rewind.argtypes = libc.fclose.argtypes = [ctypes.c_void_p]
        libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
        libc.fread.restype = ctypes.c_size_t
        _libc = libc
    return _libc


def _read_trace(libc: ctypes.CDLL, stream: int) -> str:
    libc.fflush(stream)
    libc.rewind(stream)
    chunks, buffer = [], ctypes.create_string_buffer(65536)
    while count := libc.fread(buffer, 1, len(buffer), stream):
        chunks.append(buffer.raw[:count])
    return b"".join(chunks).decode("utf-8", "replace")


def _synthesize(text: str, voice: str, *, trace: bool) -> tuple[bytes, str]:
    with _LOCK:
        lib = _library()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise PermanentProviderError(f"espeak-ng has no voice {voice!r}")
        encoded = text.encode("utf-8") + b"\0"
        libc = _c_library() if trace else None
        stream = libc.tmpfile() if libc else None
        if trace and not stream:
            raise ProviderError("no temporary file for espeak's phoneme trace", retryable=False)
        _chunks.clear()
        try:
            if stream:
                lib.espeak_SetPhonemeTrace(_SHOW_PHONEMES, stream)
            status = lib.espeak_Synth(encoded, len(encoded), 0, 0, 0, _CHARS_UTF8 | _PHONEME_INPUT, None, None)
            pcm = b"".join(_chunks)
        finally:
            _chunks.clear()
            if stream:
                lib.espeak_SetPhonemeTrace(0, None)
        phonemes = ""
        if stream:
            phonemes = _read_trace(libc, stream)
            libc.fclose(stream)
    if status != 0:
        raise ProviderError(f"espeak-ng synthesis failed with status {status}", retryable=False)
    return pcm, phonemes


class OfflineSpeech:
    """A :class:`~civic_briefs.providers.base.SpeechRenderer` that renders locally, for free."""

    def __init__(self, voices: dict[str, str] | None = None, pause_seconds: float = PAUSE_SECONDS,
                 words: lexicon.Lexicon | None = None):
        self.voices = dict(voices or VOICES)
        self.pause_seconds = pause_seconds
        self.lexicon = words or lexicon.default()
        self.limit = None
        self.name = (f"espeak-ng-v{RENDER_VERSION}:{self.voices['A']}/{self.voices['B']}:{SAMPLE_RATE}:"
                     f"{BITRATE_KBPS}k:lexicon-{self.lexicon.version}")

    def spoken_text(self, text: str) -> str:
        """What espeak is given for a line: audio tags dropped, lexicon words as phonemes."""
        return self.lexicon.for_espeak(_AUDIO_TAG.sub(" ", text).strip())

    def render_part(self, lines: list[tuple[str, str]], previous_request_ids: list[str],
                    slot: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext) -> RenderedPartResult:
        """Render ``lines`` of (speaker "A"/"B", text) to one MP3 with a pause between lines.

        Bracketed audio tags such as ``[laughs]`` are dropped, not spoken; a part with text but no
        speakable words renders as a short silence. ``line_times`` are exact: where each line's
        samples are in the decoded MP3 (a line with nothing to say gets a zero-length time where
        it would have been). ``previous_request_ids`` is ignored (espeak has no continuity).
        ``request_id`` hashes the renderer settings and the lines; ``usage`` is the characters of
        all lines, one request, $0. Raises PermanentProviderError for an unknown speaker or when
        no line has text.
        """
        unknown = {speaker for speaker, _ in lines} - self.voices.keys()
        if unknown:
            raise PermanentProviderError(f"unknown speaker(s) {sorted(unknown)}; expected A or B")
        if not any(text.strip() for _, text in lines):
            raise PermanentProviderError("nothing to render: no line has text")
        pause = silence_pcm(self.pause_seconds, SAMPLE_RATE)
        chunks: list[bytes] = []
        times: list[tuple[float, float]] = []
        at = 0  # samples of PCM so far
        for speaker, text in lines:
            spoken = self.spoken_text(text)
            speech = synthesize_pcm(spoken, self.voices[speaker]) if spoken else b""
            if speech and chunks:
                chunks.append(pause)
                at += len(pause) // 2
            start = at
            if speech:
                chunks.append(speech)
                at += len(speech) // 2
            times.append(((start + LAME_DELAY_SAMPLES) / SAMPLE_RATE, (at + LAME_DELAY_SAMPLES) / SAMPLE_RATE))
        pcm = b"".join(chunks) or pause
        mp3 = encode_pcm_to_mp3(pcm, SAMPLE_RATE, channels=1, bitrate_kbps=BITRATE_KBPS)
        digest = hashlib.sha256(repr((self.name, self.pause_seconds, list(lines))).encode()).hexdigest()
        return RenderedPartResult(
            mp3=mp3,
            request_id=f"offline-{digest[:24]}",
            usage=Usage(characters=sum(len(text) for _, text in lines), requests=1),
            line_times=times,
        )
