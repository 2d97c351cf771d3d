#!/usr/bin/env bash
# The README's quick start, `npm start`, on whatever node is first on PATH (.ci/run runs it on
# the machine's own, which may be older than .nvmrc's: npm only warns about `engines`): it must
# come up, answer /healthz and a demo login, and stop with exit 0 on SIGTERM. Its own ports and
# data directory, so a running `npm start` or the test run's PostgreSQL is left alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

free_port() { node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port=$(free_port)
pg_port=$(free_port)
data=$(mktemp -d)
chmod 755 "$data" # as root, the embedded PostgreSQL runs as the postgres user and must reach it
log=$data/start.log
echo "node $(node --version): npm start on port $port (embedded PostgreSQL on $pg_port, data in $data)"

# setsid: a group of its own, so the cleanup below reaches npm, node and the embedded PostgreSQL.
PORT=$port EMBEDDED_PG_PORT=$pg_port DATA_DIR=$data setsid npm start >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -KILL -- -"$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 600); do
  grep -q 'taskstream is ready at' "$log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
grep -q 'taskstream is ready at' "$log" || {
  echo "npm start did not come up:" >&2
  tail -n 40 "$log" >&2
  exit 1
}
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
curl -fsS "http://127.0.0.1:$port/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"alice@example.com","password":"alice-password"}' | grep -q '"token"'
# SIGTERM to the node process (as `kill <pid>` in the README): it drains and exits 0.
node_pid=$(pgrep -g "$pid" -f '^node services/host/dist/main\.js' | head -n 1)
kill -TERM "$node_pid"
code=0
wait "$pid" || code=$?
[[ $code == 0 ]] || {
  echo "npm start exited $code after SIGTERM:" >&2
  tail -n 40 "$log" >&2
  exit 1
}
echo "npm start came up, answered and stopped cleanly"
