#!/usr/bin/env python3
"""How late a sample reaches the capture file: the agent samples a CPU-bound
workload at 999 Hz and is killed with SIGKILL at a random moment 2-5 s after
it is ready; the gap between the kill and the newest sample in the file is
what a capture cut by kill -9 loses (README: "all but its last second").
Prints each run's gap and the distribution (min, median, p90, max), and the
bytes per sample of the cut files (frames as written while recording: a cut
capture is never repacked).

Usage (root): bench/kill9.py [RUNS] [--unwind fp|dwarf]
Needs target/debug/holter-agent, target/debug/examples/last_sample
(cargo build -p holter-agent; cargo build -p holter-format --example last_sample)
and a C compiler. AGENT=path overrides the agent binary; KILL_AT=SECONDS
kills at that time instead (to compare bytes per sample of two agents)."""
import os, random, signal, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
agent = os.environ.get("AGENT", os.path.join(root, "target/debug/holter-agent"))
last = os.path.join(root, "target/debug/examples/last_sample")
args = [a for a in sys.argv[1:] if not a.startswith("--")]
runs = int(args[0]) if args else 10
extra = []
if "--unwind" in sys.argv:
    extra = ["--unwind", sys.argv[sys.argv.index("--unwind") + 1]]
    if extra[1] in args:
        args.remove(extra[1])
with tempfile.TemporaryDirectory() as work:
    w = os.path.join(work, "calltree")
    subprocess.check_call(["cc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", w,
                           os.path.join(root, "tests/workloads/calltree.c")])
    gaps, sizes = [], []
    for i in range(runs):
        out, ready = os.path.join(work, f"k{i}.holter"), os.path.join(work, f"ready{i}")
        load = subprocess.Popen([w, "30"])
        env = dict(os.environ, HOLTER_READY_FILE=ready)
        a = subprocess.Popen([agent, "record", "--frequency", "999", "--pid", str(load.pid),
                              "-o", out] + extra, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(ready):
            time.sleep(0.01)
        time.sleep(float(os.environ["KILL_AT"]) if "KILL_AT" in os.environ else random.uniform(2.0, 5.0))
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        load.kill(); load.wait()
        ls, n = map(int, subprocess.check_output([last, out]).split())
        gap = (t - ls) / 1e9 if ls else float("inf")
        gaps.append(gap)
        size = os.path.getsize(out)
        sizes.append((size, n))
        print(f"run {i}: kill - newest sample in the file = {gap:.3f} s ({n} samples, {size / max(n, 1):.1f} B/sample)", flush=True)
    g = sorted(gaps)
    q = lambda p: g[min(len(g) - 1, int(p * len(g)))]
    print(f"{runs} runs: gap min {g[0]:.3f} median {q(0.5):.3f} p90 {q(0.9):.3f} max {g[-1]:.3f} s")
    total = sum(b for b, _ in sizes) / max(1, sum(n for _, n in sizes))
    print(f"cut files: {total:.1f} bytes per sample (all runs)")
