//! Kernel-mode syscalls, the pure part: `raw_syscalls:sys_enter`/`sys_exit`
//! perf samples turned into events ([`parse_sample`]), and events paired per
//! thread into the records ptrace mode writes ([`Pairer`]): a
//! [`Syscall`] per call (where `--syscalls-filter` lets it through) and the
//! per-syscall counts. Tested on hand-made record bytes.

use std::collections::HashMap;

use holter_format::Syscall;

use super::counts::Count;
use super::summary::{self, FdCache, Table, Tracee, MAX_NR};
use super::tracefs::Tracepoint;

/// Where the fields of the two tracepoints are (from their `format` files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub enter_id: u64,
    pub exit_id: u64,
    /// `common_type` (the tracepoint id of a record).
    pub type_off: usize,
    pub enter_nr_off: usize,
    pub args_off: usize,
    pub exit_nr_off: usize,
    pub ret_off: usize,
}

impl Layout {
    /// The layout of the two tracepoints; `None` when a field is missing or
    /// not of the size read.
    pub fn new(enter: &Tracepoint, exit: &Tracepoint) -> Option<Layout> {
        let sized = |tp: &Tracepoint, name: &str, size: usize| {
            tp.field(name).filter(|&(_, s)| s == size).map(|(o, _)| o)
        };
        Some(Layout {
            enter_id: enter.id,
            exit_id: exit.id,
            type_off: sized(enter, "common_type", 2)?,
            enter_nr_off: sized(enter, "id", 8)?,
            args_off: sized(enter, "args", 48)?,
            exit_nr_off: sized(exit, "id", 8)?,
            ret_off: sized(exit, "ret", 8)?,
        })
    }
}

/// One tracepoint hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Enter {
        time: u64,
        pid: u32,
        tid: u32,
        nr: i64,
        args: [u64; 6],
    },
    Exit {
        time: u64,
        pid: u32,
        tid: u32,
        nr: i64,
        ret: i64,
    },
}

