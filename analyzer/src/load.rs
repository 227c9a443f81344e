//! Reading a capture into one in-memory model that every report works from.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use holter_format::*;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot open: {error}")]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Format {
        path: PathBuf,
        error: holter_format::Error,
    },
    #[error("{path}: the capture has no header (it was cut before its first frame)")]
    NoHeader { path: PathBuf },
    #[error(
        "{path}: the capture expands past its budget of {} of {what} (at offset {offset}; {how}): \
         a capture this dense is unusual and may be crafted. If you trust it, raise the budget \
         with --budget SIZE or HOLTER_BUDGET=SIZE (e.g. --budget 8G)",
        human_size(*budget)
    )]
    OverBudget {
        path: PathBuf,
        budget: u64,
        what: &'static str,
        offset: u64,
        /// How the budget was set.
        how: String,
    },
}

/// `1.5 GiB`, `16 MiB`, `900 bytes`.
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} bytes");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `8G`, `512M`, `100k`, `1.5GiB`, `4096`: a size in bytes (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("`{text}` is not a size (e.g. 512M, 8G)")),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok((v * mult as f64).min(u64::MAX as f64) as u64),
        _ => Err(format!("`{text}` is not a size (e.g. 512M, 8G)")),
    }
}

/// Which record kinds a report reads; the metadata (header, processes,
/// threads, warnings, counters, losses, syscall totals, footer) is always
/// kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Samples, stacks, mappings and symbols.
    pub profile: bool,
    /// Syscall records.
    pub syscalls: bool,
    /// Cgroup snapshots.
    pub cgroups: bool,
    /// Network snapshots and the container's view.
    pub network: bool,
    /// Off-CPU intervals (also kept with `profile`).
    pub off_cpu: bool,
}

impl Keep {
    pub const ALL: Keep = Keep {
        profile: true,
        syscalls: true,
        cgroups: true,
        network: true,
        off_cpu: true,
    };
    const NONE: Keep = Keep {
        profile: false,
        syscalls: false,
        cgroups: false,
        network: false,
        off_cpu: false,
    };
    pub const PROFILE: Keep = Keep {
        profile: true,
        ..Keep::NONE
    };
    pub const SYSCALLS: Keep = Keep {
        syscalls: true,
        ..Keep::NONE
    };
    pub const CGROUPS: Keep = Keep {
        cgroups: true,
        ..Keep::NONE
    };
    pub const NETWORK: Keep = Keep {
        network: true,
        ..Keep::NONE
    };

    fn wants(&self, r: &Record) -> bool {
        match r {
            Record::Mapping(_)
            | Record::Stack(_)
            | Record::Sample(_)
            | Record::SampleBatch(_)
            | Record::SampleBatchLessPeriod(_)
            | Record::BinarySymbols(_)
            | Record::KernelSymbols(_)
            | Record::JitSymbols(_) => self.profile,
            Record::OffCpuBatch(_) => self.profile || self.off_cpu,
            Record::Syscall(_) => self.syscalls,
            Record::CgroupSnapshot(_) | Record::CgroupDelta(_) | Record::CgroupNumDelta(_) => {
                self.cgroups
            }
            Record::NetSnapshot(_) | Record::NetDelta(_) | Record::ContainerView(_) => self.network,
            _ => true,
        }
    }
}

/// Totals written while the capture was recorded (format 1.14,
/// `SyscallTotalSoFar` and `CountersSoFar`): each cumulative, so the latest
/// of a key is the one that counts, and a final record (`SyscallTotal`,
/// `Counters`) of the same key supersedes it. A capture cut by `kill -9`
/// has only these; a complete one, the final records too.
#[derive(Default)]
struct SoFar {
    /// (name, value), the latest of each name, in order first written.
    counters: Vec<(String, u64)>,
    /// The latest of each (abi, nr), in order first written.
    syscall_totals: Vec<SyscallTotal>,
    /// Where each key is in those (a capture may hold millions of keys: a
    /// search of the list for each would take hours).
    counter_at: HashMap<String, usize>,
    syscall_at: HashMap<(String, u32), usize>,
}

