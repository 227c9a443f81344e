//! The one thin, unsafe module around `perf_event_open(2)`: the attribute
//! struct, the syscall, the ioctls and the mmap'ed ring buffer. Everything
//! that interprets bytes lives in [`super::parse`] and [`super::ring`].
//!
//! The raw syscall is used rather than the `perf-event-open` crate because the
//! agent needs the ring's raw bytes (its records are parsed by pure,
//! fixture-tested functions) and `PERF_FLAG_PID_CGROUP` with
//! `PERF_EVENT_IOC_SET_OUTPUT` on per-CPU buffers, which that crate hides.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, Ordering};

/// `struct perf_event_attr` up to `sig_data` (`PERF_ATTR_SIZE_VER7`, 128 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    /// `sample_period`, or `sample_freq` when the `freq` flag is set.
    pub sample_period_or_freq: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// The bit field (`disabled`, `inherit`, ...): see [`super::attr::flag`].
    pub flags: u64,
    /// `wakeup_events`, or `wakeup_watermark` (bytes) when the `watermark` flag is set.
    pub wakeup: u32,
    pub bp_type: u32,
    pub config1: u64,
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub reserved_2: u16,
    pub aux_sample_size: u32,
    pub reserved_3: u32,
    pub sig_data: u64,
}

pub const ATTR_SIZE: u32 = std::mem::size_of::<Attr>() as u32;
const _: () = assert!(ATTR_SIZE == 128);

/// `PERF_FLAG_FD_CLOEXEC`.
const FLAG_FD_CLOEXEC: u64 = 1 << 3;
/// `PERF_FLAG_PID_CGROUP`.
const FLAG_PID_CGROUP: u64 = 1 << 2;

const IOC_ENABLE: u64 = 0x2400;
const IOC_DISABLE: u64 = 0x2401;
const IOC_SET_OUTPUT: u64 = 0x2405;

/// Who an event watches.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    /// A thread (and, with `inherit`, what it starts).
    Task(u32),
    /// Every task of a cgroup v2 directory, by an open fd on it (per-CPU only).
    Cgroup(RawFd),
    /// Every task of the CPU (per-CPU only).
    AllTasks,
}

/// Opens one event. `cpu` is `None` for "any CPU" (task events only).
pub fn open(attr: &Attr, who: Who, cpu: Option<u32>) -> io::Result<OwnedFd> {
    let mut attr = *attr;
    attr.size = ATTR_SIZE;
    let (pid, extra) = match who {
        Who::Task(tid) => (tid as libc::c_long, 0),
        Who::Cgroup(fd) => (fd as libc::c_long, FLAG_PID_CGROUP),
        Who::AllTasks => (-1, 0),
    };
    let cpu = cpu.map_or(-1, |c| c as libc::c_long);
    // SAFETY: `attr` is a valid, fully initialized perf_event_attr of the size it declares.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const Attr,
            pid,
            cpu,
            -1 as libc::c_long,
            (FLAG_FD_CLOEXEC | extra) as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn ioctl(fd: &OwnedFd, request: u64, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the perf ioctls used here take an integer argument, not a pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn enable(fd: &OwnedFd) -> io::Result<()> {
    ioctl(fd, IOC_ENABLE, 0)
}

pub fn disable(fd: &OwnedFd) -> io::Result<()> {
    ioctl(fd, IOC_DISABLE, 0)
}

/// Sends the records of `fd` to the ring buffer of `output` (same CPU).
pub fn set_output(fd: &OwnedFd, output: &OwnedFd) -> io::Result<()> {
    ioctl(fd, IOC_SET_OUTPUT, output.as_raw_fd() as libc::c_ulong)
}

/// Reads a counting event with `read_format` 0.
pub fn read_count(fd: &OwnedFd) -> io::Result<u64> {
    let mut v = [0u8; 8];
    let n = nix::unistd::read(fd, &mut v).map_err(io::Error::from)?;
    if n != 8 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "short counter read",
        ));
    }
    Ok(u64::from_ne_bytes(v))
}

/// The mmap'ed ring buffer of one event: a metadata page, then `2^n` data pages.
pub struct Ring {
    base: *mut u8,
    len: usize,
    data_offset: usize,
    data_size: usize,
    pub fd: OwnedFd,
}

