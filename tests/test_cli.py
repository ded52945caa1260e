"""The CLI refuses bad input with a usage error (exit 2) before anything runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civic_briefs.cli import app, segment_counts


def test_a_bad_date_or_concurrency_is_a_usage_error(settings_env):
    runner = CliRunner()
    bad_date = runner.invoke(app, ["run-daily", "--brief-date", "2026-13-45"])
    assert bad_date.exit_code == 2 and "is not a date (YYYY-MM-DD)" in bad_date.output
    negative = runner.invoke(app, ["run-daily", "--max-concurrent-briefs", "-3"])
    assert negative.exit_code == 2 and "max-concurrent-briefs" in negative.output
    listing = runner.invoke(app, ["briefs", "--brief-date", "yesterday"])
    assert listing.exit_code == 2 and "'yesterday' is not a date" in listing.output


def test_segment_counts_tell_made_from_reused():
    costs = [{"segments": [{"key": "story-a", "made_now": True}, {"key": "opening-1", "made_now": True}]},
             {"segments": [{"key": "story-a", "made_now": True}, {"key": "story-b", "made_now": False}]}]
    assert segment_counts(costs) == (2, 4)


@pytest.mark.parametrize(("args", "error"), [
    (["run-daily", "--brief-date", "2026-13-45"],
     "Invalid value for '--brief-date': brief_date '2026-13-45' is not a date (YYYY-MM-DD): month must be in 1..12"),
    (["run-daily", "--brief-date", "2026-02-30"],
     "Invalid value for '--brief-date': brief_date '2026-02-30' is not a date (YYYY-MM-DD): day is out of range for month"),
    # Other ISO 8601 forms that Python 3.11's fromisoformat takes: not the YYYY-MM-DD the README asks for.
    (["run-daily", "--brief-date", "20260302"],
     "Invalid value for '--brief-date': brief_date '20260302' is not a date (YYYY-MM-DD)"),
    (["run-daily", "--brief-date", "2026-W10-1"],
     "Invalid value for '--brief-date': brief_date '2026-W10-1' is not a date (YYYY-MM-DD)"),
    (["briefs", "--brief-date", "2026-03-02T10:00:00"],
     "Invalid value for '--brief-date': brief_date '2026-03-02T10:00:00' is not a date (YYYY-MM-DD)"),
    (["run-daily", "--max-concurrent-briefs", "-3"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, not -3"),
    (["run-daily", "--max-concurrent-briefs", "0"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, not 0"),
    (["run-daily", "--max-concurrent-briefs", "257"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, not 257"),
    (["run-daily", "--max-concurrent-briefs", "2.5"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, not '2.5'"),
    # Two signs (lstrip("+-") let them through to int(), which raised: a traceback, not a usage error).
    (["run-daily", "--max-concurrent-briefs", "--3"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, not '--3'"),
    (["run-daily", "--max-concurrent-briefs", "+-3"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, not '+-3'"),
    (["run-daily", "--max-concurrent-briefs", "2\u00b2"],
     "Invalid value for '--max-concurrent-briefs': max_concurrent_briefs must be a whole number from 1 to 256, "
     "not '2\u00b2'"),
    (["briefs", "--brief-date", "2026-13-45"],
     "Invalid value for '--brief-date': brief_date '2026-13-45' is not a date (YYYY-MM-DD): month must be in 1..12"),
])
def test_every_date_and_number_option_gives_a_one_line_usage_error(settings_env, args, error):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [f"Error: {error}"]
    assert "Traceback" not in result.output
    # Refused before anything ran: not even the database was made.
    assert not Path(settings_env().database_url).exists()


def test_tomorrow_is_a_usage_error_naming_today(settings_env):
    today = dt.datetime.now(dt.UTC).date()  # worked out when the test runs, not at collection
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    result = CliRunner().invoke(app, ["run-daily", "--brief-date", tomorrow])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [
        f"Error: Invalid value for '--brief-date': brief_date {tomorrow} is in the future (today is {today}): a brief "
        "is made for today or an earlier day"]
    assert not Path(settings_env().database_url).exists()


def test_a_signed_or_padded_whole_number_is_accepted():
    from civic_briefs.inputs import check_max_concurrent_briefs

    assert [check_max_concurrent_briefs(v) for v in ("+7", " 7 ", "007", "256", 3)] == [7, 7, 7, 256, 3]


def test_a_brief_date_of_today_or_before_is_accepted(settings_env):
    result = CliRunner().invoke(app, ["briefs", "--brief-date", "2026-03-02"])
    assert result.exit_code == 0, result.output
