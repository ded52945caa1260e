"""Prefect artifacts for a published brief, under keys stable per user and date.

- ``brief-<user>-<date>``: markdown with the headline, digest and script;
- ``brief-audio-<user>-<date>``: a link to the MP3;
- ``brief-costs-<user>-<date>``: a table of what the brief cost.

Weekly briefs put ``weekly-`` before the date so they never overwrite the daily ones. A key has
only lowercase letters, digits and dashes: a user id with anything else is lowered and its other
characters turned into dashes, with a short hash of the real id added so two ids never share a key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from civic_briefs.briefing import BriefCosts
from civic_briefs.models import PublishedBrief, Script, Usage
from civic_briefs.settings import get_settings


def key_part(value: str) -> str:
    """``value`` as a piece of an artifact key: lowercase letters, digits and single dashes."""
    part = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    if part != value:
        part = f"{part}-{hashlib.sha256(value.encode()).hexdigest()[:8]}".strip("-")
    return part


def artifact_keys(user_id: str, brief_date: dt.date, brief_type: str = "daily") -> dict[str, str]:
    """The three keys for one user's brief on one date."""
    when = brief_date.isoformat() if brief_type == "daily" else f"{key_part(brief_type)}-{brief_date.isoformat()}"
    user = key_part(user_id)
    return {
        "markdown": f"brief-{user}-{when}",
        "audio": f"brief-audio-{user}-{when}",
        "costs": f"brief-costs-{user}-{when}",
    }


def brief_markdown(script: Script, published: PublishedBrief) -> str:
    settings = get_settings()
    hosts = {"A": settings.host_a_name, "B": settings.host_b_name}
    duration = f"{published.duration_seconds:.0f} s" if published.duration_seconds else "unknown length"
    lines = [
        f"# {script.headline}",
        "",
        f"**{script.title}**: {published.brief_type} brief for `{published.user_id}` on "
        f"{published.brief_date.isoformat()}, {duration}.",
        "",
        f"Audio: [{published.audio_url}]({published.audio_url})" if published.audio_url else "Audio: none",
        "",
        f"Bills covered: {', '.join(script.bills_covered) or 'none'}",
        "",
        "## Digest",
        "",
        script.digest.strip() or "_(empty)_",
        "",
        "## Script",
        "",
    ]
    for segment in script.segments:
        lines.append(f"### {segment.kind}" + (f": {segment.headline}" if segment.headline else ""))
        lines.append("")
        for line in segment.lines:
            lines.append(f"**{hosts.get(line.speaker, line.speaker)}:** {line.text}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def cost_rows(costs: BriefCosts) -> list[dict[str, Any]]:
    """One row per kind of usage, per segment, and the totals; dollars as decimal strings."""
    def usage_row(item: str, usage: Usage) -> dict[str, Any]:
        return {"item": item, "shared": "", "requests": usage.requests, "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens, "characters": usage.characters, "dollars": str(usage.dollars)}

    def dollars_row(item: str, dollars: Decimal, shared: str = "") -> dict[str, Any]:
        return {"item": item, "shared": shared, "requests": "", "input_tokens": "", "output_tokens": "",
                "characters": "", "dollars": str(dollars)}

    rows = [usage_row("script (all segments, full cost)", costs.script),
            usage_row("speech (all segments, full cost)", costs.speech)]
    for seg in costs.segments:
        shared = f"yes, 1/{seg.listeners}" if seg.shared else "no"
        made = "made now" if seg.made_now else "from the segment store"
        rows.append(dollars_row(f"{seg.kind} {seg.key} ({made})", seg.charged_dollars.quantize(Decimal("0.000001")), shared))
    rows.append(dollars_row("personal segments", costs.personal_dollars, "no"))
    rows.append(dollars_row("this brief's share of its shared segments", costs.shared_dollars, "yes"))
    rows.append(dollars_row("total", costs.total_dollars))
    return rows


def create_brief_artifacts(script: Script, published: PublishedBrief, costs: BriefCosts) -> dict[str, str]:
    """Create (or add a version to) the brief's three artifacts, on the run that made it; returns
    their keys. The brief is already published: a failure here is logged and does not fail it."""
    keys = artifact_keys(published.user_id, published.brief_date, published.brief_type)
    label = f"{published.user_id}'s {published.brief_type} brief for {published.brief_date.isoformat()}"
    try:
        create_markdown_artifact(markdown=brief_markdown(script, published), key=keys["markdown"],
                                 description=f"{label}: headline, digest and script")
        if published.audio_url:
            create_link_artifact(link=published.audio_url, link_text=f"{script.title} (MP3)", key=keys["audio"],
                                 description=f"{label}: the MP3")
        create_table_artifact(table=cost_rows(costs), key=keys["costs"], description=f"{label}: costs in dollars")
    except Exception as exc:  # noqa: BLE001 - artifacts are a report; the brief stands without them
        get_run_logger().warning("Could not create the artifacts for %s: %s: %s", label, type(exc).__name__, exc)
    return keys
