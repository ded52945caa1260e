"""Importing BILLSTATUS files and the demo sample into a real libSQL database."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from civic_briefs import db, repo
from civic_briefs.billstatus import parse_file
from civic_briefs.demo import demo_users
from civic_briefs.importer import import_paths, import_sample, load_sample_bills, xml_files
from civic_briefs.interests import INTEREST_POLICY_AREAS, policy_areas_for
from civic_briefs.settings import Settings
from tests.billstatus_expected import BILLSTATUS_DIR, EXPECTED, assert_bill_matches

EXPECTED_BY_ID = {e["id"]: e for e in EXPECTED}

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<billStatus><version>3.0.0</version><bill><title>&lol3;</title></bill></billStatus>
"""


def _connect(path: Path):
    conn = db.connect(Settings(database_url=str(path)))
    db.migrate(conn)
    return conn


@pytest.fixture
def conn(tmp_path):
    connection = _connect(tmp_path / "t.db")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """All 56 shared BILLSTATUS files imported into one database; yields (conn, report, ticks)."""
    connection = _connect(tmp_path_factory.mktemp("all") / "t.db")
    ticks: list[int] = []
    report = import_paths(connection, [BILLSTATUS_DIR], progress=ticks.append)
    yield connection, report, ticks
    connection.close()


# --- the real files ----------------------------------------------------------------------------

def test_all_files_import(imported):
    conn, report, ticks = imported
    assert report.ok, report.failed
    assert sorted(report.imported) == sorted(EXPECTED_BY_ID)
    assert ticks == [1] * 56
    assert repo.count_bills(conn) == 56


@pytest.mark.parametrize("bill_id", sorted(EXPECTED_BY_ID))
def test_stored_row_matches_expected(imported, bill_id):
    conn = imported[0]
    expected = EXPECTED_BY_ID[bill_id]
    bill = repo.get_bill(conn, bill_id)
    assert bill is not None
    assert_bill_matches(bill, expected)
    assert bill.updated_at is not None
    extras = parse_file(BILLSTATUS_DIR / expected["source_file"])
    assert extras.cosponsors_count == expected["cosponsors_count"]
    assert extras.summary_version == expected["summary_version"]
    assert bill.status == extras.bill.status


def test_stored_statuses(imported):
    conn = imported[0]
    statuses = {b: repo.get_bill(conn, b).status for b in ("117-s-2938", "117-hr-8404", "117-hr-5", "117-s-65")}
    assert statuses == {
        "117-s-2938": "enacted",
        "117-hr-8404": "enacted",
        "117-hr-5": "passed_house",
        "117-s-65": "passed_senate",
    }


# --- bad files ---------------------------------------------------------------------------------

GOOD = ["BILLSTATUS-117hr941.xml", "BILLSTATUS-117s1315.xml", "BILLSTATUS-117s516.xml"]


def _mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(BILLSTATUS_DIR / name, folder / name)
    (folder / "a-malformed.xml").write_text("<billStatus><version>3.0.0</version><bill>", encoding="utf-8")
    (folder / "b-rss.xml").write_text("<rss><channel><title>Not a bill</title></channel></rss>", encoding="utf-8")
    (folder / "c-laughs.xml").write_text(BILLION_LAUGHS, encoding="utf-8")
    (folder / "notes.txt").write_text("not xml, not imported", encoding="utf-8")
    return folder


def test_bad_files_are_reported_and_the_rest_imported(conn, tmp_path):
    folder = _mixed_folder(tmp_path)
    ticks: list[int] = []
    report = import_paths(conn, [folder], progress=ticks.append)

    assert sorted(report.imported) == ["117-hr-941", "117-s-1315", "117-s-516"]
    assert report.failed_names == ["a-malformed.xml", "b-rss.xml", "c-laughs.xml"]
    errors = {f.name: f.error for f in report.failed}
    assert errors["a-malformed.xml"].startswith("a-malformed.xml: malformed XML")
    assert "not a BILLSTATUS document" in errors["b-rss.xml"]
    assert "refused unsafe XML" in errors["c-laughs.xml"]
    assert not report.ok
    assert len(ticks) == 6
    assert repo.count_bills(conn) == 3
    assert repo.get_bill(conn, "117-hr-941").title == "TRANSPLANT Act of 2021"


