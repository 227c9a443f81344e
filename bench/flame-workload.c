/* CPU workload for bench/flamegraph.sh: two threads walking a small call tree
 * (recursion 1..24 deep, three leaves), for a fixed number of seconds. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Leaves use a little stack so GCC keeps their frame pointer. */
__attribute__((noinline)) static void leaf_a(unsigned long n) { volatile unsigned long b[4] = {n}; for (unsigned long i = 0; i < 20000; i++) b[i & 3] += i * n; sink += b[1]; }
__attribute__((noinline)) static void leaf_b(unsigned long n) { volatile unsigned long b[4] = {n}; for (unsigned long i = 0; i < 40000; i++) b[i & 3] ^= i + n; sink += b[2]; }
__attribute__((noinline)) static void leaf_c(unsigned long n) { volatile unsigned long b[4] = {n}; for (unsigned long i = 0; i < 60000; i++) b[i & 3] += i ^ n; sink += b[3]; }

__attribute__((noinline)) static void walk(unsigned long depth, unsigned long seed)
{
	volatile unsigned long pad[2] = {depth, seed};
	if (depth == 0) {
		switch (seed % 3) {
		case 0: leaf_a(seed); break;
		case 1: leaf_b(seed); break;
		default: leaf_c(seed); break;
		}
		return;
	}
	walk(depth - 1, seed * 6364136223846793005UL + 1442695040888963407UL + pad[0]);
	sink += pad[1]; /* not a tail call: keep one frame per level */
}

static double seconds;

static void *run(void *arg)
{
	unsigned long seed = (unsigned long)arg;
	double end = now() + seconds;
	while (now() < end)
		for (int i = 0; i < 64; i++, seed = seed * 2862933555777941757UL + 3037000493UL)
			walk(1 + (seed >> 59) % 24, seed);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	seconds = argc > 1 ? atof(argv[1]) : 5;
	pthread_create(&t, NULL, run, (void *)1);
	run((void *)2);
	pthread_join(t, NULL);
	return 0;
}
