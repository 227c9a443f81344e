/* A tiny "JIT": copies a hand-assembled loop into anonymous executable
 * memory, describes it in /tmp/perf-<pid>.map (the pid as the process sees
 * it, i.e. in its own pid namespace), and runs it for about SECONDS:
 *
 *   main -> jitted_spin   (anonymous memory, named only by the perf map)
 *
 * The code keeps a frame (push rbp; mov rbp,rsp) so frame-pointer unwinding
 * reaches main. Usage: jit SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 2);
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char path[64];
	FILE *map;

	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memcpy(mem, code, sizeof(code));
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	map = fopen(path, "w");
	if (!map) {
		perror(path);
		return 1;
	}
	fprintf(map, "%lx %zx jitted_spin\n", (unsigned long)mem, sizeof(code));
	fclose(map);
	void (*spin)(void) = (void (*)(void))mem;
	while (now() < end)
		spin();
	unlink(path);
	return 0;
}
