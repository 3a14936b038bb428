/*
 * target.h - the file a compaction writes, and a new file's superblock
 * (target.c).
 */
#ifndef QUIRE_TARGET_H
#define QUIRE_TARGET_H

#include "internal.h"

/* Create t's file, "<resolved path>.compact" (t->path comes in as the
 * database path plus ".compact"), locked and with a superblock of a new
 * file id, no commit yet. */
int df_create_target(quire *t);
/* Make f, a new empty file at t->path (nobody else may read it: given
 * its owner, group and mode already), t's file, with a superblock of a
 * new file id and no commit yet. f is t's from then on (closed with it),
 * also when this fails. */
int df_new_file(quire *t, qvfs_file *f);
/* Remove a crashed compaction's "<path>.compact" nobody uses, if any. */
void df_remove_leftover(quire *db);

#endif
