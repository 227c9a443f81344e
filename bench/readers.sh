#!/usr/bin/env bash
# The cost of reading container files through reader processes (host/reader.rs)
# instead of on the agent's threads.
#  1. The read itself: the executable and libraries of python3 read whole,
#     on the calling thread vs through a reader process, interleaved in one
#     run (agent/examples/reader_bench.rs; page cache warm).
#  2. A capture: holter-agent CPU (user+sys, its readers included: they are
#     its reaped children) recording /usr/bin/python3 (bench/busy.py, pid given) for
#     4 s at 999 Hz with --unwind dwarf, BEFORE (an agent built without
#     readers: BEFORE=path, required) vs this tree's, REPEAT rounds
#     interleaved, medians, and the ratio. HOLTER_NO_SYNC=1 for both (the
#     sync thread is not what is measured).
# Needs root and Debian's python3 (/usr/bin/python3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPEAT=${REPEAT:-5}
: "${BEFORE:?BEFORE=path/to/an older holter-agent}"
(cd "$ROOT" && cargo build -q -p holter-agent --example reader_bench)
AFTER=$ROOT/target/debug/holter-agent
WL=
TMP=$(mktemp -d -t holter-bench-readers-XXXXXX)
trap '[ -n "$WL" ] && kill "$WL" 2>/dev/null || true; rm -rf "$TMP"' EXIT
. "$ROOT/bench/lib.sh"

PY=$(readlink -f /usr/bin/python3)
LIBS=$(ldd "$PY" | awk '/=>/ { print $3 }' | xargs -n1 readlink -f)
echo "== reading python3's files whole (debug build)"
# shellcheck disable=SC2086
"$ROOT/target/debug/examples/reader_bench" 30 "$PY" $LIBS

echo "== agent CPU recording python3 for 4 s (--unwind dwarf, 999 Hz)"
run() { # TOOL: agent user+sys ms of one capture of a fresh python3
    local agent=$BEFORE
    [ "$1" = after ] && agent=$AFTER
    /usr/bin/python3 "$ROOT/bench/busy.py" &
    WL=$!
    sleep 0.3
    HOLTER_NO_SYNC=1 /usr/bin/time -f "%U %S" -o "$TMP/cpu" "$agent" record --pid "$WL" \
        --duration 4s --frequency 999 --unwind dwarf --force -o "$TMP/out.holter" 2>/dev/null
    kill "$WL" 2>/dev/null || true
    wait "$WL" 2>/dev/null || true
    awk '{ printf "%d\n", ($1 + $2) * 1000 }' "$TMP/cpu"
}
interleave "$REPEAT" before after
b=$(median_of before)
a=$(median_of after)
echo "before  $b ms CPU   ($(awk '$1 == "before" { printf "%s ", $2 }' "$TMP/all"))"
echo "after   $a ms CPU   ($(awk '$1 == "after" { printf "%s ", $2 }' "$TMP/all"))"
awk -v a="$a" -v b="$b" 'BEGIN { printf "ratio   %.2fx\n", a / b }'
