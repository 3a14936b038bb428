/*
 * handle.c - a handle's memory: made with its locks before any file is
 * open, freed with what it holds; and the handle of the file a compaction
 * or a compacted backup writes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "file.h"
#include "gate.h"
#include "handle.h"
#include "internal.h"
#include "snap.h"
#include "target.h"
#include "txn.h"

quire *qdb_new(const char *path, const quire_options *opts, qvfs *vfs)
{
	quire *db = calloc(1, sizeof *db);
	if (!db)
		return NULL;
	if (!(db->path = strdup(path))) {
		free(db);
		return NULL;
	}
	db->opts = *opts;
	if (db->opts.cache_size < ((size_t)1 << 20))
		db->opts.cache_size = (size_t)1 << 20;
	db->vfs = vfs;
	db->nosync_walk = QUIRE_NOSYNC_WALK_BYTES;
	pthread_mutex_init(&db->snap_mu, NULL);
	pthread_mutex_init(&db->refresh_mu, NULL);
	pthread_mutex_init(&db->pub_mu, NULL);
	pthread_condattr_t ca; /* quire_wait's naps must not follow the wall
				* clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->pub_cv, &ca);
	pthread_condattr_destroy(&ca);
	txn_pool_init(db);
	return db;
}

void qdb_free(quire *db)
{
	snap_release(db->cur);
	qfile_unref(db->qf);
	free(db->app.stage);
	free(db->app.iov);
	pthread_mutex_destroy(&db->snap_mu);
	pthread_mutex_destroy(&db->refresh_mu);
	gate_put(db->gate);
	pthread_mutex_destroy(&db->pub_mu);
	pthread_cond_destroy(&db->pub_cv);
	txn_pool_free(db);
	free(db->path);
	free(db);
}

/* A handle for a new file at path that db's commits are copied into,
 * before the file exists. */
static int target_new(quire *db, const char *path, quire **out)
{
	quire_options o = db->opts;
	/* the first commit syncs; rebuild.c sets NOSYNC after */
	o.flags = db->opts.flags & QUIRE_NOMMAP;
	o.auto_compact_ratio = 0;
	quire *t = qdb_new(path, &o, db->vfs);
	if (!t || !(t->gate = gate_get(t->vfs, t->path))) {
		if (t)
			qdb_free(t);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	t->boot_id = db->boot_id;
	t->nosync_walk = db->nosync_walk;
	t->keep_lock = 1;
	*out = t;
	return 0;
}

int qdb_open_target(quire *db, quire **out)
{
	size_t n = strlen(db->path) + sizeof ".compact";
	char *tpath = malloc(n);
	quire *t = NULL;
	int e;
	if (!tpath)
		return qerr(QUIRE_ENOMEM, "out of memory");
	snprintf(tpath, n, "%s.compact", db->path);
	if ((e = target_new(db, tpath, &t)) == 0 &&
	    (e = df_create_target(t)) != 0)
		qdb_free(t);
	free(tpath);
	if (!e)
		*out = t;
	return e;
}

int qdb_open_new(quire *db, const char *path, qvfs_file *f, quire **out)
{
	quire *t;
	int e = target_new(db, path, &t);
	if (e) {
		f->ops->close(f);
		return e;
	}
	if ((e = df_new_file(t, f)) != 0) {
		qdb_free(t);
		return e;
	}
	*out = t;
	return 0;
}
