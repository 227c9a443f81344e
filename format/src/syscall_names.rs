//! Syscall and errno names, per architecture, as `strace` prints them.
//!
//! The tables (`syscall_tables.rs`) are generated from the kernel UAPI headers
//! by `scripts/gen-syscall-tables.sh`; this module only looks them up.

use crate::syscall_tables::{AARCH64, ERRNO, I386, X86_64};

/// The architectures whose syscall numbers holter can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    /// The 32-bit x86 numbering: what `int 0x80` calls of x86_64 processes use.
    I386,
}

impl Arch {
    /// From `uname -m` (as written in the capture header); `None` for an unknown one.
    pub fn from_uname(machine: &str) -> Option<Arch> {
        match machine {
            "x86_64" | "amd64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            "i386" | "i686" => Some(Arch::I386),
            _ => None,
        }
    }

    /// The name of the syscall ABI as captures write it (`SyscallTotal::abi`, `Syscall::abi`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::I386 => "i386",
        }
    }

    fn table(self) -> &'static [(u32, &'static str)] {
        match self {
            Arch::X86_64 => X86_64,
            Arch::Aarch64 => AARCH64,
            Arch::I386 => I386,
        }
    }
}

fn lookup(table: &'static [(u32, &'static str)], n: u32) -> Option<&'static str> {
    table
        .binary_search_by_key(&n, |&(nr, _)| nr)
        .ok()
        .map(|i| table[i].1)
}

/// The name of syscall `nr` on `arch`, if it has one.
pub fn syscall_name(arch: Arch, nr: u32) -> Option<&'static str> {
    lookup(arch.table(), nr)
}

/// The number of the syscall called `name` on `arch`.
pub fn syscall_number(arch: Arch, name: &str) -> Option<u32> {
    arch.table()
        .iter()
        .find(|&&(_, n)| n == name)
        .map(|&(nr, _)| nr)
}

/// Every (number, name) of `arch`, sorted by number.
pub fn syscalls(arch: Arch) -> &'static [(u32, &'static str)] {
    arch.table()
}

/// A display name for any number: the name, or `syscall_NNN` as strace writes unknown ones.
pub fn syscall_display(arch: Option<Arch>, nr: u32) -> String {
    match arch.and_then(|a| syscall_name(a, nr)) {
        Some(name) => name.to_string(),
        None => format!("syscall_{nr}"),
    }
}

/// The symbolic name of a positive errno value (`2` → `ENOENT`), including the
/// kernel-internal restart codes a tracer can see on an interrupted call.
pub fn errno_name(errno: u32) -> Option<&'static str> {
    lookup(ERRNO, errno).or(match errno {
        512 => Some("ERESTARTSYS"),
        513 => Some("ERESTARTNOINTR"),
        514 => Some("ERESTARTNOHAND"),
        515 => Some("ENOIOCTLCMD"),
        516 => Some("ERESTART_RESTARTBLOCK"),
        _ => None,
    })
}

/// The errno of a raw syscall return value: `-4095..=-1` is `-errno`, anything else a success.
pub fn errno_of(ret: i64) -> Option<u32> {
    (-4095..=-1).contains(&ret).then(|| (-ret) as u32)
}

/// Calls that take a file name (the `file` class of `--syscalls-filter`).
const FILE_CLASS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "execve",
    "execveat",
    "chdir",
    "chroot",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "fchownat",
    "truncate",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
    "mknod",
    "mknodat",
    "statfs",
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "setxattr",
    "lsetxattr",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "removexattr",
    "lremovexattr",
    "name_to_handle_at",
    "inotify_add_watch",
    "fanotify_mark",
    "quotactl",
    "pivot_root",
    "acct",
    "uselib",
];

/// Socket calls (the `network` class).
const NETWORK_CLASS: &[&str] = &[
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "setsockopt",
    "getsockopt",
    "shutdown",
];

/// Process lifecycle calls (the `process` class).
const PROCESS_CLASS: &[&str] = &[
    "fork",
    "vfork",
    "clone",
    "clone3",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_open",
    "pidfd_send_signal",
    "unshare",
    "setns",
];

/// The names of a class of `--syscalls-filter` (`file`, `network`, `process`).
pub fn class_members(class: &str) -> Option<&'static [&'static str]> {
    match class {
        "file" => Some(FILE_CLASS),
        "network" => Some(NETWORK_CLASS),
        "process" => Some(PROCESS_CLASS),
        _ => None,
    }
}

