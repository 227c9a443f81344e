//! Opening files the container controls without trusting them.
//!
//! A file inside a container is opened relative to a [`Root`], a directory
//! handle on `/proc/PID/root` kept while the process lives, in three steps:
//!
//! 1. a *path* descriptor with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
//!    absolute links and `..` resolve inside the container's root, `/proc`
//!    magic links are refused, and nothing is opened yet (no device driver
//!    runs, no FIFO blocks). Where openat2 is missing, a walk one component
//!    at a time with `O_NOFOLLOW` refuses every link instead;
//! 2. `fstat` on that descriptor: regular files only;
//! 3. the very same file reopened for reading through `/proc/self/fd`
//!    (`O_NONBLOCK | O_NOCTTY | O_CLOEXEC`) and checked to be the same inode.
//!
//! Reads are capped ([`Opened::read_capped`], [`Opened::read_prefix`]): a
//! file that grows while read is never read past its limit.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use thiserror::Error;

use super::sys;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpenError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path} is not a regular file (a {kind}): not read")]
    NotRegular { path: String, kind: &'static str },
    #[error("{path} changed while it was opened")]
    Replaced { path: String },
    #[error("{path} is larger than {max} bytes: not read")]
    TooLarge { path: String, max: u64 },
}

impl OpenError {
    fn io(path: &str, errno: i32) -> OpenError {
        OpenError::Io {
            path: path.to_string(),
            reason: io::Error::from_raw_os_error(errno).to_string(),
        }
    }
}

/// What kind of file a mode is, for messages.
pub fn kind_of(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symbolic link",
        libc::S_IFIFO => "FIFO",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}

/// A directory that paths are resolved in, as if it were `/`.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// The root directory of a process (`/proc/PID/root`), as it is now.
    pub fn of_process(pid: u32) -> io::Result<Root> {
        Root::at(Path::new(&format!("/proc/{pid}/root")))
    }

    /// A directory of the agent's own view (tests, fixtures).
    pub fn at(dir: &Path) -> io::Result<Root> {
        let c = CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: a valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just opened and own.
        Ok(Root {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A directory descriptor received from the agent (a reader process,
    /// [`super::reader`]), used as a root.
    pub fn from_fd(fd: OwnedFd) -> Root {
        Root { fd }
    }

    /// A directory inside this root (resolved the same way), kept as a root
    /// of its own: files under it stay reachable through it when the mount
    /// namespace it belongs to is torn down (its sub-mounts detached), e.g.
    /// a container's tmpfs `/tmp` after its last process exits.
    pub fn subdir(&self, path: &str) -> Result<Root, OpenError> {
        let rel = path.trim_start_matches('/');
        let name = if rel.is_empty() { "." } else { rel };
        let c = CString::new(name).map_err(|_| OpenError::Io {
            path: path.to_string(),
            reason: "a NUL byte in the path".into(),
        })?;
        // SAFETY: our own valid root descriptor.
        let pfd = match unsafe { sys::open_path_in_root(self.as_raw_fd(), &c) } {
            Ok(fd) => fd,
            Err(libc::ENOSYS) => walk(self.as_raw_fd(), name, path)?,
            Err(e) => return Err(OpenError::io(path, e)),
        };
        // SAFETY: a descriptor just opened and owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(pfd) };
        // SAFETY: zero is a valid stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and stat buffer.
        unsafe { sys::fstat(fd.as_raw_fd(), &mut st) }.map_err(|e| OpenError::io(path, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(OpenError::NotRegular {
                path: path.to_string(),
                kind: kind_of(st.st_mode),
            });
        }
        Ok(Root { fd })
    }

    /// Opens `path` (absolute as the process sees it) for reading: inside
    /// this root, regular files only.
    pub fn open(&self, path: &str) -> Result<Opened, OpenError> {
        self.open_with(path, true)
    }

    /// [`Root::open`] choosing the resolution: `openat2`, or the
    /// component-by-component walk used where it is missing.
    pub fn open_with(&self, path: &str, openat2: bool) -> Result<Opened, OpenError> {
        let rel = path.trim_start_matches('/');
        let name = if rel.is_empty() { "." } else { rel };
        let c = CString::new(name).map_err(|_| OpenError::Io {
            path: path.to_string(),
            reason: "a NUL byte in the path".into(),
        })?;
        let pfd = if openat2 {
            // SAFETY: our own valid root descriptor.
            match unsafe { sys::open_path_in_root(self.as_raw_fd(), &c) } {
                Ok(fd) => fd,
                Err(libc::ENOSYS) => walk(self.as_raw_fd(), name, path)?,
                Err(e) => return Err(OpenError::io(path, e)),
            }
        } else {
            walk(self.as_raw_fd(), name, path)?
        };
        // SAFETY: a descriptor just opened and owned here.
        let pfd = unsafe { OwnedFd::from_raw_fd(pfd) };
        reopen_regular(&pfd, path)
    }
}

/// Opens a path of the agent's own view (a `/proc/PID/map_files` entry, a
/// `/proc` file) for reading the same way: a path descriptor first (links
/// followed, as the agent chose the path), regular files only.
pub fn open_host(path: &Path) -> Result<Opened, OpenError> {
    let shown = path.display().to_string();
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| OpenError::Io {
        path: shown.clone(),
        reason: "a NUL byte in the path".into(),
    })?;
    // SAFETY: a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(OpenError::io(&shown, errno()));
    }
    // SAFETY: a descriptor just opened and owned here.
    let pfd = unsafe { OwnedFd::from_raw_fd(fd) };
    reopen_regular(&pfd, &shown)
}

/// Resolves `rel` under `root` one component at a time, refusing links and `..`.
fn walk(root: RawFd, rel: &str, shown: &str) -> Result<RawFd, OpenError> {
    // SAFETY: dup of a valid descriptor.
    let mut cur = unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0) };
    if cur < 0 {
        return Err(OpenError::io(shown, errno()));
    }
    // SAFETY: owned from here on; replaced as the walk goes.
    let mut cur_owned = unsafe { OwnedFd::from_raw_fd(cur) };
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(OpenError::Io {
                path: shown.to_string(),
                reason: "`..` is not followed".into(),
            });
        }
        let c = CString::new(part).map_err(|_| OpenError::io(shown, libc::EINVAL))?;
        // SAFETY: a valid descriptor and C string.
        let next = unsafe { sys::open_component(cur, &c) }.map_err(|e| OpenError::io(shown, e))?;
        // SAFETY: just opened.
        let next_owned = unsafe { OwnedFd::from_raw_fd(next) };
        // SAFETY: plain data.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor.
        unsafe { sys::fstat(next, &mut st) }.map_err(|e| OpenError::io(shown, e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(OpenError::Io {
                path: shown.to_string(),
                reason: "a symbolic link on the way (not followed without openat2)".into(),
            });
        }
        cur_owned = next_owned;
        cur = next;
    }
    Ok(cur_owned.into_raw_fd())
}

