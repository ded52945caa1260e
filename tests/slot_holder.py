"""Hold one slot of a global concurrency limit the way a paid request does (``tasks.limits.slot_for``),
for ``tests/test_slot_leases.py``:

    python tests/slot_holder.py LIMIT READY_FILE RELEASE_FILE MAX_SECONDS

writes READY_FILE once the slot is held, keeps it until RELEASE_FILE appears (or MAX_SECONDS pass),
gives it back, then writes ``released`` to READY_FILE.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tasks.limits import slot_for


def main(limit: str, ready: Path, release: Path, max_seconds: float) -> None:
    with slot_for(limit)():
        ready.write_text(f"held {time.time()}")
        deadline = time.monotonic() + max_seconds
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    ready.write_text("released")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
