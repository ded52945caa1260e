"""Which errors are tried again (civic_briefs.retrying): database states and bad speech replies."""

from __future__ import annotations

import pytest

from civic_briefs import db
from civic_briefs.audio import AudioError
from civic_briefs.providers.base import ProviderError
from civic_briefs.retrying import is_retryable, with_retries


@pytest.mark.parametrize("error,retryable", [
    (ValueError("attempt to write a readonly database"), False),  # libsql's own, untranslated
    # Also what too many open files give: only db.file_error, knowing the file, can tell it read-only.
    (ValueError("unable to open database file"), True),
    (db.DatabaseUnavailableError("The database file x.db could not be opened"), True),
    (db.DatabaseReadOnlyError("The database file x.db cannot be written"), False),
    (ValueError("database is locked"), True),  # another process's lock: it goes away
    (db.DatabaseLockedError("The database file x.db is locked by another process"), True),
    (ProviderError("ElevenLabs returned an MP3 cut short or damaged (260 bytes)", retryable=True), True),
    (AudioError("part 1 is 24000 Hz/1 ch, part 0 is 44100 Hz/1 ch"), False),
])
def test_database_and_reply_errors_are_classified(error, retryable):
    assert is_retryable(error) is retryable


def test_a_permanent_error_is_tried_once_and_a_transient_one_until_the_retries_run_out():
    calls: list[str] = []

    def failing(error: Exception):
        def work():
            calls.append(type(error).__name__)
            raise error
        return work

    with pytest.raises(db.DatabaseReadOnlyError):
        with_retries(failing(db.DatabaseReadOnlyError("read-only")), "x", initial_wait=0.01)
    assert calls == ["DatabaseReadOnlyError"]
    calls.clear()
    with pytest.raises(db.DatabaseLockedError, match="locked"):
        with_retries(failing(db.DatabaseLockedError("locked")), "x", retries=2, initial_wait=0.01)
    assert calls == ["DatabaseLockedError"] * 3
