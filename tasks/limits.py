"""The Prefect global concurrency limits that guard the paid services' requests.

The limits (``anthropic``, ``elevenlabs``, and ``brave`` as a rate limit) hold across every worker on
every machine; ``civic-briefs setup-prefect`` creates them. A provider says which limit it takes
(``provider.limit``). ``strict=True`` makes a missing limit an error rather than a silent run with
no limit. A slot's lease is short (60 s) and renewed by Prefect every 45 s while held, however long
the request; a killed process's lease runs out and the server's repossessor (every 15 s on a
``prefect server start``) gives its slot back, at most 75 s after the kill (73 s measured:
tests/test_slot_leases.py). The test harness's ephemeral server runs no repossessor: there a killed
holder's slot never comes back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.exceptions import ObjectNotFound

from civic_briefs.providers.registry import ConfigurationError

# The shortest lease the Prefect API accepts.
LEASE_SECONDS = 60
RATE_LIMITS = {"brave"}


def require_limits(limits: list[str]) -> dict[str, int]:
    """The size of each named limit; ConfigurationError naming every one the Prefect API lacks.

    Checked once at the start of a run, so a missing limit fails it at once with the fix, instead
    of each paid request failing (and retrying) later.
    """
    sizes, missing = {}, []
    with get_client(sync_client=True) as client:
        for name in limits:
            try:
                sizes[name] = client.read_global_concurrency_limit_by_name(name).limit
            except ObjectNotFound:
                missing.append(name)
    if missing:
        raise ConfigurationError(
            f"Global concurrency limit(s) {', '.join(missing)} missing on the Prefect API: "
            "run `civic-briefs setup-prefect` (make serve does) before using the real providers")
    return sizes


def slot_for(limit: str) -> Callable[[], AbstractContextManager[object]]:
    """A factory of context managers, each holding one slot of ``limit`` while entered."""
    if limit in RATE_LIMITS:
        # A rate limit: slots decay at the configured rate, so requests are spaced out.
        def spaced() -> AbstractContextManager[object]:
            rate_limit(limit, occupy=1, strict=True)
            return contextlib.nullcontext()
        return spaced
    # A lease renewal that fails is not fatal to the request holding the slot: at worst the slot
    # returns to the pool a little early (strict would otherwise cancel the thread mid-request).
    return lambda: concurrency(limit, occupy=1, lease_duration=LEASE_SECONDS, strict=True,
                               raise_on_lease_renewal_failure=False)
