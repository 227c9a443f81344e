//! Slow syscalls explained by the cgroup's CPU quota: a call that overlaps
//! time the cgroup was throttled may have waited for the next enforcement
//! period, not for I/O.
//!
//! Two ways to tell, per call:
//!
//! - **exact**, from off-CPU data (`record --off-cpu`): each off-CPU
//!   interval of a thread ends with the time it was runnable, waiting for a
//!   CPU (its run-queue delay). The part of that wait inside the call and
//!   inside throttled time is the time the call waited for the quota; the
//!   call waited throttled when that is at least half its duration. Used for
//!   the calls of every thread the off-CPU data covers (a thread with at
//!   least one interval): a call none of its intervals overlaps ran
//!   throughout and waited for nothing.
//! - **from the snapshots**, otherwise: "throttled time" is every interval
//!   between two snapshots in which `nr_throttled` grew, and a call is
//!   counted when it shares any instant with it. The resolution is the
//!   snapshot interval (`--interval`), so beside the slow calls' share the
//!   share of all calls counted is given: the slow calls are explained when
//!   their share is high and clearly above it.
//!
//! A slow call is one above the p95 of its syscall, or above 1 ms when the
//! p95 is shorter: a quota stalls a task for milliseconds (up to the period
//! less the quota), and in a busy loop of cheap calls those stalls are far
//! fewer than 5% of the calls, beyond the p95 and even the p99.

use std::collections::HashMap;

use holter_format::OffCpu;
use serde::Serialize;

use crate::cgroups::throttling::Throttling;
use crate::syscalls::{human, percentile};

/// Sorted, merged `[start, end)` monotonic spans in which the cgroup was throttled.
pub fn throttled_spans(t: &Throttling) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = t
        .intervals
        .iter()
        .filter(|i| i.throttled_periods.unwrap_or(0) > 0 && i.end_ns > i.start_ns)
        .map(|i| (i.start_ns, i.end_ns))
        .collect();
    v.sort_unstable();
    merge(v)
}

/// Merges sorted spans that touch or overlap.
fn merge(sorted: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
    for (s, e) in sorted {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether a call of `duration_ns` from `start_ns` shares an instant with a
/// span (spans sorted and merged; a zero-length call is the instant it began).
pub fn overlaps(spans: &[(u64, u64)], start_ns: u64, duration_ns: u64) -> bool {
    let end = start_ns.saturating_add(duration_ns.max(1));
    // The first span ending after the call starts.
    let i = spans.partition_point(|&(_, e)| e <= start_ns);
    spans.get(i).is_some_and(|&(s, _)| s < end)
}

/// Time of `[lo, hi)` inside the spans (sorted and merged).
fn inside(spans: &[(u64, u64)], lo: u64, hi: u64) -> u64 {
    let mut total = 0;
    let i = spans.partition_point(|&(_, e)| e <= lo);
    for &(s, e) in spans[i..].iter().take_while(|&&(s, _)| s < hi) {
        total += e.min(hi).saturating_sub(s.max(lo));
    }
    total
}

/// One off-CPU interval of a thread: off from `start` to `end`, runnable
/// and waiting for a CPU from `wait` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Off {
    start: u64,
    wait: u64,
    end: u64,
}

/// Each thread's off-CPU intervals (`record --off-cpu`), by tid, sorted
/// and made disjoint (a capture is untrusted: overlaps are cut).
#[derive(Debug, Clone, Default)]
pub struct Waits {
    by_tid: HashMap<u32, Vec<Off>>,
}

impl Waits {
    pub fn new<'a>(intervals: impl IntoIterator<Item = &'a OffCpu>) -> Waits {
        let mut by_tid: HashMap<u32, Vec<Off>> = HashMap::new();
        for o in intervals {
            let end = o.time_ns.saturating_add(o.off_ns);
            by_tid.entry(o.tid).or_default().push(Off {
                start: o.time_ns,
                wait: end - o.runq_ns.min(o.off_ns),
                end,
            });
        }
        for v in by_tid.values_mut() {
            v.sort_unstable_by_key(|o| (o.start, o.end));
            let mut last_end = 0;
            for o in v.iter_mut() {
                o.start = o.start.max(last_end);
                o.end = o.end.max(o.start);
                o.wait = o.wait.clamp(o.start, o.end);
                last_end = o.end;
            }
        }
        Waits { by_tid }
    }

    /// The capture's off-CPU intervals; `None` when it was recorded without
    /// `--off-cpu`.
    pub fn of_capture(c: &crate::load::Capture) -> Option<Waits> {
        c.header.off_cpu.then(|| Waits::new(&c.off_cpu))
    }

    /// The time thread `tid` waited for a CPU while the cgroup was
    /// throttled (inside `spans`) during the call `[start_ns, start_ns +
    /// duration_ns)`: 0 when none of the thread's off-CPU intervals
    /// overlaps the call (it ran throughout); `None` when the thread has no
    /// off-CPU interval at all (the off-CPU data says nothing of it).
    pub fn throttled_wait(
        &self,
        tid: u32,
        start_ns: u64,
        duration_ns: u64,
        spans: &[(u64, u64)],
    ) -> Option<u64> {
        let v = self.by_tid.get(&tid)?;
        let end = start_ns.saturating_add(duration_ns);
        let i = v.partition_point(|o| o.end <= start_ns);
        let mut total = 0;
        for o in v[i..].iter().take_while(|o| o.start < end) {
            let (lo, hi) = (o.wait.max(start_ns), o.end.min(end));
            if lo < hi {
                total += inside(spans, lo, hi);
            }
        }
        Some(total)
    }
}

