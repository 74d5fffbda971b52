#!/usr/bin/env bash
# The issue-14 run: a 3-member etcd (bench/etcd-cluster.sh, client ports 12379/22379/32379) and a
# 3-store tinykv cluster side by side on this machine, in rounds, each round one bench process per
# line below (targets alternate inside a run; rounds alternate the runs):
#   unary:  --target noop,tinykv,etcd --op put,get --clients 64,1   (the issue's table)
#   batch:  --target tinykv --batch-commands --op put,get --clients 64,256
#   8 regions (a second tinykv cluster, split inside the bench's keys k0000..k9999, leaders spread
#   by the scheduler): --target tinykv,etcd --op put --clients 64 --key-size 5 --keyspace 10000,
#   and --target tinykv --batch-commands --op put,get --clients 256 on the same keys
# Every tinykv and etcd run reports the servers' CPU per op (--server-metrics, --etcd-metrics).
#   npm run build && bench/scripts/issue-14.sh [rounds] [out-dir]
# Then: node bench/scripts/medians.mjs out-dir   (medians over the rounds, one line per run)
# Needs the etcd binary (apt-get install etcd-server).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
out=${2:-./issue-14}
duration=${DURATION:-8s}
mkdir -p "$out"
data=$(mktemp -d)
export ETCD_BASE_PORTS="12379 22379 32379"
export ETCD_CLUSTER_STATE="$data/etcd.state"
endpoints=$(bash bench/etcd-cluster.sh start)
etcd_metrics=127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379
store_metrics=127.0.0.1:20180,127.0.0.1:20181,127.0.0.1:20182
cluster=""
start_cluster() {
  node dist/src/cli/main.js cluster --stores 3 --raft-pollers 1 --data-dir "$data/cluster-$1" "${@:2}" > "$out/cluster-$1.log" 2>&1 &
  cluster=$!
  for _ in $(seq 1 60); do grep -q "cluster ready" "$out/cluster-$1.log" && break; sleep 0.5; done
}
stop_cluster() {
  if [ -n "$cluster" ]; then
    kill -INT "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
    cluster=""
  fi
}
cleanup() {
  stop_cluster
  bash bench/etcd-cluster.sh stop || true
  rm -rf "$data"
}
trap cleanup EXIT
bench() {
  node dist/src/cli/main.js bench --scheduler 127.0.0.1:2379 --endpoints "$endpoints" --duration "$duration" \
    --progress off --output json "$@"
}

start_cluster one
sleep 2
for round in $(seq 1 "$rounds"); do
  bench --target noop,tinykv,etcd --op put,get --clients 64,1 --server-metrics "$store_metrics" --etcd-metrics "$etcd_metrics" \
    > "$out/unary-$round.json"
  bench --target tinykv --batch-commands --op put,get --clients 64,256 --server-metrics "$store_metrics" > "$out/batch-$round.json"
  echo "round $round (one region): $(uptime)"
done
stop_cluster

# Eight regions split inside the keyspace (every bench key starts with k); the scheduler's
# balance-leader spreads their leaders over the stores.
start_cluster eight --split-keys k1250,k2500,k3750,k5000,k6250,k7500,k8750
sleep 20
node dist/src/cli/main.js ctl region list --scheduler 127.0.0.1:2379 > "$out/regions-eight.txt" 2>&1 || true
for round in $(seq 1 "$rounds"); do
  bench --target tinykv,etcd --op put --clients 64 --key-size 5 --keyspace 10000 --server-metrics "$store_metrics" \
    --etcd-metrics "$etcd_metrics" > "$out/eight-$round.json"
  bench --target tinykv --batch-commands --op put,get --clients 256 --key-size 5 --keyspace 10000 \
    --server-metrics "$store_metrics" > "$out/eight-batch-$round.json"
  echo "round $round (eight regions): $(uptime)"
done
