//! Arming perf events on a target: per-CPU rings, and per-task events
//! (with `inherit`, so children are followed) or per-CPU cgroup events.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::attr::{self, Event, Start};
use super::sys::{self, Attr, CpuRings, Who};

/// Data pages per CPU ring (256 KiB with 4 KiB pages).
const RING_PAGES: usize = 64;
/// With stack copies (each sample carries kilobytes) the rings of all CPUs
/// share [`RING_BYTES_DWARF`]: 4 MiB per CPU on up to 4 CPUs (250 ms of
/// 16 KiB samples at 999 Hz), never less than 512 KiB per CPU.
const RING_BYTES_DWARF: usize = 16 << 20;
const RING_PAGES_DWARF_MAX: usize = 1024;
const RING_PAGES_DWARF_MIN: usize = 128;

/// Data pages per CPU ring in DWARF mode for `cpus` CPUs: a power of two.
pub fn ring_pages_dwarf(cpus: usize, page: usize) -> usize {
    let pages = RING_BYTES_DWARF / cpus.max(1) / page.max(1);
    let pow2 = if pages == 0 { 1 } else { 1 << pages.ilog2() };
    pow2.clamp(RING_PAGES_DWARF_MIN, RING_PAGES_DWARF_MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("perf_event_open was refused ({cause}): recording CPU samples needs root, or CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8) with CAP_SYS_PTRACE to follow other users' processes; or a lower /proc/sys/kernel/perf_event_paranoid (now {paranoid}; e.g. `sysctl kernel.perf_event_paranoid=1`). Or record without samples: --no-samples")]
    Permission { cause: io::Error, paranoid: String },
    #[error("perf_event_open on {what}: {cause}")]
    Other { what: String, cause: io::Error },
}

fn classify(e: io::Error, what: impl FnOnce() -> String) -> OpenError {
    match e.raw_os_error() {
        Some(libc::EMFILE) | Some(libc::ENFILE) => OpenError::Other {
            what: format!(
                "{}: out of file descriptors (one event per thread and CPU; the limit is {}: raise it with `ulimit -n` or record a cgroup2 directory, which needs one per CPU)",
                what(),
                sys::raise_fd_limit()
            ),
            cause: e,
        },
        Some(libc::EACCES) | Some(libc::EPERM) => OpenError::Permission {
            cause: e,
            paranoid: crate::host::node::read_text("/proc/sys/kernel/perf_event_paranoid")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        },
        _ => OpenError::Other {
            what: what(),
            cause: e,
        },
    }
}

/// The events of one capture.
pub struct Armed {
    pub cpus: Vec<u32>,
    /// One ring per CPU, in the order of `cpus`.
    pub rings: CpuRings,
    counters: Vec<(&'static str, OwnedFd)>,
    /// Threads with events of their own (their children inherit them).
    pub covered: HashSet<u32>,
    event: Event,
    hz: u32,
    start: Start,
    pmu: bool,
    /// Set by [`Armed::enable`]: events opened later start at once.
    enabled: bool,
    /// Bytes of user stack each sample copies (DWARF unwinding), if any.
    stack_bytes: Option<u32>,
    /// The kernel refused `build_id` in MMAP2 records (before Linux 5.12):
    /// they carry device and inode, and the agent reads build-ids itself.
    no_build_id: bool,
    /// `--off-cpu`: the switch-out events, opened beside each sampling event.
    pub off_cpu: Option<SwitchOut>,
}

/// The `sched_switch` events of the target's threads leaving a CPU
/// ([`crate::offcpu`]): a ring per CPU, in the order of [`Armed::cpus`].
pub struct SwitchOut {
    pub layout: crate::offcpu::sched::Layout,
    pub rings: CpuRings,
}

impl Armed {
    pub fn new(event: Event, hz: u32, start: Start, stack_bytes: Option<u32>) -> Self {
        sys::raise_fd_limit();
        Armed {
            cpus: super::cpus::online(),
            rings: CpuRings::default(),
            counters: Vec::new(),
            covered: HashSet::new(),
            event,
            hz,
            start,
            pmu: event == Event::Cycles,
            enabled: false,
            stack_bytes,
            no_build_id: false,
            off_cpu: None,
        }
    }

