"""Typed records of a sync: the files a source lists, what happened to each, and the run's report."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["new", "changed", "unchanged", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("new", "changed", "unchanged", "failed")

# govinfo's layout below bulkdata/BILLSTATUS/: {congress}/{type}/BILLSTATUS-{congress}{type}{number}.xml
_FILE_PATH = re.compile(r"(?P<congress>\d{2,3})/(?P<type>[a-z]+)/BILLSTATUS-(?P=congress)(?P=type)(?P<number>\d+)\.xml")


class BulkFile(BaseModel):
    """One BILLSTATUS file a sitemap lists: its path below ``bulkdata/BILLSTATUS/`` and its lastmod."""

    path: str = Field(description="e.g. `118/hr/BILLSTATUS-118hr1234.xml`")
    lastmod: dt.datetime

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def bill_id(self) -> str:
        """The id the importer gives the bill in this file, e.g. ``118-hr-1234``."""
        match = _FILE_PATH.fullmatch(self.path)
        assert match, self.path  # paths are checked by file_path() before a BulkFile is made
        return f"{int(match['congress'])}-{match['type']}-{int(match['number'])}"

    @property
    def sort_key(self) -> tuple[dt.datetime, str]:
        return self.lastmod, self.path


def file_path(path: str, congress: int, bill_type: str) -> str | None:
    """``path`` if it is a BILLSTATUS file of that congress and type in govinfo's layout, else None."""
    match = _FILE_PATH.fullmatch(path)
    if not match or int(match["congress"]) != congress or match["type"] != bill_type:
        return None
    return path


class FileResult(BaseModel):
    """What one file (or a sitemap that could not be read) came to; ``reason`` says why it failed.
    A ``permanent`` failure (a 404, a malformed file) is not tried again until the source changes it."""

    name: str
    outcome: Outcome
    bill_id: str | None = None
    reason: str | None = None
    permanent: bool = False
    lastmod: dt.datetime | None = None


class Listing(BaseModel):
    """What a source lists as changed after its watermark, oldest first.

    ``pending`` are to be downloaded; ``resumed`` were done by an earlier run that stopped before
    the watermark passed them (same lastmod), so they are not downloaded again. ``complete`` is
    False when a sitemap could not be read: then the watermark must not move (files in that sitemap
    are not known), and ``problems`` names it."""

    source: str
    congress: int
    watermark: dt.datetime | None
    pending: list[BulkFile] = Field(default_factory=list)
    resumed: list[BulkFile] = Field(default_factory=list)
    complete: bool = True
    problems: list[FileResult] = Field(default_factory=list)
    requests: int = 0


class SyncReport(BaseModel):
    """One source's sync: a result per file it downloaded (and per sitemap it could not read)."""

    source: str
    congress: int
    watermark_before: dt.datetime | None
    watermark_after: dt.datetime | None
    results: list[FileResult] = Field(default_factory=list)
    resumed: int = Field(default=0, description="files an earlier run had done, not downloaded again")
    requests: int = 0

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.outcome for r in self.results)
        return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.outcome == "failed"]


def summary(reports: list[SyncReport]) -> str:
    """"12 files: 3 new, 2 changed, 6 unchanged, 1 failed" over all the reports."""
    totals = Counter[str]()
    for report in reports:
        totals.update(report.counts)
    files = sum(totals.values())
    parts = ", ".join(f"{totals.get(o, 0)} {o}" for o in OUTCOMES)
    return f"{files} file{'s' if files != 1 else ''}: {parts}"


def current_congress(today: dt.date) -> int:
    """The Congress sitting on ``today``: the 1st met in 1789, each one starts on 3 January of an odd year."""
    year = today.year
    if year % 2 == 1 and (today.month, today.day) < (1, 3):
        year -= 1
    return (year - 1789) // 2 + 1
