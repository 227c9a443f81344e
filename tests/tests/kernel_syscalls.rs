//! `--syscalls=kernel` end to end: the raw_syscalls tracepoints through perf
//! give the same counts as ptrace mode on a workload of known calls (in its
//! own namespaces, by --pid with per-task events and by its cgroup2
//! directory with a cgroup event), latencies of 2 ms sleeps within 10% of
//! ptrace mode's, no lost records; and, unlike ptrace, the tracer leaves no
//! `ptrace_stop` in the CPU profile of the demo workload.

use std::path::Path;
use std::time::Duration;

use holter_e2e::*;
use serde_json::Value;

/// These tests time real processes: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn json(what: &str, args: &[&str]) -> Value {
    let text = ok_stdout(what, &holter(args));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

fn syscalls(capture: &Path) -> Value {
    json(
        "holter syscalls",
        &["syscalls", capture.to_str().unwrap(), "--json"],
    )
}

fn info(capture: &Path) -> Value {
    json(
        "holter info",
        &["info", capture.to_str().unwrap(), "--json"],
    )
}

const GETPID: u64 = 20_000;
const OPENAT: u64 = 300;
const SLEEPS: u64 = 200;
const SLEEP_NS: u64 = 2_000_000;

/// How the agent finds the workload.
#[derive(Clone, Copy, Debug)]
enum By {
    Pid,
    Cgroup2,
}

