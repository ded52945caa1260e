"""The offline script writer: natural two-host dialogue built deterministically from bill data.

It needs no key and no network. It says only what the bill rows say, and names no bill other
than the one it is given (summary sentences that cite another bill are left out).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from civic_briefs.citations import cited_bills
from civic_briefs.interests import INTEREST_NAMES
from civic_briefs.models import Bill, BriefType, Line, NewsItem, Section, Segment, User
from civic_briefs.spoken import congress_for, ordinal, sentences, spoken_date, spoken_sponsor, spoken_weekday_date, status_phrase

AI_DISCLOSURE = (
    "This brief was written and voiced by AI from public Congress dot gov records, "
    "so please check the bill text before you rely on it."
)


def _pick(options: list[str], *seed: object) -> str:
    """A deterministic choice: the same inputs always give the same phrasing."""
    digest = hashlib.sha256("|".join(map(str, seed)).encode()).digest()
    return options[digest[0] % len(options)]


def _short_title(title: str, limit: int = 80) -> str:
    title = title.strip().rstrip(".")
    return title if len(title) <= limit else title[: limit - 3].rsplit(" ", 1)[0] + "..."


def summary_sentences(bill: Bill, limit_words: int) -> list[str]:
    """Summary sentences, skipping the title line and any sentence citing another bill."""
    own = {(bill.bill_type, bill.bill_number)}
    chosen, words = [], 0
    for sentence in sentences(bill.summary or ""):
        # Title lines and the lead-ins of lists ("Among other provisions, the bill") are not sentences.
        if not sentence.rstrip("\"')").endswith((".", "!", "?")):
            continue
        if sentence.rstrip(".").strip().lower() == bill.title.rstrip(".").strip().lower():
            continue
        if cited_bills(sentence) - own:
            continue
        count = len(sentence.split())
        if chosen and words + count > limit_words:
            break
        chosen.append(sentence)
        words += count
    return chosen


class OfflineWriter:
    """Implements ``ScriptWriter`` with templates; see the module docstring."""

    def __init__(self, host_a: str = "Alex", host_b: str = "Jordan"):
        self.host_a, self.host_b = host_a, host_b
        # Keys the script caches: other hosts' names make other scripts.
        self.limit = None
        self.name = f"offline-writer-v1:{host_a}/{host_b}"

    def write_story(self, bill: Bill, section: Section, brief_date: dt.date, brief_type: BriefType) -> Segment:
        key = f"story:{bill.id}:{section}:{brief_date.isoformat()}:{brief_type}"
        sponsor = spoken_sponsor(bill.sponsor_name, bill.sponsor_party, bill.sponsor_state)
        title = _short_title(bill.title)
        latest = (bill.latest_action_text or "no action recorded").rstrip(".")
        if section == "top_story":
            lines = self._top_story_lines(bill, title, sponsor, latest, brief_date)
        else:
            lines = [
                Line(speaker="A", text=_pick([
                    f"Quick hit: {bill.label}, the {title}, {status_phrase(bill.status)}.",
                    f"Also worth knowing: {bill.label}, the {title}. It {status_phrase(bill.status)}.",
                ], bill.id, "quick")),
                Line(speaker="B", text=f"It comes from {sponsor}. The latest action, on "
                                       f"{spoken_date(bill.latest_action_date)}: {latest}."),
            ]
        digest = (
            f"- **{bill.label}: {bill.title.rstrip('.')}** ({bill.status.replace('_', ' ')}). "
            f"Sponsor: {bill.sponsor_name or 'unknown'}. Latest action "
            f"({bill.latest_action_date.isoformat() if bill.latest_action_date else 'n/a'}): {latest}."
        )
        headline = f"{bill.label}, the {title}, {status_phrase(bill.status)}"
        return Segment(key=key, kind="story", lines=lines, digest=digest, bill_ids=[bill.id], section=section,
                       headline=headline)

    def _top_story_lines(self, bill: Bill, title: str, sponsor: str, latest: str, brief_date: dt.date) -> list[Line]:
        about = summary_sentences(bill, limit_words=70)
        lines = [
            Line(speaker="A", text=_pick([
                f"Let's talk about {bill.label}, the {title}. It {status_phrase(bill.status)}.",
                f"Here's one to watch: {bill.label}, the {title}, which {status_phrase(bill.status)}.",
                f"Turning to {bill.label}, the {title}. This one {status_phrase(bill.status)}.",
            ], bill.id, "open")),
            Line(speaker="B", text=_pick(["Who is behind it?", "Whose bill is this?", "Where did it start?"], bill.id, "who")),
            Line(speaker="A", text=f"It was introduced on {spoken_date(bill.introduced_date)} by {sponsor}"
                                   + (f", in the {bill.policy_area} policy area." if bill.policy_area else ".")),
            Line(speaker="B", text=_pick(["And what would it actually do?", "So what does it do?",
                                          "Okay, what's in it?"], bill.id, "what")),
        ]
        if about:
            half = max(1, len(about) // 2)
            lines.append(Line(speaker="A", text=" ".join(about[:half])))
            if about[half:]:
                lines.append(Line(speaker="B", text="Right, and " + about[half][0].lower() + about[half][1:]
                                  + ("" if len(about) == half + 1 else " " + " ".join(about[half + 1:]))))
        else:
            lines.append(Line(speaker="A", text="The record has no summary yet, so we'll stick to the title and the actions."))
        # Whoever did not just speak asks; the hosts keep taking turns.
        asker = "A" if lines[-1].speaker == "B" else "B"
        answerer = "B" if asker == "A" else "A"
        lines += [
            Line(speaker=asker, text="Where does it stand now?"),
            Line(speaker=answerer, text=f"The latest action came on {spoken_date(bill.latest_action_date)}: {latest}."),
            Line(speaker=asker, text=_closing_remark(bill, brief_date)),
        ]
        return lines

    def write_news(self, interest: str, items: list[NewsItem], brief_date: dt.date, brief_type: BriefType) -> Segment:
        topic = INTEREST_NAMES.get(interest, interest)
        lines = [Line(speaker="A", text=f"A few headlines on {topic}.")]
        for index, item in enumerate(items):
            source = f" from {item.source}" if item.source else ""
            lines.append(Line(speaker="B" if index % 2 == 0 else "A", text=f"A report{source}: {item.title.rstrip('.')}."))
        digest = "\n".join(f"- [{item.title}]({item.url})" for item in items)
        return Segment(key=f"news:{interest}:{brief_date.isoformat()}:{brief_type}", kind="news", lines=lines, digest=digest,
                       interest=interest)

    def write_opening(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date, brief_type: BriefType) -> Segment:
        top = [s for s in stories if s.section == "top_story"]
        quick = len(stories) - len(top)
        topics = ", ".join(INTEREST_NAMES.get(i, i) for i in user.interests[:3])
        ahead = f"{_count(len(top), 'top story', 'top stories')}"
        if quick:
            ahead += f" and {_count(quick, 'quick hit', 'quick hits')}"
        if news:
            ahead += ", plus some headlines"
        period = "daily" if brief_type == "daily" else "weekly"
        lines = [
            Line(speaker="A", text=f"Good morning, {user.first_name}! I'm {self.host_a}."),
            Line(speaker="B", text=f"And I'm {self.host_b}. This is your {period} Civic Brief for {spoken_weekday_date(brief_date)}."),
            Line(speaker="A", text=f"We're following {topics} for you, and today we have {ahead}."),
        ]
        headline = _headline(stories)
        return Segment(
            key=f"opening:{user.id}:{brief_date.isoformat()}:{brief_type}", kind="opening", lines=lines,
            headline=headline, title=f"Civic Brief for {user.first_name}: {spoken_date(brief_date)}", shared=False,
        )

    def write_close(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date, brief_type: BriefType) -> Segment:
        lines = [
            Line(speaker="B", text=f"That's the brief for today, {user.first_name}. The digest in the app links every bill we covered."),
            Line(speaker="A", text=AI_DISCLOSURE),
            Line(speaker="B", text=f"Thanks for listening. I'm {self.host_b}."),
            Line(speaker="A", text=f"And I'm {self.host_a}. See you tomorrow." if brief_type == "daily" else f"And I'm {self.host_a}. See you next week."),
        ]
        return Segment(key=f"close:{user.id}:{brief_date.isoformat()}:{brief_type}", kind="close", lines=lines, shared=False)


def _count(n: int, one: str, many: str) -> str:
    words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return f"{words[n] if n < len(words) else n} {one if n == 1 else many}"


def _headline(stories: list[Segment]) -> str:
    if not stories or not stories[0].headline:
        return "Today in Congress: news from your interests"
    return stories[0].headline


def _closing_remark(bill: Bill, brief_date: dt.date) -> str:
    if bill.status not in ("enacted", "vetoed") and bill.congress < congress_for(brief_date):
        # A bill not enacted by the end of its Congress died with it.
        return (f"It didn't become law before the {ordinal(bill.congress)} Congress ended, so it expired; "
                "a new Congress would have to start over.")
    return {
        "enacted": "So this one is settled law now.",
        "vetoed": "So for now it's stopped, unless Congress overrides the veto.",
        "passed_both": "So it heads to the President's desk next.",
        "passed_house": "So the Senate has the next move.",
        "passed_senate": "So the House has the next move.",
        "in_committee": "So it's waiting on the committee before it can move.",
    }.get(bill.status, "It's early days for this one, so we'll keep an eye on it.")
