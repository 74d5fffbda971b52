#!/usr/bin/env bash
# tinykv (unary and BatchCommands) beside etcd on this machine: a 3-member etcd (bench/etcd-cluster.sh,
# client ports 12379/22379/32379) and a 3-store tinykv cluster with one region, then rounds of
#   tinykv bench --target tinykv,etcd ...              (unary tinykv and etcd alternating)
#   tinykv bench --target tinykv --batch-commands ...  (the same calls in BatchCommands streams)
#   npm run build && bench/scripts/side-by-side.sh [rounds] [out-dir]
# Needs the etcd binary (apt-get install etcd-server). One JSON report per run in out-dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
out=${2:-./side-by-side}
mkdir -p "$out"
data=$(mktemp -d)
export ETCD_BASE_PORTS="12379 22379 32379"
export ETCD_CLUSTER_STATE="$data/etcd.state"
endpoints=$(bash bench/etcd-cluster.sh start)
node dist/src/cli/main.js cluster --stores 3 --raft-pollers 1 --data-dir "$data/cluster" > "$out/cluster.log" 2>&1 &
cluster=$!
cleanup() {
  kill -INT "$cluster" 2>/dev/null || true
  wait "$cluster" 2>/dev/null || true
  bash bench/etcd-cluster.sh stop || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 60); do grep -q "cluster ready" "$out/cluster.log" && break; sleep 0.5; done
sleep 2
metrics=127.0.0.1:20180,127.0.0.1:20181,127.0.0.1:20182
for round in $(seq 1 "$rounds"); do
  node dist/src/cli/main.js bench --target tinykv,etcd --scheduler 127.0.0.1:2379 --endpoints "$endpoints" --op put,get \
    --clients 64 --duration 6s --server-metrics "$metrics" --progress off --output json > "$out/unary-$round.json"
  node dist/src/cli/main.js bench --target tinykv --batch-commands --scheduler 127.0.0.1:2379 --op put,get \
    --clients 64 --duration 6s --server-metrics "$metrics" --progress off --output json > "$out/batch-$round.json"
  echo "round $round: $(uptime)"
done
