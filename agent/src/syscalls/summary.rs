//! Short descriptions of a syscall's interesting arguments (pure, given a way
//! to read the tracee's memory and its fd paths), and the per-process cache of
//! fd paths.

use std::collections::HashMap;
use std::fmt::Write as _;

use holter_format::syscall_names::{syscall_name, Arch};

/// Longest string kept in a summary, in bytes.
pub const MAX_STRING: usize = 160;

/// What is worth describing in a syscall's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    None,
    /// A NUL-terminated path at argument `i`.
    Path(usize),
    /// A file descriptor at argument `i`.
    Fd(usize),
    /// A file descriptor at argument 0 and a byte count at argument `count`.
    FdCount {
        count: usize,
    },
    /// A socket at argument 0 and a socket address at argument 1 of length argument 2.
    FdAddr,
}

/// The kind of a syscall, by name.
pub fn arg_kind(name: &str) -> ArgKind {
    match name {
        "open" | "creat" | "stat" | "lstat" | "access" | "execve" | "readlink" | "unlink"
        | "mkdir" | "rmdir" | "chdir" | "chroot" | "truncate" | "rename" | "link" | "chmod"
        | "chown" | "lchown" | "statfs" | "mknod" | "utime" | "utimes" | "getxattr"
        | "lgetxattr" | "setxattr" | "lsetxattr" | "listxattr" | "llistxattr" => ArgKind::Path(0),
        "openat" | "openat2" | "newfstatat" | "statx" | "faccessat" | "faccessat2" | "execveat"
        | "readlinkat" | "unlinkat" | "mkdirat" | "renameat" | "renameat2" | "fchmodat"
        | "fchmodat2" | "fchownat" | "mknodat" | "utimensat" | "futimesat"
        | "inotify_add_watch" | "name_to_handle_at" => ArgKind::Path(1),
        "symlink" | "symlinkat" => ArgKind::Path(0),
        "read" | "write" | "pread64" | "pwrite64" | "readv" | "writev" | "preadv" | "pwritev"
        | "preadv2" | "pwritev2" | "sendto" | "recvfrom" | "getdents64" | "getdents" => {
            ArgKind::FdCount { count: 2 }
        }
        "sendfile" => ArgKind::FdCount { count: 3 },
        "connect" | "bind" => ArgKind::FdAddr,
        "close" | "fsync" | "fdatasync" | "fstat" | "lseek" | "ftruncate" | "fcntl" | "ioctl"
        | "flock" | "accept" | "accept4" | "listen" | "fstatfs" | "fchmod" | "fchown"
        | "shutdown" | "sendmsg" | "recvmsg" | "sendmmsg" | "recvmmsg" | "getsockopt"
        | "setsockopt" | "getsockname" | "getpeername" | "fadvise64" | "fallocate"
        | "sync_file_range" | "fgetxattr" | "fsetxattr" | "dup" | "dup2" | "dup3" | "fchdir"
        | "mmap" => {
            if name == "mmap" {
                ArgKind::Fd(4)
            } else {
                ArgKind::Fd(0)
            }
        }
        _ => ArgKind::None,
    }
}

/// What the fd cache must forget after a call, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdEffect {
    None,
    /// The fd at argument `i` now names something else or nothing.
    Arg(usize),
    /// The returned fd is new.
    Ret,
    /// Any fd may have changed (exec, close_range, pipe, socketpair...).
    All,
}

pub fn fd_effect(name: &str) -> FdEffect {
    match name {
        "close" => FdEffect::Arg(0),
        "dup2" | "dup3" => FdEffect::Arg(1),
        "open" | "openat" | "openat2" | "creat" | "socket" | "accept" | "accept4" | "dup"
        | "fcntl" | "eventfd" | "eventfd2" | "epoll_create" | "epoll_create1" | "memfd_create"
        | "signalfd" | "signalfd4" | "timerfd_create" | "inotify_init" | "inotify_init1"
        | "fanotify_init" | "pidfd_open" | "pidfd_getfd" | "open_by_handle_at"
        | "perf_event_open" | "userfaultfd" | "io_uring_setup" | "open_tree" | "fsopen"
        | "fsmount" | "fspick" | "memfd_secret" => FdEffect::Ret,
        "close_range" | "pipe" | "pipe2" | "socketpair" | "execve" | "execveat" | "unshare" => {
            FdEffect::All
        }
        _ => FdEffect::None,
    }
}

