/*
 * db.c - the handle: options, open, close, sync, and snapshot publication.
 *
 * db->cur is the newest commit this handle knows. Publishing a commit swaps
 * the pointer under snap_mu, which a snapshot holds only to take a reference:
 * readers never wait for a commit's I/O.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "gate.h"
#include "internal.h"
#include "memtable.h"
#include "txn.h"

const char *quire_version(int *major, int *minor, int *patch)
{
	if (major)
		*major = QUIRE_VERSION_MAJOR;
	if (minor)
		*minor = QUIRE_VERSION_MINOR;
	if (patch)
		*patch = QUIRE_VERSION_PATCH;
	return QUIRE_VERSION_STRING;
}

void quire_options_init(quire_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof *opts);
	opts->version = QUIRE_OPTIONS_VERSION;
	opts->mode = 0644;
	opts->node_size = 4096;
	opts->cache_size = (size_t)64 << 20;
	opts->checkpoint_ops = QUIRE_CHECKPOINT_OPS;
	opts->auto_compact_ratio = 0.4;
}

struct qfile *qfile_new(quire *db, qvfs_file *f)
{
	struct qfile *qf = calloc(1, sizeof *qf);
	if (qf && !(qf->cache = cache_new(db->opts.cache_size))) {
		free(qf);
		qf = NULL;
	}
	if (!qf) {
		f->ops->close(f);
		return NULL;
	}
	atomic_init(&qf->refs, 1);
	qf->f = f;
	qf->path = db->path;
	fmap_init(&qf->map);
	return qf;
}

void qfile_ref(struct qfile *qf)
{
	atomic_fetch_add(&qf->refs, 1);
}

void qfile_unref(struct qfile *qf)
{
	if (qf && atomic_fetch_sub(&qf->refs, 1) == 1) {
		fmap_done(&qf->map); /* before its views are unmapped */
		qf->f->ops->close(qf->f);
		cache_free(qf->cache);
		free(qf);
	}
}

int qfile_fault(const struct qfile *qf)
{
	return qerr(QUIRE_EIO, "%s: a page of the file could not be read (a "
			       "disk error, or another program truncated the "
			       "file); reopen the database",
		    qf->path);
}

struct snap *snap_acquire(quire *db)
{
	pthread_mutex_lock(&db->snap_mu);
	struct snap *s = db->cur;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&db->snap_mu);
	return s;
}

void snap_release(struct snap *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		mt_unref(s->mt);
		qfile_unref(s->qf);
		free(s);
	}
}

struct snap *snap_alloc(void)
{
	return malloc(sizeof(struct snap));
}

static void snap_fill(struct snap *s, const struct qhdr *h,
		      struct memtable *mt, struct qfile *qf)
{
	atomic_init(&s->refs, 1);
	s->h = *h;
	s->mt = mt;
	mt_ref(mt);
	s->qf = qf;
	qfile_ref(qf);
}

struct snap *snap_make(const struct qhdr *h, struct memtable *mt,
		       struct qfile *qf)
{
	struct snap *s = snap_alloc();
	if (s)
		snap_fill(s, h, mt, qf);
	return s;
}

int snap_publish(quire *db, const struct qhdr *h, struct memtable *mt)
{
	struct snap *s = snap_alloc();
	if (!s)
		return qerr(QUIRE_ENOMEM, "out of memory");
	snap_install(db, s, h, mt);
	return 0;
}

void snap_install(quire *db, struct snap *s, const struct qhdr *h,
		  struct memtable *mt)
{
	snap_fill(s, h, mt, db->qf);
	pthread_mutex_lock(&db->snap_mu);
	struct snap *old = db->cur;
	if (old && old->qf == s->qf && old->h.txn >= h->txn) { /* known */
		pthread_mutex_unlock(&db->snap_mu);
		snap_release(s);
		return;
	}
	db->cur = s;
	atomic_store(&db->cur_txn, h->txn);
	atomic_store(&db->cur_next_seq, h->next_seq);
	pthread_mutex_unlock(&db->snap_mu);
	snap_release(old);
	pthread_mutex_lock(&db->pub_mu); /* wake quire_wait() */
	pthread_cond_broadcast(&db->pub_cv);
	pthread_mutex_unlock(&db->pub_mu);
}

void qdb_free(quire *db)
{
	snap_release(db->cur);
	qfile_unref(db->qf);
	free(db->app.stage);
	free(db->app.iov);
	pthread_mutex_destroy(&db->snap_mu);
	pthread_mutex_destroy(&db->refresh_mu);
	pthread_mutex_destroy(&db->bg_mu);
	gate_put(db->gate);
	pthread_mutex_destroy(&db->pub_mu);
	pthread_cond_destroy(&db->pub_cv);
	txn_pool_free(db);
	free(db->path);
	free(db);
}

/* A handle with its locks, before any file is open (NULL: out of memory). */
static quire *handle_new(const char *path, const quire_options *opts,
			 qvfs *vfs)
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
	pthread_mutex_init(&db->bg_mu, NULL);
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

