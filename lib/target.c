/*
 * target.c - the file a compaction writes, "<path>.compact": created new
 * beside the file the database path resolves to, with that file's owner,
 * group and mode before any byte is written, and locked until the swap;
 * the removal of a crashed compaction's leftover; and the superblock of
 * such a new file (also a compacted backup's).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "error.h"
#include "file.h"
#include "ident.h"
#include "internal.h"
#include "target.h"

int df_new_file(quire *t, qvfs_file *f)
{
	uint8_t sb[QF_SUPER_SIZE];
	struct qsuper s = {.version = QF_VERSION,
			   .created_ns = t->vfs->now_ns(t->vfs)};
	int e;
	if (!(t->qf = qfile_new(t, f)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	if ((e = df_append_start(t, QF_SUPER_SIZE)) != 0)
		return e;
	t->vfs->random(t->vfs, s.file_id, QF_FILE_ID);
	memcpy(t->qf->file_id, s.file_id, QF_FILE_ID);
	memset(sb, 0, sizeof sb);
	qsuper_put(sb, &s);
	if ((e = df_write_at(t, sb, sizeof sb, 0)) != 0)
		return e;
	if (!(t->opts.flags & QUIRE_NOMMAP))
		t->qf->smap = fmap_open(&t->qf->map, f, QF_SUPER_SIZE);
	return 0;
}

/*
 * The file a compaction writes: "<resolved path>.compact", next to the
 * file the database path resolves to (t->path comes in as the path as
 * given plus ".compact" and is replaced by that name). Its writer lock,
 * held until the swap, tells other compactions (and remove_leftover) that
 * it is in use. It is always a new file (a leftover of a crashed
 * compaction is removed first: someone may hold it open), created with
 * the owner's bits of the database file's mode at most and given the
 * database file's owner, group and mode before any byte is written, so
 * that it is never readable by anyone the database file is not readable
 * by. Its first commit comes from rebuild.c.
 */
int df_create_target(quire *t)
{
	qvfs_file *f = NULL, *df;
	struct qvfs_attrs orig;
	size_t plen = strlen(t->path) - (sizeof ".compact" - 1);
	char *dbpath = malloc(plen + 1), *tpath = NULL;
	if (!dbpath)
		return qerr(QUIRE_ENOMEM, "out of memory");
	memcpy(dbpath, t->path, plen);
	dbpath[plen] = 0;
	int e = ident_target(t->vfs, dbpath, &tpath);
	free(dbpath);
	if (e)
		return e;
	free(t->path);
	t->path = tpath;
	/* the file it replaces: tpath without its suffix for a while */
	size_t cut = strlen(tpath) - (sizeof ".compact" - 1);
	dbpath = tpath;
	tpath[cut] = 0;
	if ((e = t->vfs->open(t->vfs, dbpath, QVFS_RDONLY, 0, &df)) != 0)
		e = qerr_os(-e, "%s: open", dbpath);
	else {
		e = ident_attrs(df, dbpath, &orig);
		df->ops->close(df);
	}
	if (!e)
		e = ident_single(dbpath, &orig);
	tpath[cut] = '.';
	if (e && e != QUIRE_NOTFOUND)
		return e;
	/* without the attributes: the mode the database was created with;
	 * ours from here (its lock is held): removed when anything fails */
	e = ident_create(t->vfs, t->path, e == 0 ? &orig : NULL, t->opts.mode,
			 &f);
	if (e == QUIRE_EBUSY)
		return qerr(QUIRE_EBUSY, "%s: another compaction of the "
					 "database is running",
			    t->path);
	if (e)
		return e;
	if ((e = df_new_file(t, f)) != 0)
		t->vfs->remove(t->vfs, t->path);
	return e;
}

/* Remove a crashed compaction's "<path>.compact" (beside the file the
 * path resolves to), if there is one nobody uses. */
void df_remove_leftover(quire *db)
{
	char *tpath = NULL;
	if (ident_target(db->vfs, db->path, &tpath) == 0)
		ident_clear_leftover(db->vfs, tpath);
	else
		qerr_clear();
	free(tpath);
}
