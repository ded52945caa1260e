"""Issue 8, item 4: with ``fan_out=deployment``, the worker running the day's make-briefs runs dies with
them (SIGKILL to it and to every process it started, as a machine that loses power); another worker
is started, and the day still ends Completed: the crashed batches' unfinished briefs are started
again as new make-briefs runs, which the new worker takes, each brief published exactly once.

Real parts: ``prefect server start`` on a PostgreSQL database of its own (skipped without
PostgreSQL), ``prefect worker start`` processes on the process work pool, the make-briefs deployment
(the entrypoint and pull step of prefect.yaml), daily-briefs run in its own process (``civic-briefs
run-daily`` with ``BRIEFS_FAN_OUT=deployment``), the real SDKs against the loopback stand-ins,
a libSQL file, local segment store, lock-file claims and a local audio folder.

A killed worker reports nothing, so its runs become Crashed only through the zombie-run automation
(deployments/automations.yaml, loaded from that file as ``make serve`` loads it). Its window is
shortened here from 90 s to 75 s, with heartbeats every 30 s (Prefect's shortest): a live run whose
heartbeat is up to 45 s late on a loaded machine is not crashed (a 45 s window would crash a live
retry batch whose heartbeat came more than 15 s late). The window decides when a batch is seen
crashed, not what is done about it, which is what this test is for.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from civic_briefs import db, importer, repo
from civic_briefs.models import User
from tests.real_prefect import CIVIC_BRIEFS, PREFECT, REPO, kill_tree, postgres_database, real_prefect_server, stop_group
from tests.worlds import segment_store_files

DAY = dt.date(2026, 4, 9)
INTERESTS = [["healthcare", "education"], ["education", "economy"], ["economy", "taxes"], ["healthcare", "taxes"]]
USERS = [User(id=f"cc-{i:02d}", name=f"Crash{i:02d} Listener", interests=INTERESTS[i % 4]) for i in range(8)]
BATCHES = 4
ZOMBIE_WINDOW_SECONDS = 75
HEARTBEAT_SECONDS = 30
RENDER_SECONDS = 1.5
MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with postgres_database("civic_briefs_crashed_children") as url:
        if url is None:
            pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable: this test runs the Prefect server on it")
        with real_prefect_server(tmp_path_factory.mktemp("crashed-children-server"), database_url=url) as running:
            yield running
    if MEASURED:
        print("\nCrashed children (s): " + ", ".join(f"{k}: {v:.1f}" for k, v in MEASURED.items()))


def zombie_automation() -> dict:
    import sys

    sys.path.insert(0, str(REPO / "deployments"))
    try:
        import apply_automations
    finally:
        sys.path.remove(str(REPO / "deployments"))
    [zombie] = [a for a in apply_automations.load(REPO / "deployments" / "automations.yaml")
                if a["actions"][0]["type"] == "change-flow-run-state"]
    zombie = copy.deepcopy(zombie)
    zombie["trigger"]["within"] = ZOMBIE_WINDOW_SECONDS
    return zombie


def deploy_make_briefs(server, env: dict[str, str]) -> str:
    """The make-briefs deployment as prefect.yaml has it (entrypoint, pull step, pool, heartbeats)."""
    import yaml
    from prefect.utilities.callables import parameter_schema

    from flows.make_briefs import make_briefs_batch

    spec = next(d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"] if d["name"] == "make-briefs")
    flow_id = server.http.post("/flows/", json={"name": "make-briefs"}).raise_for_status().json()["id"]
    response = server.http.post("/deployments/", json={
        "name": "make-briefs", "flow_id": flow_id, "entrypoint": spec["entrypoint"], "work_pool_name": "briefs",
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}],
        "job_variables": {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}},
        "parameter_openapi_schema": parameter_schema(make_briefs_batch).model_dump_for_openapi(),
        "enforce_parameter_schema": False})
    response.raise_for_status()
    return response.json()["id"]


def create_automation(server, data: dict) -> None:
    from prefect.events.schemas.automations import AutomationCore

    body = AutomationCore.model_validate(data).model_dump(mode="json")
    server.http.post("/automations/", json=body).raise_for_status()


@pytest.fixture
def day(server, standins, tmp_path):
    briefs = {f"BRIEFS_{k.upper()}": str(v) for k, v in standins.env(
        database_url=tmp_path / "briefs.db", storage_path=tmp_path / "audio", segment_store_path=tmp_path / "segments",
        locks="file", elevenlabs_concurrency=2, top_stories=2, quick_hits=1, fan_out="deployment",
        fan_out_runs=BATCHES, work_pool="briefs").items()}
    # Heartbeats as the work pool's job variables set them for deployed runs (prefect.yaml), here for
    # the daily-briefs process too: Prefect's default (180 s) is longer than the zombie window.
    env = server.client_env(tmp_path / "home", PREFECT_WORKER_QUERY_SECONDS="1",
                            PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(HEARTBEAT_SECONDS), **briefs)
    from civic_briefs.settings import Settings

    settings = Settings(_env_file=None, **{k.removeprefix("BRIEFS_").lower(): v for k, v in briefs.items()})
    db.init_db(settings)
    with db.connection(settings) as conn:
        importer.import_sample(conn)
        for user in USERS:
            repo.upsert_user(conn, user)
        conn.commit()
    setup = subprocess.run([str(CIVIC_BRIEFS), "setup-prefect"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    deploy_make_briefs(server, env)
    create_automation(server, zombie_automation())
    standins.elevenlabs.latency = RENDER_SECONDS
    standins.elevenlabs.concurrency_limit = 2
    processes: list[subprocess.Popen] = []
    yield env, settings, processes
    for process in processes:
        stop_group(process)


def start(processes: list, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    processes.append(process)
    return process


def start_worker(processes: list, env: dict[str, str], tmp_path: Path, name: str) -> subprocess.Popen:
    return start(processes, [str(PREFECT), "worker", "start", "--pool", "briefs", "--limit", str(BATCHES), "--name", name],
                 {**env, "PREFECT_HOME": str(tmp_path / f"home-{name}")}, tmp_path / f"{name}.log", tmp_path)


def wait_for(what: str, check, timeout: float, logs: list[Path], every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout} s\n" + "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists()))
        time.sleep(every)


def make_briefs_runs(server) -> list[dict]:
    return server.http.post("/flow_runs/filter", json={"flows": {"name": {"any_": ["make-briefs"]}}}).json()


def published(settings) -> dict[str, dict]:
    with db.connection(settings) as conn:
        rows = {u.id: repo.get_brief(conn, u.id, "daily", DAY) for u in USERS}
    return {uid: row for uid, row in rows.items() if row and row["status"] == "published"}


def test_a_killed_workers_batches_are_retried_on_another_worker(day, server, standins, tmp_path):
    env, settings, processes = day
    logs = [tmp_path / n for n in ("worker-a.log", "day.log", "worker-b.log")]
    worker_a = start_worker(processes, env, tmp_path, "worker-a")
    wait_for("worker A online", lambda: any(w["status"] == "ONLINE" for w in server.http.post(
        "/work_pools/briefs/workers/filter", json={}).json()), 90, logs)
    parent = start(processes, [str(CIVIC_BRIEFS), "run-daily", "--brief-date", DAY.isoformat()], env, logs[1], tmp_path)

    # Kill worker A (and the flow runs it started) once all its batches run, a brief is out and
    # renders are in flight.
    el = standins.elevenlabs
    wait_for("4 make-briefs runs running", lambda: len(
        [r for r in make_briefs_runs(server) if r["state"]["type"] == "RUNNING"]) == BATCHES, 180, logs)
    # Every render answered is in the segment store (an answered render is mastered before it is
    # stored: a kill in that window repays it, as it would a render still at the provider).
    wait_for("a brief published and a render in flight", lambda: el.in_flight >= 1 and published(settings)
             and segment_store_files(tmp_path / "segments")[("render", ".json")] == len(el.issued), 180, logs, every=0.1)
    kill_tree(worker_a.pid)
    killed = time.monotonic()
    issued = {int(r.removeprefix("el").removesuffix("standin")) for r in el.issued}
    pending = {"elevenlabs": {n for n in range(1, el.count + 1) if n not in issued},
               "anthropic": standins.anthropic.count - len(standins.anthropic.replies)}
    out_at_kill = set(published(settings))
    assert 1 <= len(out_at_kill) < len(USERS)
    originals = {r["id"] for r in make_briefs_runs(server)}
    assert len(originals) == BATCHES

    start_worker(processes, env, tmp_path, "worker-b")
    parent.wait(timeout=300)
    all_out = time.monotonic() - killed
    MEASURED["kill to the day's end"] = all_out
    output = logs[1].read_text(errors="replace")
    assert parent.returncode == 0, output[-6000:]
    assert "daily-briefs ended COMPLETED" in output, output[-3000:]

    # The killed batches were marked Crashed (the automation) and retried as new runs on worker B.
    runs = {r["id"]: r for r in make_briefs_runs(server)}
    assert {runs[i]["state"]["type"] for i in originals} == {"CRASHED"}
    retries = [r for i, r in runs.items() if i not in originals]
    assert retries and {r["state"]["type"] for r in retries} == {"COMPLETED"}
    retried_users = Counter(u for r in retries for u in r["parameters"]["user_ids"])
    assert set(retried_users) == {u.id for u in USERS} - out_at_kill
    assert set(retried_users.values()) == {1}
    [daily] = server.http.post("/flow_runs/filter", json={"flows": {"name": {"any_": ["daily-briefs"]}}}).json()
    assert daily["state"]["type"] == "COMPLETED"
    assert {r["parent_task_run_id"] is not None for r in retries} == {True}
    events = server.http.post("/events/filter", json={"filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}},
                                                      "limit": 50}).json()["events"]
    ran_on = {e["resource"]["prefect.resource.name"] for e in events for rel in e["related"]
              if rel["prefect.resource.id"] in {f"prefect.flow-run.{r['id']}" for r in retries}}
    assert ran_on == {"worker-b"}
    assert "started them again as" in output

    # Every brief published exactly once: one row each, one object each in storage.
    briefs = published(settings)
    assert sorted(briefs) == sorted(u.id for u in USERS)
    with db.connection(settings) as conn:
        assert conn.execute("SELECT COUNT(*) FROM briefs WHERE brief_date = ?", (DAY.isoformat(),)).fetchone()[0] == len(USERS)
    for uid in briefs:
        objects = [p for p in (settings.storage_path / settings.s3_prefix / uid / "daily").glob(f"{DAY}*") if p.is_file()]
        # One MP3, and whatever is published beside it (transcript, chapters) of that one brief only.
        assert len([p for p in objects if p.suffix == ".mp3"]) == 1, objects
        assert len({p.name.split(".", 1)[0] for p in objects}) == 1, objects

    # The day's table counts the retries: one for each brief that was not out at the kill.
    artifact = server.http.post("/artifacts/filter", json={"artifacts": {"key": {"any_": [f"daily-briefs-{DAY}"]}}}).json()
    table = json.loads(artifact[0]["data"])
    assert {r["user"]: r["retries"] for r in table} == {u.id: (0 if u.id in out_at_kill else 1) for u in USERS}
    assert {r["status"] for r in table} == {"published"}

    # What the killed runs had finished was not paid again: only what was in flight at the kill.
    spoken = [json.dumps(r.json["inputs"]) for r in el.requests]
    written = [standins.anthropic.user_text(i) for i in range(standins.anthropic.count)]
    distinct = {s["key"] for b in briefs.values() for s in b["costs"]["segments"]}
    assert len(set(spoken)) == len(set(written)) == len(distinct)
    assert (len(spoken) - len(distinct)) + (len(written) - len(distinct)) <= len(pending["elevenlabs"]) + pending["anthropic"]
    MEASURED["requests repaid"] = (len(spoken) - len(distinct)) + (len(written) - len(distinct))


# --- which briefs of an ended batch are started again (the test harness's API, a real database) ---

RULES_DAY = dt.date(2026, 4, 10)


@pytest.fixture
def ended_batch(conn, prefect_api):
    """A stored plan and rows for a batch of five: published, skipped, failed for bad input (an
    unknown interest), failed for another reason, and no row at all."""
    import logging

    from civic_briefs.plan import plan_day
    from flows.fan_out import _Batches

    users = [User(id="r-pub", name="Pub Lisher", interests=["healthcare"]),
             User(id="r-skip", name="Skip Per", interests=["healthcare"]),
             User(id="r-bad", name="Bad Input", interests=["not-an-interest"]),
             User(id="r-fail", name="Fay Led", interests=["healthcare"]),
             User(id="r-none", name="No Row", interests=["healthcare"])]
    importer.import_sample(conn)
    for user in users:
        repo.upsert_user(conn, user)
    conn.commit()
    plan = plan_day(conn, users, RULES_DAY, "daily", news_by_interest={}, writer_name="offline", dedup_days=30,
                    top_stories=2, quick_hits=1, news_per_brief=6)
    repo.save_day_plan(conn, "daily", RULES_DAY, plan.model_dump_json())
    since = repo.now_iso()
    repo.save_brief(conn, {"id": repo.brief_id("r-pub", "daily", RULES_DAY), "user_id": "r-pub", "brief_type": "daily",
                           "brief_date": RULES_DAY.isoformat(), "status": "published", "policy_interests": ["healthcare"],
                           "headline": "Out", "audio_url": "file:///out.mp3"}, [])
    for uid, status, reason in (("r-skip", "skipped", "nothing new"), ("r-bad", "failed", plan.users[2].error),
                                ("r-fail", "failed", "APIStatusError: 500")):
        publishing_record(conn, uid, status, reason)
    batches = _Batches(RULES_DAY, "daily", None, logging.LoggerAdapter(logging.getLogger("fan-out-test"), {}), retries=0)
    assert batches.bad_input == {"r-bad"}
    return batches, [u.id for u in users], since


def publishing_record(conn, uid: str, status: str, reason: str) -> None:
    from civic_briefs import publishing

    publishing.record_outcome(conn, user_id=uid, brief_type="daily", brief_date=RULES_DAY, interests=["healthcare"],
                              status=status, reason=reason)


def flow_run_in(*states):
    """A flow run on the API that went through ``states`` (Prefect state objects), as read back."""
    from prefect import flow
    from prefect.client.orchestration import get_client

    @flow(name="fan-out-rules")
    def stand_in() -> None: ...

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(stand_in, state=states[0])
        for state in states[1:]:
            client.set_flow_run_state(run.id, state, force=True)
        return client.read_flow_run(run.id)


def test_a_crashed_batch_restarts_only_its_unfinished_briefs_that_can_succeed(ended_batch):
    import asyncio

    from prefect.states import Cancelled, Cancelling, Completed, Crashed, Failed, Running

    batches, users, since = ended_batch
    again = ["r-fail", "r-none"]  # not published or skipped, and not failed for bad input

    def retried(run, among=users):
        return asyncio.run(batches._to_retry(run, among, since))

    assert retried(flow_run_in(Running(), Crashed())) == again
    assert retried(flow_run_in(Running(), Completed())) == []
    # Failed having saved no row for a brief: its process broke off.
    assert retried(flow_run_in(Running(), Failed())) == again
    # Failed with every brief's outcome on its row: a failure of its own, not retried.
    assert retried(flow_run_in(Running(), Failed()), ["r-pub", "r-fail", "r-bad"]) == []
    # Cancelled by no one (its infrastructure) versus cancelled on request (through Cancelling).
    assert retried(flow_run_in(Running(), Cancelled())) == again
    assert retried(flow_run_in(Running(), Cancelling(), Cancelled())) == []
    assert retried(flow_run_in(Running(), Crashed()), ["r-pub", "r-skip", "r-bad"]) == []


def test_a_batch_still_crashed_after_its_retries_is_made_in_the_day_process(ended_batch):
    import asyncio

    from prefect.states import Crashed, Running

    batches, users, since = ended_batch  # retries=0: no new run is started
    asyncio.run(batches._follow(flow_run_in(Running(), Crashed()), users, since))
    assert sorted(batches.result.stranded) == ["r-fail", "r-none"]
    assert sorted(batches.result.finished) == ["r-bad", "r-pub", "r-skip"]
    assert batches.result.retries == {}


def test_an_error_following_one_batch_strands_its_briefs_and_the_others_go_on(ended_batch, monkeypatch, caplog):
    """A database error while one batch's rows are read (issue 8 review B): that batch's users are
    made in the day process, the other batch is followed to its end, and the day gets its result."""
    import asyncio

    from prefect.states import Crashed, Running

    from flows import fan_out

    batches, users, since = ended_batch
    groups = [["r-pub", "r-fail"], ["r-skip", "r-none", "r-bad"]]
    runs = iter([flow_run_in(Running(), Crashed()), flow_run_in(Running(), Crashed())])

    async def start(group):
        return next(runs)

    real_get_brief = fan_out.repo.get_brief

    def get_brief(conn, user_id, *args):
        if user_id == "r-fail":
            raise db.DatabaseLockedError("The database file briefs.db is locked by another process")
        return real_get_brief(conn, user_id, *args)

    monkeypatch.setattr(batches, "_start", start)
    monkeypatch.setattr(fan_out.repo, "get_brief", get_brief)
    with caplog.at_level("WARNING", logger="fan-out-test"):
        result = asyncio.run(batches.run_all(groups))
    assert sorted(result.stranded) == ["r-fail", "r-none", "r-pub"]
    assert sorted(result.finished) == ["r-bad", "r-skip"]
    assert result.retries == {}
    [failed] = [r.getMessage() for r in caplog.records if "failed (" in r.getMessage()]
    assert failed.startswith("Following make-briefs run ")
    assert failed.endswith("failed (DatabaseLockedError: The database file briefs.db is locked by another process): "
                           "making its 2 unfinished briefs in this process (r-pub, r-fail)")
