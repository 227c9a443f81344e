//! When the data a record carries was taken, as the agent's clock
//! (CLOCK_MONOTONIC) read it: a sample when the kernel took it, a syscall
//! when it returned, an off-CPU interval when its thread ran again, a
//! snapshot when it was read. The agent's writer ages its pending records by
//! the oldest (a capture cut by `kill -9` keeps all but its last second);
//! `examples/newest` reads the newest of a cut capture to measure that.

use crate::Record;

/// The data kinds of [`Record::taken`], for figures by kind.
pub const KINDS: [&str; 5] = ["samples", "syscalls", "off-cpu", "cgroups", "net"];

/// The oldest and newest times of a record's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// One of [`KINDS`].
    pub kind: &'static str,
    pub oldest_ns: u64,
    pub newest_ns: u64,
    /// How many data points (samples, calls, intervals; 1 for a snapshot).
    pub count: u64,
}

impl Taken {
    fn of(kind: &'static str, times: impl Iterator<Item = u64>) -> Option<Taken> {
        times.fold(None, |t: Option<Taken>, at| {
            Some(match t {
                None => Taken {
                    kind,
                    oldest_ns: at,
                    newest_ns: at,
                    count: 1,
                },
                Some(t) => Taken {
                    oldest_ns: t.oldest_ns.min(at),
                    newest_ns: t.newest_ns.max(at),
                    count: t.count + 1,
                    ..t
                },
            })
        })
    }
}

impl Record {
    /// When its data was taken; `None` for records that describe rather
    /// than measure (processes, stacks, symbols, warnings, totals, ...) and
    /// for empty batches.
    pub fn taken(&self) -> Option<Taken> {
        let one = |kind, t| Taken::of(kind, std::iter::once(t));
        match self {
            Record::Sample(s) => one("samples", s.time_ns),
            Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => {
                Taken::of("samples", b.samples().map(|s| s.time_ns))
            }
            Record::Syscall(s) => one("syscalls", s.time_ns.saturating_add(s.duration_ns)),
            Record::OffCpuBatch(b) => Taken::of(
                "off-cpu",
                b.intervals().map(|i| i.time_ns.saturating_add(i.off_ns)),
            ),
            Record::CgroupSnapshot(s) => one("cgroups", s.time_ns),
            Record::CgroupDelta(s) => one("cgroups", s.time_ns),
            Record::CgroupNumDelta(s) => one("cgroups", s.time_ns),
            Record::NetSnapshot(s) => one("net", s.time_ns),
            Record::NetDelta(s) => one("net", s.time_ns),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{OffCpu, OffCpuBatch, Record, Sample, SampleBatch, Syscall, Warning};

    #[test]
    fn each_kind_is_dated_by_when_its_data_was_known() {
        let samples: Vec<Sample> = [30, 10, 20]
            .iter()
            .map(|&time_ns| Sample {
                time_ns,
                period: 1,
                ..Sample::default()
            })
            .collect();
        let t = Record::SampleBatchLessPeriod(SampleBatch::from_samples_less_period(&samples))
            .taken()
            .unwrap();
        assert_eq!(
            (t.kind, t.oldest_ns, t.newest_ns, t.count),
            ("samples", 10, 30, 3)
        );
        // A call is known when it returns.
        let t = Record::Syscall(Syscall {
            time_ns: 100,
            duration_ns: 50,
            ..Syscall::default()
        })
        .taken()
        .unwrap();
        assert_eq!((t.kind, t.oldest_ns, t.newest_ns), ("syscalls", 150, 150));
        // An interval when its thread runs again: a long one is not old.
        let b = OffCpuBatch::from_intervals(&[
            OffCpu {
                time_ns: 0,
                off_ns: 900,
                ..OffCpu::default()
            },
            OffCpu {
                time_ns: 500,
                off_ns: 100,
                ..OffCpu::default()
            },
        ]);
        let t = Record::OffCpuBatch(b).taken().unwrap();
        assert_eq!(
            (t.kind, t.oldest_ns, t.newest_ns, t.count),
            ("off-cpu", 600, 900, 2)
        );
        let w = Record::Warning(Warning {
            time_ns: 5,
            message: String::new(),
        });
        assert_eq!(w.taken(), None);
        let empty = Record::OffCpuBatch(OffCpuBatch::default());
        assert_eq!(empty.taken(), None);
    }
}
