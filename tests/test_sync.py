"""Incremental sync from govinfo's BILLSTATUS bulk data, against the loopback stand-in serving the
real files in ../shared/data/billstatus (tests/standins/govinfo_api.py). No internet."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from civic_briefs import importer, keys, repo
from civic_briefs.sync import GovinfoClient, list_changes, source_name, summary, sync_listing
from civic_briefs.sync import state as sync_state
from civic_briefs.sync.models import current_congress
from tests.billstatus_expected import BILLSTATUS_DIR, EXPECTED, assert_bill_matches

CONGRESS = 117
TYPES = ("hr", "s", "hjres", "sjres", "hconres", "sconres", "hres", "sres")
EXPECTED_BY_FILE = {e["source_file"]: e for e in EXPECTED}
DAY = dt.date(2024, 2, 1)
RETRIES = 3


@pytest.fixture(scope="module")
def govinfo_server():
    from tests.standins import run_govinfo

    with run_govinfo(BILLSTATUS_DIR) as control:
        yield control


@pytest.fixture
def govinfo(govinfo_server):
    govinfo_server.reset()
    yield govinfo_server
    govinfo_server.release()


@pytest.fixture
def client(govinfo):
    with GovinfoClient(govinfo.base_url, timeout=10, retries=RETRIES, retry_wait=0, max_retry_wait=0) as c:
        yield c


def sync(conn, client):
    return sync_listing(conn, client, list_changes(conn, client, CONGRESS, TYPES))


def story_key(bill):
    return keys.story_key(bill, "top_story", DAY, "daily", "offline-template")


def with_latest_action(data: bytes, text: str) -> bytes:
    """The file with its latest action's text replaced (a change the bills table keeps)."""
    xml = data.decode()
    start = xml.index("\n    <latestAction>")  # the bill's own, not a related bill's (indented deeper)
    return (xml[:start] + re.sub(r"<text>.*?</text>", f"<text>{text}</text>", xml[start:], count=1, flags=re.S)).encode()


def with_update_date(data: bytes, stamp: str) -> bytes:
    """The file with every updateDate rewritten, as the source does to thousands of old bills at once."""
    return re.sub(rb"<updateDate>[^<]*</updateDate>", f"<updateDate>{stamp}</updateDate>".encode(), data)


def test_the_first_sync_imports_every_file(conn, govinfo, client):
    report = sync(conn, client)

    files = len(govinfo.names)
    assert files == len(EXPECTED) == 56
    assert repo.count_bills(conn) == files
    assert report.counts == {"new": files, "changed": 0, "unchanged": 0, "failed": 0}
    assert summary([report]) == "56 files: 56 new, 0 changed, 0 unchanged, 0 failed"
    for name in ("BILLSTATUS-117hr1065.xml", "BILLSTATUS-117s1251.xml", "BILLSTATUS-117hr7776.xml"):
        expected = EXPECTED_BY_FILE[name]
        assert_bill_matches(repo.get_bill(conn, expected["id"]), expected)
    # The index, one sitemap per bill type present (hr and s), every file once.
    groups = len(govinfo.groups())
    assert groups == 2
    assert report.requests == client.requests == len(govinfo.requests) == 1 + groups + files
    assert sorted(govinfo.file_requests()) == sorted(govinfo.names)
    assert sync_state.get_watermark(conn, source_name(CONGRESS)) == govinfo.latest() == report.watermark_after
    assert report.watermark_before is None


def test_an_incremental_sync_downloads_only_the_files_changed_since(conn, govinfo, client):
    sync(conn, client)
    first = len(govinfo.requests)
    govinfo.touch("BILLSTATUS-117s1315.xml")
    govinfo.touch("BILLSTATUS-117s65.xml")

    report = sync(conn, client)

    assert govinfo.file_requests()[56:] == ["BILLSTATUS-117s1315.xml", "BILLSTATUS-117s65.xml"]
    # The index and the one sitemap whose lastmod moved (117s), not 117hr's.
    assert govinfo.sitemap_requests()[3:] == ["/sitemap/bulkdata/BILLSTATUS/sitemapindex.xml",
                                              "/sitemap/bulkdata/BILLSTATUS/117s/sitemap.xml"]
    assert len(govinfo.requests) - first == report.requests == 4
    assert report.counts == {"new": 0, "changed": 0, "unchanged": 2, "failed": 0}
    assert report.watermark_after == govinfo.lastmod["BILLSTATUS-117s65.xml"]


