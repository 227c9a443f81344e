//! `--off-cpu`: where the target's threads wait. Run by the sampler (its
//! rings, its unwinding, its stacks and symbols), with two sets of
//! `perf_event_open` events per CPU:
//!
//! - **switch-out and switch-in**: `sched:sched_switch` filtered to the
//!   target exactly as the CPU samples are (cgroup2 fd, or per-task events
//!   with `inherit`, opened by [`crate::sample::open::Armed`] beside each
//!   sampling event), with the kernel+user call chain and the user registers
//!   and stack copy: the tracepoint fires while the thread leaving is still
//!   current, so the record holds its stack, unwound like a CPU sample. The
//!   same event has `context_switch` set: the kernel also writes a
//!   `PERF_RECORD_SWITCH` (`_CPU_WIDE` for a cgroup event) each time one of
//!   the target's threads comes on a CPU, written by that thread after the
//!   switch, with its tid and time (`sample_id_all`). That is the switch-in.
//!   (The `sched_switch` tracepoint cannot give it: its switch-in is the
//!   `next_pid` of a switch fired by another task, and on Linux 6.18 one
//!   fired by the idle task never reaches perf, so every thread woken on an
//!   idle CPU would stay unpaired.)
//! - **wake-ups**: `sched:sched_wakeup` and `sched:sched_wakeup_new` on every
//!   task of the CPU, raw fields only (no stack): a wake-up fires in the
//!   waker's context, so a filter on the target does not see it. The agent
//!   keeps those of threads it saw leave.
//!
//! Records are put on one timeline across CPUs (those younger than
//! [`SETTLE_NS`] wait for the next drain) and paired per thread by
//! [`pair::Pairer`] into [`holter_format::OffCpu`] intervals, written as
//! [`OffCpuBatch`] records after the stacks they use.

pub mod pair;
pub mod sched;

use std::collections::HashSet;
use std::os::fd::OwnedFd;

use anyhow::Context as _;
use holter_format::{OffCpu, OffCpuBatch, Record};

use crate::sample::attr::{flag, sample, Start};
use crate::sample::parse::{
    self, RECORD_LOST, RECORD_LOST_SAMPLES, RECORD_SAMPLE, RECORD_SWITCH, RECORD_SWITCH_CPU_WIDE,
};
use crate::sample::ring;
use crate::sample::state::State;
use crate::sample::sys::{self, Attr, CpuRings, Ring, Who};
use crate::syscalls::kernel::tracepoint_attr;
use crate::syscalls::tracefs::Tracefs;
use pair::{Out, Pairer};
use sched::{Layout, Sched};

/// Records younger than this at a drain wait for the next one: a thread
/// that left on one CPU may come back on another, whose ring is read first.
pub const SETTLE_NS: u64 = 20_000_000;
/// Data pages per CPU ring of the wake-up events (1 MiB with 4 KiB pages:
/// about 10,000 records).
const IN_RING_PAGES: usize = 256;
/// Most intervals in one [`OffCpuBatch`].
const MAX_BATCH: usize = 4096;
/// `PERF_RECORD_THROTTLE`: the kernel stopped an event until the next tick.
const RECORD_THROTTLE: u32 = 5;
/// What the wake-up events carry.
const IN_SAMPLE_TYPE: u64 = sample::TID | sample::TIME | sample::CPU | sample::RAW;

/// The tracepoints' layout, read from tracefs (mounted for the reads if need be).
pub fn layout() -> anyhow::Result<Layout> {
    let fs = Tracefs::open()?;
    let switch = fs.tracepoint("sched", "sched_switch")?;
    let switch_fmt = fs.format_text("sched", "sched_switch")?;
    let mut wakeups = vec![fs.tracepoint("sched", "sched_wakeup")?];
    if let Ok(w) = fs.tracepoint("sched", "sched_wakeup_new") {
        wakeups.push(w);
    }
    Layout::new(&switch, &switch_fmt, &wakeups).context(
        "sched tracepoints of an unknown layout (fields prev_pid, prev_state, next_pid; pid): record without --off-cpu",
    )
}

