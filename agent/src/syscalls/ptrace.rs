//! The ptrace requests the tracer uses, as thin wrappers over `libc::ptrace`,
//! and the decoding of `waitpid` statuses. Every call must come from the
//! tracer thread: the kernel ties a tracee to the thread that seized it.

use std::io;

/// `PTRACE_O_*` options given at seize: syscall stops marked with 0x80,
/// new threads and processes followed, exec reported. Never `EXITKILL`:
/// if the agent dies, the kernel detaches and the target runs on.
const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACEEXEC;

const EVENT_FORK: i32 = libc::PTRACE_EVENT_FORK;
const EVENT_VFORK: i32 = libc::PTRACE_EVENT_VFORK;
const EVENT_CLONE: i32 = libc::PTRACE_EVENT_CLONE;
const EVENT_EXEC: i32 = libc::PTRACE_EVENT_EXEC;
const EVENT_STOP: i32 = libc::PTRACE_EVENT_STOP;

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

// The requests by their kernel numbers (<linux/ptrace.h>): the libc crate
// types them `c_uint` for glibc and `c_int` for musl (the static agent).
const PTRACE_SYSCALL: u32 = 24;
const PTRACE_DETACH: u32 = 17;
const PTRACE_GETEVENTMSG: u32 = 0x4201;
const PTRACE_SEIZE: u32 = 0x4206;
const PTRACE_INTERRUPT: u32 = 0x4207;
const PTRACE_LISTEN: u32 = 0x4208;
const PTRACE_GET_SYSCALL_INFO: u32 = 0x420e;

#[allow(clippy::unnecessary_cast)]
fn request(req: u32, tid: u32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: the requests used here read or write only through `data` when it
    // points at a buffer this module owns (GETEVENTMSG, GET_SYSCALL_INFO).
    check(unsafe { libc::ptrace(req as _, tid as libc::pid_t, addr, data) })
}

/// Attaches to one thread without stopping it.
pub fn seize(tid: u32) -> io::Result<()> {
    request(PTRACE_SEIZE, tid, 0, OPTIONS as usize).map(drop)
}

/// Stops a seized thread (it reports a `PTRACE_EVENT_STOP`).
pub fn interrupt(tid: u32) -> io::Result<()> {
    request(PTRACE_INTERRUPT, tid, 0, 0).map(drop)
}

/// Resumes a stopped thread until its next syscall entry or exit, delivering `sig` (0: none).
pub fn syscall(tid: u32, sig: i32) -> io::Result<()> {
    request(PTRACE_SYSCALL, tid, 0, sig as usize).map(drop)
}

/// Lets a thread in group-stop stay stopped while still reporting events.
pub fn listen(tid: u32) -> io::Result<()> {
    request(PTRACE_LISTEN, tid, 0, 0).map(drop)
}

/// Detaches a stopped thread, delivering `sig` (0: none).
pub fn detach(tid: u32, sig: i32) -> io::Result<()> {
    request(PTRACE_DETACH, tid, 0, sig as usize).map(drop)
}

/// The message of the last event: the new tid of a clone/fork, the former tid of an exec.
pub fn event_msg(tid: u32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    request(
        PTRACE_GETEVENTMSG,
        tid,
        0,
        &mut msg as *mut libc::c_ulong as usize,
    )?;
    Ok(msg as u64)
}

/// `struct ptrace_syscall_info` of `<linux/ptrace.h>`, with the union laid out
/// as its largest member (the seccomp one).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawInfo {
    op: u8,
    pad: [u8; 3],
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    /// entry: nr, args[6]; exit: rval (i64), is_error (u8).
    data: [u64; 7],
    ret_data: u32,
    pad2: u32,
}

/// What `PTRACE_GET_SYSCALL_INFO` says about a syscall stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallInfo {
    Entry {
        nr: u64,
        args: [u64; 6],
        /// A 32-bit call (`int 0x80`) of an x86_64 process: `nr` is in the i386 table.
        compat: bool,
    },
    Exit {
        ret: i64,
    },
    /// Not a syscall stop, or a seccomp stop (not requested).
    Other,
    /// Not in a syscall-stop at all (`PTRACE_SYSCALL_INFO_NONE`): the stop
    /// reported under this tid was its former owner's (see `Tracer::handle`).
    NotInSyscall,
}

