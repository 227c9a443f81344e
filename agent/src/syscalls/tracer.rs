//! The tracer's state machine: which threads are traced, where each is in its
//! current syscall, and what each ptrace stop means. Lives on one thread.

use std::collections::{HashMap, HashSet};
use std::io;

use anyhow::anyhow;
use holter_format::syscall_names::Arch;
use holter_format::{Exit, Record, Syscall, SyscallTotal};

use super::counts::{self, Count};
use super::follow::Follower;
use super::ptrace::{self, Stop, SyscallInfo};
use super::summary::{self, FdCache, Table, Tracee, MAX_NR};
use crate::clock::monotonic_ns;
use crate::collect::Context;
use crate::host::proc::Proc as ProcFs;
use crate::procfs;
use crate::so_far::SyscallTotals;

/// Syscall records sent to the writer at once.
const BATCH: usize = 1024;

/// How long detaching waits for stop reports before detaching silent threads directly.
const FALLBACK_AFTER: std::time::Duration = std::time::Duration::from_millis(300);

#[derive(Default)]
struct ThreadState {
    pid: u32,
    in_call: bool,
    nr: u32,
    args: [u64; 6],
    enter_ns: u64,
    summary: Option<String>,
    /// The call is a 32-bit one (`int 0x80`): `nr` is in the i386 table.
    compat: bool,
}

/// The tracee as seen through process_vm_readv and /proc.
struct Proc;

impl Tracee for Proc {
    fn read(&mut self, pid: u32, addr: u64, buf: &mut [u8]) -> usize {
        ptrace::read_memory(pid, addr, buf)
    }
    fn fd_path(&mut self, pid: u32, fd: i32) -> Option<String> {
        let link = procfs::pid_dir(pid).join("fd").join(fd.to_string());
        std::fs::read_link(link)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
}

pub struct Tracer {
    ctx: Context,
    table: Table,
    /// Which numbers get a Syscall record (all are counted).
    recorded: Vec<bool>,
    threads: HashMap<u32, ThreadState>,
    /// Processes (thread-group ids) being traced.
    pids: HashSet<u32>,
    fds: FdCache,
    counts: Vec<Count>,
    /// Counts of 32-bit calls (`int 0x80`), by i386 number.
    compat_counts: Vec<Count>,
    follower: Follower,
    redact: bool,
    detached: bool,
    /// Records that could not be sent (the writer is gone).
    lost: u64,
    /// Syscall records not yet sent: sent in batches, so that the writer
    /// thread is woken once per batch rather than once per call.
    pending: Vec<Syscall>,
    /// Launched commands still running the agent's code before their exec.
    before_exec: HashSet<u32>,
    /// The totals sent while recorded.
    so_far: SyscallTotals,
}

impl Tracer {
    pub fn new(ctx: Context, table: Table, recorded: Vec<bool>, follower: Follower) -> Tracer {
        let redact = ctx.settings.redact;
        Tracer {
            ctx,
            table,
            recorded,
            threads: HashMap::new(),
            pids: HashSet::new(),
            fds: FdCache::default(),
            counts: vec![Count::default(); MAX_NR],
            compat_counts: vec![Count::default(); MAX_NR],
            follower,
            redact,
            detached: false,
            lost: 0,
            before_exec: HashSet::new(),
            pending: Vec::with_capacity(BATCH),
            so_far: SyscallTotals::default(),
        }
    }

    /// Calls of `pid` are neither counted nor recorded until it execs
    /// (a launched command held in the agent's code until the collectors are ready).
    pub fn ignore_until_exec(&mut self, pid: u32) {
        self.before_exec.insert(pid);
    }

    pub fn traced_threads(&self) -> usize {
        self.threads.len()
    }

    pub fn knows_process(&self, pid: u32) -> bool {
        self.pids.contains(&pid)
    }

