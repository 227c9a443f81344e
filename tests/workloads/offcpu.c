/* Off-CPU workloads (tests/tests/off_cpu.rs).
 *   offcpu [SECONDS]       one thread blocks in two known functions, 3:1 in
 *                          time: block_long() sleeps 30 ms (nanosleep),
 *                          block_short() 10 ms (poll with no fds), with a
 *                          timer slack of 1 ns;
 *   offcpu busy SECONDS    two threads spin (never block): in a cgroup with
 *                          half a CPU of quota they wait runnable, throttled.
 * Built with frame pointers and no inlining so each function is a frame. */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void block_long(void) {
    struct timespec ts = {0, 30000000};
    nanosleep(&ts, NULL);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void block_short(void) {
    poll(NULL, 0, 10);
    __asm__ volatile("" ::: "memory");
}

static double busy_end;

__attribute__((noinline)) static void *spin(void *arg) {
    volatile unsigned long n = 0;
    while (now() < busy_end)
        for (int i = 0; i < 10000; i++)
            n++;
    return arg;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "busy") == 0) {
        busy_end = now() + atof(argv[2]);
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, spin, NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        return 0;
    }
    double seconds = argc > 1 ? atof(argv[1]) : 4;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    double end = now() + seconds;
    while (now() < end) {
        block_long();
        block_short();
    }
    return 0;
}
