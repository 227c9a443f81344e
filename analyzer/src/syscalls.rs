//! `holter syscalls`: a latency table per syscall (like `strace -c -w`, with
//! exact percentiles), and the slowest individual calls.

use std::collections::{BTreeMap, HashMap};

use holter_format::syscall_names::{errno_name, errno_of, syscall_display, Arch};
use holter_format::Syscall;
use serde::Serialize;
use serde_json::Value;

use crate::doc::{col, num, t, Block, Cell, Doc, Table};
use crate::load::Capture;

/// Which calls a report covers and how it groups them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// One table per thread instead of one for the whole capture.
    pub by_thread: bool,
    /// How many of the slowest calls to list.
    pub slowest: usize,
    /// Only these processes (empty: all).
    pub pids: Vec<u32>,
    /// Seconds since the start of the capture.
    pub from: Option<f64>,
    pub to: Option<f64>,
}

impl Options {
    fn narrowed(&self) -> bool {
        !self.pids.is_empty() || self.from.is_some() || self.to.is_some()
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub name: String,
    /// The syscall ABI: the capture's arch (`x86_64`, `aarch64`) or `i386`
    /// for 32-bit calls (`int 0x80`) of x86_64 processes.
    pub abi: String,
    /// With `--by-thread`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    pub count: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub avg_ns: u64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// Errno names by count, most frequent first.
    #[serde(serialize_with = "errnos_map")]
    pub errnos: Vec<(String, u64)>,
}

/// A call the filter of the capture left unrecorded: only its totals are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub name: String,
    pub abi: String,
    pub count: u64,
    pub errors: u64,
    pub total_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slow {
    pub name: String,
    pub abi: String,
    pub pid: u32,
    pub tid: u32,
    /// Nanoseconds since the start of the capture.
    pub start_ns: u64,
    pub duration_ns: u64,
    pub ret: i64,
    pub summary: String,
    /// Whether the call was throttled: exactly (`throttled_from`
    /// `off-cpu`), it waited for a CPU while the cgroup was throttled for at
    /// least half its duration; from the snapshots (`snapshots`), it
    /// overlaps an interval between snapshots in which `nr_throttled` grew.
    /// Absent when the capture has no cgroup CPU counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled: Option<bool>,
    /// How `throttled` was told: `off-cpu` (exact: the capture holds the
    /// thread's off-CPU intervals) or `snapshots`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled_from: Option<&'static str>,
    /// With `off-cpu`: the time the call waited for a CPU while the cgroup
    /// was throttled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled_wait_ns: Option<u64>,
}

/// The calls' tails against the cgroup's throttled periods
/// ([`crate::throttled_calls`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throttled {
    /// Intervals (merged) in which the cgroup was throttled, and their total.
    pub spans: usize,
    pub throttled_s: f64,
    /// The snapshot interval: the resolution of "overlaps".
    pub interval_ns: u64,
    /// Whether the capture holds off-CPU data (`record --off-cpu`): calls
    /// its intervals cover are told exactly.
    pub off_cpu: bool,
    /// What the quota leaves, when there is one under the period.
    pub quota: Option<String>,
    /// The syscalls with the most time (at least 20 calls each), at most 5;
    /// their calls between the first and the last cgroup snapshot.
    pub calls: Vec<crate::throttled_calls::Explained>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub counted_only: Vec<Counted>,
    pub slowest: Vec<Slow>,
    pub lost: u64,
    pub filter: Option<String>,
    /// Thread names, for `--by-thread`.
    pub comms: HashMap<u32, String>,
    /// The ABI of the capture's arch; rows of another one get a table of their own.
    pub native_abi: String,
    /// How the calls were traced: `ptrace`, `kernel`, or empty (no syscalls).
    pub mode: String,
    /// `None` without cgroup CPU counters (`cpu.stat`) in the capture.
    pub throttling: Option<Throttled>,
}

/// The syscall mode of a capture: `ptrace` for captures older than format
/// 1.5 that traced syscalls (there was no other), empty without syscalls.
pub fn mode(h: &holter_format::Header) -> &str {
    match h.syscall_mode.as_str() {
        "" if h.options.syscalls => "ptrace",
        m => m,
    }
}

