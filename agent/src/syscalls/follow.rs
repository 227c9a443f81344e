//! Keeping the tracer on the CPU its tracee last ran on.
//!
//! Every syscall stop is a round trip tracee → tracer → tracee; across CPUs
//! each trip pays two cross-CPU wake-ups, several times dearer than on one
//! CPU. So, every few milliseconds, the tracer moves itself to the CPU of the
//! tracee that stopped last (`/proc/TID/stat` field 39). The tracee's own
//! affinity is never changed.

use std::mem;

use crate::clock::monotonic_ns;
use crate::host::proc::Proc;

/// How often the tracer looks where its tracee runs.
const CHECK_EVERY_NS: u64 = 2_000_000;

pub struct Follower {
    enabled: bool,
    /// The tracer's affinity at start, restored at the end.
    original: Option<libc::cpu_set_t>,
    current: Option<usize>,
    last_check: u64,
    /// Where `/proc/TID/stat` is read (the host layer).
    proc: Proc,
    buf: Vec<u8>,
}

impl Follower {
    pub fn new(enabled: bool) -> Follower {
        let original = enabled.then(get_affinity).flatten();
        Follower {
            enabled: enabled && original.is_some(),
            original,
            current: None,
            last_check: 0,
            proc: Proc::node(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// Called at a syscall stop of `tid`.
    pub fn on_stop(&mut self, tid: u32) {
        if !self.enabled {
            return;
        }
        let now = monotonic_ns();
        if now.saturating_sub(self.last_check) < CHECK_EVERY_NS {
            return;
        }
        self.last_check = now;
        let Some(cpu) = self.last_cpu(tid) else {
            return;
        };
        if Some(cpu) == self.current {
            return;
        }
        let Some(original) = &self.original else {
            return;
        };
        // SAFETY: reading a bit of a valid cpu_set_t.
        if cpu >= libc::CPU_SETSIZE as usize || !unsafe { libc::CPU_ISSET(cpu, original) } {
            return;
        }
        // SAFETY: a zeroed cpu_set_t with one bit set, for this thread.
        unsafe {
            let mut set: libc::cpu_set_t = mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                self.current = Some(cpu);
            }
        }
    }

    fn last_cpu(&mut self, tid: u32) -> Option<usize> {
        self.proc.last_cpu(tid, &mut self.buf)
    }

    /// Gives the tracer back its original affinity.
    pub fn restore(&mut self) {
        if let (Some(original), Some(_)) = (&self.original, self.current.take()) {
            // SAFETY: restoring a mask read from the kernel.
            unsafe {
                libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), original);
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.restore();
    }
}

fn get_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: the kernel fills a zeroed cpu_set_t of the given size.
    unsafe {
        let mut set: libc::cpu_set_t = mem::zeroed();
        (libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::procfs::parse_processor;

    #[test]
    fn last_cpu_is_read_through_the_host_layer() {
        let dir = std::env::temp_dir().join(format!("holter-follow-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("77")).unwrap();
        // Fields 3.. after the comm; field 39 (the 37th of them) is 3.
        let mut fields = vec!["0"; 50];
        fields[0] = "S";
        fields[36] = "3";
        std::fs::write(
            dir.join("77/stat"),
            format!("77 (a b) {}", fields.join(" ")),
        )
        .unwrap();
        let mut buf = Vec::new();
        let proc = Proc::at(&dir);
        assert_eq!(proc.last_cpu(77, &mut buf), Some(3));
        assert_eq!(proc.last_cpu(78, &mut buf), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn processor_field() {
        let line = b"4242 (a) b) c) R 1 4242 4242 0 -1 4194304 91 0 0 0 0 0 0 0 20 0 1 0 1234 5 6 7 8 9 10 11 12 13 14 15 16 17 0 0 0 1 0 0 0 0 0";
        assert_eq!(parse_processor(line), Some(1));
        assert_eq!(parse_processor(b"garbage"), None);
        let me = std::fs::read(format!("/proc/{}/stat", std::process::id())).unwrap();
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert!(parse_processor(&me).unwrap() < cpus.max(1024));
    }
}