impl SoFar {
    fn counters(&mut self, r: Counters) {
        for (k, v) in r.values {
            match self.counter_at.get(&k) {
                Some(&i) => self.counters[i].1 = v,
                None => {
                    self.counter_at.insert(k.clone(), self.counters.len());
                    self.counters.push((k, v));
                }
            }
        }
    }

    fn syscall_total(&mut self, r: SyscallTotal) {
        use std::collections::hash_map::Entry;
        match self.syscall_at.entry((r.abi.clone(), r.nr)) {
            Entry::Occupied(at) => self.syscall_totals[*at.get()] = r,
            Entry::Vacant(at) => {
                at.insert(self.syscall_totals.len());
                self.syscall_totals.push(r);
            }
        }
    }

    /// Adds to `c` the totals no final record gave.
    fn fill(self, c: &mut Capture) {
        use std::collections::HashSet;
        let finals: HashSet<&str> = c.counters.iter().map(|(n, _)| n.as_str()).collect();
        let counters: Vec<(String, u64)> = self
            .counters
            .into_iter()
            .filter(|(k, _)| !finals.contains(k.as_str()))
            .collect();
        c.counters.extend(counters);
        let finals: HashSet<(&str, u32)> = c
            .syscall_totals
            .iter()
            .map(|f| (f.abi.as_str(), f.nr))
            .collect();
        let totals: Vec<SyscallTotal> = self
            .syscall_totals
            .into_iter()
            .filter(|t| !finals.contains(&(t.abi.as_str(), t.nr)))
            .collect();
        c.syscall_totals.extend(totals);
    }
}

/// Everything a capture holds, grouped by kind, in file order.
#[derive(Debug, Default)]
pub struct Capture {
    pub path: PathBuf,
    pub version: (u16, u16),
    pub header: Header,
    pub complete: bool,
    pub footer: Option<Footer>,
    pub processes: Vec<Process>,
    pub threads: Vec<Thread>,
    pub exits: Vec<Exit>,
    pub mappings: Vec<Mapping>,
    pub stacks: HashMap<u32, Stack>,
    pub samples: Vec<Sample>,
    /// Off-CPU intervals (format 1.11, `--off-cpu`), in file order.
    pub off_cpu: Vec<OffCpu>,
    pub syscalls: Vec<Syscall>,
    pub cgroup_snapshots: Vec<CgroupSnapshot>,
    pub net_snapshots: Vec<NetSnapshot>,
    pub container_views: Vec<ContainerView>,
    pub binary_symbols: Vec<BinarySymbols>,
    pub kernel_symbols: Vec<Symbol>,
    pub jit_symbols: Vec<JitSymbols>,
    pub lost: Vec<Lost>,
    /// `perf stat`-like counters (the per-syscall totals of captures before
    /// format 1.3 are moved out of them, into `syscall_totals`).
    pub counters: Vec<(String, u64)>,
    /// The tracer's totals per syscall and ABI, recorded calls or not.
    pub syscall_totals: Vec<SyscallTotal>,
    /// The agent's warnings, then the reader's.
    pub warnings: Vec<String>,
    pub unknown_records: u64,
    /// What the capture may expand to; reports building large outputs
    /// (folded stacks) stay within it too.
    pub budget: Budget,
}

/// Snapshots rebuilt from differences (cgroup and network, formats 1.4 and
/// 1.5): how many could not be, and the bytes of those that were, beyond
/// what the reader counted (at most the budget again).
#[derive(Default)]
struct Deltas {
    budget: u64,
    rebuilt: u64,
    lost: u64,
    over: u64,
}

