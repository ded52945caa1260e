#!/usr/bin/env bash
# Start a local Prefect server, the work pool and global concurrency limits, the deployments in
# prefect.yaml, the automations and worker(s). `make serve` runs this; `make stop` undoes it.
# Safe to run again: a live server or worker (by pid file and health) is kept, the rest is updated.
#
# Environment (all optional):
#   PORT=4200                         the server's port on 127.0.0.1
#   BRIEFS_PREFECT_DATABASE_URL=...   the server's database: postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB
#                                     (or PREFECT_API_DATABASE_CONNECTION_URL); SQLite in PREFECT_HOME if unset
#   WORK_POOL=briefs                  the process work pool (or BRIEFS_WORK_POOL)
#   WORKERS=1 WORKER_LIMIT=4          how many workers, and flow runs each takes at once
#   PREFECT_HOME=.data/prefect        Prefect's home (profiles, SQLite database)
#   BRIEFS_RUN_DIR=.data/run          pid files and logs
#   BRIEFS_ALERT_WEBHOOK_URL=...      where failed-run alerts are POSTed as JSON (shown masked: its path
#                                     is often a token); without it or a block named civic-briefs-alerts
#                                     alerts go nowhere, and every run of this script says so
#   SERVER_START_TIMEOUT=180          seconds to wait for /api/health
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PREFECT="$VENV/bin/prefect"
PY="$VENV/bin/python"
HOST=127.0.0.1
PORT="${PORT:-4200}"
RUN_DIR="${BRIEFS_RUN_DIR:-$ROOT/.data/run}"
WORK_POOL="${WORK_POOL:-${BRIEFS_WORK_POOL:-briefs}}"
WORKERS="${WORKERS:-1}"
WORKER_LIMIT="${WORKER_LIMIT:-4}"
SERVER_START_TIMEOUT="${SERVER_START_TIMEOUT:-180}"

export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.data/prefect}"
export PREFECT_API_URL="http://$HOST:$PORT/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# A dead process's concurrency slot (60 s lease, tasks/limits.py) comes back within 5 s of its lease
# ending, not 15.
export PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS="${PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS:-5}"
export BRIEFS_WORK_POOL="$WORK_POOL"
# The CLI calls below wait for a busy 2-core machine rather than fail.
export PREFECT_CLIENT_MAX_RETRIES="${PREFECT_CLIENT_MAX_RETRIES:-8}"

log() { printf '[serve] %s\n' "$*"; }
die() { printf '[serve] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$PREFECT" ] || die "$PREFECT not found: run 'make install' first"
[[ "$WORKERS" =~ ^[0-9]+$ && "$WORKER_LIMIT" =~ ^[0-9]+$ ]] || die "WORKERS and WORKER_LIMIT must be whole numbers"
# daily-briefs with fan_out=deployment takes a worker slot while it waits for its make-briefs
# runs: with one worker it needs a second slot or nothing ever runs them.
if [ "$WORKERS" -eq 1 ] && [ "$WORKER_LIMIT" -lt 2 ]; then
  die "WORKER_LIMIT=$WORKER_LIMIT: one worker needs --limit 2 or more (daily-briefs waits in one slot for the briefs it starts)"
fi
mkdir -p "$RUN_DIR" "$PREFECT_HOME"

alive() { # alive PIDFILE: the pid in it is a running prefect process (not a recycled pid)
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ps -p "$pid" -o args= 2>/dev/null | grep -q prefect
}
healthy() {
  "$PY" - "$PREFECT_API_URL/health" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}
start_bg() { # start_bg PIDFILE LOGFILE COMMAND...: in its own session when setsid exists
  local pidfile="$1" logfile="$2"; shift 2
  if command -v setsid >/dev/null 2>&1; then
    nohup setsid "$@" >>"$logfile" 2>&1 </dev/null &
  else
    nohup "$@" >>"$logfile" 2>&1 </dev/null &
  fi
  echo $! >"$pidfile"
}

# The server sends failed-run alerts: a webhook that answers 4xx/5xx makes it log an httpx error
# holding the webhook's URL, a secret. Its handlers mask URL paths and queries (logging.yml).
SERVER_LOGGING="$ROOT/deployments/logging.yml"
server_logging_ok() { # Prefect falls back to its default config when this one fails, and says nothing
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" - "$SERVER_LOGGING" <<'EOF'
import logging.config, sys
from pathlib import Path
from prefect.logging.configuration import load_logging_config
logging.config.dictConfig(load_logging_config(Path(sys.argv[1])))
EOF
}

# --- the server's database --------------------------------------------------------------------
DB_URL="${BRIEFS_PREFECT_DATABASE_URL:-${PREFECT_API_DATABASE_CONNECTION_URL:-}}"
case "$DB_URL" in
  postgres://*) DB_URL="postgresql+asyncpg://${DB_URL#postgres://}" ;;
  postgresql://*) DB_URL="postgresql+asyncpg://${DB_URL#postgresql://}" ;;
esac
if [ -n "$DB_URL" ]; then
  export PREFECT_API_DATABASE_CONNECTION_URL="$DB_URL"
  SHOWN="$(printf '%s' "$DB_URL" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#')"
  case "$DB_URL" in
    postgresql*) DB_DESC="PostgreSQL: $SHOWN" ;;
    *) DB_DESC="$SHOWN" ;;
  esac
  DB_HINT=""
