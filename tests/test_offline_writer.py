import datetime as dt
from decimal import Decimal

from civic_briefs.briefing import BriefCosts, SegmentCost, assemble_script
from civic_briefs.citations import cited_bills
from civic_briefs.models import BillSelection, NewsItem, SelectedBill, Usage
from civic_briefs.providers.offline_writer import AI_DISCLOSURE, OfflineWriter
from civic_briefs.spoken import spoken_bill_mentions
from tests.factories import make_bill, make_user

DAY = dt.date(2026, 11, 30)


def test_story_depends_only_on_the_bill_role_and_day():
    writer = OfflineWriter()
    bill = make_bill(7, status="passed_house", summary=(
        "Test Act number 7\n\nThis bill expands rural clinics. It also funds nurse training. "
        "It amends H.R. 99 of the previous Congress. Clinics must report yearly."))
    during_117th = dt.date(2022, 6, 1)
    one = writer.write_story(bill, "top_story", during_117th, "daily")
    assert one.key == "story:117-hr-7:top_story:2022-06-01:daily" and one.bill_ids == ["117-hr-7"]
    text = " ".join(line.text for line in one.lines)
    assert "Representative Susan Wild, a Democrat from Pennsylvania" in text
    assert "rural clinics" in text and "nurse training" in text
    # The sentence citing another bill is left out: the writer names only its input, by its spoken label.
    assert cited_bills(text) == set() and spoken_bill_mentions(text) == {"H.R. seven"}
    assert one.lines[-1].text == ("It has passed the House, and on May 1, 2022 it was sent to the Senate Testing "
                                  "Committee, so the Senate has the next move.")
    assert [line.speaker for line in one.lines] == ["A", "B"] * 4
    assert one.digest.startswith("- **H.R. 7: Test Act number 7** (has passed the House)")


def test_summary_fragments_are_not_read_and_expired_bills_are_called_expired():
    bill = make_bill(9, status="in_committee", summary=(
        "Test Act number 9 or the Nine Act\n\nThis bill funds nine things. Among other provisions, the bill"
        "\n\n- sets a deadline; and\n- requires a report."))
    segment = OfflineWriter().write_story(bill, "top_story", DAY, "daily")
    text = " ".join(line.text for line in segment.lines)
    assert "This bill funds nine things." in text
    assert "Nine Act" not in text and "Among other provisions" not in text
    assert segment.lines[-1].text == ("On May 1, 2022, it was sent to the House Testing Committee, and the bill died in "
                                      "committee when the 117th Congress ended.")
    assert "is in committee" not in text and "is still in committee" not in text
    enacted = OfflineWriter().write_story(make_bill(10, status="enacted", latest_action_text="Became Public Law No: 117-6."),
                                          "top_story", DAY, "daily")
    assert enacted.lines[-1].text == "It became law in May 2022, as Public Law one seventeen, six."


def test_quick_hit_is_short():
    segment = OfflineWriter().write_story(make_bill(8), "quick_hit", DAY, "daily")
    assert len(segment.lines) == 2 and segment.characters < 400


def test_opening_greets_by_first_name_and_close_discloses_ai():
    writer = OfflineWriter("Alex", "Jordan")
    user = make_user(name="Ada Lovelace", interests=["healthcare", "taxes"])
    stories = [writer.write_story(make_bill(1, status="enacted"), "top_story", DAY, "daily"),
               writer.write_story(make_bill(2), "quick_hit", DAY, "daily")]
    opening = writer.write_opening(user, stories, [], DAY, "daily")
    close = writer.write_close(user, stories, [], DAY, "daily")
    assert opening.lines[0].text == "Good morning, Ada! I'm Alex."
    assert "Monday, November 30" in opening.lines[1].text
    assert opening.lines[2].text == ("We're following health care and taxes for you. Today we have one top story "
                                     "and one quick hit.")
    assert opening.headline == "H.R. 1, the Test Act number 1, became law"
    assert not opening.shared and not close.shared
    assert AI_DISCLOSURE in [line.text for line in close.lines]


