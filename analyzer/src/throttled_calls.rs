//! Slow syscalls explained by the cgroup's CPU quota: a call that overlaps
//! time the cgroup was throttled may have waited for the next enforcement
//! period, not for I/O. From the snapshots alone, "throttled time" is every
//! interval between two snapshots in which `nr_throttled` grew; a call
//! overlaps it when the two share any instant. The resolution is the
//! snapshot interval (`--interval`), so beside the slow calls' share the
//! share of all calls in throttled intervals is given: the slow calls are
//! explained when their share is high and clearly above it.
//!
//! A slow call is one above the p95 of its syscall, or above 1 ms when the
//! p95 is shorter: a quota stalls a task for milliseconds (up to the period
//! less the quota), and in a busy loop of cheap calls those stalls are far
//! fewer than 5% of the calls, beyond the p95 and even the p99.

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
}

impl Explained {
    /// Percent of the slow calls that overlap throttled time.
    pub fn explained_pct(&self) -> f64 {
        pct(self.slow_throttled, self.slow_calls)
    }

    /// Whether throttling explains the slow calls: most of them overlap
    /// throttled time, clearly more often than calls in general do, or the
    /// cgroup was throttled throughout (90% of all calls overlap throttled
    /// time: the snapshots cannot tell the calls apart, and any of them may
    /// have waited for the next period).
    pub fn explained(&self) -> bool {
        self.slow_calls > 0
            && self.explained_pct() >= 50.0
            && (self.explained_pct() >= self.baseline_pct() + 10.0 || self.throughout())
    }

    /// Whether 90% of all calls overlap throttled time.
    pub fn throughout(&self) -> bool {
        self.baseline_pct() >= 90.0
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

/// Explains one syscall's calls, `(start_ns, duration_ns)` in monotonic time.
pub fn explain(name: &str, abi: &str, calls: &[(u64, u64)], spans: &[(u64, u64)]) -> Explained {
    let mut d: Vec<u64> = calls.iter().map(|c| c.1).collect();
    d.sort_unstable();
    let p95 = percentile(&d, 0.95);
    let slow = p95.max(SLOW_NS);
    let mut above = 0;
    let mut above_thr = 0;
    let mut thr = 0;
    let mut outside: Vec<u64> = Vec::new();
    for &(s, dur) in calls {
        let o = overlaps(spans, s, dur);
        thr += u64::from(o);
        if dur > slow {
            above += 1;
            above_thr += u64::from(o);
        }
        if !o {
            outside.push(dur);
        }
    }
    outside.sort_unstable();
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
    s.push_str(&format!(
        "{} of {} calls above {above} overlap throttled periods ({:.0}%; of all calls, {:.0}%): {}",
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
        let e = explain("write", "x86_64", &calls, &spans);
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
        let e = explain("write", "x86_64", &calls, &fast_ones);
        assert_eq!((e.slow_throttled, e.throttled_calls), (3, 192));
        assert!(!e.explained());
        assert!(line(&e).contains("(30%; of all calls, 96%): not explained"));
        // Throttled throughout: every call overlaps, the slow ones too.
        let wide = [(0, 4_000_000_000)];
        let e = explain("write", "x86_64", &calls, &wide);
        assert_eq!((e.slow_throttled, e.throttled_calls), (10, 200));
        assert!(e.throughout() && e.explained());
        assert!(
            line(&e).contains("explained by throttling (throttled throughout"),
            "{}",
            line(&e)
        );
        // A p95 above 1 ms is the threshold.
        let e = explain("write", "x86_64", &calls[100..], &spans);
        assert_eq!(
            (e.p95_ns, e.slow_above_ns, e.slow_calls),
            (80_000_000, 80_000_000, 0)
        );
        assert_eq!(
            line(&e),
            "write: p99 80.00ms, max 80.00ms: no call above the p95 (80.00ms)"
        );
        // No throttled time: nothing explained.
        let none = explain("write", "x86_64", &calls, &[]);
        assert_eq!((none.slow_calls, none.slow_throttled), (10, 0));
        assert_eq!(none.throttled_calls, 0);
        assert!(!none.explained());
        assert_eq!(none.p99_unthrottled_ns, Some(80_000_000));
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
