/* Bursty threads: 2 threads spin all the time and 200 threads each run a
 * ~0.1 ms burst of CPU then sleep 1 ms, for SECONDS. At the end the process
 * writes the CPU time it used (getrusage RUSAGE_SELF, in nanoseconds) to
 * OUT_FILE, the yardstick for "samples per CPU-second".
 * Usage: bursty SECONDS OUT_FILE
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double end_at;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *spinner(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	while (now() < end_at)
		x++;
	return NULL;
}

static void *burster(void *arg)
{
	volatile unsigned long x = 0;
	struct timespec nap = { 0, 1000000 };

	(void)arg;
	while (now() < end_at) {
		double stop = thread_cpu() + 0.0001;

		while (thread_cpu() < stop)
			x++;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[202];
	struct rusage ru;
	FILE *out;
	int i, n = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: bursty SECONDS OUT_FILE\n");
		return 2;
	}
	end_at = now() + atof(argv[1]);
	for (i = 0; i < 202; i++)
		if (pthread_create(&t[n], NULL, i < 2 ? spinner : burster, NULL) == 0)
			n++;
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	getrusage(RUSAGE_SELF, &ru);
	out = fopen(argv[2], "w");
	if (!out)
		return 1;
	fprintf(out, "%llu\n",
		(unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
			(unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL);
	fclose(out);
	return 0;
}
