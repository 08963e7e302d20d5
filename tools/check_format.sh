#!/usr/bin/env bash
# check_format.sh [ROOT]: every tracked C++ file is exactly as clang-format writes it with the
# repository's .clang-format (clang-format 14, Debian 12's: another major version formats some
# constructs differently, so it skips rather than fail). Fix with
#   git ls-files '*.cc' '*.h' | xargs clang-format -i
# Exit 0 clean, 1 with the files to reformat, 77 skipped (ctest SKIP_RETURN_CODE).
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
if ! command -v clang-format >/dev/null; then
  echo "check_format: skipped, clang-format is not installed (tools/setup.sh installs it)"
  exit 77
fi
version=$(clang-format --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
  echo "check_format: skipped, clang-format $version is not the house's 14"
  exit 77
fi
if ! files=$(git ls-files '*.cc' '*.h' 2>/dev/null) || [ -z "$files" ]; then
  echo "check_format: skipped, not a git checkout"
  exit 77
fi
# One clang-format for every file; a file out of style shows as FILE:LINE:COL: error: lines.
bad=$(echo "$files" | xargs clang-format --dry-run -Werror 2>&1 | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error:.*/\1/p' | sort -u || true)
if [ -n "$bad" ]; then
  echo "check_format: $(echo "$bad" | wc -l) file(s) not in the house style (clang-format -i FILE):"
  echo "$bad" | sed 's/^/  /'
  exit 1
fi
echo "check_format: ok ($(echo "$files" | wc -l) files)"
