#!/usr/bin/env bash
# The real local Dapr stack on loopback: Kafka (KRaft), PostgreSQL, the Dapr scheduler, and
# each taskstream service with its own daprd when its build exists.
#
#   bash scripts/stack/stack.sh up | down | status | clean
#
# Builds (daprd, scheduler, the Kafka classpath) are cached outside the repo in
# ${TASKSTREAM_CACHE:-$HOME/.cache/taskstream} and reused across checkouts and runs.
# Runtime state lives in the repo under .stack/ (gitignored): pids, logs, data, and `env`,
# which tests read. See docs/adr/0003-local-dapr-stack.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}
STACK="$REPO/.stack"
LOGS="$STACK/logs"
DATA="$STACK/data"

DAPR_VERSION=1.18.2
KAFKA_VERSION=4.2.0
KAFKA_DIR="$CACHE/kafka-$KAFKA_VERSION"

# Fixed loopback ports, clear of 8080 (embedded host), 5432 and 54329 (developer and embedded
# PostgreSQL), and all below the kernel's ephemeral range (32768+): a client socket once held the
# scheduler's former port 50006 just as the stack started.
KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
PG_PORT=25433
SCHEDULER_PORT=30006
SCHEDULER_ETCD_CLIENT_PORT=22379
SCHEDULER_ETCD_PEER_PORT=22380
SCHEDULER_HEALTHZ_PORT=28081
SCHEDULER_METRICS_PORT=29091

# One line per service: app id, app port, daprd HTTP, daprd gRPC, daprd metrics. All below the
# kernel's ephemeral range (32768+), where a client socket or a test's free port could take one
# between two runs (a daprd once failed to bind its metrics port 59102 that way).
APPS=(
  "task-api 3101 3501 3601 3701"
  "recurring 3102 3502 3602 3702"
  "notification 3103 3503 3603 3703"
  "audit 3104 3504 3604 3704"
  "sync 3105 3505 3605 3705"
  "payments 3106 3506 3606 3706"
  "fraud 3107 3507 3607 3707"
)

log() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# --- process bookkeeping ------------------------------------------------------------------

PROCS_DIR=$STACK
PROCS_LOGS=$LOGS
# shellcheck source=SCRIPTDIR/procs.sh
source "$REPO/scripts/stack/procs.sh"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_code_is() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$2" || true) == "$1" ]]; }

# --- pinned builds, cached outside the repo -----------------------------------------------

