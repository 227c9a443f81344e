#!/usr/bin/env bash
# The main job, end to end, on this machine: build holter, start a throwaway
# container (its own pid/mount/net/uts/ipc namespaces, a cgroup held to 0.5 CPU)
# running a demo workload, record it with holter-agent, and render the reports.
# Needs root (perf_event_open, ptrace, cgroups). Output: ./holter-demo/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace --locked
bin=target/release
out=${HOLTER_DEMO_DIR:-holter-demo}
mkdir -p "$out"
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
sleep 0.3

capture="$out/demo.holter"
rm -f "$capture"
"$bin/holter-agent" record --cgroup "$cg_cpu" --syscalls --duration 5s --interval 250ms -o "$capture"
"$bin/holter" info "$capture"
for cmd in flamegraph syscalls throttling report; do
  if "$bin/holter" help "$cmd" >/dev/null 2>&1; then
    case $cmd in
      flamegraph) "$bin/holter" flamegraph "$capture" --output "$out/demo.svg" ;;
      report) "$bin/holter" report "$capture" --output "$out/report.html" ;;
      *) "$bin/holter" "$cmd" "$capture" ;;
    esac
  fi
done
echo "demo: capture and reports in $out/"
