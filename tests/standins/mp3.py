"""Real MP3 bytes for the stand-ins, encoded with ``lameenc``: a quiet tone cached by length, or a
dialogue of tones (one pitch per voice, a pause between lines) with each line's times."""

from __future__ import annotations

import math
from array import array
from functools import lru_cache

import lameenc
import numpy as np


def parse_output_format(output_format: str) -> tuple[int, int]:
    """``"mp3_44100_128"`` -> ``(44100, 128)`` (sample rate in Hz, bitrate in kbps)."""
    codec, rate, bitrate = output_format.split("_")
    if codec != "mp3":
        raise ValueError(f"not an MP3 format: {output_format}")
    return int(rate), int(bitrate)


@lru_cache(maxsize=64)
def tone_mp3(seconds: float, sample_rate: int = 44100, bitrate_kbps: int = 128, hz: float = 220.0) -> bytes:
    """Mono MP3 of a quiet sine tone lasting ``seconds`` (rounded to 10 ms)."""
    count = max(1, int(round(seconds, 2) * sample_rate))
    step = 2 * math.pi * hz / sample_rate
    pcm = array("h", (int(3000 * math.sin(step * i)) for i in range(count)))
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


@lru_cache(maxsize=64)
def dialogue_mp3(lines: tuple[tuple[float, float], ...], pause: float = 0.3, sample_rate: int = 44100,
                 bitrate_kbps: int = 128) -> tuple[bytes, tuple[tuple[float, float], ...]]:
    """Mono MP3 of one quiet tone per line (``(seconds, hz)``) with ``pause`` seconds of silence
    between lines; and each line's (start, end) seconds on the PCM's timeline, as a speech service
    reports them (the decoded MP3 runs ``LAME_DELAY_SAMPLES`` later)."""
    pieces, times, at = [], [], 0
    gap = np.zeros(round(pause * sample_rate), dtype=np.int16)
    for number, (seconds, hz) in enumerate(lines):
        if number:
            pieces.append(gap)
            at += len(gap)
        count = max(1, round(seconds * sample_rate))
        pieces.append((3000 * np.sin(2 * np.pi * hz / sample_rate * np.arange(count))).astype(np.int16))
        times.append((at / sample_rate, (at + count) / sample_rate))
        at += count
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    pcm = np.concatenate(pieces).astype("<i2").tobytes()
    return bytes(encoder.encode(pcm) + encoder.flush()), tuple(times)
