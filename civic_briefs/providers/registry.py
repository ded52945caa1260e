"""The one place that chooses providers from settings.

Each kind is ``auto`` (the real service when its API key is set, the offline one otherwise),
``real`` or ``offline``. Real providers are imported lazily so the offline path needs none of
their configuration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from civic_briefs.providers.base import AudioStorage, NewsSource, ScriptWriter, SpeechRenderer
from civic_briefs.settings import Settings, get_settings

T = TypeVar("T")
_providers: dict[tuple[str, int], tuple[Settings, Any]] = {}
_providers_lock = threading.RLock()  # a provider may be built from another (the segment store from storage)


def _cached(kind: str, settings: Settings, build: Callable[[], T]) -> T:
    """One provider of each kind per settings object, per process: its HTTP client and connection
    pool are reused by every task, and its own pacing (Brave's request spacing) sees every request."""
    key = (kind, id(settings))
    with _providers_lock:
        hit = _providers.get(key)
        if hit is None or hit[0] is not settings:
            hit = (settings, build())
            _providers[key] = hit
        return hit[1]


class ConfigurationError(ValueError):
    """Settings ask for something that cannot work (e.g. a real provider with no API key)."""


def _require(settings: Settings, field: str, kind: str) -> None:
    if getattr(settings, field) is None:
        raise ConfigurationError(f"{kind} provider is 'real' but BRIEFS_{field.upper()} is not set")


def script_writer(settings: Settings | None = None) -> ScriptWriter:
    """The script writer the settings choose (Claude or the offline template writer)."""
    settings = settings or get_settings()
    return _cached("script", settings, lambda: _build_script_writer(settings))


def _build_script_writer(settings: Settings) -> ScriptWriter:
    if settings.provider_is_real(settings.script_provider, settings.anthropic_api_key):
        _require(settings, "anthropic_api_key", "script")
        from civic_briefs.providers.claude_writer import ClaudeWriter

        return ClaudeWriter(settings)
    from civic_briefs.providers.offline_writer import OfflineWriter

    return OfflineWriter(settings.host_a_name, settings.host_b_name)


def speech_renderer(settings: Settings | None = None) -> SpeechRenderer:
    """The speech renderer the settings choose (ElevenLabs or offline espeak-ng)."""
    settings = settings or get_settings()
    return _cached("speech", settings, lambda: _build_speech_renderer(settings))


def _build_speech_renderer(settings: Settings) -> SpeechRenderer:
    if settings.provider_is_real(settings.speech_provider, settings.elevenlabs_api_key):
        _require(settings, "elevenlabs_api_key", "speech")
        from civic_briefs.providers.elevenlabs_speech import ElevenLabsSpeech

        return ElevenLabsSpeech(settings)
    from civic_briefs.providers.offline_speech import OfflineSpeech

    return OfflineSpeech()


def news_source(settings: Settings | None = None) -> NewsSource:
    """The news source the settings choose (Brave Search or none)."""
    settings = settings or get_settings()
    return _cached("news", settings, lambda: _build_news_source(settings))


def _build_news_source(settings: Settings) -> NewsSource:
    if settings.provider_is_real(settings.news_provider, settings.brave_api_key):
        _require(settings, "brave_api_key", "news")
        from civic_briefs.providers.brave_news import BraveNews

        return BraveNews(settings)
    from civic_briefs.providers.offline_news import NoNews

    return NoNews()


def audio_storage(settings: Settings | None = None) -> AudioStorage:
    """Where MP3s are published (a local folder or S3-compatible storage)."""
    settings = settings or get_settings()
    return _cached("storage", settings, lambda: _build_audio_storage(settings))


def _build_audio_storage(settings: Settings) -> AudioStorage:
    from civic_briefs.providers import storage

    if settings.storage == "s3":
        for field in ("s3_bucket", "s3_access_key_id", "s3_secret_access_key"):
            _require(settings, field, "storage")
        return storage.S3Storage(settings)
    return storage.LocalStorage(settings.storage_path, public_base_url=settings.storage_public_base_url)


def segment_store(settings: Settings | None = None) -> Any:
    """Where the pieces of briefs are kept (``civic_briefs.segment_store``): the briefs' bucket
    with S3 storage, so every worker shares them; a local folder otherwise."""
    settings = settings or get_settings()
    return _cached("segments", settings, lambda: _build_segment_store(settings))


def _build_segment_store(settings: Settings) -> Any:
    from civic_briefs.segment_store import LocalBlobStore, S3BlobStore, SegmentStore

    storage = audio_storage(settings)
    if settings.storage == "s3":
        return SegmentStore(S3BlobStore(storage.client(), storage.bucket))  # type: ignore[attr-defined]
    return SegmentStore(LocalBlobStore(settings.segment_store_path))


def claims(settings: Settings | None = None) -> Any:
    """Claims on pieces being made (``civic_briefs.claims``), namespaced by database and store."""
    from civic_briefs.claims import claims_for

    settings = settings or get_settings()
    return _cached("claims", settings, lambda: claims_for(
        settings, namespace=f"{settings.database_url}|{segment_store(settings).name}"))


@dataclass(frozen=True)
class Providers:
    """The providers one run uses, handed to the code that uses them."""

    writer: ScriptWriter
    speech: SpeechRenderer
    news: NewsSource
    storage: AudioStorage

    def names(self) -> ProviderNames:
        return ProviderNames(script=self.writer.name, speech=self.speech.name, news=self.news.name,
                             storage=self.storage.name)

    def limits(self) -> list[str]:
        """The Prefect global concurrency limits their requests take (none for offline providers)."""
        return [p.limit for p in (self.writer, self.speech, self.news) if getattr(p, "limit", None)]


def providers(settings: Settings | None = None) -> Providers:
    """The providers the settings choose (one of each kind per process)."""
    settings = settings or get_settings()
    return Providers(writer=script_writer(settings), speech=speech_renderer(settings), news=news_source(settings),
                     storage=audio_storage(settings))


@dataclass(frozen=True)
class ProviderNames:
    script: str
    speech: str
    news: str
    storage: str

    def describe(self) -> str:
        return f"script={self.script} speech={self.speech} news={self.news} storage={self.storage}"
