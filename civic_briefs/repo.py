"""Reading and writing rows: users, bills, members and their sponsorships, briefs and brief_bills.

Every function takes an open libSQL connection (see ``civic_briefs.db``) and uses ``?`` parameters.
JSON columns (interests, subjects, policy_interests, news, costs) are stored as JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from civic_briefs import delivery
from civic_briefs.districts import InvalidHomeError, check_home
from civic_briefs.models import BRIEF_LENGTHS, Bill, BriefType, Member, Sponsorship, User

BILL_COLUMNS = (
    "id", "congress", "bill_type", "bill_number", "title", "policy_area", "subjects", "summary",
    "sponsor_name", "sponsor_party", "sponsor_state", "introduced_date", "latest_action_date",
    "latest_action_text", "status", "updated_at",
)
BRIEF_COLUMNS = (
    "id", "user_id", "brief_type", "brief_date", "status", "headline", "title", "transcript", "digest",
    "audio_url", "duration_seconds", "policy_interests", "news", "costs", "error", "created_at", "updated_at",
    "chapters_url", "transcript_url", "captions_url", "loudness_lufs", "true_peak_dbtp", "audio_bytes", "page_url",
)


class UnknownUserError(LookupError):
    """No user has the given id."""


def now_iso() -> str:
    # Microseconds: a run tells a row it saved from one saved in the same second before it.
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# --- users -------------------------------------------------------------------------------------

class InvalidUserError(ValueError):
    """A user's settings break a rule (the message says which); nothing was saved."""


def upsert_user(conn: Any, user: User) -> None:
    # A model_copy(update=...) skips validation, so the length is checked again before it is saved.
    if user.brief_length not in BRIEF_LENGTHS:
        raise InvalidUserError(f"brief_length must be {' or '.join(BRIEF_LENGTHS)}, not {user.brief_length!r}")
    try:
        home = check_home(user.state, user.district)
    except InvalidHomeError as exc:
        raise InvalidUserError(str(exc)) from exc
    if home != (user.state, user.district):
        raise InvalidUserError(f"state and district must be stored as {home[0]!r} and {home[1]!r}, "
                               f"not {user.state!r} and {user.district!r}")
    try:
        delivery.check_timezone(user.timezone)
        delivery_time = delivery.check_delivery_time(user.delivery_time)
        weekly_day = delivery.check_weekday(user.weekly_day)
    except delivery.InvalidDeliveryError as exc:
        raise InvalidUserError(f"user {user.id!r}: {exc}") from exc
    conn.execute(
        "INSERT INTO users (id, name, email, interests, timezone, brief_length, state, district, delivery_time, "
        "weekly_day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, "
        "interests = excluded.interests, timezone = excluded.timezone, brief_length = excluded.brief_length, "
        "state = excluded.state, district = excluded.district, delivery_time = excluded.delivery_time, "
        "weekly_day = excluded.weekly_day",
        (user.id, user.name, user.email, json.dumps(user.interests), user.timezone, user.brief_length,
         user.state, user.district, delivery_time.strftime("%H:%M"), weekly_day,
         (user.created_at.isoformat() if user.created_at else now_iso())),
    )


def _user(row: dict[str, Any]) -> User:
    return User(**{**row, "interests": json.loads(row["interests"] or "[]")})


def get_user(conn: Any, user_id: str) -> User:
    """The user with ``user_id``; raises ``UnknownUserError`` naming it when there is none."""
    rows = _rows(conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)))
    if not rows:
        raise UnknownUserError(f"Unknown user {user_id!r}: no row in the users table")
    return _user(rows[0])


def list_users_with_interests(conn: Any) -> list[User]:
    rows = _rows(conn.execute("SELECT * FROM users ORDER BY id"))
    return [u for u in map(_user, rows) if u.interests]


# --- bills -------------------------------------------------------------------------------------