    /// Seizes every thread of `pid`, rescanning its task list until no new
    /// thread appears (threads started meanwhile by a seized one are followed
    /// by the kernel). Returns the number of threads seized.
    pub fn attach_process(&mut self, pid: u32) -> anyhow::Result<usize> {
        if pid == std::process::id() {
            return Ok(0); // never the agent itself
        }
        let mut seized = 0;
        loop {
            let tids = match procfs::threads(pid) {
                Ok(t) => t,
                Err(_) if seized > 0 => break,
                Err(_) => return Ok(0), // exited meanwhile
            };
            let mut new = 0;
            for tid in tids {
                if self.threads.contains_key(&tid) {
                    continue;
                }
                match ptrace::seize(tid) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => continue,
                    // A main thread gone by pthread_exit stays a zombie while the others run.
                    Err(e)
                        if e.raw_os_error() == Some(libc::EPERM)
                            && procfs::thread_is_dead(pid, tid) =>
                    {
                        continue
                    }
                    Err(e) => return Err(seize_error(pid, tid, e)),
                }
                // Start syscall-stepping from its first stop.
                let _ = ptrace::interrupt(tid);
                self.threads.insert(
                    tid,
                    ThreadState {
                        pid,
                        ..ThreadState::default()
                    },
                );
                new += 1;
            }
            if new == 0 {
                break;
            }
            seized += new;
        }
        if seized > 0 {
            self.pids.insert(pid);
        }
        Ok(seized)
    }

    /// Handles one `waitpid` report.
    pub fn handle(&mut self, tid: u32, status: i32) {
        let stop = ptrace::decode(status);
        if stop == Stop::Gone {
            self.gone(tid);
            return;
        }
        if !self.threads.contains_key(&tid) {
            // A new task can report its first stop before its parent's clone event.
            self.adopt(tid);
        }
        let resume_sig = match stop {
            Stop::Syscall => {
                self.follower.on_stop(tid);
                if !self.on_syscall(tid) {
                    // A stale report: the thread that stopped was a leader
                    // killed by an exec from another thread, which now has
                    // its tid and sits in its exec stop. Resuming would skip
                    // that stop unseen (no new image described, the execing
                    // thread's state left behind); its report comes next.
                    return;
                }
                0
            }
            Stop::NewTask => {
                if let Ok(new) = ptrace::event_msg(tid) {
                    self.adopt(new as u32);
                }
                0
            }
            Stop::Exec => {
                self.on_exec(tid);
                0
            }
            Stop::Group => {
                // Stay stopped as the signal asked, yet keep reporting (SIGCONT, kill).
                if ptrace::listen(tid).is_err() {
                    let _ = ptrace::syscall(tid, 0);
                }
                return;
            }
            Stop::Interrupt | Stop::OtherEvent | Stop::Gone => 0,
            Stop::Signal(sig) => sig,
        };
        // ESRCH: killed while stopped; its exit report follows.
        let _ = ptrace::syscall(tid, resume_sig);
    }

    /// Handles a syscall-stop; false when `tid` is not in one (a stale report).
    fn on_syscall(&mut self, tid: u32) -> bool {
        let info = match ptrace::syscall_info(tid) {
            Ok(SyscallInfo::NotInSyscall) => return false,
            Ok(info) => info,
            Err(_) => return true,
        };
        let now = monotonic_ns();
        let Some(st) = self.threads.get_mut(&tid) else {
            return true;
        };
        match info {
            SyscallInfo::Entry { nr, args, compat } => {
                let nr = nr.min(u32::MAX as u64) as u32;
                st.in_call = true;
                st.nr = nr;
                st.args = args;
                st.enter_ns = now;
                st.compat = compat;
                let idx = nr as usize;
                st.summary = None;
                // Arguments are described by the native table only.
                if !compat && idx < MAX_NR && self.recorded[idx] {
                    st.summary = summary::describe(
                        self.table.kinds[idx],
                        st.pid,
                        &args,
                        &mut Proc,
                        &mut self.fds,
                        self.redact,
                    );
                }
            }
            SyscallInfo::Exit { ret } => {
                // A call whose entry came before the seize is not counted, nor
                // the calls of a launched command before its exec (the agent's own code).
                let complete = st.in_call && !self.before_exec.contains(&st.pid);
                st.in_call = false;
                if complete {
                    self.finish(tid, ret, now);
                }
            }
            SyscallInfo::Other | SyscallInfo::NotInSyscall => {}
        }
        true
    }

