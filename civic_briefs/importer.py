"""Load bills into the database: GPO BILLSTATUS files, or the project's own demo sample.

Each good file is upserted and committed on its own, with its sponsor and cosponsors (the
``members`` and ``bill_sponsors`` rows) in the same transaction, so one bad file never costs the
others and a bill is never seen without its sponsorships; bad files are listed in the
``ImportReport`` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from civic_briefs import repo
from civic_briefs.billstatus import BillStatusError, parse_file
from civic_briefs.models import Bill, Sponsorship

Progress = Callable[[int], Any]
SAMPLE_RESOURCE = "sample_bills.json"


@dataclass(frozen=True)
class ImportFailure:
    """A file that was skipped: its name (as given or found) and why."""

    name: str
    error: str


@dataclass
class ImportReport:
    """Outcome of one import: ``imported`` bill ids in the order written, ``failed`` files skipped."""

    imported: list[str] = field(default_factory=list)
    failed: list[ImportFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed_names(self) -> list[str]:
        return [f.name for f in self.failed]


def xml_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand ``paths``: files as given, folders to every ``*.xml`` below them (sorted, recursive).

    Paths that do not exist are kept, so ``import_paths`` reports them instead of dropping them.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.xml") if p.is_file()))
        else:
            files.append(path)
    return files


def import_paths(conn: Any, paths: Iterable[str | Path], progress: Progress | None = None) -> ImportReport:
    """Parse BILLSTATUS files (or folders of them) and upsert each bill, committing per file.

    A file that cannot be parsed (``BillStatusError``: unreadable, malformed, unsafe, not
    BILLSTATUS v3) or does not exist is recorded in ``report.failed`` by name and skipped.
    Database errors are not a file's fault: they roll back that file and are raised.
    ``progress(1)`` is called after every file, good or bad (count files with ``xml_files``).
    """
    report = ImportReport()
    for path in xml_files(paths):
        try:
            if not path.is_file():
                raise BillStatusError(str(path), "no such file")
            parsed = parse_file(path)
        except BillStatusError as exc:
            report.failed.append(ImportFailure(name=path.name or str(path), error=str(exc)))
        else:
            _save(conn, parsed.bill, parsed.sponsorships)
            report.imported.append(parsed.bill.id)
        if progress:
            progress(1)
    return report


def load_sample_bills() -> list[Bill]:
    """The demo sample shipped in ``civic_briefs/data/sample_bills.json`` as ``Bill`` records.

    Facts come from real 117th-Congress BILLSTATUS records; the summaries are the project's own.
    """
    return [Bill.model_validate(item) for item in _sample()]


def load_sample_sponsorships() -> dict[str, list[Sponsorship]]:
    """The sample bills' sponsorships, by bill id: each bill's sponsor, and those of its cosponsors
    who are the demo users' own members of Congress (so the demo's listeners hear them named)."""
    return {item["id"]: [Sponsorship.model_validate({**s, "bill_id": item["id"]}) for s in item.get("sponsorships", [])]
            for item in _sample()}


def _sample() -> list[dict[str, Any]]:
    text = (resources.files("civic_briefs") / "data" / SAMPLE_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)["bills"]


def import_sample(conn: Any, progress: Progress | None = None) -> ImportReport:
    """Add the sample bills (see ``load_sample_bills``) that the database lacks, and commit.

    A bill already there (say, imported from its BILLSTATUS file) is kept as it is: the sample
    fills in, never replaces. Returns the ids written."""
    report = ImportReport()
    sponsorships = load_sample_sponsorships()
    for bill in load_sample_bills():
        if repo.get_bill(conn, bill.id) is None:
            _save(conn, bill, sponsorships.get(bill.id, []))
            report.imported.append(bill.id)
        if progress:
            progress(1)
    return report


def _save(conn: Any, bill: Bill, sponsorships: Iterable[Sponsorship]) -> None:
    try:
        repo.upsert_bill(conn, bill)
        repo.replace_sponsorships(conn, bill.id, sponsorships)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
