"""The stand-ins of the paid APIs in a process of their own, for the benchmark (``bench_day.py``).

Serves ``tests.standins.build_app`` (Anthropic, ElevenLabs, Brave) on loopback, wrapped in a
recorder that notes, for every request, its API, start and end times, status, a hash of its
body and (ElevenLabs) the characters billed. A small control API under ``/_bench/`` sets the
latencies and the ElevenLabs concurrency, clears the record and reports what was seen:

* ``POST /_bench/config`` ``{"anthropic": s, "elevenlabs": s, "brave": s, "concurrency": C,
  "seconds_per_char": s}``
* ``POST /_bench/reset``: forget recorded requests (keeps the configuration)
* ``GET /_bench/stats[?since=T]``: per API counts, busy seconds, highest concurrency seen,
  characters, repeated bodies; this process's CPU seconds and peak RSS.

Run: ``python -m benchmarks.standin_proc PORT_FILE`` (writes the port to PORT_FILE when ready).
Not a test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import resource
import socket
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from tests.standins import elevenlabs_api  # noqa: E402
from tests.standins.anthropic_api import AnthropicControl  # noqa: E402
from tests.standins.brave_api import BraveControl  # noqa: E402
from tests.standins.elevenlabs_api import ElevenLabsControl  # noqa: E402
from tests.standins.mp3 import tone_mp3 as _tone_mp3  # noqa: E402
from tests.standins.server import build_app  # noqa: E402

KEYS = {"anthropic": "sk-ant-standin-key", "elevenlabs": "xi-standin-key", "brave": "brave-standin-key"}
API_OF = {"/v1/messages": "anthropic", "/v1/text-to-dialogue": "elevenlabs",
          "/v1/text-to-dialogue/stream": "elevenlabs", "/v1/text-to-dialogue/with-timestamps": "elevenlabs",
          "/res/v1/news/search": "brave"}


@lru_cache(maxsize=512)
def _quantised_tone(seconds: float, sample_rate: int, bitrate: int) -> bytes:
    return _tone_mp3(seconds, sample_rate, bitrate)


def fast_tone(seconds: float, sample_rate: int = 44100, bitrate_kbps: int = 128, hz: float = 220.0) -> bytes:
    """The stand-in's tone, its length rounded to 0.25 s so a few dozen encodings serve a whole day
    (the stand-in makes each sample in Python: unrounded, its CPU would compete with the pipeline's)."""
    return _quantised_tone(max(0.25, round(seconds * 4) / 4), sample_rate, bitrate_kbps)


elevenlabs_api.tone_mp3 = fast_tone


class Recorder:
    """ASGI wrapper: records every request to the stand-ins; answers ``/_bench/*`` itself."""

    def __init__(self, app, controls):
        self.app = app
        self.anthropic, self.elevenlabs, self.brave = controls
        self.lock = threading.Lock()
        self.records: list[dict] = []
        self.in_flight = {"anthropic": 0, "elevenlabs": 0, "brave": 0}
        self.max_in_flight = dict(self.in_flight)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.startswith("/_bench/"):
            return await self.control(scope, receive, send)
        api = API_OF.get(path, "other")
        chunks: list[bytes] = []
        info = {"status": 0, "chars": 0}

        async def recv():
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def snd(message):
            if message["type"] == "http.response.start":
                info["status"] = message["status"]
                for k, v in message.get("headers", []):
                    if k.lower() == b"character-cost":
                        info["chars"] = int(v)
            await send(message)

        start = time.time()
        with self.lock:
            self.in_flight[api] = self.in_flight.get(api, 0) + 1
            self.max_in_flight[api] = max(self.max_in_flight.get(api, 0), self.in_flight[api])
        try:
            await self.app(scope, recv, snd)
        finally:
            end = time.time()
            body = b"".join(chunks)
            if api == "brave":
                body = scope.get("query_string", b"")
            digest = hashlib.sha256(body).hexdigest()[:24]
            with self.lock:
                self.in_flight[api] -= 1
                self.records.append({"api": api, "start": start, "end": end, "status": info["status"],
                                     "hash": digest, "chars": info["chars"]})

    async def control(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        query = dict(p.split("=", 1) for p in scope.get("query_string", b"").decode().split("&") if "=" in p)
        if path == "/_bench/config":
            cfg = json.loads(body or b"{}")
            if "anthropic" in cfg:
                self.anthropic.latency = float(cfg["anthropic"])
            if "brave" in cfg:
                self.brave.latency = float(cfg["brave"])
            if "elevenlabs" in cfg:
                self.elevenlabs.latency = float(cfg["elevenlabs"])
            if "concurrency" in cfg:
                self.elevenlabs.concurrency_limit = cfg["concurrency"]
            if "seconds_per_char" in cfg:
                self.elevenlabs.seconds_per_char = float(cfg["seconds_per_char"])
            out = {"ok": True}
        elif path == "/_bench/reset":
            with self.lock:
                self.records.clear()
                self.max_in_flight = {k: 0 for k in self.in_flight}
            for control in (self.anthropic, self.elevenlabs, self.brave):
                with control._lock:
                    control.requests.clear()
                    control.problems.clear()
            with self.elevenlabs._lock:
                self.elevenlabs.issued.clear()
                self.elevenlabs.max_in_flight = 0
            with self.anthropic._lock:
                self.anthropic.replies.clear()
            out = {"ok": True}
        else:
            out = self.stats(float(query.get("since", "0")), float(query.get("split", "0")))
        data = json.dumps(out).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    def stats(self, since: float, split: float) -> dict:
        """Per API figures. With ``split`` (a time): requests started after it whose body had been
        seen before it, split by whether that earlier request had been answered 200 before ``split``."""
        with self.lock:
            records = list(self.records)
            max_seen = dict(self.max_in_flight)
        out: dict = {"apis": {}}
        for api in ("anthropic", "elevenlabs", "brave"):
            rows = [r for r in records if r["api"] == api and r["start"] >= since]
            ok = [r for r in rows if r["status"] == 200]
            seen: set[str] = set()
            repeated = 0
            for r in sorted(rows, key=lambda r: r["start"]):
                if r["status"] == 200 and r["hash"] in seen:
                    repeated += 1
                if r["status"] == 200:
                    seen.add(r["hash"])
            entry = {
                "requests": len(rows), "ok": len(ok), "errors": len(rows) - len(ok),
                "statuses": sorted({r["status"] for r in rows}),
                "busy_s": round(sum(r["end"] - r["start"] for r in ok), 3),
                "characters": sum(r["chars"] for r in ok),
                "repeated_ok": repeated,
                "first_start": min((r["start"] for r in rows), default=None),
                "last_end": max((r["end"] for r in rows), default=None),
                "max_in_flight": max_seen.get(api, 0),
            }
            if split:
                done_before = {r["hash"] for r in rows if r["status"] == 200 and r["end"] <= split}
                asked_before = {r["hash"] for r in rows if r["start"] <= split}
                after = [r for r in rows if r["start"] > split]
                entry["after_split"] = len(after)
                entry["repeated_finished"] = sum(r["hash"] in done_before for r in after)
                entry["repeated_unfinished"] = sum(r["hash"] in asked_before and r["hash"] not in done_before
                                                   for r in after)
                entry["in_flight_at_split"] = sum(r["start"] <= split < r["end"] for r in rows)
            out["apis"][api] = entry
        el = out["apis"]["elevenlabs"]
        el["max_in_flight_control"] = self.elevenlabs.max_in_flight
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu_s"] = usage.ru_utime + usage.ru_stime
        out["max_rss_mb"] = usage.ru_maxrss / 1024
        out["problems"] = {c.name: list(c.problems)[:5] for c in (self.anthropic, self.elevenlabs, self.brave)}
        return out


def main() -> None:
    port_file = Path(sys.argv[1])
    controls = AnthropicControl(KEYS["anthropic"]), ElevenLabsControl(KEYS["elevenlabs"]), BraveControl(KEYS["brave"])
    app = Recorder(build_app(*controls), controls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http="h11", ws="none", lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1, access_log=False, backlog=2048)
    server = uvicorn.Server(config)

    async def announce():
        while not server.started:
            await asyncio.sleep(0.01)
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        os.replace(tmp, port_file)

    async def run():
        await asyncio.gather(server.serve(sockets=[sock]), announce())

    asyncio.run(run())


if __name__ == "__main__":
    main()
