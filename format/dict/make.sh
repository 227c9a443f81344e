#!/bin/sh
# Makes format/dict/snapshots-1.dict, the zstd raw-content dictionary number 1
# of holter captures (format 1.11, holter_format::packed). Run once, on the
# project's VM (Debian 12, Linux 6.18, cgroup v1 controllers + cgroup2 at
# /sys/fs/cgroup/unified); the file it wrote is committed and immutable
# (format/src/packed.rs checks its SHA-256): captures packed with it must stay
# readable. A better dictionary is a new number and a new file.
#
# What it holds: the text the agent's snapshots always repeat, with every
# value that follows a space set to 0 (names, layouts and separators are what
# a dictionary is for; the values are the capture's own): the cgroup v2 files
# of fixtures/cgroup-v2/box, the cgroup v1 files the agent reads (from this
# VM's hierarchy roots), /proc/net/dev (its header, `lo` and `eth0`) and /proc/net/snmp of this VM, and the
# names of the perf-stat and unwinding counters, then what any x86_64 Linux
# capture names: the paths of glibc's loader and libc, the kernel's timer
# interrupt and syscall entry symbols, the shape of a /proc/PID/cgroup on a
# cgroup v1 host with its paths cut to `/`, a Kubernetes resolv.conf. zstd
# finds the closest matches cheapest, so the most common text comes last.
# Nothing of any workload or benchmark.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/snapshots-1.dict"
[ -e "$out" ] && { echo "make.sh: $out exists: dictionaries are immutable" >&2; exit 1; }
zero() { sed -E 's/([ =:])[0-9]+(\.[0-9]+)?/\10\2/g; s/\.[0-9]+/.00/g'; }
{
    printf 'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n'
    printf '/ / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/\n'
    printf '/ / rw,relatime - ext4 /dev/\n'
    printf 'entry_SYSCALL_64_after_hwframe\ndo_syscall_64\nsyscall_exit_to_user_mode\n'
    printf 'asm_sysvec_apic_timer_interrupt\nsysvec_apic_timer_interrupt\nirqentry_exit_to_user_mode\nfinish_task_switch.isra.0\n__schedule\nschedule\n'
    printf '[vdso]\n/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n/usr/lib/x86_64-linux-gnu/libc.so.6\n'
    sed -E 's|:/.*|:/|' /proc/self/cgroup
    printf 'task-clock\ncontext-switches\ncpu-migrations\npage-faults\ncycles\ninstructions\n'
    printf 'unwind:root\nunwind:stack-copy-end\nunwind:failed\nunwind:loop\nunwind:too-deep\nunwind:no-user-regs\nunwind:table-pending\n'
    for f in "$here"/../../fixtures/cgroup-v2/box/*; do
        printf '%s\n' "$(basename "$f")"
        zero <"$f"
    done
    for f in cpu/cpu.stat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpuacct/cpuacct.usage \
        pids/pids.current pids/pids.max freezer/freezer.state \
        blkio/blkio.throttle.io_serviced blkio/blkio.throttle.io_service_bytes \
        memory/memory.usage_in_bytes memory/memory.limit_in_bytes memory/memory.max_usage_in_bytes \
        memory/memory.failcnt memory/memory.oom_control memory/memory.stat; do
        printf '%s\n' "$(basename "$f")"
        [ -r "/sys/fs/cgroup/$f" ] && zero <"/sys/fs/cgroup/$f"
    done
    grep -E "^ *(Inter-|face|lo:|eth0:)" /proc/net/dev | zero
    zero </proc/net/snmp
} >"$out"
wc -c "$out"