/// The last snapshot of one cgroup directory: the base a difference of it
/// applies to.
fn last_of<'a>(
    snapshots: &'a [CgroupSnapshot],
    path: &str,
    version: u8,
    controller: &str,
) -> Option<&'a CgroupSnapshot> {
    snapshots
        .iter()
        .rev()
        .find(|b| b.path == path && b.version == version && b.controller == controller)
}

/// Keeps a snapshot rebuilt from a difference, within the budget; `None`
/// (its base is missing or does not fit) is counted as lost.
fn rebuild<T: Clone>(full: Option<T>, into: &mut Vec<T>, d: &mut Deltas)
where
    Record: From<T>,
{
    let Some(full) = full else {
        d.lost += 1;
        return;
    };
    d.rebuilt = d
        .rebuilt
        .saturating_add(weight(&Record::from(full.clone())));
    if d.rebuilt > d.budget {
        d.over += 1;
    } else {
        into.push(full);
    }
}

impl Capture {
    /// Reads a capture file. A cut or damaged file loads what it holds, with
    /// `complete == false` and warnings; a file that is not a capture is an error.
    pub fn load(path: &Path) -> Result<Capture, LoadError> {
        Capture::load_with_budget(path, None)
    }

    /// Reads a capture within a budget: `None` gives the default,
    /// [`Budget::for_file_len`] of the file's size.
    pub fn load_with_budget(path: &Path, budget: Option<u64>) -> Result<Capture, LoadError> {
        Capture::load_keeping(path, budget, Keep::ALL)
    }

