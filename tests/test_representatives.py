"""The listener's own members of Congress in their brief: a user whose representative or senators
sponsor or cosponsor one of the brief's bills hears them named in the opening; a user elsewhere does
not; the stories stay shared.

Real parts: the real BILLSTATUS files (../shared/data) imported into a libSQL file, the day's plan,
the offline writer and espeak-ng through ``BriefMaker`` to published MP3s and their transcripts, and
the Claude writer (the real SDK) against the loopback Anthropic stand-in.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from civic_briefs import db, keys, members, repo
from civic_briefs.importer import import_paths
from civic_briefs.models import Member, RepresentativeMention, User
from civic_briefs.plan import plan_day
from civic_briefs.production import BriefMaker
from civic_briefs.providers import registry
from civic_briefs.providers.claude_writer import ClaudeWriter
from civic_briefs.settings import get_settings
from tests.billstatus_expected import BILLSTATUS_DIR
from tests.factories import make_bill, make_user

DAY = dt.date(2026, 3, 2)  # the 117th Congress has ended: its bills are told in the past
# Health and families: S. 1315 (Senators Duckworth and Durbin of Illinois cosponsor it), H.R. 941,
# H.R. 2119 and H.R. 5085 (Rep. Danny Davis of Illinois's 7th district cosponsors both).
FILES = ["BILLSTATUS-117s1315.xml", "BILLSTATUS-117hr941.xml", "BILLSTATUS-117hr2119.xml", "BILLSTATUS-117hr5085.xml"]
INTERESTS = ["healthcare", "social"]
INES = User(id="ines", name="Ines Ruiz", interests=INTERESTS, state="IL", district=7)
NORA = User(id="nora", name="Nora Fox", interests=INTERESTS, state="IL", district=9)
WALT = User(id="walt", name="Walt Hill", interests=INTERESTS, state="WY", district=0)  # no one from Wyoming on them
SENATORS = ("Your senators at the time, Senator Tammy Duckworth and Senator Richard Durbin, were cosponsors of "
            "S. thirteen fifteen.")


def _day(users: list[User]) -> tuple[object, dict[str, dict]]:
    settings = get_settings()
    providers = registry.providers(settings)
    with db.connection() as conn:
        db.migrate(conn)
        assert import_paths(conn, [BILLSTATUS_DIR / f for f in FILES]).ok
        for user in users:
            repo.upsert_user(conn, user)
        conn.commit()
        plan = plan_day(conn, users, DAY, "daily", news_by_interest={}, writer_name=providers.writer.name,
                        dedup_days=30, top_stories=3, quick_hits=5, news_per_brief=6)
    maker = BriefMaker(plan, providers, registry.segment_store(settings), registry.claims(settings),
                       limit_sizes={}, max_concurrent_briefs=3, key_prefix=settings.s3_prefix)
    outcomes = list(maker.run())
    assert {o.user_id: o.status for o in outcomes} == {u.id: "published" for u in users}
    with db.connection() as conn:
        rows = {u.id: repo.get_brief(conn, u.id, "daily", DAY) for u in users}
    return plan, rows


def _opening(row: dict) -> str:
    """The transcript's lines before the first story (the opening is four lines)."""
    return "\n".join(row["transcript"].splitlines()[:4])


