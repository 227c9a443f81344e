//! The container's inside view, from a forked helper process that enters the
//! target's network, UTS and mount namespaces with `setns`.
//!
//! The agent's own threads never change namespace: the helper is a forked,
//! single-threaded child that only reads (it opens nothing for writing), dies
//! with the thread that forked it (`PR_SET_PDEATHSIG`), and answers requests
//! over a socketpair. Between `fork` and `_exit` it calls only raw syscalls on
//! buffers prepared before the fork: no allocation, no locks.
//!
//! The container chooses what its files are: `/etc/resolv.conf` is opened
//! with the rules of [`crate::host::open`] (inside the target's root, a path
//! descriptor first, regular files only, read capped), and once it has
//! entered the namespaces the helper drops every capability: what it opens
//! after that, it opens as an unprivileged process would.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use thiserror::Error;

use crate::host::sys as host_sys;

#[derive(Debug, Error)]
pub enum NsError {
    #[error("cannot open the namespaces of pid {pid}: {source} (is the process still alive? are we root?)")]
    Open { pid: u32, source: std::io::Error },
    #[error("cannot start the namespace helper: {0}")]
    Spawn(std::io::Error),
    #[error("the namespace helper cannot enter the network namespace of pid {pid}: errno {errno} (needs CAP_SYS_ADMIN)")]
    Enter { pid: u32, errno: i32 },
    #[error("the namespace helper stopped answering: {0}")]
    Io(#[from] std::io::Error),
}

/// Requests, one byte each.
const NET: u8 = b'n';
const VIEW: u8 = b'v';
/// Status bits the helper sends once set up.
const UTS_FAILED: u32 = 1;
const MNT_FAILED: u32 = 2;
/// The most a helper answer may hold per file.
const BUF: usize = 1 << 20;
/// The most of `/etc/resolv.conf` read.
const MAX_RESOLV: usize = 64 << 10;

/// Raw network counters of the target's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetText {
    pub dev: String,
    pub snmp: String,
}

/// Raw inside view: hostname, `/etc/resolv.conf`, the target's mountinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewText {
    pub hostname: String,
    pub resolv_conf: String,
    pub mountinfo: String,
}

/// A running helper inside the namespaces of one process.
pub struct Helper {
    pid: libc::pid_t,
    sock: UnixStream,
    /// Whether the UTS and mount namespaces were entered too.
    pub uts: bool,
    pub mnt: bool,
}

impl Helper {
    /// The helper's pid.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Forks a helper into the namespaces of `target`.
    pub fn spawn(target: u32) -> Result<Helper, NsError> {
        let open = |ns: &str| {
            File::open(format!("/proc/{target}/ns/{ns}")).map_err(|source| NsError::Open {
                pid: target,
                source,
            })
        };
        let net = open("net")?;
        let uts = open("uts")?;
        let mnt = open("mnt")?;
        let root = crate::host::open::Root::of_process(target).map_err(|source| NsError::Open {
            pid: target,
            source,
        })?;
        let (mine, theirs) = UnixStream::pair().map_err(NsError::Spawn)?;
        let paths = Paths::new(target);
        let mut buf = vec![0u8; BUF];
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child runs only `helper_main`, which makes raw syscalls on
        // memory prepared before the fork and never returns.
        match unsafe { libc::fork() } {
            -1 => Err(NsError::Spawn(std::io::Error::last_os_error())),
            0 => {
                // SAFETY: closing our copy of the agent's end, so the agent closing it is our EOF.
                unsafe { libc::close(mine.as_raw_fd()) };
                let fds = Fds {
                    net: net.as_raw_fd(),
                    uts: uts.as_raw_fd(),
                    mnt: mnt.as_raw_fd(),
                    root: root.as_raw_fd(),
                    sock: theirs.as_raw_fd(),
                };
                // SAFETY: we are the forked child.
                unsafe { helper_main(parent, &fds, &paths, &mut buf) }
            }
            pid => {
                drop(theirs);
                let mut helper = Helper {
                    pid,
                    sock: mine,
                    uts: false,
                    mnt: false,
                };
                helper.sock.set_read_timeout(Some(Duration::from_secs(5)))?;
                let status = helper.read_u32()?;
                if status == u32::MAX {
                    let errno = helper.read_u32()? as i32;
                    return Err(NsError::Enter { pid: target, errno });
                }
                helper.uts = status & UTS_FAILED == 0;
                helper.mnt = status & MNT_FAILED == 0;
                Ok(helper)
            }
        }
    }

