//! Parsing perf records (header included) into events: pure functions of
//! bytes, tested on byte fixtures.

use super::attr::sample;
use super::ring::{RecordHeader, HEADER_LEN};

pub const RECORD_MMAP2: u32 = 10;
pub const RECORD_LOST: u32 = 2;
pub const RECORD_COMM: u32 = 3;
pub const RECORD_EXIT: u32 = 4;
pub const RECORD_FORK: u32 = 7;
pub const RECORD_SAMPLE: u32 = 9;
pub const RECORD_LOST_SAMPLES: u32 = 13;
/// `PERF_RECORD_SWITCH`: a task event's task switched in or out.
pub const RECORD_SWITCH: u32 = 14;
/// `PERF_RECORD_SWITCH_CPU_WIDE`: the same on a CPU-wide (e.g. cgroup)
/// event, with the pid/tid of the task on the other side of the switch.
pub const RECORD_SWITCH_CPU_WIDE: u32 = 15;

pub const MISC_COMM_EXEC: u16 = 1 << 13;
pub const MISC_MMAP_BUILD_ID: u16 = 1 << 14;
/// `PERF_RECORD_MISC_SWITCH_OUT`: a switch record of the task leaving.
pub const MISC_SWITCH_OUT: u16 = 1 << 13;
/// `PERF_RECORD_MISC_SWITCH_OUT_PREEMPT`: it left runnable (preempted).
pub const MISC_SWITCH_OUT_PREEMPT: u16 = 1 << 14;

/// How a mapped file is identified by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileId {
    DevIno {
        maj: u32,
        min: u32,
        ino: u64,
    },
    /// The kernel's build-id (empty when it could not read it).
    BuildId(Vec<u8>),
}

/// The `sample_id_all` trailer of non-sample records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleId {
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    pub cpu: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Sample {
        pid: u32,
        tid: u32,
        time: u64,
        cpu: u32,
        period: u64,
        /// Raw callchain, context markers included.
        callchain: Vec<u64>,
        /// User registers (DWARF mode; `None` for a sample without user context).
        regs: Option<crate::unwind::Regs>,
        /// The copy of the user stack from the sampled sp (DWARF mode).
        stack: Vec<u8>,
    },
    Mmap2 {
        pid: u32,
        tid: u32,
        addr: u64,
        len: u64,
        pgoff: u64,
        file: FileId,
        prot: u32,
        path: String,
        time: u64,
    },
    Comm {
        pid: u32,
        tid: u32,
        comm: String,
        exec: bool,
        time: u64,
    },
    Fork {
        pid: u32,
        ppid: u32,
        tid: u32,
        time: u64,
    },
    Exit {
        pid: u32,
        tid: u32,
        time: u64,
    },
    Lost {
        count: u64,
    },
    /// A record kind the sampler does not use.
    Other(u32),
}

/// A little-endian-agnostic cursor over native-endian record bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Option<u64> {
        let v = u64::from_ne_bytes(self.bytes.get(self.pos..self.pos + 8)?.try_into().ok()?);
        self.pos += 8;
        Some(v)
    }
    fn u32(&mut self) -> Option<u32> {
        let v = u32::from_ne_bytes(self.bytes.get(self.pos..self.pos + 4)?.try_into().ok()?);
        self.pos += 4;
        Some(v)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    /// A NUL-padded string, 8-byte aligned, ending before `trailer` bytes of the record.
    fn string(&mut self, trailer: usize) -> Option<String> {
        let end = self.bytes.len().checked_sub(trailer)?;
        let raw = self.bytes.get(self.pos..end)?;
        let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        self.pos = end;
        Some(String::from_utf8_lossy(&raw[..len]).into_owned())
    }
}

/// The length of the `sample_id_all` trailer for `sample_type`.
pub fn sample_id_len(sample_type: u64) -> usize {
    [
        sample::TID,
        sample::TIME,
        sample::ID,
        sample::STREAM_ID,
        sample::CPU,
        sample::IDENTIFIER,
    ]
    .iter()
    .filter(|&&b| sample_type & b != 0)
    .count()
        * 8
}

