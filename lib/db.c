/*
 * db.c - the public handle calls: options, open, close, sync. The top of
 * the library: it puts a handle together (handle.c, recover.c) and
 * attaches compaction to it (autocompact.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "append.h"
#include "commit.h"
#include "compact.h"
#include "error.h"
#include "file.h"
#include "gate.h"
#include "handle.h"
#include "internal.h"
#include "recover.h"

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

/* Which handle open_handle makes. */
enum handle_kind { H_USER, H_SALVAGE, H_COPY };

static int open_handle(const char *path, const quire_options *opts,
		       qvfs *vfs, enum handle_kind kind, quire **out);

int qdb_open_vfs(const char *path, const quire_options *opts, qvfs *vfs,
		 quire **out)
{
	return open_handle(path, opts, vfs, H_USER, out);
}

int qdb_open_copy(const char *path, qvfs *vfs, int busy_timeout_ms,
		  quire **out)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = QUIRE_NOMMAP;
	o.busy_timeout_ms = busy_timeout_ms;
	return open_handle(path, &o, vfs, H_COPY, out);
}

int qdb_open_salvage(const char *path, quire **out)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	return open_handle(path, &o, qvfs_unix(), H_SALVAGE, out);
}

static int open_handle(const char *path, const quire_options *opts,
		       qvfs *vfs, enum handle_kind kind, quire **out)
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
	if (opts->flags & ~(QUIRE_CREATE | QUIRE_RDONLY | QUIRE_NOSYNC |
			    QUIRE_NOMMAP | QUIRE_COMPACT_NOYIELD))
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
	quire *db = qdb_new(path, opts, vfs);
	if (!db)
		return qerr(QUIRE_ENOMEM, "out of memory");
	db->salvage = kind == H_SALVAGE;
	db->headers_only = kind == H_COPY;
	int e = df_open(db);
	if (!e && !(db->gate = gate_get(db->vfs, db->path)))
		e = qerr(QUIRE_ENOMEM, "out of memory");
	if (!e && kind == H_USER)
		e = compact_attach(db);
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
	if (db->compactor) /* its transactions would count below */
		compact_stop(db);
	if (atomic_load(&db->ntxn) > 0)
		return qerr(QUIRE_EBUSY, "%s: transactions are still open",
			    db->path);
	/* like SQLite's last connection checkpointing its WAL: leave the
	 * next reader the tree, not half a checkpoint of pending operations,
	 * and the file compact if it was due (a background compaction that
	 * close canceled would not have been; a failure leaves the file as
	 * it was) */
	if (db->compactor && qdb_writable(db) == 0 &&
	    db->opts.auto_compact_ratio > 0 &&
	    (commit_fold_at_close(db) || compact_due(db)))
		quire_compact(db, NULL);
	qerr_clear();
	compact_detach(db);
	qdb_free(db);
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