/// Whether a call that waited `wait_ns` of its `duration_ns` for a CPU in
/// throttled time waited throttled: the wait is at least half the call.
pub fn waited_throttled(wait_ns: u64, duration_ns: u64) -> bool {
    wait_ns > 0 && wait_ns.saturating_mul(2) >= duration_ns
}

/// One call: its thread, start and duration (monotonic nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub tid: u32,
    pub start_ns: u64,
    pub duration_ns: u64,
}

/// Whether a call is counted as throttled, and how that was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub throttled: bool,
    /// The time it waited for a CPU in throttled time, when exact (the
    /// off-CPU data covers its thread); `None`: told from the snapshots.
    pub wait_ns: Option<u64>,
}

impl Verdict {
    pub fn of(call: &Call, spans: &[(u64, u64)], waits: Option<&Waits>) -> Verdict {
        match waits.and_then(|w| w.throttled_wait(call.tid, call.start_ns, call.duration_ns, spans))
        {
            Some(w) => Verdict {
                throttled: waited_throttled(w, call.duration_ns),
                wait_ns: Some(w),
            },
            None => Verdict {
                throttled: overlaps(spans, call.start_ns, call.duration_ns),
                wait_ns: None,
            },
        }
    }

    /// `off-cpu` (exact) or `snapshots`.
    pub fn source(&self) -> &'static str {
        if self.wait_ns.is_some() {
            "off-cpu"
        } else {
            "snapshots"
        }
    }
}

/// How much of one syscall's tail the throttled periods explain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explained {
    pub name: String,
    pub abi: String,
    pub count: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// A slow call lasts longer than this: the p95, at least 1 ms.
    pub slow_above_ns: u64,
    /// Calls slower than `slow_above_ns`.
    pub slow_calls: u64,
    /// Of those, the calls that overlap throttled time.
    pub slow_throttled: u64,
    /// Of all calls, those that overlap throttled time.
    pub throttled_calls: u64,
    /// The p99 of the calls that overlap no throttled time (`null`: none).
    pub p99_unthrottled_ns: Option<u64>,
    /// Calls told exactly, from off-CPU data (the capture holds off-CPU
    /// intervals of their thread); the others are told from the snapshots.
    pub exact_calls: u64,
    /// The slow calls' time, in total.
    pub slow_ns: u64,
    /// Of the slow calls told exactly, the time they waited for a CPU
    /// while the cgroup was throttled, in total.
    pub slow_throttled_wait_ns: u64,
    /// The p99 once each exactly told call's throttled wait is taken off
    /// its duration: the p99 the quota would have left (`null`: no call
    /// told exactly).
    pub p99_less_throttled_wait_ns: Option<u64>,
}

