"""How many segments a day's briefs used, and how many were rendered (not taken from the cache)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName, TaskRunFilterStartTime


def segment_counts(since: dt.datetime, costs: list[dict[str, Any]]) -> tuple[int, int]:
    """(render-segment task runs since ``since`` that really rendered, segments used by the briefs).

    Cached task runs end in the state named "Cached"; only Completed ones did the work.
    """
    used = sum(len(c.get("segments", {})) for c in costs)
    task_filter = TaskRunFilter(name=TaskRunFilterName(like_="render-"), start_time=TaskRunFilterStartTime(after_=since))
    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:  # the API returns at most 200 runs a page
            page = client.read_task_runs(task_run_filter=task_filter, limit=200, offset=len(runs))
            runs.extend(page)
            if len(page) < 200:
                break
    rendered = sum(1 for r in runs if r.state and r.state.is_completed() and r.state.name == "Completed")
    return rendered, used
