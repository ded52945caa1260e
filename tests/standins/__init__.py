"""Loopback stand-ins for the Anthropic, ElevenLabs and Brave APIs (one Starlette app, uvicorn thread),
and for govinfo's BILLSTATUS bulk data (``run_govinfo``, an app of its own).

Tests point the real SDKs at ``StandIns.base_url``; each API's controller counts and records
requests and can be told to fail the next requests in the API's own ways (see ``control``).
"""

from tests.standins.control import Controller, Fault, RecordedRequest
from tests.standins.server import StandIns, build_app, run_govinfo, run_standins, serve_app

__all__ = ["Controller", "Fault", "RecordedRequest", "StandIns", "build_app", "run_govinfo", "run_standins", "serve_app"]
