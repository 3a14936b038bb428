/*
 * ident.h - the identity of a database file across a compaction: the
 * file its path resolves to (symbolic links followed), where the copy is
 * made beside it, and the owner, group, mode and links the copy must
 * keep or refuse. Every call goes through the VFS; methods it lacks make
 * the checks they serve a no-op (a test VFS), never a failure.
 */
#ifndef QUIRE_IDENT_H
#define QUIRE_IDENT_H

#include "vfs.h"

/* The name of the file path resolves to, in *out (malloc'd); the path as
 * given when the VFS cannot resolve. 0, or a QUIRE_E* code with the
 * message set. */
int ident_resolve(qvfs *vfs, const char *path, char **out);

/* "<resolved path>.compact", in *out (malloc'd): the copy lives next to
 * the file it replaces, on its file system, so the rename is atomic. */
int ident_target(qvfs *vfs, const char *path, char **out);

/* The attributes of f (opened from path, named in messages): 0,
 * QUIRE_NOTFOUND when the VFS cannot tell (nothing to keep), or a
 * QUIRE_E* code with the message set. */
int ident_attrs(qvfs_file *f, const char *path, struct qvfs_attrs *a);

/* QUIRE_EINVAL (with a message counting them) if the file has several
 * names: a copy renamed over one of them would split the database in
 * two. */
int ident_single(const char *path, const struct qvfs_attrs *a);

/* Give f, a new file at path nobody else can read yet, the owner, group
 * and mode of orig, before any data goes in. Where the owner cannot be
 * given (not root) the copy stays the caller's only if orig is the
 * caller's too (QUIRE_EACCES otherwise); a group that cannot be given
 * takes the group's permission bits with it, so no one gains access. */
int ident_give(qvfs_file *f, const char *path, const struct qvfs_attrs *orig);

/* Clear the way for a new file at path (a compaction's, a backup's, a
 * received copy's): a file there whose lock nobody holds is the leftover
 * of a crash and is removed. Once locked it must still be the file the
 * name gives: its writer may have renamed it into place in between (then
 * the name is free, or another writer's). 0 (the name is free, or was
 * taken meanwhile: try again), -EAGAIN (its writer holds it), or -errno. */
int ident_clear_leftover(qvfs *vfs, const char *path);

/* Create path for a copy that replaces (or stands beside) a file with
 * attributes orig (NULL: unknown; then with mode): created with at most
 * the owner's bits of orig's mode and given orig's owner, group and mode
 * before any data goes in, and locked until it is closed, so that a
 * crash's leftover at path (unlocked) is removed first. QUIRE_EBUSY if
 * another writer holds path; other failures remove it again. */
int ident_create(qvfs *vfs, const char *path, const struct qvfs_attrs *orig,
		 unsigned mode, qvfs_file **out);

/* Whether path names the open file f: 1, 0 (another file), or a negative
 * errno (-ENOENT: nothing; -ENOTSUP: f's identity is unknown). */
int ident_names(qvfs *vfs, const char *path, qvfs_file *f);

#endif
