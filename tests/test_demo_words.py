"""The words of the demo's briefs: the offline writer over the demo's 43 bills and its users."""

import datetime as dt
import re

import pytest

from civic_briefs import briefing, demo, importer
from civic_briefs.interests import INTEREST_POLICY_AREAS
from civic_briefs.models import BillSelection, SelectedBill
from civic_briefs.providers.offline_writer import OfflineWriter
from civic_briefs.selection import rank_bills
from civic_briefs.settings import Settings
from civic_briefs.spoken import interests_said

DAY = dt.date(2026, 12, 7)
STANDARD = Settings().brief_counts()["standard"]
CLERK = re.compile(r"No:|Calendar No\.|Read twice|read twice|gAO|\bCR [HS]\d|Roll no")


def demo_scripts():
    bills, writer = importer.load_sample_bills(), OfflineWriter()
    for user in demo.demo_users():
        candidates = {i: [b for b in bills if b.policy_area in INTEREST_POLICY_AREAS[i]] for i in user.interests}
        selection = BillSelection(user_id=user.id, interests=user.interests, items=[
            SelectedBill(bill=b, section=s, interest=i)
            for b, s, i in rank_bills(candidates, STANDARD.top_stories, STANDARD.quick_hits)])
        stories = [writer.write_story(i.bill, i.section, DAY, "daily") for i in selection.items]
        yield user, selection, briefing.assemble_script(writer.write_opening(user, stories, [], DAY, "daily"), stories, [],
                                                        writer.write_close(user, stories, [], DAY, "daily"), selection)


def test_every_demo_bill_in_every_role_is_said_without_clerk_text_and_in_the_past_tense():
    writer = OfflineWriter()
    bills = importer.load_sample_bills()
    assert len(bills) == 43
    for bill in bills:
        for section in ("top_story", "quick_hit"):
            segment = writer.write_story(bill, section, DAY, "daily")
            text = "\n".join(line.text for line in segment.lines)
            assert not CLERK.search(text), (bill.id, CLERK.search(text)[0])
            # A 117th-Congress bill in a 2026 brief: no present tense for where it stands.
            assert not re.search(r"\bis (?:still )?in committee\b|has the next move|has passed", text), bill.id
            if bill.status == "enacted":
                assert text.count("became law") == 1, bill.id
            else:
                assert "when the 117th Congress ended" in text or "the 117th Congress ended before" in text, bill.id
            assert [line.speaker for line in segment.lines] == ["A", "B"] * (len(segment.lines) // 2)
    # The summary that starts with "GAO" keeps its capitals when a host picks it up with "and".
    s516 = next(b for b in bills if b.id == "117-s-516")
    assert "Right. GAO must also report" in " ".join(line.text for line in writer.write_story(s516, "top_story", DAY, "daily").lines)


@pytest.mark.parametrize("user_id", ["maria", "james", "priya", "dwayne", "lena"])
def test_each_demo_brief_opens_with_every_interest_and_links_every_bill(user_id):
    user, selection, script = next((u, s, sc) for u, s, sc in demo_scripts() if u.id == user_id)
    assert not CLERK.search(script.transcript)
    assert f"We're following {interests_said(user.interests)} for you." in script.segments[0].lines[2].text
    # Every join between segments goes from host B to host A.
    joins = [(a.lines[-1].speaker, b.lines[0].speaker) for a, b in zip(script.segments, script.segments[1:])]
    assert set(joins) == {("B", "A")} and len(joins) == len(script.segments) - 1
    # Every demo user matches enough bills for a full standard brief: 3 top stories and 5 quick hits.
    assert [i.section for i in selection.items] == ["top_story"] * 3 + ["quick_hit"] * 5
    assert script.digest.count("](https://www.congress.gov/bill/117th-congress/") == len(selection.items)
    # "Where does it stand now?" at most once a brief.
    assert script.transcript.count("Where does it stand now?") <= 1
