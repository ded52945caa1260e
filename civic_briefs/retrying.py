"""Which errors are worth trying again, and trying them again.

Bad input and bad data (an unknown interest, an unsafe user id, audio that is not MP3) fail the
same way on every try; provider errors say for themselves. So does a database that cannot be
written (a read-only file or folder). A locked database is worth another try: the lock is another
process's, held for a while; so is one that could not be opened though it is writable (too many open
files, a network filesystem's hiccup). Not ValueError as a whole: libsql raises it for all of those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from civic_briefs import db
from civic_briefs.audio import AudioError
from civic_briefs.interests import UnknownInterestError
from civic_briefs.providers.base import ProviderError
from civic_briefs.providers.registry import ConfigurationError
from civic_briefs.providers.storage import UnsafeKeyError
from civic_briefs.repo import UnknownUserError

log = logging.getLogger(__name__)
T = TypeVar("T")

PERMANENT_ERRORS = (UnknownInterestError, UnknownUserError, ConfigurationError, UnsafeKeyError, AudioError,
                    db.DatabaseReadOnlyError)
# Three retries waiting about 2, 4 and 8 s, spread by jitter so that many failing together do not
# retry in lockstep.
RETRIES = 3


def is_retryable(exc: BaseException | None) -> bool:
    """False for errors that fail the same way every time (bad input, refused credentials)."""
    if exc is None:
        return True
    if isinstance(exc, ProviderError):
        return exc.retryable
    # libsql's own ValueError, where nothing translated it: "attempt to write a readonly database" is
    # permanent; its "unable to open database file" is tried again, as nothing looked at the file's
    # permissions (db.file_error does, where it knows the file).
    if db.is_read_only(exc):
        return False
    return not isinstance(exc, PERMANENT_ERRORS)


def with_retries(work: Callable[[], T], what: str, *, before_sleep: Callable[[], None] = lambda: None,
                 retries: int = RETRIES, initial_wait: float = 2.0) -> T:
    """``work()``, tried again up to ``retries`` times on retryable errors; ``before_sleep`` runs
    before each wait (the caller gives back what it must not hold while idle, e.g. a slot)."""
    def sleeping(state: RetryCallState) -> None:
        before_sleep()
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (try %d of %d): %s: %s; retrying", what, state.attempt_number, retries + 1,
                    type(error).__name__, error)

    retrying = Retrying(stop=stop_after_attempt(retries + 1), wait=wait_exponential_jitter(multiplier=initial_wait, max=30),
                        retry=retry_if_exception(is_retryable), before_sleep=sleeping, reraise=True)
    return retrying(work)
