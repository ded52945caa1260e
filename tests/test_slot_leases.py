"""Issue 8, item 3: a killed process gives its global concurrency slot back within about a minute, and
a live one keeps its slot however long its request takes.

The slots are taken as the paid requests take them (``tasks.limits.slot_for``: a 60 s lease, the
shortest the API accepts, renewed by Prefect every 45 s while held) by processes of their own,
against a real ``prefect server start`` on loopback (``tests/real_prefect.py``: the test harness's
ephemeral server does not run the repossessor, so there a killed holder's slot never comes back).
Each limit has a size of 2 and a name of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.real_prefect import REPO, kill_tree, real_prefect_server, stop_group

# A killed holder's lease ends at most 60 s after its last renewal, and the repossessor looks for
# ended leases every 15 s: the slot is back within 75 s (90 s is "about a minute" on a busy machine).
RETURN_WITHIN_SECONDS = 90
LIVE_CHECK_AT_SECONDS = 70
MEASURED: dict[str, float] = {}


class Holder:
    def __init__(self, server, folder: Path, hold_seconds: float):
        folder.mkdir(parents=True)
        self.limit = f"lease-test-{uuid.uuid4().hex[:10]}"
        server.create_limit(self.limit, 2)
        self.ready, self.release = folder / "ready", folder / "release"
        self.log = (folder / "holder.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "slot_holder.py"), self.limit, str(self.ready), str(self.release),
             str(hold_seconds)], cwd=folder, env=server.client_env(folder / "prefect-home"), stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.held_at: float | None = None

    def wait_held(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (self.ready.exists() and self.ready.read_text().startswith("held")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.flush()
                pytest.fail(f"the holder of {self.limit} took no slot:\n"
                            + (self.ready.parent / "holder.log").read_text(errors="replace")[-3000:])
            time.sleep(0.05)
        self.held_at = time.monotonic()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with real_prefect_server(tmp_path_factory.mktemp("slot-leases")) as running:
        yield running
    if MEASURED:
        print("\nSlot leases (s): " + ", ".join(f"{k}: {v:.1f}" for k, v in MEASURED.items()))


@pytest.fixture(scope="module")
def holders(server, tmp_path_factory):
    """Two holders started together (so the two waits overlap): one to kill, one that keeps its slot
    for 120 s."""
    root = tmp_path_factory.mktemp("holders")
    doomed, steady = Holder(server, root / "doomed", 600), Holder(server, root / "steady", 120)
    try:
        for holder in (doomed, steady):
            holder.wait_held()
        yield {"doomed": doomed, "steady": steady}
    finally:
        for holder in (doomed, steady):
            stop_group(holder.process)
            holder.log.close()


def test_a_killed_holder_gives_its_slot_back_within_about_a_minute(server, holders):
    doomed = holders["doomed"]
    assert server.active_slots(doomed.limit) == 1
    kill_tree(doomed.process.pid)
    killed = time.monotonic()
    doomed.process.wait(timeout=10)
    slots = 1
    while slots and time.monotonic() - killed < RETURN_WITHIN_SECONDS + 30:
        time.sleep(1)
        slots = server.active_slots(doomed.limit)
    returned_after = time.monotonic() - killed
    MEASURED["killed holder's slot back after"] = returned_after
    assert slots == 0, f"the killed holder's slot was still taken {returned_after:.0f} s after the kill"
    assert returned_after <= RETURN_WITHIN_SECONDS
    # Not given back early either: the lease (60 s, last renewed at the latest at the kill) ran out.
    assert returned_after >= 15
    assert doomed.ready.read_text().startswith("held")  # it never gave the slot back itself


def test_a_live_holder_keeps_its_slot_past_its_first_lease(server, holders):
    steady = holders["steady"]
    wait = steady.held_at + LIVE_CHECK_AT_SECONDS - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    held_for = time.monotonic() - steady.held_at
    assert held_for >= LIVE_CHECK_AT_SECONDS
    # Past the first 60 s lease: only a renewal keeps the slot taken.
    assert steady.process.poll() is None
    assert server.active_slots(steady.limit) == 1
    MEASURED["live holder still holding at"] = held_for
    steady.release.write_text("go")
    steady.process.wait(timeout=30)
    assert steady.process.returncode == 0
    assert steady.ready.read_text() == "released"
    assert server.active_slots(steady.limit) == 0  # given back at once when released, not by expiry