/// The value at quantile `q` of sorted `v` (nearest rank: exact, no interpolation).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn row(name: String, abi: String, tid: Option<u32>, calls: &[&Syscall]) -> Row {
    let mut durations: Vec<u64> = calls.iter().map(|s| s.duration_ns).collect();
    durations.sort_unstable();
    let total: u64 = crate::sum_sat(durations.iter().copied());
    let mut errnos: BTreeMap<String, u64> = BTreeMap::new();
    for s in calls {
        if let Some(e) = errno_of(s.ret) {
            let name = errno_name(e).map_or_else(|| format!("E{e}"), str::to_string);
            *errnos.entry(name).or_default() += 1;
        }
    }
    let mut errnos: Vec<(String, u64)> = errnos.into_iter().collect();
    errnos.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let count = durations.len() as u64;
    Row {
        name,
        abi,
        tid,
        count,
        errors: crate::sum_sat(errnos.iter().map(|e| e.1)),
        total_ns: total,
        avg_ns: total.checked_div(count).unwrap_or(0),
        p50_ns: percentile(&durations, 0.50),
        p95_ns: percentile(&durations, 0.95),
        p99_ns: percentile(&durations, 0.99),
        max_ns: durations.last().copied().unwrap_or(0),
        errnos,
    }
}

/// Builds the report of a capture.
pub fn analyze(c: &Capture, opts: &Options) -> Report {
    let native = c.header.host.arch.as_str();
    let abi_of = |s: &Syscall| -> String {
        if s.abi.is_empty() {
            native.to_string()
        } else {
            s.abi.clone()
        }
    };
    let name_of = |abi: &str, nr: u32| syscall_display(Arch::from_uname(abi), nr);
    let start = c.start_ns();
    let selected: Vec<&Syscall> = c
        .syscalls
        .iter()
        .filter(|s| opts.pids.is_empty() || opts.pids.contains(&s.pid))
        .filter(|s| opts.from.is_none_or(|f| c.rel_secs(s.time_ns) >= f))
        .filter(|s| opts.to.is_none_or(|t| c.rel_secs(s.time_ns) < t))
        .collect();

    let mut groups: HashMap<(Option<u32>, String, u32), Vec<&Syscall>> = HashMap::new();
    for s in &selected {
        let tid = opts.by_thread.then_some(s.tid);
        groups.entry((tid, abi_of(s), s.nr)).or_default().push(s);
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|((tid, abi, nr), calls)| row(name_of(&abi, nr), abi, tid, &calls))
        .collect();
    // Per thread: the native ABI's table first, then another ABI's (i386).
    rows.sort_by(|a, b| {
        a.tid
            .cmp(&b.tid)
            .then((a.abi != native).cmp(&(b.abi != native)))
            .then_with(|| a.abi.cmp(&b.abi))
            .then(b.total_ns.cmp(&a.total_ns))
            .then(b.count.cmp(&a.count))
            .then_with(|| a.name.cmp(&b.name))
    });

    // Calls the agent counted but did not record (--syscalls-filter): whole-capture totals.
    let mut counted_only = Vec::new();
    if !opts.narrowed() && !opts.by_thread {
        counted_only = c
            .syscall_totals
            .iter()
            .filter(|t| t.calls > 0)
            .filter(|t| !rows.iter().any(|r| r.abi == t.abi && r.name == t.name))
            .map(|t| Counted {
                name: t.name.clone(),
                abi: t.abi.clone(),
                count: t.calls,
                errors: t.errors,
                total_ns: t.total_ns,
            })
            .collect();
        counted_only.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then(b.count.cmp(&a.count)));
    }

    let mut slow: Vec<&Syscall> = selected.clone();
    slow.sort_by(|a, b| {
        b.duration_ns
            .cmp(&a.duration_ns)
            .then(a.time_ns.cmp(&b.time_ns))
    });
    let thr = crate::cgroups::throttling::report(c)
        .ok()
        .filter(|t| t.periods > 0 || t.quota_known);
    let spans = thr
        .as_ref()
        .map(crate::throttled_calls::throttled_spans)
        .unwrap_or_default();
    let waits = thr
        .as_ref()
        .and_then(|_| crate::throttled_calls::Waits::of_capture(c));
    let call_of = |s: &Syscall| crate::throttled_calls::Call {
        tid: s.tid,
        start_ns: s.time_ns,
        duration_ns: s.duration_ns,
    };
    let verdict = |s: &Syscall| {
        thr.as_ref()
            .map(|_| crate::throttled_calls::Verdict::of(&call_of(s), &spans, waits.as_ref()))
    };
    let slowest = slow
        .into_iter()
        .take(opts.slowest)
        .map(|s| Slow {
            throttled: verdict(s).map(|v| v.throttled),
            throttled_from: verdict(s).map(|v| v.source()),
            throttled_wait_ns: verdict(s).and_then(|v| v.wait_ns),
            name: name_of(&abi_of(s), s.nr),
            abi: abi_of(s),
            pid: s.pid,
            tid: s.tid,
            start_ns: s.time_ns.saturating_sub(start),
            duration_ns: s.duration_ns,
            ret: s.ret,
            summary: s.summary.clone(),
        })
        .collect();

    let throttling = thr.map(|t| {
        // The syscalls with the most time, from the whole-selection rows.
        // Only calls between the first and the last snapshot: before and
        // after them the snapshots say nothing.
        let mut by_call: HashMap<(String, u32), Vec<crate::throttled_calls::Call>> = HashMap::new();
        let covered = |s: &Syscall| {
            s.time_ns >= t.start_ns && s.time_ns.saturating_add(s.duration_ns) <= t.end_ns
        };
        for s in selected.iter().filter(|s| covered(s)) {
            by_call
                .entry((abi_of(s), s.nr))
                .or_default()
                .push(call_of(s));
        }
        let mut top: Vec<_> = by_call.iter().filter(|(_, v)| v.len() >= 20).collect();
        top.sort_by_key(|(k, v)| {
            (
                std::cmp::Reverse(crate::sum_sat(v.iter().map(|c| c.duration_ns))),
                (*k).clone(),
            )
        });
        let calls = top
            .into_iter()
            .take(5)
            .map(|((abi, nr), v)| {
                crate::throttled_calls::explain(&name_of(abi, *nr), abi, v, &spans, waits.as_ref())
            })
            .collect();
        let total: u64 = crate::sum_sat(spans.iter().map(|(a, b)| b - a));
        Throttled {
            spans: spans.len(),
            throttled_s: crate::cgroups::round(total as f64 / 1e9, 3),
            interval_ns: c.header.options.cgroup_interval_ns,
            off_cpu: waits.is_some(),
            quota: crate::throttled_calls::quota_line(&t),
            calls,
        }
    });
    let comms = c.threads.iter().map(|t| (t.tid, t.comm.clone())).collect();
    Report {
        throttling,
        rows,
        counted_only,
        slowest,
        lost: c.lost("syscalls"),
        filter: c.header.options.syscalls_filter.clone(),
        comms,
        native_abi: native.to_string(),
        mode: mode(&c.header).to_string(),
    }
}

