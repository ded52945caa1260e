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
import os
import threading
from dataclasses import dataclass

import miniaudio
import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter, resample_poly

from civic_briefs.audio import (
    LAME_DELAY_SAMPLES,
    AudioError,
    Mp3Frames,
    encode_pcm_to_mp3,
    frames_of,
    nearest_bitrate,
    samples_per_frame,
)
from civic_briefs.native_memory import return_large_blocks

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
# A brief's true peak is its loudest segment's (rendering.join_brief): each segment keeps this much
# under -1 dBTP for what 4x oversampling can miss at 22,050 Hz.
SEGMENT_MAX_TRUE_PEAK_DBTP = -1.5
_GAIN_PASSES = 6
_GAIN_PRECISION_LU = 0.1
# A segment's own silence at either end is cut to this before it is mastered, so the pause between
# segments is the same whatever the renderer left there.
EDGE_SECONDS = 0.02
_SILENT = 10 ** (-50 / 20)  # below -50 dBFS counts as silence at a segment's edges
_ANTI_SUBNORMAL = 1e-18
_AS_MANY_AS_CORES = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
# Decoded segments are 10-40 MB buffers: each freed one goes back to the system (native_memory).
return_large_blocks()
_STREAM_FRAMES = 1 << 17  # frames decoded and measured at a time: a brief's meter needs megabytes, not hundreds


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


def integrated_lufs(samples: np.ndarray, rate: int, silence_around: int = 0) -> float:
    """BS.1770-4 integrated loudness; ``-inf`` for silence. A signal under 400 ms is measured as if
    padded with silence to one gating block. ``silence_around`` frames of silence either side: the
    signal measured as it is heard between pauses (the gating blocks over its edges count)."""
    data = np.asarray(samples)
    shortest = math.ceil(_BLOCK_SECONDS * rate) + 1
    frames = data.shape[0] + 2 * silence_around
    if frames >= shortest and data.ndim == 2:
        # In chunks: pyloudnorm's one-shot filters make several float64 copies of the whole signal
        # (a 60 s segment cost ~140 MB to master), the streamed meter a few MB.
        meter = _StreamingLoudness(rate, data.shape[1], frames)
        around = np.zeros((silence_around, data.shape[1]), dtype=np.float32)
        meter.add(around)
        for start in range(0, data.shape[0], _STREAM_FRAMES):
            meter.add(data[start:start + _STREAM_FRAMES])
        meter.add(around)
        return meter.lufs()
    data = np.asarray(samples, dtype=np.float64)
    if silence_around:
        data = np.pad(data, ((silence_around, silence_around), (0, 0)))
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


def measure(samples: np.ndarray, rate: int, silence_around: int = 0) -> Loudness:
    return Loudness(lufs=integrated_lufs(samples, rate, silence_around), true_peak_dbtp=true_peak_dbtp(samples, rate))


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


def master(samples: np.ndarray, rate: int, ceiling_dbtp: float = LIMITER_CEILING_DBTP,
           silence_around: int = 0) -> np.ndarray:
    """``samples`` at TARGET_LUFS with true peaks limited to ``ceiling_dbtp``.

    The peak envelope scales with the gain, so it is computed once; each pass tries a gain, limits
    and measures, and the next gain comes from the last two (the limiter makes a dB of gain worth
    less than a dB of loudness). Raises AudioError for silence (there is no loudness to set).
    """
    data = np.asarray(samples, dtype=np.float32)
    lufs = integrated_lufs(data, rate, silence_around)
    if not math.isfinite(lufs):
        raise AudioError("the audio is silent: its loudness cannot be set")
    envelope = peak_envelope(data, rate)
    gain_db, tried = TARGET_LUFS - lufs, []
    for _ in range(_GAIN_PASSES):
        scale = 10 ** (gain_db / 20)
        out = data * (scale * limiter_gain(envelope * scale, rate, ceiling_dbtp))[:, None]
        got = integrated_lufs(out, rate, silence_around)
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


