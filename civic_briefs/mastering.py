"""Mastering a brief like a podcast: -16 LUFS integrated, true peak at most -1 dBTP.

Loudness is ITU-R BS.1770-4 integrated loudness measured by ``pyloudnorm`` (K-weighting, 400 ms
blocks, absolute and relative gates, so the pauses between lines do not count). True peak is the
sample peak of the signal oversampled 4x as BS.1770-4 Annex 2 describes, with
``scipy.signal.resample_poly``'s windowed-sinc polyphase filter. (At 22,050 Hz, 4x can miss up to
a few tenths of a dB on content near 8 kHz; the limiter's margin below -1 dBTP covers it.)

The chain is gain to the target with a look-ahead peak limiter for the peaks above its ceiling
(a few passes find the gain that lands on -16 LUFS after limiting), then MP3 encoding
(``lameenc``). Encoding moves peaks a little, so the limiter aims below -1 dBTP, and
:func:`master_to_mp3` measures the encoded file itself (decoded with ``miniaudio``), encoding
again with a correction if it missed. The same samples always give the same bytes.

Samples are float arrays of shape ``(frames, channels)`` in [-1, 1]. Nothing here knows Prefect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import miniaudio
import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from civic_briefs.audio import AudioError, encode_pcm_to_mp3

TARGET_LUFS = -16.0
MAX_TRUE_PEAK_DBTP = -1.0
LOUDNESS_TOLERANCE_LU = 1.0
# MP3 encoding lifts peaks by a few tenths of a dB: the limiter aims this far under the maximum.
LIMITER_CEILING_DBTP = -2.0
# The limiter holds a reduction this long either side of a peak and fades it in and out over as
# long: slow enough not to distort a voice's lowest cycles (about 10 ms), short enough to be unheard.
LIMITER_HOLD_SECONDS = 0.02
TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 Annex 2
# lameenc's MP3s decode 0.45 dB quieter than the PCM they were given, at every rate, bitrate and
# frequency tried (miniaudio's and mpg123's decoders agree): made up before encoding, so most briefs
# are encoded once. A constant, not something learnt per run: the same input gives the same bytes.
ENCODER_LEVEL_DB = -0.446
_CHUNK = 1 << 20  # frames oversampled at a time: a long brief never needs gigabytes
_CONTEXT = 64  # frames either side of a chunk, beyond resample_poly's filter half-length
_BLOCK_SECONDS = 0.4  # BS.1770's gating block: the shortest signal the meter can measure
_ENCODE_ATTEMPTS = 3
# How close the file itself must come before no second encoding is tried.
FILE_PRECISION_LU = 0.2
_PEAK_MARGIN_DB = 0.2
_GAIN_PASSES = 6
_GAIN_PRECISION_LU = 0.1


@dataclass(frozen=True)
class Pcm:
    """Decoded audio: float32 samples ``(frames, channels)`` at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / self.sample_rate


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness (LUFS) and true peak (dBTP) of a signal."""

    lufs: float
    true_peak_dbtp: float

    def meets_target(self) -> bool:
        return abs(self.lufs - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU and self.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP


def decode_mp3(mp3: bytes) -> Pcm:
    """Decode a whole MP3 to float samples at its own rate and channel count. Raises AudioError."""
    try:
        decoded = miniaudio.mp3_read_f32(mp3)
    except miniaudio.DecodeError as exc:
        raise AudioError(f"cannot decode the MP3: {exc}") from exc
    samples = np.frombuffer(decoded.samples, dtype=np.float32).reshape(-1, decoded.nchannels)
    return Pcm(samples=samples, sample_rate=decoded.sample_rate)


def integrated_lufs(samples: np.ndarray, rate: int) -> float:
    """BS.1770-4 integrated loudness; ``-inf`` for silence. A signal under 400 ms is measured as if
    padded with silence to one gating block."""
    data = np.asarray(samples, dtype=np.float64)
    shortest = math.ceil(_BLOCK_SECONDS * rate) + 1
    if data.shape[0] < shortest:
        data = np.concatenate([data, np.zeros((shortest - data.shape[0],) + data.shape[1:])])
    return float(pyloudnorm.Meter(rate).integrated_loudness(data))


def peak_envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per frame, the largest absolute value of the oversampled signal from that frame up to the
    next, over all channels: where the reconstructed wave really peaks, not only at the samples."""
    factor = TRUE_PEAK_OVERSAMPLING
    frames = samples.shape[0]
    envelope = np.empty(frames, dtype=np.float32)
    for start in range(0, frames, _CHUNK):
        stop = min(frames, start + _CHUNK)
        lo, hi = max(0, start - _CONTEXT), min(frames, stop + _CONTEXT)
        up = resample_poly(samples[lo:hi].astype(np.float32, copy=False), factor, 1, axis=0)
        core = np.abs(up[(start - lo) * factor:(stop - lo) * factor])
        core = core[:, 0] if core.shape[1] == 1 else core.max(axis=1)
        # Strided maxima: numpy reduces a short trailing axis far slower than whole slices.
        peak = core[0::factor].copy()
        for phase in range(1, factor):
            np.maximum(peak, core[phase::factor], out=peak)
        envelope[start:stop] = peak
    return envelope


