/*
 * lock.h - bounded waits for a file's locks (lock.c).
 */
#ifndef QUIRE_LOCK_H
#define QUIRE_LOCK_H

#include <stdint.h>

#include "internal.h"

/* The longest nap of a writer waiting for the queue lock (or of a creator
 * waiting for a new file's lock). */
#define QUEUE_NAP_NS 1000000u

/* Deadline of a wait of timeout_ms from now on the VFS's monotonic clock;
 * 0: no deadline (a negative timeout waits forever). */
uint64_t lock_deadline(quire *db, int timeout_ms);
/* Take lock op (QVFS_LOCK_TRY or QVFS_QUEUE_TRY) of f, polling with naps
 * that grow to max_nap_ns, until deadline (0: none): 0, QUIRE_EBUSY when
 * the deadline passed, or the error taking it. */
int lock_wait(quire *db, qvfs_file *f, int op, uint64_t deadline,
	      uint64_t max_nap_ns);
/* The writer lock of f, taken through its queue lock (fair between
 * processes, see lock.c), waiting until deadline at most. */
int lock_queued(quire *db, qvfs_file *f, uint64_t deadline);

#endif
