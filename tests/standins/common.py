"""Pieces shared by the stand-in APIs: recording a Starlette request, and a response that drops."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.standins.control import Controller, Fault, RecordedRequest


async def record(controller: Controller, request: Request) -> tuple[int, Fault | None, RecordedRequest]:
    """Read and record ``request``; return its number, its fault (if any) and the record."""
    body = await request.body()
    recorded = RecordedRequest(
        method=request.method, path=request.url.path, query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()}, body=body,
    )
    number, fault = controller.record(recorded)
    if fault is not None and fault.kind == "slow":
        await asyncio.sleep(float(fault.options.get("seconds", 1.0)))
        fault = None
    return number, fault, recorded


class DroppedResponse(Response):
    """Sends the status, headers and the first part of ``body``, then closes the connection.

    The declared ``content-length`` (or chunked encoding when ``chunked``) promises the whole body,
    so the client sees the connection end in the middle of the message (``RemoteProtocolError``).
    """

    def __init__(self, body: bytes, *, status_code: int = 200, media_type: str = "application/json",
                 headers: dict[str, str] | None = None, keep: float = 0.5, chunked: bool = False):
        super().__init__(status_code=status_code, headers=headers, media_type=media_type)
        self.full = body
        self.keep = max(1, int(len(body) * keep))
        self.chunked = chunked

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(k, v) for k, v in self.raw_headers if k.lower() != b"content-length"]
        if not self.chunked:
            headers.append((b"content-length", str(len(self.full)).encode()))
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": self.full[: self.keep], "more_body": True})
        await asyncio.sleep(0.01)
        # Returning without the final body message makes the server close the connection.


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def malformed(media_type: str = "application/json") -> Response:
    return Response(b'{"type": "message", "content": [ <html>oops', status_code=200, media_type=media_type)


def generic_fault(fault: Fault) -> Response | None:
    """The response for fault kinds every stand-in shares, or None for stand-in specific kinds."""
    if fault.kind == "status":
        return json_response(int(fault.options["status"]), fault.options.get("body", {}), fault.options.get("headers"))
    if fault.kind == "malformed":
        return malformed(fault.options.get("media_type", "application/json"))
    return None


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