    /// [`Capture::load_with_budget`] keeping only the record kinds a report
    /// reads: the others stream past (decoded, checked against the budget,
    /// never held), so `holter throttling` on a capture of millions of
    /// samples holds its snapshots only.
    pub fn load_keeping(
        path: &Path,
        budget: Option<u64>,
        keep: Keep,
    ) -> Result<Capture, LoadError> {
        let file = File::open(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound { path: path.into() },
            _ => LoadError::Open {
                path: path.into(),
                error: source,
            },
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (budget, how) = match budget {
            Some(bytes) => (
                Budget { bytes },
                "set by --budget or HOLTER_BUDGET".to_string(),
            ),
            None => (
                Budget::for_file_len(len),
                format!(
                    "the default: {} × the file's {} + {}",
                    Budget::PER_FILE_BYTE,
                    human_size(len),
                    human_size(Budget::FLOOR)
                ),
            ),
        };
        let reader = Reader::new(BufReader::with_capacity(1 << 20, file))
            .map_err(|error| LoadError::Format {
                path: path.into(),
                error,
            })?
            .with_budget(budget);
        let mut reader = reader;
        let c = Capture::from_reader_keeping(path, &mut reader, keep);
        if let Some(over) = reader.over_budget() {
            return Err(LoadError::OverBudget {
                path: path.into(),
                budget: over.budget.bytes,
                what: over.what,
                offset: over.offset,
                how,
            });
        }
        let mut c = c?;
        c.budget = budget;
        Ok(c)
    }

    pub fn from_reader<R: std::io::Read>(
        path: &Path,
        reader: &mut Reader<R>,
    ) -> Result<Capture, LoadError> {
        Capture::from_reader_keeping(path, reader, Keep::ALL)
    }

    /// [`Capture::from_reader`] holding only the record kinds of `keep`.
    pub fn from_reader_keeping<R: std::io::Read>(
        path: &Path,
        reader: &mut Reader<R>,
        keep: Keep,
    ) -> Result<Capture, LoadError> {
        let mut c = Capture {
            path: path.into(),
            version: reader.version(),
            budget: Budget::unlimited(),
            ..Capture::default()
        };
        let mut have_header = false;
        let mut so_far = SoFar::default();
        let budget = reader.budget();
        let mut deltas = Deltas {
            budget: budget.bytes,
            ..Deltas::default()
        };
        for record in reader.by_ref() {
            if !keep.wants(&record) {
                continue;
            }
            match record {
                Record::Header(h) => {
                    c.header = *h;
                    have_header = true;
                }
                Record::Process(r) => c.processes.push(r),
                Record::Thread(r) => c.threads.push(r),
                Record::Exit(r) => c.exits.push(r),
                Record::Mapping(r) => c.mappings.push(r),
                Record::Stack(r) => {
                    c.stacks.insert(r.id, r);
                }
                Record::Sample(r) => c.samples.push(r),
                Record::SampleBatch(b) | Record::SampleBatchLessPeriod(b) => {
                    c.samples.extend(b.samples())
                }
                Record::OffCpuBatch(b) => c.off_cpu.extend(b.intervals()),
                Record::Syscall(r) => c.syscalls.push(r),
                Record::CgroupSnapshot(r) => c.cgroup_snapshots.push(r),
                Record::NetSnapshot(r) => c.net_snapshots.push(r),
                Record::ContainerView(r) => c.container_views.push(r),
                Record::BinarySymbols(r) => c.binary_symbols.push(r),
                Record::KernelSymbols(r) => c.kernel_symbols.extend(r.symbols),
                Record::JitSymbols(r) => c.jit_symbols.push(r),
                Record::Lost(r) => c.lost.push(r),
                Record::Warning(r) => c.warnings.push(r.message),
                Record::Counters(r) => c.counters.extend(r.values),
                Record::SyscallTotal(r) => c.syscall_totals.push(r),
                Record::CountersSoFar(r) => so_far.counters(r),
                Record::SyscallTotalSoFar(r) => so_far.syscall_total(r),
                Record::CgroupDelta(d) => {
                    // Rebuilt on its base, the last snapshot of the same
                    // directory; the rebuilt copies count against the budget.
                    let full = last_of(&c.cgroup_snapshots, &d.path, d.version, &d.controller)
                        .and_then(|b| d.apply(b));
                    rebuild(full, &mut c.cgroup_snapshots, &mut deltas);
                }
                Record::CgroupNumDelta(d) => {
                    let full = last_of(&c.cgroup_snapshots, &d.path, d.version, &d.controller)
                        .and_then(|b| d.apply(b));
                    rebuild(full, &mut c.cgroup_snapshots, &mut deltas);
                }
                Record::NetDelta(d) => {
                    let full = c.net_snapshots.last().and_then(|b| d.apply(b));
                    rebuild(full, &mut c.net_snapshots, &mut deltas);
                }
                Record::Footer(r) => c.footer = Some(r),
            }
        }
        if !have_header {
            return Err(LoadError::NoHeader { path: path.into() });
        }
        // Vectors grown by doubling hold up to twice their records: give
        // back the slack before the reports build their own structures.
        c.mappings.shrink_to_fit();
        c.samples.shrink_to_fit();
        c.off_cpu.shrink_to_fit();
        c.syscalls.shrink_to_fit();
        c.processes.shrink_to_fit();
        c.threads.shrink_to_fit();
        c.cgroup_snapshots.shrink_to_fit();
        c.kernel_symbols.sort_by_key(|s| s.start);
        c.kernel_symbols.dedup_by_key(|s| s.start);
        so_far.fill(&mut c);
        c.totals_from_counters();
        if deltas.lost > 0 {
            c.warnings.push(format!(
                "{} snapshot(s) written as differences could not be rebuilt: the snapshot they follow is missing (a damaged frame) or does not fit them; skipped",
                deltas.lost
            ));
        }
        if deltas.over > 0 {
            c.warnings.push(format!(
                "{} snapshot(s) written as differences were not rebuilt: they would exceed the capture's budget of {} bytes",
                deltas.over, budget.bytes
            ));
        }
        c.complete = reader.is_complete();
        c.unknown_records = reader.unknown_records();
        c.warnings.extend(reader.warnings().iter().cloned());
        Ok(c)
    }

    /// Captures before format 1.3 carry the per-syscall totals as counters
    /// `syscall:NAME`, `syscall_errors:NAME` and `syscall_ns:NAME` (native
    /// ABI, no errno breakdown): moved into [`SyscallTotal`]s. A capture
    /// with typed totals keeps them and drops such counters.
    pub(crate) fn totals_from_counters(&mut self) {
        let arch = syscall_names::Arch::from_uname(&self.header.host.arch);
        let typed = !self.syscall_totals.is_empty();
        let mut by_name: Vec<SyscallTotal> = Vec::new();
        self.counters.retain(|(key, value)| {
            let Some((field, name)) = key.split_once(':') else {
                return true;
            };
            if !matches!(field, "syscall" | "syscall_errors" | "syscall_ns") {
                return true;
            }
            if typed {
                return false;
            }
            let i = match by_name.iter().position(|t| t.name == name) {
                Some(i) => i,
                None => {
                    let nr = arch
                        .and_then(|a| syscall_names::syscall_number(a, name))
                        .or_else(|| name.strip_prefix("syscall_")?.parse().ok())
                        .unwrap_or(u32::MAX);
                    by_name.push(SyscallTotal {
                        abi: self.header.host.arch.clone(),
                        nr,
                        name: name.to_string(),
                        ..SyscallTotal::default()
                    });
                    by_name.len() - 1
                }
            };
            let t = &mut by_name[i];
            match field {
                "syscall" => t.calls = t.calls.saturating_add(*value),
                "syscall_errors" => t.errors = t.errors.saturating_add(*value),
                _ => t.total_ns = t.total_ns.saturating_add(*value),
            }
            false
        });
        if !typed {
            self.syscall_totals = by_name;
        }
    }

    /// Calls the tracer counted, recorded or not; `None` without a tracer's totals.
    pub fn syscalls_counted(&self) -> Option<u64> {
        (!self.syscall_totals.is_empty()).then(|| {
            self.syscall_totals
                .iter()
                .map(|t| t.calls)
                .fold(0, u64::saturating_add)
        })
    }

    /// Monotonic time of the start of the capture.
    pub fn start_ns(&self) -> u64 {
        self.header.clock.monotonic_ns
    }

    /// Monotonic time of the end: the footer's, else the last timestamp seen.
    pub fn end_ns(&self) -> u64 {
        if let Some(f) = &self.footer {
            return f.end_ns;
        }
        let last = [
            self.samples.last().map(|s| s.time_ns),
            self.syscalls
                .iter()
                .map(|s| s.time_ns + s.duration_ns)
                .max(),
            self.cgroup_snapshots.last().map(|s| s.time_ns),
            self.net_snapshots.last().map(|s| s.time_ns),
        ];
        last.into_iter()
            .flatten()
            .max()
            .unwrap_or(self.start_ns())
            .max(self.start_ns())
    }

    pub fn duration_ns(&self) -> u64 {
        self.end_ns().saturating_sub(self.start_ns())
    }

    /// Samples (lost ones included) per second of CPU time the target used,
    /// by its own `task-clock` counter; `None` without that counter.
    pub fn samples_per_cpu_second(&self) -> Option<f64> {
        let ns: u64 = self
            .counters
            .iter()
            .filter(|(k, _)| k == "task-clock")
            .map(|(_, v)| v)
            .sum();
        (ns > 0).then(|| {
            (self.samples.len() as u64).saturating_add(self.lost("samples")) as f64 * 1e9
                / ns as f64
        })
    }

    /// Lost events of one kind (`samples`, `syscalls`, ...).
    /// Cgroup snapshots: how many times the target's cgroup directories
    /// were read (one snapshot reads each of its directories once, at one
    /// time: on v1 one record per controller hierarchy). The one count that
    /// `info`, the report and the agent's summary give.
    pub fn cgroup_snapshot_count(&self) -> u64 {
        self.cgroup_snapshots
            .iter()
            .map(|s| s.time_ns)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64
    }

    /// The cgroup directories the snapshots read (`v2 /docker/ID`,
    /// `v1 cpu,cpuacct /docker/ID`), in the order first read.
    pub fn cgroup_directories(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.cgroup_snapshots {
            let d = crate::cgroups::Source {
                path: s.path.clone(),
                version: s.version,
                controller: s.controller.clone(),
            }
            .describe();
            if !v.contains(&d) {
                v.push(d);
            }
        }
        v
    }

    pub fn lost(&self, kind: &str) -> u64 {
        self.lost
            .iter()
            .filter(|l| l.kind == kind)
            .fold(0u64, |a, l| a.saturating_add(l.count))
    }

    /// Seconds since the start of the capture, for `--from`/`--to` filters.
    pub fn rel_secs(&self, time_ns: u64) -> f64 {
        time_ns.saturating_sub(self.start_ns()) as f64 / 1e9
    }
}

#[cfg(test)]
mod delta_tests {
    use super::*;

