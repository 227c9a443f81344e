#!/usr/bin/env bash
# How frames are named, holter vs perf, on the same runs (issue 12): each
# workload runs once under `holter-agent record -- perf record ... -- WORKLOAD`,
# so both profilers sample the very same processes. For each, over every frame
# of every sample of the workload (kernel frames included, the process-name
# root of holter's stacks not counted):
#   named %   frames with a name (not `[unknown]`, `module+0xOFFSET`, nor
#             holter's `module!fn@0xSTART`, which has no name but groups a
#             function into one box);
#   by start  holter's frames named by function start (`module!fn@0xSTART`);
#   lines     distinct folded stacks (perf's made from `perf script` as
#             stackcollapse-perf does: a frame is its symbol, `[unknown]` where
#             it has none).
# Stacks of every thread of the workload but perf's own are counted; rg and
# xz by their command name (the shell loop around rg left out).
# Workloads: ripgrep (crates.io, default build and RUSTFLAGS=-Cforce-frame-pointers=yes)
# searching a generated tree; Java 17 with -XX:+PreserveFramePointer
# -XX:+DumpPerfMapAtExit (tests/workloads/Hot.java); `make -j2` of a generated
# 24-file C project; Debian's xz -T1 (stripped liblzma).
# Unwinding: dwarf for ripgrep default and xz (perf --call-graph dwarf, holter
# --unwind dwarf); frame pointers for the fp ripgrep, Java and make (perf -g,
# holter --unwind fp). Both analyzers use their defaults for debug files
# (/usr/lib/debug: libc6-dbg).
# Needs root, perf (linux-perf), java (openjdk-17-jre-headless), gcc, make,
# xz-utils, cargo (for ripgrep: RG_DEFAULT/RG_FP give ready binaries instead).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HZ=${HZ:-999}
for c in perf java cc make xz python3; do
    command -v "$c" >/dev/null || { echo "bench/names.sh: needs $c (scripts/deps.sh)" >&2; exit 1; }
done
(cd "$ROOT" && cargo build -q -p holter-agent -p holter)
AGENT=$ROOT/target/debug/holter-agent
HOLTER=$ROOT/target/debug/holter

