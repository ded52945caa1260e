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