    /// `/proc/net/dev` and `/proc/net/snmp` as the target sees them.
    pub fn net(&mut self) -> Result<NetText, NsError> {
        self.sock.write_all(&[NET])?;
        Ok(NetText {
            dev: self.read_text()?,
            snmp: self.read_text()?,
        })
    }

    /// Hostname, resolv.conf and mountinfo as the target sees them.
    pub fn view(&mut self) -> Result<ViewText, NsError> {
        self.sock.write_all(&[VIEW])?;
        Ok(ViewText {
            hostname: self.read_text()?,
            resolv_conf: self.read_text()?,
            mountinfo: self.read_text()?,
        })
    }

    /// [`Helper::view`], waiting at most `limit` for each part of the
    /// answer (a file of the container that never answers holds the helper:
    /// it is then of no more use, drop it).
    pub fn view_within(&mut self, limit: Duration) -> Result<ViewText, NsError> {
        self.sock.set_read_timeout(Some(limit))?;
        let view = self.view();
        self.sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        view
    }

    fn read_u32(&mut self) -> std::io::Result<u32> {
        let mut b = [0u8; 4];
        self.sock.read_exact(&mut b)?;
        Ok(u32::from_ne_bytes(b))
    }

    fn read_text(&mut self) -> std::io::Result<String> {
        let len = self.read_u32()? as usize;
        if len > BUF {
            return Err(std::io::Error::other("oversized answer"));
        }
        let mut v = vec![0u8; len];
        self.sock.read_exact(&mut v)?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        // SAFETY: `pid` is our own child; kill and waitpid on it are sound.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        // Reaped, unless it is held in the kernel (a file of the container
        // that never answers: its resolv.conf on a FUSE mount of its own):
        // then it is not waited for, and left (reparented when the agent exits).
        let end = std::time::Instant::now() + Duration::from_millis(200);
        loop {
            // SAFETY: as above, WNOHANG.
            let r = unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG) };
            if r != 0 || std::time::Instant::now() >= end {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The line of a mountinfo text that mounts `/` (the last one, if overmounted).
pub fn root_mount(mountinfo: &str) -> String {
    mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or("")
        .to_string()
}

struct Fds {
    net: RawFd,
    uts: RawFd,
    mnt: RawFd,
    /// The target's root directory (`/proc/PID/root`), a path descriptor.
    root: RawFd,
    sock: RawFd,
}

/// Paths the helper opens, made before the fork.
struct Paths {
    dev: CString,
    snmp: CString,
    mountinfo: CString,
    resolv: CString,
}

impl Paths {
    fn new(target: u32) -> Paths {
        let c = |s: String| CString::new(s).unwrap_or_default();
        Paths {
            dev: c("/proc/self/net/dev".into()),
            snmp: c("/proc/self/net/snmp".into()),
            mountinfo: c(format!("/proc/{target}/mountinfo")),
            resolv: c("etc/resolv.conf".into()),
        }
    }
}

/// The helper's whole life. Async-signal-safe calls only.
///
/// # Safety
/// Must only be called in a freshly forked child.
unsafe fn helper_main(parent: libc::pid_t, fds: &Fds, paths: &Paths, buf: &mut [u8]) -> ! {
    // SAFETY (whole body): raw syscalls on valid fds, C strings and buffers.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            libc::_exit(0);
        }
        // Nothing of the agent's but what it needs: were it held in the
        // kernel by a file of the container, it holds no perf event, output
        // file or pipe of the agent (its stderr a caller waits to close).
        keep_only(&[fds.net, fds.uts, fds.mnt, fds.root, fds.sock]);
        // Our own /proc/self/fd (the host's /proc), to reopen path descriptors.
        let fd_dir = libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if libc::setns(fds.net, libc::CLONE_NEWNET) != 0 {
            let errno = *libc::__errno_location();
            send(fds.sock, &u32::MAX.to_ne_bytes());
            send(fds.sock, &(errno as u32).to_ne_bytes());
            libc::_exit(1);
        }
        // Opened after entering the network namespace: /proc/self/net is now the target's.
        let dev = libc::open(paths.dev.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        let snmp = libc::open(paths.snmp.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        let mountinfo = libc::open(paths.mountinfo.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        let mut status = 0u32;
        if libc::setns(fds.uts, libc::CLONE_NEWUTS) != 0 {
            status |= UTS_FAILED;
        }
        if libc::setns(fds.mnt, libc::CLONE_NEWNS) != 0 {
            status |= MNT_FAILED;
        }
        libc::close(fds.net);
        libc::close(fds.uts);
        libc::close(fds.mnt);
        // Inside: nothing more needs a privilege.
        if host_sys::drop_all_capabilities().is_err() {
            libc::_exit(4);
        }
        send(fds.sock, &status.to_ne_bytes());
        loop {
            let mut req = 0u8;
            let n = libc::read(fds.sock, (&mut req as *mut u8).cast(), 1);
            if n != 1 {
                libc::_exit(0);
            }
            match req {
                NET => {
                    send_fd(fds.sock, dev, buf);
                    send_fd(fds.sock, snmp, buf);
                }
                VIEW => {
                    let mut uts: libc::utsname = std::mem::zeroed();
                    let len = if libc::uname(&mut uts) == 0 {
                        let name = &uts.nodename;
                        let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                        for (dst, src) in buf.iter_mut().zip(name[..len].iter()) {
                            *dst = *src as u8;
                        }
                        len
                    } else {
                        0
                    };
                    send_bytes(fds.sock, &buf[..len]);
                    let resolv = open_regular(fds.root, &paths.resolv, fd_dir);
                    send_fd(fds.sock, resolv, &mut buf[..MAX_RESOLV]);
                    if resolv >= 0 {
                        libc::close(resolv);
                    }
                    send_fd(fds.sock, mountinfo, buf);
                }
                _ => libc::_exit(2),
            }
        }
    }
}

/// Closes every descriptor but `keep`, and points 0, 1 and 2 at /dev/null.
/// Async-signal-safe.
unsafe fn keep_only(keep: &[RawFd]) {
    // SAFETY (whole body): raw syscalls on descriptors of this process.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            for std in 0..3 {
                if !keep.contains(&std) {
                    libc::dup2(null, std);
                }
            }
        }
        let top = keep.iter().copied().max().unwrap_or(2).max(2);
        for fd in 3..=top {
            if !keep.contains(&fd) {
                libc::close(fd);
            }
        }
        libc::syscall(libc::SYS_close_range, (top + 1) as u32, u32::MAX, 0u32);
    }
}

