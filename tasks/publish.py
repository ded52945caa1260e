"""Step 5: publish the MP3 and save the brief."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from civic_briefs import db, publishing
from civic_briefs.models import BillSelection, BriefAudio, BriefType, NewsItem, PublishedBrief, Script
from civic_briefs.providers import registry
from civic_briefs.settings import get_settings
from tasks.policy import RETRY_OPTIONS


# Not cached: the database row is the record that the brief exists (the flow checks it first).
@task(name="publish-brief", task_run_name="publish-{user_id}-{brief_date}", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def publish_brief(user_id: str, brief_type: BriefType, brief_date: dt.date, interests: list[str], script: Script,
                  audio: BriefAudio, selection: BillSelection, news: list[NewsItem], costs: dict[str, Any]) -> PublishedBrief:
    settings = get_settings()
    # Upload first, outside any database connection (an idle remote stream would expire meanwhile).
    url = publishing.store_audio(registry.audio_storage(settings), settings.s3_prefix, user_id, brief_type,
                                 brief_date, audio.mp3)
    return db.run_with_reconnect(lambda conn: publishing.save_published(
        conn, user_id=user_id, brief_type=brief_type, brief_date=brief_date, interests=interests,
        script=script, audio=audio, audio_url=url, selection=selection, news=news, costs=costs,
    ))


@task(name="record-outcome", task_run_name="record-{status}-{user_id}", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def record_outcome(user_id: str, brief_type: BriefType, brief_date: dt.date, interests: list[str],
                   status: str, reason: str) -> PublishedBrief:
    """Save a skipped or failed brief row with its reason."""
    return db.run_with_reconnect(lambda conn: publishing.record_outcome(
        conn, user_id=user_id, brief_type=brief_type, brief_date=brief_date, interests=interests,
        status=status, reason=reason,
    ))
