"""End to end, as operators run it: deployments/serve.sh starts a real Prefect server on a PostgreSQL
database of its own, the work pool, limits, deployments from prefect.yaml, automations and two
workers; flow runs are started with the Prefect CLI; deployments/stop.sh stops everything.

Everything lives in a temporary folder (Prefect home, pid files and logs, the briefs database,
audio, results) except the PostgreSQL database, which is created for the run and dropped after.
Skipped, with the reason, when PostgreSQL on 127.0.0.1:5432 cannot be reached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PREFECT = REPO / ".venv" / "bin" / "prefect"
# The server that creates and drops the test's database (trust auth here and in CI).
ADMIN_DSN = os.environ.get("E2E_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
USERS = ["dwayne", "james", "lena", "maria", "priya"]
TIMINGS: dict[str, float] = {}


# --- PostgreSQL ----------------------------------------------------------------------------------

async def _admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def pg_url() -> Any:
    name = f"civic_briefs_e2e_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncio.TimeoutError) as exc:
        pytest.skip(f"PostgreSQL at {ADMIN_DSN} is unreachable ({type(exc).__name__}: {exc}); "
                    "the end-to-end test runs the Prefect server on PostgreSQL")
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            f'DROP DATABASE IF EXISTS "{name}"'))


# --- a webhook that records the alerts the automation sends ---------------------------------------

class _Alerts(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.received.append(json.loads(body or b"{}"))
        except ValueError:
            self.received.append({"raw": body.decode(errors="replace")})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def alert_webhook():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Alerts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Alerts.received
    server.shutdown()


# --- the stack -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, root: Path, env: dict[str, str], port: int):
        self.root, self.env, self.port = root, env, port
        self.api = f"http://127.0.0.1:{port}/api"
        self.run_dir = Path(env["BRIEFS_RUN_DIR"])
        self.http = httpx.Client(base_url=self.api, timeout=30)

    def sh(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(REPO / "deployments" / script)], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def prefect(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(PREFECT), *args], cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text().strip()) for p in sorted(self.run_dir.glob("*.pid"))}

    def start_run(self, deployment: str, **params: Any) -> str:
        args = ["deployment", "run", deployment]
        for key, value in params.items():
            args += ["--param", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
        out = self.prefect(*args, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return re.search(r"UUID: ([0-9a-f-]{36})", out.stdout).group(1)

    def wait_final(self, run_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.http.get(f"/flow_runs/{run_id}").json()
            if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return run
            time.sleep(1)
        raise AssertionError(f"flow run {run_id} not finished after {timeout} s: {run['state']}\n{self.logs()}")

    def artifacts(self, *keys: str) -> dict[str, dict[str, Any]]:
        found = self.http.post("/artifacts/filter", json={"artifacts": {"key": {"any_": list(keys)}}}).json()
        return {a["key"]: a for a in found}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-4000:] for p in sorted(self.run_dir.glob("*.log")))


def _descendants(pid: int) -> set[int]:
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running.
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


@pytest.fixture(scope="module")
def govinfo_e2e():
    """The govinfo stand-in for the stack's sync-bills runs: a worker's run never reaches govinfo.gov."""
    from tests.billstatus_expected import BILLSTATUS_DIR
    from tests.standins import run_govinfo

    with run_govinfo(BILLSTATUS_DIR) as control:
        yield control


@pytest.fixture(scope="module")
def stack(tmp_path_factory, pg_url, alert_webhook, govinfo_e2e):
    from civic_briefs import db, demo, importer
    from civic_briefs.settings import Settings

    root = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BRIEFS_"))}
    env.update({
        "PWD": str(REPO),
        "PORT": str(port),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(root / "results"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "2",
        "BRIEFS_PREFECT_DATABASE_URL": pg_url,
        "BRIEFS_RUN_DIR": str(root / "run"),
        "BRIEFS_DATABASE_URL": str(root / "briefs.db"),
        "BRIEFS_STORAGE_PATH": str(root / "audio"),
        "BRIEFS_SCRIPT_PROVIDER": "offline",
        "BRIEFS_SPEECH_PROVIDER": "offline",
        "BRIEFS_NEWS_PROVIDER": "offline",
        "BRIEFS_ALERT_WEBHOOK_URL": alert_webhook[0],
        "BRIEFS_GOVINFO_BASE_URL": govinfo_e2e.base_url,
        "BRIEFS_SYNC_RETRY_WAIT_SECONDS": "0",
        "WORKERS": "2",
        "WORKER_LIMIT": "2",
    })
    settings = Settings(database_url=env["BRIEFS_DATABASE_URL"], storage_path=env["BRIEFS_STORAGE_PATH"])
    db.init_db(settings)
    with db.connection(settings) as conn:
        importer.import_sample(conn)
        assert sorted(u.id for u in demo.add_demo_users(conn)) == USERS

    s = Stack(root, env, port)
    s.settings = settings
    started = time.monotonic()
    try:
        s.serve = s.sh("serve.sh")
        TIMINGS["serve.sh (server, setup, deploy, automations, 2 workers)"] = time.monotonic() - started
        assert s.serve.returncode == 0, s.serve.stdout + s.serve.stderr + s.logs()
        s.due_runs = _scheduled_then_paused(s, ["daily-briefs-due", "weekly-briefs-due"])
        yield s
    finally:
        pids = s.pids()
        s.sh("stop.sh", timeout=120)
        for pid in pids.values():  # whatever stop.sh left: the test must leave nothing running
            for victim in [pid, *_descendants(pid)]:
                if _alive(victim):
                    os.kill(victim, signal.SIGKILL)
        s.http.close()
        print("\nE2E timings (s): " + ", ".join(f"{k}: {v:.1f}" for k, v in TIMINGS.items()))


# --- the tests, in the order an operator would go ---------------------------------------------------

def test_serve_starts_everything_on_postgres_and_is_idempotent(stack):
    out = stack.serve.stdout
    assert "database PostgreSQL: postgresql+asyncpg://" in out, out
    ready = re.search(r"Server ready in (\d+) s", out)
    deployed = re.search(r"Deployed .* in (\d+) s", out)
    TIMINGS["server start"], TIMINGS["deploy"] = float(ready.group(1)), float(deployed.group(1))
    assert stack.http.get("/health").status_code == 200
    assert set(stack.pids()) == {"server", "worker-1", "worker-2"}

    pool = stack.http.get("/work_pools/briefs").json()
    assert pool["type"] == "process"
    limits = {name: stack.http.get(f"/v2/concurrency_limits/{name}").json() for name in ("anthropic", "elevenlabs", "brave")}
    assert limits["anthropic"]["limit"] == stack.settings.anthropic_concurrency
    assert limits["elevenlabs"]["limit"] == stack.settings.elevenlabs_concurrency
    assert limits["brave"]["limit"] == stack.settings.brave_concurrency
    assert limits["brave"]["slot_decay_per_second"] == pytest.approx(stack.settings.brave_requests_per_second)
    automations = stack.http.post("/automations/filter", json={}).json()
    assert {a["name"] for a in automations} == {"civic-briefs-failed-run-alert", "civic-briefs-crash-zombie-flow-runs"}
    workers = stack.http.post("/work_pools/briefs/workers/filter", json={}).json()
    assert len([w for w in workers if w["status"] == "ONLINE"]) == 2

    before = stack.pids()
    again = stack.sh("serve.sh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Prefect server already running" in again.stdout
    assert again.stdout.count("already running (pid") == 3, again.stdout
    assert stack.pids() == before
    assert len(stack.http.post("/automations/filter", json={}).json()) == 2  # updated, not duplicated


def _scheduled_then_paused(stack, names: list[str]) -> dict[str, list[dict]]:
    """The runs the scheduler made for each deployment of ``names``; then the deployments are paused,
    so that no brief falls due on the workers while the other tests run (their runs are not these)."""
    found: dict[str, list[dict]] = {}
    for name in names:
        deployment = stack.http.get(f"/deployments/name/briefs-due/{name}").json()
        deadline, runs = time.monotonic() + 90, []
        while time.monotonic() < deadline and len(runs) < 3:
            runs = stack.http.post("/flow_runs/filter", json={
                "deployments": {"id": {"any_": [deployment["id"]]}},
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
            time.sleep(1)
        found[name] = [deployment, *runs]
        stack.http.post(f"/deployments/{deployment['id']}/pause_deployment").raise_for_status()
    return found


@pytest.mark.parametrize(("name", "minutes", "brief_type"), [
    ("daily-briefs-due", {0, 15, 30, 45}, "daily"), ("weekly-briefs-due", {7, 22, 37, 52}, "weekly")])
def test_the_briefs_due_deployments_run_every_15_minutes(stack, name, minutes, brief_type):
    deployment, *runs = stack.due_runs[name]
    [schedule] = deployment["schedules"]
    assert schedule["schedule"]["timezone"] == "UTC" and deployment["work_pool_name"] == "briefs"
    assert deployment["parameters"] == {"brief_type": brief_type}
    assert len(runs) >= 3, f"the scheduler made no runs for {name}"
    starts = sorted(dt.datetime.fromisoformat(r["expected_start_time"]).astimezone(dt.UTC) for r in runs)
    assert {t.minute for t in starts} <= minutes and {t.second for t in starts} == {0}, starts
    assert [(b - a) for a, b in zip(starts, starts[1:])] == [dt.timedelta(minutes=15)] * (len(starts) - 1)
    assert all(r["parameters"] == {"brief_type": brief_type} for r in runs)
    # The hand-run day has no schedule of its own any more.
    assert stack.http.get("/deployments/name/daily-briefs/daily-briefs").json()["schedules"] == []


def test_sync_bills_is_scheduled_every_4_hours_and_a_worker_run_imports_from_govinfo(stack, govinfo_e2e):
    from civic_briefs import db, importer, repo

    deployment = stack.http.get("/deployments/name/sync-bills/sync-bills").json()
    [schedule] = deployment["schedules"]
    assert schedule["schedule"]["cron"] == "30 1-23/4 * * *" and schedule["schedule"]["timezone"] == "UTC"
    assert deployment["work_pool_name"] == "briefs"

    run = stack.wait_final(stack.start_run("sync-bills/sync-bills", congresses=[117]))
    assert run["state"]["type"] == "COMPLETED", run["state"]
    files = len(govinfo_e2e.names)
    assert run["state"]["message"].startswith(f"Synced congress 117: {files} files: ")
    assert run["state"]["message"].endswith(" unchanged, 0 failed")
    rows = json.loads(stack.artifacts("sync-bills")["sync-bills"]["data"])
    assert sorted(r["file"] for r in rows) == sorted(govinfo_e2e.names)
    sample = {b.id for b in importer.load_sample_bills()}
    with db.connection(stack.settings) as conn:
        assert repo.count_bills(conn) == len(sample | {r["bill"] for r in rows})


def test_adhoc_generate_brief_publishes_a_playable_mp3(stack):
    from mutagen.mp3 import MP3

    from civic_briefs import db, repo

    started = time.monotonic()
    out = stack.prefect("deployment", "run", "generate-brief/generate-brief", "--param", "user_id=maria",
                        "--param", 'policy_interests=["healthcare"]', "--watch", "--watch-timeout", "240", timeout=300)
    TIMINGS["ad-hoc brief, run to Completed"] = time.monotonic() - started
    assert out.returncode == 0 and "Completed" in out.stdout, out.stdout + out.stderr + stack.logs()

    with db.connection(stack.settings) as conn:
        briefs = [b for b in repo.list_briefs(conn, None) if b["user_id"] == "maria"]
    assert len(briefs) == 1
    brief = briefs[0]
    assert brief["status"] == "published" and brief["brief_type"] == "daily"
    assert brief["policy_interests"] == ["healthcare"]
    mp3 = Path(brief["audio_url"].removeprefix("file://"))
    assert mp3.is_file() and mp3.is_relative_to(stack.root / "audio")
    assert MP3(mp3).info.length > 10
    assert brief["duration_seconds"] == pytest.approx(MP3(mp3).info.length, abs=0.5)

    day = brief["brief_date"]
    keys = [f"brief-maria-{day}", f"brief-audio-maria-{day}", f"brief-costs-maria-{day}"]
    found = stack.artifacts(*keys)
    assert set(found) == set(keys)
    assert found[keys[0]]["type"] == "markdown" and brief["headline"] in found[keys[0]]["data"]
    assert found[keys[1]]["type"] == "markdown" and brief["audio_url"] in found[keys[1]]["data"]  # links are markdown
    costs = json.loads(found[keys[2]]["data"])
    assert found[keys[2]]["type"] == "table" and costs[-1]["item"] == "total"


def test_failed_runs_alert_and_import_bills_reports_bad_files(stack, alert_webhook):
    url, received = alert_webhook
    bad = stack.root / "broken.xml"
    bad.write_text("<billStatus><bill>", encoding="utf-8")
    missing = stack.root / "missing.xml"
    failing = stack.start_run("generate-brief/generate-brief", user_id="nobody-e2e")
    importing = stack.start_run("import-bills/import-bills", paths=[str(bad), str(missing)])

    failed = stack.wait_final(failing)
    assert failed["state"]["type"] == "FAILED"
    imported = stack.wait_final(importing)
    assert imported["state"]["type"] == "FAILED", imported["state"]
    assert "2 files failed" in imported["state"]["message"]
    table = json.loads(stack.artifacts("import-bills-failures")["import-bills-failures"]["data"])
    assert sorted(row["file"] for row in table) == ["broken.xml", "missing.xml"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("nobody-e2e" in json.dumps(a) for a in received):
        time.sleep(1)
    alerts = [a for a in received if "nobody-e2e" in json.dumps(a)]
    assert len(alerts) == 1, f"no alert, or more than one, reached {url}: {received}\n{stack.logs()}"
    # The block make serve saved from BRIEFS_ALERT_WEBHOOK_URL: named run, state, message and link.
    assert alerts[0]["subject"] == f"Civic Briefs: generate-brief run {failed['name']} Failed"
    assert f"Message: {failed['state']['message']}\n" in alerts[0]["body"]
    assert f"/runs/flow-run/{failing}" in alerts[0]["body"]
    assert "Alerts: failed and crashed runs are sent through notification block 'civic-briefs-alerts'" in stack.serve.stdout
    assert url not in stack.serve.stdout + stack.serve.stderr and "/alerts" not in stack.serve.stdout  # shown masked
    # import-bills is not watched by the alert automation
    assert not any("import-bills" in a.get("subject", "") for a in received)


def test_daily_briefs_fans_out_to_both_workers(stack):
    from civic_briefs import db, repo

    today = dt.datetime.now(dt.UTC).date().isoformat()
    started = time.monotonic()
    parent_id = stack.start_run("daily-briefs/daily-briefs", fan_out="deployment", brief_date=today)
    parent = stack.wait_final(parent_id, timeout=300)
    TIMINGS["daily-briefs fan_out=deployment, 5 users, 2 workers"] = time.monotonic() - started
    assert parent["state"]["type"] == "COMPLETED", parent["state"]
    assert parent["name"] == f"daily-briefs-{today}"

    # The day is planned once, then split into batches (4 by default), each a make-briefs run.
    children = stack.http.post("/flow_runs/filter", json={"flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}}).json()
    assert len(children) == min(4, len(USERS))
    assert {c["state"]["type"] for c in children} == {"COMPLETED"}
    assert sorted(u for c in children for u in c["parameters"]["user_ids"]) == USERS
    assert {c["deployment_id"] for c in children} == {stack.http.get("/deployments/name/make-briefs/make-briefs").json()["id"]}

    events = stack.http.post("/events/filter", json={"filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}},
                                                     "limit": 50}).json()["events"]
    child_ids = {f"prefect.flow-run.{c['id']}" for c in children}
    workers = {e["resource"]["prefect.resource.name"] for e in events
               if any(r["prefect.resource.id"] in child_ids for r in e["related"])}
    assert len(workers) == 2, workers  # both workers took briefs

    with db.connection(stack.settings) as conn:
        briefs = {b["user_id"]: b for b in repo.list_briefs(conn, dt.date.fromisoformat(today))}
    assert sorted(briefs) == USERS and {b["status"] for b in briefs.values()} == {"published"}
    rows = json.loads(stack.artifacts(f"daily-briefs-{today}")[f"daily-briefs-{today}"]["data"])
    assert sorted(r["user"] for r in rows) == USERS
    assert {r["status"] for r in rows} == {"published"}
    # maria's brief for today was made by the ad-hoc run before: kept, not made again.
    assert [r["user"] for r in rows if not r["made_now"]] == ["maria"]


def test_stop_leaves_nothing_running(stack):
    pids = stack.pids()
    everything = set(pids.values()).union(*(_descendants(p) for p in pids.values()))
    started = time.monotonic()
    out = stack.sh("stop.sh", timeout=120)
    TIMINGS["stop.sh"] = time.monotonic() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert not list(stack.run_dir.glob("*.pid"))
    assert not [p for p in everything if _alive(p)]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{stack.api}/health", timeout=3)
    again = stack.sh("stop.sh", timeout=60)
    assert again.returncode == 0 and "nothing to stop" in again.stdout