/// Opens a regular file inside `root` for reading, or -1: a path descriptor
/// first (nothing opened), its type checked, then reopened.
unsafe fn open_regular(root: RawFd, path: &std::ffi::CStr, fd_dir: RawFd) -> RawFd {
    // SAFETY (whole body): raw syscalls on valid descriptors and buffers.
    unsafe {
        if root < 0 || fd_dir < 0 {
            return -1;
        }
        let Ok(pfd) = host_sys::open_path_in_root(root, path) else {
            return -1;
        };
        let mut st: libc::stat = std::mem::zeroed();
        let regular =
            host_sys::fstat(pfd, &mut st).is_ok() && st.st_mode & libc::S_IFMT == libc::S_IFREG;
        let fd = if regular {
            host_sys::reopen(fd_dir, pfd).unwrap_or(-1)
        } else {
            -1
        };
        libc::close(pfd);
        let mut again: libc::stat = std::mem::zeroed();
        if fd >= 0
            && (host_sys::fstat(fd, &mut again).is_err()
                || (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino))
        {
            libc::close(fd);
            return -1;
        }
        fd
    }
}

/// Sends the whole content of `fd` (read from offset 0) as one length-prefixed
/// answer; an unreadable file is an empty one.
unsafe fn send_fd(sock: RawFd, fd: RawFd, buf: &mut [u8]) {
    let mut len = 0usize;
    if fd >= 0 {
        while len < buf.len() {
            // SAFETY: the range is inside `buf`.
            let n = unsafe {
                libc::pread(
                    fd,
                    buf[len..].as_mut_ptr().cast(),
                    buf.len() - len,
                    len as libc::off_t,
                )
            };
            if n <= 0 {
                break;
            }
            len += n as usize;
        }
    }
    // SAFETY: forwarded.
    unsafe { send_bytes(sock, &buf[..len]) }
}

