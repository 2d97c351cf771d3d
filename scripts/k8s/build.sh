#!/usr/bin/env bash
# Builds of the local Kubernetes node, cached outside the repo and reused while the pinned
# versions match (a `<name>.version` stamp beside each binary says what it was built from).
#
#   bash scripts/k8s/build.sh [part...]    parts: kubernetes etcd containerd cni coredns pause
#                                          kube_router dapr helm (default: all)
#   source scripts/k8s/build.sh            define the pins, paths and ensure_* functions only
#
# Every part comes from the Go module proxy (Debian's runc and iptables come from apt); Go's
# module and build caches stay at their defaults, shared with scripts/stack and chart-check.
# Recipe and measured times: docs/adr/0014-local-kubernetes-node.md.
set -euo pipefail

K8S_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K8S_CACHE=${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}
K8S_BIN="$K8S_CACHE/k8s/bin"
K8S_SRC="$K8S_CACHE/k8s/src"
K8S_BUILD_LOGS="$K8S_CACHE/k8s/logs"
DAPR_BIN="$K8S_CACHE/bin"

KUBERNETES_VERSION=1.37.2
ETCD_VERSION=3.7.3
CONTAINERD_VERSION=2.4.2
CNI_PLUGINS_VERSION=1.10.0
COREDNS_VERSION=1.15.0
DAPR_VERSION=1.18.2
# The newest kube-router the Go module proxy serves (v2.2 and later answer 403 there).
KUBE_ROUTER_VERSION=2.1.0

KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
DAPR_CONTROL_PLANE=(operator injector sentry placement scheduler)

build_log() { printf '[k8s-build] %s\n' "$*" >&2; }
build_die() { printf '[k8s-build] error: %s\n' "$*" >&2; exit 1; }

