"""A small flow with the hook the project's flows carry (flows/run_health.py), for the zombie-rule
tests: it prints its flow run id, then stays awake for N seconds of its own time (a paused process
does not count them), so a test can SIGSTOP or SIGKILL it while it runs.

    python tests/e2e/zombie_probe.py AWAKE_SECONDS
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from prefect import flow  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from flows.run_health import explain_crash_mark  # noqa: E402


@flow(name="zombie-probe", on_completion=[explain_crash_mark], on_failure=[explain_crash_mark])
def zombie_probe(awake_seconds: int) -> str:
    print(f"flow-run-id {flow_run.id}", flush=True)
    for _ in range(awake_seconds):
        time.sleep(1)
    return "awake to the end"


if __name__ == "__main__":
    print(zombie_probe(int(sys.argv[1])), flush=True)