unsafe fn send_bytes(sock: RawFd, bytes: &[u8]) {
    // SAFETY: forwarded.
    unsafe {
        send(sock, &(bytes.len() as u32).to_ne_bytes());
        send(sock, bytes);
    }
}

unsafe fn send(sock: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is valid for its length.
        let n = unsafe { libc::write(sock, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            // SAFETY: _exit is always safe.
            unsafe { libc::_exit(3) };
        }
        bytes = &bytes[n as usize..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_mount_line() {
        let mi = "22 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n\
                  30 22 0:5 / /proc rw - proc proc rw\n\
                  40 22 0:50 / / rw - overlay overlay rw,lowerdir=/l\n";
        assert_eq!(
            root_mount(mi),
            "40 22 0:50 / / rw - overlay overlay rw,lowerdir=/l"
        );
        assert_eq!(root_mount(""), "");
    }

    /// Entering our own namespaces needs CAP_SYS_ADMIN; where we have it, the
    /// helper answers with the same counters the agent sees.
    #[test]
    fn helper_in_own_namespaces() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: setns needs root");
            return;
        }
        let mut h = Helper::spawn(std::process::id()).unwrap();
        let net = h.net().unwrap();
        assert!(net.dev.contains("lo:"), "{}", net.dev);
        assert!(net.snmp.contains("Tcp: "), "{}", net.snmp);
        let view = h.view().unwrap();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(view.hostname, host.trim());
        assert!(!root_mount(&view.mountinfo).is_empty());
        // The second request works the same (files re-read from offset 0).
        assert!(h.net().unwrap().dev.contains("lo:"));
        // Inside, the helper holds no capability.
        let status = std::fs::read_to_string(format!("/proc/{}/status", h.pid())).unwrap();
        assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");
        assert!(status.contains("\nCapPrm:\t0000000000000000\n"), "{status}");
        assert!(status.contains("NoNewPrivs:\t1"), "{status}");
        // It holds nothing of the agent's but what it reads: no pipe (a
        // caller waiting for the agent's stderr to close), no other file.
        let mut pipe = [0; 2];
        // SAFETY: pipe fills two descriptors, closed below.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        let h2 = Helper::spawn(std::process::id()).unwrap();
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", h2.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|l| l.display().to_string())
            .collect();
        // SAFETY: our own pipe.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
        assert!(!fds.iter().any(|l| l.starts_with("pipe:")), "{fds:?}");
        assert!(
            fds.iter().filter(|l| *l == "/dev/null").count() >= 3,
            "{fds:?}"
        );
        assert!(fds.len() <= 9, "{fds:?}");
    }
}
