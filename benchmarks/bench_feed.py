"""Writing one user's podcast feed with a month of briefs: time per write and the feed's size.

Publishes ``--briefs`` briefs (short tone MP3s with chapters and transcripts, as the tests make them)
for one user, a day apart, into a fresh database and local folder (or moto's S3 server with
``--s3``), then times ``feed.publish_feed`` ``--writes`` times. Prints the median and the size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--briefs", type=int, default=30)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--s3", action="store_true", help="write to moto's S3 server on loopback")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    os.environ.update(BRIEFS_DATABASE_URL=str(tmp / "briefs.db"), BRIEFS_STORAGE_PATH=str(tmp / "audio"),
                      BRIEFS_SEGMENT_STORE_PATH=str(tmp / "segments"))
    server = None
    if args.s3:
        from moto.server import ThreadedMotoServer

        from tests.conftest import s3_admin_client
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        s3_admin_client(f"http://{host}:{port}").create_bucket(Bucket="bench-feed")
        os.environ.update(BRIEFS_STORAGE="s3", BRIEFS_S3_BUCKET="bench-feed", BRIEFS_S3_ENDPOINT_URL=f"http://{host}:{port}",
                          BRIEFS_S3_ACCESS_KEY_ID="bench", BRIEFS_S3_SECRET_ACCESS_KEY="bench")

    from civic_briefs import db, feed, publishing, repo
    from civic_briefs.briefing import BriefCosts
    from civic_briefs.providers import registry
    from tests.test_chapters import make_script, timed_audio
    from tests.worlds import listener_with_two_bills

    bills = listener_with_two_bills()
    storage = registry.audio_storage()
    today = dt.datetime.now(dt.UTC).date()
    for back in range(args.briefs):
        script, selection = make_script(bills)
        script = script.model_copy(update={"digest": "\n".join(
            f"- [{b.label}](https://www.congress.gov/bill/117th-congress/senate-bill/{n}): {b.title}, {back}"
            for n, b in enumerate(bills * 4))})
        publishing.publish(storage, "briefs", user_id="ana", brief_type="daily", brief_date=today - dt.timedelta(days=back),
                           interests=["healthcare"], script=script, audio=timed_audio(script, seconds=0.2),
                           selection=selection, news=[], costs=BriefCosts.of([]))
    times = []
    for _ in range(args.writes):
        started = time.perf_counter()
        url = feed.publish_feed(storage, "briefs", "ana")
        times.append(time.perf_counter() - started)
    with db.connection() as conn:
        key = feed.feed_key("briefs", repo.feed_token(conn, "ana"))
    size = _size(storage, key, url)
    print(f"{'S3 (moto)' if args.s3 else 'local folder'}: {args.briefs} briefs, feed {size:,} bytes; write "
          f"median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms, max "
          f"{max(times) * 1000:.1f} ms over {args.writes} writes")
    if server:
        server.stop()


def _size(storage, key: str, url: str) -> int:
    if url.startswith("file://"):
        return Path(url.removeprefix("file://")).stat().st_size
    return storage.client().head_object(Bucket=storage.bucket, Key=key)["ContentLength"]


if __name__ == "__main__":
    main()
