"""A speech reply that is the start of a real MP3 (issue 8, item 6): retried like an empty one.

Through ``generate_brief`` with the real SDKs against the loopback stand-ins, a real libSQL file,
local storage and the limits on the test harness's Prefect API.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from prefect.client.orchestration import get_client

from civic_briefs import db, demo, importer, production, repo, retrying
from civic_briefs.audio import check_whole_mp3, mp3_info
from civic_briefs.prefect_setup import ensure_concurrency_limits
from civic_briefs.retrying import RETRIES
from flows.generate_brief import BriefFailed, generate_brief

pytestmark = pytest.mark.usefixtures("prefect_api")
DAY = dt.date(2026, 4, 9)


@pytest.fixture
def paid(settings_env, standins, tmp_path):
    settings = settings_env(**standins.env(elevenlabs_concurrency=2))
    with get_client(sync_client=True) as client:
        ensure_concurrency_limits(client, settings)
    db.init_db()
    with db.connection() as conn:
        importer.import_sample(conn)
        demo.add_demo_users(conn)
    return settings


def _texts(standins) -> list[str]:
    """Each ElevenLabs request's dialogue, as sent."""
    return [" | ".join(i["text"] for i in r.json["inputs"]) for r in standins.elevenlabs.requests]


def test_a_truncated_reply_is_asked_again_once_and_the_brief_is_whole(paid, standins):
    standins.elevenlabs.fail_next("truncated", keep=260)  # the very first reply: 260 bytes of a real MP3

    brief = generate_brief(user_id="james", brief_date=DAY)

    with db.connection() as conn:
        row = repo.get_brief(conn, "james", "daily", DAY)
    assert row["status"] == "published" and row["error"] is None and row["audio_url"] == brief.audio_url
    segments = row["costs"]["segments"]
    texts = _texts(standins)
    # One request per segment (each fits one part), plus exactly one for the truncated reply, which
    # asked again for the same dialogue.
    assert standins.elevenlabs.count == len(segments) + 1 == len(set(texts)) + 1
    assert texts.count(texts[0]) == 2 and len(standins.elevenlabs.issued) == len(segments)

    mp3 = Path(unquote(urlparse(row["audio_url"]).path)).read_bytes()
    whole = check_whole_mp3(mp3)  # every frame present, nothing cut off
    # Nine segments of speech and the pauses between them: not one cut short to a frame or two.
    assert whole.duration_seconds > 9 * 3
    assert mp3_info(mp3).duration_seconds == pytest.approx(whole.duration_seconds, abs=1e-3)
    assert row["duration_seconds"] == pytest.approx(whole.duration_seconds, abs=1e-3)


def test_every_reply_truncated_fails_the_brief_cleanly_after_the_retries(paid, standins, tmp_path, monkeypatch):
    # The same retries, a hundredth of the waits (2, 4 and 8 s for each segment otherwise).
    monkeypatch.setattr(production, "with_retries", functools.partial(retrying.with_retries, initial_wait=0.02))
    standins.elevenlabs.fail_next("truncated", times=1000, keep=260)

    with pytest.raises(BriefFailed, match="cut short or damaged"):
        generate_brief(user_id="james", brief_date=DAY)

    with db.connection() as conn:
        row = repo.get_brief(conn, "james", "daily", DAY)
    assert row["status"] == "failed" and row["audio_url"] is None and row["duration_seconds"] is None
    assert row["error"].startswith("ProviderError: ElevenLabs returned an MP3 cut short or damaged (260 bytes")
    assert "not a whole MP3: frame 1 at byte 0 is cut off, 260 of its 417 bytes present" in row["error"]
    # Each segment's dialogue was asked for a bounded number of times, and not once more.
    assert set(collections.Counter(_texts(standins)).values()) == {RETRIES + 1}
    assert standins.elevenlabs.issued == []
    # Nothing published, nothing kept as a rendered piece.
    published = [p for p in (tmp_path / "audio").rglob("*") if p.is_file()]
    assert published == []
    assert not [p for p in (tmp_path / "segments").rglob("render-*") if p.is_file()]