    /// Opens a switch-out event beside every sampling event from now on.
    pub fn with_off_cpu(&mut self, layout: crate::offcpu::sched::Layout) {
        self.off_cpu = Some(SwitchOut {
            layout,
            rings: CpuRings::default(),
        });
    }

    /// The sample type of the switch-out events.
    pub fn switch_out_type(&self) -> u64 {
        crate::offcpu::switch_out_type(self.sample_type())
    }

    /// With `--off-cpu`: the switch-out event of `who` on `cpus[i]`.
    fn add_switch_out(
        &mut self,
        i: usize,
        who: Who,
        inherit: bool,
        sampling: &Attr,
    ) -> io::Result<()> {
        let (pages, watermark, start, enabled) = (
            self.ring_pages(),
            self.watermark(),
            self.start,
            self.enabled,
        );
        let Some(so) = &mut self.off_cpu else {
            return Ok(());
        };
        let a = crate::offcpu::switch_out_attr(&so.layout, inherit, start, watermark, sampling);
        let fd = sys::open(&a, who, Some(self.cpus[i]))?;
        if enabled {
            sys::enable(&fd)?;
        }
        so.rings.add(i, fd, pages)
    }

    fn ring_pages(&self) -> usize {
        if self.stack_bytes.is_some() {
            ring_pages_dwarf(self.cpus.len(), sys::page_size())
        } else {
            RING_PAGES
        }
    }

    fn watermark(&self) -> u32 {
        (self.ring_pages() * sys::page_size() / 4) as u32
    }

    /// The sample type of the events (what [`super::parse::parse`] reads).
    pub fn sample_type(&self) -> u64 {
        if self.stack_bytes.is_some() {
            attr::SAMPLE_TYPE_DWARF
        } else {
            attr::SAMPLE_TYPE
        }
    }

    /// Opens a sampling event, without build-ids in MMAP2 where the kernel has none.
    fn open_sampling(&mut self, mut a: Attr, who: Who, cpu: u32) -> io::Result<OwnedFd> {
        if self.no_build_id {
            a.flags &= !attr::flag::BUILD_ID;
        }
        match sys::open(&a, who, Some(cpu)) {
            Err(e)
                if e.raw_os_error() == Some(libc::EINVAL)
                    && a.flags & attr::flag::BUILD_ID != 0 =>
            {
                a.flags &= !attr::flag::BUILD_ID;
                let fd = sys::open(&a, who, Some(cpu))?;
                self.no_build_id = true;
                Ok(fd)
            }
            other => other,
        }
    }

    /// Adds one sampling event for `cpus[i]`: the first one of a CPU gets the ring.
    fn add_sampling(&mut self, i: usize, fd: OwnedFd) -> io::Result<()> {
        if self.enabled {
            sys::enable(&fd)?;
        }
        let pages = self.ring_pages();
        self.rings.add(i, fd, pages)
    }