/// The switch-out event: the sampler's sample type and stack copy, plus the
/// raw record; and `context_switch` with `sample_id_all`, for the switch-ins.
pub fn switch_out_attr(
    layout: &Layout,
    inherit: bool,
    start: Start,
    watermark: u32,
    sampling: &Attr,
) -> Attr {
    let mut a = tracepoint_attr(layout.switch_id, inherit, start == Start::OnExec, watermark);
    a.sample_type = sampling.sample_type | sample::RAW;
    a.sample_regs_user = sampling.sample_regs_user;
    a.sample_stack_user = sampling.sample_stack_user;
    a.flags |= flag::CONTEXT_SWITCH | flag::SAMPLE_ID_ALL;
    a
}

/// The sample type of the switch-out events for the sampler's `sample_type`.
pub fn switch_out_type(sampling: u64) -> u64 {
    sampling | sample::RAW
}

/// The wake-up events of every CPU, one ring per CPU.
pub struct InEvents {
    pub rings: CpuRings,
}

impl InEvents {
    pub fn open(layout: &Layout, cpus: &[u32]) -> anyhow::Result<InEvents> {
        let watermark = (IN_RING_PAGES * sys::page_size() / 4) as u32;
        let mut rings = CpuRings::default();
        for (i, &cpu) in cpus.iter().enumerate() {
            for &id in &layout.wakeup_ids {
                let mut a = tracepoint_attr(id, false, false, watermark);
                a.sample_type = IN_SAMPLE_TYPE;
                let fd = sys::open(&a, Who::AllTasks, Some(cpu)).map_err(|e| {
                    anyhow::anyhow!("perf_event_open of the sched_wakeup tracepoints on cpu {cpu} ({e}): --off-cpu needs root (or CAP_PERFMON with a perf_event_paranoid of 0 or less)")
                })?;
                rings
                    .add(i, fd, IN_RING_PAGES)
                    .with_context(|| format!("the ring buffer of cpu {cpu}"))?;
            }
        }
        Ok(InEvents { rings })
    }

    pub fn fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.rings.fds()
    }
}

/// One timeline entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Out(Out),
    In { tid: u32, time: u64 },
    Wake { tid: u32, time: u64 },
}

impl Hit {
    fn time(&self) -> u64 {
        match *self {
            Hit::Out(o) => o.time,
            Hit::In { time, .. } | Hit::Wake { time, .. } => time,
        }
    }
}

/// Gives one timeline entry to the pairer: the interval it closes, if any.
fn feed(pairer: &mut Pairer, hit: Hit) -> Option<OffCpu> {
    match hit {
        Hit::Out(o) => {
            pairer.switch_out(o);
            None
        }
        Hit::Wake { tid, time } => {
            pairer.wakeup(tid, time);
            None
        }
        Hit::In { tid, time } => pairer.switch_in(tid, time),
    }
}

/// A switch-out read from its ring, its stack not yet unwound.
struct Raw {
    since: std::time::Instant,
    pid: u32,
    tid: u32,
    time: u64,
    cpu: u32,
    state: u8,
    callchain: Vec<u64>,
    regs: Option<crate::unwind::Regs>,
    stack: Vec<u8>,
}

/// Turns the rings' records into intervals.
pub struct Recorder {
    layout: Layout,
    pairer: Pairer,
    held: Vec<Hit>,
    /// Switch-outs of processes whose files are still being read (DWARF
    /// mode), in time order: unwound once their tables are known, or after
    /// [`crate::sample::state::HOLD`], as CPU samples are; the timeline
    /// waits for them. At most [`crate::sample::state::MAX_HELD_BYTES`].
    waiting: std::collections::VecDeque<Raw>,
    waiting_bytes: usize,
    /// Threads of the target seen leaving a CPU (switch-ins of others are dropped).
    threads: HashSet<u32>,
    pending: Vec<OffCpu>,
    scratch: Vec<u8>,
    /// Records the kernel dropped (rings full).
    pub lost: u64,
    /// Times the kernel throttled an event (over `perf_event_max_sample_rate`):
    /// its records are missing until the next tick, uncounted.
    pub throttled: u64,
    pub intervals: u64,
    pub switches: u64,
}

