"""The interest taxonomy: interest ids users pick, mapped to Congress.gov policy areas.

Policy-area names are spelled exactly as Congress.gov spells them (note the comma in
"Civil Rights and Liberties, Minority Issues").
"""

from __future__ import annotations

from collections.abc import Iterable

INTEREST_POLICY_AREAS: dict[str, tuple[str, ...]] = {
    "healthcare": ("Health",),
    "education": ("Education",),
    "science": ("Science, Technology, Communications",),
    "technology": ("Science, Technology, Communications",),
    "climate": ("Environmental Protection", "Energy"),
    "economy": ("Economics and Public Finance", "Labor and Employment"),
    "business": ("Commerce", "Foreign Trade and International Finance"),
    "taxes": ("Taxation", "Economics and Public Finance"),
    "immigration": ("Immigration",),
    "housing": ("Housing and Community Development",),
    "defense": ("Armed Forces and National Security",),
    "transportation": ("Transportation and Public Works",),
    "agriculture": ("Agriculture and Food",),
    "social": ("Social Welfare", "Families"),
    "civil-rights": ("Civil Rights and Liberties, Minority Issues", "Crime and Law Enforcement"),
}

# How the hosts say an interest aloud.
INTEREST_NAMES: dict[str, str] = {
    "healthcare": "health care",
    "education": "education",
    "science": "science",
    "technology": "technology",
    "climate": "climate and energy",
    "economy": "the economy",
    "business": "business and trade",
    "taxes": "taxes",
    "immigration": "immigration",
    "housing": "housing",
    "defense": "defense",
    "transportation": "transportation",
    "agriculture": "agriculture and food",
    "social": "social programs and families",
    "civil-rights": "civil rights and justice",
}


class UnknownInterestError(ValueError):
    """One or more interest ids are not in the taxonomy."""

    def __init__(self, unknown: Iterable[str]):
        self.unknown = sorted(set(unknown))
        known = ", ".join(sorted(INTEREST_POLICY_AREAS))
        super().__init__(f"Unknown interest id(s): {', '.join(self.unknown)}. Known interests: {known}")


def validate_interests(interests: Iterable[str]) -> list[str]:
    """Return the interests de-duplicated in their given order; raise UnknownInterestError naming unknown ids."""
    interests = list(dict.fromkeys(interests))
    unknown = [i for i in interests if i not in INTEREST_POLICY_AREAS]
    if unknown:
        raise UnknownInterestError(unknown)
    return interests


def policy_areas_for(interests: Iterable[str]) -> dict[str, str]:
    """Map each policy area to the first of ``interests`` that asks for it."""
    areas: dict[str, str] = {}
    for interest in validate_interests(interests):
        for area in INTEREST_POLICY_AREAS[interest]:
            areas.setdefault(area, interest)
    return areas
