import shutil

import pytest

from civic_briefs import db, repo
from civic_briefs.settings import Settings
from tests.factories import make_bill, make_user

# The migrations the package ships, by name, in order.
SHIPPED = sorted(p.name.removesuffix(".sql") for p in (db.resources.files("civic_briefs") / "migrations").iterdir()
                 if p.name.endswith(".sql"))


def test_migrations_apply_once_and_upgrade_in_place(tmp_path):
    settings = Settings(database_url=str(tmp_path / "nested" / "x.db"))
    assert SHIPPED[:2] == ["0001_initial", "0002_day_plans"]
    assert db.init_db(settings) == SHIPPED
    assert db.init_db(settings) == []
    with db.connection(settings) as conn:
        repo.upsert_user(conn, make_user())
        conn.commit()
        folder = tmp_path / "migrations"
        shutil.copytree(db.resources.files("civic_briefs") / "migrations", folder)
        (folder / "9999_add_locale.sql").write_text("ALTER TABLE users ADD COLUMN locale TEXT DEFAULT 'en-US';")
        assert db.migrate(conn, folder) == ["9999_add_locale"]
        assert conn.execute("SELECT id, locale FROM users").fetchall() == [("u1", "en-US")]
        assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()] == [
            *SHIPPED, "9999_add_locale"]


def test_failed_migration_is_rolled_back(tmp_path):
    settings = Settings(database_url=str(tmp_path / "x.db"))
    folder = tmp_path / "migrations"
    shutil.copytree(db.resources.files("civic_briefs") / "migrations", folder)
    (folder / "9999_broken.sql").write_text("CREATE TABLE extra (x INTEGER); ALTER TABLE nowhere ADD COLUMN y;")
    with db.connection(settings) as conn:
        with pytest.raises(Exception, match="nowhere"):
            db.migrate(conn, folder)
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()]
        assert sorted(names) == SHIPPED
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchall() == [(0,)]


def test_unknown_user_is_named(conn):
    with pytest.raises(repo.UnknownUserError, match="'nobody'"):
        repo.get_user(conn, "nobody")


def test_bill_and_brief_round_trip(conn):
    bill = make_bill(42, subjects=["Medicare", "Rural health"])
    repo.upsert_bill(conn, bill)
    repo.upsert_user(conn, make_user())
    conn.commit()
    stored = repo.get_bill(conn, "117-hr-42")
    assert stored.model_dump(exclude={"updated_at"}) == bill.model_dump(exclude={"updated_at"})
    row = {"id": "u1:daily:2026-11-30", "user_id": "u1", "brief_type": "daily", "brief_date": "2026-11-30",
           "status": "published", "headline": "H", "costs": {"total_dollars": "0"}, "policy_interests": ["healthcare"]}
    repo.save_brief(conn, row, [("117-hr-42", "top_story")])
    import datetime as dt
    brief = repo.get_brief(conn, "u1", "daily", dt.date(2026, 11, 30))
    assert brief["policy_interests"] == ["healthcare"] and brief["costs"] == {"total_dollars": "0"}
    assert brief["bills"] == [{"bill_id": "117-hr-42", "section": "top_story"}]


def test_save_brief_is_all_or_nothing(conn):
    repo.upsert_user(conn, make_user())
    conn.commit()
    row = {"id": "u1:daily:2026-11-30", "user_id": "u1", "brief_type": "daily", "brief_date": "2026-11-30",
           "status": "published"}
    # The bill does not exist: the foreign key fails, and the brief row must not stay behind.
    with pytest.raises(ValueError, match="FOREIGN KEY"):
        repo.save_brief(conn, row, [("117-hr-999", "top_story")])
    assert conn.execute("SELECT count(*) FROM briefs").fetchall() == [(0,)]


def test_transient_remote_errors_reconnect_and_retry(tmp_path):
    settings = Settings(database_url=str(tmp_path / "x.db"))
    db.init_db(settings)
    connections = []

    def work(conn):
        connections.append(conn)
        if len(connections) == 1:
            raise RuntimeError("Hrana: `stream error: STREAM_EXPIRED`")
        return conn.execute("SELECT count(*) FROM users").fetchall()

    assert db.run_with_reconnect(work, settings) == [(0,)]
    assert len(connections) == 2 and connections[0] is not connections[1]


def test_other_errors_are_not_retried(tmp_path):
    settings = Settings(database_url=str(tmp_path / "x.db"))
    calls = []

    def work(conn):
        calls.append(1)
        raise ValueError("no such table: nowhere")

    with pytest.raises(ValueError, match="nowhere"):
        db.run_with_reconnect(work, settings)
    assert calls == [1]
