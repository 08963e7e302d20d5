#!/usr/bin/env bash
# bench/peers/run.sh — flashsaga and its usual alternatives on the same workloads, in one run.
#
# Runs the flash-sale and catalog workloads of `flashsaga bench` on
#   flashsaga   `flashsaga bench ... --durability sync|interval|nosync --json` (its own deployment)
#   Redis       a throwaway redis-server (loopback, free port, temp dir), driven by
#               redis-benchmark with pipelining: (a) stock-only Lua, (b) whole-order Lua,
#               without persistence and with appendonly everysec / always
#   PostgreSQL  a throwaway cluster (initdb in a temp dir, loopback, free port), driven by
#               pgbench -M prepared: every order ONE transaction across all tables, sent
#               statement by statement (app) or as one plpgsql call (fn), synchronous_commit
#               on and off
# and prints a markdown table with the ratio flashsaga/peer for each row (also written, with a
# JSON file, to the output directory). See bench/peers/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() {
  cat <<EOF
Usage: bench/peers/run.sh [--quick] [options]

  --quick               small sizes, under 2 minutes in all
  --flashsaga PATH      the flashsaga binary (env FLASHSAGA; default build/release/tools/flashsaga)
  --out DIR             where results.md, results.json and the logs go
                        (default bench/peers/results/YYYYmmdd-HHMMSS)
  --systems LIST        comma list of flashsaga,redis,pg (default all)
  --scenarios LIST      comma list of flash-sale,catalog,catalog-zipf
                        (default: all three; --quick: flash-sale,catalog)
  --orders N            attempts per run (flash-sale and catalog)
  --stock N             hot-SKU stock in flash-sale (catalog SKUs get enough never to sell out)
  --buyers N            distinct buyers
  --skus N              catalog size
  --zipf S              Zipf exponent of catalog-zipf (default 1.1; pgbench needs S > 1)
  --coupon-share F      share of orders with a coupon (default 0.1)
  --points-share F      share of orders paying 100 points (default 0.2)
  --pg-seconds N        duration of the PostgreSQL catalog runs (time-based; flash-sale runs
                        are count-based, as they must sell out)
  --pg-clients N        pgbench clients (default 16, 2 threads; more is slower on 2 cores)
  --redis-clients N     redis-benchmark connections (default 64)
  --redis-pipeline N    redis-benchmark pipeline depth -P (default 16)
  --http-connections N  flashsaga http driver connections, when the binary has one (default 64)
  --http-pipeline N     flashsaga http driver requests in flight per connection, when the binary
                        has --pipeline (default: the Redis pipeline depth, so both are driven
                        as deep)
  -h, --help            this help

Environment: FLASHSAGA, PG_BIN (directory of initdb/pg_ctl/postgres).
Installs redis-server/redis-tools (and postgresql) with apt-get when missing and run as root.
EOF
}

# ---------------------------------------------------------------------------------------------
QUICK=0
FS=${FLASHSAGA:-$ROOT/build/release/tools/flashsaga}
OUT=""
SYSTEMS="flashsaga,redis,pg"
SCENARIOS=""
ORDERS="" STOCK="" BUYERS="" SKUS="" PG_SECONDS=""
ZIPF=1.1 COUPON_SHARE=0.1 POINTS_SHARE=0.2
PG_CLIENTS=16 REDIS_CLIENTS=64 REDIS_PIPELINE=16 FS_HTTP_CONNECTIONS=64 FS_HTTP=0 FS_HTTP_PIPELINE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --flashsaga) FS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --systems) SYSTEMS=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --orders) ORDERS=$2; shift ;;
    --stock) STOCK=$2; shift ;;
    --buyers) BUYERS=$2; shift ;;
    --skus) SKUS=$2; shift ;;
    --zipf) ZIPF=$2; shift ;;
    --coupon-share) COUPON_SHARE=$2; shift ;;
    --points-share) POINTS_SHARE=$2; shift ;;
    --pg-seconds) PG_SECONDS=$2; shift ;;
    --pg-clients) PG_CLIENTS=$2; shift ;;
    --redis-clients) REDIS_CLIENTS=$2; shift ;;
    --redis-pipeline) REDIS_PIPELINE=$2; shift ;;
    --http-connections) FS_HTTP_CONNECTIONS=$2; shift ;;
    --http-pipeline) FS_HTTP_PIPELINE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  : "${ORDERS:=6000}" "${STOCK:=300}" "${BUYERS:=1000}" "${SKUS:=1000}" "${PG_SECONDS:=3}"
  : "${SCENARIOS:=flash-sale,catalog}"