/// Per-number knowledge of one architecture, built once.
pub struct Table {
    pub kinds: Vec<ArgKind>,
    pub effects: Vec<FdEffect>,
    /// Names, for the syscall totals.
    pub names: Vec<Option<&'static str>>,
}

/// Numbers above this are not tracked per number (none exist today).
pub const MAX_NR: usize = 1024;

impl Table {
    pub fn new(arch: Option<Arch>) -> Table {
        let mut t = Table {
            kinds: vec![ArgKind::None; MAX_NR],
            effects: vec![FdEffect::None; MAX_NR],
            names: vec![None; MAX_NR],
        };
        if let Some(arch) = arch {
            for nr in 0..MAX_NR {
                if let Some(name) = syscall_name(arch, nr as u32) {
                    t.kinds[nr] = arg_kind(name);
                    t.effects[nr] = fd_effect(name);
                    t.names[nr] = Some(name);
                }
            }
        }
        t
    }
}

/// Access to a tracee, for summaries.
pub trait Tracee {
    /// Reads memory at `addr` into `buf`; returns the bytes read.
    fn read(&mut self, pid: u32, addr: u64, buf: &mut [u8]) -> usize;
    /// The target of `/proc/PID/fd/FD`.
    fn fd_path(&mut self, pid: u32, fd: i32) -> Option<String>;
}

/// fd paths by (pid, fd), remembered until the fd changes.
#[derive(Default)]
pub struct FdCache {
    paths: HashMap<(u32, i32), Option<String>>,
}

impl FdCache {
    pub fn get(&mut self, tracee: &mut impl Tracee, pid: u32, fd: i32) -> Option<&str> {
        self.paths
            .entry((pid, fd))
            .or_insert_with(|| tracee.fd_path(pid, fd))
            .as_deref()
    }

    pub fn forget(&mut self, pid: u32, fd: i32) {
        self.paths.remove(&(pid, fd));
    }

    pub fn forget_process(&mut self, pid: u32) {
        self.paths.retain(|&(p, _), _| p != pid);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// The token of a string for `--redact` (a keyed hash: see [`crate::redact`]).
pub fn redact(s: &str) -> String {
    crate::redact::token(s)
}

/// Appends `s` capped at [`MAX_STRING`] bytes (on a char boundary), or its hash.
fn push_string(out: &mut String, s: &str, redacted: bool) {
    // Kernel names of pipes, sockets and anonymous inodes (`socket:[1234]`) say nothing private.
    let pseudo = !s.starts_with('/') && s.contains(":[");
    if redacted && !pseudo {
        out.push_str(&redact(s));
        return;
    }
    if s.len() <= MAX_STRING {
        out.push_str(s);
    } else {
        let mut end = MAX_STRING;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&s[..end]);
        out.push_str("...");
    }
}

/// Describes a call at its entry; `None` when there is nothing to say.
pub fn describe(
    kind: ArgKind,
    pid: u32,
    args: &[u64; 6],
    tracee: &mut impl Tracee,
    fds: &mut FdCache,
    redacted: bool,
) -> Option<String> {
    let mut out = String::new();
    match kind {
        ArgKind::None => return None,
        ArgKind::Path(i) => {
            let addr = args[i];
            if addr == 0 {
                return None;
            }
            let mut buf = [0u8; MAX_STRING + 1];
            let n = tracee.read(pid, addr, &mut buf);
            let bytes = &buf[..n];
            let (text, cut) = match bytes.iter().position(|&b| b == 0) {
                Some(end) => (&bytes[..end], false),
                None if n == buf.len() => (&bytes[..MAX_STRING], true),
                None => (bytes, false),
            };
            let text = String::from_utf8_lossy(text);
            push_string(&mut out, &text, redacted);
            if cut && !redacted {
                out.push_str("...");
            }
        }
        ArgKind::FdAddr => {
            let _ = write!(out, "fd {}", args[0] as i32);
            let mut buf = [0u8; 128];
            let len = (args[2] as usize).min(buf.len());
            let n = tracee.read(pid, args[1], &mut buf[..len]);
            if let Some(addr) = sockaddr(&buf[..n]) {
                out.push_str(" -> ");
                match addr {
                    Addr::Ip(text) => out.push_str(&text),
                    Addr::Unix(path) => push_string(&mut out, &path, redacted),
                }
            }
        }
        ArgKind::Fd(i) | ArgKind::FdCount { count: i } => {
            let fd_arg = if let ArgKind::Fd(_) = kind { i } else { 0 };
            let fd = args[fd_arg] as i32;
            if fd < 0 {
                return None;
            }
            let _ = write!(out, "fd {fd}");
            if let Some(path) = fds.get(tracee, pid, fd) {
                out.push(' ');
                push_string(&mut out, path, redacted);
            }
            if let ArgKind::FdCount { count } = kind {
                let _ = write!(out, ", {} bytes", args[count]);
            }
        }
    }
    Some(out)
}

/// A decoded `struct sockaddr`.
#[derive(Debug, PartialEq, Eq)]
pub enum Addr {
    /// `1.2.3.4:80` or `[::1]:443`.
    Ip(String),
    /// A unix socket path; `@name` for the abstract namespace.
    Unix(String),
}

/// Decodes the socket address families worth naming (inet, inet6, unix).
pub fn sockaddr(b: &[u8]) -> Option<Addr> {
    const AF_UNIX: u16 = 1;
    const AF_INET: u16 = 2;
    const AF_INET6: u16 = 10;
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = || Some(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]));
    match family {
        AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(Addr::Ip(format!(
                "{}:{}",
                std::net::Ipv4Addr::from(ip),
                port()?
            )))
        }
        AF_INET6 => {
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(Addr::Ip(format!(
                "[{}]:{}",
                std::net::Ipv6Addr::from(ip),
                port()?
            )))
        }
        AF_UNIX => {
            let path = b.get(2..)?;
            if path.is_empty() {
                return None;
            }
            if path[0] == 0 {
                let name = &path[1..];
                return Some(Addr::Unix(format!("@{}", String::from_utf8_lossy(name))));
            }
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            Some(Addr::Unix(
                String::from_utf8_lossy(&path[..end]).into_owned(),
            ))
        }
        _ => None,
    }
}

