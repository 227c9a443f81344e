//! Task description: the Process and Thread records of the tasks the perf
//! events tell about (exec, fork, exit), described from `/proc`.

use holter_format::{Exit, Process, Record, Thread};

use crate::procfs;

pub struct Tasks {
    redact: bool,
    /// Tasks forked during the capture: they inherited their parent's events.
    pub forked: Vec<u32>,
    /// Processes that exited in the current round.
    pub exited: Vec<u32>,
}

impl Tasks {
    pub fn new(redact: bool) -> Self {
        Tasks {
            redact,
            forked: Vec::new(),
            exited: Vec::new(),
        }
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
