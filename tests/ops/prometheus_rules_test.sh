#!/usr/bin/env bash
# prometheus_rules_test.sh DEPLOY_DIR TESTS.yml: `promtool check rules` on the alert rules and
# `promtool test rules` on their unit tests. Exit 77 (skipped) when promtool is not installed.
set -euo pipefail
deploy="${1:?usage: prometheus_rules_test.sh DEPLOY_DIR TESTS.yml}"
tests="${2:?usage: prometheus_rules_test.sh DEPLOY_DIR TESTS.yml}"
if ! command -v promtool >/dev/null; then
  echo "SKIPPED: promtool is not installed (Debian package prometheus; tools/setup.sh)"
  exit 77
fi
promtool check rules "$deploy/flashsaga-alerts.yml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$deploy/flashsaga-alerts.yml" "$tests" "$work/"
(cd "$work" && promtool test rules "$(basename "$tests")")
