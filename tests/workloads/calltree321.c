/* A CPU workload whose call tree has known proportions 3:2:1, for the
 * export tests (fixtures/exports/calltree321.holter):
 *
 *   main -> work_a -> burn   3/6 of the work
 *   main -> work_b -> burn   2/6 of the work
 *   main -> work_c -> burn   1/6 of the work
 *
 * Usage: calltree321 SECONDS   run for about that long
 * Build: cc -O1 -g -fno-omit-frame-pointer (burn keeps an array on its
 * stack, so it has a frame even at -O1; see calltree.c).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNIT 100000UL

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
	burn(3 * UNIT);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void work_b(void)
{
	burn(2 * UNIT);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void work_c(void)
{
	burn(UNIT);
	__asm__ volatile("" ::: "memory");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 1);

	while (now() < end) {
		work_a();
		work_b();
		work_c();
	}
	return 0;
}
