/*
 * backup.c - hot copies of a database (quire_backup,
 * quire_backup_compacted).
 *
 * The file is append-only, so a copy consistent at commit S is just the
 * file's first S.total_bytes bytes, which nothing ever writes again
 * (FORMAT.md §12), with live slots that name S. A backup therefore holds
 * no lock of the source: it pins a read snapshot (which keeps the file
 * open across a compaction, as any reader's does) and copies bytes, while
 * writers go on. An incremental backup appends only what the source
 * committed after the copy's newest commit, once it has checked that the
 * copy is a prefix of the source: same file id, and the same header bytes
 * at the copy's newest commit. A header checksums its commit's blocks and
 * names the header before it, so equal header bytes at one offset mean
 * equal files up to there.
 *
 * A compacted copy (quire_backup_compacted) is built from the pinned
 * snapshot as a compaction builds its new file (rebuild.c: the first kept
 * commit bottom-up, then the later ones), with a new file id; the source
 * is only read, its handle stays where it is, and no writer waits for it.
 *
 * Crash safety of the copy: a new copy is written under "<dst>.partial",
 * synced, and renamed into place (then the directory is synced), so dst is
 * either absent or complete. An incremental step holds the copy's writer
 * lock, appends past its newest commit, syncs, and only then writes a
 * slot naming the new newest commit and syncs again: a crash before the
 * slot leaves bytes past the newest commit, which the next writer cuts
 * away, or which an open that walks from the recorded commit (FORMAT.md
 * §4: after a reboot, or while the slot is the one a new copy got, from
 * no known boot) takes as far as they are complete: the copy opens at its
 * old newest commit, the new one or one between, all commits of the
 * source.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "error.h"
#include "file.h"
#include "format.h"
#include "handle.h"
#include "ident.h"
#include "internal.h"
#include "io.h"
#include "rebuild.h"
#include "recover.h"
#include "snap.h"
#include "txn.h"
#include "util.h"

#define CHUNK ((size_t)1 << 20)
/* How long a compacted copy copies commits before it looks whether
 * they are due a fold. */
#define FOLD_LOOK_NS 100000000ull

struct copy {
	quire *db;            /* the source's handle */
	quire_txn *src;       /* the snapshot copied */
	const struct qhdr *h; /* its commit */
	struct qfile *qf;     /* the source file that holds it */
	const char *dst;      /* as the caller named it (messages) */
	char *path;           /* the file dst resolves to (symbolic links
			       * followed): what is written and renamed over */
	uint8_t *buf;         /* CHUNK bytes (not for a compacted copy) */
	const quire_compact_options *co; /* a compacted copy: what it
					  * keeps; NULL: the prefix */
	quire_backup_stats *st;
};

/* Copy the source's bytes [from, to) to f at the same offsets: block
 * checksums cover their offsets. */
static int copy_range(struct copy *c, qvfs_file *f, const char *fpath,
		      uint64_t from, uint64_t to)
{
	while (from < to) {
		size_t n = (size_t)QMIN((uint64_t)CHUNK, to - from);
		int e = df_read(c->qf, c->buf, n, from, "committed bytes");
		if (e)
			return e;
		if ((e = io_write(f, c->buf, n, from)) != 0)
			return qerr_os(-e, "%s: writing %zu bytes at offset %llu",
				       fpath, n, (unsigned long long)from);
		c->st->bytes_copied += n;
		from += n;
	}
	return 0;
}

/* The superblock of a copy ending at commit h: the source's own (its
 * file id and creation time) with slot 0 naming h as newest and durable,
 * from no known boot (an open walks from it, finding nothing past it),
 * and slot 1 empty. */
static int copy_superblock(struct copy *c, qvfs_file *f, const char *fpath)
{
	struct qslot s = {.latest_off = c->h->self_off,
			  .latest_txn = c->h->txn,
			  .durable_off = c->h->self_off,
			  .durable_txn = c->h->txn,
			  .counter = 1};
	int e = df_read(c->qf, c->buf, QF_SUPER_SIZE, 0, "the superblock");
	if (e)
		return e;
	qsuper_clear_slots(c->buf);
	qslot_put(c->buf + QF_SLOT0_OFF, &s);
	if ((e = io_write(f, c->buf, QF_SUPER_SIZE, 0)) != 0)
		return qerr_os(-e, "%s: writing the superblock", fpath);
	c->st->bytes_copied += QF_SUPER_SIZE;
	return 0;
}

/* A new copy's content, written into f at tmp and synced: the committed
 * prefix as it is. */
static int fill_prefix(struct copy *c, qvfs_file *f, const char *tmp)
{
	int e;
	if ((e = copy_superblock(c, f, tmp)) != 0 ||
	    (e = copy_range(c, f, tmp, QF_SUPER_SIZE, c->h->total_bytes)) != 0)
		return e;
	if ((e = f->ops->sync(f)) != 0)
		return qerr_os(-e, "%s: fdatasync", tmp);
	return 0;
}