/// Reads the `sample_id_all` trailer at the end of a record.
pub fn sample_id(bytes: &[u8], sample_type: u64) -> Option<SampleId> {
    let start = bytes.len().checked_sub(sample_id_len(sample_type))?;
    let mut c = Cursor { bytes, pos: start };
    let mut id = SampleId::default();
    if sample_type & sample::TID != 0 {
        id.pid = c.u32()?;
        id.tid = c.u32()?;
    }
    if sample_type & sample::TIME != 0 {
        id.time = c.u64()?;
    }
    if sample_type & sample::ID != 0 {
        c.u64()?;
    }
    if sample_type & sample::STREAM_ID != 0 {
        c.u64()?;
    }
    if sample_type & sample::CPU != 0 {
        id.cpu = c.u32()?;
        c.u32()?;
    }
    Some(id)
}

/// Parses one record (header included). `None` for a malformed record.
pub fn parse(h: RecordHeader, bytes: &[u8], sample_type: u64) -> Option<Event> {
    let mut c = Cursor {
        bytes,
        pos: HEADER_LEN,
    };
    let trailer = sample_id_len(sample_type);
    match h.type_ {
        RECORD_SAMPLE => parse_sample(&mut c, sample_type),
        RECORD_MMAP2 => {
            let pid = c.u32()?;
            let tid = c.u32()?;
            let addr = c.u64()?;
            let len = c.u64()?;
            let pgoff = c.u64()?;
            let file = if h.misc & MISC_MMAP_BUILD_ID != 0 {
                let id = c.take(24)?;
                let n = (id[0] as usize).min(20);
                FileId::BuildId(id[4..4 + n].to_vec())
            } else {
                let maj = c.u32()?;
                let min = c.u32()?;
                let ino = c.u64()?;
                c.u64()?; // ino_generation
                FileId::DevIno { maj, min, ino }
            };
            let prot = c.u32()?;
            c.u32()?; // flags
            let path = c.string(trailer)?;
            let id = sample_id(bytes, sample_type)?;
            Some(Event::Mmap2 {
                pid,
                tid,
                addr,
                len,
                pgoff,
                file,
                prot,
                path,
                time: id.time,
            })
        }
        RECORD_COMM => {
            let pid = c.u32()?;
            let tid = c.u32()?;
            let comm = c.string(trailer)?;
            let id = sample_id(bytes, sample_type)?;
            Some(Event::Comm {
                pid,
                tid,
                comm,
                exec: h.misc & MISC_COMM_EXEC != 0,
                time: id.time,
            })
        }
        RECORD_FORK | RECORD_EXIT => {
            let pid = c.u32()?;
            let ppid = c.u32()?;
            let tid = c.u32()?;
            c.u32()?; // ptid
            let time = c.u64()?;
            Some(if h.type_ == RECORD_FORK {
                Event::Fork {
                    pid,
                    ppid,
                    tid,
                    time,
                }
            } else {
                Event::Exit { pid, tid, time }
            })
        }
        RECORD_LOST => {
            c.u64()?; // id
            Some(Event::Lost { count: c.u64()? })
        }
        RECORD_LOST_SAMPLES => Some(Event::Lost { count: c.u64()? }),
        other => Some(Event::Other(other)),
    }
}

/// A `PERF_RECORD_SWITCH(_CPU_WIDE)` record (`context_switch` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// The task switching: the kernel writes the record while it is current
    /// (after the switch for a switch in, before it for a switch out).
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    pub cpu: u32,
    /// `false`: `tid` came on the CPU.
    pub out: bool,
    /// Left runnable (a preemption); only on a switch out.
    pub preempt: bool,
    /// CPU-wide records: (pid, tid) of the task on the other side (next on
    /// a switch out, prev on a switch in; 0 for the idle task).
    pub other: Option<(u32, u32)>,
}

