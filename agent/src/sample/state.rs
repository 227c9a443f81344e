//! Turning perf events into capture records. Three pieces, each its own
//! module: [`Symbolizer`] (mappings, files and kernel addresses hit, their
//! symbols), [`Tasks`] (Process, Thread and Exit records) and [`Batcher`]
//! (interned stacks, batches of samples); [`State`] routes each event to them
//! and keeps the records in the order they are to be written.

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

pub struct State {
    pub batch: Batcher,
    pub tasks: Tasks,
    pub symbols: Symbolizer,
    lost: u64,
    /// DWARF mode: the unwinders of the processes (`None`: the kernel's
    /// frame-pointer chain is the user stack).
    pub unwind: Option<Unwinders>,
    user: Vec<u64>,
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
            out: Vec::new(),
        }
    }

    /// Describes a process already running from `/proc/PID/maps`.
    pub fn scan_process(&mut self, pid: u32, now: u64) {
        self.symbols.scan_process(pid, now, &mut self.out);
    }

    pub fn handle(&mut self, event: Event) {
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
                let s = match &mut self.unwind {
                    Some(u) => {
                        let (kernel, kernel_user) = stacks::split(&callchain);
                        if !self.symbols.spaces.knows(pid) {
                            self.symbols.scan_process(pid, time, out);
                        }
                        let root = u.user_stack(
                            pid,
                            &self.symbols.spaces,
                            regs,
                            &stack,
                            &kernel_user,
                            &mut self.user,
                        );
                        self.batch.stack_parts(kernel, &self.user, root, out)
                    }
                    None => self.batch.stack(&callchain, out),
                };
                self.symbols.note_stack(pid, &s, time, out);
                self.batch.push(
                    Sample {
                        time_ns: time,
                        pid,
                        tid,
                        cpu,
                        stack_id: s.id,
                        period,
                    },
                    out,
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
        self.batch.end_round(now, &mut self.out);
        self.symbols.end_round(now, &mut self.out);
        for pid in std::mem::take(&mut self.tasks.exited) {
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
        assert_eq!(s.batch.samples, 4);
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
}
