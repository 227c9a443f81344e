#!/usr/bin/env bash
# Runs every test of holter: unit, format and analyzer tests, then the
# end-to-end tests against real containers (as root; elsewhere privileged tests
# skip and say why). Arguments are passed on as test name filters.
#
# Skipped tests are logged (HOLTER_SKIP_LOG, appended to by the tests) and
# counted on the last line of stdout, with their reasons. Under
# HOLTER_REQUIRE_PRIVILEGED (anything but empty or 0, as in CI) a missing
# privilege, tool or hierarchy fails its test, and any skip fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
skip_log=$(mktemp -t holter-skips.XXXXXX)
export HOLTER_SKIP_LOG="$skip_log"
report_skips() {
  local rc=$? n
  n=$(grep -c . "$skip_log" || true)
  if [ "$n" -eq 0 ]; then
    echo "holter tests: 0 skipped"
  else
    echo "holter tests: $n skipped: $(awk 'NR > 1 { printf "; " } { printf "%s", $0 }' "$skip_log")"
  fi
  rm -f "$skip_log"
  local strict=${HOLTER_REQUIRE_PRIVILEGED:-}
  if [ "$rc" -eq 0 ] && [ "$n" -ne 0 ] && [ -n "$strict" ] && [ "$strict" != 0 ]; then
    echo "holter tests: HOLTER_REQUIRE_PRIVILEGED is set and $n tests were skipped" >&2
    rc=1
  fi
  exit "$rc"
}
trap report_skips EXIT
scripts/deps.sh
cargo test --workspace --locked --no-fail-fast --exclude holter-e2e -- "$@"
# The binaries the end-to-end tests run, built from these sources (the tests
# build them too, should they be run alone).
cargo build --workspace --locked --bins
# One at a time: they measure real CPU time, throttling and latency, which
# containers of two tests running side by side on a small node would skew.
cargo test --locked --no-fail-fast -p holter-e2e -- --test-threads=1 "$@"
