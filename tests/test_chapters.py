"""Chapters and transcripts of a published brief (issue 9): ID3 CHAP/CTOC frames in the MP3, the
Podcasting 2.0 JSON chapters and transcript, WebVTT captions; published, retired and swept with it.

Real parts: MP3s joined by ``civic_briefs.audio.join_mp3`` from real encoded parts (their times
measured with ``mp3_info``, as the join does), a libSQL file, local storage, moto's S3 server, the
offline writer and espeak-ng speech through ``BriefMaker``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from mutagen.id3 import ID3, CTOCFlags

from civic_briefs import audio, chapters, db, importer, publishing, repo
from civic_briefs.briefing import BriefCosts
from civic_briefs.models import BillSelection, BriefAudio, Line, Script, Segment, SelectedBill, User
from civic_briefs.providers.storage import LocalStorage, S3Storage, safe_key, sibling_key
from tests.conftest import s3_admin_client
from tests.standins.mp3 import tone_mp3

DAY = dt.date(2026, 3, 2)
PAUSE = 0.6  # seconds of silence after each segment but the last


# --------------------------------------------------------------------------- building briefs


def _bills(conn, *ids: str):
    return [repo.get_bill(conn, bill_id) for bill_id in ids]


def make_script(bills, *, greeting: str = "Good morning, Ana!") -> tuple[Script, BillSelection]:
    """An opening, a story per bill, a news segment and a close: lines of both hosts."""
    segments = [Segment(key="opening", kind="opening", shared=False, lines=[
        Line(speaker="A", text=greeting), Line(speaker="B", text="Two bills & some news <today>.")])]
    for bill in bills:
        segments.append(Segment(key=f"story-{bill.id}", kind="story", bill_ids=[bill.id], section="top_story", lines=[
            Line(speaker="B", text=f"First up, {bill.label}."), Line(speaker="A", text="What does it do?"),
            Line(speaker="B", text="It --> does a lot.")]))
    segments.append(Segment(key="news-healthcare", kind="news", interest="healthcare", lines=[
        Line(speaker="A", text="In the news on health care."), Line(speaker="B", text="A hospital story.")]))
    segments.append(Segment(key="close", kind="close", shared=False, lines=[
        Line(speaker="B", text="That's the brief, written and voiced by AI."), Line(speaker="A", text="Bye!")]))
    script = Script(headline="Two bills", title="Ana's brief", digest="", segments=segments,
                    bills_covered=[b.id for b in bills])
    selection = BillSelection(user_id="ana", interests=["healthcare"], items=[
        SelectedBill(bill=b, section="top_story", interest="healthcare") for b in bills])
    return script, selection


def timed_audio(script: Script, *, seconds: float = 0.5) -> BriefAudio:
    """The script as one joined MP3 (a tone per line, a pause after each segment) with its segment
    and line times measured from the parts, as the join reports them."""
    pause = audio.silence_mp3(PAUSE, sample_rate=44100, bitrate_kbps=128)
    parts, starts, ends, line_times, at = [], [], [], [], 0.0
    for index, segment in enumerate(script.segments):
        starts.append(at)
        times = []
        for number, _ in enumerate(segment.lines):
            part = tone_mp3(seconds + 0.07 * ((index + number) % 4), hz=200 + 40 * index)
            length = audio.mp3_info(part).duration_seconds
            times.append((at, at + length))
            parts.append(part)
            at += length
        ends.append(at)
        line_times.append(times)
        if index < len(script.segments) - 1:
            parts.append(pause)
            at += audio.mp3_info(pause).duration_seconds
    mp3 = audio.tag_mp3(audio.join_mp3(parts), title=script.title, artist="Civic Briefs")
    info = audio.mp3_info(mp3)
    assert info.duration_seconds == pytest.approx(at, abs=0.001)
    return BriefAudio(mp3=mp3, duration_seconds=info.duration_seconds, sample_rate=info.sample_rate,
                      bitrate_kbps=info.bitrate_kbps, segment_starts=starts, segment_ends=ends, line_times=line_times)


def publish(storage, script, selection, brief_audio, user_id="ana"):
    return publishing.publish(storage, "briefs", user_id=user_id, brief_type="daily", brief_date=DAY,
                              interests=["healthcare"], script=script, audio=brief_audio, selection=selection,
                              news=[], costs=BriefCosts.of([]))


@pytest.fixture
def world(settings_env):
    settings = settings_env(host_a_name="Maya", host_b_name="Sam")
    db.init_db()
    with db.connection() as conn:
        importer.import_sample(conn)
        repo.upsert_user(conn, User(id="ana", name="Ana Reyes", interests=["healthcare"]))
        conn.commit()
        bills = _bills(conn, "117-s-1315", "117-hr-941")
    return settings, bills


def row(user_id: str = "ana") -> dict:
    with db.connection() as conn:
        return repo.get_brief(conn, user_id, "daily", DAY)


def local_bytes(url: str) -> bytes:
    return Path(url.removeprefix("file://")).read_bytes()


# --------------------------------------------------------------------------- reading them back


def id3_chapters(mp3: bytes) -> list[tuple[str, int, int]]:
    """(title, start ms, end ms) of each chapter, in the order of the top-level table of contents."""
    tags = ID3(io.BytesIO(mp3))
    [toc] = tags.getall("CTOC")
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    by_id = {frame.element_id: frame for frame in tags.getall("CHAP")}
    assert sorted(by_id) == sorted(toc.child_element_ids)
    return [(by_id[i].sub_frames["TIT2"].text[0], by_id[i].start_time, by_id[i].end_time) for i in toc.child_element_ids]


_TIMESTAMP = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"
_CUE_TIMING = re.compile(rf"{_TIMESTAMP} --> {_TIMESTAMP}")


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_vtt(text: str) -> list[tuple[float, float, str, str]]:
    """A strict reading of the WebVTT we write: the header, then blocks of an id, a timing line and
    one ``<v Speaker>text`` line. Returns (start, end, speaker, text unescaped) per cue."""
    assert text.startswith("WEBVTT\n\n") and text.endswith("\n") and "\r" not in text
    cues = []
    for number, block in enumerate(text[len("WEBVTT\n\n"):].rstrip("\n").split("\n\n"), 1):
        cue_id, timing, payload = block.split("\n")
        assert cue_id == str(number)
        match = _CUE_TIMING.fullmatch(timing)
        assert match, timing
        start, end = _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:])
        voice = re.fullmatch(r"<v ([^<>&\n]+)>([^<>\n]*)", payload)
        assert voice, payload
        body = voice[2]
        assert "-->" not in body and not re.search(r"&(?!amp;|lt;|gt;)", body)
        cues.append((start, end, voice[1], body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")))
    return cues


def expected_titles(bills) -> list[str]:
    return ["Opening", *(f"{b.label}: {b.title}" for b in bills), "In the news: Health care", "Wrap-up"]


def assert_chapters_fit(mp3: bytes, brief_audio: BriefAudio, titles: list[str]) -> list[tuple[str, int, int]]:
    found = id3_chapters(mp3)
    assert [title for title, _, _ in found] == titles
    starts = [start for _, start, _ in found]
    assert starts[0] == 0
    assert starts == [0] + [round(s * 1000) for s in brief_audio.segment_starts[1:]]
    assert [end for _, _, end in found[:-1]] == starts[1:]
    assert found[-1][2] == pytest.approx(audio.mp3_info(mp3).duration_seconds * 1000, abs=50)
    return found


def assert_transcripts_fit(script: Script, files: dict[str, bytes], hosts: dict[str, str]) -> None:
    lines = [(hosts[line.speaker], line.text) for segment in script.segments for line in segment.lines]
    transcript = json.loads(files["transcript"])
    assert transcript["version"] == "1.0.0"
    segments = transcript["segments"]
    assert [(s["speaker"], s["body"]) for s in segments] == lines
    times = [(s["startTime"], s["endTime"]) for s in segments]
    assert all(start < end for start, end in times)
    assert all(a[1] <= b[0] for a, b in zip(times, times[1:]))
    cues = parse_vtt(files["captions"].decode())
    assert [(speaker, text) for _, _, speaker, text in cues] == lines
    flat = [t for start, end, _, _ in cues for t in (start, end)]
    assert flat == pytest.approx([t for pair in times for t in pair], abs=0.0011)


# --------------------------------------------------------------------------- tests


def test_a_published_brief_has_chapters_in_its_mp3_and_its_files_beside_it(world):
    settings, bills = world
    script, selection = make_script(bills)
    brief_audio = timed_audio(script)
    published = publish(LocalStorage(settings.storage_path), script, selection, brief_audio)

    brief = row()
    mp3 = local_bytes(brief["audio_url"])
    version = publishing.audio_version(mp3)
    mp3_key = safe_key("briefs", "ana", "daily", DAY, version=version)
    assert brief["audio_url"].endswith(mp3_key)
    # The chapters are inside the hashed bytes; only the tag grew, the audio is the same.
    assert mp3 != brief_audio.mp3 and audio.mp3_info(mp3).duration_seconds == brief_audio.duration_seconds
    found = assert_chapters_fit(mp3, brief_audio, expected_titles(bills))
    assert found[1][0] == "S. 1315: Lymphedema Treatment Act"
    # Each chapter runs to the next segment's start: the pause after a segment belongs to it.
    assert found[1][2] - round(brief_audio.segment_ends[1] * 1000) == pytest.approx(PAUSE * 1000 + 50, abs=60)

    files = {column.removesuffix("_url"): local_bytes(brief[column]) for column in publishing.FILE_URL_COLUMNS}
    assert {column: brief[column].rsplit("/", 1)[1] for column in publishing.FILE_URL_COLUMNS} == {
        "chapters_url": f"{DAY}-{version}.chapters.json", "transcript_url": f"{DAY}-{version}.transcript.json",
        "captions_url": f"{DAY}-{version}.vtt"}
    assert (published.chapters_url, published.transcript_url, published.captions_url) == (
        brief["chapters_url"], brief["transcript_url"], brief["captions_url"])
    document = json.loads(files["chapters"])
    assert document["version"] == "1.2.0" and document["title"] == "Ana's brief"
    assert [(c["title"], round(c["startTime"] * 1000), round(c["endTime"] * 1000)) for c in document["chapters"]] == found
    # The speakers are the configured hosts' names, every line once, in order.
    assert_transcripts_fit(script, files, {"A": "Maya", "B": "Sam"})
    # The MP3 carries the hash of exactly these files, so its version covers them.
    [digest] = ID3(io.BytesIO(mp3)).getall(f"TXXX:{chapters.FILES_TAG}")
    assert digest.text == [chapters.SideFiles([], [], files["chapters"], files["transcript"], files["captions"]).digest]
    with db.connection() as conn:
        assert [(o.key, o.state) for o in repo.audio_objects(conn)] == [(mp3_key, "live")]


def test_a_remake_retires_the_side_files_with_the_mp3_and_the_sweep_removes_them(world):
    settings, bills = world
    storage = LocalStorage(settings.storage_path)
    script, selection = make_script(bills)
    publish(storage, script, selection, timed_audio(script))
    old = row()
    remade_script, _ = make_script(bills, greeting="Good morning, Anabel!")
    publish(storage, remade_script, selection, timed_audio(remade_script, seconds=0.6))
    new = row()
    folder = settings.storage_path / "briefs" / "ana" / "daily"
    # The player page (written after the row) is beside them, and goes with them.
    names = lambda brief: {brief[c].rsplit("/", 1)[1] for c in ("audio_url", *publishing.FILE_URL_COLUMNS, "page_url")}  # noqa: E731
    assert names(old).isdisjoint(names(new)) and len(names(old)) == 5
    assert {p.name for p in folder.iterdir()} == names(old) | names(new)
    # The old bundle still plays whole for a player holding its URLs, then goes all at once.
    assert json.loads(local_bytes(old["transcript_url"]))["segments"][0]["body"] == "Good morning, Ana!"
    with db.connection() as conn:
        assert sorted(o.state for o in repo.audio_objects(conn)) == ["live", "retired"]
    swept = publishing.remove_stale_audio(storage, _claims(settings), dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert swept == publishing.StaleAudio(replaced=1)
    assert {p.name for p in folder.iterdir()} == names(new)
    assert json.loads(local_bytes(new["transcript_url"]))["segments"][0]["body"] == "Good morning, Anabel!"


class MP3UploadFails(LocalStorage):
    """Local storage whose MP3 upload fails, as a publisher dying between its side files and its MP3."""

    def put(self, key, data, content_type="audio/mpeg"):
        if content_type == "audio/mpeg":
            raise OSError("disk gone")
        return super().put(key, data, content_type)


def test_side_files_of_a_publish_that_died_are_recorded_and_swept(world):
    settings, bills = world
    script, selection = make_script(bills)
    with pytest.raises(OSError, match="disk gone"):
        publish(MP3UploadFails(settings.storage_path), script, selection, timed_audio(script))
    folder = settings.storage_path / "briefs" / "ana" / "daily"
    left = sorted(p.name for p in folder.iterdir())
    assert [name.split(".", 1)[1] for name in left] == ["chapters.json", "transcript.json", "vtt"]
    with db.connection() as conn:
        [orphan] = repo.audio_objects(conn, state="uploading")
    assert row() is None and [sibling_key(orphan.key, ".vtt").rsplit("/", 1)[1]] == [n for n in left if n.endswith(".vtt")]
    storage = LocalStorage(settings.storage_path)
    now = dt.datetime.now(dt.UTC)
    assert publishing.remove_stale_audio(storage, _claims(settings), now, orphaned_before=now) == \
        publishing.StaleAudio(orphaned=1)
    assert list(folder.iterdir()) == []


def test_side_files_on_s3_have_their_content_types(world, moto_endpoint, settings_env):
    settings, bills = world
    bucket = f"files-{dt.datetime.now().strftime('%H%M%S%f')}"
    admin = s3_admin_client(moto_endpoint)
    admin.create_bucket(Bucket=bucket)
    settings = settings_env(storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_endpoint, s3_access_key_id="k",
                            s3_secret_access_key="s", cdn_base_url="https://cdn.example.org")
    script, selection = make_script(bills)
    brief_audio = timed_audio(script)
    publish(S3Storage(settings), script, selection, brief_audio)
    brief = row()
    keys = {column: brief[column].removeprefix("https://cdn.example.org/")
            for column in ("audio_url", *publishing.FILE_URL_COLUMNS)}
    heads = {column: admin.head_object(Bucket=bucket, Key=key) for column, key in keys.items()}
    immutable = "public, max-age=31536000, immutable"
    assert {column: (head["ContentType"], head["CacheControl"]) for column, head in heads.items()} == {
        "audio_url": ("audio/mpeg", immutable), "chapters_url": ("application/json+chapters", immutable),
        "transcript_url": ("application/json", immutable), "captions_url": ("text/vtt", immutable)}
    body = {column: admin.get_object(Bucket=bucket, Key=key)["Body"].read() for column, key in keys.items()}
    files = {column.removesuffix("_url"): body[column] for column in publishing.FILE_URL_COLUMNS}
    mp3 = body["audio_url"]
    assert_chapters_fit(mp3, brief_audio, expected_titles(bills))
    assert_transcripts_fit(script, files, {"A": "Maya", "B": "Sam"})


def test_audio_without_measured_times_is_published_without_side_files(world):
    settings, bills = world
    script, selection = make_script(bills)
    timed = timed_audio(script)
    untimed = timed.model_copy(update={"segment_starts": [], "segment_ends": [], "line_times": []})
    publish(LocalStorage(settings.storage_path), script, selection, untimed)
    brief = row()
    assert [brief[c] for c in publishing.FILE_URL_COLUMNS] == [None, None, None]
    assert local_bytes(brief["audio_url"]) == untimed.mp3


def test_times_that_do_not_fit_the_script_are_refused(world):
    _, bills = world
    script, _ = make_script(bills)
    timed = timed_audio(script)
    hosts = {"A": "Maya", "B": "Sam"}
    with pytest.raises(chapters.TimingError, match="4 measured segment starts for 5 script segments"):
        chapters.side_files(script, timed.model_copy(update={"segment_starts": timed.segment_starts[:-1]}), {}, hosts)
    short = [times[:-1] if i == 1 else times for i, times in enumerate(timed.line_times)]
    with pytest.raises(chapters.TimingError, match="segment 1 \\(story\\) has 3 lines and 2 measured line times"):
        chapters.side_files(script, timed.model_copy(update={"line_times": short}), {}, hosts)
    backwards = [list(reversed(times)) if i == 2 else times for i, times in enumerate(timed.line_times)]
    with pytest.raises(chapters.TimingError, match="out of order"):
        chapters.side_files(script, timed.model_copy(update={"line_times": backwards}), {}, hosts)


def _claims(settings):
    from civic_briefs.providers import registry

    return registry.claims(settings)


def test_a_brief_made_by_the_pipeline_has_chapters_on_its_segment_boundaries(world, monkeypatch):
    """Offline writer and espeak-ng speech through BriefMaker: the times come from the join."""
    from civic_briefs.plan import plan_day
    from civic_briefs.production import BriefMaker
    from civic_briefs.providers import registry

    settings, _ = world
    handed: list[tuple[Script, BriefAudio]] = []
    real_publish = publishing.publish

    def seen(*args, **kwargs):
        handed.append((kwargs["script"], kwargs["audio"]))
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(publishing, "publish", seen)
    user = User(id="ana", name="Ana Reyes", interests=["healthcare", "education"])
    providers = registry.providers(settings)
    with db.connection() as conn:
        repo.upsert_user(conn, user)
        conn.commit()
        plan = plan_day(conn, [user], DAY, "daily", news_by_interest={}, writer_name=providers.writer.name,
                        dedup_days=30, top_stories=3, quick_hits=4, news_per_brief=6)
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings), limit_sizes={},
                       max_concurrent_briefs=1, key_prefix="briefs")
    [outcome] = list(maker.run())
    assert outcome.status == "published", outcome.error
    [(script, brief_audio)] = handed
    assert len(brief_audio.segment_starts) == len(script.segments), "the join measured no segment times"

    brief = row()
    mp3 = local_bytes(brief["audio_url"])
    with db.connection() as conn:
        bills = {b["bill_id"]: repo.get_bill(conn, b["bill_id"]) for b in brief["bills"]}
    titles = [chapters.chapter_title(segment, bills) for segment in script.segments]
    assert titles[0] == "Opening" and titles[-1] == "Wrap-up"
    assert titles[1:-1] == [f"{bills[s.bill_ids[0]].label}: {bills[s.bill_ids[0]].title}" for s in script.segments[1:-1]]
    assert_chapters_fit(mp3, brief_audio, titles)
    assert audio.mp3_info(mp3).duration_seconds == pytest.approx(brief["duration_seconds"], abs=0.001)
    files = {column.removesuffix("_url"): local_bytes(brief[column]) for column in publishing.FILE_URL_COLUMNS}
    assert_transcripts_fit(script, files, {"A": "Maya", "B": "Sam"})
    # Each line's cue lies inside its segment's chapter.
    cues = json.loads(files["transcript"])["segments"]
    spans = [(s, e) for s, e in zip(brief_audio.segment_starts, brief_audio.segment_ends)]
    owners = [i for i, segment in enumerate(script.segments) for _ in segment.lines]
    assert all(spans[i][0] - 0.001 <= c["startTime"] and c["endTime"] <= spans[i][1] + 0.001 for i, c in zip(owners, cues))
