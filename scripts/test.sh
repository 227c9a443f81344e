#!/usr/bin/env bash
# Runs every test of holter: unit, format, analyzer and end-to-end tests
# against real containers (as root; elsewhere privileged tests say why they skip).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo test --workspace --locked "$@"
