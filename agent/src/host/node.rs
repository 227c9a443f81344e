//! The header's description of the node.

use holter_format::{ClockPair, Host};

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
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
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