/// Parses a switch record (header included) of an event with
/// `sample_id_all` and `sample_type` (which must hold TID and TIME, or the
/// record says nothing usable). `None` for another record kind or a
/// malformed one.
pub fn parse_switch(h: RecordHeader, bytes: &[u8], sample_type: u64) -> Option<Switch> {
    if sample_type & (sample::TID | sample::TIME) != sample::TID | sample::TIME {
        return None;
    }
    let body = match h.type_ {
        RECORD_SWITCH => 0,
        RECORD_SWITCH_CPU_WIDE => 8,
        _ => return None,
    };
    if bytes.len() != HEADER_LEN + body + sample_id_len(sample_type) {
        return None;
    }
    let other = if body > 0 {
        let mut c = Cursor {
            bytes,
            pos: HEADER_LEN,
        };
        Some((c.u32()?, c.u32()?))
    } else {
        None
    };
    let id = sample_id(bytes, sample_type)?;
    let out = h.misc & MISC_SWITCH_OUT != 0;
    Some(Switch {
        pid: id.pid,
        tid: id.tid,
        time: id.time,
        cpu: id.cpu,
        out,
        preempt: out && h.misc & MISC_SWITCH_OUT_PREEMPT != 0,
        other,
    })
}

/// Parses a sample record (header included) with its `PERF_SAMPLE_RAW`
/// data (empty without it): what tracepoint events carry.
pub fn parse_sample_raw(bytes: &[u8], sample_type: u64) -> Option<(Event, &[u8])> {
    let mut c = Cursor {
        bytes,
        pos: HEADER_LEN,
    };
    sample_fields(&mut c, sample_type)
}

fn parse_sample(c: &mut Cursor, st: u64) -> Option<Event> {
    sample_fields(c, st).map(|(e, _)| e)
}

fn sample_fields<'a>(c: &mut Cursor<'a>, st: u64) -> Option<(Event, &'a [u8])> {
    if st & sample::IDENTIFIER != 0 {
        c.u64()?;
    }
    if st & sample::IP != 0 {
        c.u64()?;
    }
    let (mut pid, mut tid, mut time, mut cpu, mut period) = (0, 0, 0, 0, 0);
    if st & sample::TID != 0 {
        pid = c.u32()?;
        tid = c.u32()?;
    }
    if st & sample::TIME != 0 {
        time = c.u64()?;
    }
    if st & sample::ADDR != 0 {
        c.u64()?;
    }
    if st & sample::ID != 0 {
        c.u64()?;
    }
    if st & sample::STREAM_ID != 0 {
        c.u64()?;
    }
    if st & sample::CPU != 0 {
        cpu = c.u32()?;
        c.u32()?;
    }
    if st & sample::PERIOD != 0 {
        period = c.u64()?;
    }
    let mut callchain = Vec::new();
    if st & sample::CALLCHAIN != 0 {
        let nr = c.u64()? as usize;
        // Bounded by the record: a bad count cannot allocate more than the bytes hold.
        let raw = c.take(nr.checked_mul(8)?)?;
        callchain = raw
            .chunks_exact(8)
            .map(|w| u64::from_ne_bytes(w.try_into().unwrap_or_default()))
            .collect();
    }
    let mut raw: &[u8] = &[];
    if st & sample::RAW != 0 {
        let size = c.u32()? as usize;
        raw = c.take(size)?;
    }
    let mut regs = None;
    if st & sample::REGS_USER != 0 {
        let abi = c.u64()?;
        if abi != 0 {
            let n = super::attr::REGS_USER_MASK.count_ones() as usize;
            let mut v = [0u64; 4];
            for slot in v.iter_mut().take(n) {
                *slot = c.u64()?;
            }
            regs = Some(user_regs(&v));
        }
    }
    let mut stack = Vec::new();
    if st & sample::STACK_USER != 0 {
        let size = c.u64()? as usize;
        if size != 0 {
            let data = c.take(size)?;
            let dyn_size = c.u64()? as usize;
            stack.extend_from_slice(&data[..dyn_size.min(size)]);
        }
    }
    let e = Event::Sample {
        pid,
        tid,
        time,
        cpu,
        period,
        callchain,
        regs,
        stack,
    };
    Some((e, raw))
}

/// The registers of [`super::attr::REGS_USER_MASK`], in record order.
#[cfg(target_arch = "x86_64")]
fn user_regs(v: &[u64; 4]) -> crate::unwind::Regs {
    crate::unwind::Regs {
        fp: v[0],
        sp: v[1],
        ip: v[2],
        lr: 0,
    }
}

