"""BILLSTATUS parsing: real GPO files against independently read values, status, HTML, bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from civic_briefs.billstatus import (
    Action,
    BillStatusError,
    derive_status,
    html_to_text,
    parse_billstatus,
    parse_file,
)
from tests.billstatus_expected import BILLSTATUS_DIR, EXPECTED, assert_bill_matches

BY_FILE = {e["source_file"]: e for e in EXPECTED}

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<billStatus><version>3.0.0</version><bill><title>&lol4;</title></bill></billStatus>
"""


def test_shared_data_is_all_there():
    files = sorted(p.name for p in BILLSTATUS_DIR.glob("*.xml"))
    assert len(files) == 56, f"expected 56 BILLSTATUS files in {BILLSTATUS_DIR}"
    assert files == sorted(BY_FILE)


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_parse_matches_independent_reading(name):
    expected = BY_FILE[name]
    parsed = parse_file(BILLSTATUS_DIR / name)
    bill = parsed.bill
    assert_bill_matches(bill, expected)
    sponsor = expected["sponsor"]
    assert parsed.sponsor is not None and parsed.sponsor.bioguide_id == sponsor["bioguide_id"]
    assert parsed.summary_version == expected["summary_version"]
    assert parsed.cosponsors_count == expected["cosponsors_count"]


# --- status ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("BILLSTATUS-117s2089.xml", "enacted"),      # Keep Kids Fed Act, P.L. 117-158
        ("BILLSTATUS-117hr8404.xml", "enacted"),     # Respect for Marriage Act
        ("BILLSTATUS-117hr7776.xml", "enacted"),     # FY2023 NDAA, a vehicle bill
        ("BILLSTATUS-117hr5.xml", "passed_house"),   # Equality Act: latest action is a Senate hearing
        ("BILLSTATUS-117hr842.xml", "passed_house"),
        ("BILLSTATUS-117s1251.xml", "passed_senate"),
        ("BILLSTATUS-117s65.xml", "passed_senate"),
        ("BILLSTATUS-117s2091.xml", "in_committee"),
        ("BILLSTATUS-117hr4791.xml", "in_committee"),  # a refused discharge request is not passage
        ("BILLSTATUS-117s2130.xml", "in_committee"),   # reported and on the calendar, never passed
    ],
)
def test_status_of_known_bills(name, status):
    assert parse_file(BILLSTATUS_DIR / name).bill.status == status


def test_public_laws_are_read():
    assert parse_file(BILLSTATUS_DIR / "BILLSTATUS-117s2089.xml").public_laws == ("117-158",)
    assert parse_file(BILLSTATUS_DIR / "BILLSTATUS-117hr5.xml").public_laws == ()


def test_every_bill_with_a_public_law_is_enacted_and_no_other():
    for name in BY_FILE:
        parsed = parse_file(BILLSTATUS_DIR / name)
        became_law = parsed.bill.latest_action_text.startswith("Became Public Law")
        assert (parsed.bill.status == "enacted") == became_law, name


def _a(text: str, type_: str = "Floor", code: str | None = None) -> Action:
    return Action(date=dt.date(2022, 1, 1), type=type_, code=code, text=text)


INTRODUCED = _a("Introduced in House", "IntroReferral", "1000")
REFERRED = _a("Referred to the House Committee on Ways and Means.", "IntroReferral", "H11100")
HOUSE = _a("Passed/agreed to in House: On passage Passed by the Yeas and Nays: 220 - 210.", code="8000")
SENATE = _a("Passed/agreed to in Senate: Passed Senate without amendment by Voice Vote.", code="17000")


@pytest.mark.parametrize(
    ("actions", "status"),
    [
        ([INTRODUCED], "introduced"),
        ([], "introduced"),
        ([REFERRED, INTRODUCED], "in_committee"),
        ([HOUSE, REFERRED, INTRODUCED], "passed_house"),
        ([SENATE, INTRODUCED], "passed_senate"),
        ([SENATE, HOUSE, INTRODUCED], "passed_both"),
        ([_a("Presented to President.", "President", "28000"), INTRODUCED], "passed_both"),
        ([_a("Failed of passage/not agreed to in House: On motion to suspend the rules.", code="9000"), REFERRED],
         "in_committee"),
        ([_a("Vetoed by President.", "Veto", "31000"), SENATE, HOUSE], "vetoed"),
        ([_a("Pocket Vetoed by President.", "Veto"), SENATE, HOUSE], "vetoed"),
        ([_a("Became Public Law No: 117-1.", "BecameLaw", "36000"), _a("Vetoed by President.", "Veto", "31000")],
         "enacted"),
    ],
)
def test_derive_status(actions, status):
    assert derive_status(actions) == status


def test_laws_element_alone_means_enacted():
    assert derive_status([INTRODUCED], enacted=True) == "enacted"


