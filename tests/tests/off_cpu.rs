//! `--off-cpu` end to end, on real containers (own namespaces, own cgroup):
//!
//! - a thread that blocks in two known functions for 3:1 of its time
//!   (`tests/workloads/offcpu.c`: 30 ms nanosleep in `block_long`, 10 ms
//!   poll in `block_short`) shows 3:1 within 10% in `holter flamegraph --off-cpu`,
//!   recorded by its cgroup2 directory (a cgroup event) and by --pid
//!   (per-task events), its kernel frames (`schedule`) under its own; the
//!   HTML report has both the off-CPU stacks and the per-thread table;
//! - two busy threads in a 0.5-CPU container (cgroup v1 cpu.cfs_quota_us
//!   50000 of 100000): `holter sched` reports their run-queue delay,
//!   consistent with the kernel (see [`run_queue_delay_of_two_busy_threads_in_half_a_cpu`]).

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

fn record(target: &[&str], extra: &[&str], capture: &Path) {
    let mut args = vec!["record"];
    args.extend_from_slice(target);
    args.extend_from_slice(&["--off-cpu", "-o", capture.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = agent_with_timeout(&args, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "holter-agent {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Nanoseconds of the folded off-CPU stacks whose frames include `frame`.
fn weight_of(folded: &str, frame: &str) -> u64 {
    folded
        .lines()
        .filter(|l| {
            l.split(';')
                .any(|f| f == frame || f.starts_with(&format!("{frame} ")))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

#[test]
fn off_cpu_flame_graph_shows_the_3_to_1_blocking_split() {
    let test = "off_cpu_flame_graph_shows_the_3_to_1_blocking_split";
    if !require_privileged(test) || !require_hierarchy(test, "unified") {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("offcpu");
    for by in ["cgroup2", "pid"] {
        let dir = scratch("offcpu");
        let cgroup = Cgroup::new("offcpu");
        let cg2 = cgroup.dir("unified").display().to_string();
        let mut container = Container::start(cgroup, &[wl.path.to_str().unwrap(), "8"]);
        let pid = container.workload_pid("offcpu").to_string();
        let target = match by {
            "cgroup2" => ["--cgroup", cg2.as_str()],
            _ => ["--pid", pid.as_str()],
        };
        let capture = dir.path().join("offcpu.holter");
        record(&target, &["--duration", "4s"], &capture);
        let c = capture.to_str().unwrap();
        let folded = ok_stdout(
            "holter flamegraph --off-cpu --folded",
            &holter(&["flamegraph", c, "--off-cpu", "--folded"]),
        );
        let long = weight_of(&folded, "block_long");
        let short = weight_of(&folded, "block_short");
        let ratio = long as f64 / short.max(1) as f64;
        eprintln!("{by}: block_long {long} ns, block_short {short} ns: {ratio:.3}");
        assert!(
            (2.7..=3.3).contains(&ratio),
            "{by}: off-CPU block_long:block_short = {ratio:.3}, want 3 within 10%:\n{folded}"
        );
        // About 4 s of the 4 s captured were off the CPU in the two.
        assert!(
            long + short >= 2_400_000_000,
            "{by}: only {} ms off the CPU in block_long and block_short:\n{folded}",
            (long + short) / 1_000_000
        );
        // The user stack continues into the kernel's, to the scheduler.
        for line in folded.lines().filter(|l| l.contains(";block_long;")) {
            assert!(
                line.contains(";main;block_long;") && line.contains("schedule_[k]"),
                "{by}: {line}"
            );
        }
        // The sleeping thread blocked (voluntary switches), about once per
        // 20 ms.
        let sched = json("holter sched", &["sched", c, "--json"]);
        let t = sched["threads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tid"].as_u64().map(|v| v.to_string()).as_deref() == Some(pid.as_str()))
            .unwrap_or_else(|| panic!("{by}: no row for {pid}: {sched:#}"));
        let vol = t["voluntary"].as_u64().unwrap();
        assert!(
            (150..=250).contains(&vol),
            "{by}: {vol} voluntary switches in 4 s: {t:#}"
        );
        assert!(
            t["blocked_ns"].as_u64().unwrap() >= 3_000_000_000,
            "{by}: {t:#}"
        );
        assert_eq!(sched["lost"].as_u64(), Some(0), "{by}: {sched:#}");
        // The HTML report shows both: the off-CPU stacks and the table.
        let html = dir.path().join("offcpu.html");
        ok_stdout(
            "holter report",
            &holter(&["report", c, "-o", html.to_str().unwrap()]),
        );
        let page = std::fs::read_to_string(&html).unwrap();
        let off = page
            .split("<section id=\"off-cpu\">")
            .nth(1)
            .and_then(|s| s.split("</section>").next())
            .unwrap_or_else(|| panic!("{by}: no off-CPU section in the report"));
        for want in ["block_long", "block_short", "run-queue", "voluntary", "p99"] {
            assert!(
                off.contains(want),
                "{by}: the report's off-CPU section lacks {want}:\n{off}"
            );
        }
        container.cgroup.kill_all();
        let _ = container.wait(Duration::from_secs(5));
    }
}

/// Two threads that never block, in a container of half a CPU
/// (`cpu.cfs_quota_us` 50000 per 100000 µs, cgroup v1), weighted
/// (`cpu.shares`) so that they, not the other tasks of this shared machine,
/// use up the quota.
///
/// Consistent with the kernel means two things, each with the kernel's own
/// figures from the same capture:
/// 1. a thread that never blocks is either running or waiting runnable, so
///    the run-queue delay `holter sched` reports plus the CPU time the
///    kernel counted (the agent's `task-clock`) is the capture's wall time,
///    twice (two threads), within 10%;
/// 2. every nanosecond the kernel counted a throttled cfs_rq (`cpu.stat`
///    `throttled_time` between the capture's first and last snapshot) is a
///    nanosecond at least one of the cgroup's runnable threads waited, so
///    the run-queue delay is at least that throttled time (it is more when
///    other tasks also take the CPUs), and the throttled waits `holter
///    sched` attributes (in snapshot intervals where `nr_throttled` grew)
///    are some of it.
#[test]
fn run_queue_delay_of_two_busy_threads_in_half_a_cpu() {
    let test = "run_queue_delay_of_two_busy_threads_in_half_a_cpu";
    if !require_privileged(test) || !require_hierarchy(test, "cpu") {
        return;
    }
    let _serial = serial();
    let wl = compile_workload("offcpu");
    let dir = scratch("offcpu-busy");
    let cgroup = Cgroup::new("offcpu-busy");
    cgroup.set("cpu", "cpu.cfs_period_us", "100000");
    cgroup.set("cpu", "cpu.cfs_quota_us", "50000");
    // A large weight against the machine's other tasks (cpu.shares weighs
    // the group as a whole): the quota, not them, limits the two threads.
    cgroup.set("cpu", "cpu.shares", "262144");
    let cpu_dir = cgroup.dir("cpu").display().to_string();
    let mut container = Container::start(cgroup, &[wl.path.to_str().unwrap(), "busy", "12"]);
    let pid = container.workload_pid("offcpu");
    // Both threads exist before the agent attaches.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count()) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the workload's threads did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let capture = dir.path().join("busy.holter");
    record(
        &["--cgroup", &cpu_dir],
        &["--duration", "5s", "--interval", "100ms"],
        &capture,
    );
    let c = capture.to_str().unwrap();
    let sched = json("holter sched", &["sched", c, "--json"]);
    let info = json("holter info", &["info", c, "--json"]);
    container.cgroup.kill_all();
    let _ = container.wait(Duration::from_secs(5));

    let threads = sched["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 2, "two spinning threads: {sched:#}");
    let sum = |k: &str| threads.iter().map(|t| t[k].as_u64().unwrap()).sum::<u64>();
    for t in threads {
        assert_eq!(t["voluntary"].as_u64(), Some(0), "they never block: {t:#}");
        assert!(t["involuntary"].as_u64().unwrap() > 10, "{t:#}");
        // Throttled for ~75 ms of each 100 ms period (less under other load):
        // waits of milliseconds, not microseconds.
        assert!(t["runq_max_ns"].as_u64().unwrap() >= 20_000_000, "{t:#}");
        assert!(t["runq_p99_ns"].as_u64().unwrap() >= 10_000_000, "{t:#}");
    }
    let runq = sum("runq_ns");
    let cpu = info["counters"]["task-clock"].as_u64().unwrap();
    let wall = info["duration_ns"].as_u64().unwrap();
    let throttled = sched["cgroup_throttled_ns"].as_u64().unwrap();
    let periods = sched["cgroup_throttled_periods"].as_u64().unwrap();
    eprintln!(
        "run-queue {runq} ns + CPU {cpu} ns = {} × 2 × wall {wall} ns; cpu.stat throttled {throttled} ns in {periods} periods; attributed {} ns",
        (runq + cpu) as f64 / (2 * wall) as f64,
        sum("throttled_ns")
    );
    let whole = (runq + cpu) as f64 / (2 * wall) as f64;
    assert!(
        (0.9..=1.1).contains(&whole),
        "run-queue + CPU time = {whole:.3} × the wall time of two threads: {sched:#}"
    );
    assert!(
        periods > 0 && throttled > 0,
        "the quota never throttled: {sched:#}"
    );
    assert!(
        runq >= throttled * 9 / 10,
        "run-queue delay {runq} ns < cpu.stat throttled_time {throttled} ns: {sched:#}"
    );
    let attributed = sum("throttled_ns");
    assert!(attributed > 0 && attributed <= runq, "{sched:#}");
    assert_eq!(sched["lost"].as_u64(), Some(0), "{sched:#}");
}
