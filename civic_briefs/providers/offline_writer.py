"""The offline script writer: natural two-host dialogue built deterministically from bill data.

It needs no key and no network. It says only what the bill rows say, and names no bill other
than the one it is given (summary sentences that cite another bill are left out). Everything it
says about a bill comes from ``civic_briefs.spoken``: spoken bill numbers, sponsors and actions,
and one sentence on where the bill stands, in the tense the brief's date calls for.

Every segment starts with host A and ends with host B, taking turns line by line: segments are
shared between briefs, so a join between any two of them is always B, then A.

A weekly brief is the week in review: its opening names the week and says which interests had
nothing move; each story says what moved this week (or that nothing did, and when the latest
action was), where the bill stands and what comes next (``civic_briefs.weekly``); its close looks
ahead to next week.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence

from civic_briefs import weekly
from civic_briefs.citations import cited_bills
from civic_briefs.interests import INTEREST_POLICY_AREAS
from civic_briefs.members import mention_sentences
from civic_briefs.models import Bill, BriefType, Line, NewsItem, RepresentativeMention, Section, Segment, User
from civic_briefs.show_notes import news_bullets
from civic_briefs.spoken import (
    coming_up,
    congress_ended,
    count_of,
    headline_status,
    interest_name,
    interests_said,
    lower_first,
    sentences,
    speakable,
    spoken_bill,
    spoken_date,
    spoken_list,
    spoken_sponsor,
    spoken_weekday_date,
    standing,
    upper_first,
)

AI_DISCLOSURE = (
    "This brief was written and voiced by AI from public Congress dot gov records, "
    "so please check the bill text before you rely on it."
)
# Summary sentences that tell the bill's history ("Signed into law in May 2021.", "The House
# passed it 228 to 200"): the story says where a bill stands once, from the bill's own record.
_HISTORY = re.compile(
    r"^Signed into law|\bbecame law\b|\b(?:House|Senate|Congress) passed it\b|\bwent no further\b|"
    r"\b(?:never|did not|didn't) (?:got? a floor vote|vote|voted)\b|\btook no (?:further )?(?:action|vote)\b|"
    r"\bwaited on the (?:House |Senate )?calendar\b|\bwent to a (?:House|Senate) committee\b", re.I)


def _pick(options: list[str], *seed: object) -> str:
    """A deterministic choice: the same inputs always give the same phrasing."""
    digest = hashlib.sha256("|".join(map(str, seed)).encode()).digest()
    return options[digest[0] % len(options)]


def _short_title(title: str, limit: int = 80) -> str:
    title = title.strip().rstrip(".")
    return title if len(title) <= limit else title[: limit - 3].rsplit(" ", 1)[0] + "..."


def summary_sentences(bill: Bill, limit_words: int) -> list[str]:
    """Summary sentences, skipping the title line, its history and any sentence citing another bill."""
    own = {(bill.bill_type, bill.bill_number)}
    chosen, words = [], 0
    for sentence in sentences(bill.summary or ""):
        # Title lines and the lead-ins of lists ("Among other provisions, the bill") are not sentences.
        if not sentence.rstrip("\"')").endswith((".", "!", "?")):
            continue
        if sentence.rstrip(".").strip().lower() == bill.title.rstrip(".").strip().lower():
            continue
        if cited_bills(sentence) - own or _HISTORY.search(sentence):
            continue
        count = len(sentence.split())
        if chosen and words + count > limit_words:
            break
        chosen.append(sentence)
        words += count
    return chosen


def _turns(texts: list[str]) -> list[Line]:
    """Lines that alternate A, B, A, ... (callers give an even number, so B has the last word)."""
    if len(texts) % 2:
        raise ValueError(f"a segment needs an even number of lines to end with host B, got {len(texts)}")
    return [Line(speaker="AB"[index % 2], text=text) for index, text in enumerate(texts)]


class OfflineWriter:
    """Implements ``ScriptWriter`` with templates; see the module docstring."""

    def __init__(self, host_a: str = "Alex", host_b: str = "Jordan"):
        self.host_a, self.host_b = host_a, host_b
        # Keys the script caches: other hosts' names, or other wording (the version), make other scripts.
        self.limit = None
        # v3: weekly briefs got their own template.
        self.name = f"offline-writer-v3:{host_a}/{host_b}"

    def write_story(self, bill: Bill, section: Section, brief_date: dt.date, brief_type: BriefType) -> Segment:
        key = f"story:{bill.id}:{section}:{brief_date.isoformat()}:{brief_type}"
        title = speakable(_short_title(bill.title))
        week = weekly.note(bill, brief_date) if brief_type == "weekly" else None
        if week:
            texts = (self._weekly_top_story(bill, title, brief_date) if section == "top_story"
                     else self._weekly_quick_hit(bill, title, brief_date))
        else:
            texts = (self._top_story(bill, title, brief_date) if section == "top_story"
                     else self._quick_hit(bill, title, brief_date))
        latest = (bill.latest_action_text or "no action recorded").rstrip(".")
        digest = (
            f"- **{bill.label}: {bill.title.rstrip('.')}** ({headline_status(bill, brief_date)}). "
            f"Sponsor: {bill.sponsor_name or 'unknown'}. Latest action "
            f"({bill.latest_action_date.isoformat() if bill.latest_action_date else 'n/a'}): {latest}."
        )
        if week:
            digest += " Moved this week." if week.moved else " No action this week."
        headline = f"{bill.label}, the {_short_title(bill.title)}, {headline_status(bill, brief_date)}"
        return Segment(key=key, kind="story", lines=_turns(texts), digest=digest, bill_ids=[bill.id], section=section,
                       headline=headline, week=week)

    def _weekly_quick_hit(self, bill: Bill, title: str, brief_date: dt.date) -> list[str]:
        sponsor = spoken_sponsor(bill.sponsor_name, bill.sponsor_party, bill.sponsor_state)
        label = spoken_bill(bill.bill_type, bill.bill_number)
        lead = _pick(["Quick hit:", "One more:", "And briefly:", "Also on the list:"], bill.id, "weekly-quick")
        stands = standing(bill, brief_date)
        return [f"{lead} {label}, the {title}, from {sponsor}.",
                f"{weekly.this_week(bill, brief_date, then=stands)} {stands}",
                _pick(["And what comes next?", "So what's next for it?", "What does that mean from here?"],
                      bill.id, "weekly-next"),
                weekly.what_comes_next(bill, brief_date)]

    def _weekly_top_story(self, bill: Bill, title: str, brief_date: dt.date) -> list[str]:
        """Longer than a daily top story: what happened this week first, more of the summary, and
        what comes next after where it stands."""
        sponsor = spoken_sponsor(bill.sponsor_name, bill.sponsor_party, bill.sponsor_state)
        label = spoken_bill(bill.bill_type, bill.bill_number)
        texts = [
            _pick([f"Let's take a closer look at {label}, the {title}.", f"Our next deep dive: {label}, the {title}.",
                   f"Turning to {label}, the {title}."], bill.id, "weekly-open"),
            weekly.this_week(bill, brief_date),
            _pick(["Remind us where it came from.", "Who is behind it?", "Whose bill is this?"], bill.id, "weekly-who"),
            f"It was introduced on {spoken_date(bill.introduced_date)} by {sponsor}.",
            _pick(["And what would it actually do?", "So what's in it?", "Walk us through what it does."],
                  bill.id, "weekly-what"),
        ]
        about = [speakable(s) for s in summary_sentences(bill, limit_words=130)]
        if not about:
            texts.append("The record has no summary yet, so we'll stick to the title and the actions.")
        else:
            half = max(1, len(about) // 2)
            texts.append(" ".join(about[:half]))
            if about[half:]:
                second = lower_first(about[half])
                joined = f"Right, and {second}" if second != about[half] else f"Right. {about[half]}"
                texts.append(" ".join([joined, *about[half + 1:]]))
        if len(texts) % 2 == 0:
            texts.append(self._where_question(bill, brief_date))
        texts.append(standing(bill, brief_date))
        texts.append(_pick(["So what does that mean from here?", "And what comes next?", "What happens now?"],
                           bill.id, "weekly-next"))
        texts.append(weekly.what_comes_next(bill, brief_date))
        return texts

    def _quick_hit(self, bill: Bill, title: str, brief_date: dt.date) -> list[str]:
        sponsor = spoken_sponsor(bill.sponsor_name, bill.sponsor_party, bill.sponsor_state)
        label = spoken_bill(bill.bill_type, bill.bill_number)
        lead = _pick(["Quick hit:", "Also worth knowing:", "One more:", "And briefly:", "Also on the list:",
                      "Another one:"], bill.id, "quick")
        return [f"{lead} {label}, the {title}, from {sponsor}.", standing(bill, brief_date)]

    def _top_story(self, bill: Bill, title: str, brief_date: dt.date) -> list[str]:
        sponsor = spoken_sponsor(bill.sponsor_name, bill.sponsor_party, bill.sponsor_state)
        label = spoken_bill(bill.bill_type, bill.bill_number)
        texts = [
            _pick([f"Let's talk about {label}, the {title}.", f"Here's one to watch: {label}, the {title}.",
                   f"Turning to {label}, the {title}.", f"Next, {label}, the {title}."], bill.id, "open"),
            _pick(["Who is behind it?", "Whose bill is this?", "Where did it start?"], bill.id, "who"),
            f"It was introduced on {spoken_date(bill.introduced_date)} by {sponsor}.",
            _pick(["And what would it actually do?", "So what does it do?", "Okay, what's in it?"], bill.id, "what"),
        ]
        about = [speakable(s) for s in summary_sentences(bill, limit_words=70)]
        if not about:
            texts.append("The record has no summary yet, so we'll stick to the title and the actions.")
        elif len(about) == 1:
            texts.append(about[0])
        else:
            half = max(1, len(about) // 2)
            second = lower_first(about[half])
            joined = f"Right, and {second}" if second != about[half] else f"Right. {about[half]}"
            texts += [" ".join(about[:half]), " ".join([joined, *about[half + 1:]])]
        # Host B says where the bill stands. When A spoke last, A asks first; otherwise B goes
        # straight on, so not every story has the same question before its status.
        if len(texts) % 2 == 0:
            texts.append(self._where_question(bill, brief_date))
        texts.append(standing(bill, brief_date))
        return texts

    @staticmethod
    def _where_question(bill: Bill, brief_date: dt.date) -> str:
        if bill.status == "enacted" or congress_ended(bill.congress, brief_date):
            options = ["So what happened to it?", "How far did it get?", "And how did it end up?", "Did it go anywhere?"]
        else:
            options = ["Where does it stand now?", "So how far has it gotten?", "What's happened to it since?",
                       "And where is it now?"]
        return _pick(options, bill.id, "where")

    def write_news(self, interest: str, items: list[NewsItem], brief_date: dt.date, brief_type: BriefType) -> Segment:
        topic = interest_name(interest)
        texts = [f"Now a few headlines on {topic}." if brief_type == "daily" else f"Now the week's headlines on {topic}."]
        for item in items:
            source = f" from {item.source}" if item.source else ""
            texts.append(f"A report{source}: {item.title.rstrip('.')}.")
        if len(texts) % 2:
            texts.append(f"That's the latest on {topic}." if brief_type == "daily" else f"That's the week on {topic}.")
        return Segment(key=f"news:{interest}:{brief_date.isoformat()}:{brief_type}", kind="news", lines=_turns(texts),
                       digest=news_bullets(items), interest=interest)

    def write_opening(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date, brief_type: BriefType,
                      mentions: Sequence[RepresentativeMention] = ()) -> Segment:
        if brief_type == "weekly":
            return self._weekly_opening(user, stories, news, brief_date, mentions)
        top = [s for s in stories if s.section == "top_story"]
        ahead = coming_up(len(top), len(stories) - len(top), [s.interest or "" for s in news])
        period = "daily" if brief_type == "daily" else "weekly"
        today = f" Today we have {ahead}." if ahead else ""
        # The listener's own members come before the start, from the second host (the lines still alternate).
        said = mention_sentences(mentions, brief_date)
        home = " ".join(["And closer to home:", said[0][0].lower() + said[0][1:], *said[1:]]) + " " if said else ""
        texts = [
            f"Good morning, {user.first_name}! I'm {self.host_a}.",
            f"And I'm {self.host_b}. This is your {period} Civic Brief for {spoken_weekday_date(brief_date)}.",
            f"We're following {interests_said(user.interests)} for you.{today}",
            home + _pick(["Let's get started.", "Let's dive in.", "Here we go."], user.id, brief_date),
        ]
        return Segment(
            key=f"opening:{user.id}:{brief_date.isoformat()}:{brief_type}", kind="opening", lines=_turns(texts),
            headline=_headline(stories), title=f"Civic Brief for {user.first_name}: {spoken_date(brief_date)}", shared=False,
        )

    def _weekly_opening(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date,
                        mentions: Sequence[RepresentativeMention]) -> Segment:
        top = [s for s in stories if s.section == "top_story"]
        ahead = coming_up(len(top), len(stories) - len(top), [s.interest or "" for s in news])
        said = mention_sentences(mentions, brief_date)
        home = " ".join(["And closer to home:", said[0][0].lower() + said[0][1:], *said[1:]]) + " " if said else ""
        week = weekly.spoken_week(brief_date)
        texts = [
            f"Good morning, {user.first_name}! I'm {self.host_a}.",
            f"And I'm {self.host_b}. This is your weekly Civic Brief: the week in review, for {week}.",
            f"We're following {interests_said(user.interests)} for you." + (f" This week we have {ahead}." if ahead else ""),
            " ".join(filter(None, [_week_summary(user, stories), home.strip(),
                                   _pick(["Let's get into the week.", "Let's dive in.", "Here's the week."],
                                         user.id, brief_date)])),
        ]
        return Segment(
            key=f"opening:{user.id}:{brief_date.isoformat()}:weekly", kind="opening", lines=_turns(texts),
            headline=_headline(stories, "This week in Congress: news from your interests"),
            title=f"Weekly Civic Brief for {user.first_name}: {week.removeprefix('the ')}", shared=False,
        )

    def _weekly_close(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date) -> Segment:
        linked = spoken_list([w for w, there in (("bill", stories), ("news story", news)) if there])
        links = f" The digest in the app links every {linked} we covered." if linked else ""
        topics = interests_said(user.interests)
        live = [s.week.label_spoken for s in stories if s.week and s.week.live]
        if live:
            ahead = (f"Next week, we'll watch for the next step on {spoken_list(live[:3])}, and for anything new "
                     f"on {topics}.")
        elif stories:
            ahead = (f"Every bill we covered has become law or ended with its Congress, so next week we'll bring you "
                     f"whatever moves on {topics}.")
        else:
            ahead = f"Next week, we'll bring you whatever moves on {topics}."
        texts = [
            f"That's the week in review, {user.first_name}.{links}",
            AI_DISCLOSURE,
            f"{ahead} Thanks for listening. I'm {self.host_a}.",
            f"And I'm {self.host_b}. See you next week.",
        ]
        return Segment(key=f"close:{user.id}:{brief_date.isoformat()}:weekly", kind="close", lines=_turns(texts),
                       shared=False)

    def write_close(self, user: User, stories: list[Segment], news: list[Segment], brief_date: dt.date, brief_type: BriefType) -> Segment:
        if brief_type == "weekly":
            return self._weekly_close(user, stories, news, brief_date)
        linked = spoken_list([w for w, there in (("bill", stories), ("news story", news)) if there])
        links = f" The digest in the app links every {linked} we covered." if linked else ""
        texts = [
            f"That's the brief for today, {user.first_name}.{links}",
            AI_DISCLOSURE,
            f"Thanks for listening. I'm {self.host_a}.",
            f"And I'm {self.host_b}. " + ("See you tomorrow." if brief_type == "daily" else "See you next week."),
        ]
        return Segment(key=f"close:{user.id}:{brief_date.isoformat()}:{brief_type}", kind="close", lines=_turns(texts),
                       shared=False)


def _headline(stories: list[Segment], empty: str = "Today in Congress: news from your interests") -> str:
    if not stories or not stories[0].headline:
        return empty
    return stories[0].headline


def _week_summary(user: User, stories: list[Segment]) -> str:
    """How many of the brief's bills moved this week, and which interests had nothing move: their
    bills are a catch-up, and the listener hears so before the stories."""
    moved = sum(1 for s in stories if s.week and s.week.moved)
    quiet, recap = [], []
    for interest in dict.fromkeys(user.interests):
        areas = INTEREST_POLICY_AREAS.get(interest, ())
        theirs = [s for s in stories if s.week and s.week.policy_area in areas]
        if not any(s.week and s.week.moved for s in theirs):
            quiet.append(interest)
            if theirs:
                recap.append(interest)
    said = [f"{upper_first(count_of(moved, 'bill', 'bills'))} on your interests moved this week."] if moved else []
    if quiet:
        catch_up = ("" if not recap else ", so we'll catch you up on the latest there" if recap == quiet
                    else f", so on {interests_said(recap)} we'll catch you up on the latest")
        said.append(f"Nothing moved on {interests_said(quiet)} this week{catch_up}.")
    return " ".join(said)
