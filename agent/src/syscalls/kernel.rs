//! `--syscalls=kernel`: the `raw_syscalls:sys_enter`/`sys_exit` tracepoints
//! through `perf_event_open`, read from per-CPU rings (the sampler's ring
//! code), paired per thread in the agent ([`super::pair`]). The target never
//! stops: the kernel writes a record at each entry and exit.
//!
//! Who is traced: a cgroup2 directory by one event pair per CPU filtered by
//! the cgroup (`PERF_FLAG_PID_CGROUP`); anything else (pids, launched
//! commands, cgroup v1 directories) by per-task events on every CPU with
//! `inherit`, so threads and processes the target starts are followed, and a
//! v1 directory re-read for tasks that join it.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use holter_format::syscall_names::Arch;
use holter_format::{Record, Syscall};

use super::counts;
use super::pair::{self, Event, Layout, Pairer};
use super::summary::Table;
use super::tracefs::Tracefs;
use crate::clock::monotonic_ns;
use crate::collect::{Collector, Context, Ready};
use crate::sample::attr::flag;
use crate::sample::sys::{self, Attr, CpuRings, Ring, Who};
use crate::so_far::{LostSoFar, SyscallTotals};

/// Data pages per CPU ring: 2 MiB with 4 KiB pages, about 20,000 records
/// (one call is two records of 80 and 96 bytes).
const RING_PAGES: usize = 512;
/// Longest wait between two drains.
const POLL: Duration = Duration::from_millis(50);
/// Events younger than this at a drain wait for the next one: a thread that
/// moved CPU in a call has its entry in one ring and its exit in another,
/// and a record is stamped a moment before its ring shows it.
const SETTLE_NS: u64 = 20_000_000;
/// How often a cgroup v1 target's task list is read for newcomers.
const RESCAN: Duration = Duration::from_millis(250);
/// How often threads that exited inside a call are forgotten.
const SWEEP: Duration = Duration::from_secs(5);
/// Syscall records sent to the writer at once.
const BATCH: usize = 1024;

/// `PERF_TYPE_TRACEPOINT`.
const TYPE_TRACEPOINT: u32 = 2;
const SAMPLE_TYPE: u64 = crate::sample::attr::sample::TID
    | crate::sample::attr::sample::TIME
    | crate::sample::attr::sample::CPU
    | crate::sample::attr::sample::RAW;
const CLOCK_MONOTONIC: i32 = 1;

/// The attribute of one tracepoint event: every hit is a sample.
pub fn tracepoint_attr(id: u64, inherit: bool, on_exec: bool, watermark: u32) -> Attr {
    let mut flags = flag::DISABLED | flag::USE_CLOCKID | flag::WATERMARK;
    if inherit {
        flags |= flag::INHERIT;
    }
    if on_exec {
        flags |= flag::ENABLE_ON_EXEC;
    }
    Attr {
        type_: TYPE_TRACEPOINT,
        size: sys::ATTR_SIZE,
        config: id,
        sample_period_or_freq: 1,
        sample_type: SAMPLE_TYPE,
        flags,
        wakeup: watermark,
        clockid: CLOCK_MONOTONIC,
        ..Attr::default()
    }
}

/// The events of one capture: a ring per CPU, every other event redirected into it.
struct Events {
    cpus: Vec<u32>,
    rings: CpuRings,
    /// Threads with events of their own (their children inherit them).
    covered: HashSet<u32>,
    ids: [u64; 2],
    on_exec: bool,
    enabled: bool,
}

impl Events {
    fn new(layout: &Layout, on_exec: bool) -> Events {
        sys::raise_fd_limit();
        Events {
            cpus: crate::sample::cpus::online(),
            rings: CpuRings::default(),
            covered: HashSet::new(),
            ids: [layout.enter_id, layout.exit_id],
            on_exec,
            enabled: false,
        }
    }

    fn watermark() -> u32 {
        (RING_PAGES * sys::page_size() / 8) as u32
    }

    fn add(&mut self, i: usize, fd: OwnedFd) -> std::io::Result<()> {
        if self.enabled {
            sys::enable(&fd)?;
        }
        self.rings.add(i, fd, RING_PAGES)
    }

