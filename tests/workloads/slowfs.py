#!/usr/bin/env python3
"""A FUSE file system that turns slow: a tiny server speaking the kernel's
FUSE protocol on /dev/fuse itself (no libfuse), for the e2e tests.

    slowfs.py MOUNTPOINT FILE TRIGGER

Mounts MOUNTPOINT holding one read-only executable, a copy of FILE under its
own name. It answers at once until the file TRIGGER exists; from then on it
stops reading requests for an hour, as a hung or overloaded file system does
(pages already read stay in the page cache, so a program run from it goes on
running; any new open or read waits). SIGTERM unmounts (lazily) and exits.

If TRIGGER holds `swallow`, the server instead goes on reading requests and
answers none: a request it has read is waited for *uninterruptibly* by the
caller (the kernel cannot take it back), so a thread that asked cannot be
killed until the server answers or dies.
"""

import ctypes
import os
import signal
import struct
import sys
import time

MOUNT, SOURCE, TRIGGER = sys.argv[1], sys.argv[2], sys.argv[3]
NAME = os.path.basename(SOURCE).encode()
DATA = open(SOURCE, "rb").read()
ROOT, FILE = 1, 2
HOUR = 3600

libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/dev/fuse", os.O_RDWR)
opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
if libc.mount(b"slowfs", MOUNT.encode(), b"fuse.slowfs", 2 | 4, opts) != 0:  # MS_NOSUID|MS_NODEV
    e = ctypes.get_errno()
    sys.exit(f"slowfs: mount {MOUNT}: {os.strerror(e)}")


def unmount(*_):
    libc.umount2(MOUNT.encode(), 2)  # MNT_DETACH
    os._exit(0)


signal.signal(signal.SIGTERM, unmount)


def attr(node):
    now = int(time.time())
    if node == ROOT:
        mode, size, nlink = 0o040755, 0, 2
    else:
        mode, size, nlink = 0o100755, len(DATA), 1
    # ino size blocks atime mtime ctime atimensec mtimensec ctimensec mode nlink uid gid rdev blksize flags
    return struct.pack("<QQQQQQIIIIIIIIII", node, size, (size + 511) // 512,
                       now, now, now, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0)


def reply(unique, body=b"", error=0):
    os.write(fd, struct.pack("<IiQ", 16 + len(body), -error, unique) + body)


DAY = 86400
while True:
    if os.path.exists(TRIGGER):
        with open(TRIGGER, "rb") as t:
            swallow = t.read().startswith(b"swallow")
        if not swallow:
            time.sleep(HOUR)  # hung: nothing more is read
            continue
        try:
            os.read(fd, (1 << 20) + 4096)  # read, never answered
        except OSError as e:
            if e.errno != 4:  # EINTR
                break
        continue
    try:
        req = os.read(fd, (1 << 20) + 4096)
    except OSError as e:
        if e.errno == 4:  # EINTR
            continue
        break  # unmounted
    if not req:
        break
    length, opcode, unique, node = struct.unpack_from("<IIQQ", req, 0)
    arg = req[40:length]
    if opcode == 26:  # INIT
        major, minor, readahead, flags = struct.unpack_from("<IIII", arg, 0)
        # major minor max_readahead flags max_background congestion max_write
        # time_gran max_pages map_alignment flags2 max_stack_depth unused[6]
        body = struct.pack("<IIIIHHIIHHII24x", 7, 31, readahead, 0, 16, 12, 1 << 17, 1, 32, 0, 0, 0)
        reply(unique, body)
    elif opcode == 1:  # LOOKUP
        name = arg.split(b"\0", 1)[0]
        if node == ROOT and name == NAME:
            reply(unique, struct.pack("<QQQQII", FILE, 0, DAY, DAY, 0, 0) + attr(FILE))
        else:
            reply(unique, error=2)  # ENOENT
    elif opcode in (2, 42, 36):  # FORGET, BATCH_FORGET, INTERRUPT: no answer
        pass
    elif opcode == 3:  # GETATTR
        reply(unique, struct.pack("<QII", DAY, 0, 0) + attr(node))
    elif opcode in (14, 27):  # OPEN, OPENDIR (FOPEN_KEEP_CACHE for the file)
        reply(unique, struct.pack("<QII", 0, 2 if opcode == 14 else 0, 0))
    elif opcode == 15:  # READ
        _fh, offset, size = struct.unpack_from("<QQI", arg, 0)
        reply(unique, DATA[offset:offset + size])
    elif opcode == 28:  # READDIR
        _fh, offset, size = struct.unpack_from("<QQI", arg, 0)
        out = b""
        entries = [(ROOT, b".", 4), (ROOT, b"..", 4), (FILE, NAME, 8)]
        for i, (ino, n, typ) in enumerate(entries[offset:], start=offset + 1):
            ent = struct.pack("<QQII", ino, i, len(n), typ) + n
            ent += b"\0" * (-len(ent) % 8)
            if len(out) + len(ent) > size:
                break
            out += ent
        reply(unique, out)
    elif opcode in (18, 29, 25):  # RELEASE, RELEASEDIR, FLUSH
        reply(unique)
    elif opcode == 17:  # STATFS
        reply(unique, struct.pack("<QQQQQIIII24x", 1, 0, 0, 1, 0, 4096, 255, 4096, 0))
    elif opcode == 34:  # ACCESS
        reply(unique)
    elif opcode == 38:  # DESTROY
        reply(unique)
        break
    else:
        reply(unique, error=38)  # ENOSYS
