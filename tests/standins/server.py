"""One Starlette app speaking the three APIs, served by uvicorn in a thread on 127.0.0.1.

    with run_standins() as standins:
        settings = Settings(anthropic_base_url=standins.base_url, anthropic_api_key=standins.anthropic.api_key, ...)
        ...
        assert standins.anthropic.count == 1

``StandIns.settings(**overrides)`` builds a ``Settings`` pointed at the stand-ins with their keys.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from civic_briefs.settings import Settings
from tests.standins.anthropic_api import AnthropicControl, messages
from tests.standins.brave_api import BraveControl, news_search
from tests.standins.elevenlabs_api import ElevenLabsControl, text_to_dialogue, text_to_dialogue_with_timestamps
from tests.standins.govinfo_api import GovinfoControl, bulk_file, sitemap, sitemap_index


@dataclass
class StandIns:
    base_url: str
    anthropic: AnthropicControl
    elevenlabs: ElevenLabsControl
    brave: BraveControl

    def reset(self) -> None:
        """Forget recorded requests, queued faults and per-API state."""
        for control in (self.anthropic, self.elevenlabs, self.brave):
            control.reset()

    def env(self, **overrides: Any) -> dict[str, Any]:
        """``BRIEFS_*`` values (for ``settings_env``) pointing every paid provider at the stand-ins."""
        return dict(
            anthropic_api_key=self.anthropic.api_key, anthropic_base_url=self.base_url,
            elevenlabs_api_key=self.elevenlabs.api_key, elevenlabs_base_url=self.base_url,
            brave_api_key=self.brave.api_key, brave_base_url=self.base_url, brave_requests_per_second=50,
            brave_concurrency=5, claude_max_attempts=2, **overrides)

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointed at the stand-ins, with their keys and no ``.env`` file."""
        values: dict[str, Any] = dict(
            anthropic_api_key=self.anthropic.api_key, anthropic_base_url=self.base_url,
            elevenlabs_api_key=self.elevenlabs.api_key, elevenlabs_base_url=self.base_url,
            brave_api_key=self.brave.api_key, brave_base_url=self.base_url, brave_requests_per_second=1000.0,
        )
        values.update(overrides)
        return Settings(_env_file=None, **values)


def build_app(anthropic: AnthropicControl, elevenlabs: ElevenLabsControl, brave: BraveControl) -> Starlette:
    app = Starlette(routes=[
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/text-to-dialogue", text_to_dialogue, methods=["POST"]),
        Route("/v1/text-to-dialogue/stream", text_to_dialogue, methods=["POST"]),
        Route("/v1/text-to-dialogue/with-timestamps", text_to_dialogue_with_timestamps, methods=["POST"]),
        Route("/res/v1/news/search", news_search, methods=["GET"]),
    ])
    app.state.anthropic, app.state.elevenlabs, app.state.brave = anthropic, elevenlabs, brave
    return app


@contextmanager
def serve_app(app: Starlette, name: str = "standins") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http="h11", ws="none", lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def run_standins(*, anthropic_key: str = "sk-ant-standin-key", elevenlabs_key: str = "xi-standin-key",
                 brave_key: str = "brave-standin-key") -> Iterator[StandIns]:
    """Serve the stand-ins on a free loopback port for the duration of the ``with`` block."""
    controls = AnthropicControl(anthropic_key), ElevenLabsControl(elevenlabs_key), BraveControl(brave_key)
    with serve_app(build_app(*controls)) as base_url:
        yield StandIns(base_url, *controls)


@contextmanager
def run_govinfo(folder: Path) -> Iterator[GovinfoControl]:
    """The govinfo bulk data stand-in serving the BILLSTATUS files in ``folder``; its
    ``base_url`` is set (see ``tests/standins/govinfo_api.py``)."""
    control = GovinfoControl(folder)
    app = Starlette(routes=[
        Route("/sitemap/bulkdata/BILLSTATUS/sitemapindex.xml", sitemap_index, methods=["GET"]),
        Route("/sitemap/bulkdata/BILLSTATUS/{group}/sitemap.xml", sitemap, methods=["GET"]),
        Route("/bulkdata/BILLSTATUS/{congress}/{type}/{name}", bulk_file, methods=["GET"]),
    ])
    app.state.govinfo = control
    with serve_app(app, "govinfo") as base_url:
        control.base_url = base_url
        yield control
