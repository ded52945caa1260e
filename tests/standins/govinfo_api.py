"""Stand-in for govinfo's BILLSTATUS bulk data: the sitemap index, the per-congress-and-type
sitemaps and the files, in govinfo's layout (sitemaps.org 0.9 XML):

    GET /sitemap/bulkdata/BILLSTATUS/sitemapindex.xml         <sitemapindex> of {congress}{type} sitemaps
    GET /sitemap/bulkdata/BILLSTATUS/{congress}{type}/sitemap.xml   <urlset> of files with <lastmod>
    GET /bulkdata/BILLSTATUS/{congress}/{type}/BILLSTATUS-{congress}{type}{number}.xml

It serves the real files of a folder (``../shared/data/billstatus``) with lastmod dates the test
controls: ``touch(name)`` makes a file look changed (a later lastmod, the same bytes), ``replace``
serves other bytes, ``list_missing`` lists a file that is not there (404). A sitemap's lastmod in
the index is the latest of its files', as govinfo's is.

Faults per file or sitemap (``fail(name, kind, times)``, ``name`` a file name, ``117hr/sitemap.xml``
or ``sitemapindex.xml``): ``rate_limit`` (429 with ``Retry-After``), ``server_error`` (503),
``not_found`` (404), ``malformed`` (200, not XML), ``drop`` (a cut download: ``Content-Length``
says more than the body that is sent before the connection closes), ``status`` (any status),
``hold`` (wait until ``release()``: a test can kill a sync mid-file).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from collections import deque
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from tests.standins.common import DroppedResponse, record
from tests.standins.control import Controller, Fault

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NAME = re.compile(r"BILLSTATUS-(?P<congress>\d+)(?P<type>[a-z]+)(?P<number>\d+)\.xml")
BASE_LASTMOD = dt.datetime(2024, 1, 10, 12, 0, tzinfo=dt.UTC)


def w3c(when: dt.datetime) -> str:
    """govinfo's lastmod format: 2024-01-10T12:00:00.000Z."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class GovinfoControl(Controller):
    def __init__(self, folder: Path):
        super().__init__("govinfo", api_key="")
        self.folder = folder
        self.base_url = ""  # set once the server listens
        self.real_paths = {p.name: f"{m['congress']}/{m['type']}/{p.name}"
                           for p in sorted(folder.glob("BILLSTATUS-*.xml")) if (m := _NAME.fullmatch(p.name))}
        self.held = threading.Event()  # set while a request waits on a "hold" fault
        self._release = threading.Event()
        self._reset_extra()

    def _reset_extra(self) -> None:
        self.paths = dict(self.real_paths)
        # The files' own order spreads their lastmods a second apart, so a watermark can fall between them.
        self.lastmod = {name: BASE_LASTMOD + dt.timedelta(seconds=i) for i, name in enumerate(self.paths)}
        self.content: dict[str, bytes] = {}
        self.missing: set[str] = set()
        self.file_faults: dict[str, deque[Fault]] = {}
        self.held.clear()
        self._release.set()

    @property
    def names(self) -> list[str]:
        return list(self.paths)

    def latest(self) -> dt.datetime:
        return max(self.lastmod.values())

    def touch(self, name: str, when: dt.datetime | None = None) -> dt.datetime:
        """Give ``name`` a new lastmod (default: a minute after the latest), as if it had changed."""
        when = when or self.latest() + dt.timedelta(minutes=1)
        self.lastmod[name] = when
        return when

    def replace(self, name: str, data: bytes, when: dt.datetime | None = None) -> dt.datetime:
        self.content[name] = data
        return self.touch(name, when)

    def list_missing(self, name: str, congress: int, bill_type: str) -> None:
        """List ``name`` in its sitemap though there is no such file (govinfo answers 404)."""
        self.paths[name] = f"{congress}/{bill_type}/{name}"
        self.missing.add(name)
        self.touch(name)

    def fail(self, name: str, kind: str, times: int = 1, **options: Any) -> None:
        if kind == "hold":
            self._release.clear()
        with self._lock:
            self.file_faults.setdefault(name, deque()).extend(Fault(kind, dict(options)) for _ in range(times))

    def release(self) -> None:
        self._release.set()

    def take_fault(self, name: str) -> Fault | None:
        with self._lock:
            queue = self.file_faults.get(name)
            return queue.popleft() if queue else None

    def file_requests(self) -> list[str]:
        """The names of the files asked for, in order (every try counts)."""
        return [r.path.rsplit("/", 1)[-1] for r in self.requests if r.path.startswith("/bulkdata/")]

    def sitemap_requests(self) -> list[str]:
        return [r.path for r in self.requests if r.path.startswith("/sitemap/")]

    def groups(self) -> dict[str, list[str]]:
        """``117hr`` -> the names listed in that sitemap."""
        found: dict[str, list[str]] = {}
        for name, path in self.paths.items():
            congress, bill_type, _ = path.split("/")
            found.setdefault(f"{congress}{bill_type}", []).append(name)
        return found


