#!/usr/bin/env bash
# package_install: builds the Debian package (cpack -G DEB), holds it to lintian (no errors;
# warnings printed), installs it on this machine (dpkg -i; then its postinst again: it is
# idempotent), checks what it installed (binary, unit, conffile, user, /var/lib/flashsaga 0700),
# runs `systemd-analyze verify` on the installed unit, starts the service (systemctl where
# systemd is PID 1; otherwise the unit's ExecStart as the package's user, with setpriv), sees
# /healthz 200, then purges the package. Skips (exit 77) when not root, without dpkg or when a
# flashsaga package is already installed (it is not ours to remove).
#   package_test.sh BUILD_DIR CPACK
set -euo pipefail
build=$1 cpack=$2
at() { printf '[%3d s] ' "$SECONDS"; }  # time since the start, in the log
skip() { echo "package_test: SKIPPED: $*"; exit 77; }
fail() { at; echo "package_test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i installs on this machine)"
command -v dpkg >/dev/null && command -v dpkg-deb >/dev/null || skip "dpkg is not installed"
case "$(dpkg-query -W -f='${Status}' flashsaga 2>/dev/null || true)" in
  ""|*" not-installed") ;;
  *) skip "a flashsaga package is already on this machine ($(dpkg-query -W -f='${Status}' flashsaga))" ;;
esac

work=$(mktemp -d /tmp/flashsaga-package-XXXXXX)
server=""
installed=0
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" || true; fi
  if [ "$installed" = 1 ]; then dpkg --purge flashsaga >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build it.
(cd "$build" && "$cpack" -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$work"/out/flashsaga_*.deb)
at; echo "package_test: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"

# 2. lintian: no errors. Tags of lower severity are printed.
if command -v lintian >/dev/null; then
  lintian_rc=0
  lintian --fail-on error --display-info "$deb" >"$work/lintian.log" 2>&1 || lintian_rc=$?
  at; echo "package_test: lintian (exit $lintian_rc):"
  sed 's/^/  /' "$work/lintian.log"
  [ "$lintian_rc" -eq 0 ] || fail "lintian reports errors"
else
  fail "lintian is not installed (tools/setup.sh installs it)"
fi

# 3. Install it, then run its postinst once more as an upgrade would (an existing user and
# directory: it must succeed and change nothing).
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
installed=1
/var/lib/dpkg/info/flashsaga.postinst configure "$(dpkg-query -W -f='${Version}' flashsaga)" \
  >"$work/postinst2.log" 2>&1 || { cat "$work/postinst2.log"; fail "postinst configure a second time"; }
[ -x /usr/bin/flashsaga ] || fail "/usr/bin/flashsaga missing"
unit=/lib/systemd/system/flashsaga.service
[ -f "$unit" ] || fail "$unit missing"
dpkg-query -W -f='${Conffiles}\n' flashsaga | grep -q '/etc/flashsaga/flashsaga.toml' \
  || fail "/etc/flashsaga/flashsaga.toml is not a conffile"
getent passwd flashsaga >/dev/null || fail "no flashsaga user"
[ "$(stat -c '%a %U %G' /var/lib/flashsaga)" = "700 flashsaga flashsaga" ] \
  || fail "/var/lib/flashsaga is $(stat -c '%a %U %G' /var/lib/flashsaga), not 700 flashsaga flashsaga"
at; echo "package_test: installed: /usr/bin/flashsaga, $unit, conffile /etc/flashsaga/flashsaga.toml," \
     "user $(getent passwd flashsaga | cut -d: -f1,3,6,7), /var/lib/flashsaga 0700"

# 4. systemd-analyze verify on the installed unit.
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
  at; echo "package_test: systemd-analyze verify $unit: clean"
else
  at; echo "package_test: systemd-analyze is not installed: verify step SKIPPED"
fi

# 5. Run it and see /healthz 200.
healthz() {  # PORT -> waits up to 30 s for 200
  local code=""
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "last answer: ${code:-none}"; return 1
}
if [ "$(cat /proc/1/comm)" = systemd ]; then
  systemctl start flashsaga.service
  port=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' /etc/flashsaga/flashsaga.toml | head -1)
  healthz "$port" || { systemctl status flashsaga.service || true; fail "no /healthz 200 from the service"; }
  at; echo "package_test: systemctl start flashsaga: /healthz 200 on port $port"
  systemctl stop flashsaga.service
else
  # No systemd here: the unit's ExecStart, as its User/Group with its UMask, on a free port.
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  user=$(sed -n 's/^User=//p' "$unit") group=$(sed -n 's/^Group=//p' "$unit")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  read -r -a argv <<<"$exec_start"
  (umask 0077; exec setpriv --reuid="$user" --regid="$group" --init-groups -- "${argv[@]}" --port "$port") \
    >"$work/service.log" 2>&1 &
  server=$!
  healthz "$port" || { cat "$work/service.log"; fail "no /healthz 200 from ExecStart run as $user"; }
  at; echo "package_test: PID 1 is $(cat /proc/1/comm), not systemd: ran ExecStart as $user: /healthz 200 on port $port"
  [ "$(stat -c %U /var/lib/flashsaga/data)" = "$user" ] || fail "the journals are not owned by $user"
  kill -TERM "$server"
  status=0
  wait "$server" || status=$?
  server=""
  [ "$status" -eq 0 ] || { cat "$work/service.log"; fail "the service exited $status on SIGTERM"; }
fi

# 6. Purge: binary, unit, config and state gone.
dpkg --purge flashsaga >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
installed=0
for f in /usr/bin/flashsaga "$unit" /etc/flashsaga /var/lib/flashsaga; do
  [ ! -e "$f" ] || fail "$f left after purge"
done
at; echo "package_test: purged; OK"
