"""A brief's web player page: one static HTML file beside its MP3 (``{key}.html``).

The headline, an ``<audio>`` player, the chapters (buttons that seek the audio), the transcript
(one line per script line, the one being heard highlighted as it plays) and the digest with its
links. Everything is inline (CSS, a few lines of JavaScript, the chapter and line times as
``data-start`` attributes), and the MP3 is named relative to the page, so the page works from the
local folder, a bucket or a CDN alike, with no build step and no request but the audio's.

The template is ``templates/player.html`` (Jinja2, every value escaped); the digest's markdown is
turned into HTML by markdown-it with raw HTML off, so a digest cannot inject markup.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from civic_briefs.chapters import Chapter, Cue
from civic_briefs.models import Script, Speaker
from civic_briefs.providers.base import AudioStorage
from civic_briefs.providers.storage import CONTENT_TYPES, sibling_key


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "js-default": CommonMark without raw HTML, links checked (no javascript: URLs), plus tables.
    return MarkdownIt("js-default", {"linkify": False, "typographer": False})


# A feed renders each of a month of digests every time it is written; a digest never changes.
@lru_cache(maxsize=4096)
def digest_html(digest: str, heading_offset: int = 0) -> str:
    """The digest's markdown as HTML; any HTML in it is escaped, not passed through.
    ``heading_offset``: how many levels its headings go down (on a page that has its own ``<h1>``)."""
    md = _markdown()
    tokens = md.parse(digest)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + heading_offset)}"
    return md.renderer.render(tokens, md.options, {})


@lru_cache(maxsize=1)
def _template():
    env = Environment(loader=PackageLoader("civic_briefs", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("player.html")


@dataclass(frozen=True)
class PageLine:
    speaker: str
    text: str
    start: float | None


@dataclass(frozen=True)
class PageChapter:
    title: str
    start: float


def page_html(*, headline: str, title: str, brief_date: dt.date, digest: str, mp3_name: str,
              duration_seconds: float, chapters: list[PageChapter], lines: list[PageLine],
              captions_name: str | None = None) -> bytes:
    return _template().render(
        headline=headline, title=title, brief_date=brief_date, mp3_name=mp3_name,
        date_text=f"{brief_date:%A, %B} {brief_date.day}, {brief_date.year}",
        duration=f"{int(duration_seconds) // 60}:{int(duration_seconds) % 60:02d}",
        digest=Markup(digest_html(digest, heading_offset=2)), chapters=chapters, lines=lines, captions_name=captions_name,
    ).encode("utf-8")


def page_for(script: Script, brief_date: dt.date, mp3_key: str, duration_seconds: float,
             chapters: list[Chapter] | None, cues: list[Cue] | None, hosts: dict[Speaker, str]) -> bytes:
    """The page of a brief as published: the script, and the chapters and cues measured from its MP3
    (None when it has no measured times: then the transcript has no times and nothing to seek)."""
    if cues:
        lines = [PageLine(c.speaker, c.text, round(c.start, 3)) for c in cues]
    else:
        lines = [PageLine(hosts[line.speaker], line.text, None) for s in script.segments for line in s.lines]
    return page_html(
        headline=script.headline, title=script.title, brief_date=brief_date, digest=script.digest,
        mp3_name=mp3_key.rsplit("/", 1)[-1], duration_seconds=duration_seconds,
        chapters=[PageChapter(c.title, c.start_ms / 1000) for c in chapters or []], lines=lines,
        captions_name=sibling_key(mp3_key, ".vtt").rsplit("/", 1)[-1] if cues else None)


def publish_page(storage: AudioStorage, mp3_key: str, page: bytes, cache_control: str) -> str:
    """Upload the page beside its MP3; its URL. A short ``cache_control``: unlike the MP3, the page
    under a key may be written again (by a later version of this module)."""
    return storage.put(sibling_key(mp3_key, ".html"), page, CONTENT_TYPES[".html"], cache_control=cache_control)
