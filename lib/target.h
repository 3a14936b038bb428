/*
 * target.h - the file a compaction writes (target.c).
 */
#ifndef QUIRE_TARGET_H
#define QUIRE_TARGET_H

#include "internal.h"

/* Create t's file, "<resolved path>.compact" (t->path comes in as the
 * database path plus ".compact"), locked and with a superblock of a new
 * file id, no commit yet. */
int df_create_target(quire *t);
/* Remove a crashed compaction's "<path>.compact" nobody uses, if any. */
void df_remove_leftover(quire *db);

#endif
