"""Bad input gets one clear message wherever it comes from (the CLI, a flow called in Python, a
deployment run), the run ends Failed at once and writes no brief; and a brief skipped for want of
bills is made by a later run that finds some."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from civic_briefs import db, importer, repo
from civic_briefs.cli import app
from civic_briefs.models import User
from civic_briefs.plan import DayPlan
from civic_briefs.production import today
from flows.daily_briefs import daily_briefs
from flows.generate_brief import generate_brief
from flows.make_briefs import make_briefs_batch
from tests.billstatus_expected import BILLSTATUS_DIR

pytestmark = pytest.mark.usefixtures("prefect_api")
REPO = Path(__file__).resolve().parents[1]


def tomorrow() -> str:
    """Tomorrow (UTC), worked out when a test runs: a run that crosses midnight still means tomorrow."""
    return (today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture
def users(settings_env):
    db.init_db()
    with db.connection() as conn:
        repo.upsert_user(conn, User(id="maria", name="Maria Garcia", interests=["healthcare"]))
        conn.commit()
    return settings_env


def cli_message(*args: str) -> str:
    """The reason of the CLI's usage error (exit 2, one line naming the option), without the option."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    prefix = f"Error: Invalid value for '{args[-2]}': "
    assert line.startswith(prefix), line
    return line.removeprefix(prefix)


def brief_rows() -> list[dict]:
    with db.connection() as conn:
        return repo.list_briefs(conn)


def assert_failed_at_once(state, message: str) -> None:
    """Failed with exactly ``message``, in one attempt, and not a brief written."""
    assert state.is_failed() and state.message == message, (state.type, state.message)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state.is_failed() and run.state.message == message and run.run_count == 1
    assert brief_rows() == []


@pytest.mark.parametrize(("cli_args", "flow_params"), [
    (["--brief-date", "2026-13-45"], {"brief_date": "2026-13-45"}),
    (["--max-concurrent-briefs", "-3"], {"max_concurrent_briefs": -3}),
    (["--max-concurrent-briefs", "257"], {"max_concurrent_briefs": 257}),
    (["--max-concurrent-briefs", "many"], {"max_concurrent_briefs": "many"}),
    (["--max-concurrent-briefs", "--3"], {"max_concurrent_briefs": "--3"}),
    (["--max-concurrent-briefs", "+-3"], {"max_concurrent_briefs": "+-3"}),
    (["--brief-date", "20260302"], {"brief_date": "20260302"}),
    (["--brief-date", "2026-W10-1"], {"brief_date": "2026-W10-1"}),
])
def test_daily_briefs_fails_with_the_clis_message(users, cli_args, flow_params):
    expected = cli_message("run-daily", *cli_args)
    assert_failed_at_once(daily_briefs(**flow_params, return_state=True), expected)


@pytest.mark.parametrize("as_date", [False, True], ids=["text", "date"])
def test_daily_briefs_refuses_tomorrow_with_the_clis_message(users, as_date):
    day = tomorrow()
    expected = cli_message("run-daily", "--brief-date", day)
    assert expected == (f"brief_date {day} is in the future (today is {today()}): a brief is made for today or an "
                        "earlier day")
    brief_date = dt.date.fromisoformat(day) if as_date else day
    assert_failed_at_once(daily_briefs(brief_date=brief_date, return_state=True), expected)


def test_an_aware_datetime_is_the_date_it_is_in_utc_and_a_naive_one_its_own(users):
    from civic_briefs import inputs

    # Late evening of a day in New York (UTC-5) is already the next day in UTC.
    new_york = dt.timezone(dt.timedelta(hours=-5))
    assert inputs.parse_date(dt.datetime(2026, 3, 2, 21, 30, tzinfo=new_york)) == dt.date(2026, 3, 3)
    assert inputs.parse_date(dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))) == dt.date(2026, 3, 2)
    assert inputs.parse_date(dt.datetime(2026, 3, 2, 21, 30)) == dt.date(2026, 3, 2)
    # Tomorrow in UTC, still today in New York: refused as the future day it is (in UTC).
    day = dt.date.fromisoformat(tomorrow())
    evening = dt.datetime.combine(day, dt.time(0, 30), tzinfo=dt.UTC).astimezone(new_york)
    assert evening.date() == today()
    assert_failed_at_once(daily_briefs(brief_date=evening, return_state=True),
                          f"brief_date {day} is in the future (today is {today()}): a brief is made for today or an "
                          "earlier day")


def test_the_messages_say_the_rule():
    assert cli_message("run-daily", "--brief-date", "2026-13-45") == (
        "brief_date '2026-13-45' is not a date (YYYY-MM-DD): month must be in 1..12")
    assert cli_message("run-daily", "--max-concurrent-briefs", "-3") == (
        "max_concurrent_briefs must be a whole number from 1 to 256, not -3")
    assert cli_message("briefs", "--brief-date", "yesterday") == "brief_date 'yesterday' is not a date (YYYY-MM-DD)"


