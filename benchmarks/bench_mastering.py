"""Benchmark mastering: each segment mastered once when rendered (``rendering.render_segment``), and
a brief's frame-level join with 1 s pauses, decoded once and measured (``rendering.join_brief``),
for both renderers' formats.

Run: ``.venv/bin/python benchmarks/bench_mastering.py [--minutes M]``. The offline brief is espeak
speech (22,050 Hz, 64 kbit/s); the ElevenLabs-format one is the stand-in's tones (44,100 Hz,
128 kbit/s), mastered as ``render_segment`` masters a render. Prints the CPU seconds (process time)
of mastering the segments (paid once a day per shared segment) and of the join alone (paid per
brief), the join's peak Python/numpy memory (tracemalloc) and the measured figures. Not a test.

Before per-segment mastering (the whole brief decoded, mastered and encoded up to 3 times at the
join), a 5-minute brief's join took 3.73 CPU-s (offline) and 4.67 CPU-s (ElevenLabs format), and
the process peaked at 736 MB RSS (~600 MB for a 10-minute brief's join).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from benchmarks.bench_offline_speech import TURNS
from civic_briefs import rendering
from civic_briefs.audio import join_mp3
from civic_briefs.models import Line
from civic_briefs.providers.offline_speech import OfflineSpeech
from tests.standins.mp3 import dialogue_mp3


def offline_segments(minutes: float) -> tuple[list[rendering.SegmentAudio], float]:
    speech, segments, seconds, mastering_cpu = OfflineSpeech(), [], 0.0, 0.0
    while seconds < minutes * 60:
        number = len(segments)
        lines = [Line(speaker="AB"[(number + i) % 2], text=TURNS[(number + i) % len(TURNS)]) for i in range(3)]
        raw = join_mp3([speech.render_part([(line.speaker, line.text) for line in lines], []).mp3])
        started = time.process_time()
        mastered, offsets = rendering.master(raw, [])
        mastering_cpu += time.process_time() - started
        segments.append(_audio(mastered, offsets, len(lines)))
        seconds += mastered.sound_end
    return segments, mastering_cpu


def tone_segments(minutes: float) -> tuple[list[rendering.SegmentAudio], float]:
    segments, mastering_cpu = [], 0.0
    for number in range(round(minutes * 60 / 30)):
        mp3, times = dialogue_mp3(((9.0, 180.0), (10.0, 360.0), (10.0, 180.0 + number)))
        started = time.process_time()
        mastered, offsets = rendering.master(mp3, list(times))
        mastering_cpu += time.process_time() - started
        segments.append(_audio(mastered, offsets, 3))
    return segments, mastering_cpu


def _audio(mastered, offsets, lines: int) -> rendering.SegmentAudio:
    return rendering.SegmentAudio(join_mp3([mastered.mp3]), offsets or [], lines,
                                  (mastered.sound_start, mastered.sound_end), mastered.loudness.true_peak_dbtp)


def measure(label: str, made: tuple[list[rendering.SegmentAudio], float]) -> None:
    segments, mastering_cpu = made
    rendering.join_brief(segments[:1])  # the pause's silence, encoded once a process
    started = time.process_time()
    brief = rendering.join_brief(segments)
    cpu = time.process_time() - started
    tracemalloc.start()  # a second join, traced (tracing slows it): its peak memory
    rendering.join_brief(segments)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:28s} {brief.duration_seconds:6.1f} s audio  segments mastered {mastering_cpu:5.2f} CPU-s  "
          f"join+measure {cpu:5.2f} CPU-s  peak {peak / 2**20:5.1f} MB  "
          f"{brief.loudness_lufs:6.2f} LUFS  {brief.true_peak_dbtp:6.2f} dBTP  {len(segments)} segments")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    measure("offline (espeak, 22.05 kHz)", offline_segments(args.minutes))
    measure("ElevenLabs format (44.1 kHz)", tone_segments(args.minutes))


if __name__ == "__main__":
    main()