// SAFETY: the mapping is owned by this value and only read through &mut self.
unsafe impl Send for Ring {}

const HEAD_OFFSET: usize = 1024;
const TAIL_OFFSET: usize = 1032;
const DATA_OFFSET_OFFSET: usize = 1040;
const DATA_SIZE_OFFSET: usize = 1048;

impl Ring {
    /// Maps `data_pages` (a power of two) data pages of `fd`.
    pub fn map(fd: OwnedFd, data_pages: usize) -> io::Result<Ring> {
        let page = page_size();
        let len = (data_pages + 1) * page;
        // SAFETY: a shared read-write mapping of a perf fd, as perf_event_open(2) describes.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = base as *mut u8;
        // SAFETY: the metadata page is mapped and these fields are u64-aligned.
        let (off, size) = unsafe {
            (
                std::ptr::read_volatile(base.add(DATA_OFFSET_OFFSET) as *const u64) as usize,
                std::ptr::read_volatile(base.add(DATA_SIZE_OFFSET) as *const u64) as usize,
            )
        };
        let (data_offset, data_size) = if size == 0 {
            (page, data_pages * page) // kernels before 4.1
        } else {
            (off, size)
        };
        Ok(Ring {
            base,
            len,
            data_offset,
            data_size,
            fd,
        })
    }

    /// Calls `f` with the bytes written since the last call (up to two
    /// slices where they wrap), then frees that space for the kernel.
    pub fn consume<R>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> R) -> R {
        // SAFETY: head and tail are u64 fields of the mapped metadata page; the
        // data area is mapped for `data_size` bytes; the kernel does not write
        // between tail and head until the tail moves past them.
        unsafe {
            let head = std::ptr::read_volatile(self.base.add(HEAD_OFFSET) as *const u64);
            fence(Ordering::Acquire);
            let tail = std::ptr::read_volatile(self.base.add(TAIL_OFFSET) as *const u64);
            let data = std::slice::from_raw_parts(self.base.add(self.data_offset), self.data_size);
            let (a, b) = super::ring::pending(data, tail, head);
            let r = f(a, b);
            fence(Ordering::Release);
            std::ptr::write_volatile(self.base.add(TAIL_OFFSET) as *mut u64, head);
            r
        }
    }
}

/// One ring per CPU, each CPU's first event mapping it and its later events
/// writing into it (`PERF_EVENT_IOC_SET_OUTPUT`): what the sampler, the
/// off-CPU recorder and kernel-mode syscalls all open.
#[derive(Default)]
pub struct CpuRings {
    /// By CPU index.
    pub rings: Vec<Ring>,
    /// Events writing into another's ring, kept open.
    redirected: Vec<OwnedFd>,
}

impl CpuRings {
    /// Adds the event `fd` of CPU index `i`: the first one of a CPU maps
    /// its ring of `pages` data pages. CPU indexes get their first event in
    /// order (0, 1, ...).
    pub fn add(&mut self, i: usize, fd: OwnedFd, pages: usize) -> io::Result<()> {
        if let Some(ring) = self.rings.get(i) {
            set_output(&fd, &ring.fd)?;
            self.redirected.push(fd);
        } else if i == self.rings.len() {
            self.rings.push(Ring::map(fd, pages)?);
        } else {
            return Err(io::Error::other(format!(
                "cpu index {i} before index {}",
                self.rings.len()
            )));
        }
        Ok(())
    }

    /// Every event's fd (to enable or disable them).
    pub fn fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.rings
            .iter()
            .map(|r| &r.fd)
            .chain(self.redirected.iter())
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Raises the soft limit of open files to the hard one: a task target needs
/// one event per thread and CPU. Returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_ring_is_mapped_by_its_first_event_in_order() {
        // A CPU index past the next one is refused before any syscall (a
        // ring would otherwise be filed under the wrong CPU).
        let mut rings = CpuRings::default();
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let e = rings.add(1, fd, 1).unwrap_err();
        assert!(e.to_string().contains("cpu index 1"), "{e}");
        assert!(rings.rings.is_empty());
        assert_eq!(rings.fds().count(), 0);
    }
}