    fn snap(t: u64, usage: u64) -> CgroupSnapshot {
        CgroupSnapshot {
            time_ns: t,
            path: "/a".into(),
            version: 2,
            controller: String::new(),
            files: vec![
                ("cpu.max".into(), "50000 100000\n".into()),
                ("cpu.stat".into(), format!("usage_usec {usage}\n")),
            ],
        }
    }

    fn load(records: &[Record]) -> Capture {
        load_keeping(records, Keep::ALL)
    }

    fn load_keeping(records: &[Record], keep: Keep) -> Capture {
        let mut w = Writer::new(Vec::new(), Header::default(), WriterOptions::default()).unwrap();
        for r in records {
            w.write(r).unwrap();
        }
        let bytes = w.finish(Footer::default()).unwrap();
        let mut reader = Reader::new(&bytes[..]).unwrap();
        Capture::from_reader_keeping(Path::new("t.holter"), &mut reader, keep).unwrap()
    }

    /// A report's load holds the kinds it reads and the metadata, nothing else.
    #[test]
    fn kinds_a_report_does_not_read_stream_past() {
        let mut records = vec![
            Record::from(snap(1, 1)),
            CgroupDelta::between(&snap(1, 1), &snap(2, 2)).into(),
            Record::Warning(Warning {
                time_ns: 0,
                message: "w".into(),
            }),
            Record::Syscall(Syscall::default()),
            Record::Stack(Stack::default()),
            Record::Mapping(Mapping::default()),
        ];
        records.extend((0..1000).map(|i| {
            Record::Sample(Sample {
                time_ns: i,
                ..Sample::default()
            })
        }));
        let all = load(&records);
        assert_eq!(
            (
                all.samples.len(),
                all.syscalls.len(),
                all.cgroup_snapshots.len()
            ),
            (1000, 1, 2)
        );
        let cg = load_keeping(&records, Keep::CGROUPS);
        assert_eq!(cg.cgroup_snapshots, all.cgroup_snapshots);
        assert!(cg.samples.is_empty() && cg.stacks.is_empty() && cg.mappings.is_empty());
        assert!(cg.syscalls.is_empty());
        assert_eq!(cg.warnings, ["w"]);
        let sc = load_keeping(&records, Keep::SYSCALLS);
        assert_eq!(sc.syscalls.len(), 1);
        assert!(sc.samples.is_empty() && sc.cgroup_snapshots.is_empty());
        let prof = load_keeping(&records, Keep::PROFILE);
        assert_eq!(
            (prof.samples.len(), prof.stacks.len(), prof.mappings.len()),
            (1000, 1, 1)
        );
        assert!(prof.cgroup_snapshots.is_empty() && prof.syscalls.is_empty());
    }