def master_to_mp3(samples: np.ndarray, rate: int, bitrate_kbps: int, silence_around: int = 0,
                  max_true_peak_dbtp: float = MAX_TRUE_PEAK_DBTP) -> Mastered:
    """Master ``samples``, encode them at ``bitrate_kbps``, and measure the encoded file itself
    (its loudness with ``silence_around`` frames of silence either side, see :func:`integrated_lufs`).

    When the file misses the target by more than ``FILE_PRECISION_LU`` (encoding changes the
    level a little) the difference is made up and the audio encoded again; when making it up would
    lift the true peak past ``max_true_peak_dbtp``, the limiter's ceiling is lowered first. Up to
    three encodings (the last may keep a true peak up to ``MAX_TRUE_PEAK_DBTP``). Raises AudioError
    for silence, or when the file still misses -16 +/- 1 LUFS or -1 dBTP (never published unmeasured).
    """
    channels = samples.shape[1]
    ceiling, trim_db = LIMITER_CEILING_DBTP, -ENCODER_LEVEL_DB
    mastered: np.ndarray | None = None
    for attempt in range(1, _ENCODE_ATTEMPTS + 1):
        if mastered is None:
            mastered = master(samples, rate, ceiling, silence_around)
        mp3 = encode_pcm_to_mp3(to_pcm16(mastered * np.float32(10 ** (trim_db / 20))), rate,
                                channels=channels, bitrate_kbps=bitrate_kbps)
        decoded = decode_mp3(mp3)
        loudness = measure(decoded.samples, decoded.sample_rate, silence_around)
        short = TARGET_LUFS - loudness.lufs
        if abs(short) <= FILE_PRECISION_LU and loudness.true_peak_dbtp <= max_true_peak_dbtp:
            return Mastered(mp3=mp3, loudness=loudness, decoded_frames=decoded.samples.shape[0], encodings=attempt)
        trim_db += short
        peak_after = loudness.true_peak_dbtp + short
        if peak_after > max_true_peak_dbtp - _PEAK_MARGIN_DB:
            ceiling -= peak_after - (max_true_peak_dbtp - _PEAK_MARGIN_DB) + 0.1
            mastered = None
    if loudness.meets_target():
        return Mastered(mp3=mp3, loudness=loudness, decoded_frames=decoded.samples.shape[0], encodings=attempt)
    raise AudioError(f"mastering missed the target after {_ENCODE_ATTEMPTS} encodings: "
                     f"{loudness.lufs:.2f} LUFS, {loudness.true_peak_dbtp:.2f} dBTP")


# --------------------------------------------------------------------------- a segment, once


def speech_bounds(samples: np.ndarray, rate: int) -> tuple[int, int]:
    """Frames ``[start, stop)`` of ``samples`` without their silent ends (``EDGE_SECONDS`` kept)."""
    loud = np.flatnonzero(np.abs(samples).max(axis=1) > _SILENT)
    if not loud.size:
        return 0, samples.shape[0]
    edge = round(EDGE_SECONDS * rate)
    return max(0, int(loud[0]) - edge), min(samples.shape[0], int(loud[-1]) + 1 + edge)


@dataclass(frozen=True)
class MasteredSegment:
    """A segment mastered on its own: ``mp3`` (no tags, no Info header) and, on its decoded
    timeline, where its sound lies; ``trimmed_seconds`` were cut from the start of the original's
    decoded timeline, so a time ``t`` there is ``t - trimmed_seconds + sound_start`` here."""

    mp3: bytes
    loudness: Loudness
    sample_rate: int
    bitrate_kbps: int
    trimmed_seconds: float
    sound_start: float
    sound_end: float


def master_segment(mp3: bytes, bitrate_kbps: int) -> MasteredSegment:
    """Decode a rendered segment, cut its silent ends, master it to -16 LUFS / -1 dBTP and encode
    it once at its own rate and channels and (the nearest valid) ``bitrate_kbps``, measured on the
    encoded file. Segments so mastered join into a brief at frame level: loudness gating drops the
    pauses between them, so the brief measures -16 LUFS too. Raises AudioError for silence."""
    # As many at once as there are cores: mastering is CPU work on a decoded copy of the segment, so
    # more renderer threads mastering side by side than cores only multiply memory.
    with _AS_MANY_AS_CORES:
        return _master_segment(mp3, bitrate_kbps)


