//! Turning perf events into capture records. Three pieces, each its own
//! module: [`Symbolizer`] (mappings, files and kernel addresses hit, their
//! symbols), [`Tasks`] (Process, Thread and Exit records) and [`Batcher`]
//! (interned stacks, batches of samples); [`State`] routes each event to them
//! and keeps the records in the order they are to be written.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use holter_format::{Lost, Record, Sample};

use super::batch::Batcher;
use super::parse::{Event, FileId};
use super::stacks;
use super::symbolize::{NewMapping, Symbolizer};
use super::tasks::Tasks;
use crate::symbols::files::FileKey;
use crate::unwind::process::Unwinders;
use crate::unwind::Mode;

const PROT_EXEC: u32 = 4;
/// DWARF mode: the longest a sample waits, from when it was taken, for the
/// unwind tables of its process's files being read; then it is unwound by
/// frame pointers there. As long as a batch waits
/// ([`super::batch::BATCH_NS`]): a held sample is in the file within the
/// second too.
pub const HOLD: Duration = Duration::from_nanos(super::batch::BATCH_NS);
/// The most stack bytes held by the samples waiting so.
pub const MAX_HELD_BYTES: usize = 16 << 20;

pub struct State {
    pub batch: Batcher,
    pub tasks: Tasks,
    pub symbols: Symbolizer,
    lost: u64,
    /// DWARF mode: the unwinders of the processes (`None`: the kernel's
    /// frame-pointer chain is the user stack).
    pub unwind: Option<Unwinders>,
    user: Vec<u64>,
    /// DWARF mode: samples of processes with a file still being read, held
    /// (at most [`HOLD`], [`MAX_HELD_BYTES`]) until its unwind table is known.
    held: VecDeque<(Instant, Event)>,
    held_bytes: usize,
    /// Records to send, in order.
    pub out: Vec<Record>,
}

impl State {
    pub fn new(redact: bool, mode: Mode) -> Self {
        let mut symbols = Symbolizer::new(crate::redact::Redact::new(redact));
        symbols.files.want_unwind = mode == Mode::Dwarf;
        State {
            batch: Batcher::default(),
            tasks: Tasks::new(redact),
            symbols,
            lost: 0,
            unwind: (mode == Mode::Dwarf).then(Unwinders::default),
            user: Vec::new(),
            held: VecDeque::new(),
            held_bytes: 0,
            out: Vec::new(),
        }
    }

    /// Describes a process already running from `/proc/PID/maps`.
    pub fn scan_process(&mut self, pid: u32, now: u64) {
        self.tasks.saw(pid);
        self.symbols.scan_process(pid, now, &mut self.out);
    }

    pub fn handle(&mut self, event: Event) {
        // A process that joined a followed cgroup while running: its name
        // and mappings from /proc, before what its event needs of them.
        if let Some(pid) = self.tasks.first_sight(&event) {
            let time = super::event_time(&event);
            if let Some(p) = self.tasks.discover(pid, time) {
                self.out.push(Record::Process(p));
            }
            self.symbols.scan_process(pid, time, &mut self.out);
        }
        // A process's mappings change, or it ends: its held samples first.
        match &event {
            Event::Sample { pid, stack, .. } if self.unwind.is_some() => {
                if !self.symbols.spaces.knows(*pid) {
                    self.symbols
                        .scan_process(*pid, crate::clock::monotonic_ns(), &mut self.out);
                }
                if self.held_bytes + stack.len() <= MAX_HELD_BYTES
                    && self.symbols.spaces.maps(*pid).iter().any(|m| m.loading)
                {
                    self.held_bytes += stack.len();
                    self.held.push_back((Instant::now(), event));
                    return;
                }
            }
            Event::Mmap2 { pid, .. }
            | Event::Comm { pid, .. }
            | Event::Fork { pid, .. }
            | Event::Exit { pid, .. } => self.release_held(Some(*pid), true, None),
            _ => {}
        }
        self.record(event);
    }

    /// DWARF mode: whether a file of `pid` is still being read (its unwind
    /// table not yet known); a process first seen is scanned.
    pub fn unwind_pending(&mut self, pid: u32) -> bool {
        if self.unwind.is_none() {
            return false;
        }
        if !self.symbols.spaces.knows(pid) {
            self.symbols
                .scan_process(pid, crate::clock::monotonic_ns(), &mut self.out);
        }
        self.symbols.spaces.maps(pid).iter().any(|m| m.loading)
    }

