//! The thin unsafe part of the host view: `openat2` confined to a root,
//! reopening a path descriptor through `/proc/self/fd`, and dropping
//! capabilities. Every function here makes raw syscalls on memory the caller
//! owns and allocates nothing, so the namespace helper may call them between
//! `fork` and `_exit`.

use std::ffi::CStr;
use std::os::fd::RawFd;

/// Flags of the descriptor finally read: never blocks in `open` on a FIFO,
/// never becomes a controlling terminal, never leaks into an exec.
pub const READ_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

/// `openat2(dirfd, path, O_PATH | O_CLOEXEC)` resolved as if `dirfd` were
/// `/` (absolute links and `..` stay inside it) and refusing `/proc` magic
/// links. A path descriptor opens nothing: no device driver, no FIFO.
/// Returns the fd or the errno (`ENOSYS` where openat2 does not exist).
///
/// # Safety
/// `dirfd` must be a valid descriptor.
pub unsafe fn open_path_in_root(dirfd: RawFd, path: &CStr) -> Result<RawFd, i32> {
    // SAFETY: open_how is plain data; zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid C string and a valid open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd as RawFd)
    }
}

/// `openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)`: one component,
/// never following a link (for the walk where openat2 is missing).
///
/// # Safety
/// `dirfd` must be a valid descriptor.
pub unsafe fn open_component(dirfd: RawFd, name: &CStr) -> Result<RawFd, i32> {
    // SAFETY: a valid C string.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// `fstat` into `st`.
///
/// # Safety
/// `fd` must be a valid descriptor.
pub unsafe fn fstat(fd: RawFd, st: &mut libc::stat) -> Result<(), i32> {
    // SAFETY: `st` is a valid stat buffer.
    if unsafe { libc::fstat(fd, st) } != 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Opens for reading the very file a path descriptor names, through
/// `fd_dir`, a descriptor of this process's `/proc/self/fd` directory.
///
/// # Safety
/// Both must be valid descriptors.
pub unsafe fn reopen(fd_dir: RawFd, fd: RawFd) -> Result<RawFd, i32> {
    let mut name = [0u8; 16];
    let mut digits = [0u8; 12];
    let mut n = fd as u32;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        name[i] = digits[len - 1 - i];
    }
    // SAFETY: `name` is NUL-terminated (zeroed past the digits).
    let r = unsafe { libc::openat(fd_dir, name.as_ptr().cast(), READ_FLAGS) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Drops every capability of the calling thread (effective, permitted,
/// inheritable) and forbids gaining any back through exec.
///
/// # Safety
/// Only affects the calling thread; call it in a single-threaded helper.
pub unsafe fn drop_all_capabilities() -> Result<(), i32> {
    // SAFETY: the caller's contract is the same.
    unsafe { keep_capabilities(0) }
}

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Keeps only the capabilities in `keep` (bits by number) of those the
/// calling thread has (effective and permitted; none inheritable), and
/// forbids gaining any back through exec (`no_new_privs`).
///
/// # Safety
/// Only affects the calling thread; call it in a single-threaded process.
pub unsafe fn keep_capabilities(keep: u64) -> Result<(), i32> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut now = [Data::default(); 2];
    // SAFETY: raw prctl/capget/capset on structs laid out as the kernel expects.
    unsafe {
        if libc::syscall(libc::SYS_capget, &header as *const Header, now.as_mut_ptr()) != 0 {
            return Err(errno());
        }
        let has = u64::from(now[0].permitted) | u64::from(now[1].permitted) << 32;
        let mask = keep & has;
        let data = [
            Data {
                effective: mask as u32,
                permitted: mask as u32,
                inheritable: 0,
            },
            Data {
                effective: (mask >> 32) as u32,
                permitted: (mask >> 32) as u32,
                inheritable: 0,
            },
        ];
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) != 0 {
            return Err(errno());
        }
    }
    Ok(())
}

/// Sends one message on a `SOCK_SEQPACKET` socket, with `fd` attached
/// (`SCM_RIGHTS`) if given. Returns the errno on failure.
pub fn send_msg(sock: RawFd, bytes: &[u8], fd: Option<RawFd>) -> Result<(), i32> {
    // A control buffer for one descriptor, aligned for cmsghdr.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic; the buffer holds one fd.
        unsafe {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        }
    }
    loop {
        // SAFETY: a valid msghdr.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receives one message from a `SOCK_SEQPACKET` socket into `buf`: its
/// length (0 at the end of the stream, or a message cut to `buf`: the
/// caller's protocol bounds every message) and a descriptor if one came
/// (received `O_CLOEXEC`).
pub fn recv_msg(sock: RawFd, buf: &mut [u8]) -> Result<(usize, Option<RawFd>), i32> {
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = loop {
        // SAFETY: a valid msghdr over buffers we own.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    };
    let mut fd = None;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let got = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
                if fd.is_none() {
                    fd = Some(got);
                } else {
                    libc::close(got);
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_TRUNC != 0 {
        if let Some(f) = fd {
            // SAFETY: a descriptor just received and owned here.
            unsafe { libc::close(f) };
        }
        return Err(libc::EMSGSIZE);
    }
    Ok((n, fd))
}
