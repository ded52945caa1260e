"""Turning bill data into words a host can say: sponsors, dates, bill numbers, actions, statuses.

Every writer says bills through this module (the offline writer in its templates, the Claude
writer in the ``spoken`` fields of the data it hands the model), so a bill sounds the same
whichever wrote its story: "H.R. thirteen fifteen", not "H.R. one thousand three hundred fifteen";
"the Senate Finance Committee", not "Read twice and referred to the Committee on Finance."
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from civic_briefs.interests import INTEREST_NAMES
from civic_briefs.models import Bill

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "the District of Columbia", "PR": "Puerto Rico", "GU": "Guam", "VI": "the Virgin Islands",
    "AS": "American Samoa", "MP": "the Northern Mariana Islands",
}
PARTIES = {"D": "Democrat", "R": "Republican", "I": "independent", "ID": "independent", "L": "Libertarian"}
TITLES = {
    "Rep.": "Representative", "Sen.": "Senator", "Del.": "Delegate",
    "Resident Commissioner": "Resident Commissioner",
}

# "Rep. Wild, Susan [D-PA-7]" / "Sen. Braun, Mike [R-IN]" / "Rep. Scott, David [D-GA-13]"
_SPONSOR = re.compile(
    r"^(?P<title>Rep\.|Sen\.|Del\.|Resident Commissioner)\s+(?P<last>[^,]+),\s*(?P<first>[^\[]+?)\s*"
    r"(?:\[(?P<party>[A-Z]+)-(?P<state>[A-Z]{2})(?:-(?P<district>[A-Za-z0-9]+))?\])?\s*$"
)


def spoken_sponsor(name: str | None, party: str | None = None, state: str | None = None) -> str:
    """ "Rep. Wild, Susan [D-PA-7]" -> "Representative Susan Wild, a Democrat from Pennsylvania"."""
    if not name:
        return "an unnamed sponsor"
    match = _SPONSOR.match(name.strip())
    if not match:
        return name.strip()
    title = TITLES[match["title"]]
    first = match["first"].strip()
    nickname = re.search(r"\"([^\"]+)\"", first)  # 'Robert C. "Bobby"': he goes by Bobby
    first = nickname[1] if nickname else re.sub(r"\s+[A-Z]\.$", "", first)  # drop a trailing middle initial
    person = f"{title} {first} {match['last'].strip()}"
    party_word = PARTIES.get(party or match["party"] or "")
    state_name = STATES.get(state or match["state"] or "")
    if party_word and state_name:
        article = "an" if party_word[0].lower() in "aeiou" else "a"
        return f"{person}, {article} {party_word} from {state_name}"
    if state_name:
        return f"{person} of {state_name}"
    return person


# "Del. Norton, Eleanor Holmes [D-DC-At Large]" too (``_SPONSOR`` takes no "At Large").
_MEMBER = re.compile(r"^(?P<title>Rep\.|Sen\.|Del\.|Resident Commissioner)\s+(?P<last>[^,]+),\s*(?P<first>[^\[]+?)\s*"
                     r"(?:\[[^\]]*\])?\s*$")
# How a member is named aloud, by the title the record gives them: "Rep. Jane Doe", "Senator John Roe".
MEMBER_TITLES = {"Rep.": "Rep.", "Sen.": "Senator", "Del.": "Delegate", "Resident Commissioner": "Resident Commissioner"}


def spoken_member(name: str, first_name: str | None = None, last_name: str | None = None,
                  chamber: str | None = None) -> str:
    """ "Rep. Davis, Danny K. [D-IL-7]" -> "Rep. Danny Davis"; "Sen. Grassley, Chuck [R-IA]" -> "Senator
    Chuck Grassley" (the name the member goes by, as the record's full name has it, not the legal first
    name); "Rep. Pascrell, Bill, Jr. [D-NJ-9]" -> "Rep. Bill Pascrell Jr."."""
    match = _MEMBER.match(name.strip())
    if match:
        title = MEMBER_TITLES[match["title"]]
        first, _, suffix = match["first"].strip().partition(", ")
        nickname = re.search(r"\"([^\"]+)\"", first)
        first = nickname[1] if nickname else re.sub(r"\s+[A-Z]\.$", "", first)
        return " ".join(p for p in (title, first, match["last"].strip(), suffix.strip()) if p)
    title = "Senator" if chamber == "senate" else "Rep." if chamber == "house" else ""
    person = " ".join(p for p in (first_name, last_name) if p) or name.strip()
    return f"{title} {person}".strip()


def spoken_date(day: dt.date | None) -> str:
    """2021-03-04 -> "March 4, 2021"."""
    if day is None:
        return "an unrecorded date"
    return f"{day:%B} {day.day}, {day.year}"


def spoken_month(day: dt.date) -> str:
    """2022-12-27 -> "December 2022"."""
    return f"{day:%B} {day.year}"


def spoken_weekday_date(day: dt.date) -> str:
    return f"{day:%A}, {day:%B} {day.day}"


# ---------------------------------------------------------------- numbers, bill labels, public laws

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def cardinal(n: int) -> str:
    """0 <= n < 1,000,000 in words: 228 -> "two hundred twenty-eight"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {cardinal(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{cardinal(thousands)} thousand" + (f" {cardinal(rest)}" if rest else "")


def spoken_number(n: int) -> str:
    """A bill or law number as people say it, in pairs of digits like a year:
    1315 -> "thirteen fifteen", 7776 -> "seventy-seven seventy-six", 604 -> "six oh four",
    8404 -> "eighty-four oh four", 100 -> "one hundred", 1100 -> "eleven hundred", 4 -> "four"."""
    if n < 100:
        return cardinal(n)
    if n >= 10_000:
        thousands, rest = divmod(n, 1000)
        return f"{cardinal(thousands)} thousand" + (f" {spoken_number(rest)}" if rest else "")
    if n % 1000 == 0:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} " + (f"oh {_ONES[low]}" if low < 10 else cardinal(low))


# How each bill type is said before its number. The two common ones are said as written
# ("H.R.", "S."); resolutions are said in full, as reporters say them.
SPOKEN_TYPES = {
    "hr": "H.R.", "s": "S.",
    "hjres": "House Joint Resolution", "sjres": "Senate Joint Resolution",
    "hconres": "House Concurrent Resolution", "sconres": "Senate Concurrent Resolution",
    "hres": "House Resolution", "sres": "Senate Resolution",
}
# The written labels (models.bill_label), each type's pattern, longest first.
_WRITTEN_TYPES = {
    "hconres": r"H\.\s?Con\.\s?Res\.", "sconres": r"S\.\s?Con\.\s?Res\.", "hjres": r"H\.\s?J\.\s?Res\.",
    "sjres": r"S\.\s?J\.\s?Res\.", "hres": r"H\.\s?Res\.", "sres": r"S\.\s?Res\.", "hr": r"H\.\s?R\.", "s": r"S\.",
}
_WRITTEN_LABEL = re.compile(
    r"(?<![A-Za-z0-9.])(?:" + "|".join(f"(?P<{t}>{p})" for t, p in _WRITTEN_TYPES.items()) + r")\s?(?P<number>\d{1,5})\b")
_PUBLIC_LAW = re.compile(r"\b(?P<kind>Public|Private) Law(?: No\.?:?| Number)?\s*(?P<congress>\d{2,3})-(?P<number>\d{1,4})\b"
                         r"|\bP\.\s?L\.\s?(?P<pl_congress>\d{2,3})-(?P<pl_number>\d{1,4})\b")


def spoken_bill(bill_type: str, number: int) -> str:
    """("hr", 1315) -> "H.R. thirteen fifteen"; ("hjres", 7) -> "House Joint Resolution seven"."""
    return f"{SPOKEN_TYPES.get(bill_type.lower(), bill_type.upper())} {spoken_number(number)}"


def spoken_label(label: str) -> str:
    """A written label as said aloud: "H.R. 1315" -> "H.R. thirteen fifteen", "S. 4" -> "S. four"."""
    return speakable(label)


def spoken_public_law(congress: int, number: int, kind: str = "Public") -> str:
    """(117, 228) -> "Public Law one seventeen, two twenty-eight"."""
    return f"{kind} Law {spoken_number(congress)}, {spoken_number(number)}"


def speakable(text: str) -> str:
    """Text with its bill labels and law numbers in spoken form (everything else as it is)."""
    def label(match: re.Match[str]) -> str:
        bill_type = next(t for t in _WRITTEN_TYPES if match.group(t))
        return spoken_bill(bill_type, int(match["number"]))

    def law(match: re.Match[str]) -> str:
        if match["pl_congress"]:
            return spoken_public_law(int(match["pl_congress"]), int(match["pl_number"]))
        return spoken_public_law(int(match["congress"]), int(match["number"]), match["kind"])

    return _PUBLIC_LAW.sub(law, _WRITTEN_LABEL.sub(label, text))


_NUMBER_WORD = (r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
                r"ninety|hundred|thousand|oh)")
_SPOKEN_MENTION = re.compile(
    r"(?<![A-Za-z.])(?P<type>H\.R\.|S\.|(?:House|Senate) (?:Joint |Concurrent )?Resolution)\s+"
    rf"(?P<number>{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*)\b")


def spoken_bill_mentions(text: str) -> set[str]:
    """Every bill named in spoken form in ``text`` ("H.R. thirteen fifteen"), normalised like
    ``spoken_bill`` writes it, so a script can be checked against the spoken labels it was given."""
    return {f"{m['type']} {' '.join(m['number'].split())}" for m in _SPOKEN_MENTION.finditer(text)}


# ---------------------------------------------------------------- lists and interests

def spoken_list(items: Iterable[str]) -> str:
    """As a person lists things: "x"; "x and y"; "x, y and z". When an item has an "and" of its
    own ("climate and energy") the last one gets a comma too, so the list still parses by ear."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    joiner = ", and " if any(" and " in i for i in items) else " and "
    return ", ".join(items[:-1]) + joiner + items[-1]


def interest_name(interest: str) -> str:
    return INTEREST_NAMES.get(interest, interest.replace("-", " "))


def interests_said(interests: Iterable[str]) -> str:
    """["defense", "economy", "taxes"] -> "defense, the economy and taxes"."""
    return spoken_list(interest_name(i) for i in dict.fromkeys(interests))


_SMALL = "no one two three four five six seven eight nine ten".split()


def count_of(n: int, one: str, many: str) -> str:
    """(2, "top story", "top stories") -> "two top stories"."""
    return f"{_SMALL[n] if n < len(_SMALL) else n} {one if n == 1 else many}"


def coming_up(top_stories: int, quick_hits: int, news_interests: Iterable[str]) -> str:
    """What a brief has ahead: "three top stories, two quick hits and headlines on health care"."""
    ahead = []
    if top_stories:
        ahead.append(count_of(top_stories, "top story", "top stories"))
    if quick_hits:
        ahead.append(count_of(quick_hits, "quick hit", "quick hits"))
    news = interests_said(news_interests)
    if news:
        ahead.append(f"headlines on {news}")
    return spoken_list(ahead)


# ---------------------------------------------------------------- Congresses and tense

def congress_for(day: dt.date) -> int:
    """The Congress in session on ``day``: the 119th runs from January 3, 2025 to January 3, 2027."""
    year = day.year - (1 if (day.month, day.day) < (1, 3) else 0)
    return (year - 1789) // 2 + 1


def congress_ended(congress: int, brief_date: dt.date) -> bool:
    """Whether ``congress`` had ended by ``brief_date``: its bills that were not law by then died."""
    return congress < congress_for(brief_date)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ---------------------------------------------------------------- Congress.gov action text

@dataclass(frozen=True)
class _Step:
    """One clerk phrase said plainly: who did it and what they did (past tense).
    ``{ch}`` in either stands for the chamber ("Senate ") where the listener has not heard it yet."""

    subject: str
    predicate: str
    chamber: str | None = None  # the chamber this phrase names or implies


_COMMITTEE = (r"(?P<committee>(?:Sub)?[Cc]ommittee (?:on|for) .+?|(?:House |Senate )?[A-Z][\w,' -]+? Committee"
              r"|[A-Z][\w,' -]+? Subcommittee)")
_CHAMBER = r"(?P<chamber>House|Senate)"
_MONTHS = r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\."
_RES = r"(?:H|S)\.\s?(?:Con\.\s?|J\.\s?)?Res\.\s?\d+"  # "H. Res. 716": its full stops end no sentence
# Parts of action text that are for clerks: calendar, report and vote numbers, Congressional Record pages.
_CLERK_NOISE = [
    re.compile(r"\s*\((?:[^()]*\bCR\b[^()]*|Roll no\.\s*\d+|\d/\d required|[^()]*introductory remarks[^()]*|"
               r"consideration:[^()]*|text[^()]*)\)\.?", re.I),
    re.compile(r",?\s*Calendar No\.\s*\d+\.?"),
    re.compile(r"\s*(?:H|S)\. Rept\. \d+-\d+(?:, Part [IVX]+)?\.?"),
    re.compile(r"\s*(?:With|Without) (?:written |no written )?report(?: No\. \d+-\d+)?\.?", re.I),
    re.compile(r"\s*S\. Hrg\. \d+-\d+\.?"),
    re.compile(r"\s*Record Vote Number: \d+\.?"),
]


def spoken_committee(name: str, chamber: str | None = None) -> str:
    """ "Committee on the Judiciary" -> "the Judiciary Committee"; with ``chamber`` "Senate":
    "the Senate Judiciary Committee" (not when the name says its chamber already)."""
    name = " ".join(name.split()).rstrip(".,")
    match = re.match(r"^(?:(?P<chamber>House|Senate) )?(?P<kind>Committee|Subcommittee) (?:on|for) (?:the )?(?P<topic>.+)$",
                     name, re.I)
    if match:
        chamber = match["chamber"] or chamber
        name = f"{match['topic']} {match['kind'].title()}"
    if name.startswith(("House ", "Senate ")) or not chamber or "Subcommittee" in name:
        return f"the {name}"
    return f"the {chamber} {name}"


def _vote(text: str) -> str:
    if m := re.search(r"(\d+)\s*-\s*(\d+)", text):
        return f" by a vote of {m[1]} to {m[2]}"
    if re.search(r"unanimous consent", text, re.I):
        return " by unanimous consent"
    if re.search(r"voice vote", text, re.I):
        return " by voice vote"
    return ""


def _referral(m: re.Match[str]) -> _Step:
    others = " and other committees" if m["more"] else ""
    return _Step("it", f"was sent to {{committee}}{others}", m["chamber"])


def _chamber(m: re.Match[str]) -> str | None:
    named = m.groupdict().get("chamber")
    return named.title() if named else None


def _passed(m: re.Match[str]) -> _Step:
    chamber = _chamber(m)
    return _Step(f"the {chamber}" if chamber else "the {chamber}", f"passed it{_vote(m[0])}", chamber)


def _drop(m: re.Match[str]) -> None:
    return None


# (pattern at the start of what is left, the step it says). Patterns consume a whole clerk phrase
# with its full stop; the first that matches wins, so specific phrases come before general ones.
# A step of None says nothing (procedure a listener need not hear).
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], _Step | None]]] = [(re.compile(p, re.I), f) for p, f in [
    (r"Became (?P<kind>Public|Private) Law No:? (?P<congress>\d+)-(?P<number>\d+)\.?",
     lambda m: _Step("it", f"became {spoken_public_law(int(m['congress']), int(m['number']), m['kind'].title())}")),
    (r"Signed by (?:the )?President\.?", lambda m: _Step("the President", "signed it")),
    (r"Presented to (?:the )?President\.?", lambda m: _Step("it", "went to the President")),
    (r"(?P<pocket>Pocket )?Vetoed by (?:the )?President\.?",
     lambda m: _Step("the President", "pocket vetoed it" if m["pocket"] else "vetoed it")),
    (rf"Introduced in (?:the )?{_CHAMBER}\.?", lambda m: _Step("it", f"was introduced in the {_chamber(m)}", _chamber(m))),
    (rf"Received in the {_CHAMBER}(?:,| and|\.)?", lambda m: _Step("it", f"reached the {_chamber(m)}", _chamber(m))),
    (r"Read (?:twice|the (?:first|second) time)(?: and|,|\.)?", lambda m: _Step("", "", "Senate")),
    (r"(?:considered|read the third time)(?:,| and|\.)", _drop),
    (rf"(?:Read twice and )?Referred to (?:the )?(?:(?P<chamber>House|Senate) )?{_COMMITTEE}"
     rf"(?P<more>,? and in addition to .+?)?(?: for (?:a period|further consideration)[^.]*(?:{_MONTHS}[^.]*)?)?\.(?=\s|$)", _referral),
    (rf"(?:(?P<chamber>House|Senate) )?{_COMMITTEE}\.? Hearings held\.?", lambda m: _Step("{committee}", "held hearings", _chamber(m))),
    (r"Subcommittee Hearings Held\.?", lambda m: _Step("a subcommittee", "held hearings")),
    (r"(?P<sub>Sub)?committee Consideration and Mark-up Session Held\.?",
     lambda m: _Step("a subcommittee" if m["sub"] else "the committee", "met to work on it")),
    (rf"(?:(?P<chamber>House|Senate) )?{_COMMITTEE}\.? (?:Committee consideration held|Business Meeting printed)\.?",
     lambda m: _Step("{committee}", "met to work on it", _chamber(m))),
    (r"Business Meeting printed\.?", _drop),
    (rf"(?:(?P<chamber>House|Senate) )?{_COMMITTEE}\.? Ordered to be reported[^.]*\.",
     lambda m: _Step("{committee}", "voted to send it to the full {chamber}", _chamber(m))),
    (r"Ordered to be Reported[^.]*\.", lambda m: _Step("the committee", "voted to send it to the full {chamber}")),
    (rf"(?:(?P<chamber>House|Senate) )?{_COMMITTEE}\.? Reported by (?P<senator>Senator )?[^.]+\.",
     lambda m: _Step("{committee}", "sent it to the full {chamber}", _chamber(m) or ("Senate" if m["senator"] else None))),
    (rf"Reported (?:\([^)]*\) )?(?:with [^.]*?|without amendment )?by (?:the )?{_COMMITTEE}\.",
     lambda m: _Step("{committee}", "sent it to the full {chamber}")),
    (rf"(?:(?P<chamber>House|Senate) )?{_COMMITTEE} discharged[^.]*\.?", lambda m: _Step("it", "was taken out of {committee}", _chamber(m))),
    # A member asks on the floor to take the bill out of committee at once; one objection stops it.
    (rf"[\w. ()]+? asked unanimous consent that (?:the )?{_COMMITTEE} be discharged from further consideration of "
     r"(?:H\.R\.|S\.)\s?\d+[^.]*\.\s*Objection heard\.?",
     lambda m: _Step("a request to pull it from {committee} and take it up at once", "was blocked by an objection")),
    (rf"(?:(?P<chamber>House|Senate) )?{_COMMITTEE} Granted an extension[^.]*(?:{_MONTHS}[^.]*)?\.",
     lambda m: _Step("{committee}", "got more time to consider it", _chamber(m))),
    (r"Placed on (?:the )?(?:Union|House) Calendar\.?", lambda m: _Step("it", "was placed on the {ch}calendar", "House")),
    (r"Placed on (?:the )?Senate Legislative Calendar under [\w ]+?\.", lambda m: _Step("it", "was placed on the {ch}calendar", "Senate")),
    (r"Held at the desk\.?", lambda m: _Step("it", "was held at the {ch}desk")),
    (r"Failed of passage/not agreed to in (?P<chamber>House|Senate): .*",
     lambda m: _Step(f"the {_chamber(m)}", f"voted it down{_vote(m[0])}", _chamber(m))),
    (rf"Passed/agreed to in {_CHAMBER}: .*", _passed),
    (rf"(?:and )?Passed {_CHAMBER}\b.*", _passed),
    (r"(?:and )?passed (?:with|without) (?:an )?amendments?\b.*", _passed),
    (r"On passage Passed .*", _passed),
    (r"On motion to suspend the rules and pass the bill[^:]*Agreed to .*",
     lambda m: _Step("the House", f"passed it{_vote(m[0])}", "House")),
    (r"On motion to suspend the rules and pass the bill[^:]*Failed .*",
     lambda m: _Step("the House", f"voted on it{_vote(m[0])}, short of the two-thirds it needed", "House")),
    (r"On motion to recommit Failed .*", lambda m: _Step("the House", "turned down a move to send it back to committee", "House")),
    (r"On motion that the House agree (?P<with>with an amendment )?to the Senate amendments?[^:]*Agreed to.*",
     lambda m: _Step("the House", ("agreed to the Senate's changes with changes of its own" if m["with"]
                                   else "agreed to the Senate's changes") + _vote(m[0]), "House")),
    (r"Resolving differences -- Senate actions: Senate agreed to the House amendment.*",
     lambda m: _Step("the Senate", f"agreed to the House's changes{_vote(m[0])}", "Senate")),
    (r"[\w. ()]+? moved to suspend the rules and pass the bill[^.]*\.",
     lambda m: _Step("the House", "took it up under a fast-track procedure", "House")),
    (rf"Rule {_RES} passed House\.", lambda m: _Step("the House", "agreed on the rules for debating it", "House")),
    (r"Motion to reconsider laid on the table[^.]*\.(?: Agreed to without objection\.)?", _drop),
    (r"Message on (?:House|Senate) action [^.]*\.", _drop),
    (r"The previous question was ordered[^.]*\.", _drop),
    (r"DEBATE - .*", lambda m: _Step("the {chamber}", "debated it")),
    (r"(?:POSTPONED PROCEEDINGS|UNFINISHED BUSINESS) - .*", lambda m: _Step("the House", "debated it and put off its vote", "House")),
    (r"Measure laid before Senate by [^.]*\.", lambda m: _Step("the Senate", "took it up", "Senate")),
    (r"Motion to proceed to (?:consideration of )?measure (?:considered|made) in Senate\.",
     lambda m: _Step("the Senate", "debated whether to take it up", "Senate")),
    (r"Cloture motion on [^.]*presented in Senate\.", lambda m: _Step("senators", "moved to end debate on it", "Senate")),
    (rf"Considered (?:by (?P<chamber>Senate|House)|under the provisions of rule {_RES}|under suspension of the rules"
     r"|as unfinished business)\.",
     lambda m: _Step(f"the {_chamber(m)}" if _chamber(m) else "the {chamber}", "took it up", _chamber(m))),
]]


def clean_action_text(text: str) -> str:
    """Action text without its clerk numbers (calendar, report, Record pages)."""
    for noise in _CLERK_NOISE:
        text = noise.sub("", text)
    return " ".join(text.split())


def spoken_action(text: str | None, chamber: str | None = None) -> str:
    """A Congress.gov action said as a past-tense clause, clerk boilerplate left out:
    "Received in the Senate. Read twice. Placed on Senate Legislative Calendar under General
    Orders. Calendar No. 156." -> "it reached the Senate and was placed on the calendar";
    "Committee on the Judiciary. Hearings held." -> "the Judiciary Committee held hearings".

    ``chamber`` is where the bill is when the text does not say (the other chamber for a bill
    that passed one). Text no rule knows is read as it is, less its clerk numbers and phrases.
    Returns "" when the action is only procedure (say, "Motion to reconsider laid on the table")."""
    rest = clean_action_text(text or "")
    steps: list[tuple[_Step, re.Match[str]]] = []
    while rest:
        for pattern, say in _RULES:
            match = pattern.match(rest)
            if match:
                step = say(match)
                if step is not None:
                    steps.append((step, match))
                rest = re.sub(r"^[\s,;.]*(?:and\s+)?", "", rest[match.end():])
                break
        else:
            return _plain_fallback(clean_action_text(text or ""))
    return _join_steps(steps, chamber)


def _join_steps(steps: list[tuple[_Step, re.Match[str]]], chamber: str | None) -> str:
    said_chamber: str | None = None
    parts: list[tuple[str, str]] = []
    for step, match in steps:
        here = chamber = step.chamber or chamber
        if not step.subject:  # "Read twice": says only where the bill is
            continue

        def fill(template: str) -> str:
            ch = f"{here} " if here and here != said_chamber else ""
            committee = (spoken_committee(match["committee"], here if here != said_chamber else None)
                         if "committee" in match.re.groupindex and match["committee"] else "the committee")
            return template.format(ch=ch, chamber=here or "chamber", committee=committee)

        subject, predicate = fill(step.subject), fill(step.predicate)
        if here and (here in subject or here in predicate):
            said_chamber = here
        parts.append((subject, predicate))
    out = ""
    for index, (subject, predicate) in enumerate(parts):
        if index == 0:
            out = f"{subject} {predicate}"
        elif subject == parts[index - 1][0]:
            out += f" and {predicate}"
        else:
            out += f", and {subject} {predicate}"
    return out


def _plain_fallback(text: str) -> str:
    text = re.sub(r"\b[Rr]ead (?:twice|the (?:first|second|third) time)[,.]?\s*(?:and\s+)?", "", text)
    text = re.sub(r"\bNo[.:]\s*(?=\d)", "number ", speakable(text)).rstrip(". ")
    return lower_first(text)


# Words that start sentences and are not names: only these are lower-cased when a sentence is
# joined onto another, so acronyms and names keep their capitals ("GAO", "Medicare").
_COMMON_STARTS = frozenset("""a an the this that these those it its they their there he she we you in on at
for to with by from under over after before during since until as if when while also each every both
all any some many most no not one two first then so but and or besides among without within once
would will could should may must can has have had was were is are be been additionally further
finally specifically currently later earlier""".split())


def lower_first(sentence: str) -> str:
    """The sentence with its first word lower-cased when that word is an ordinary one, so it can
    follow "and"; "GAO must report" stays as it is."""
    first = re.match(r"[A-Za-z']+", sentence)
    if first and first[0].lower() in _COMMON_STARTS and (len(first[0]) == 1 or first[0][1:].islower()):
        return sentence[0].lower() + sentence[1:]
    return sentence


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------- where a bill stands

def _origin(bill: Bill) -> str:
    return "Senate" if bill.bill_type.lower().startswith("s") else "House"


def _where_now(bill: Bill) -> str:
    """The chamber a bill is in when its action text does not say."""
    other = {"House": "Senate", "Senate": "House"}
    if bill.status == "passed_house":
        return "Senate"
    if bill.status == "passed_senate":
        return "House"
    if bill.status in ("in_committee", "introduced"):
        return _origin(bill)
    return other[_origin(bill)] if bill.status == "passed_both" else _origin(bill)


def latest_step(bill: Bill) -> str:
    """The latest action as a clause: "it reached the Senate and was placed on the calendar"."""
    return spoken_action(bill.latest_action_text, _where_now(bill))


def _reached_floor(bill: Bill) -> bool:
    """Whether the last step took the bill out of committee (reported, put on a calendar)."""
    text = bill.latest_action_text or ""
    # "asked unanimous consent that the Committee ... be discharged": a request, which may have failed.
    return bool(re.search(r"Placed on .*Calendar|Ordered to be reported|Reported (?:\(|by|with)|(?<!\bbe )discharged",
                          text, re.I))


def _public_law(bill: Bill) -> str | None:
    match = _PUBLIC_LAW.search(bill.latest_action_text or "")
    if not match or match["pl_congress"]:
        return None
    return spoken_public_law(int(match["congress"]), int(match["number"]), match["kind"])


def standing(bill: Bill, brief_date: dt.date) -> str:
    """Where the bill stands, said once, in the tense the brief's date calls for: a bill of an
    ended Congress that did not become law died with it ("It died in committee when the 117th
    Congress ended."); a law "became law in December 2022"."""
    ended = congress_ended(bill.congress, brief_date)
    congress = f"the {ordinal(bill.congress)} Congress"
    when = spoken_date(bill.latest_action_date)
    month = spoken_month(bill.latest_action_date) if bill.latest_action_date else None
    step = latest_step(bill)
    status = bill.status
    if status == "enacted":
        law = _public_law(bill)
        return "It became law" + (f" in {month}" if month else "") + (f", as {law}." if law else ".")
    if status == "vetoed":
        said = "The President vetoed it" + (f" in {month}" if month else "")
        return (f"{said}, and it never became law." if ended
                else f"{said}; Congress can override a veto only with two-thirds of each chamber.")
    if status == "passed_both":
        if ended:
            return f"It passed both the House and the Senate, but it had not become law when {congress} ended."
        return ("It has passed both the House and the Senate" + (f"; on {when}, {step}." if step else
                ", so it goes to the President next."))
    if status in ("passed_house", "passed_senate"):
        passed, other = ("House", "Senate") if status == "passed_house" else ("Senate", "House")
        if not step or step.startswith(f"the {passed} passed it"):  # the passage is the latest step: say it once
            vote = step.removeprefix(f"the {passed} passed it") if step else ""
            if ended:
                return f"It passed the {passed}{vote} on {when}, but {congress} ended before the {other} acted."
            return f"It passed the {passed}{vote} on {when}, so the {other} has the next move."
        if ended:
            return f"It passed the {passed}, and on {when} {step}; then {congress} ended before the {other} acted."
        return f"It has passed the {passed}, and on {when} {step}, so the {other} has the next move."
    if status == "in_committee":
        if ended and _reached_floor(bill):
            return f"On {when}, {step}, but {congress} ended before the full {_where_now(bill)} voted on it."
        if ended:
            return (f"On {when}, {step}, and the bill" if step else "The bill") + (
                f" died in committee when {congress} ended.")
        return f"On {when}, {step}; it is still in committee." if step else "It is in committee."
    # introduced
    if ended:
        return f"It was introduced but never moved, and it died when {congress} ended."
    return "It has been introduced, and nothing more has happened yet."


# What comes next for a bill (civic_briefs.weekly) depends on these too.
where_now = _where_now
reached_floor = _reached_floor


def headline_status(bill: Bill, brief_date: dt.date) -> str:
    """A few words for a written headline or the digest: "became law", "died in committee"."""
    ended = congress_ended(bill.congress, brief_date)
    if bill.status == "enacted":
        return "became law"
    if bill.status == "vetoed":
        return "was vetoed"
    if ended:
        return {"passed_both": "passed Congress but did not become law",
                "passed_house": "passed the House, then died in the Senate",
                "passed_senate": "passed the Senate, then died in the House",
                "in_committee": "died in committee" if not _reached_floor(bill) else "died without a floor vote",
                }.get(bill.status, "died without a vote")
    return {"passed_both": "has passed both chambers", "passed_house": "has passed the House",
            "passed_senate": "has passed the Senate", "in_committee": "is in committee"}.get(bill.status, "has been introduced")


# ---------------------------------------------------------------- sentences

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
# A full stop after these is not the end of a sentence ("the U.S. Parole Commission").
_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Z]\.)+|\b(?:No|Nos|Mr|Mrs|Ms|Dr|St|Jr|Sr|Inc|Co|Corp|Dept|Gov|Sen|Rep|Sec|vs|etc|e\.g|i\.e|Jan|Feb|Mar|Apr|"
    r"Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.)$")


def sentences(text: str) -> list[str]:
    """Split plain text into sentences (paragraph breaks also end a sentence)."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text or ""):
        paragraph = " ".join(paragraph.replace("- ", "").split())
        pieces: list[str] = []
        for piece in (s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()):
            if pieces and _ABBREVIATION.search(pieces[-1]):
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
        out.extend(pieces)
    return out
