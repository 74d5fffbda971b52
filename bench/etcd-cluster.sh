#!/usr/bin/env bash
# A throwaway 3-member etcd cluster on 127.0.0.1 for `tinykv bench --target etcd`.
#
#   bench/etcd-cluster.sh start    # prints the endpoints to pass to --endpoints
#   bench/etcd-cluster.sh status
#   bench/etcd-cluster.sh stop     # stops the members and deletes their data
#
# Members listen for clients on 127.0.0.1:2379, :22379 and :32379 (peers on :2380, :22380, :32380);
# set ETCD_BASE_PORTS="2379 22379 32379" to move them. Data and logs live in a temporary
# directory recorded in $ETCD_CLUSTER_STATE (default ${TMPDIR:-/tmp}/tinykv-bench-etcd.state).
# Needs the etcd binary (Debian: apt-get install etcd-server) or ETCD_BIN=/path/to/etcd.
#
# Durability note for fair comparisons: etcd fsyncs its WAL on every commit (it has no switch to
# turn that off); TinyKV-TS syncs per its own storage settings. Say which ones you used.
set -euo pipefail

ETCD_BIN=${ETCD_BIN:-etcd}
STATE=${ETCD_CLUSTER_STATE:-${TMPDIR:-/tmp}/tinykv-bench-etcd.state}
read -r -a PORTS <<<"${ETCD_BASE_PORTS:-2379 22379 32379}"
NAMES=(m1 m2 m3)
TOKEN=tinykv-bench-$$

endpoints() {
  local list=() p
  for p in "${PORTS[@]}"; do list+=("127.0.0.1:${p}"); done
  (IFS=,; echo "${list[*]}")
}

member_pid() { cat "$1/$2.pid" 2>/dev/null || true; }

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

start() {
  if [[ -f "$STATE" ]]; then
    echo "a cluster is already recorded in $STATE (run '$0 stop' first)" >&2
    exit 1
  fi
  command -v "$ETCD_BIN" >/dev/null || { echo "etcd not found (apt-get install etcd-server, or set ETCD_BIN)" >&2; exit 1; }
  local dir initial=() i
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tinykv-bench-etcd.XXXXXX")
  echo "$dir" >"$STATE"
  for i in 0 1 2; do initial+=("${NAMES[$i]}=http://127.0.0.1:$((PORTS[i] + 1))"); done
  local cluster
  cluster=$(IFS=,; echo "${initial[*]}")
  for i in 0 1 2; do
    local name=${NAMES[$i]} client=$((PORTS[i])) peer=$((PORTS[i] + 1))
    "$ETCD_BIN" \
      --name "$name" \
      --data-dir "$dir/$name.data" \
      --listen-client-urls "http://127.0.0.1:${client}" \
      --advertise-client-urls "http://127.0.0.1:${client}" \
      --listen-peer-urls "http://127.0.0.1:${peer}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${peer}" \
      --initial-cluster "$cluster" \
      --initial-cluster-token "$TOKEN" \
      --initial-cluster-state new \
      --log-level warn \
      >"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
  done
  # Wait for every member to answer on its client port.
  local deadline=$((SECONDS + 30)) p
  for p in "${PORTS[@]}"; do
    until curl -sf -o /dev/null "http://127.0.0.1:${p}/health"; do
      if ((SECONDS > deadline)); then
        echo "etcd did not become healthy on 127.0.0.1:${p}; logs in $dir" >&2
        stop
        exit 1
      fi
      sleep 0.2
    done
  done
  echo "etcd cluster up (data and logs in $dir)" >&2
  endpoints
}

status() {
  [[ -f "$STATE" ]] || { echo "no cluster recorded in $STATE"; return 1; }
  local dir i
  dir=$(cat "$STATE")
  for i in 0 1 2; do
    local pid
    pid=$(member_pid "$dir" "${NAMES[$i]}")
    if alive "$pid"; then
      echo "${NAMES[$i]} pid $pid 127.0.0.1:${PORTS[$i]} $(curl -s "http://127.0.0.1:${PORTS[$i]}/health" || echo unreachable)"
    else
      echo "${NAMES[$i]} not running"
    fi
  done
  echo "endpoints: $(endpoints)"
}

stop() {
  [[ -f "$STATE" ]] || { echo "no cluster recorded in $STATE" >&2; return 0; }
  local dir name pid
  dir=$(cat "$STATE")
  for name in "${NAMES[@]}"; do
    pid=$(member_pid "$dir" "$name")
    if alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
  done
  for name in "${NAMES[@]}"; do
    pid=$(member_pid "$dir" "$name")
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$dir"
  rm -f "$STATE"
  echo "etcd cluster stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  endpoints) endpoints ;;
  *)
    echo "usage: $0 start|status|stop|endpoints" >&2
    exit 2
    ;;
esac
