#!/usr/bin/env bash
# Regenerates the golden files of today's output (never a fixture of a past
# format version: those are immutable and checked by hash). Review the diff
# before committing: the golden tests also check facts of their own, which
# must still pass.
#   scripts/bless.sh            every golden file
#   scripts/bless.sh svg        fixtures/flamegraph/standard.svg only
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case "$what" in
  all|svg)
    HOLTER_BLESS=flamegraph/standard.svg cargo test -q -p holter --test flamegraph golden_svg
    ;;
  *)
    echo "usage: scripts/bless.sh [svg]" >&2
    exit 2
    ;;
esac
git status --short fixtures/
