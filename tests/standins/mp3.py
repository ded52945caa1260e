"""Real MP3 bytes for the stand-ins, encoded with ``lameenc`` (a quiet tone, cached by length)."""

from __future__ import annotations

import math
from array import array
from functools import lru_cache

import lameenc


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
