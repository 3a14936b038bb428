/*
 * pace.h - a background thread that gives the CPU to threads waiting for
 * it, and stops giving it while someone waits for the thread itself (the
 * background compaction: autocompact.c, compact.c).
 */
#ifndef QUIRE_PACE_H
#define QUIRE_PACE_H

#include <stdatomic.h>
#include <stdint.h>

#include "vfs.h"

/* An interval shorter than this is not judged: the readings are coarse. */
#define PACE_INTERVAL_NS 2000000ull
/* The longest sleep: what a thread that starts waiting for the paced one
 * may lose before it sees *hurry. */
#define PACE_MAX_SLEEP_NS 20000000ull

struct pace {
	qvfs *vfs;                /* its monotonic clock and sleep */
	int fd;                   /* the thread's schedstat; -1: never sleeps */
	const _Atomic int *hurry; /* set: someone waits for this thread */
	uint64_t wall, cpu, delay; /* readings at the interval's start, ns */
	uint64_t slept_ns;        /* in all (for tests) */
};

/* Start pacing the calling thread (its own readings: call it there). */
void pace_start(struct pace *p, qvfs *vfs, const _Atomic int *hurry);
void pace_end(struct pace *p);

/* A point where the thread may sleep: between units of work that hold no
 * lock another thread could wait for. */
void pace_point(struct pace *p);

/*
 * The rule, given the readings at a point (monotonic time, the thread's
 * CPU time and its time spent runnable but waiting for a CPU, all in ns):
 * 0 before PACE_INTERVAL_NS has passed (the interval goes on); otherwise
 * the interval ends here, and the answer is how long to sleep: if the
 * thread waited for a CPU more than an eighth of the interval, others
 * want the CPUs, and it sleeps twice the CPU time it got (at most
 * PACE_MAX_SLEEP_NS), so that against one busy thread on its CPU it gets
 * about a quarter, as a thread 5 nice levels down would; else, or while
 * *hurry is set, 0.
 */
uint64_t pace_decide(struct pace *p, uint64_t wall, uint64_t cpu,
		     uint64_t delay);

#endif
