"""Settings for Civic Briefs, read once from the environment (prefix ``BRIEFS_``) and ``.env``.

Nothing else in the project reads ``os.environ`` for its own configuration. Secrets are
``SecretStr`` so they never show in logs, reprs or persisted results.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / ".data"

ProviderChoice = Literal["auto", "real", "offline"]


class TokenPrice(BaseModel):
    """Dollars per million tokens for one Claude model."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


DEFAULT_CLAUDE_PRICES: dict[str, TokenPrice] = {
    "claude-sonnet-5-5": TokenPrice(
        input=Decimal("3.00"), output=Decimal("15.00"), cache_read=Decimal("0.30"), cache_write=Decimal("3.75")
    ),
    "claude-haiku-5-5": TokenPrice(
        input=Decimal("0.10"), output=Decimal("0.50"), cache_read=Decimal("0.01"), cache_write=Decimal("0.125")
    ),
}


class BriefCounts(BaseModel):
    """What one brief length takes: at most this many top stories, quick hits and news items."""

    top_stories: int = Field(ge=0)
    quick_hits: int = Field(ge=0)
    news_items: int = Field(ge=0)


# Measured with both renderers (each speaks ~15 characters a second): a top story runs 36-54 s, a
# quick hit 14-23 s, the opening 18-28 s, the close 17 s, with 1 s between segments. So 1 + 2 lands
# near 2 minutes, 3 + 5 (the standard, in Settings) near 5 and 8 + 12 near 10, when there are
# enough bills. A news item adds ~6 s. Fixed, not settings: the 20% promise is tested for these.
SHORT_BRIEF = BriefCounts(top_stories=1, quick_hits=2, news_items=0)
LONG_BRIEF = BriefCounts(top_stories=8, quick_hits=12, news_items=10)
# What each length aims at, in seconds.
BRIEF_TARGET_SECONDS = {"short": 120, "standard": 300, "long": 600}