#[cfg(target_arch = "aarch64")]
fn user_regs(v: &[u64; 4]) -> crate::unwind::Regs {
    crate::unwind::Regs {
        fp: v[0],
        lr: v[1],
        sp: v[2],
        ip: v[3],
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Records built the way the kernel lays them out.
    use super::super::attr::SAMPLE_TYPE;
    use super::*;

    pub fn header(type_: u32, misc: u16, body: &[u8]) -> (RecordHeader, Vec<u8>) {
        let size = (HEADER_LEN + body.len()) as u16;
        let mut r = type_.to_ne_bytes().to_vec();
        r.extend_from_slice(&misc.to_ne_bytes());
        r.extend_from_slice(&size.to_ne_bytes());
        r.extend_from_slice(body);
        (RecordHeader { type_, misc, size }, r)
    }

    pub fn trailer(pid: u32, tid: u32, time: u64, cpu: u32) -> Vec<u8> {
        assert_eq!(sample_id_len(SAMPLE_TYPE), 24);
        let mut t = Vec::new();
        t.extend_from_slice(&pid.to_ne_bytes());
        t.extend_from_slice(&tid.to_ne_bytes());
        t.extend_from_slice(&time.to_ne_bytes());
        t.extend_from_slice(&cpu.to_ne_bytes());
        t.extend_from_slice(&0u32.to_ne_bytes());
        t
    }

    pub fn sample(
        pid: u32,
        tid: u32,
        time: u64,
        cpu: u32,
        period: u64,
        chain: &[u64],
    ) -> (RecordHeader, Vec<u8>) {
        let mut b = Vec::new();
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&tid.to_ne_bytes());
        b.extend_from_slice(&time.to_ne_bytes());
        b.extend_from_slice(&cpu.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&period.to_ne_bytes());
        b.extend_from_slice(&(chain.len() as u64).to_ne_bytes());
        for ip in chain {
            b.extend_from_slice(&ip.to_ne_bytes());
        }
        header(RECORD_SAMPLE, 2, &b)
    }

    /// A DWARF-mode sample: callchain, then user registers (abi, values)
    /// and a stack copy of `size` bytes of which `stack` are valid.
    pub fn sample_dwarf(
        chain: &[u64],
        regs: Option<&[u64]>,
        size: usize,
        stack: &[u8],
    ) -> (RecordHeader, Vec<u8>) {
        let (_, mut r) = sample(5, 6, 7, 0, 1, chain);
        r.drain(..HEADER_LEN);
        match regs {
            Some(v) => {
                r.extend_from_slice(&2u64.to_ne_bytes()); // PERF_SAMPLE_REGS_ABI_64
                for x in v {
                    r.extend_from_slice(&x.to_ne_bytes());
                }
            }
            None => r.extend_from_slice(&0u64.to_ne_bytes()),
        }
        r.extend_from_slice(&(size as u64).to_ne_bytes());
        if size > 0 {
            let mut data = stack.to_vec();
            data.resize(size, 0);
            r.extend_from_slice(&data);
            r.extend_from_slice(&(stack.len() as u64).to_ne_bytes());
        }
        header(RECORD_SAMPLE, 2, &r)
    }

    pub fn padded(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
        v
    }

    pub fn mmap2_build_id(
        pid: u32,
        addr: u64,
        len: u64,
        pgoff: u64,
        build_id: &[u8],
        path: &str,
        time: u64,
    ) -> (RecordHeader, Vec<u8>) {
        let mut b = Vec::new();
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&addr.to_ne_bytes());
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&pgoff.to_ne_bytes());
        let mut id = [0u8; 24];
        id[0] = build_id.len() as u8;
        id[4..4 + build_id.len()].copy_from_slice(build_id);
        b.extend_from_slice(&id);
        b.extend_from_slice(&5u32.to_ne_bytes()); // PROT_READ|PROT_EXEC
        b.extend_from_slice(&2u32.to_ne_bytes()); // MAP_PRIVATE
        b.extend_from_slice(&padded(path));
        b.extend_from_slice(&trailer(pid, pid, time, 0));
        header(RECORD_MMAP2, MISC_MMAP_BUILD_ID | 2, &b)
    }

    pub fn task(type_: u32, pid: u32, ppid: u32, tid: u32, time: u64) -> (RecordHeader, Vec<u8>) {
        let mut b = Vec::new();
        for v in [pid, ppid, tid, tid] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&time.to_ne_bytes());
        b.extend_from_slice(&trailer(pid, tid, time, 1));
        header(type_, 0, &b)
    }

    pub fn comm(pid: u32, tid: u32, comm: &str, exec: bool, time: u64) -> (RecordHeader, Vec<u8>) {
        let mut b = Vec::new();
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&tid.to_ne_bytes());
        b.extend_from_slice(&padded(comm));
        b.extend_from_slice(&trailer(pid, tid, time, 0));
        header(RECORD_COMM, if exec { MISC_COMM_EXEC } else { 0 }, &b)
    }

    /// A switch record: `other` makes it CPU-wide (next/prev pid and tid).
    pub fn switch(
        misc: u16,
        other: Option<(u32, u32)>,
        pid: u32,
        tid: u32,
        time: u64,
        cpu: u32,
    ) -> (RecordHeader, Vec<u8>) {
        let mut b = Vec::new();
        let type_ = match other {
            Some((p, t)) => {
                b.extend_from_slice(&p.to_ne_bytes());
                b.extend_from_slice(&t.to_ne_bytes());
                RECORD_SWITCH_CPU_WIDE
            }
            None => RECORD_SWITCH,
        };
        b.extend_from_slice(&trailer(pid, tid, time, cpu));
        header(type_, misc, &b)
    }

    pub fn lost(count: u64) -> (RecordHeader, Vec<u8>) {
        let mut b = 7u64.to_ne_bytes().to_vec();
        b.extend_from_slice(&count.to_ne_bytes());
        b.extend_from_slice(&trailer(0, 0, 5, 0));
        header(RECORD_LOST, 0, &b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::attr::SAMPLE_TYPE;
    use super::fixtures::*;
    use super::*;

    #[test]
    fn samples() {
        let (h, r) = sample(
            10,
            11,
            123_456,
            1,
            10_101_010,
            &[
                u64::MAX - 127,
                0xffff_ffff_8100_0010,
                u64::MAX - 511,
                0x401000,
                0x401100,
            ],
        );
        let e = parse(h, &r, SAMPLE_TYPE).unwrap();
        assert_eq!(
            e,
            Event::Sample {
                pid: 10,
                tid: 11,
                time: 123_456,
                cpu: 1,
                period: 10_101_010,
                callchain: vec![
                    u64::MAX - 127,
                    0xffff_ffff_8100_0010,
                    u64::MAX - 511,
                    0x401000,
                    0x401100
                ],
                regs: None,
                stack: vec![],
            }
        );
        // A callchain count larger than the record is malformed, not an allocation.
        let (h, mut r) = sample(1, 1, 1, 0, 1, &[1]);
        let at = HEADER_LEN + 32;
        r[at..at + 8].copy_from_slice(&(1u64 << 60).to_ne_bytes());
        assert_eq!(parse(h, &r, SAMPLE_TYPE), None);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn dwarf_samples_carry_registers_and_the_valid_stack_bytes() {
        use super::super::attr::SAMPLE_TYPE_DWARF;
        // bp, sp, ip; a 64-byte copy of which the kernel filled 24.
        let (h, r) = sample_dwarf(
            &[u64::MAX - 511, 0x401000],
            Some(&[0x30, 0x20, 0x401000]),
            64,
            &[7; 24],
        );
        match parse(h, &r, SAMPLE_TYPE_DWARF).unwrap() {
            Event::Sample {
                regs,
                stack,
                callchain,
                ..
            } => {
                assert_eq!(
                    regs,
                    Some(crate::unwind::Regs {
                        ip: 0x401000,
                        sp: 0x20,
                        fp: 0x30,
                        lr: 0
                    })
                );
                assert_eq!(stack, vec![7; 24]);
                assert_eq!(callchain.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        // No user context (abi 0), no stack.
        let (h, r) = sample_dwarf(&[], None, 0, &[]);
        match parse(h, &r, SAMPLE_TYPE_DWARF).unwrap() {
            Event::Sample { regs, stack, .. } => assert!(regs.is_none() && stack.is_empty()),
            other => panic!("{other:?}"),
        }
        // A stack size beyond the record is malformed; a dyn_size beyond the size is clamped.
        let (h, mut r) = sample_dwarf(&[], Some(&[1, 2, 3]), 16, &[1; 16]);
        let n = r.len();
        r[n - 8..].copy_from_slice(&1000u64.to_ne_bytes());
        match parse(h, &r, SAMPLE_TYPE_DWARF).unwrap() {
            Event::Sample { stack, .. } => assert_eq!(stack.len(), 16),
            other => panic!("{other:?}"),
        }
        let at = n - 8 - 16 - 8;
        r[at..at + 8].copy_from_slice(&(1u64 << 40).to_ne_bytes());
        assert_eq!(parse(h, &r, SAMPLE_TYPE_DWARF), None);
    }

    #[test]
    fn mmap2_with_build_id() {
        let id: Vec<u8> = (1..=20).collect();
        let (h, r) = mmap2_build_id(
            42,
            0x5555_0000,
            0x2000,
            0x1000,
            &id,
            "/usr/bin/calltree",
            99,
        );
        match parse(h, &r, SAMPLE_TYPE).unwrap() {
            Event::Mmap2 {
                pid,
                addr,
                len,
                pgoff,
                file,
                prot,
                path,
                time,
                ..
            } => {
                assert_eq!(
                    (pid, addr, len, pgoff, prot, time),
                    (42, 0x5555_0000, 0x2000, 0x1000, 5, 99)
                );
                assert_eq!(file, FileId::BuildId(id));
                assert_eq!(path, "/usr/bin/calltree");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Kernels before 5.12 (or an attr without `build_id`) give device and inode.
    #[test]
    fn mmap2_with_device_and_inode() {
        let mut b = Vec::new();
        for v in [7u32, 7] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for v in [0x7f00_0000_0000u64, 0x1000, 0x2000] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&0xfeu32.to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&4242u64.to_ne_bytes());
        b.extend_from_slice(&0u64.to_ne_bytes());
        b.extend_from_slice(&5u32.to_ne_bytes());
        b.extend_from_slice(&2u32.to_ne_bytes());
        b.extend_from_slice(&padded("/lib/libc.so.6"));
        b.extend_from_slice(&trailer(7, 7, 9, 0));
        let (h, r) = header(RECORD_MMAP2, 2, &b);
        match parse(h, &r, SAMPLE_TYPE).unwrap() {
            Event::Mmap2 {
                file, path, pgoff, ..
            } => {
                assert_eq!(
                    file,
                    FileId::DevIno {
                        maj: 0xfe,
                        min: 1,
                        ino: 4242
                    }
                );
                assert_eq!((path.as_str(), pgoff), ("/lib/libc.so.6", 0x2000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn task_records() {
        let (h, r) = task(RECORD_FORK, 20, 10, 21, 77);
        assert_eq!(
            parse(h, &r, SAMPLE_TYPE),
            Some(Event::Fork {
                pid: 20,
                ppid: 10,
                tid: 21,
                time: 77
            })
        );
        let (h, r) = task(RECORD_EXIT, 20, 10, 20, 78);
        assert_eq!(
            parse(h, &r, SAMPLE_TYPE),
            Some(Event::Exit {
                pid: 20,
                tid: 20,
                time: 78
            })
        );
        let (h, r) = comm(20, 20, "calltree", true, 79);
        assert_eq!(
            parse(h, &r, SAMPLE_TYPE),
            Some(Event::Comm {
                pid: 20,
                tid: 20,
                comm: "calltree".into(),
                exec: true,
                time: 79
            })
        );
        let (h, r) = lost(12);
        assert_eq!(parse(h, &r, SAMPLE_TYPE), Some(Event::Lost { count: 12 }));
        assert_eq!(sample_id(&r, SAMPLE_TYPE).unwrap().time, 5);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn a_cpu_wide_switch_in_as_the_kernel_writes_it() {
        // PERF_RECORD_SWITCH_CPU_WIDE, misc 0 (in), 40 bytes: prev pid/tid
        // 0/0 (from the idle task), then the sample_id trailer of TID|TIME|CPU:
        // pid 1000, tid 1001, time 0x1122334455, cpu 1.
        #[rustfmt::skip]
        let r: [u8; 40] = [
            15, 0, 0, 0, 0x00, 0x00, 40, 0,
            0, 0, 0, 0, 0, 0, 0, 0,
            0xe8, 0x03, 0, 0, 0xe9, 0x03, 0, 0,
            0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0,
            1, 0, 0, 0, 0, 0, 0, 0,
        ];
        let h = super::super::ring::header(&r).unwrap();
        assert_eq!(
            parse_switch(h, &r, SAMPLE_TYPE),
            Some(Switch {
                pid: 1000,
                tid: 1001,
                time: 0x11_2233_4455,
                cpu: 1,
                out: false,
                preempt: false,
                other: Some((0, 0)),
            })
        );
        // The other kinds of record are not switches.
        assert_eq!(parse(h, &r, SAMPLE_TYPE), Some(Event::Other(15)));
    }

    #[test]
    fn switch_records_in_and_out() {
        // A task event's switch in: no next/prev pid.
        let (h, r) = switch(0, None, 20, 21, 500, 1);
        assert_eq!(r.len(), HEADER_LEN + 24);
        let s = parse_switch(h, &r, SAMPLE_TYPE).unwrap();
        assert_eq!((s.tid, s.pid, s.time, s.cpu), (21, 20, 500, 1));
        assert!(!s.out && !s.preempt && s.other.is_none());
        // Out, preempted; out, blocked (the preempt bit means nothing on an in).
        let (h, r) = switch(
            MISC_SWITCH_OUT | MISC_SWITCH_OUT_PREEMPT,
            None,
            20,
            21,
            600,
            0,
        );
        let s = parse_switch(h, &r, SAMPLE_TYPE).unwrap();
        assert!(s.out && s.preempt);
        let (h, r) = switch(MISC_SWITCH_OUT, Some((30, 31)), 20, 21, 700, 0);
        let s = parse_switch(h, &r, SAMPLE_TYPE).unwrap();
        assert!(s.out && !s.preempt);
        assert_eq!(s.other, Some((30, 31)));
        let (h, r) = switch(MISC_SWITCH_OUT_PREEMPT, None, 20, 21, 800, 0);
        assert!(!parse_switch(h, &r, SAMPLE_TYPE).unwrap().preempt);
        // The trailer follows the sample type: with the DWARF mode's extra
        // sample fields it is the same (they are not in sample_id).
        let dwarf = super::super::attr::SAMPLE_TYPE_DWARF | sample::RAW;
        let (h, r) = switch(0, Some((0, 0)), 20, 21, 900, 1);
        assert_eq!(parse_switch(h, &r, dwarf).unwrap().time, 900);
    }

    #[test]
    fn malformed_switch_records_refused() {
        let (h, r) = switch(0, Some((1, 2)), 20, 21, 500, 1);
        // Cut, or longer than the kind's layout.
        assert_eq!(parse_switch(h, &r[..r.len() - 8], SAMPLE_TYPE), None);
        let mut long = r.clone();
        long.extend_from_slice(&[0; 8]);
        assert_eq!(parse_switch(h, &long, SAMPLE_TYPE), None);
        // A task switch record of a CPU-wide length, and the reverse.
        let task = RecordHeader {
            type_: RECORD_SWITCH,
            ..h
        };
        assert_eq!(parse_switch(task, &r, SAMPLE_TYPE), None);
        // Without tid and time in sample_id there is nothing to pair.
        assert_eq!(parse_switch(h, &r, sample::CPU), None);
        // Another kind.
        let (h, r) = lost(3);
        assert_eq!(parse_switch(h, &r, SAMPLE_TYPE), None);
        assert_eq!(parse_switch(h, &[], SAMPLE_TYPE), None);
    }
}