else
  : "${ORDERS:=40000}" "${STOCK:=2000}" "${BUYERS:=10000}" "${SKUS:=1000}" "${PG_SECONDS:=8}"
  : "${SCENARIOS:=flash-sale,catalog,catalog-zipf}"
fi
CATALOG_STOCK=$((ORDERS * 10 + 1000000))   # per SKU: a catalog never sells out
REDIS_R=1000000                            # redis-benchmark __rand_int__ range [0, R)
has() { case ",$1," in *",$2,"*) return 0 ;; *) return 1 ;; esac; }
die() { echo "run.sh: $*" >&2; exit 1; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools
command -v python3 >/dev/null || die "python3 is required (figures and report) and was not found"
PY=$(python3 -c 'import sys; print(sys.executable)')   # the interpreter itself: a pyenv shim costs ~1 s a call
APT_UPDATED=0 MADE_POLICY=0
apt_install() {  # apt_install PACKAGE... : only as root, without starting the packages' services
  [ "$(id -u)" = 0 ] || die "missing $*: install it (apt-get install $*) or run as root"
  command -v apt-get >/dev/null || die "missing $* and no apt-get to install it"
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the packages' own servers from starting
    trap '[ "$MADE_POLICY" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && MADE_POLICY=1
  fi
  log "installing $* with apt-get"
  [ "$APT_UPDATED" = 1 ] || { apt-get update -qq >&2 || true; APT_UPDATED=1; }
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || rc=$?
  if [ "$MADE_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; MADE_POLICY=0; fi
  [ "$rc" = 0 ] || die "apt-get install $* failed"
}
if has "$SYSTEMS" flashsaga; then
  [ -x "$FS" ] || die "flashsaga binary not found at $FS: build it (cmake --preset release -B build/release && cmake --build build/release --target flashsaga) or pass --flashsaga PATH"
fi
if has "$SYSTEMS" redis; then
  for t in redis-server redis-cli redis-benchmark; do
    command -v $t >/dev/null || { apt_install redis-server redis-tools; break; }
  done
  for t in redis-server redis-cli redis-benchmark; do command -v $t >/dev/null || die "$t not found"; done
fi
if has "$SYSTEMS" pg; then
  find_pg_bin() {
    local d
    for d in "${PG_BIN:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
      [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
    done
    local i; i=$(command -v initdb 2>/dev/null) || return 1
    i=$(dirname "$(readlink -f "$i")"); [ -x "$i/pg_ctl" ] && [ -x "$i/postgres" ] && echo "$i"
  }
  PG_BIN=$(find_pg_bin) || { apt_install postgresql postgresql-contrib; PG_BIN=$(find_pg_bin) || die "PostgreSQL (initdb, pg_ctl, postgres) not found; set PG_BIN"; }
  PGBENCH=$PG_BIN/pgbench; [ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench) || die "pgbench not found"
  PSQL=$PG_BIN/psql; [ -x "$PSQL" ] || PSQL=$(command -v psql) || die "psql not found"
  if [ "$(id -u)" = 0 ]; then   # postgres refuses to run as root
    if id postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
    command -v runuser >/dev/null || die "runuser not found (needed to run postgres as $PG_USER)"
    as_pg() { runuser -u "$PG_USER" -- "$@"; }
  else
    PG_USER=$(id -un); as_pg() { "$@"; }
  fi
fi

# The help is read once into a variable: `"$FS" bench --help | grep -q` under pipefail fails
# whenever grep exits before the writer is done (SIGPIPE), which silently drove flashsaga over
# HTTP at depth 1 while Redis got -P 16.
FS_BENCH_HELP=""
if has "$SYSTEMS" flashsaga; then FS_BENCH_HELP=$("$FS" bench --help 2>/dev/null || true); fi
if grep -q -- '--driver' <<<"$FS_BENCH_HELP"; then
  FS_HTTP=1   # this flashsaga can also be driven over HTTP (loopback TCP, like the peers)
  FS_HTTP_PIPELINE=${FS_HTTP_PIPELINE:-$REDIS_PIPELINE}
  grep -q -- '--pipeline' <<<"$FS_BENCH_HELP" || FS_HTTP_PIPELINE=""
fi

# ---------------------------------------------------------------------------------------------
# Workspace and cleanup: only what this script created.
WORK=$(mktemp -d /tmp/flashsaga-peers.XXXXXX)
[ -n "$OUT" ] || OUT=$HERE/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/logs"
RESULTS=$OUT/logs/results.jsonl
: >"$RESULTS"
REDIS_PID="" PG_DATA="" PG_DIR=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP PIPE
  stop_redis
  stop_pg
  [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
  rm -rf "$WORK"
  if [ "$MADE_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  exit "$rc"
}
stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  fi
}
stop_pg() {
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  PG_DATA=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# CPU seconds (user + system) from /proc: of a process (its threads), of the children this shell
# has reaped (the load drivers), and of a process tree (the postmaster, the children it reaped
# and the children it still has).
CLK_TCK=$(getconf CLK_TCK)
stat_fields() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null; }   # fields from 3 (state) on
proc_cpu() { stat_fields "$1" | awk -v t="$CLK_TCK" '{ printf "%.3f\n", ($12 + $13) / t }'; }
reaped_cpu() { stat_fields "$BASHPID" | awk -v t="$CLK_TCK" '{ printf "%.3f\n", ($14 + $15) / t }'; }
tree_cpu() {
  local total c
  total=$(stat_fields "$1" | awk -v t="$CLK_TCK" '{ printf "%.3f", ($12 + $13 + $14 + $15) / t }')
  for c in $(pgrep -P "$1" 2>/dev/null); do
    total=$(awk -v a="$total" -v b="$(proc_cpu "$c")" 'BEGIN { printf "%.3f", a + (b == "" ? 0 : b) }')
  done
  echo "$total"
}
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }

# record KEY=VALUE... : one JSON line per measured row
record() { "$PY" - "$@" >>"$RESULTS" <<'EOF'
import json, sys
row = {}
for a in sys.argv[1:]:
    k, v = a.split("=", 1)
    try:
        row[k] = int(v)
    except ValueError:
        try:
            row[k] = float(v)
        except ValueError:
            row[k] = v
print(json.dumps(row))
EOF
}

# scenario_params SCENARIO: sets SC_SKUS SC_STOCK SC_ZIPF
scenario_params() {
  case "$1" in
    flash-sale) SC_SKUS=1; SC_STOCK=$STOCK; SC_ZIPF=0 ;;
    catalog) SC_SKUS=$SKUS; SC_STOCK=$CATALOG_STOCK; SC_ZIPF=0 ;;
    catalog-zipf) SC_SKUS=$SKUS; SC_STOCK=$CATALOG_STOCK; SC_ZIPF=$ZIPF ;;
    *) die "unknown scenario $1" ;;
  esac
}
ppm() { "$PY" -c "print(round($1 * 1000000))"; }
COUPON_PPM=$(ppm "$COUPON_SHARE")
POINTS_PPM=$(ppm "$POINTS_SHARE")
WITH_COUPONS=$("$PY" -c "print(1 if $COUPON_SHARE > 0 else 0)")
WITH_POINTS=$("$PY" -c "print(1 if $POINTS_SHARE > 0 else 0)")

