#!/usr/bin/env bash
# catalog_test: a three-node JetStream cluster and three cells (tools/cluster.sh); products
# created at their home cell reach every cell (GET /products/{id}); user ids carry their cell
# and a request at the wrong cell gets 421 naming the right one; kill -9 of one NATS node and
# of a cell's link does not lose a product; `flashsaga cluster-check` (every cell's
# own invariants and the cross-cell ones) stays clean.
# Usage: catalog_test.sh REPO FLASHSAGA_BINARY. Exit 77: skipped (the reason on stderr).
set -uo pipefail
repo="$1"
export FLASHSAGA="$2"
command -v nats-server >/dev/null || { echo "SKIP: nats-server is not installed (tools/setup.sh)" >&2; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed" >&2; exit 77; }
dir="$(mktemp -d /tmp/flashsaga-cells.XXXXXX)"
cluster="$repo/tools/cluster.sh"
base="$("$cluster" free-base)" || { echo "FAIL: no free ports" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; for f in "$dir"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }
cleanup() { "$cluster" stop "$dir" >/dev/null 2>&1; rm -rf "$dir"; }
trap cleanup EXIT

url() { echo "http://127.0.0.1:$((base + 100 + $1))"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
create_product() {  # cell name stock -> id
  curl -sf -X POST "$(url "$1")/products" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$2\",\"price\":1000,\"stock\":$3}" | json_field "['id']"
}
wait_product() {  # cell id seconds
  local deadline=$((SECONDS + $3))
  until curl -sf -o /dev/null "$(url "$1")/products/$2"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

"$cluster" start "$dir" "$base" >/dev/null || fail "cluster did not start"

# Ids carry their home cell: id % 3 == cell.
declare -a products
for c in 0 1 2; do
  id="$(create_product "$c" "lamp-$c" 10)" || fail "create product at cell $c"
  [ $((id % 3)) -eq "$c" ] || fail "product $id created at cell $c does not carry its cell"
  products[$c]="$id"
done
for c in 0 1 2; do
  for other in 0 1 2; do
    wait_product "$other" "${products[$c]}" 20 || fail "product ${products[$c]} of cell $c never reached cell $other"
  done
done
stock="$(curl -sf "$(url 1)/products/${products[0]}")" || fail "GET replica"
echo "$stock" | grep -q '"lamp-0"' || fail "replica lacks its name: $stock"

# A user of cell 1 asked for at cell 0: 421 naming cell 1.
uid="$(curl -sf -X POST "$(url 1)/users" -H 'Content-Type: application/json' \
  -d '{"name":"Kim","email":"kim@example.com"}' | json_field "['id']")" || fail "create user"
[ $((uid % 3)) -eq 1 ] || fail "user $uid of cell 1 does not carry its cell"
code="$(curl -s -o "$dir/421.json" -w '%{http_code}' "$(url 0)/users/$uid")"
[ "$code" = 421 ] || fail "GET another cell's user answered $code, not 421"
grep -q "\"address\":\"$(url 1)\"" "$dir/421.json" || fail "421 does not name cell 1: $(cat "$dir/421.json")"
code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url 2)/orders" -H 'Content-Type: application/json' \
  -d "{\"user_id\":$uid,\"items\":[{\"product_id\":${products[2]},\"quantity\":1}]}")"
[ "$code" = 421 ] || fail "POST /orders for another cell's user answered $code, not 421"
curl -sf -o /dev/null "$(url 1)/users/$uid" || fail "GET the user at its own cell"

# kill -9 of one NATS node, and of cell 2's link: products created meanwhile still arrive.
kill -9 "$("$cluster" nats-pid "$dir" 0)"
pkill_link() {  # the cells child of cell $1's supervisor, by its parent pid
  local sup child
  sup="$("$cluster" cell-pid "$dir" "$1")"
  for child in $(pgrep -P "$sup"); do
    grep -q 'cells' "/proc/$child/cmdline" 2>/dev/null && kill -9 "$child"
  done
}
pkill_link 2
late="$(create_product 0 late 5)" || fail "create a product with a NATS node down"
for other in 1 2; do
  wait_product "$other" "$late" 40 || fail "product $late (created with a node down) never reached cell $other"
done

# Every cell's own invariants and the cross-cell ones, live and after a graceful stop.
"$FLASHSAGA" cluster-check "$dir/cluster.toml" >"$dir/check-live.log" 2>&1 ||
  fail "cluster-check (live): $(tail -8 "$dir/check-live.log")"
"$cluster" stop "$dir" >/dev/null
"$FLASHSAGA" cluster-check "$dir/cluster.toml" >"$dir/check.log" 2>&1 || fail "cluster-check: $(tail -8 "$dir/check.log")"
grep -q " 4 products, 8 replicas, 0 replicas still in flight" "$dir/check.log" ||
  fail "cluster-check did not see every replica: $(grep '== across' "$dir/check.log")"
echo "ok: catalog replicated across 3 cells, 421 for another cell's user, survives kill -9 of a NATS node and a link"
