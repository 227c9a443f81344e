//! Symbol collection: the executable mappings of each process, the files
//! and kernel addresses the samples hit, and the symbols of those functions
//! (ELF tables, kallsyms, JIT perf maps) written as the capture goes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holter_format::{BinarySymbols, JitSymbols, KernelSymbols, Mapping, Record, Symbol};

use super::batch::Interned;
use super::space::{Map, Spaces};
use crate::host::open::Root;
use crate::host::proc::Proc;
use crate::redact::Redact;
use crate::symbols::files::{self, FileCache, FileKey, Locator};
use crate::symbols::loader::{Loader, ReadFn};
use crate::symbols::{hits, kallsyms, perfmap};

/// Distinct (pid, stack) pairs remembered as already looked up.
const MAX_PAIRS: usize = 1 << 21;
/// How often the symbols of newly hit functions are written, so that a
/// capture cut short (the agent killed) still names what it sampled.
const SYMBOLS_NS: u64 = 1_000_000_000;
/// The most of a perf map read: a map the container makes endless is cut.
pub const MAX_PERF_MAP: u64 = 64 << 20;
/// The most other live processes tried for one file at a time.
const MAX_OTHER_PROCESSES: usize = 4;
/// How long the end of a capture waits for the last JIT maps and mapped files.
const END_WAIT: Duration = Duration::from_millis(500);
/// The most mapping records held back for their file's build-id.
const MAX_WAITING: usize = 1 << 16;

/// A new executable mapping, as the kernel or `/proc/PID/maps` told it.
pub struct NewMapping {
    pub pid: u32,
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub path: String,
    pub key: FileKey,
    /// The build-id the kernel gave in the MMAP2 record, if any.
    pub kernel_build_id: Option<Vec<u8>>,
    pub time_ns: u64,
}

#[derive(Default)]
pub struct Symbolizer {
    /// Paths written as tokens under `--redact`.
    redact: Redact,
    pub spaces: Spaces,
    pub files: FileCache,
    pairs: HashSet<(u32, u32)>,
    /// Files the samples hit, by build-id (or path where there is none).
    hit: BTreeMap<Vec<u8>, Hits>,
    /// Kernel addresses hit since symbols were last written.
    kernel_addrs: BTreeSet<u64>,
    /// Kernel symbols already written, by start.
    kernel_sent: BTreeSet<u64>,
    /// `/proc/kallsyms`, read once when first needed (empty if unreadable).
    kallsyms: Option<Vec<kallsyms::KernelSymbol>>,
    /// `/proc/kallsyms` being read and parsed on a thread of its own (some
    /// 100 000 lines: long enough to fill the rings if the sampler did it).
    kallsyms_loader: Option<std::thread::JoinHandle<Result<Vec<kallsyms::KernelSymbol>, String>>>,
    /// Set by [`Symbolizer::finish`]: the last symbols wait for what they need.
    finishing: bool,
    last_symbols_ns: u64,
    /// Processes with samples in anonymous executable memory, and their last JIT map.
    jit: BTreeMap<u32, Vec<Symbol>>,
    /// Reads the JIT maps away from the sampling thread.
    jit_reader: Option<JitReader>,
    /// Root directories of the processes, opened when first needed and
    /// kept while they live (`None`: could not be opened).
    roots: HashMap<u32, Option<Arc<Root>>>,
    /// Each process's pid in its own pid namespace (the `N` of its
    /// `/tmp/perf-N.map`), read while it lives.
    ns_pids: HashMap<u32, u32>,
    /// Processes with JIT samples that exited: their maps were read for the last time.
    jit_gone: HashSet<u32>,
    /// The agent's own root, for files of processes in its mount namespace.
    host_root: Option<Option<Arc<Root>>>,
    /// The agent's mount namespace (inode of /proc/self/ns/mnt).
    own_mnt: Option<Option<u64>>,
    /// Whether each process shares the agent's mount namespace: read while
    /// it lives, else inherited from the parent that forked it.
    host_mnt: HashMap<u32, bool>,
    /// Where each file is mapped by the processes alive: the places to read
    /// it from when the process that mapped it first is gone.
    live: HashMap<FileKey, BTreeMap<u32, LiveMap>>,
    /// The keys each process maps (to prune `live` when it exits).
    keys_of: HashMap<u32, HashSet<FileKey>>,
    /// Mappings whose file could not be read yet: (pid, start) → key.
    unresolved: HashMap<u32, HashMap<u64, FileKey>>,
    /// Files already looked for in the agent's own view: each at most once
    /// (a wrong file at that path would otherwise be read again and again).
    host_tried: HashSet<FileKey>,
    /// Files not read yet, with the offsets the samples hit in them.
    pending: HashMap<FileKey, Pending>,
    /// Reads the mapped files away from the sampling thread.
    loader: Loader,
    /// Files the loader's queue had no room for: asked again next round.
    unasked: BTreeSet<FileKey>,
    /// Mapping records held back until their file's build-id is known
    /// (written when it is read, or without it when that fails).
    waiting: HashMap<FileKey, Vec<Mapping>>,
    waiting_count: usize,
    /// When the end stops waiting for files (set by the first wait).
    end_deadline: Option<Instant>,
}

