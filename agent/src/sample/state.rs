//! Turning perf events into capture records: interned stacks, mappings with
//! build-ids, processes and threads, and the set of files and kernel
//! addresses the samples hit (whose symbols go into the capture at the end).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use holter_format::{
    BinarySymbols, Exit, JitSymbols, KernelSymbols, Lost, Mapping, Process, Record, Sample,
    SampleBatch, Stack, Symbol, Thread,
};

use super::parse::{Event, FileId};
use super::space::{Map, Spaces};
use super::stacks::{self, Interner};
use crate::procfs;
use crate::symbols::files::{self, FileCache, FileKey, Locator};
use crate::symbols::{hits, kallsyms, maps, perfmap};

/// Distinct stacks kept in the intern table before it starts over.
const MAX_STACKS: usize = 1 << 20;
/// Distinct (pid, stack) pairs remembered as already looked up.
const MAX_PAIRS: usize = 1 << 21;
const PROT_EXEC: u32 = 4;
/// Most samples in one [`SampleBatch`] record.
const MAX_BATCH: usize = 4096;
/// Longest time a sample waits for its batch to be written.
const BATCH_NS: u64 = 1_000_000_000;
/// How often the symbols of newly hit functions are written, so that a
/// capture cut short (the agent killed) still names what it sampled.
const SYMBOLS_NS: u64 = 1_000_000_000;

pub struct State {
    interner: Interner,
    spaces: Spaces,
    files: FileCache,
    pairs: HashSet<(u32, u32)>,
    /// Files the samples hit, by build-id (or path where there is none).
    hit: BTreeMap<Vec<u8>, Hits>,
    /// Kernel addresses hit since symbols were last written.
    kernel_addrs: BTreeSet<u64>,
    /// Kernel symbols already written, by start.
    kernel_sent: BTreeSet<u64>,
    /// `/proc/kallsyms`, read once when first needed (empty if unreadable).
    kallsyms: Option<Vec<kallsyms::KernelSymbol>>,
    last_symbols_ns: u64,
    /// Processes with samples in anonymous executable memory, and their last JIT map.
    jit: BTreeMap<u32, Vec<Symbol>>,
    exited: Vec<u32>,
    lost: u64,
    pub samples: u64,
    /// Tasks forked during the capture: they inherited their parent's events.
    pub forked: Vec<u32>,
    /// Samples of the current round, written as one [`SampleBatch`] after its stacks.
    pending: Vec<Sample>,
    unreadable: HashSet<String>,
    redact: bool,
    /// Records to send, in order.
    pub out: Vec<Record>,
}

/// A file the samples hit.
struct Hits {
    file: Arc<BinarySymbols>,
    /// File offsets hit since symbols were last written.
    offsets: BTreeSet<u64>,
    /// Starts of the symbols already written.
    sent: BTreeSet<u64>,
}

impl State {
    pub fn new(redact: bool) -> Self {
        State {
            interner: Interner::new(MAX_STACKS),
            spaces: Spaces::default(),
            files: FileCache::default(),
            pairs: HashSet::new(),
            hit: BTreeMap::new(),
            kernel_addrs: BTreeSet::new(),
            kernel_sent: BTreeSet::new(),
            kallsyms: None,
            last_symbols_ns: 0,
            jit: BTreeMap::new(),
            exited: Vec::new(),
            lost: 0,
            samples: 0,
            pending: Vec::new(),
            forked: Vec::new(),
            unreadable: HashSet::new(),
            redact,
            out: Vec::new(),
        }
    }

