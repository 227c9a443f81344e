/* Off-CPU workload: one thread blocks in two known functions, 3:1 in time:
 * block_long() sleeps 9 ms (nanosleep), block_short() 3 ms (poll with no
 * fds), for SECONDS seconds (argv[1], default 4). Built with frame pointers
 * and no inlining so both functions are frames of their own. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void block_long(void) {
    struct timespec ts = {0, 9000000};
    nanosleep(&ts, NULL);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void block_short(void) {
    poll(NULL, 0, 3);
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 4;
    double end = now() + seconds;
    while (now() < end) {
        block_long();
        block_short();
    }
    return 0;
}