def upsert_bill(conn: Any, bill: Bill) -> None:
    """Insert the bill, or update it only when its content differs: a bill imported again as it was
    keeps its ``updated_at`` (sources rewrite their own update dates on bills that did not change)."""
    values = bill.model_dump()
    values["subjects"] = json.dumps(bill.subjects)
    for key in ("introduced_date", "latest_action_date"):
        values[key] = values[key].isoformat() if values[key] else None
    values["updated_at"] = now_iso()
    placeholders = ", ".join("?" for _ in BILL_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in BILL_COLUMNS if c != "id")
    changed = " OR ".join(f"bills.{c} IS NOT excluded.{c}" for c in BILL_COLUMNS if c not in ("id", "updated_at"))
    conn.execute(
        f"INSERT INTO bills ({', '.join(BILL_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {changed}",
        tuple(values[c] for c in BILL_COLUMNS),
    )


def _bill(row: dict[str, Any]) -> Bill:
    return Bill(**{**row, "subjects": json.loads(row["subjects"] or "[]")})


def get_bill(conn: Any, bill_id: str) -> Bill | None:
    rows = _rows(conn.execute("SELECT * FROM bills WHERE id = ?", (bill_id,)))
    return _bill(rows[0]) if rows else None


def bills_in_policy_areas(conn: Any, areas: Iterable[str]) -> list[Bill]:
    areas = sorted(set(areas))
    if not areas:
        return []
    marks = ", ".join("?" for _ in areas)
    return [_bill(r) for r in _rows(conn.execute(f"SELECT * FROM bills WHERE policy_area IN ({marks})", tuple(areas)))]


def count_bills(conn: Any) -> int:
    return conn.execute("SELECT COUNT(*) FROM bills").fetchall()[0][0]


# --- members and sponsorships ------------------------------------------------------------------

MEMBER_COLUMNS = ("bioguide_id", "name", "first_name", "last_name", "party", "state", "district", "chamber",
                  "congress", "updated_at")


def replace_sponsorships(conn: Any, bill_id: str, sponsorships: Iterable[Sponsorship]) -> None:
    """The bill's sponsor and cosponsors become ``sponsorships`` (its rows before are removed), and
    each member's row is added, or updated from a record of the same or a newer Congress. Part of
    the caller's transaction: no commit here."""
    entries = list(sponsorships)
    stamp = now_iso()
    members = {s.member.bioguide_id: s.member for s in entries}
    if members:
        updates = ", ".join(f"{c} = excluded.{c}" for c in MEMBER_COLUMNS if c != "bioguide_id")
        conn.executemany(
            f"INSERT INTO members ({', '.join(MEMBER_COLUMNS)}) VALUES ({', '.join('?' for _ in MEMBER_COLUMNS)}) "
            f"ON CONFLICT (bioguide_id) DO UPDATE SET {updates} "
            "WHERE COALESCE(excluded.congress, 0) >= COALESCE(members.congress, 0)",
            [(m.bioguide_id, m.name, m.first_name, m.last_name, m.party, m.state, m.district, m.chamber, m.congress,
              stamp) for m in members.values()])
    conn.execute("DELETE FROM bill_sponsors WHERE bill_id = ?", (bill_id,))
    if entries:
        conn.executemany(
            "INSERT INTO bill_sponsors (bill_id, bioguide_id, role, date, original, withdrawn) VALUES (?, ?, ?, ?, ?, ?)",
            [(bill_id, s.member.bioguide_id, s.role, s.date.isoformat() if s.date else None, int(s.original),
              s.withdrawn.isoformat() if s.withdrawn else None) for s in entries])


def _member(row: dict[str, Any]) -> Member:
    return Member(**{c: row[c] for c in MEMBER_COLUMNS})


def get_member(conn: Any, bioguide_id: str) -> Member | None:
    rows = _rows(conn.execute("SELECT * FROM members WHERE bioguide_id = ?", (bioguide_id,)))
    return _member(rows[0]) if rows else None


def count_members(conn: Any) -> int:
    return conn.execute("SELECT COUNT(*) FROM members").fetchall()[0][0]


