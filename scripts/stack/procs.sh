#!/usr/bin/env bash
# Process bookkeeping shared by scripts/stack/stack.sh and scripts/k8s/k8s.sh (sourced).
# The sourcing script sets PROCS_DIR (pid files), PROCS_LOGS (one log per process) and defines
# log and die. A pid file holds "<pid> <marker>"; the marker must appear in /proc/<pid>/cmdline
# so a recycled pid is never mistaken for ours.

running() {
  local file="$PROCS_DIR/$1.pid" pid marker
  [[ -f $file ]] || return 1
  read -r pid marker <"$file"
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

pid_of() { awk '{print $1}' "$PROCS_DIR/$1.pid"; }

# start <name> <marker> <cmd...>: detached (own session) so it outlives the shell that started
# it; output to $PROCS_LOGS/<name>.log.
start() {
  local name=$1 marker=$2
  shift 2
  setsid "$@" >>"$PROCS_LOGS/$name.log" 2>&1 </dev/null &
  echo "$! $marker" >"$PROCS_DIR/$name.pid"
}

# stop <name> [seconds]: SIGTERM, then SIGKILL after the grace period (10 s by default).
stop() {
  local name=$1 grace=${2:-10} pid
  if ! running "$name"; then
    rm -f "$PROCS_DIR/$name.pid"
    return 0
  fi
  pid=$(pid_of "$name")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in $grace s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PROCS_DIR/$name.pid"
  log "stopped $name"
}

# wait_for <what> <seconds> <name> <check...>: polls the check; fails early when the process died.
wait_for() {
  local what=$1 seconds=$2 name=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    # kill -0, not `running`: right after the fork the child may not have exec'd its command yet.
    kill -0 "$(pid_of "$name")" 2>/dev/null || die "$what exited during start; see $PROCS_LOGS/$name.log"
    ((SECONDS < deadline)) || die "$what not ready after ${seconds}s; see $PROCS_LOGS/$name.log"
    sleep 0.2
  done
}
