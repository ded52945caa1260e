"""How the pipeline's tasks retry: on errors that can succeed on another try, never on bad input."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from civic_briefs.retrying import is_retryable

__all__ = ["RETRY_OPTIONS", "is_retryable", "retry_unless_permanent"]


def retry_unless_permanent(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry unless the failure cannot succeed on retry."""
    try:
        state.result()
    except Exception as exc:  # the failed state re-raises the task's exception
        return is_retryable(exc)
    return True


# Two retries about 10 and 20 s apart, spread by up to +/-50 %: the work inside a task retries
# each request on its own, so a task retry is for what broke the whole step (a lost API, a crash).
RETRY_OPTIONS: dict[str, Any] = dict(
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_unless_permanent,
)
