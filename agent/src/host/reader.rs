//! Reader processes: the blocking opens and reads of files the container
//! controls, done away from the agent's process.
//!
//! A file the container serves (its own FUSE mount) can hold whoever opens
//! or reads it *in the kernel*: a FUSE request its server has read and never
//! answers is waited for uninterruptibly, and a process exits only once all
//! its threads do. So these reads are made by reader processes, never by
//! the agent's threads: each thread that reads such files (the mapped-file
//! readers of [`crate::symbols::loader`], the perf-map reader) has one
//! reader of its own, the agent binary re-executed in a hidden mode
//! ([`MODE`]), started when first needed. It gets requests over a
//! `SOCK_SEQPACKET` socketpair (its stdin), the directory to resolve in
//! passed with the request (`SCM_RIGHTS`), opens with the rules of
//! [`super::open`] (the very code the agent used), and streams back the bytes
//! (at most what the request allows, in chunks of [`CHUNK`]) or why not.
//! The parsing (ELF, unwind tables, perf maps) stays in the agent.
//!
//! The agent's thread waits on the socket, which a signal interrupts: when
//! the capture ends the agent stops waiting ([`shutdown`]: every reader is
//! killed and reaped) and exits. A reader held in the kernel by a file
//! system that never answers is the one thing left behind: it holds its
//! socket, the directory it was given and that file, nothing else of the
//! agent (its stdout and stderr are `/dev/null`, every other descriptor was
//! closed at exec), and it ends as soon as that file system answers or goes
//! away. A reader dies with the thread that started it (`PR_SET_PDEATHSIG`).
//!
//! A reader keeps only the capabilities its reads need (reading any file,
//! `/proc/PID/map_files`: `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`,
//! `CAP_SYS_PTRACE`, `CAP_CHECKPOINT_RESTORE` or, before Linux 5.9,
//! `CAP_SYS_ADMIN`) and sets `no_new_privs`.
//!
//! Where no reader binary was set ([`use_processes`]: library users, unit
//! tests), the same reads are made on the calling thread.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::open::Root;
use super::sys;
use crate::symbols::files::{self, Fetched, Locator};

/// The first argument that makes `holter-agent` a reader process.
pub const MODE: &str = "__holter-file-reader";
/// The most file bytes in one answer message.
pub const CHUNK: usize = 64 << 10;
/// The most a request may hold (its path included).
const MAX_REQUEST: usize = 8 << 10;

/// Requests.
const MAPPED: u8 = b'm';
const PREFIX: u8 = b'p';
const SUBDIR: u8 = b'd';
/// Answers: the size to expect, a note of a way that failed, file bytes,
/// the end (with the path opened), a failure, a directory descriptor.
const SIZE: u8 = b'S';
const NOTE: u8 = b'T';
const DATA: u8 = b'D';
const END: u8 = b'E';
const FAILED: u8 = b'X';
const DIR: u8 = b'F';

/// Capabilities a reader keeps (by number).
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// The binary readers run (`/proc/self/exe` in `holter-agent`).
static EXE: OnceLock<PathBuf> = OnceLock::new();

/// The readers started and not reaped, and whether new ones may start.
struct Registry {
    live: Vec<libc::pid_t>,
    closed: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    live: Vec::new(),
    closed: false,
});

thread_local! {
    /// This thread's reader process.
    static READER: RefCell<Option<Reader>> = const { RefCell::new(None) };
}

/// Makes reads of container files go through reader processes running
/// `exe` with [`MODE`] (the agent's own binary: `/proc/self/exe`).
pub fn use_processes(exe: PathBuf) {
    let _ = EXE.set(exe);
}

/// In a process started as a reader (`holter-agent __holter-file-reader
/// PARENT`): serves the requests and returns the exit code. `None` when
/// this process was not started as one.
pub fn serve_if_asked() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != MODE {
        return None;
    }
    let parent = args
        .next()
        .and_then(|p| p.to_str().and_then(|p| p.parse::<libc::pid_t>().ok()));
    Some(match parent {
        Some(parent) => serve(parent),
        None => 2,
    })
}

/// The pid of the calling thread's reader process, if it has one (tests).
pub fn this_threads_reader() -> Option<u32> {
    READER.with(|cell| cell.borrow().as_ref().map(|r| r.pid as u32))
}

