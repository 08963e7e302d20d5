#!/usr/bin/env bash
# install_consumer: `cmake --install` into a temporary prefix, then a program outside the tree
# (tests/install/consumer) configured with find_package(flashsaga) against that prefix, built,
# and run against a real deployment started from the installed binary: it places an order over
# the rings and sees it COMPLETED.
#   install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR [CMAKE]
set -euo pipefail
build=$1 consumer_src=$2 cmake=${3:-cmake}
work=$(mktemp -d /tmp/flashsaga-install-XXXXXX)
supervisor=""
cleanup() {
  if [ -n "$supervisor" ]; then kill -TERM "$supervisor" 2>/dev/null || true; wait "$supervisor" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for f in bin/flashsaga etc/flashsaga/flashsaga.toml lib/systemd/system/flashsaga.service \
         include/flashsaga/engine/client.h lib/cmake/flashsaga/flashsagaConfig.cmake \
         lib/libflashsaga_client.a; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
grep -q "^ExecStart=$prefix/bin/flashsaga run --config $prefix/etc/flashsaga/flashsaga.toml " \
  "$prefix/lib/systemd/system/flashsaga.service" || fail "the installed unit does not name the installed binary and config"
echo "install_test: installed into $prefix"

# The consumer: its own project, only the installed prefix on its search path.
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
"$cmake" -S "$consumer_src" -B "$work/consumer" "${generator[@]}" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configuring the consumer with find_package(flashsaga)"; }
"$cmake" --build "$work/consumer" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "building the consumer"; }
echo "install_test: consumer built against $prefix/lib/cmake/flashsaga"

# A real deployment from the installed binary, small geometry, domains only.
cat >"$work/flashsaga.toml" <<TOML
[deployment]
data_dir = "$work/data"
durability = "nosync"
[rings]
saga_capacity_slots = 4096
port_capacity_slots = 1024
[stock]
products_max = 4096
[journal]
map_size_mib = 64
TOML
"$prefix/bin/flashsaga" run --no-gateway --config "$work/flashsaga.toml" >"$work/run.log" 2>&1 &
supervisor=$!
out=$(timeout 90 "$work/consumer/place_order" --config "$work/flashsaga.toml") || {
  cat "$work/run.log"; fail "place_order: $out"; }
echo "install_test: $out"
[[ "$out" == *COMPLETED* ]] || fail "the order did not complete"
kill -TERM "$supervisor"
status=0
wait "$supervisor" || status=$?
supervisor=""
[ "$status" -eq 0 ] || { cat "$work/run.log"; fail "flashsaga run exited $status on SIGTERM"; }
echo "install_test: OK"