/// Records the `counts` workload (GETPID getpid, OPENAT failing openat,
/// SLEEPS nanosleeps of 2 ms) in a container of its own with two agents at
/// once, ptrace mode by --pid and kernel mode found `by`, so that both
/// measure the very same calls (a timing on this shared machine varies
/// from run to run more than the two modes differ). Returns `holter
/// syscalls --json` and `holter info --json` of each, and the sleeps as the
/// workload measured them.
fn record_counts(by: By) -> [(Value, Value); 2] {
    let wl = compile_workload("syscalls");
    let dir = scratch("ksys");
    let sleeps = dir.path().join("sleeps.txt");
    let (getpid, openat, sleeps_n, sleep_ns) = (
        GETPID.to_string(),
        OPENAT.to_string(),
        SLEEPS.to_string(),
        SLEEP_NS.to_string(),
    );
    let cgroup = Cgroup::new("ksys");
    let cg2 = cgroup.dir("unified");
    let mut container = Container::start(
        cgroup,
        &[
            wl.path.to_str().unwrap(),
            "counts",
            &getpid,
            &openat,
            &sleeps_n,
            "wait",
            sleeps.to_str().unwrap(),
            &sleep_ns,
        ],
    );
    let pid = container.workload_pid("syscalls").to_string();
    let captures = [
        dir.path().join("ptrace.holter"),
        dir.path().join("kernel.holter"),
    ];
    let kernel_target = match by {
        By::Pid => ["--pid".to_string(), pid.clone()],
        By::Cgroup2 => ["--cgroup".to_string(), cg2.display().to_string()],
    };
    let agents: Vec<RunningAgent> = [
        (["--pid".to_string(), pid.clone()], "--syscalls=ptrace"),
        (kernel_target, "--syscalls=kernel"),
    ]
    .iter()
    .zip(&captures)
    .map(|((target, mode), capture)| {
        start_agent_ready(&[
            "record",
            &target[0],
            &target[1],
            mode,
            "--no-samples",
            "--duration",
            "60s",
            "-o",
            capture.to_str().unwrap(),
        ])
    })
    .collect();
    // The counted calls start now that both agents are armed.
    unsafe { libc::kill(pid.parse::<i32>().unwrap(), libc::SIGUSR2) };
    assert!(
        container
            .wait(Duration::from_secs(60))
            .is_some_and(|s| s.success()),
        "the workload failed"
    );
    for agent in agents {
        // A cgroup target outlives its tasks: end that capture.
        agent.signal(libc::SIGINT);
        let out = agent.finish(Duration::from_secs(20));
        assert!(
            out.status.success(),
            "holter-agent ({by:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let own: Vec<u64> = std::fs::read_to_string(&sleeps)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(own.len() as u64, SLEEPS);
    eprintln!("{by:?}: the workload's own sleeps (ns): {own:?}");
    no_tracefs_left();
    captures.map(|c| (syscalls(&c), info(&c)))
}

/// The agent mounts tracefs on a private directory only for reading the
/// tracepoint ids: nothing of it remains once the agents have ended.
fn no_tracefs_left() {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("holter-tracefs"),
        "a tracefs mount of the agent is left:\n{mounts}"
    );
    let left: Vec<String> = std::fs::read_dir("/run")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("holter-tracefs-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "directories left in /run: {left:?}");
}

fn percentiles(r: &Value, name: &str) -> [u64; 3] {
    let row = row(r, name);
    ["p50_ns", "p95_ns", "p99_ns"].map(|k| row[k].as_u64().unwrap())
}

#[test]
fn kernel_mode_counts_exactly_as_ptrace_mode_with_the_same_latencies() {
    if !require_privileged("kernel_mode_counts_exactly_as_ptrace_mode_with_the_same_latencies") {
        return;
    }
    if !require_hierarchy(
        "kernel_mode_counts_exactly_as_ptrace_mode_with_the_same_latencies",
        "unified",
    ) {
        return;
    }
    let _serial = serial();
    let want = |r: &Value, what: &str| {
        let c = counts(r);
        assert_eq!(c["getpid"], (GETPID, 0), "{what}: {r:#}");
        assert_eq!(c["openat"], (OPENAT, OPENAT), "{what}: {r:#}");
        assert_eq!(c["nanosleep"], (SLEEPS, 0), "{what}: {r:#}");
        assert_eq!(row(r, "openat")["errnos"]["ENOENT"], OPENAT, "{what}");
        c
    };
    for by in [By::Pid, By::Cgroup2] {
        let [(ptrace, ptrace_info), (kernel, kernel_info)] = record_counts(by);
        let pc = want(&ptrace, "ptrace");
        let kc = want(&kernel, &format!("kernel {by:?}"));
        for name in ["getpid", "openat", "nanosleep"] {
            assert_eq!(kc[name], pc[name], "{name}: kernel {by:?} against ptrace");
        }
        assert_eq!(
            (
                ptrace["mode"].as_str(),
                ptrace_info["syscall_mode"].as_str()
            ),
            (Some("ptrace"), Some("ptrace"))
        );
        assert_eq!(
            (
                kernel["mode"].as_str(),
                kernel_info["syscall_mode"].as_str()
            ),
            (Some("kernel"), Some("kernel"))
        );
        assert_eq!(
            kernel["lost"], 0,
            "no lost records at this rate: {kernel:#}"
        );
        assert_eq!(kernel_info["lost_syscalls"], 0);
        // The slowest calls are sleeps of at least the 2 ms asked.
        for s in kernel["slowest"].as_array().unwrap() {
            if s["name"] == "nanosleep" {
                assert!(s["duration_ns"].as_u64().unwrap() >= SLEEP_NS, "{s}");
                assert_eq!(s["ret"], 0);
            }
        }
        // The percentiles of the same calls (nearest rank of 200 sleeps: p99
        // is the third longest, not the longest): the median within 10% of
        // ptrace mode's, both ways. In the tail, ptrace mode's own error
        // shows: its times include the tracer's wake-up delay at each stop,
        // which the tracee waits out stopped (a CI rehearsal: p99 2.15 ms in
        // kernel mode, 2.72 ms under ptrace, for 2 ms sleeps), while kernel
        // mode times inside the kernel. So p95 and p99 are held between the
        // sleep asked (no call can be shorter: a mispaired enter/exit would
        // be) and 10% above ptrace mode's.
        let (k, p) = (
            percentiles(&kernel, "nanosleep"),
            percentiles(&ptrace, "nanosleep"),
        );
        for (i, q) in ["p50", "p95", "p99"].iter().enumerate() {
            let (a, b) = (k[i] as f64, p[i] as f64);
            let low = if i == 0 { 0.90 * b } else { SLEEP_NS as f64 };
            assert!(
                a >= SLEEP_NS as f64 && a >= low && a <= 1.10 * b,
                "nanosleep {q}: kernel {by:?} {a} ns against ptrace {b} ns"
            );
        }
        eprintln!("{by:?}: nanosleep p50/p95/p99 kernel {k:?} ptrace {p:?}");
    }
}

/// Folded stacks of a capture: (stack, samples).
fn folded(capture: &Path) -> Vec<(String, u64)> {
    let text = ok_stdout(
        "holter flamegraph --folded",
        &holter(&["flamegraph", capture.to_str().unwrap(), "--folded"]),
    );
    text.lines()
        .filter_map(|l| {
            let (stack, n) = l.rsplit_once(' ')?;
            Some((stack.to_string(), n.parse().ok()?))
        })
        .collect()
}

/// Records the demo workload (scripts/demo.sh's: a parser and hasher that
/// writes a line and opens a missing file each round, in a 0.5-CPU
/// container) with samples and `mode` syscalls; returns the folded stacks
/// and `holter syscalls --json`.
fn record_demo(mode: &str) -> (Vec<(String, u64)>, Value) {
    let wl = compile_workload("demo");
    let dir = scratch("kdemo");
    let capture = dir.path().join("d.holter");
    let cgroup = Cgroup::new("kdemo");
    cgroup.set("cpu", "cpu.cfs_quota_us", "50000");
    cgroup.set("cpu", "cpu.cfs_period_us", "100000");
    let cpu_dir = cgroup.dir("cpu");
    let _container = Container::start(cgroup, &[wl.path.to_str().unwrap(), "30"]);
    let _ = _container.workload_pid("demo");
    let mode_arg = format!("--syscalls={mode}");
    ok_stdout(
        "holter-agent",
        &agent_with_timeout(
            &[
                "record",
                "--cgroup",
                cpu_dir.to_str().unwrap(),
                &mode_arg,
                "--duration",
                "3s",
                "-o",
                capture.to_str().unwrap(),
            ],
            Duration::from_secs(60),
        ),
    );
    (folded(&capture), syscalls(&capture))
}

#[test]
fn kernel_mode_leaves_no_ptrace_stop_in_the_demo_profile() {
    if !require_privileged("kernel_mode_leaves_no_ptrace_stop_in_the_demo_profile") {
        return;
    }
    let _serial = serial();
    let share = |stacks: &[(String, u64)], frame: &str| {
        let total: u64 = stacks.iter().map(|(_, n)| n).sum();
        let hit: u64 = stacks
            .iter()
            .filter(|(s, _)| s.split(';').any(|f| f.contains(frame)))
            .map(|(_, n)| n)
            .sum();
        (hit, total)
    };
    // The control: under ptrace the tracer's stops show in the profile.
    let (stacks, _) = record_demo("ptrace");
    let (stops, total) = share(&stacks, "ptrace_stop");
    assert!(total > 50, "ptrace run: only {total} samples");
    assert!(
        stops > 0,
        "ptrace run: no ptrace_stop frame in {total} samples; the control failed (are kernel stacks recorded?)"
    );
    eprintln!("ptrace mode: {stops} of {total} samples in ptrace_stop");

    let (stacks, sys) = record_demo("kernel");
    let (stops, total) = share(&stacks, "ptrace_stop");
    assert!(total > 50, "kernel run: only {total} samples");
    assert_eq!(
        stops, 0,
        "kernel mode: {stops} of {total} samples in ptrace_stop"
    );
    // Kernel frames are there (the check above is not vacuous) ...
    let (kernel_frames, _) = share(&stacks, "entry_SYSCALL_64");
    assert!(
        kernel_frames > 0,
        "kernel run: no sample in a syscall (entry_SYSCALL_64) among {total}"
    );
    // ... and so are the workload's calls, in the same records as ptrace mode's.
    let c = counts(&sys);
    assert!(c.get("write").is_some_and(|&(n, _)| n > 100), "{sys:#}");
    let (opens, errors) = c["openat"];
    assert!(opens > 100 && errors == opens, "{sys:#}");
    assert_eq!(row(&sys, "write")["errors"], 0);
    assert_eq!(sys["mode"], "kernel");
}