impl Event {
    pub fn time(&self) -> u64 {
        match self {
            Event::Enter { time, .. } | Event::Exit { time, .. } => *time,
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `PERF_RECORD_SAMPLE`.
pub const RECORD_SAMPLE: u32 = 9;
/// `PERF_RECORD_LOST`: `{ id: u64, lost: u64 }`.
pub const RECORD_LOST: u32 = 2;

/// Parses the body of a sample record (header included, as the ring gives
/// it) of sample type `TID | TIME | CPU | RAW`. `None` for a malformed
/// record or another tracepoint.
pub fn parse_sample(record: &[u8], layout: &Layout) -> Option<Event> {
    let b = record.get(8..)?; // perf_event_header
    let pid = u32_at(b, 0)?;
    let tid = u32_at(b, 4)?;
    let time = u64_at(b, 8)?;
    // cpu, res at 16..24
    let raw_len = u32_at(b, 24)? as usize;
    let raw = b.get(28..28usize.checked_add(raw_len)?)?;
    let type_ = u16::from_ne_bytes(
        raw.get(layout.type_off..layout.type_off + 2)?
            .try_into()
            .ok()?,
    ) as u64;
    if type_ == layout.enter_id {
        let nr = u64_at(raw, layout.enter_nr_off)? as i64;
        let mut args = [0u64; 6];
        for (i, a) in args.iter_mut().enumerate() {
            *a = u64_at(raw, layout.args_off + 8 * i)?;
        }
        Some(Event::Enter {
            time,
            pid,
            tid,
            nr,
            args,
        })
    } else if type_ == layout.exit_id {
        Some(Event::Exit {
            time,
            pid,
            tid,
            nr: u64_at(raw, layout.exit_nr_off)? as i64,
            ret: u64_at(raw, layout.ret_off)? as i64,
        })
    } else {
        None
    }
}

/// The lost count of a `PERF_RECORD_LOST` record.
pub fn parse_lost(record: &[u8]) -> Option<u64> {
    u64_at(record, 16)
}

/// Nothing of the target's memory is read in kernel mode: the events are
/// read after the calls, when pointers may name other bytes and fds other
/// files. Summaries say what the raw arguments say (fds, sizes).
struct RawOnly;

impl Tracee for RawOnly {
    fn read(&mut self, _pid: u32, _addr: u64, _buf: &mut [u8]) -> usize {
        0
    }
    fn fd_path(&mut self, _pid: u32, _fd: i32) -> Option<String> {
        None
    }
}

#[derive(Debug, Clone, Copy)]
struct Open {
    nr: i64,
    time: u64,
    args: [u64; 6],
}

/// Pairs each thread's enter and exit, in time order.
pub struct Pairer {
    table: Table,
    /// Which numbers get a Syscall record (all are counted).
    recorded: Vec<bool>,
    open: HashMap<u32, Open>,
    pub counts: Vec<Count>,
    /// Exits whose entry was not seen (before the capture, or lost).
    pub unmatched: u64,
    fds: FdCache,
}

impl Pairer {
    pub fn new(table: Table, recorded: Vec<bool>) -> Pairer {
        Pairer {
            table,
            recorded,
            open: HashMap::new(),
            counts: vec![Count::default(); MAX_NR],
            unmatched: 0,
            fds: FdCache::default(),
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Handles one event; a completed call that is recorded is returned.
    pub fn handle(&mut self, e: Event) -> Option<Syscall> {
        match e {
            Event::Enter {
                time,
                tid,
                nr,
                args,
                ..
            } => {
                // A previous entry without exit (exit lost, or a call that
                // never returns: exit, execve of another thread) is dropped.
                self.open.insert(tid, Open { nr, time, args });
                None
            }
            Event::Exit {
                time,
                pid,
                tid,
                nr,
                ret,
            } => {
                let Some(open) = self.open.remove(&tid) else {
                    self.unmatched += 1;
                    return None;
                };
                if open.nr != nr || nr < 0 || time < open.time {
                    self.unmatched += 1;
                    return None;
                }
                let duration = time - open.time;
                let idx = nr as usize;
                if let Some(c) = self.counts.get_mut(idx) {
                    c.add(ret, duration);
                }
                let recorded = idx >= MAX_NR || self.recorded[idx];
                if !recorded {
                    return None;
                }
                let summary = self
                    .table
                    .kinds
                    .get(idx)
                    .and_then(|&kind| {
                        summary::describe(kind, pid, &open.args, &mut RawOnly, &mut self.fds, false)
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_default();
                Some(Syscall {
                    time_ns: open.time,
                    pid,
                    tid,
                    nr: nr.min(u32::MAX as i64) as u32,
                    duration_ns: duration,
                    ret,
                    summary,
                    abi: String::new(),
                })
            }
        }
    }

    /// Threads in a call now.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.open.len()
    }

    /// Forgets threads for which `alive` says no (exited in a call).
    pub fn sweep(&mut self, mut alive: impl FnMut(u32) -> bool) {
        self.open.retain(|&tid, _| alive(tid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holter_format::syscall_names::Arch;

    const LAYOUT: Layout = Layout {
        enter_id: 443,
        exit_id: 442,
        type_off: 0,
        enter_nr_off: 8,
        args_off: 16,
        exit_nr_off: 8,
        ret_off: 16,
    };

    /// A sample record as the kernel writes it (TID | TIME | CPU | RAW).
    fn sample(pid: u32, tid: u32, time: u64, raw: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&tid.to_ne_bytes());
        b.extend_from_slice(&time.to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&(raw.len() as u32).to_ne_bytes());
        b.extend_from_slice(raw);
        while (b.len() + 8) % 8 != 0 {
            b.push(0);
        }
        let mut r = RECORD_SAMPLE.to_ne_bytes().to_vec();
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&((b.len() + 8) as u16).to_ne_bytes());
        r.extend_from_slice(&b);
        r
    }

    fn raw(id: u16, words: &[u64]) -> Vec<u8> {
        let mut r = id.to_ne_bytes().to_vec();
        r.extend_from_slice(&[0, 0, 7, 0, 0, 0]); // flags, preempt, common_pid
        for w in words {
            r.extend_from_slice(&w.to_ne_bytes());
        }
        r
    }

    fn enter(tid: u32, time: u64, nr: u64, args: [u64; 6]) -> Vec<u8> {
        let mut w = vec![nr];
        w.extend_from_slice(&args);
        sample(100, tid, time, &raw(443, &w))
    }

    fn exit(tid: u32, time: u64, nr: u64, ret: i64) -> Vec<u8> {
        sample(100, tid, time, &raw(442, &[nr, ret as u64]))
    }

    #[test]
    fn parses_enter_and_exit() {
        let e = parse_sample(&enter(101, 5_000, 0, [3, 0x7000, 4096, 0, 0, 0]), &LAYOUT);
        assert_eq!(
            e,
            Some(Event::Enter {
                time: 5_000,
                pid: 100,
                tid: 101,
                nr: 0,
                args: [3, 0x7000, 4096, 0, 0, 0]
            })
        );
        let x = parse_sample(&exit(101, 6_000, 0, -11), &LAYOUT);
        assert_eq!(
            x,
            Some(Event::Exit {
                time: 6_000,
                pid: 100,
                tid: 101,
                nr: 0,
                ret: -11
            })
        );
        // Another tracepoint, cut records, an impossible raw size.
        assert_eq!(
            parse_sample(&sample(1, 1, 1, &raw(9, &[0, 0])), &LAYOUT),
            None
        );
        let whole = enter(101, 5_000, 0, [0; 6]);
        for cut in [0, 8, 20, 40, whole.len() - 20] {
            assert_eq!(parse_sample(&whole[..cut], &LAYOUT), None, "cut at {cut}");
        }
        let mut big = whole.clone();
        big[8 + 24..8 + 28].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_sample(&big, &LAYOUT), None);
    }

    #[test]
    fn layout_from_formats() {
        let f = |name: &str, offset, size| super::super::tracefs::Field {
            name: name.into(),
            offset,
            size,
        };
        let enter = Tracepoint {
            id: 443,
            fields: vec![f("common_type", 0, 2), f("id", 8, 8), f("args", 16, 48)],
        };
        let exit = Tracepoint {
            id: 442,
            fields: vec![f("common_type", 0, 2), f("id", 8, 8), f("ret", 16, 8)],
        };
        assert_eq!(Layout::new(&enter, &exit), Some(LAYOUT));
        let odd = Tracepoint {
            id: 442,
            fields: vec![f("id", 8, 4), f("ret", 16, 8)],
        };
        assert_eq!(Layout::new(&enter, &odd), None);
    }

    fn ev(r: Vec<u8>) -> Event {
        parse_sample(&r, &LAYOUT).unwrap()
    }

    #[test]
    fn pairs_per_thread_with_durations_counts_and_summaries() {
        let mut p = Pairer::new(Table::new(Some(Arch::X86_64)), vec![true; MAX_NR]);
        // Thread 101 reads (nr 0) while thread 102 nanosleeps (nr 35) across it.
        assert_eq!(p.handle(ev(enter(102, 900, 35, [0; 6]))), None);
        assert_eq!(
            p.handle(ev(enter(101, 1_000, 0, [3, 0x7000, 4096, 0, 0, 0]))),
            None
        );
        let read = p.handle(ev(exit(101, 1_500, 0, 512))).unwrap();
        assert_eq!(
            (read.tid, read.nr, read.time_ns, read.duration_ns, read.ret),
            (101, 0, 1_000, 500, 512)
        );
        assert_eq!(read.summary, "fd 3, 4096 bytes");
        let sleep = p.handle(ev(exit(102, 2_000_900, 35, 0))).unwrap();
        assert_eq!(sleep.duration_ns, 2_000_000);
        assert_eq!(sleep.summary, "");
        // An exit whose entry was not seen (the call began before the capture).
        assert_eq!(p.handle(ev(exit(103, 3_000, 0, 1))), None);
        // An entry whose exit was lost is replaced by the next one; an
        // exit of another number is not paired.
        p.handle(ev(enter(101, 4_000, 1, [0; 6])));
        p.handle(ev(enter(101, 5_000, 0, [4, 0, 10, 0, 0, 0])));
        assert_eq!(p.handle(ev(exit(101, 5_100, 0, -11))).unwrap().ret, -11);
        p.handle(ev(enter(101, 6_000, 0, [0; 6])));
        assert_eq!(p.handle(ev(exit(101, 6_100, 1, 0))), None);
        assert_eq!(p.unmatched, 2);
        assert_eq!(p.counts[0].calls, 2);
        assert_eq!(p.counts[0].errors, 1);
        assert_eq!(p.counts[0].errnos.get(&11), Some(&1));
        assert_eq!(p.counts[35].calls, 1);
        assert_eq!(p.counts[35].total_ns, 2_000_000);
        // A thread that exited inside a call is forgotten by a sweep.
        p.handle(ev(enter(104, 7_000, 60, [0; 6])));
        assert_eq!(p.in_flight(), 1);
        p.sweep(|tid| tid != 104);
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn the_filter_counts_all_and_records_some() {
        let mut recorded = vec![false; MAX_NR];
        recorded[35] = true;
        let mut p = Pairer::new(Table::new(Some(Arch::X86_64)), recorded);
        p.handle(ev(enter(101, 1, 0, [0; 6])));
        assert_eq!(p.handle(ev(exit(101, 2, 0, 0))), None);
        p.handle(ev(enter(101, 3, 35, [0; 6])));
        assert!(p.handle(ev(exit(101, 4, 35, 0))).is_some());
        assert_eq!((p.counts[0].calls, p.counts[35].calls), (1, 1));
    }

    #[test]
    fn lost_records() {
        let mut r = RECORD_LOST.to_ne_bytes().to_vec();
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&24u16.to_ne_bytes());
        r.extend_from_slice(&7u64.to_ne_bytes());
        r.extend_from_slice(&42u64.to_ne_bytes());
        assert_eq!(parse_lost(&r), Some(42));
        assert_eq!(parse_lost(&r[..20]), None);
    }
}
