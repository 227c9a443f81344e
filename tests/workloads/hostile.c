/* Workloads that misbehave towards a profiler, for tests/tests/hostile.rs.
 *
 *   hostile jit SECONDS [ARGS...]  runs code in anonymous executable memory
 *                                  (like a JIT) for SECONDS and writes no perf
 *                                  map: the test plants /tmp/perf-<pid>.map.
 *                                  ARGS are ignored (a secret argv to redact).
 *   hostile swap SECONDS LIB       waits for SIGUSR1, reads LIB (into the page
 *                                  cache, so the kernel gives its build-id),
 *                                  maps it executable, replaces LIB with a
 *                                  symbolic link to /dev/zero at once, then
 *                                  runs JIT code.
 *   hostile mainexit N [wait]      two threads make N/2 getppid calls each,
 *                                  10 ms apart, while the main thread calls
 *                                  pthread_exit at once. With `wait`, the
 *                                  threads start their calls on SIGUSR2 (so a
 *                                  tracer can attach first).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const unsigned char code[] = {
	0x55,                                     /* push %rbp */
	0x48, 0x89, 0xe5,                         /* mov %rsp,%rbp */
	0x48, 0xb9, 0x40, 0x42, 0x0f, 0, 0, 0, 0, 0, /* movabs $1000000,%rcx */
	0x48, 0xff, 0xc9,                         /* 1: dec %rcx */
	0x75, 0xfb,                               /* jnz 1b */
	0x5d,                                     /* pop %rbp */
	0xc3,                                     /* ret */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
	syscall(SYS_nanosleep, &ts, NULL);
}

static int jit(double seconds)
{
	double end = now() + seconds;
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memcpy(mem, code, sizeof(code));
	void (*spin)(void) = (void (*)(void))mem;
	while (now() < end)
		spin();
	return 0;
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static int swap(double seconds, const char *lib)
{
	char tmp[4096];
	int fd;
	struct stat st;
	void *m;

	signal(SIGUSR1, on_usr1);
	while (!go)
		sleep_ns(10000000);
	fd = open(lib, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(lib);
		return 1;
	}
	/* In the page cache: the kernel reads the build-id of a new mapping
	 * only from cached pages, and this mapping must carry one. */
	while (read(fd, tmp, sizeof(tmp)) > 0)
		;
	m = mmap(NULL, st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	close(fd);
	snprintf(tmp, sizeof(tmp), "%s.swap", lib);
	if (symlink("/dev/zero", tmp) != 0 || rename(tmp, lib) != 0) {
		perror("swap");
		return 1;
	}
	return jit(seconds);
}

static int calls_per_thread;
static int go_pipe[2];
static int wait_for_go;

static void *caller(void *arg)
{
	char c;

	(void)arg;
	if (wait_for_go && read(go_pipe[0], &c, 1) != 1)
		return NULL;
	for (int i = 0; i < calls_per_thread; i++) {
		syscall(SYS_getppid);
		sleep_ns(10000000);
	}
	return NULL;
}

static void *starter(void *arg)
{
	sigset_t set;
	int sig;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigwait(&set, &sig);
	if (write(go_pipe[1], "gg", 2) != 2)
		return NULL;
	return NULL;
}

static int mainexit(int n, int wait)
{
	pthread_t t;
	sigset_t set;

	calls_per_thread = n / 2;
	wait_for_go = wait;
	if (pipe(go_pipe) != 0)
		return 1;
	/* Blocked in every thread: the starter takes it with sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, caller, NULL) != 0)
			return 1;
	if (wait && pthread_create(&t, NULL, starter, NULL) != 0)
		return 1;
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "jit") == 0)
		return jit(atof(argv[2]));
	if (argc == 4 && strcmp(argv[1], "swap") == 0)
		return swap(atof(argv[2]), argv[3]);
	if (argc >= 3 && strcmp(argv[1], "mainexit") == 0)
		return mainexit(atoi(argv[2]), argc > 3 && strcmp(argv[3], "wait") == 0);
	fprintf(stderr, "usage: hostile jit SECONDS | swap SECONDS LIB | mainexit N [wait]\n");
	return 2;
}