    /// Both tracepoints of one thread, on every CPU. `Ok(false)`: gone.
    fn add_task(&mut self, tid: u32) -> anyhow::Result<bool> {
        if self.covered.contains(&tid) {
            return Ok(true);
        }
        for i in 0..self.cpus.len() {
            for id in self.ids {
                let a = tracepoint_attr(id, true, self.on_exec, Self::watermark());
                let fd = match sys::open(&a, Who::Task(tid), Some(self.cpus[i])) {
                    Ok(fd) => fd,
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
                    Err(e) => return Err(open_error(e, &format!("thread {tid}"))),
                };
                self.add(i, fd)
                    .with_context(|| format!("the ring buffer of cpu {}", self.cpus[i]))?;
            }
        }
        self.covered.insert(tid);
        Ok(true)
    }

    /// Every thread of a process, re-listing until no new thread appears.
    fn add_process(&mut self, pid: u32) -> anyhow::Result<bool> {
        let mut any = false;
        let mut gone = HashSet::new();
        loop {
            let new: Vec<u32> = crate::procfs::threads(pid)
                .unwrap_or_default()
                .into_iter()
                .filter(|t| !self.covered.contains(t) && !gone.contains(t))
                .collect();
            if new.is_empty() {
                return Ok(any || self.covered.contains(&pid));
            }
            for tid in new {
                if self.add_task(tid)? {
                    any = true;
                } else {
                    gone.insert(tid);
                }
            }
        }
    }

    /// Every task of a cgroup2 directory, per CPU.
    fn add_cgroup_v2(&mut self, dir: &Path) -> anyhow::Result<()> {
        let file =
            std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
        for i in 0..self.cpus.len() {
            for id in self.ids {
                let a = tracepoint_attr(id, false, false, Self::watermark());
                let fd = sys::open(&a, Who::Cgroup(file.as_raw_fd()), Some(self.cpus[i]))
                    .map_err(|e| open_error(e, &format!("cgroup {}", dir.display())))?;
                self.add(i, fd)
                    .with_context(|| format!("the ring buffer of cpu {}", self.cpus[i]))?;
            }
        }
        Ok(())
    }

    fn enable(&mut self) {
        if self.on_exec {
            return; // the kernel enables them at the command's exec
        }
        self.enabled = true;
        for fd in self.fds() {
            let _ = sys::enable(fd);
        }
    }

    fn disable(&self) {
        for fd in self.fds() {
            let _ = sys::disable(fd);
        }
    }

    fn fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.rings.fds()
    }
}

fn open_error(e: std::io::Error, what: &str) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => anyhow::anyhow!(
            "perf_event_open of the raw_syscalls tracepoints on {what} was refused ({e}): --syscalls=kernel needs root (or CAP_PERFMON with CAP_SYS_PTRACE, and tracefs readable); or use --syscalls=ptrace"
        ),
        Some(libc::EMFILE) | Some(libc::ENFILE) => anyhow::anyhow!(
            "perf_event_open on {what}: out of file descriptors (two per thread and CPU; the limit is {}): raise it with `ulimit -n`, or record a cgroup2 directory (two per CPU)",
            sys::raise_fd_limit()
        ),
        _ => anyhow::anyhow!("perf_event_open of the raw_syscalls tracepoints on {what}: {e}"),
    }
}

pub struct KernelCollector;

