"""CPU seconds and resident memory of processes, read from /proc (Linux), for the benchmark."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces: split after the closing parenthesis.
    head, _, rest = raw.rpartition(")")
    return [head.split("(", 1)[1]] + rest.split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` itself (0 when gone)."""
    s = _stat(pid)
    return (int(s[12]) + int(s[13])) / TICK if s else 0.0


def rss_mb(pid: int) -> float:
    s = _stat(pid)
    return int(s[22]) * PAGE / 2**20 if s else 0.0


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most ``pid`` has been resident since it started."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*") if Path(f"/proc/{pid}/task").exists() else []:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen or _stat(p) is None:
            continue
        seen.append(p)
        todo += children(p)
    return seen


def tree_cpu(pids: list[int]) -> dict[int, float]:
    return {p: cpu_seconds(p) for root in pids for p in tree(root)}


def named(comm: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            s = _stat(int(entry.name))
            if s and s[0] == comm:
                out.append(int(entry.name))
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; processes born in between count from zero."""
    return sum(v - before.get(p, 0.0) for p, v in after.items())
