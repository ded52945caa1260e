"""The retry policy of the pipeline's tasks, on the Prefect test harness."""

from __future__ import annotations

import pytest
from prefect import flow, task

from civic_briefs.audio import AudioError
from civic_briefs.interests import UnknownInterestError
from civic_briefs.providers.base import PermanentProviderError, ProviderError
from civic_briefs.providers.storage import UnsafeKeyError
from tasks.policy import RETRY_OPTIONS, is_retryable

pytestmark = pytest.mark.usefixtures("prefect_api")


def attempts_until_done(error: Exception) -> int:
    calls = []

    @task(**{**RETRY_OPTIONS, "retry_delay_seconds": 0, "retry_jitter_factor": None})
    def step():
        calls.append(1)
        if len(calls) < 3:
            raise error
        return "ok"

    @flow
    def run():
        return step(return_state=True)

    run(return_state=True)
    return len(calls)


def test_errors_that_cannot_succeed_fail_at_once_and_others_are_retried():
    assert attempts_until_done(PermanentProviderError("401 invalid x-api-key")) == 1
    assert attempts_until_done(UnknownInterestError(["astrology"])) == 1
    assert attempts_until_done(AudioError("not an MP3")) == 1
    assert attempts_until_done(UnsafeKeyError("Unsafe user id '../x'")) == 1
    # libsql raises plain ValueError for a locked database: that one is worth another try.
    assert attempts_until_done(ValueError("database is locked")) == 3
    assert attempts_until_done(ProviderError("529 overloaded")) == 3
    assert attempts_until_done(ConnectionResetError("reset by peer")) == 3
    assert not is_retryable(ProviderError("no MP3", retryable=False)) and is_retryable(None)
