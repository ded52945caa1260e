"""The CLI refuses bad input with a usage error (exit 2) before anything runs."""

from __future__ import annotations

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