impl Collector for KernelCollector {
    fn name(&self) -> &'static str {
        "syscalls"
    }

    fn run(self: Box<Self>, ctx: Context, ready: &mut Ready) -> anyhow::Result<()> {
        let arch = Arch::from_uname(std::env::consts::ARCH);
        let recorded = super::recorded_numbers(arch, ctx.settings.syscalls_filter.as_deref())?;
        let layout = {
            let fs = Tracefs::open()?;
            let enter = fs.tracepoint("raw_syscalls", "sys_enter")?;
            let exit = fs.tracepoint("raw_syscalls", "sys_exit")?;
            Layout::new(&enter, &exit).context(
                "raw_syscalls tracepoints of an unknown layout (fields id, args, ret); use --syscalls=ptrace",
            )?
            // tracefs unmounted here if the agent mounted it
        };
        let target = ctx.target.clone();
        let launched = target.kind == "command";
        let mut events = Events::new(&layout, launched);
        let v1 = match &target.cgroup_dir {
            Some(dir) if crate::sample::open::is_cgroup2(dir) => {
                events.add_cgroup_v2(dir)?;
                None
            }
            other => {
                let mut any = false;
                for pid in target.current_pids() {
                    if pid != std::process::id() {
                        any |= events.add_process(pid)?;
                    }
                }
                if !any && other.is_none() {
                    bail!("the target exited before its syscalls could be traced");
                }
                other.clone()
            }
        };
        events.enable();
        ready.ok();

        let mut reader = Reader::new(ctx.clone(), layout, Pairer::new(Table::new(arch), recorded));
        // Described from /proc when first seen; a launched command is not
        // yet: before exec it is still a copy of the agent, and its first
        // event comes after exec (the events start on exec).
        if !launched {
            for pid in target.current_pids() {
                reader.known.insert(pid);
            }
        }
        let mut last_rescan = Instant::now();
        let mut last_sweep = Instant::now();
        loop {
            let stopping = ctx.stopping();
            if stopping {
                events.disable();
            } else {
                wait(&events.rings.rings);
            }
            reader.drain(&mut events.rings.rings, stopping);
            if stopping {
                break;
            }
            if let Some(dir) = &v1 {
                if last_rescan.elapsed() >= RESCAN {
                    last_rescan = Instant::now();
                    rescan_v1(&ctx, dir, &mut events);
                }
            }
            if last_sweep.elapsed() >= SWEEP {
                last_sweep = Instant::now();
                let alive = |tid: u32| crate::procfs::pid_dir(tid).exists();
                reader.pairer.sweep(alive);
                // Bounded by the live threads: a gone tid is described again
                // if it is ever reused.
                reader.threads.retain(|&tid| alive(tid));
            }
        }
        reader.flush();
        let totals = counts::totals(reader.pairer.table(), &reader.pairer.counts, &[]);
        for t in totals {
            ctx.emit(t);
        }
        // What was lost and not yet said (the kernel's drops since last
        // sent, records the writer did not take).
        let lost = reader.lost_events + reader.unsent;
        if let Some(l) = reader.lost_so_far.delta(lost, monotonic_ns()) {
            ctx.emit(l);
        }
        if reader.lost_events > 0 {
            ctx.warn(format!(
                "syscalls: the kernel dropped {} tracepoint records (rings full): calls around them are missing from counts and latencies",
                reader.lost_events
            ));
        }
        Ok(())
    }
}

/// Turns ring bytes into records, on one timeline across CPUs.
struct Reader {
    ctx: Context,
    layout: Layout,
    pairer: Pairer,
    /// Events read but younger than [`SETTLE_NS`] at the last drain.
    held: Vec<Event>,
    scratch: Vec<u8>,
    pending: Vec<Syscall>,
    lost_events: u64,
    /// Records the writer did not take (it has gone).
    unsent: u64,
    /// The totals and losses sent while recorded.
    so_far: SyscallTotals,
    lost_so_far: LostSoFar,
    /// Processes already described (the target's at start, then newcomers).
    known: HashSet<u32>,
    threads: HashSet<u32>,
}

impl Reader {
    fn new(ctx: Context, layout: Layout, pairer: Pairer) -> Reader {
        Reader {
            ctx,
            layout,
            pairer,
            held: Vec::new(),
            scratch: Vec::new(),
            pending: Vec::with_capacity(BATCH),
            lost_events: 0,
            unsent: 0,
            so_far: SyscallTotals::default(),
            lost_so_far: LostSoFar::new("syscalls"),
            known: HashSet::new(),
            threads: HashSet::new(),
        }
    }

    fn drain(&mut self, rings: &mut [Ring], all: bool) {
        let horizon = monotonic_ns().saturating_sub(SETTLE_NS);
        let lost_before = self.lost_events;
        let (layout, held, scratch, lost) = (
            &self.layout,
            &mut self.held,
            &mut self.scratch,
            &mut self.lost_events,
        );
        for ring in rings.iter_mut() {
            ring.consume(|a, b| {
                crate::sample::ring::for_each_record(a, b, scratch, |h, bytes| match h.type_ {
                    pair::RECORD_SAMPLE => {
                        if let Some(e) = pair::parse_sample(bytes, layout) {
                            held.push(e);
                        }
                    }
                    pair::RECORD_LOST => *lost += pair::parse_lost(bytes).unwrap_or(0),
                    _ => {}
                })
            });
        }
        held.sort_by_key(Event::time);
        let ready = if all {
            held.len()
        } else {
            held.partition_point(|e| e.time() <= horizon)
        };
        let now: Vec<Event> = held.drain(..ready).collect();
        if self.lost_events > lost_before {
            // Sent with the totals, as old as the oldest event held.
            self.so_far.counted(horizon);
        }
        for e in now {
            if let Event::Exit { .. } = e {
                self.so_far.counted(e.time());
            }
            let (Event::Enter { pid, tid, .. } | Event::Exit { pid, tid, .. }) = e;
            self.describe(pid, tid);
            if let Some(s) = self.pairer.handle(e) {
                self.pending.push(s);
                if self.pending.len() >= BATCH {
                    self.flush();
                }
            }
        }
        self.flush();
        self.totals_due(monotonic_ns());
    }