/// One mapping of a file by a live process.
#[derive(Clone)]
struct LiveMap {
    start: u64,
    end: u64,
    path: String,
}

/// A file hit by samples but not read yet.
struct Pending {
    path: String,
    pid: u32,
    /// The mapping of `pid` it was first seen in.
    start: u64,
    end: u64,
    /// Whether a process mapping it shares the agent's mount namespace.
    host_view: bool,
    offsets: BTreeSet<u64>,
    error: String,
    time_ns: u64,
}

/// A file the samples hit.
struct Hits {
    file: Arc<BinarySymbols>,
    /// File offsets hit since symbols were last written.
    offsets: BTreeSet<u64>,
    /// Starts of the symbols already written.
    sent: BTreeSet<u64>,
}

fn load_kallsyms() -> Result<Vec<kallsyms::KernelSymbol>, String> {
    crate::host::node::read_text("/proc/kallsyms")
        .map(|text| kallsyms::parse(&text))
        .map_err(|e| e.to_string())
}

impl Symbolizer {
    /// Starts reading `/proc/kallsyms` on a thread of its own.
    pub fn preload_kallsyms(&mut self) {
        if self.kallsyms.is_none() && self.kallsyms_loader.is_none() {
            self.kallsyms_loader = std::thread::Builder::new()
                .name("holter-kallsyms".into())
                .spawn(load_kallsyms)
                .ok();
        }
    }

    pub fn new(redact: Redact) -> Symbolizer {
        Symbolizer {
            redact,
            ..Symbolizer::default()
        }
    }

    /// A symbolizer whose mapped files are read by `read` (tests: a slow file).
    pub fn with_reader(redact: Redact, read: ReadFn) -> Symbolizer {
        Symbolizer {
            redact,
            loader: Loader::new(read),
            ..Symbolizer::default()
        }
    }

    /// Describes a process already running from `/proc/PID/maps`.
    pub fn scan_process(&mut self, pid: u32, now: u64, out: &mut Vec<Record>) {
        self.spaces.touch(pid);
        self.keep_root(pid);
        let Ok(lines) = Proc::node().executable_maps(pid) else {
            return;
        };
        for m in lines {
            let key = if m.inode != 0 {
                FileKey::DevIno(m.dev.0, m.dev.1, m.inode)
            } else {
                FileKey::Path(pid, m.path.clone())
            };
            self.add_mapping(
                NewMapping {
                    pid,
                    start: m.start,
                    end: m.end,
                    pgoff: m.pgoff,
                    path: m.path,
                    key,
                    kernel_build_id: None,
                    time_ns: now,
                },
                out,
            );
        }
    }

