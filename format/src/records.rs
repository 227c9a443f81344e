//! The record types of a capture.
//!
//! Every record is serialized with `postcard` and framed by `kind` (see
//! [`Record::kind`]). The frame gives each record a length; postcard writes
//! none around the values nested inside it. Evolution rules, checked by
//! `tests/compat.rs`:
//! - a field is only ever appended at the end of a **top-level record** (the
//!   types named in [`Record`]); a reader given an older record reads the
//!   missing trailing fields as their zero value (`0`, `false`, `None`,
//!   empty), and an older reader ignores trailing fields it does not know;
//! - **nested structs are frozen**: [`Host`], [`Target`], [`Options`],
//!   [`ClockPair`] (inside [`Header`]), [`Segment`] and [`Symbol`] (inside
//!   `Vec`s) never change. An appended nested field would shift every byte
//!   after it in an older reader, which then mis-decodes without an error.
//!   Their wire layouts are pinned by `nested_structs_are_frozen`; a new
//!   nested fact goes into a field appended to the top-level record (as 1.2
//!   did with `Header::unwind` rather than `Options`) or into a new record kind
//!   (the tuples and [`crate::numdelta::Edit`]s inside records are frozen too);
//! - a new record kind gets a new kind number; readers skip kinds they do not know;
//! - anything else (reordering, changing a type, changing a nested struct) is
//!   a major version change, which readers refuse naming both versions.
//!
//! A fixture capture is committed per shipped minor version
//! (`fixtures/captures/format-MAJOR.MINOR-all-kinds.holter`, immutable).
//!
//! All times are CLOCK_MONOTONIC nanoseconds unless named `wall`.

use serde::{Deserialize, Serialize};

/// The first record of every capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Header {
    pub host: Host,
    pub agent_version: String,
    pub target: Target,
    pub options: Options,
    /// One (CLOCK_MONOTONIC, wall clock) pair taken together at start.
    pub clock: ClockPair,
    /// How user stacks were taken: `dwarf` (unwound in the agent, frame
    /// pointers where a module has no unwind tables) or `fp` (the kernel's
    /// frame-pointer chain). Empty in captures older than format 1.2 (`fp`).
    pub unwind: String,
    /// Bytes of user stack copied per sample for unwinding (0 with `fp`).
    pub stack_bytes: u32,
    /// The container runtime of the target (1.5+): `docker`, `containerd`,
    /// `cri-o`, `podman` or `runc`; empty when unknown or not a container.
    pub runtime: String,
    /// The container's name as its runtime knows it (1.5+: `docker ps`'s
    /// NAMES, podman's name, a Kubernetes container's name); empty when it
    /// has none or is not a container. Chosen by users: untrusted text.
    pub container_name: String,
    /// How syscalls were traced (1.8+): `ptrace` (stopping the target at
    /// each call; arguments read from its memory) or `kernel` (the
    /// `raw_syscalls` tracepoints through perf; raw arguments only). Empty
    /// in older captures and without `--syscalls`: `ptrace` where
    /// `Options::syscalls` is set.
    pub syscall_mode: String,
    /// Off-CPU intervals were recorded (`--off-cpu`, 1.11+): the capture
    /// holds [`OffCpuBatch`] records (none at all means no thread of the
    /// target left a CPU). `false` in older captures.
    pub off_cpu: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Host {
    pub hostname: String,
    pub kernel_release: String,
    /// `x86_64`, `aarch64`, ...: names the syscall table.
    pub arch: String,
    pub page_size: u64,
    pub boot_id: String,
    pub cpus: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Target {
    /// `pid`, `cgroup`, `container`, `pod` or `command`.
    pub kind: String,
    /// What the user gave: the pid, the path, the id or the command line.
    pub spec: String,
    /// Processes found at start (host pids).
    pub pids: Vec<u32>,
    /// Cgroup directories of the target, absolute paths on the node.
    pub cgroups: Vec<String>,
    /// Full container id where the target is a container.
    pub container_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Options {
    pub samples: bool,
    /// The perf event sampled: `cycles` or `cpu-clock`.
    pub sample_event: String,
    pub frequency_hz: u32,
    pub syscalls: bool,
    pub cgroup_interval_ns: u64,
    pub duration_ns: Option<u64>,
    pub redact: bool,
    pub max_size: Option<u64>,
    pub syscalls_filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClockPair {
    pub monotonic_ns: u64,
    /// Nanoseconds since the Unix epoch.
    pub wall_ns: u64,
}

/// A process seen at start or created during the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Process {
    pub time_ns: u64,
    pub pid: u32,
    /// The pid inside the process's own pid namespace, where it differs.
    pub ns_pid: Option<u32>,
    pub ppid: u32,
    pub comm: String,
    /// Empty when redacted or unknown.
    pub argv: Vec<String>,
    pub exe: String,
    /// Lines of `/proc/PID/cgroup`.
    pub cgroups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Thread {
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub ns_tid: Option<u32>,
    pub comm: String,
}

/// A thread (or, where `tid == pid`, a process) exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Exit {
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
}

/// An executable mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Mapping {
    pub time_ns: u64,
    pub pid: u32,
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub pgoff: u64,
    pub path: String,
    pub build_id: Option<Vec<u8>>,
}

/// An interned call stack; samples refer to it by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stack {
    pub id: u32,
    /// Kernel frames, leaf first.
    pub kernel: Vec<u64>,
    /// User frames, leaf first.
    pub user: Vec<u64>,
    /// The agent's unwinder reached the outermost frame (DWARF mode, 1.2+):
    /// the stack is whole even where that frame has no symbol.
    pub root: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sample {
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub cpu: u32,
    pub stack_id: u32,
    /// Event count this sample stands for (ns for cpu-clock).
    pub period: u64,
}

/// One syscall, from entry to exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Syscall {
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
    /// Number in the table of `Header.host.arch`.
    pub nr: u32,
    pub duration_ns: u64,
    /// Raw return value; `-4095..=-1` is `-errno`.
    pub ret: i64,
    /// Short, capped description of interesting arguments.
    pub summary: String,
    /// The syscall ABI of `nr` where it is not the header's arch (1.3+):
    /// `i386` for a 32-bit call (`int 0x80`) of an x86_64 process. Empty: the header's.
    pub abi: String,
}