/// Ends every reader: killed and reaped; a reader held in the kernel (it
/// cannot die until its file system answers) is waited for at most `wait`,
/// then left behind. No reader starts after this. The pids left.
pub fn shutdown(wait: Duration) -> Vec<u32> {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    reg.closed = true;
    for &pid in &reg.live {
        // SAFETY: an unreaped child of ours (so its pid is not reused).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let end = Instant::now() + wait;
    loop {
        reg.live.retain(|&pid| !reaped(pid));
        if reg.live.is_empty() || Instant::now() >= end {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    reg.live.iter().map(|&p| p as u32).collect()
}

/// Whether `pid` (a child of ours) has ended and is now reaped.
fn reaped(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on our own child, WNOHANG.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    r == pid || (r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// The whole mapped file of `at` (see [`files::open_mapped`]), at most
/// `max` bytes: in this thread's reader process, or here without one.
pub fn fetch_mapped(
    at: &Locator,
    expect: Option<(u32, u32, u64)>,
    max: u64,
) -> Result<Fetched, String> {
    if EXE.get().is_none() {
        return files::fetch_here(at, expect, max);
    }
    let mut req = vec![MAPPED];
    req.extend_from_slice(&at.pid.to_le_bytes());
    req.extend_from_slice(&at.start.to_le_bytes());
    req.extend_from_slice(&at.end.to_le_bytes());
    req.push(u8::from(at.map_files) | u8::from(expect.is_some()) << 1);
    let (maj, min, ino) = expect.unwrap_or_default();
    req.extend_from_slice(&maj.to_le_bytes());
    req.extend_from_slice(&min.to_le_bytes());
    req.extend_from_slice(&ino.to_le_bytes());
    req.extend_from_slice(&max.to_le_bytes());
    req.extend_from_slice(at.path.as_bytes());
    let a = ask(&req, at.root.as_deref().map(Root::as_raw_fd), max)?;
    Ok(Fetched {
        path: a.path,
        bytes: a.bytes,
        tried: a.tried,
    })
}

/// At most the first `max` bytes of the regular file `path` under `dir`.
pub fn read_prefix(dir: &Root, path: &str, max: u64) -> Result<Vec<u8>, String> {
    if EXE.get().is_none() {
        return dir
            .open(path)
            .and_then(|mut f| f.read_prefix(max))
            .map_err(|e| e.to_string());
    }
    let mut req = vec![PREFIX];
    req.extend_from_slice(&max.to_le_bytes());
    req.extend_from_slice(path.as_bytes());
    ask(&req, Some(dir.as_raw_fd()), max).map(|a| a.bytes)
}

/// The directory `path` under `dir`, kept as a root ([`Root::subdir`]).
pub fn subdir(dir: &Root, path: &str) -> Result<Root, String> {
    if EXE.get().is_none() {
        return dir.subdir(path).map_err(|e| e.to_string());
    }
    let mut req = vec![SUBDIR];
    req.extend_from_slice(path.as_bytes());
    match ask(&req, Some(dir.as_raw_fd()), 0)?.dir {
        Some(fd) => Ok(Root::from_fd(fd)),
        None => Err(format!("{path}: no directory in the reader's answer")),
    }
}

/// What a reader answered.
#[derive(Default)]
struct Answer {
    path: String,
    bytes: Vec<u8>,
    tried: Vec<String>,
    dir: Option<OwnedFd>,
}

/// Sends one request to this thread's reader (started if need be) and
/// takes its answer. A reader that fails is dropped (the next request
/// starts another).
fn ask(req: &[u8], fd: Option<RawFd>, max: u64) -> Result<Answer, String> {
    if req.len() > MAX_REQUEST {
        return Err("a path too long to read".into());
    }
    READER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Reader::start()?);
        }
        let reader = slot.as_mut().expect("just set");
        match reader.ask(req, fd, max) {
            Ok(a) => a,
            Err(broken) => {
                *slot = None;
                Err(broken)
            }
        }
    })
}

/// One reader process, used by one thread.
struct Reader {
    pid: libc::pid_t,
    sock: OwnedFd,
    buf: Vec<u8>,
}

impl Reader {
    fn start() -> Result<Reader, String> {
        let exe = EXE.get().ok_or("no reader binary")?;
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if reg.closed {
            return Err("the capture has ended: no more files are read".into());
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: socketpair fills two descriptors we then own.
        if unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        } != 0
        {
            return Err(format!(
                "cannot start a file reader: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: just made, owned here.
        let (mine, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        let mut cmd = Command::new(exe);
        cmd.arg(MODE)
            .arg(parent.to_string())
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe raw syscalls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Dies with this thread; nothing of the agent's but its stdin
                // crosses the exec.
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start a file reader ({}): {e}", exe.display()))?;
        let pid = child.id() as libc::pid_t;
        // Reaped by `Drop` or `shutdown`, not by `Child`.
        drop(child);
        reg.live.push(pid);
        Ok(Reader {
            pid,
            sock: mine,
            buf: vec![0; CHUNK + 1],
        })
    }

    /// The answer to one request: `Ok(answer)`, or `Err` when the reader
    /// itself failed (it is dropped).
    fn ask(
        &mut self,
        req: &[u8],
        fd: Option<RawFd>,
        max: u64,
    ) -> Result<Result<Answer, String>, String> {
        let pid = self.pid;
        let broken = |e: i32| {
            format!(
                "the file reader (pid {pid}) failed: {}",
                std::io::Error::from_raw_os_error(e)
            )
        };
        sys::send_msg(self.sock.as_raw_fd(), req, fd).map_err(broken)?;
        let mut a = Answer::default();
        loop {
            let (n, got) = sys::recv_msg(self.sock.as_raw_fd(), &mut self.buf).map_err(broken)?;
            // SAFETY: a descriptor just received, owned here.
            let got = got.map(|f| unsafe { OwnedFd::from_raw_fd(f) });
            if n == 0 {
                return Err(format!("the file reader (pid {}) ended", self.pid));
            }
            let body = &self.buf[1..n];
            let text = || String::from_utf8_lossy(body).into_owned();
            match self.buf[0] {
                SIZE => {
                    let size = body
                        .try_into()
                        .map(u64::from_le_bytes)
                        .unwrap_or_default()
                        .min(max);
                    a.bytes.reserve_exact(size as usize);
                }
                NOTE => a.tried.push(text()),
                DATA => {
                    if (a.bytes.len() + body.len()) as u64 > max {
                        return Err(format!(
                            "the file reader (pid {}) sent more than {max} bytes",
                            self.pid
                        ));
                    }
                    a.bytes.extend_from_slice(body);
                }
                END => {
                    a.path = text();
                    return Ok(Ok(a));
                }
                FAILED => return Ok(Err(text())),
                DIR => {
                    a.dir = got;
                    return Ok(Ok(a));
                }
                other => {
                    return Err(format!(
                        "the file reader (pid {}) sent an unknown answer {other}",
                        self.pid
                    ))
                }
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Its socket closed (here, as the fields drop) is its end of input;
        // killed and reaped unless `shutdown` did it already.
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = reg.live.iter().position(|&p| p == self.pid) {
            // SAFETY: an unreaped child of ours.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let end = Instant::now() + Duration::from_millis(100);
            while !reaped(self.pid) {
                if Instant::now() >= end {
                    // Held in the kernel: `shutdown` tries again at the end.
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            reg.live.swap_remove(i);
        }
    }
}

/// The capabilities a reader keeps, of those this kernel knows.
fn kept_capabilities() -> u64 {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let map_files = if last >= CAP_CHECKPOINT_RESTORE {
        CAP_CHECKPOINT_RESTORE
    } else {
        CAP_SYS_ADMIN
    };
    [
        CAP_DAC_OVERRIDE,
        CAP_DAC_READ_SEARCH,
        CAP_SYS_PTRACE,
        map_files,
    ]
    .iter()
    .fold(0, |m, c| m | 1 << c)
}

/// A reader's whole life: requests on stdin until it closes.
fn serve(parent: libc::pid_t) -> i32 {
    // SAFETY: prctl and getppid have no memory preconditions.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            return 0;
        }
    }
    // SAFETY: a single-threaded process.
    if unsafe { sys::keep_capabilities(kept_capabilities()) }.is_err() {
        return 4;
    }
    let sock: RawFd = 0;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut chunk = vec![0u8; CHUNK + 1];
    loop {
        let (n, fd) = match sys::recv_msg(sock, &mut buf) {
            Ok((0, _)) => return 0,
            Ok(got) => got,
            Err(_) => return 3,
        };
        // SAFETY: a descriptor just received, owned here.
        let dir = fd.map(|f| Root::from_fd(unsafe { OwnedFd::from_raw_fd(f) }));
        if answer(sock, &buf[..n], dir, &mut chunk).is_err() {
            return 3;
        }
    }
}

/// Little-endian fields of a request, in order.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn rest(&self) -> Option<String> {
        String::from_utf8(self.0.to_vec()).ok()
    }
}

/// Sends a tagged message.
fn send(sock: RawFd, tag: u8, body: &[u8], chunk: &mut [u8]) -> Result<(), i32> {
    let n = body.len().min(CHUNK);
    chunk[0] = tag;
    chunk[1..=n].copy_from_slice(&body[..n]);
    sys::send_msg(sock, &chunk[..=n], None)
}

/// Answers one request.
fn answer(sock: RawFd, req: &[u8], dir: Option<Root>, chunk: &mut [u8]) -> Result<(), i32> {
    let Some((&kind, rest)) = req.split_first() else {
        return send(sock, FAILED, b"an empty request", chunk);
    };
    let mut f = Fields(rest);
    match kind {
        MAPPED => {
            let parsed = (|| {
                let pid = f.u32()?;
                let start = f.u64()?;
                let end = f.u64()?;
                let [flags] = f.take::<1>()?;
                let (maj, min, ino) = (f.u32()?, f.u32()?, f.u64()?);
                let max = f.u64()?;
                Some((pid, start, end, flags, (maj, min, ino), max, f.rest()?))
            })();
            let Some((pid, start, end, flags, id, max, path)) = parsed else {
                return send(sock, FAILED, b"a malformed request", chunk);
            };
            let at = Locator {
                pid,
                root: dir.map(Arc::new),
                path,
                start,
                end,
                map_files: flags & 1 != 0,
            };
            let expect = (flags & 2 != 0).then_some(id);
            let (file, tried) = match files::open_mapped(&at, expect) {
                Ok(found) => found,
                Err(tried) => return send(sock, FAILED, tried.join("; ").as_bytes(), chunk),
            };
            for t in &tried {
                send(sock, NOTE, t.as_bytes(), chunk)?;
            }
            if file.size > max {
                let e = super::open::OpenError::TooLarge {
                    path: file.path.clone(),
                    max,
                };
                let mut all = tried;
                all.push(format!("{}: {e}", file.path));
                return send(sock, FAILED, all.join("; ").as_bytes(), chunk);
            }
            stream(sock, &file.file, &file.path, file.size, max, true, chunk)
        }
        PREFIX => {
            let (Some(max), Some(path), Some(dir)) = (f.u64(), f.rest(), dir) else {
                return send(sock, FAILED, b"a malformed request", chunk);
            };
            match dir.open(&path) {
                Ok(file) => stream(sock, &file.file, &file.path, file.size, max, false, chunk),
                Err(e) => send(sock, FAILED, e.to_string().as_bytes(), chunk),
            }
        }
        SUBDIR => {
            let (Some(path), Some(dir)) = (f.rest(), dir) else {
                return send(sock, FAILED, b"a malformed request", chunk);
            };
            match dir.subdir(&path) {
                Ok(sub) => sys::send_msg(sock, &[DIR], Some(sub.as_raw_fd())),
                Err(e) => send(sock, FAILED, e.to_string().as_bytes(), chunk),
            }
        }
        _ => send(sock, FAILED, b"an unknown request", chunk),
    }
}

/// Sends the bytes of `file` from its start: all of it (larger than `max`:
/// a failure, as [`super::open::Opened::read_capped`]) or, unless `whole`,
/// at most the first `max`.
fn stream(
    sock: RawFd,
    mut file: &std::fs::File,
    path: &str,
    size: u64,
    max: u64,
    whole: bool,
    chunk: &mut [u8],
) -> Result<(), i32> {
    use std::io::Read;
    send(sock, SIZE, &size.min(max).to_le_bytes(), chunk)?;
    let mut sent = 0u64;
    loop {
        // One more byte than allowed tells a file that grew past `max`.
        let room = (max + u64::from(whole)).saturating_sub(sent);
        let want = (CHUNK as u64).min(room) as usize;
        if want == 0 {
            break;
        }
        let n = match file.read(&mut chunk[1..=want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let msg = format!("{path}: {e}");
                return send(sock, FAILED, msg.as_bytes(), chunk);
            }
        };
        if whole && sent + n as u64 > max {
            let e = super::open::OpenError::TooLarge {
                path: path.to_string(),
                max,
            };
            return send(sock, FAILED, e.to_string().as_bytes(), chunk);
        }
        chunk[0] = DATA;
        sys::send_msg(sock, &chunk[..=n], None)?;
        sent += n as u64;
    }
    send(sock, END, path.as_bytes(), chunk)
}