/* A compacted copy's content, synced: the commits c->co keeps, rebuilt
 * as a compaction builds its file (rebuild.c) by a handle that takes f
 * over and is closed before this returns. One snapshot is copied, so
 * there is no writer to catch up with and no lock of the source. */
static int fill_compacted(struct copy *c, qvfs_file *f, const char *tmp)
{
	struct rebuild r = {.db = c->db, .o = c->co, .what = "backup"};
	uint64_t n = 1;
	int e = qdb_open_new(c->db, tmp, f, &r.t);
	if (e)
		return e;
	e = rebuild_base(&r, c->src);
	/* the copied commits append batches only: fold them when due, as
	 * a compaction does between its rounds */
	while (!e && n) {
		r.ckpt_next = rebuild_checkpoint_due(&r);
		e = rebuild_replay(&r, c->src, FOLD_LOOK_NS, &n);
	}
	if (!e && (e = rebuild_progress(&r, 1)) == 0)
		e = df_sync(r.t);
	c->st->bytes_copied = df_next_offset(r.t);
	qdb_free(r.t);
	return e;
}

/*
 * A new copy at c->dst: "<dst>.partial" created new with at most the
 * owner's bits of the source's mode and given the source's owner, group
 * and mode before any byte goes in (never more readable than the
 * source), filled, synced and renamed over dst (replace: an existing dst
 * is replaced, else it must not exist).
 */
static int new_copy(struct copy *c, int replace)
{
	quire *db = c->db;
	qvfs_file *f = NULL;
	struct qvfs_attrs orig;
	size_t plen = strlen(c->path);
	char *tmp = malloc(plen + sizeof ".partial");
	int e, made = 0;
	if (!tmp)
		return qerr(QUIRE_ENOMEM, "out of memory");
	memcpy(tmp, c->path, plen);
	memcpy(tmp + plen, ".partial", sizeof ".partial");
	e = ident_attrs(c->qf->f, db->path, &orig);
	if ((e && e != QUIRE_NOTFOUND) ||
	    (e = ident_create(db->vfs, tmp, e ? NULL : &orig, db->opts.mode,
			      &f)) != 0)
		goto out;
	made = 1;
	if (c->co) {
		e = fill_compacted(c, f, tmp);
		f = NULL; /* closed by it */
	} else {
		e = fill_prefix(c, f, tmp);
	}
	if (e)
		goto out;
	if ((e = db->vfs->rename(db->vfs, tmp, c->path, !replace)) != 0) {
		e = e == -EEXIST ? qerr(QUIRE_EINVAL, "%s: exists", c->dst)
				 : qerr_os(-e, "%s: renaming to %s", tmp,
					   c->dst);
		goto out;
	}
	made = 0;
	if ((e = db->vfs->sync_dir(db->vfs, c->path)) != 0)
		e = qerr_os(-e, "%s: written, but syncing its directory "
				"failed: after a power loss it may be missing",
			    c->dst);
	c->st->full = 1;
out:
	if (f)
		f->ops->close(f);
	if (made)
		db->vfs->remove(db->vfs, tmp);
	free(tmp);
	return e;
}

/* Whether the copy d (writer lock held, newest commit dh) is a prefix of
 * the source at c->h: 0, QUIRE_ECONFLICT (with the reason), or an error. */
