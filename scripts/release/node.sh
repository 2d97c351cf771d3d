#!/usr/bin/env bash
# Prints the bin directory of the Node that .nvmrc names (the images' major, what CI tests),
# fetched once into ${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}/node-<version>. The npm
# registry carries Node's official Linux builds as the packages node-linux-<arch> (bin/node
# only, no npm: the machine's npm runs under whichever node is first on PATH); `npm pack`
# checks the tarball against the registry's integrity hash. See docs/adr/0022-release-toolchain.md.
#
#   export PATH="$(bash scripts/release/node.sh):$PATH"
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=$(tr -d '[:space:]' <"$REPO/.nvmrc")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "node.sh: .nvmrc must name an exact version (x.y.z), not '$version'" >&2
  exit 1
}
case $(uname -m) in
x86_64) arch=x64 ;;
aarch64) arch=arm64 ;;
*)
  echo "node.sh: no node-linux package for $(uname -m)" >&2
  exit 1
  ;;
esac
home=${TASKSTREAM_CACHE:-$HOME/.cache/taskstream}/node-$version
if [[ ! -x $home/bin/node ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent --pack-destination "$tmp" "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$tmp/node"
  tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$tmp/node" --strip-components=1
  [[ $("$tmp/node/bin/node" --version) == "v$version" ]] || {
    echo "node.sh: node-linux-$arch@$version is not Node $version" >&2
    exit 1
  }
  mkdir -p "$(dirname "$home")"
  rm -rf "$home"
  mv "$tmp/node" "$home"
fi
echo "$home/bin"
