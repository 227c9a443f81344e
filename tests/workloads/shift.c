/* A CPU workload whose hot function is chosen on the command line, for the
 * `holter compare` and `holter flamegraph --diff` tests:
 *
 *   shift alpha SECONDS   main -> alpha 4/5 of the work, main -> common 1/5
 *   shift omega SECONDS   main -> omega 4/5 of the work, main -> common 1/5
 *
 * so that between a capture of each the change is alpha → omega and
 * common keeps its share. Build: cc -O1 -g -fno-omit-frame-pointer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIT 100000UL

volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Each spins in its own loop, so that each is a leaf of its own. */
__attribute__((noinline)) void alpha(unsigned long n)
{
	volatile unsigned long acc[4] = { 0 };

	for (unsigned long i = 0; i < n; i++)
		acc[i & 3] += i ^ (acc[(i + 1) & 3] >> 3);
	sink += acc[0];
}

__attribute__((noinline)) void omega(unsigned long n)
{
	volatile unsigned long acc[4] = { 0 };

	for (unsigned long i = 0; i < n; i++)
		acc[i & 3] += i ^ (acc[(i + 1) & 3] >> 5);
	sink += acc[1];
}

__attribute__((noinline)) void common(unsigned long n)
{
	volatile unsigned long acc[4] = { 0 };

	for (unsigned long i = 0; i < n; i++)
		acc[i & 3] += i ^ (acc[(i + 1) & 3] >> 7);
	sink += acc[2];
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int g = strcmp(argv[1], "omega") == 0;
	double end = now() + atof(argv[2]);

	while (now() < end) {
		if (g)
			omega(4 * UNIT);
		else
			alpha(4 * UNIT);
		common(UNIT);
	}
	return 0;
}