/// Updates the fd cache after a call of `pid` returned `ret`.
pub fn apply_effect(effect: FdEffect, pid: u32, args: &[u64; 6], ret: i64, fds: &mut FdCache) {
    match effect {
        FdEffect::None => {}
        FdEffect::Arg(i) => fds.forget(pid, args[i] as i32),
        FdEffect::Ret if ret >= 0 => fds.forget(pid, ret as i32),
        FdEffect::Ret => {}
        FdEffect::All => fds.forget_process(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake tracee: memory at address 0x1000 holds `mem`; fds from a list.
    struct Fake {
        mem: Vec<u8>,
        fds: Vec<(i32, &'static str)>,
        lookups: usize,
    }

    impl Tracee for Fake {
        fn read(&mut self, _pid: u32, addr: u64, buf: &mut [u8]) -> usize {
            let start = (addr - 0x1000) as usize;
            let avail = &self.mem[start.min(self.mem.len())..];
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        }
        fn fd_path(&mut self, _pid: u32, fd: i32) -> Option<String> {
            self.lookups += 1;
            self.fds.iter().find(|f| f.0 == fd).map(|f| f.1.to_string())
        }
    }

    fn fake(mem: &[u8]) -> Fake {
        Fake {
            mem: mem.to_vec(),
            fds: vec![(3, "/var/log/app.log"), (4, "socket:[1234]")],
            lookups: 0,
        }
    }

    #[test]
    fn paths_are_read_and_capped() {
        let mut t = fake(b"/etc/passwd\0junk");
        let mut fds = FdCache::default();
        let args = [0xffff_ff9c, 0x1000, 0, 0, 0, 0];
        let s = describe(ArgKind::Path(1), 1, &args, &mut t, &mut fds, false);
        assert_eq!(s.as_deref(), Some("/etc/passwd"));
        let long = vec![b'a'; 400];
        let mut t = fake(&long);
        let s = describe(
            ArgKind::Path(0),
            1,
            &[0x1000, 0, 0, 0, 0, 0],
            &mut t,
            &mut fds,
            false,
        )
        .unwrap();
        assert_eq!(s.len(), MAX_STRING + 3);
        assert!(s.ends_with("..."));
        // A NULL path says nothing.
        assert_eq!(
            describe(ArgKind::Path(0), 1, &[0; 6], &mut t, &mut fds, false),
            None
        );
    }

    #[test]
    fn redaction_hashes_paths_but_keeps_kinds() {
        let mut t = fake(b"/home/alice/secret.txt\0");
        let mut fds = FdCache::default();
        let s = describe(
            ArgKind::Path(0),
            1,
            &[0x1000, 0, 0, 0, 0, 0],
            &mut t,
            &mut fds,
            true,
        )
        .unwrap();
        assert!(s.starts_with('#') && s.len() == 17, "{s}");
        assert!(!s.contains("alice"));
        assert_eq!(s, redact("/home/alice/secret.txt"));
        let s = describe(
            ArgKind::Fd(0),
            1,
            &[4, 0, 0, 0, 0, 0],
            &mut t,
            &mut fds,
            true,
        )
        .unwrap();
        assert_eq!(s, "fd 4 socket:[1234]");
    }

    #[test]
    fn fds_are_cached_until_closed() {
        let mut t = fake(b"");
        let mut fds = FdCache::default();
        let read = [3, 0, 4096, 0, 0, 0];
        let s = describe(
            ArgKind::FdCount { count: 2 },
            7,
            &read,
            &mut t,
            &mut fds,
            false,
        );
        assert_eq!(s.as_deref(), Some("fd 3 /var/log/app.log, 4096 bytes"));
        describe(
            ArgKind::FdCount { count: 2 },
            7,
            &read,
            &mut t,
            &mut fds,
            false,
        );
        assert_eq!(t.lookups, 1);
        apply_effect(FdEffect::Arg(0), 7, &read, 0, &mut fds); // close(3)
        assert!(fds.is_empty());
        describe(ArgKind::Fd(0), 7, &read, &mut t, &mut fds, false);
        assert_eq!(t.lookups, 2);
        apply_effect(FdEffect::Ret, 7, &read, 3, &mut fds); // openat returned 3
        assert!(fds.is_empty());
        describe(ArgKind::Fd(0), 7, &read, &mut t, &mut fds, false);
        describe(ArgKind::Fd(0), 8, &read, &mut t, &mut fds, false);
        apply_effect(FdEffect::All, 7, &read, 0, &mut fds); // exec
        assert_eq!(fds.len(), 1);
        // An unknown fd is cached as unknown too.
        let s = describe(
            ArgKind::Fd(0),
            7,
            &[9, 0, 0, 0, 0, 0],
            &mut t,
            &mut fds,
            false,
        );
        assert_eq!(s.as_deref(), Some("fd 9"));
    }

    #[test]
    fn socket_addresses() {
        let mut v4 = vec![2u8, 0, 0x1f, 0x90, 10, 0, 0, 7];
        v4.extend_from_slice(&[0; 8]);
        assert_eq!(sockaddr(&v4), Some(Addr::Ip("10.0.0.7:8080".into())));
        let mut v6 = vec![10u8, 0, 0x01, 0xbb, 0, 0, 0, 0];
        v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        assert_eq!(sockaddr(&v6), Some(Addr::Ip("[::1]:443".into())));
        assert_eq!(
            sockaddr(b"\x01\x00/run/app.sock\0\0\0"),
            Some(Addr::Unix("/run/app.sock".into()))
        );
        assert_eq!(
            sockaddr(b"\x01\x00\0abstract"),
            Some(Addr::Unix("@abstract".into()))
        );
        assert_eq!(sockaddr(&v4[..6]), None); // cut short
        assert_eq!(sockaddr(b"\x11\x00"), None); // AF_PACKET: not named
        assert_eq!(sockaddr(b""), None);

        let mut t = fake(&v4);
        let mut fds = FdCache::default();
        let connect = [5, 0x1000, 16, 0, 0, 0];
        let s = describe(ArgKind::FdAddr, 1, &connect, &mut t, &mut fds, false);
        assert_eq!(s.as_deref(), Some("fd 5 -> 10.0.0.7:8080"));
        let mut t = fake(b"\x01\x00/run/secret.sock\0");
        let s = describe(
            ArgKind::FdAddr,
            1,
            &[5, 0x1000, 20, 0, 0, 0],
            &mut t,
            &mut fds,
            true,
        )
        .unwrap();
        assert!(!s.contains("secret") && s.starts_with("fd 5 -> #"), "{s}");
    }

    #[test]
    fn table_knows_x86_64() {
        let t = Table::new(Some(Arch::X86_64));
        assert_eq!(t.kinds[257], ArgKind::Path(1)); // openat
        assert_eq!(t.kinds[0], ArgKind::FdCount { count: 2 }); // read
        assert_eq!(t.effects[3], FdEffect::Arg(0)); // close
        assert_eq!(t.names[39], Some("getpid"));
        let none = Table::new(None);
        assert_eq!(none.names[39], None);
    }
}