/// Raw control files of one cgroup directory at one time, as the kernel gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CgroupSnapshot {
    pub time_ns: u64,
    /// Path relative to the hierarchy root, e.g. `/kubepods/pod1/abc`.
    pub path: String,
    /// 1 or 2.
    pub version: u8,
    /// For v1, the hierarchy (`cpu`, `memory`, ...); empty for v2.
    pub controller: String,
    /// (file name, content); a file that does not exist is absent.
    pub files: Vec<(String, String)>,
}

/// Network counters seen inside the target's network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetSnapshot {
    pub time_ns: u64,
    /// Raw `/proc/net/dev`.
    pub dev: String,
    /// Raw `/proc/net/snmp`.
    pub snmp: String,
}

/// The container's own view, taken once from inside its namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContainerView {
    pub time_ns: u64,
    pub hostname: String,
    pub resolv_conf: String,
    /// The line of `/proc/self/mountinfo` for `/`.
    pub root_mount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Symbol {
    /// Address (ELF virtual address for binaries, runtime address for kernel and JIT).
    pub start: u64,
    pub size: u64,
    pub name: String,
}

/// A loadable segment, to turn a file offset into an ELF virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Segment {
    pub file_offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
}

/// The function symbols of one mapped file, keyed by build-id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BinarySymbols {
    pub build_id: Vec<u8>,
    pub path: String,
    pub segments: Vec<Segment>,
    /// Sorted by `start`.
    pub symbols: Vec<Symbol>,
    /// Functions that no symbol names, as (start, size) in ELF virtual
    /// addresses, sorted by start (format 1.6): the agent takes them from the
    /// `.eh_frame` FDEs, which survive stripping, so that an address of a
    /// stripped binary is named by the start of its function
    /// (`module!fn@0xSTART`), one name per function rather than per address.
    /// Empty in older captures.
    pub unnamed: Vec<(u64, u64)>,
}

/// Kernel symbols containing the kernel addresses hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KernelSymbols {
    /// Sorted by `start`; `size` 0 means "up to the next symbol".
    pub symbols: Vec<Symbol>,
}

/// Symbols from `/tmp/perf-<nspid>.map` of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JitSymbols {
    pub pid: u32,
    pub symbols: Vec<Symbol>,
}

/// Events the agent could not record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Lost {
    pub time_ns: u64,
    /// `samples`, `syscalls`, ...
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Warning {
    pub time_ns: u64,
    pub message: String,
}