# ---------------------------------------------------------------------------------------------
# flashsaga
run_flashsaga() {  # SCENARIO DURABILITY [DRIVER]
  local sc=$1 dur=$2 driver=${3:-client} bench_sc=$1 extra=() system=flashsaga
  local json=$WORK/fs-$1-$2-$driver.json
  scenario_params "$sc"
  if [ "$sc" = flash-sale ]; then extra=(--stock "$SC_STOCK")
  else bench_sc=catalog; extra=(--skus "$SC_SKUS" --stock "$SC_STOCK" --zipf "$SC_ZIPF"); fi
  if [ "$driver" = http ]; then
    extra+=(--driver http --connections "$FS_HTTP_CONNECTIONS"); system=flashsaga-http
    if [ -n "$FS_HTTP_PIPELINE" ]; then extra+=(--pipeline "$FS_HTTP_PIPELINE"); fi
  fi
  local logf=$OUT/logs/$system-$sc-$dur.log
  log "$system $sc $dur"
  local cmd=("$FS" bench "$bench_sc" --durability "$dur" --orders "$ORDERS" --buyers "$BUYERS" "${extra[@]}"
             --coupon-share "$COUPON_SHARE" --points-share "$POINTS_SHARE" --seed 1 --json "$json")
  echo "${cmd[*]}" >"$logf"
  if ! "${cmd[@]}" >>"$logf" 2>&1 || [ ! -s "$json" ]; then
    log "$system $sc $dur FAILED (see $logf)"
    record scenario="$sc" system="$system" variant="$dur" durability="$dur" pair="$dur" failed=1
    return 0
  fi
  "$PY" - "$json" "$sc" "$dur" "$system" >>"$RESULTS" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
if sys.argv[3] in j and isinstance(j[sys.argv[3]], dict):   # {"durability": "both", "sync": {...}}
    j = j[sys.argv[3]]
print(json.dumps({"scenario": sys.argv[2], "system": sys.argv[4], "variant": sys.argv[3], "durability": sys.argv[3],
                  "pair": sys.argv[3], "attempts": j["attempts"], "completed": j["completed"],
                  "attempts_per_s": j["attempts_per_s"], "completed_per_s": j["completed_per_s"],
                  "admitted": j.get("admitted"), "sold_out": j.get("sold_out"), "cancelled": j.get("cancelled"),
                  "check": "clean" if j.get("check_clean") else "VIOLATIONS",
                  "commits_per_order": j.get("commits_per_order"),
                  "cpu_s_per_1k_attempts": j.get("cpu_s_per_1k_attempts")}))
EOF
}