/// Parses `--syscalls-filter`: comma-separated names or classes, into the sorted
/// numbers they stand for on `arch`. A name that does not exist on `arch` is an error
/// naming it; a class keeps only the members `arch` has.
pub fn parse_filter(arch: Arch, list: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(members) = class_members(item) {
            out.extend(members.iter().filter_map(|n| syscall_number(arch, n)));
        } else if let Some(nr) = syscall_number(arch, item) {
            out.push(nr);
        } else {
            return Err(format!(
                "--syscalls-filter: `{item}` is neither a syscall of {arch:?} nor a class (file, network, process)"
            ));
        }
    }
    if out.is_empty() {
        return Err(
            "--syscalls-filter: the list is empty (give names or classes, e.g. openat,file)".into(),
        );
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_numbers_match_the_abi() {
        let a = Arch::X86_64;
        assert_eq!(syscall_name(a, 0), Some("read"));
        assert_eq!(syscall_name(a, 1), Some("write"));
        assert_eq!(syscall_name(a, 35), Some("nanosleep"));
        assert_eq!(syscall_name(a, 39), Some("getpid"));
        assert_eq!(syscall_name(a, 59), Some("execve"));
        assert_eq!(syscall_name(a, 257), Some("openat"));
        assert_eq!(syscall_name(a, 435), Some("clone3"));
        assert_eq!(syscall_name(a, 451), Some("cachestat"));
        assert_eq!(syscall_name(a, 400), None);
        assert_eq!(syscall_number(a, "openat"), Some(257));
        assert_eq!(syscall_number(a, "no_such_call"), None);
    }

    #[test]
    fn aarch64_uses_the_generic_table() {
        let a = Arch::Aarch64;
        assert_eq!(syscall_name(a, 56), Some("openat"));
        assert_eq!(syscall_name(a, 63), Some("read"));
        assert_eq!(syscall_name(a, 79), Some("newfstatat"));
        assert_eq!(syscall_name(a, 101), Some("nanosleep"));
        assert_eq!(syscall_name(a, 172), Some("getpid"));
        assert_eq!(syscall_name(a, 221), Some("execve"));
        assert_eq!(syscall_number(a, "clone"), Some(220));
        // aarch64 has no open(2) nor stat(2).
        assert_eq!(syscall_number(a, "open"), None);
        assert_eq!(syscall_number(a, "stat"), None);
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [X86_64, AARCH64, ERRNO] {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0));
            let mut names: Vec<&str> = table.iter().map(|e| e.1).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.len());
        }
    }

    #[test]
    fn errnos() {
        assert_eq!(errno_name(1), Some("EPERM"));
        assert_eq!(errno_name(2), Some("ENOENT"));
        assert_eq!(errno_name(11), Some("EAGAIN"));
        assert_eq!(errno_name(110), Some("ETIMEDOUT"));
        assert_eq!(errno_name(512), Some("ERESTARTSYS"));
        assert_eq!(errno_name(4000), None);
        assert_eq!(errno_of(-2), Some(2));
        assert_eq!(errno_of(0), None);
        assert_eq!(errno_of(-4096), None);
        assert_eq!(errno_of(i64::MIN), None);
    }

    #[test]
    fn filters_take_names_and_classes() {
        let a = Arch::X86_64;
        assert_eq!(parse_filter(a, "getpid, read"), Ok(vec![0, 39]));
        let file = parse_filter(a, "file").unwrap();
        assert!(file.contains(&257) && file.contains(&2) && !file.contains(&39));
        let arm = parse_filter(Arch::Aarch64, "file,network").unwrap();
        assert!(arm.contains(&56) && arm.contains(&198)); // openat, socket
        assert!(parse_filter(a, "getpid,frobnicate")
            .unwrap_err()
            .contains("frobnicate"));
        assert!(parse_filter(a, " , ").is_err());
        for class in ["file", "network", "process"] {
            // Every member exists on at least one architecture.
            for name in class_members(class).unwrap() {
                assert!(
                    syscall_number(a, name).is_some()
                        || syscall_number(Arch::Aarch64, name).is_some(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn display_names_unknown_numbers() {
        assert_eq!(syscall_display(Some(Arch::X86_64), 39), "getpid");
        assert_eq!(syscall_display(Some(Arch::X86_64), 999), "syscall_999");
        assert_eq!(syscall_display(None, 39), "syscall_39");
        assert_eq!(Arch::from_uname("aarch64"), Some(Arch::Aarch64));
        assert_eq!(Arch::from_uname("riscv64"), None);
    }
}
