"""The ``civic-briefs`` command line: set up the database, import bills, run and list briefs."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

# `civic-briefs demo` and `brief` show their results, not every log line (--verbose for those). Prefect reads its
# logging level when it is imported, so it is set here, before anything imports Prefect.
if sys.argv[1:2] in (["demo"], ["brief"]) and not {"--verbose", "-v"} & set(sys.argv):
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from civic_briefs import db, delivery, demo, inputs, prefect_setup, repo
from civic_briefs.models import User, bill_label
from civic_briefs.settings import BRIEF_TARGET_SECONDS

# No rich panels: a usage error is one line ("Error: Invalid value for '--brief-date': ..."), however wide the terminal.
app = typer.Typer(help="Civic Briefs: daily audio briefs on US legislation.", no_args_is_help=True,
                  rich_markup_mode=None)
T = TypeVar("T")
# Wide enough for the briefs table even when output is piped (rich falls back to 80 columns).
console = Console(width=max(Console().width, 160))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


@app.command("init-db")
def init_db() -> None:
    """Create the database or upgrade it in place."""
    applied = db.init_db()
    console.print(f"Migrations applied: {', '.join(applied) or 'none (up to date)'}")


@app.command("import-bills")
def import_bills(paths: Annotated[list[Path], typer.Argument(help="BILLSTATUS XML files or folders of them.")]) -> None:
    """Import GPO BILLSTATUS XML files. Exits 1 if any file failed (the others are still imported)."""
    from civic_briefs import importer

    db.init_db()
    files = importer.xml_files(paths)
    if not files:
        console.print(f"[red]No BILLSTATUS XML files found in {', '.join(map(str, paths))}[/red]")
        raise typer.Exit(1)
    with _progress() as progress, db.connection() as conn:
        bar = progress.add_task("Importing bills", total=len(files))
        report = importer.import_paths(conn, files, progress=lambda n=1: progress.advance(bar, n))
    console.print(f"Imported {_count(len(report.imported), 'bill')} from {_count(len(files), 'file')}.")
    for failure in report.failed:
        console.print(f"[red]Failed[/red] {failure.name}: {failure.error}")
    if report.failed:
        raise typer.Exit(1)


@app.command("sync-bills")
def sync_bills(congress: Annotated[Optional[list[int]], typer.Option(
        "--congress", metavar="N", help="A Congress to sync (repeat for more); default BRIEFS_SYNC_CONGRESSES, "
                                        "or the current one.")] = None) -> None:
    """Run the sync-bills flow once: import the BILLSTATUS files govinfo changed since the last sync.
    Exits 1 if any file failed (the others are still imported)."""
    from flows.sync_bills import sync_bills as sync_flow

    if congress:
        try:
            inputs.check_congresses(list(congress), _utc_today(), parameter="--congress")
        except inputs.InputError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--congress'") from exc
    state = sync_flow(congresses=list(congress) if congress else None, return_state=True)
    console.print(f"sync-bills ended {state.type.value}: {state.message or ''}")
    if not state.is_completed():
        raise typer.Exit(1)


@app.command("add-demo-users")
def add_demo_users() -> None:
    """Add (or update) the demo users."""
    db.init_db()
    with db.connection() as conn:
        users = demo.add_demo_users(conn)
    console.print(f"Demo users: {', '.join(u.id for u in users)}")


def _limits_for_embedded_api() -> None:
    """On the embedded API (no server, so no `make serve` to set it up) create the global
    concurrency limits that the chosen real providers need. A server's limits are its operators'."""
    from prefect.settings import get_current_settings

    from civic_briefs.providers import registry
    if not get_current_settings().api.url and registry.providers().limits():
        for what, outcome in prefect_setup.setup_prefect(work_pool=False).items():
            console.print(f"Embedded Prefect API: {what}: {outcome}")


def _usage_error(check: Callable[[str], T]) -> Callable[[str | None], T | None]:
    """An option callback: the value checked by ``civic_briefs.inputs`` (the flows' own checks), or a
    usage error (exit 2) with the same message a flow run would end with."""
    def callback(value: str | None) -> T | None:
        if value is None:
            return None
        try:
            return check(value)
        except inputs.InputError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return callback


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _change_user(user_id: str, **changes: object) -> User:
    """Save ``changes`` to the user ``user_id`` names and return them; a usage error (exit 2) when no
    user has that id or the changes break a rule (nothing is saved then)."""
    db.init_db()
    with db.connection() as conn:
        try:
            user = inputs.known_user(conn, user_id).model_copy(update=changes)
        except inputs.InputError as exc:
            raise typer.BadParameter(str(exc), param_hint="'USER_ID'") from exc
        try:
            repo.upsert_user(conn, user)
        except repo.InvalidUserError as exc:
            raise typer.BadParameter(str(exc)) from exc
        conn.commit()
    return user


@app.command("set-length")
def set_length(user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id in the users table.")],
               brief_length: Annotated[str, typer.Argument(
                   metavar="BRIEF_LENGTH", help="short, standard or long: about 2, 5 or 10 minutes.",
                   callback=_usage_error(inputs.check_brief_length))]) -> None:
    """Set how long a user's briefs are, from their next brief on."""
    user = _change_user(user_id, brief_length=brief_length)
    console.print(f"{user.id}: {brief_length} briefs (about {BRIEF_TARGET_SECONDS[brief_length] // 60} minutes)")


@app.command("set-district")
def set_district(user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id in the users table.")],
                 state: Annotated[str, typer.Argument(
                     metavar="STATE", help="USPS code of their state or territory, e.g. WA, NY, DC, PR.",
                     callback=_usage_error(inputs.check_state))],
                 district: Annotated[Optional[str], typer.Argument(
                     metavar="[DISTRICT]", help="Their congressional district, 1-53; 0 or at-large for an at-large "
                     "seat. Without it only their senators are named.")] = None) -> None:
    """Set where a user lives, so their brief names their senators and representative when these
    sponsor or cosponsor one of its bills."""
    try:
        home_state, home_district = inputs.check_home(state, district)
    except inputs.InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="'DISTRICT'") from exc
    user = _change_user(user_id, state=home_state, district=home_district)
    seat = ("no district: their senators only" if home_district is None
            else "at-large" if home_district == 0 else f"district {home_district}")
    console.print(f"{user.id}: {home_state}, {seat}")