    /// Describes a process already running from `/proc/PID/maps`.
    pub fn scan_process(&mut self, pid: u32, now: u64) {
        self.spaces.touch(pid);
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            return;
        };
        for m in maps::parse_executable(&text) {
            let key = if m.inode != 0 {
                FileKey::DevIno(m.dev.0, m.dev.1, m.inode)
            } else {
                FileKey::Path(pid, m.path.clone())
            };
            self.add_mapping(pid, m.start, m.end, m.pgoff, m.path, key, None, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_mapping(
        &mut self,
        pid: u32,
        start: u64,
        end: u64,
        pgoff: u64,
        path: String,
        key: FileKey,
        kernel_build_id: Option<Vec<u8>>,
        time_ns: u64,
    ) {
        let file = if files::is_file_path(&path) {
            let at = Locator {
                pid,
                path: &path,
                start,
                end,
            };
            match self.files.get_or_load(key, &at) {
                Ok(b) => Some(b),
                Err(e) => {
                    if self.unreadable.insert(path.clone()) {
                        self.out.push(Record::Warning(holter_format::Warning {
                            time_ns,
                            message: format!("no symbols for {path} (pid {pid}): {e}"),
                        }));
                    }
                    None
                }
            }
        } else {
            None
        };
        let build_id = kernel_build_id.filter(|b| !b.is_empty()).or_else(|| {
            file.as_ref()
                .map(|f| f.build_id.clone())
                .filter(|b| !b.is_empty())
        });
        self.out.push(Record::Mapping(Mapping {
            time_ns,
            pid,
            start,
            end,
            pgoff,
            path,
            build_id,
        }));
        self.spaces.insert(
            pid,
            Map {
                start,
                end,
                pgoff,
                file,
            },
        );
    }

    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Sample {
                pid,
                tid,
                time,
                cpu,
                period,
                callchain,
            } => self.sample(pid, tid, time, cpu, period, &callchain),
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
                if prot & PROT_EXEC == 0 {
                    return;
                }
                let (key, kernel_id) = match file {
                    FileId::BuildId(id) if !id.is_empty() => {
                        (FileKey::BuildId(id.clone()), Some(id))
                    }
                    FileId::DevIno { maj, min, ino } if ino != 0 => {
                        (FileKey::DevIno(maj, min, ino), None)
                    }
                    _ => (FileKey::Path(pid, path.clone()), None),
                };
                self.add_mapping(pid, addr, addr + len, pgoff, path, key, kernel_id, time);
            }
            Event::Comm {
                pid,
                tid,
                comm,
                exec,
                time,
            } => {
                if exec && pid == tid {
                    self.spaces.exec(pid);
                    self.out
                        .push(Record::Process(self.describe(pid, 0, &comm, time)));
                }
                let ns_tid = procfs::describe_thread(pid, tid, time)
                    .ok()
                    .and_then(|t| t.ns_tid);
                self.out.push(Record::Thread(Thread {
                    time_ns: time,
                    pid,
                    tid,
                    ns_tid,
                    comm,
                }));
            }
            Event::Fork {
                pid,
                ppid,
                tid,
                time,
            } => {
                self.forked.push(tid);
                let thread = procfs::describe_thread(pid, tid, time).unwrap_or(Thread {
                    time_ns: time,
                    pid,
                    tid,
                    ns_tid: None,
                    comm: String::new(),
                });
                if pid == tid && pid != ppid {
                    self.spaces.fork(ppid, pid);
                    self.out.push(Record::Process(self.describe(
                        pid,
                        ppid,
                        &thread.comm,
                        time,
                    )));
                }
                self.out.push(Record::Thread(thread));
            }
            Event::Exit { pid, tid, time } => {
                self.out.push(Record::Exit(Exit {
                    time_ns: time,
                    pid,
                    tid,
                }));
                if pid == tid {
                    self.exited.push(pid);
                }
            }
            Event::Lost { count } => self.lost += count,
            Event::Other(_) => {}
        }
    }

    fn describe(&self, pid: u32, ppid: u32, comm: &str, time: u64) -> Process {
        procfs::describe_process(pid, time, self.redact).unwrap_or_else(|_| Process {
            time_ns: time,
            pid,
            ppid,
            comm: comm.to_string(),
            ..Process::default()
        })
    }

    fn sample(&mut self, pid: u32, tid: u32, time: u64, cpu: u32, period: u64, chain: &[u64]) {
        let (kernel, user) = stacks::split(chain);
        let (stack_id, new) = self.interner.intern(&kernel, &user);
        if new {
            self.kernel_addrs.extend(kernel.iter().copied());
            self.out.push(Record::Stack(Stack {
                id: stack_id,
                kernel,
                user: user.clone(),
            }));
        }
        if self.pairs.len() >= MAX_PAIRS {
            self.pairs.clear();
        }
        if self.pairs.insert((pid, stack_id)) {
            self.note_hits(pid, &user, time);
        }
        self.samples += 1;
        self.pending.push(Sample {
            time_ns: time,
            pid,
            tid,
            cpu,
            stack_id,
            period,
        });
        if self.pending.len() >= MAX_BATCH {
            self.flush_samples();
        }
    }

    /// Marks the files the user frames fall in; a process never seen is read from /proc now.
    fn note_hits(&mut self, pid: u32, user: &[u64], time: u64) {
        if user.is_empty() {
            return;
        }
        if !self.spaces.knows(pid) {
            self.scan_process(pid, time);
        }
        for (i, &addr) in user.iter().enumerate() {
            match self.spaces.find(pid, addr) {
                Some(Map {
                    file: Some(f),
                    start,
                    pgoff,
                    ..
                }) => {
                    let key = if f.build_id.is_empty() {
                        f.path.as_bytes().to_vec()
                    } else {
                        f.build_id.clone()
                    };
                    let offset = addr - start + pgoff;
                    let hits = self.hit.entry(key).or_insert_with(|| Hits {
                        file: f.clone(),
                        offsets: BTreeSet::new(),
                        sent: BTreeSet::new(),
                    });
                    hits.offsets.insert(offset);
                    // A return address is just past its call: the call may end a function.
                    if i > 0 {
                        hits.offsets.insert(offset.saturating_sub(1));
                    }
                }
                // Anonymous, or a file without readable symbols: perhaps JIT code.
                _ => {
                    self.jit.entry(pid).or_default();
                }
            }
        }
    }

    /// Writes the pending samples, after the stacks they use.
    pub fn flush_samples(&mut self) {
        if !self.pending.is_empty() {
            let batch = SampleBatch::from_samples(&self.pending);
            self.out.push(Record::SampleBatch(batch));
            self.pending.clear();
        }
    }

    /// After each drain: processes that exited in the previous round are
    /// forgotten (samples from other CPUs' rings may come a round late).
    pub fn end_round(&mut self, now: u64) -> u64 {
        // Larger batches compress better; a batch waits at most BATCH_NS.
        if self
            .pending
            .first()
            .is_some_and(|s| now.saturating_sub(s.time_ns) >= BATCH_NS)
        {
            self.flush_samples();
        }
        if now.saturating_sub(self.last_symbols_ns) >= SYMBOLS_NS {
            self.last_symbols_ns = now;
            self.write_symbols();
        }
        for pid in std::mem::take(&mut self.exited) {
            self.spaces.remove(pid);
        }
        let lost = std::mem::take(&mut self.lost);
        if lost > 0 {
            self.out.push(Record::Lost(Lost {
                time_ns: now,
                kind: "samples".into(),
                count: lost,
            }));
        }
        lost
    }

    /// Re-reads the JIT maps of the processes that ran anonymous code.
    pub fn refresh_jit(&mut self) {
        for (pid, symbols) in self.jit.iter_mut() {
            if let Some(s) = read_jit_map(*pid) {
                *symbols = s;
            }
        }
    }

    /// The symbols of the functions hit since the last call, each function
    /// written once per file (the analyzer merges the records of a file).
    fn write_symbols(&mut self) {
        for h in self.hit.values_mut() {
            if h.offsets.is_empty() {
                continue;
            }
            let mut t = hits::trim(&h.file, &h.offsets);
            h.offsets.clear();
            t.symbols.retain(|s| h.sent.insert(s.start));
            if !t.symbols.is_empty() {
                self.out.push(Record::BinarySymbols(t));
            }
        }
        if self.kernel_addrs.is_empty() {
            return;
        }
        let all =
            self.kallsyms
                .get_or_insert_with(|| match std::fs::read_to_string("/proc/kallsyms") {
                    Ok(text) => kallsyms::parse(&text),
                    Err(e) => {
                        self.out.push(Record::Warning(holter_format::Warning {
                            time_ns: crate::clock::monotonic_ns(),
                            message: format!("no kernel symbols: cannot read /proc/kallsyms: {e}"),
                        }));
                        Vec::new()
                    }
                });
        let mut symbols = kallsyms::containing(all, &self.kernel_addrs);
        self.kernel_addrs.clear();
        symbols.retain(|s| self.kernel_sent.insert(s.start));
        if !symbols.is_empty() {
            self.out
                .push(Record::KernelSymbols(KernelSymbols { symbols }));
        }
    }

    /// The last samples and the symbols not yet written.
    pub fn finish(&mut self) {
        self.flush_samples();
        self.refresh_jit();
        self.write_symbols();
        for (pid, symbols) in std::mem::take(&mut self.jit) {
            if !symbols.is_empty() {
                self.out
                    .push(Record::JitSymbols(JitSymbols { pid, symbols }));
            }
        }
    }
}