# ---------------------------------------------------------------------------------------------
# Redis
REDIS_PORT=""
start_redis() {  # NAME PERSISTENCE(none|everysec|always)
  local dir=$WORK/redis-$1 persist=()
  mkdir -p "$dir"
  case "$2" in
    none) persist=(--appendonly no) ;;
    everysec|always) persist=(--appendonly yes --appendfsync "$2") ;;
  esac
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save "" "${persist[@]}" \
    --daemonize no --protected-mode yes --logfile "$dir/redis.log" &
  REDIS_PID=$!
  local i
  for i in $(seq 200); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at start (see $dir/redis.log)"
    sleep 0.05
  done
  die "redis-server did not answer on 127.0.0.1:$REDIS_PORT"
}
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
run_redis() {  # SCENARIO KIND(stock|order) PERSISTENCE
  local sc=$1 kind=$2 persist=$3 name=redis-$1-$2-$3
  scenario_params "$sc"
  local zipf_flag=0; [ "$SC_ZIPF" != 0 ] && zipf_flag=1
  log "redis $sc $kind (persistence $persist)"
  start_redis "$name" "$persist"
  rcli EVAL "$(cat "$HERE/redis/load.lua")" 0 "$SC_SKUS" "$SC_STOCK" "$BUYERS" 0 "$WITH_POINTS" "$WITH_COUPONS" \
    "$SC_ZIPF" >/dev/null
  local sha; sha=$(rcli SCRIPT LOAD "$(cat "$HERE/redis/$kind.lua")")
  local before_total; before_total=$(rcli EVAL "local s=0 for i=1,tonumber(ARGV[1]) do s=s+tonumber(redis.call('GET','stock:'..i)) end return s" 0 "$SC_SKUS")
  local cmd=(redis-benchmark -p "$REDIS_PORT" -c "$REDIS_CLIENTS" -P "$REDIS_PIPELINE" -n "$ORDERS" -r "$REDIS_R" --csv
             EVALSHA "$sha" 0 __rand_int__ __rand_int__ __rand_int__ __rand_int__
             "$BUYERS" "$SC_SKUS" "$COUPON_PPM" "$POINTS_PPM" "$zipf_flag" "$REDIS_R")
  echo "${cmd[*]}" >"$OUT/logs/$name.log"
  local t0 t1 srv0 drv0 srv1 drv1; t0=$(date +%s.%N)
  srv0=$(proc_cpu "$REDIS_PID"); drv0=$(reaped_cpu)
  "${cmd[@]}" >>"$OUT/logs/$name.log" 2>&1 || { stop_redis; die "redis-benchmark failed (see $OUT/logs/$name.log)"; }
  drv1=$(reaped_cpu); srv1=$(proc_cpu "$REDIS_PID")
  t1=$(date +%s.%N)
  local cpu_server cpu_driver; cpu_server=$(fsub "$srv1" "$srv0"); cpu_driver=$(fsub "$drv1" "$drv0")
  local rps; rps=$("$PY" - "$OUT/logs/$name.log" <<'EOF'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 1 and r[0].startswith("EVALSHA")]
print(rows[-1][1] if rows else 0)
EOF
)
  local left first last orders errs
  left=$(rcli EVAL "local s=0 for i=1,tonumber(ARGV[1]) do s=s+tonumber(redis.call('GET','stock:'..i)) end return s" 0 "$SC_SKUS")
  first=$(rcli GET t:first); last=$(rcli GET t:last)
  orders=$(rcli GET seq:order); [ -n "$orders" ] || orders=0
  errs=$(rcli INFO errorstats | grep -c '^errorstat' || true)
  local sold=$((before_total - left)) completed check=clean
  if [ "$kind" = order ]; then completed=$orders; [ "$sold" = "$orders" ] || check="stock $sold != orders $orders"
  else completed=$sold; fi
  [ "$left" -ge 0 ] || check="oversold"
  [ "$errs" = 0 ] || check="script errors (INFO errorstats)"
  rcli INFO persistence >"$OUT/logs/$name.persistence" 2>&1 || true
  stop_redis
  "$PY" - "$sc" "$kind" "$persist" "$ORDERS" "$completed" "$rps" "${first:-0}" "${last:-0}" "$check" "$t0" "$t1" "$cpu_server" "$cpu_driver" >>"$RESULTS" <<'EOF'
