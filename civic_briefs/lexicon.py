"""The pronunciation lexicon both speech renderers use (``civic_briefs/data/lexicon.toml``).

Speech engines guess names: espeak says "Kowalski" as "cow-OL-ski" and "GAO" as "gow". Each entry
gives, for a word as the scripts write it, a respelling for ElevenLabs (``alias``: the text sent in
its place) and espeak-ng phonemes (``espeak``: spoken through espeak's ``[[...]]`` phoneme input).
Words match whole and case as written; a possessive ("Kowalski's") keeps its "'s".
``Lexicon.version`` hashes the entries: it is part of each renderer's name, so the render keys of
segments change when the lexicon does, and no audio made with the old one is reused.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

_PHONEMES = re.compile(r"[A-Za-z0-9@':,;_#!&^|=~*\-]+")  # espeak's mnemonics; no brackets, no spaces
_WORD = re.compile(r"[A-Za-z][A-Za-z.\-]*[A-Za-z]|[A-Za-z]")
_POSSESSIVE = r"(?P<s>['\u2019]s)?"
_VOICELESS_END = ("p", "t", "k", "f", "T")
_SIBILANT_END = ("s", "z", "S", "Z")


class LexiconError(ValueError):
    """The lexicon file is malformed (a missing word, a duplicate, phonemes espeak cannot take)."""


@dataclass(frozen=True)
class Entry:
    word: str
    alias: str | None = None
    espeak: str | None = None


def _possessive_phonemes(phonemes: str) -> str:
    """espeak phonemes for "'s" after ``phonemes``: "Iz" after a hiss, "s" after a voiceless stop."""
    if phonemes.endswith(_SIBILANT_END):
        return "Iz"
    return "s" if phonemes.endswith(_VOICELESS_END) else "z"


class Lexicon:
    """Entries by word, with one compiled pattern matching any of them."""

    def __init__(self, entries: list[Entry]):
        self.entries = {entry.word: entry for entry in entries}
        if len(self.entries) != len(entries):
            raise LexiconError("the lexicon names a word twice")
        blob = repr(sorted((e.word, e.alias, e.espeak) for e in entries)).encode()
        self.version = hashlib.sha256(blob).hexdigest()[:8]
        words = sorted(self.entries, key=len, reverse=True)  # the longest first: "NOAA" before "NOA"
        self._pattern = re.compile(r"(?<![\w\[])(?P<w>" + "|".join(map(re.escape, words)) + r")" + _POSSESSIVE
                                   + r"(?![\w\]])") if words else None

    def _replace(self, text: str, make) -> str:  # type: ignore[no-untyped-def]
        if self._pattern is None:
            return text

        def one(match: re.Match[str]) -> str:
            made = make(self.entries[match["w"]], match["s"] or "")
            return match[0] if made is None else made

        return self._pattern.sub(one, text)

    def for_elevenlabs(self, text: str) -> str:
        """``text`` with each listed word replaced by its respelling (words without one untouched)."""
        return self._replace(text, lambda e, s: None if e.alias is None else e.alias + s)

    def for_espeak(self, text: str) -> str:
        """``text`` with each listed word replaced by ``[[phonemes]]`` (needs espeak's phoneme input)."""
        return self._replace(text, lambda e, s: None if e.espeak is None else
                             f"[[{e.espeak}{_possessive_phonemes(e.espeak) if s else ''}]]")


def load(path: str | Path | None = None) -> Lexicon:
    """Read a lexicon TOML file (default: the package's). Raises LexiconError saying what is wrong."""
    if path is None:
        raw = (resources.files("civic_briefs") / "data" / "lexicon.toml").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    try:
        table = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"the lexicon is not valid TOML: {exc}") from exc
    entries = []
    for number, item in enumerate(table.get("word", []), start=1):
        entry = Entry(word=str(item.get("word", "")).strip(), alias=item.get("alias"), espeak=item.get("espeak"))
        if not _WORD.fullmatch(entry.word):
            raise LexiconError(f"entry {number}: {entry.word!r} is not one word")
        if entry.alias is None and entry.espeak is None:
            raise LexiconError(f"entry {number} ({entry.word}): neither alias nor espeak")
        if entry.espeak is not None and not _PHONEMES.fullmatch(entry.espeak):
            raise LexiconError(f"entry {number} ({entry.word}): {entry.espeak!r} is not espeak phonemes")
        if entry.alias is not None and (not entry.alias.strip() or any(c in entry.alias for c in "[]")):
            raise LexiconError(f"entry {number} ({entry.word}): the alias must be plain text")
        entries.append(entry)
    return Lexicon(entries)


@lru_cache(maxsize=1)
def default() -> Lexicon:
    """The package's lexicon, read once per process."""
    return load()
