/* A 64-bit program making 32-bit syscalls through `int $0x80` (the i386 ABI,
 * i386 numbers), beside native ones, for tests/tests/syscalls.rs:
 *   int80 N   N x i386 getpid (20), N x i386 close(-1) (6: EBADF),
 *             then N native getpid (39), then prints "done" and exits.
 * Exit status 2 when the kernel serves no 32-bit calls (no IA32 emulation). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long int80(long nr, long a) {
    long ret;
    /* The compat entry zeroes r8-r11. */
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10;
    long pid = int80(20, 0);
    if (pid != getpid()) {
        fprintf(stderr, "int80: no 32-bit syscalls here (getpid via int 0x80 gave %ld)\n", pid);
        return 2;
    }
    for (long i = 1; i < n; i++)
        int80(20, 0);
    for (long i = 0; i < n; i++)
        if (int80(6, -1) != -9)
            return 3;
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    puts("done");
    return 0;
}