    /// Opens events on one thread: per CPU for samples, any CPU for counters.
    /// `Ok(false)` when the thread has already gone.
    pub fn add_task(&mut self, tid: u32) -> Result<bool, OpenError> {
        if self.covered.contains(&tid) {
            return Ok(true);
        }
        let a = attr::sampling(
            self.event,
            self.hz,
            true,
            self.start,
            true,
            self.watermark(),
            self.stack_bytes,
        );
        for i in 0..self.cpus.len() {
            let cpu = self.cpus[i];
            let fd = match self.open_sampling(a, Who::Task(tid), cpu) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
                Err(e) => return Err(classify(e, || format!("thread {tid}, cpu {cpu}"))),
            };
            self.add_sampling(i, fd)
                .map_err(|e| classify(e, || format!("the ring buffer of cpu {cpu}")))?;
            match self.add_switch_out(i, Who::Task(tid), true, &a) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
                Err(e) => {
                    return Err(classify(e, || {
                        format!("sched_switch of thread {tid}, cpu {cpu}")
                    }))
                }
                Ok(()) => {}
            }
        }
        for c in attr::counters(self.pmu) {
            if let Ok(fd) = sys::open(&attr::counting(c, true, self.start), Who::Task(tid), None) {
                if self.enabled {
                    let _ = sys::enable(&fd);
                }
                self.counters.push((c.name, fd));
            }
        }
        self.covered.insert(tid);
        Ok(true)
    }

    /// Every thread of a process, re-listing until no new thread appears.
    /// Before a re-list, `settle` reads the rings, so that threads that
    /// inherited events from one already followed (their FORK records) are
    /// in `covered` and get no second set. `Ok(false)` when the process has gone.
    pub fn add_process(
        &mut self,
        pid: u32,
        settle: &mut dyn FnMut(&mut Armed),
    ) -> Result<bool, OpenError> {
        let mut gone = HashSet::new();
        let mut first = true;
        // A main thread gone by pthread_exit takes no events; its threads do.
        let mut any = false;
        loop {
            let fresh = |armed: &Armed, gone: &HashSet<u32>| -> Vec<u32> {
                crate::procfs::threads(pid)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| !armed.covered.contains(t) && !gone.contains(t))
                    .collect()
            };
            let mut new = fresh(self, &gone);
            if !new.is_empty() && !first {
                settle(self);
                new = fresh(self, &gone);
            }
            first = false;
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

    /// Every task of a cgroup v2 directory, per CPU.
    pub fn add_cgroup_v2(&mut self, dir: &Path) -> Result<(), OpenError> {
        let file = std::fs::File::open(dir).map_err(|e| OpenError::Other {
            what: dir.display().to_string(),
            cause: e,
        })?;
        let cg = Who::Cgroup(file.as_raw_fd());
        for i in 0..self.cpus.len() {
            let cpu = self.cpus[i];
            let a = attr::sampling(
                self.event,
                self.hz,
                false,
                self.start,
                true,
                self.watermark(),
                self.stack_bytes,
            );
            let fd = self
                .open_sampling(a, cg, cpu)
                .map_err(|e| classify(e, || format!("cgroup {}, cpu {cpu}", dir.display())))?;
            self.add_sampling(i, fd)
                .map_err(|e| classify(e, || format!("the ring buffer of cpu {cpu}")))?;
            self.add_switch_out(i, cg, false, &a).map_err(|e| {
                classify(e, || {
                    format!("sched_switch of cgroup {}, cpu {cpu}", dir.display())
                })
            })?;
            for c in attr::counters(self.pmu) {
                if let Ok(fd) = sys::open(&attr::counting(c, false, self.start), cg, Some(cpu)) {
                    self.counters.push((c.name, fd));
                }
            }
        }
        Ok(())
    }

    /// Starts every event (for [`Start::Disabled`]; exec starts the others),
    /// and those opened from now on.
    pub fn enable(&mut self) {
        if self.start == Start::OnExec {
            return;
        }
        self.enabled = true;
        for fd in self.all_fds() {
            let _ = sys::enable(fd);
        }
    }

    pub fn disable(&self) {
        for fd in self.all_fds() {
            let _ = sys::disable(fd);
        }
    }

    fn all_fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.rings
            .fds()
            .chain(self.counters.iter().map(|(_, fd)| fd))
            .chain(self.off_cpu.iter().flat_map(|s| s.rings.fds()))
    }

    /// Counter totals by name, in the order of [`attr::counters`].
    pub fn counts(&self) -> Vec<(String, u64)> {
        attr::counters(self.pmu)
            .iter()
            .map(|c| {
                let total = self
                    .counters
                    .iter()
                    .filter(|(n, _)| *n == c.name)
                    .filter_map(|(_, fd)| sys::read_count(fd).ok())
                    .sum();
                (c.name.to_string(), total)
            })
            .collect()
    }
}

/// Whether a directory is on a cgroup2 file system.
pub fn is_cgroup2(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// `cycles` where a PMU accepts it, else `cpu-clock`.
pub fn probe_event() -> Event {
    match sys::open(&attr::probe_cycles(), Who::Task(0), None) {
        Ok(_) => Event::Cycles,
        Err(_) => Event::CpuClock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dwarf_rings_share_a_budget() {
        assert_eq!(ring_pages_dwarf(2, 4096), 1024);
        assert_eq!(ring_pages_dwarf(4, 4096), 1024);
        assert_eq!(ring_pages_dwarf(8, 4096), 512);
        assert_eq!(ring_pages_dwarf(6, 4096), 512);
        assert_eq!(ring_pages_dwarf(64, 4096), 128);
        assert_eq!(ring_pages_dwarf(0, 4096), 1024);
        assert_eq!(ring_pages_dwarf(2, 65536), 128);
    }
}