/// A duration for people: `812ns`, `15.2us`, `20.07ms`, `1.503s`.
pub fn human(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}us", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

/// A return value as strace shows it: `-1 ENOENT` for an error.
pub fn show_ret(ret: i64) -> String {
    match errno_of(ret) {
        Some(e) => format!(
            "-1 {}",
            errno_name(e).map_or_else(|| format!("E{e}"), str::to_string)
        ),
        None => ret.to_string(),
    }
}

/// The report as blocks of the output layer: one latency table per thread
/// (`--by-thread`) and ABI, the calls counted but not recorded, the slowest
/// calls.
pub fn doc(r: &Report) -> Vec<Block> {
    let mut blocks = Vec::new();
    if r.rows.is_empty() && r.counted_only.is_empty() {
        blocks.push(Block::Missing("no syscalls in the selection".into()));
    }
    let latency = || {
        Table::new(vec![
            col("syscall"),
            num("calls"),
            num("errors"),
            num("total"),
            num("avg"),
            num("p50"),
            num("p95"),
            num("p99"),
            num("max"),
            col("errors by errno"),
        ])
    };
    // Each run of rows of one thread and ABI is a table.
    let mut start = 0;
    while start < r.rows.len() {
        let first = &r.rows[start];
        let len = r.rows[start..]
            .iter()
            .take_while(|x| x.tid == first.tid && x.abi == first.abi)
            .count();
        let rows = &r.rows[start..start + len];
        let new_thread = start == 0 || r.rows[start - 1].tid != first.tid;
        if let (Some(tid), true) = (first.tid, new_thread) {
            let comm = r.comms.get(&tid).map(String::as_str).unwrap_or("?");
            blocks.push(Block::Heading(format!("thread {tid} ({comm})")));
        }
        if first.abi != r.native_abi {
            // Another ABI's calls (i386: int 0x80), as strace's separate table.
            blocks.push(Block::Heading(format!(
                "{} ABI{}",
                first.abi,
                if first.abi == "i386" {
                    " (32-bit calls, int 0x80)"
                } else {
                    ""
                }
            )));
        }
        let mut table = latency();
        for row in rows {
            table.row(vec![
                Cell::code(&row.name),
                row.count.into(),
                Cell::from(row.errors).alarm(row.errors > 0),
                human(row.total_ns).into(),
                human(row.avg_ns).into(),
                human(row.p50_ns).into(),
                human(row.p95_ns).into(),
                human(row.p99_ns).into(),
                human(row.max_ns).into(),
                errnos(&row.errnos).into(),
            ]);
        }
        if first.tid.is_none() {
            table.row(vec![
                "total".into(),
                crate::sum_sat(rows.iter().map(|x| x.count)).into(),
                crate::sum_sat(rows.iter().map(|x| x.errors)).into(),
                human(crate::sum_sat(rows.iter().map(|x| x.total_ns))).into(),
            ]);
        }
        blocks.push(Block::Table(table));
        start += len;
    }
    if !r.counted_only.is_empty() {
        blocks.push(Block::Heading(format!(
            "Counted, not recorded (outside --syscalls-filter {})",
            r.filter.as_deref().unwrap_or("")
        )));
        let mut table = Table::new(vec![
            col("syscall"),
            num("calls"),
            num("errors"),
            num("total"),
        ]);
        for c in &r.counted_only {
            let name = if c.abi == r.native_abi {
                c.name.clone()
            } else {
                format!("{} ({})", c.name, c.abi)
            };
            table.row(vec![
                Cell::code(name),
                c.count.into(),
                c.errors.into(),
                human(c.total_ns).into(),
            ]);
        }
        blocks.push(Block::Table(table));
    }
    if !r.slowest.is_empty() {
        blocks.push(Block::Heading("Slowest calls".into()));
        let mut table = Table::new(vec![
            num("at"),
            num("pid"),
            num("tid"),
            col("syscall"),
            num("duration"),
            num("return"),
            col("summary"),
        ]);
        if r.throttling.is_some() {
            table.columns.insert(5, col("throttled"));
        }
        for c in &r.slowest {
            let mut cells = vec![
                format!("{:.6} s", c.start_ns as f64 / 1e9).into(),
                c.pid.into(),
                c.tid.into(),
                Cell::code(&c.name),
                human(c.duration_ns).into(),
                show_ret(c.ret).into(),
                Cell::code(&c.summary),
            ];
            if let (Some(_), Some(t)) = (&r.throttling, c.throttled) {
                let yes = if t { "yes" } else { "no" };
                let text = match c.throttled_wait_ns {
                    Some(w) => format!("{yes}: waited {}", human(w)),
                    None => yes.to_string(),
                };
                cells.insert(5, Cell::text(text).alarm(t));
            }
            table.row(cells);
        }
        blocks.push(Block::Table(table));
    }
    if let Some(t) = &r.throttling {
        blocks.extend(throttled_blocks(t));
    }
    match r.mode.as_str() {
        "" => {}
        "kernel" => blocks.push(Block::Para(vec![t(
            "traced by the kernel's raw_syscalls tracepoints (--syscalls=kernel): raw arguments only",
        )])),
        "ptrace" => blocks.push(Block::Para(vec![t(
            "traced by ptrace (--syscalls=ptrace): latencies include the tracer's stops",
        )])),
        other => blocks.push(Block::Para(vec![t(format!("traced by {other}"))])),
    }
    if r.lost > 0 {
        blocks.push(Block::Para(vec![t(format!(
            "warning: {} syscall records were lost by the agent",
            r.lost
        ))]));
    }
    blocks
}