def test_a_sync_with_nothing_changed_is_one_request(conn, govinfo, client):
    sync(conn, client)
    before = len(govinfo.requests)

    report = sync(conn, client)

    assert len(govinfo.requests) - before == report.requests == 1
    assert report.results == [] and report.counts["unchanged"] == 0
    assert repo.count_bills(conn) == 56


def test_unchanged_content_keeps_updated_at_and_the_story_key_and_changed_content_changes_them(conn, govinfo, client):
    name = "BILLSTATUS-117hr1065.xml"
    bill_id = EXPECTED_BY_FILE[name]["id"]
    sync(conn, client)
    original = repo.get_bill(conn, bill_id)
    data = (BILLSTATUS_DIR / name).read_bytes()

    # The same bytes with a later lastmod: not imported again.
    govinfo.touch(name)
    report = sync(conn, client)
    assert [(r.name, r.outcome) for r in report.results] == [(name, "unchanged")]
    # New bytes, only the source's own update dates rewritten: imported again, same content.
    govinfo.replace(name, with_update_date(data, "2024-03-01T00:00:00Z"))
    report = sync(conn, client)
    assert [(r.name, r.outcome) for r in report.results] == [(name, "unchanged")]
    same = repo.get_bill(conn, bill_id)
    assert same.updated_at == original.updated_at
    assert story_key(same) == story_key(original)

    # A new latest action: the row changes, its updated_at moves and the story has a new key.
    govinfo.replace(name, with_latest_action(data, "Became Public Law No: 117-328 (in the stand-in)."))
    report = sync(conn, client)
    assert [(r.name, r.outcome) for r in report.results] == [(name, "changed")]
    changed = repo.get_bill(conn, bill_id)
    assert changed.latest_action_text == "Became Public Law No: 117-328 (in the stand-in)."
    assert changed.updated_at > original.updated_at
    assert story_key(changed) != story_key(original)
    # Every other bill was left as it was.
    assert repo.get_bill(conn, "117-s-1251").updated_at < original.updated_at + dt.timedelta(seconds=60)


def test_importing_a_file_again_as_it_was_keeps_updated_at(conn):
    path = BILLSTATUS_DIR / "BILLSTATUS-117s1251.xml"
    importer.import_paths(conn, [path])
    before = repo.get_bill(conn, "117-s-1251")
    importer.import_paths(conn, [path])
    assert repo.get_bill(conn, "117-s-1251").updated_at == before.updated_at


@pytest.mark.parametrize(("kind", "times", "tries"), [
    ("rate_limit", 2, 3),     # 429, 429, then the file
    ("server_error", 2, 3),   # 503, 503, then the file
    ("drop", 1, 2),           # a cut download (Content-Length larger than the body), then the file
])
def test_a_passing_fault_is_retried_and_the_file_imported(conn, govinfo, client, kind, times, tries):
    name = "BILLSTATUS-117hr5085.xml"
    govinfo.fail(name, kind, times)

    report = sync(conn, client)

    assert govinfo.file_requests().count(name) == tries
    assert report.counts == {"new": 56, "changed": 0, "unchanged": 0, "failed": 0}
    assert repo.get_bill(conn, EXPECTED_BY_FILE[name]["id"]) is not None
    assert report.watermark_after == govinfo.latest()


def test_a_listed_file_that_is_not_there_is_reported_by_name_and_the_rest_imported(conn, govinfo, client):
    govinfo.list_missing("BILLSTATUS-117hr99999.xml", 117, "hr")

    report = sync(conn, client)

    [failed] = report.failed
    assert (failed.name, failed.bill_id, failed.permanent) == ("BILLSTATUS-117hr99999.xml", "117-hr-99999", True)
    assert failed.reason == "HTTP 404 Not Found"
    assert govinfo.file_requests().count("BILLSTATUS-117hr99999.xml") == 1  # a 404 is not retried
    assert repo.count_bills(conn) == 56
    # Refused for good: the watermark passes it, and the next sync does not ask for it again.
    assert report.watermark_after == govinfo.latest()
    assert sync(conn, client).results == []


def test_a_malformed_file_is_reported_by_name_and_the_rest_imported(conn, govinfo, client):
    name = "BILLSTATUS-117s3092.xml"
    govinfo.fail(name, "malformed")

    report = sync(conn, client)

    [failed] = report.failed
    assert failed.name == name and failed.permanent
    assert failed.reason.startswith(f"{name}: malformed XML")
    assert repo.count_bills(conn) == 55 and repo.get_bill(conn, EXPECTED_BY_FILE[name]["id"]) is None
    assert report.counts["new"] == 55
    # Once govinfo republishes it (a later lastmod), it is imported.
    govinfo.touch(name)
    assert [(r.name, r.outcome) for r in sync(conn, client).results] == [(name, "new")]
    assert repo.count_bills(conn) == 56


