"""Members of Congress: sponsors and cosponsors read from the real BILLSTATUS files (../shared/data),
imported into a real libSQL file, and the listener's home state and district."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from civic_briefs import db, inputs, repo
from civic_briefs.billstatus import parse_billstatus, parse_file
from civic_briefs.cli import app
from civic_briefs.demo import demo_users
from civic_briefs.importer import import_paths, import_sample, load_sample_bills, load_sample_sponsorships
from civic_briefs.models import Member, Sponsorship, User
from tests.billstatus_expected import BILLSTATUS_DIR, EXPECTED

BY_FILE = {e["source_file"]: e for e in EXPECTED}
S1315 = BILLSTATUS_DIR / "BILLSTATUS-117s1315.xml"
GRASSLEY_ITEM = "<bioguideId>G000386</bioguideId>"


def _withdrawn(xml: str, bioguide_item: str, day: str) -> str:
    """The file with one cosponsor's item marked withdrawn on ``day`` (the shared files have none)."""
    start = xml.index(bioguide_item, xml.index("<cosponsors>"))
    end = xml.index("</item>", start)
    return xml[:end] + f"<sponsorshipWithdrawnDate>{day}</sponsorshipWithdrawnDate>" + xml[end:]


# --- parsing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_sponsor_and_cosponsor_count_match_the_independent_reading(name):
    expected = BY_FILE[name]
    parsed = parse_file(BILLSTATUS_DIR / name)
    sponsors = [s for s in parsed.current_sponsorships if s.role == "sponsor"]
    assert len(sponsors) == 1
    member = sponsors[0].member
    assert (member.bioguide_id, member.name, member.party, member.state) == (
        expected["sponsor"]["bioguide_id"], expected["sponsor"]["name"], expected["sponsor"]["party"],
        expected["sponsor"]["state"])
    assert sponsors[0].date == dt.date.fromisoformat(expected["introduced_date"])
    assert sum(s.role == "cosponsor" for s in parsed.current_sponsorships) == expected["cosponsors_count"]
    assert all(s.bill_id == expected["id"] for s in parsed.sponsorships)


def test_a_senate_bills_sponsor_and_cosponsors():
    parsed = parse_file(S1315)
    sponsor, first, *rest = parsed.sponsorships
    assert sponsor.role == "sponsor" and sponsor.original and sponsor.withdrawn is None
    assert sponsor.member == Member(bioguide_id="C000127", name="Sen. Cantwell, Maria [D-WA]", first_name="Maria",
                                    last_name="Cantwell", party="D", state="WA", district=None, chamber="senate",
                                    congress=117)
    assert (first.role, first.date, first.original) == ("cosponsor", dt.date(2021, 4, 22), True)
    assert (first.member.bioguide_id, first.member.first_name, first.member.last_name, first.member.chamber) == (
        "G000386", "Charles", "Grassley", "senate")
    assert len(rest) == 73


def test_house_members_carry_their_district_and_at_large_is_0():
    hr5 = parse_file(BILLSTATUS_DIR / "BILLSTATUS-117hr5.xml")
    by_id = {s.member.bioguide_id: s for s in hr5.sponsorships}
    assert (by_id["C001084"].role, by_id["C001084"].member.district, by_id["C001084"].member.chamber) == (
        "sponsor", 1, "house")
    norton = by_id["N000147"]  # the District of Columbia's delegate
    assert (norton.member.state, norton.member.district, norton.member.chamber, norton.date) == (
        "DC", 0, "house", dt.date(2021, 2, 18))
    young = next(s for s in parse_file(BILLSTATUS_DIR / "BILLSTATUS-117hr2119.xml").sponsorships
                 if s.member.bioguide_id == "Y000033")
    assert (young.member.name, young.member.state, young.member.district) == ("Rep. Young, Don [R-AK-At Large]", "AK", 0)


def test_a_withdrawn_cosponsor_is_kept_with_its_date_and_does_not_count():
    parsed = parse_billstatus(_withdrawn(S1315.read_text(encoding="utf-8"), GRASSLEY_ITEM, "2021-06-01"), "s1315")
    grassley = next(s for s in parsed.sponsorships if s.member.bioguide_id == "G000386")
    assert grassley.withdrawn == dt.date(2021, 6, 1) and not grassley.current
    assert "G000386" not in {s.member.bioguide_id for s in parsed.current_sponsorships}
    assert parsed.cosponsors_count == 73 == sum(s.role == "cosponsor" for s in parsed.current_sponsorships)


def test_a_cosponsor_who_withdrew_and_signed_on_again_counts_once():
    xml = _withdrawn(S1315.read_text(encoding="utf-8"), GRASSLEY_ITEM, "2021-06-01")
    start = xml.index(GRASSLEY_ITEM, xml.index("<cosponsors>"))
    item_start = xml.rindex("<item>", 0, start)
    again = xml[item_start:xml.index("</item>", start) + 7]
    again = again.replace("<sponsorshipWithdrawnDate>2021-06-01</sponsorshipWithdrawnDate>", "").replace(
        "2021-04-22", "2021-07-01")
    xml = xml.replace("</cosponsors>", again + "</cosponsors>", 1)
    parsed = parse_billstatus(xml, "s1315")
    grassley = [s for s in parsed.sponsorships if s.member.bioguide_id == "G000386"]
    assert [(s.date, s.withdrawn) for s in grassley] == [(dt.date(2021, 7, 1), None)]


