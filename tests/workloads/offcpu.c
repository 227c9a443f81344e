/* Off-CPU workloads (tests/tests/off_cpu.rs).
 *   offcpu [SECONDS]       one thread blocks in two known functions, 3:1 in
 *                          time: block_long() sleeps 30 ms (nanosleep),
 *                          block_short() 10 ms (poll with no fds), with a
 *                          timer slack of 1 ns;
 *   offcpu busy SECONDS    two threads spin (never block): in a cgroup with
 *                          half a CPU of quota they wait runnable, throttled;
 *   offcpu pingpong N FILE two threads pass a byte back and forth N times
 *                          through two pipes (2N context switches at least)
 *                          and write the loop's time in ns to FILE
 *                          (bench/off-cpu.sh).
 * Built with frame pointers and no inlining so each function is a frame. */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static int ping[2], pong[2];
static long rounds;

static void *ponger(void *arg) {
    char c;
    for (long i = 0; i < rounds; i++) {
        if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
            break;
    }
    return arg;
}

int main(int argc, char **argv) {
    if (argc > 3 && strcmp(argv[1], "pingpong") == 0) {
        rounds = atol(argv[2]);
        if (pipe(ping) || pipe(pong))
            return 1;
        pthread_t t;
        pthread_create(&t, NULL, ponger, NULL);
        double start = now();
        char c = 'x';
        for (long i = 0; i < rounds; i++) {
            if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
                return 1;
        }
        double took = now() - start;
        pthread_join(t, NULL);
        FILE *f = fopen(argv[3], "w");
        if (!f)
            return 1;
        fprintf(f, "%.0f\n", took * 1e9);
        fclose(f);
        return 0;
    }
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
