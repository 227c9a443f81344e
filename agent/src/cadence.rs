//! When the records waiting in the writer become a frame on disk: once the
//! oldest data they hold is [`LATENCY_NS`] old, less the writer's tick, so
//! that a capture cut by `kill -9` keeps all but its last second (README).
//!
//! The age of a batch of samples is that of its oldest sample (taken by the
//! kernel, then held by the sampler while its batch fills or its unwind
//! tables load), not of its arrival at the writer: a deadline measured from
//! the last frame instead adds the writer's second to the sampler's
//! (a sample could reach the file 2 s after it was taken). Each stage before
//! the writer leaves room for the next: a collector holding data (samples
//! and off-CPU intervals in batches, syscalls the tracer gathers) sends it
//! within [`HOLD_NS`] of when it was taken ([`must_send`]).
//!
//! Every kind of data is aged the same way, by when it was taken
//! ([`holter_format::taken`]): a sample when the kernel took it, a syscall
//! when it returned, an off-CPU interval when its thread ran again, a
//! snapshot when it was read.

use holter_format::Record;

/// Most time from a sample (or any record) to its bytes in the file.
pub const LATENCY_NS: u64 = 1_000_000_000;

/// Longest time a collector holds data before sending it to the writer,
/// from when it was taken: [`LATENCY_NS`] less a collector's wait between
/// two looks (the sampler's poll, 100 ms) and the writer's tick (50 ms), so
/// that the data is in the file within the second.
pub const HOLD_NS: u64 = LATENCY_NS - 150_000_000;

/// Whether a collector holding data since `oldest` (when the oldest of it
/// was taken; `None`: nothing held) must send it at `now`.
pub fn must_send(oldest: Option<u64>, now: u64) -> bool {
    oldest.is_some_and(|t| now.saturating_sub(t) >= HOLD_NS)
}

/// The oldest data among the records not yet written as a frame.
#[derive(Debug)]
pub struct Cadence {
    oldest: Option<u64>,
    /// How late the writer may look: its tick.
    slack_ns: u64,
}

impl Cadence {
    pub fn new(slack_ns: u64) -> Cadence {
        Cadence {
            oldest: None,
            slack_ns,
        }
    }

    /// A record joined the pending frame at `now`.
    pub fn note(&mut self, record: &Record, now: u64) {
        let t = data_time(record).unwrap_or(now).min(now);
        self.oldest = Some(self.oldest.map_or(t, |o| o.min(t)));
    }

    /// The pending records were written.
    pub fn written(&mut self) {
        self.oldest = None;
    }

    /// Whether the pending records must be written at `now`: the next look,
    /// a tick later, would be past their deadline.
    pub fn due(&self, now: u64) -> bool {
        self.oldest
            .is_some_and(|t| now.saturating_add(self.slack_ns) >= t.saturating_add(LATENCY_NS))
    }
}

/// When the oldest data of a record was taken (`None`: it carries no data
/// of a time, and ages from its arrival).
fn data_time(record: &Record) -> Option<u64> {
    record.taken().map(|t| t.oldest_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holter_format::{
        CgroupSnapshot, OffCpu, OffCpuBatch, Sample, SampleBatch, Syscall, Warning,
    };

    const MS: u64 = 1_000_000;

    fn batch(times: &[u64]) -> Record {
        let samples: Vec<Sample> = times
            .iter()
            .map(|&t| Sample {
                time_ns: t,
                pid: 1,
                tid: 1,
                cpu: 0,
                stack_id: 0,
                period: MS,
            })
            .collect();
        Record::SampleBatchLessPeriod(SampleBatch::from_samples_less_period(&samples))
    }

    fn warning() -> Record {
        Record::Warning(Warning {
            time_ns: 0,
            message: "w".into(),
        })
    }

    #[test]
    fn nothing_pending_is_never_due() {
        let c = Cadence::new(50 * MS);
        assert!(!c.due(u64::MAX));
    }

    /// A batch that waited 900 ms in the sampler is written within the
    /// second of its oldest sample, not a second after the last frame.
    #[test]
    fn a_batch_is_due_a_second_after_its_oldest_sample() {
        let t0 = 10_000 * MS;
        let mut c = Cadence::new(50 * MS);
        c.note(&warning(), t0 + 100 * MS);
        c.note(&batch(&[t0 + 20 * MS, t0, t0 + 500 * MS]), t0 + 900 * MS);
        assert!(!c.due(t0 + 900 * MS));
        assert!(!c.due(t0 + 949 * MS));
        assert!(
            c.due(t0 + 950 * MS),
            "the next look (+50 ms) is the deadline"
        );
        c.written();
        assert!(!c.due(t0 + 5000 * MS));
    }

    /// Records without a sample time age from their arrival.
    #[test]
    fn other_records_age_from_their_arrival() {
        let mut c = Cadence::new(50 * MS);
        c.note(&warning(), 3000 * MS);
        c.note(&warning(), 3500 * MS);
        assert!(!c.due(3900 * MS));
        assert!(c.due(3950 * MS));
    }

    /// A sample time from the future (another clock) counts as now.
    #[test]
    fn a_time_ahead_of_now_counts_as_now() {
        let mut c = Cadence::new(0);
        c.note(&batch(&[9000 * MS]), 1000 * MS);
        assert!(!c.due(1999 * MS));
        assert!(c.due(2000 * MS));
    }

    /// A syscall ages from its return, an off-CPU interval from its end, a
    /// snapshot from its reading: not from their arrival at the writer (a
    /// tracer or the sampler may have held them most of a second).
    #[test]
    fn every_kind_of_data_ages_from_when_it_was_taken() {
        let t0 = 10_000 * MS;
        let call = Record::Syscall(Syscall {
            time_ns: t0 - 300 * MS,
            duration_ns: 300 * MS,
            ..Syscall::default()
        });
        let off = Record::OffCpuBatch(OffCpuBatch::from_intervals(&[OffCpu {
            time_ns: t0 - 5000 * MS,
            off_ns: 5000 * MS,
            ..OffCpu::default()
        }]));
        let snap = Record::CgroupSnapshot(CgroupSnapshot {
            time_ns: t0,
            ..CgroupSnapshot::default()
        });
        for r in [call, off, snap] {
            let mut c = Cadence::new(50 * MS);
            c.note(&r, t0 + 800 * MS);
            assert!(!c.due(t0 + 949 * MS), "{r:?}");
            assert!(c.due(t0 + 950 * MS), "{r:?}");
        }
    }

    /// A collector sends what it holds once the oldest of it was taken
    /// HOLD_NS ago, which leaves the writer its tick and a collector's poll.
    #[test]
    fn a_collector_sends_within_hold_of_the_oldest_data() {
        const { assert!(HOLD_NS + 150 * MS <= LATENCY_NS) };
        assert!(!must_send(None, u64::MAX));
        let t = 5000 * MS;
        assert!(!must_send(Some(t), t + HOLD_NS - 1));
        assert!(must_send(Some(t), t + HOLD_NS));
        // A time ahead of now (another clock) is not due.
        assert!(!must_send(Some(t), t - MS));
    }
}
