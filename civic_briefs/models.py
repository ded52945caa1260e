"""Typed records that move through the pipeline: bills and users in, a published brief out.

Data flows one way: ``Bill``/``NewsItem`` -> ``Segment`` -> ``RenderedSegment`` -> ``BriefAudio``
-> ``PublishedBrief``. Each step's output is one of these models.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, Field

BriefType = Literal["daily", "weekly"]
Section = Literal["top_story", "quick_hit"]
SegmentKind = Literal["opening", "story", "news", "close"]
Speaker = Literal["A", "B"]
# How long a user's briefs are: about two, five and ten minutes (the counts are in settings).
BriefLength = Literal["short", "standard", "long"]
BRIEF_LENGTHS: tuple[str, ...] = get_args(BriefLength)
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# In Python's weekday() order (Monday is 0).
WEEKDAYS: tuple[str, ...] = get_args(Weekday)

# Ordered from least to most advanced; used for priority in selection.
BILL_STATUSES = (
    "introduced",
    "in_committee",
    "passed_house",
    "passed_senate",
    "passed_both",
    "vetoed",
    "enacted",
)
BillStatus = Literal[
    "introduced", "in_committee", "passed_house", "passed_senate", "passed_both", "vetoed", "enacted"
]


class Sponsor(BaseModel):
    name: str = Field(description='As published, e.g. "Rep. Wild, Susan [D-PA-7]".')
    party: str | None = None
    state: str | None = None
    bioguide_id: str | None = None


Chamber = Literal["house", "senate"]
SponsorRole = Literal["sponsor", "cosponsor"]


class Member(BaseModel):
    """A member of Congress as a BILLSTATUS record names them (the ``members`` table).

    ``district`` is the House district (0 for an at-large seat, a delegate's or the resident
    commissioner's), None for a senator; ``chamber`` comes from the title in ``name`` ("Sen." or
    "Rep."/"Del."/"Resident Commissioner"); ``congress`` is the Congress of the record it was read
    from, so an older bill imported later does not undo a member's newer state or district.
    """

    bioguide_id: str
    name: str = Field(description='As published, e.g. "Rep. Wild, Susan [D-PA-7]".')
    first_name: str | None = None
    last_name: str | None = None
    party: str | None = None
    state: str | None = None
    district: int | None = None
    chamber: Chamber | None = None
    congress: int | None = None
    updated_at: dt.datetime | None = None


class Sponsorship(BaseModel):
    """A member's name on a bill (the ``bill_sponsors`` table): its sponsor, or a cosponsor.

    ``date`` is the cosponsor's sponsorship date (the bill's introduced date for its sponsor);
    ``original`` whether they signed on when it was introduced; ``withdrawn`` the date a cosponsor
    took their name off, after which they do not count."""

    bill_id: str
    member: Member
    role: SponsorRole
    date: dt.date | None = None
    original: bool = False
    withdrawn: dt.date | None = None

    @property
    def current(self) -> bool:
        return self.withdrawn is None


class Bill(BaseModel):
    """One bill as stored in the ``bills`` table (source: GPO BILLSTATUS XML)."""

    id: str = Field(description="`{congress}-{bill_type}-{bill_number}`, e.g. `117-hr-3684`.")
    congress: int
    bill_type: str = Field(description="Lower case: hr, s, hjres, sjres, hconres, sconres, hres, sres.")
    bill_number: int
    title: str
    policy_area: str | None = None
    subjects: list[str] = Field(default_factory=list)
    summary: str | None = None
    sponsor_name: str | None = None
    sponsor_party: str | None = None
    sponsor_state: str | None = None
    introduced_date: dt.date | None = None
    latest_action_date: dt.date | None = None
    latest_action_text: str | None = None
    status: BillStatus = "introduced"
    updated_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        """How the bill is cited: "H.R. 3684", "S. 1251", "H.J.Res. 7"."""
        return bill_label(self.bill_type, self.bill_number)


_LABELS = {
    "hr": "H.R.",
    "s": "S.",
    "hjres": "H.J.Res.",
    "sjres": "S.J.Res.",
    "hconres": "H.Con.Res.",
    "sconres": "S.Con.Res.",
    "hres": "H.Res.",
    "sres": "S.Res.",
}


def bill_label(bill_type: str, bill_number: int | str) -> str:
    """("hr", 3684) -> "H.R. 3684"."""
    return f"{_LABELS.get(bill_type.lower(), bill_type.upper())} {bill_number}"


class User(BaseModel):
    id: str
    name: str
    email: str | None = None
    interests: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    brief_length: BriefLength = "standard"
    delivery_time: dt.time = Field(default=dt.time(6, 0), description="Local time their daily brief is published by.")
    weekly_day: Weekday = Field(default="sunday", description="Local weekday of their weekly deep-dive.")
    state: str | None = Field(default=None, description="USPS code of the state or territory the listener lives in.")
    district: int | None = Field(default=None, description="Their congressional district (0 at-large); only with a state.")
    created_at: dt.datetime | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name


MemberRelation = Literal["senator", "representative", "delegate", "resident commissioner"]


class RepresentativeMention(BaseModel):
    """One of the listener's own members of Congress named on a bill of their brief: the opening
    says so. ``relation`` is what the member is to the listener."""

    member: Member
    relation: MemberRelation
    bill_id: str
    role: SponsorRole


class SelectedBill(BaseModel):
    bill: Bill
    section: Section
    interest: str = Field(description="The user's interest id the bill matched.")


class BillSelection(BaseModel):
    """Bills chosen for one user's brief, in the order they are told."""

    user_id: str
    interests: list[str]
    items: list[SelectedBill] = Field(default_factory=list)

    @property
    def top_stories(self) -> list[SelectedBill]:
        return [i for i in self.items if i.section == "top_story"]

    @property
    def quick_hits(self) -> list[SelectedBill]:
        return [i for i in self.items if i.section == "quick_hit"]


