"""A real ``prefect server start`` on loopback for the kill tests (items 2-4 of issue 8), and helpers
to SIGKILL a process with everything it started.

The ``prefect_api`` fixture (the test harness) runs the server as an *ephemeral* one, whose
perpetual services do not include the repossessor that revokes expired concurrency leases: there a
killed holder's slot is never given back. A server started with ``prefect server start`` runs it
(every ``PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS``, 15 s by default), as ``make serve`` does.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PREFECT = REPO / ".venv" / "bin" / "prefect"
CIVIC_BRIEFS = REPO / ".venv" / "bin" / "civic-briefs"
POSTGRES_ADMIN_URL = os.environ.get("E2E_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Prefect or Civic Briefs setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BRIEFS_"))}
    env.update({"PYTHONPATH": str(REPO), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class RealServer:
    api_url: str
    home: Path
    process: subprocess.Popen
    log_path: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.api_url, timeout=30)

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a process that uses this server, with a Prefect home of its own."""
        return clean_env(PREFECT_API_URL=self.api_url, PREFECT_HOME=str(home),
                         PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(home / "results"), **extra)

    def active_slots(self, limit: str) -> int:
        response = self.http.get(f"/v2/concurrency_limits/{limit}")
        response.raise_for_status()
        return response.json()["active_slots"]

    def create_limit(self, name: str, limit: int, slot_decay_per_second: float = 0.0) -> None:
        response = self.http.post("/v2/concurrency_limits/", json={
            "name": name, "limit": limit, "active": True, "slot_decay_per_second": slot_decay_per_second})
        response.raise_for_status()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


async def _postgres(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def postgres_database(prefix: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database (its SQLAlchemy asyncpg URL), dropped after; None if unreachable."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncio.TimeoutError):
        yield None
        return
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_postgres(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            f'DROP DATABASE IF EXISTS "{name}"'))


@contextmanager
def real_prefect_server(root: Path, database_url: str | None = None, timeout: float = 180,
                        **settings: str) -> Iterator[RealServer]:
    """``prefect server start`` on a free loopback port, on ``database_url`` (SQLite in ``root`` by
    default), with every service; stopped (its whole process group) after."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    home = root / "server-home"
    env = clean_env(
        PREFECT_HOME=str(home), PREFECT_UI_ENABLED="false",
        PREFECT_API_DATABASE_CONNECTION_URL=database_url or f"sqlite+aiosqlite:///{root / 'prefect.db'}",
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api", **settings)
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = RealServer(f"http://127.0.0.1:{port}/api", home, process, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prefect server start exited:\n{server.log_tail()}")
            try:
                if server.http.get("/health", timeout=3).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not answer in {timeout} s:\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        server.http.close()
        stop_group(process, signal.SIGTERM, wait=15)


def descendants(pid: int) -> set[int]:
    """Every process started (directly or not) by ``pid``, as ``ps`` sees them now."""
    table = subprocess.run(["ps", "-e", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True).stdout.split()
    children: dict[int, list[int]] = {}
    for child, parent in zip(table[0::2], table[1::2]):
        children.setdefault(int(parent), []).append(int(child))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_tree(pid: int) -> set[int]:
    """SIGKILL ``pid``'s process group and the process group of everything it started, at once, as
    a machine that loses power would: nothing gets to report or clean up. (A Prefect process worker
    starts each flow run in a session of its own, so killing the worker's group alone leaves its
    flow runs alive.) Returns the pids killed."""
    victims = {pid, *descendants(pid)}
    groups = set()
    for victim in victims:
        try:
            groups.add(os.getpgid(victim))
        except ProcessLookupError:
            pass
    for group in groups - {os.getpgrp()}:  # never this test's own group
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return victims


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    """Stop ``process`` (started with ``start_new_session``) and its group; SIGKILL if it lingers,
    with whatever it started in sessions of their own."""
    started = descendants(process.pid)
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    for victim in (process.pid, *started, *descendants(process.pid)):
        try:
            group = os.getpgid(victim)
            if group != os.getpgrp():
                os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")