@app.command("set-delivery")
def set_delivery(user_id: Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id in the users table.")],
                 delivery_time: Annotated[str, typer.Argument(
                     metavar="HH:MM", help="Local time their daily brief is out by, e.g. 06:30.",
                     callback=_usage_error(inputs.check_delivery_time))],
                 timezone: Annotated[Optional[str], typer.Option(
                     "--timezone", metavar="IANA_NAME", help="Their timezone, e.g. America/Chicago (default: unchanged).",
                     callback=_usage_error(inputs.check_timezone))] = None,
                 weekly_day: Annotated[Optional[str], typer.Option(
                     "--weekly-day", metavar="DAY", help="The weekday of their weekly deep-dive, e.g. sunday (default: unchanged).",
                     callback=_usage_error(inputs.check_weekday))] = None) -> None:
    """Set when a user's briefs are out: by HH:MM on their own local date, in their timezone."""
    changes = {"timezone": timezone, "weekly_day": weekly_day}
    user = _change_user(user_id, delivery_time=delivery_time, **{k: v for k, v in changes.items() if v is not None})
    console.print(f"{user.id}: daily briefs by {user.delivery_time:%H:%M} {user.timezone}, weekly on {user.weekly_day.title()}s")


@app.command("run-daily")
def run_daily(brief_date: Annotated[Optional[str], typer.Option(
                  metavar="YYYY-MM-DD", help="Today or earlier; default today (UTC).",
                  callback=_usage_error(lambda v: inputs.check_brief_date(v, _utc_today())))] = None,
              max_concurrent_briefs: Annotated[Optional[str], typer.Option(
                  metavar="1-256", help="Briefs in progress at once (default BRIEFS_MAX_CONCURRENT_BRIEFS).",
                  callback=_usage_error(inputs.check_max_concurrent_briefs))] = None,
              ) -> None:
    """Run the daily_briefs flow once in this process."""
    from flows.daily_briefs import daily_briefs

    params: dict = {}
    if brief_date is not None:
        params["brief_date"] = brief_date
    if max_concurrent_briefs is not None:
        params["max_concurrent_briefs"] = max_concurrent_briefs
    _limits_for_embedded_api()
    state = daily_briefs(**params, return_state=True)
    console.print(f"daily-briefs ended {state.type.value}: {state.message or ''}")
    if not state.is_completed():
        raise typer.Exit(1)


