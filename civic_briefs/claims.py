"""Claims on a piece of work, so that two processes never pay for the same piece twice.

Within one process the day's run makes each piece once by construction (it plans them). Across
processes (an ad-hoc brief beside the day, two workers, a day run twice at once) a piece is claimed
with a short lock on its content key for as long as it is being made, no longer: no lock is held
across another step, so nothing can deadlock. Redis (Prefect's ``RedisLockManager``) holds across
machines; without Redis, lock files beside the segment store hold across the processes of one
machine (a lock manager of our own: Prefect's file locks are not safe when processes race).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from civic_briefs.keys import content_hash

log = logging.getLogger(__name__)

# A claim is held this long at a time and renewed by its (live) holder every quarter of it, so a
# claim whose holder died (a killed worker) is free again within a minute.
CLAIM_HOLD_SECONDS = 60.0
# Waiting for another process's claim gives up after this long, then claims the piece itself.
CLAIM_WAIT_SECONDS = 600.0


class AtomicFileLockManager:
    """Lock files that two processes can race for safely (a Prefect ``LockManager``).

    Prefect's ``FileSystemLockManager`` creates a lock file empty and writes its holder after, so a
    process reading it in between fails, and two processes seeing an expired lock both remove it.
    Here a lock file appears whole or not at all (written aside, then hard-linked into place, which
    fails if the lock exists), and an expired lock is taken away by an atomic rename that only one
    process wins.
    """

    def __init__(self, lock_files_directory: Path):
        self.lock_files_directory = Path(lock_files_directory).expanduser().resolve()

    def _path(self, key: str) -> Path:
        return self.lock_files_directory / f"{key}.lock"

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:  # not written by us: held until it is as old as a claim's hold
            try:
                return {"holder": None, "expires": self._path(key).stat().st_mtime + CLAIM_HOLD_SECONDS}
            except FileNotFoundError:
                return None

    def _live(self, info: dict[str, Any] | None) -> bool:
        return info is not None and (info.get("expires") is None or info["expires"] > time.time())

    def _try_acquire(self, key: str, holder: str, hold_timeout: float | None) -> bool:
        self.lock_files_directory.mkdir(parents=True, exist_ok=True)
        info = {"holder": holder, "expires": time.time() + hold_timeout if hold_timeout is not None else None,
                "taken": dt.datetime.now(dt.UTC).isoformat()}
        fd, aside = tempfile.mkstemp(dir=self.lock_files_directory, prefix=".claim-")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            try:
                os.link(aside, self._path(key))
                return True
            except FileExistsError:
                pass
        finally:
            os.unlink(aside)
        current = self._read(key)
        if current is not None and current.get("holder") == holder and self._live(current):
            return True
        if current is not None and not self._live(current):
            self._remove_expired(key)
        return False

    def _remove_expired(self, key: str) -> None:
        moved = self.lock_files_directory / f".expired-{uuid.uuid4().hex}"
        try:
            os.rename(self._path(key), moved)
        except FileNotFoundError:
            return
        try:
            info = json.loads(moved.read_bytes())
        except ValueError:
            info = None
        if info is not None and self._live(info):
            # A fresh lock was taken meanwhile: put it back (unless yet another one appeared).
            try:
                os.link(moved, self._path(key))
            except FileExistsError:
                pass
        moved.unlink(missing_ok=True)

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while not self._try_acquire(key, holder, hold_timeout):
            if deadline is not None and time.monotonic() >= deadline:
                # Once more: the last try may only have cleared an expired lock (with no wait, the first).
                return self._try_acquire(key, holder, hold_timeout)
            time.sleep(0.05)
        return True

    def _held_by(self, key: str, holder: str) -> dict[str, Any] | None:
        info = self._read(key)
        return info if self._live(info) and info is not None and info.get("holder") == holder else None

    def extend(self, key: str, holder: str, hold_timeout: float) -> bool:
        """Hold ``key`` for ``hold_timeout`` more seconds if ``holder`` still holds it."""
        info = self._held_by(key, holder)
        if info is None:
            return False
        info["expires"] = time.time() + hold_timeout
        fd, aside = tempfile.mkstemp(dir=self.lock_files_directory, prefix=".claim-")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            # Look again just before replacing: the lock may have been released (and taken by another
            # process) while the renewal was written, and a replace would then bring it back for a whole
            # hold, or overwrite the new holder's. Between this look and the replace a few microseconds
            # remain in which another process could still do so (after an expiry, or a release from a
            # process of its own): closing that needs a real lock (flock, Redis), which lock files on
            # any filesystem cannot promise. Within one process Claims never lets the two interleave.
            if self._held_by(key, holder) is None:
                return False
            os.replace(aside, self._path(key))
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(aside)

    def release_lock(self, key: str, holder: str) -> None:
        info = self._read(key)
        if info is None or info.get("holder") != holder:
            raise ValueError(f"No lock held by {holder} for key {key}")
        self._path(key).unlink(missing_ok=True)

    def is_locked(self, key: str) -> bool:
        return self._live(self._read(key))

    def is_lock_holder(self, key: str, holder: str) -> bool:
        info = self._read(key)
        return self._live(info) and info is not None and info.get("holder") == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


def _renewable_redis_lock_manager(url: str) -> Any:
    from prefect_redis.locking import RedisLockManager

    class RenewableRedisLockManager(RedisLockManager):
        """Prefect's Redis lock manager, whose locks a live holder can keep renewing."""

        def extend(self, key: str, holder: str, hold_timeout: float) -> bool:
            from redis.exceptions import LockError

            lock = self._locks.get(self._lock_name_for_key(key))
            if lock is None or not self.is_lock_holder(key, holder):
                return False
            try:
                return bool(lock.extend(hold_timeout, replace_ttl=True))
            except LockError:  # it expired, or someone removed it: no longer ours
                return False

    return RenewableRedisLockManager(connection_url=url)


