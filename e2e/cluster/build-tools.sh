#!/usr/bin/env bash
# Builds the Go binaries the tests and the demo run (never shipped, never committed):
#   kube-apiserver, kube-controller-manager, kubectl  from k8s.io/kubernetes
#   etcd                                             from go.etcd.io/etcd/server/v3
#   nats-server                                      from github.com/nats-io/nats-server/v2
#   wireproxy                                        from github.com/pufferffish/wireproxy (benchmark peer; the Go proxy serves it under this path, not whyvl/)
# into ~/.cache/lattice/bin/<tool>-<version>/, keyed by version, so only the first run pays.
# Usage: build-tools.sh [k8s|etcd|nats|wireproxy|all] ...   (default: all)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
NATS_VERSION=${NATS_VERSION:-v2.15.2}
WIREPROXY_VERSION=${WIREPROXY_VERSION:-v1.0.9}

CACHE=${LATTICE_CACHE:-$HOME/.cache/lattice}
BIN=$CACHE/bin
mkdir -p "$BIN" "$CACHE/build"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[build-tools] %s\n' "$*" >&2; }

# build_into DIR MODULE_DIR PKG... : go build each PKG into DIR, atomically (tmp dir + rename).
build_into() {
  local out=$1 moddir=$2; shift 2
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  local start=$SECONDS
  (cd "$moddir" && go build -trimpath -ldflags='-s -w' -o "$tmp/" "$@")
  rm -rf "$out"; mv "$tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start))s: $(cd "$out" && du -h -- * | tr '\t' ' ' | paste -sd, -)"
}

build_k8s() {
  local out=$BIN/kubernetes-$K8S_VERSION
  [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kubectl" ] && return 0
  local minor=${K8S_VERSION#v1.}; local staging=v0.$minor
  local mod=$CACHE/build/kubernetes-$K8S_VERSION
  mkdir -p "$mod"
  log "building Kubernetes $K8S_VERSION (staging modules at $staging); the first build takes a while"
  {
    echo "module lattice.local/k8sbuild"; echo; echo "go 1.26"; echo
    echo "require k8s.io/kubernetes $K8S_VERSION"; echo
    echo "replace ("
    local m
    for m in $(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p' | head -1 | xargs -I{} sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' {}/go.mod); do
      echo "	$m => $m $staging"
    done
    echo ")"
  } > "$mod/go.mod"
  (cd "$mod" && printf 'package main\nimport (\n_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n)\nfunc main() {}\n' > tools.go && go mod tidy >/dev/null 2>&1 || go get "k8s.io/kubernetes@$K8S_VERSION")
  build_into "$out" "$mod" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
}

# build_module NAME VERSION MODULE PKG BINARY : a plain Go module's main package, built as BINARY.
# (Go names a binary after the last path element without a /vN suffix: server/v3 → "server".)
build_module() {
  local name=$1 version=$2 module=$3 pkg=$4 binary=$5
  local out=$BIN/$name-$version
  [ -x "$out/$binary" ] && return 0
  local mod=$CACHE/build/$name-$version
  mkdir -p "$mod"
  log "building $name $version"
  printf 'module lattice.local/%sbuild\n\ngo 1.26\n' "$name" > "$mod/go.mod"
  printf 'package main\nimport _ "%s"\nfunc main() {}\n' "$pkg" > "$mod/tools.go"
  if [ "$name" = wireproxy ]; then
    # wireproxy imports suah.dev/protect (OpenBSD pledge/unveil, no-ops on every other OS), which the Go
    # module proxy does not serve here (403). A local module with the same no-op API stands in for it.
    mkdir -p "$mod/protect-stub"
    printf 'module suah.dev/protect\n\ngo 1.20\n' > "$mod/protect-stub/go.mod"
    printf 'package protect\n\nfunc Pledge(string) error { return nil }\nfunc Unveil(string, string) error { return nil }\nfunc UnveilBlock() error { return nil }\n' > "$mod/protect-stub/protect.go"
    (cd "$mod" && go mod edit -replace suah.dev/protect=./protect-stub)
  fi
  (cd "$mod" && go get "$module@$version" >/dev/null && go mod tidy >/dev/null)
  build_into "$out" "$mod" "$pkg"
  local built=("$out"/*)
  [ "${built[0]}" = "$out/$binary" ] || mv "${built[0]}" "$out/$binary"
}

targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(all)
for t in "${targets[@]}"; do
  case $t in
    k8s) build_k8s ;;
    etcd) build_module etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 etcd ;;
    nats) build_module nats-server "$NATS_VERSION" github.com/nats-io/nats-server/v2 github.com/nats-io/nats-server/v2 nats-server ;;
    wireproxy) build_module wireproxy "$WIREPROXY_VERSION" github.com/pufferffish/wireproxy github.com/pufferffish/wireproxy/cmd/wireproxy wireproxy ;;
    all) build_k8s; bash "$0" etcd nats wireproxy ;;
    *) echo "build-tools.sh: unknown target '$t' (want k8s, etcd, nats, wireproxy or all)" >&2; exit 2 ;;
  esac
done