impl Recorder {
    pub fn new(layout: Layout) -> Recorder {
        Recorder {
            layout,
            pairer: Pairer::default(),
            held: Vec::new(),
            waiting: std::collections::VecDeque::new(),
            waiting_bytes: 0,
            threads: HashSet::new(),
            pending: Vec::new(),
            scratch: Vec::new(),
            lost: 0,
            throttled: 0,
            intervals: 0,
            switches: 0,
        }
    }

    /// Reads the switch rings (switch-outs' stacks interned by `state` once
    /// their process's files are read) and the wake-up rings; pairs what is
    /// older than `horizon` (all with `None`).
    pub fn drain(
        &mut self,
        out_rings: &mut [Ring],
        out_type: u64,
        in_rings: &mut [Ring],
        state: &mut State,
        horizon: Option<u64>,
    ) {
        let (layout, scratch, lost, throttled, held) = (
            &self.layout,
            &mut self.scratch,
            &mut self.lost,
            &mut self.throttled,
            &mut self.held,
        );
        let waiting = &mut self.waiting;
        let waiting_bytes = &mut self.waiting_bytes;
        for r in out_rings.iter_mut() {
            r.consume(|a, b| {
                ring::for_each_record(a, b, scratch, |h, bytes| match h.type_ {
                    // A thread of the target came on a CPU (its switch-out
                    // records are the tracepoint's, which carry the stack).
                    RECORD_SWITCH | RECORD_SWITCH_CPU_WIDE => {
                        if let Some(s) = switch_in(h, bytes, out_type) {
                            held.push(s);
                        }
                    }
                    RECORD_SAMPLE => {
                        let Some((
                            parse::Event::Sample {
                                pid,
                                tid,
                                time,
                                cpu,
                                callchain,
                                regs,
                                stack,
                                ..
                            },
                            raw,
                        )) = parse::parse_sample_raw(bytes, out_type)
                        else {
                            return;
                        };
                        if let Some(Sched::Switch { state: st, .. }) = layout.decode(raw) {
                            *waiting_bytes += stack.len();
                            waiting.push_back(Raw {
                                since: std::time::Instant::now(),
                                pid,
                                tid,
                                time,
                                cpu,
                                state: st,
                                callchain,
                                regs,
                                stack,
                            });
                        }
                    }
                    RECORD_LOST | RECORD_LOST_SAMPLES => *lost += lost_count(h.type_, bytes),
                    RECORD_THROTTLE => *throttled += 1,
                    _ => {}
                })
            });
        }
        // Switch-outs are unwound in order, each once its process's files
        // are read (or it waited long enough, or memory says so).
        while let Some(r) = self.waiting.front() {
            let go = horizon.is_none()
                || self.waiting_bytes > crate::sample::state::MAX_HELD_BYTES
                || r.since.elapsed() >= crate::sample::state::HOLD
                || !state.unwind_pending(r.pid);
            if !go {
                break;
            }
            let Some(r) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_bytes -= r.stack.len();
            let stack_id = state.intern_stack(r.pid, r.time, &r.callchain, r.regs, &r.stack);
            self.threads.insert(r.tid);
            self.switches += 1;
            self.held.push(Hit::Out(Out {
                time: r.time,
                pid: r.pid,
                tid: r.tid,
                cpu: r.cpu,
                stack_id,
                state: r.state,
            }));
        }
        let held = &mut self.held;
        // Threads seen leaving, and those whose switch-out waits for its stack.
        let waiting_tids: HashSet<u32> = self.waiting.iter().map(|r| r.tid).collect();
        let threads = &self.threads;
        let known = |tid: &u32| threads.contains(tid) || waiting_tids.contains(tid);
        for r in in_rings.iter_mut() {
            r.consume(|a, b| {
                ring::for_each_record(a, b, scratch, |h, bytes| match h.type_ {
                    RECORD_SAMPLE => {
                        let Some((parse::Event::Sample { time, .. }, raw)) =
                            parse::parse_sample_raw(bytes, IN_SAMPLE_TYPE)
                        else {
                            return;
                        };
                        if let Some(Sched::Wakeup { pid }) = layout.decode(raw) {
                            if known(&pid) {
                                held.push(Hit::Wake { tid: pid, time });
                            }
                        }
                    }
                    RECORD_LOST | RECORD_LOST_SAMPLES => *lost += lost_count(h.type_, bytes),
                    RECORD_THROTTLE => *throttled += 1,
                    _ => {}
                })
            });
        }
        held.sort_by_key(Hit::time);
        // Nothing after a switch-out still waiting for its stack is paired yet.
        let horizon = match (horizon, self.waiting.front()) {
            (Some(h), Some(w)) => Some(h.min(w.time.saturating_sub(1))),
            (h, _) => h,
        };
        let ready = match horizon {
            Some(h) => held.partition_point(|e| e.time() <= h),
            None => held.len(),
        };
        let now: Vec<Hit> = held.drain(..ready).collect();
        for hit in now {
            if let Some(i) = feed(&mut self.pairer, hit) {
                self.push(i, &mut state.out);
            }
        }
    }

