"""Turning bill data into words a host can say: sponsors, dates, bill numbers, statuses."""

from __future__ import annotations

import datetime as dt
import re

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "the District of Columbia", "PR": "Puerto Rico", "GU": "Guam", "VI": "the Virgin Islands",
    "AS": "American Samoa", "MP": "the Northern Mariana Islands",
}
PARTIES = {"D": "Democrat", "R": "Republican", "I": "independent", "ID": "independent", "L": "Libertarian"}
TITLES = {
    "Rep.": "Representative", "Sen.": "Senator", "Del.": "Delegate",
    "Resident Commissioner": "Resident Commissioner",
}

# "Rep. Wild, Susan [D-PA-7]" / "Sen. Braun, Mike [R-IN]" / "Rep. Scott, David [D-GA-13]"
_SPONSOR = re.compile(
    r"^(?P<title>Rep\.|Sen\.|Del\.|Resident Commissioner)\s+(?P<last>[^,]+),\s*(?P<first>[^\[]+?)\s*"
    r"(?:\[(?P<party>[A-Z]+)-(?P<state>[A-Z]{2})(?:-(?P<district>[A-Za-z0-9]+))?\])?\s*$"
)


def spoken_sponsor(name: str | None, party: str | None = None, state: str | None = None) -> str:
    """ "Rep. Wild, Susan [D-PA-7]" -> "Representative Susan Wild, a Democrat from Pennsylvania"."""
    if not name:
        return "an unnamed sponsor"
    match = _SPONSOR.match(name.strip())
    if not match:
        return name.strip()
    title = TITLES[match["title"]]
    first = re.sub(r"\s+[A-Z]\.$", "", match["first"].strip())  # drop a trailing middle initial
    person = f"{title} {first} {match['last'].strip()}"
    party_word = PARTIES.get(party or match["party"] or "")
    state_name = STATES.get(state or match["state"] or "")
    if party_word and state_name:
        article = "an" if party_word[0].lower() in "aeiou" else "a"
        return f"{person}, {article} {party_word} from {state_name}"
    if state_name:
        return f"{person} of {state_name}"
    return person


def spoken_date(day: dt.date | None) -> str:
    """2021-03-04 -> "March 4, 2021"."""
    if day is None:
        return "an unrecorded date"
    return f"{day:%B} {day.day}, {day.year}"


def spoken_weekday_date(day: dt.date) -> str:
    return f"{day:%A}, {day:%B} {day.day}"


def spoken_label(label: str) -> str:
    """ "H.R. 3684" -> "H.R. 3684" stays readable; speech engines read it letter by letter."""
    return label


def congress_for(day: dt.date) -> int:
    """The Congress in session on ``day``: the 119th runs from January 3, 2025 to January 3, 2027."""
    year = day.year - (1 if (day.month, day.day) < (1, 3) else 0)
    return (year - 1789) // 2 + 1


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


STATUS_PHRASES = {
    "enacted": "was signed into law",
    "vetoed": "was vetoed by the President",
    "passed_both": "has passed both the House and the Senate",
    "passed_house": "has passed the House",
    "passed_senate": "has passed the Senate",
    "in_committee": "is in committee",
    "introduced": "has been introduced",
}


def status_phrase(status: str) -> str:
    return STATUS_PHRASES.get(status, "is pending")


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
# A full stop after these is not the end of a sentence ("the U.S. Parole Commission").
_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Z]\.)+|\b(?:No|Nos|Mr|Mrs|Ms|Dr|St|Jr|Sr|Inc|Co|Corp|Dept|Gov|Sen|Rep|Sec|vs|etc|e\.g|i\.e|Jan|Feb|Mar|Apr|"
    r"Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.)$")


def sentences(text: str) -> list[str]:
    """Split plain text into sentences (paragraph breaks also end a sentence)."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text or ""):
        paragraph = " ".join(paragraph.replace("- ", "").split())
        pieces: list[str] = []
        for piece in (s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()):
            if pieces and _ABBREVIATION.search(pieces[-1]):
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
        out.extend(pieces)
    return out
