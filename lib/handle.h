/*
 * handle.h - making and freeing handles (handle.c).
 */
#ifndef QUIRE_HANDLE_H
#define QUIRE_HANDLE_H

#include "internal.h"

/* A handle with its locks, before any file is open (NULL: out of
 * memory). */
quire *qdb_new(const char *path, const quire_options *opts, qvfs *vfs);
/* Free a handle and what it holds (its transactions have ended). */
void qdb_free(quire *db);
/* A handle for the file a compaction of db writes, "<path>.compact":
 * created, locked and given a superblock with a new file id; it has no
 * commit yet. Closed with qdb_free(). */
int qdb_open_target(quire *db, quire **out);
/* A handle for f, a new empty file at path that the caller created (and
 * gave its owner, group and mode) for a compacted copy of db: given a
 * superblock with a new file id, no commit yet. f is the handle's from
 * then on (closed with it), also when this fails. Closed with
 * qdb_free(). */
int qdb_open_new(quire *db, const char *path, qvfs_file *f, quire **out);

#endif
