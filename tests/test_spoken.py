import datetime as dt

from civic_briefs.citations import cited_bills
from civic_briefs.spoken import sentences, spoken_date, spoken_sponsor


def test_sponsors_are_said_like_people():
    assert spoken_sponsor("Rep. Wild, Susan [D-PA-7]") == "Representative Susan Wild, a Democrat from Pennsylvania"
    assert spoken_sponsor("Sen. Braun, Mike [R-IN]") == "Senator Mike Braun, a Republican from Indiana"
    assert spoken_sponsor("Sen. Sanders, Bernard [I-VT]") == "Senator Bernard Sanders, an independent from Vermont"
    assert spoken_sponsor("Rep. Smith, Christopher H. [R-NJ-4]").startswith("Representative Christopher Smith,")
    assert spoken_sponsor(None) == "an unnamed sponsor"


def test_dates_and_sentences():
    assert spoken_date(dt.date(2021, 3, 4)) == "March 4, 2021"
    assert sentences("First one. Second (two).\n\n- A list item. Third!") == [
        "First one.", "Second (two).", "A list item.", "Third!"]


def test_citations_found_in_every_common_form():
    text = "H.R. 3684, HR 5, S. 1251, S.J.Res. 7, H.Con.Res. 2 and 117-hr-55; not 42 U.S.C. 1983 or U.S. 2"
    assert cited_bills(text) == {("hr", 3684), ("hr", 5), ("s", 1251), ("sjres", 7), ("hconres", 2), ("hr", 55)}


def test_congress_in_session():
    from civic_briefs.spoken import congress_for, ordinal

    assert congress_for(dt.date(2021, 6, 1)) == 117
    assert congress_for(dt.date(2023, 1, 2)) == 117 and congress_for(dt.date(2023, 1, 3)) == 118
    assert congress_for(dt.date(2026, 11, 30)) == 119
    assert [ordinal(n) for n in (117, 111, 112, 113, 121, 122)] == ["117th", "111th", "112th", "113th", "121st", "122nd"]


# ---- issue 9: bill numbers, clerk text, tense, lists ----

import json  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

from civic_briefs.spoken import (  # noqa: E402
    coming_up,
    headline_status,
    interests_said,
    lower_first,
    speakable,
    spoken_action,
    spoken_bill_mentions,
    spoken_label,
    spoken_list,
    spoken_public_law,
    standing,
)
from tests.conftest import SHARED_DATA  # noqa: E402
from tests.factories import make_bill  # noqa: E402

IN_2026 = dt.date(2026, 11, 30)
IN_2022 = dt.date(2022, 6, 1)


@pytest.mark.parametrize("label,said", [
    ("H.R. 1315", "H.R. thirteen fifteen"), ("S. 4", "S. four"), ("H.R. 7776", "H.R. seventy-seven seventy-six"),
    ("H.R. 100", "H.R. one hundred"), ("H.R. 604", "H.R. six oh four"), ("H.R. 8404", "H.R. eighty-four oh four"),
    ("S. 3076", "S. thirty seventy-six"), ("H.R. 1100", "H.R. eleven hundred"), ("H.R. 2000", "H.R. two thousand"),
    ("H.R. 2005", "H.R. twenty oh five"), ("S. 66", "S. sixty-six"), ("H.R. 10545", "H.R. ten thousand five forty-five"),
    ("H.J.Res. 7", "House Joint Resolution seven"), ("S.J.Res. 38", "Senate Joint Resolution thirty-eight"),
    ("H.Con.Res. 121", "House Concurrent Resolution one twenty-one"), ("S.Con.Res. 4", "Senate Concurrent Resolution four"),
    ("H.Res. 1518", "House Resolution fifteen eighteen"), ("S.Res. 12", "Senate Resolution twelve"),
])
def test_bill_numbers_are_said_as_people_say_them(label, said):
    assert spoken_label(label) == said
    assert spoken_bill_mentions(f"Today, {said}, and more.") == {said}


