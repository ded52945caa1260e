"""flows/run_health.py: which Crashed states count, what the explanation says, and that the
project's flows carry the hook. The hook against a real server, with a paused and a killed run:
tests/e2e/test_alerts_and_zombie_runs.py."""

from __future__ import annotations

import datetime as dt

from prefect.states import Completed, Crashed, Running

from flows.daily_briefs import daily_briefs
from flows.generate_brief import generate_brief
from flows.import_bills import import_bills
from flows.make_briefs import make_briefs_batch
from flows.run_health import crashed_before, explain_crash_mark, explanation

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)


def _at(state, seconds: int):
    state.timestamp = T0 + dt.timedelta(seconds=seconds)
    return state


def test_only_crashed_states_before_the_final_one_count():
    final = _at(Completed(), 200)
    history = [_at(Running(), 0), _at(Crashed(message="no heartbeat"), 120), final, _at(Crashed(), 300)]
    assert [s.timestamp for s in crashed_before(history, final)] == [T0 + dt.timedelta(seconds=120)]
    assert crashed_before([_at(Running(), 0), final], final) == []


def test_the_explanation_names_the_time_the_reason_and_the_end():
    text = explanation(_at(Crashed(message="Marked Crashed: no heartbeat for 90 seconds"), 95), _at(Completed(), 200))
    assert text == ("This run was marked Crashed at 2026-12-01 06:01:35 UTC (Marked Crashed: no heartbeat for 90 "
                    "seconds) while its process was still alive (paused or starved, so its heartbeats stopped); it "
                    "went on and ended Completed: the Crashed state and its alert were wrong.")


def test_the_flows_the_zombie_rule_watches_carry_the_hook():
    for flow in (daily_briefs, generate_brief, make_briefs_batch, import_bills):
        assert flow.on_completion_hooks == [explain_crash_mark], flow.name
        assert flow.on_failure_hooks == [explain_crash_mark], flow.name