    /// Counts a completed call and records it if the filter says so.
    fn finish(&mut self, tid: u32, ret: i64, now: u64) {
        let Some(st) = self.threads.get_mut(&tid) else {
            return;
        };
        let duration = now.saturating_sub(st.enter_ns);
        let idx = st.nr as usize;
        let (pid, nr, enter) = (st.pid, st.nr, st.enter_ns);
        let summary = st.summary.take().unwrap_or_default();
        let compat = st.compat;
        self.so_far.counted(now);
        if compat {
            if let Some(c) = self.compat_counts.get_mut(idx) {
                c.add(ret, duration);
            }
        } else if idx < MAX_NR {
            self.counts[idx].add(ret, duration);
            summary::apply_effect(self.table.effects[idx], pid, &st.args, ret, &mut self.fds);
        }
        // A 32-bit call is recorded when every call is (no --syscalls-filter:
        // the filter names native calls).
        let recorded = if compat {
            self.recorded.iter().all(|&r| r)
        } else {
            idx >= MAX_NR || self.recorded[idx]
        };
        if recorded {
            self.pending.push(Syscall {
                time_ns: enter,
                pid,
                tid,
                nr,
                duration_ns: duration,
                ret,
                summary,
                abi: if compat {
                    Arch::I386.name().into()
                } else {
                    String::new()
                },
            });
            if self.pending.len() >= BATCH {
                self.flush();
            }
        }
    }

    /// Starts tracking a thread the kernel attached for us (clone, fork, vfork).
    fn adopt(&mut self, tid: u32) {
        if self.threads.contains_key(&tid) {
            return;
        }
        let pid = tgid(tid).unwrap_or(tid);
        self.threads.insert(
            tid,
            ThreadState {
                pid,
                ..ThreadState::default()
            },
        );
        let now = monotonic_ns();
        if self.pids.insert(pid) {
            if let Ok(p) = procfs::describe_process(pid, now, self.redact) {
                self.flush();
                self.ctx.emit(p);
            }
        }
        if let Ok(t) = procfs::describe_thread(pid, tid, now) {
            self.ctx.emit(t);
        }
    }

    /// After exec the process has one thread, the leader; the thread that
    /// called exec (maybe another tid) continues as the leader.
    fn on_exec(&mut self, tid: u32) {
        let former = ptrace::event_msg(tid).map(|m| m as u32).unwrap_or(tid);
        if former != tid {
            if let Some(st) = self.threads.remove(&former) {
                self.threads.insert(tid, st);
            }
        }
        let pid = self.threads.get(&tid).map(|s| s.pid).unwrap_or(tid);
        self.before_exec.remove(&pid);
        self.fds.forget_process(pid);
        let now = monotonic_ns();
        if let Ok(p) = procfs::describe_process(pid, now, self.redact) {
            self.flush();
            self.ctx.emit(p);
        }
        // The thread is now the leader, with the new program's name.
        if let Ok(t) = procfs::describe_thread(pid, tid, now) {
            self.ctx.emit(t);
        }
    }

    fn gone(&mut self, tid: u32) {
        if let Some(st) = self.threads.remove(&tid) {
            self.flush();
            self.ctx.emit(Exit {
                time_ns: monotonic_ns(),
                pid: st.pid,
                tid,
            });
            if tid == st.pid {
                self.pids.remove(&st.pid);
                self.fds.forget_process(st.pid);
            }
        }
    }

