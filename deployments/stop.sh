#!/usr/bin/env bash
# Stop what deployments/serve.sh started: the workers (and any flow runs they are running), then
# the server. Only processes named in the pid files are touched. Safe to run again.
#   BRIEFS_RUN_DIR=.data/run   where serve.sh put the pid files
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${BRIEFS_RUN_DIR:-$ROOT/.data/run}"
log() { printf '[stop] %s\n' "$*"; }

is_ours() { # is_ours PID: a running prefect process (a pid file may outlive its process)
  kill -0 "$1" 2>/dev/null && ps -p "$1" -o args= 2>/dev/null | grep -q prefect
}
descendants() { # descendants PID: every process below PID (flow runs start their own sessions)
  local children child
  children="$(ps -e -o pid= -o ppid= 2>/dev/null | awk -v p="$1" '$2 == p {print $1}')"
  for child in $children; do
    echo "$child"
    descendants "$child"
  done
}
signal() { # signal SIG PID: its process group when it leads one (setsid), else the process
  local pgid
  pgid="$(ps -o pgid= -p "$2" 2>/dev/null | tr -d ' ')"
  if [ "$pgid" = "$2" ]; then kill -"$1" -- "-$2" 2>/dev/null || kill -"$1" "$2" 2>/dev/null
  else kill -"$1" "$2" 2>/dev/null; fi
}
wait_gone() { # wait_gone SECONDS PID...: true when all are gone
  local deadline=$(( $(date +%s) + $1 )) pid left; shift
  while :; do
    left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" -eq 0 ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}
stop_pidfile() { # stop_pidfile FILE WHAT GRACE_SECONDS SIGNALS_BEFORE_KILL
  local file="$1" what="$2" grace="$3" times="$4" pid kids n
  [ -f "$file" ] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! is_ours "$pid"; then
    log "$what: not running (removing stale $file)"
    rm -f "$file"
    return 0
  fi
  kids="$(descendants "$pid")"
  for n in $(seq 1 "$times"); do
    signal TERM "$pid"
    wait_gone 3 "$pid" && break
  done
  if ! wait_gone "$grace" "$pid"; then
    log "$what (pid $pid) still running after SIGTERM: SIGKILL"
    signal KILL "$pid"
    wait_gone 5 "$pid"
  fi
  # Flow runs started by a worker run in their own sessions: stop any left behind.
  local left=()
  for k in $kids; do kill -0 "$k" 2>/dev/null && left+=("$k"); done
  if [ "${#left[@]}" -gt 0 ]; then
    kill -TERM "${left[@]}" 2>/dev/null
    wait_gone 10 "${left[@]}" || kill -KILL "${left[@]}" 2>/dev/null
  fi
  rm -f "$file"
  log "$what (pid $pid) stopped"
}

shopt -s nullglob
workers=("$RUN_DIR"/worker-*.pid)
found=${#workers[@]}
# A worker finishes shutting down only on a second SIGTERM.
for f in "${workers[@]}"; do
  stop_pidfile "$f" "worker $(basename "$f" .pid | sed 's/^worker-//')" 15 2
done
if [ -f "$RUN_DIR/server.pid" ]; then
  found=1
  stop_pidfile "$RUN_DIR/server.pid" "Prefect server" 20 1
  rm -f "$RUN_DIR/server.database"
fi
[ "$found" -gt 0 ] || log "nothing to stop (no pid files in $RUN_DIR)"
exit 0
