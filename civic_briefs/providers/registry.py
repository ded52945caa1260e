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
_providers_lock = threading.Lock()


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


@dataclass(frozen=True)
class ProviderNames:
    script: str
    speech: str
    news: str
    storage: str

    def describe(self) -> str:
        return f"script={self.script} speech={self.speech} news={self.news} storage={self.storage}"


def chosen_names(settings: Settings | None = None) -> ProviderNames:
    """Names of the providers settings choose (no secrets in them), for logs and cache keys."""
    settings = settings or get_settings()
    return ProviderNames(
        script=script_writer(settings).name,
        speech=speech_renderer(settings).name,
        news=news_source(settings).name,
        storage=audio_storage(settings).name,
    )
