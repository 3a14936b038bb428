/*
 * lock.c - waiting for a file lock: polls with growing naps on the VFS's
 * monotonic clock, so every wait is bounded by a deadline and tests can
 * steer it (memvfs) without sleeping (docs/FORMAT.md, invariant 13).
 */
#include "config.h"

#include <errno.h>

#include "error.h"
#include "internal.h"
#include "lock.h"
#include "util.h"

/* The nap of the writer that holds the queue lock and waits for the
 * writer lock: it is next, and a short nap hands the lock over quickly. */
#define NEXT_NAP_NS 200000u

uint64_t lock_deadline(quire *db, int timeout_ms)
{
	return timeout_ms < 0 ? 0
			      : db->vfs->mono_ns(db->vfs) +
					(uint64_t)timeout_ms * 1000000u + 1;
}

int lock_wait(quire *db, qvfs_file *f, int op, uint64_t deadline,
	      uint64_t max_nap_ns)
{
	uint64_t nap = 50000;
	for (;;) {
		int e = f->ops->lock(f, op);
		if (e == 0)
			return 0;
		if (e != -EAGAIN)
			return qerr_os(-e, "%s: taking the writer lock",
				       db->path);
		uint64_t now = db->vfs->mono_ns(db->vfs);
		if (deadline && now >= deadline)
			return qerr(QUIRE_EBUSY,
				    "%s: another process holds the writer lock",
				    db->path);
		if (deadline && nap > deadline - now)
			nap = deadline - now;
		db->vfs->sleep_ns(db->vfs, nap);
		nap = QMIN(nap * 2, max_nap_ns);
	}
}

/*
 * The writer lock of f, taken through the queue lock: every writer passes
 * the queue lock, and a writer that has to wait for the writer lock does
 * so holding it. A writer that commits in a loop thus cannot take the
 * writer lock back at once when another process waits for it: its next
 * turn needs the queue lock, which the waiter holds until the writer lock
 * is its own. Polling keeps the waits bounded by the deadline.
 */
int lock_queued(quire *db, qvfs_file *f, uint64_t deadline)
{
	int e = lock_wait(db, f, QVFS_QUEUE_TRY, deadline, QUEUE_NAP_NS);
	if (e)
		return e;
	e = lock_wait(db, f, QVFS_LOCK_TRY, deadline, NEXT_NAP_NS);
	f->ops->lock(f, QVFS_QUEUE_UNLOCK);
	return e;
}
