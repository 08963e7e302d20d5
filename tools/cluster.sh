#!/usr/bin/env bash
# cluster.sh: a three-node NATS JetStream cluster and three flashsaga cells on loopback.
#
#   tools/cluster.sh start DIR [BASE]   write DIR/cluster.toml, start 3 nats-servers (JetStream,
#                                       one cluster) and cells 0..2 (`flashsaga run --cluster`),
#                                       wait until every cell answers /healthz
#   tools/cluster.sh stop DIR           stop the cells (SIGTERM, graceful) and the NATS nodes
#   tools/cluster.sh nats-pid DIR N     pid of NATS node N (for fault tests)
#   tools/cluster.sh cell-pid DIR N     pid of cell N's supervisor
#   tools/cluster.sh free-base          print a BASE whose nine ports are free now, below the
#                                       kernel's ephemeral range (so no outgoing connection, of
#                                       this test or another, can take one of them before the
#                                       servers bind it)
#
# Ports: NATS clients BASE..BASE+2, NATS routes BASE+10..BASE+12, cells' HTTP BASE+100..BASE+102
# (BASE defaults to 14222). FLASHSAGA names the binary (default: build/release/tools/flashsaga).
# Everything (NATS stores, cell data dirs, logs, pids) lives under DIR.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
flashsaga="${FLASHSAGA:-$here/build/release/tools/flashsaga}"
cells=3
nodes=3

die() { echo "cluster.sh: $*" >&2; exit 1; }

write_files() {
  local dir="$1" base="$2" routes="" servers=""
  for n in $(seq 0 $((nodes - 1))); do
    routes+="nats-route://127.0.0.1:$((base + 10 + n)),"
    servers+="\"nats://127.0.0.1:$((base + n))\", "
  done
  routes="${routes%,}"
  for n in $(seq 0 $((nodes - 1))); do
    mkdir -p "$dir/nats$n"
    cat >"$dir/nats$n.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:$((base + n))
jetstream { store_dir: "$dir/nats$n", max_memory_store: 64MB, max_file_store: 1GB }
cluster { name: flashsaga, listen: 127.0.0.1:$((base + 10 + n)), routes: [ ${routes//,/, } ] }
CONF
  done
  {
    echo "[nats]"
    echo "servers = [${servers%, }]"
    echo "replicas = 3"
    for c in $(seq 0 $((cells - 1))); do
      echo
      echo "[[cell]]"
      echo "address = \"http://127.0.0.1:$((base + 100 + c))\""
      echo "http_port = $((base + 100 + c))"
      echo "data_dir = \"cell$c\""
    done
  } >"$dir/cluster.toml"
}

wait_http() {  # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

start() {
  local dir base
  dir="$(mkdir -p "$1" && cd "$1" && pwd)"
  base="${2:-14222}"; [ -n "$base" ] || base=14222
  command -v nats-server >/dev/null || die "nats-server is not installed (tools/setup.sh installs it)"
  [ -x "$flashsaga" ] || die "no flashsaga binary at $flashsaga (set FLASHSAGA)"
  write_files "$dir" "$base"
  for n in $(seq 0 $((nodes - 1))); do
    nats-server -c "$dir/nats$n.conf" >"$dir/nats$n.log" 2>&1 &
    echo $! >"$dir/nats$n.pid"
  done
  for c in $(seq 0 $((cells - 1))); do
    "$flashsaga" run --cluster "$dir/cluster.toml" --cell "$c" >"$dir/cell$c.log" 2>&1 &
    echo $! >"$dir/cell$c.pid"
  done
  for c in $(seq 0 $((cells - 1))); do
    wait_http "http://127.0.0.1:$((base + 100 + c))/healthz" 60 || die "cell $c did not become healthy (see $dir/cell$c.log)"
  done
  echo "cluster up: $dir/cluster.toml"
}

stop_pid() {  # pidfile, seconds
  [ -f "$1" ] || return 0
  local pid deadline=$((SECONDS + $2))
  pid="$(cat "$1")"
  kill "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { kill -9 "$pid" 2>/dev/null || true; break; }
    sleep 0.1
  done
  rm -f "$1"
}

free_base() {  # a BASE in [10000, ephemeral range start - 103) with all nine ports free
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
offsets = [0, 1, 2, 10, 11, 12, 100, 101, 102]
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):  # bound: 200 tries, then fail
    base = random.randrange(10000, max(10001, low - 103))
    if all(free(base + o) for o in offsets):
        print(base)
        raise SystemExit(0)
raise SystemExit("cluster.sh: no free BASE found in 200 tries")
PY
}

stop() {
  local dir="$1"
  for c in $(seq 0 $((cells - 1))); do stop_pid "$dir/cell$c.pid" 30; done
  for n in $(seq 0 $((nodes - 1))); do stop_pid "$dir/nats$n.pid" 10; done
}

case "${1:-}" in
  start) [ $# -ge 2 ] || die "usage: cluster.sh start DIR [BASE]"; start "$2" "${3:-}";;
  stop) [ $# -eq 2 ] || die "usage: cluster.sh stop DIR"; stop "$2";;
  nats-pid) cat "$2/nats$3.pid";;
  cell-pid) cat "$2/cell$3.pid";;
  free-base) free_base;;
  *) die "usage: cluster.sh start DIR [BASE] | stop DIR | nats-pid DIR N | cell-pid DIR N | free-base";;
esac
