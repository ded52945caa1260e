"""What a test can see and steer in a stand-in: recorded requests and queued faults.

Each stand-in API has one ``Controller``. It records every request it receives (method, path,
query, headers, body) and answers from a queue of faults before answering normally:
``fail_next("rate_limit", times=2)`` makes the next two requests fail that way. Fault kinds
understood by every stand-in:

* ``"slow"`` (``seconds=``): wait, then answer normally;
* ``"drop"``: send the headers and part of the body, then close the connection;
* ``"malformed"``: HTTP 200 with a body that is not what the API sends;
* ``"status"`` (``status=``, ``body=``, ``headers=``): any status with a JSON body;
* ``"server_error"``: HTTP 500 in the API's own error shape.

Each stand-in adds its own kinds (see its module).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


class Controller:
    """Thread-safe record of requests plus a queue of faults for one stand-in API."""

    def __init__(self, name: str, api_key: str):
        self.name = name
        self.api_key = api_key
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []  # things the stand-in found wrong with what it was sent or sent back

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def fail_next(self, kind: str, times: int = 1, **options: Any) -> None:
        """Answer the next ``times`` requests with fault ``kind`` (see the module docstring)."""
        with self._lock:
            self._faults.extend(Fault(kind, dict(options)) for _ in range(times))

    def record(self, request: RecordedRequest) -> tuple[int, Fault | None]:
        """Record a request; return its 1-based number and the fault to apply to it, if any."""
        with self._lock:
            self.requests.append(request)
            return len(self.requests), (self._faults.popleft() if self._faults else None)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.problems.clear()
            self._reset_extra()

    def _reset_extra(self) -> None:
        """Subclasses clear their own state here."""
