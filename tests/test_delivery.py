"""Local-time delivery (issue 10): each listener's brief is dated by their own local date and out
before their delivery time in their own IANA timezone, across the 2026 US daylight-saving changes
(America/New_York springs forward on 2026-03-08 and falls back on 2026-11-01) and in a timezone
ahead of UTC (Pacific/Auckland, whose local date is a day ahead of UTC's every evening, UTC).

The schedule is ``briefs-due`` every 15 minutes (prefect.yaml); here its runs are replayed at the
schedule's ticks with ``at``: the library's answer at every tick of three days around each change,
and the real flow (Prefect test harness, offline providers, a libSQL file) at the ticks around
each listener's delivery.
"""

from __future__ import annotations

import datetime as dt

import pytest

from civic_briefs import db, delivery, importer, repo
from civic_briefs.models import User

LEAD = dt.timedelta(minutes=60)
CATCH_UP = dt.timedelta(hours=3)
TICK = dt.timedelta(minutes=15)
UTC = dt.UTC

NEW_YORK = User(id="ny", name="Nia York", interests=["healthcare"], timezone="America/New_York")
# 02:30 does not exist in New York on 2026-03-08; 01:30 happens twice on 2026-11-01.
NEW_YORK_GAP = NEW_YORK.model_copy(update={"id": "ny-gap", "delivery_time": dt.time(2, 30)})
NEW_YORK_TWICE = NEW_YORK.model_copy(update={"id": "ny-twice", "delivery_time": dt.time(1, 30)})
AUCKLAND = User(id="akl", name="Aroha Kiwi", interests=["education"], timezone="Pacific/Auckland")
LOS_ANGELES = User(id="la", name="Luis Angel", interests=["healthcare", "economy"], timezone="America/Los_Angeles",
                   delivery_time=dt.time(6, 30))
# Early deliveries: their brief is made the evening before, still an hour ahead.
NEW_YORK_EARLY = NEW_YORK.model_copy(update={"id": "ny-early", "delivery_time": dt.time(0, 15)})
AUCKLAND_MIDNIGHT = AUCKLAND.model_copy(update={"id": "akl-midnight", "delivery_time": dt.time(0, 0)})
EVERYONE = [NEW_YORK, NEW_YORK_GAP, NEW_YORK_TWICE, NEW_YORK_EARLY, AUCKLAND, AUCKLAND_MIDNIGHT, LOS_ANGELES]