/// `/tmp/perf-<nspid>.map` inside the process's mount namespace.
fn read_jit_map(pid: u32) -> Option<Vec<Symbol>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ns_pid = procfs::parse_nspid(&status).unwrap_or(pid);
    let text = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/perf-{ns_pid}.map")).ok()?;
    Some(perfmap::parse(&text))
}

#[cfg(test)]
mod tests {
    use super::super::attr::SAMPLE_TYPE;
    use super::super::parse::{self, fixtures, RECORD_EXIT, RECORD_FORK};
    use super::*;

    fn feed(state: &mut State, (h, bytes): (super::super::ring::RecordHeader, Vec<u8>)) {
        state.handle(parse::parse(h, &bytes, SAMPLE_TYPE).unwrap());
    }

    #[test]
    fn stacks_are_written_once_before_the_batch_of_samples() {
        let mut s = State::new(false);
        let user_marker = -512i64 as u64;
        // Pid 4_000_000 does not exist: no /proc reading succeeds, records still flow.
        let pid = 4_000_000;
        for t in 0..3 {
            feed(
                &mut s,
                fixtures::sample(pid, pid, 100 + t, 0, 10, &[user_marker, 0x10, 0x20]),
            );
        }
        feed(
            &mut s,
            fixtures::sample(pid, pid, 200, 1, 10, &[user_marker, 0x30]),
        );
        s.end_round(300);
        assert!(
            s.out.iter().all(|r| matches!(r, Record::Stack(_))),
            "the batch waits"
        );
        s.end_round(2_000_000_000);
        let kinds: Vec<&str> = s
            .out
            .iter()
            .map(|r| Record::kind_name(r.kind()).unwrap())
            .collect();
        assert_eq!(kinds, ["Stack", "Stack", "SampleBatch"]);
        match (&s.out[0], &s.out[2]) {
            (Record::Stack(a), Record::SampleBatch(b)) => {
                assert_eq!(a.user, [0x10, 0x20]);
                assert!(a.kernel.is_empty());
                let samples: Vec<Sample> = b.samples().collect();
                assert_eq!(samples.len(), 4);
                assert_eq!(samples[0].stack_id, 0);
                let last = &samples[3];
                assert_eq!(
                    (last.time_ns, last.cpu, last.period, last.stack_id),
                    (200, 1, 10, 1)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.samples, 4);
    }

    #[test]
    fn mappings_forks_exits_and_lost() {
        let mut s = State::new(false);
        let id: Vec<u8> = (1..=20).collect();
        feed(
            &mut s,
            fixtures::mmap2_build_id(4_000_001, 0x1000, 0x1000, 0, &id, "/nonexistent/app", 5),
        );
        feed(
            &mut s,
            fixtures::task(RECORD_FORK, 4_000_002, 4_000_001, 4_000_002, 6),
        );
        feed(
            &mut s,
            fixtures::task(RECORD_EXIT, 4_000_002, 4_000_001, 4_000_002, 7),
        );
        feed(&mut s, fixtures::lost(3));
        assert_eq!(s.end_round(8), 3);
        let mapping = s.out.iter().find_map(|r| match r {
            Record::Mapping(m) => Some(m.clone()),
            _ => None,
        });
        let m = mapping.unwrap();
        assert_eq!(
            (m.pid, m.start, m.end, m.build_id.as_deref()),
            (4_000_001, 0x1000, 0x2000, Some(&id[..]))
        );
        assert!(
            s.out.iter().any(|r| matches!(r, Record::Warning(_))),
            "unreadable file warned"
        );
        assert!(s
            .out
            .iter()
            .any(|r| matches!(r, Record::Process(p) if p.pid == 4_000_002 && p.ppid == 4_000_001)));
        assert!(s
            .out
            .iter()
            .any(|r| matches!(r, Record::Exit(e) if e.pid == 4_000_002)));
        assert!(s
            .out
            .iter()
            .any(|r| matches!(r, Record::Lost(l) if l.count == 3 && l.kind == "samples")));
        // The child inherited the parent's mapping until it exited.
        assert!(!s.spaces.knows(4_000_002));
        assert!(s.spaces.find(4_000_001, 0x1800).is_some());
    }
}
