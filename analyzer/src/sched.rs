//! `holter sched`: per thread, how it left the CPU (voluntary switches:
//! blocked; involuntary: preempted, still runnable), the time blocked, and
//! the run-queue delay (runnable, waiting for a CPU: p50/p95/p99/max), from
//! the off-CPU intervals of `holter-agent record --off-cpu`. Runnable waits
//! (a preemption, or a blocked thread's wait from its wake-up) that start in
//! a cgroup snapshot interval where the kernel counted CPU throttling
//! (`cpu.stat` `nr_throttled` grew) are also shown as throttled: a throttled
//! cgroup's tasks wait runnable.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::doc::{code, col, num, t, Block, Cell, Doc, Fact, Table};
use crate::filter::Names;
use crate::load::Capture;
use crate::syscalls::{human, percentile};

/// One thread's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thread {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// Switches out blocked (`S`, `D`, ...).
    pub voluntary: u64,
    /// Switches out preempted (`R`): runnable, waiting for a CPU.
    pub involuntary: u64,
    /// Time off the CPU, all states.
    pub off_cpu_ns: u64,
    /// Time blocked: off the CPU in voluntary intervals, less their run-queue delay.
    pub blocked_ns: u64,
    /// Run-queue delay, summed: runnable and waiting for a CPU.
    pub runq_ns: u64,
    /// Of `runq_ns`, the runnable waits (preempted, or woken) that started
    /// while the cgroup was throttled (per its snapshots).
    pub throttled_ns: u64,
    pub runq_p50_ns: u64,
    pub runq_p95_ns: u64,
    pub runq_p99_ns: u64,
    pub runq_max_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub intervals: u64,
    /// Off-CPU records the kernel dropped.
    pub lost: u64,
    /// Per thread, most run-queue delay first.
    pub threads: Vec<Thread>,
    /// The cgroup's throttled time over the capture (`cpu.stat`), if known.
    pub cgroup_throttled_ns: Option<u64>,
    pub cgroup_throttled_periods: Option<u64>,
}

/// Windows `[start, end)` in which the cgroup's `nr_throttled` grew.
fn throttled_windows(c: &Capture) -> (Vec<(u64, u64)>, Option<u64>, Option<u64>) {
    match crate::cgroups::throttling::report(c) {
        Ok(t) => (
            t.intervals
                .iter()
                .filter(|i| i.throttled_periods.unwrap_or(0) > 0)
                .map(|i| (i.start_ns, i.end_ns))
                .collect(),
            Some(t.throttled_ns),
            Some(t.throttled_periods),
        ),
        Err(_) => (Vec::new(), None, None),
    }
}

pub fn analyze(c: &Capture) -> Report {
    let (windows, cgroup_throttled_ns, cgroup_throttled_periods) = throttled_windows(c);
    Report {
        cgroup_throttled_ns,
        cgroup_throttled_periods,
        ..tally(c, &windows)
    }
}