def sponsorships(conn: Any, bill_ids: Iterable[str], *, states: Iterable[str] | None = None,
                 include_withdrawn: bool = False) -> list[Sponsorship]:
    """The sponsorships of these bills (sponsor first, then cosponsors as listed), with their members;
    only members of ``states`` when given. Withdrawn cosponsors are left out unless asked for."""
    ids = sorted(set(bill_ids))
    wanted = sorted(set(states)) if states is not None else None
    if not ids or wanted == []:
        return []
    where = [f"s.bill_id IN ({', '.join('?' for _ in ids)})"]
    params: list[Any] = list(ids)
    if wanted is not None:
        where.append(f"m.state IN ({', '.join('?' for _ in wanted)})")
        params += wanted
    if not include_withdrawn:
        where.append("s.withdrawn IS NULL")
    rows = _rows(conn.execute(
        f"SELECT s.bill_id, s.role, s.date, s.original, s.withdrawn, {', '.join('m.' + c for c in MEMBER_COLUMNS)} "
        f"FROM bill_sponsors s JOIN members m ON m.bioguide_id = s.bioguide_id WHERE {' AND '.join(where)} "
        "ORDER BY s.bill_id, s.role DESC, s.rowid", tuple(params)))
    return [Sponsorship(bill_id=r["bill_id"], role=r["role"], date=r["date"], original=bool(r["original"]),
                        withdrawn=r["withdrawn"], member=_member(r)) for r in rows]


# --- briefs ------------------------------------------------------------------------------------

def brief_id(user_id: str, brief_type: BriefType, brief_date: dt.date) -> str:
    """Deterministic: one brief per (user, type, date)."""
    return f"{user_id}:{brief_type}:{brief_date.isoformat()}"


def recently_featured_bill_ids(conn: Any, user_id: str, since: dt.date, until: dt.date,
                               exclude_brief_id: str | None = None) -> set[str]:
    """Bills in this user's published briefs dated from ``since`` to ``until`` (inclusive), other
    than ``exclude_brief_id``: a brief made for a past date ignores briefs dated after it."""
    rows = conn.execute(
        "SELECT bb.bill_id FROM brief_bills bb JOIN briefs b ON b.id = bb.brief_id "
        "WHERE b.user_id = ? AND b.brief_date >= ? AND b.brief_date <= ? AND b.status = 'published' AND b.id != ?",
        (user_id, since.isoformat(), until.isoformat(), exclude_brief_id or ""),
    ).fetchall()
    return {r[0] for r in rows}


def recently_featured_by_user(conn: Any, since: dt.date, until: dt.date, brief_type: BriefType) -> dict[str, set[str]]:
    """For every user at once: bills in their published briefs dated ``since`` to ``until``
    (inclusive), other than their ``brief_type`` brief dated ``until`` (the one being made)."""
    rows = conn.execute(
        "SELECT b.user_id, bb.bill_id FROM brief_bills bb JOIN briefs b ON b.id = bb.brief_id "
        "WHERE b.brief_date >= ? AND b.brief_date <= ? AND b.status = 'published' "
        "AND NOT (b.brief_type = ? AND b.brief_date = ?)",
        (since.isoformat(), until.isoformat(), brief_type, until.isoformat()),
    ).fetchall()
    heard: dict[str, set[str]] = {}
    for user_id, bill_id in rows:
        heard.setdefault(user_id, set()).add(bill_id)
    return heard


def previous_weekly_bills(conn: Any, brief_date: dt.date) -> dict[str, tuple[dt.date, set[str]]]:
    """For every user at once: the date and bills of their latest published weekly brief dated
    before ``brief_date``."""
    rows = conn.execute(
        "SELECT b.user_id, b.brief_date, bb.bill_id FROM briefs b JOIN brief_bills bb ON bb.brief_id = b.id "
        "WHERE b.brief_type = 'weekly' AND b.status = 'published' AND b.brief_date = ("
        "SELECT MAX(p.brief_date) FROM briefs p WHERE p.user_id = b.user_id AND p.brief_type = 'weekly' "
        "AND p.status = 'published' AND p.brief_date < ?)",
        (brief_date.isoformat(),),
    ).fetchall()
    previous: dict[str, tuple[dt.date, set[str]]] = {}
    for user_id, day, bill_id in rows:
        previous.setdefault(user_id, (dt.date.fromisoformat(day), set()))[1].add(bill_id)
    return previous