def true_peak_dbtp(samples: np.ndarray, rate: int) -> float:
    peak = float(peak_envelope(samples, rate).max()) if samples.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def measure(samples: np.ndarray, rate: int) -> Loudness:
    return Loudness(lufs=integrated_lufs(samples, rate), true_peak_dbtp=true_peak_dbtp(samples, rate))


def limiter_gain(envelope: np.ndarray, rate: int, ceiling_dbtp: float = LIMITER_CEILING_DBTP) -> np.ndarray:
    """Per frame, the gain (at most 1) that keeps a signal whose peak envelope is ``envelope`` at
    or under ``ceiling_dbtp``.

    The gain each frame needs (ceiling / envelope) is held at its minimum for
    ``LIMITER_HOLD_SECONDS`` either side and then averaged over that long: an average of values
    that are each at most the need of the frame in the middle is itself at most that need, so no
    peak is missed, and the gain moves smoothly. Frames far from any peak keep a gain of 1.
    """
    ceiling = 10 ** (ceiling_dbtp / 20)
    need = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12)).astype(np.float32)
    if need.min() >= 1.0:
        return need
    hold = max(1, round(LIMITER_HOLD_SECONDS * rate))
    gain = uniform_filter1d(minimum_filter1d(need, 2 * hold + 1, mode="nearest"), hold + 1, mode="nearest")
    return np.minimum(gain, 1.0)  # the average's float rounding can land a hair above 1


def master(samples: np.ndarray, rate: int, ceiling_dbtp: float = LIMITER_CEILING_DBTP) -> np.ndarray:
    """``samples`` at TARGET_LUFS with true peaks limited to ``ceiling_dbtp``.

    The peak envelope scales with the gain, so it is computed once; each pass tries a gain, limits
    and measures, and the next gain comes from the last two (the limiter makes a dB of gain worth
    less than a dB of loudness). Raises AudioError for silence (there is no loudness to set).
    """
    data = np.asarray(samples, dtype=np.float32)
    lufs = integrated_lufs(data, rate)
    if not math.isfinite(lufs):
        raise AudioError("the audio is silent: its loudness cannot be set")
    envelope = peak_envelope(data, rate)
    gain_db, tried = TARGET_LUFS - lufs, []
    for _ in range(_GAIN_PASSES):
        scale = 10 ** (gain_db / 20)
        out = data * (scale * limiter_gain(envelope * scale, rate, ceiling_dbtp))[:, None]
        got = integrated_lufs(out, rate)
        tried.append((gain_db, got))
        if abs(got - TARGET_LUFS) <= _GAIN_PRECISION_LU:
            break
        slope = 1.0
        if len(tried) > 1 and tried[-1][0] != tried[-2][0]:
            slope = min(1.0, max(0.2, (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])))
        gain_db += (TARGET_LUFS - got) / slope
    return out


def to_pcm16(samples: np.ndarray) -> bytes:
    """Interleaved signed 16-bit little-endian PCM (clipped, though mastered audio never reaches it)."""
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True)
class Mastered:
    """The encoded MP3 (no tags, no Xing header) and what was measured on the file itself."""

    mp3: bytes
    loudness: Loudness
    decoded_frames: int
    encodings: int


def master_to_mp3(samples: np.ndarray, rate: int, bitrate_kbps: int) -> Mastered:
    """Master ``samples``, encode them at ``bitrate_kbps``, and measure the encoded file itself.

    When the file misses the target by more than ``FILE_PRECISION_LU`` (encoding changes the
    level a little) the difference is made up and the audio encoded again; when making it up would
    lift the true peak past ``MAX_TRUE_PEAK_DBTP``, the limiter's ceiling is lowered first. Up to
    three encodings. Raises AudioError for silence, or when the file still misses -16 +/- 1 LUFS or
    -1 dBTP (never published unmeasured).
    """
    channels = samples.shape[1]
    ceiling, trim_db = LIMITER_CEILING_DBTP, -ENCODER_LEVEL_DB
    mastered: np.ndarray | None = None
    for attempt in range(1, _ENCODE_ATTEMPTS + 1):
        if mastered is None:
            mastered = master(samples, rate, ceiling)
        mp3 = encode_pcm_to_mp3(to_pcm16(mastered * np.float32(10 ** (trim_db / 20))), rate,
                                channels=channels, bitrate_kbps=bitrate_kbps)
        decoded = decode_mp3(mp3)
        loudness = measure(decoded.samples, decoded.sample_rate)
        short = TARGET_LUFS - loudness.lufs
        if abs(short) <= FILE_PRECISION_LU and loudness.true_peak_dbtp <= MAX_TRUE_PEAK_DBTP:
            return Mastered(mp3=mp3, loudness=loudness, decoded_frames=decoded.samples.shape[0], encodings=attempt)
        trim_db += short
        peak_after = loudness.true_peak_dbtp + short
        if peak_after > MAX_TRUE_PEAK_DBTP - _PEAK_MARGIN_DB:
            ceiling -= peak_after - (MAX_TRUE_PEAK_DBTP - _PEAK_MARGIN_DB) + 0.1
            mastered = None
    if loudness.meets_target():
        return Mastered(mp3=mp3, loudness=loudness, decoded_frames=decoded.samples.shape[0], encodings=attempt)
    raise AudioError(f"mastering missed the target after {_ENCODE_ATTEMPTS} encodings: "
                     f"{loudness.lufs:.2f} LUFS, {loudness.true_peak_dbtp:.2f} dBTP")