def test_a_file_that_keeps_failing_holds_the_watermark_and_the_next_sync_gets_it(conn, govinfo, client):
    names = govinfo.names
    stuck = names[20]
    govinfo.fail(stuck, "server_error", times=RETRIES + 1)

    report = sync(conn, client)

    [failed] = report.failed
    assert (failed.name, failed.permanent) == (stuck, False)
    assert failed.reason == f"HTTP 503 Service Unavailable (after {RETRIES + 1} tries)"
    assert govinfo.file_requests().count(stuck) == RETRIES + 1
    assert repo.count_bills(conn) == 55  # the files after it still imported
    # The watermark stops just before the file that failed.
    assert report.watermark_after == govinfo.lastmod[names[19]]

    before = len(govinfo.file_requests())
    again = sync(conn, client)
    # Only the file that failed is downloaded again; the 35 after it were done and are not.
    assert govinfo.file_requests()[before:] == [stuck]
    assert [(r.name, r.outcome) for r in again.results] == [(stuck, "new")]
    assert again.resumed == 35
    assert repo.count_bills(conn) == 56
    assert again.watermark_after == govinfo.latest()


def test_a_sitemap_that_cannot_be_read_holds_the_watermark(conn, govinfo, client):
    govinfo.fail("117s/sitemap.xml", "server_error", times=RETRIES + 1)

    report = sync(conn, client)

    [failed] = report.failed
    assert failed.name == "117s/sitemap.xml" and not failed.permanent
    hr_files = len(govinfo.groups()["117hr"])
    assert report.counts["new"] == hr_files == repo.count_bills(conn)
    assert report.watermark_after is None  # the s files are not known, so no lastmod is passed

    again = sync(conn, client)
    assert again.counts == {"new": 56 - hr_files, "changed": 0, "unchanged": 0, "failed": 0}
    assert again.resumed == hr_files
    assert repo.count_bills(conn) == 56 and again.watermark_after == govinfo.latest()


def test_a_sync_that_dies_mid_way_resumes_from_the_watermark(conn, govinfo, client, monkeypatch):
    real_import = importer.import_paths
    calls = []

    def dying(conn_, paths, progress=None):
        calls.append(paths)
        if len(calls) > 10:
            raise RuntimeError("injected: the database went away")
        return real_import(conn_, paths, progress)

    monkeypatch.setattr(importer, "import_paths", dying)
    with pytest.raises(RuntimeError, match="injected"):
        sync(conn, client)
    names = govinfo.names
    assert repo.count_bills(conn) == 10
    assert sync_state.get_watermark(conn, source_name(CONGRESS)) == govinfo.lastmod[names[9]]

    monkeypatch.setattr(importer, "import_paths", real_import)
    before = len(govinfo.file_requests())
    report = sync(conn, client)
    # From the file it died on to the end, each once.
    assert govinfo.file_requests()[before:] == names[10:]
    assert report.counts == {"new": 46, "changed": 0, "unchanged": 0, "failed": 0}
    assert repo.count_bills(conn) == 56


