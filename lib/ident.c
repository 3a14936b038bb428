/*
 * ident.c - the identity of a database file across a compaction (see
 * ident.h).
 *
 * A compaction replaces a file by renaming a copy over it, so the copy
 * must be what the file was: at the name the path resolves to (renaming
 * over a symbolic link would replace the link, and leave the file it
 * pointed to behind, stale), with the file's owner, group and mode, and
 * never readable by anyone the file was not readable by, not even before
 * the rename: the copy is created with the owner's bits of the mode at
 * most, and given its owner, group and mode before the first byte of data.
 * A file with several hard links is refused: the rename would give one
 * name the copy and leave the others on the old file, two databases.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ident.h"

int ident_resolve(qvfs *vfs, const char *path, char **out)
{
	int e = vfs->resolve ? vfs->resolve(vfs, path, out) : -ENOTSUP;
	if (e == -ENOTSUP || e == -ENOSYS) {
		if (!(*out = strdup(path)))
			return qerr(QUIRE_ENOMEM, "out of memory");
		return 0;
	}
	return e ? qerr_os(-e, "%s: resolving its name", path) : 0;
}

int ident_target(qvfs *vfs, const char *path, char **out)
{
	char *r;
	int e = ident_resolve(vfs, path, &r);
	if (e)
		return e;
	size_t n = strlen(r) + sizeof ".compact";
	if (!(*out = malloc(n))) {
		free(r);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	snprintf(*out, n, "%s.compact", r);
	free(r);
	return 0;
}

int ident_attrs(qvfs_file *f, const char *path, struct qvfs_attrs *a)
{
	int e = f->ops->attrs ? f->ops->attrs(f, a) : -ENOTSUP;
	if (e == -ENOTSUP || e == -ENOSYS)
		return QUIRE_NOTFOUND;
	return e ? qerr_os(-e, "%s: stat", path) : 0;
}

int ident_single(const char *path, const struct qvfs_attrs *a)
{
	if (a->nlink <= 1)
		return 0;
	return qerr(QUIRE_EINVAL,
		    "%s: the file has %llu hard links; compacting would split "
		    "them (the copy would replace this name only), so it is "
		    "not compacted: remove the other links first",
		    path, (unsigned long long)a->nlink);
}

int ident_give(qvfs_file *f, const char *path, const struct qvfs_attrs *orig)
{
	const struct qvfs_file_ops *ops = f->ops;
	struct qvfs_attrs cur;
	unsigned mode = orig->mode & 07777;
	int e = ops->attrs ? ops->attrs(f, &cur) : -ENOTSUP;
	if (e && e != -ENOTSUP && e != -ENOSYS)
		return qerr_os(-e, "%s: stat", path);
	if (!e && (cur.uid != orig->uid || cur.gid != orig->gid)) {
		e = ops->set_owner ? ops->set_owner(f, orig->uid, orig->gid)
				   : -EPERM;
		if (e == -EPERM && cur.uid != orig->uid)
			return qerr_os(EPERM,
				       "%s: the database file is owned by uid "
				       "%lu; this process (uid %lu) cannot "
				       "give the copy that owner, so only that "
				       "user or root can compact it (nothing "
				       "was changed)",
				       path, (unsigned long)orig->uid,
				       (unsigned long)cur.uid);
		if (e == -EPERM) /* ours, but its group is not ours to give:
				  * that group's access goes, not to another
				  * group */
			mode &= ~(unsigned)02070;
		else if (e)
			return qerr_os(-e, "%s: giving it the owner and group "
					   "of the database file",
				       path);
	}
	e = ops->set_mode ? ops->set_mode(f, mode) : 0;
	return e ? qerr_os(-e, "%s: giving it the mode of the database file",
			   path)
		 : 0;
}

int ident_names(qvfs *vfs, const char *path, qvfs_file *f)
{
	uint64_t dev, ino, ndev, nino;
	qvfs_file *nf;
	if (!f->ops->identity || f->ops->identity(f, &dev, &ino) != 0)
		return -ENOTSUP;
	int e = vfs->open(vfs, path, QVFS_RDONLY, 0, &nf);
	if (e)
		return e;
	if ((e = nf->ops->identity(nf, &ndev, &nino)) == 0)
		e = ndev == dev && nino == ino;
	nf->ops->close(nf);
	return e;
}

int ident_clear_leftover(qvfs *vfs, const char *path)
{
	qvfs_file *f;
	int e = vfs->open(vfs, path, 0, 0, &f);
	if (e)
		return e == -ENOENT ? 0 : e;
	if ((e = f->ops->lock(f, QVFS_LOCK_TRY)) == 0) {
		if ((e = ident_names(vfs, path, f)) == 1)
			e = vfs->remove(vfs, path);
		e = e == -ENOENT ? 0 : e;
		f->ops->lock(f, QVFS_UNLOCK);
	}
	f->ops->close(f);
	return e;
}

int ident_create(qvfs *vfs, const char *path, const struct qvfs_attrs *orig,
		 unsigned mode, qvfs_file **out)
{
	qvfs_file *f = NULL;
	int e;
	for (int tries = 0;; tries++) {
		e = vfs->open(vfs, path, QVFS_CREATE | QVFS_EXCL,
			      orig ? orig->mode & 0600 : mode, &f);
		if (e != -EEXIST || tries == 3 ||
		    (e = ident_clear_leftover(vfs, path)) != 0)
			break;
	}
	if (e == -EEXIST || e == -EAGAIN)
		return qerr(QUIRE_EBUSY, "%s: another copy is being written "
					 "there",
			    path);
	if (e)
		return qerr_os(-e, "%s: creating", path);
	/* a remover may have taken it for a leftover before it was locked */
	if ((e = f->ops->lock(f, QVFS_LOCK_TRY)) == 0 &&
	    (e = ident_names(vfs, path, f)) >= 0)
		e = e ? 0 : -EAGAIN;
	if (e == -ENOTSUP) /* the VFS cannot tell: nothing to guard */
		e = 0;
	if (e == 0 && orig)
		e = ident_give(f, path, orig);
	else if (e)
		e = e == -EAGAIN || e == -ENOENT
			    ? qerr(QUIRE_EBUSY, "%s: another copy is being "
						"written there",
				   path)
			    : qerr_os(-e, "%s: taking its lock", path);
	if (e) {
		f->ops->close(f);
		if (e != QUIRE_EBUSY) /* ours, empty */
			vfs->remove(vfs, path);
		return e;
	}
	*out = f;
	return 0;
}