WORK=$(mktemp -d -t holter-bench-names-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# ripgrep: built once per flavour unless given.
build_rg() { # DIR [RUSTFLAGS]
    local dir=$1 flags=${2:-}
    if [ ! -x "$dir/bin/rg" ]; then
        CARGO_TARGET_DIR=$dir/target RUSTFLAGS=$flags cargo install -q ripgrep --locked --root "$dir" >&2
    fi
    echo "$dir/bin/rg"
}
RG_DEFAULT=${RG_DEFAULT:-$(build_rg "${RG_CACHE:-$HOME/.cache/holter-bench}/rg-default")}
RG_FP=${RG_FP:-$(build_rg "${RG_CACHE:-$HOME/.cache/holter-bench}/rg-fp" -Cforce-frame-pointers=yes)}

# A tree for ripgrep: 2000 files of generated text.
mkdir -p "$WORK/tree"
python3 - "$WORK/tree" <<'PY'
import os, random, sys
random.seed(1)
words = ["alpha", "beta", "gamma", "delta", "holter", "sample", "stack", "frame", "named", "kernel"]
for d in range(20):
    os.makedirs(f"{sys.argv[1]}/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{sys.argv[1]}/d{d}/f{f}.txt", "w") as out:
            for _ in range(400):
                out.write(" ".join(random.choice(words) for _ in range(12)) + "\n")
PY
# A C project for make -j2: 24 files, each a few functions.
mkdir -p "$WORK/cproj"
python3 - "$WORK/cproj" <<'PY'
import sys
d = sys.argv[1]
objs = []
for i in range(24):
    with open(f"{d}/m{i}.c", "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n")
        for j in range(40):
            f.write(f"static int s{j}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x * {j}); return (int)strlen(b) + x; }}\n")
        f.write(f"int m{i}(int x) {{ return " + " + ".join(f"s{j}(x + {j})" for j in range(40)) + "; }\n")
    objs.append(f"m{i}.o")
with open(f"{d}/main.c", "w") as f:
    f.write("".join(f"int m{i}(int);\n" for i in range(24)))
    f.write("int main(void) { int t = 0;\n" + "".join(f"t += m{i}(t);\n" for i in range(24)) + "return t & 1; }\n")
with open(f"{d}/Makefile", "w") as f:
    f.write("CFLAGS = -O2 -g\nprog: main.o " + " ".join(objs) + "\n\t$(CC) -o $@ $^\n%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\nclean:\n\trm -f prog *.o\n")
PY
seq 1 500000 >"$WORK/xz.in"

# holter folded (stdin) -> "named by_start frames lines samples"; COMM given:
# only its stacks; else all but perf's own.
holter_stats() {
    python3 -c '
import re, sys
only = sys.argv[1]
skip = {"perf", "perf-exec"}
unnamed = re.compile(r"(\+0x[0-9a-f]+$|^\[unknown\]$)")
frames = named = start = lines = samples = 0
for line in sys.stdin:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    f = stack.split(";")
    if (only and f[0] != only) or f[0] in skip:
        continue
    n = int(count)
    lines += 1
    samples += n
    for x in f[1:]:
        frames += n
        if "!fn@0x" in x:
            start += n
        elif not unnamed.search(x):
            named += n
print(f"{100.0 * named / max(frames, 1):.1f} {100.0 * start / max(frames, 1):.1f} {frames} {lines} {samples}")
' "$1"
}
# perf script (stdin) -> "named 0 frames lines samples"
perf_stats() {
    python3 -c '
import sys
from collections import Counter
stacks = Counter()
cur = []
frames = named = 0
def flush():
    global cur, frames, named
    if cur:
        stacks[";".join(reversed(cur))] += 1
        frames += len(cur)
        named += sum(1 for x in cur if x != "[unknown]")
    cur = []
for line in sys.stdin:
    if not line.strip():
        flush(); continue
    if not line.startswith((" ", "\t")):
        continue
    p = line.split()
    sym = " ".join(p[1:-1]) if len(p) > 2 else "[unknown]"
    sym = sym.split("+0x")[0] if sym != "[unknown]" else sym
    cur.append(sym)
flush()
print(f"{100.0 * named / max(frames, 1):.1f} - {frames} {len(stacks)} {sum(stacks.values())}")
'
}

run_one() { # NAME COMM UNWIND(dwarf|fp) -- WORKLOAD...
    local name=$1 comm=$2 unwind=$3; shift 4
    local perf_cg=(-g)
    [ "$unwind" = dwarf ] && perf_cg=(--call-graph dwarf)
    local cap=$WORK/$name.holter data=$WORK/$name.perf
    "$AGENT" record --unwind "$unwind" --frequency "$HZ" --force -o "$cap" -- \
        perf record -q "${perf_cg[@]}" -F "$HZ" -o "$data" -- "$@" >/dev/null 2>"$WORK/$name.err" ||
        { cat "$WORK/$name.err" >&2; exit 1; }
    read -r hn hs hf hl hsamp < <("$HOLTER" flamegraph "$cap" --folded 2>/dev/null | holter_stats "$comm")
    local comms=()
    [ -n "$comm" ] && comms=(--comms "$comm")
    read -r pn _ pf pl psamp < <(perf script -i "$data" -F comm,ip,sym,dso "${comms[@]}" 2>/dev/null | perf_stats)
    printf '%-22s %-6s  holter %6s%% named %5s%% by start %6s lines %6s samples   perf %6s%% named %6s lines %6s samples\n' \
        "$name" "$unwind" "$hn" "$hs" "$hl" "$hsamp" "$pn" "$pl" "$psamp"
}

echo "== holter $(git -C "$ROOT" rev-parse --short HEAD), $(perf version), $(nproc) CPUs, $HZ Hz, one run each"
# ripgrep: 30 searches of the tree in a row (each is short).
RG_LOOP='for i in $(seq 30); do "$0" -c --no-mmap -j2 "holter (stack|frame)|[a-z]+ing" "$1" >/dev/null; done'
run_one ripgrep-default rg dwarf -- sh -c "$RG_LOOP" "$RG_DEFAULT" "$WORK/tree"
run_one ripgrep-fp rg fp -- sh -c "$RG_LOOP" "$RG_FP" "$WORK/tree"
run_one java-perfmap "" fp -- java -XX:+PreserveFramePointer -XX:+UnlockDiagnosticVMOptions \
    -XX:+DumpPerfMapAtExit "$ROOT/tests/workloads/Hot.java" 3
run_one make-j2 "" fp -- make -s -C "$WORK/cproj" -j2 prog
run_one xz xz dwarf -- xz -T1 -c "$WORK/xz.in"
