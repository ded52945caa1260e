"""Where a listener lives, as Congress counts it: a USPS state or territory code and a district.

The codes are those with a seat in Congress: the 50 states, the District of Columbia and the five
territories with a delegate or resident commissioner. A district is a whole number from 0 to 53
(California had 53 seats from 2013 to 2023, the most any state has had): 0 is an at-large seat,
the only seat of the states and territories in ``AT_LARGE`` (one seat under both the 2010 and the
2020 apportionment), and there "at-large" means 0. A district needs a state.
"""

from __future__ import annotations

import re

from civic_briefs.spoken import STATES as STATE_NAMES

STATE_CODES = frozenset(STATE_NAMES)
# No senators: a listener here has only their delegate (or, in Puerto Rico, resident commissioner).
NO_SENATE = frozenset({"DC", "PR", "GU", "VI", "AS", "MP"})
AT_LARGE = frozenset({"AK", "DE", "ND", "SD", "VT", "WY"}) | NO_SENATE
MAX_DISTRICT = 53
_AT_LARGE_WORDS = {"at-large", "at large", "atlarge"}
_DIGITS = re.compile(r"[0-9]{1,3}")


class InvalidHomeError(ValueError):
    """A state or district breaks a rule; ``parameter`` names which ("state" or "district")."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


def check_state(value: object) -> str:
    """A USPS code of a state or territory with a seat in Congress, upper-cased ("wa" -> "WA")."""
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in STATE_CODES:
        raise InvalidHomeError("state", f"state must be a USPS code of a state or territory (e.g. WA, NY, DC, PR), "
                                        f"not {value!r}")
    return code  # type: ignore[return-value]


def check_district(value: object, state: str | None) -> int | None:
    """The district in ``state`` (checked already): None when empty, 0 for "at-large", else 0 to 53;
    an at-large state or territory takes only 0."""
    if value is None or value == "":
        return None
    if state is None:
        raise InvalidHomeError("district", f"district {value!r} needs a state: give the state first")
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _AT_LARGE_WORDS:
            number = 0
        elif _DIGITS.fullmatch(text):
            number = int(text)
    if number is None or not 0 <= number <= MAX_DISTRICT:
        raise InvalidHomeError("district", f"district must be a whole number from 0 to {MAX_DISTRICT} (0 or "
                                           f"\"at-large\" for an at-large seat), not {value!r}")
    if state in AT_LARGE and number != 0:
        raise InvalidHomeError("district", f"{state} has one at-large seat in the House: its district is 0 (or "
                                           f"\"at-large\"), not {number}")
    if state not in AT_LARGE and number == 0 and state != "MT":
        # Montana was at-large until 2023; every other state has numbered districts.
        raise InvalidHomeError("district", f"{state} has numbered districts (from 1): 0 is for at-large seats")
    return number


def check_home(state: object, district: object = None) -> tuple[str | None, int | None]:
    """(state, district), both checked; (None, None) when neither is given."""
    if state is None or state == "":
        if district is None or district == "":
            return None, None
        raise InvalidHomeError("district", f"district {district!r} needs a state: give the state first")
    code = check_state(state)
    return code, check_district(district, code)