else
  unset PREFECT_API_DATABASE_CONNECTION_URL
  DB_DESC="SQLite: $PREFECT_HOME/prefect.db"
  DB_HINT=" (BRIEFS_PREFECT_DATABASE_URL=postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB for PostgreSQL)"
fi

# --- server -------------------------------------------------------------------------------------
SERVER_PID="$RUN_DIR/server.pid"
t0=$(date +%s)
if alive "$SERVER_PID" && healthy; then
  RUNNING_DB="$(cat "$RUN_DIR/server.database" 2>/dev/null || echo unknown)"
  log "Prefect server already running (pid $(cat "$SERVER_PID")) at http://$HOST:$PORT; database $RUNNING_DB"
  [ "$RUNNING_DB" = "$DB_DESC" ] || log "WARNING: it is not on $DB_DESC: make stop, then make serve, to switch"
  DB_DESC="$RUNNING_DB"
elif ! alive "$SERVER_PID" && healthy; then
  log "A Prefect API not started by make serve already answers at http://$HOST:$PORT: using it"
  DB_DESC="unknown (a server not started by make serve)"
  rm -f "$SERVER_PID"
else
  if ! alive "$SERVER_PID"; then
    rm -f "$SERVER_PID"
    log "Starting the Prefect server on http://$HOST:$PORT; database $DB_DESC$DB_HINT"
    log "  log: $RUN_DIR/server.log"
    server_logging_ok || die "$SERVER_LOGGING does not load (above): the server would log unmasked URLs"
    PREFECT_LOGGING_SETTINGS_PATH="$SERVER_LOGGING" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
      start_bg "$SERVER_PID" "$RUN_DIR/server.log" "$PREFECT" server start --host "$HOST" --port "$PORT"
    printf '%s\n' "$DB_DESC" >"$RUN_DIR/server.database"
  else
    log "Prefect server (pid $(cat "$SERVER_PID")) is starting; waiting for it"
  fi
  until healthy; do
    if ! alive "$SERVER_PID"; then
      tail -n 30 "$RUN_DIR/server.log" >&2 || true
      rm -f "$SERVER_PID"
      die "the Prefect server exited (log above: $RUN_DIR/server.log)"
    fi
    if [ $(( $(date +%s) - t0 )) -ge "$SERVER_START_TIMEOUT" ]; then
      die "no answer from $PREFECT_API_URL/health after ${SERVER_START_TIMEOUT}s (log: $RUN_DIR/server.log)"
    fi
    sleep 1
  done
  log "Server ready in $(( $(date +%s) - t0 )) s"
fi

# --- work pool, limits, deployments, automations -------------------------------------------------
"$VENV/bin/civic-briefs" setup-prefect | sed 's/^/[serve] /'

log "Deploying prefect.yaml to work pool '$WORK_POOL' (log: $RUN_DIR/deploy.log)"
t1=$(date +%s)
if [ "$WORK_POOL" = "briefs" ]; then
  deploy_cmds=("--all")