def _master_segment(mp3: bytes, bitrate_kbps: int) -> MasteredSegment:
    pcm = decode_mp3(mp3)
    start, stop = speech_bounds(pcm.samples, pcm.sample_rate)
    bitrate = nearest_bitrate(pcm.sample_rate, bitrate_kbps)
    # Measured between silences, as it is heard in a brief: the blocks over its edges, partly
    # silent, count in the brief's loudness too (a 5 s segment measures 0.3 LU quieter so).
    mastered = master_to_mp3(pcm.samples[start:stop], pcm.sample_rate, bitrate,
                             silence_around=round(_BLOCK_SECONDS * pcm.sample_rate),
                             max_true_peak_dbtp=SEGMENT_MAX_TRUE_PEAK_DBTP)
    rate = pcm.sample_rate
    return MasteredSegment(mp3=mastered.mp3, loudness=mastered.loudness, sample_rate=rate, bitrate_kbps=bitrate,
                           trimmed_seconds=start / rate, sound_start=LAME_DELAY_SAMPLES / rate,
                           sound_end=(LAME_DELAY_SAMPLES + stop - start) / rate)


# --------------------------------------------------------------------------- a whole file, in chunks


class _StreamingLoudness:
    """pyloudnorm's integrated loudness (the same K-weighting filters, 400 ms blocks every 100 ms
    with its own sample bounds, the same gates) fed in chunks: the filters keep their state across
    chunks and only the running sums of squares at the blocks' bounds are kept."""

    _GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)

    def __init__(self, rate: int, channels: int, frames: int):
        meter = pyloudnorm.Meter(rate)
        # pyloudnorm keeps its K-weighting stages here (pinned in uv.lock); filtering chunk by
        # chunk with carried state gives what its one-shot lfilter gives.
        self._stages = [(f.b, f.a, f.passband_gain) for f in meter._filters.values()]
        self._states = [[np.zeros(max(len(b), len(a)) - 1) for _ in range(channels)] for b, a, _ in self._stages]
        self.rate, self.channels = rate, channels
        j = np.arange(max(1, frames // max(1, round(rate * 0.1)) + 8))
        self._lows = (0.4 * (j * 0.25) * rate).astype(np.int64)
        self._highs = (0.4 * (j * 0.25 + 1) * rate).astype(np.int64)
        self._points = np.unique(np.concatenate([self._lows, self._highs]))
        self._at_points = np.zeros((self._points.size, channels))
        self._total = np.zeros(channels)
        self._seen = 0

    def add(self, chunk: np.ndarray) -> None:
        data = chunk.astype(np.float64)
        # A filter ringing down in digital silence reaches subnormal floats, which the CPU handles
        # ~100x slower; a Nyquist-rate ripple 360 dB down keeps it out of them and adds nothing the
        # meter can see (its energy is 1e-36 a sample; the absolute gate is at 1e-7).
        data[0::2] += _ANTI_SUBNORMAL
        data[1::2] -= _ANTI_SUBNORMAL
        for (b, a, gain), states in zip(self._stages, self._states):
            for ch in range(self.channels):
                data[:, ch], states[ch] = lfilter(b, a, data[:, ch], zi=states[ch])
                data[:, ch] *= gain
        sums = np.cumsum(np.square(data), axis=0) + self._total
        start, stop = self._seen, self._seen + data.shape[0]
        inside = (self._points > start) & (self._points <= stop)
        self._at_points[inside] = sums[self._points[inside] - start - 1]
        self._at_points[self._points == start] = self._total
        self._total = sums[-1] if data.shape[0] else self._total
        self._seen = stop

    def lufs(self) -> float:
        frames = self._seen
        blocks = int(np.round((frames / self.rate - 0.4) / (0.4 * 0.25))) + 1
        if blocks > self._lows.size:
            raise AudioError(f"the MP3 decoded to {frames} frames, more than its frame headers promise")
        self._at_points[self._points > frames] = self._total

        def summed(bounds: np.ndarray) -> np.ndarray:
            return self._at_points[np.searchsorted(self._points, np.minimum(bounds[:blocks], frames))]

        z = (summed(self._highs) - summed(self._lows)) / (0.4 * self.rate)
        weighted = z @ np.array(self._GAINS[:self.channels])
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(weighted)
        above = loudness >= -70.0
        if not above.any():
            return -math.inf
        relative = -0.691 + 10 * np.log10(weighted[above].mean()) - 10.0
        gated = (loudness > relative) & above
        if not gated.any():
            return -math.inf
        return float(-0.691 + 10 * np.log10(weighted[gated].mean()))


class _StreamingPeak:
    """The 4x oversampled peak of a signal fed in chunks: each chunk's edges are oversampled with
    ``_CONTEXT`` frames of their neighbours, as :func:`peak_envelope` does."""

    def __init__(self) -> None:
        self._tail: np.ndarray | None = None
        self._done = 0  # frames at the start of ``_tail`` already measured (the left context)
        self.peak = 0.0

    def add(self, chunk: np.ndarray, last: bool = False) -> None:
        buf = chunk if self._tail is None else np.concatenate([self._tail, chunk])
        stop = buf.shape[0] if last else buf.shape[0] - _CONTEXT
        if stop > self._done:
            up = resample_poly(buf, TRUE_PEAK_OVERSAMPLING, 1, axis=0)
            core = up[self._done * TRUE_PEAK_OVERSAMPLING:stop * TRUE_PEAK_OVERSAMPLING]
            self.peak = max(self.peak, float(np.abs(core).max()))
            keep = max(0, stop - _CONTEXT)
            self._tail, self._done = buf[keep:], stop - keep
        else:
            self._tail = buf

    def dbtp(self) -> float:
        return 20 * math.log10(self.peak) if self.peak > 0 else -math.inf


@dataclass(frozen=True)
class FileMeasure:
    """What :func:`measure_mp3` found in a whole file: integrated loudness, true peak (None when not
    asked for), sample peak (dBFS) and how many frames it decodes to."""

    lufs: float
    true_peak_dbtp: float | None
    sample_peak_dbfs: float
    frames: int


def measure_mp3(mp3: bytes, *, true_peak: bool = True, audio: Mp3Frames | None = None) -> FileMeasure:
    """Integrated loudness, sample peak and (with ``true_peak``) true peak of a whole MP3 file,
    decoded by miniaudio in chunks: a 10-minute brief needs a few MB, not a decoded copy of itself.
    The figures are those :func:`measure` gives on the whole decoded file. ``audio``: the file's
    frames when already walked. Raises AudioError."""
    audio = audio or frames_of(mp3)
    rate, channels = audio.sample_rate, audio.channels
    meter = _StreamingLoudness(rate, channels, audio.count * samples_per_frame(rate))
    peak = _StreamingPeak() if true_peak else None
    sample_peak = 0.0
    try:
        for chunk in miniaudio.stream_memory(mp3, miniaudio.SampleFormat.FLOAT32, channels, rate, _STREAM_FRAMES):
            samples = np.frombuffer(chunk, dtype=np.float32).reshape(-1, channels)
            meter.add(samples)
            if samples.size:
                sample_peak = max(sample_peak, float(np.abs(samples).max()))
            if peak is not None:
                peak.add(samples)
    except miniaudio.DecodeError as exc:
        raise AudioError(f"cannot decode the MP3: {exc}") from exc
    if meter._seen < math.ceil(_BLOCK_SECONDS * rate) + 1:
        # too short to gate in blocks; the whole-signal meter pads it (never a brief, but never wrong)
        pcm = decode_mp3(mp3)
        whole = measure(pcm.samples, pcm.sample_rate)
        return FileMeasure(whole.lufs, whole.true_peak_dbtp if true_peak else None, _db(sample_peak),
                           pcm.samples.shape[0])
    if peak is not None:
        peak.add(np.zeros((0, channels), dtype=np.float32), last=True)
    return FileMeasure(meter.lufs(), peak.dbtp() if peak is not None else None, _db(sample_peak), meter._seen)


def _db(amplitude: float) -> float:
    return 20 * math.log10(amplitude) if amplitude > 0 else -math.inf
