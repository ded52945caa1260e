"""Benchmark the brief join with mastering: a 5-minute brief decoded, paced, mastered to -16 LUFS /
-1 dBTP, encoded and measured (``rendering.join_brief``), for both renderers' formats.

Run: ``.venv/bin/python benchmarks/bench_mastering.py [--minutes M]``. The offline brief is espeak
speech (22,050 Hz, 64 kbit/s); the ElevenLabs-format one is the stand-in's tones (44,100 Hz,
128 kbit/s). Prints CPU seconds (process time) of the join alone and the measured figures. Not a test.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.bench_offline_speech import TURNS
from civic_briefs import rendering
from civic_briefs.models import Line, Segment
from civic_briefs.providers.offline_speech import OfflineSpeech
from tests.standins.mp3 import dialogue_mp3


def offline_segments(minutes: float) -> list[rendering.SegmentAudio]:
    speech, segments, seconds = OfflineSpeech(), [], 0.0
    while seconds < minutes * 60:
        number = len(segments)
        lines = [Line(speaker="AB"[(number + i) % 2], text=TURNS[(number + i) % len(TURNS)]) for i in range(3)]
        rendered = rendering.render_segment(speech, Segment(key=f"s{number}", kind="story", lines=lines))
        segments.append(rendering.SegmentAudio(rendered.mp3, rendered.line_offsets, len(lines)))
        seconds += rendered.duration_seconds
    return segments


def tone_segments(minutes: float) -> list[rendering.SegmentAudio]:
    segments = []
    for number in range(round(minutes * 60 / 30)):
        mp3, times = dialogue_mp3(((9.0, 180.0), (10.0, 360.0), (10.0, 180.0 + number)))
        segments.append(rendering.SegmentAudio(mp3, list(times), 3))
    return segments


def measure(label: str, segments: list[rendering.SegmentAudio]) -> None:
    started = time.process_time()
    brief = rendering.join_brief(segments)
    cpu = time.process_time() - started
    print(f"{label:28s} {brief.duration_seconds:6.1f} s audio  join CPU {cpu:5.2f} s  "
          f"{brief.loudness_lufs:6.2f} LUFS  {brief.true_peak_dbtp:6.2f} dBTP  {len(segments)} segments")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    measure("offline (espeak, 22.05 kHz)", offline_segments(args.minutes))
    measure("ElevenLabs format (44.1 kHz)", tone_segments(args.minutes))


if __name__ == "__main__":
    main()
