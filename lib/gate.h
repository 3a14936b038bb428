/*
 * gate.h - the process-wide writer gate of each open file.
 *
 * The cross-process writer lock is an open-file lock, so two handles of one
 * file in one process exclude each other like two processes: the second
 * would get QUIRE_EBUSY. Writers in one process should instead take turns
 * like threads of one handle. Every handle of a database shares one gate; a
 * writer passes it before taking the file lock and leaves it after
 * releasing that lock. A database is its path (symbolic links resolved),
 * not its inode: compaction renames a new file over the path, and the
 * handles opened before and after must still take turns.
 */
#ifndef QUIRE_GATE_H
#define QUIRE_GATE_H

#include <stdatomic.h>

#include "vfs.h"

struct gate;

/* The gate of the database at path, opened through vfs. NULL when out of
 * memory. */
struct gate *gate_get(qvfs *vfs, const char *path);
void gate_put(struct gate *g);

#define GATE_OK 0
#define GATE_MINE (-1)     /* the calling thread holds it already */
#define GATE_CANCELED (-2) /* *cancel became nonzero while waiting */

/* Wait until the writers of this process that came first are done, then
 * hold the gate: GATE_OK. GATE_MINE at once if the calling thread holds it
 * already (waiting would never end); GATE_CANCELED if cancel (may be NULL)
 * points to a nonzero value, checked whenever the waiter wakes. */
int gate_enter(struct gate *g, _Atomic int *cancel);
void gate_leave(struct gate *g);
/* Wake the waiters so that they look at their cancel flags again. */
void gate_wake(struct gate *g);
/* How many writers wait for the gate (tests order threads by it). */
int gate_waiting(struct gate *g);
/* Whether the calling thread holds the gate. */
int gate_held(struct gate *g);

#endif