class NewsItem(BaseModel):
    """One news result (source: Brave Search news), HTML already stripped."""

    interest: str
    title: str
    url: str
    description: str = ""
    source: str | None = None
    age: str | None = None


class Usage(BaseModel):
    """What one provider call cost: tokens for Claude, characters for ElevenLabs, dollars for both."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    characters: int = 0
    requests: int = 0
    dollars: Decimal = Decimal("0")

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            **{name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields}
        )


class Line(BaseModel):
    speaker: Speaker = Field(description="A or B: the two hosts.")
    text: str


class WeekNote(BaseModel):
    """A weekly brief's story: how its bill stands to the brief's week (``civic_briefs.weekly``), so
    the personal opening and close can say which interests had nothing move and what to watch next
    week without reading the story's words. Depends on the bill and the week only: still shared."""

    moved: bool = Field(description="Its latest action, or its introduction, falls in the week.")
    policy_area: str | None = None
    live: bool = Field(description="It can still move: not law, and its Congress has not ended.")
    label_spoken: str = Field(description='"H.R. thirteen fifteen".')


class Segment(BaseModel):
    """A piece of a brief: a list of two-host lines plus the digest text it contributes.

    ``key`` identifies the content for sharing: story and news segments carry no user in it,
    so every listener of that bill (or interest) on that day hears the same segment.
    """

    key: str
    kind: SegmentKind
    lines: list[Line]
    digest: str = Field(default="", description="Markdown contributed to the brief's digest.")
    bill_ids: list[str] = Field(default_factory=list)
    section: Section | None = Field(default=None, description="Stories: top_story or quick_hit.")
    interest: str | None = Field(default=None, description="News segments: the interest id.")
    headline: str | None = Field(default=None, description="Stories: a one-line headline for the bill; openings: the brief's headline.")
    title: str | None = Field(default=None, description="Openings carry the brief's title.")
    usage: Usage = Field(default_factory=Usage)
    shared: bool = True
    week: WeekNote | None = Field(default=None, description="Weekly briefs' stories only.")

    @property
    def characters(self) -> int:
        return sum(len(line.text) for line in self.lines)


class Script(BaseModel):
    """A whole brief's script: the ordered segments with headline, title and digest."""

    headline: str
    title: str
    digest: str
    segments: list[Segment]
    bills_covered: list[str]

    @property
    def transcript(self) -> str:
        return "\n".join(f"{line.speaker}: {line.text}" for seg in self.segments for line in seg.lines)


class RenderedSegment(BaseModel):
    """A segment's MP3 (one or more parts already joined) and what rendering it cost."""

    key: str
    mp3: bytes
    duration_seconds: float
    parts: int
    usage: Usage = Field(default_factory=Usage)
    request_ids: list[str] = Field(default_factory=list)
    line_offsets: list[tuple[float, float]] = Field(
        default_factory=list, description="Per line of the segment: (start, end) seconds from the start of the "
        "decoded MP3. Empty for renders stored before lines were timed.")
    # Set when the segment was mastered as it was rendered (rendering.render_segment): measured on its
    # own encoded MP3, and where its sound lies on that MP3's decoded timeline (seconds). None for
    # renders stored before segments were mastered: the brief's join masters those itself.
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    sound_start: float | None = None
    sound_end: float | None = None

    @property
    def mastered(self) -> bool:
        return self.sound_start is not None and self.sound_end is not None


class BriefAudio(BaseModel):
    mp3: bytes
    duration_seconds: float
    sample_rate: int
    bitrate_kbps: int
    # Measured on the published file itself (BS.1770-4), decoded once: its segments each mastered to
    # -16 LUFS / -1.5 dBTP, so the brief lands at -16 LUFS, true peak <= -1 dBTP.
    # rendering.join_brief always sets them; None only for audio put together by hand (tests).
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    # Measured from the joined file, seconds from its start: where each script segment starts and
    # ends, and each of its lines (per segment, per line: start, end). Empty when not measured.
    segment_starts: list[float] = Field(default_factory=list)
    segment_ends: list[float] = Field(default_factory=list)
    line_times: list[list[tuple[float, float]]] = Field(default_factory=list)


class PublishedBrief(BaseModel):
    id: str
    user_id: str
    brief_type: BriefType
    brief_date: dt.date
    status: Literal["published", "skipped", "failed"]
    headline: str | None = None
    audio_url: str | None = None
    chapters_url: str | None = Field(default=None, description="Podcasting 2.0 JSON chapters beside the MP3.")
    transcript_url: str | None = Field(default=None, description="Podcasting 2.0 JSON transcript, per-line times.")
    captions_url: str | None = Field(default=None, description="WebVTT captions, the hosts as voices.")
    page_url: str | None = Field(default=None, description="The web player page beside the MP3.")
    duration_seconds: float | None = None
    bills_covered: list[str] = Field(default_factory=list)
    error: str | None = None
    made_now: bool = Field(default=True, description="False when an existing brief was returned untouched.")
