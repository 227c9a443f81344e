#!/usr/bin/env bash
# The main job, end to end, on this machine: build holter, start a throwaway
# container (its own pid/mount/net/uts/ipc namespaces, a cgroup held to 0.5 CPU)
# running a demo workload, record it with holter-agent, and write the report.
# Needs root (perf_event_open, ptrace, cgroups). Output: ./holter-demo/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace --locked
bin=target/release
out=${HOLTER_DEMO_DIR:-holter-demo}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cc -O1 -g -fno-omit-frame-pointer -o "$out/demo-workload" tests/workloads/demo.c

name=holter-demo-$$
cg_cpu=/sys/fs/cgroup/cpu/$name
cleanup() {
  for d in /sys/fs/cgroup/*/"$name"; do
    [ -d "$d" ] || continue
    for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  done
  sleep 0.2
  for d in /sys/fs/cgroup/*/"$name"; do rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT
for c in cpu cpuacct memory pids unified; do
  [ -e "/sys/fs/cgroup/$c/cgroup.procs" ] && mkdir -p "/sys/fs/cgroup/$c/$name"
done
echo 50000 > "$cg_cpu/cpu.cfs_quota_us"
echo 100000 > "$cg_cpu/cpu.cfs_period_us"
sh -c 'for d in /sys/fs/cgroup/*/'"$name"'; do echo $$ > "$d/cgroup.procs"; done; exec unshare --fork --pid --mount-proc --net --uts --ipc -- "$@"' \
  sh "$out/demo-workload" 30 &
disown  # killed by cleanup through its cgroup; no job notice
sleep 0.3

capture="$out/demo.holter"
rm -f "$capture"
"$bin/holter-agent" record --cgroup "$cg_cpu" --syscalls --duration 5s --interval 250ms -o "$capture"
"$bin/holter" info "$capture"
"$bin/holter" syscalls "$capture" --slowest 5
"$bin/holter" throttling "$capture"
"$bin/holter" flamegraph "$capture" --output "$out/demo.svg" >/dev/null
"$bin/holter" report "$capture" --format markdown --output "$out/report.md" >/dev/null
report=$("$bin/holter" report "$capture" --output "$out/report.html")
echo
echo "demo: capture $capture"
echo "demo: report  $report   (one self-contained file: open it in a browser, attach it to a ticket)"
