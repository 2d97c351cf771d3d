#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, inside a network namespace of its own:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (runc), kubelet,
# kube-proxy, CoreDNS, the Dapr control plane, and beside them on the node's address the
# stack's Kafka broker and PostgreSQL. Then `deploy` installs helm/taskstream.
#
#   bash scripts/k8s/k8s.sh up | down | status | deploy | test | run <cmd...>
#
#   up       build (cached) and start the cluster, kube-router's NetworkPolicy firewall, CoreDNS,
#            the Dapr control plane, Kafka, PostgreSQL
#   deploy   build the service images, load them, helm upgrade --install the chart (deploy-local.sh)
#   test     the k8s jest project, run inside the cluster's network namespace
#   run      any command inside that namespace with KUBECONFIG set (e.g. `run kubectl get pods -A`)
#   dry-run  every chart values file installed with --dry-run=server against the API server
#   images <tag>               build the service images and load them into the node
#   db-user <role> <password>  the release's database role on the node's PostgreSQL
#   restart kafka|postgres     stop and start the broker or PostgreSQL (the fault tests)
#   down     stop what `up` started, remove its containers, mounts and the network namespace
#            (also what a killed cluster left behind; `up` does this first when it finds leftovers)
#   status   what runs (exit 1 when nothing does)
#
# Builds are cached in ${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}/k8s (build.sh, images.ts);
# runtime state (kubeconfig, PKI, logs, pids, etcd and containerd data) lives in the repo's
# ignored .k8s/. Everything listens only inside the network namespace $K8S_NETNS: the machine's
# own network and ports are untouched. See docs/adr/0014-local-kubernetes-node.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=SCRIPTDIR/build.sh
source "$REPO/scripts/k8s/build.sh"

STATE="$REPO/.k8s"
LOGS="$STATE/logs"
PKI="$STATE/pki"
# Sockets need a short path (108 bytes); one cluster per machine, like the namespace.
RUN_DIR=/run/taskstream-k8s
K8S_NETNS=${K8S_NETNS:-taskstream-k8s}
NETNS_PATH="/run/netns/$K8S_NETNS"
NODE_IP=10.200.0.2
NODE_CIDR=10.200.0.2/24
# The node's name is its address: the API server reaches the kubelet by InternalIP and no
# /etc/hosts line is needed.
NODE_NAME=$NODE_IP
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"
KUBECONFIG_FILE="$STATE/kubeconfig"
KAFKA_PORT=9092
PG_PORT=5432
IMAGE_REGISTRY=local.test

log() { printf '[k8s] %s\n' "$*"; }
die() { printf '[k8s] error: %s\n' "$*" >&2; exit 1; }

