//! Task description: the Process and Thread records of the tasks the perf
//! events tell about (exec, fork, exit), described from `/proc`.

use std::collections::HashSet;

use holter_format::{Exit, Process, Record, Thread};

use super::parse::Event;
use crate::procfs;

pub struct Tasks {
    redact: bool,
    /// Tasks forked during the capture: they inherited their parent's events.
    pub forked: Vec<u32>,
    /// Processes that exited in the current round.
    pub exited: Vec<u32>,
    /// Processes described: read from `/proc`, or born (FORK) or started
    /// (exec) during the capture, where perf tells their name and mappings.
    seen: HashSet<u32>,
}

impl Tasks {
    pub fn new(redact: bool) -> Self {
        Tasks {
            redact,
            forked: Vec::new(),
            exited: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Marks a process as described (from `/proc`).
    pub fn saw(&mut self, pid: u32) {
        self.seen.insert(pid);
    }

    /// A process gone: its pid may come back as another one.
    pub fn forget(&mut self, pid: u32) {
        self.seen.remove(&pid);
    }

    /// The process `event` shows for the first time without telling how it
    /// started, to be described from `/proc` now (and marked described): a
    /// task that was running when it joined a followed cgroup. Perf tells
    /// nothing of what it did before it joined: its exec's COMM and the
    /// MMAP of its program may have come just before (a program started and
    /// moved into the cgroup at once) and its libraries' MMAPs just after,
    /// so neither a mapping already known nor a name missing tells it. A
    /// FORK of a new process (whose parent is shown, if new) or an exec
    /// tells it, and the records that follow describe it.
    pub fn first_sight(&mut self, event: &Event) -> Option<u32> {
        let pid = match *event {
            Event::Fork { pid, ppid, tid, .. } if pid == tid && pid != ppid => {
                self.seen.insert(pid);
                ppid
            }
            Event::Comm {
                pid,
                tid,
                exec: true,
                ..
            } if pid == tid => {
                self.seen.insert(pid);
                return None;
            }
            Event::Fork { pid, .. }
            | Event::Comm { pid, .. }
            | Event::Mmap2 { pid, .. }
            | Event::Sample { pid, .. } => pid,
            Event::Exit { .. } | Event::Lost { .. } | Event::Other(_) => return None,
        };
        (pid != 0 && self.seen.insert(pid)).then_some(pid)
    }

    /// A process first seen running ([`Tasks::first_sight`]), as `/proc`
    /// shows it: none if it is gone.
    pub fn discover(&self, pid: u32, time: u64) -> Option<Process> {
        procfs::describe_process(pid, time, self.redact).ok()
    }

    /// A process as `/proc` shows it now, or what the event told.
    pub fn describe(&self, pid: u32, ppid: u32, comm: &str, time: u64) -> Process {
        procfs::describe_process(pid, time, self.redact).unwrap_or_else(|_| Process {
            time_ns: time,
            pid,
            ppid,
            comm: comm.to_string(),
            ..Process::default()
        })
    }

    /// A task renamed itself or (`exec`) a process started a new program.
    pub fn comm(
        &mut self,
        pid: u32,
        tid: u32,
        comm: String,
        exec: bool,
        time: u64,
        out: &mut Vec<Record>,
    ) {
        if exec && pid == tid {
            out.push(Record::Process(self.describe(pid, 0, &comm, time)));
        }
        let ns_tid = procfs::describe_thread(pid, tid, time)
            .ok()
            .and_then(|t| t.ns_tid);
        out.push(Record::Thread(Thread {
            time_ns: time,
            pid,
            tid,
            ns_tid,
            comm,
        }));
    }

    /// A task was born: a thread, or (pid == tid) a new process.
    pub fn fork(&mut self, pid: u32, ppid: u32, tid: u32, time: u64, out: &mut Vec<Record>) {
        self.forked.push(tid);
        let thread = procfs::describe_thread(pid, tid, time).unwrap_or(Thread {
            time_ns: time,
            pid,
            tid,
            ns_tid: None,
            comm: String::new(),
        });
        if pid == tid && pid != ppid {
            out.push(Record::Process(self.describe(
                pid,
                ppid,
                &thread.comm,
                time,
            )));
        }
        out.push(Record::Thread(thread));
    }

    pub fn exit(&mut self, pid: u32, tid: u32, time: u64, out: &mut Vec<Record>) {
        out.push(Record::Exit(Exit {
            time_ns: time,
            pid,
            tid,
        }));
        if pid == tid {
            self.exited.push(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pid: u32) -> Event {
        Event::Sample {
            pid,
            tid: pid,
            time: 5,
            cpu: 0,
            period: 1,
            callchain: Vec::new(),
            regs: None,
            stack: Vec::new(),
        }
    }

    fn mmap(pid: u32) -> Event {
        Event::Mmap2 {
            pid,
            tid: pid,
            addr: 0x1000,
            len: 0x1000,
            pgoff: 0,
            file: super::super::parse::FileId::DevIno {
                maj: 0,
                min: 1,
                ino: 2,
            },
            prot: 5,
            path: "/lib/libc.so.6".into(),
            time: 4,
        }
    }

    fn comm(pid: u32, tid: u32, exec: bool) -> Event {
        Event::Comm {
            pid,
            tid,
            comm: "w".into(),
            exec,
            time: 3,
        }
    }

    fn fork(pid: u32, ppid: u32, tid: u32) -> Event {
        Event::Fork {
            pid,
            ppid,
            tid,
            time: 2,
        }
    }

    /// The CI flake: a program moved into a cgroup2 target right after its
    /// exec. Perf told the MMAPs of its libraries (the loader ran after the
    /// move) but neither its exec's COMM nor the MMAP of its program: the
    /// first MMAP, like a first sample, is a first sight, read from /proc
    /// (name and every mapping), once.
    #[test]
    fn a_process_first_seen_by_a_mapping_or_a_sample_is_read_from_proc_once() {
        let mut t = Tasks::new(false);
        assert_eq!(t.first_sight(&mmap(100)), Some(100));
        assert_eq!(t.first_sight(&sample(100)), None);
        assert_eq!(t.first_sight(&mmap(100)), None);
        assert_eq!(t.first_sight(&sample(101)), Some(101));
        assert_eq!(
            t.first_sight(&comm(102, 103, false)),
            Some(102),
            "a thread renamed"
        );
        assert_eq!(
            t.first_sight(&fork(104, 104, 105)),
            Some(104),
            "a new thread"
        );
        let exit = Event::Exit {
            pid: 106,
            tid: 106,
            time: 9,
        };
        assert_eq!(t.first_sight(&exit), None, "gone: nothing to read");
        assert_eq!(t.first_sight(&Event::Lost { count: 1 }), None);
        assert_eq!(t.first_sight(&sample(0)), None, "the idle task");
    }

    /// Perf tells what a process born or started during the capture is:
    /// its parent, if new, is the one to read.
    #[test]
    fn forks_and_execs_describe_themselves() {
        let mut t = Tasks::new(false);
        assert_eq!(t.first_sight(&comm(200, 200, true)), None, "exec");
        assert_eq!(t.first_sight(&mmap(200)), None);
        assert_eq!(t.first_sight(&sample(200)), None);
        assert_eq!(
            t.first_sight(&fork(201, 200, 201)),
            None,
            "child of a known one"
        );
        assert_eq!(t.first_sight(&sample(201)), None);
        assert_eq!(
            t.first_sight(&fork(203, 202, 203)),
            Some(202),
            "its parent is new"
        );
        assert_eq!(t.first_sight(&sample(203)), None);
        assert_eq!(t.first_sight(&sample(202)), None);
    }

    /// A process read at the start is not read again; a pid that exited may
    /// come back as another process.
    #[test]
    fn known_processes_and_reused_pids() {
        let mut t = Tasks::new(false);
        t.saw(300);
        assert_eq!(t.first_sight(&sample(300)), None);
        t.forget(300);
        assert_eq!(t.first_sight(&sample(300)), Some(300));
    }

    #[test]
    fn a_gone_process_is_not_described() {
        let t = Tasks::new(false);
        assert!(t.discover(4_000_000, 1).is_none());
        let me = std::process::id();
        let p = t.discover(me, 1).unwrap();
        assert_eq!((p.pid, p.time_ns), (me, 1));
        assert!(!p.comm.is_empty());
    }
}