/// The rows, with `windows` the cgroup's throttled intervals.
fn tally(c: &Capture, windows: &[(u64, u64)]) -> Report {
    let names = Names::new(c);
    let in_window = |t: u64| windows.iter().any(|&(a, b)| t >= a && t < b);
    let mut by_tid: BTreeMap<(u32, u32), (Thread, Vec<u64>)> = BTreeMap::new();
    for o in &c.off_cpu {
        let (row, delays) = by_tid.entry((o.pid, o.tid)).or_insert_with(|| {
            (
                Thread {
                    pid: o.pid,
                    tid: o.tid,
                    comm: names.thread(o.tid, o.time_ns).to_string(),
                    voluntary: 0,
                    involuntary: 0,
                    off_cpu_ns: 0,
                    blocked_ns: 0,
                    runq_ns: 0,
                    throttled_ns: 0,
                    runq_p50_ns: 0,
                    runq_p95_ns: 0,
                    runq_p99_ns: 0,
                    runq_max_ns: 0,
                },
                Vec::new(),
            )
        });
        let runq = o.runq_ns.min(o.off_ns);
        if o.voluntary() {
            row.voluntary += 1;
            row.blocked_ns = row.blocked_ns.saturating_add(o.off_ns - runq);
        } else {
            row.involuntary += 1;
        }
        // The runnable wait ends the interval: it starts at the preemption,
        // or at the wake-up of a blocked thread.
        let wait_start = o.time_ns.saturating_add(o.off_ns - runq);
        if runq > 0 && in_window(wait_start) {
            row.throttled_ns = row.throttled_ns.saturating_add(runq);
        }
        row.off_cpu_ns = row.off_cpu_ns.saturating_add(o.off_ns);
        row.runq_ns = row.runq_ns.saturating_add(runq);
        // A wait is counted where one was seen: preempted, or woken.
        if !o.voluntary() || o.flags & holter_format::OffCpu::WOKEN != 0 {
            delays.push(runq);
        }
    }
    let mut threads: Vec<Thread> = by_tid
        .into_values()
        .map(|(mut row, mut d)| {
            d.sort_unstable();
            row.runq_p50_ns = percentile(&d, 0.50);
            row.runq_p95_ns = percentile(&d, 0.95);
            row.runq_p99_ns = percentile(&d, 0.99);
            row.runq_max_ns = d.last().copied().unwrap_or(0);
            row
        })
        .collect();
    threads.sort_by(|a, b| b.runq_ns.cmp(&a.runq_ns).then(a.tid.cmp(&b.tid)));
    Report {
        intervals: c.off_cpu.len() as u64,
        lost: c.lost("off-cpu"),
        threads,
        cgroup_throttled_ns: None,
        cgroup_throttled_periods: None,
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// The report's blocks: facts, then the per-thread table.
pub fn doc(r: &Report) -> Vec<Block> {
    let runq: u64 = r.threads.iter().map(|t| t.runq_ns).sum();
    let blocked: u64 = r.threads.iter().map(|t| t.blocked_ns).sum();
    let throttled: u64 = r.threads.iter().map(|t| t.throttled_ns).sum();
    let mut facts = vec![
        Fact::new("intervals", r.intervals),
        Fact::new("threads", r.threads.len()),
        Fact::new("time blocked", secs(blocked)),
        Fact::new("run-queue delay", secs(runq)),
        Fact::new(
            "lost records",
            Cell::text(r.lost.to_string()).alarm(r.lost > 0),
        ),
    ];
    if let Some(ns) = r.cgroup_throttled_ns {
        facts.push(Fact::new(
            "cgroup throttled",
            Cell::text(format!(
                "{} ({} periods, cpu.stat); runnable waits starting in throttled intervals: {}",
                secs(ns),
                r.cgroup_throttled_periods.unwrap_or(0),
                secs(throttled)
            ))
            .alarm(ns > 0),
        ));
    }
    let mut table = Table::new(vec![
        num("pid"),
        num("tid"),
        col("thread"),
        num("voluntary"),
        num("involuntary"),
        num("blocked"),
        num("run-queue"),
        num("throttled"),
        num("p50"),
        num("p95"),
        num("p99"),
        num("max"),
    ]);
    for th in &r.threads {
        table.row(vec![
            th.pid.into(),
            th.tid.into(),
            Cell::code(&th.comm),
            th.voluntary.into(),
            th.involuntary.into(),
            human(th.blocked_ns).into(),
            human(th.runq_ns).into(),
            human(th.throttled_ns).into(),
            human(th.runq_p50_ns).into(),
            human(th.runq_p95_ns).into(),
            human(th.runq_p99_ns).into(),
            human(th.runq_max_ns).into(),
        ]);
    }
    vec![
        Block::Facts(facts),
        Block::Table(table),
        Block::Para(vec![
            t("voluntary: left the CPU blocked (sleeping "),
            code("S"),
            t(", uninterruptible "),
            code("D"),
            t("); involuntary: preempted, still runnable ("),
            code("R"),
            t("). Run-queue delay: runnable and waiting for a CPU, from the wake-up (or the preemption) to running; percentiles over the waits seen."),
        ]),
    ]
}

/// `holter sched` on a terminal.
pub fn to_text(r: &Report) -> String {
    crate::doc::text::render(&Doc { blocks: doc(r) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use holter_format::OffCpu;

    fn iv(tid: u32, time_ns: u64, state: u8, off_ns: u64, runq_ns: u64, flags: u8) -> OffCpu {
        OffCpu {
            time_ns,
            pid: 1,
            tid,
            cpu: 0,
            stack_id: 0,
            off_ns,
            runq_ns,
            state,
            flags,
        }
    }

    #[test]
    fn per_thread_switches_blocked_time_and_percentiles() {
        let mut c = Capture {
            off_cpu: vec![
                iv(2, 10, b'S', 1000, 100, OffCpu::WOKEN),
                iv(2, 20, b'D', 500, 0, 0),
                iv(2, 30, b'R', 300, 300, 0),
                iv(3, 40, b'R', 50, 50, 0),
            ],
            ..Capture::default()
        };
        c.lost.push(holter_format::Lost {
            time_ns: 0,
            kind: "off-cpu".into(),
            count: 2,
        });
        let r = analyze(&c);
        assert_eq!((r.intervals, r.lost), (4, 2));
        let a = &r.threads[0];
        assert_eq!((a.tid, a.voluntary, a.involuntary), (2, 2, 1));
        assert_eq!((a.off_cpu_ns, a.blocked_ns, a.runq_ns), (1800, 1400, 400));
        // Waits seen: 100 (woken) and 300 (preempted); the D one had no wake-up.
        assert_eq!((a.runq_p50_ns, a.runq_max_ns), (100, 300));
        assert_eq!(a.runq_p99_ns, 300);
        assert_eq!((r.threads[1].tid, r.threads[1].runq_ns), (3, 50));
        assert_eq!(r.cgroup_throttled_ns, None);
        let text = to_text(&r);
        assert!(text.contains("run-queue"), "{text}");
        let j = serde_json::to_value(&r).unwrap();
        for k in [
            "pid",
            "tid",
            "comm",
            "voluntary",
            "involuntary",
            "off_cpu_ns",
            "blocked_ns",
            "runq_ns",
            "throttled_ns",
            "runq_p50_ns",
            "runq_p95_ns",
            "runq_p99_ns",
            "runq_max_ns",
        ] {
            assert!(j["threads"][0].get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn runnable_waits_that_start_while_the_cgroup_is_throttled() {
        let c = Capture {
            off_cpu: vec![
                // Preempted in the window [1000, 2000): all of it throttled.
                iv(2, 1500, b'R', 300, 300, 0),
                // Preempted before it: not, though it runs into it.
                iv(2, 900, b'R', 200, 200, 0),
                // Blocked 1000 from 100, woken at 1100 (in the window):
                // its 100 of run-queue delay are throttled, not its sleep.
                iv(3, 100, b'S', 1000, 100, OffCpu::WOKEN),
                // Woken at 600, before the window.
                iv(3, 100, b'S', 600, 100, OffCpu::WOKEN),
                // Blocked, no wake-up seen: no wait to label.
                iv(3, 1200, b'D', 500, 0, 0),
                // Preempted after the window.
                iv(4, 2000, b'R', 50, 50, 0),
            ],
            ..Capture::default()
        };
        let r = tally(&c, &[(1000, 2000)]);
        let row = |tid| r.threads.iter().find(|t| t.tid == tid).unwrap();
        assert_eq!((row(2).runq_ns, row(2).throttled_ns), (500, 300));
        assert_eq!((row(3).runq_ns, row(3).throttled_ns), (200, 100));
        assert_eq!(row(3).blocked_ns, 900 + 500 + 500);
        assert_eq!((row(4).runq_ns, row(4).throttled_ns), (50, 0));
        // No snapshots in the capture: nothing throttled, no cgroup figures.
        let plain = analyze(&c);
        assert!(plain.threads.iter().all(|t| t.throttled_ns == 0));
        assert_eq!(plain.cgroup_throttled_ns, None);
    }
}
