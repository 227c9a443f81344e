/* Workload of exactly known syscalls, for tests/tests/syscalls.rs.
 *
 *   syscalls counts N M K [now|wait [FILE [SLEEP_NS]]]
 *                                N getpid, M openat of a missing path (ENOENT),
 *                                K nanosleep of 20 ms, then exit 0. Unless
 *                                `now`, it first waits for SIGUSR2 (so a tracer
 *                                can attach before the counted calls). With
 *                                FILE (opened before the wait), it writes there
 *                                the duration of each sleep as it measured it, in ns.
 *                                SLEEP_NS: the length of each sleep (default 20 ms).
 *   syscalls signals N           counts SIGUSR1 in a handler, printing the
 *                                count after each; exits after N.
 *   syscalls threads T           T threads calling getpid + nanosleep(10 ms) forever.
 *   syscalls spin ITER           ITER times getpid + nanosleep(1 ms), then exit 0.
 *   syscalls heavy N             N getpid as fast as possible (benchmarks).
 *   syscalls timed N FILE        the same, then writes the loop's own duration
 *                                (ns) to FILE: a tracer's start and end are left out.
 *   syscalls execthread N        a second thread execs `syscalls counts N 0 0 now`
 *                                (the exec changes its thread id to the pid).
 *
 * Calls go through syscall(2) so libc wrappers cannot add or rename any.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void sleep_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
    syscall(SYS_nanosleep, &ts, NULL);
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int counts(long n, long m, long k, int now, const char *file, long sleep)
{
    int out = file ? open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (!now) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sig;
        sigwait(&set, &sig);
    }
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    for (long i = 0; i < m; i++)
        syscall(SYS_openat, AT_FDCWD, "/nonexistent/holter-workload", O_RDONLY);
    long took[256];
    for (long i = 0; i < k; i++) {
        long t0 = now_ns();
        sleep_ns(sleep);
        if (i < 256)
            took[i] = now_ns() - t0;
    }
    if (out >= 0) {
        char buf[256 * 24];
        int len = 0;
        for (long i = 0; i < k && i < 256; i++)
            len += snprintf(buf + len, sizeof buf - len, "%ld\n", took[i]);
        if (write(out, buf, len) != len)
            return 1;
        close(out);
    }
    return 0;
}

static volatile sig_atomic_t received;

static void on_usr1(int sig)
{
    (void)sig;
    received++;
}

static int signals(long n)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    printf("ready\n");
    fflush(stdout);
    long seen = 0;
    while (seen < n) {
        while (received == seen)
            sigsuspend(&old); /* atomically unblock and wait: no signal slips by */
        seen = received;
        printf("%ld\n", seen);
        fflush(stdout);
    }
    return 0;
}

static void *thread_loop(void *arg)
{
    (void)arg;
    for (;;) {
        syscall(SYS_getpid);
        sleep_ns(10 * 1000 * 1000L);
    }
    return NULL;
}

static int threads(long t)
{
    for (long i = 0; i < t; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, thread_loop, NULL) != 0)
            return 1;
    }
    thread_loop(NULL);
    return 0;
}

static int spin(long iterations)
{
    for (long i = 0; i < iterations; i++) {
        syscall(SYS_getpid);
        sleep_ns(1000 * 1000L);
    }
    return 0;
}

static int heavy(long n)
{
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    return 0;
}

static int timed(long n, const char *file)
{
    long t0 = now_ns();
    heavy(n);
    long ns = now_ns() - t0;
    FILE *f = fopen(file, "w");
    if (!f)
        return 1;
    fprintf(f, "%ld\n", ns);
    return fclose(f) != 0;
}

static char *self_exe;
static char *exec_n;

static void *exec_from_thread(void *arg)
{
    (void)arg;
    char *args[] = { "syscalls", "counts", exec_n, "0", "0", "now", NULL };
    sleep_ns(50 * 1000 * 1000L); /* the main thread is in pause() by then */
    execv(self_exe, args);
    _exit(127);
}

static int execthread(char *exe, char *n)
{
    self_exe = exe;
    exec_n = n;
    pthread_t th;
    if (pthread_create(&th, NULL, exec_from_thread, NULL) != 0)
        return 1;
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "counts") == 0)
        return counts(atol(argv[2]), atol(argv[3]), atol(argv[4]),
                      argc > 5 && strcmp(argv[5], "now") == 0, argc > 6 ? argv[6] : NULL,
                      argc > 7 ? atol(argv[7]) : 20 * 1000 * 1000L);
    if (argc == 3 && strcmp(argv[1], "signals") == 0)
        return signals(atol(argv[2]));
    if (argc == 3 && strcmp(argv[1], "threads") == 0)
        return threads(atol(argv[2]));
    if (argc == 3 && strcmp(argv[1], "spin") == 0)
        return spin(atol(argv[2]));
    if (argc == 3 && strcmp(argv[1], "heavy") == 0)
        return heavy(atol(argv[2]));
    if (argc == 4 && strcmp(argv[1], "timed") == 0)
        return timed(atol(argv[2]), argv[3]);
    if (argc == 3 && strcmp(argv[1], "execthread") == 0)
        return execthread("/proc/self/exe", argv[2]);
    fprintf(stderr, "usage: syscalls counts N M K [now|wait [FILE]] | signals N | threads T | spin ITER | heavy N | execthread N\n");
    return 2;
}
