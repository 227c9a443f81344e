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
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
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
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: raw prctl/capset on structs laid out as the kernel expects.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) != 0 {
            return Err(errno());
        }
    }
    Ok(())
}

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}
