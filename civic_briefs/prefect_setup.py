"""Set up the Prefect objects the pipeline expects: the process work pool and the global limits.

``civic-briefs setup-prefect`` runs this against the API in ``PREFECT_API_URL`` (a server started
by ``make serve``, or Prefect Cloud), or against the embedded API when it is not set. It is
idempotent: what exists is kept, limits whose size no longer matches the settings are resized.

The global concurrency limits:

- ``anthropic``: requests to Claude in flight at once, across all workers (``anthropic_concurrency``).
- ``elevenlabs``: requests to ElevenLabs in flight at once (``elevenlabs_concurrency``).
- ``brave``: a rate limit (slots decay at ``brave_requests_per_second``, at most
  ``brave_concurrency`` taken at once), used with ``prefect.concurrency.sync.rate_limit``.

The real providers take them with ``strict=True``, so a run with real providers fails at its start
if the limit is missing instead of silently running unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civic_briefs.settings import Settings, get_settings

WORK_POOL_TYPE = "process"


@dataclass(frozen=True)
class LimitSpec:
    name: str
    limit: int
    slot_decay_per_second: float = 0.0


def concurrency_limits(settings: Settings | None = None) -> list[LimitSpec]:
    """The global concurrency limits the settings ask for."""
    settings = settings or get_settings()
    return [
        LimitSpec("anthropic", settings.anthropic_concurrency),
        LimitSpec("elevenlabs", settings.elevenlabs_concurrency),
        LimitSpec("brave", settings.brave_concurrency, float(settings.brave_requests_per_second)),
    ]


def ensure_concurrency_limits(client: Any, settings: Settings | None = None) -> dict[str, str]:
    """Create each limit if missing, resize it if its size differs. Returns ``{name: what was done}``
    with ``created``, ``updated`` or ``ok``. ``client`` is a sync Prefect client."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    done: dict[str, str] = {}
    for spec in concurrency_limits(settings):
        try:
            current = client.read_global_concurrency_limit_by_name(spec.name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(
                name=spec.name, limit=spec.limit, slot_decay_per_second=spec.slot_decay_per_second, active=True))
            done[spec.name] = "created"
            continue
        if (current.limit != spec.limit or not current.active
                or abs((current.slot_decay_per_second or 0.0) - spec.slot_decay_per_second) > 1e-9):
            client.update_global_concurrency_limit(spec.name, GlobalConcurrencyLimitUpdate(
                limit=spec.limit, slot_decay_per_second=spec.slot_decay_per_second, active=True))
            done[spec.name] = "updated"
        else:
            done[spec.name] = "ok"
    return done


def ensure_work_pool(client: Any, name: str) -> str:
    """Create the process work pool ``name`` if missing: ``created`` or ``ok``. Raises ValueError if a
    pool of that name exists with another type."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(
            name=name, type=WORK_POOL_TYPE, base_job_template=ProcessWorker.get_default_base_job_template(),
            description="Civic Briefs: flow runs as local processes (see the README: Run it for real)"))
        return "created"
    if pool.type != WORK_POOL_TYPE:
        raise ValueError(f"work pool {name!r} exists with type {pool.type!r}, not {WORK_POOL_TYPE!r}")
    return "ok"


def setup_prefect(settings: Settings | None = None, work_pool: bool = True) -> dict[str, str]:
    """Ensure the work pool (optional) and the limits; returns ``{object: what was done}``."""
    from prefect.client.orchestration import get_client

    settings = settings or get_settings()
    done: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        if work_pool:
            done[f"work pool {settings.work_pool}"] = ensure_work_pool(client, settings.work_pool)
        for name, what in ensure_concurrency_limits(client, settings).items():
            done[f"limit {name}"] = what
    return done


def setup_prefect_command(
    work_pool: bool = True,
) -> None:
    """Create the work pool and the anthropic, elevenlabs and brave limits if missing.

    On the API in PREFECT_API_URL (or the embedded one); limits are resized to the settings.
    Safe to run again."""
    from prefect.settings import get_current_settings
    from rich.console import Console

    console = Console()
    api = get_current_settings().api.url or "the embedded API (PREFECT_API_URL is not set)"
    console.print(f"Prefect API: {api}")
    for what, outcome in setup_prefect(work_pool=work_pool).items():
        console.print(f"  {what}: {outcome}")
