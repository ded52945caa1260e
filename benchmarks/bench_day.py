"""The benchmark of the day at scale: the real pipeline against stand-ins of fixed latency.

Every provider points at loopback stand-ins of the Anthropic, ElevenLabs and Brave APIs running
in a process of their own (``benchmarks/standin_proc.py``); briefs are published to a local folder
whose every upload takes ``--upload-latency`` more (the storage is wrapped in the pipeline's
process). Prefect is a ``prefect server start`` on a PostgreSQL database of its own (created and
dropped here), or the embedded API with ``--embedded``. Each measured run is a process of its own
(``benchmarks/runner.py``) with a fresh briefs database, segment store and result storage, over
the same generated bills and users.

    make bench          # 1,000 users at full latency (~30 min) and the rest
    make bench-quick    # a smaller, faster run (under 3 minutes)
    .venv/bin/python benchmarks/bench_day.py --users 1000 --latency-scale 0.1

Prints a table and writes ``benchmarks/results.json``. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import procstat  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
PREFECT = str(ROOT / ".venv" / "bin" / "prefect")
KEYS = {"anthropic": "sk-ant-standin-key", "elevenlabs": "xi-standin-key", "brave": "brave-standin-key"}
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Ema", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena", "Milo", "Nia"]
LAST = ["Ortiz", "Park", "Quinn", "Reyes", "Shah", "Toth", "Ueda", "Vance", "Wong", "Young", "Zhou"]
STATUSES = ["introduced", "in_committee", "passed_house", "passed_senate", "passed_both", "vetoed", "enacted"]
BILL_TYPES = ["hr", "s", "hjres", "sjres", "hres", "sres"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# ---- generated data ----

def make_bills(count: int, day: dt.date, seed: int = 7):
    from civic_briefs.interests import INTEREST_POLICY_AREAS
    from civic_briefs.models import Bill

    rng = random.Random(seed)
    areas = sorted({a for areas in INTEREST_POLICY_AREAS.values() for a in areas})
    bills = []
    for i in range(count):
        area = areas[i % len(areas)]
        kind = BILL_TYPES[i % len(BILL_TYPES)]
        number = 1000 + i
        introduced = day - dt.timedelta(days=rng.randint(30, 400))
        latest = introduced + dt.timedelta(days=rng.randint(0, (day - introduced).days))
        bills.append(Bill(
            id=f"119-{kind}-{number}", congress=119, bill_type=kind, bill_number=number,
            title=f"{area} Improvement Act of 2026, part {i}", policy_area=area, subjects=[area],
            summary=f"This bill changes federal {area.lower()} programs in {rng.randint(2, 9)} ways. "
                    f"It directs agencies to report to Congress.",
            sponsor_name=f"Rep. {rng.choice(LAST)}, {rng.choice(FIRST)} [D-CA-{i % 50}]", sponsor_party="D",
            sponsor_state="CA", introduced_date=introduced, latest_action_date=latest,
            latest_action_text=f"Referred to the Committee on {area}.", status=rng.choice(STATUSES)))
    return bills


def make_users(count: int, seed: int = 11):
    from civic_briefs.interests import INTEREST_POLICY_AREAS
    from civic_briefs.models import User

    rng = random.Random(seed)
    interests = sorted(INTEREST_POLICY_AREAS)
    # A first name of each user's own: the stand-in's "model" writes an opening and a close from the
    # first name and the segments, so shared first names would make personal segments identical
    # (and rendered once) where a real model writes each listener's own.
    return [User(id=f"u{i:05d}", name=f"{rng.choice(FIRST)}{i} {rng.choice(LAST)}",
                 interests=rng.sample(interests, rng.randint(2, 4))) for i in range(count)]


def seed_db(path: Path, bills, users) -> None:
    from civic_briefs import db, repo
    from civic_briefs.settings import Settings

    settings = Settings(_env_file=None, database_url=str(path))
    db.init_db(settings)
    with db.connection(settings) as conn:
        conn.execute("BEGIN")
        for bill in bills:
            repo.upsert_bill(conn, bill)
        for user in users:
            repo.upsert_user(conn, user)
        conn.commit()


# ---- the processes around the pipeline ----

class StandIns:
    def __init__(self, work: Path):
        port_file = work / "standins.port"
        self.log = open(work / "standins.log", "w")
        self.proc = subprocess.Popen([PY, "-m", "benchmarks.standin_proc", str(port_file)], cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not port_file.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"stand-ins did not start: see {work / 'standins.log'}")
            time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{port_file.read_text()}"
        import httpx
        self.http = httpx.Client(base_url=self.base_url, timeout=60)

    def configure(self, **cfg) -> None:
        self.http.post("/_bench/config", json=cfg).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_bench/reset").raise_for_status()

    def stats(self, since: float = 0.0, split: float = 0.0) -> dict:
        return self.http.get("/_bench/stats", params={"since": since, "split": split}).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class PrefectServer:
    """``prefect server start`` on a PostgreSQL database of its own."""

    def __init__(self, work: Path):
        self.db = f"bench_day_{os.getpid()}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.db], check=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        env = {**os.environ, "PREFECT_HOME": str(work / "prefect-server"),
               "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.db}",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
        self.log = open(work / "prefect-server.log", "w")
        self.proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        import httpx
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).text.strip() == "true":
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"Prefect server did not start: see {work / 'prefect-server.log'}")
            time.sleep(0.5)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def pids(self) -> list[int]:
        return procstat.tree(self.proc.pid)

    def count(self, what: str) -> int:
        return int(self.http.post(f"/{what}/count", json={}).json())

    def db_bytes(self) -> int:
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc",
                              f"SELECT pg_database_size('{self.db}')"], capture_output=True, text=True)
        return int(out.stdout.strip() or 0)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(1)
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", self.db], check=False)


class Sampler(threading.Thread):
    """Highest summed RSS of process trees, sampled every half second."""

    def __init__(self, roots: dict[str, list[int]]):
        super().__init__(daemon=True)
        self.roots, self.peak = roots, {name: 0.0 for name in roots}
        self.cpu: dict[str, dict[int, float]] = {name: {} for name in roots}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for name, roots in self.roots.items():
                pids = [p for r in roots for p in procstat.tree(r)]
                self.peak[name] = max(self.peak[name], sum(procstat.rss_mb(p) for p in pids))
                for p in pids:
                    self.cpu[name][p] = procstat.cpu_seconds(p)
            self.stop_event.wait(0.5)

    def finish(self) -> dict[str, float]:
        self.stop_event.set()
        self.join()
        return self.peak


# ---- one measured run ----

class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="bench-day-"))
        self.day = dt.datetime.now(dt.UTC).date()
        self.bills = make_bills(args.bills, self.day)
        self.all_users = make_users(max(args.users, args.cost_users, args.rss_small, 1))
        self.standins = StandIns(self.work)
        self.server = None if args.embedded else PrefectServer(self.work)
        self.prefect_home = self.work / "prefect-client"
        self._setup_limits()

    def latencies(self, scale: float | None = None) -> dict[str, float]:
        s = self.args.latency_scale if scale is None else scale
        a = self.args
        return {"anthropic": a.script_latency * s, "elevenlabs": a.speech_latency * s, "brave": a.news_latency * s,
                "upload": a.upload_latency * s}

    def env(self, run: Path, upload: float) -> dict[str, str]:
        a = self.args
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIEFS_", "PREFECT_"))}
        env.update({
            "PREFECT_HOME": str(self.prefect_home), "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(run / "results"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
            "BRIEFS_DATABASE_URL": str(run / "briefs.db"), "BRIEFS_STORAGE_PATH": str(run / "audio"),
            "BRIEFS_SEGMENT_STORE_PATH": str(run / "segments"),
            "BRIEFS_ANTHROPIC_API_KEY": KEYS["anthropic"], "BRIEFS_ANTHROPIC_BASE_URL": self.standins.base_url,
            "BRIEFS_ELEVENLABS_API_KEY": KEYS["elevenlabs"], "BRIEFS_ELEVENLABS_BASE_URL": self.standins.base_url,
            "BRIEFS_BRAVE_API_KEY": KEYS["brave"], "BRIEFS_BRAVE_BASE_URL": self.standins.base_url,
            "BRIEFS_BRAVE_REQUESTS_PER_SECOND": "100", "BRIEFS_BRAVE_CONCURRENCY": "5",
            "BRIEFS_ELEVENLABS_CONCURRENCY": str(a.concurrency), "BRIEFS_ANTHROPIC_CONCURRENCY": str(a.anthropic_limit),
            "BRIEFS_LOCKS": "redis", "BRIEFS_MAX_CONCURRENT_BRIEFS": str(a.max_concurrent_briefs),
            "BENCH_UPLOAD_LATENCY": str(upload), "BENCH_DAY": self.day.isoformat(),
            "PYTHONPATH": str(ROOT),
        })
        if self.server:
            env["PREFECT_API_URL"] = self.server.url
            env["BENCH_SERVER_PIDS"] = ",".join(map(str, self.server.pids()))
        return env

    def _setup_limits(self) -> None:
        code = ("from prefect.client.orchestration import get_client\n"
                "from civic_briefs.prefect_setup import ensure_concurrency_limits\n"
                "from civic_briefs.settings import get_settings\n"
                "with get_client(sync_client=True) as c: print(ensure_concurrency_limits(c, get_settings()))\n")
        run = self.work / "setup"
        run.mkdir()
        subprocess.run([PY, "-c", code], env=self.env(run, 0), cwd=ROOT, check=True, capture_output=True)

    def run(self, name: str, mode: str, users: int, *, scale: float | None = None, extra: list[str] = (),
            kill_when=None, keep: Path | None = None) -> dict:
        """One runner process over a fresh database of ``users`` users (or ``keep``'s, to resume)."""
        lat = self.latencies(scale)
        run = keep or (self.work / name)
        if keep is None:
            run.mkdir()
            seed_db(run / "briefs.db", self.bills, self.all_users[:users])
            self.standins.reset()
        self.standins.configure(anthropic=lat["anthropic"], elevenlabs=lat["elevenlabs"], brave=lat["brave"],
                                concurrency=self.args.concurrency)
        counts_before = self._counts()
        out = run / f"{name}.json"
        started = time.time()
        logf = open(run / f"{name}.log", "w")
        proc = subprocess.Popen([PY, "-m", "benchmarks.runner", mode, str(out), *extra], env=self.env(run, lat["upload"]),
                                cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        roots = {"pipeline": [proc.pid]}
        if self.server:
            roots["server"] = [self.server.proc.pid]
        sampler = Sampler(roots)
        sampler.start()
        killed_at = None
        while proc.poll() is None:
            if kill_when is not None and Path(str(out) + ".started").exists() and kill_when(self.standins.stats(started)):
                killed_at = time.time()
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.5)
        peaks = sampler.finish()
        if killed_at is not None:
            t0 = float(Path(str(out) + ".started").read_text())
            log(f"  {name}: killed after {killed_at - t0:.1f} s")
            return {"killed_at": killed_at, "t0": t0, "run_dir": run}
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{name} failed (exit {proc.returncode}): see {run / (name + '.log')}")
        result = json.loads(out.read_text())
        result["standins"] = self.standins.stats(result["t0"])
        result["peak_rss_mb"] = peaks
        result["users"] = users
        result["latencies"] = lat
        result["counts"] = {k: self._counts().get(k, 0) - v for k, v in counts_before.items()}
        result["bytes"] = {"segment_store": folder_bytes(run / "segments"), "results": folder_bytes(run / "results"),
                           "audio": folder_bytes(run / "audio"), "briefs_db": folder_bytes(run) and sum(
                               f.stat().st_size for f in run.glob("briefs.db*"))}
        if self.server:
            result["bytes"]["prefect_db_total"] = self.server.db_bytes()
        if not self.server:
            # The embedded API runs in a child process of the runner: its CPU as last sampled.
            result["child_cpu_s"] = sum(v for p, v in sampler.cpu["pipeline"].items() if p != proc.pid)
        result["run_dir"] = str(run)
        log(f"  {name}: {mode} {users} users, wall {result['wall_s']:.1f} s, state {result.get('state')}")
        return result

    def _counts(self) -> dict[str, int]:
        if not self.server:
            return {}
        return {w: self.server.count(w) for w in ("flow_runs", "task_runs", "artifacts")}

    def close(self) -> None:
        self.standins.stop()
        if self.server:
            self.server.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


# ---- the figures ----

def one_brief(b: Bench) -> dict:
    lat = b.latencies()
    new = b.run("brief", "brief", 1, extra=["--user", b.all_users[0].id])
    old = b.run("brief-oldway", "oldway", 1, extra=["--users", "1"])
    apis = new["standins"]["apis"]
    writes = apis["anthropic"]["ok"]
    shared = writes - 2
    renders = apis["elevenlabs"]["ok"]
    news = apis["brave"]["ok"]
    # The longest chain: a news fetch, a story written, the opening written (it needs every shared
    # segment), the opening rendered, the brief uploaded.
    critical = lat["brave"] + 2 * lat["anthropic"] + lat["elevenlabs"] + lat["upload"]
    # With the limits: the shared writes go A at once, the news fetches one after another (as planned).
    a = b.args.anthropic_limit
    with_limits = (news * lat["brave"] + math.ceil(shared / a) * lat["anthropic"] + lat["anthropic"]
                   + lat["elevenlabs"] + lat["upload"])
    old_seq = (news * lat["brave"] + writes * lat["anthropic"] + renders * lat["elevenlabs"] + lat["upload"])
    return {
        "wall_s": new["wall_s"], "critical_path_s": critical, "ratio": new["wall_s"] / critical,
        "bound_with_limits_s": with_limits, "ratio_to_bound_with_limits": new["wall_s"] / with_limits,
        "segments": {"shared": shared, "personal": 2, "renders": renders, "news_fetches": news},
        "oldway_wall_s": old["wall_s"], "oldway_sum_of_latencies_s": old_seq,
        "prefect_api_calls": new["prefect_api_calls"], "cpu_s": new["cpu_s"], "server_cpu_s": new.get("server_cpu_s"),
        "runs": {"new": _slim(new), "oldway": _slim(old)},
    }


def day(b: Bench, users: int, name: str = "day") -> dict:
    r = b.run(name, "day", users)
    apis = r["standins"]["apis"]
    el, cl = apis["elevenlabs"], apis["anthropic"]
    bound = max(el["busy_s"] / b.args.concurrency, cl["busy_s"] / b.args.anthropic_limit)
    published = r["uploads"]
    return {
        "users": users, "published": published, "state": r.get("state"), "wall_s": r["wall_s"],
        "lower_bound_s": bound, "ratio": r["wall_s"] / bound if bound else None,
        "elevenlabs_busy_s": el["busy_s"], "claude_busy_s": cl["busy_s"],
        "max_elevenlabs_concurrency": max(el["max_in_flight"], el["max_in_flight_control"]),
        "elevenlabs_limit": b.args.concurrency,
        "briefs_per_minute": 60 * published / r["wall_s"], "first_brief_s": r["first_upload_s"],
        "requests": {k: v["requests"] for k, v in apis.items()},
        "errors": {k: v["errors"] for k, v in apis.items()},
        "repeated_ok": {k: v["repeated_ok"] for k, v in apis.items()},
        "elevenlabs_characters": el["characters"],
        "peak_rss_mb": r["peak_rss_mb"], "pipeline_max_rss_mb": r["max_rss_mb"],
        "cpu": _cpu(r), "bytes_per_brief": {k: v / max(1, users) for k, v in r["bytes"].items()},
        "prefect_api_calls_per_brief": r["prefect_api_calls"] / max(1, users), "counts": r["counts"],
        "run": _slim(r),
    }


def oldway_day(b: Bench, sample: int, users: int) -> dict:
    r = b.run("day-oldway", "oldway", sample, extra=["--users", str(sample)])
    apis = r["standins"]["apis"]
    per = r["wall_s"] / sample
    return {
        "measured_users": sample, "measured_wall_s": r["wall_s"], "per_brief_s": per,
        "extrapolated_users": users, "extrapolated_wall_s": per * users,
        "requests_measured": {k: v["requests"] for k, v in apis.items()},
        "requests_extrapolated": {k: v["requests"] * users / sample for k, v in apis.items()},
        "elevenlabs_characters_measured": apis["elevenlabs"]["characters"],
        "elevenlabs_characters_extrapolated": apis["elevenlabs"]["characters"] * users / sample,
        "run": _slim(r),
    }


def oldway_from_brief(ob: dict, users: int) -> dict:
    """The old way's day from the one brief made the old way (``--quick``)."""
    r = ob["runs"]["oldway"]
    apis = r["standins"]["apis"]
    return {
        "measured_users": 1, "measured_wall_s": r["wall_s"], "per_brief_s": r["wall_s"],
        "extrapolated_users": users, "extrapolated_wall_s": r["wall_s"] * users,
        "requests_measured": {k: v["requests"] for k, v in apis.items()},
        "requests_extrapolated": {k: v["requests"] * users for k, v in apis.items()},
        "elevenlabs_characters_measured": apis["elevenlabs"]["characters"],
        "elevenlabs_characters_extrapolated": apis["elevenlabs"]["characters"] * users,
    }


def cost(b: Bench, users: int) -> dict:
    r = b.run(f"cost-{users}", "day", users, scale=0.0)
    lib = b.run(f"cost-{users}-library", "library", users, scale=0.0)
    prefect_cpu = _cpu(r)
    lib_cpu = _cpu(lib)
    return {
        "users": users, "wall_s": r["wall_s"], "library_wall_s": lib["wall_s"],
        "cpu_per_brief": {k: (v / users if v is not None else None) for k, v in prefect_cpu.items()},
        "library_cpu_per_brief": lib_cpu["pipeline"] / users,
        "orchestration_cpu_per_brief": (prefect_cpu["pipeline_and_prefect"] - lib_cpu["pipeline"]) / users,
        "standins_cpu_per_brief": r["standins"]["cpu_s"] / users,
        "prefect_api_calls_per_brief": r["prefect_api_calls"] / users,
        "prefect_api_calls_by_kind": r["prefect_api_calls_by_kind"],
        "runs_per_brief": {k: v / users for k, v in r["counts"].items()},
        "peak_rss_mb": r["peak_rss_mb"], "pipeline_max_rss_mb": r["max_rss_mb"],
        "run": _slim(r), "library_run": _slim(lib),
    }


def resume(b: Bench, users: int, clean: dict) -> dict:
    target = clean["run"]["standins"]["apis"]["elevenlabs"]["ok"] // 2
    first = b.run("resume", "day", users, kill_when=lambda s: s["apis"]["elevenlabs"]["ok"] >= target)
    second = b.run("resume-2", "day", users, keep=first["run_dir"])
    stats = b.standins.stats(first["t0"], split=first["killed_at"])
    lost = (first["killed_at"] - first["t0"]) + second["wall_s"] - clean["wall_s"]
    apis = stats["apis"]
    return {
        "users": users, "killed_after_s": first["killed_at"] - first["t0"],
        "killed_after_renders": target, "second_run_wall_s": second["wall_s"], "clean_wall_s": clean["wall_s"],
        "time_lost_s": lost,
        "repeated_finished": {k: v.get("repeated_finished") for k, v in apis.items()},
        "repeated_in_flight_at_kill": {k: v.get("repeated_unfinished") for k, v in apis.items()},
        "in_flight_at_kill": {k: v.get("in_flight_at_split") for k, v in apis.items()},
        "second_run_requests": {k: v.get("after_split") for k, v in apis.items()},
        "second_run": _slim(second), "second_run_published": second["uploads"],
    }


def _cpu(r: dict) -> dict:
    server = r.get("server_cpu_s") or 0.0
    pipeline = r["cpu_s"] + (r.get("child_cpu_s") or 0.0)
    return {"pipeline": pipeline, "prefect_server": r.get("server_cpu_s"), "postgres": r.get("postgres_cpu_s"),
            "pipeline_and_prefect": pipeline + server + (r.get("postgres_cpu_s") or 0.0),
            "standins": r["standins"]["cpu_s"]}


def _slim(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("run_dir",)}


def machine() -> dict:
    import importlib.metadata as md
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    pg = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
                        capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "memory_gb": round(mem / 2**20, 1), "python": platform.python_version(),
            "prefect": md.version("prefect"), "postgres": pg, "platform": platform.platform(),
            "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), "")}


def table(res: dict) -> str:
    rows: list[tuple[str, str, str]] = []
    add = lambda what, value, note="": rows.append((what, value, note))  # noqa: E731
    cfg = res["config"]
    ob = res.get("one_brief")
    if ob:
        add("1. one brief: wall", f"{ob['wall_s']:.1f} s")
        add("   critical path (news+story+opening+render+upload)", f"{ob['critical_path_s']:.1f} s",
            f"ratio {ob['ratio']:.2f} (target <= 1.2)")
        add("   bound with the limits (A at once, news in turn)", f"{ob['bound_with_limits_s']:.1f} s",
            f"ratio {ob['ratio_to_bound_with_limits']:.2f}")
        add("   the old way (parts one after another)", f"{ob['oldway_wall_s']:.1f} s",
            f"{ob['oldway_wall_s'] / ob['wall_s']:.1f}x the new wall")
    d = res.get("day")
    if d:
        add(f"2. day of {d['users']} users: wall", f"{d['wall_s']:.1f} s", f"{d['published']} published, {d['state']}")
        add("   lower bound max(EL busy/C, Claude busy/A)", f"{d['lower_bound_s']:.1f} s",
            f"ratio {d['ratio']:.3f} (target <= 1.15)")
        add("   highest ElevenLabs concurrency seen", f"{d['max_elevenlabs_concurrency']}", f"C = {d['elevenlabs_limit']}")
        add("   briefs a minute", f"{d['briefs_per_minute']:.1f}")
        add("   first brief published after", f"{d['first_brief_s']:.1f} s")
    od = res.get("oldway_day")
    if od:
        add(f"   the old way, {od['extrapolated_users']} users (EXTRAPOLATED from {od['measured_users']})",
            f"{od['extrapolated_wall_s']:.0f} s", f"{od['per_brief_s']:.1f} s a brief measured")
    if d and od:
        for api in ("anthropic", "elevenlabs", "brave"):
            add(f"3. {api} requests: day / old way (extrap.)", f"{d['requests'][api]} / {od['requests_extrapolated'][api]:.0f}",
                f"{d['requests'][api] / max(1, od['requests_extrapolated'][api]):.3f}x")
        ratio = d["elevenlabs_characters"] / max(1, od["elevenlabs_characters_extrapolated"])
        add("   ElevenLabs characters: day / old way (extrap.)",
            f"{d['elevenlabs_characters']} / {od['elevenlabs_characters_extrapolated']:.0f}", f"{ratio:.3f}x (target <= 0.2)")
    for c in res.get("cost", []):
        label = "EXTRAPOLATED from " + str(c["extrapolated_from"]) if c.get("extrapolated_from") else "measured"
        cpb = c["cpu_per_brief"]
        add(f"4. zero latency, {c['users']} users ({label}): CPU-s a brief, pipeline+server+postgres",
            f"{cpb['pipeline_and_prefect']:.4f}",
            f"pipeline {cpb['pipeline']:.4f}, server {cpb['prefect_server'] or 0:.4f}, postgres {cpb['postgres'] or 0:.4f}")
        add("   of which orchestration (minus the library alone)", f"{c['orchestration_cpu_per_brief']:.4f}",
            f"library alone {c['library_cpu_per_brief']:.4f}; target <= 0.1")
        add("   Prefect API calls / task runs / flow runs a brief",
            f"{c['prefect_api_calls_per_brief']:.2f} / {c['runs_per_brief'].get('task_runs', 0):.3f} / "
            f"{c['runs_per_brief'].get('flow_runs', 0):.4f}", f"stand-ins {c['standins_cpu_per_brief']:.4f} CPU-s a brief")
    rs = res.get("resume")
    if rs:
        rep = rs["repeated_finished"]
        add(f"5. resume ({rs['users']} users, SIGKILL after {rs['killed_after_s']:.1f} s): repeated finished requests",
            f"{sum(v or 0 for v in rep.values())}", ", ".join(f"{k} {v}" for k, v in rep.items()) + " (target 0)")
        add("   repeated requests that were in flight at the kill",
            f"{sum(v or 0 for v in rs['repeated_in_flight_at_kill'].values())}",
            ", ".join(f"{k} {v}" for k, v in rs["in_flight_at_kill"].items()) + " in flight")
        add("   time lost (first run until kill + second run - clean run)", f"{rs['time_lost_s']:.1f} s",
            f"second run {rs['second_run_wall_s']:.1f} s, clean {rs['clean_wall_s']:.1f} s")
    for r in res.get("rss", []):
        peaks = r["peak_rss_mb"]
        add(f"6. peak RSS, {r['users']} users: pipeline / server", f"{r['pipeline_max_rss_mb']:.0f} / {peaks.get('server', 0):.0f} MB",
            f"sum {r['pipeline_max_rss_mb'] + peaks.get('server', 0):.0f} MB (target <= 400, flat)")
    if d:
        bpb = d["bytes_per_brief"]
        add("   bytes a brief after pruning: segment store / results / audio",
            f"{bpb['segment_store'] / 1024:.0f} / {bpb['results'] / 1024:.1f} / {bpb['audio'] / 1024:.0f} KiB",
            f"Prefect DB {bpb.get('prefect_db_total', 0) / 1024:.0f} KiB a brief (whole bench so far)")
    width = max(len(r[0]) for r in rows)
    head = (f"Civic Briefs day benchmark: latencies x{cfg['latency_scale']} (script {cfg['latencies']['anthropic']:.2f} s, "
            f"speech part {cfg['latencies']['elevenlabs']:.2f} s, news {cfg['latencies']['brave']:.2f} s, upload "
            f"{cfg['latencies']['upload']:.2f} s), C={cfg['concurrency']}, A={cfg['anthropic_limit']}, "
            f"API: {cfg['api']}")
    return "\n".join([head, "-" * len(head)] + [f"{w.ljust(width)}  {v:>22}  {n}" for w, v, n in rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=1000, help="users in the day (default 1000)")
    p.add_argument("--bills", type=int, default=300)
    p.add_argument("--latency-scale", type=float, default=1.0, help="multiply every latency (e.g. 0.1)")
    p.add_argument("--script-latency", type=float, default=2.0, help="s per Claude request")
    p.add_argument("--speech-latency", type=float, default=3.0, help="s per ElevenLabs audio part")
    p.add_argument("--news-latency", type=float, default=0.2, help="s per Brave request")
    p.add_argument("--upload-latency", type=float, default=0.1, help="s per brief upload")
    p.add_argument("--concurrency", type=int, default=5, help="ElevenLabs concurrency C (limit and stand-in)")
    p.add_argument("--anthropic-limit", type=int, default=4, help="the anthropic limit A")
    p.add_argument("--max-concurrent-briefs", type=int, default=32)
    p.add_argument("--oldway-users", type=int, default=5, help="users the old way is measured on")
    p.add_argument("--cost-users", type=int, default=10000, help="largest zero-latency day for CPU cost")
    p.add_argument("--cost-extrapolate", action="store_true", help="extrapolate the largest cost day from 2,000")
    p.add_argument("--rss-small", type=int, default=100, help="the small day for RSS and resume")
    p.add_argument("--skip", default="", help="comma list of: brief,day,oldway,cost,resume,rss")
    p.add_argument("--embedded", action="store_true", help="the embedded Prefect API instead of a server")
    p.add_argument("--quick", action="store_true", help="small and fast (make bench-quick)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = p.parse_args()
    if args.quick:
        # Under 3 minutes on 2 cores: a day of 100 (also the small RSS point), the old way taken from
        # the one brief, the zero-latency cost measured at 100 users and extrapolated, no resume (a
        # resume waits out the killed run's claims: about 300 s, see docs/benchmarks.md).
        args.users, args.latency_scale, args.oldway_users = min(args.users, 100), 0.05, 1
        args.cost_users, args.cost_extrapolate, args.rss_small = 100, True, 0
        args.skip = ",".join(filter(None, [args.skip, "resume", "rss"]))
    skip = set(filter(None, args.skip.split(",")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the servers are stopped
    started = time.time()
    b = Bench(args)
    res: dict = {"config": {**vars(args), "latencies": b.latencies(), "api": "embedded (SQLite)" if args.embedded
                            else "prefect server start on PostgreSQL", "day": b.day.isoformat(),
                            "storage": "local folder, every upload + upload latency (wrapped in the pipeline process)"},
                 "machine": machine()}
    try:
        log(f"work folder {b.work}; stand-ins at {b.standins.base_url}; Prefect {b.server.url if b.server else 'embedded'}")
        if "brief" not in skip:
            res["one_brief"] = one_brief(b)
        if "day" not in skip:
            res["day"] = day(b, args.users)
        if "oldway" not in skip and args.oldway_users == 1 and "one_brief" in res:
            res["oldway_day"] = oldway_from_brief(res["one_brief"], args.users)
        elif "oldway" not in skip:
            res["oldway_day"] = oldway_day(b, args.oldway_users, args.users)
        small = None
        if "day" in res and ("rss" in skip or args.rss_small == args.users):
            res["rss"] = [{"users": res["day"]["users"], "peak_rss_mb": res["day"]["peak_rss_mb"],
                           "pipeline_max_rss_mb": res["day"]["pipeline_max_rss_mb"]}]
        if args.rss_small and ("rss" not in skip or "resume" not in skip):
            small = day(b, args.rss_small, name="day-small")
            res["rss"] = [{"users": small["users"], "peak_rss_mb": small["peak_rss_mb"],
                           "pipeline_max_rss_mb": small["pipeline_max_rss_mb"]}]
            if "day" in res:
                res["rss"].append({"users": res["day"]["users"], "peak_rss_mb": res["day"]["peak_rss_mb"],
                                   "pipeline_max_rss_mb": res["day"]["pipeline_max_rss_mb"]})
        if "resume" not in skip and small:
            res["resume"] = resume(b, args.rss_small, small)
        if "cost" not in skip:
            res["cost"] = []
            sizes = [args.cost_users] if args.cost_extrapolate else [1000, args.cost_users]
            for n in dict.fromkeys(sizes):
                res["cost"].append(cost(b, n))
            if args.cost_extrapolate:
                base = res["cost"][-1]
                for n in (1000, 10000):
                    if n > base["users"]:
                        res["cost"].append({**{k: base[k] for k in (
                            "cpu_per_brief", "library_cpu_per_brief", "orchestration_cpu_per_brief",
                            "standins_cpu_per_brief", "prefect_api_calls_per_brief", "runs_per_brief")},
                            "users": n, "extrapolated_from": base["users"]})
            res["rss"] = res.get("rss", []) + [{"users": c["users"], "peak_rss_mb": c["peak_rss_mb"],
                                                "pipeline_max_rss_mb": c["pipeline_max_rss_mb"], "zero_latency": True}
                                               for c in res["cost"] if "peak_rss_mb" in c]
    finally:
        res["bench_wall_s"] = time.time() - started
        Path(args.out).write_text(json.dumps(res, indent=1, default=str))
        b.close()
    print()
    print(table(res))
    print(f"\nwhole benchmark {res['bench_wall_s']:.0f} s; figures in {args.out}")


if __name__ == "__main__":
    main()
