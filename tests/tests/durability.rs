//! A capture survives the agent being killed with all but about its last
//! second, for every kind of data (README, "Durability"): the file is
//! watched while a container is recorded (every 100 ms for 3 s), then the
//! agent is killed with SIGKILL; at every look and in the cut file, the
//! newest data of each kind is no older than the bound (1 s, plus room for
//! a busy machine: 1.25 s, as the CPU samples' kill -9 test in sampling.rs;
//! a snapshot, taken every --interval, up to an interval more). Samples are
//! checked by `sampling::a_capture_cut_by_kill_9_keeps_all_but_its_last_second`.
//!
//! Without the writer aging each record by when its data was taken (a
//! syscall's return, an off-CPU interval's end) rather than by its arrival,
//! the data a collector held for most of a second waited up to another
//! second in the writer: off-CPU intervals were up to 1.5 s old in a file
//! cut by kill -9 (1.2 s with snapshots every second, which have the writer
//! write frames sooner; bench/kill9.py), and this test saw them 1.26 s old
//! while recording.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use holter_e2e::*;
use holter_format::Reader;

/// These tests time the agent: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The agent's bound (1 s) and room for a busy machine.
const BOUND_S: f64 = 1.25;

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The newest data time of each kind in the file as it is now (a file
/// being written, or cut, ends with an incomplete frame: read up to it).
fn newest(file: &Path) -> BTreeMap<&'static str, u64> {
    let mut by_kind = BTreeMap::new();
    let Ok(f) = std::fs::File::open(file) else {
        return by_kind;
    };
    let Ok(reader) = Reader::new(std::io::BufReader::new(f)) else {
        return by_kind;
    };
    for r in reader {
        if let Some(t) = r.taken() {
            let n = by_kind.entry(t.kind).or_insert(0);
            *n = (*n).max(t.newest_ns);
        }
    }
    by_kind
}