/// `AUDIT_ARCH_*` of this build's syscall table (`<linux/audit.h>`).
#[cfg(target_arch = "x86_64")]
const NATIVE_AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const NATIVE_AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_AUDIT_ARCH: u32 = 0;
/// `AUDIT_ARCH_I386`: the 32-bit calls an x86_64 kernel also serves.
#[cfg(target_arch = "x86_64")]
const COMPAT_AUDIT_ARCH: u32 = 0x4000_0003;
#[cfg(not(target_arch = "x86_64"))]
const COMPAT_AUDIT_ARCH: u32 = 0;

const OP_NONE: u8 = 0;
const OP_ENTRY: u8 = 1;
const OP_EXIT: u8 = 2;

pub fn syscall_info(tid: u32) -> io::Result<SyscallInfo> {
    let mut raw = RawInfo::default();
    request(
        PTRACE_GET_SYSCALL_INFO,
        tid,
        std::mem::size_of::<RawInfo>(),
        &mut raw as *mut RawInfo as usize,
    )?;
    // A 32-bit call (int 0x80) of a 64-bit process: the i386 numbering.
    let compat = COMPAT_AUDIT_ARCH != 0 && raw.arch == COMPAT_AUDIT_ARCH;
    if NATIVE_AUDIT_ARCH != 0 && raw.arch != NATIVE_AUDIT_ARCH && !compat {
        return Ok(SyscallInfo::Other);
    }
    Ok(match raw.op {
        OP_ENTRY => {
            let d = raw.data;
            SyscallInfo::Entry {
                nr: d[0],
                args: [d[1], d[2], d[3], d[4], d[5], d[6]],
                compat,
            }
        }
        OP_EXIT => SyscallInfo::Exit {
            ret: raw.data[0] as i64,
        },
        OP_NONE => SyscallInfo::NotInSyscall,
        _ => SyscallInfo::Other,
    })
}

/// What a `waitpid` status says happened to a tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The thread is gone (exited or killed).
    Gone,
    /// A syscall entry or exit (TRACESYSGOOD).
    Syscall,
    /// A new thread or process `PTRACE_EVENT_{CLONE,FORK,VFORK}`.
    NewTask,
    Exec,
    /// `PTRACE_EVENT_STOP` with a stop signal: the thread is in group-stop.
    Group,
    /// `PTRACE_EVENT_STOP` for an interrupt or a new task's first stop.
    Interrupt,
    /// Another event (e.g. vfork-done): resume with no signal.
    OtherEvent,
    /// A signal is about to be delivered: re-inject it on resume.
    Signal(i32),
}

/// Decodes a `waitpid` status (pure).
pub fn decode(status: i32) -> Stop {
    if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
        return Stop::Gone;
    }
    if !libc::WIFSTOPPED(status) {
        return Stop::OtherEvent;
    }
    let sig = libc::WSTOPSIG(status);
    if sig == libc::SIGTRAP | 0x80 {
        return Stop::Syscall;
    }
    match status >> 16 {
        0 => Stop::Signal(sig),
        EVENT_CLONE | EVENT_FORK | EVENT_VFORK => Stop::NewTask,
        EVENT_EXEC => Stop::Exec,
        EVENT_STOP => match sig {
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => Stop::Group,
            _ => Stop::Interrupt,
        },
        _ => Stop::OtherEvent,
    }
}

/// Waits for any tracee of this thread; `Ok(None)` when interrupted by the wake signal.
pub fn wait_any() -> io::Result<Option<(u32, i32)>> {
    let mut status = 0;
    // SAFETY: plain syscall writing one int.
    let r = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) };
    if r == -1 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some((r as u32, status)))
}

/// Takes one more report without blocking; `None` when no tracee is waiting.
pub fn wait_nohang() -> Option<(u32, i32)> {
    let mut status = 0;
    // SAFETY: plain syscall writing one int.
    let r = unsafe {
        libc::waitpid(
            -1,
            &mut status,
            libc::__WALL | libc::__WNOTHREAD | libc::WNOHANG,
        )
    };
    (r > 0).then_some((r as u32, status))
}

/// The signal that wakes the tracer out of `waitpid` (a real-time one, with a no-op handler).
pub fn wake_signal() -> i32 {
    libc::SIGRTMIN() + 6
}

extern "C" fn on_wake(_: libc::c_int) {}

