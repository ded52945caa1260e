"""govinfo's bulk data sitemaps (the sitemaps.org 0.9 format): an index of per-congress-and-type
sitemaps, each listing files with their ``<lastmod>``.

    https://www.govinfo.gov/sitemap/bulkdata/BILLSTATUS/sitemapindex.xml
        <sitemapindex><sitemap><loc>.../sitemap/bulkdata/BILLSTATUS/118hr/sitemap.xml</loc><lastmod>...
    https://www.govinfo.gov/sitemap/bulkdata/BILLSTATUS/118hr/sitemap.xml
        <urlset><url><loc>.../bulkdata/BILLSTATUS/118/hr/BILLSTATUS-118hr1.xml</loc><lastmod>...

XML is read with ``defusedxml``. Only the path of each ``<loc>`` is kept: files are fetched from
the configured base URL, never from a host a sitemap names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

INDEX_PATH = "/sitemap/bulkdata/BILLSTATUS/sitemapindex.xml"
_SITEMAP_PATH = re.compile(r"/sitemap/bulkdata/BILLSTATUS/(?P<congress>\d{2,3})(?P<type>[a-z]+)/sitemap\.xml")
FILES_PREFIX = "/bulkdata/BILLSTATUS/"


def sitemap_path(congress: int, bill_type: str) -> str:
    return f"/sitemap/bulkdata/BILLSTATUS/{congress}{bill_type}/sitemap.xml"


class SitemapError(ValueError):
    """A sitemap is not the XML it should be; the message names it."""


@dataclass(frozen=True)
class Entry:
    """A ``<sitemap>`` or ``<url>`` element: the path of its ``<loc>`` and its ``<lastmod>`` (None
    when it has none or it is not a date)."""

    path: str
    lastmod: dt.datetime | None


@dataclass(frozen=True)
class SitemapRef:
    congress: int
    bill_type: str
    lastmod: dt.datetime | None


def parse_lastmod(text: str | None) -> dt.datetime | None:
    """A W3C datetime (``2023-01-12T18:10:49.417Z``, or a bare date) as an aware UTC datetime."""
    if not text or not text.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def entries(data: bytes, name: str, element: str) -> list[Entry]:
    """The ``<element>`` entries (``sitemap`` for an index, ``url`` for a sitemap) of ``data``."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise SitemapError(f"{name}: not a readable sitemap ({type(exc).__name__}: {exc})") from exc
    expected = "sitemapindex" if element == "sitemap" else "urlset"
    if _local(root.tag) != expected:
        raise SitemapError(f"{name}: root element is <{_local(root.tag)}>, expected <{expected}>")
    found = []
    for child in root:
        if _local(child.tag) != element:
            continue
        fields = {_local(c.tag): (c.text or "").strip() for c in child}
        if fields.get("loc"):
            found.append(Entry(path=urlsplit(fields["loc"]).path, lastmod=parse_lastmod(fields.get("lastmod"))))
    return found


def sitemap_refs(data: bytes) -> list[SitemapRef]:
    """The per-congress-and-type sitemaps an index lists (other entries are ignored)."""
    refs = []
    for entry in entries(data, "sitemapindex.xml", "sitemap"):
        match = _SITEMAP_PATH.fullmatch(entry.path)
        if match:
            refs.append(SitemapRef(int(match["congress"]), match["type"], entry.lastmod))
    return refs


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
