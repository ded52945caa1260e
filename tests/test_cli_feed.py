"""The listener's commands: `feed`, `rotate-feed`, `brief` and `show` (a real libSQL file, local
storage, offline providers; `brief` runs the generate-brief flow on the Prefect test harness)."""

from __future__ import annotations

import re
from pathlib import Path

import feedparser
import pytest
from typer.testing import CliRunner

from civic_briefs import db, repo
from civic_briefs.cli import app
from tests import worlds


@pytest.fixture
def seeded(settings_env):
    settings = settings_env()
    worlds.seed()
    return settings


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def local(url_or_path: str) -> Path:
    return Path(url_or_path.removeprefix("file://"))


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def test_feed_prints_a_url_that_parses_and_rotate_feed_replaces_it(seeded):
    first = run("feed", "maria")
    assert first.exit_code == 0, first.output
    url = first.output.strip()
    parsed = feedparser.parse(local(url).read_bytes())
    assert not parsed.bozo and parsed.feed.title.startswith("Civic Briefs for Maria") and parsed.entries == []
    # The same URL again: the token is kept until rotated.
    assert run("feed", "maria").output.strip() == url

    rotated = run("rotate-feed", "maria")
    assert rotated.exit_code == 0, rotated.output
    new_url = rotated.output.strip()
    assert new_url != url and not local(url).exists()
    assert feedparser.parse(local(new_url).read_bytes()).feed.title.startswith("Civic Briefs for Maria")
    assert run("feed", "maria").output.strip() == new_url


@pytest.mark.parametrize("command", ["feed", "rotate-feed", "brief"])
def test_an_unknown_user_is_a_usage_error(seeded, command):
    result = run(command, "nobody")
    assert result.exit_code == 2
    assert error_lines(result.output) == [
        "Error: Invalid value for 'USER_ID': user_id 'nobody' is not a known user (no row in the users table)"]
    with db.connection() as conn:
        assert repo.feed_token(conn, "nobody") is None


def test_show_refuses_an_unknown_brief(seeded):
    result = run("show", "nobody:daily:2026-03-02")
    assert result.exit_code == 2
    assert error_lines(result.output) == [
        "Error: Invalid value for 'BRIEF_ID': brief_id 'nobody:daily:2026-03-02' is not a brief (ids are "
        "USER:TYPE:DATE; `civic-briefs briefs` lists them)"]


@pytest.mark.usefixtures("prefect_api")
def test_brief_makes_one_prints_where_to_listen_and_show_prints_it(seeded):
    made = run("brief", "maria")
    assert made.exit_code == 0, made.output
    # (Prefect's log lines of the run come first here: the command hides them only when run as a program.)
    [said] = [line for line in made.output.splitlines() if line.startswith("maria:")]
    assert re.fullmatch(r"maria:daily:\d{4}-\d{2}-\d{2}: published", said)
    where = dict(re.findall(r"^  (page|MP3|feed) +(\S+)$", made.output, re.M))
    assert sorted(where) == ["MP3", "feed", "page"]
    with db.connection() as conn:
        row = repo.get_brief_by_id(conn, said.removesuffix(": published"))
    assert local(where["MP3"]).resolve() == local(row["audio_url"]).resolve()
    assert local(where["page"]).resolve() == local(row["page_url"]).resolve()
    assert b"<audio" in local(where["page"]).read_bytes()
    [entry] = feedparser.parse(local(where["feed"]).read_bytes()).entries
    assert local(entry.enclosures[0].href).name == local(row["audio_url"]).name
    assert int(entry.enclosures[0].length) == local(row["audio_url"]).stat().st_size

    # Asked again, the brief is the one already made.
    again = run("brief", "maria")
    assert again.exit_code == 0
    assert f"{row['id']}: published (made earlier: --force makes it again)" in again.output.splitlines()

    shown = run("show", row["id"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith(f"{row['id']}: published: {row['headline']}")
    transcript, digest = shown.output.split("\nTranscript\n", 1)[1].split("\nDigest\n", 1)
    assert transcript.strip().startswith("A: Good morning, Maria!")
    assert row["digest"].strip() in digest and "https://www.congress.gov/bill/" in digest
