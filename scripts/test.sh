#!/usr/bin/env bash
# Runs every test of holter: unit, format and analyzer tests, then the
# end-to-end tests against real containers (as root; elsewhere privileged tests
# say why they skip). Arguments are passed on as test name filters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace --locked --exclude holter-e2e -- "$@"
# One at a time: they measure real CPU time, throttling and latency, which
# containers of two tests running side by side on a small node would skew.
cargo test --locked -p holter-e2e -- --test-threads=1 "$@"