# --- summary HTML ------------------------------------------------------------------------------

def test_html_to_text_paragraphs_lists_and_entities():
    html = (
        "<p><strong>Tax&nbsp;Act</strong></p> <p>This bill\n  does <em>three</em> things&#8212;for"
        " A&amp;B:</p><ul><li> one,</li> <li>two<br> </li><li>three</li></ul>"
        "<p>More.<br> <br> Even more.</p>"
    )
    assert html_to_text(html) == (
        "Tax Act\n\nThis bill does three things\u2014for A&B:\n\n- one,\n- two\n- three\n\nMore.\n\nEven more."
    )


def test_html_to_text_drops_comments_and_doctypes():
    assert html_to_text("<!DOCTYPE html><p>a<!-- note -->b</p><?pi x?><p>c</p>") == "ab\n\nc"


def test_html_to_text_empty():
    assert html_to_text("") == ""
    assert html_to_text("<p> </p>") == ""


# --- bad input ---------------------------------------------------------------------------------

def _good_xml() -> bytes:
    return (BILLSTATUS_DIR / "BILLSTATUS-117s1315.xml").read_bytes()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<billStatus><version>3.0.0</version><bill><title>cut off", "malformed XML"),
        (b"", "malformed XML"),
        (b"<rss><channel><title>news</title></channel></rss>", "root element is <rss>"),
        (BILLION_LAUGHS, "refused unsafe XML"),
        (b"<billStatus><version>1.0.0</version><bill/></billStatus>", "unsupported BILLSTATUS schema version '1.0.0'"),
        (b"<billStatus><bill/></billStatus>", "unsupported BILLSTATUS schema version missing"),
        (b"<billStatus><version>3.0.0</version></billStatus>", "no <bill> element"),
        (b"<billStatus><version>3.0.0</version><bill><congress>117</congress><type>HR</type>"
         b"<number>1</number></bill></billStatus>", "missing required <title>"),
        (b"<billStatus><version>3.0.0</version><bill><congress>117</congress><type>XX</type>"
         b"<number>1</number><title>T</title></bill></billStatus>", "unknown bill type 'xx'"),
        (b"<billStatus><version>3.0.0</version><bill><congress>117</congress><type>S</type>"
         b"<number>one</number><title>T</title></bill></billStatus>", "invalid value"),
        (_good_xml().replace(b"<introducedDate>2021-04-22", b"<introducedDate>2021-14-22"), "invalid value"),
    ],
)
def test_bad_documents_raise_billstatus_error(data, reason):
    with pytest.raises(BillStatusError) as info:
        parse_billstatus(data, source="bad.xml")
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("bad.xml: ")
    assert reason in str(info.value)


def test_parse_file_names_the_file_in_errors(tmp_path):
    path = tmp_path / "BILLSTATUS-117hr9999.xml"
    path.write_text("<billStatus><version>3.0.0</version>", encoding="utf-8")
    with pytest.raises(BillStatusError, match=r"^BILLSTATUS-117hr9999\.xml: malformed XML"):
        parse_file(path)
    with pytest.raises(BillStatusError, match=r"^missing\.xml: cannot read file"):
        parse_file(tmp_path / "missing.xml")


def test_minimal_document_has_empty_extras():
    parsed = parse_billstatus(
        "<billStatus><version>3.0.0</version><bill><congress>118</congress><type>HJRES</type>"
        "<number>7</number><title>A joint resolution.</title></bill></billStatus>"
    )
    assert parsed.bill.id == "118-hjres-7"
    assert parsed.bill.label == "H.J.Res. 7"
    assert parsed.bill.status == "introduced"
    assert (parsed.bill.summary, parsed.bill.policy_area, parsed.bill.subjects) == (None, None, [])
    assert (parsed.sponsor, parsed.cosponsors_count, parsed.summary_version) == (None, 0, None)


def test_withdrawn_cosponsors_are_not_counted():
    xml = (
        "<billStatus><version>3.0.0</version><bill><congress>117</congress><type>S</type><number>5</number>"
        "<title>T</title><cosponsors>"
        "<item><fullName>Sen. A [D-MA]</fullName></item>"
        "<item><fullName>Sen. B [R-TX]</fullName><sponsorshipWithdrawnDate>2021-05-01</sponsorshipWithdrawnDate></item>"
        "<item><fullName>Sen. C [I-VT]</fullName></item>"
        "</cosponsors></bill></billStatus>"
    )
    assert parse_billstatus(xml).cosponsors_count == 2


# --- caps on size ------------------------------------------------------------------------------

def _bill_xml(title: str = "T", inside: str = "") -> str:
    return (f"<billStatus><version>3.0.0</version><bill><congress>117</congress><type>HR</type>"
            f"<number>1234</number><title>{title}</title>{inside}</bill></billStatus>")