/// `/proc/self/fd` of the agent, opened once.
fn fd_dir() -> Result<RawFd, i32> {
    static DIR: OnceLock<Result<OwnedFd, i32>> = OnceLock::new();
    match DIR.get_or_init(|| {
        // SAFETY: a valid C string.
        let fd = unsafe {
            libc::open(
                c"/proc/self/fd".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            Err(errno())
        } else {
            // SAFETY: just opened.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    }) {
        Ok(fd) => Ok(fd.as_raw_fd()),
        Err(e) => Err(*e),
    }
}

/// Checks a path descriptor names a regular file, then reopens it for reading.
fn reopen_regular(pfd: &OwnedFd, shown: &str) -> Result<Opened, OpenError> {
    // SAFETY: plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor.
    unsafe { sys::fstat(pfd.as_raw_fd(), &mut st) }.map_err(|e| OpenError::io(shown, e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(OpenError::NotRegular {
            path: shown.to_string(),
            kind: kind_of(st.st_mode),
        });
    }
    let dir = fd_dir().map_err(|e| OpenError::io("/proc/self/fd", e))?;
    // SAFETY: valid descriptors.
    let fd = unsafe { sys::reopen(dir, pfd.as_raw_fd()) }.map_err(|e| OpenError::io(shown, e))?;
    // SAFETY: just opened.
    let file = unsafe { File::from_raw_fd(fd) };
    // SAFETY: plain data.
    let mut again: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor.
    unsafe { sys::fstat(file.as_raw_fd(), &mut again) }.map_err(|e| OpenError::io(shown, e))?;
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino)
        || again.st_mode & libc::S_IFMT != libc::S_IFREG
    {
        return Err(OpenError::Replaced {
            path: shown.to_string(),
        });
    }
    Ok(Opened {
        file,
        path: shown.to_string(),
        dev: (libc::major(again.st_dev), libc::minor(again.st_dev)),
        ino: again.st_ino,
        size: again.st_size as u64,
    })
}

/// A regular file open for reading, with the identity it had when opened.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub path: String,
    /// (major, minor) of its device.
    pub dev: (u32, u32),
    pub ino: u64,
    pub size: u64,
}

impl Opened {
    /// Whether this is the file the kernel named by device and inode.
    pub fn is(&self, maj: u32, min: u32, ino: u64) -> bool {
        self.dev == (maj, min) && self.ino == ino
    }

    /// The whole file, or an error if it holds more than `max` bytes.
    pub fn read_capped(&mut self, max: u64) -> Result<Vec<u8>, OpenError> {
        if self.size > max {
            return Err(OpenError::TooLarge {
                path: self.path.clone(),
                max,
            });
        }
        let mut out = Vec::with_capacity(self.size as usize);
        (&self.file)
            .take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| OpenError::Io {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if out.len() as u64 > max {
            return Err(OpenError::TooLarge {
                path: self.path.clone(),
                max,
            });
        }
        Ok(out)
    }

    /// At most the first `max` bytes (a config file, a perf map).
    pub fn read_prefix(&mut self, max: u64) -> Result<Vec<u8>, OpenError> {
        let mut out = Vec::new();
        (&self.file)
            .take(max)
            .read_to_end(&mut out)
            .map_err(|e| OpenError::Io {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(out)
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake container root with a secret beside it, on the host.
    fn tree() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(t.path().join("secret"), "host secret\n").unwrap();
        std::fs::write(root.join("etc/real.conf"), "nameserver 10.0.0.1\n").unwrap();
        std::fs::write(root.join("secret"), "container file\n").unwrap();
        symlink("/etc/real.conf", root.join("etc/resolv.conf")).unwrap();
        symlink(t.path().join("secret"), root.join("tmp/abs")).unwrap();
        symlink("../../../secret", root.join("tmp/up")).unwrap();
        symlink("/proc/self/root/etc/passwd", root.join("tmp/magic")).unwrap();
        symlink("/dev/zero", root.join("tmp/zero")).unwrap();
        nix::unistd::mkfifo(&root.join("tmp/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let r = Root::at(&root).unwrap();
        (t, r)
    }

    fn read(r: &Root, p: &str, openat2: bool) -> Result<String, OpenError> {
        let mut o = r.open_with(p, openat2)?;
        Ok(String::from_utf8(o.read_capped(1 << 20)?).unwrap())
    }

    /// A directory kept as a root of its own: reached through links that
    /// stay inside the root, files read under it; a file or a link out of
    /// the root is not a directory handle.
    #[test]
    fn a_subdirectory_is_kept_as_a_root() {
        let (t, r) = tree();
        std::fs::write(t.path().join("root/tmp/perf-1.map"), "1 2 f\n").unwrap();
        symlink("/tmp", t.path().join("root/etc/tmplink")).unwrap();
        let tmp = r.subdir("/etc/tmplink").unwrap();
        assert_eq!(read(&tmp, "perf-1.map", true).unwrap(), "1 2 f\n");
        assert_eq!(read(&tmp, "/perf-1.map", false).unwrap(), "1 2 f\n");
        // Links under it resolve inside it now: /tmp/abs leads to no host file.
        assert!(read(&tmp, "abs", true).is_err());
        assert!(matches!(
            r.subdir("/etc/real.conf"),
            Err(OpenError::NotRegular { .. })
        ));
        symlink(t.path(), t.path().join("root/etc/out")).unwrap();
        assert!(r.subdir("/etc/out").is_err());
    }

    #[test]
    fn links_resolve_inside_the_root() {
        let (_t, r) = tree();
        assert_eq!(
            read(&r, "/etc/resolv.conf", true).unwrap(),
            "nameserver 10.0.0.1\n"
        );
        // An absolute link to a host path names a path inside the root: not there.
        let abs = read(&r, "/tmp/abs", true).unwrap_err();
        assert!(matches!(abs, OpenError::Io { .. }), "{abs}");
        // `..` stops at the root: the container's own /secret.
        assert_eq!(read(&r, "/tmp/up", true).unwrap(), "container file\n");
        assert!(read(&r, "/tmp/magic", true).is_err());
    }

    #[test]
    fn only_regular_files_are_opened() {
        let (_t, r) = tree();
        // /dev/zero inside this fake root does not exist; a bind would be a device.
        assert!(read(&r, "/tmp/zero", true).is_err());
        let fifo = read(&r, "/tmp/fifo", true).unwrap_err();
        assert_eq!(
            fifo,
            OpenError::NotRegular {
                path: "/tmp/fifo".into(),
                kind: "FIFO"
            }
        );
        let dev = open_host(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(
                dev,
                OpenError::NotRegular {
                    kind: "character device",
                    ..
                }
            ),
            "{dev}"
        );
        assert!(matches!(
            read(&r, "/etc", true),
            Err(OpenError::NotRegular {
                kind: "directory",
                ..
            })
        ));
    }

    #[test]
    fn the_walk_refuses_every_link() {
        let (_t, r) = tree();
        assert_eq!(
            read(&r, "/etc/real.conf", false).unwrap(),
            "nameserver 10.0.0.1\n"
        );
        for p in [
            "/etc/resolv.conf",
            "/tmp/abs",
            "/tmp/up",
            "/tmp/zero",
            "/../secret",
        ] {
            assert!(read(&r, p, false).is_err(), "{p}");
        }
        assert!(matches!(
            read(&r, "/tmp/fifo", false),
            Err(OpenError::NotRegular { kind: "FIFO", .. })
        ));
    }

    #[test]
    fn reads_are_capped_and_identity_is_the_open_files() {
        let (t, r) = tree();
        let mut o = r.open("/etc/real.conf").unwrap();
        let meta = std::fs::metadata(t.path().join("root/etc/real.conf")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(o.is(libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino()));
        assert!(matches!(
            o.read_capped(4),
            Err(OpenError::TooLarge { max: 4, .. })
        ));
        let mut o = r.open("/etc/real.conf").unwrap();
        assert_eq!(o.read_prefix(10).unwrap(), b"nameserver");
    }
}