ensure_dapr() {
  local bin="$CACHE/bin" need=()
  if [[ $("$bin/daprd" --version 2>/dev/null || true) != "$DAPR_VERSION" ]]; then need+=(daprd); fi
  # scheduler has no --version flag: a stamp written next to it by our build says what it is.
  if [[ ! -x $bin/scheduler || $(cat "$bin/scheduler.version" 2>/dev/null || true) != "$DAPR_VERSION" ]]; then need+=(scheduler); fi
  ((${#need[@]})) || return 0

  command -v go >/dev/null || die "go is needed to build ${need[*]} $DAPR_VERSION"
  log "building ${need[*]} $DAPR_VERSION from the Go module proxy (first run only; daprd takes ~4 min cold)"
  mkdir -p "$bin"
  local src="$CACHE/dapr-src-$DAPR_VERSION" dir
  export GOFLAGS=-mod=mod CGO_ENABLED=0
  if [[ ! -f $src/go.mod ]]; then
    # Dapr's go.mod has replace directives, so `go install dapr@version` is refused: build it as the main module.
    dir=$(cd /tmp && go mod download -json "github.com/dapr/dapr@v$DAPR_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    [[ -n $dir ]] || die "could not download github.com/dapr/dapr@v$DAPR_VERSION"
    rm -rf "$src.tmp" && cp -r "$dir" "$src.tmp" && chmod -R u+w "$src.tmp" && mv "$src.tmp" "$src"
  fi
  local ld="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION"
  for target in "${need[@]}"; do
    local started=$SECONDS tags=()
    [[ $target == daprd ]] && tags=(-tags stablecomponents)
    (cd "$src" && go build "${tags[@]}" -trimpath -ldflags "$ld" -o "$bin/$target.tmp" "./cmd/$target") >>"$LOGS/build-$target.log" 2>&1 ||
      die "building $target failed; see $LOGS/build-$target.log"
    mv "$bin/$target.tmp" "$bin/$target"
    [[ $target == scheduler ]] && echo "$DAPR_VERSION" >"$bin/scheduler.version"
    log "built $target in $((SECONDS - started)) s"
  done
}

ensure_kafka() {
  local cp="$KAFKA_DIR/classpath.txt"
  if [[ -s $cp ]] && tr ':' '\n' <"$cp" | while read -r jar; do [[ -f $jar ]] || exit 1; done; then return 0; fi
  command -v mvn >/dev/null || die "mvn is needed to fetch Kafka $KAFKA_VERSION from Maven Central"
  log "resolving Kafka $KAFKA_VERSION from Maven Central"
  mkdir -p "$KAFKA_DIR"
  # A throwaway pom only to let Maven resolve the broker's classpath; nothing is built.
  # slf4j-api is named because Maven would otherwise pick 1.7.x through an older path.
  cat >"$KAFKA_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.taskstream</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.25.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.25.3</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
  </dependencies>
</project>
EOF
  (cd "$KAFKA_DIR" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=classpath.txt.tmp) >>"$LOGS/build-kafka.log" 2>&1 ||
    die "resolving Kafka failed; see $LOGS/build-kafka.log"
  mv "$KAFKA_DIR/classpath.txt.tmp" "$cp"
}

# --- infrastructure -----------------------------------------------------------------------

start_kafka() {
  if running kafka; then log "kafka already running (pid $(pid_of kafka))"; return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process this stack did not start"
  local dir="$DATA/kafka" cp
  cp=$(cat "$KAFKA_DIR/classpath.txt")
  mkdir -p "$dir/logs"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/logs
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaServer
logger.kafka.level=INFO
logger.raft.name=kafka.server.KafkaRaftServer
logger.raft.level=INFO
EOF
  if [[ ! -f $dir/logs/meta.properties ]]; then
    local id
    id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$cp" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >>"$LOGS/kafka.log" 2>&1 ||
      die "formatting Kafka storage failed; see $LOGS/kafka.log"
  fi
  start kafka "$dir/server.properties" java -Xms256m -Xmx512m -cp "$cp" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.Kafka "$dir/server.properties"
  wait_for kafka 60 kafka port_open "$KAFKA_PORT"
  log "kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (pid $(pid_of kafka))"
}

start_postgres() {
  if running postgres; then log "postgres already running (pid $(pid_of postgres))"; return; fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by a process this stack did not start"
  # Run as root, the server runs as the system user `postgres`, which cannot enter $HOME=/root:
  # so the data lives in the repo's .stack/data, with its parent owned by that user.
  mkdir -p "$DATA/postgres-cluster"
  if [[ $(id -u) == 0 ]] && id postgres >/dev/null 2>&1; then chown postgres "$DATA/postgres-cluster"; fi
  rm -f "$STACK/postgres.ready"
  start postgres "scripts/stack/postgres.ts" "$REPO/node_modules/.bin/tsx" "$REPO/scripts/stack/postgres.ts" \
    --data-dir "$DATA/postgres-cluster" --port "$PG_PORT" --ready-file "$STACK/postgres.ready"
  wait_for postgres 60 postgres test -f "$STACK/postgres.ready"
  log "postgres on 127.0.0.1:$PG_PORT (pid $(pid_of postgres))"
}

start_scheduler() {
  if running scheduler; then log "scheduler already running (pid $(pid_of scheduler))"; return; fi
  port_open "$SCHEDULER_PORT" && die "port $SCHEDULER_PORT is taken by a process this stack did not start"
  mkdir -p "$DATA/scheduler"
  # Every default of the scheduler either collides (healthz 8080, etcd 2379/2380) or listens on
  # all interfaces (metrics): set them all. Jobs persist in the etcd dir across restarts.
  start scheduler "--etcd-data-dir $DATA/scheduler" "$CACHE/bin/scheduler" \
    --port "$SCHEDULER_PORT" --listen-address 127.0.0.1 \
    --etcd-data-dir "$DATA/scheduler" \
    --etcd-client-port "$SCHEDULER_ETCD_CLIENT_PORT" --etcd-client-listen-address 127.0.0.1 \
    --etcd-initial-cluster "dapr-scheduler-server-0=http://127.0.0.1:$SCHEDULER_ETCD_PEER_PORT" \
    --healthz-port "$SCHEDULER_HEALTHZ_PORT" --healthz-listen-address 127.0.0.1 \
    --metrics-port "$SCHEDULER_METRICS_PORT" --metrics-listen-address 127.0.0.1
  wait_for scheduler 60 scheduler http_code_is 200 "http://127.0.0.1:$SCHEDULER_HEALTHZ_PORT/healthz"
  log "scheduler on 127.0.0.1:$SCHEDULER_PORT (pid $(pid_of scheduler))"
}

# Secrets are made once per checkout and kept in .stack/env (mode 600), which tests read.
write_env() {
  local dapr_token app_token jwt_secret app id app_port urls=()
  dapr_token=$(sed -n 's/^DAPR_API_TOKEN=//p' "$STACK/env" 2>/dev/null || true)
  app_token=$(sed -n 's/^APP_API_TOKEN=//p' "$STACK/env" 2>/dev/null || true)
  jwt_secret=$(sed -n 's/^JWT_SECRET=//p' "$STACK/env" 2>/dev/null || true)
  [[ -n $dapr_token ]] || dapr_token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  [[ -n $app_token ]] || app_token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  [[ -n $jwt_secret ]] || jwt_secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  for app in "${APPS[@]}"; do
    read -r id app_port _ <<<"$app"
    urls+=("$id=http://127.0.0.1:$app_port")
  done
  umask 077
  {
    echo "DATABASE_URL=postgres://postgres:taskstream@127.0.0.1:$PG_PORT/taskstream"
    echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    echo "KAFKA_CLASSPATH_FILE=$KAFKA_DIR/classpath.txt"
    echo "DAPRD=$CACHE/bin/daprd"
    echo "DAPR_VERSION=$DAPR_VERSION"
    echo "DAPR_SCHEDULER_ADDRESS=127.0.0.1:$SCHEDULER_PORT"
    echo "DAPR_RESOURCES_PATH=$REPO/dapr-components/local"
    echo "DAPR_CONFIG=$REPO/dapr-components/local/configuration.yaml"
    echo "DAPR_API_TOKEN=$dapr_token"
    echo "APP_API_TOKEN=$app_token"
    # One secret for every app: a token task-api issues is checked by audit, notification, sync.
    echo "JWT_SECRET=$jwt_secret"
    echo "STACK_APPS=$(IFS=,; echo "${urls[*]}")"
  } >"$STACK/env.tmp"
  mv "$STACK/env.tmp" "$STACK/env"
  umask 022
}

env_value() { sed -n "s/^$1=//p" "$STACK/env"; }

# --- taskstream services, each with its own daprd -----------------------------------------

# The services' dist/ from the sources: `tsc -b` is incremental (a no-op when nothing changed), so
# a fresh clone gets its builds and a warm one pays only the up-to-date check. STACK_BUILD=0 skips.
build_services() {
  [[ ${STACK_BUILD:-1} == 0 ]] && return 0
  local started=$SECONDS
  if (cd "$REPO" && "$REPO/node_modules/.bin/tsc" -b tsconfig.build.json) >"$LOGS/build-services.log" 2>&1; then
    log "services built (tsc -b) in $((SECONDS - started)) s"
  else
    # tsc -b still emits what compiles; the stack runs whatever dist/ exists.
    log "warning: the services' build reported errors (see $LOGS/build-services.log); running the dist/ that exists"
  fi
}

start_app() {
  local id=$1 app_port=$2 http=$3 grpc=$4 metrics=$5 entry="$REPO/services/$1/dist/main.js"
  if [[ ! -f $entry ]]; then
    log "skipping $id: services/$id/dist/main.js is not built (npm run build)"
    return
  fi
  local -a env=(
    TASKSTREAM_RUNTIME=dapr APP_ID="$id" PORT="$app_port" HOST=127.0.0.1
    DAPR_HOST=127.0.0.1 DAPR_HTTP_PORT="$http" DAPR_GRPC_PORT="$grpc"
    DATABASE_URL="$(env_value DATABASE_URL)"
    DAPR_API_TOKEN="$(env_value DAPR_API_TOKEN)" APP_API_TOKEN="$(env_value APP_API_TOKEN)"
    JWT_SECRET="$(env_value JWT_SECRET)" DATA_DIR="$DATA/app-$id"
  )
  # task-api reads every app's consumer lag from the broker (ADR 0011), as the chart sets it up:
  # one reader, so /metrics does not export each group's lag from five apps.
  if [[ $id == task-api ]]; then env+=(KAFKA_BROKERS="$(env_value KAFKA_BROKERS)"); fi
  # The app first: daprd only reports healthy once the app port answers.
  if running "app-$id"; then
    log "$id already running (pid $(pid_of "app-$id"))"
  else
    start "app-$id" "$entry" env "${env[@]}" node "$entry"
    wait_for "$id" 60 "app-$id" port_open "$app_port"
  fi
  if running "daprd-$id"; then
    log "daprd for $id already running (pid $(pid_of "daprd-$id"))"
  else
    start "daprd-$id" "--app-id $id" env "${env[@]}" DAPR_HOST_IP=127.0.0.1 "$CACHE/bin/daprd" \
      --app-id "$id" --app-port "$app_port" --app-protocol http \
      --dapr-http-port "$http" --dapr-grpc-port "$grpc" --dapr-listen-addresses 127.0.0.1 \
      --metrics-port "$metrics" --metrics-listen-address 127.0.0.1 --resources-path "$REPO/dapr-components/local" \
      --config "$REPO/dapr-components/local/configuration.yaml" \
      --scheduler-host-address "127.0.0.1:$SCHEDULER_PORT" --placement-host-address "" --log-as-json
    wait_for "daprd for $id" 60 "daprd-$id" http_code_is 204 "http://127.0.0.1:$http/v1.0/healthz"
  fi
  log "$id on 127.0.0.1:$app_port, daprd HTTP 127.0.0.1:$http"
}

# --- commands -----------------------------------------------------------------------------

up() {
  local started=$SECONDS
  mkdir -p "$LOGS" "$DATA"
  ensure_dapr
  ensure_kafka
  write_env
  build_services
  start_postgres
  start_kafka
  start_scheduler
  for app in "${APPS[@]}"; do
    # shellcheck disable=SC2086
    start_app $app
  done
  log "up in $((SECONDS - started)) s; settings in .stack/env, logs in .stack/logs"
}

down() {
  local app id
  # Reverse order: sidecars and apps before the infrastructure they use.
  for app in "${APPS[@]}"; do
    id=${app%% *}
    stop "daprd-$id"
    stop "app-$id"
  done
  stop scheduler
  stop kafka
  stop postgres
  rm -f "$STACK/postgres.ready"
}

status() {
  local any=1 name app id
  for name in postgres kafka scheduler; do
    if running "$name"; then echo "running  $name (pid $(pid_of "$name"))"; any=0; else echo "stopped  $name"; fi
  done
  for app in "${APPS[@]}"; do
    id=${app%% *}
    for name in "app-$id" "daprd-$id"; do
      if running "$name"; then echo "running  $name (pid $(pid_of "$name"))"; any=0
      elif [[ ! -f $REPO/services/$id/dist/main.js ]]; then echo "absent   $name (services/$id not built)"
      else echo "stopped  $name"; fi
    done
  done
  return $any
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  clean) down && rm -rf "$DATA" && log "removed $DATA" ;;
  # The broker's Maven classpath only (scripts/k8s runs the same broker inside its cluster).
  ensure-kafka) mkdir -p "$LOGS" && ensure_kafka ;;
  *) echo "usage: $0 up|down|status|clean|ensure-kafka" >&2; exit 2 ;;
esac