def test_daily_briefs_refuses_other_bad_choices(users):
    assert_failed_at_once(daily_briefs(fan_out="sideways", return_state=True),
                          "fan_out must be in-process or deployment, not 'sideways'")
    assert_failed_at_once(daily_briefs(brief_type="monthly", return_state=True),
                          "brief_type must be daily or weekly, not 'monthly'")


KNOWN = ("agriculture, business, civil-rights, climate, defense, economy, education, healthcare, housing, "
         "immigration, science, social, taxes, technology, transportation")


@pytest.mark.parametrize(("params", "message"), [
    ({"user_id": "nobody"}, "user_id 'nobody' is not a known user (no row in the users table)"),
    ({"user_id": "../maria"}, "user_id '../maria' is not a valid user id: Unsafe user id '../maria': use 1-128 ASCII "
                              "letters, digits, '-', '_' or '.', starting with a letter or digit and not ending with '.'"),
    ({"user_id": 7}, "user_id must be a user id (text), not 7"),
    ({"user_id": "maria", "policy_interests": ["healthcare", "astrology"]},
     f"policy_interests: Unknown interest id(s): astrology. Known interests: {KNOWN}"),
    ({"user_id": "maria", "policy_interests": "healthcare"},
     "policy_interests must be a list of interest ids, e.g. [\"healthcare\"], not 'healthcare'"),
    ({"user_id": "maria", "brief_date": "2026-13-45"},
     "brief_date '2026-13-45' is not a date (YYYY-MM-DD): month must be in 1..12"),
    ({"user_id": "maria", "brief_type": "monthly"}, "brief_type must be daily or weekly, not 'monthly'"),
    ({"user_id": "maria", "force": "yes"}, "force must be true or false, not 'yes'"),
])
def test_generate_brief_fails_at_once_with_a_clear_message(users, params, message):
    state = generate_brief(**params, return_state=True)
    assert_failed_at_once(state, message)
    if "brief_date" in params:
        assert message == cli_message("run-daily", "--brief-date", params["brief_date"])
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        state.result()


def test_generate_brief_refuses_tomorrow_with_the_clis_message(users):
    day = tomorrow()
    message = f"brief_date {day} is in the future (today is {today()}): a brief is made for today or an earlier day"
    assert_failed_at_once(generate_brief(user_id="maria", brief_date=day, return_state=True), message)
    assert message == cli_message("run-daily", "--brief-date", day)


def test_make_briefs_refuses_bad_batches(users):
    day = dt.date(2026, 3, 2)
    assert_failed_at_once(make_briefs_batch(brief_date=day, user_ids=[], return_state=True),
                          "user_ids must be a non-empty list of user ids, not []")
    assert_failed_at_once(make_briefs_batch(brief_date=day, user_ids=["maria"], max_concurrent_briefs=0,
                                            return_state=True),
                          "max_concurrent_briefs must be a whole number from 1 to 256, not 0")
    with db.connection() as conn:
        repo.save_day_plan(conn, "daily", day, DayPlan(brief_date=day, brief_type="daily", writer_name="w").model_dump_json())
    assert_failed_at_once(make_briefs_batch(brief_date=day, user_ids=["ghost"], return_state=True),
                          "user_ids not in the stored daily plan for 2026-03-02: ghost")
    assert_failed_at_once(make_briefs_batch(brief_date="2026-3-2", user_ids=["maria"], return_state=True),
                          "brief_date '2026-3-2' is not a date (YYYY-MM-DD)")


def test_make_briefs_takes_the_plans_day_even_when_its_clock_says_it_is_tomorrow(users):
    """A worker whose clock is a little behind at 00:00 UTC still makes the parent's day: the day
    was checked when it was planned (here: a plan stored for tomorrow, as seen from this clock)."""
    day = dt.date.fromisoformat(tomorrow())
    with db.connection() as conn:
        repo.save_day_plan(conn, "daily", day, DayPlan(brief_date=day, brief_type="daily", writer_name="w").model_dump_json())
    # Past the date check: the batch is checked against the stored plan (which has no such user).
    assert_failed_at_once(make_briefs_batch(brief_date=day.isoformat(), user_ids=["ghost"], return_state=True),
                          f"user_ids not in the stored daily plan for {day}: ghost")