class Settings(BaseSettings):
    """All configuration. Every field can be set as ``BRIEFS_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix="BRIEFS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Database (libSQL): a local file path, or libsql://... for Turso.
    database_url: str = Field(default=str(DATA_DIR / "civic-briefs.db"))
    database_auth_token: SecretStr | None = None
    # Embedded replica: a local file kept in sync with the Turso database at database_url.
    database_replica_path: Path | None = None

    # Where published MP3 files go: a local folder (the default) or "s3".
    storage: Literal["local", "s3"] = "local"
    storage_path: Path = DATA_DIR / "audio"
    storage_public_base_url: str | None = None

    # S3-compatible object storage (Vultr Object Storage).
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_prefix: str = "briefs"
    s3_addressing_style: Literal["path", "virtual"] = "path"
    s3_public_read: bool = True
    # An object never changes once written (a brief made again is a new key), so a CDN may keep it.
    s3_cache_control: str = "public, max-age=31536000, immutable"
    cdn_base_url: str | None = None
    # A feed changes with every brief (the MP3s never do): podcast apps and a CDN must see new ones soon.
    feed_cache_control: str = "public, max-age=300"
    # The feeds' cover art (1400-3000 px square, JPEG or PNG); empty: the project's own, uploaded beside the feeds.
    feed_image_url: str | None = None
    # A brief made again points at its new MP3 at once; the one it replaced stays this long, so a
    # player that already holds its URL keeps working, then each day's run removes it.
    replaced_audio_hours: int = Field(default=24, ge=0)

    # Providers: "auto" uses the real service when its API key is set, the offline one otherwise.
    script_provider: ProviderChoice = "auto"
    speech_provider: ProviderChoice = "auto"
    news_provider: ProviderChoice = "auto"

    # Claude (Anthropic)
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    claude_model: str = "claude-sonnet-5-5"
    claude_max_tokens: int = 4096
    claude_max_attempts: int = 3
    claude_prices: dict[str, TokenPrice] = Field(default_factory=lambda: dict(DEFAULT_CLAUDE_PRICES))

    # ElevenLabs
    elevenlabs_api_key: SecretStr | None = None
    elevenlabs_base_url: str | None = None
    elevenlabs_model: str = "eleven_v3"
    elevenlabs_output_format: str = "mp3_44100_128"
    elevenlabs_concurrency: int = 2
    # Dollars per 1,000 billed characters (plan-dependent).
    elevenlabs_price_per_1k_chars: Decimal = Decimal("0.30")
    voice_host_a: str = "JBFqnCBsd6RMkjVDRZzb"
    voice_host_b: str = "21m00Tcm4TlvDq8ikWAM"

    # Hosts as they are named in the script.
    host_a_name: str = "Alex"
    host_b_name: str = "Jordan"

    # Brave Search
    brave_api_key: SecretStr | None = None
    brave_base_url: str = "https://api.search.brave.com"
    brave_requests_per_second: float = 1.0
    news_per_interest: int = 3
    news_per_brief: int = 6

    # Selection. top_stories, quick_hits and news_per_brief are a standard brief's (about 5 minutes).
    dedup_days: int = 30
    top_stories: int = 3
    quick_hits: int = 5
    # The short and long lengths' counts are SHORT_BRIEF and LONG_BRIEF above.
    # A weekly brief (the week in review) takes at least these, or its length's counts when larger.
    weekly_top_stories: int = Field(default=5, ge=0)
    weekly_quick_hits: int = Field(default=6, ge=0)

    # The segment store: every piece of a brief (news, written and rendered segments) under its
    # content key, so nothing is paid for twice. With storage "s3" it is the bucket (segments/).
    segment_store_path: Path = DATA_DIR / "segments"
    # Pieces and task results older than this are pruned by each day's run.
    segment_retention_days: int = Field(default=7, ge=1)
    # Claims on pieces being made: "auto" uses Redis when it answers at redis_url (holds across
    # machines), lock files beside the segment store otherwise (one machine).
    locks: Literal["auto", "redis", "file"] = "auto"
    redis_url: str = "redis://127.0.0.1:6379/0"

    # Prefect orchestration
    # Briefs in progress at once (each carried from its segments to publishing by one thread).
    max_concurrent_briefs: int = Field(default=64, ge=1, le=256)
    # Local-time delivery (flows/briefs_due.py, run every 15 minutes): a brief is made from this
    # long before its listener's delivery time. It must cover a run's interval (15 min) and the
    # time a day's briefs take to make.
    delivery_lead_minutes: int = Field(default=60, ge=15, le=720)
    # A brief not made by its delivery time (a failure, an outage) is tried again by the runs of the
    # next this many hours; after that the day is given up (the failed-run alert has said so).
    delivery_catch_up_hours: int = Field(default=3, ge=0, le=24)
    # fan_out "deployment": how many make-briefs runs share the day's users.
    fan_out_runs: int = Field(default=4, ge=1, le=64)
    # fan_out "deployment": how many times a batch whose run crashed (or failed before saving its
    # briefs) is started again, as a new make-briefs run any worker can take, before what it did not
    # finish is made in the daily-briefs process itself.
    batch_retries: int = Field(default=2, ge=0, le=10)
    # "in-process": daily_briefs runs each user's brief as a child flow inside its own process (the
    # embedded default); "deployment": each brief is a run of the generate-brief deployment, picked
    # up by any worker of the work pool (needs a Prefect server and workers: make serve).
    fan_out: Literal["in-process", "deployment"] = "in-process"
    # The process work pool that the deployments in prefect.yaml use.
    work_pool: str = "briefs"
    # Global concurrency limits (created by `civic-briefs setup-prefect`): requests in flight to
    # Claude and ElevenLabs across all workers; Brave is a rate limit of brave_requests_per_second
    # with bursts of at most brave_concurrency requests.
    anthropic_concurrency: int = 4
    brave_concurrency: int = 1

    # Incremental sync of bills (civic_briefs/sync, the sync-bills flow): govinfo's BILLSTATUS bulk
    # data, the files its sitemaps list as changed since the last sync.
    govinfo_base_url: str = "https://www.govinfo.gov"
    # Congresses to sync; empty: the current one (from today's date).
    sync_congresses: list[int] = Field(default_factory=list)
    sync_bill_types: list[str] = Field(default_factory=lambda: ["hr", "s", "hjres", "sjres", "hconres", "sconres",
                                                                "hres", "sres"])
    sync_timeout_seconds: float = Field(default=30.0, gt=0)
    # Tries after the first for a request that failed on a 429, a 5xx or a cut connection; the waits
    # start at sync_retry_wait_seconds and double (a 429's Retry-After is honoured up to the max).
    sync_retries: int = Field(default=4, ge=0, le=20)
    sync_retry_wait_seconds: float = Field(default=2.0, ge=0)
    sync_max_retry_wait_seconds: float = Field(default=60.0, ge=0)

    def brief_counts(self) -> dict[str, BriefCounts]:
        """Every brief length's counts, by length."""
        return {"short": SHORT_BRIEF,
                "standard": BriefCounts(top_stories=self.top_stories, quick_hits=self.quick_hits,
                                        news_items=self.news_per_brief),
                "long": LONG_BRIEF}

    def weekly_counts(self, counts: dict[str, BriefCounts] | None = None) -> dict[str, BriefCounts]:
        """Every length's counts in a weekly brief: ``counts`` (default: the daily ones), with at
        least the weekly top stories and quick hits."""
        return {length: c.model_copy(update={"top_stories": max(c.top_stories, self.weekly_top_stories),
                                             "quick_hits": max(c.quick_hits, self.weekly_quick_hits)})
                for length, c in (counts or self.brief_counts()).items()}

    def provider_is_real(self, choice: ProviderChoice, key: SecretStr | None) -> bool:
        """Resolve a provider choice: ``auto`` is real exactly when its API key is set."""
        if choice == "auto":
            return key is not None and bool(key.get_secret_value())
        return choice == "real"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
