import datetime as dt

import pytest

from civic_briefs import repo
from civic_briefs.interests import UnknownInterestError, policy_areas_for, validate_interests
from civic_briefs.selection import select_bills
from tests.factories import make_bill, make_user

DAY = dt.date(2026, 11, 30)


def seed(conn, bills, users=()):
    for bill in bills:
        repo.upsert_bill(conn, bill)
    for user in users:
        repo.upsert_user(conn, user)
    conn.commit()


def test_unknown_interest_is_named():
    with pytest.raises(UnknownInterestError) as err:
        validate_interests(["healthcare", "astrology", "Health"])
    assert err.value.unknown == ["Health", "astrology"]
    assert "astrology" in str(err.value) and "healthcare" not in err.value.unknown


def test_civil_rights_maps_to_exact_congress_spelling():
    areas = policy_areas_for(["civil-rights", "taxes", "economy"])
    assert areas["Civil Rights and Liberties, Minority Issues"] == "civil-rights"
    # Economics and Public Finance is asked for by both taxes and economy: the first one wins.
    assert areas["Economics and Public Finance"] == "taxes"


def test_priority_by_status_then_recency_and_sections(conn):
    bills = [
        make_bill(1, status="introduced", latest="2022-12-01"),
        make_bill(2, status="enacted", latest="2021-01-05"),
        make_bill(3, status="passed_house", latest="2022-06-01"),
        make_bill(4, status="passed_house", latest="2022-07-01"),
        make_bill(5, status="in_committee", latest="2022-01-01"),
        make_bill(6, status="introduced", latest="2022-01-01"),
        make_bill(7, status="introduced", latest="2021-01-01"),
        make_bill(8, status="introduced", latest="2020-01-01"),
        make_bill(9, policy_area="Taxation", status="enacted"),
    ]
    seed(conn, bills, [make_user()])
    picked = select_bills(conn, "u1", ["healthcare"], DAY)
    assert [i.bill.bill_number for i in picked.top_stories] == [2, 4, 3]
    assert [i.bill.bill_number for i in picked.quick_hits] == [5, 1, 6, 7]
    assert all(i.interest == "healthcare" for i in picked.items)


def test_interests_take_turns(conn):
    seed(conn, [make_bill(n, status="enacted", latest=f"2022-0{n}-01") for n in range(1, 6)]
         + [make_bill(20, policy_area="Taxation", status="introduced")], [make_user()])
    picked = select_bills(conn, "u1", ["healthcare", "taxes"], DAY, top_stories=3, quick_hits=4)
    # The taxes bill is weaker but its interest gets a top story slot in the first round.
    assert [i.bill.bill_number for i in picked.top_stories] == [5, 20, 4]
    assert picked.top_stories[1].interest == "taxes"


def test_bills_heard_in_last_30_days_are_skipped(conn):
    seed(conn, [make_bill(1, status="enacted"), make_bill(2), make_bill(3)], [make_user(), make_user("u2")])
    repo.save_brief(conn, {"id": repo.brief_id("u1", "daily", DAY - dt.timedelta(days=3)), "user_id": "u1",
                           "brief_type": "daily", "brief_date": (DAY - dt.timedelta(days=3)).isoformat(),
                           "status": "published"}, [("117-hr-1", "top_story")])
    repo.save_brief(conn, {"id": repo.brief_id("u1", "daily", DAY - dt.timedelta(days=31)), "user_id": "u1",
                           "brief_type": "daily", "brief_date": (DAY - dt.timedelta(days=31)).isoformat(),
                           "status": "published"}, [("117-hr-2", "top_story")])
    ids = [i.bill.id for i in select_bills(conn, "u1", ["healthcare"], DAY).items]
    assert "117-hr-1" not in ids and "117-hr-2" in ids and "117-hr-3" in ids
    # Another user has heard nothing.
    assert "117-hr-1" in [i.bill.id for i in select_bills(conn, "u2", ["healthcare"], DAY).items]
    # The brief being remade for the same day does not exclude its own bills.
    repo.save_brief(conn, {"id": repo.brief_id("u1", "daily", DAY), "user_id": "u1", "brief_type": "daily",
                           "brief_date": DAY.isoformat(), "status": "published"}, [("117-hr-3", "top_story")])
    assert "117-hr-3" in [i.bill.id for i in select_bills(conn, "u1", ["healthcare"], DAY).items]


def test_no_matching_bills_gives_empty_selection(conn, caplog):
    seed(conn, [make_bill(1)], [make_user()])
    picked = select_bills(conn, "u1", ["immigration"], DAY)
    assert picked.items == []
    assert "immigration" in caplog.text and "matches no bill" in caplog.text
