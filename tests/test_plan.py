"""The day's plan (civic_briefs.plan) and the bulk selection behind it, on a small real database."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from civic_briefs import keys, repo
from civic_briefs.models import NewsItem
from civic_briefs.plan import DayPlan, plan_day
from civic_briefs.selection import select_bills, select_for_users
from tests.factories import make_bill, make_user

DAY = dt.date(2026, 11, 30)
WRITER = "test-writer-v1"
SELECTION = dict(dedup_days=30, top_stories=2, quick_hits=2)

BILLS = [
    make_bill(1, "Health", "enacted", "2022-10-01"),
    make_bill(2, "Health", "passed_house", "2022-09-01"),
    make_bill(3, "Health", "introduced", "2022-08-01"),
    make_bill(4, "Education", "enacted", "2022-07-01"),
    make_bill(5, "Education", "in_committee", "2022-06-01"),
    make_bill(6, "Taxation", "passed_senate", "2022-05-01"),
    make_bill(7, "Economics and Public Finance", "enacted", "2022-04-01"),
    make_bill(8, "Economics and Public Finance", "introduced", "2022-03-01"),
    make_bill(9, "Immigration", "in_committee", "2022-02-01"),
    make_bill(10, "Energy", "enacted", "2022-01-01"),
    make_bill(11, "Environmental Protection", "introduced", "2021-12-01"),
    # After the brief's date: did not exist yet for it.
    make_bill(12, "Health", "enacted", "2026-12-15"),
]
USERS = [
    make_user("ana", ["healthcare", "education"], "Ana Silva"),
    make_user("ben", ["healthcare", "education"], "Ben Okafor"),
    make_user("cho", ["taxes", "economy"], "Cho Min"),
    make_user("dev", ["economy", "healthcare", "climate"], "Dev Patel"),
    make_user("eve", ["immigration"], "Eve Adams"),
    make_user("fay", ["climate", "taxes", "education", "immigration"], "Fay Lin"),
]


def seed(conn) -> None:
    for bill in BILLS:
        repo.upsert_bill(conn, bill)
    for user in USERS:
        repo.upsert_user(conn, user)
    conn.commit()
    # Ana heard bill 1 three days ago: she is not told it again; Ben, with the same interests, is.
    repo.save_brief(conn, {"id": repo.brief_id("ana", "daily", DAY - dt.timedelta(days=3)), "user_id": "ana",
                           "brief_type": "daily", "brief_date": (DAY - dt.timedelta(days=3)).isoformat(),
                           "status": "published", "policy_interests": ["healthcare"]}, [("117-hr-1", "top_story")])
    # Today's brief of Cho (being remade) does not count as heard.
    repo.save_brief(conn, {"id": repo.brief_id("cho", "daily", DAY), "user_id": "cho", "brief_type": "daily",
                           "brief_date": DAY.isoformat(), "status": "published", "policy_interests": ["taxes"]},
                    [("117-hr-6", "top_story")])


def news_items(interest: str, count: int, shared_url: str | None = None) -> list[NewsItem]:
    items = [NewsItem(interest=interest, title=f"{interest} story {i}", url=f"https://news.example/{interest}/{i}",
                      source="Example News") for i in range(count)]
    if shared_url:
        items[0] = items[0].model_copy(update={"url": shared_url})
    return items


NEWS = {
    "healthcare": news_items("healthcare", 4),
    "education": news_items("education", 3),
    "economy": news_items("economy", 9),  # more than a brief takes: cut to news_per_brief for every brief
    "taxes": news_items("taxes", 2, shared_url="https://news.example/economy/0"),
    "immigration": news_items("immigration", 1),
}
NEWS_PER_BRIEF = 6


def make_plan(conn, users=USERS) -> DayPlan:
    return plan_day(conn, users, DAY, "daily", news_by_interest=NEWS, writer_name=WRITER,
                    news_per_brief=NEWS_PER_BRIEF, **SELECTION)


def test_bulk_selection_equals_selecting_each_user_alone(conn):
    seed(conn)
    bulk = select_for_users(conn, {u.id: u.interests for u in USERS}, DAY, "daily", **SELECTION)
    alone = {u.id: select_bills(conn, u.id, u.interests, DAY, "daily", **SELECTION) for u in USERS}
    assert list(bulk) == [u.id for u in USERS]
    for user in USERS:
        assert bulk[user.id].model_dump() == alone[user.id].model_dump(), user.id
    picked = {u: [(i.bill.id, i.section, i.interest) for i in s.items] for u, s in bulk.items()}
    # Dedup is per user: Ana heard bill 1 lately, Ben did not.
    assert picked["ana"] == [("117-hr-4", "top_story", "education"), ("117-hr-2", "top_story", "healthcare"),
                             ("117-hr-5", "quick_hit", "education"), ("117-hr-3", "quick_hit", "healthcare")]
    assert picked["ben"] == [("117-hr-1", "top_story", "healthcare"), ("117-hr-4", "top_story", "education"),
                             ("117-hr-2", "quick_hit", "healthcare"), ("117-hr-5", "quick_hit", "education")]
    # The brief being remade does not dedup its own bills; a bill dated after the brief never shows.
    assert ("117-hr-6", "quick_hit", "taxes") in picked["cho"]
    assert all(b != "117-hr-12" for items in picked.values() for b, _, _ in items)
    assert picked["eve"] == [("117-hr-9", "top_story", "immigration")]


def test_story_keys_are_shared_by_bill_and_section_only(conn):
    seed(conn)
    plan = make_plan(conn)
    by_pair: dict[tuple[str, str], set[str]] = {}
    for user_plan in plan.users:
        for story in user_plan.stories:
            by_pair.setdefault((story.bill_id, story.section), set()).add(story.key)
            assert story.key == keys.story_key(plan.bills[story.bill_id], story.section, DAY, "daily", WRITER)
    assert all(len(found) == 1 for found in by_pair.values()), by_pair
    # Distinct (bill, section) pairs have distinct keys: a top story and a quick hit of one bill differ.
    all_keys = [next(iter(found)) for found in by_pair.values()]
    assert len(set(all_keys)) == len(all_keys)
    # Bill 4 is a top story for Ana and Ben: one key for both.
    assert plan.user("ana").stories[0].key == plan.user("ben").stories[1].key
    # Bill 2 is a top story for Ana and a quick hit for Ben: two keys.
    ana_2 = next(s for s in plan.user("ana").stories if s.bill_id == "117-hr-2")
    ben_2 = next(s for s in plan.user("ben").stories if s.bill_id == "117-hr-2")
    assert (ana_2.section, ben_2.section) == ("top_story", "quick_hit") and ana_2.key != ben_2.key
    # The key does not depend on when the bill was read (updated_at), nor on the user.
    bill = plan.bills["117-hr-4"]
    assert keys.story_key(bill.model_copy(update={"updated_at": dt.datetime(2030, 1, 1)}), "top_story", DAY, "daily",
                          WRITER) == plan.user("ana").stories[0].key
    assert keys.story_key(bill, "top_story", DAY, "daily", "another-writer") != plan.user("ana").stories[0].key
    # Only bills some brief tells are in the plan.
    assert set(plan.bills) == {s.bill_id for p in plan.users for s in p.stories}


def test_listeners_count_the_briefs_using_each_shared_segment(conn):
    seed(conn)
    plan = make_plan(conn)
    expected: Counter[str] = Counter()
    for user_plan in plan.users:
        for key in user_plan.shared_keys:
            expected[key] += 1
    assert plan.listeners() == expected
    story_4_top = plan.user("ana").stories[0].key
    assert plan.listeners()[story_4_top] == sum(
        any(s.bill_id == "117-hr-4" and s.section == "top_story" for s in p.stories) for p in plan.users) == 3  # Ana, Ben, Fay
    # Every brief's shared keys are distinct within the brief.
    for user_plan in plan.users:
        assert len(user_plan.shared_keys) == len(set(user_plan.shared_keys))
    assert sum(plan.listeners().values()) == sum(len(p.shared_keys) for p in plan.users)


def test_news_is_cut_the_same_way_for_every_brief(conn):
    seed(conn)
    plan = make_plan(conn)
    # Each interest's list is cut to news_per_brief, whoever hears it.
    assert plan.news["economy"] == NEWS["economy"][:NEWS_PER_BRIEF]
    for interest, items in plan.news.items():
        assert items == NEWS[interest][:NEWS_PER_BRIEF]
    news_keys: dict[str, set[str]] = {}
    for user_plan in plan.users:
        for planned in user_plan.news:
            news_keys.setdefault(planned.interest, set()).add(planned.key)
            assert planned.key == keys.news_key(planned.interest, plan.news[planned.interest], DAY, "daily", WRITER)
    assert all(len(found) == 1 for found in news_keys.values()), news_keys
    by_user = {p.user.id: [n.interest for n in p.news] for p in plan.users}
    # Healthcare (4) and education (3) would be 7 items: Ana and Ben hear only healthcare's news.
    assert by_user["ana"] == by_user["ben"] == ["healthcare"]
    # Cho: taxes' two items plus economy's six would be seven distinct URLs (one shared): only taxes.
    assert by_user["cho"] == ["taxes"]
    # Dev: economy first (6 items, the limit), then nothing else fits; climate has no news at all.
    assert by_user["dev"] == ["economy"]
    assert by_user["eve"] == ["immigration"]
    # Fay: taxes (2) + education (3) + immigration (1) = 6; climate has no news.
    assert by_user["fay"] == ["taxes", "education", "immigration"]
    # A brief lists each URL once.
    assert [n.url for n in plan.news_items(plan.user("fay"))] == [
        n.url for n in NEWS["taxes"] + NEWS["education"] + NEWS["immigration"]]


def test_plan_round_trips_as_stored_and_merges_new_users(conn):
    seed(conn)
    first = make_plan(conn, USERS[:3])
    stored = DayPlan.model_validate_json(first.model_dump_json())
    assert stored == first
    more = make_plan(conn, USERS[2:])
    merged = stored.merged(more)
    assert [p.user.id for p in merged.users] == [u.id for u in USERS]
    assert merged.user("cho") == first.user("cho")  # a user the stored plan has keeps its plan
    whole = make_plan(conn)
    assert merged.listeners() == whole.listeners()
    assert set(merged.bills) == set(whole.bills) and merged.news == whole.news
    selection = merged.selection(merged.user("dev"))
    assert [(i.bill.id, i.section) for i in selection.items] == [
        (s.bill_id, s.section) for s in whole.user("dev").stories]


def test_a_stored_plan_is_replanned_only_for_users_it_cannot_serve(conn):
    seed(conn)
    quiet = make_user("gus", ["agriculture"], "Gus Green")  # no agriculture bill yet
    stored = DayPlan.model_validate_json(make_plan(conn, USERS[:3] + [quiet]).model_dump_json())
    assert not stored.user("gus").has_content
    changed = USERS[2].model_copy(update={"interests": ["immigration"]})
    newcomer = USERS[3]
    today = [USERS[0], USERS[1], changed, quiet, newcomer]
    # Ana and Ben are served as they were; Cho changed interests, Gus had nothing, Dev is new.
    stale = stored.stale_for(today)
    assert [u.id for u in stale] == ["cho", "gus", "dev"]

    repo.upsert_bill(conn, make_bill(13, "Agriculture and Food", "introduced", "2022-01-15"))
    conn.commit()
    replanned = stored.replacing(make_plan(conn, stale))
    assert [p.user.id for p in replanned.users] == ["ana", "ben", "cho", "gus", "dev"]
    assert replanned.user("ana") == stored.user("ana") and replanned.user("ben") == stored.user("ben")
    assert [s.bill_id for s in replanned.user("gus").stories] == ["117-hr-13"]
    assert [s.bill_id for s in replanned.user("cho").stories] == ["117-hr-9"]
    assert replanned.user("cho").user.interests == ["immigration"]
    assert {"117-hr-13", "117-hr-9"} <= set(replanned.bills)
    assert replanned.stale_for(today) == []


def test_a_bill_imported_again_between_plans_is_told_in_one_version_under_matching_keys():
    from civic_briefs import keys
    from civic_briefs.models import Bill, User
    from civic_briefs.plan import DayPlan, PlannedStory, UserPlan

    day = dt.date(2026, 3, 2)
    old = Bill(id="117-hr-1", congress=117, bill_type="hr", bill_number=1, title="Old title")
    new = old.model_copy(update={"title": "New title"})

    def planned(user_id: str, bill: Bill) -> DayPlan:
        story = PlannedStory(key=keys.story_key(bill, "top_story", day, "daily", "w"), bill_id=bill.id,
                             section="top_story", interest="healthcare")
        return DayPlan(brief_date=day, brief_type="daily", writer_name="w", bills={bill.id: bill},
                       users=[UserPlan(user=User(id=user_id, name=user_id, interests=["healthcare"]), stories=[story])])

    stored = planned("ana", old)
    for combined in (stored.merged(planned("ben", new)), stored.replacing(planned("ben", new))):
        assert combined.bills == {old.id: old}
        # Every story's key is the key of the bill the plan will write it from.
        assert {p.user.id: p.stories[0].key for p in combined.users} == {
            "ana": keys.story_key(old, "top_story", day, "daily", "w"), "ben": keys.story_key(old, "top_story", day, "daily", "w")}


def test_each_user_gets_their_lengths_counts_and_stories_stay_shared_across_lengths(conn):
    from civic_briefs.settings import BriefCounts

    seed(conn)
    lengths = {"short": BriefCounts(top_stories=1, quick_hits=1, news_items=3),
               "long": BriefCounts(top_stories=3, quick_hits=5, news_items=9)}
    users = [make_user("ben", ["healthcare", "education"], "Ben Okafor").model_copy(update={"brief_length": length})
             for length in ("short", "standard", "long")]
    users = [u.model_copy(update={"id": f"ben-{u.brief_length}"}) for u in users]
    plan = plan_day(conn, users, DAY, "daily", news_by_interest=NEWS, writer_name=WRITER,
                    news_per_brief=NEWS_PER_BRIEF, lengths=lengths, **SELECTION)
    sections = {p.user.brief_length: [(s.bill_id, s.section) for s in p.stories] for p in plan.users}
    assert sections == {
        "short": [("117-hr-1", "top_story"), ("117-hr-4", "quick_hit")],
        "standard": [("117-hr-1", "top_story"), ("117-hr-4", "top_story"), ("117-hr-2", "quick_hit"),
                     ("117-hr-5", "quick_hit")],
        # Only 5 health and education bills exist before the brief's date: the long brief gets those.
        "long": [("117-hr-1", "top_story"), ("117-hr-4", "top_story"), ("117-hr-2", "top_story"),
                 ("117-hr-5", "quick_hit"), ("117-hr-3", "quick_hit")]}
    # A bill in the same role is one segment whatever the length.
    first = {p.user.brief_length: p.stories[0].key for p in plan.users}
    assert len(set(first.values())) == 1
    # Every brief hears an interest's whole list (4 health items, 3 education): a shorter length
    # takes fewer interests, the first that fit (health's 4 do not fit in the short brief's 3).
    news_of = {p.user.brief_length: [(n.interest, len(plan.news[n.interest])) for n in p.news] for p in plan.users}
    assert news_of == {"short": [("education", 3)], "standard": [("healthcare", 4)],
                       "long": [("healthcare", 4), ("education", 3)]}
    assert len({n.key for p in plan.users for n in p.news if n.interest == "healthcare"}) == 1
    # A user whose length changed since the stored plan is planned afresh.
    changed = users[0].model_copy(update={"brief_length": "long"})
    assert [u.id for u in plan.stale_for([changed, users[1], users[2]])] == ["ben-short"]
