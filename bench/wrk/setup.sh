#!/usr/bin/env bash
# setup.sh BASE_URL USERS STOCK [PRICE]: prepares a flash sale for bench/wrk/orders.lua on a
# fresh deployment: USERS buyers (ids 1..USERS on a fresh deployment) with money in their
# wallets, and one product (id 1 on a fresh deployment) with STOCK units. Needs curl and xargs.
# PARALLEL=8 (default) requests at once; 10,000 buyers take well under a minute.
set -euo pipefail
base=${1:-http://127.0.0.1:8080}
users=${2:-1000}
stock=${3:-10000}
price=${4:-100}
parallel=${PARALLEL:-8}
curl -sf -X POST "$base/products" -H 'Content-Type: application/json' \
     -d "{\"name\":\"hot sku\",\"price\":$price,\"stock\":$stock}"
echo
seq 1 "$users" | xargs -P "$parallel" -I{} bash -c '
  id=$(curl -sf -X POST "$0/users" -H "Content-Type: application/json" \
         -d "{\"name\":\"buyer {}\",\"email\":\"buyer{}-$RANDOM$RANDOM@example.com\"}" | sed -E "s/.*\"id\":([0-9]+).*/\1/")
  curl -sf -o /dev/null -X POST "$0/users/$id/wallet/deposits" -H "Content-Type: application/json" \
       -d "{\"amount\":1000000000}"' "$base"
echo "seeded $users buyers and 1 product of $stock units at $base"