def test_a_listener_hears_their_own_members_named_and_one_elsewhere_does_not(settings_env):
    settings_env(locks="file", script_provider="offline", speech_provider="offline", news_provider="offline")
    plan, rows = _day([INES, NORA, WALT])

    ines = _opening(rows["ines"])
    assert ("B: And closer to home: your representative at the time, Rep. Danny Davis, was a cosponsor of "
            "H.R. fifty eighty-five and H.R. twenty-one nineteen. " + SENATORS) in ines
    # Another district of the same state: its own representative, the same senators.
    nora = _opening(rows["nora"])
    assert ("your representative at the time, Rep. Janice Schakowsky, was a cosponsor of H.R. twenty-one nineteen. "
            + SENATORS) in nora
    assert "Danny Davis" not in rows["nora"]["transcript"]
    walt = rows["walt"]["transcript"]
    assert "closer to home" not in walt and "Your senator" not in walt and "Your representative" not in walt
    assert "Danny Davis" not in walt and "Durbin" not in walt

    # Only the opening is personal: every story is the same shared segment, under the same key.
    stories = {u: [s.key for s in plan.user(u).stories] for u in ("ines", "nora", "walt")}
    assert stories["ines"] == stories["nora"] == stories["walt"] and len(stories["ines"]) == 4
    used = {u: [s["key"] for s in rows[u]["costs"]["segments"] if s["kind"] == "story"] for u in rows}
    assert used["ines"] == used["nora"] == used["walt"] == stories["ines"]
    story_lines = {u: rows[u]["transcript"].splitlines()[4:-4] for u in rows}
    assert story_lines["ines"] == story_lines["nora"] == story_lines["walt"]
    openings = {u: next(s["key"] for s in rows[u]["costs"]["segments"] if s["kind"] == "opening") for u in rows}
    assert len(set(openings.values())) == 3

    # The plan holds what was said, so a day run again says the same.
    assert [(m.member.bioguide_id, m.relation, m.bill_id, m.role) for m in plan.user("ines").mentions] == [
        ("D000096", "representative", "117-hr-5085", "cosponsor"), ("D000096", "representative", "117-hr-2119", "cosponsor"),
        ("D000622", "senator", "117-s-1315", "cosponsor"), ("D000563", "senator", "117-s-1315", "cosponsor")]
    assert plan.user("walt").mentions == []


def test_a_withdrawn_cosponsor_is_not_named(settings_env, tmp_path):
    settings_env(locks="file", script_provider="offline", speech_provider="offline", news_provider="offline")
    xml = (BILLSTATUS_DIR / "BILLSTATUS-117hr5085.xml").read_text(encoding="utf-8")
    start = xml.index("<bioguideId>D000096</bioguideId>", xml.index("<cosponsors>"))
    end = xml.index("</item>", start)
    changed = tmp_path / "BILLSTATUS-117hr5085.xml"
    changed.write_text(xml[:end] + "<sponsorshipWithdrawnDate>2021-09-01</sponsorshipWithdrawnDate>" + xml[end:],
                       encoding="utf-8")
    with db.connection() as conn:
        db.migrate(conn)
        assert import_paths(conn, [BILLSTATUS_DIR / f for f in FILES] + [changed]).ok
        repo.upsert_user(conn, INES)
        conn.commit()
        plan = plan_day(conn, [INES], DAY, "daily", news_by_interest={}, writer_name="offline", dedup_days=30,
                        top_stories=3, quick_hits=5, news_per_brief=6)
    assert [(m.bill_id, m.member.bioguide_id) for m in plan.user("ines").mentions if m.relation == "representative"] == [
        ("117-hr-2119", "D000096")]


def test_the_opening_key_changes_with_the_mention_and_nothing_else_does(settings_env):
    settings_env(locks="file")
    with db.connection() as conn:
        db.migrate(conn)
        import_paths(conn, [BILLSTATUS_DIR / f for f in FILES])
        plan = plan_day(conn, [INES, WALT], DAY, "daily", news_by_interest={}, writer_name="offline",
                        dedup_days=30, top_stories=3, quick_hits=5, news_per_brief=6)
    ines = plan.user("ines")
    assert ines.mentions
    user = INES.model_copy(update={"state": None, "district": None})
    assert keys.personal_key("opening", user, [], [], DAY, "daily", "w") == keys.personal_key(
        "opening", user, [], [], DAY, "daily", "w", mentions=[])
    assert keys.personal_key("opening", user, [], [], DAY, "daily", "w", mentions=ines.mentions) != keys.personal_key(
        "opening", user, [], [], DAY, "daily", "w", mentions=ines.mentions[:1])
    assert keys.personal_key("close", user, [], [], DAY, "daily", "w", mentions=ines.mentions) == keys.personal_key(
        "close", user, [], [], DAY, "daily", "w")
    # A user who moves is planned again.
    assert plan.stale_for([INES.model_copy(update={"district": 9}), WALT]) == [INES.model_copy(update={"district": 9})]


# --- the words -------------------------------------------------------------------------------------

def _member(bioguide_id: str, name: str, chamber: str, state: str, district: int | None = None) -> Member:
    return Member(bioguide_id=bioguide_id, name=name, state=state, district=district, chamber=chamber, congress=119)


DOE = _member("D1", "Rep. Doe, Jane [D-WA-7]", "house", "WA", 7)
ROE = _member("R1", "Sen. Roe, John Q. [R-WA]", "senate", "WA")
NORTON = _member("N000147", "Del. Norton, Eleanor Holmes [D-DC-At Large]", "house", "DC", 0)


