"""The written side of a brief: links for its digest (each bill's Congress.gov page, each news
item's source)."""

from __future__ import annotations

import re

from civic_briefs.models import Bill, NewsItem

# Congress.gov's path segment for each bill type, as in
# https://www.congress.gov/bill/117th-congress/house-bill/1315
CONGRESS_GOV_TYPES = {
    "hr": "house-bill", "s": "senate-bill",
    "hjres": "house-joint-resolution", "sjres": "senate-joint-resolution",
    "hconres": "house-concurrent-resolution", "sconres": "senate-concurrent-resolution",
    "hres": "house-resolution", "sres": "senate-resolution",
}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def congress_gov_url(congress: int, bill_type: str, number: int) -> str:
    """(117, "hr", 1315) -> "https://www.congress.gov/bill/117th-congress/house-bill/1315"."""
    kind = CONGRESS_GOV_TYPES.get(bill_type.lower())
    if kind is None:
        raise ValueError(f"unknown bill type {bill_type!r}: expected one of {', '.join(CONGRESS_GOV_TYPES)}")
    return f"https://www.congress.gov/bill/{_ordinal(congress)}-congress/{kind}/{number}"


def bill_url(bill: Bill) -> str:
    return congress_gov_url(bill.congress, bill.bill_type, bill.bill_number)


def link_bill(bullet: str, bill: Bill) -> str:
    """A digest bullet with the bill's label linked to its Congress.gov page (whoever wrote the
    bullet, it links: a label it lacks gets a link of its own at the end)."""
    url = bill_url(bill)
    if url in bullet:
        return bullet
    # The label itself, not the start of a longer one ("S. 31" in "S. 3157").
    label = re.compile(rf"(?<![\w.]){re.escape(bill.label)}(?!\d)")
    if label.search(bullet):
        return label.sub(f"[{bill.label}]({url})", bullet, count=1)
    return f"{bullet.rstrip()} ([{bill.label} on Congress.gov]({url}))"


def news_bullets(items: list[NewsItem]) -> str:
    """One markdown bullet per news item, linked to its source."""
    return "\n".join(f"- [{_text(item.title)}]({item.url})" + (f" ({item.source})" if item.source else "") for item in items)


def _text(title: str) -> str:
    # Brackets in a headline would end the link text early.
    return title.replace("[", "\\[").replace("]", "\\]")
