//! Pairing a thread's switch out of a CPU with its next switch in, into
//! off-CPU intervals: a pure state machine fed in time order.
//!
//! - switch out in state `R` (preempted, an involuntary switch): the whole
//!   interval is run-queue delay;
//! - switch out blocked (`S`, `D`, ...: voluntary): run-queue delay runs from
//!   the first wake-up seen after it to the switch in (none seen: 0);
//! - a thread that leaves dead (`X`, `Z`) opens nothing.
//!
//! Memory is bounded by the threads off the CPU at once, at most
//! [`MAX_OPEN`]; beyond it an interval is dropped and counted.

use std::collections::HashMap;

use holter_format::OffCpu;

/// Most threads off the CPU followed at once.
pub const MAX_OPEN: usize = 1 << 16;

/// A thread leaving a CPU, its stack already interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    pub time: u64,
    pub pid: u32,
    pub tid: u32,
    pub cpu: u32,
    pub stack_id: u32,
    pub state: u8,
}

#[derive(Debug, Default)]
pub struct Pairer {
    open: HashMap<u32, (Out, Option<u64>)>,
    /// Switch-outs whose switch in was never seen (a lost record): replaced
    /// by the thread's next switch out.
    pub unpaired: u64,
    /// Intervals not followed: [`MAX_OPEN`] threads were already off.
    pub dropped: u64,
}

impl Pairer {
    pub fn switch_out(&mut self, o: Out) {
        if matches!(o.state, b'X' | b'Z') {
            self.open.remove(&o.tid);
            return;
        }
        if self.open.len() >= MAX_OPEN && !self.open.contains_key(&o.tid) {
            self.dropped += 1;
            return;
        }
        if self.open.insert(o.tid, (o, None)).is_some() {
            self.unpaired += 1;
        }
    }

    /// A wake-up of `tid`: the first after a blocked switch out starts its
    /// run-queue delay.
    pub fn wakeup(&mut self, tid: u32, time: u64) {
        if let Some((o, woken)) = self.open.get_mut(&tid) {
            if o.state != b'R' && woken.is_none() && time >= o.time {
                *woken = Some(time);
            }
        }
    }

    /// `tid` runs again: its interval, if it was off the CPU.
    pub fn switch_in(&mut self, tid: u32, time: u64) -> Option<OffCpu> {
        let (o, woken) = self.open.remove(&tid)?;
        Some(interval(o, woken, time, 0))
    }

    /// The thread exited: nothing to wait for.
    pub fn exit(&mut self, tid: u32) {
        self.open.remove(&tid);
    }

    /// Threads still off the CPU when the capture ends: intervals up to
    /// `end`, flagged [`OffCpu::ENDED`], in time order.
    pub fn finish(&mut self, end: u64) -> Vec<OffCpu> {
        let mut v: Vec<OffCpu> = self
            .open
            .drain()
            .map(|(_, (o, woken))| interval(o, woken, end.max(o.time), OffCpu::ENDED))
            .collect();
        v.sort_by_key(|i| (i.time_ns, i.tid));
        v
    }

    pub fn open(&self) -> usize {
        self.open.len()
    }
}

fn interval(o: Out, woken: Option<u64>, end: u64, flags: u8) -> OffCpu {
    let off_ns = end.saturating_sub(o.time);
    let (runq_ns, flags) = match (o.state, woken) {
        (b'R', _) => (off_ns, flags),
        (_, Some(w)) => (end.saturating_sub(w), flags | OffCpu::WOKEN),
        (_, None) => (0, flags),
    };
    OffCpu {
        time_ns: o.time,
        pid: o.pid,
        tid: o.tid,
        cpu: o.cpu,
        stack_id: o.stack_id,
        off_ns,
        runq_ns,
        state: o.state,
        flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(tid: u32, time: u64, state: u8) -> Out {
        Out {
            time,
            pid: 1,
            tid,
            cpu: 0,
            stack_id: tid * 10,
            state,
        }
    }

    #[test]
    fn blocked_then_woken_then_running() {
        let mut p = Pairer::default();
        p.wakeup(5, 50); // not off the CPU: ignored
        p.switch_out(out(5, 100, b'S'));
        p.wakeup(5, 400);
        p.wakeup(5, 450); // the first wake-up counts
        let i = p.switch_in(5, 1000).unwrap();
        assert_eq!((i.time_ns, i.off_ns, i.runq_ns), (100, 900, 600));
        assert_eq!((i.state, i.flags, i.stack_id), (b'S', OffCpu::WOKEN, 50));
        assert!(i.voluntary());
        assert_eq!(p.switch_in(5, 1100), None, "already running");
        assert_eq!(p.open(), 0);
    }

    #[test]
    fn preempted_waits_runnable_throughout() {
        let mut p = Pairer::default();
        p.switch_out(out(6, 100, b'R'));
        p.wakeup(6, 200); // a runnable thread's wake-up changes nothing
        let i = p.switch_in(6, 700).unwrap();
        assert_eq!((i.off_ns, i.runq_ns, i.flags), (600, 600, 0));
        assert!(!i.voluntary());
    }

    #[test]
    fn no_wakeup_seen_no_runq_delay() {
        let mut p = Pairer::default();
        p.switch_out(out(7, 100, b'D'));
        let i = p.switch_in(7, 300).unwrap();
        assert_eq!((i.off_ns, i.runq_ns, i.flags), (200, 0, 0));
    }

    #[test]
    fn lost_switch_in_dead_and_exited_threads() {
        let mut p = Pairer::default();
        p.switch_out(out(8, 100, b'S'));
        p.switch_out(out(8, 500, b'S')); // its switch in was lost
        assert_eq!(p.unpaired, 1);
        assert_eq!(p.switch_in(8, 600).unwrap().time_ns, 500);
        p.switch_out(out(9, 100, b'S'));
        p.switch_out(out(9, 200, b'X'));
        assert_eq!(p.switch_in(9, 300), None, "left dead");
        p.switch_out(out(10, 100, b'S'));
        p.exit(10);
        assert_eq!(p.open(), 0);
    }

    #[test]
    fn still_off_at_the_end() {
        let mut p = Pairer::default();
        p.switch_out(out(12, 300, b'R'));
        p.switch_out(out(11, 100, b'S'));
        p.wakeup(11, 900);
        let v = p.finish(1000);
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].tid, v[0].off_ns, v[0].runq_ns), (11, 900, 100));
        assert_eq!(v[0].flags, OffCpu::ENDED | OffCpu::WOKEN);
        assert_eq!((v[1].tid, v[1].off_ns, v[1].runq_ns), (12, 700, 700));
        assert_eq!(p.open(), 0);
    }

    #[test]
    fn bounded() {
        let mut p = Pairer::default();
        for t in 0..MAX_OPEN as u32 + 3 {
            p.switch_out(out(t, 1, b'S'));
        }
        assert_eq!((p.open(), p.dropped), (MAX_OPEN, 3));
    }
}