impl Explained {
    /// Percent of the slow calls that overlap throttled time.
    pub fn explained_pct(&self) -> f64 {
        pct(self.slow_throttled, self.slow_calls)
    }

    /// Whether throttling explains the slow calls. Every call told exactly
    /// (off-CPU data): at least half the slow calls' time was the wait for
    /// a CPU while throttled. Otherwise, by count: most slow calls were
    /// throttled, clearly more often than calls in general, or the cgroup
    /// was throttled throughout (90% of all calls overlap throttled time:
    /// the snapshots cannot tell the calls apart, and any of them may have
    /// waited for the next period).
    pub fn explained(&self) -> bool {
        if self.slow_calls == 0 {
            return false;
        }
        if self.exact_calls == self.count {
            return self.slow_throttled_wait_ns.saturating_mul(2) >= self.slow_ns;
        }
        self.explained_pct() >= 50.0
            && (self.explained_pct() >= self.baseline_pct() + 10.0 || self.throughout())
    }

    /// Whether 90% of all calls overlap throttled time (told from the
    /// snapshots: never when every call is told exactly).
    pub fn throughout(&self) -> bool {
        self.exact_calls < self.count && self.baseline_pct() >= 90.0
    }

    /// Percent of all calls that overlap throttled time.
    pub fn baseline_pct(&self) -> f64 {
        pct(self.throttled_calls, self.count)
    }
}

fn pct(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 * 100.0 / d as f64
    }
}

/// The shortest a slow call is, whatever the p95.
pub const SLOW_NS: u64 = 1_000_000;

/// Explains one syscall's calls: each told exactly where `waits` (the
/// capture's off-CPU data) covers it, from the snapshots' `spans` otherwise.
pub fn explain(
    name: &str,
    abi: &str,
    calls: &[Call],
    spans: &[(u64, u64)],
    waits: Option<&Waits>,
) -> Explained {
    let mut d: Vec<u64> = calls.iter().map(|c| c.duration_ns).collect();
    d.sort_unstable();
    let p95 = percentile(&d, 0.95);
    let slow = p95.max(SLOW_NS);
    let mut above = 0;
    let mut above_thr = 0;
    let mut thr = 0;
    let mut exact = 0;
    let mut slow_wait = 0u64;
    let mut slow_ns = 0u64;
    let mut outside: Vec<u64> = Vec::new();
    let mut less: Vec<u64> = Vec::with_capacity(calls.len());
    for c in calls {
        let v = Verdict::of(c, spans, waits);
        thr += u64::from(v.throttled);
        exact += u64::from(v.wait_ns.is_some());
        less.push(c.duration_ns - v.wait_ns.unwrap_or(0).min(c.duration_ns));
        if c.duration_ns > slow {
            above += 1;
            above_thr += u64::from(v.throttled);
            slow_ns = slow_ns.saturating_add(c.duration_ns);
            slow_wait = slow_wait.saturating_add(v.wait_ns.unwrap_or(0));
        }
        if !v.throttled {
            outside.push(c.duration_ns);
        }
    }
    outside.sort_unstable();
    less.sort_unstable();
    Explained {
        name: name.to_string(),
        abi: abi.to_string(),
        count: calls.len() as u64,
        p95_ns: p95,
        p99_ns: percentile(&d, 0.99),
        max_ns: d.last().copied().unwrap_or(0),
        slow_above_ns: slow,
        slow_calls: above,
        slow_throttled: above_thr,
        throttled_calls: thr,
        p99_unthrottled_ns: (!outside.is_empty()).then(|| percentile(&outside, 0.99)),
        exact_calls: exact,
        slow_ns,
        slow_throttled_wait_ns: slow_wait,
        p99_less_throttled_wait_ns: (exact > 0).then(|| percentile(&less, 0.99)),
    }
}

