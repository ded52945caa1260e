"""The weekly deep-dive's content (issue 10): a weekly brief dated D covers the week D-6 to D.

Real parts: a libSQL file with bills inserted inside and outside the week (and the demo's sample
bills, all from 2021-22, so nothing of theirs moved "this week"), the offline writer with espeak-ng
through ``BriefMaker`` and local storage, and the Claude writer's requests through the real SDK
against the loopback Messages API stand-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import Counter

import pytest

from civic_briefs import db, importer, repo, weekly
from civic_briefs.models import NewsItem, User
from civic_briefs.plan import plan_day
from civic_briefs.production import BriefMaker
from civic_briefs.providers import registry
from civic_briefs.providers.claude_writer import ClaudeWriter
from civic_briefs.selection import select_bills
from civic_briefs.settings import get_settings
from tests.factories import make_bill, make_user

SUNDAY = dt.date(2026, 11, 29)  # the week of Monday, November 23
WEEK = "the week of November 23"


def _bill(number: int, status: str, latest: str | None, introduced: str = "2026-09-01", area: str = "Health"):
    """A bill of the 119th Congress (sitting in 2026, so its bills can still move)."""
    return make_bill(number, policy_area=area, status=status, latest=latest or "2026-01-01", congress=119,
                     id=f"119-hr-{number}", introduced_date=dt.date.fromisoformat(introduced),
                     **({"latest_action_date": None} if latest is None else {}))


# number -> bill: which moved in the week November 23-29 and which did not.
BILLS = {
    1: _bill(1, "enacted", "2026-11-25"),
    2: _bill(2, "passed_house", "2026-11-23"),                    # the week's first day
    3: _bill(3, "in_committee", "2026-11-29"),                    # its last day
    4: _bill(4, "introduced", "2026-11-22", introduced="2026-11-22"),  # the day before: not this week
    5: _bill(5, "passed_senate", "2026-11-30"),                   # after the brief's date: not yet
    6: _bill(6, "introduced", "2026-11-26", introduced="2026-11-26"),
    7: _bill(7, "in_committee", "2026-10-01"),                    # weeks ago
    8: _bill(8, "passed_both", "2026-11-24", area="Taxation"),
    9: _bill(9, "introduced", None, introduced="2026-11-24"),     # introduced this week, no action since
}
MOVED_RANKED = [1, 8, 2, 3, 6, 9]  # law, both chambers, one chamber, committee, introduced (latest first)


def _seed(conn, bills, users=(make_user("u1", ["healthcare", "taxes"]),)):
    for bill in bills:
        repo.upsert_bill(conn, bill)
    for user in users:
        repo.upsert_user(conn, user)
    conn.commit()


def _published(conn, user_id: str, brief_type: str, day: dt.date, numbers: list[int]) -> None:
    repo.save_brief(conn, {"id": repo.brief_id(user_id, brief_type, day), "user_id": user_id, "brief_type": brief_type,
                           "brief_date": day.isoformat(), "status": "published"},
                    [(f"119-hr-{n}", "top_story") for n in numbers])


def _numbers(selection) -> list[tuple[int, str]]:
    return [(i.bill.bill_number, i.section) for i in selection.items]


def test_the_weekly_selection_takes_the_bills_that_moved_in_the_week_ranked_by_how_far_they_got(conn):
    _seed(conn, BILLS.values())
    picked = select_bills(conn, "u1", ["healthcare", "taxes"], SUNDAY, "weekly", top_stories=3, quick_hits=3)
    assert _numbers(picked) == [(1, "top_story"), (8, "top_story"), (2, "top_story"),
                                (3, "quick_hit"), (6, "quick_hit"), (9, "quick_hit")]
    assert [i.interest for i in picked.items] == ["healthcare", "taxes", "healthcare", "healthcare", "healthcare",
                                                  "healthcare"]
    # With more slots than moved bills, the others fill up, the most recently moved first; bill 5
    # (its latest action is after the brief's date) is never taken.
    more = select_bills(conn, "u1", ["healthcare", "taxes"], SUNDAY, "weekly", top_stories=5, quick_hits=6)
    assert [n for n, _ in _numbers(more)] == MOVED_RANKED + [4, 7]
    assert [weekly.moved_in_week(i.bill, SUNDAY) for i in more.items] == [True] * 6 + [False] * 2
    # A daily brief of the same day ranks by status only, the week's moves aside.
    daily = select_bills(conn, "u1", ["healthcare", "taxes"], SUNDAY, "daily", top_stories=5, quick_hits=6)
    assert [n for n, _ in _numbers(daily)] == [1, 8, 2, 3, 7, 6, 4, 9]


def test_a_weekly_retells_the_weeks_dailies_but_not_its_previous_weekly_unless_a_bill_moved_since(conn):
    _seed(conn, BILLS.values())
    _published(conn, "u1", "daily", SUNDAY - dt.timedelta(days=2), [1, 3])   # heard this week: a recap may retell
    _published(conn, "u1", "weekly", SUNDAY - dt.timedelta(days=7), [2, 7])  # Nov 22: 2 moved since, 7 did not
    _published(conn, "u1", "weekly", SUNDAY - dt.timedelta(days=14), [4])    # not the previous weekly
    picked = select_bills(conn, "u1", ["healthcare", "taxes"], SUNDAY, "weekly", top_stories=5, quick_hits=6)
    assert [n for n, _ in _numbers(picked)] == MOVED_RANKED + [4]
    assert repo.previous_weekly_bills(conn, SUNDAY) == {"u1": (dt.date(2026, 11, 22), {"119-hr-2", "119-hr-7"})}
    # The daily of the same day still skips what the user heard in the last 30 days, as before.
    daily = select_bills(conn, "u1", ["healthcare", "taxes"], SUNDAY, "daily", top_stories=5, quick_hits=6)
    assert [n for n, _ in _numbers(daily)] == [8, 6, 9]


def test_plan_gives_a_weekly_brief_the_weekly_counts(conn):
    _seed(conn, [_bill(n, "introduced", "2026-11-25") for n in range(10, 30)])
    users = [make_user("u1", ["healthcare"]), User(id="u2", name="Bo Li", interests=["healthcare"], brief_length="long")]
    settings = get_settings()
    plans = {t: plan_day(conn, users, SUNDAY, t, news_by_interest={}, writer_name="offline", dedup_days=30,
                         top_stories=settings.top_stories, quick_hits=settings.quick_hits, news_per_brief=6)
             for t in ("daily", "weekly")}
    sections = {(t, u.id): [s.section for s in plans[t].user(u.id).stories] for t in plans for u in users}
    assert sections[("daily", "u1")] == ["top_story"] * 3 + ["quick_hit"] * 5
    assert sections[("weekly", "u1")] == ["top_story"] * 5 + ["quick_hit"] * 6  # BRIEFS_WEEKLY_*: 5 and 6
    # A long brief's counts are larger than the weekly ones: it keeps them.
    assert sections[("weekly", "u2")] == ["top_story"] * 8 + ["quick_hit"] * 12


@pytest.mark.parametrize(("status", "congress", "latest_text", "expected"), [
    ("passed_house", 119, "Passed/agreed to in House.", "If the Senate passes it as it is, it goes to the President; "
     "if the Senate changes it, the House has to agree to those changes first."),
    ("passed_both", 119, "Passed Senate.", "Next, the President has ten days, Sundays aside, to sign it or veto it."),
    ("enacted", 119, "Became Public Law No: 119-12.", "As a law, it takes effect on the dates its text sets, and the "
     "agencies it names put it into practice."),
    ("vetoed", 119, "Vetoed by President.", "So the next thing to watch is whether either chamber tries to override the veto."),
    ("in_committee", 119, "Referred to the Committee on Testing.", "Next, the committee has to vote to send it to the "
     "full House before any floor vote, and most bills never get that far."),
    ("in_committee", 119, "Placed on the Union Calendar, Calendar No. 12.", "Next, it needs a vote of the full House."),
    ("introduced", 119, "Introduced in House.", "Next, a committee has to take it up, and most bills never get past that step."),
    ("passed_house", 117, "Passed/agreed to in House.", "Nothing more can happen to it: to get another chance, it would "
     "have to start over as a new bill in a new Congress."),
])
def test_what_comes_next_follows_from_the_status_and_the_congress(status, congress, latest_text, expected):
    bill = make_bill(1, status=status, congress=congress, latest="2026-11-24", latest_action_text=latest_text)
    assert weekly.what_comes_next(bill, SUNDAY) == expected


def test_what_the_bill_did_this_week_is_never_an_old_action():
    said = {n: weekly.this_week(b, SUNDAY) for n, b in BILLS.items() if n != 5}
    assert said == {1: "This one moved this week, on Wednesday, November 25.",
                    2: "This one moved this week, on Monday, November 23.",
                    3: "This one moved this week, on Sunday, November 29.",
                    4: "Nothing moved on it this week; the latest on it is from November 22, 2026.",
                    6: "It's new this week: it was introduced on Thursday, November 26.",
                    7: "Nothing moved on it this week; the latest on it is from October 1, 2026.",
                    8: "This one moved this week, on Tuesday, November 24.",
                    9: "It's new this week: it was introduced on Tuesday, November 24."}
    # Said just before a sentence that dates the latest action, the date is not said twice.
    assert weekly.this_week(BILLS[7], SUNDAY, then="On October 1, 2026, it went to committee.") == (
        "Nothing moved on it this week; here's the latest.")


# ---- end to end: offline writer, espeak-ng, BriefMaker ----

MOVED = _bill(9001, "passed_house", "2026-11-24", introduced="2026-10-05").model_copy(update={
    "title": "Community Clinic Staffing Act",
    "summary": "This bill funds grants that help community health clinics hire and keep nurses.",
    "latest_action_text": "Passed/agreed to in House: On passage Passed by the Yeas and Nays: 230 - 190."})
READERS = [User(id="mia", name="Mia Shaw", interests=["healthcare", "education", "immigration"]),
           User(id="noa", name="Noa Berg", interests=["healthcare", "education", "immigration"])]


class CountingSpeech:
    """The configured renderer, counting the lines it is asked to render."""

    def __init__(self, inner):
        self.inner, self.name, self.limit, self.rendered = inner, inner.name, inner.limit, []

    def render_part(self, lines, previous_request_ids, slot=None, **kwargs):
        self.rendered.append(tuple(lines))
        return self.inner.render_part(lines, previous_request_ids, *([slot] if slot else []), **kwargs)


def _make_day(brief_type: str, providers) -> tuple:
    settings = get_settings()
    with db.connection() as conn:
        plan = plan_day(conn, READERS, SUNDAY, brief_type, news_by_interest={}, writer_name=providers.writer.name,
                        dedup_days=settings.dedup_days, top_stories=settings.top_stories,
                        quick_hits=settings.quick_hits, news_per_brief=settings.news_per_brief)
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings),
                       limit_sizes={}, max_concurrent_briefs=2, key_prefix=settings.s3_prefix)
    outcomes = {o.user_id: o for o in maker.run()}
    assert {u: o.status for u, o in outcomes.items()} == {"mia": "published", "noa": "published"}
    return plan, outcomes


def test_a_weekly_brief_end_to_end_is_the_week_in_review(settings_env):
    # The daily takes as many bills as the weekly does (5 + 6), so both tell all ten the readers'
    # interests match: the same bills, told as a day's news and as the week in review.
    settings_env(locks="file", script_provider="offline", speech_provider="offline", news_provider="offline",
                 top_stories=5, quick_hits=6)
    with db.connection() as conn:
        db.migrate(conn)
        importer.import_sample(conn)
        _seed(conn, [MOVED], READERS)
    providers = registry.providers(get_settings())
    _, daily = _make_day("daily", providers)
    speech = CountingSpeech(providers.speech)
    plan, weekly_briefs = _make_day("weekly", dataclasses.replace(providers, speech=speech))

    # Longer than the daily for the same listener and day (the same ten bills).
    for user_id in ("mia", "noa"):
        assert sorted(weekly_briefs[user_id].brief.bills_covered) == sorted(daily[user_id].brief.bills_covered)
        # Measured: 451 s against 323 s for the same ten bills (each story adds the week and what comes next).
        assert weekly_briefs[user_id].duration_seconds > 1.3 * daily[user_id].duration_seconds, (
            weekly_briefs[user_id].duration_seconds, daily[user_id].duration_seconds)
    with db.connection() as conn:
        rows = {(r["user_id"], r["brief_type"]) for r in repo.list_briefs(conn, SUNDAY)}
    assert rows == {(u, t) for u in ("mia", "noa") for t in ("daily", "weekly")}

    script = weekly_briefs["mia"].script
    opening, *stories, close = script.segments
    said = [line.text for line in opening.lines]
    assert said[1] == "And I'm Jordan. This is your weekly Civic Brief: the week in review, for the week of November 23."
    assert said[3].startswith("One bill on your interests moved this week. Nothing moved on education and immigration "
                              "this week, so we'll catch you up on the latest there.")
    assert script.title == "Weekly Civic Brief for Mia: week of November 23"
    # The bill that moved is told as this week's; the sample's bills (2021-22) as the latest, not this week's.
    bills = plan.bills
    assert stories[0].bill_ids == [MOVED.id] and stories[0].week.moved
    assert stories[0].lines[1].text == "This one moved this week, on Tuesday, November 24."
    for story in stories[1:]:
        text = " ".join(line.text for line in story.lines)
        assert not story.week.moved and "Nothing moved on it this week" in text and "moved this week" not in text
    # Every story ends with what comes next for its bill: the Senate for the one that passed the House,
    # nothing for the sample's bills of the ended 117th Congress.
    assert stories[0].lines[-1].text == ("If the Senate passes it as it is, it goes to the President; if the Senate "
                                         "changes it, the House has to agree to those changes first.")
    for story in stories:
        assert story.lines[-1].text == weekly.what_comes_next(bills[story.bill_ids[0]], SUNDAY)
    assert {weekly.what_comes_next(bills[s.bill_ids[0]], SUNDAY) for s in stories[1:]} <= {
        "Nothing more can happen to it: to get another chance, it would have to start over as a new bill in a new "
        "Congress.",
        "It stays law unless a later Congress changes it, and the agencies it names carry it out."}
    assert close.lines[2].text.startswith("Next week, we'll watch for the next step on H.R. ninety oh one, and for "
                                          "anything new on health care, education and immigration.")
    assert close.lines[-1].text == "And I'm Jordan. See you next week."

    # The two listeners share every weekly story segment (keys without the user), rendered once;
    # their openings and closes are their own.
    mia, noa = plan.user("mia"), plan.user("noa")
    assert [s.key for s in mia.stories] == [s.key for s in noa.stories] and len(mia.stories) == 10
    told = Counter((line.speaker, line.text) for s in stories for line in s.lines)
    rendered = Counter(line for part in speech.rendered for line in part)
    assert {line: rendered[line] for line in told} == told  # each story's lines once, for both briefs
    noa_script = weekly_briefs["noa"].script
    assert [s.lines for s in noa_script.segments[1:-1]] == [s.lines for s in stories]
    assert noa_script.segments[0].lines[0].text == "Good morning, Noa! I'm Alex."


# ---- the Claude writer's weekly requests ----

# sha256 of each daily request body (JSON, keys sorted) of ``_daily_requests``, taken before weekly
# briefs had their own instructions: the daily requests are byte for byte what they were (prompt v3).
DAILY_REQUESTS_BEFORE = [
    "b1663e591fc9f1cc876f7cc55646b29ff614b5fadf50a222b73c9ce5bd2793f6",
    "c80bbfd539e57f58fd5fa8bc90f398dc1f7c6012d445bcf16d92fce5d87ade1a",
    "58dcf90b28b832fd6a314e2d1f31805680a330ad987d395f63b5b044e7f35e10",
    "e6c8048bb651cbda3a3be19b03b2b5b986d76b8fe70d67792f282b8e9cc9c7b7",
    "acb6309c99fa486f92d47cefa5dd575499c7f124d3c4bfca14b0c2a606125f7f",
]
CLAUDE_BILL = make_bill(3684, status="passed_house", latest="2026-11-24", congress=119, id="119-hr-3684")
CLAUDE_USER = make_user("maria", ["healthcare"], name="Maria Lopez")
CLAUDE_NEWS = [NewsItem(interest="healthcare", title="Clinics", url="https://e.org/a", source="AP")]


def _requests(writer: ClaudeWriter, brief_type: str) -> list:
    story = writer.write_story(CLAUDE_BILL, "top_story", SUNDAY, brief_type)
    quick = writer.write_story(make_bill(12), "quick_hit", SUNDAY, brief_type)
    news = writer.write_news("healthcare", CLAUDE_NEWS, SUNDAY, brief_type)
    opening = writer.write_opening(CLAUDE_USER, [story, quick], [news], SUNDAY, brief_type)
    close = writer.write_close(CLAUDE_USER, [story, quick], [news], SUNDAY, brief_type)
    return [story, quick, news, opening, close]


def _data(text: str, tag: str):
    return json.loads(text.split(f"<{tag}>\n", 1)[1].split(f"\n</{tag}>", 1)[0])


@pytest.mark.parametrize("order", ["daily first", "weekly first"])
def test_claude_weekly_requests_carry_the_weekly_instructions_and_the_week_and_daily_ones_are_unchanged(standins, order):
    writer = ClaudeWriter(standins.settings(), max_retries=0)
    assert writer.name == "claude:claude-sonnet-5-5:prompt-v4:max4096:Alex/Jordan"
    kinds = ["daily", "weekly"] if order == "daily first" else ["weekly", "daily"]
    made = {kind: _requests(writer, kind) for kind in kinds}
    bodies = [r.json for r in standins.anthropic.requests]
    by_kind = {kind: bodies[i * 5:(i + 1) * 5] for i, kind in enumerate(kinds)}
    assert [hashlib.sha256(json.dumps(b, sort_keys=True).encode()).hexdigest() for b in by_kind["daily"]] \
        == DAILY_REQUESTS_BEFORE
    texts = {kind: [b["messages"][0]["content"] for b in by_kind[kind]] for kind in kinds}
    assert not any("Weekly deep-dive" in t or "week in review" in t for t in texts["daily"])
    # One system block for both: the weekly instructions are in the weekly task text only.
    assert all(b["system"] == by_kind["daily"][0]["system"] for b in bodies)

    week = "Weekly deep-dive: this is the week in review for the week of November 23 (Monday, November 23 to " \
           "Sunday, November 29, 2026)."
    story, quick, news, opening, close = texts["weekly"]
    assert all(week in t for t in texts["weekly"])
    assert "never present an older action as this week's" in story and "\"what_comes_next\"" in story
    assert _data(story, "bill_data")["week"] == {
        "from": "2026-11-23", "to": "2026-11-29", "moved_this_week": True,
        "this_week": "This one moved this week, on Tuesday, November 24.",
        "what_comes_next": "If the Senate passes it as it is, it goes to the President; if the Senate changes it, "
                           "the House has to agree to those changes first."}
    assert _data(quick, "bill_data")["week"]["moved_this_week"] is False
    assert _data(quick, "bill_data")["week"]["this_week"] == (
        "Nothing moved on it this week; the latest on it is from May 1, 2022.")
    assert "the week's headlines" in news
    assert "name the week" in opening and "nothing_moved_on" in opening
    assert _data(opening, "listener_data")["week"] == {
        "name": WEEK, "dates": "Monday, November 23 to Sunday, November 29, 2026", "bills_moved_this_week": 1,
        "nothing_moved_on": [], "still_open": ["H.R. thirty-six eighty-four"]}
    assert [s["moved_this_week"] for s in _data(opening, "segments_data")[:2]] == [True, False]
    assert "Look ahead to next week" in close
    assert _data(close, "listener_data")["week"]["still_open"] == ["H.R. thirty-six eighty-four"]
    # The weekly segments are the weekly shapes' lengths and carry their week notes.
    weekly_story = made["weekly"][0]
    assert weekly_story.week.moved and weekly_story.week.live and 800 <= weekly_story.characters <= 2400
    assert made["daily"][0].week is None and made["daily"][0].characters <= 850
