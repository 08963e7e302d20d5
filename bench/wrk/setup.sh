#!/usr/bin/env bash
# setup.sh BASE_URL USERS STOCK [PRICE]: prepares a flash sale for bench/wrk/orders.lua on a
# fresh deployment: USERS buyers (ids 1..USERS) with money in their wallets, and one product
# (id 1 on a fresh deployment) with STOCK units. Needs curl.
set -euo pipefail
base=${1:-http://127.0.0.1:8080}
users=${2:-1000}
stock=${3:-10000}
price=${4:-100}
for ((i = 1; i <= users; i++)); do
  id=$(curl -sf -X POST "$base/users" -H 'Content-Type: application/json' \
         -d "{\"name\":\"buyer $i\",\"email\":\"buyer$i-$RANDOM$RANDOM@example.com\"}" | sed -E 's/.*"id":([0-9]+).*/\1/')
  curl -sf -o /dev/null -X POST "$base/users/$id/wallet/deposits" -H 'Content-Type: application/json' \
       -d '{"amount":1000000}'
done
curl -sf -X POST "$base/products" -H 'Content-Type: application/json' \
     -d "{\"name\":\"hot sku\",\"price\":$price,\"stock\":$stock}"
echo
