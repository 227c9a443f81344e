/* The demo workload: a CPU-bound parser and hasher with a little I/O, so the
 * demo's flame graph, syscall table and throttling report all have something
 * to show. Usage: demo-workload SECONDS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) static unsigned long hash_block(const char *p, int n) {
    volatile char buf[64];
    unsigned long h = 1469598103934665603UL;
    for (int i = 0; i < n; i++) {
        buf[i & 63] = p[i];
        h = (h ^ (unsigned char)buf[i & 63]) * 1099511628211UL;
    }
    return h;
}

__attribute__((noinline)) static unsigned long parse_records(int rounds) {
    volatile char line[64];
    unsigned long total = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 64; i++) line[i] = (char)('0' + (r + i) % 10);
        for (int i = 0; i < 64; i++) total = total * 10 + (line[i] - '0');
    }
    return total;
}

__attribute__((noinline)) static void write_log(int fd, unsigned long v) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%lu\n", v);
    if (write(fd, msg, n) < 0) sink++;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    static char block[4096];
    for (int i = 0; i < (int)sizeof block; i++) block[i] = (char)i;
    int fd = open("/dev/null", O_WRONLY);
    double end = now() + seconds;
    while (now() < end) {
        sink += hash_block(block, sizeof block);
        sink += parse_records(200);
        write_log(fd, sink);
        if (open("/nonexistent/holter-demo.conf", O_RDONLY) < 0) sink++;
    }
    return 0;
}
