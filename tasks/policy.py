"""Retry and cache settings shared by the pipeline's tasks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy
from prefect.locking.filesystem import FileSystemLockManager
from prefect.settings import get_current_settings
from prefect.tasks import exponential_backoff

from civic_briefs.audio import AudioError
from civic_briefs.interests import UnknownInterestError
from civic_briefs.providers.base import ProviderError
from civic_briefs.providers.registry import ConfigurationError
from civic_briefs.providers.storage import UnsafeKeyError
from civic_briefs.repo import UnknownUserError

# Three retries waiting about 2, 4 and 8 s, each spread by up to +/-50 % so that many briefs
# failing together do not retry in lockstep.
RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=2)
RETRY_JITTER = 0.5

# Bad input and bad data (an unknown interest, an unsafe user id, audio that is not MP3) fail the
# same way on every try. Not ValueError as a whole: libsql raises it for "database is locked" too.
PERMANENT_ERRORS = (UnknownInterestError, UnknownUserError, ConfigurationError, UnsafeKeyError, AudioError)


def is_retryable(exc: BaseException | None) -> bool:
    """False for errors that fail the same way every time (bad input, refused credentials)."""
    if exc is None:
        return True
    if isinstance(exc, ProviderError):
        return exc.retryable
    return not isinstance(exc, PERMANENT_ERRORS)


def retry_unless_permanent(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry unless the failure cannot succeed on retry."""
    try:
        state.result()
    except Exception as exc:  # the failed state re-raises the task's exception
        return is_retryable(exc)
    return True


RETRY_OPTIONS: dict[str, Any] = dict(
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_unless_permanent,
)

# Written scripts and rendered audio stay valid for the day they are for (and a little more, for
# a run that resumes after midnight).
SCRIPT_CACHE_EXPIRATION = dt.timedelta(days=2)


def content_hash(*parts: Any) -> str:
    """A stable hash of JSON-able values (pydantic models are dumped in JSON mode)."""
    def plain(value: Any) -> Any:
        if hasattr(value, "model_dump"):
            return value.model_dump(mode="json")
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        return value

    blob = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# A shared step that holds its lock longer than this is taken to have died with its process (a
# killed worker, an out-of-memory kill): the lock expires and another run may do the work. The
# hold includes waiting for a provider's concurrency slot, so it is generous.
SHARED_LOCK_HOLD_SECONDS = 60 * 60


class ExpiringFileLockManager(FileSystemLockManager):
    """File locks that expire after ``SHARED_LOCK_HOLD_SECONDS`` unless a hold time is given,
    so a crashed run never leaves later runs waiting forever on its lock file."""

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        return super().acquire_lock(key, holder, acquire_timeout, hold_timeout or SHARED_LOCK_HOLD_SECONDS)

    async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                            hold_timeout: float | None = None) -> bool:
        return await super().aacquire_lock(key, holder, acquire_timeout, hold_timeout or SHARED_LOCK_HOLD_SECONDS)


def shared_cache(key_fn: Callable[[Any, dict[str, Any]], str]) -> CachePolicy:
    """A cache policy for work shared across users (news, stories, audio): keyed by ``key_fn`` and
    SERIALIZABLE, so when two briefs need the same segment at once, one does the work and the other
    waits for its result instead of paying the provider twice.

    The locks are files beside the task results: they hold across the processes of one machine
    (and across machines when the results folder is shared storage) and expire after
    ``SHARED_LOCK_HOLD_SECONDS``.
    """
    locks = Path(get_current_settings().results.local_storage_path).expanduser() / "locks"
    return CacheKeyFnPolicy(cache_key_fn=key_fn).configure(
        isolation_level="SERIALIZABLE", lock_manager=ExpiringFileLockManager(lock_files_directory=locks))