    /// Stops every traced thread and detaches it, re-injecting a signal caught
    /// on the way. Threads born meanwhile are detached too. Gives up (with a
    /// warning) after `patience`; the kernel detaches the rest when the agent exits.
    pub fn detach_all(&mut self, patience: std::time::Duration) {
        if self.detached {
            return;
        }
        self.detached = true;
        let mut pending: HashSet<u32> = self.threads.keys().copied().collect();
        for &tid in &pending {
            let _ = ptrace::interrupt(tid);
        }
        // A frozen thread cannot stop to be detached until it is thawed:
        // waiting would only hold the capture's end. The kernel detaches it
        // when the agent exits, a moment after the capture is written.
        let proc = crate::host::proc::Proc::node();
        let hierarchies = proc.self_mountinfo();
        let frozen: Vec<u32> = pending
            .iter()
            .copied()
            .filter(|&tid| crate::freezer::task_frozen(&proc, &hierarchies, tid))
            .collect();
        if !frozen.is_empty() {
            for tid in &frozen {
                pending.remove(tid);
                self.threads.remove(tid);
            }
            self.ctx.warn(format!(
                "syscalls: {} thread(s) of the target are frozen and cannot stop to be detached; not waited for: the kernel releases them when the agent exits",
                frozen.len()
            ));
        }
        let start = std::time::Instant::now();
        let mut fallback_done = false;
        while !pending.is_empty() && start.elapsed() < patience {
            if !fallback_done && start.elapsed() >= FALLBACK_AFTER {
                // A stop whose report someone else consumed (a waitpid of another
                // thread of the agent) never reports again: detach it as it is.
                fallback_done = true;
                pending.retain(|&tid| {
                    let released = ptrace::detach(tid, 0).is_ok() || !procfs::pid_dir(tid).exists();
                    !released
                });
                continue;
            }
            let (tid, status) = match ptrace::wait_any() {
                Ok(Some(r)) => r,
                Ok(None) => continue, // woken by the ticker: look at the clock
                Err(_) => break,      // ECHILD: no tracee left
            };
            let stop = ptrace::decode(status);
            let sig = match stop {
                Stop::Gone => {
                    pending.remove(&tid);
                    self.gone(tid);
                    continue;
                }
                Stop::NewTask => {
                    if let Ok(new) = ptrace::event_msg(tid) {
                        pending.insert(new as u32);
                    }
                    0
                }
                Stop::Signal(sig) => sig,
                _ => 0,
            };
            // A thread in syscall entry would run its call untraced: fine.
            let _ = ptrace::detach(tid, sig);
            pending.remove(&tid);
            self.threads.remove(&tid);
        }
        if !pending.is_empty() {
            let mut left: Vec<u32> = pending.into_iter().collect();
            left.sort_unstable();
            self.ctx.warn(format!(
                "syscalls: {} thread(s) did not stop for detaching within {patience:?} ({left:?}); the kernel releases them when the agent exits",
                left.len()
            ));
        }
        self.threads.clear();
        self.follower.restore();
        self.flush();
    }

    /// The per-syscall totals, including calls the filter left unrecorded;
    /// 32-bit calls under the i386 ABI.
    pub fn totals(&self) -> Vec<SyscallTotal> {
        counts::totals(&self.table, &self.counts, &self.compat_counts)
    }

    /// Sends the pending Syscall records once the first returned
    /// [`crate::cadence::HOLD_NS`] ago: a tracer kept busy by its tracees
    /// (never idle in `waitpid`, so never woken to [`Tracer::flush`]) still
    /// sends its calls within the second.
    pub fn flush_due(&mut self, now: u64) {
        let first = self
            .pending
            .first()
            .map(|s| s.time_ns.saturating_add(s.duration_ns));
        if crate::cadence::must_send(first, now) {
            self.flush();
        }
        self.totals_due(now);
    }

    /// Sends the totals that changed ([`Record::SyscallTotalSoFar`]) once
    /// a call counted [`crate::cadence::HOLD_NS`] ago is not in them.
    pub fn totals_due(&mut self, now: u64) {
        if self.so_far.due(now) {
            for t in self.so_far.changed(self.totals()) {
                self.ctx.emit(Record::SyscallTotalSoFar(t));
            }
        }
    }

    /// Sends the pending Syscall records.
    pub fn flush(&mut self) {
        for record in self.pending.drain(..) {
            if !self.ctx.emit(record) {
                self.lost += 1;
            }
        }
    }

    pub fn lost(&self) -> u64 {
        self.lost
    }
}

impl Drop for Tracer {
    /// Whatever way the tracer ends (error, panic), no thread stays traced and stopped.
    fn drop(&mut self) {
        self.detach_all(std::time::Duration::from_secs(2));
    }
}

/// The thread-group id of a thread, from `/proc/TID/status`.
fn tgid(tid: u32) -> Option<u32> {
    ProcFs::node()
        .status(tid)
        .ok()
        .map(|s| s.tgid)
        .filter(|&t| t != 0)
}

/// Explains a failed seize with the fix.
fn seize_error(pid: u32, tid: u32, e: io::Error) -> anyhow::Error {
    if e.raw_os_error() == Some(libc::EPERM) {
        let tracer = ProcFs::node().status(tid).map_or(0, |s| s.tracer_pid);
        if tracer != 0 {
            return anyhow!(
                "cannot trace pid {pid} (thread {tid}): it is already traced by pid {tracer} (a debugger or strace); stop that tracer or record without --syscalls"
            );
        }
        return anyhow!(
            "cannot trace pid {pid} (thread {tid}): permission denied; run holter-agent as root or with CAP_SYS_PTRACE (in a container: --cap-add SYS_PTRACE), and check /proc/sys/kernel/yama/ptrace_scope"
        );
    }
    anyhow!("cannot trace pid {pid} (thread {tid}): ptrace(PTRACE_SEIZE): {e}")
}
