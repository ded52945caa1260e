"""Step 4: render each segment's audio (cached on its content) and join a brief's MP3."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from civic_briefs import audio, rendering
from civic_briefs.models import BriefAudio, RenderedSegment, Segment
from civic_briefs.providers import registry
from tasks.limits import slot_for
from tasks.policy import RETRY_OPTIONS, SCRIPT_CACHE_EXPIRATION, content_hash, shared_cache


def _render_key(context: TaskRunContext, p: dict[str, Any]) -> str:
    # Text, speakers and the renderer's voices/model/format: the same words sound the same.
    lines = [(line.speaker, line.text) for line in p["segment"].lines]
    return "render-" + content_hash(lines, p["speech_name"])


@task(name="render-segment", task_run_name="render-{segment.kind}", cache_policy=shared_cache(_render_key),
      cache_expiration=SCRIPT_CACHE_EXPIRATION, **RETRY_OPTIONS)
def render_segment(segment: Segment, speech_name: str) -> RenderedSegment:
    """MP3 of one segment. Real speech services take a slot of the ``elevenlabs`` limit per request."""
    renderer = registry.speech_renderer()
    return rendering.render_segment(renderer, segment, slot=slot_for(renderer.name))


# Joining is cheap and its result is a whole brief's MP3: not worth keeping in result storage.
@task(name="join-audio", cache_policy=NO_CACHE, persist_result=False, **RETRY_OPTIONS)
def join_audio(rendered: list[RenderedSegment], tags: dict[str, str]) -> BriefAudio:
    """The brief's MP3: segments joined at frame level, ID3-tagged, duration measured from the file."""
    mp3 = audio.tag_mp3(audio.join_mp3([r.mp3 for r in rendered]), **tags)
    info = audio.mp3_info(mp3)
    return BriefAudio(mp3=mp3, duration_seconds=info.duration_seconds, sample_rate=info.sample_rate,
                      bitrate_kbps=info.bitrate_kbps)
