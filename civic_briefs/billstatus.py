"""Parse GPO BILLSTATUS XML (schema version 3) into ``Bill`` records.

The files are those GPO publishes at govinfo.gov/bulkdata/BILLSTATUS/{congress}/{type}/
``BILLSTATUS-{congress}{type}{number}.xml``: a ``<billStatus>`` root holding ``<version>3.x</version>``
and one ``<bill>``. XML is read with ``defusedxml``, so DTD entity tricks (billion laughs, external
entities) are refused as a ``BillStatusError`` instead of being expanded.

Size is capped, so one absurd file cannot take the importer's memory or end up in every brief's
plan: a file larger than ``MAX_FILE_BYTES`` is refused before it is read, only the parts of the
document the parser uses are kept while it is read (committees, amendments, related bills and the
like are skipped), and a text field longer than its cap is counted, not kept, and refused by name.
The caps are far above anything real: the largest of 56 real 117th-Congress files is 216 KB, its
longest CRS summary 11,848 characters, its longest stored title 71 and latest action 201; the
biggest files GPO publishes (defense authorizations, omnibus bills) are a few MB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import CData, PreformattedString
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from pydantic import ValidationError

from civic_briefs.models import Bill, BillStatus, Chamber, Member, Sponsor, Sponsorship

SUPPORTED_MAJOR_VERSION = "3"
BILL_TYPES = frozenset({"hr", "s", "hjres", "sjres", "hconres", "sconres", "hres", "sres"})

MAX_FILE_BYTES = 64 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
# The children of <bill> the parser reads; the others are skipped as the file is read.
READ_PARTS = frozenset({"congress", "type", "number", "title", "policyArea", "subjects", "summaries", "sponsors",
                        "introducedDate", "latestAction", "actions", "laws", "cosponsors"})
# Elements kept from those parts (the most in a real file here: 3,209).
MAX_ELEMENTS = 200_000
# Characters, by path below <billStatus>: (the field's name in the bills table, its cap).
FIELD_CAPS: dict[str, tuple[str, int]] = {
    "bill/title": ("title", 10_000),
    "bill/summaries/summary/text": ("summary", 500_000),
    "bill/latestAction/text": ("latest_action_text", 10_000),
    "bill/policyArea/name": ("policy_area", 1_000),
    "bill/subjects/policyArea/name": ("policy_area", 1_000),
    "bill/subjects/legislativeSubjects/item/name": ("subjects", 1_000),
    "bill/sponsors/item/fullName": ("sponsor_name", 1_000),
}
# Any other text the parser keeps (the longest in a real file here: an action's 607 characters).
OTHER_TEXT_CAP = 100_000
MAX_SUBJECTS = 2_000


class BillStatusError(ValueError):
    """A file is not a readable BILLSTATUS (v3) document; the message names the file and the reason."""

    def __init__(self, source: str, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"{source}: {reason}")
        self.source = source
        self.reason = reason


class FieldTooLongError(BillStatusError):
    """A field of the bill is longer than its cap: "bill 117-hr-1234 in FILE: field `summary` is ..."."""

    def __init__(self, source: str, bill_id: str | None, field: str, size: int, cap: int, unit: str = "characters"):
        reason = f"field `{field}` is {size:,} {unit}, the cap is {cap:,}"
        where = f"bill {bill_id} in {source}" if bill_id else source
        super().__init__(source, reason, f"{where}: {reason}")
        self.bill_id, self.field, self.size, self.cap = bill_id, field, size, cap


class Action(NamedTuple):
    """One entry of ``<bill><actions>``: date, type (e.g. "Floor"), action code (may be None), text."""

    date: dt.date | None
    type: str
    code: str | None
    text: str


@dataclass(frozen=True)
class ParsedBill:
    """What a BILLSTATUS file yields: the ``Bill`` row plus facts the ``bills`` table does not keep.

    ``cosponsors_count`` counts current cosponsors (withdrawn ones left out, 0 when there is no list);
    ``summary_version`` is the chosen CRS summary's action description (e.g. "Public Law") and
    ``summary_date`` its action date; ``public_laws`` are numbers like "117-158";
    ``sponsorships`` its sponsor and every cosponsor, withdrawn ones too (with their
    ``withdrawn`` date: they do not count, but the record keeps them).
    """

    bill: Bill
    sponsor: Sponsor | None
    cosponsors_count: int
    summary_version: str | None
    summary_date: dt.date | None
    public_laws: tuple[str, ...]
    actions: tuple[Action, ...]
    sponsorships: tuple[Sponsorship, ...] = ()

    @property
    def current_sponsorships(self) -> tuple[Sponsorship, ...]:
        return tuple(s for s in self.sponsorships if s.current)


# --- entry points ------------------------------------------------------------------------------

def parse_file(path: str | Path) -> ParsedBill:
    """Parse one BILLSTATUS file.

    Raises ``BillStatusError`` (naming the file) when it cannot be read, is not well-formed XML,
    declares entities, is not a version 3 BILLSTATUS document, or lacks a required field.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BillStatusError(path.name, f"the file is {size:,} bytes, the cap is {MAX_FILE_BYTES:,} bytes")
        with path.open("rb") as file:
            root, target = _read_xml(iter(lambda: file.read(READ_CHUNK_BYTES), b""), path.name)
    except OSError as exc:
        raise BillStatusError(path.name, f"cannot read file: {exc.strerror or exc}") from exc
    return _parse_document(root, target, path.name)