/// Records the container's workload `pid` with `options`, looks at the file
/// every 100 ms for 3 s once the first second has passed, then kills the
/// agent with SIGKILL. Asserts that at every look and in the cut file each
/// of `kinds` (kind, bound in seconds) is no older than its bound.
fn watch_then_kill(pid: u32, options: &[&str], kinds: &[(&str, f64)]) {
    let dir = scratch("durable");
    let file = dir.path().join("k.holter");
    let mut args = vec!["record", "--pid"];
    let pid = pid.to_string();
    args.push(&pid);
    args.extend_from_slice(options);
    args.extend_from_slice(&["-o", file.to_str().unwrap()]);
    let mut agent = start_agent_ready(&args);
    let ready = Instant::now();
    std::thread::sleep(Duration::from_millis(1200));
    let mut worst: BTreeMap<&str, f64> = BTreeMap::new();
    let mut looks = 0;
    while ready.elapsed() < Duration::from_millis(4200) {
        let now = monotonic_ns();
        let got = newest(&file);
        looks += 1;
        for &(kind, bound) in kinds {
            let at = *got.get(kind).unwrap_or_else(|| {
                panic!(
                    "{options:?}: no {kind} in the file after {:?}",
                    ready.elapsed()
                )
            });
            let age = now.saturating_sub(at) as f64 / 1e9;
            let w = worst.entry(kind).or_insert(0.0);
            *w = w.max(age);
            assert!(
                age <= bound,
                "{options:?}: at look {looks} the newest {kind} in the file was {age:.3} s old, more than {bound} s"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = monotonic_ns();
    agent.kill9();
    let cut = newest(&file);
    for &(kind, bound) in kinds {
        let at = *cut
            .get(kind)
            .unwrap_or_else(|| panic!("{options:?}: no {kind} in the cut file"));
        let gap = killed.saturating_sub(at) as f64 / 1e9;
        assert!(
            gap <= bound,
            "{options:?}: cut by kill -9, the newest {kind} in the file is {gap:.3} s older than the kill, more than {bound} s"
        );
        eprintln!(
            "{options:?}: {kind}: worst age {:.3} s in {looks} looks; {gap:.3} s at the kill",
            worst[kind]
        );
    }
}

#[test]
fn a_capture_cut_by_kill_9_keeps_syscalls_and_snapshots_but_their_last_second() {
    if !require_privileged(
        "a_capture_cut_by_kill_9_keeps_syscalls_and_snapshots_but_their_last_second",
    ) {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("syscalls");
    // 4 threads: getpid and a 10 ms sleep each, forever (~800 calls a second).
    let container = Container::start(
        Cgroup::new("durable-sys"),
        &[wl.path.to_str().unwrap(), "threads", "4"],
    );
    let pid = container.workload_pid("syscalls");
    // Snapshots every second (the default): up to a second older.
    let snap = BOUND_S + 1.0;
    for mode in ["--syscalls", "--syscalls=kernel"] {
        watch_then_kill(
            pid,
            &[mode, "--no-samples"],
            &[("syscalls", BOUND_S), ("cgroups", snap), ("net", snap)],
        );
    }
}

#[test]
fn a_capture_cut_by_kill_9_keeps_off_cpu_intervals_but_their_last_second() {
    if !require_privileged("a_capture_cut_by_kill_9_keeps_off_cpu_intervals_but_their_last_second")
    {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("offcpu");
    // One thread sleeping 30 ms and 10 ms in turn: an interval ends every 20 ms.
    let container = Container::start(
        Cgroup::new("durable-off"),
        &[wl.path.to_str().unwrap(), "60"],
    );
    let pid = container.workload_pid("offcpu");
    // No snapshot after the first: no other record has the writer write a
    // frame sooner, so the intervals' own path is what is timed.
    watch_then_kill(
        pid,
        &["--off-cpu", "--interval", "60s"],
        &[("off-cpu", BOUND_S)],
    );
}

/// The capture is synced to disk about once a second while recorded (a node
/// crash loses at most about two seconds), and not with `HOLTER_NO_SYNC=1`.
#[test]
fn a_capture_is_synced_to_disk_every_second_while_recorded() {
    if !require_privileged("a_capture_is_synced_to_disk_every_second_while_recorded") {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("syscalls");
    let container = Container::start(
        Cgroup::new("durable-sync"),
        &[wl.path.to_str().unwrap(), "threads", "2"],
    );
    let pid = container.workload_pid("syscalls").to_string();
    let dir = scratch("durable-sync");
    for (name, env) in [
        ("synced", &[][..]),
        ("unsynced", &[("HOLTER_NO_SYNC", "1")][..]),
    ] {
        let file = dir.path().join(format!("{name}.holter"));
        let out = agent_with_env(
            &[
                "record",
                "--pid",
                &pid,
                "--syscalls",
                "--duration",
                "4s",
                "-o",
                file.to_str().unwrap(),
            ],
            env,
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info: serde_json::Value = serde_json::from_str(&ok_stdout(
            "info",
            &holter(&["info", file.to_str().unwrap(), "--json"]),
        ))
        .unwrap();
        let syncs = info["counters"]["sync:fdatasync"].as_u64();
        if env.is_empty() {
            // One a second while frames are written (the last one at the end is not counted).
            let n = syncs.unwrap_or_else(|| panic!("no sync counter: {info}"));
            assert!((3..=6).contains(&n), "{n} syncs in 4 s: {info}");
            assert!(info["counters"]["sync:longest-us"].is_u64(), "{info}");
        } else {
            assert_eq!(syncs, None, "HOLTER_NO_SYNC=1: {info}");
        }
    }
}

/// The totals written only at the end before format 1.14 (per-syscall
/// totals, which hold the only count of the calls `--syscalls-filter`
/// leaves out; counters) reach the file while recorded: a capture cut by
/// kill -9 holds them up to about its last second, and the analyzer reads
/// each once. The workload's getpid calls are filtered out (only its
/// sleeps are recorded): cut, the file still counts them, and the newest
/// totals are no older than the bound. Without totals so far, a cut file
/// held no total, no counter (the agent before format 1.14 failed here).
#[test]
fn a_capture_cut_by_kill_9_keeps_its_totals_but_their_last_second() {
    if !require_privileged("a_capture_cut_by_kill_9_keeps_its_totals_but_their_last_second") {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("syscalls");
    // 4 threads: getpid and a 10 ms sleep each, forever (~400 getpid a second).
    let container = Container::start(
        Cgroup::new("durable-tot"),
        &[wl.path.to_str().unwrap(), "threads", "4"],
    );
    let pid = container.workload_pid("syscalls").to_string();
    for mode in ["--syscalls", "--syscalls=kernel"] {
        let dir = scratch("durable-tot");
        let file = dir.path().join("t.holter");
        let mut agent = start_agent_ready(&[
            "record",
            "--pid",
            &pid,
            mode,
            "--syscalls-filter",
            "clock_nanosleep,nanosleep",
            "--interval",
            "60s",
            "-o",
            file.to_str().unwrap(),
        ]);
        std::thread::sleep(Duration::from_millis(3200));
        let killed = monotonic_ns();
        agent.kill9();

        let mut getpid_so_far = 0;
        let (mut newest_total, mut newest_counters) = (0u64, 0u64);
        let mut task_clock = 0;
        let reader =
            Reader::new(std::io::BufReader::new(std::fs::File::open(&file).unwrap())).unwrap();
        for r in reader {
            match r {
                holter_format::Record::SyscallTotalSoFar(t) => {
                    newest_total = newest_total.max(t.time_ns);
                    if t.name == "getpid" {
                        assert!(t.calls >= getpid_so_far, "cumulative: {t:?}");
                        getpid_so_far = t.calls;
                    }
                }
                holter_format::Record::CountersSoFar(c) => {
                    newest_counters = newest_counters.max(c.time_ns);
                    for (k, v) in c.values {
                        if k == "task-clock" {
                            task_clock = v;
                        }
                    }
                }
                holter_format::Record::SyscallTotal(_)
                | holter_format::Record::Counters(_)
                | holter_format::Record::Footer(_) => {
                    panic!("{mode}: a final record in a file cut by kill -9")
                }
                _ => {}
            }
        }
        let age = |t: u64| killed.saturating_sub(t) as f64 / 1e9;
        eprintln!(
            "{mode}: cut by kill -9: getpid counted {getpid_so_far}, totals {:.3} s old, counters {:.3} s old, task-clock {task_clock} ns",
            age(newest_total),
            age(newest_counters)
        );
        // About 400 a second for 3 s, less the last second: at least a second's.
        assert!(
            getpid_so_far >= 200,
            "{mode}: getpid counted {getpid_so_far}"
        );
        assert!(
            age(newest_total) <= BOUND_S,
            "{mode}: the newest syscall totals are {:.3} s older than the kill",
            age(newest_total)
        );
        assert!(
            age(newest_counters) <= BOUND_S,
            "{mode}: the newest counters are {:.3} s older than the kill",
            age(newest_counters)
        );
        assert!(task_clock > 0, "{mode}: no task-clock so far");

        // The analyzer reads the filtered calls from the cut file, once.
        let out = holter(&["syscalls", file.to_str().unwrap(), "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&ok_stdout("holter syscalls", &out)).unwrap();
        let getpid: Vec<&serde_json::Value> = v["counted_only"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "getpid")
            .collect();
        assert_eq!(getpid.len(), 1, "{mode}: {v}");
        assert_eq!(getpid[0]["count"], getpid_so_far, "{mode}: {v}");
        let out = holter(&["info", file.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&ok_stdout("holter info", &out)).unwrap();
        assert_eq!(v["complete"], false);
        assert_eq!(v["counters"]["task-clock"], task_clock, "{mode}: {v}");
    }
}

/// Losses reach the file while recorded too: the agent is stopped
/// (SIGSTOP) for a second while its target calls getpid flat out under
/// `--syscalls=kernel`, so the kernel's rings overflow and drop records;
/// continued, then killed 1.5 s later, the cut file counts the loss (a
/// `Lost` record of syscalls) and `holter info` says so. The agent before
/// format 1.14 wrote this count only at the end: the cut file had none.
#[test]
fn a_capture_cut_by_kill_9_counts_what_was_lost_before_its_last_second() {
    if !require_privileged("a_capture_cut_by_kill_9_counts_what_was_lost_before_its_last_second") {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("syscalls");
    let container = Container::start(
        Cgroup::new("durable-lost"),
        &[wl.path.to_str().unwrap(), "heavy", "100000000000"],
    );
    let pid = container.workload_pid("syscalls").to_string();
    let dir = scratch("durable-lost");
    let file = dir.path().join("l.holter");
    let mut agent = start_agent_ready(&[
        "record",
        "--pid",
        &pid,
        "--syscalls=kernel",
        "--syscalls-filter",
        "read",
        "--no-samples",
        "--interval",
        "60s",
        "-o",
        file.to_str().unwrap(),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    agent.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(1000));
    agent.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(1500));
    agent.kill9();

    let reader = Reader::new(std::io::BufReader::new(std::fs::File::open(&file).unwrap())).unwrap();
    let lost: u64 = reader
        .filter_map(|r| match r {
            holter_format::Record::Lost(l) if l.kind == "syscalls" => Some(l.count),
            _ => None,
        })
        .sum();
    eprintln!("cut by kill -9 after a stop: {lost} syscall records lost in the file");
    assert!(lost > 0, "no loss counted in the cut file");
    let out = holter(&["info", file.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ok_stdout("holter info", &out)).unwrap();
    assert_eq!(v["complete"], false);
    assert_eq!(v["lost_syscalls"], lost, "{v}");
}