    /// Unwinds the held samples of `pid` (all if `None`) whose process no
    /// longer waits for a file, or all of them if `now`, or those held
    /// longer than [`HOLD`], or taken longer than [`HOLD`] before `clock`
    /// (the capture's time now).
    fn release_held(&mut self, pid: Option<u32>, now: bool, clock: Option<u64>) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        for (since, e) in held {
            let Event::Sample {
                pid: p,
                stack,
                time,
                ..
            } = &e
            else {
                continue;
            };
            let mine = pid.is_none_or(|x| x == *p);
            // Aged from when it was taken: it may have waited in its ring.
            let go = mine
                && (now
                    || since.elapsed() >= HOLD
                    || clock.is_some_and(|c| c.saturating_sub(*time) >= HOLD.as_nanos() as u64)
                    || !self.symbols.spaces.maps(*p).iter().any(|m| m.loading));
            if go {
                self.held_bytes -= stack.len();
                self.record(e);
            } else {
                self.held.push_back((since, e));
            }
        }
    }

    /// The id of a sample's stack, unwound (DWARF mode) or as the kernel's
    /// chain, interned: a new stack and the symbols it hits are written. Off-CPU
    /// switches ([`crate::offcpu`]) are unwound by this same path.
    pub fn intern_stack(
        &mut self,
        pid: u32,
        time: u64,
        callchain: &[u64],
        regs: Option<crate::unwind::Regs>,
        stack: &[u8],
    ) -> u32 {
        let out = &mut self.out;
        let s = match &mut self.unwind {
            Some(u) => {
                let (kernel, kernel_user) = stacks::split(callchain);
                if !self.symbols.spaces.knows(pid) {
                    self.symbols.scan_process(pid, time, out);
                }
                let root = u.user_stack(
                    pid,
                    &self.symbols.spaces,
                    regs,
                    stack,
                    &kernel_user,
                    &mut self.user,
                );
                // Frames in a file still being read were unwound by
                // frame pointers there (the sampler never waits for it).
                let spaces = &self.symbols.spaces;
                if self
                    .user
                    .iter()
                    .any(|&a| spaces.find(pid, a).is_some_and(|m| m.loading))
                {
                    u.stats.table_pending += 1;
                }
                self.batch.stack_parts(kernel, &self.user, root, out)
            }
            None => self.batch.stack(callchain, out),
        };
        self.symbols.note_stack(pid, &s, time, out);
        s.id
    }

    fn record(&mut self, event: Event) {
        let out = &mut self.out;
        match event {
            Event::Sample {
                pid,
                tid,
                time,
                cpu,
                period,
                callchain,
                regs,
                stack,
            } => {
                let stack_id = self.intern_stack(pid, time, &callchain, regs, &stack);
                self.batch.push(
                    Sample {
                        time_ns: time,
                        pid,
                        tid,
                        cpu,
                        stack_id,
                        period,
                    },
                    &mut self.out,
                );
            }
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
                let (key, kernel_build_id) = match file {
                    FileId::BuildId(id) if !id.is_empty() => {
                        (FileKey::BuildId(id.clone()), Some(id))
                    }
                    FileId::DevIno { maj, min, ino } if ino != 0 => {
                        (FileKey::DevIno(maj, min, ino), None)
                    }
                    _ => (FileKey::Path(pid, path.clone()), None),
                };
                self.symbols.add_mapping(
                    NewMapping {
                        pid,
                        start: addr,
                        end: addr + len,
                        pgoff,
                        path,
                        key,
                        kernel_build_id,
                        time_ns: time,
                    },
                    out,
                );
            }
            Event::Comm {
                pid,
                tid,
                comm,
                exec,
                time,
            } => {
                if exec && pid == tid {
                    self.symbols.spaces.exec(pid);
                    self.symbols.exec(pid);
                }
                self.tasks.comm(pid, tid, comm, exec, time, out);
            }
            Event::Fork {
                pid,
                ppid,
                tid,
                time,
            } => {
                if pid == tid && pid != ppid {
                    self.symbols.spaces.fork(ppid, pid);
                    self.symbols.fork(ppid, pid);
                }
                self.tasks.fork(pid, ppid, tid, time, out);
            }
            Event::Exit { pid, tid, time } => self.tasks.exit(pid, tid, time, out),
            Event::Lost { count } => self.lost += count,
            Event::Other(_) => {}
        }
    }

    /// Writes the pending samples, after the stacks they use.
    pub fn flush_samples(&mut self) {
        self.batch.flush(&mut self.out);
    }

    /// After each drain: processes that exited in the previous round are
    /// forgotten (samples from other CPUs' rings may come a round late).
    pub fn end_round(&mut self, now: u64) -> u64 {
        self.symbols.end_round(now, &mut self.out);
        self.release_held(None, false, Some(now));
        if self.batch.due(now) {
            // The symbols of what the batch hit go before it (those of files
            // already read), so a capture cut right after it (kill -9) holds
            // no sample without its names.
            self.symbols.write_symbols(&mut self.out);
        }
        self.batch.end_round(now, &mut self.out);
        for pid in std::mem::take(&mut self.tasks.exited) {
            self.tasks.forget(pid);
            self.symbols.forget(pid);
        }
        if let Some(u) = &mut self.unwind {
            u.prune(&self.symbols.spaces);
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
        self.symbols.refresh_jit();
    }

    /// The last samples and the symbols not yet written.
    pub fn finish(&mut self) {
        // The files being read are waited for (a bounded time) before the
        // held samples are unwound, with their tables if they came.
        self.symbols.wait_files(&mut self.out);
        self.release_held(None, true, None);
        self.flush_samples();
        self.symbols.finish(&mut self.out);
    }
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
        let mut s = State::new(false, Mode::Fp);
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
        assert_eq!(kinds, ["Stack", "Stack", "SampleBatchLessPeriod"]);
        match (&s.out[0], &s.out[2]) {
            (Record::Stack(a), Record::SampleBatchLessPeriod(b)) => {
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
        assert_eq!(s.batch.samples, 4);
    }

    /// The CI flake (cgroup2, a program moved into the cgroup right after
    /// its exec): the first event of the process is the MMAP of a library,
    /// not its exec's COMM nor its program's MMAP. It is read from /proc
    /// then: its name and its program's mapping are written, once.
    #[test]
    fn a_process_first_seen_by_a_library_mapping_gets_its_name_and_program() {
        let me = std::process::id();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let mut s = State::new(false, Mode::Fp);
        let id: Vec<u8> = (41..=60).collect();
        let libc = fixtures::mmap2_build_id(me, 0x1000, 0x1000, 0, &id, "/nonexistent/libc", 5);
        feed(&mut s, libc.clone());
        let user_marker = -512i64 as u64;
        feed(
            &mut s,
            fixtures::sample(me, me, 10, 0, 10, &[user_marker, 0x1010]),
        );
        feed(&mut s, libc);
        let processes: Vec<&holter_format::Process> = s
            .out
            .iter()
            .filter_map(|r| match r {
                Record::Process(p) if p.pid == me => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(processes.len(), 1, "read once");
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(processes[0].comm, comm.trim_end());
        assert_eq!(processes[0].time_ns, 5, "named from its first event on");
        // Its mapping record waits for the file's build-id; the map is known.
        let ip =
            a_process_first_seen_by_a_library_mapping_gets_its_name_and_program as *const () as u64;
        assert!(
            s.symbols.spaces.find(me, ip).is_some(),
            "its program's mapping ({}), which perf never told",
            exe.display()
        );
    }

    /// Two processes gone, both mapping one unreadable build-id and sampled
    /// in it: one warning, at the end, and the miss is not kept as a
    /// failure of that build-id.
    #[test]
    fn one_warning_per_unreadable_binary_hit() {
        let mut s = State::new(false, Mode::Fp);
        let id: Vec<u8> = (21..=40).collect();
        let user_marker = -512i64 as u64;
        for pid in [4_000_011, 4_000_012] {
            feed(
                &mut s,
                fixtures::mmap2_build_id(pid, 0x1000, 0x1000, 0, &id, "/nonexistent/tool", 5),
            );
            feed(
                &mut s,
                fixtures::sample(pid, pid, 10, 0, 10, &[user_marker, 0x1010]),
            );
        }
        s.end_round(2_000_000_000);
        assert!(!s.out.iter().any(|r| matches!(r, Record::Warning(_))));
        assert!(s
            .symbols
            .files
            .settled(&FileKey::BuildId(id.clone()))
            .is_none());
        s.finish();
        let warned: Vec<&str> = s
            .out
            .iter()
            .filter_map(|r| match r {
                Record::Warning(w) => Some(w.message.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("no symbols for /nonexistent/tool (pid 4000011)"));
    }

    #[test]
    fn mappings_forks_exits_and_lost() {
        let mut s = State::new(false, Mode::Fp);
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
            !s.out.iter().any(|r| matches!(r, Record::Warning(_))),
            "an unreadable file is not warned at once: another process may read it"
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
        assert!(!s.symbols.spaces.knows(4_000_002));
        assert!(s.symbols.spaces.find(4_000_001, 0x1800).is_some());
    }

    fn mmap_dev_ino(
        pid: u32,
        addr: u64,
        len: u64,
        (maj, min, ino): (u32, u32, u64),
        path: &str,
    ) -> Event {
        Event::Mmap2 {
            pid,
            tid: pid,
            addr,
            len,
            pgoff: 0,
            file: FileId::DevIno { maj, min, ino },
            prot: 5,
            path: path.into(),
            time: 5,
        }
    }

    fn dwarf_sample(pid: u32, ip: u64, time: u64) -> Event {
        Event::Sample {
            pid,
            tid: pid,
            time,
            cpu: 0,
            period: 1,
            callchain: vec![-512i64 as u64, ip],
            regs: Some(crate::unwind::Regs {
                ip,
                sp: 0x7000,
                fp: 0,
                lr: 0,
            }),
            stack: Vec::new(),
        }
    }

    fn warnings(out: &[Record]) -> Vec<String> {
        out.iter()
            .filter_map(|r| match r {
                Record::Warning(w) => Some(w.message.clone()),
                _ => None,
            })
            .collect()
    }

    /// A file reader whose reads hang until `release` is set (then fail),
    /// and that flag with its condition variable.
    fn hung_reader() -> (
        std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
        crate::symbols::loader::ReadFn,
    ) {
        use std::sync::{Arc, Condvar, Mutex};
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let held = release.clone();
        let reader: crate::symbols::loader::ReadFn = Arc::new(move |_, at, _| {
            let (lock, cv) = &*held;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = cv.wait(go).unwrap();
            }
            Err(crate::symbols::files::Failure::Unreachable(format!(
                "{} hung",
                at[0].path
            )))
        });
        (release, reader)
    }

    /// A mapped file whose read never returns (a hung FUSE or NFS file):
    /// the sampler's thread never waits for it. Samples keep being
    /// recorded, those in the file unwound by frame pointers and counted;
    /// after a while a warning names the file; the end waits a bounded time
    /// and names it again.
    #[test]
    fn the_sampler_keeps_going_while_a_mapped_file_hangs() {
        use std::time::{Duration, Instant};
        let (release, reader) = hung_reader();
        let mut s = State::new(false, Mode::Dwarf);
        s.symbols = Symbolizer::with_reader(crate::redact::Redact::new(false), reader);
        s.symbols.files.want_unwind = true;
        let pid = 4_000_100;
        let t0 = Instant::now();
        s.handle(mmap_dev_ino(
            pid,
            0x1000,
            0x1000,
            (0, 99, 77),
            "/fuse/slow/libhang.so",
        ));
        let mut samples = 0u64;
        let mut slowest = Duration::ZERO;
        let mut time = 10;
        while t0.elapsed() < crate::symbols::loader::SLOW + Duration::from_millis(500) {
            let round = Instant::now();
            for _ in 0..10 {
                time += 1;
                s.handle(dwarf_sample(pid, 0x1010, time));
                samples += 1;
            }
            s.end_round(time);
            slowest = slowest.max(round.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            slowest < Duration::from_millis(200),
            "a round took {slowest:?}"
        );
        // Held a bounded time, not until the file is read.
        assert!(s.held.len() < samples as usize / 2, "{} held", s.held.len());
        let w = warnings(&s.out);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("reading /fuse/slow/libhang.so for its symbols has taken"),
            "{w:?}"
        );
        let end = Instant::now();
        s.finish();
        assert!(
            end.elapsed() < Duration::from_secs(1),
            "{:?}",
            end.elapsed()
        );
        let w = warnings(&s.out);
        assert!(
            w.iter().any(|m| m.starts_with(
                "no symbols for /fuse/slow/libhang.so (pid 4000100): still being read"
            )),
            "{w:?}"
        );
        let u = s.unwind.as_ref().unwrap();
        assert_eq!(
            u.stats.table_pending, samples,
            "every sample unwound by frame pointers in the file is counted"
        );
        s.flush_samples();
        let recorded: usize = s
            .out
            .iter()
            .filter_map(|r| match r {
                Record::SampleBatchLessPeriod(b) => Some(b.samples().count()),
                _ => None,
            })
            .sum();
        assert_eq!(recorded as u64, samples);
        // The mapping record held back for the build-id is written without it.
        assert!(s.out.iter().any(|r| matches!(r, Record::Mapping(m)
            if m.pid == pid && m.start == 0x1000 && m.build_id.is_none())));
        *release.0.lock().unwrap() = true;
        release.1.notify_all();
    }

    /// A sample held for the unwind table of a file still being read is
    /// sent, in a batch, once it was taken [`HOLD`] ago by the capture's
    /// clock (it may have waited in its ring before): with the writer's
    /// tick it reaches the file within the second (a capture cut by kill -9
    /// keeps all but its last second).
    #[test]
    fn a_held_sample_is_sent_within_the_second_of_its_time() {
        let (release, reader) = hung_reader();
        let mut s = State::new(false, Mode::Dwarf);
        s.symbols = Symbolizer::with_reader(crate::redact::Redact::new(false), reader);
        s.symbols.files.want_unwind = true;
        let pid = 4_000_101;
        s.handle(mmap_dev_ino(
            pid,
            0x1000,
            0x1000,
            (0, 99, 78),
            "/fuse/slow/libheld.so",
        ));
        let taken = 5_000_000_000;
        s.handle(dwarf_sample(pid, 0x1010, taken));
        assert_eq!(s.held.len(), 1, "held while its file is read");
        let hold = HOLD.as_nanos() as u64;
        assert!(hold + crate::cadence::LATENCY_NS / 10 < crate::cadence::LATENCY_NS);
        let batches = |out: &[Record]| {
            out.iter()
                .filter(|r| matches!(r, Record::SampleBatchLessPeriod(_)))
                .count()
        };
        s.end_round(taken + hold - 1);
        assert_eq!((s.held.len(), batches(&s.out)), (1, 0));
        s.end_round(taken + hold);
        assert_eq!(s.held.len(), 0, "released by its age, not the agent's wait");
        assert_eq!(batches(&s.out), 1, "and sent in the same round");
        *release.0.lock().unwrap() = true;
        release.1.notify_all();
    }

    /// A mapped file read on the reader thread: its mapping record is
    /// written with the file's build-id, the samples hit in it before it
    /// was read are named, and later ones find its symbols and unwind table.
    #[test]
    fn a_file_read_later_completes_its_mapping_and_samples() {
        use std::os::unix::fs::MetadataExt;
        use std::time::{Duration, Instant};
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_str().unwrap().to_string();
        let line = crate::symbols::maps::parse_executable(&maps)
            .into_iter()
            .find(|m| m.path == exe)
            .unwrap();
        let meta = std::fs::metadata(&exe).unwrap();
        assert_eq!(meta.ino(), line.inode);
        let me = std::process::id();
        let mut s = State::new(false, Mode::Dwarf);
        // Known (its start told by perf): not read from /proc at first sight.
        s.tasks.saw(me);
        let mut mmap = mmap_dev_ino(
            me,
            line.start,
            line.end - line.start,
            (line.dev.0, line.dev.1, line.inode),
            &exe,
        );
        if let Event::Mmap2 { pgoff, .. } = &mut mmap {
            *pgoff = line.pgoff;
        }
        s.handle(mmap);
        assert!(s
            .symbols
            .spaces
            .find(me, line.start)
            .is_some_and(|m| m.loading));
        assert!(
            !s.out.iter().any(|r| matches!(r, Record::Mapping(_))),
            "held back"
        );
        // A sample in a function of this binary, before the file is read.
        let ip = a_file_read_later_completes_its_mapping_and_samples as *const () as u64;
        s.handle(dwarf_sample(me, ip, 10));
        let t0 = Instant::now();
        let mut time = 1_000_000_000;
        while s.symbols.spaces.find(me, ip).is_some_and(|m| m.loading) {
            assert!(t0.elapsed() < Duration::from_secs(20), "never read");
            std::thread::sleep(Duration::from_millis(10));
            time += 1;
            s.end_round(time);
        }
        let m = s.symbols.spaces.find(me, ip).unwrap();
        assert!(m.file.is_some() && m.unwind.is_some());
        s.end_round(time + 2_000_000_000);
        let mapping = s.out.iter().find_map(|r| match r {
            Record::Mapping(m) if m.pid == me => Some(m.clone()),
            _ => None,
        });
        let build_id = crate::symbols::elf::build_id(&std::fs::read(&exe).unwrap()).unwrap();
        assert_eq!(mapping.unwrap().build_id, Some(build_id));
        let named = s.out.iter().any(|r| {
            matches!(r, Record::BinarySymbols(b)
            if b.symbols.iter().any(|x| x.name.contains("a_file_read_later_completes")))
        });
        assert!(named, "the sample taken before the file was read is named");
        assert!(!s.symbols.spaces.find(me, ip).unwrap().loading);
    }
}