def parse_billstatus(data: bytes | str, source: str = "<BILLSTATUS>") -> ParsedBill:
    """Parse BILLSTATUS XML text or bytes; ``source`` names it in errors. Raises ``BillStatusError``."""
    if len(data) > MAX_FILE_BYTES:
        raise BillStatusError(source, f"the document is {len(data):,} bytes, the cap is {MAX_FILE_BYTES:,} bytes")
    root, target = _read_xml([data], source)
    return _parse_document(root, target, source)


def _parse_document(root: Element, target: _CappedTarget, source: str) -> ParsedBill:
    bill_el = _check_document(root, source)
    if target.too_long:
        field, size, cap = target.too_long
        raise FieldTooLongError(source, _bill_id(bill_el), field, size, cap)
    try:
        return _parse_bill(bill_el, source)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, BillStatusError):
            raise
        raise BillStatusError(source, f"invalid value: {exc}") from exc


# --- reading, within the caps ------------------------------------------------------------------

def _read_xml(chunks: Iterable[bytes | str], source: str) -> tuple[Element, _CappedTarget]:
    target = _CappedTarget(source)
    parser = DefusedXMLParser(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    try:
        for chunk in chunks:
            parser.feed(chunk)
        return parser.close(), target
    except DefusedXmlException as exc:
        raise BillStatusError(source, f"refused unsafe XML ({type(exc).__name__}: {exc})") from exc
    except ParseError as exc:
        raise BillStatusError(source, f"malformed XML: {exc}") from exc


class _CappedTarget:
    """The XML parser's target: a ``TreeBuilder`` handed only the parts of the document in
    ``READ_PARTS`` and, of a text longer than its cap, only the first cap's worth (the rest is
    counted, so the error can say how long it was). The first field over its cap is kept in
    ``too_long`` and refused once the bill's id has been read."""

    def __init__(self, source: str):
        self.source = source
        self.too_long: tuple[str, int, int] | None = None
        self._builder = TreeBuilder()
        self._path: list[str] = []
        self._skipped = 0  # depth inside a skipped part
        self._elements = 0
        self._text = 0  # characters of the current run of text

    # The parser's target interface.

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self._end_text()
        self._path.append(tag)
        if self._skipped or not self._read(self._path):
            self._skipped += 1
            return
        self._elements += 1
        if self._elements > MAX_ELEMENTS:
            raise BillStatusError(self.source, f"more than {MAX_ELEMENTS:,} elements in the parts of <bill> "
                                               "that are read, the cap")
        self._builder.start(tag, attrs)

    def end(self, tag: str) -> None:
        self._end_text()
        self._path.pop()
        if self._skipped:
            self._skipped -= 1
            return
        self._builder.end(tag)

    def data(self, text: str) -> None:
        if self._skipped:
            return
        keep = self._cap()[1] - self._text
        self._text += len(text)
        if keep > 0:
            self._builder.data(text[:keep])

    def close(self) -> Element:
        self._end_text()
        return self._builder.close()

    @staticmethod
    def _read(path: list[str]) -> bool:
        if len(path) == 2:
            return path[1] in ("version", "bill")
        return len(path) != 3 or path[1] != "bill" or path[2] in READ_PARTS

    def _cap(self) -> tuple[str, int]:
        where = "/".join(self._path[1:])
        return FIELD_CAPS.get(where, (where.removeprefix("bill/"), OTHER_TEXT_CAP))

    def _end_text(self) -> None:
        if not self._skipped and self._text:
            field, cap = self._cap()
            if self._text > cap and self.too_long is None:
                self.too_long = (field, self._text, cap)
        self._text = 0


def _bill_id(el: Element) -> str | None:
    """``117-hr-1234`` when the bill names its congress, type and number (for error messages)."""
    parts = [_text(el, name) for name in ("congress", "type", "number")]
    return "-".join(p.lower() for p in parts) if all(parts) else None  # type: ignore[union-attr]


# --- document checks ---------------------------------------------------------------------------


def _check_document(root: Element, source: str) -> Element:
    if root.tag != "billStatus":
        raise BillStatusError(source, f"not a BILLSTATUS document (root element is <{root.tag}>, expected <billStatus>)")
    version = (root.findtext("version") or "").strip()
    if version.split(".")[0] != SUPPORTED_MAJOR_VERSION:
        found = repr(version) if version else "missing"
        raise BillStatusError(source, f"unsupported BILLSTATUS schema version {found} (expected 3.x)")
    bill_el = root.find("bill")
    if bill_el is None:
        raise BillStatusError(source, "not a BILLSTATUS document (no <bill> element)")
    return bill_el


def _required(el: Element, path: str, source: str) -> str:
    value = _text(el, path)
    if not value:
        raise BillStatusError(source, f"missing required <{path}> in <bill>")
    return value


def _text(el: Element, path: str) -> str | None:
    value = el.findtext(path)
    value = value.strip() if value else ""
    return value or None


def _date(value: str | None) -> dt.date | None:
    """``2021-04-20`` or ``2021-04-20T21:49:18Z`` -> date; None stays None. Raises ValueError."""
    return dt.date.fromisoformat(value[:10]) if value else None


# --- the bill ----------------------------------------------------------------------------------

def _parse_bill(el: Element, source: str) -> ParsedBill:
    congress = int(_required(el, "congress", source))
    bill_type = _required(el, "type", source).lower()
    if bill_type not in BILL_TYPES:
        raise BillStatusError(source, f"unknown bill type {bill_type!r}")
    number = int(_required(el, "number", source))
    sponsor = _sponsor(el)
    summary = _latest_summary(el)
    summary_text = html_to_text(summary.findtext("text") or "") if summary is not None else ""
    actions = tuple(_actions(el))
    laws = tuple(
        n for n in (_text(item, "number") for item in el.findall("laws/item")) if n
    )
    bill = Bill(
        id=f"{congress}-{bill_type}-{number}",
        congress=congress,
        bill_type=bill_type,
        bill_number=number,
        title=_required(el, "title", source),
        policy_area=_text(el, "policyArea/name") or _text(el, "subjects/policyArea/name"),
        subjects=_subjects(el, source),
        summary=summary_text or None,
        sponsor_name=sponsor.name if sponsor else None,
        sponsor_party=sponsor.party if sponsor else None,
        sponsor_state=sponsor.state if sponsor else None,
        introduced_date=_date(_text(el, "introducedDate")),
        latest_action_date=_date(_text(el, "latestAction/actionDate")),
        latest_action_text=_text(el, "latestAction/text"),
        status=derive_status(actions, enacted=bool(laws)),
    )
    return ParsedBill(
        bill=bill,
        sponsor=sponsor,
        cosponsors_count=sum(1 for c in el.findall("cosponsors/item") if not _text(c, "sponsorshipWithdrawnDate")),
        summary_version=_text(summary, "actionDesc") if summary is not None else None,
        summary_date=_date(_text(summary, "actionDate")) if summary is not None else None,
        public_laws=laws,
        actions=actions,
        sponsorships=_sponsorships(el, bill),
    )


def _subjects(el: Element, source: str) -> list[str]:
    subjects = [s for s in (_text(i, "name") for i in el.findall("subjects/legislativeSubjects/item")) if s]
    if len(subjects) > MAX_SUBJECTS:
        raise FieldTooLongError(source, _bill_id(el), "subjects", len(subjects), MAX_SUBJECTS, unit="items")
    return subjects


def _sponsor(el: Element) -> Sponsor | None:
    item = el.find("sponsors/item")
    if item is None or not _text(item, "fullName"):
        return None
    return Sponsor(
        name=_text(item, "fullName"),
        party=_text(item, "party"),
        state=_text(item, "state"),
        bioguide_id=_text(item, "bioguideId"),
    )


def _sponsorships(el: Element, bill: Bill) -> tuple[Sponsorship, ...]:
    """The sponsor, then the cosponsors in source order. A member listed twice in one role (withdrawn,
    then signed on again) is kept once: the current entry wins, else the last."""
    found: dict[tuple[str, str], Sponsorship] = {}
    for role, path in (("sponsor", "sponsors/item"), ("cosponsor", "cosponsors/item")):
        for item in el.findall(path):
            member = _member(item, bill.congress)
            if member is None:
                continue
            if role == "sponsor":
                entry = Sponsorship(bill_id=bill.id, member=member, role=role, date=bill.introduced_date, original=True)
            else:
                entry = Sponsorship(bill_id=bill.id, member=member, role=role,
                                    date=_date(_text(item, "sponsorshipDate")),
                                    original=(_text(item, "isOriginalCosponsor") or "").lower() == "true",
                                    withdrawn=_date(_text(item, "sponsorshipWithdrawnDate")))
            key = (member.bioguide_id, role)
            if key not in found or not found[key].current or entry.current:
                found[key] = entry
    return tuple(found.values())


def _member(item: Element, congress: int) -> Member | None:
    """A ``<sponsors>`` or ``<cosponsors>`` item as a ``Member``; None without a bioguide id or name."""
    bioguide_id, name = _text(item, "bioguideId"), _text(item, "fullName")
    if not bioguide_id or not name:
        return None
    district_text = _text(item, "district")
    district = int(district_text) if district_text and district_text.isdigit() else None
    state = _text(item, "state")
    return Member(bioguide_id=bioguide_id, name=name, first_name=_text(item, "firstName"),
                  last_name=_text(item, "lastName"), party=_text(item, "party"), state=state.upper() if state else None,
                  district=district, chamber=_chamber(name, district), congress=congress)


def _chamber(name: str, district: int | None) -> Chamber | None:
    """From the title the record gives the member; a delegate and the resident commissioner sit in the House."""
    if name.startswith("Sen."):
        return "senate"
    if name.startswith(("Rep.", "Del.", "Resident Commissioner")) or district is not None:
        return "house"
    return None


def _latest_summary(el: Element) -> Element | None:
    """The CRS summary with the latest action date; on a tie, the one updated last (then the last listed)."""
    summaries = el.findall("summaries/summary")
    if not summaries:
        return None
    keyed = [((_text(s, "actionDate") or ""), (_text(s, "updateDate") or ""), i) for i, s in enumerate(summaries)]
    return summaries[max(keyed)[2]]


def _actions(el: Element) -> list[Action]:
    return [
        Action(
            date=_date(_text(item, "actionDate")),
            type=_text(item, "type") or "",
            code=_text(item, "actionCode"),
            text=_text(item, "text") or "",
        )
        for item in el.findall("actions/item")
    ]


# --- status ------------------------------------------------------------------------------------

# Library of Congress action codes (https://www.congress.gov/help/field-values/action-codes).
_HOUSE_PASSED = {"8000"}
_SENATE_PASSED = {"17000"}
_BOTH_PASSED = {"19500", "20500", "28000"}  # resolving differences, presented to President
_REFERRED = {"11000", "H11100", "H11200", "5000", "14000", "5500", "14500"}


def derive_status(actions: tuple[Action, ...] | list[Action], enacted: bool = False) -> BillStatus:
    """The furthest stage the actions show, as one of ``models.BILL_STATUSES``.

    enacted: a BecameLaw action (or ``enacted=True``, e.g. from ``<laws>``); vetoed: "Vetoed by
    President" or "Pocket Vetoed" with no law; passed_both / passed_house / passed_senate:
    "Passed/agreed to in House|Senate" (codes 8000 / 17000; resolving differences or presentment
    imply both); in_committee: any referral or committee action; otherwise introduced.
    """
    if enacted or any(a.type == "BecameLaw" or a.code == "36000" for a in actions):
        return "enacted"
    if any("vetoed by president" in a.text.lower() for a in actions):
        return "vetoed"
    house = any(a.code in _HOUSE_PASSED or a.text.startswith("Passed/agreed to in House") for a in actions)
    senate = any(a.code in _SENATE_PASSED or a.text.startswith("Passed/agreed to in Senate") for a in actions)
    if (house and senate) or any(a.code in _BOTH_PASSED for a in actions):
        return "passed_both"
    if house:
        return "passed_house"
    if senate:
        return "passed_senate"
    if any(_in_committee(a) for a in actions):
        return "in_committee"
    return "introduced"


def _in_committee(action: Action) -> bool:
    return (
        action.code in _REFERRED
        or action.type == "Committee"
        or "referred to" in action.text.lower()
    )


# --- summary HTML ------------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "ul", "ol", "blockquote", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}


class _TextBlocks:
    """Collects (kind, text) blocks: kind "p" for paragraphs, "li" for list items."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, str]] = []
        self.parts: list[str] = []
        self.kind = "p"

    def flush(self) -> None:
        text = " ".join("".join(self.parts).split())
        if text:
            self.blocks.append((self.kind, text))
        self.parts = []

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, PreformattedString) and not isinstance(child, CData):
                continue  # comments, doctypes, processing instructions
            if isinstance(child, NavigableString):
                self.parts.append(str(child))
            elif child.name == "li":
                self.flush()
                outer, self.kind = self.kind, "li"
                self.walk(child)
                self.flush()
                self.kind = outer
            elif child.name == "br":
                if self.kind == "li":
                    self.parts.append(" ")
                else:
                    self.flush()
            elif child.name in _BLOCK_TAGS:
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)


def html_to_text(html: str) -> str:
    """CRS summary HTML -> plain text.

    Paragraphs (``<p>``, ``<br>`` breaks) are separated by a blank line, list items become
    "- item" lines, inline markup is dropped, entities are unescaped and runs of whitespace
    (including non-breaking spaces) become one space. Returns "" for empty input.
    """
    collector = _TextBlocks()
    collector.walk(BeautifulSoup(html, "html.parser"))
    collector.flush()
    out: list[str] = []
    previous = None
    for kind, text in collector.blocks:
        if previous is not None:
            out.append("\n" if kind == previous == "li" else "\n\n")
        out.append(f"- {text}" if kind == "li" else text)
        previous = kind
    return "".join(out)