/// Installs the no-op handler of the wake signal, without `SA_RESTART`, so
/// that it interrupts `waitpid` with `EINTR`.
pub fn install_wake_handler() -> io::Result<()> {
    // SAFETY: a zeroed sigaction with a valid handler and an empty mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_wake as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        if libc::sigaction(wake_signal(), &sa, std::ptr::null_mut()) == -1 {
            return Err(io::Error::last_os_error());
        }
        // Unblock it in this thread (threads inherit the mask of their creator).
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, wake_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    Ok(())
}

/// The kernel id of the calling thread.
pub fn gettid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::gettid() as u32 }
}

/// Sends the wake signal to thread `tid` of this process.
pub fn wake(tid: u32) {
    // SAFETY: plain syscall; a stale tid only fails.
    unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            tid as libc::pid_t,
            wake_signal(),
        );
    }
}

/// Reads up to `buf.len()` bytes at `addr` in `pid`, page by page, stopping
/// at the first unreadable page. Returns how many bytes were read.
pub fn read_memory(pid: u32, addr: u64, buf: &mut [u8]) -> usize {
    const PAGE: u64 = 4096;
    let mut done = 0usize;
    while done < buf.len() {
        let at = addr + done as u64;
        let chunk = ((PAGE - at % PAGE) as usize).min(buf.len() - done);
        let local = libc::iovec {
            iov_base: buf[done..].as_mut_ptr().cast(),
            iov_len: chunk,
        };
        let remote = libc::iovec {
            iov_base: at as *mut libc::c_void,
            iov_len: chunk,
        };
        // SAFETY: `local` points into `buf` for `chunk` bytes; the kernel checks `remote`.
        let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
        if n <= 0 {
            break;
        }
        done += n as usize;
        if (n as usize) < chunk {
            break;
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unnecessary_cast)]
    fn request_numbers_are_the_kernels() {
        // libc's own constants (typed c_uint on glibc, c_int on musl).
        for (ours, theirs) in [
            (PTRACE_SYSCALL, libc::PTRACE_SYSCALL as u32),
            (PTRACE_DETACH, libc::PTRACE_DETACH as u32),
            (PTRACE_GETEVENTMSG, libc::PTRACE_GETEVENTMSG as u32),
            (PTRACE_SEIZE, libc::PTRACE_SEIZE as u32),
            (PTRACE_INTERRUPT, libc::PTRACE_INTERRUPT as u32),
            (PTRACE_LISTEN, libc::PTRACE_LISTEN as u32),
        ] {
            assert_eq!(ours, theirs);
        }
        #[cfg(target_env = "gnu")]
        assert_eq!(
            PTRACE_GET_SYSCALL_INFO,
            libc::PTRACE_GET_SYSCALL_INFO as u32
        );
    }

    fn stopped(sig: i32, event: i32) -> i32 {
        (event << 16) | (sig << 8) | 0x7f
    }

    #[test]
    fn statuses_decode() {
        assert_eq!(decode(0), Stop::Gone); // exited 0
        assert_eq!(decode(9), Stop::Gone); // killed by SIGKILL
        assert_eq!(decode(stopped(libc::SIGTRAP | 0x80, 0)), Stop::Syscall);
        assert_eq!(
            decode(stopped(libc::SIGUSR1, 0)),
            Stop::Signal(libc::SIGUSR1)
        );
        assert_eq!(decode(stopped(libc::SIGTRAP, EVENT_CLONE)), Stop::NewTask);
        assert_eq!(decode(stopped(libc::SIGTRAP, EVENT_FORK)), Stop::NewTask);
        assert_eq!(decode(stopped(libc::SIGTRAP, EVENT_EXEC)), Stop::Exec);
        assert_eq!(decode(stopped(libc::SIGTRAP, EVENT_STOP)), Stop::Interrupt);
        assert_eq!(decode(stopped(libc::SIGSTOP, EVENT_STOP)), Stop::Group);
        assert_eq!(decode(stopped(libc::SIGTSTP, EVENT_STOP)), Stop::Group);
        assert_eq!(
            decode(stopped(libc::SIGTRAP, libc::PTRACE_EVENT_VFORK_DONE)),
            Stop::OtherEvent
        );
    }

    #[test]
    fn raw_info_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<RawInfo>(), 88);
    }

    #[test]
    fn reads_own_memory() {
        let text = b"/etc/hostname\0rest";
        let mut buf = [0u8; 64];
        let n = read_memory(
            std::process::id(),
            text.as_ptr() as u64,
            &mut buf[..text.len()],
        );
        assert_eq!(&buf[..n], text);
    }
}
