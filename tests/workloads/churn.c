/* Thread churn: the main thread starts a new worker every 5 ms; each burns
 * about 20 ms of CPU and exits, so threads are born while a profiler attaches.
 * Usage: churn SECONDS
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	volatile unsigned long x = 0;
	double end = now() + 0.02;

	(void)arg;
	while (now() < end)
		x++;
	return NULL;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 2);
	struct timespec gap = { 0, 5000000 };

	while (now() < end) {
		pthread_t t;

		if (pthread_create(&t, NULL, worker, NULL) == 0)
			pthread_detach(t);
		nanosleep(&gap, NULL);
	}
	return 0;
}