/// The slow calls against the cgroup's throttled periods.
fn throttled_blocks(th: &Throttled) -> Vec<Block> {
    let mut b = vec![Block::Heading(
        if th.off_cpu {
            "Slow calls and CPU throttling (from the off-CPU waits and the cgroup snapshots)"
        } else {
            "Slow calls and CPU throttling (from the cgroup snapshots)"
        }
        .into(),
    )];
    if th.spans == 0 {
        b.push(Block::Para(vec![t(
            "The cgroup was never throttled during the capture: no slow call is explained by the CPU quota.",
        )]));
        return b;
    }
    let mut items: Vec<Vec<crate::doc::Inline>> = Vec::new();
    for e in &th.calls {
        let strong = e.explained();
        items.push(vec![if strong {
            crate::doc::Inline::Strong(crate::throttled_calls::line(e))
        } else {
            t(crate::throttled_calls::line(e))
        }]);
    }
    if !items.is_empty() {
        b.push(Block::List {
            numbered: false,
            items,
        });
    }
    b.push(Block::Para(vec![t(format!(
        "Throttled {:.2} s in {} span{}; a call overlaps throttled time when it shares an instant with a snapshot interval{} in which nr_throttled grew{}.",
        th.throttled_s,
        th.spans,
        if th.spans == 1 { "" } else { "s" },
        if th.interval_ns > 0 {
            format!(" ({})", human(th.interval_ns))
        } else {
            String::new()
        },
        th.quota
            .as_ref()
            .map(|q| format!(": {q}"))
            .unwrap_or_default()
    ))]));
    b.push(Block::Para(vec![t(if th.off_cpu {
        "Exact for the calls of threads the off-CPU data covers: a call waited throttled when its thread was runnable, waiting for a CPU, inside throttled time for half the call or more."
    } else {
        "Recorded without --off-cpu: record with it to tell each call exactly by the time its thread waited for a CPU while throttled."
    })]));
    b
}