/// `write: p99 78.70ms, max 80.10ms: 41 of 45 calls above the p95 (12.10ms)
/// overlap throttled periods (91%; of all calls, 60%): explained by
/// throttling; outside them p99 21.0us.`
pub fn line(e: &Explained) -> String {
    let above = if e.slow_above_ns == e.p95_ns {
        format!("the p95 ({})", human(e.p95_ns))
    } else {
        format!(
            "{} (the p95 is {})",
            human(e.slow_above_ns),
            human(e.p95_ns)
        )
    };
    let mut s = format!(
        "{}: p99 {}, max {}: ",
        e.name,
        human(e.p99_ns),
        human(e.max_ns)
    );
    if e.slow_calls == 0 {
        s.push_str(&format!("no call above {above}"));
        return s;
    }
    let how = if e.exact_calls == 0 {
        "overlap throttled periods"
    } else {
        "waited throttled"
    };
    s.push_str(&format!(
        "{} of {} calls above {above} {how} ({:.0}%; of all calls, {:.0}%): {}",
        e.slow_throttled,
        e.slow_calls,
        e.explained_pct(),
        e.baseline_pct(),
        match (e.explained(), e.throughout()) {
            (true, true) => "explained by throttling (throttled throughout: any call may have waited for the next period)",
            (true, false) => "explained by throttling",
            (false, _) => "not explained by throttling",
        }
    ));
    match e.p99_unthrottled_ns {
        Some(p) => s.push_str(&format!("; outside them p99 {}", human(p))),
        None => s.push_str("; every call overlaps throttled time"),
    }
    if let Some(p) = e.p99_less_throttled_wait_ns {
        s.push_str(&format!(
            "; exact for {} of {} calls (off-CPU data: waiting for a CPU while throttled for half the call or more; the others by the snapshots): the slow calls waited {} of their {} for a CPU while throttled, and less those waits the p99 is {}",
            e.exact_calls,
            e.count,
            human(e.slow_throttled_wait_ns),
            human(e.slow_ns),
            human(p)
        ));
    }
    s
}