/// `perf stat`-like totals for the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counters {
    pub time_ns: u64,
    /// (event name, value).
    pub values: Vec<(String, u64)>,
}

/// The last record; a capture without one is incomplete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Footer {
    pub end_ns: u64,
    pub end_wall_ns: u64,
    /// Why the capture ended: `duration`, `signal`, `target exited`, `max size`, `error: ...`.
    pub reason: String,
    /// Records written, by kind number (Footer excluded).
    pub counts: Vec<(u16, u64)>,
}

impl From<Header> for Record {
    fn from(h: Header) -> Record {
        Record::Header(Box::new(h))
    }
}

/// Samples in bulk, as columns (format 1.1): what [`Sample`] records say,
/// in a quarter of the bytes, because times are written as differences and
/// each column compresses on its own. Readers expand it with
/// [`SampleBatch::samples`]; columns of unequal length are read up to the
/// shortest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SampleBatch {
    /// Each sample's time minus the previous one's (the first: minus 0).
    pub time_deltas_ns: Vec<i64>,
    pub pid: Vec<u32>,
    pub tid: Vec<u32>,
    pub cpu: Vec<u32>,
    pub stack_id: Vec<u32>,
    pub period: Vec<u64>,
    /// Format 1.9: each sample's time minus the previous one's minus its
    /// `period` (the first: minus 0 and its period), written instead of
    /// `time_deltas_ns`, which is then empty. A sampled thread that runs is
    /// sampled every `period` ns of CPU time, so this is the jitter and the
    /// time it did not run: smaller numbers than the intervals themselves
    /// (about a tenth fewer bytes at 999 Hz). A reader older than 1.9 sees an
    /// empty time column and reads no sample from the batch (fewer, never
    /// wrong); where both columns are present, `time_deltas_ns` is used.
    pub time_less_period_ns: Vec<i64>,
}

impl SampleBatch {
    /// The batch as formats 1.1 to 1.8 write it (`time_deltas_ns`).
    pub fn from_samples(samples: &[Sample]) -> SampleBatch {
        let mut prev = 0u64;
        SampleBatch {
            time_deltas_ns: samples
                .iter()
                .map(|s| {
                    let d = s.time_ns.wrapping_sub(prev) as i64;
                    prev = s.time_ns;
                    d
                })
                .collect(),
            pid: samples.iter().map(|s| s.pid).collect(),
            tid: samples.iter().map(|s| s.tid).collect(),
            cpu: samples.iter().map(|s| s.cpu).collect(),
            stack_id: samples.iter().map(|s| s.stack_id).collect(),
            period: samples.iter().map(|s| s.period).collect(),
            time_less_period_ns: Vec::new(),
        }
    }

    /// The batch as format 1.9 writes it (`time_less_period_ns`), read back
    /// the same by [`SampleBatch::samples`].
    pub fn from_samples_less_period(samples: &[Sample]) -> SampleBatch {
        let mut b = SampleBatch::from_samples(samples);
        b.time_less_period_ns = b
            .time_deltas_ns
            .iter()
            .zip(&b.period)
            .map(|(&d, &p)| d.wrapping_sub(p as i64))
            .collect();
        b.time_deltas_ns.clear();
        b
    }

    /// The time column in use: `time_deltas_ns`, else `time_less_period_ns`.
    fn times(&self) -> (&[i64], bool) {
        if self.time_deltas_ns.is_empty() {
            (&self.time_less_period_ns, true)
        } else {
            (&self.time_deltas_ns, false)
        }
    }

