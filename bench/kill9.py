#!/usr/bin/env python3
"""How late each kind of data reaches the capture file: the agent records a
workload and is killed with SIGKILL at a random moment 2-5 s after it is
ready; the gap between the kill and the newest data of each kind in the file
(a sample's time, a syscall's return, an off-CPU interval's end, a snapshot's
reading) is what a capture cut by kill -9 loses (README: "all but its last
second"; a snapshot taken every --interval is up to an interval older).
Prints each run's gaps and their distribution (min, median, p90, max) by
kind, and the bytes per sample of the cut files (frames as written while
recording: a cut capture is never repacked).

Usage (root): bench/kill9.py [RUNS] [--mode MODE] [--unwind fp|dwarf]
MODE (what is recorded, of which workload):
  samples          --frequency 999, tests/workloads/calltree.c (default)
  syscalls         --syscalls --no-samples, syscalls.c `threads 4`
                   (4 threads: getpid + a 10 ms sleep, ~800 calls/s)
  syscalls-heavy   --syscalls --no-samples, syscalls.c `heavy` (getpid flat out)
  syscalls-kernel  --syscalls=kernel --no-samples, syscalls.c `threads 4`
  off-cpu          --off-cpu (99 Hz), offcpu.c (sleeps of 30 and 10 ms)
  snapshots        --no-samples, calltree.c: cgroup and net snapshots at
                   the default --interval (1 s)
Needs target/debug/holter-agent, target/debug/examples/newest
(cargo build -p holter-agent; cargo build -p holter-format --example newest)
and a C compiler. AGENT=path overrides the agent binary; KILL_AT=SECONDS
kills at that time instead (to compare bytes per sample of two agents);
ARGS="..." adds agent options (e.g. ARGS="--interval 100ms")."""
import os, random, signal, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
agent = os.environ.get("AGENT", os.path.join(root, "target/debug/holter-agent"))
newest = os.path.join(root, "target/debug/examples/newest")
argv = sys.argv[1:]
opts = {}
for name in ("--unwind", "--mode"):
    if name in argv:
        i = argv.index(name)
        opts[name] = argv[i + 1]
        del argv[i:i + 2]
runs = int(argv[0]) if argv else 10
mode = opts.get("--mode", "samples")
extra = ["--unwind", opts["--unwind"]] if "--unwind" in opts else []
extra += os.environ.get("ARGS", "").split()
# mode: (workload source, its arguments, agent options, kinds measured)
MODES = {
    "samples": ("calltree", ["30"], ["--frequency", "999"], ["samples"]),
    "syscalls": ("syscalls", ["threads", "4"], ["--syscalls", "--no-samples"], ["syscalls"]),
    "syscalls-heavy": ("syscalls", ["heavy", "1000000000"], ["--syscalls", "--no-samples"],
                       ["syscalls"]),
    "syscalls-kernel": ("syscalls", ["threads", "4"], ["--syscalls=kernel", "--no-samples"],
                        ["syscalls"]),
    "off-cpu": ("offcpu", ["30"], ["--off-cpu"], ["off-cpu"]),
    "snapshots": ("calltree", ["30"], ["--no-samples"], ["cgroups", "net"]),
}
src, wargs, aargs, kinds = MODES[mode]
with tempfile.TemporaryDirectory() as work:
    w = os.path.join(work, src)
    subprocess.check_call(["cc", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", w,
                           os.path.join(root, f"tests/workloads/{src}.c")])
    gaps = {k: [] for k in kinds}
    sizes = []
    for i in range(runs):
        out, ready = os.path.join(work, f"k{i}.holter"), os.path.join(work, f"ready{i}")
        load = subprocess.Popen([w] + wargs, stdout=subprocess.DEVNULL)
        env = dict(os.environ, HOLTER_READY_FILE=ready)
        a = subprocess.Popen([agent, "record", "--pid", str(load.pid), "-o", out] + aargs + extra,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(ready):
            if a.poll() is not None:
                sys.exit(f"the agent exited ({a.returncode}) before it was ready")
            time.sleep(0.01)
        time.sleep(float(os.environ["KILL_AT"]) if "KILL_AT" in os.environ else random.uniform(2.0, 5.0))
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        load.kill(); load.wait()
        got = {}
        for line in subprocess.check_output([newest, out]).decode().splitlines():
            k, last, n = line.split()
            got[k] = (int(last), int(n))
        words = []
        for k in kinds:
            last, n = got[k]
            gap = (t - last) / 1e9 if last else float("inf")
            gaps[k].append(gap)
            words.append(f"{k} {gap:.3f} s ({n})")
        size = os.path.getsize(out)
        sizes.append((size, got["samples"][1]))
        print(f"run {i}: kill - newest in the file: " + ", ".join(words), flush=True)
    q = lambda g, p: g[min(len(g) - 1, int(p * len(g)))]
    for k in kinds:
        g = sorted(gaps[k])
        print(f"{mode}: {runs} runs: {k} gap min {g[0]:.3f} median {q(g, 0.5):.3f} "
              f"p90 {q(g, 0.9):.3f} max {g[-1]:.3f} s")
    if "samples" in kinds:
        total = sum(b for b, _ in sizes) / max(1, sum(n for _, n in sizes))
        print(f"cut files: {total:.1f} bytes per sample (all runs)")
