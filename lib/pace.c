/*
 * pace.c - pacing a background thread by the CPU others want.
 *
 * The background compaction should yield the CPU to the application's
 * threads and to readers in other processes, yet a writer that waits for
 * it (at the fold limit, autocompact.c) must not wait on a thread the
 * scheduler keeps off the CPU. A lower priority does the first and breaks
 * the second: an unprivileged thread may lower its priority but never
 * raise it again (RLIMIT_NICE is 0 by default), so a waiting writer would
 * wait on a thread that other busy threads starve, a priority inversion.
 * So the thread keeps its priority and sleeps instead, only while others
 * wait for a CPU and nobody waits for it: Linux counts, per thread, the
 * time it was runnable but not running (the second field of
 * /proc/thread-self/schedstat, "run_delay"). Where that file is missing
 * (other systems, kernels without scheduler statistics) it never sleeps.
 * The file is not database I/O, so it is read directly, not through the
 * VFS (whose clock and sleep the pacing uses).
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "pace.h"

/* The thread's CPU time and run delay, ns; 0 if the file cannot say. */
static int read_stat(const struct pace *p, uint64_t *cpu, uint64_t *delay)
{
	char buf[96];
	ssize_t n = pread(p->fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return sscanf(buf, "%" SCNu64 " %" SCNu64, cpu, delay) == 2;
}

void pace_start(struct pace *p, qvfs *vfs, const _Atomic int *hurry)
{
	*p = (struct pace){.vfs = vfs, .fd = -1, .hurry = hurry};
#ifdef __linux__
	p->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (p->fd >= 0 && !read_stat(p, &p->cpu, &p->delay)) {
		close(p->fd);
		p->fd = -1;
	}
	p->wall = vfs->mono_ns(vfs);
#endif
}

void pace_end(struct pace *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

uint64_t pace_decide(struct pace *p, uint64_t wall, uint64_t cpu,
		     uint64_t delay)
{
	uint64_t dwall = wall - p->wall, dcpu = cpu - p->cpu,
		 ddelay = delay - p->delay;
	if (wall < p->wall + PACE_INTERVAL_NS)
		return 0;
	p->wall = wall;
	p->cpu = cpu;
	p->delay = delay;
	if (atomic_load(p->hurry) || ddelay * 8 <= dwall)
		return 0;
	return dcpu * 2 < PACE_MAX_SLEEP_NS ? dcpu * 2 : PACE_MAX_SLEEP_NS;
}

void pace_point(struct pace *p)
{
	uint64_t cpu, delay, wall = p->vfs->mono_ns(p->vfs);
	if (p->fd < 0 || wall < p->wall + PACE_INTERVAL_NS ||
	    !read_stat(p, &cpu, &delay))
		return;
	uint64_t ns = pace_decide(p, wall, cpu, delay);
	if (!ns)
		return;
	p->vfs->sleep_ns(p->vfs, ns);
	p->slept_ns += ns;
	/* the next interval starts after the sleep, which is not work */
	p->wall = p->vfs->mono_ns(p->vfs);
	if (!read_stat(p, &p->cpu, &p->delay))
		pace_end(p);
}