@pytest.mark.parametrize(("inside", "field", "size", "cap"), [
    ("", "title", 10_001, 10_000),
    ("<latestAction><actionDate>2021-01-01</actionDate><text>{x}</text></latestAction>", "latest_action_text",
     10_001, 10_000),
    ("<summaries><summary><text>{x}</text></summary></summaries>", "summary", 500_001, 500_000),
    ("<policyArea><name>{x}</name></policyArea>", "policy_area", 1_001, 1_000),
    ("<subjects><legislativeSubjects><item><name>{x}</name></item></legislativeSubjects></subjects>", "subjects",
     1_001, 1_000),
    ("<sponsors><item><fullName>{x}</fullName></item></sponsors>", "sponsor_name", 1_001, 1_000),
    ("<actions><item><actionDate>2021-01-01</actionDate><text>{x}</text></item></actions>", "actions/item/text",
     100_001, 100_000),
])
def test_a_field_over_its_cap_is_refused_by_name(inside, field, size, cap):
    xml = _bill_xml("x" * size) if field == "title" else _bill_xml(inside=inside.replace("{x}", "x" * size))
    with pytest.raises(BillStatusError) as info:
        parse_billstatus(xml, source="BILLSTATUS-117hr1234.xml")
    assert str(info.value) == (f"bill 117-hr-1234 in BILLSTATUS-117hr1234.xml: field `{field}` is {size:,} characters, "
                               f"the cap is {cap:,}")
    # At the cap itself it is read, whole.
    at_cap = _bill_xml("x" * cap) if field == "title" else _bill_xml(inside=inside.replace("{x}", "x" * cap))
    parsed = parse_billstatus(at_cap)
    if field == "title":
        assert parsed.bill.title == "x" * cap


def test_too_many_subjects_and_a_field_before_the_bill_id_are_refused():
    subjects = "".join(f"<item><name>s{i}</name></item>" for i in range(2_001))
    with pytest.raises(BillStatusError, match=r"^bill 117-hr-1234 in f\.xml: field `subjects` is 2,001 items, "
                                              r"the cap is 2,000$"):
        parse_billstatus(_bill_xml(inside=f"<subjects><legislativeSubjects>{subjects}</legislativeSubjects></subjects>"),
                         source="f.xml")
    # The bill's id is read wherever it is in the file; without one the file alone is named.
    long_first = "<billStatus><version>3.0.0</version><bill><title>" + "x" * 10_001 + "</title></bill></billStatus>"
    with pytest.raises(BillStatusError, match=r"^f\.xml: field `title` is 10,001 characters, the cap is 10,000$"):
        parse_billstatus(long_first, source="f.xml")


def test_parts_the_parser_does_not_use_are_not_kept():
    # A long amendment description is skipped as the file is read: the bill imports.
    skipped = "<amendments><amendment><description>" + "x" * 1_000_000 + "</description></amendment></amendments>"
    parsed = parse_billstatus(_bill_xml(inside=skipped))
    assert parsed.bill.id == "117-hr-1234" and parsed.bill.title == "T"


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from civic_briefs import billstatus

    path = tmp_path / "BILLSTATUS-117hr1.xml"
    with path.open("wb") as file:  # sparse: nothing of it is on disk or read
        file.truncate(billstatus.MAX_FILE_BYTES + 1)
    opened: list[object] = []
    monkeypatch.setattr(type(path), "open", lambda self, *a, **k: opened.append(self) or open(self, *a, **k))
    with pytest.raises(BillStatusError) as info:
        parse_file(path)
    assert str(info.value) == "BILLSTATUS-117hr1.xml: the file is 67,108,865 bytes, the cap is 67,108,864 bytes"
    assert opened == []


def test_the_real_files_are_far_under_the_caps():
    from civic_briefs import billstatus

    largest = max(p.stat().st_size for p in BILLSTATUS_DIR.glob("*.xml"))
    longest_summary = max(len(parse_file(p).bill.summary or "") for p in BILLSTATUS_DIR.glob("*.xml"))
    assert largest < billstatus.MAX_FILE_BYTES / 100
    assert longest_summary < billstatus.FIELD_CAPS["bill/summaries/summary/text"][1] / 20


def test_too_many_elements_in_the_parts_read_are_refused():
    from civic_briefs import billstatus

    items = "<item/>" * (billstatus.MAX_ELEMENTS + 1)
    with pytest.raises(BillStatusError, match=r"^f\.xml: more than 200,000 elements in the parts of <bill> that are read"):
        parse_billstatus(_bill_xml(inside=f"<actions>{items}</actions>"), source="f.xml")
    # The same count in a part that is not read costs nothing.
    assert parse_billstatus(_bill_xml(inside=f"<amendments>{items}</amendments>")).bill.id == "117-hr-1234"
