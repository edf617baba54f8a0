#!/usr/bin/env bash
# Installs the Debian packages the tests, the demo and the benchmarks run (one list for all of them):
# etcd/nats (Debian's are fallbacks; current ones are built by e2e/cluster/build-tools.sh), the real
# WireGuard peer, the comparison proxy, netfilter and namespaces, gVisor and its TUN bridge, clients.
set -euo pipefail
PACKAGES=(etcd-server nats-server wireguard-go wireguard-tools microsocks iptables iproute2 runsc busybox
  curl socat iputils-ping lua5.4 openssl util-linux golang-go)

need=()
for pkg in "${PACKAGES[@]}"; do
  case $pkg in golang-go) command -v go >/dev/null && continue ;; esac
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "system-packages: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "system-packages: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v npm >/dev/null || { echo "system-packages: npm is missing (needed once to install the pinned Node 24)" >&2; exit 1; }
