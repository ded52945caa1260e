"""A flow run hook for runs that were marked Crashed while they were still alive.

The zombie automation (deployments/automations.yaml, civic-briefs-crash-zombie-flow-runs) marks a
run Crashed when its heartbeats stop for 90 s. That is what a dead worker looks like, but so does a
process that was paused (SIGSTOP, a suspended VM, a starved machine). Prefect lets such a run go
on: Crashed -> Completed (or Failed) is an allowed transition, so the run ends in its right state,
but nothing in that state says the earlier Crashed, and the alert it sent, were false.

``explain_crash_mark`` is the on_completion / on_failure hook that says so: it logs a WARNING on
the run, gives a Completed run a message that explains the Crashed before it, and emits
``civic-briefs.flow-run.alive-after-crashed``, which the failed-run alert automation forwards so
that whoever got the Crashed alert also learns that the run finished.

Wire it into a flow with ``@flow(..., on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

ALIVE_AFTER_CRASHED = "civic-briefs.flow-run.alive-after-crashed"


def crashed_before(states: list[Any], final: Any) -> list[Any]:
    """The Crashed states recorded before ``final`` (a run's state history, any order)."""
    final_time = final.timestamp
    return sorted((s for s in states if s.is_crashed() and (final_time is None or s.timestamp <= final_time)),
                  key=lambda s: s.timestamp)


def explanation(crashed: Any, final: Any) -> str:
    when = crashed.timestamp.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    why = f" ({crashed.message})" if crashed.message else ""
    return (f"This run was marked Crashed at {when}{why} while its process was still alive (paused or "
            f"starved, so its heartbeats stopped); it went on and ended {final.name}: the Crashed state "
            f"and its alert were wrong.")


def explain_crash_mark(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook: if this run was marked Crashed before ``state``, say so (log, message, event)."""
    from prefect.client.orchestration import get_client
    from prefect.events import emit_event
    from prefect.logging.loggers import flow_run_logger

    with get_client(sync_client=True) as client:
        crashed = crashed_before(client.read_flow_run_states(flow_run.id), state)
        if not crashed:
            return
        note = explanation(crashed[-1], state)
        flow_run_logger(flow_run, flow).warning(note)
        if state.is_completed():
            # Same type and result, a message that explains: the run's final state is the one the UI shows.
            message = f"{state.message} | {note}" if state.message else note
            client.set_flow_run_state(flow_run.id, state.model_copy(update={"message": message}))
    emit_event(
        event=ALIVE_AFTER_CRASHED,
        resource={"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                  "prefect.resource.name": flow_run.name or ""},
        related=[{"prefect.resource.id": f"prefect.flow.{flow_run.flow_id}", "prefect.resource.role": "flow",
                  "prefect.resource.name": flow.name}],
        payload={"final_state": state.name, "crashed_at": crashed[-1].timestamp.isoformat(), "message": note},
    )
