/*
 * recover.h - finding and publishing the newest commit (recover.c).
 */
#ifndef QUIRE_RECOVER_H
#define QUIRE_RECOVER_H

#include "internal.h"

/* Open the handle's file and publish its newest commit. */
int df_open(quire *db);
/* Publish the newest commit if the slots show one this handle has not
 * seen (a new snapshot's look). */
int df_refresh(quire *db);
/* Start a write transaction's file work (the writer locks are held): an
 * up-to-date view, the tail of no acknowledged commit cut away, the
 * appender at the end of the newest commit. */
int df_writer_begin(quire *db);
/* Whether the file holds a newer commit than the handle's (or cur's), or
 * was replaced. */
int df_stale(quire *db);
int df_stale_snap(const struct snap *cur);
/* The newest commit after from (NULL: the file's first) whose blocks all
 * verify, in *out: the forward walk of docs/FORMAT.md section 4. */
int df_walk(quire *db, const struct qhdr *from, struct qhdr *out);

#endif