/// What a 0.20-core quota leaves: `a 0.20-core quota (20000 µs per 100000 µs)
/// leaves the cgroup off the CPU up to 80.00ms of each 100.00ms period`.
pub fn quota_line(t: &Throttling) -> Option<String> {
    let (q, p) = (t.quota_us?, t.period_us?);
    (q < p).then(|| {
        format!(
            "a {:.2}-core quota ({q} µs per {p} µs period) leaves the cgroup off the CPU up to {} of each {} period",
            q as f64 / p as f64,
            human((p - q).saturating_mul(1000)),
            human(p.saturating_mul(1000))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::throttling::Interval;

    /// Calls of thread 1, `(start, duration)`.
    fn c(calls: &[(u64, u64)]) -> Vec<Call> {
        calls
            .iter()
            .map(|&(start_ns, duration_ns)| Call {
                tid: 1,
                start_ns,
                duration_ns,
            })
            .collect()
    }

    fn iv(start: u64, end: u64, throttled: Option<u64>) -> Interval {
        Interval {
            start_ns: start,
            end_ns: end,
            periods: Some(1),
            throttled_periods: throttled,
            throttled_ns: None,
            usage_cores: None,
        }
    }

    #[test]
    fn spans_are_the_intervals_where_nr_throttled_grew_merged() {
        let t = Throttling {
            intervals: vec![
                iv(0, 100, Some(1)),
                iv(100, 200, Some(3)),
                iv(200, 300, Some(0)),
                iv(300, 400, None),
                iv(400, 500, Some(2)),
            ],
            ..crate::cgroups::throttling::from_series(&crate::cgroups::Series::default())
        };
        assert_eq!(throttled_spans(&t), [(0, 200), (400, 500)]);
    }

    #[test]
    fn overlap_arithmetic() {
        let spans = [(100, 200), (400, 500)];
        // Inside, straddling either edge, across a whole span.
        assert!(overlaps(&spans, 150, 10));
        assert!(overlaps(&spans, 90, 11));
        assert!(overlaps(&spans, 199, 5));
        assert!(overlaps(&spans, 50, 1000));
        // Before, between, after; ending exactly where a span starts;
        // starting exactly where one ends.
        assert!(!overlaps(&spans, 0, 50));
        assert!(!overlaps(&spans, 250, 100));
        assert!(!overlaps(&spans, 600, 10));
        assert!(!overlaps(&spans, 90, 10));
        assert!(!overlaps(&spans, 200, 10));
        // A zero-length call inside counts; no spans, no overlap.
        assert!(overlaps(&spans, 450, 0));
        assert!(!overlaps(&[], 450, 10));
        assert!(!overlaps(&spans, u64::MAX - 1, u64::MAX));
    }

    #[test]
    fn the_tail_that_throttling_explains() {
        // 200 calls: 190 fast (1 µs), one of them inside throttled time;
        // 10 slow (80 ms), 8 inside throttled time and 2 outside.
        let spans = [(1_000_000_000, 2_000_000_000)];
        let mut calls: Vec<(u64, u64)> = (0..190).map(|i| (i * 1_000_000, 1_000)).collect();
        calls[0] = (1_500_000_000, 1_000);
        calls.extend((0..8).map(|i| (1_000_000_000 + i * 100_000_000, 80_000_000)));
        calls.extend([(3_000_000_000, 80_000_000), (3_100_000_000, 80_000_000)]);
        let e = explain("write", "x86_64", &c(&calls), &spans, None);
        assert_eq!(e.count, 200);
        assert_eq!(
            (e.p95_ns, e.p99_ns, e.max_ns),
            (1_000, 80_000_000, 80_000_000)
        );
        // The p95 is 1 µs: slow means above 1 ms.
        assert_eq!(e.slow_above_ns, 1_000_000);
        assert_eq!((e.slow_calls, e.slow_throttled), (10, 8));
        assert_eq!(e.throttled_calls, 9);
        // Outside throttled time: 189 fast and 2 slow calls; p99 of 191 is
        // the 190th, a slow one: the two slow calls outside stay unexplained.
        assert_eq!(e.p99_unthrottled_ns, Some(80_000_000));
        assert_eq!(e.explained_pct(), 80.0);
        assert_eq!(e.baseline_pct(), 4.5);
        assert!(e.explained());
        assert_eq!(
            line(&e),
            "write: p99 80.00ms, max 80.00ms: 8 of 10 calls above 1.00ms (the p95 is 1.0us) overlap throttled periods (80%; of all calls, 4%): explained by throttling; outside them p99 80.00ms"
        );
        // Slow calls that overlap throttled time no more than all calls do
        // are not explained.
        let fast_ones = [(0, 190_000_000), (1_000_000_000, 1_300_000_000)];
        let e = explain("write", "x86_64", &c(&calls), &fast_ones, None);
        assert_eq!((e.slow_throttled, e.throttled_calls), (3, 192));
        assert!(!e.explained());
        assert!(line(&e).contains("(30%; of all calls, 96%): not explained"));
        // Throttled throughout: every call overlaps, the slow ones too.
        let wide = [(0, 4_000_000_000)];
        let e = explain("write", "x86_64", &c(&calls), &wide, None);
        assert_eq!((e.slow_throttled, e.throttled_calls), (10, 200));
        assert!(e.throughout() && e.explained());
        assert!(
            line(&e).contains("explained by throttling (throttled throughout"),
            "{}",
            line(&e)
        );
        // A p95 above 1 ms is the threshold.
        let e = explain("write", "x86_64", &c(&calls[100..]), &spans, None);
        assert_eq!(
            (e.p95_ns, e.slow_above_ns, e.slow_calls),
            (80_000_000, 80_000_000, 0)
        );
        assert_eq!(
            line(&e),
            "write: p99 80.00ms, max 80.00ms: no call above the p95 (80.00ms)"
        );
        // No throttled time: nothing explained.
        let none = explain("write", "x86_64", &c(&calls), &[], None);
        assert_eq!((none.slow_calls, none.slow_throttled), (10, 0));
        assert_eq!(none.throttled_calls, 0);
        assert!(!none.explained());
        assert_eq!(none.p99_unthrottled_ns, Some(80_000_000));
    }

    /// An off-CPU interval of `tid`: off at `at` for `off`, the last `runq` runnable.
    fn off(tid: u32, at: u64, off: u64, runq: u64, state: u8) -> OffCpu {
        OffCpu {
            time_ns: at,
            pid: 1,
            tid,
            off_ns: off,
            runq_ns: runq,
            state,
            ..OffCpu::default()
        }
    }

    #[test]
    fn the_wait_is_runnable_time_inside_the_call_and_throttled_time() {
        // Thread 1 off [100, 200), runnable from 140; [250, 260) preempted.
        let w = Waits::new(&[off(1, 100, 100, 60, b'S'), off(1, 250, 10, 10, b'R')]);
        let spans = [(0, 170), (255, 1000)];
        // Call [150, 300): runnable [150, 200) and [250, 260); throttled
        // [150, 170) and [255, 260).
        assert_eq!(w.throttled_wait(1, 150, 150, &spans), Some(25));
        // Not throttled at all: an interval overlaps, the wait is 0.
        assert_eq!(w.throttled_wait(1, 150, 150, &[]), Some(0));
        // Blocked, not runnable, inside the call: 0.
        assert_eq!(w.throttled_wait(1, 100, 30, &spans), Some(0));
        // No interval overlaps the call: it ran throughout. No interval of
        // the thread at all: the off-CPU data says nothing.
        assert_eq!(w.throttled_wait(1, 200, 50, &spans), Some(0));
        assert_eq!(w.throttled_wait(1, 0, 100, &spans), Some(0));
        assert_eq!(w.throttled_wait(2, 150, 150, &spans), None);
        // Overlapping intervals (a crafted capture) are cut, never counted
        // twice; a runq longer than the interval is clamped to it.
        let w = Waits::new(&[off(1, 0, 100, 100, b'R'), off(1, 50, 100, 500, b'R')]);
        assert_eq!(w.throttled_wait(1, 0, 1000, &[(0, 1000)]), Some(150));
        assert_eq!(
            w.throttled_wait(1, u64::MAX - 5, u64::MAX, &[(0, u64::MAX)]),
            Some(0)
        );
        // Half the call or more waiting throttled: the call waited throttled.
        assert!(waited_throttled(50, 100) && !waited_throttled(49, 100));
        assert!(!waited_throttled(0, 0));
    }

    #[test]
    fn off_cpu_data_tells_apart_what_the_snapshots_cannot() {
        // Throttled throughout by the snapshots. 200 fast calls (1 µs) and
        // 10 slow ones (50 ms): 3 preempted by the quota (runnable 45 ms
        // inside each), 7 blocked in the kernel (runnable 10 µs).
        let spans = [(0, 10_000_000_000)];
        let mut calls: Vec<(u64, u64)> = (0..200).map(|i| (i * 1_000_000, 1_000)).collect();
        let mut offs = Vec::new();
        for i in 0..10u64 {
            let at = 1_000_000_000 + i * 100_000_000;
            calls.push((at, 50_000_000));
            offs.push(if i < 3 {
                off(1, at + 1_000_000, 45_000_000, 45_000_000, b'R')
            } else {
                off(1, at + 1_000_000, 45_000_000, 10_000, b'S')
            });
        }
        let snap = explain("write", "x86_64", &c(&calls), &spans, None);
        assert!(snap.throughout() && snap.explained());
        assert_eq!((snap.slow_throttled, snap.exact_calls), (10, 0));
        assert_eq!(snap.p99_less_throttled_wait_ns, None);
        assert!(line(&snap).contains("overlap throttled periods"));

        let w = Waits::new(&offs);
        let e = explain("write", "x86_64", &c(&calls), &spans, Some(&w));
        assert_eq!(e.exact_calls, 210);
        assert_eq!((e.slow_calls, e.slow_throttled), (10, 3));
        assert_eq!(e.throttled_calls, 3);
        assert_eq!(e.slow_throttled_wait_ns, 3 * 45_000_000 + 7 * 10_000);
        assert!(!e.explained(), "{}", line(&e));
        // Less the waits, the p99 (the 208th of 210) is still a blocked call.
        assert_eq!(e.p99_less_throttled_wait_ns, Some(50_000_000 - 10_000));
        assert_eq!(
            line(&e),
            "write: p99 50.00ms, max 50.00ms: 3 of 10 calls above 1.00ms (the p95 is 1.0us) waited throttled (30%; of all calls, 1%): not explained by throttling; outside them p99 50.00ms; exact for 210 of 210 calls (off-CPU data: waiting for a CPU while throttled for half the call or more; the others by the snapshots): the slow calls waited 135.07ms of their 500.00ms for a CPU while throttled, and less those waits the p99 is 49.99ms"
        );

        // All ten preempted by the quota: explained, exactly, and the p99
        // less the waits is what the calls cost on the CPU.
        let offs: Vec<OffCpu> = offs
            .iter()
            .map(|o| off(1, o.time_ns, o.off_ns, o.off_ns, b'R'))
            .collect();
        let w = Waits::new(&offs);
        let e = explain("write", "x86_64", &c(&calls), &spans, Some(&w));
        assert_eq!((e.slow_throttled, e.throttled_calls), (10, 10));
        assert!(e.explained() && !e.throughout());
        assert_eq!(e.p99_less_throttled_wait_ns, Some(5_000_000));
        // Told exactly, the verdict is by time: 4 stalls of 82 ms, 80 of it
        // waiting for the quota, and 6 calls of 2 ms held by something else
        // (a tracer's stop): 4 of 10 slow calls, but 94% of their time.
        let mut mixed: Vec<(u64, u64)> = (0..200).map(|i| (i * 1_000_000, 1_000)).collect();
        let mut offs = Vec::new();
        for i in 0..10u64 {
            let at = 1_000_000_000 + i * 100_000_000;
            if i < 4 {
                mixed.push((at, 82_000_000));
                offs.push(off(1, at + 1_000_000, 80_000_000, 80_000_000, b'R'));
            } else {
                mixed.push((at, 2_000_000));
                offs.push(off(1, at + 100_000, 1_800_000, 0, b't'));
            }
        }
        let held = Waits::new(&offs);
        let e = explain("write", "x86_64", &c(&mixed), &spans, Some(&held));
        assert_eq!((e.slow_calls, e.slow_throttled), (10, 4));
        assert_eq!(
            (e.slow_throttled_wait_ns, e.slow_ns),
            (320_000_000, 340_000_000)
        );
        assert!(e.explained() && !e.throughout(), "{}", line(&e));
        // From the snapshots (throttled from 1.0 to 1.35 s) the same calls
        // are told by count: 4 of 10, not explained.
        let e = explain(
            "write",
            "x86_64",
            &c(&mixed),
            &[(1_000_000_000, 1_350_000_000)],
            None,
        );
        assert_eq!((e.slow_calls, e.slow_throttled), (10, 4));
        assert!(!e.explained(), "{}", line(&e));
        // Outside throttled time, the same preemptions are CPU contention.
        let e = explain("write", "x86_64", &c(&calls), &[], Some(&w));
        assert_eq!((e.slow_throttled, e.slow_throttled_wait_ns), (0, 0));
        // Calls of a thread without off-CPU intervals: by the snapshots.
        let mut other = c(&calls);
        other.iter_mut().take(100).for_each(|c| c.tid = 2);
        let e = explain("write", "x86_64", &other, &spans, Some(&w));
        assert_eq!((e.exact_calls, e.throttled_calls), (110, 110));
    }

    #[test]
    fn what_a_quota_leaves() {
        let mut t = crate::cgroups::throttling::from_series(&crate::cgroups::Series::default());
        t.quota_us = Some(20_000);
        t.period_us = Some(100_000);
        assert_eq!(
            quota_line(&t).unwrap(),
            "a 0.20-core quota (20000 µs per 100000 µs period) leaves the cgroup off the CPU up to 80.00ms of each 100.00ms period"
        );
        t.quota_us = None;
        assert_eq!(quota_line(&t), None);
    }
}
