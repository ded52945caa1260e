"""Which Prefect global concurrency limit guards a provider's requests.

The limits (``anthropic``, ``elevenlabs``, ``brave``) hold across every worker on every machine;
they are created by ``civic-briefs setup-prefect``. ``strict=True`` makes a missing limit an error
at the first request rather than a silent run with no limit. Offline providers take no slot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.exceptions import ObjectNotFound

from civic_briefs.providers.registry import ConfigurationError, ProviderNames

_LIMIT_PREFIXES = {"claude": "anthropic", "elevenlabs": "elevenlabs", "brave": "brave"}


def limits_needed(providers: ProviderNames) -> list[str]:
    """Names of the global concurrency limits the chosen providers take (none for offline ones)."""
    names = [providers.script, providers.speech, providers.news]
    return [limit for prefix, limit in _LIMIT_PREFIXES.items() if any(n.startswith(prefix) for n in names)]


def require_limits(providers: ProviderNames) -> None:
    """Raise ConfigurationError naming every limit the providers need that the Prefect API lacks.

    Checked once at the start of a brief, so a missing limit fails the run at once with the fix,
    instead of each paid request failing (and retrying) later.
    """
    missing = []
    with get_client(sync_client=True) as client:
        for name in limits_needed(providers):
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                missing.append(name)
    if missing:
        raise ConfigurationError(
            f"Global concurrency limit(s) {', '.join(missing)} missing on the Prefect API: "
            "run `civic-briefs setup-prefect` (make serve does) before using the real providers")


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