def test_script_order_digest_and_shared_costs():
    writer = OfflineWriter()
    bills = [make_bill(1, status="enacted"), make_bill(2)]
    selection = BillSelection(user_id="u1", interests=["healthcare"], items=[
        SelectedBill(bill=bills[0], section="top_story", interest="healthcare"),
        SelectedBill(bill=bills[1], section="quick_hit", interest="healthcare")])
    stories = [writer.write_story(b, s, DAY, "daily") for b, s in zip(bills, ["top_story", "quick_hit"])]
    stories[0] = stories[0].model_copy(update={"usage": Usage(dollars="0.30")})
    user = make_user()
    script = assemble_script(writer.write_opening(user, stories, [], DAY, "daily"), list(reversed(stories)), [],
                             writer.write_close(user, stories, [], DAY, "daily"), selection)
    assert [s.kind for s in script.segments] == ["opening", "story", "story", "close"]
    assert script.segments[1].bill_ids == ["117-hr-1"]
    assert script.bills_covered == ["117-hr-1", "117-hr-2"]
    assert "## Top stories\n- **[H.R. 1](https://www.congress.gov/bill/117th-congress/house-bill/1): " in script.digest
    assert "## Quick hits\n- **[H.R. 2](https://www.congress.gov/bill/117th-congress/house-bill/2): " in script.digest
    assert script.transcript.startswith("A: Good morning, Ada!")
    costs = BriefCosts.of([
        SegmentCost(key=s.key, kind=s.kind, shared=s.shared, listeners=2 if "117-hr-1" in s.key else 1,
                    made_now=True, script=s.usage, speech=Usage(dollars="0.10" if s.shared else "0.02"))
        for s in script.segments])
    # Personal segments are charged in full; H.R. 1's story (0.40) is shared by two briefs, H.R. 2's
    # (0.10) by this one only.
    assert costs.personal_dollars == Decimal("0.04")
    assert costs.shared_dollars == Decimal("0.300000") and costs.total_dollars == Decimal("0.340000")
    assert costs.script.dollars == Decimal("0.30") and costs.speech.dollars == Decimal("0.24")


def test_hosts_take_turns_and_abbreviations_do_not_break_sentences():
    bill = make_bill(11, status="enacted", summary=(
        "This bill extends the U.S. Parole Commission for a year. It also renames a post office. "
        "It funds Dr. Smith's clinic."))
    for section in ("top_story", "quick_hit"):
        lines = OfflineWriter().write_story(bill, section, DAY, "daily").lines
        assert all(a.speaker != b.speaker for a, b in zip(lines, lines[1:])), [(x.speaker, x.text) for x in lines]
    text = " ".join(line.text for line in OfflineWriter().write_story(bill, "top_story", DAY, "daily").lines)
    assert "the U.S. Parole Commission for a year" in text and "Right, and it also renames a post office" in text


FIVE = ["healthcare", "education", "science", "technology", "taxes"]


def test_the_opening_of_a_five_interest_user_names_all_five():
    writer = OfflineWriter()
    news = [writer.write_news("taxes", [NewsItem(interest="taxes", title="Tax news", url="https://t.example.com")],
                              DAY, "daily")]
    stories = [writer.write_story(make_bill(n), "top_story", DAY, "daily") for n in (1, 2)]
    opening = writer.write_opening(make_user(interests=FIVE), stories, news, DAY, "daily")
    assert opening.lines[2].text == ("We're following health care, education, science, technology and taxes for you. "
                                     "Today we have two top stories and headlines on taxes.")


def test_every_segment_of_every_kind_starts_with_a_and_ends_with_b():
    writer = OfflineWriter()
    user = make_user(interests=FIVE)
    summaries = [None, "One sentence only.", "First sentence. Second one.", "One. Two. Three. Four. Five."]
    stories = [writer.write_story(make_bill(n, summary=summary), section, DAY, brief_type)
               for n, summary in enumerate(summaries, start=1) for section in ("top_story", "quick_hit")
               for brief_type in ("daily", "weekly")]
    news = [writer.write_news("taxes", [NewsItem(interest="taxes", title=f"T{i}", url=f"https://t.example.com/{i}")
                                        for i in range(count)], DAY, "daily") for count in (1, 2, 3)]
    segments = [*stories, *news, writer.write_opening(user, stories, news, DAY, "daily"),
                writer.write_close(user, stories, news, DAY, "weekly")]
    for segment in segments:
        speakers = [line.speaker for line in segment.lines]
        assert speakers == ["A", "B"] * (len(speakers) // 2) and speakers, (segment.kind, speakers)
    # A top story without a question before its status: B goes straight on (the odd summaries).
    assert sorted({len(s.lines) for s in stories if s.section == "top_story" and s.week is None}) == [6, 8]
    # A weekly top story also says what moved this week and what comes next: always a question before its status.
    assert sorted({len(s.lines) for s in stories if s.section == "top_story" and s.week}) == [10]


def test_each_status_is_said_once_per_story():
    writer = OfflineWriter()
    bill = make_bill(8404, status="enacted", latest="2022-12-13", latest_action_text="Became Public Law No: 117-228.",
                     summary="Puts marriage into statute. States must honor marriages. Signed into law in December 2022.")
    text = " ".join(line.text for line in writer.write_story(bill, "top_story", DAY, "daily").lines)
    assert text.count("became law") == 1 and "Signed into law" not in text and "settled law" not in text
    assert "Public Law one seventeen, two twenty-eight" in text and "No:" not in text
    assert "H.R. eighty-four oh four" in text
