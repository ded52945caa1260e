"""A brief's web player page in a real headless browser (Debian's Chromium, driven by playwright).

A real brief (offline writer, espeak-ng speech, through ``BriefMaker``) is published to local
storage; the storage folder is served by a loopback HTTP server that answers byte ranges, as a
bucket or CDN does; the page is opened from it and played.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import re
import threading
from functools import partial
from io import BytesIO
from pathlib import Path

import pytest

from civic_briefs import player_page
from civic_briefs.models import User
from tests import worlds

CHROMIUM = Path("/usr/bin/chromium")
DAY = dt.date(2026, 3, 2)


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (f"{CHROMIUM} is missing: the player page is tested in Debian's Chromium "
              "(apt-get install -y chromium chromium-driver; .ci/run installs it)")
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges (http.server has none; a media element seeks with them)."""

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        body = path.read_bytes()[start:end + 1]
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return BytesIO(body)


@pytest.fixture
def served(settings_env):
    """A real brief published to the local folder, and that folder on a loopback HTTP server."""
    settings = settings_env()
    user = User(id="ana", name="Ana Reyes", interests=["healthcare"])
    worlds.seed([user])
    row = worlds.made_brief(settings, user, DAY, top_stories=2, quick_hits=1)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(settings.storage_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page_path = Path(row["page_url"].removeprefix("file://")).relative_to(settings.storage_path)
        yield f"http://127.0.0.1:{server.server_address[1]}/{page_path.as_posix()}", row
    finally:
        server.shutdown()
        server.server_close()


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR", tmp_path / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_player_page_plays_seeks_by_chapter_and_follows_the_transcript(served, tmp_path, capsys):
    require_chromium()
    from playwright.sync_api import sync_playwright

    url, row = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1200})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            response = page.goto(url)
            assert response is not None and response.ok
            assert page.title() == f"{row['headline']} · {row['title']}"
            assert page.locator("h1").inner_text() == row["headline"]

            # It plays: the audio loads from beside the page and its clock advances.
            page.wait_for_function("document.getElementById('player').readyState >= 1")
            duration = page.evaluate("document.getElementById('player').duration")
            assert duration == pytest.approx(row["duration_seconds"], abs=0.1)
            page.evaluate("document.getElementById('player').play()")
            page.wait_for_function("document.getElementById('player').currentTime > 0.5")
            page.wait_for_function("document.querySelector('#transcript p.current') !== null")
            first_line = page.evaluate("document.querySelector('#transcript p.current').dataset.start")

            # The second chapter seeks to its start.
            chapters = page.locator("#chapters button")
            assert chapters.count() >= 3
            second_start = float(chapters.nth(1).get_attribute("data-start"))
            assert second_start > 1.0
            page.evaluate("""() => { const a = document.getElementById('player'); window.seeks = [];
                                     a.addEventListener('seeked', () => window.seeks.push(a.currentTime)); }""")
            chapters.nth(1).click()
            page.wait_for_function("window.seeks.length > 0")
            assert page.evaluate("window.seeks[0]") == pytest.approx(second_start, abs=0.25)
            assert chapters.nth(1).locator("xpath=..").get_attribute("class") == "current"

            # The transcript's highlight moved to the chapter's first line.
            page.wait_for_function(f"Number(document.querySelector('#transcript p.current').dataset.start) >= {second_start - 0.05}")
            moved = page.evaluate("document.querySelector('#transcript p.current').dataset.start")
            assert float(moved) != float(first_line)
            assert page.locator("#transcript p.current").count() == 1

            # The digest's bills link to their Congress.gov pages.
            links = page.locator(".digest a").evaluate_all("links => links.map(a => a.href)")
            assert links and any(link.startswith("https://www.congress.gov/bill/") for link in links)
            bill_links = [link for link in links if link.startswith("https://www.congress.gov/")]
            assert len(bill_links) >= len(row["bills"])
            assert errors == []

            shot = artifacts_dir(tmp_path) / "player-page.png"
            page.screenshot(path=str(shot), full_page=True)
            with capsys.disabled():
                print(f"\nplayer page screenshot: {shot}")
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


def test_the_page_escapes_what_it_shows():
    html = player_page.page_html(
        headline="<script>alert(1)</script> & co", title="Ana's brief", brief_date=DAY,
        digest="- [H.R. 1](https://www.congress.gov/bill/117th-congress/house-bill/1) <img src=x onerror=alert(1)>\n"
               "- [bad](javascript:alert(1))",
        mp3_name="2026-03-02-0123abcd.mp3", duration_seconds=75.4,
        chapters=[player_page.PageChapter("Opening", 0.0), player_page.PageChapter("S. 1: <b>x</b>", 12.5)],
        lines=[player_page.PageLine("Alex", "Hello <there>", 0.0)]).decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert '<a href="https://www.congress.gov/bill/117th-congress/house-bill/1">H.R. 1</a>' in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript:' not in html
    assert "S. 1: &lt;b&gt;x&lt;/b&gt;" in html and "Hello &lt;there&gt;" in html
    assert 'data-start="12.5"' in html and "0:12" in html and ">Monday, March 2, 2026</time> · 1:15" in html