# --- importing -------------------------------------------------------------------------------------

def test_importing_the_shared_files_fills_members_and_bill_sponsors(conn):
    report = import_paths(conn, [BILLSTATUS_DIR])
    assert report.ok and len(report.imported) == 56
    assert repo.count_members(conn) == 523
    assert conn.execute("SELECT COUNT(*) FROM bill_sponsors").fetchall()[0][0] == 3920
    assert conn.execute("SELECT COUNT(*) FROM bill_sponsors WHERE role = 'sponsor'").fetchall()[0][0] == 56
    rows = repo.sponsorships(conn, ["117-s-1315"])
    assert [(s.role, s.member.bioguide_id) for s in rows[:2]] == [("sponsor", "C000127"), ("cosponsor", "G000386")]
    assert len(rows) == 75
    assert rows[1].member.updated_at is not None
    assert rows[1].model_copy(update={"member": rows[1].member.model_copy(update={"updated_at": None})}) == (
        parse_file(S1315).sponsorships[1])
    norton = repo.get_member(conn, "N000147")
    # Some files write her first and last names in capitals (the full name is the one that is said).
    assert (norton.first_name.lower(), norton.last_name.lower()) == ("eleanor", "norton")
    assert norton.model_dump(exclude={"updated_at", "first_name", "last_name"}) == {
        "bioguide_id": "N000147", "name": "Del. Norton, Eleanor Holmes [D-DC-At Large]", "party": "D", "state": "DC",
        "district": 0, "chamber": "house", "congress": 117}
    washington = repo.sponsorships(conn, ["117-s-1315", "117-hr-5"], states=["WA"])
    assert {(s.bill_id, s.member.bioguide_id, s.role) for s in washington} >= {("117-s-1315", "C000127", "sponsor")}
    assert {s.member.state for s in washington} == {"WA"}


def test_reimporting_a_bill_replaces_its_sponsorships(conn, tmp_path):
    changed = tmp_path / S1315.name
    xml = _withdrawn(S1315.read_text(encoding="utf-8"), GRASSLEY_ITEM, "2021-06-01")
    # And one cosponsor (Merkley) gone from the record altogether.
    start = xml.index("<bioguideId>M001176</bioguideId>", xml.index("<cosponsors>"))
    xml = xml[:xml.rindex("<item>", 0, start)] + xml[xml.index("</item>", start) + 7:]
    changed.write_text(xml, encoding="utf-8")

    assert import_paths(conn, [S1315]).ok
    assert len(repo.sponsorships(conn, ["117-s-1315"])) == 75
    assert import_paths(conn, [changed]).ok
    current = {s.member.bioguide_id for s in repo.sponsorships(conn, ["117-s-1315"])}
    every = repo.sponsorships(conn, ["117-s-1315"], include_withdrawn=True)
    assert len(current) == 73 and "G000386" not in current and "M001176" not in current
    assert [s.withdrawn for s in every if s.member.bioguide_id == "G000386"] == [dt.date(2021, 6, 1)]
    assert conn.execute("SELECT COUNT(*) FROM bill_sponsors WHERE bill_id = '117-s-1315'").fetchall()[0][0] == 74
    assert import_paths(conn, [S1315]).ok
    assert len(repo.sponsorships(conn, ["117-s-1315"])) == 75
    assert repo.count_bills(conn) == 1


def test_a_members_row_keeps_their_newest_congress(conn):
    import_paths(conn, [S1315])
    newer = Member(bioguide_id="C000127", name="Sen. Cantwell, Maria [D-WA]", party="D", state="WA",
                   chamber="senate", congress=118, last_name="Cantwell-New")
    conn.execute("INSERT INTO bills (id, congress, bill_type, bill_number, title, updated_at) "
                 "VALUES ('118-s-1', 118, 's', 1, 'A later bill', '2024-01-01')")
    repo.replace_sponsorships(conn, "118-s-1", [Sponsorship(bill_id="118-s-1", member=newer, role="sponsor")])
    conn.commit()
    import_paths(conn, [S1315])  # the 117th Congress record again: older, so the row stays
    assert repo.get_member(conn, "C000127").last_name == "Cantwell-New"
    assert len(repo.sponsorships(conn, ["117-s-1315"])) == 75


def test_sample_sponsorships_are_the_real_ones_and_import(conn):
    sample = load_sample_sponsorships()
    assert set(sample) == {b.id for b in load_sample_bills()}
    for bill_id, entries in sample.items():
        real = {(s.member.bioguide_id, s.role): s for s in parse_file(
            BILLSTATUS_DIR / f"BILLSTATUS-{bill_id.replace('-', '')}.xml").sponsorships}
        assert entries and entries[0].role == "sponsor", bill_id
        for entry in entries:
            assert entry == real[(entry.member.bioguide_id, entry.role)], (bill_id, entry.member.bioguide_id)
    import_sample(conn)
    stored = repo.sponsorships(conn, sample)
    assert len(stored) == sum(map(len, sample.values()))