    /// Deltas are rebuilt into full snapshots, raw text and all, so every
    /// report reads snapshots as before.
    #[test]
    fn deltas_load_as_full_snapshots() {
        let full: Vec<CgroupSnapshot> = (0..5).map(|i| snap(i, i * 100)).collect();
        let mut records = vec![Record::from(full[0].clone())];
        for w in full.windows(2) {
            records.push(CgroupDelta::between(&w[0], &w[1]).into());
        }
        let c = load(&records);
        assert_eq!(c.cgroup_snapshots, full);
        assert!(c.warnings.iter().all(|w| !w.contains("differences")));
    }

    /// A delta whose base is missing (its frame was lost) is dropped with a
    /// warning, never applied to an older snapshot; the next full one heals.
    #[test]
    fn a_delta_without_its_base_is_dropped() {
        let (a, b, c3, d) = (snap(1, 1), snap(2, 2), snap(3, 3), snap(4, 4));
        let records = vec![
            Record::from(a.clone()),
            // The delta a -> b is lost; b -> c3 follows.
            CgroupDelta::between(&b, &c3).into(),
            d.clone().into(),
        ];
        let c = load(&records);
        assert_eq!(c.cgroup_snapshots, [a, d]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("1 snapshot(s) written as differences could not be rebuilt")),
            "{:?}",
            c.warnings
        );
    }