def brief_statuses(conn: Any, brief_type: BriefType, brief_date: dt.date) -> dict[str, str]:
    """user id -> status of their ``brief_type`` brief for ``brief_date``, for every user that has one."""
    rows = conn.execute("SELECT user_id, status FROM briefs WHERE brief_type = ? AND brief_date = ?",
                        (brief_type, brief_date.isoformat())).fetchall()
    return {user_id: status for user_id, status in rows}


def get_brief(conn: Any, user_id: str, brief_type: BriefType, brief_date: dt.date) -> dict[str, Any] | None:
    """The brief row (JSON columns decoded, plus ``bills``: [{bill_id, section}]) or None."""
    rows = _rows(conn.execute("SELECT * FROM briefs WHERE id = ?", (brief_id(user_id, brief_type, brief_date),)))
    if not rows:
        return None
    row = _decoded(rows[0])
    row["bills"] = _rows(conn.execute(
        "SELECT bill_id, section FROM brief_bills WHERE brief_id = ? ORDER BY rowid", (row["id"],)
    ))
    return row


def save_brief(conn: Any, row: dict[str, Any], bills: list[tuple[str, str]], *, keep_published: bool = False,
               audio_key: str | None = None, legacy_key: str | None = None) -> bool:
    """Insert or replace a brief row and its ``brief_bills`` in one transaction; True if written.

    ``row`` holds BRIEF_COLUMNS (JSON columns as Python values); ``bills`` is [(bill_id, section)].
    With ``keep_published`` a published brief already there is left as it is (returns False): a
    remake that failed or found nothing to say never replaces what listeners have.
    ``audio_key``: the storage object the row's ``audio_url`` names; in the same transaction it
    becomes the brief's live object and the one it replaces is retired (see ``audio_objects``);
    ``legacy_key``: where a brief published before objects were recorded kept its MP3 (retired too).
    Raises whatever the database raises; nothing is half-written.
    """
    values = dict(row)
    for key in ("policy_interests", "news", "costs"):
        values[key] = json.dumps(values.get(key) if values.get(key) is not None else ([] if key != "costs" else {}))
    stamp = now_iso()
    values.setdefault("created_at", stamp)
    values["updated_at"] = stamp
    cols = [c for c in BRIEF_COLUMNS]
    try:
        if keep_published:
            conn.execute("BEGIN IMMEDIATE")
            current = conn.execute("SELECT status FROM briefs WHERE id = ?", (values["id"],)).fetchall()
            if current and current[0][0] == "published":
                conn.rollback()
                return False
        if audio_key is not None and legacy_key is not None:
            _retire_legacy(conn, values["id"], audio_key, legacy_key, stamp)
        conn.execute(
            f"INSERT INTO briefs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            f"ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("id", "created_at")),
            tuple(values.get(c) for c in cols),
        )
        conn.execute("DELETE FROM brief_bills WHERE brief_id = ?", (values["id"],))
        for bill_id, section in bills:
            conn.execute(
                "INSERT INTO brief_bills (brief_id, bill_id, section) VALUES (?, ?, ?)",
                (values["id"], bill_id, section),
            )
        if audio_key is not None:
            _make_live(conn, values["id"], audio_key, stamp)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return True


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A brief row with its JSON columns as Python values (one shape for every reader)."""
    for key in ("policy_interests", "news", "costs"):
        row[key] = json.loads(row[key]) if row[key] else None
    return row


def list_briefs(conn: Any, brief_date: dt.date | None = None) -> list[dict[str, Any]]:
    """Brief rows (JSON columns decoded, as ``get_brief``) with ``bill_ids``, a comma-separated list."""
    sql = "SELECT b.*, (SELECT group_concat(bill_id, ',') FROM brief_bills WHERE brief_id = b.id) AS bill_ids FROM briefs b"
    params: tuple = ()
    if brief_date:
        sql += " WHERE brief_date = ?"
        params = (brief_date.isoformat(),)
    return [_decoded(r) for r in _rows(conn.execute(sql + " ORDER BY user_id, brief_date", params))]


def update_costs(conn: Any, costs_by_brief: dict[str, dict[str, Any]]) -> None:
    """Replace the ``costs`` of several briefs in one transaction."""
    try:
        for bid, costs in costs_by_brief.items():
            conn.execute("UPDATE briefs SET costs = ? WHERE id = ?", (json.dumps(costs), bid))
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def get_brief_by_id(conn: Any, brief_id_: str) -> dict[str, Any] | None:
    """The brief row with id ``brief_id_`` (``user:type:date``), JSON columns decoded, or None."""
    rows = _rows(conn.execute("SELECT * FROM briefs WHERE id = ?", (brief_id_,)))
    return _decoded(rows[0]) if rows else None


def published_briefs_since(conn: Any, user_id: str, since: dt.date) -> list[dict[str, Any]]:
    """A user's published briefs dated ``since`` or later, newest first (rows as ``get_brief_by_id``)."""
    rows = _rows(conn.execute(
        "SELECT * FROM briefs WHERE user_id = ? AND status = 'published' AND brief_date >= ? "
        "ORDER BY brief_date DESC, updated_at DESC", (user_id, since.isoformat())))
    return [_decoded(r) for r in rows]


