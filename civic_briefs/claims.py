"""Claims on a piece of work, so that two processes never pay for the same piece twice.

Within one process the day's run makes each piece once by construction (it plans them). Across
processes (an ad-hoc brief beside the day, two workers, a day run twice at once) a piece is claimed
with a short lock on its content key for as long as it is being made, no longer: no lock is held
across another step, so nothing can deadlock. Redis (Prefect's ``RedisLockManager``) holds across
machines; without Redis, lock files beside the segment store hold across the processes of one
machine. Both are Prefect lock managers.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Any

from civic_briefs.keys import content_hash

log = logging.getLogger(__name__)

# A claim whose holder died (a killed worker) expires after this long; making one piece (a few
# provider requests with their retries) takes far less.
CLAIM_HOLD_SECONDS = 300.0
# Waiting for another process's claim gives up after this long, then claims the piece itself.
CLAIM_WAIT_SECONDS = CLAIM_HOLD_SECONDS + 30


def redis_lock_manager(url: str, socket_timeout: float = 1.0) -> Any | None:
    """A ``RedisLockManager`` for ``url`` if a Redis server answers there, else None."""
    try:
        import redis
        from prefect_redis.locking import RedisLockManager

        redis.Redis.from_url(url, socket_connect_timeout=socket_timeout, socket_timeout=socket_timeout).ping()
        return RedisLockManager(connection_url=url)
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable Redis here
        log.info("Redis at %s is not usable (%s): claims use lock files on this machine", _without_password(url),
                 type(exc).__name__)
        return None


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class Claims:
    """Claims on content keys, namespaced so that two databases never share a claim."""

    def __init__(self, manager: Any, namespace: str, kind: str):
        self._manager = manager
        self._namespace = content_hash(namespace)[:12]
        self.kind = kind
        # One holder per process and thread: a thread's claims are its own.
        self._process = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def _key(self, key: str) -> str:
        return f"civic-briefs-{self._namespace}-{key}"

    def _holder(self) -> str:
        return f"{self._process}-{threading.get_ident()}"

    def is_claimed_by_other(self, key: str) -> bool:
        k = self._key(key)
        return self._manager.is_locked(k) and not self._manager.is_lock_holder(k, self._holder())

    def claim(self, key: str, wait_seconds: float | None = CLAIM_WAIT_SECONDS) -> bool:
        """Claim ``key``, waiting up to ``wait_seconds`` for another holder; True if claimed."""
        return self._manager.acquire_lock(self._key(key), self._holder(), acquire_timeout=wait_seconds,
                                          hold_timeout=CLAIM_HOLD_SECONDS)

    def release(self, key: str) -> None:
        try:
            self._manager.release_lock(self._key(key), self._holder())
        except Exception as exc:  # noqa: BLE001 - an expired claim is already released
            log.debug("Releasing the claim on %s: %s", key, exc)


def claims_for(settings: Any, namespace: str) -> Claims:
    """Redis claims when ``settings.locks`` allows and Redis answers, lock files otherwise."""
    from prefect.locking.filesystem import FileSystemLockManager

    manager = None
    if settings.locks in ("auto", "redis"):
        manager = redis_lock_manager(settings.redis_url)
        if manager is None and settings.locks == "redis":
            raise RuntimeError(f"BRIEFS_LOCKS=redis but no Redis answers at {_without_password(settings.redis_url)}")
    if manager is not None:
        return Claims(manager, namespace, "redis")
    folder = settings.segment_store_path / "claims"
    return Claims(FileSystemLockManager(lock_files_directory=folder), namespace, "files")