def test_good_file_after_bad_ones_is_committed(tmp_path):
    folder = _mixed_folder(tmp_path)
    db_path = tmp_path / "t.db"
    writer = _connect(db_path)
    import_paths(writer, [folder / "c-laughs.xml", folder / GOOD[0]])
    reader = _connect(db_path)  # a second connection sees only committed rows
    try:
        assert repo.count_bills(reader) == 1
    finally:
        reader.close()
        writer.close()


def test_files_and_missing_paths(conn, tmp_path):
    report = import_paths(conn, [BILLSTATUS_DIR / GOOD[1], tmp_path / "nope.xml"])
    assert report.imported == ["117-s-1315"]
    assert report.failed_names == ["nope.xml"]
    assert "no such file" in report.failed[0].error


def test_reimport_updates_in_place(conn):
    import_paths(conn, [BILLSTATUS_DIR / GOOD[0]])
    import_paths(conn, [BILLSTATUS_DIR / GOOD[0]])
    assert repo.count_bills(conn) == 1


def test_xml_files_sorts_and_recurses(tmp_path):
    (tmp_path / "b").mkdir()
    for rel in ("b/2.xml", "b/1.xml", "a.xml", "skip.json"):
        (tmp_path / rel).write_text("x", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in xml_files([tmp_path])] == ["a.xml", "b/1.xml", "b/2.xml"]


# --- the demo sample ---------------------------------------------------------------------------

SAMPLE = load_sample_bills()
CRS_SUMMARIES = [e["summary"] for e in EXPECTED]


def test_sample_imports(conn):
    report = import_sample(conn)
    assert report.ok
    assert sorted(report.imported) == sorted(b.id for b in SAMPLE)
    assert repo.count_bills(conn) == len(SAMPLE)
    for bill in SAMPLE:
        stored = repo.get_bill(conn, bill.id)
        assert stored.model_dump(exclude={"updated_at"}) == bill.model_dump(exclude={"updated_at"})


def test_sample_size_and_ids():
    assert len(SAMPLE) == 43
    assert len({b.id for b in SAMPLE}) == len(SAMPLE)
    for bill in SAMPLE:
        assert bill.id == f"{bill.congress}-{bill.bill_type}-{bill.bill_number}"


def test_sample_covers_every_interest_with_overlap():
    assert len(INTEREST_POLICY_AREAS) == 15
    areas = {b.policy_area for b in SAMPLE}
    for interest, interest_areas in INTEREST_POLICY_AREAS.items():
        assert areas & set(interest_areas), f"no sample bill for interest {interest!r}"
    matches = {
        interest: {b.id for b in SAMPLE if b.policy_area in interest_areas}
        for interest, interest_areas in INTEREST_POLICY_AREAS.items()
    }
    assert matches["science"] & matches["technology"]
    assert matches["economy"] & matches["taxes"]


def test_every_demo_user_matches_more_bills_than_a_standard_brief_takes():
    # A standard brief takes 3 top stories and 5 quick hits: with fewer matches the demo's briefs
    # would run short of their 5 minutes.
    standard = Settings().brief_counts()["standard"]
    matches = {user.id: sum(b.policy_area in policy_areas_for(user.interests) for b in SAMPLE)
               for user in demo_users()}
    assert matches == {"maria": 11, "james": 9, "priya": 9, "dwayne": 12, "lena": 14}
    assert min(matches.values()) > standard.top_stories + standard.quick_hits == 8


def test_sample_has_enacted_and_one_chamber_bills():
    statuses = [b.status for b in SAMPLE]
    assert statuses.count("enacted") >= 3
    assert statuses.count("passed_house") + statuses.count("passed_senate") >= 3
    assert "passed_senate" in statuses and "passed_house" in statuses


