"""The values an independent parser read from the real BILLSTATUS files (../shared/data)."""

from __future__ import annotations

import datetime as dt
import json

from civic_briefs.models import Bill
from tests.conftest import SHARED_DATA

BILLSTATUS_DIR = SHARED_DATA / "billstatus"
EXPECTED = json.loads((SHARED_DATA / "billstatus-expected.json").read_text(encoding="utf-8"))


def assert_bill_matches(bill: Bill, expected: dict) -> None:
    """Every field of ``bill`` that the expected record gives, compared exactly."""
    assert bill.id == expected["id"]
    assert (bill.congress, bill.bill_type, bill.bill_number) == (
        expected["congress"], expected["bill_type"], expected["bill_number"])
    assert bill.title == expected["title"]
    assert bill.policy_area == expected["policy_area"]
    assert bill.subjects == expected["subjects"]
    assert bill.introduced_date == dt.date.fromisoformat(expected["introduced_date"])
    assert bill.latest_action_date == dt.date.fromisoformat(expected["latest_action_date"])
    assert bill.latest_action_text == expected["latest_action_text"]
    sponsor = expected["sponsor"]
    assert (bill.sponsor_name, bill.sponsor_party, bill.sponsor_state) == (sponsor["name"], sponsor["party"], sponsor["state"])
    assert bill.summary == expected["summary"]
