//! The node's own files, and the header's description of the node.
//!
//! Files of the node the agent reads for itself (`/proc/kallsyms`,
//! `/sys/devices/system/cpu/online`, `/proc/sys/...`, a cgroup's
//! `cgroup.procs`) are kernel-made, but they are read the same way as the
//! container's: through a path descriptor, regular files only (a FIFO or
//! device planted where a path leads is refused, never opened), and capped
//! at [`MAX_NODE_FILE`].

use holter_format::{ClockPair, Host};

use super::open::{open_host, OpenError};

/// The most read of one of the node's files (`/proc/kallsyms`, the
/// largest, is some 10 MiB).
pub const MAX_NODE_FILE: u64 = 64 << 20;

/// One of the node's files: a regular file, at most [`MAX_NODE_FILE`] bytes
/// (a larger one is an error, not cut).
pub fn read(path: &str) -> Result<Vec<u8>, OpenError> {
    read_at_most(path, MAX_NODE_FILE)
}

/// [`read`] as text (invalid UTF-8 replaced).
pub fn read_text(path: &str) -> Result<String, OpenError> {
    read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn read_at_most(path: &str, max: u64) -> Result<Vec<u8>, OpenError> {
    open_host(std::path::Path::new(path))?.read_capped(max)
}

pub fn describe() -> Host {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Host {
        hostname: field(|u| u.nodename()),
        kernel_release: field(|u| u.release()),
        arch: std::env::consts::ARCH.to_string(),
        page_size: nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u64,
        boot_id: read_text("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
    }
}

pub fn clock_pair() -> ClockPair {
    ClockPair {
        monotonic_ns: crate::clock::monotonic_ns(),
        wall_ns: crate::clock::wall_ns(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_files_are_read_capped_and_regular_only() {
        let kallsyms = read_text("/proc/kallsyms").unwrap();
        assert!(
            kallsyms.lines().count() > 1000,
            "procfs files (size 0) are read whole"
        );
        assert!(!read_text("/sys/devices/system/cpu/online")
            .unwrap()
            .is_empty());
        let dir = std::env::temp_dir().join(format!("holter-node-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A FIFO where a file is expected: refused at once, never opened (no writer: open would block).
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = std::time::Instant::now();
        let e = read(fifo.to_str().unwrap()).unwrap_err();
        assert!(
            matches!(e, OpenError::NotRegular { kind: "FIFO", .. }),
            "{e}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert!(matches!(
            read("/dev/zero").unwrap_err(),
            OpenError::NotRegular { .. }
        ));
        // Larger than the cap: an error, not a cut file. A procfs file too.
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 4096]).unwrap();
        assert!(matches!(
            read_at_most(big.to_str().unwrap(), 4095).unwrap_err(),
            OpenError::TooLarge { max: 4095, .. }
        ));
        assert_eq!(
            read_at_most(big.to_str().unwrap(), 4096).unwrap().len(),
            4096
        );
        assert!(matches!(
            read_at_most("/proc/kallsyms", 4096).unwrap_err(),
            OpenError::TooLarge { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