    /// Sends the totals that changed ([`Record::SyscallTotalSoFar`]) and
    /// the events the kernel dropped since last sent, once a call counted
    /// (or a loss seen) [`crate::cadence::HOLD_NS`] ago is not in them.
    fn totals_due(&mut self, now: u64) {
        if !self.so_far.due(now) {
            return;
        }
        let totals = counts::totals(self.pairer.table(), &self.pairer.counts, &[]);
        for t in self.so_far.changed(totals) {
            self.send(Record::SyscallTotalSoFar(t));
        }
        if let Some(l) = self.lost_so_far.delta(self.lost_events, now) {
            self.send(l.into());
        }
    }

    /// Process and Thread records for tasks first seen in the events.
    fn describe(&mut self, pid: u32, tid: u32) {
        if !self.threads.insert(tid) {
            return;
        }
        let now = monotonic_ns();
        let redact = self.ctx.settings.redact;
        if self.known.insert(pid) {
            if let Ok(p) = crate::procfs::describe_process(pid, now, redact) {
                self.flush();
                self.send(p.into());
            }
        }
        if let Ok(t) = crate::procfs::describe_thread(pid, tid, now) {
            self.flush();
            self.send(t.into());
        }
    }

    fn send(&mut self, r: Record) {
        if !self.ctx.emit(r) {
            self.unsent += 1;
        }
    }

    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for s in pending {
            self.send(s.into());
        }
    }
}

/// Sleeps until a ring passes its watermark or [`POLL`] passes.
fn wait(rings: &[Ring]) {
    let mut fds: Vec<libc::pollfd> = rings
        .iter()
        .map(|r| libc::pollfd {
            fd: r.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if fds.is_empty() {
        std::thread::sleep(POLL);
        return;
    }
    // SAFETY: `fds` is a valid array of pollfd for its length.
    let n = unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            POLL.as_millis() as i32,
        )
    };
    // Every event hung up (the tasks are gone): do not spin.
    if n > 0 && fds.iter().all(|p| p.revents & libc::POLLHUP != 0) {
        std::thread::sleep(POLL);
    }
}

/// Opens events on the tasks that joined a cgroup v1 directory (processes
/// forked by followed tasks already inherited theirs).
fn rescan_v1(ctx: &Context, dir: &Path, events: &mut Events) {
    let Ok(pids) = crate::target::cgroup_procs(dir) else {
        return;
    };
    for pid in pids {
        if events.covered.contains(&pid) || pid == std::process::id() {
            continue;
        }
        if crate::sample::has_followed_ancestor(pid, &events.covered) {
            events.covered.insert(pid);
            continue;
        }
        if let Err(e) = events.add_process(pid) {
            ctx.warn(format!("syscalls: {e:#}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoint_attr_samples_every_hit_with_raw_data() {
        let a = tracepoint_attr(443, true, true, 4096);
        assert_eq!((a.type_, a.config, a.sample_period_or_freq), (2, 443, 1));
        assert_eq!(a.sample_type, 0x2 | 0x4 | 0x80 | 0x400);
        for bit in [
            flag::DISABLED,
            flag::INHERIT,
            flag::ENABLE_ON_EXEC,
            flag::USE_CLOCKID,
            flag::WATERMARK,
        ] {
            assert_ne!(a.flags & bit, 0, "{bit:#x}");
        }
        assert_eq!(a.flags & flag::FREQ, 0);
        assert_eq!(a.clockid, CLOCK_MONOTONIC);
        let c = tracepoint_attr(442, false, false, 1);
        assert_eq!(c.flags & (flag::INHERIT | flag::ENABLE_ON_EXEC), 0);
    }
}