def test_mention_sentences_say_the_members_as_people_do():
    today = dt.date(2026, 3, 2)  # the 119th Congress is sitting
    mentions = [RepresentativeMention(member=DOE, relation="representative", bill_id="119-hr-1315", role="cosponsor"),
                RepresentativeMention(member=ROE, relation="senator", bill_id="119-s-99", role="sponsor"),
                RepresentativeMention(member=ROE, relation="senator", bill_id="119-hr-1315", role="cosponsor")]
    assert members.mention_sentences(mentions, today) == [
        "Your representative, Rep. Jane Doe, is a cosponsor of H.R. thirteen fifteen.",
        "Your senator, Senator John Roe, is the sponsor of S. ninety-nine and a cosponsor of H.R. thirteen fifteen."]
    delegate = [RepresentativeMention(member=NORTON, relation="delegate", bill_id="117-hr-5", role="cosponsor")]
    assert members.mention_sentences(delegate, today) == [
        "Your delegate at the time, Delegate Eleanor Holmes Norton, was a cosponsor of H.R. five."]


@pytest.mark.parametrize(("user", "member", "relation"), [
    (User(id="a", name="A", state="WA", district=7), DOE, "representative"),
    (User(id="a", name="A", state="WA", district=8), DOE, None),
    (User(id="a", name="A", state="WA"), DOE, None),
    (User(id="a", name="A", state="WA"), ROE, "senator"),
    (User(id="a", name="A", state="OR", district=7), DOE, None),
    (User(id="a", name="A"), ROE, None),
    (User(id="a", name="A", state="DC"), NORTON, "delegate"),  # one seat: no district needed
])
def test_whose_member_is_whose(user, member, relation):
    assert members.relation(member, user) == relation


# --- the Claude writer -----------------------------------------------------------------------------

def _claude(standins) -> ClaudeWriter:
    return ClaudeWriter(standins.settings())


def _listener(text: str) -> dict:
    return json.loads(re.search(r"<listener_data>\n(.*?)\n</listener_data>", text, re.S)[1])


def test_the_claude_writer_is_handed_the_mention_and_says_it(settings_env, standins):
    settings_env()
    writer = _claude(standins)
    user = make_user("u1", interests=["healthcare"])
    story = writer.write_story(make_bill(1315, congress=119, id="119-hr-1315"), "top_story", DAY, "daily")
    mentions = [RepresentativeMention(member=DOE, relation="representative", bill_id=story.bill_ids[0], role="cosponsor")]
    opening = writer.write_opening(user, [story], [], DAY, "daily", mentions=mentions)
    sent = standins.anthropic.user_text()
    listener = _listener(sent)
    assert listener["own_members"] == [{"relation": "representative", "name_spoken": "Rep. Jane Doe", "party": None,
                                        "bill_id": story.bill_ids[0], "role": "cosponsor"}]
    assert listener["own_members_said"] == ["Your representative, Rep. Jane Doe, is a cosponsor of H.R. thirteen fifteen."]
    assert "own_members_said" in sent.split("<listener_data>")[0]  # the task asks for it
    assert "Rep. Jane Doe, is a cosponsor of H.R. thirteen fifteen" in " ".join(line.text for line in opening.lines)

    # Without a mention the request is what it was: nothing about members.
    writer.write_opening(user, [story], [], DAY, "daily")
    assert "own_members" not in standins.anthropic.user_text()


def test_a_claude_opening_that_leaves_out_the_member_is_asked_for_again(settings_env, standins):
    settings_env()
    writer = _claude(standins)
    user = make_user("u1", interests=["healthcare"])
    story = writer.write_story(make_bill(1315, congress=119, id="119-hr-1315"), "top_story", DAY, "daily")
    mentions = [RepresentativeMention(member=ROE, relation="senator", bill_id=story.bill_ids[0], role="sponsor")]
    before = standins.anthropic.count
    standins.anthropic.fail_next("missing_member")
    opening = writer.write_opening(user, [story], [], DAY, "daily", mentions=mentions)
    assert standins.anthropic.count - before == 2 and opening.usage.requests == 2
    assert ("rejected because it did not tell the listener that their senator, Senator John Roe, is on one of "
            "today's bills") in standins.anthropic.user_text()
    assert "Senator John Roe" in " ".join(line.text for line in opening.lines)