def test_a_sync_killed_mid_file_resumes_from_the_watermark_and_ends_with_every_bill(settings_env, govinfo, tmp_path):
    """A real process, SIGKILLed while it waits for its 31st file."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from civic_briefs import db

    settings = settings_env(govinfo_base_url=govinfo.base_url, sync_retry_wait_seconds=0)
    names = govinfo.names
    govinfo.fail(names[30], "hold")
    # From the test's folder (no .env of the checkout), with the BRIEFS_* settings_env set.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "tests.scripts.sync_once", str(CONGRESS)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert govinfo.held.wait(timeout=120), "the sync never asked for the held file"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        govinfo.release()
    assert process.returncode == -signal.SIGKILL

    db.init_db(settings)
    with db.connection(settings) as conn:
        assert repo.count_bills(conn) == 30
        assert sync_state.get_watermark(conn, source_name(CONGRESS)) == govinfo.lastmod[names[29]]
        before = len(govinfo.file_requests())
        with GovinfoClient.from_settings(settings) as client:
            report = sync(conn, client)
        assert govinfo.file_requests()[before:] == names[30:]
        assert report.counts == {"new": 26, "changed": 0, "unchanged": 0, "failed": 0}
        assert repo.count_bills(conn) == 56
        assert report.watermark_after == govinfo.latest()


def test_the_current_congress():
    assert current_congress(dt.date(2021, 1, 3)) == 117
    assert current_congress(dt.date(2023, 1, 2)) == 117
    assert current_congress(dt.date(2026, 12, 1)) == 119
    assert current_congress(dt.date(2027, 1, 3)) == 120


# --- the sync-bills flow (the Prefect test harness) and its command ---------------------------------

@pytest.fixture
def flow_settings(settings_env, govinfo):
    return settings_env(govinfo_base_url=govinfo.base_url, sync_congresses="[117]", sync_retry_wait_seconds=0,
                        sync_max_retry_wait_seconds=0, sync_retries=RETRIES)


def sync_artifact():
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return next(a for a in client.read_latest_artifacts(limit=200) if a.key == "sync-bills")


@pytest.mark.usefixtures("prefect_api")
def test_the_flow_reports_every_file_in_a_table_and_its_counts_in_its_state(flow_settings, govinfo):
    from civic_briefs import db
    from flows.sync_bills import sync_bills

    govinfo.fail("BILLSTATUS-117s3092.xml", "malformed")
    govinfo.list_missing("BILLSTATUS-117hr99999.xml", 117, "hr")
    govinfo.fail("BILLSTATUS-117hr5085.xml", "rate_limit", times=1)

    state = sync_bills(return_state=True)

    assert state.is_failed()
    # Failures in lastmod order: the listed-but-missing file is the latest.
    assert state.message == ("Synced congress 117: 57 files: 55 new, 0 changed, 0 unchanged, 2 failed; "
                             "failed: BILLSTATUS-117s3092.xml, BILLSTATUS-117hr99999.xml")
    artifact = sync_artifact()
    assert artifact.type == "table"
    assert artifact.description == "Synced congress 117: 57 files: 55 new, 0 changed, 0 unchanged, 2 failed"
    rows = json.loads(artifact.data)
    assert len(rows) == 57
    failed = {r["file"]: r for r in rows if r["outcome"] == "failed"}
    assert failed["BILLSTATUS-117hr99999.xml"]["reason"] == "HTTP 404 Not Found"
    assert failed["BILLSTATUS-117s3092.xml"]["reason"].startswith("BILLSTATUS-117s3092.xml: malformed XML")
    assert [r["outcome"] for r in rows[:2]] == ["failed", "failed"]  # failures first
    ok = {r["file"]: r for r in rows if r["outcome"] == "new"}
    assert ok["BILLSTATUS-117hr5085.xml"]["bill"] == "117-hr-5085"
    assert ok["BILLSTATUS-117s1251.xml"] == {"congress": "117", "file": "BILLSTATUS-117s1251.xml", "bill": "117-s-1251",
                                             "outcome": "new", "reason": "",
                                             "lastmod": govinfo.lastmod["BILLSTATUS-117s1251.xml"].isoformat()}
    with db.connection() as conn:
        assert repo.count_bills(conn) == 55

    # Two files "changed" at the source, one of them for real.
    govinfo.touch("BILLSTATUS-117s1315.xml")
    data = (BILLSTATUS_DIR / "BILLSTATUS-117s65.xml").read_bytes()
    govinfo.replace("BILLSTATUS-117s65.xml", with_latest_action(data, "Held at the desk (in the stand-in)."))
    again = sync_bills(return_state=True)
    assert again.is_completed()
    assert again.message == "Synced congress 117: 2 files: 0 new, 1 changed, 1 unchanged, 0 failed"
    rows = json.loads(sync_artifact().data)
    assert [(r["file"], r["outcome"]) for r in rows] == [("BILLSTATUS-117s65.xml", "changed"),
                                                         ("BILLSTATUS-117s1315.xml", "unchanged")]


@pytest.mark.usefixtures("prefect_api")
def test_the_sync_bills_command_runs_the_flow_once(flow_settings, govinfo):
    from typer.testing import CliRunner

    from civic_briefs.cli import app

    result = CliRunner().invoke(app, ["sync-bills", "--congress", "117"])
    assert result.exit_code == 0, result.output
    assert "sync-bills ended COMPLETED: Synced congress 117: 56 files: 56 new, 0 changed, 0 unchanged, 0 failed" in (
        " ".join(result.output.split()))
    assert len(govinfo.file_requests()) == 56


def test_the_sync_bills_command_refuses_a_congress_without_billstatus_data(settings_env):
    from typer.testing import CliRunner

    from civic_briefs.cli import app

    result = CliRunner().invoke(app, ["sync-bills", "--congress", "99"])
    assert result.exit_code == 2
    assert "--congress must be a non-empty list of Congress numbers from 108 to" in " ".join(result.output.split())