def test_sample_facts_are_the_real_ones():
    """Sample bills drawn from the shared files carry exactly those files' facts and status."""
    checked = 0
    for bill in SAMPLE:
        expected = EXPECTED_BY_ID.get(bill.id)
        if expected is None:
            continue
        checked += 1
        assert bill.title == expected["title"]
        assert bill.policy_area == expected["policy_area"]
        assert bill.subjects == expected["subjects"]
        assert bill.sponsor_name == expected["sponsor"]["name"]
        assert (bill.sponsor_party, bill.sponsor_state) == (expected["sponsor"]["party"], expected["sponsor"]["state"])
        assert bill.introduced_date.isoformat() == expected["introduced_date"]
        assert bill.latest_action_date.isoformat() == expected["latest_action_date"]
        assert bill.latest_action_text == expected["latest_action_text"]
        assert bill.status == parse_file(BILLSTATUS_DIR / expected["source_file"]).bill.status
    assert checked == len(SAMPLE)


def _shingles(text: str, size: int = 8) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9$]+", text.lower())
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def test_sample_summaries_are_our_own_words():
    crs_shingles = set().union(*(_shingles(s) for s in CRS_SUMMARIES))
    for bill in SAMPLE:
        summary = bill.summary or ""
        sentences = [s for s in re.split(r"(?<!U\.S\.)(?<=[.!?])\s+", summary.strip()) if s]
        assert 2 <= len(sentences) <= 4, (bill.id, len(sentences))
        assert summary not in CRS_SUMMARIES
        assert not any(summary in crs or crs in summary for crs in CRS_SUMMARIES)
        copied = _shingles(summary) & crs_shingles
        assert not copied, f"{bill.id} repeats CRS wording: {[' '.join(c) for c in copied][:3]}"


# --- caps on size ------------------------------------------------------------------------------

IMPORT_AND_MEASURE = """
import json, sys
def peak_mb():
    # This process's own high-water mark (VmHWM); ru_maxrss would carry the forking pytest's over exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from civic_briefs import db
from civic_briefs.importer import import_paths
from civic_briefs.settings import Settings
conn = db.connect(Settings(database_url=sys.argv[1]))
db.migrate(conn)
report = import_paths(conn, sys.argv[2:])
print(json.dumps({"imported": report.imported, "failed": [[f.name, f.error] for f in report.failed],
                  "peak_mb": peak_mb()}))
"""


def _write_summary_file(path: Path, characters: int) -> None:
    """A BILLSTATUS file whose CRS summary is ``characters`` long, written a block at a time."""
    head = ('<?xml version="1.0" encoding="utf-8"?>\n<billStatus><version>3.0.0</version><bill>'
            "<number>1234</number><type>HR</type><congress>117</congress><title>A generated bill</title>"
            "<summaries><summary><actionDate>2021-01-01</actionDate><text><![CDATA[")
    block = "word " * 200_000
    with path.open("w", encoding="utf-8") as file:
        file.write(head)
        for start in range(0, characters, len(block)):
            file.write(block[: characters - start])
        file.write("]]></text></summary></summaries></bill></billStatus>\n")


def test_a_50_mb_field_and_an_oversize_file_are_refused_in_little_memory(tmp_path):
    import json
    import subprocess
    import sys

    from civic_briefs.billstatus import MAX_FILE_BYTES

    huge_field = tmp_path / "BILLSTATUS-117hr1234.xml"
    _write_summary_file(huge_field, 50 * 1024 * 1024)
    oversize = tmp_path / "BILLSTATUS-117hr99.xml"
    with oversize.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    good = BILLSTATUS_DIR / GOOD[0]
    done = subprocess.run([sys.executable, "-c", IMPORT_AND_MEASURE, str(tmp_path / "t.db"), str(huge_field),
                           str(oversize), str(good)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1], check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] == ["117-hr-941"]  # the other files still import
    assert result["failed"] == [
        ["BILLSTATUS-117hr1234.xml", "bill 117-hr-1234 in BILLSTATUS-117hr1234.xml: field `summary` is 52,428,800 "
                                     "characters, the cap is 500,000"],
        ["BILLSTATUS-117hr99.xml", "BILLSTATUS-117hr99.xml: the file is 67,108,865 bytes, the cap is 67,108,864 bytes"],
    ]
    # Reading the whole field took 986 MB; counted, not kept, it takes what the interpreter does.
    assert result["peak_mb"] < 300, result