    /// Format 1.5: cgroup counters as numeric edits and network snapshots as
    /// differences load as the full snapshots, raw text exactly as read.
    #[test]
    fn numeric_deltas_load_as_full_snapshots() {
        let full: Vec<CgroupSnapshot> = (0..5).map(|i| snap(i, 1000 + i * 37)).collect();
        let mut records = vec![Record::from(full[0].clone())];
        for w in full.windows(2) {
            let d = CgroupNumDelta::between(&w[0], &w[1]);
            assert!(d.changed.is_empty() && d.numbers.len() == 1, "{d:?}");
            records.push(d.into());
        }
        let net = |t: u64, n: u64| NetSnapshot {
            time_ns: t,
            dev: format!("Inter-|\n  lo: {n} 3 0 0\n"),
            snmp: format!("Tcp: RtoMin\nTcp: {}\n", n * 2),
        };
        let nets: Vec<NetSnapshot> = (0..4).map(|i| net(i, 10 + i)).collect();
        records.push(nets[0].clone().into());
        for w in nets.windows(2) {
            let d = NetDelta::between(&w[0], &w[1]);
            assert!(d.dev.is_none() && d.snmp.is_none(), "{d:?}");
            records.push(d.into());
        }
        // An interface appearing is said as text.
        let mut last = net(9, 20);
        last.dev.push_str("eth0: 1 2 3 4\n");
        let d = NetDelta::between(&nets[3], &last);
        assert!(d.dev.is_some());
        records.push(d.into());
        let c = load(&records);
        assert_eq!(c.cgroup_snapshots, full);
        let mut all_nets = nets.clone();
        all_nets.push(last);
        assert_eq!(c.net_snapshots, all_nets);
        assert!(
            c.warnings.iter().all(|w| !w.contains("differences")),
            "{:?}",
            c.warnings
        );
    }

    /// A network difference whose base is lost is dropped, never applied to
    /// an older snapshot.
    #[test]
    fn a_net_delta_without_its_base_is_dropped() {
        let a = NetSnapshot {
            time_ns: 1,
            dev: "lo: 1".into(),
            snmp: "Tcp: 1".into(),
        };
        let b = NetSnapshot {
            time_ns: 2,
            dev: "lo: 2".into(),
            ..a.clone()
        };
        let c3 = NetSnapshot {
            time_ns: 3,
            dev: "lo: 3".into(),
            ..a.clone()
        };
        let c = load(&[a.clone().into(), NetDelta::between(&b, &c3).into()]);
        assert_eq!(c.net_snapshots, [a]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("1 snapshot(s) written as differences could not be rebuilt")),
            "{:?}",
            c.warnings
        );
    }
}