def redis_lock_manager(url: str, socket_timeout: float = 1.0) -> Any | None:
    """A Redis lock manager (prefect-redis) for ``url`` if a Redis server answers there, else None."""
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=socket_timeout, socket_timeout=socket_timeout).ping()
        return _renewable_redis_lock_manager(url)
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
        self._held: dict[tuple[str, str], float] = {}  # (lock key, holder) -> when claimed
        self._held_lock = threading.Lock()
        # Held across each renewal and each release, so that a release never lands between a
        # renewal's read and its write (which would bring the lock back for a whole hold).
        self._renew_or_release = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._renewing = True

    def _key(self, key: str) -> str:
        return f"civic-briefs-{self._namespace}-{key}"

    def _holder(self) -> str:
        return f"{self._process}-{threading.get_ident()}"

    def holds(self, key: str) -> bool:
        """Whether this thread holds the claim on ``key`` now (it lapses if its renewals stopped)."""
        return self._manager.is_lock_holder(self._key(key), self._holder())

    def is_claimed_by_other(self, key: str) -> bool:
        k = self._key(key)
        return self._manager.is_locked(k) and not self._manager.is_lock_holder(k, self._holder())

    def claim(self, key: str, wait_seconds: float | None = CLAIM_WAIT_SECONDS) -> bool:
        """Claim ``key``, waiting up to ``wait_seconds`` for another holder; True if claimed. The
        claim is renewed in the background until it is released."""
        k, holder = self._key(key), self._holder()
        claimed = self._manager.acquire_lock(k, holder, acquire_timeout=wait_seconds, hold_timeout=CLAIM_HOLD_SECONDS)
        if claimed:
            with self._held_lock:
                self._held[(k, holder)] = time.monotonic()
                if self._renewer is None and self._renewing:
                    self._renewer = threading.Thread(target=self._renew, name="claims-renewer", daemon=True)
                    self._renewer.start()
        return claimed

    def release(self, key: str) -> None:
        k, holder = self._key(key), self._holder()
        with self._held_lock:
            self._held.pop((k, holder), None)
        with self._renew_or_release:
            try:
                self._manager.release_lock(k, holder)
            except Exception as exc:  # noqa: BLE001 - an expired claim is already released
                log.debug("Releasing the claim on %s: %s", key, exc)

    def stop_renewing(self) -> None:
        """Stop renewing held claims, as a process that died would (they expire after their hold)."""
        self._renewing = False

    def _renew(self) -> None:
        while True:
            time.sleep(CLAIM_HOLD_SECONDS / 4)
            with self._held_lock:
                held = list(self._held)
                if not self._renewing or not held:
                    self._renewer = None  # the next claim starts another
                    return
            for k, holder in held:
                self._renew_one(k, holder)

    def _renew_one(self, k: str, holder: str) -> None:
        with self._renew_or_release:
            with self._held_lock:
                if (k, holder) not in self._held:  # released since the round began
                    return
            try:
                renewed = self._manager.extend(k, holder, CLAIM_HOLD_SECONDS)
            except Exception as exc:  # noqa: BLE001 - retried at the next round
                log.warning("Could not renew the claim on %s: %s: %s", k, type(exc).__name__, exc)
                return
            if not renewed:
                with self._held_lock:
                    lost = self._held.pop((k, holder), None) is not None
                if lost:
                    log.warning("The claim on %s was lost before it was released", k)


def claims_for(settings: Any, namespace: str) -> Claims:
    """Redis claims when ``settings.locks`` allows and Redis answers, lock files otherwise."""
    manager = None
    if settings.locks in ("auto", "redis"):
        manager = redis_lock_manager(settings.redis_url)
        if manager is None and settings.locks == "redis":
            raise RuntimeError(f"BRIEFS_LOCKS=redis but no Redis answers at {_without_password(settings.redis_url)}")
    if manager is not None:
        return Claims(manager, namespace, "redis")
    folder = settings.segment_store_path / "claims"
    return Claims(AtomicFileLockManager(folder), namespace, "files")
