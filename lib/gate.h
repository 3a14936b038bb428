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

#include "vfs.h"

struct gate;

/* The gate of the database at path, opened through vfs. NULL when out of
 * memory. */
struct gate *gate_get(qvfs *vfs, const char *path);
void gate_put(struct gate *g);

/* Wait until no other writer of this process holds the gate, then hold
 * it: 0. -1 at once if the calling thread holds it already (waiting would
 * never end). */
int gate_enter(struct gate *g);
void gate_leave(struct gate *g);
/* Whether the calling thread holds the gate. */
int gate_held(struct gate *g);

#endif