@app.command("briefs")
def briefs(brief_date: Annotated[Optional[str], typer.Option(
        metavar="YYYY-MM-DD", help="Default all dates.", callback=_usage_error(inputs.parse_date))] = None) -> None:
    """Print a table of the briefs in the database."""
    db.init_db()
    with db.connection() as conn:
        rows = repo.list_briefs(conn, brief_date)  # type: ignore[arg-type] - the callback made it a date
    console.print(briefs_table(rows))


def briefs_table(rows: list[dict]) -> Table:
    table = Table(title="Briefs")
    for column in ("user", "date", "status", "headline", "bills covered", "duration"):
        table.add_column(column, overflow="fold", no_wrap=column in ("user", "date", "duration"))
    table.add_column("MP3", no_wrap=True)  # a path to copy, never broken across lines
    for row in rows:
        duration = f"{row['duration_seconds']:.0f} s" if row["duration_seconds"] else "-"
        bills = [bill_label(*b.split("-")[1:]) for b in (row["bill_ids"] or "").split(",") if b]
        table.add_row(row["user_id"], row["brief_date"], row["status"], row["headline"] or row["error"] or "",
                      ", ".join(bills), duration, _local_path(row["audio_url"]))
    return table


def _local_path(url: str | None) -> str:
    if not url:
        return "-"
    if url.startswith("file://"):
        path = Path(url.removeprefix("file://"))
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return url


def _print_listening(published: list[dict]) -> None:
    """Where each published brief is heard: its page and its user's feed."""
    from civic_briefs import feed

    storage, prefix = _storage()
    console.print("Listen (each page plays in a browser; a feed URL goes in any podcast app):")
    for row in published:
        feed_url = feed.current_url(storage, prefix, row["user_id"])
        console.print(f"  {row['user_id']:<8} page {_local_path(row['page_url'])}  feed {_local_path(feed_url)}",
                      soft_wrap=True)


def segment_counts(costs: list[dict]) -> tuple[int, int]:
    """(distinct segments the briefs used that were made now, segments used by the briefs)."""
    segments = [s for c in costs for s in c.get("segments", [])]
    return len({s["key"] for s in segments if s.get("made_now")}), len(segments)


@app.command("demo")
def demo_command(verbose: Annotated[bool, typer.Option(  # noqa: ARG001 - read before Prefect is imported, above
        "--verbose", "-v", help="Show every log line of the run.")] = False) -> None:
    """Try it out: database, sample bills, demo users, one daily run, a table of the briefs.

    The sample fills in bills the database lacks; the demo users are added to the database in
    BRIEFS_DATABASE_URL, so point it elsewhere on an operator's checkout."""

    from civic_briefs import importer
    started = time.monotonic()
    db.init_db()
    with db.connection() as conn:
        sample = importer.load_sample_bills()
        with _progress() as progress:
            bar = progress.add_task("Importing sample bills", total=len(sample))
            importer.import_sample(conn, progress=lambda n=1: progress.advance(bar, n))
        users = demo.add_demo_users(conn)
    console.print(f"{len(sample)} sample bills, {len(users)} demo users: {', '.join(u.name for u in users)}")

    from flows.daily_briefs import daily_briefs

    # Each listener's brief is dated by their own local date (their timezone), as the scheduled
    # briefs are: the demo users span Los Angeles to UTC, so near midnight UTC two dates are made.
    now = dt.datetime.now(dt.UTC)
    days = sorted({delivery.local_date(u, now) for u in users})
    _limits_for_embedded_api()
    flow_started = repo.now_iso()
    state = daily_briefs(return_state=True)
    with db.connection() as conn:
        rows = [r for day in days for r in repo.list_briefs(conn, day) if r["user_id"] in {u.id for u in users}]
    console.print(briefs_table(rows))
    published = [r for r in rows if r["status"] == "published"]
    made = segment_counts([r["costs"] or {} for r in published if r["updated_at"] >= flow_started])[0]
    used = segment_counts([r["costs"] or {} for r in published])[1]
    console.print(f"Segments: {used} used by the briefs, {made} of them made by this run "
                  f"(shared segments are made once a day; a rerun makes none).")
    _print_listening(published)
    console.print(f"daily-briefs ended {state.type.value} in {time.monotonic() - started:.0f} s: {state.message or ''}")
    if not state.is_completed():
        raise typer.Exit(1)