def test_public_laws_are_said_in_pairs_and_other_text_is_left_alone():
    assert spoken_public_law(117, 228) == "Public Law one seventeen, two twenty-eight"
    assert speakable("Became Public Law No: 117-6; see P.L. 117-58 and 42 U.S.C. 1983 in the U.S. 2 report") == (
        "Became Public Law one seventeen, six; see Public Law one seventeen, fifty-eight and 42 U.S.C. 1983 in the U.S. 2 report")


@pytest.mark.parametrize("text,chamber,said", [
    ("Received in the Senate. Read twice. Placed on Senate Legislative Calendar under General Orders. Calendar No. 156.",
     "Senate", "it reached the Senate and was placed on the calendar"),
    ("Committee on the Judiciary. Hearings held.", None, "the Judiciary Committee held hearings"),
    ("Committee on the Judiciary. Hearings held.", "Senate", "the Senate Judiciary Committee held hearings"),
    ("Became Public Law No: 117-228.", None, "it became Public Law one seventeen, two twenty-eight"),
    ("Read twice and referred to the Committee on Finance.", "Senate", "it was sent to the Senate Finance Committee"),
    ("Read twice and referred to the Committee on Health, Education, Labor, and Pensions. (Sponsor introductory "
     "remarks on measure: CR S1648-1649)", "Senate", "it was sent to the Senate Health, Education, Labor, and Pensions Committee"),
    ("Received in the Senate and Read twice and referred to the Committee on Banking, Housing, and Urban Affairs.", "Senate",
     "it reached the Senate and was sent to the Banking, Housing, and Urban Affairs Committee"),
    ("Placed on the Union Calendar, Calendar No. 467.", "House", "it was placed on the House calendar"),
    ("Held at the desk.", "House", "it was held at the House desk"),
    ("Referred to the House Committee on Ways and Means.", "House", "it was sent to the House Ways and Means Committee"),
    ("Referred to the Subcommittee on Commodity Exchanges, Energy, and Credit.", "House",
     "it was sent to the Commodity Exchanges, Energy, and Credit Subcommittee"),
    ("Subcommittee Hearings Held.", "House", "a subcommittee held hearings"),
    ("Passed/agreed to in House: On passage Passed by the Yeas and Nays: 224 - 206 (Roll no. 39).", None,
     "the House passed it by a vote of 224 to 206"),
    ("Received in the Senate, read twice, considered, read the third time, and passed without amendment by Unanimous "
     "Consent. (consideration: CR S6431)", None, "it reached the Senate, and the Senate passed it by unanimous consent"),
    ("Motion to reconsider laid on the table Agreed to without objection.", "House", ""),
    ("Mr. Hoyer asked unanimous consent that the Committee on Energy and Commerce be discharged from further "
     "consideration of H.R. 4791 and offered an amendment to the bill. Objection heard. (text: CR H4302)", "House",
     "a request to pull it from the House Energy and Commerce Committee and take it up at once was blocked by an objection"),
])
def test_clerk_phrases_are_said_plainly(text, chamber, said):
    assert spoken_action(text, chamber) == said


def test_no_action_in_the_real_billstatus_files_is_read_with_clerk_text():
    """Every action of the 56 real BILLSTATUS files (latest or not), said: no calendar, roll-call or
    Record numbers, no "Read twice", no "No:"."""
    import xml.etree.ElementTree as ET

    texts = {item.findtext("text") for path in (SHARED_DATA / "billstatus").glob("*.xml")
             for item in ET.parse(path).getroot().find("bill").find("actions").findall("item")} - {None}
    latest = {row["latest_action_text"] for row in json.loads((SHARED_DATA / "billstatus-expected.json").read_text())}
    assert len(texts) > 600 and latest <= texts
    clerk = re.compile(r"No:|Calendar No|Read twice|read twice|Read the|\bCR\b|Roll no|\bNo\.")
    said = {text: spoken_action(text, "House") for text in texts}
    assert [(t, s) for t, s in said.items() if clerk.search(s)] == []
    # Every latest action is said by a rule, not read as it is.
    by_rule = re.compile(r"^(?:it|the|a|senators) ")
    assert [t[:30] for t in latest if not by_rule.match(said[t])] == []