static int open_handle(const char *path, const quire_options *opts,
		       qvfs *vfs, int salvage, quire **out);

int qdb_open_vfs(const char *path, const quire_options *opts, qvfs *vfs,
		 quire **out)
{
	return open_handle(path, opts, vfs, 0, out);
}

int qdb_open_salvage(const char *path, quire **out)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	return open_handle(path, &o, qvfs_unix(), 1, out);
}

char *qdb_target_path(const char *path)
{
	size_t n = strlen(path) + sizeof ".compact";
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s.compact", path);
	return p;
}

int qdb_open_target(quire *db, quire **out)
{
	char *tpath = qdb_target_path(db->path);
	quire_options o = db->opts;
	/* the first commit syncs; compact.c sets NOSYNC after */
	o.flags = db->opts.flags & QUIRE_NOMMAP;
	o.auto_compact_ratio = 0;
	quire *t = NULL;
	int e = 0;
	if (!tpath || !(t = handle_new(tpath, &o, db->vfs)))
		e = qerr(QUIRE_ENOMEM, "out of memory");
	free(tpath);
	if (!e && !(t->gate = gate_get(t->vfs, t->path)))
		e = qerr(QUIRE_ENOMEM, "out of memory");
	if (!e) {
		t->boot_id = db->boot_id;
		t->nosync_walk = db->nosync_walk;
		t->keep_lock = 1;
		e = df_create_target(t);
	}
	if (e) {
		if (t)
			qdb_free(t);
		return e;
	}
	*out = t;
	return 0;
}

static int open_handle(const char *path, const quire_options *opts,
		       qvfs *vfs, int salvage, quire **out)
{
	quire_options defaults;
	qerr_clear();
	if (!opts) {
		quire_options_init(&defaults);
		opts = &defaults;
	}
	if (!path || !*path || !out)
		return qerr(QUIRE_EINVAL, "quire_open: bad arguments");
	if (opts->version != QUIRE_OPTIONS_VERSION)
		return qerr(QUIRE_EINVAL, "quire_open: options not initialised "
					  "with quire_options_init()");
	if (opts->flags &
	    ~(QUIRE_CREATE | QUIRE_RDONLY | QUIRE_NOSYNC | QUIRE_NOMMAP))
		return qerr(QUIRE_EINVAL, "quire_open: unknown flags");
	if (opts->node_size < 512 || opts->node_size > 32768)
		return qerr(QUIRE_EINVAL, "quire_open: node_size must be 512 "
					  "to 32768");
	if (opts->checkpoint_ops == 0)
		return qerr(QUIRE_EINVAL, "quire_open: checkpoint_ops must be "
					  "at least 1");
	if (!(opts->auto_compact_ratio >= 0 && opts->auto_compact_ratio < 1))
		return qerr(QUIRE_EINVAL, "quire_open: auto_compact_ratio must "
					  "be at least 0 and below 1");
	quire *db = handle_new(path, opts, vfs);
	if (!db)
		return qerr(QUIRE_ENOMEM, "out of memory");
	db->salvage = salvage;
	int e = df_open(db);
	if (!e && !(db->gate = gate_get(db->vfs, db->path)))
		e = qerr(QUIRE_ENOMEM, "out of memory");
	if (e) {
		qdb_free(db);
		return e;
	}
	*out = db;
	return 0;
}

int quire_open(const char *path, const quire_options *opts, quire **db)
{
	return qdb_open_vfs(path, opts, qvfs_unix(), db);
}

int quire_close(quire *db)
{
	qerr_clear();
	if (!db)
		return 0;
	compact_stop(db); /* its transactions would count below */
	if (atomic_load(&db->ntxn) > 0)
		return qerr(QUIRE_EBUSY, "%s: transactions are still open",
			    db->path);
	/* like SQLite's last connection checkpointing its WAL: leave the
	 * next reader the tree, not half a checkpoint of pending operations,
	 * and the file compact if it was due (a background compaction that
	 * close canceled would not have been; a failure leaves the file as
	 * it was) */
	if (qdb_writable(db) == 0 && db->opts.auto_compact_ratio > 0 &&
	    (commit_fold_at_close(db) || compact_due(db)))
		quire_compact(db, NULL);
	qerr_clear();
	qdb_free(db);
	return 0;
}

int qdb_writable(quire *db)
{
	if (db->opts.flags & QUIRE_RDONLY)
		return qerr(QUIRE_ERDONLY, "%s: opened read-only", db->path);
	if (atomic_load(&db->failed))
		return qerr(QUIRE_EFATAL, "%s: an earlier fsync failed; reopen "
					  "the database",
			    db->path);
	return 0;
}

int quire_sync(quire *db)
{
	qerr_clear();
	if (!db)
		return qerr(QUIRE_EINVAL, "quire_sync: no handle");
	int e = qdb_writable(db);
	if (!e)
		e = writer_acquire(db);
	if (e)
		return e;
	if ((e = df_writer_begin(db)) == 0) /* up to date before the slot */
		e = df_sync(db);
	writer_release(db);
	return e;
}