def _known_user(user_id: str):
    """The user, or a usage error (exit 2) naming the id."""
    db.init_db()
    try:
        return db.run_with_reconnect(lambda c: inputs.known_user(c, user_id))
    except inputs.InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="'USER_ID'") from exc


def _storage():
    from civic_briefs.providers import registry
    from civic_briefs.settings import get_settings

    return registry.audio_storage(), get_settings().s3_prefix


USER_ID = Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id in the users table.")]


@app.command("feed")
def feed_command(user_id: USER_ID) -> None:
    """Write USER_ID's private podcast feed as it stands and print its URL (add it in any podcast app)."""
    from civic_briefs import feed

    user = _known_user(user_id)
    storage, prefix = _storage()
    console.print(feed.publish_feed(storage, prefix, user.id), soft_wrap=True)


@app.command("rotate-feed")
def rotate_feed(user_id: USER_ID) -> None:
    """Give USER_ID's feed a new secret URL: the old one stops working. Prints the new URL."""
    from civic_briefs import feed

    user = _known_user(user_id)
    storage, prefix = _storage()
    console.print(feed.rotate_feed(storage, prefix, user.id), soft_wrap=True)


@app.command("brief")
def brief_command(user_id: USER_ID,
                  force: Annotated[bool, typer.Option("--force", help="Make it again if today's exists.")] = False,
                  verbose: Annotated[bool, typer.Option(  # noqa: ARG001 - read before Prefect is imported, above
                      "--verbose", "-v", help="Show every log line of the run.")] = False) -> None:
    """Make USER_ID's brief for today now (the generate-brief flow, in this process) and print where
    to listen: its page, its MP3 and the user's feed."""
    from civic_briefs import feed
    from flows.generate_brief import generate_brief

    user = _known_user(user_id)
    _limits_for_embedded_api()
    state = generate_brief(user_id=user.id, force=force, return_state=True)
    if not state.is_completed():
        console.print(f"generate-brief ended {state.type.value}: {state.message or ''}", soft_wrap=True)
        raise typer.Exit(1)
    brief = state.result()
    storage, prefix = _storage()
    console.print(f"{brief.id}: {brief.status}" + (f" ({brief.error})" if brief.error else "")
                  + ("" if brief.made_now else " (made earlier: --force makes it again)"), soft_wrap=True)
    if brief.status == "published":
        for what, url in (("page", brief.page_url), ("MP3", brief.audio_url),
                          ("feed", feed.current_url(storage, prefix, user.id))):
            console.print(f"  {what:<5}{_local_path(url)}", soft_wrap=True)


@app.command("show")
def show(brief_id: Annotated[str, typer.Argument(
        metavar="BRIEF_ID", help="USER:TYPE:DATE, e.g. maria:daily:2026-03-02 (`civic-briefs brief` prints it).")]) -> None:
    """Print a brief's transcript and digest."""
    db.init_db()
    row = db.run_with_reconnect(lambda c: repo.get_brief_by_id(c, brief_id))
    if row is None:
        raise typer.BadParameter(f"brief_id {brief_id!r} is not a brief (ids are USER:TYPE:DATE; "
                                 "`civic-briefs briefs` lists them)", param_hint="'BRIEF_ID'")
    console.print(f"{row['id']}: {row['status']}" + (f": {row['headline']}" if row["headline"] else ""),
                  soft_wrap=True, markup=False)
    if row["status"] != "published":
        console.print(row["error"] or "", soft_wrap=True, markup=False)
        return
    console.print("\nTranscript\n", style="bold")
    console.print(row["transcript"] or "", soft_wrap=True, markup=False, highlight=False)
    console.print("\nDigest\n", style="bold")
    console.print(row["digest"] or "", soft_wrap=True, markup=False, highlight=False)


app.command("setup-prefect")(prefect_setup.setup_prefect_command)


if __name__ == "__main__":
    app()