# stamped <binary> <version>: the cached binary exists and was built from that version.
# A relative name lies in $K8S_BIN; the Dapr binaries lie in $DAPR_BIN, shared with scripts/stack.
stamped() {
  local path=$1
  [[ $path == /* ]] || path="$K8S_BIN/$path"
  [[ -x $path && $(cat "$path.version" 2>/dev/null || true) == "$2" ]]
}
stamp() {
  local path=$1
  [[ $path == /* ]] || path="$K8S_BIN/$path"
  echo "$2" >"$path.version"
}

# module_copy <module>@<version> <dest>: a writable copy of the module out of Go's module cache
# (a module zip is read-only and may have to be edited to build as the main module).
module_copy() {
  local dest=$2 dir
  [[ -f $dest/go.mod ]] && return 0
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir ]] || build_die "could not download $1 from the Go module proxy"
  rm -rf "$dest.tmp" && mkdir -p "$(dirname "$dest")"
  cp -r "$dir" "$dest.tmp" && chmod -R u+w "$dest.tmp"
  [[ -n ${3:-} ]] && (cd "$dest.tmp" && "$3")
  mv "$dest.tmp" "$dest"
}

# go_build <log name> <dir> <go build args...>
go_build() {
  local name=$1 dir=$2 started=$SECONDS
  shift 2
  mkdir -p "$K8S_BIN" "$K8S_BUILD_LOGS"
  build_log "building $name (minutes when Go's caches are cold; log: $K8S_BUILD_LOGS/$name.log)"
  (cd "$dir" && GOFLAGS=-mod=mod go build "$@") >"$K8S_BUILD_LOGS/$name.log" 2>&1 ||
    build_die "building $name failed; see $K8S_BUILD_LOGS/$name.log"
  build_log "built $name in $((SECONDS - started)) s"
}

# The module zip of k8s.io/kubernetes lacks staging/ (nested modules are cut out), while its
# go.mod replaces the k8s.io/* staging modules with ./staging/...: drop those replaces and
# require the published staging modules of the same release (v0.<minor>.<patch>).
kubernetes_as_main_module() {
  local staging="v0.${KUBERNETES_VERSION#*.}"
  rm -rf vendor go.work go.work.sum
  sed -i -E '/=> \.\/staging\//d' go.mod
  sed -i -E "s#^(\s*k8s\.io/[a-z0-9-]+(/[a-z0-9-]+)*) v0\.0\.0\$#\1 $staging#" go.mod
}

ensure_kubernetes() {
  local b need=0
  for b in "${KUBE_BINARIES[@]}"; do stamped "$b" "$KUBERNETES_VERSION" || need=1; done
  ((need)) || return 0
  local src="$K8S_SRC/kubernetes-$KUBERNETES_VERSION" minor=${KUBERNETES_VERSION#*.}
  module_copy "k8s.io/kubernetes@v$KUBERNETES_VERSION" "$src" kubernetes_as_main_module
  minor=${minor%%.*}
  # Without the version ldflags the API server says v0.0.0-master and Helm refuses charts
  # that declare a kubeVersion.
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBERNETES_VERSION
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  local pkgs=()
  for b in "${KUBE_BINARIES[@]}"; do pkgs+=("./cmd/$b"); done
  go_build "kubernetes-$KUBERNETES_VERSION" "$src" -trimpath -ldflags "$ld" -o "$K8S_BIN/" "${pkgs[@]}"
  for b in "${KUBE_BINARIES[@]}"; do stamp "$b" "$KUBERNETES_VERSION"; done
}

# etcd's server module replaces its sibling modules with ../<dir>: build against the published ones.
etcd_without_sibling_replaces() { sed -i -E '/=> \.\.\//d' go.mod; }

ensure_etcd() {
  stamped etcd "$ETCD_VERSION" && return 0
  local src="$K8S_SRC/etcd-server-$ETCD_VERSION"
  module_copy "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" "$src" etcd_without_sibling_replaces
  CGO_ENABLED=0 go_build "etcd-$ETCD_VERSION" "$src" -trimpath -ldflags "-s -w" -o "$K8S_BIN/etcd" .
  stamp etcd "$ETCD_VERSION"
}

ensure_containerd() {
  local b need=0
  for b in containerd containerd-shim-runc-v2 ctr; do stamped "$b" "$CONTAINERD_VERSION" || need=1; done
  ((need)) || return 0
  local src="$K8S_SRC/containerd-$CONTAINERD_VERSION"
  module_copy "github.com/containerd/containerd/v2@v$CONTAINERD_VERSION" "$src"
  go_build "containerd-$CONTAINERD_VERSION" "$src" -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION" \
    -o "$K8S_BIN/" ./cmd/containerd ./cmd/containerd-shim-runc-v2 ./cmd/ctr
  for b in containerd containerd-shim-runc-v2 ctr; do stamp "$b" "$CONTAINERD_VERSION"; done
}

ensure_cni() {
  local b need=0
  for b in bridge loopback host-local portmap; do stamped "cni/$b" "$CNI_PLUGINS_VERSION" || need=1; done
  ((need)) || return 0
  local src="$K8S_SRC/cni-plugins-$CNI_PLUGINS_VERSION"
  module_copy "github.com/containernetworking/plugins@v$CNI_PLUGINS_VERSION" "$src"
  mkdir -p "$K8S_BIN/cni"
  CGO_ENABLED=0 go_build "cni-plugins-$CNI_PLUGINS_VERSION" "$src" -trimpath -ldflags "-s -w" -o "$K8S_BIN/cni/" \
    ./plugins/main/bridge ./plugins/main/loopback ./plugins/ipam/host-local ./plugins/meta/portmap
  for b in bridge loopback host-local portmap; do stamp "cni/$b" "$CNI_PLUGINS_VERSION"; done
}

ensure_coredns() {
  stamped coredns "$COREDNS_VERSION" && return 0
  local src="$K8S_SRC/coredns-$COREDNS_VERSION"
  module_copy "github.com/coredns/coredns@v$COREDNS_VERSION" "$src"
  # Static (no cgo): the binary is the whole image.
  CGO_ENABLED=0 go_build "coredns-$COREDNS_VERSION" "$src" -trimpath -ldflags "-s -w" -o "$K8S_BIN/coredns" .
  stamp coredns "$COREDNS_VERSION"
}

# NetworkPolicy enforcement: kube-router with only its firewall controller, run as a node process
# (the bridge CNI plugin enforces no policy; Calico and Cilium need registry images).
ensure_kube_router() {
  stamped kube-router "$KUBE_ROUTER_VERSION" && return 0
  local src="$K8S_SRC/kube-router-$KUBE_ROUTER_VERSION"
  module_copy "github.com/cloudnativelabs/kube-router/v2@v$KUBE_ROUTER_VERSION" "$src"
  CGO_ENABLED=0 go_build "kube-router-$KUBE_ROUTER_VERSION" "$src" -trimpath -ldflags "-s -w" -o "$K8S_BIN/kube-router" ./cmd/kube-router
  stamp kube-router "$KUBE_ROUTER_VERSION"
}

# The sandbox ("pause") container, from the C source inside the kubernetes module.
ensure_pause() {
  stamped pause "$KUBERNETES_VERSION" && return 0
  ensure_kubernetes_source
  command -v gcc >/dev/null || build_die "gcc is needed to build the pause container"
  mkdir -p "$K8S_BIN"
  gcc -static -O2 -o "$K8S_BIN/pause" "$K8S_SRC/kubernetes-$KUBERNETES_VERSION/build/pause/linux/pause.c" ||
    build_die "building pause failed"
  stamp pause "$KUBERNETES_VERSION"
}

ensure_kubernetes_source() {
  module_copy "k8s.io/kubernetes@v$KUBERNETES_VERSION" "$K8S_SRC/kubernetes-$KUBERNETES_VERSION" kubernetes_as_main_module
}

# The Dapr control plane and daprd from the same dapr module (and source copy) as scripts/stack.
ensure_dapr() {
  local b need=() src="$K8S_CACHE/dapr-src-$DAPR_VERSION"
  # scripts/stack checks daprd by `daprd --version`; the others carry a stamp.
  [[ $("$DAPR_BIN/daprd" --version 2>/dev/null || true) == "$DAPR_VERSION" ]] || need+=(daprd)
  for b in "${DAPR_CONTROL_PLANE[@]}"; do stamped "$DAPR_BIN/$b" "$DAPR_VERSION" || need+=("$b"); done
  ((${#need[@]})) || return 0
  module_copy "github.com/dapr/dapr@v$DAPR_VERSION" "$src"
  local ld="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION"
  for b in "${need[@]}"; do
    local tags=()
    [[ $b == daprd ]] && tags=(-tags stablecomponents)
    mkdir -p "$DAPR_BIN"
    # Not `$b.tmp`: scripts/stack may be building daprd or its scheduler into the same cache at once.
    CGO_ENABLED=0 go_build "dapr-$b-$DAPR_VERSION" "$src" "${tags[@]}" -trimpath -ldflags "$ld" -o "$DAPR_BIN/$b.k8s-tmp" "./cmd/$b"
    mv "$DAPR_BIN/$b.k8s-tmp" "$DAPR_BIN/$b"
    stamp "$DAPR_BIN/$b" "$DAPR_VERSION"
  done
}

# Helm: the same pinned build as chart-check (its version is pinned in scripts/chart-check/tools.sh).
ensure_helm() {
  bash "$K8S_REPO/scripts/chart-check/tools.sh" helm >/dev/null
}

ensure_parts() {
  local part
  for part in "$@"; do "ensure_$part"; done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  if (($#)); then ensure_parts "$@"; else ensure_parts kubernetes etcd containerd cni coredns pause kube_router dapr helm; fi
fi
