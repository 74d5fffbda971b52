#!/usr/bin/env bash
# What counting metrics costs: fresh 3-store clusters with metrics on and off (TINYKV_METRICS=false),
# alternating, each measured by the same `tinykv bench` run through the scheduler.
#   npm run build && bench/scripts/metrics-cost.sh [rounds] [out-dir]
# Uses ports 2379-2380 (scheduler), 20160-20162 and 20180-20182 (stores). Writes one JSON report per
# run to out-dir (default ./metrics-cost).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
out=${2:-./metrics-cost}
mkdir -p "$out"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
for round in $(seq 1 "$rounds"); do
  for mode in on off; do
    rm -rf "$data/cluster"
    if [ "$mode" = off ]; then export TINYKV_METRICS=false; else unset TINYKV_METRICS; fi
    node dist/src/cli/main.js cluster --stores 3 --raft-pollers 1 --data-dir "$data/cluster" > "$out/cluster-$mode-$round.log" 2>&1 &
    cluster=$!
    for _ in $(seq 1 60); do grep -q "cluster ready" "$out/cluster-$mode-$round.log" && break; sleep 0.5; done
    unset TINYKV_METRICS
    sleep 2
    node dist/src/cli/main.js bench --target tinykv --scheduler 127.0.0.1:2379 --op put,get --clients 64 --duration 8s \
      --server-metrics 127.0.0.1:20180,127.0.0.1:20181,127.0.0.1:20182 --progress off --output json > "$out/bench-$mode-$round.json"
    kill -INT "$cluster"
    wait "$cluster" || true
    echo "round $round metrics $mode: $(uptime)"
  done
done
