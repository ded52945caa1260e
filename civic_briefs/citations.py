"""Finding bill citations in text, so a script can be checked to name only the bills it was given.

Recognises numbers as people write them ("H.R. 3684", "HR 3684", "S. 1251", "H.J.Res. 7",
"S.Con.Res. 4") and project ids ("117-hr-3684").
"""

from __future__ import annotations

import re

_TYPE_PATTERNS = {
    "hconres": r"H\.?\s?Con\.?\s?Res\.?",
    "sconres": r"S\.?\s?Con\.?\s?Res\.?",
    "hjres": r"H\.?\s?J\.?\s?Res\.?",
    "sjres": r"S\.?\s?J\.?\s?Res\.?",
    "hres": r"H\.?\s?Res\.?",
    "sres": r"S\.?\s?Res\.?",
    "hr": r"H\.?\s?R\.?",
    "s": r"S\.",
}
_CITATION = re.compile(
    r"(?<![A-Za-z0-9.])(?:"
    + "|".join(f"(?P<{t}>{p})" for t, p in _TYPE_PATTERNS.items())
    + r")\s?(?P<number>\d{1,5})\b",
    re.IGNORECASE,
)
_ID = re.compile(r"\b(?P<congress>\d{2,3})-(?P<type>hconres|sconres|hjres|sjres|hres|sres|hr|s)-(?P<number>\d{1,5})\b", re.I)


def cited_bills(text: str) -> set[tuple[str, int]]:
    """Every (bill_type, bill_number) named in ``text``, types lower case."""
    found: set[tuple[str, int]] = set()
    for match in _CITATION.finditer(text):
        bill_type = next(t for t in _TYPE_PATTERNS if match.group(t))
        found.add((bill_type, int(match["number"])))
    for match in _ID.finditer(text):
        found.add((match["type"].lower(), int(match["number"])))
    return found