    /// Forgets a thread that exited (its last switch left it dead).
    pub fn exited(&mut self, tid: u32) {
        self.threads.remove(&tid);
    }

    fn push(&mut self, i: OffCpu, out: &mut Vec<Record>) {
        self.intervals += 1;
        self.pending.push(i);
        if self.pending.len() >= MAX_BATCH {
            self.flush(out);
        }
    }

    /// Writes the pending intervals once the first to end ended
    /// [`crate::cadence::HOLD_NS`] ago, as CPU samples are (all if `now`
    /// is `None`): in the file within the second of its thread running again.
    pub fn end_round(&mut self, now: Option<u64>, out: &mut Vec<Record>) {
        let due = match now {
            None => true,
            Some(now) => {
                let first_end = self
                    .pending
                    .iter()
                    .map(|i| i.time_ns.saturating_add(i.off_ns))
                    .min();
                crate::cadence::must_send(first_end, now)
            }
        };
        if due {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Record>) {
        if !self.pending.is_empty() {
            out.push(Record::OffCpuBatch(OffCpuBatch::from_intervals(
                &self.pending,
            )));
            self.pending.clear();
        }
    }

    /// At the end: threads still off the CPU, up to `end`; the pending batch.
    pub fn finish(&mut self, end: u64, out: &mut Vec<Record>) {
        for i in self.pairer.finish(end) {
            self.push(i, out);
        }
        self.flush(out);
    }

    /// (name, value) counters for the capture's Counters record.
    pub fn counters(&self) -> Vec<(String, u64)> {
        vec![
            ("off-cpu:switches".into(), self.switches),
            ("off-cpu:intervals".into(), self.intervals),
            ("off-cpu:unpaired".into(), self.pairer.unpaired),
            ("off-cpu:dropped".into(), self.pairer.dropped),
            ("off-cpu:lost".into(), self.lost),
            ("off-cpu:throttled".into(), self.throttled),
        ]
    }
}

/// The switch-in of a switch record (`None` for a switch out or a
/// malformed record).
fn switch_in(h: ring::RecordHeader, bytes: &[u8], sample_type: u64) -> Option<Hit> {
    let s = parse::parse_switch(h, bytes, sample_type)?;
    (!s.out).then_some(Hit::In {
        tid: s.tid,
        time: s.time,
    })
}

fn lost_count(type_: u32, bytes: &[u8]) -> u64 {
    let at = if type_ == RECORD_LOST { 16 } else { 8 };
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_records_counted() {
        let mut lost = vec![0u8; 24];
        lost[16..24].copy_from_slice(&7u64.to_ne_bytes());
        assert_eq!(lost_count(RECORD_LOST, &lost), 7);
        let mut ls = vec![0u8; 16];
        ls[8..16].copy_from_slice(&3u64.to_ne_bytes());
        assert_eq!(lost_count(RECORD_LOST_SAMPLES, &ls), 3);
        assert_eq!(lost_count(RECORD_LOST, &[0; 4]), 0);
    }

    #[test]
    fn switch_out_attr_adds_raw_to_the_samplers_type() {
        let l = sched::tests::layout();
        let sampling = crate::sample::attr::sampling(
            crate::sample::attr::Event::CpuClock,
            99,
            true,
            Start::Disabled,
            true,
            4096,
            Some(8192),
        );
        let a = switch_out_attr(&l, true, Start::Disabled, 4096, &sampling);
        assert_eq!((a.type_, a.config, a.sample_period_or_freq), (2, 372, 1));
        assert_eq!(a.sample_type, sampling.sample_type | sample::RAW);
        assert_eq!(a.sample_stack_user, 8192);
        assert_eq!(a.sample_regs_user, sampling.sample_regs_user);
        assert_ne!(a.flags & crate::sample::attr::flag::INHERIT, 0);
        // The switch-ins come as PERF_RECORD_SWITCH records with tid and time.
        assert_ne!(a.flags & flag::CONTEXT_SWITCH, 0);
        assert_ne!(a.flags & flag::SAMPLE_ID_ALL, 0);
        assert_eq!(a.clockid, sampling.clockid, "one clock for every record");
    }

    #[test]
    fn switch_records_give_the_switch_ins() {
        use crate::sample::parse::fixtures::switch;
        use crate::sample::parse::{MISC_SWITCH_OUT, MISC_SWITCH_OUT_PREEMPT};
        let st = crate::sample::attr::SAMPLE_TYPE_DWARF | sample::RAW;
        // Per-task event; cgroup event with the idle task as prev.
        let (h, r) = switch(0, None, 20, 21, 500, 1);
        assert_eq!(switch_in(h, &r, st), Some(Hit::In { tid: 21, time: 500 }));
        let (h, r) = switch(0, Some((0, 0)), 20, 22, 600, 0);
        assert_eq!(switch_in(h, &r, st), Some(Hit::In { tid: 22, time: 600 }));
        // Switch-outs are the tracepoint's (with the stack).
        for misc in [MISC_SWITCH_OUT, MISC_SWITCH_OUT | MISC_SWITCH_OUT_PREEMPT] {
            let (h, r) = switch(misc, Some((9, 9)), 20, 21, 700, 0);
            assert_eq!(switch_in(h, &r, st), None);
        }
        assert_eq!(switch_in(h, &r[..16], st), None);
    }

    #[test]
    fn a_switch_in_pairs_with_the_tracepoints_switch_out() {
        // The two sources on one timeline, as drain sorts them: the
        // tracepoint's switch-out (with the stack), a wake-up, the switch record.
        let mut p = Pairer::default();
        let mut hits = [
            Hit::In { tid: 21, time: 900 },
            Hit::Out(pair::Out {
                time: 100,
                pid: 20,
                tid: 21,
                cpu: 0,
                stack_id: 3,
                state: b'S',
            }),
            Hit::Wake { tid: 21, time: 850 },
        ];
        hits.sort_by_key(Hit::time);
        let got: Vec<OffCpu> = hits.into_iter().filter_map(|h| feed(&mut p, h)).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].off_ns, got[0].runq_ns, got[0].stack_id),
            (800, 50, 3)
        );
        assert_eq!(p.unpaired, 0);
    }

    /// A batch of intervals is sent once the first to end ended HOLD_NS
    /// ago: a long sleep (old start, recent end) does not force a batch of
    /// its own, and a short one waits no longer than a CPU sample would.
    #[test]
    fn a_batch_is_sent_a_hold_after_its_first_interval_ended() {
        const MS: u64 = 1_000_000;
        let hold = crate::cadence::HOLD_NS;
        let mut r = Recorder::new(sched::tests::layout());
        let mut out = Vec::new();
        let t0 = 100_000 * MS;
        // Asleep 10 s, awake at t0; then a 1 ms sleep ending at t0 + 200 ms.
        for (start, off) in [(t0 - 10_000 * MS, 10_000 * MS), (t0 + 199 * MS, MS)] {
            r.push(
                OffCpu {
                    time_ns: start,
                    off_ns: off,
                    ..OffCpu::default()
                },
                &mut out,
            );
        }
        r.end_round(Some(t0 + hold - 1), &mut out);
        assert!(out.is_empty(), "held: the first ended at t0");
        r.end_round(Some(t0 + hold), &mut out);
        assert_eq!(out.len(), 1);
        let Record::OffCpuBatch(b) = &out[0] else {
            panic!("{:?}", out[0]);
        };
        assert_eq!(b.len(), 2);
        r.end_round(Some(u64::MAX), &mut out);
        assert_eq!(out.len(), 1, "nothing pending");
        r.end_round(None, &mut out);
        assert_eq!(out.len(), 1, "nothing pending at the end either");
    }
}