else  # `deploy --all` ignores --pool: deploy one at a time
  deploy_cmds=("--name daily-briefs-due" "--name weekly-briefs-due" "--name daily-briefs" "--name generate-brief"
               "--name make-briefs" "--name import-bills" "--name sync-bills")
fi
: >"$RUN_DIR/deploy.log"
for args in "${deploy_cmds[@]}"; do
  extra=()
  [ "$WORK_POOL" = "briefs" ] || extra=(--pool "$WORK_POOL")
  # shellcheck disable=SC2086
  if ! PWD="$ROOT" "$PREFECT" --no-prompt deploy $args "${extra[@]}" >>"$RUN_DIR/deploy.log" 2>&1; then
    tail -n 40 "$RUN_DIR/deploy.log" >&2
    die "prefect deploy failed (log: $RUN_DIR/deploy.log)"
  fi
done
log "Deployed daily-briefs-due and weekly-briefs-due (every 15 min: each listener's local delivery time), daily-briefs, generate-brief, make-briefs, import-bills, sync-bills (every 4 h at :30 from 01:30 UTC) in $(( $(date +%s) - t1 )) s"

# Its last line says where failed-run alerts go (or a WARNING that they go nowhere): repeated below.
"$PY" deployments/apply_automations.py | tee "$RUN_DIR/automations.log" | sed 's/^/[serve] /'
ALERTS="$(grep -E '^(Alerts: |WARNING: failed-run alerts)' "$RUN_DIR/automations.log" | tail -n 1 || true)"

# --- workers ------------------------------------------------------------------------------------
for i in $(seq 1 "$WORKERS"); do
  pidfile="$RUN_DIR/worker-$i.pid"
  if alive "$pidfile"; then
    log "Worker $i already running (pid $(cat "$pidfile"))"
    ps -p "$(cat "$pidfile")" -o args= | grep -q -- "--pool $WORK_POOL " \
      || { log "WARNING: worker $i serves another work pool than '$WORK_POOL': make stop, then make serve"; POOL_MISMATCH=1; }
    continue
  fi
  rm -f "$pidfile"
  name="civic-briefs-$(hostname -s 2>/dev/null || hostname)-$i"
  start_bg "$pidfile" "$RUN_DIR/worker-$i.log" \
    "$PREFECT" worker start --pool "$WORK_POOL" --limit "$WORKER_LIMIT" --name "$name"
  log "Worker $i started (pid $(cat "$pidfile"), --limit $WORKER_LIMIT, log: $RUN_DIR/worker-$i.log)"
done
online_workers() { # how many workers of the pool the API lists as ONLINE
  "$PY" - "$PREFECT_API_URL/work_pools/$WORK_POOL/workers/filter" <<'EOF' 2>/dev/null || echo 0
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=b"{}", headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=5) as r:
    print(sum(w.get("status") == "ONLINE" for w in json.load(r)))
EOF
}
t2=$(date +%s)
until [ -n "${POOL_MISMATCH:-}" ] || [ "$(online_workers)" -ge "$WORKERS" ]; do
  for i in $(seq 1 "$WORKERS"); do
    alive "$RUN_DIR/worker-$i.pid" || { tail -n 30 "$RUN_DIR/worker-$i.log" >&2; die "worker $i exited (log above)"; }
  done
  if [ $(( $(date +%s) - t2 )) -ge 60 ]; then
    log "WARNING: fewer than $WORKERS workers online in '$WORK_POOL' after 60 s (logs: $RUN_DIR/worker-*.log)"
    break
  fi
  sleep 1
done
log "$(online_workers) worker(s) online in work pool '$WORK_POOL'"

cat <<EOF
[serve] Ready. UI: http://$HOST:$PORT   (database $DB_DESC)
[serve] Use it from a shell:  export PREFECT_API_URL=$PREFECT_API_URL
[serve]   .venv/bin/prefect deployment run 'generate-brief/generate-brief' --param user_id=maria --param policy_interests='["healthcare"]' --param force=true --watch
[serve]   .venv/bin/prefect deployment run 'daily-briefs/daily-briefs' --param fan_out=deployment
[serve] Stop everything with: make stop
EOF
[ -z "$ALERTS" ] || log "$ALERTS"