    pub fn len(&self) -> usize {
        [
            self.times().0.len(),
            self.pid.len(),
            self.tid.len(),
            self.cpu.len(),
            self.stack_id.len(),
            self.period.len(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples, in order.
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        let mut time = 0u64;
        let (times, less_period) = self.times();
        (0..self.len()).map(move |i| {
            time = time.wrapping_add(times[i] as u64);
            if less_period {
                time = time.wrapping_add(self.period[i]);
            }
            Sample {
                time_ns: time,
                pid: self.pid[i],
                tid: self.tid[i],
                cpu: self.cpu[i],
                stack_id: self.stack_id[i],
                period: self.period[i],
            }
        })
    }
}

/// Totals of one syscall over the whole capture (format 1.3), recorded or
/// not by `--syscalls-filter`: replaces the `syscall:NAME`,
/// `syscall_errors:NAME` and `syscall_ns:NAME` counters of older captures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyscallTotal {
    pub time_ns: u64,
    /// The syscall ABI that numbers `nr`: `x86_64`, `aarch64`, or `i386`
    /// for 32-bit calls (`int 0x80`) of x86_64 processes.
    pub abi: String,
    pub nr: u32,
    /// The name in that ABI's table, `syscall_NNN` when the agent knows none.
    pub name: String,
    pub calls: u64,
    /// Calls that returned `-errno`.
    pub errors: u64,
    /// Sum of the calls' durations.
    pub total_ns: u64,
    /// (errno, calls), most frequent first.
    pub errnos: Vec<(u32, u64)>,
}

/// A cgroup snapshot written as its difference from the previous one of the
/// same directory (format 1.4): what [`CgroupSnapshot`] says, without the
/// files that did not change. Readers rebuild the full snapshot with
/// [`CgroupDelta::apply`] on the snapshot taken at `base_time_ns` (same
/// `path`, `version`, `controller`); when that one is missing (a frame lost
/// to corruption) the delta cannot be read and is dropped, never applied to
/// another base. The agent writes a full snapshot every few, so a loss heals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CgroupDelta {
    pub time_ns: u64,
    /// `time_ns` of the snapshot (full or rebuilt) this one is relative to.
    pub base_time_ns: u64,
    pub path: String,
    pub version: u8,
    pub controller: String,
    /// Files whose content changed or that appeared: (name, content).
    pub changed: Vec<(String, String)>,
    /// Files of the base that no longer exist.
    pub removed: Vec<String>,
}

impl CgroupDelta {
    /// The delta from `base` to `next` (same directory), files in `next`'s order.
    pub fn between(base: &CgroupSnapshot, next: &CgroupSnapshot) -> CgroupDelta {
        let old = |name: &str| base.files.iter().find(|(n, _)| n == name).map(|(_, c)| c);
        CgroupDelta {
            time_ns: next.time_ns,
            base_time_ns: base.time_ns,
            path: next.path.clone(),
            version: next.version,
            controller: next.controller.clone(),
            changed: next
                .files
                .iter()
                .filter(|(n, c)| old(n) != Some(c))
                .cloned()
                .collect(),
            removed: base
                .files
                .iter()
                .filter(|(n, _)| !next.files.iter().any(|(m, _)| m == n))
                .map(|(n, _)| n.clone())
                .collect(),
        }
    }

    /// Whether `base` is the snapshot this delta is relative to.
    pub fn applies_to(&self, base: &CgroupSnapshot) -> bool {
        base.time_ns == self.base_time_ns
            && base.path == self.path
            && base.version == self.version
            && base.controller == self.controller
    }

    /// The full snapshot: `base`'s files, changed ones replaced in place, new
    /// ones appended, removed ones dropped. `None` when `base` is not this
    /// delta's base.
    pub fn apply(&self, base: &CgroupSnapshot) -> Option<CgroupSnapshot> {
        if !self.applies_to(base) {
            return None;
        }
        let mut files: Vec<(String, String)> = base
            .files
            .iter()
            .filter(|(n, _)| !self.removed.contains(n))
            .map(|(n, c)| {
                let now = self.changed.iter().find(|(m, _)| m == n).map(|(_, c)| c);
                (n.clone(), now.unwrap_or(c).clone())
            })
            .collect();
        for (n, c) in &self.changed {
            if !files.iter().any(|(m, _)| m == n) {
                files.push((n.clone(), c.clone()));
            }
        }
        Some(CgroupSnapshot {
            time_ns: self.time_ns,
            path: self.path.clone(),
            version: self.version,
            controller: self.controller.clone(),
            files,
        })
    }
}

/// A cgroup snapshot as its difference from the previous one of the same
/// directory, counters as numbers (format 1.7; the agent writes it instead of
/// [`CgroupDelta`]): a file whose text kept its shape and changed numbers is
/// a list of [`crate::numdelta`] edits, a file changed otherwise or new is
/// its text, a file gone is named. Rebuilt with [`CgroupNumDelta::apply`] on
/// the snapshot taken at `base_time_ns`, exactly: raw text and all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CgroupNumDelta {
    pub time_ns: u64,
    /// `time_ns` of the snapshot (full or rebuilt) this one is relative to.
    pub base_time_ns: u64,
    pub path: String,
    pub version: u8,
    pub controller: String,
    /// (index of the file in the base's `files`, its edits): files whose numbers changed.
    pub numbers: Vec<(u32, Vec<crate::numdelta::Edit>)>,
    /// Files changed other than in their numbers, or new: (name, content).
    pub changed: Vec<(String, String)>,
    /// Files of the base that no longer exist.
    pub removed: Vec<String>,
}

