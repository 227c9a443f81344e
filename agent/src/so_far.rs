//! Totals sent while the capture is recorded, so that a capture cut by
//! `kill -9` says how much was lost and counted up to about its last
//! second, not only a complete one (README "Durability"): per-syscall
//! totals as `SyscallTotalSoFar` records and counters as `CountersSoFar`
//! (format 1.14, each cumulative, the latest of a key counts), losses as
//! `Lost` records of what was lost since the last one (readers sum them).
//! Only what changed is sent, by the cadence rule ([`crate::cadence`]).

use std::collections::HashMap;

use holter_format::{Counters, Lost, SyscallTotal};

use crate::cadence::must_send;

/// Losses of one kind, sent as they grow: each record the loss since the
/// previous one.
#[derive(Debug)]
pub struct LostSoFar {
    kind: &'static str,
    sent: u64,
}

impl LostSoFar {
    pub fn new(kind: &'static str) -> LostSoFar {
        LostSoFar { kind, sent: 0 }
    }

    /// The record of what was lost beyond what was sent, given the total
    /// lost so far; `None` when nothing more was.
    pub fn delta(&mut self, total: u64, now: u64) -> Option<Lost> {
        let count = total.checked_sub(self.sent).filter(|&n| n > 0)?;
        self.sent = total;
        Some(Lost {
            time_ns: now,
            kind: self.kind.into(),
            count,
        })
    }
}

/// Per-syscall totals: which changed since they were last sent, and
/// whether they must be sent now (a call counted [`crate::cadence::HOLD_NS`]
/// ago, by when it returned).
#[derive(Debug, Default)]
pub struct SyscallTotals {
    /// When the first call counted and not yet sent returned.
    since: Option<u64>,
    /// Calls of each (abi, nr) when last sent.
    sent: HashMap<(String, u32), u64>,
}

impl SyscallTotals {
    /// A call that returned at `time_ns` was counted.
    pub fn counted(&mut self, time_ns: u64) {
        self.since = Some(self.since.map_or(time_ns, |s| s.min(time_ns)));
    }

    pub fn due(&self, now: u64) -> bool {
        must_send(self.since, now)
    }

    /// Of `totals` (all so far), those that changed since last sent.
    pub fn changed(&mut self, totals: Vec<SyscallTotal>) -> Vec<SyscallTotal> {
        self.since = None;
        totals
            .into_iter()
            .filter(|t| {
                let last = self.sent.entry((t.abi.clone(), t.nr)).or_insert(0);
                // Errors, time and errnos grow only with calls.
                std::mem::replace(last, t.calls) != t.calls
            })
            .collect()
    }
}

/// Counters read while recorded: every [`crate::cadence::HOLD_NS`] (a value
/// that changed just after a look is sent at the next, within the second),
/// those that changed since last sent.
#[derive(Debug)]
pub struct CountersSoFar {
    last_look: u64,
    sent: HashMap<String, u64>,
}

impl CountersSoFar {
    pub fn new(now: u64) -> CountersSoFar {
        CountersSoFar {
            last_look: now,
            sent: HashMap::new(),
        }
    }

    /// Whether the counters must be read again at `now`.
    pub fn due(&self, now: u64) -> bool {
        must_send(Some(self.last_look), now)
    }

    /// The record of the values (read at `now`) that changed since last
    /// sent; `None` when none did.
    pub fn changed(&mut self, now: u64, values: Vec<(String, u64)>) -> Option<Counters> {
        self.last_look = now;
        let values: Vec<(String, u64)> = values
            .into_iter()
            .filter(|(k, v)| self.sent.insert(k.clone(), *v) != Some(*v))
            .collect();
        (!values.is_empty()).then_some(Counters {
            time_ns: now,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cadence::HOLD_NS;

    #[test]
    fn losses_are_sent_as_what_grew_since_the_last() {
        let mut l = LostSoFar::new("syscalls");
        assert_eq!(l.delta(0, 1), None);
        assert_eq!(l.delta(5, 2).map(|l| (l.count, l.time_ns)), Some((5, 2)));
        assert_eq!(l.delta(5, 3), None);
        let d = l.delta(12, 4).unwrap();
        assert_eq!((d.kind.as_str(), d.count), ("syscalls", 7));
    }

    fn total(nr: u32, calls: u64) -> SyscallTotal {
        SyscallTotal {
            abi: "x86_64".into(),
            nr,
            calls,
            ..SyscallTotal::default()
        }
    }

    #[test]
    fn syscall_totals_are_due_by_the_first_unsent_call_and_sent_when_changed() {
        let mut t = SyscallTotals::default();
        assert!(!t.due(u64::MAX), "nothing counted");
        t.counted(1_000);
        t.counted(500);
        assert!(!t.due(500 + HOLD_NS - 1));
        assert!(t.due(500 + HOLD_NS));
        let sent = t.changed(vec![total(0, 3), total(1, 1)]);
        assert_eq!(sent.len(), 2);
        assert!(!t.due(u64::MAX), "sent");
        t.counted(2_000);
        let sent = t.changed(vec![total(0, 3), total(1, 2), total(2, 1)]);
        let nrs: Vec<(u32, u64)> = sent.iter().map(|t| (t.nr, t.calls)).collect();
        assert_eq!(nrs, [(1, 2), (2, 1)], "only what changed");
        assert!(t
            .changed(vec![total(0, 3), total(1, 2), total(2, 1)])
            .is_empty());
    }

    #[test]
    fn counters_are_read_every_hold_and_sent_when_changed() {
        let mut c = CountersSoFar::new(100);
        assert!(!c.due(100 + HOLD_NS - 1));
        assert!(c.due(100 + HOLD_NS));
        let v = |a: u64, b: u64| vec![("task-clock".to_string(), a), ("x".to_string(), b)];
        let first = c.changed(200, v(1, 0)).unwrap();
        assert_eq!((first.time_ns, first.values.len()), (200, 2));
        assert!(!c.due(200 + HOLD_NS - 1), "looked at 200");
        assert_eq!(c.changed(300, v(1, 0)), None, "nothing changed");
        let next = c.changed(400, v(9, 0)).unwrap();
        assert_eq!(next.values, [("task-clock".to_string(), 9)]);
    }
}
