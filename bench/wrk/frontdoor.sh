#!/usr/bin/env bash
# frontdoor.sh — the HTTP front door against nginx, with one wrk command for both.
#
# Starts nginx (one worker, answering every request with a static 409 JSON body: what this
# machine's loopback TCP lets one server core do) and flashsaga deployments (nosync, then sync),
# seeds buyers and two products (one sold out, one with stock for the whole run), and runs the
# same wrk command against each:
#   nginx       static 409
#   sold out    flashsaga, POST /orders for the sold-out product (409 from the gateway's CAS)
#   202 nosync  flashsaga, POST /orders that are accepted, durability nosync
#   202 sync    the same, durability sync (each 202 waits for its PENDING commit)
# and prints requests/s, p99 and the ratios to nginx from this run.
#
# Usage: bench/wrk/frontdoor.sh [--seconds 8] [--connections 64] [--depth 1] [--users 200]
#                               [--cpu 1] [--http-threads 2] [--flashsaga PATH] [--keep]
#   --depth N     requests pipelined per connection (bench/wrk/orders.lua with DEPTH=N),
#                 for every server alike
#   --cpu N       the core wrk is pinned to (taskset -c N)
#   --keep        keep the work directory (logs, journals)
# Needs wrk, nginx (Debian: nginx-light), curl and taskset; a built flashsaga
# (build/release/tools/flashsaga, or --flashsaga / env FLASHSAGA).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FS=${FLASHSAGA:-$ROOT/build/release/tools/flashsaga}
SECONDS_RUN=8 CONNECTIONS=64 DEPTH=1 USERS=200 CPU=1 HTTP_THREADS=2 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_RUN=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --depth) DEPTH=$2; shift ;;
    --users) USERS=$2; shift ;;
    --cpu) CPU=$2; shift ;;
    --http-threads) HTTP_THREADS=$2; shift ;;
    --flashsaga) FS=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "frontdoor.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "frontdoor.sh: $*" >&2; exit 1; }
for tool in wrk curl taskset; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed (apt-get install nginx-light)"
[ -x "$FS" ] || die "flashsaga binary not found at $FS (build it, or pass --flashsaga PATH)"

WORK=$(mktemp -d /tmp/flashsaga-frontdoor.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {  # URL [STATUS]: until it answers STATUS (default 200; at most 30 s)
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = "${2:-200}" ] && return 0
    sleep 0.1
  done
  die "$1 did not come up (logs in $WORK)"
}

SCRIPT=$HERE/orders.lua  # DEPTH > 1 pipelines
# One wrk command for every server: the same script, connections, duration and core.
run_wrk() {  # NAME URL PRODUCT
  local out=$WORK/wrk-$1.txt
  PRODUCT=$3 USERS=$USERS DEPTH=$DEPTH taskset -c "$CPU" \
    wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$SCRIPT" "$2" >"$out" 2>&1 || true
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  local answers
  answers=$(awk '/^status [0-9]+: [0-9]+$/ {printf "%s%s: %s", sep, substr($2, 1, length($2) - 1), $3; sep=","}' "$out" | tr -d ' ')
  echo "$1 ${rps:-0} ${p99:-?} $answers" >>"$WORK/results"
}

# --- nginx ----------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type application/json;
      return 409 '{"error":"sold_out","message":"product 1 is sold out","product_id":1}';
    }
  }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$NGINX_PORT/" 409
echo "nginx on port $NGINX_PORT: wrk ($(basename "$SCRIPT"), depth $DEPTH, $CONNECTIONS connections," \
     "${SECONDS_RUN}s)"
run_wrk nginx "http://127.0.0.1:$NGINX_PORT" 1
kill -TERM "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true

# --- flashsaga ------------------------------------------------------------------------------
start_flashsaga() {  # DURABILITY: starts a deployment, seeds it; sets FS_PORT and FS_PID
  local dur=$1
  FS_PORT=$(free_port)
  mkdir -p "$WORK/fs-$dur"
  printf '[deployment]\ndata_dir = "%s"\ndurability = "%s"\n[http]\nport = %s\nthreads = %s\n' \
    "$WORK/fs-$dur/data" "$dur" "$FS_PORT" "$HTTP_THREADS" >"$WORK/fs-$dur/flashsaga.toml"
  "$FS" run --config "$WORK/fs-$dur/flashsaga.toml" >"$WORK/fs-$dur/run.log" 2>&1 &
  FS_PID=$!
  PIDS+=("$FS_PID")
  wait_http "http://127.0.0.1:$FS_PORT/healthz"
  local base=http://127.0.0.1:$FS_PORT
  curl -sf -o /dev/null -X POST "$base/products" -d '{"name":"sold out","price":100,"stock":0}'
  curl -sf -o /dev/null -X POST "$base/products" \
    -d '{"name":"in stock","price":100,"stock":100000000}'
  seq 1 "$USERS" | xargs -P 4 -I{} curl -sf -o /dev/null -X POST "$base/users" \
    -d '{"name":"buyer {}","email":"buyer{}@example.com"}'
  echo "flashsaga $dur on port $FS_PORT: 2 products, $USERS buyers"
}
stop_flashsaga() { kill -TERM "$FS_PID"; wait "$FS_PID" 2>/dev/null || true; }

start_flashsaga nosync
run_wrk "sold-out" "http://127.0.0.1:$FS_PORT" 1
run_wrk "202-nosync" "http://127.0.0.1:$FS_PORT" 2
stop_flashsaga
start_flashsaga sync
run_wrk "202-sync" "http://127.0.0.1:$FS_PORT" 2
stop_flashsaga

# --- report ---------------------------------------------------------------------------------
echo
echo "same wrk command for each: taskset -c $CPU wrk -t1 -c$CONNECTIONS -d${SECONDS_RUN}s" \
     "--latency -s $(basename "$SCRIPT") (DEPTH=$DEPTH)"
awk 'function ms(t) {
       if (t ~ /us$/) return t / 1000
       if (t ~ /ms$/) return t + 0
       if (t ~ /s$/) return t * 1000
       return 0
     }
     NR == 1 { base = $2; base_p99 = ms($3) }
     { printf "%-12s %12s req/s  p99 %9s  %6.2fx nginx  p99 %5.2fx nginx  answers %s\n",
              $1, $2, $3, (base > 0 ? $2 / base : 0), (base_p99 > 0 ? ms($3) / base_p99 : 0), $4 }' \
  "$WORK/results"