impl CgroupNumDelta {
    /// The delta from `base` to `next` (same directory).
    pub fn between(base: &CgroupSnapshot, next: &CgroupSnapshot) -> CgroupNumDelta {
        let mut numbers = Vec::new();
        let mut changed = Vec::new();
        for (name, content) in &next.files {
            match base.files.iter().position(|(n, _)| n == name) {
                Some(i) if &base.files[i].1 == content => {}
                Some(i) => match crate::numdelta::diff(&base.files[i].1, content) {
                    Some(edits) if u32::try_from(i).is_ok() => numbers.push((i as u32, edits)),
                    _ => changed.push((name.clone(), content.clone())),
                },
                None => changed.push((name.clone(), content.clone())),
            }
        }
        CgroupNumDelta {
            time_ns: next.time_ns,
            base_time_ns: base.time_ns,
            path: next.path.clone(),
            version: next.version,
            controller: next.controller.clone(),
            numbers,
            changed,
            removed: base
                .files
                .iter()
                .filter(|(n, _)| !next.files.iter().any(|(m, _)| m == n))
                .map(|(n, _)| n.clone())
                .collect(),
        }
    }

    /// Whether `base` is the snapshot this delta is relative to.
    pub fn applies_to(&self, base: &CgroupSnapshot) -> bool {
        base.time_ns == self.base_time_ns
            && base.path == self.path
            && base.version == self.version
            && base.controller == self.controller
    }

    /// The full snapshot: `base`'s files with their numbers edited, changed
    /// ones replaced in place, new ones appended, removed ones dropped.
    /// `None` when `base` is not this delta's base or an edit does not fit it.
    pub fn apply(&self, base: &CgroupSnapshot) -> Option<CgroupSnapshot> {
        if !self.applies_to(base) {
            return None;
        }
        let mut files = base.files.clone();
        for (i, edits) in &self.numbers {
            let file = files.get_mut(*i as usize)?;
            file.1 = crate::numdelta::apply(&file.1, edits)?;
        }
        files.retain(|(n, _)| !self.removed.contains(n));
        for (n, c) in &self.changed {
            match files.iter_mut().find(|(m, _)| m == n) {
                Some(f) => f.1 = c.clone(),
                None => files.push((n.clone(), c.clone())),
            }
        }
        Some(CgroupSnapshot {
            time_ns: self.time_ns,
            path: self.path.clone(),
            version: self.version,
            controller: self.controller.clone(),
            files,
        })
    }
}

/// A network snapshot as its difference from the previous one (format 1.7):
/// `/proc/net/dev` and `/proc/net/snmp` as [`crate::numdelta`] edits of the
/// base's text, or as text where they changed otherwise (an interface came
/// or went). Rebuilt exactly with [`NetDelta::apply`] on the snapshot taken at
/// `base_time_ns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetDelta {
    pub time_ns: u64,
    pub base_time_ns: u64,
    /// Edits of the base's `dev`, when `dev` is `None`.
    pub dev_numbers: Vec<crate::numdelta::Edit>,
    /// The new text of `/proc/net/dev` when it changed other than in numbers.
    pub dev: Option<String>,
    pub snmp_numbers: Vec<crate::numdelta::Edit>,
    pub snmp: Option<String>,
}

impl NetDelta {
    pub fn between(base: &NetSnapshot, next: &NetSnapshot) -> NetDelta {
        let side = |old: &str, new: &str| match crate::numdelta::diff(old, new) {
            Some(edits) => (edits, None),
            None => (Vec::new(), Some(new.to_string())),
        };
        let (dev_numbers, dev) = side(&base.dev, &next.dev);
        let (snmp_numbers, snmp) = side(&base.snmp, &next.snmp);
        NetDelta {
            time_ns: next.time_ns,
            base_time_ns: base.time_ns,
            dev_numbers,
            dev,
            snmp_numbers,
            snmp,
        }
    }

