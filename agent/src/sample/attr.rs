//! The perf event attributes the sampler opens: pure values, tested for the
//! bits the record format depends on.

use super::sys::{Attr, ATTR_SIZE};

/// `perf_event_attr` flag bits.
pub mod flag {
    pub const DISABLED: u64 = 1 << 0;
    pub const INHERIT: u64 = 1 << 1;
    pub const MMAP: u64 = 1 << 8;
    pub const COMM: u64 = 1 << 9;
    pub const FREQ: u64 = 1 << 10;
    pub const ENABLE_ON_EXEC: u64 = 1 << 12;
    pub const TASK: u64 = 1 << 13;
    pub const WATERMARK: u64 = 1 << 14;
    pub const SAMPLE_ID_ALL: u64 = 1 << 18;
    pub const MMAP2: u64 = 1 << 23;
    pub const COMM_EXEC: u64 = 1 << 24;
    pub const USE_CLOCKID: u64 = 1 << 25;
    pub const CONTEXT_SWITCH: u64 = 1 << 26;
    pub const BUILD_ID: u64 = 1 << 34;
}

/// `PERF_SAMPLE_*` bits.
pub mod sample {
    pub const IP: u64 = 1 << 0;
    pub const TID: u64 = 1 << 1;
    pub const TIME: u64 = 1 << 2;
    pub const ADDR: u64 = 1 << 3;
    pub const CALLCHAIN: u64 = 1 << 5;
    pub const ID: u64 = 1 << 6;
    pub const CPU: u64 = 1 << 7;
    pub const PERIOD: u64 = 1 << 8;
    pub const STREAM_ID: u64 = 1 << 9;
    pub const RAW: u64 = 1 << 10;
    pub const REGS_USER: u64 = 1 << 12;
    pub const STACK_USER: u64 = 1 << 13;
    pub const IDENTIFIER: u64 = 1 << 16;
}

/// The user registers a DWARF-mode sample carries (`PERF_REG_*` bits), in
/// the order of the record: on x86_64 bp, sp, ip.
#[cfg(target_arch = "x86_64")]
pub const REGS_USER_MASK: u64 = (1 << 6) | (1 << 7) | (1 << 8);
/// On aarch64 x29 (fp), lr, sp, pc.
#[cfg(target_arch = "aarch64")]
pub const REGS_USER_MASK: u64 = (1 << 29) | (1 << 30) | (1 << 31) | (1 << 32);

/// The sample type with user registers and stack copy (DWARF unwinding).
pub const SAMPLE_TYPE_DWARF: u64 = SAMPLE_TYPE | sample::REGS_USER | sample::STACK_USER;

/// What every sample carries; the parser reads exactly these fields.
pub const SAMPLE_TYPE: u64 =
    sample::TID | sample::TIME | sample::CPU | sample::PERIOD | sample::CALLCHAIN;

const TYPE_HARDWARE: u32 = 0;
const TYPE_SOFTWARE: u32 = 1;
const CLOCK_MONOTONIC: i32 = 1;

/// The event that drives sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Hardware CPU cycles (a PMU exists).
    Cycles,
    /// The software CPU clock (no PMU, e.g. most VMs).
    CpuClock,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Cycles => "cycles",
            Event::CpuClock => "cpu-clock",
        }
    }

    fn type_config(self) -> (u32, u64) {
        match self {
            Event::Cycles => (TYPE_HARDWARE, 0),
            Event::CpuClock => (TYPE_SOFTWARE, 0),
        }
    }
}

/// How a group of events starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Enabled by `ioctl(ENABLE)` once every event is open.
    Disabled,
    /// Enabled by the kernel when the (held) task calls exec.
    OnExec,
}

/// A sampling event. `side_band` asks for MMAP2/COMM/FORK/EXIT records (one
/// event per ring is enough for cgroup events; task events all need it, since
/// the kernel delivers a task's side-band records to that task's events).
pub fn sampling(
    event: Event,
    hz: u32,
    inherit: bool,
    start: Start,
    side_band: bool,
    watermark_bytes: u32,
    stack_bytes: Option<u32>,
) -> Attr {
    let (type_, config) = event.type_config();
    let mut flags = flag::SAMPLE_ID_ALL | flag::USE_CLOCKID | flag::WATERMARK;
    let period_or_freq = match event {
        // A per-thread event in frequency mode adapts its period over many
        // samples: threads that run in short bursts get far fewer samples per
        // CPU-second than steady ones. The CPU clock counts nanoseconds, so a
        // fixed period of 1/hz seconds makes every sample stand for the same
        // CPU time.
        Event::CpuClock => cpu_clock_period_ns(hz),
        Event::Cycles => {
            flags |= flag::FREQ;
            hz.max(1) as u64
        }
    };
    flags |= flag::DISABLED;
    if start == Start::OnExec {
        flags |= flag::ENABLE_ON_EXEC;
    }
    if inherit {
        flags |= flag::INHERIT;
    }
    if side_band {
        flags |=
            flag::MMAP | flag::MMAP2 | flag::COMM | flag::COMM_EXEC | flag::TASK | flag::BUILD_ID;
    }
    let (sample_type, regs, stack) = match stack_bytes {
        Some(n) => (SAMPLE_TYPE_DWARF, REGS_USER_MASK, n & !7),
        None => (SAMPLE_TYPE, 0, 0),
    };
    Attr {
        type_,
        size: ATTR_SIZE,
        config,
        sample_period_or_freq: period_or_freq,
        sample_type,
        flags,
        wakeup: watermark_bytes,
        clockid: CLOCK_MONOTONIC,
        sample_regs_user: regs,
        sample_stack_user: stack,
        ..Attr::default()
    }
}