/// `EAGAIN:3 ENOENT:1`.
pub fn errnos(list: &[(String, u64)]) -> String {
    list.iter()
        .map(|(n, c)| format!("{n}:{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `holter syscalls` on a terminal.
pub fn to_text(r: &Report) -> String {
    crate::doc::text::render(&Doc { blocks: doc(r) })
}

/// `holter syscalls --json`: `{syscalls: [Row], slowest: [Slow],
/// counted_only: [Counted], lost, mode}`; field names are a contract.
#[derive(Serialize)]
struct Json<'a> {
    syscalls: &'a [Row],
    slowest: &'a [Slow],
    counted_only: &'a [Counted],
    lost: u64,
    mode: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    throttling: Option<&'a Throttled>,
}

pub fn to_json(r: &Report) -> Value {
    serde_json::to_value(Json {
        syscalls: &r.rows,
        slowest: &r.slowest,
        counted_only: &r.counted_only,
        lost: r.lost,
        mode: &r.mode,
        throttling: r.throttling.as_ref(),
    })
    .unwrap_or(Value::Null)
}

/// Errno counts as a JSON object: `{"ENOENT": 3}`.
fn errnos_map<S: serde::Serializer>(list: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(list.len()))?;
    for (name, count) in list {
        m.serialize_entry(name, count)?;
    }
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use holter_format::{Header, Host, SyscallTotal};

    /// A capture of x86_64 calls: (tid, nr, start offset ns, duration ns, ret).
    fn capture(calls: &[(u32, u32, u64, u64, i64)]) -> Capture {
        let start = 1_000_000_000;
        Capture {
            header: Header {
                host: Host {
                    arch: "x86_64".into(),
                    ..Host::default()
                },
                clock: holter_format::ClockPair {
                    monotonic_ns: start,
                    wall_ns: 0,
                },
                ..Header::default()
            },
            syscalls: calls
                .iter()
                .map(|&(tid, nr, at, d, ret)| Syscall {
                    time_ns: start + at,
                    pid: tid / 10,
                    tid,
                    nr,
                    duration_ns: d,
                    ret,
                    summary: format!("call at {at}"),
                    abi: String::new(),
                })
                .collect(),
            ..Capture::default()
        }
    }

    const GETPID: u32 = 39;
    const OPENAT: u32 = 257;
    const NANOSLEEP: u32 = 35;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.95), 95);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn table_counts_errors_and_sorts_by_total() {
        let mut calls = Vec::new();
        for i in 0..1000u64 {
            calls.push((100, GETPID, i * 10, 100 + i, 100));
        }
        for i in 0..10u64 {
            calls.push((100, OPENAT, 20_000 + i, 1_000, if i < 7 { -2 } else { -13 }));
        }
        calls.push((101, NANOSLEEP, 30_000, 20_000_000, 0));
        let c = capture(&calls);
        let r = analyze(
            &c,
            &Options {
                slowest: 2,
                ..Options::default()
            },
        );
        let names: Vec<&str> = r.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["nanosleep", "getpid", "openat"]);
        let getpid = &r.rows[1];
        assert_eq!(getpid.count, 1000);
        assert_eq!(getpid.errors, 0);
        assert_eq!(getpid.total_ns, (100..1100).sum::<u64>());
        assert_eq!(getpid.avg_ns, getpid.total_ns / 1000);
        assert_eq!(getpid.p50_ns, 599);
        assert_eq!(getpid.p95_ns, 1049);
        assert_eq!(getpid.p99_ns, 1089);
        assert_eq!(getpid.max_ns, 1099);
        let openat = &r.rows[2];
        assert_eq!(openat.errors, 10);
        assert_eq!(
            openat.errnos,
            [("ENOENT".to_string(), 7), ("EACCES".to_string(), 3)]
        );
        assert_eq!(r.slowest.len(), 2);
        assert_eq!(r.slowest[0].name, "nanosleep");
        assert_eq!(r.slowest[0].start_ns, 30_000);
        assert_eq!(r.slowest[1].name, "getpid");
        assert_eq!(r.slowest[1].duration_ns, 1099);

        let j = to_json(&r);
        assert_eq!(j["syscalls"][0]["name"], "nanosleep");
        assert_eq!(j["syscalls"][2]["errnos"]["ENOENT"], 7);
        assert_eq!(j["syscalls"][1]["p99_ns"], 1089);
        assert_eq!(j["slowest"][0]["duration_ns"], 20_000_000);
        assert_eq!(j["slowest"][0]["tid"], 101);
        for key in [
            "name", "count", "errors", "total_ns", "avg_ns", "p50_ns", "p95_ns", "p99_ns",
            "max_ns", "errnos",
        ] {
            assert!(j["syscalls"][0].get(key).is_some(), "{key}");
        }
        for key in ["name", "tid", "start_ns", "duration_ns", "ret", "summary"] {
            assert!(j["slowest"][0].get(key).is_some(), "{key}");
        }

        let text = to_text(&r);
        assert!(text.contains("ENOENT:7 EACCES:3"), "{text}");
        assert!(
            text.lines().nth(1).unwrap().starts_with("nanosleep"),
            "{text}"
        );
        assert!(text.contains("20.00ms"));
        let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        let lines: Vec<String> = text.lines().map(words).collect();
        assert!(
            lines.contains(&"total 1011 10 20.61ms".to_string()),
            "{text}"
        );
        let slowest = lines
            .iter()
            .position(|l| l == "Slowest calls:")
            .unwrap_or_else(|| panic!("no slowest calls: {text}"));
        assert_eq!(
            lines[slowest + 2..],
            [
                "0.000030 s 10 101 nanosleep 20.00ms 0 call at 30000",
                "0.000010 s 10 100 getpid 1.1us 100 call at 9990",
            ],
            "{text}"
        );
    }

    #[test]
    fn pid_time_and_thread_selection() {
        let calls = [
            (100, GETPID, 0, 10, 1),
            (100, GETPID, 2_000_000_000, 10, 1),
            (205, GETPID, 500_000_000, 10, 1),
            (205, OPENAT, 600_000_000, 10, -2),
        ];
        let c = capture(&calls);
        let only = |o: Options| analyze(&c, &o).rows;
        let rows = only(Options {
            pids: vec![20],
            ..Options::default()
        });
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 2);
        let rows = only(Options {
            from: Some(0.4),
            to: Some(1.0),
            ..Options::default()
        });
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 2);
        let rows = only(Options {
            by_thread: true,
            ..Options::default()
        });
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].tid, rows[0].count), (Some(100), 2));
        assert_eq!(rows[1].tid, Some(205));
        let text = to_text(&analyze(
            &c,
            &Options {
                by_thread: true,
                ..Options::default()
            },
        ));
        assert!(
            text.contains("thread 100") && text.contains("thread 205"),
            "{text}"
        );
    }

    #[test]
    fn unrecorded_calls_of_old_captures_come_from_counters() {
        let mut c = capture(&[(100, OPENAT, 0, 1000, 3)]);
        c.counters = vec![
            ("syscall:openat".into(), 1),
            ("syscall_errors:openat".into(), 0),
            ("syscall_ns:openat".into(), 1000),
            ("syscall:getpid".into(), 50),
            ("syscall_errors:getpid".into(), 0),
            ("syscall_ns:getpid".into(), 5000),
            ("cycles".into(), 12),
        ];
        // As `Capture::load` does for a capture before format 1.3.
        c.totals_from_counters();
        assert_eq!(c.counters, [("cycles".to_string(), 12)]);
        assert_eq!(c.syscall_totals.len(), 2);
        assert_eq!(
            (c.syscall_totals[1].nr, c.syscall_totals[1].calls),
            (39, 50)
        );
        let r = analyze(&c, &Options::default());
        assert_eq!(r.rows.len(), 1);
        assert_eq!(
            r.counted_only,
            [Counted {
                name: "getpid".into(),
                abi: "x86_64".into(),
                count: 50,
                errors: 0,
                total_ns: 5000
            }]
        );
        assert!(to_text(&r).contains("Counted, not recorded"));
        assert_eq!(to_json(&r)["counted_only"][0]["count"], 50);
    }

    /// 32-bit calls (`int 0x80`) of an x86_64 process: named from the i386
    /// table, in a table of their own, `abi` in the JSON; typed totals of
    /// calls not recorded are listed under their ABI too.
    #[test]
    fn i386_calls_are_named_and_shown_apart() {
        let mut c = capture(&[(100, OPENAT, 0, 1000, 3), (100, 20, 10, 500, 100)]);
        // i386 20 is getpid (x86_64 20 is writev).
        c.syscalls[1].abi = "i386".into();
        c.syscall_totals = vec![
            SyscallTotal {
                abi: "i386".into(),
                nr: 20,
                name: "getpid".into(),
                calls: 1,
                total_ns: 500,
                ..SyscallTotal::default()
            },
            SyscallTotal {
                abi: "i386".into(),
                nr: 4,
                name: "write".into(),
                calls: 7,
                errors: 2,
                errnos: vec![(9, 2)],
                ..SyscallTotal::default()
            },
        ];
        c.counters = vec![("syscall:openat".into(), 99)];
        c.totals_from_counters();
        assert!(
            c.counters.is_empty(),
            "old counters dropped beside typed totals"
        );
        let r = analyze(&c, &Options::default());
        let names: Vec<(&str, &str)> = r
            .rows
            .iter()
            .map(|r| (r.abi.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(names, [("x86_64", "openat"), ("i386", "getpid")]);
        assert_eq!(r.counted_only.len(), 1);
        assert_eq!(
            (
                r.counted_only[0].abi.as_str(),
                r.counted_only[0].name.as_str()
            ),
            ("i386", "write")
        );
        let text = to_text(&r);
        let at = text
            .find("i386 ABI (32-bit calls, int 0x80):")
            .expect(&text);
        assert!(text[at..].contains("getpid"), "{text}");
        assert!(!text[..at].contains("getpid"), "{text}");
        assert!(text.contains("write (i386)"), "{text}");
        let v = to_json(&r);
        assert_eq!(v["syscalls"][1]["abi"], "i386");
        assert_eq!(v["syscalls"][1]["name"], "getpid");
        assert_eq!(v["counted_only"][0]["abi"], "i386");
    }

    /// Writes of thread 100, each 1 µs but two 50 ms ones at 1.0 s and
    /// 2.0 s, in a cgroup throttled throughout (v1 snapshots each second).
    fn throttled_capture() -> Capture {
        const WRITE: u32 = 1;
        let mut calls: Vec<(u32, u32, u64, u64, i64)> = (0..100)
            .map(|i| (100, WRITE, i * 30_000_000, 1_000, 1))
            .collect();
        calls.push((100, WRITE, 1_000_000_000, 50_000_000, 1));
        calls.push((100, WRITE, 2_000_000_000, 50_000_000, 1));
        let mut c = capture(&calls);
        let start = c.header.clock.monotonic_ns;
        c.cgroup_snapshots = (0..5u64)
            .map(|i| holter_format::CgroupSnapshot {
                time_ns: start + i * 1_000_000_000,
                path: "/box".into(),
                version: 1,
                controller: "cpu".into(),
                files: vec![
                    (
                        "cpu.stat".into(),
                        format!(
                            "nr_periods {}\nnr_throttled {}\nthrottled_time 0\n",
                            i * 10,
                            i * 9
                        ),
                    ),
                    ("cpu.cfs_quota_us".into(), "20000\n".into()),
                    ("cpu.cfs_period_us".into(), "100000\n".into()),
                ],
            })
            .collect();
        c
    }

    #[test]
    fn slow_calls_are_told_exactly_where_off_cpu_data_covers_their_thread() {
        let mut c = throttled_capture();
        let start = c.header.clock.monotonic_ns;
        let opts = Options {
            slowest: 2,
            ..Options::default()
        };
        // From the snapshots: both slow writes overlap throttled time.
        let r = analyze(&c, &opts);
        let th = r.throttling.as_ref().unwrap();
        assert!(!th.off_cpu);
        assert_eq!((th.calls[0].slow_calls, th.calls[0].slow_throttled), (2, 2));
        assert!(r.slowest.iter().all(|s| s.throttled == Some(true)
            && s.throttled_from == Some("snapshots")
            && s.throttled_wait_ns.is_none()));

        // With off-CPU data: the write at 1.0 s was preempted 45 ms (the
        // quota); the one at 2.0 s blocked 45 ms and was runnable 10 µs.
        c.header.off_cpu = true;
        let off = |at: u64, runq: u64, state: u8| holter_format::OffCpu {
            time_ns: start + at,
            pid: 10,
            tid: 100,
            off_ns: 45_000_000,
            runq_ns: runq,
            state,
            ..holter_format::OffCpu::default()
        };
        c.off_cpu = vec![
            off(1_002_000_000, 45_000_000, b'R'),
            off(2_002_000_000, 10_000, b'S'),
        ];
        let r = analyze(&c, &opts);
        let th = r.throttling.as_ref().unwrap();
        assert!(th.off_cpu);
        let e = &th.calls[0];
        assert_eq!((e.exact_calls, e.slow_calls, e.slow_throttled), (102, 2, 1));
        assert_eq!(e.slow_throttled_wait_ns, 45_010_000);
        let by_start = |at: u64| r.slowest.iter().find(|s| s.start_ns == at).unwrap();
        let (quota, blocked) = (by_start(1_000_000_000), by_start(2_000_000_000));
        assert_eq!(
            (
                quota.throttled,
                quota.throttled_from,
                quota.throttled_wait_ns
            ),
            (Some(true), Some("off-cpu"), Some(45_000_000))
        );
        assert_eq!(
            (blocked.throttled, blocked.throttled_wait_ns),
            (Some(false), Some(10_000))
        );
        let text = crate::doc::text::render(&crate::doc::Doc { blocks: doc(&r) });
        assert!(text.contains("yes: waited 45.00ms"), "{text}");
        assert!(text.contains("no: waited 10.0us"), "{text}");
        assert!(
            text.contains("1 of 2 calls above 1.00ms (the p95 is 1.0us) waited throttled"),
            "{text}"
        );
        assert!(
            text.contains("from the off-CPU waits and the cgroup snapshots"),
            "{text}"
        );
    }

    #[test]
    fn formatting() {
        assert_eq!(human(812), "812ns");
        assert_eq!(human(15_200), "15.2us");
        assert_eq!(human(20_070_000), "20.07ms");
        assert_eq!(human(1_503_000_000), "1.503s");
        assert_eq!(show_ret(-2), "-1 ENOENT");
        assert_eq!(show_ret(4096), "4096");
        let c = capture(&[(1, 999, 0, 5, 0)]);
        assert_eq!(analyze(&c, &Options::default()).rows[0].name, "syscall_999");
    }
}

#[cfg(test)]
mod json_contract {
    use super::*;

    /// The field names of `holter syscalls --json` are a contract.
    #[test]
    fn field_names() {
        let r = Report {
            rows: vec![Row {
                name: "read".into(),
                abi: "x86_64".into(),
                tid: Some(7),
                count: 2,
                errors: 1,
                total_ns: 3,
                avg_ns: 1,
                p50_ns: 1,
                p95_ns: 2,
                p99_ns: 2,
                max_ns: 2,
                errnos: vec![("EAGAIN".into(), 1)],
            }],
            counted_only: vec![Counted {
                name: "write".into(),
                abi: "x86_64".into(),
                count: 1,
                errors: 0,
                total_ns: 5,
            }],
            slowest: vec![Slow {
                name: "read".into(),
                abi: "x86_64".into(),
                pid: 1,
                tid: 7,
                start_ns: 9,
                duration_ns: 2,
                ret: -11,
                summary: "fd=3".into(),
                throttled: None,
                throttled_from: None,
                throttled_wait_ns: None,
            }],
            lost: 4,
            ..Report::default()
        };
        let v = to_json(&r);
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k.join(",")
        };
        assert_eq!(keys(&v), "counted_only,lost,mode,slowest,syscalls");
        assert_eq!(
            keys(&v["syscalls"][0]),
            "abi,avg_ns,count,errnos,errors,max_ns,name,p50_ns,p95_ns,p99_ns,tid,total_ns"
        );
        assert_eq!(v["syscalls"][0]["errnos"]["EAGAIN"], 1);
        assert_eq!(
            keys(&v["slowest"][0]),
            "abi,duration_ns,name,pid,ret,start_ns,summary,tid"
        );
        assert_eq!(
            keys(&v["counted_only"][0]),
            "abi,count,errors,name,total_ns"
        );
        assert_eq!(v["lost"], 4);
        let mut no_tid = r.clone();
        no_tid.rows[0].tid = None;
        assert!(to_json(&no_tid)["syscalls"][0].get("tid").is_none());

        // With cgroup CPU counters: two fields added, none renamed.
        let mut thr = r.clone();
        thr.slowest[0].throttled = Some(true);
        thr.slowest[0].throttled_from = Some("off-cpu");
        thr.slowest[0].throttled_wait_ns = Some(1);
        thr.throttling = Some(Throttled {
            spans: 1,
            throttled_s: 0.5,
            interval_ns: 100_000_000,
            off_cpu: false,
            quota: None,
            calls: vec![crate::throttled_calls::explain(
                "read",
                "x86_64",
                &[crate::throttled_calls::Call {
                    tid: 1,
                    start_ns: 5,
                    duration_ns: 2,
                }],
                &[(0, 10)],
                None,
            )],
        });
        let v = to_json(&thr);
        assert_eq!(
            keys(&v),
            "counted_only,lost,mode,slowest,syscalls,throttling"
        );
        assert_eq!(
            keys(&v["slowest"][0]),
            "abi,duration_ns,name,pid,ret,start_ns,summary,throttled,throttled_from,throttled_wait_ns,tid"
        );
        assert_eq!(v["slowest"][0]["throttled_from"], "off-cpu");
        assert_eq!(v["slowest"][0]["throttled"], true);
        assert_eq!(
            keys(&v["throttling"]),
            "calls,interval_ns,off_cpu,quota,spans,throttled_s"
        );
        assert_eq!(
            keys(&v["throttling"]["calls"][0]),
            "abi,count,exact_calls,max_ns,name,p95_ns,p99_less_throttled_wait_ns,p99_ns,p99_unthrottled_ns,slow_above_ns,slow_calls,slow_ns,slow_throttled,slow_throttled_wait_ns,throttled_calls"
        );
    }
}