in_ns() { nsenter --net="$NETNS_PATH" "$@"; }
kubectl_() { in_ns "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
helm_() { in_ns env KUBECONFIG="$KUBECONFIG_FILE" "$HELM" "$@"; }
HELM="$K8S_CACHE/bin/helm"

# --- process bookkeeping: scripts/stack's helpers; every process starts inside the namespace ---

PROCS_DIR=$STATE
PROCS_LOGS=$LOGS
# shellcheck source=SCRIPTDIR/../stack/procs.sh
source "$REPO/scripts/stack/procs.sh"

start_in_ns() {
  local name=$1 marker=$2
  shift 2
  if running "$name"; then log "$name already running (pid $(pid_of "$name"))"; return 0; fi
  start "$name" "$marker" nsenter --net="$NETNS_PATH" "$@"
}

port_open_ns() { in_ns bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# --- network namespace --------------------------------------------------------------------

netns_up() {
  if [[ ! -e $NETNS_PATH ]]; then
    ip netns add "$K8S_NETNS"
    log "network namespace $K8S_NETNS"
  fi
  in_ns ip link set lo up
  # A bridge holds the node address (this kernel lacks the dummy link type).
  in_ns ip link show k8s0 >/dev/null 2>&1 || in_ns ip link add k8s0 type bridge
  in_ns ip addr show k8s0 | grep -qF "$NODE_CIDR" || in_ns ip addr add "$NODE_CIDR" dev k8s0
  in_ns ip link set k8s0 up
  in_ns ip route show default | grep -q . || in_ns ip route add default dev k8s0
  in_ns sysctl -qw net.ipv4.ip_forward=1
}

# --- PKI and kubeconfigs ------------------------------------------------------------------

cert() { # cert <name> <subject> [<san list>]: a key and a certificate signed by the cluster CA
  local name=$1 subject=$2 san=${3:-}
  [[ -f $PKI/$name.crt ]] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $san ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"; else echo "extendedKeyUsage=clientAuth"; fi
  } >"$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

kubeconfig() { # kubeconfig <file> <cert name>
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: taskstream-k8s
    cluster:
      server: https://$NODE_IP:6443
      certificate-authority: $PKI/ca.crt
users:
  - name: $2
    user:
      client-certificate: $PKI/$2.crt
      client-key: $PKI/$2.key
contexts:
  - name: taskstream-k8s
    context: { cluster: taskstream-k8s, user: $2 }
current-context: taskstream-k8s
EOF
  chmod 600 "$1"
}

pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [[ ! -f $PKI/ca.crt ]]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=taskstream-k8s-ca" \
      -days 365 -out "$PKI/ca.crt" 2>/dev/null
  fi
  # The API server's certificate comes from the cluster CA, which pods trust (CoreDNS and the
  # Dapr operator refuse a self-signed one).
  cert apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$API_SERVICE_IP,IP:$NODE_IP,IP:127.0.0.1"
  cert admin "/O=system:masters/CN=taskstream-admin"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  if [[ ! -f $PKI/sa.key ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  kubeconfig "$KUBECONFIG_FILE" admin
  kubeconfig "$STATE/kubelet.kubeconfig" kubelet
}

# --- control plane ------------------------------------------------------------------------

start_etcd() {
  mkdir -p "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  start_in_ns etcd "--data-dir $STATE/etcd" "$K8S_BIN/etcd" --name taskstream-k8s --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster taskstream-k8s=http://127.0.0.1:2380 --quota-backend-bytes 2147483648
  wait_for etcd 60 etcd port_open_ns 127.0.0.1 2379
}

start_apiserver() {
  start_in_ns kube-apiserver "--etcd-servers=http://127.0.0.1:2379" "$K8S_BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --kubelet-preferred-address-types=InternalIP
  wait_for kube-apiserver 120 kube-apiserver kubectl_ get --raw /readyz
}

start_controllers() {
  start_in_ns kube-controller-manager "kube-controller-manager --kubeconfig=$KUBECONFIG_FILE" "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_FILE" --bind-address=127.0.0.1 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials --controllers='*,-nodeipam' --service-cluster-ip-range="$SERVICE_CIDR"
  start_in_ns kube-scheduler "kube-scheduler --kubeconfig=$KUBECONFIG_FILE" "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$KUBECONFIG_FILE" --bind-address=127.0.0.1 --leader-elect=false
}

# --- node: containerd, kubelet, kube-proxy --------------------------------------------------

containerd_config() {
  local cfg="$STATE/containerd.toml" cni_conf="$STATE/cni/net.d"
  mkdir -p "$cni_conf" "$STATE/cni/ipam"
  cat >"$cni_conf/10-taskstream.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "taskstream-k8s",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": "$STATE/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  # Only what differs from containerd's defaults (version 3 merges it over them): every path
  # under .k8s/ or $RUN_DIR, the pods' network namespaces too; the local pause image as sandbox;
  # no lowering of oom_score_adj below 0 (this machine gives no CAP_SYS_RESOURCE, and runc then
  # fails to start the sandbox); the CNI plugins from the cache. NRI would open a socket in /var/run.
  cat >"$cfg" <<EOF
version = 3
root = "$STATE/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "$IMAGE_REGISTRY/pause:$KUBERNETES_VERSION"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["$K8S_BIN/cni"]
  conf_dir = "$cni_conf"
EOF
}

start_containerd() {
  mkdir -p "$RUN_DIR" "$STATE/containerd"
  containerd_config
  start_in_ns containerd "--config $STATE/containerd.toml" env PATH="$K8S_BIN:$PATH" "$K8S_BIN/containerd" --config "$STATE/containerd.toml"
  wait_for containerd 60 containerd test -S "$CONTAINERD_SOCK"
  sleep 1
}

ctr_() { "$K8S_BIN/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

start_kubelet() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  : >"$STATE/resolv.conf"
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Local only: the API server reaches logs/exec without a kubelet client certificate.
authentication: { anonymous: { enabled: true }, webhook: { enabled: false } }
authorization: { mode: AlwaysAllow }
# This machine is a cgroup v1 host (kubelet 1.37 refuses v1 unless told).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
podCIDR: $POD_CIDR
resolvConf: $STATE/resolv.conf
podLogsDir: $STATE/pod-logs
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2% }
EOF
  start_in_ns kubelet "--root-dir $STATE/kubelet" "$K8S_BIN/kubelet" --config "$STATE/kubelet.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --container-runtime-endpoint "unix://$CONTAINERD_SOCK" \
    --node-ip "$NODE_IP" --hostname-override "$NODE_NAME"
  wait_for "node Ready" 120 kubelet node_ready
}

node_ready() { [[ $(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]; }

start_proxy() {
  start_in_ns kube-proxy "kube-proxy --kubeconfig=$KUBECONFIG_FILE" "$K8S_BIN/kube-proxy" \
    --kubeconfig="$KUBECONFIG_FILE" --proxy-mode=iptables --cluster-cidr="$CLUSTER_CIDR" \
    --hostname-override="$NODE_NAME" --conntrack-max-per-core=0 \
    --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
}

# NetworkPolicy: the bridge CNI plugin enforces none, so kube-router runs beside kube-proxy with
# only its firewall controller (iptables and ipsets inside the namespace; no routing, no proxy).
start_firewall() {
  start_in_ns kube-router "kube-router --kubeconfig=$KUBECONFIG_FILE" "$K8S_BIN/kube-router" \
    --kubeconfig="$KUBECONFIG_FILE" --hostname-override="$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --service-cluster-ip-range="$SERVICE_CIDR" --health-port=20244 --metrics-port=0
  wait_for "kube-router's firewall" 60 kube-router in_ns iptables -w -S KUBE-ROUTER-FORWARD
}

# --- images of the infrastructure (pause, CoreDNS, Dapr) ------------------------------------

load_images() {
  local archive
  for archive in "$@"; do
    ctr_ images import "$archive" >>"$LOGS/images.log" 2>&1 || die "importing $archive failed; see $LOGS/images.log"
  done
}

infra_images() {
  local out
  out=$("$REPO/node_modules/.bin/tsx" "$REPO/scripts/k8s/images.ts" infra \
    --registry "$IMAGE_REGISTRY" --bin "$K8S_BIN" --dapr-bin "$DAPR_BIN" \
    --kubernetes "$KUBERNETES_VERSION" --coredns "$COREDNS_VERSION" --dapr "$DAPR_VERSION")
  # shellcheck disable=SC2086
  load_images $out
}

# --- CoreDNS, Dapr, Kafka, PostgreSQL ---------------------------------------------------------

start_coredns() {
  sed -e "s/@DNS_SERVICE_IP@/$DNS_SERVICE_IP/" -e "s#@IMAGE@#$IMAGE_REGISTRY/coredns:$COREDNS_VERSION#" \
    "$REPO/scripts/k8s/coredns.yaml" | kubectl_ apply -f - >/dev/null
  kubectl_ -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
  log "CoreDNS on $DNS_SERVICE_IP"
}

install_dapr() {
  local chart="$K8S_CACHE/dapr-src-$DAPR_VERSION/charts/dapr"
  [[ -d $chart ]] || die "the dapr module's chart is missing: $chart"
  local started=$SECONDS
  # The control plane as production runs it: mTLS on (sentry), the injector, the scheduler for
  # the Jobs API. Storage in memory: the node has no volume provisioner (docs/adr/0014).
  helm_ upgrade --install dapr "$chart" --namespace dapr-system --create-namespace \
    --set global.registry="$IMAGE_REGISTRY" --set global.tag="$DAPR_VERSION" \
    --set global.imagePullPolicy=IfNotPresent --set global.mtls.enabled=true \
    --set dapr_scheduler.cluster.inMemoryStorage=true \
    --set dapr_placement.cluster.forceInMemoryLog=true \
    --wait --timeout 10m >>"$LOGS/dapr-install.log" 2>&1 || die "installing Dapr failed; see $LOGS/dapr-install.log"
  log "Dapr $DAPR_VERSION control plane in dapr-system in $((SECONDS - started)) s"
}

start_kafka() {
  ensure_kafka_classpath
  local dir="$STATE/data/kafka" cp
  cp=$(cat "$KAFKA_DIR/classpath.txt")
  mkdir -p "$dir/logs"
  sed -e "s#@HOST@#$NODE_IP#g" -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@LOG_DIR@#$dir/logs#g" \
    "$REPO/scripts/k8s/kafka.properties" >"$dir/server.properties"
  if [[ ! -f $dir/logs/meta.properties ]]; then
    java -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
      -c "$dir/server.properties" >>"$LOGS/kafka.log" 2>&1 || die "formatting Kafka storage failed; see $LOGS/kafka.log"
  fi
  start_in_ns kafka "$dir/server.properties" java -Xms256m -Xmx512m -cp "$cp" kafka.Kafka "$dir/server.properties"
  wait_for kafka 90 kafka port_open_ns "$NODE_IP" "$KAFKA_PORT"
  log "Kafka $KAFKA_VERSION on $NODE_IP:$KAFKA_PORT"
}

start_postgres() {
  local data="$STATE/data/postgres"
  mkdir -p "$data"
  if [[ $(id -u) == 0 ]] && id postgres >/dev/null 2>&1; then chown postgres "$data"; fi
  # Pods connect from the pod network; only it and loopback may (password auth).
  cat >"$STATE/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all $CLUSTER_CIDR scram-sha-256
EOF
  chmod 644 "$STATE/pg_hba.conf"
  rm -f "$STATE/postgres.ready"
  start_in_ns postgres "scripts/stack/postgres.ts --data-dir $data" "$REPO/node_modules/.bin/tsx" "$REPO/scripts/stack/postgres.ts" \
    --data-dir "$data" --port "$PG_PORT" --ready-file "$STATE/postgres.ready" \
    --setting "listen_addresses=127.0.0.1,$NODE_IP" --setting "hba_file=$STATE/pg_hba.conf"
  wait_for postgres 90 postgres test -f "$STATE/postgres.ready"
  log "PostgreSQL on $NODE_IP:$PG_PORT"
}

KAFKA_VERSION=4.2.0
KAFKA_DIR="$K8S_CACHE/kafka-$KAFKA_VERSION"
# The same Maven classpath as scripts/stack (ensure_kafka there), resolved once into the cache.
ensure_kafka_classpath() {
  local cp="$KAFKA_DIR/classpath.txt"
  [[ -s $cp ]] && return 0
  STACK_ONLY_FUNCTIONS=1 bash "$REPO/scripts/stack/stack.sh" ensure-kafka >/dev/null ||
    die "resolving Kafka $KAFKA_VERSION failed"
}

# --- env file the tests read ------------------------------------------------------------------

write_env() {
  umask 077
  {
    echo "KUBECONFIG=$KUBECONFIG_FILE"
    echo "K8S_NETNS=$K8S_NETNS"
    echo "K8S_NODE_IP=$NODE_IP"
    echo "KAFKA_BROKERS=$NODE_IP:$KAFKA_PORT"
    echo "KAFKA_CLASSPATH_FILE=$KAFKA_DIR/classpath.txt"
    echo "PG_PORT=$PG_PORT"
    echo "DATABASE_ADMIN_URL=postgres://postgres:taskstream@127.0.0.1:$PG_PORT/taskstream"
    echo "HELM=$HELM"
    echo "KUBECTL=$K8S_BIN/kubectl"
    echo "CONTAINERD_ADDRESS=$CONTAINERD_SOCK"
  } >"$STATE/env"
  umask 022
}

# --- commands -----------------------------------------------------------------------------

up() {
  local started=$SECONDS
  [[ $(id -u) == 0 ]] || die "k8s:up needs root (network namespace, mounts, cgroups)"
  for tool in nsenter ip iptables ipset runc openssl java; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH (apt-get install runc iptables ipset conntrack)"
  done
  mkdir -p "$LOGS" "$STATE/data"
  build_parts kubernetes etcd containerd cni coredns pause kube_router dapr helm
  log "builds ready in $((SECONDS - started)) s"
  # A cluster killed hard (kill -9, a crashed machine) leaves processes, shims and containers,
  # mounts and the namespace behind: clear them first, or new processes meet the old ones' ports.
  if leftovers && ! all_running; then
    log "a previous cluster's leftovers found; clearing them"
    down
  fi
  netns_up
  pki
  write_env
  start_postgres
  start_kafka
  start_etcd
  start_apiserver
  start_controllers
  start_containerd
  infra_images
  start_kubelet
  start_proxy
  start_firewall
  log "node $NODE_NAME Ready ($((SECONDS - started)) s)"
  start_coredns
  install_dapr
  log "up in $((SECONDS - started)) s; KUBECONFIG=$KUBECONFIG_FILE; run commands with: bash scripts/k8s/k8s.sh run kubectl get pods -A"
}

# The builds at once: each is one `go build` that leaves cores idle while it links or waits on
# the module proxy, and a cold run here took ~75 min in parallel against ~3 h one after another.
# The kubernetes source copy comes first (the pause build reads it too). A part already built
# returns at once.
build_parts() {
  local part pid pids=() failed=0
  ensure_kubernetes_source
  for part in "$@"; do
    ("ensure_$part") &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "a build failed; see $K8S_BUILD_LOGS"
}

# The pods' containers and sandboxes, then the runtime: nothing of ours keeps running.
remove_containers() {
  running containerd || return 0
  local ids id
  ids=$(ctr_ tasks ls -q 2>/dev/null || true)
  for id in $ids; do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  sleep 1
  for id in $ids; do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $(ctr_ containers ls -q 2>/dev/null || true); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
}

NAMES=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy kube-router kafka postgres)

all_running() {
  local name
  for name in "${NAMES[@]}"; do running "$name" || return 1; done
}

# Anything a cluster of ours left: its namespace, its runtime directory, a mount under our paths,
# a container's cgroup.
leftovers() {
  [[ -e $NETNS_PATH || -d $RUN_DIR ]] && return 0
  awk -v a="$STATE/" -v b="$RUN_DIR/" 'index($5,a)==1||index($5,b)==1{f=1} END{exit !f}' /proc/self/mountinfo && return 0
  compgen -G "/sys/fs/cgroup/*/kubepods/*" >/dev/null
}

# What no pid file names: every process still inside the cluster's namespace (a postgres whose
# wrapper was killed, containerd's shims), and every container process, in the kubelet's kubepods
# cgroups (pods live in network namespaces of their own). Only our kubelet makes kubepods here.
kill_strays() {
  local pid pids
  if [[ -e $NETNS_PATH ]]; then
    pids=$(ip netns pids "$K8S_NETNS" 2>/dev/null || true)
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    [[ -z $pids ]] || log "killed $(wc -w <<<"$pids") leftover processes in $K8S_NETNS"
  fi
  pids=$(cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u || true)
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  [[ -z $pids ]] || log "killed $(wc -w <<<"$pids") leftover container processes"
  sleep 1
}

down() {
  stop kube-router 15
  stop kube-proxy 15
  stop kubelet 15
  remove_containers
  stop containerd 15
  # Shims outlive containerd; ours are the ones started with our socket's address.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -address $CONTAINERD_SOCK" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  stop kafka
  stop postgres
  rm -f "$STATE/postgres.ready"
  kill_strays
  # Every container is gone, so every address host-local handed out is free again.
  rm -rf "$STATE/cni/ipam"
  # Mounts the kubelet and containerd made under .k8s/ and $RUN_DIR (volumes, rootfs, shm).
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v a="$STATE/" -v b="$RUN_DIR/" 'index($5,a)==1||index($5,b)==1{print $5}' /proc/self/mountinfo | sort -r)
  # The pods' network namespaces lie under $RUN_DIR/netns (containerd's netns_mounts_under),
  # unmounted above and removed with $RUN_DIR below.
  # The kubelet's cgroups (cgroupfs driver: kubepods under each v1 controller), empty once its
  # containers are gone; only a kubelet makes them, and only this one runs here.
  local cg
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # The kubelet links each container's log into /var/log/containers (a fixed path): ours point
  # into .k8s/pod-logs.
  local link
  for link in /var/log/containers/*.log; do
    [[ -L $link && $(readlink "$link") == "$STATE/"* ]] && rm -f "$link"
  done
  if [[ -e $NETNS_PATH ]]; then
    ip netns delete "$K8S_NETNS" && log "removed network namespace $K8S_NETNS"
  fi
  rm -rf "$RUN_DIR"
}

status() {
  local any=1 name
  for name in "${NAMES[@]}"; do
    if running "$name"; then echo "running  $name (pid $(pid_of "$name"))"; any=0; else echo "stopped  $name"; fi
  done
  if [[ -e $NETNS_PATH ]]; then echo "netns    $K8S_NETNS (node $NODE_IP)"; fi
  if running kube-apiserver; then
    kubectl_ get nodes -o wide 2>/dev/null || true
    kubectl_ get pods -A 2>/dev/null || true
  fi
  return $any
}

# images <tag>: the service images (images.ts) loaded into the node's containerd.
service_images() {
  local tag=$1 archive started=$SECONDS
  (cd "$REPO" && npm run build --silent) >"$LOGS/build-services.log" 2>&1 || die "npm run build failed; see $LOGS/build-services.log"
  archive=$("$REPO/node_modules/.bin/tsx" "$REPO/scripts/k8s/images.ts" services --tag "$tag")
  load_images "$archive"
  rm -f "$archive"
  log "service images taskstream/*:$tag built and loaded in $((SECONDS - started)) s"
}

# db-user <role> <password>: the role and the databases the release's Secret names, on the
# node's PostgreSQL (the superuser's password is the stack's, on loopback only).
db_user() {
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  in_ns env ROLE="$1" PASSWORD="$2" PGURL="postgres://postgres:taskstream@127.0.0.1:$PG_PORT/postgres" \
    node --input-type=module -e '
      import pg from "pg";
      const c = new pg.Client({ connectionString: process.env.PGURL });
      await c.connect();
      const role = process.env.ROLE;
      const quoted = c.escapeIdentifier(role);
      const exists = (await c.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).rowCount;
      await c.query(`${exists ? "ALTER" : "CREATE"} ROLE ${quoted} LOGIN PASSWORD ${c.escapeLiteral(process.env.PASSWORD)}`);
      for (const db of ["taskstream", "dapr"]) {
        if (!(await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [db])).rowCount)
          await c.query(`CREATE DATABASE ${db}`);
        await c.query(`ALTER DATABASE ${db} OWNER TO ${quoted}`);
      }
      await c.end();' || die "could not set up the database role $1"
}

# dry-run: every values file of the chart that targets a cluster, installed with
# --dry-run=server: the real API server validates and admits (without storing) every object.
# values-minikube.yaml is also installed for real by `deploy`. The Prometheus Operator CRDs come
# from the module chart-check validates against (ServiceMonitor, PrometheusRule).
dry_run() {
  local chart="$REPO/helm/taskstream" ns=taskstream-dry-run f failed=0 crd dir
  # shellcheck source=SCRIPTDIR/../chart-check/tools.sh
  source "$REPO/scripts/chart-check/tools.sh"
  dir=$(go_module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  for crd in servicemonitors prometheusrules; do
    kubectl_ apply --server-side -f "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" >/dev/null
  done
  kubectl_ get namespace "$ns" >/dev/null 2>&1 || kubectl_ create namespace "$ns" >/dev/null
  for f in "$chart"/values-*.yaml "$chart"/ci/*.yaml; do
    if helm_ upgrade --install taskstream "$chart" --namespace "$ns" -f "$f" --dry-run=server >"$LOGS/dry-run.log" 2>&1; then
      log "ok    --dry-run=server ${f#"$chart"/}"
    else
      cat "$LOGS/dry-run.log" >&2
      log "FAIL  --dry-run=server ${f#"$chart"/}"
      failed=1
    fi
  done
  return $failed
}

in_cluster_env() {
  local vars
  mapfile -t vars <"$STATE/env"
  # verify-deploy.ts and the k8s tests load @kubernetes/client-node, whose undici needs Node 22.19+.
  if ! node -e 'process.exit(typeof require("node:zlib").createZstdDecompress === "function" ? 0 : 1)'; then
    vars+=("NODE_OPTIONS=--require $REPO/scripts/k8s/node20-compat.cjs ${NODE_OPTIONS:-}")
  fi
  in_ns env "${vars[@]}" PATH="$K8S_BIN:$K8S_CACHE/bin:$PATH" "$@"
}

# Sourced (e.g. to call one step while debugging), it only defines.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

case ${1:-} in
  up) up ;;
  images) service_images "${2:?images <tag>}" ;;
  dry-run) dry_run ;;
  db-user) db_user "${2:?db-user <role> <password>}" "${3:?db-user <role> <password>}" ;;
  restart)
    case ${2:-} in
      kafka) stop kafka 30 && start_kafka ;;
      postgres) stop postgres 30 && start_postgres ;;
      *) die "restart kafka|postgres" ;;
    esac
    ;;
  down) down ;;
  status) status ;;
  deploy)
    shift
    cd "$REPO"
    # npm install of the images' dependencies needs the registry, which the namespace cannot reach.
    "$REPO/node_modules/.bin/tsx" "$REPO/scripts/k8s/images.ts" deps >/dev/null
    in_cluster_env bash "$REPO/scripts/deploy-local.sh" --cluster local "$@"
    ;;
  test) shift; cd "$REPO" && in_cluster_env node --experimental-vm-modules "$REPO/node_modules/jest/bin/jest.js" --selectProjects k8s "$@" ;;
  run) shift; in_cluster_env "$@" ;;
  *) echo "usage: $0 up|down|status|deploy|test|dry-run|restart kafka|postgres|images <tag>|db-user <role> <password>|run <cmd...>" >&2; exit 2 ;;
esac
