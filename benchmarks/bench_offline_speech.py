"""Benchmark the offline renderer: a ~600-word two-voice dialogue, split, rendered, joined, tagged.

Run: ``.venv/bin/python benchmarks/bench_offline_speech.py [--repeat N]``. Prints CPU seconds
(process time, all threads), wall seconds, audio duration and realtime factors. Not a test.
"""

from __future__ import annotations

import argparse
import time

from civic_briefs.audio import join_mp3, mp3_info, split_into_parts, tag_mp3
from civic_briefs.models import Line
from civic_briefs.providers.offline_speech import OfflineSpeech, synthesize_pcm

TURNS = [
    "Good morning and welcome to Civic Briefs. I'm Alex, and today we are looking at three bills "
    "that moved in Congress this week, starting with a big one on infrastructure.",
    "And I'm Jordan. Let's start there. H.R. 3684 passed the House on Friday by a vote of 228 to 206, "
    "and it now heads to the Senate, where the committee on commerce will take it up first.",
    "So what does it actually do? In short, it sets aside money for roads, bridges, rail and broadband, "
    "and it changes how states apply for some of those grants over the next five years.",
    "Right, and the broadband piece is the one most listeners asked about. It would fund new lines in "
    "rural counties and give a monthly discount to households below a certain income.",
    "Supporters say it is long overdue. Critics say the cost estimates are too optimistic and that the "
    "states will struggle to spend the money well. Both sides agree the Senate vote will be close.",
    "Our second story is smaller but interesting. S. 1251 would require federal agencies to publish "
    "their data sets in open formats, so that researchers and reporters can read them without special tools.",
    "It was introduced in March and has been sitting in committee since then. This week it picked up "
    "four new cosponsors from both parties, which is usually a sign that a markup is coming.",
    "And finally, a quick hit. A joint resolution on veterans' health care passed the Senate by voice vote. "
    "It now goes to the House, and the sponsors expect a vote before the end of the month.",
    "That is a lot of movement for one week. Before we go, a reminder that this brief is written and read "
    "by AI voices, based on public records from Congress and news reports.",
    "Thanks for listening. We will be back tomorrow with the next set of bills. Have a good day.",
]


def dialogue(target_words: int = 600) -> list[Line]:
    """Alternate the turns between hosts A and B until about ``target_words`` words."""
    lines: list[Line] = []
    while sum(len(line.text.split()) for line in lines) < target_words:
        turn = TURNS[len(lines) % len(TURNS)]
        lines.append(Line(speaker="AB"[len(lines) % 2], text=turn))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    speech = OfflineSpeech()
    cpu0 = time.process_time()
    synthesize_pcm("warm up", speech.voices["A"])  # loads espeak-ng once per process
    init_cpu = time.process_time() - cpu0

    lines = dialogue(args.words)
    words = sum(len(line.text.split()) for line in lines)
    chars = sum(len(line.text) for line in lines)
    runs = []
    for _ in range(args.repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        parts = split_into_parts(lines, max_chars=2000)
        mp3s = [speech.render_part([(line.speaker, line.text) for line in part], []).mp3 for part in parts]
        brief = tag_mp3(join_mp3(mp3s), "Benchmark brief", "Civic Briefs", comment="offline benchmark")
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    info = mp3_info(brief)
    cpu_s = min(r[0] for r in runs)
    wall_s = min(r[1] for r in runs)

    print(f"renderer           {speech.name}")
    print(f"dialogue           {words} words, {chars} characters, {len(lines)} lines, {len(parts)} parts")
    print(f"espeak init        {init_cpu:.3f} s CPU (once per process)")
    print(f"CPU seconds        {cpu_s:.3f} s (best of {args.repeat}; split + render + join + tag)")
    print(f"wall seconds       {wall_s:.3f} s")
    print(f"audio duration     {info.duration_seconds:.1f} s ({info.sample_rate} Hz, {info.bitrate_kbps} kbit/s, "
          f"{info.channels} ch, {len(brief) / 1024:.0f} KiB)")
    print(f"realtime factor    {cpu_s / info.duration_seconds:.4f} CPU s per audio s "
          f"({info.duration_seconds / cpu_s:.0f}x faster than realtime)")


if __name__ == "__main__":
    main()
