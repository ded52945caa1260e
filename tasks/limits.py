"""Which Prefect global concurrency limit guards a provider's requests.

The limits (``anthropic``, ``elevenlabs``, ``brave``) hold across every worker on every machine;
they are created by ``civic-briefs setup-prefect``. ``strict=True`` makes a missing limit an error
at the first request rather than a silent run with no limit. Offline providers take no slot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from prefect.concurrency.sync import concurrency, rate_limit


def slot_for(provider_name: str) -> Callable[[], AbstractContextManager[object]]:
    """A factory of context managers to enter around each request of the named provider."""
    if provider_name.startswith("claude"):
        return lambda: concurrency("anthropic", occupy=1, strict=True)
    if provider_name.startswith("elevenlabs"):
        return lambda: concurrency("elevenlabs", occupy=1, strict=True)
    if provider_name.startswith("brave"):
        # A rate limit: slots decay at brave_requests_per_second, so requests are spaced out.
        def brave_slot() -> AbstractContextManager[object]:
            rate_limit("brave", occupy=1, strict=True)
            return contextlib.nullcontext()
        return brave_slot
    return contextlib.nullcontext