static int is_prefix(struct copy *c, quire *d, const struct qhdr *dh)
{
	size_t n = dh->size;
	uint8_t *theirs;
	int e;
	if (memcmp(d->qf->file_id, c->qf->file_id, QF_FILE_ID) != 0)
		return qerr(QUIRE_ECONFLICT,
			    "%s is not a copy of %s (another file id: another "
			    "database, or the source was compacted since)",
			    c->dst, c->db->path);
	if (dh->txn > c->h->txn)
		return qerr(QUIRE_ECONFLICT,
			    "%s is ahead of %s (commit %llu against %llu): "
			    "written to since it was copied",
			    c->dst, c->db->path, (unsigned long long)dh->txn,
			    (unsigned long long)c->h->txn);
	if (dh->total_bytes > c->h->total_bytes)
		return qerr(QUIRE_ECONFLICT,
			    "%s has diverged from %s: its commit %llu ends "
			    "past theirs",
			    c->dst, c->db->path, (unsigned long long)dh->txn);
	if (!(theirs = malloc(n)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	if ((e = df_read(d->qf, theirs, n, dh->self_off, "its newest header")) ==
		    0 &&
	    (e = df_read(c->qf, c->buf, n, dh->self_off, "a header")) == 0 &&
	    memcmp(theirs, c->buf, n) != 0)
		e = qerr(QUIRE_ECONFLICT,
			 "%s has diverged from %s: their commits %llu differ",
			 c->dst, c->db->path, (unsigned long long)dh->txn);
	free(theirs);
	return e;
}

/* Append to the copy at c->dst what the source committed after the
 * copy's newest commit. */
static int incremental(struct copy *c)
{
	quire *d = NULL;
	struct snap *cur = NULL;
	int locked = 0, e;
	if ((e = qdb_open_copy(c->path, c->db->vfs, c->db->opts.busy_timeout_ms,
			       &d)) != 0)
		goto out;
	if ((e = writer_acquire(d)) != 0)
		goto out;
	locked = 1;
	if ((e = df_writer_begin(d)) != 0)
		goto out;
	cur = snap_acquire(d);
	if ((e = is_prefix(c, d, &cur->h)) != 0)
		goto out;
	c->st->txn_before = cur->h.txn;
	if (cur->h.txn == c->h->txn)
		goto out; /* up to date */
	if ((e = copy_range(c, d->qf->f, d->path, cur->h.total_bytes,
			    c->h->total_bytes)) != 0 ||
	    (e = df_fsync(d)) != 0)
		goto out;
	d->durable_off = c->h->self_off;
	d->durable_txn = c->h->txn;
	if ((e = df_write_slot(d, c->h, 0)) == 0)
		e = df_fsync(d);
out:
	if (cur)
		snap_release(cur);
	if (locked)
		writer_release(d);
	if (d) /* no compaction, no transactions: all quire_close would do,
		* but keeping the message the caller is to see */
		qdb_free(d);
	return e;
}

/* quire_backup (co NULL) and quire_backup_compacted, their arguments
 * checked. */
static int backup(quire *db, const char *dst, unsigned int flags,
		  const quire_compact_options *co, quire_backup_stats *st)
{
	quire_txn *t = NULL;
	quire_backup_stats none;
	struct copy c = {.db = db, .dst = dst, .co = co,
			 .st = st ? st : &none};
	qvfs_file *f;
	int e;
	memset(c.st, 0, sizeof *c.st);
	if ((e = quire_begin(db, QUIRE_RDONLY, &t)) != 0)
		return e;
	c.src = t;
	c.h = &t->snap->h;
	c.qf = t->snap->qf;
	c.st->txn = c.h->txn;
	if (co && (e = rebuild_check(db, c.h, co, "quire_backup_compacted")))
		goto out;
	if (!co && !(c.buf = malloc(CHUNK))) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	/* a copy replaced through a symbolic link stays behind the link,
	 * and "<copy>.partial" beside the file, so the rename is atomic */
	e = ident_resolve(db->vfs, dst, &c.path);
	if (e == QUIRE_ENOENT) { /* a new copy: the name as given */
		qerr_clear();
		if ((e = (c.path = strdup(dst)) ? 0 : QUIRE_ENOMEM) != 0)
			qerr(e, "out of memory");
	}
	if (e)
		goto out;
	e = db->vfs->open(db->vfs, c.path, QVFS_RDONLY, 0, &f);
	if (e == 0) {
		struct qvfs_attrs a;
		int same = ident_names(db->vfs, c.path, c.qf->f);
		int known = ident_attrs(f, dst, &a) == 0;
		f->ops->close(f);
		qerr_clear(); /* attributes not known: nothing to check */
		if (same == 1) {
			e = qerr(QUIRE_EINVAL, "%s is the database itself", dst);
			goto out;
		}
		if (!(flags & QUIRE_BACKUP_INCREMENTAL)) {
			e = qerr(QUIRE_EINVAL, "%s: exists%s", dst,
				 co ? "" : " (an incremental backup appends "
					   "to it)");
			goto out;
		}
		e = incremental(&c);
		/* a copy with several names would be split by a rename over
		 * one of them, as compaction refuses to (ident_single) */
		if (e == QUIRE_ECONFLICT &&
		    (flags & QUIRE_BACKUP_FULL_IF_NEEDED) &&
		    (!known || (e = ident_single(dst, &a)) == 0)) {
			c.st->bytes_copied = 0;
			e = new_copy(&c, 1);
		}
	} else if (e == -ENOENT) {
		e = new_copy(&c, 0);
		if (!e && co && co->progress) /* done: too late to cancel */
			co->progress(co->progress_ctx, c.st->bytes_copied,
				     c.st->bytes_copied);
	} else {
		e = qerr_os(-e, "%s: open", dst);
	}
out:
	free(c.buf);
	free(c.path);
	quire_abort(t);
	return e;
}

int quire_backup(quire *db, const char *dst, unsigned int flags,
		 quire_backup_stats *st)
{
	qerr_clear();
	if (!db || !dst || !*dst ||
	    (flags & ~(QUIRE_BACKUP_INCREMENTAL | QUIRE_BACKUP_FULL_IF_NEEDED)))
		return qerr(QUIRE_EINVAL, "quire_backup: bad arguments");
	return backup(db, dst, flags, NULL, st);
}

int quire_backup_compacted(quire *db, const char *dst,
			   const quire_compact_options *opts,
			   quire_backup_stats *st)
{
	quire_compact_options defaults;
	qerr_clear();
	if (!opts) {
		quire_compact_options_init(&defaults);
		opts = &defaults;
	}
	if (!db || !dst || !*dst ||
	    opts->version != QUIRE_COMPACT_OPTIONS_VERSION)
		return qerr(QUIRE_EINVAL, "quire_backup_compacted: bad "
					  "arguments");
	return backup(db, dst, 0, opts, st);
}