def set_page_url(conn: Any, brief_id_: str, audio_url: str, page_url: str) -> bool:
    """Point the brief at its player page, if its row still has the MP3 the page plays; True if set."""
    try:
        cursor = conn.execute("UPDATE briefs SET page_url = ? WHERE id = ? AND audio_url = ?",
                              (page_url, brief_id_, audio_url))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return bool(cursor.rowcount)


# --- feeds -------------------------------------------------------------------------------------

def feed_token(conn: Any, user_id: str) -> str | None:
    rows = conn.execute("SELECT token FROM feeds WHERE user_id = ?", (user_id,)).fetchall()
    return rows[0][0] if rows else None


def save_feed_token(conn: Any, user_id: str, token: str, *, replace: bool) -> str:
    """Give the user ``token`` (``replace``: instead of the one they have; otherwise only when they
    have none) and return the token they now have."""
    try:
        conn.execute(
            "INSERT INTO feeds (user_id, token, created_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO "
            + ("UPDATE SET token = excluded.token, created_at = excluded.created_at, written_at = NULL"
               if replace else "NOTHING"), (user_id, token, now_iso()))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    current = feed_token(conn, user_id)
    assert current is not None
    return current


def mark_feed_written(conn: Any, user_id: str, token: str, stamp: str) -> None:
    """The feed of ``token`` was written with the briefs as they were at ``stamp``."""
    try:
        conn.execute("UPDATE feeds SET written_at = ? WHERE user_id = ? AND token = ?", (stamp, user_id, token))
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def published_since(conn: Any, user_id: str, stamp: str) -> bool:
    """Whether one of the user's briefs was published (saved) after ``stamp``."""
    return bool(conn.execute("SELECT 1 FROM briefs WHERE user_id = ? AND status = 'published' AND updated_at > ? LIMIT 1",
                             (user_id, stamp)).fetchall())


def stale_feed_users(conn: Any) -> list[str]:
    """Users whose feed was never written, or last written before one of their briefs was published."""
    rows = conn.execute(
        "SELECT f.user_id FROM feeds f WHERE f.written_at IS NULL OR EXISTS (SELECT 1 FROM briefs b "
        "WHERE b.user_id = f.user_id AND b.status = 'published' AND b.updated_at > f.written_at) ORDER BY f.user_id"
    ).fetchall()
    return [r[0] for r in rows]


# --- audio objects -----------------------------------------------------------------------------

class AudioObjectLostError(RuntimeError):
    """The object a row was about to point at is no longer on record (a sweep took it for an
    orphan): nothing was saved; publishing again uploads it again."""


def _retire_legacy(conn: Any, brief_id: str, key: str, legacy_key: str, stamp: str) -> None:
    """In the caller's transaction, before the row changes: a brief published before objects were
    recorded (its URL ends with the unversioned key) has that object retired, so it is removed too."""
    if conn.execute("SELECT 1 FROM audio_objects WHERE brief_id = ? AND key != ? LIMIT 1", (brief_id, key)).fetchall():
        return
    rows = conn.execute("SELECT audio_url FROM briefs WHERE id = ?", (brief_id,)).fetchall()
    if rows and rows[0][0] and rows[0][0].endswith("/" + legacy_key):
        conn.execute("INSERT OR IGNORE INTO audio_objects (key, brief_id, state, created_at, updated_at) "
                     "VALUES (?, ?, 'retired', ?, ?)", (legacy_key, brief_id, stamp, stamp))