    /// Records a mapping and reads the symbols of its file (once per file).
    pub fn add_mapping(&mut self, m: NewMapping, out: &mut Vec<Record>) {
        let NewMapping {
            pid,
            start,
            end,
            pgoff,
            path,
            key,
            kernel_build_id,
            time_ns,
        } = m;
        let mut mapping = Mapping {
            time_ns,
            pid,
            start,
            end,
            pgoff,
            path: self.redact.path(&path),
            build_id: kernel_build_id.filter(|b| !b.is_empty()),
        };
        let mut file = None;
        let mut loading = false;
        if files::is_file_path(&path) {
            self.keep_root(pid);
            let host_view = self.in_host_mnt(pid);
            if !matches!(key, FileKey::Path(..)) {
                self.live.entry(key.clone()).or_default().insert(
                    pid,
                    LiveMap {
                        start,
                        end,
                        path: path.clone(),
                    },
                );
                self.keys_of.entry(pid).or_default().insert(key.clone());
            }
            let known = self.files.lookup(&key);
            if !matches!(known, Some(Ok(_))) {
                self.unresolved
                    .entry(pid)
                    .or_default()
                    .insert(start, key.clone());
                let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
                    path: path.clone(),
                    pid,
                    start,
                    end,
                    host_view,
                    offsets: BTreeSet::new(),
                    error: String::new(),
                    time_ns,
                });
                p.host_view |= host_view;
            }
            match known {
                Some(Ok(b)) => file = Some(b),
                Some(Err(e)) => {
                    if let Some(p) = self.pending.get_mut(&key) {
                        p.error = e.to_string();
                    }
                }
                None => {
                    self.ask(&key, Some((pid, start, end, &path)));
                    loading = self.loader.in_flight(&key) || self.unasked.contains(&key);
                }
            }
        }
        if mapping.build_id.is_none() {
            mapping.build_id = file
                .as_ref()
                .map(|f| f.build_id.clone())
                .filter(|b| !b.is_empty());
        }
        if loading && mapping.build_id.is_none() && self.waiting_count < MAX_WAITING {
            // Written once the file is read, with its build-id.
            self.waiting.entry(key.clone()).or_default().push(mapping);
            self.waiting_count += 1;
        } else {
            out.push(Record::Mapping(mapping));
        }
        let unwind = file.as_ref().and_then(|f| self.files.unwind_sections(f));
        self.spaces.insert(
            pid,
            Map {
                start,
                end,
                pgoff,
                file,
                unwind,
                loading,
            },
        );
    }

    /// Notes what a sample's stack hit, once per (process, stack).
    pub fn note_stack(&mut self, pid: u32, stack: &Interned, time: u64, out: &mut Vec<Record>) {
        if stack.new {
            self.kernel_addrs.extend(stack.kernel.iter().copied());
        }
        if self.pairs.len() >= MAX_PAIRS {
            self.pairs.clear();
        }
        if self.pairs.insert((pid, stack.id)) {
            self.note_hits(pid, &stack.user, time, out);
        }
    }

    /// Marks the files the user frames fall in; a process never seen is read from /proc now.
    fn note_hits(&mut self, pid: u32, user: &[u64], time: u64, out: &mut Vec<Record>) {
        if user.is_empty() {
            return;
        }
        if !self.spaces.knows(pid) {
            self.scan_process(pid, time, out);
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
                // A file not read yet (its process gone first): kept for
                // when another process or the agent's view reads it.
                Some(Map { start, pgoff, .. })
                    if self
                        .unresolved
                        .get(&pid)
                        .is_some_and(|u| u.contains_key(start)) =>
                {
                    let key = &self.unresolved[&pid][start];
                    let offset = addr - start + pgoff;
                    if let Some(p) = self.pending.get_mut(key) {
                        p.offsets.insert(offset);
                        if i > 0 {
                            p.offsets.insert(offset.saturating_sub(1));
                        }
                    }
                }
                // Anonymous, or a file without readable symbols: perhaps JIT code.
                _ => {
                    if let std::collections::btree_map::Entry::Vacant(e) = self.jit.entry(pid) {
                        e.insert(Vec::new());
                        self.keep_root(pid);
                        // Its /tmp is opened (a lookup in the container's
                        // file system) and kept by the reader thread.
                        if let Some(Some(root)) = self.roots.get(&pid) {
                            let root = root.clone();
                            let reader = self.jit_reader.get_or_insert_with(JitReader::start);
                            reader.keep(pid, root);
                        }
                    }
                }
            }
        }
    }

    /// Takes the files read since the last round; writes the symbols hit
    /// since the last time, once every [`SYMBOLS_NS`].
    pub fn end_round(&mut self, now: u64, out: &mut Vec<Record>) {
        self.pump(out);
        if now.saturating_sub(self.last_symbols_ns) >= SYMBOLS_NS {
            self.last_symbols_ns = now;
            self.retry_pending(out);
            self.write_symbols(out);
        }
    }

    /// Opens the root of a process and reads its namespaced pid, once,
    /// while it lives: both are needed after it exits (its perf map).
    fn keep_root(&mut self, pid: u32) {
        if !self.roots.contains_key(&pid) {
            let root = Root::of_process(pid).ok().map(Arc::new);
            if root.is_some() {
                if let Some(n) = Proc::node().status(pid).ok().and_then(|s| s.ns_pid) {
                    self.ns_pids.insert(pid, n);
                }
            }
            self.roots.insert(pid, root);
        }
    }

    /// A process forked: the child shares its parent's mount namespace and
    /// (until it execs) its unread mappings.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let host = self.in_host_mnt(parent);
        self.host_mnt.entry(child).or_insert(host);
        if let Some(u) = self.unresolved.get(&parent).cloned() {
            self.unresolved.insert(child, u);
        }
    }

    /// A process replaced its image: its old mappings are gone.
    pub fn exec(&mut self, pid: u32) {
        self.unresolved.remove(&pid);
    }

    /// Whether `pid` shares the agent's mount namespace: then a file it
    /// mapped may be read in the agent's own view (checked by identity).
    fn in_host_mnt(&mut self, pid: u32) -> bool {
        if let Some(&h) = self.host_mnt.get(&pid) {
            return h;
        }
        let ino = |p: &str| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(p).ok().map(|m| m.ino())
        };
        let own = *self.own_mnt.get_or_insert_with(|| ino("/proc/self/ns/mnt"));
        let Some(theirs) = ino(&format!("/proc/{pid}/ns/mnt")) else {
            // Gone, and never seen alive or forked: not known to be the host's.
            return false;
        };
        let h = own == Some(theirs);
        self.host_mnt.insert(pid, h);
        h
    }

    /// Asks the reader threads for the file behind `key` (never waits):
    /// from the mapping just made (its map_files entry, its path in its
    /// root), from any live process mapping the same file, then from the
    /// agent's own view if a process that mapped it shares the agent's mount
    /// namespace. A file the queue has no room for is asked again next round.
    fn ask(&mut self, key: &FileKey, this: Option<(u32, u64, u64, &str)>) {
        if self.loader.in_flight(key) || self.files.lookup(key).is_some() {
            return;
        }
        let Some(p) = self.pending.get(key) else {
            return;
        };
        let (pid, host_view) = (p.pid, p.host_view);
        // Asked again later: the mapping it was first seen in, while its process lives.
        let first = this
            .map(|(p, s, e, path)| (p, s, e, path.to_string()))
            .or_else(|| {
                self.roots
                    .contains_key(&p.pid)
                    .then(|| (p.pid, p.start, p.end, p.path.clone()))
            });
        let others: Vec<(u32, LiveMap)> = self
            .live
            .get(key)
            .map(|m| {
                m.iter()
                    .filter(|(p, _)| first.as_ref().is_none_or(|f| **p != f.0))
                    .take(MAX_OTHER_PROCESSES)
                    .map(|(p, l)| (*p, l.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let host_view =
            host_view && !matches!(key, FileKey::Path(..)) && self.host_tried.insert(key.clone());
        if host_view && self.host_root.is_none() {
            self.host_root = Some(Root::at(std::path::Path::new("/")).ok().map(Arc::new));
        }
        let root_of = |pid: u32| self.roots.get(&pid).cloned().flatten();
        let mut at = Vec::new();
        if let Some((pid, start, end, path)) = &first {
            at.push(Locator {
                pid: *pid,
                root: root_of(*pid),
                path: path.clone(),
                start: *start,
                end: *end,
                map_files: true,
            });
        }
        for (p, l) in &others {
            at.push(Locator {
                pid: *p,
                root: root_of(*p),
                path: l.path.clone(),
                start: l.start,
                end: l.end,
                map_files: true,
            });
        }
        let host_path = first
            .as_ref()
            .map(|f| f.3.clone())
            .unwrap_or_else(|| self.pending[key].path.clone());
        if host_view {
            at.push(Locator {
                pid,
                root: self.host_root.clone().flatten(),
                path: host_path,
                start: 0,
                end: 0,
                map_files: false,
            });
        }
        if self.loader.ask(key, at, self.files.want_unwind) {
            self.unasked.remove(key);
        } else {
            if host_view {
                self.host_tried.remove(key);
            }
            self.unasked.insert(key.clone());
        }
    }

    /// Takes the files read since the last round, reports the ones slow to
    /// read, and asks again for those the queue had no room for.
    fn pump(&mut self, out: &mut Vec<Record>) {
        for (key, read) in self.loader.take() {
            self.settle(key, read, out);
        }
        for (path, took) in self.loader.slow(Instant::now()) {
            let path = self.redact.path(&path);
            out.push(Record::Warning(holter_format::Warning {
                time_ns: crate::clock::monotonic_ns(),
                message: format!(
                    "reading {path} for its symbols has taken {:.1} s (a slow or hung file system?): \
                     sampling goes on, its frames are unwound by frame pointers until it is read",
                    took.as_secs_f64()
                ),
            }));
        }
        let unasked: Vec<FileKey> = self.unasked.iter().cloned().collect();
        for key in unasked {
            if !self.pending.contains_key(&key) {
                self.unasked.remove(&key);
                continue;
            }
            self.ask(&key, None);
            if self.unasked.contains(&key) {
                break; // still full
            }
        }
    }

    /// One answer of the reader threads: the file's symbols are kept (and
    /// its mappings, samples and held-back records completed), or the
    /// failure is noted for the warning at the end.
    fn settle(&mut self, key: FileKey, read: files::Read, out: &mut Vec<Record>) {
        let path = self
            .pending
            .get(&key)
            .map_or_else(String::new, |p| p.path.clone());
        match self.files.store(key.clone(), &path, read) {
            Ok(file) => self.resolved(&key, file, out),
            Err(e) => {
                if let Some(p) = self.pending.get_mut(&key) {
                    p.error = e.to_string();
                }
                self.release_waiting(&key, None, out);
                self.set_maps(&key, None, false);
            }
        }
    }

    /// Writes the mapping records held back for `key`'s build-id.
    fn release_waiting(&mut self, key: &FileKey, build_id: Option<&[u8]>, out: &mut Vec<Record>) {
        for mut m in self.waiting.remove(key).unwrap_or_default() {
            self.waiting_count -= 1;
            if m.build_id.is_none() {
                m.build_id = build_id.filter(|b| !b.is_empty()).map(<[u8]>::to_vec);
            }
            out.push(Record::Mapping(m));
        }
    }

    /// The mappings of `key` no longer wait for it: given its file (and
    /// unwind sections) when read; forgotten as unresolved if `done`.
    fn set_maps(&mut self, key: &FileKey, file: Option<&Arc<BinarySymbols>>, done: bool) {
        let unwind = file.and_then(|f| self.files.unwind_sections(f));
        for (pid, maps) in self.unresolved.iter_mut() {
            maps.retain(|start, k| {
                if k != key {
                    return true;
                }
                self.spaces
                    .set_file(*pid, *start, file.cloned(), unwind.clone());
                !done
            });
        }
        self.unresolved.retain(|_, m| !m.is_empty());
    }

    /// Files hit but not read yet are tried again through the processes
    /// alive now and the agent's view; what they hit moves to `hit`.
    fn retry_pending(&mut self, out: &mut Vec<Record>) {
        let keys: Vec<FileKey> = self
            .pending
            .iter()
            .filter(|(_, p)| !p.offsets.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            match self.files.lookup(&key) {
                Some(Ok(file)) => self.resolved(&key, file, out),
                Some(Err(_)) => {}
                None => self.ask(&key, None),
            }
        }
    }

    /// The file behind `key` is read: its mappings get it (their held-back
    /// records are written with its build-id), and the offsets hit while it
    /// was not move to `hit`.
    fn resolved(&mut self, key: &FileKey, file: Arc<BinarySymbols>, out: &mut Vec<Record>) {
        self.release_waiting(key, Some(&file.build_id), out);
        self.set_maps(key, Some(&file), true);
        self.unasked.remove(key);
        let Some(p) = self.pending.remove(key) else {
            return;
        };
        if p.offsets.is_empty() {
            return;
        }
        let hkey = if file.build_id.is_empty() {
            file.path.as_bytes().to_vec()
        } else {
            file.build_id.clone()
        };
        self.hit
            .entry(hkey)
            .or_insert_with(|| Hits {
                file: file.clone(),
                offsets: BTreeSet::new(),
                sent: BTreeSet::new(),
            })
            .offsets
            .extend(p.offsets);
    }

    /// Asks for the JIT maps of the processes that ran anonymous code to be
    /// read again, and takes the maps read since: never waits for a file.
    pub fn refresh_jit(&mut self) {
        if self.jit.is_empty() {
            return;
        }
        let reader = self.jit_reader.get_or_insert_with(JitReader::start);
        reader.take(&mut self.jit);
        for pid in self.jit.keys().filter(|p| !self.jit_gone.contains(p)) {
            reader.ask(*pid);
        }
    }

    /// A process is gone: its root handle is let go.
    pub fn forget(&mut self, pid: u32) {
        self.spaces.remove(pid);
        let root = self.roots.remove(&pid).flatten();
        let ns_pid = self.ns_pids.remove(&pid);
        // A process that ran anonymous code: its perf map, perhaps written
        // at exit (-XX:+DumpPerfMapAtExit), is read once more through the
        // /tmp or root handle kept while it lived.
        if self.jit.contains_key(&pid) && self.jit_gone.insert(pid) {
            let reader = self.jit_reader.get_or_insert_with(JitReader::start);
            reader.ask_last(pid, root, ns_pid.unwrap_or(pid));
        }
        self.unresolved.remove(&pid);
        self.host_mnt.remove(&pid);
        for key in self.keys_of.remove(&pid).unwrap_or_default() {
            if let Some(m) = self.live.get_mut(&key) {
                m.remove(&pid);
                if m.is_empty() {
                    self.live.remove(&key);
                }
            }
        }
    }

    /// The symbols of the functions hit since the last call, each function
    /// written once per file (the analyzer merges the records of a file).
    pub fn write_symbols(&mut self, out: &mut Vec<Record>) {
        for h in self.hit.values_mut() {
            if h.offsets.is_empty() {
                continue;
            }
            let mut t = hits::trim(&h.file, &h.offsets);
            h.offsets.clear();
            t.symbols.retain(|s| h.sent.insert(s.start));
            t.unnamed.retain(|f| h.sent.insert(f.0));
            t.path = self.redact.path(&t.path);
            if !t.symbols.is_empty() || !t.unnamed.is_empty() {
                out.push(Record::BinarySymbols(t));
            }
        }
        if self.kernel_addrs.is_empty() {
            return;
        }
        // Kernel symbols wait for the reader thread, but only at the end: a
        // round does not stall the sampler (its addresses are kept meanwhile).
        if self.kallsyms.is_none()
            && !self.finishing
            && self
                .kallsyms_loader
                .as_ref()
                .is_some_and(|h| !h.is_finished())
        {
            return;
        }
        let loader = self.kallsyms_loader.take();
        let all = self.kallsyms.get_or_insert_with(|| {
            match loader.map_or_else(load_kallsyms, |h| {
                h.join()
                    .unwrap_or_else(|_| Err("the reader thread panicked".into()))
            }) {
                Ok(symbols) => symbols,
                Err(e) => {
                    out.push(Record::Warning(holter_format::Warning {
                        time_ns: crate::clock::monotonic_ns(),
                        message: format!("no kernel symbols: cannot read /proc/kallsyms: {e}"),
                    }));
                    Vec::new()
                }
            }
        });
        let mut symbols = kallsyms::containing(all, &self.kernel_addrs);
        self.kernel_addrs.clear();
        symbols.retain(|s| self.kernel_sent.insert(s.start));
        if !symbols.is_empty() {
            out.push(Record::KernelSymbols(KernelSymbols { symbols }));
        }
    }

    /// At the end: the files hit and not read yet are asked for once more,
    /// and the answers waited for, at most [`END_WAIT`] from the first call
    /// (shared with the last JIT maps). Returns that deadline.
    pub fn wait_files(&mut self, out: &mut Vec<Record>) -> Instant {
        if let Some(d) = self.end_deadline {
            return d;
        }
        let deadline = Instant::now() + END_WAIT;
        self.end_deadline = Some(deadline);
        self.finishing = true;
        self.pump(out);
        self.retry_pending(out);
        for (key, read) in self.loader.wait(deadline) {
            self.settle(key, read, out);
        }
        deadline
    }

    /// The symbols not yet written and the last JIT maps.
    pub fn finish(&mut self, out: &mut Vec<Record>) {
        // The last read of every JIT map, through the roots kept (a process
        // that exited in the last round has not been forgotten yet).
        let pids: Vec<u32> = self
            .jit
            .keys()
            .copied()
            .filter(|p| !self.jit_gone.contains(p))
            .collect();
        if !pids.is_empty() {
            let reader = self.jit_reader.get_or_insert_with(JitReader::start);
            reader.take(&mut self.jit);
            for pid in pids {
                self.jit_gone.insert(pid);
                let ns_pid = self.ns_pids.get(&pid).copied().unwrap_or(pid);
                let root = self.roots.remove(&pid).flatten();
                reader.ask_last(pid, root, ns_pid);
            }
        }
        let deadline = self.wait_files(out);
        if let Some(reader) = &mut self.jit_reader {
            reader.wait(&mut self.jit, deadline);
        }
        for (key, read) in self.loader.wait(deadline) {
            self.settle(key, read, out);
        }
        let slow: HashSet<FileKey> = self
            .pending
            .keys()
            .filter(|k| self.loader.in_flight(k))
            .cloned()
            .collect();
        for p in self.pending.values_mut() {
            if p.error.is_empty() {
                p.error = "not read yet".into();
            }
        }
        for key in &slow {
            if let Some(p) = self.pending.get_mut(key) {
                p.error = "still being read at the end (a slow or hung file system?)".into();
            }
        }
        let held: Vec<FileKey> = self.waiting.keys().cloned().collect();
        for key in held {
            self.release_waiting(&key, None, out);
        }
        // One warning per file hit that no process nor the agent's view could read.
        let mut unread: Vec<&Pending> = self
            .pending
            .values()
            .filter(|p| !p.offsets.is_empty())
            .collect();
        unread.sort_by(|a, b| a.path.cmp(&b.path));
        for p in unread {
            let message = if self.redact.on {
                format!(
                    "no symbols for {} (pid {})",
                    self.redact.path(&p.path),
                    p.pid
                )
            } else {
                format!("no symbols for {} (pid {}): {}", p.path, p.pid, p.error)
            };
            out.push(Record::Warning(holter_format::Warning {
                time_ns: p.time_ns,
                message,
            }));
        }
        self.write_symbols(out);
        for (pid, symbols) in std::mem::take(&mut self.jit) {
            if !symbols.is_empty() {
                out.push(Record::JitSymbols(JitSymbols { pid, symbols }));
            }
        }
    }
}

/// A thread that reads perf maps: a slow or hostile file holds it, not the
/// sampler. Requests for a live pid already asked for are not queued twice;
/// the last read of an exited process always is.
struct JitReader {
    ask: Sender<JitRequest>,
    answers: Receiver<(u32, Option<Vec<Symbol>>)>,
    /// Requests not answered yet, by pid.
    asked: HashMap<u32, usize>,
}

enum JitRequest {
    /// A live process: its root opened (and kept) by the reader.
    Live(u32),
    /// A process that ran anonymous code: its `/tmp`, opened under its
    /// root, is kept for the last read of its map.
    Keep { pid: u32, root: Arc<Root> },
    /// An exited process (or the end): read through its kept `/tmp`, else
    /// its root, else as a live one.
    Last {
        pid: u32,
        root: Option<Arc<Root>>,
        ns_pid: u32,
    },
}

impl JitReader {
    fn start() -> JitReader {
        let (ask, requests) = mpsc::channel::<JitRequest>();
        let (answer, answers) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("holter-jit-maps".into())
            .spawn(move || {
                let mut roots: HashMap<u32, Option<(Root, u32)>> = HashMap::new();
                let mut tmps: HashMap<u32, Root> = HashMap::new();
                let live = |roots: &mut HashMap<u32, Option<(Root, u32)>>, pid: u32| {
                    let kept = roots.entry(pid).or_insert_with(|| {
                        let root = Root::of_process(pid).ok()?;
                        let ns_pid = Proc::node().status(pid).ok()?.ns_pid.unwrap_or(pid);
                        Some((root, ns_pid))
                    });
                    let symbols = kept
                        .as_ref()
                        .and_then(|(r, n)| read_jit_map(r, &format!("/tmp/perf-{n}.map")));
                    if symbols.is_none() && Root::of_process(pid).is_err() {
                        roots.remove(&pid);
                    }
                    symbols
                };
                for request in requests {
                    let (pid, symbols) = match request {
                        JitRequest::Live(pid) => (pid, live(&mut roots, pid)),
                        JitRequest::Keep { pid, root } => {
                            if let Ok(tmp) = crate::host::reader::subdir(&root, "/tmp") {
                                tmps.insert(pid, tmp);
                            }
                            continue;
                        }
                        JitRequest::Last { pid, root, ns_pid } => {
                            roots.remove(&pid);
                            let symbols = match (tmps.remove(&pid), root) {
                                (Some(tmp), _) => read_jit_map(&tmp, &format!("perf-{ns_pid}.map")),
                                (None, Some(root)) => {
                                    read_jit_map(&root, &format!("/tmp/perf-{ns_pid}.map"))
                                }
                                (None, None) => live(&mut roots, pid),
                            };
                            (pid, symbols)
                        }
                    };
                    if answer.send((pid, symbols)).is_err() {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            // No thread: every request is answered "nothing" at once.
            let (ask, _) = mpsc::channel();
            let (_, answers) = mpsc::channel();
            return JitReader {
                ask,
                answers,
                asked: HashMap::new(),
            };
        }
        JitReader {
            ask,
            answers,
            asked: HashMap::new(),
        }
    }

    /// Keeps the `/tmp` of a process that ran anonymous code (no answer).
    fn keep(&mut self, pid: u32, root: Arc<Root>) {
        let _ = self.ask.send(JitRequest::Keep { pid, root });
    }

    fn ask(&mut self, pid: u32) {
        if !self.asked.contains_key(&pid) && self.ask.send(JitRequest::Live(pid)).is_ok() {
            self.asked.insert(pid, 1);
        }
    }

    fn ask_last(&mut self, pid: u32, root: Option<Arc<Root>>, ns_pid: u32) {
        if self
            .ask
            .send(JitRequest::Last { pid, root, ns_pid })
            .is_ok()
        {
            *self.asked.entry(pid).or_default() += 1;
        }
    }

    fn answer(
        &mut self,
        jit: &mut BTreeMap<u32, Vec<Symbol>>,
        (pid, symbols): (u32, Option<Vec<Symbol>>),
    ) {
        if let Some(n) = self.asked.get_mut(&pid) {
            *n -= 1;
            if *n == 0 {
                self.asked.remove(&pid);
            }
        }
        if let Some(s) = symbols {
            jit.insert(pid, s);
        }
    }

    /// The maps read since the last call.
    fn take(&mut self, jit: &mut BTreeMap<u32, Vec<Symbol>>) {
        while let Ok(a) = self.answers.try_recv() {
            self.answer(jit, a);
        }
    }

    /// Waits until every request is answered or `deadline` passes.
    fn wait(&mut self, jit: &mut BTreeMap<u32, Vec<Symbol>>, deadline: Instant) {
        while !self.asked.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(a) => self.answer(jit, a),
                Err(_) => return,
            }
        }
    }
}

/// A perf map (`/tmp/perf-<nspid>.map`) under a directory of the process
/// (its root or its /tmp): a regular file only, at most [`MAX_PERF_MAP`] bytes.
fn read_jit_map(dir: &Root, path: &str) -> Option<Vec<Symbol>> {
    let bytes = crate::host::reader::read_prefix(dir, path, MAX_PERF_MAP).ok()?;
    Some(perfmap::parse(&String::from_utf8_lossy(&bytes)))
}