def ticks(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    out, at = [], start
    while at < end:
        out.append(at)
        at += TICK
    return out


def replay(users: list[User], start: dt.datetime, end: dt.datetime) -> dict[tuple[str, dt.date], dt.datetime]:
    """At each tick, the briefs due that are not made yet are made: (user, local date) -> the tick.
    Briefs whose delivery came before ``start`` were made before the replay."""
    made: dict[tuple[str, dt.date], dt.datetime] = {}
    for at in ticks(start, end):
        for brief in delivery.due(users, at, LEAD, CATCH_UP):
            if brief.deliver_at >= start:
                made.setdefault((brief.user.id, brief.brief_date), at)
    return made


@pytest.mark.parametrize("change", ["spring-forward", "fall-back"])
def test_every_local_day_gets_one_brief_made_within_the_hour_before_its_delivery(change):
    start = dt.datetime(2026, 3, 7, 0, 0, tzinfo=UTC) if change == "spring-forward" else dt.datetime(2026, 10, 31, 0, 0, tzinfo=UTC)
    made = replay(EVERYONE, start, start + dt.timedelta(days=3))
    for user in EVERYONE:
        days = sorted(day for uid, day in made if uid == user.id)
        # Every local day whose delivery falls in the replay, once, in order, none skipped.
        assert days == [days[0] + dt.timedelta(days=n) for n in range(len(days))], (user.id, days)
        assert len(days) >= 2
        for day in days:
            at, deliver = made[(user.id, day)], delivery.delivery_instant(user, day)
            assert deliver - LEAD <= at < deliver, (user.id, day, at, deliver)
            assert delivery.local_date(user, deliver) == day  # dated by the listener's own date
    # 06:00 in New York is 11:00 UTC in standard time and 10:00 in daylight time.
    if change == "spring-forward":
        assert [delivery.delivery_instant(NEW_YORK, dt.date(2026, 3, d)).hour for d in (7, 8, 9)] == [11, 10, 10]
        # The skipped 02:30 is 03:30 EDT (07:30 UTC) that night, 02:30 EST the night before.
        assert delivery.delivery_instant(NEW_YORK_GAP, dt.date(2026, 3, 8)) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
        assert delivery.delivery_instant(NEW_YORK_GAP, dt.date(2026, 3, 7)) == dt.datetime(2026, 3, 7, 7, 30, tzinfo=UTC)
    else:
        assert [delivery.delivery_instant(NEW_YORK, dt.date(2026, 10, d)).hour for d in (31,)] == [10]
        assert [delivery.delivery_instant(NEW_YORK, dt.date(2026, 11, d)).hour for d in (1, 2)] == [11, 11]
        # 01:30 happens twice on 2026-11-01: the brief is due by the first (EDT, 05:30 UTC), once.
        assert delivery.delivery_instant(NEW_YORK_TWICE, dt.date(2026, 11, 1)) == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
        assert [day for uid, day in made if uid == "ny-twice"].count(dt.date(2026, 11, 1)) == 1


def test_auckland_briefs_are_dated_a_day_ahead_of_utc_and_made_the_evening_before_in_utc():
    made = replay([AUCKLAND], dt.datetime(2026, 10, 31, 0, 0, tzinfo=UTC), dt.datetime(2026, 11, 3, 0, 0, tzinfo=UTC))
    # 06:00 NZDT (UTC+13) on 1 November is 17:00 UTC on 31 October.
    assert made == {("akl", dt.date(2026, 11, 1)): dt.datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
                    ("akl", dt.date(2026, 11, 2)): dt.datetime(2026, 11, 1, 16, 0, tzinfo=UTC),
                    ("akl", dt.date(2026, 11, 3)): dt.datetime(2026, 11, 2, 16, 0, tzinfo=UTC)}


def test_a_missed_run_is_caught_up_the_same_local_day_and_never_for_a_day_gone_by():
    deliver = delivery.delivery_instant(NEW_YORK, dt.date(2026, 11, 2))  # 11:00 UTC
    # The scheduler was down from 09:45 to 13:00 UTC: the 13:00 run still makes that local day's brief.
    assert [(b.user.id, b.brief_date) for b in delivery.due([NEW_YORK], deliver + dt.timedelta(hours=2), LEAD, CATCH_UP)] == [
        ("ny", dt.date(2026, 11, 2))]
    # Just after local midnight the next day: that day's brief, not the one before.
    after_midnight = dt.datetime(2026, 11, 3, 5, 15, tzinfo=UTC)  # 00:15 EST
    assert delivery.due([NEW_YORK], after_midnight, LEAD, CATCH_UP) == []


def test_a_failed_brief_is_tried_again_until_its_catch_up_time_is_over():
    deliver = delivery.delivery_instant(NEW_YORK, dt.date(2026, 11, 2))
    due_at = [at for at in ticks(deliver - 2 * LEAD, deliver + 2 * CATCH_UP) if delivery.due([NEW_YORK], at, LEAD, CATCH_UP)]
    assert (due_at[0], due_at[-1]) == (deliver - LEAD, deliver + CATCH_UP - TICK)
    assert len(due_at) == (LEAD + CATCH_UP) // TICK


def test_a_timezone_that_cannot_be_read_leaves_that_user_out_not_the_run(caplog):
    broken = NEW_YORK.model_copy(update={"id": "old-row", "timezone": "Eastern"})  # saved before timezones were checked
    at = delivery.delivery_instant(NEW_YORK, dt.date(2026, 11, 2)) - TICK
    with caplog.at_level("ERROR", logger="civic_briefs.delivery"):
        found = delivery.due([broken, NEW_YORK], at, LEAD, CATCH_UP)
    assert [b.user.id for b in found] == ["ny"]
    assert [r.getMessage() for r in caplog.records] == [
        "User old-row has a timezone that cannot be read ('Eastern': 'No time zone found with key Eastern'): no brief "
        "is due for them until it is fixed (civic-briefs set-delivery)"]


def test_weekly_briefs_are_due_on_the_listeners_own_weekday():
    sunday_in_auckland = dt.datetime(2026, 11, 7, 16, 30, tzinfo=UTC)  # Sunday 8 November, 05:30 NZDT
    assert sunday_in_auckland.astimezone(delivery.ZoneInfo("Pacific/Auckland")).strftime("%A") == "Sunday"
    found = delivery.due([AUCKLAND, NEW_YORK], sunday_in_auckland, LEAD, CATCH_UP, weekly=True)
    assert [(b.user.id, b.brief_date) for b in found] == [("akl", dt.date(2026, 11, 8))]  # Saturday in New York
    wednesday = AUCKLAND.model_copy(update={"weekly_day": "wednesday"})
    assert delivery.due([wednesday], sunday_in_auckland, LEAD, CATCH_UP, weekly=True) == []


def test_an_unknown_timezone_or_time_is_refused_when_saved_with_the_reason(conn):
    with pytest.raises(repo.InvalidUserError) as caught:
        repo.upsert_user(conn, NEW_YORK.model_copy(update={"timezone": "America/Gotham"}))
    assert str(caught.value) == ("user 'ny': timezone 'America/Gotham' is not an IANA timezone (e.g. 'America/New_York', "
                                 "'Europe/Berlin', 'UTC'): ZoneInfoNotFoundError")
    with pytest.raises(repo.InvalidUserError, match="timezone 'EST5EDT ' is not an IANA timezone"):
        repo.upsert_user(conn, NEW_YORK.model_copy(update={"timezone": "EST5EDT "}))
    with pytest.raises(repo.InvalidUserError, match="weekly_day must be one of monday, tuesday"):
        repo.upsert_user(conn, NEW_YORK.model_copy(update={"weekly_day": "caturday"}))
    assert repo.list_users_with_interests(conn) == []  # nothing was saved
    repo.upsert_user(conn, LOS_ANGELES.model_copy(update={"weekly_day": "friday"}))
    saved = repo.get_user(conn, "la")
    assert (saved.timezone, saved.delivery_time, saved.weekly_day) == ("America/Los_Angeles", dt.time(6, 30), "friday")


def test_the_cli_sets_a_delivery_time_and_refuses_a_bad_one(settings_env):
    from typer.testing import CliRunner

    from civic_briefs.cli import app

    db.init_db()
    with db.connection() as conn:
        repo.upsert_user(conn, NEW_YORK)
        conn.commit()
    runner = CliRunner()
    done = runner.invoke(app, ["set-delivery", "ny", "07:15", "--timezone", "Pacific/Auckland", "--weekly-day", "Monday"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "ny: daily briefs by 07:15 Pacific/Auckland, weekly on Mondays"
    refused = runner.invoke(app, ["set-delivery", "ny", "25:00"])
    assert refused.exit_code == 2 and "delivery_time must be a local time HH:MM from 00:00 to 23:59, not '25:00'" in refused.output
    refused = runner.invoke(app, ["set-delivery", "ny", "06:00", "--timezone", "Mars/Olympus"])
    assert refused.exit_code == 2 and "timezone 'Mars/Olympus' is not an IANA timezone" in refused.output
    with db.connection() as conn:
        saved = repo.get_user(conn, "ny")
    assert (saved.delivery_time, saved.timezone, saved.weekly_day) == (dt.time(7, 15), "Pacific/Auckland", "monday")


def test_the_scheduled_flow_makes_one_brief_per_listener_and_local_day_before_their_delivery(settings_env):
    """The briefs-due flow itself, replayed at the schedule's ticks around each delivery of the fall-
    back weekend: one published brief per user and local date, made by the first run within the
    lead, dated by the local date; the runs after it make nothing."""
    from flows.briefs_due import briefs_due

    settings_env(locks="file", script_provider="offline", speech_provider="offline", news_provider="offline",
                 top_stories=1, quick_hits=0, dedup_days=0)  # a bill a day however few the sample has
    users = [NEW_YORK, AUCKLAND]
    db.init_db()
    with db.connection() as conn:
        importer.import_sample(conn)
        for user in users:
            repo.upsert_user(conn, user)
        conn.commit()
    days = {"ny": [dt.date(2026, 10, 31), dt.date(2026, 11, 1)], "akl": [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]}
    by_user = {u.id: u for u in users}
    wanted = sorted({t for uid, ds in days.items() for d in ds
                     for t in ticks(delivery.delivery_instant(by_user[uid], d) - LEAD - TICK,
                                    delivery.delivery_instant(by_user[uid], d) + TICK)
                     if t.minute % 15 == 0})
    first_made: dict[tuple[str, dt.date], dt.datetime] = {}
    messages, made_per_run = [], []
    for at in wanted:
        state = briefs_due(at=at, return_state=True)
        assert state.is_completed(), state.message
        messages.append(state.message)
        made_per_run.append(sum(row["made_now"] for row in state.result()))
        for row in state.result():
            if row["made_now"]:
                key = (row["user"], dt.date.fromisoformat(row["brief_date"]))
                assert key not in first_made, f"{key} made twice"
                first_made[key] = at
    expected = {(uid, d) for uid, ds in days.items() for d in ds}
    # The first run also catches up the local day whose delivery came before it (a user new that day).
    caught_up = {key for key in first_made if key not in expected}
    assert all(first_made[key] == wanted[0] > delivery.delivery_instant(by_user[key[0]], key[1]) for key in caught_up)
    assert sorted(set(first_made) - caught_up) == sorted(expected)
    for (uid, day), at in first_made.items():
        if (uid, day) in caught_up:
            continue
        deliver = delivery.delivery_instant(by_user[uid], day)
        assert deliver - LEAD <= at < deliver, (uid, day, at, deliver)
    with db.connection() as conn:
        rows = [r for d in {d for _, d in first_made} for r in repo.list_briefs(conn, d)]
    # Exactly one row per user and local day, all published.
    assert sorted((r["user_id"], r["brief_date"]) for r in rows) == sorted((u, d.isoformat()) for u, d in first_made)
    assert {r["status"] for r in rows} == {"published"}
    # A run with nothing to make says so and makes nothing: every brief due was published already.
    assert [m.startswith("No daily brief due at") for m in messages] == [n == 0 for n in made_per_run]