import json, sys
sc, kind, persist, attempts, completed, rps, first, last, check, t0, t1, cpu_server, cpu_driver = sys.argv[1:]
attempts, completed, rps = int(attempts), int(completed), float(rps)
span = (int(last) - int(first)) / 1e6
cps = completed / span if span > 0 else (completed / (float(t1) - float(t0)))
pair = {"always": "sync", "everysec": "interval", "none": "nosync"}[persist]
durability = {"none": "none (memory only)", "everysec": "AOF everysec", "always": "AOF always"}[persist]
print(json.dumps({"scenario": sc, "system": "redis-" + kind, "variant": persist, "durability": durability,
                  "pair": pair, "attempts": attempts, "completed": completed, "attempts_per_s": rps,
                  "completed_per_s": cps, "check": check,
                  "cpu_s_per_1k_attempts": (float(cpu_server) + float(cpu_driver)) / attempts * 1000,
                  "cpu_server_s": float(cpu_server), "cpu_driver_s": float(cpu_driver)}))
EOF
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
PG_PORT=""
start_pg() {
  PG_DIR=$(mktemp -d /tmp/flashsaga-peers-pg.XXXXXX)
  chown "$PG_USER" "$PG_DIR" 2>/dev/null || true
  chmod 700 "$PG_DIR"
  PG_DATA=$PG_DIR/data
  PG_PORT=$(free_port)
  log "PostgreSQL: initdb in $PG_DIR (user $PG_USER, port $PG_PORT)"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C -N >"$OUT/logs/pg-initdb.log" 2>&1 \
    || die "initdb failed (see $OUT/logs/pg-initdb.log)"
  # Durable WAL (fsync on, full_page_writes on); checkpoints pushed out of the runs; the
  # per-run synchronous_commit is set by the clients (PGOPTIONS).
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c max_connections=200 \
     -c shared_buffers=512MB -c max_wal_size=8GB -c checkpoint_timeout=30min -c fsync=on \
     -c synchronous_commit=on -c wal_level=minimal -c max_wal_senders=0" >/dev/null \
    || { cp "$PG_DIR/server.log" "$OUT/logs/pg-server.log" 2>/dev/null; die "postgres did not start (see $OUT/logs/pg-server.log)"; }
}
pq() { "$PSQL" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
run_pg() {  # SCENARIO STYLE(app|fn) SYNC(on|off)
  local sc=$1 style=$2 sync=$3 name=pg-$1-$2-$3
  scenario_params "$sc"
  log "postgres $sc $style (synchronous_commit $sync)"
  pq -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >/dev/null
  pq -d bench -v skus="$SC_SKUS" -v stock="$SC_STOCK" -v buyers="$BUYERS" -v max_per_user=0 \
    -v with_points="$WITH_POINTS" -v with_coupons="$WITH_COUPONS" -f "$HERE/pg/schema.sql" >/dev/null
  pq -d bench -c "CHECKPOINT" >/dev/null
  local zipf_s=$SC_ZIPF
  local count_args
  if [ "$sc" = flash-sale ]; then count_args=(-t $(((ORDERS + PG_CLIENTS - 1) / PG_CLIENTS)))
  else count_args=(-T "$PG_SECONDS"); fi
  local cmd=("$PGBENCH" -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$PG_CLIENTS" -j 2 "${count_args[@]}"
             -f "$HERE/pg/order_$style.sql" -D buyers="$BUYERS" -D skus="$SC_SKUS" -D coupon_ppm="$COUPON_PPM"
             -D points_ppm="$POINTS_PPM" -D zipf_s="$zipf_s" bench)
  echo "PGOPTIONS='-c synchronous_commit=$sync' ${cmd[*]}" >"$OUT/logs/$name.log"
  local pm srv0 drv0 srv1 drv1; pm=$(head -1 "$PG_DATA/postmaster.pid")
  srv0=$(tree_cpu "$pm"); drv0=$(reaped_cpu)
  PGOPTIONS="-c synchronous_commit=$sync" "${cmd[@]}" >>"$OUT/logs/$name.log" 2>&1 \
    || die "pgbench failed (see $OUT/logs/$name.log)"
  drv1=$(reaped_cpu); sleep 0.2; srv1=$(tree_cpu "$pm")   # the backends have exited and been reaped
  local tps txns failed
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$OUT/logs/$name.log")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$OUT/logs/$name.log")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$OUT/logs/$name.log")
  grep -q "aborted" "$OUT/logs/$name.log" && die "pgbench clients aborted (see $OUT/logs/$name.log)"
  local facts
  facts=$(pq -d bench -At -F ' ' -c "SELECT (SELECT count(*) FROM orders),
      coalesce((SELECT extract(epoch FROM max(created_at) - min(created_at)) FROM orders), 0),
      (SELECT sum(total - stock) FROM products), (SELECT min(stock) FROM products),
      (SELECT count(*) FROM payments), (SELECT count(*) FROM wallets WHERE balance < 0)")
  "$PY" - "$sc" "$style" "$sync" "${txns:-0}" "${tps:-0}" "${failed:-0}" "$(fsub "$srv1" "$srv0")" "$(fsub "$drv1" "$drv0")" $facts >>"$RESULTS" <<'EOF'
import json, sys
sc, style, sync, txns, tps, failed, cpu_server, cpu_driver, orders, span, sold, min_stock, payments, negative = sys.argv[1:]
orders, span, sold, payments = int(orders), float(span), int(sold), int(payments)
check = "clean"
if sold != orders or payments != orders: check = f"stock sold {sold}, orders {orders}, payments {payments}"
if int(min_stock) < 0 or int(negative) > 0: check = "NEGATIVE balance or stock"
if int(failed) > 0: check += f", {failed} failed transactions"
print(json.dumps({"scenario": sc, "system": "postgres-" + style, "variant": "sync_commit " + sync,
                  "durability": "synchronous_commit " + sync, "pair": "sync" if sync == "on" else "interval",
                  "attempts": int(txns), "completed": orders, "attempts_per_s": float(tps),
                  "completed_per_s": orders / span if span > 0 else 0.0, "check": check,
                  "cpu_s_per_1k_attempts": (float(cpu_server) + float(cpu_driver)) / int(txns) * 1000 if int(txns) else 0,
                  "cpu_server_s": float(cpu_server), "cpu_driver_s": float(cpu_driver)}))
EOF
}

# ---------------------------------------------------------------------------------------------
T_START=$(date +%s)
log "results in $OUT; scenarios $SCENARIOS; systems $SYSTEMS"
IFS=, read -r -a SC_LIST <<<"$SCENARIOS"
has "$SYSTEMS" pg && start_pg
# Scenario by scenario, every system back to back, so the rows compared are measured close in time
# on this shared machine.
for sc in "${SC_LIST[@]}"; do
  if has "$SYSTEMS" flashsaga; then
    for d in sync interval nosync; do run_flashsaga "$sc" "$d"; done
    if [ "$FS_HTTP" = 1 ]; then for d in sync interval nosync; do run_flashsaga "$sc" "$d" http; done; fi
  fi
  if has "$SYSTEMS" redis; then
    run_redis "$sc" stock none
    for p in none everysec always; do run_redis "$sc" order "$p"; done
  fi
  if has "$SYSTEMS" pg; then
    for style in app fn; do for s in on off; do run_pg "$sc" "$style" "$s"; done; done
  fi
done
if has "$SYSTEMS" pg; then
  cp "$PG_DIR/server.log" "$OUT/logs/pg-server.log" 2>/dev/null || true
  stop_pg
fi

"$PY" "$HERE/report.py" --results "$RESULTS" --out "$OUT" \
  --param quick="$QUICK" --param orders="$ORDERS" --param flash_stock="$STOCK" --param buyers="$BUYERS" \
  --param skus="$SKUS" --param catalog_stock="$CATALOG_STOCK" --param zipf="$ZIPF" \
  --param coupon_share="$COUPON_SHARE" --param points_share="$POINTS_SHARE" --param pg_seconds="$PG_SECONDS" \
  --param pg_clients="$PG_CLIENTS" --param redis_clients="$REDIS_CLIENTS" --param redis_pipeline="$REDIS_PIPELINE" --param flashsaga_http_pipeline="${FS_HTTP_PIPELINE:-1}" \
  --param flashsaga="$FS" --param seconds_total="$(( $(date +%s) - T_START ))" \
  --param nproc="$(nproc)" --param loadavg="$(cut -d' ' -f1-3 /proc/loadavg)"