    /// The full snapshot; `None` when `base` is not this delta's base or an
    /// edit does not fit it.
    pub fn apply(&self, base: &NetSnapshot) -> Option<NetSnapshot> {
        if base.time_ns != self.base_time_ns {
            return None;
        }
        let side = |old: &str, text: &Option<String>, edits: &[crate::numdelta::Edit]| match text {
            Some(t) => Some(t.clone()),
            None => crate::numdelta::apply(old, edits),
        };
        Some(NetSnapshot {
            time_ns: self.time_ns,
            dev: side(&base.dev, &self.dev, &self.dev_numbers)?,
            snmp: side(&base.snmp, &self.snmp, &self.snmp_numbers)?,
        })
    }
}

/// One off-CPU interval of a thread (expanded from an [`OffCpuBatch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffCpu {
    /// When the thread left the CPU (`sched:sched_switch`).
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
    /// The CPU it left.
    pub cpu: u32,
    /// The stack it left from (a [`Stack`] record).
    pub stack_id: u32,
    /// Time off the CPU: from leaving it to running again.
    pub off_ns: u64,
    /// Of `off_ns`, the time runnable and waiting for a CPU (run-queue
    /// delay): from its wake-up (or, preempted, from leaving) to running.
    pub runq_ns: u64,
    /// The state it left in, a letter as `ps` shows it: `R` runnable
    /// (preempted: an involuntary switch), `S` sleeping, `D` uninterruptible
    /// (both blocked: voluntary), `T`/`t` stopped, `I` idle, `P` parked.
    pub state: u8,
    /// [`OffCpu::ENDED`], [`OffCpu::WOKEN`].
    pub flags: u8,
}

impl OffCpu {
    /// The capture ended before the thread ran again: `off_ns` runs to the end.
    pub const ENDED: u8 = 1;
    /// A wake-up was seen: `runq_ns` runs from it.
    pub const WOKEN: u8 = 2;

    /// Blocked (a voluntary switch) rather than preempted.
    pub fn voluntary(&self) -> bool {
        self.state != b'R'
    }
}

/// Off-CPU intervals in bulk, as columns (format 1.11), written by
/// `holter-agent record --off-cpu`: each a thread's time from leaving a CPU
/// (with the kernel and user stack it left from) to running again. Read with
/// [`OffCpuBatch::intervals`]; columns of unequal length are read up to the
/// shortest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OffCpuBatch {
    /// Each interval's start minus the previous one's (the first: minus 0).
    pub time_deltas_ns: Vec<i64>,
    pub pid: Vec<u32>,
    pub tid: Vec<u32>,
    pub cpu: Vec<u32>,
    pub stack_id: Vec<u32>,
    pub off_ns: Vec<u64>,
    pub runq_ns: Vec<u64>,
    pub state: Vec<u8>,
    pub flags: Vec<u8>,
}

impl OffCpuBatch {
    pub fn from_intervals(v: &[OffCpu]) -> OffCpuBatch {
        let mut prev = 0u64;
        OffCpuBatch {
            time_deltas_ns: v
                .iter()
                .map(|o| {
                    let d = o.time_ns.wrapping_sub(prev) as i64;
                    prev = o.time_ns;
                    d
                })
                .collect(),
            pid: v.iter().map(|o| o.pid).collect(),
            tid: v.iter().map(|o| o.tid).collect(),
            cpu: v.iter().map(|o| o.cpu).collect(),
            stack_id: v.iter().map(|o| o.stack_id).collect(),
            off_ns: v.iter().map(|o| o.off_ns).collect(),
            runq_ns: v.iter().map(|o| o.runq_ns).collect(),
            state: v.iter().map(|o| o.state).collect(),
            flags: v.iter().map(|o| o.flags).collect(),
        }
    }