# --- where the listener lives ----------------------------------------------------------------------

@pytest.mark.parametrize(("state", "district", "home"), [
    ("WA", None, ("WA", None)), ("wa", "7", ("WA", 7)), (" IL ", 7, ("IL", 7)), ("CA", "53", ("CA", 53)),
    ("AK", "at-large", ("AK", 0)), ("VT", "0", ("VT", 0)), ("DC", "At Large", ("DC", 0)), ("PR", 0, ("PR", 0)),
    ("MT", "0", ("MT", 0)), ("MT", "2", ("MT", 2)), (None, None, (None, None)), ("", "", (None, None)),
])
def test_a_home_is_a_usps_code_and_a_district(state, district, home):
    assert inputs.check_home(state, district) == home


@pytest.mark.parametrize(("state", "district", "parameter", "message"), [
    ("Washington", None, "state",
     "state must be a USPS code of a state or territory (e.g. WA, NY, DC, PR), not 'Washington'"),
    ("ZZ", "3", "state", "state must be a USPS code of a state or territory (e.g. WA, NY, DC, PR), not 'ZZ'"),
    (7, None, "state", "state must be a USPS code of a state or territory (e.g. WA, NY, DC, PR), not 7"),
    ("CA", "54", "district",
     "district must be a whole number from 0 to 53 (0 or \"at-large\" for an at-large seat), not '54'"),
    ("CA", "-1", "district",
     "district must be a whole number from 0 to 53 (0 or \"at-large\" for an at-large seat), not '-1'"),
    ("CA", "seven", "district",
     "district must be a whole number from 0 to 53 (0 or \"at-large\" for an at-large seat), not 'seven'"),
    ("CA", True, "district",
     "district must be a whole number from 0 to 53 (0 or \"at-large\" for an at-large seat), not True"),
    ("AK", "1", "district", "AK has one at-large seat in the House: its district is 0 (or \"at-large\"), not 1"),
    ("NY", "at-large", "district", "NY has numbered districts (from 1): 0 is for at-large seats"),
    (None, "7", "district", "district '7' needs a state: give the state first"),
])
def test_a_bad_home_is_refused_by_name(state, district, parameter, message):
    with pytest.raises(inputs.InputError) as refused:
        inputs.check_home(state, district)
    assert (refused.value.parameter, str(refused.value)) == (parameter, message)


def test_a_bad_home_is_never_saved(conn):
    repo.upsert_user(conn, User(id="sue", name="Sue Park", interests=["healthcare"]))
    conn.commit()
    for state, district in (("XX", None), ("CA", 99), (None, 3), ("wa", None)):
        with pytest.raises(repo.InvalidUserError):
            repo.upsert_user(conn, repo.get_user(conn, "sue").model_copy(update={"state": state, "district": district}))
    assert (repo.get_user(conn, "sue").state, repo.get_user(conn, "sue").district) == (None, None)


def test_set_district_in_the_cli(settings_env):
    runner = CliRunner()
    assert runner.invoke(app, ["add-demo-users"]).exit_code == 0
    done = runner.invoke(app, ["set-district", "lena", "wa", "7"])
    assert done.exit_code == 0 and "lena: WA, district 7" in done.output
    with db.connection() as conn:
        assert (repo.get_user(conn, "lena").state, repo.get_user(conn, "lena").district) == ("WA", 7)
    senators_only = runner.invoke(app, ["set-district", "lena", "OR"])
    assert senators_only.exit_code == 0 and "lena: OR, no district: their senators only" in senators_only.output
    at_large = runner.invoke(app, ["set-district", "lena", "AK", "at-large"])
    assert at_large.exit_code == 0 and "lena: AK, at-large" in at_large.output
    for args, words in ((["set-district", "lena", "Oregon"], "Invalid value for 'STATE': state must be a USPS code"),
                        (["set-district", "lena", "CA", "60"], "Invalid value for 'DISTRICT': district must be a whole"),
                        (["set-district", "nobody", "CA", "6"], "Invalid value for 'USER_ID': user_id 'nobody' is not")):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and words in " ".join(refused.output.split()), refused.output
    with db.connection() as conn:
        assert (repo.get_user(conn, "lena").state, repo.get_user(conn, "lena").district) == ("AK", 0)


def test_demo_users_have_homes_that_the_sample_names():
    users = {u.id: u for u in demo_users()}
    assert {u: (users[u].state, users[u].district) for u in users} == {
        "maria": ("IL", 7), "james": ("NY", 10), "priya": ("CA", 18), "dwayne": ("CO", 1), "lena": (None, None)}
    for user in users.values():
        assert inputs.check_home(user.state, user.district) == (user.state, user.district)