def test_a_deployment_run_with_a_malformed_date_fails_with_the_clis_message(users):
    """Prefect's server checks a parameter's type and choices when a run is created, not a date's
    format: the run is created and our check fails it, as a worker runs it."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import get_current_settings

    deployment = daily_briefs.to_deployment(name="bad-input")
    # As prefect.yaml has it: relative to the checkout, where the engine runs below. to_deployment
    # makes it relative to the test's cwd (a temporary folder), which resolved from the checkout only
    # when the two paths' depths happened to line up (/work/main, not a clone in /tmp/ci/main).
    deployment.entrypoint = "flows/daily_briefs.py:daily_briefs"
    deployment.apply()
    name = "daily-briefs/bad-input"
    with pytest.raises(PrefectHTTPStatusError) as refused:
        run_deployment(name, parameters={"brief_type": "monthly"}, timeout=0)
    assert refused.value.response.status_code == 409
    assert refused.value.response.json()["detail"] == (
        "Error creating flow run: Validation failed for field 'brief_type'. Failure reason: 'monthly' is not one of "
        "['daily', 'weekly']")

    run = run_deployment(name, parameters={"brief_date": "2026-13-45"}, timeout=0)
    assert run.state.is_scheduled()
    # What a worker does with it: the flow run engine in a process of its own.
    env = {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}
    engine = subprocess.run([sys.executable, "-m", "prefect.engine", str(run.id)], cwd=REPO, env=env, timeout=180,
                            capture_output=True, text=True, check=False)
    with get_client(sync_client=True) as client:
        ended = client.read_flow_run(run.id)
    assert ended.state.is_failed() and ended.run_count == 1, (ended.state, engine.stderr[-3000:])
    assert ended.state.message == cli_message("run-daily", "--brief-date", "2026-13-45")
    assert brief_rows() == []


# --- a skipped brief is made when a later run finds bills for it ----------------------------------

def test_a_skipped_brief_is_made_by_a_later_run_that_finds_bills(users):
    day = dt.date(2026, 3, 9)
    with db.connection() as conn:
        repo.upsert_user(conn, User(id="ivan", name="Ivan Ivanov", interests=["immigration"]))
        repo.upsert_user(conn, User(id="tess", name="Tess Tax", interests=["taxes"]))
        importer.import_paths(conn, [BILLSTATUS_DIR / "BILLSTATUS-117hr941.xml"])  # health: maria's
    first = daily_briefs(brief_date=day, return_state=True)
    assert first.is_completed(), first.message
    assert first.message == "3 of 3 briefs done (1 published, 2 skipped; 3 made now, 0 already there)"
    with db.connection() as conn:
        skipped = repo.get_brief(conn, "ivan", "daily", day)
        maria = repo.get_brief(conn, "maria", "daily", day)
        stored = DayPlan.model_validate_json(repo.get_day_plan(conn, "daily", day))
    assert skipped["status"] == "skipped" and skipped["bills"] == [] and "immigration" in skipped["error"]
    assert maria["status"] == "published"

    # An immigration bill arrives, and Tess now follows health care: the stored plan is kept for
    # Maria, and Ivan and Tess are planned afresh.
    with db.connection() as conn:
        importer.import_paths(conn, [BILLSTATUS_DIR / "BILLSTATUS-117hr1177.xml"])
        repo.upsert_user(conn, User(id="tess", name="Tess Tax", interests=["healthcare"]))
        conn.commit()
    second = daily_briefs(brief_date=day, return_state=True)
    assert second.is_completed(), second.message
    assert second.message == "3 of 3 briefs done (3 published, 0 skipped; 2 made now, 1 already there)"
    with db.connection() as conn:
        made = repo.get_brief(conn, "ivan", "daily", day)
        replanned = DayPlan.model_validate_json(repo.get_day_plan(conn, "daily", day))
        rows = repo.list_briefs(conn, day)
        maria_after = repo.get_brief(conn, "maria", "daily", day)
    assert made["id"] == skipped["id"] and made["created_at"] == skipped["created_at"]
    assert made["status"] == "published" and made["error"] is None
    assert [b["bill_id"] for b in made["bills"]] == ["117-hr-1177"]
    assert Path(made["audio_url"].removeprefix("file://")).stat().st_size > 10_000
    assert len(rows) == 3  # replaced, not added
    assert maria_after["updated_at"] == maria["updated_at"]  # Maria's brief was left alone
    assert replanned.user("maria") == stored.user("maria")
    assert [s.bill_id for s in replanned.user("ivan").stories] == ["117-hr-1177"]
    assert replanned.user("tess").user.interests == ["healthcare"]
    assert [p.user.id for p in replanned.users] == [p.user.id for p in stored.users]


def test_import_bills_refuses_bad_paths_and_names_an_oversize_file(users, tmp_path):
    from civic_briefs.billstatus import MAX_FILE_BYTES
    from flows.import_bills import import_bills

    assert_failed_at_once(import_bills(paths=[], return_state=True),
                          "paths must be a non-empty list of files or folders, not []")
    oversize = tmp_path / "BILLSTATUS-117hr99.xml"
    with oversize.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    # One path as text is a list of one.
    state = import_bills(paths=str(oversize), return_state=True)
    assert state.is_failed()
    assert state.message == "Imported 0 bills; 1 files failed: BILLSTATUS-117hr99.xml"
    assert state.result(raise_on_failure=False)["failed"] == [
        ["BILLSTATUS-117hr99.xml", "BILLSTATUS-117hr99.xml: the file is 67,108,865 bytes, the cap is 67,108,864 bytes"]]