    pub fn len(&self) -> usize {
        [
            self.time_deltas_ns.len(),
            self.pid.len(),
            self.tid.len(),
            self.cpu.len(),
            self.stack_id.len(),
            self.off_ns.len(),
            self.runq_ns.len(),
            self.state.len(),
            self.flags.len(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The intervals, in order.
    pub fn intervals(&self) -> impl Iterator<Item = OffCpu> + '_ {
        let mut time = 0u64;
        (0..self.len()).map(move |i| {
            time = time.wrapping_add(self.time_deltas_ns[i] as u64);
            OffCpu {
                time_ns: time,
                pid: self.pid[i],
                tid: self.tid[i],
                cpu: self.cpu[i],
                stack_id: self.stack_id[i],
                off_ns: self.off_ns[i],
                runq_ns: self.runq_ns[i],
                state: self.state[i],
                flags: self.flags[i],
            }
        })
    }
}

// Kinds after the `;` share their type with an earlier kind, so they get no
// `From` conversion (which kind a value becomes must be said).
macro_rules! records {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $kind:literal,)*
     ; $($(#[$doc2:meta])* $name2:ident: $ty2:ty = $kind2:literal,)*) => {
        records!(@all $($(#[$doc])* $name: $ty = $kind,)* $($(#[$doc2])* $name2: $ty2 = $kind2,)*);

        $(impl From<$ty> for Record {
            fn from(r: $ty) -> Record { Record::$name(r) }
        })*
    };
    (@all $($(#[$doc:meta])* $name:ident: $ty:ty = $kind:literal,)*) => {
        /// One record of a capture.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Record {
            $($(#[$doc])* $name($ty),)*
        }

        impl Record {
            /// The stable kind number written before the record.
            pub fn kind(&self) -> u16 {
                match self { $(Record::$name(_) => $kind,)* }
            }

            /// The name of a kind number, if this version knows it.
            pub fn kind_name(kind: u16) -> Option<&'static str> {
                match kind { $($kind => Some(stringify!($name)),)* _ => None }
            }

            pub(crate) fn encode(&self, out: Vec<u8>) -> postcard::Result<Vec<u8>> {
                match self { $(Record::$name(r) => postcard::to_extend(r, out),)* }
            }

            /// `Ok(None)` for a kind this version does not know.
            pub(crate) fn decode(kind: u16, bytes: &[u8]) -> postcard::Result<Option<Record>> {
                match kind {
                    $($kind => crate::compat::decode(bytes).map(|r| Some(Record::$name(r))),)*
                    _ => Ok(None),
                }
            }
        }
    };
}

records! {
    Header: Box<Header> = 1,
    Process: Process = 2,
    Thread: Thread = 3,
    Exit: Exit = 4,
    Mapping: Mapping = 5,
    Stack: Stack = 6,
    Sample: Sample = 7,
    Syscall: Syscall = 8,
    CgroupSnapshot: CgroupSnapshot = 9,
    NetSnapshot: NetSnapshot = 10,
    ContainerView: ContainerView = 11,
    BinarySymbols: BinarySymbols = 12,
    KernelSymbols: KernelSymbols = 13,
    JitSymbols: JitSymbols = 14,
    Lost: Lost = 15,
    Warning: Warning = 16,
    Counters: Counters = 17,
    Footer: Footer = 18,
    SampleBatch: SampleBatch = 19,
    SyscallTotal: SyscallTotal = 20,
    CgroupDelta: CgroupDelta = 21,
    CgroupNumDelta: CgroupNumDelta = 22,
    NetDelta: NetDelta = 23,
    OffCpuBatch: OffCpuBatch = 25,
    ;
    /// Format 1.10: a [`SampleBatch`] written with `time_less_period_ns`
    /// (its `time_deltas_ns` empty), as a kind of its own: a reader older
    /// than 1.10 skips it and says that records of a newer kind were skipped,
    /// where the 1.9 layout (the column in a `SampleBatch`) left it reading
    /// an empty time column, and so no sample, without a word.
    SampleBatchLessPeriod: SampleBatch = 24,
    /// Format 1.14: a [`SyscallTotal`] so far, written while the capture is
    /// recorded (cumulative from its start, when it changed, within about
    /// a second), so that a capture cut by `kill -9` still holds the counts
    /// of the calls `--syscalls-filter` left out. A later one of the same
    /// `abi` and `nr` supersedes it, and so does a final `SyscallTotal`
    /// record of them; a kind of its own, so that a reader older than 1.14
    /// skips it (and says records of a newer kind were skipped) instead of
    /// adding it to the final totals.
    SyscallTotalSoFar: SyscallTotal = 26,
    /// Format 1.14: [`Counters`] so far, written while recorded like
    /// [`Record::SyscallTotalSoFar`]: each value cumulative, superseded by a
    /// later one of the same name (so far or final).
    CountersSoFar: Counters = 27,
}