def _xml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode(), media_type="application/xml")


async def _faulted(control: GovinfoControl, name: str, body: bytes | None) -> Response | None:
    fault = control.take_fault(name)
    if fault is None:
        return None
    if fault.kind == "hold":
        control.held.set()
        while not control._release.is_set():
            await asyncio.sleep(0.02)
        return None
    if fault.kind == "rate_limit":
        return Response(b"Too Many Requests", status_code=429, headers={"Retry-After": str(fault.options.get("retry_after", 0))})
    if fault.kind == "server_error":
        return Response(b"<html><body>Service Unavailable</body></html>", status_code=503, media_type="text/html")
    if fault.kind == "not_found":
        return Response(b"Not Found", status_code=404, media_type="text/plain")
    if fault.kind == "status":
        return Response(b"", status_code=int(fault.options["status"]), headers=fault.options.get("headers"))
    if fault.kind == "malformed":
        return Response(b"<billStatus><version>3.0.0</version><bill><congress>11", media_type="application/xml")
    if fault.kind == "drop":
        return DroppedResponse(body or b"<urlset/>", media_type="application/xml", keep=0.4)
    raise ValueError(f"unknown govinfo fault {fault.kind!r}")


async def sitemap_index(request: Request) -> Response:
    control: GovinfoControl = request.app.state.govinfo
    await record(control, request)
    items = []
    for group, names in sorted(control.groups().items()):
        lastmod = max(control.lastmod[n] for n in names)
        items.append(f"<sitemap><loc>{control.base_url}/sitemap/bulkdata/BILLSTATUS/{group}/sitemap.xml</loc>"
                     f"<lastmod>{w3c(lastmod)}</lastmod></sitemap>")
    body = f'<sitemapindex xmlns="{NS}">{"".join(items)}</sitemapindex>'
    return await _faulted(control, "sitemapindex.xml", body.encode()) or _xml(body)


async def sitemap(request: Request) -> Response:
    control: GovinfoControl = request.app.state.govinfo
    await record(control, request)
    group = request.path_params["group"]
    names = control.groups().get(group)
    if names is None:
        return Response(b"Not Found", status_code=404)
    items = [f"<url><loc>{escape(control.base_url)}/bulkdata/BILLSTATUS/{control.paths[n]}</loc>"
             f"<lastmod>{w3c(control.lastmod[n])}</lastmod><changefreq>always</changefreq></url>"
             for n in sorted(names, key=lambda n: control.lastmod[n])]
    body = f'<urlset xmlns="{NS}">{"".join(items)}</urlset>'
    return await _faulted(control, f"{group}/sitemap.xml", body.encode()) or _xml(body)


async def bulk_file(request: Request) -> Response:
    control: GovinfoControl = request.app.state.govinfo
    await record(control, request)
    name = request.path_params["name"]
    expected = control.paths.get(name)
    if expected != f"{request.path_params['congress']}/{request.path_params['type']}/{name}":
        return Response(b"Not Found", status_code=404)
    body = None if name in control.missing else control.content.get(name) or (control.folder / name).read_bytes()
    faulted = await _faulted(control, name, body)
    if faulted is not None:
        return faulted
    if body is None:
        return Response(b"Not Found", status_code=404, media_type="text/plain")
    return Response(body, media_type="application/xml")