def test_a_bill_of_an_ended_congress_is_said_in_the_past_tense():
    committee = make_bill(1315, bill_type="s", status="in_committee",
                          latest_action_text="Read twice and referred to the Committee on Finance.")
    assert standing(committee, IN_2026) == ("On May 1, 2022, it was sent to the Senate Finance Committee, and the "
                                            "bill died in committee when the 117th Congress ended.")
    assert standing(committee, IN_2022) == "On May 1, 2022, it was sent to the Senate Finance Committee; it is still in committee."
    house = make_bill(2119, status="passed_house", latest_action_text=(
        "Received in the Senate. Read twice. Placed on Senate Legislative Calendar under General Orders. Calendar No. 156."))
    assert standing(house, IN_2026) == ("It passed the House, and on May 1, 2022 it reached the Senate and was placed "
                                        "on the calendar; then the 117th Congress ended before the Senate acted.")
    assert standing(house, IN_2022).endswith("so the Senate has the next move.")
    law = make_bill(8404, status="enacted", latest="2022-12-13", latest_action_text="Became Public Law No: 117-228.")
    assert standing(law, IN_2026) == "It became law in December 2022, as Public Law one seventeen, two twenty-eight."
    floor = make_bill(604, status="in_committee", latest_action_text="Placed on the Union Calendar, Calendar No. 467.")
    assert standing(floor, IN_2026) == ("On May 1, 2022, it was placed on the House calendar, but the 117th Congress "
                                        "ended before the full House voted on it.")
    assert [headline_status(b, IN_2026) for b in (committee, house, law, floor)] == [
        "died in committee", "passed the House, then died in the Senate", "became law", "died without a floor vote"]
    # A request to discharge the committee that met an objection left the bill in committee.
    objected = make_bill(4791, status="in_committee", latest_action_text=(
        "Mr. Hoyer asked unanimous consent that the Committee on Energy and Commerce be discharged from further "
        "consideration of H.R. 4791 and offered an amendment to the bill. Objection heard. (text: CR H4302)"))
    assert standing(objected, IN_2026) == (
        "On May 1, 2022, a request to pull it from the House Energy and Commerce Committee and take it up at once was "
        "blocked by an objection, and the bill died in committee when the 117th Congress ended.")
    assert headline_status(objected, IN_2026) == "died in committee"
    assert headline_status(committee, IN_2022) == "is in committee"


def test_lists_interests_and_acronyms():
    assert spoken_list(["x"]) == "x" and spoken_list(["x", "y"]) == "x and y"
    assert spoken_list(["defense", "the economy", "taxes", "transportation"]) == "defense, the economy, taxes and transportation"
    assert interests_said(["climate", "science"]) == "climate and energy, and science"
    assert interests_said(["healthcare", "education", "science", "technology", "taxes"]) == (
        "health care, education, science, technology and taxes")
    assert coming_up(2, 1, ["taxes"]) == "two top stories, one quick hit and headlines on taxes"
    assert coming_up(2, 1, ["healthcare", "taxes"]) == "two top stories, one quick hit, and headlines on health care and taxes"
    assert lower_first("GAO must report.") == "GAO must report."
    assert lower_first("The task force must plan.") == "the task force must plan."
    assert lower_first("Medicare would pay.") == "Medicare would pay."
    assert spoken_sponsor('Rep. Scott, Robert C. "Bobby" [D-VA-3]') == "Representative Bobby Scott, a Democrat from Virginia"
