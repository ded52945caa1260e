"""Small builders for test records."""

from __future__ import annotations

import datetime as dt

from civic_briefs.models import Bill, User


def make_bill(number: int, policy_area: str = "Health", status: str = "introduced", latest: str = "2022-05-01",
              bill_type: str = "hr", **extra) -> Bill:
    values = dict(
        id=f"117-{bill_type}-{number}", congress=117, bill_type=bill_type, bill_number=number,
        title=f"Test Act number {number}", policy_area=policy_area, subjects=["Testing"],
        summary=f"This bill does thing {number}. It also does a second thing.",
        sponsor_name="Rep. Wild, Susan [D-PA-7]", sponsor_party="D", sponsor_state="PA",
        introduced_date=dt.date(2021, 3, 1), latest_action_date=dt.date.fromisoformat(latest),
        latest_action_text="Referred to the Committee on Testing.", status=status,
    )
    values.update(extra)
    return Bill(**values)


def make_user(user_id: str = "u1", interests=("healthcare",), name: str = "Ada Lovelace") -> User:
    return User(id=user_id, name=name, email=f"{user_id}@example.org", interests=list(interests))