def _make_live(conn: Any, brief_id: str, key: str, stamp: str) -> None:
    """In the caller's transaction: ``key`` (recorded before its upload) becomes the brief's live
    object, and the object it replaces is retired."""
    conn.execute("UPDATE audio_objects SET state = 'retired', updated_at = ? "
                 "WHERE brief_id = ? AND state = 'live' AND key != ?", (stamp, brief_id, key))
    made_live = conn.execute("UPDATE audio_objects SET state = 'live', updated_at = ? WHERE key = ? AND brief_id = ?",
                             (stamp, key, brief_id))
    if not made_live.rowcount:
        raise AudioObjectLostError(f"{key} is no longer recorded for {brief_id}; publish again")


@dataclass(frozen=True)
class AudioObject:
    """An MP3 object in storage that a brief put there (a row of ``audio_objects``)."""

    key: str
    brief_id: str
    state: Literal["uploading", "live", "retired"]
    updated_at: str


def record_upload(conn: Any, key: str, brief_id: str) -> None:
    """Note, before uploading it, that ``key`` is about to hold ``brief_id``'s MP3: a crash between the
    upload and the row leaves a trace to clean up. An object already live stays live (the same
    bytes made again)."""
    stamp = now_iso()
    try:
        conn.execute(
            "INSERT INTO audio_objects (key, brief_id, state, created_at, updated_at) VALUES (?, ?, 'uploading', ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at, "
            "state = CASE WHEN audio_objects.state = 'live' THEN 'live' ELSE 'uploading' END",
            (key, brief_id, stamp, stamp))
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def audio_objects(conn: Any, *, state: str | None = None, brief_id: str | None = None,
                  updated_before: dt.datetime | None = None) -> list[AudioObject]:
    clauses, params = [], []
    for column, value in (("state = ?", state), ("brief_id = ?", brief_id)):
        if value is not None:
            clauses.append(column)
            params.append(value)
    if updated_before is not None:
        clauses.append("updated_at < ?")
        params.append(updated_before.isoformat(timespec="microseconds"))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = _rows(conn.execute(f"SELECT key, brief_id, state, updated_at FROM audio_objects{where} ORDER BY key",
                              tuple(params)))
    return [AudioObject(**r) for r in rows]


def forget_audio_object(conn: Any, key: str, state: str) -> bool:
    """Drop the record of an object removed from storage, if it is still in ``state``; True if dropped."""
    try:
        cursor = conn.execute("DELETE FROM audio_objects WHERE key = ? AND state = ?", (key, state))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return bool(cursor.rowcount)


# --- day plans ---------------------------------------------------------------------------------

def get_day_plan(conn: Any, brief_type: BriefType, brief_date: dt.date) -> str | None:
    """The stored plan (JSON of ``civic_briefs.plan.DayPlan``) of that day and type, or None."""
    rows = conn.execute("SELECT plan FROM day_plans WHERE brief_type = ? AND brief_date = ?",
                        (brief_type, brief_date.isoformat())).fetchall()
    return rows[0][0] if rows else None


def save_day_plan(conn: Any, brief_type: BriefType, brief_date: dt.date, plan_json: str) -> None:
    stamp = now_iso()
    try:
        conn.execute(
            "INSERT INTO day_plans (brief_type, brief_date, plan, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (brief_type, brief_date) DO UPDATE SET plan = excluded.plan, updated_at = excluded.updated_at",
            (brief_type, brief_date.isoformat(), plan_json, stamp, stamp))
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def prune_day_plans(conn: Any, before: dt.datetime) -> int:
    """Remove plans last used before ``before`` (a backfilled past day keeps its fresh plan)."""
    try:
        cursor = conn.execute("DELETE FROM day_plans WHERE updated_at < ?", (before.isoformat(timespec="microseconds"),))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return cursor.rowcount if cursor.rowcount is not None else 0
