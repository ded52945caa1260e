"""Demo data: the project's own users, kept as data in ``data/demo_users.json``."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from civic_briefs import repo
from civic_briefs.interests import validate_interests
from civic_briefs.models import User


def demo_users() -> list[User]:
    """The demo users; their interests are validated against the taxonomy."""
    raw = json.loads((resources.files("civic_briefs") / "data" / "demo_users.json").read_text(encoding="utf-8"))
    users = [User(**item) for item in raw]
    for user in users:
        validate_interests(user.interests)
    return users


def add_demo_users(conn: Any) -> list[User]:
    users = demo_users()
    for user in users:
        repo.upsert_user(conn, user)
    conn.commit()
    return users