/// The `cpu-clock` sampling period, in nanoseconds, for `hz` samples per CPU-second.
pub fn cpu_clock_period_ns(hz: u32) -> u64 {
    1_000_000_000 / hz.max(1) as u64
}

/// A `perf stat`-like counting event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub name: &'static str,
    type_: u32,
    config: u64,
}

/// task-clock, context-switches, cpu-migrations, page-faults; then cycles
/// and instructions where a PMU exists.
pub fn counters(pmu: bool) -> Vec<Counter> {
    let mut list = vec![
        Counter {
            name: "task-clock",
            type_: TYPE_SOFTWARE,
            config: 1,
        },
        Counter {
            name: "context-switches",
            type_: TYPE_SOFTWARE,
            config: 3,
        },
        Counter {
            name: "cpu-migrations",
            type_: TYPE_SOFTWARE,
            config: 4,
        },
        Counter {
            name: "page-faults",
            type_: TYPE_SOFTWARE,
            config: 2,
        },
    ];
    if pmu {
        list.push(Counter {
            name: "cycles",
            type_: TYPE_HARDWARE,
            config: 0,
        });
        list.push(Counter {
            name: "instructions",
            type_: TYPE_HARDWARE,
            config: 1,
        });
    }
    list
}

pub fn counting(counter: Counter, inherit: bool, start: Start) -> Attr {
    let mut flags = flag::DISABLED;
    if inherit {
        flags |= flag::INHERIT;
    }
    if start == Start::OnExec {
        flags |= flag::ENABLE_ON_EXEC;
    }
    Attr {
        type_: counter.type_,
        size: ATTR_SIZE,
        config: counter.config,
        flags,
        ..Attr::default()
    }
}

/// A probe for a hardware PMU: cycles on the calling thread.
pub fn probe_cycles() -> Attr {
    Attr {
        type_: TYPE_HARDWARE,
        size: ATTR_SIZE,
        config: 0,
        flags: flag::DISABLED,
        ..Attr::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_attr_has_what_the_format_needs() {
        let a = sampling(Event::CpuClock, 99, true, Start::OnExec, true, 4096, None);
        assert_eq!(a.type_, TYPE_SOFTWARE);
        // cpu-clock: a fixed period of 1/99 s in ns, not a frequency.
        assert_eq!(a.sample_period_or_freq, 1_000_000_000 / 99);
        assert_eq!(a.flags & flag::FREQ, 0);
        for bit in [
            flag::USE_CLOCKID,
            flag::SAMPLE_ID_ALL,
            flag::INHERIT,
            flag::ENABLE_ON_EXEC,
            flag::DISABLED,
            flag::MMAP2,
            flag::BUILD_ID,
            flag::WATERMARK,
        ] {
            assert_ne!(a.flags & bit, 0, "bit {bit:#x}");
        }
        assert_eq!(a.clockid, CLOCK_MONOTONIC);
        assert_eq!(a.wakeup, 4096);
        let b = sampling(Event::Cycles, 999, false, Start::Disabled, false, 1, None);
        assert_eq!((b.type_, b.config), (TYPE_HARDWARE, 0));
        assert_eq!(b.sample_period_or_freq, 999);
        assert_eq!(
            (b.sample_type, b.sample_regs_user, b.sample_stack_user),
            (SAMPLE_TYPE, 0, 0)
        );
        // DWARF mode: user registers and a stack copy of a multiple of 8 bytes.
        let d = sampling(
            Event::CpuClock,
            99,
            true,
            Start::Disabled,
            true,
            1,
            Some(16390),
        );
        assert_eq!(d.sample_type, SAMPLE_TYPE_DWARF);
        assert_eq!(
            (d.sample_regs_user, d.sample_stack_user),
            (REGS_USER_MASK, 16384)
        );
        assert_ne!(b.flags & flag::FREQ, 0);
        assert_eq!(
            b.flags & (flag::INHERIT | flag::ENABLE_ON_EXEC | flag::MMAP2),
            0
        );
    }

    #[test]
    fn counters_by_pmu() {
        let names: Vec<_> = counters(false).iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "task-clock",
                "context-switches",
                "cpu-migrations",
                "page-faults"
            ]
        );
        assert_eq!(counters(true).len(), 6);
        let a = counting(counters(false)[0], true, Start::Disabled);
        assert_eq!(a.sample_type, 0);
        assert_ne!(a.flags & flag::INHERIT, 0);
    }
}
