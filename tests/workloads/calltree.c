/* A CPU workload with a known call tree and known proportions, for the
 * sampling tests and bench/sampling.sh:
 *
 *   main -> work_a -> burn   2/3 of the work
 *   main -> work_b -> burn   1/3 of the work
 *
 * Usage: calltree SECONDS   run for about that long (0: until killed)
 *        calltree -n ROUNDS a fixed amount of work (ROUNDS rounds of 3 units)
 * With CALLTREE_REPORT set, prints "calltree: elapsed SECONDS cpu SECONDS"
 * on stderr at the end (appends it to the file CALLTREE_REPORT names if it
 * starts with '/'): the wall and CPU time of the work alone, not of a
 * profiler's start-up. With CALLTREE_WAIT=PATH (a FIFO), it first blocks
 * reading PATH, using no CPU, until a test says "go". With CALLTREE_DLOPEN=LIB
 * it then loads the shared library LIB (a new executable mapping before any
 * work: what a process moved into a cgroup does first, there).
 *
 * burn() keeps a small array on its stack, so GCC 12 gives it a frame (and a
 * frame pointer) even at -O1: a leaf without one would hide its caller from
 * frame-pointer unwinding. Build: cc -O1 -g -fno-omit-frame-pointer.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNIT 200000UL

volatile unsigned long sink;

__attribute__((noinline)) void burn(unsigned long n)
{
	volatile unsigned long acc[4];
	unsigned long i;

	memset((void *)acc, 0, sizeof(acc));
	for (i = 0; i < n; i++)
		acc[i & 3] += i ^ (acc[(i + 1) & 3] >> 3);
	sink += acc[0] + acc[1] + acc[2] + acc[3];
}

__attribute__((noinline)) void work_a(void)
{
	burn(2 * UNIT);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void work_b(void)
{
	burn(UNIT);
	__asm__ volatile("" ::: "memory");
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static void report(double elapsed, double cpu)
{
	const char *to = getenv("CALLTREE_REPORT");
	FILE *f = stderr;

	if (!to)
		return;
	if (to[0] == '/' && !(f = fopen(to, "a")))
		return;
	fprintf(f, "calltree: elapsed %.6f cpu %.6f\n", elapsed, cpu);
	if (f != stderr)
		fclose(f);
}

int main(int argc, char **argv)
{
	const char *wait = getenv("CALLTREE_WAIT");

	if (wait) {
		char c;
		int fd = open(wait, O_RDONLY);

		if (fd < 0 || read(fd, &c, 1) != 1)
			return 2;
		close(fd);
	}
	if (getenv("CALLTREE_DLOPEN") && !dlopen(getenv("CALLTREE_DLOPEN"), RTLD_NOW))
		return 3;
	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		long rounds = atol(argv[2]);
		double start = now();
		double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);

		for (long r = 0; r < rounds; r++) {
			work_a();
			work_b();
		}
		report(now() - start, clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu);
		return 0;
	}
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	double end = now() + seconds;

	while (seconds <= 0 || now() < end) {
		work_a();
		work_b();
	}
	return 0;
}
