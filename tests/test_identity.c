/*
 * test_identity.c - compaction keeps the identity of the database file.
 *
 * A compaction renames a copy over the database file, so the copy must be
 * that file in every way a user can see, and must never expose more than
 * the file did:
 *  - through a symbolic link it replaces the file the link resolves to
 *    (the link stays a link; handles opened through either name see one
 *    database afterwards), and syncs that file's directory;
 *  - it keeps the mode (0600, 0640, ...; whatever the umask), the owner
 *    and the group; the copy "<path>.compact" is never readable by anyone
 *    the file is not readable by: watched after every call of the VFS
 *    while it exists, and stat'ed while the compaction is held before its
 *    rename;
 *  - a file with several hard links is refused (QUIRE_EINVAL, the count
 *    in the message) and left as it was, also when the link appears while
 *    the copy is made; so is a file renamed away meanwhile;
 *  - as another user (simulated in memvfs: a real one needs root to set
 *    up) a file of someone else is refused with QUIRE_EACCES, and a group
 *    that cannot be given takes its permission bits with it;
 *  - every attribute call failing in turn leaves the file as it was;
 *  - crashes at every call of a compaction through a link leave a
 *    database, reached through the link, with every commit;
 *  - quire_compact refuses keep_since_txn past the newest commit and
 *    keep_since_ns in the future (QUIRE_EINVAL), changing nothing.
 * Giving a file another owner needs root; as another user those parts
 * print a skip note (TAP comment) and the memvfs cases cover the logic.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "holdvfs.h"
#include "internal.h"
#include "memvfs.h"
#include "testutil.h"

/* nobody's ids on most systems: a user and group that are not ours */
#define OTHER_ID 65534u

/* --- helpers -------------------------------------------------------------- */

static char dir[4096]; /* this test's scratch directory */

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("QUIRE_TEST_DIR");
	snprintf(dir, sizeof dir, "%s/ident-%ld", base && *base ? base : "/tmp",
		 (long)getpid());
	rm_tree(dir);
	if (mkdir(dir, 0755) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

/* dir/name into buf. */
static char *at(char *buf, const char *name)
{
	char d[4200];
	tu_pathcat(d, sizeof d, dir, "/");
	return tu_pathcat(buf, 4200, d, name);
}

static quire *open_via(const char *path, qvfs *vfs, unsigned flags)
{
	quire_options o;
	quire *db = NULL;
	quire_options_init(&o);
	o.flags = flags;
	o.busy_timeout_ms = -1;
	QOK(qdb_open_vfs(path, &o, vfs, &db));
	return db;
}

/* A few commits that leave garbage for a compaction to drop. */
static void fill(quire *db)
{
	char k[16], v[64];
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < 20; i++) {
			snprintf(k, sizeof k, "k%02d", i);
			snprintf(v, sizeof v, "round %d of key %d", r, i);
			tu_put1(db, k, v);
		}
}

static void check_clean(quire *db)
{
	quire_txn *t;
	uint64_t problems = 1;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	quire_abort(t);
}

/* The bytes of a real file (NULL: missing). */
static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* What a failed compaction must leave alone. */
struct before {
	struct stat st;
	uint8_t *bytes;
	size_t n;
};

static void take(const char *path, struct before *b)
{
	assert_int_equal(stat(path, &b->st), 0);
	assert_non_null(b->bytes = slurp(path, &b->n));
}

static void unchanged(const char *path, struct before *b, const char *ctx)
{
	struct stat st;
	char tpath[4300];
	size_t n = 0;
	uint8_t *p = slurp(path, &n);
	assert_int_equal(stat(path, &st), 0);
	if (st.st_ino != b->st.st_ino || st.st_mode != b->st.st_mode ||
	    st.st_uid != b->st.st_uid || st.st_gid != b->st.st_gid ||
	    !p || n != b->n || memcmp(p, b->bytes, n) != 0)
		fail_msg("%s: the database file changed", ctx);
	tu_pathcat(tpath, sizeof tpath, path, ".compact");
	if (access(tpath, F_OK) == 0)
		fail_msg("%s: %s was left behind", ctx, tpath);
	free(p);
	free(b->bytes);
	b->bytes = NULL;
}

static void msg_has(const char *what)
{
	if (!strstr(quire_errmsg(), what))
		fail_msg("message \"%s\" does not say \"%s\"", quire_errmsg(),
			 what);
}

/* A group we belong to other than our primary one, or (gid_t)-1. */
static gid_t other_group(void)
{
	gid_t g[256];
	int n = getgroups(256, g);
	for (int i = 0; i < n; i++)
		if (g[i] != getegid())
			return g[i];
	return (gid_t)-1;
}

/* --- through a symbolic link ------------------------------------------- */

/*
 * dir/link.q -> real/t.q. One handle through the link (through a holdvfs,
 * which records the paths renamed over and synced), one through the real
 * name opened before the compaction (another "process": another VFS).
 */
static void test_symlink(void **state)
{
	char real_dir[4200], real[4200], link_p[4200], tmp[4300];
	char want[PATH_MAX], got[4200], target[256];
	struct stat st, before;
	at(real_dir, "real");
	at(real, "real/t.q");
	at(link_p, "link.q");
	assert_int_equal(mkdir(real_dir, 0755), 0);
	quire *dbr = open_via(real, qvfs_unix(), QUIRE_CREATE);
	fill(dbr);
	assert_int_equal(symlink("real/t.q", link_p), 0);
	struct holdvfs *h = holdvfs_new(qvfs_unix());
	quire *dbl = open_via(link_p, holdvfs_vfs(h), 0);
	tu_put1(dbl, "via", "link");
	assert_int_equal(stat(real, &before), 0);

	QOK(quire_compact(dbl, NULL));

	/* the link is still a link to the same name; the file it names is
	 * a new, smaller one; no copy is left, beside either name */
	assert_int_equal(lstat(link_p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	ssize_t n = readlink(link_p, target, sizeof target - 1);
	assert_true(n > 0);
	target[n] = 0;
	assert_string_equal(target, "real/t.q");
	assert_int_equal(lstat(real, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_true(st.st_ino != before.st_ino);
	assert_true(st.st_size < before.st_size);
	assert_int_equal(access(tu_pathcat(tmp, sizeof tmp, real, ".compact"),
				F_OK),
			 -1);
	assert_int_equal(
		access(tu_pathcat(tmp, sizeof tmp, link_p, ".compact"), F_OK),
		-1);
	/* renamed over the resolved name, and that directory synced */
	assert_non_null(realpath(real, want));
	holdvfs_last_path(h, HV_RENAME, got, sizeof got);
	assert_string_equal(got, want);
	holdvfs_last_path(h, HV_SYNCDIR, got, sizeof got);
	assert_string_equal(got, want);

	/* writes through either name reach the one database */
	tu_put1(dbl, "a", "from the link");
	tu_expect(dbr, "a", "from the link");
	tu_put1(dbr, "b", "from the real name");
	tu_expect(dbl, "b", "from the real name");
	tu_expect(dbl, "via", "link");
	tu_expect(dbr, "k07", "round 2 of key 7");
	check_clean(dbl);
	/* a second compaction through the real name, a third through the
	 * link with the first handle's writes in between */
	QOK(quire_compact(dbr, NULL));
	tu_put1(dbl, "c", "after the second");
	QOK(quire_compact(dbl, NULL));
	tu_put1(dbr, "d", "after the third");
	QOK(quire_close(dbl));
	QOK(quire_close(dbr));
	assert_int_equal(lstat(link_p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	const char *names[] = {link_p, real};
	for (int i = 0; i < 2; i++) {
		quire *db = open_via(names[i], qvfs_unix(), QUIRE_RDONLY);
		tu_expect(db, "a", "from the link");
		tu_expect(db, "b", "from the real name");
		tu_expect(db, "c", "after the second");
		tu_expect(db, "d", "after the third");
		check_clean(db);
		QOK(quire_close(db));
	}
	holdvfs_free(h);
}

/* --- mode, owner, group ---------------------------------------------------- */

static void compact_path(const char *path)
{
	quire *db = open_via(path, qvfs_unix(), 0);
	tu_put1(db, "x", "y");
	QOK(quire_compact(db, NULL));
	tu_put1(db, "after", "compaction");
	QOK(quire_close(db));
}

static void test_modes(void **state)
{
	static const unsigned modes[] = {0600, 0640, 0604, 0660, 0644, 0664,
					 0620};
	char path[4200];
	struct stat st;
	at(path, "modes.q");
	quire *db = open_via(path, qvfs_unix(), QUIRE_CREATE);
	fill(db);
	QOK(quire_close(db));
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		/* the umask plays no part: a strict one, then none */
		mode_t old = umask(i % 2 ? 077 : 0);
		compact_path(path);
		umask(old);
		assert_int_equal(stat(path, &st), 0);
		if ((st.st_mode & 07777) != modes[i])
			fail_msg("mode %o became %o", modes[i],
				 (unsigned)(st.st_mode & 07777));
	}
}

static void test_owner_group(void **state)
{
	char path[4200];
	struct stat st;
	at(path, "owner.q");
	quire *db = open_via(path, qvfs_unix(), QUIRE_CREATE);
	fill(db);
	QOK(quire_close(db));
	assert_int_equal(chmod(path, 0640), 0);
	if (geteuid() != 0) {
		gid_t g = other_group();
		if (g == (gid_t)-1) {
			print_message("# SKIP not root and in no second group: "
				      "owner and group changes untested here "
				      "(the memvfs cases simulate them)\n");
			skip();
		}
		/* our own file in another group of ours: kept */
		assert_int_equal(chown(path, (uid_t)-1, g), 0);
		compact_path(path);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_gid, g);
		assert_int_equal(st.st_uid, geteuid());
		assert_int_equal(st.st_mode & 07777, 0640);
		print_message("# not root: owner changes untested here (the "
			      "memvfs cases simulate them)\n");
		return;
	}
	/* the group only, then owner and group */
	assert_int_equal(chown(path, 0, OTHER_ID), 0);
	compact_path(path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, OTHER_ID);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(chown(path, OTHER_ID, OTHER_ID), 0);
	assert_int_equal(chmod(path, 0600), 0);
	compact_path(path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, OTHER_ID);
	assert_int_equal(st.st_gid, OTHER_ID);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* and the file is still a database its owner's handles can use */
	quire *db2 = open_via(path, qvfs_unix(), QUIRE_RDONLY);
	tu_expect(db2, "after", "compaction");
	check_clean(db2);
	QOK(quire_close(db2));
}

/* --- the copy is never more readable than the file ----------------------- */

struct watch {
	char tpath[4300];
	struct stat orig;
	unsigned seen_empty, seen_data, bad;
	char why[512];
};

/* After every call of the VFS: if the copy exists, it is readable by no
 * one the file is not readable by, and once it holds data it has the
 * file's owner, group and mode. */
static void watch_hook(void *ctx, int kind, int result)
{
	struct watch *w = ctx;
	struct stat st;
	(void)kind, (void)result;
	if (stat(w->tpath, &st) != 0)
		return;
	unsigned mode = st.st_mode & 07777, omode = w->orig.st_mode & 07777;
	int same_owner = st.st_uid == w->orig.st_uid &&
			 st.st_gid == w->orig.st_gid;
	if (st.st_size == 0)
		w->seen_empty++;
	else
		w->seen_data++;
	/* bits for others the file lacks; group bits for another group;
	 * owner bits for another owner (only root can be that owner) */
	unsigned wider = mode & ~omode & 07;
	if (st.st_gid == w->orig.st_gid)
		wider |= mode & ~omode & 070;
	else
		wider |= mode & 070;
	if (st.st_uid == w->orig.st_uid)
		wider |= mode & ~omode & 0700;
	if ((wider || (st.st_size && (!same_owner || mode != omode))) &&
	    !w->bad++)
		snprintf(w->why, sizeof w->why,
			 "copy %o %u:%u, %lld bytes; file %o %u:%u", mode,
			 (unsigned)st.st_uid, (unsigned)st.st_gid,
			 (long long)st.st_size, omode,
			 (unsigned)w->orig.st_uid, (unsigned)w->orig.st_gid);
}

struct compactor {
	quire *db;
	int rc;
};

static void *compact_thread(void *arg)
{
	struct compactor *c = arg;
	c->rc = quire_compact(c->db, NULL);
	return NULL;
}

static void test_copy_never_wider(void **state)
{
	char path[4200];
	at(path, "wide.q");
	quire *db = open_via(path, qvfs_unix(), QUIRE_CREATE);
	fill(db);
	QOK(quire_close(db));
	/* another owner and group when root can give them, else a mode
	 * whose bits for others the copy must not have */
	static const unsigned modes[] = {0640, 0600, 0604, 0400};
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		struct watch w = {0};
		if (geteuid() == 0)
			assert_int_equal(chown(path, i % 2 ? OTHER_ID : 0,
					       OTHER_ID),
					 0);
		else if (modes[i] == 0400)
			continue; /* we could not write it */
		assert_int_equal(chmod(path, modes[i]), 0);
		assert_int_equal(stat(path, &w.orig), 0);
		tu_pathcat(w.tpath, sizeof w.tpath, path, ".compact");
		struct holdvfs *h = holdvfs_new(qvfs_unix());
		holdvfs_hook(h, HV_OPEN | HV_WRITE | HV_ATTR | HV_SYNC | HV_LOCK |
					HV_RENAME | HV_SYNCDIR | HV_SLEEP,
			     watch_hook, &w);
		umask(0); /* a umask must not be what protects it */
		db = open_via(path, holdvfs_vfs(h), 0);
		tu_put1(db, "round", "x");
		QOK(quire_compact(db, NULL));
		umask(022);
		if (w.bad)
			fail_msg("mode %o: the copy was wider %u times: %s",
				 modes[i], w.bad, w.why);
		/* seen right after its creation, and with data in it */
		assert_true(w.seen_empty > 0);
		assert_true(w.seen_data > 0);

		/* held before its rename: the copy, complete, is what the
		 * file is */
		struct stat st;
		holdvfs_hook(h, 0, NULL, NULL);
		holdvfs_hold(h, HV_RENAME);
		struct compactor c = {.db = db};
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, compact_thread, &c),
				 0);
		holdvfs_wait_held(h, HV_RENAME);
		assert_int_equal(stat(w.tpath, &st), 0);
		assert_true(st.st_size > 0);
		assert_int_equal(st.st_mode & 07777, modes[i]);
		assert_int_equal(st.st_uid, w.orig.st_uid);
		assert_int_equal(st.st_gid, w.orig.st_gid);
		holdvfs_release(h, HV_RENAME);
		assert_int_equal(pthread_join(th, NULL), 0);
		QOK(c.rc);
		tu_expect(db, "round", "x");
		QOK(quire_close(db));
		holdvfs_free(h);
	}
	if (geteuid() != 0)
		print_message("# not root: the copy was checked against modes "
			      "only, not another owner or group\n");
}

/* --- hard links, and a file moved away --------------------------------- */

static void test_hard_links(void **state)
{
	char path[4200], other[4200];
	struct before b;
	at(path, "links.q");
	at(other, "links-2.q");
	quire *db = open_via(path, qvfs_unix(), QUIRE_CREATE);
	fill(db);
	assert_int_equal(link(path, other), 0);
	take(path, &b);
	assert_int_equal(quire_compact(db, NULL), QUIRE_EINVAL);
	msg_has("2 hard links");
	msg_has("links.q");
	unchanged(path, &b, "two links");
	/* a third */
	char third[4200];
	at(third, "links-3.q");
	assert_int_equal(link(path, third), 0);
	take(path, &b);
	assert_int_equal(quire_compact(db, NULL), QUIRE_EINVAL);
	msg_has("3 hard links");
	unchanged(path, &b, "three links");
	/* the handle goes on as before */
	tu_put1(db, "still", "writable");
	assert_int_equal(unlink(third), 0);
	assert_int_equal(unlink(other), 0);
	QOK(quire_compact(db, NULL));
	tu_expect(db, "still", "writable");
	QOK(quire_close(db));
}

struct midway {
	char from[4200], to[4200], tpath[4300];
	int linkit; /* 1: link from to; 0: rename from to */
	int done;
};

/* Once the copy holds data: link or move the database file. */
static void midway_hook(void *ctx, int kind, int result)
{
	struct midway *m = ctx;
	struct stat st;
	(void)kind, (void)result;
	if (m->done || stat(m->tpath, &st) != 0 || st.st_size == 0)
		return;
	m->done = 1;
	if (m->linkit)
		assert_int_equal(link(m->from, m->to), 0);
	else
		assert_int_equal(rename(m->from, m->to), 0);
}

static void test_changed_meanwhile(void **state)
{
	char path[4200];
	struct before b;
	at(path, "mid.q");
	for (int linkit = 1; linkit >= 0; linkit--) {
		struct midway m = {.linkit = linkit};
		struct holdvfs *h = holdvfs_new(qvfs_unix());
		snprintf(m.from, sizeof m.from, "%s", path);
		at(m.to, linkit ? "mid-link.q" : "mid-moved.q");
		tu_pathcat(m.tpath, sizeof m.tpath, path, ".compact");
		quire *db = open_via(path, holdvfs_vfs(h), QUIRE_CREATE);
		fill(db);
		take(path, &b);
		holdvfs_hook(h, HV_WRITE | HV_SYNC, midway_hook, &m);
		int e = quire_compact(db, NULL);
		holdvfs_hook(h, 0, NULL, NULL);
		assert_true(m.done);
		if (linkit) {
			assert_int_equal(e, QUIRE_EINVAL);
			msg_has("2 hard links");
			unchanged(path, &b, "linked meanwhile");
			assert_int_equal(unlink(m.to), 0);
			QOK(quire_compact(db, NULL));
		} else {
			/* the name is free: nothing may appear there */
			assert_int_equal(e, QUIRE_ENOENT);
			msg_has("gone");
			assert_int_equal(access(path, F_OK), -1);
			unchanged(m.to, &b, "moved meanwhile");
			assert_int_equal(access(m.tpath, F_OK), -1);
			assert_int_equal(unlink(m.to), 0);
		}
		QOK(quire_close(db));
		holdvfs_free(h);
		unlink(path);
	}
}

/* --- simulated users, failing calls, crashes (memvfs) ------------------- */

static uint8_t *mv_copy(struct memvfs *m, const char *path, size_t *n)
{
	const uint8_t *p = memvfs_data(m, path, n);
	return p ? tu_dup(p, *n) : NULL;
}

static void mv_unchanged(struct memvfs *m, const char *path,
			 const uint8_t *bytes, size_t n, const char *ctx)
{
	size_t k;
	char tpath[300];
	const uint8_t *p = memvfs_data(m, path, &k);
	if (!p || k != n || memcmp(p, bytes, n) != 0)
		fail_msg("%s: %s changed", ctx, path);
	snprintf(tpath, sizeof tpath, "%s.compact", path);
	if (memvfs_data(m, tpath, &k))
		fail_msg("%s: %s was left behind", ctx, tpath);
}

static void test_other_user(void **state)
{
	struct memvfs *m = memvfs_new(11);
	struct qvfs_attrs a;
	size_t n;
	memvfs_user(m, 1000, 1000);
	quire *db = open_via("/u.q", memvfs_vfs(m), QUIRE_CREATE);
	fill(db);
	QOK(memvfs_attrs(m, "/u.q", &a));
	assert_int_equal(a.uid, 1000);
	assert_int_equal(a.mode, 0644);

	/* someone else's (writable to us through its group): refused */
	a = (struct qvfs_attrs){.mode = 0660, .uid = 2000, .gid = 1000,
				.nlink = 1};
	memvfs_set_attrs(m, "/u.q", &a);
	uint8_t *bytes = mv_copy(m, "/u.q", &n);
	assert_int_equal(quire_compact(db, NULL), QUIRE_EACCES);
	msg_has("owned by uid 2000");
	msg_has("/u.q");
	mv_unchanged(m, "/u.q", bytes, n, "another owner");
	free(bytes);

	/* ours, in a group we cannot give: compacted, the group's bits
	 * gone with it */
	a = (struct qvfs_attrs){.mode = 0640, .uid = 1000, .gid = 3000,
				.nlink = 1};
	memvfs_set_attrs(m, "/u.q", &a);
	QOK(quire_compact(db, NULL));
	QOK(memvfs_attrs(m, "/u.q", &a));
	assert_int_equal(a.uid, 1000);
	assert_int_equal(a.gid, 1000);
	assert_int_equal(a.mode, 0600);

	/* ours, in our group: all kept, whatever the mode */
	static const unsigned modes[] = {0660, 0600, 0604, 0640};
	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		a = (struct qvfs_attrs){.mode = modes[i], .uid = 1000,
					.gid = 1000, .nlink = 1};
		memvfs_set_attrs(m, "/u.q", &a);
		QOK(quire_compact(db, NULL));
		QOK(memvfs_attrs(m, "/u.q", &a));
		assert_int_equal(a.mode, modes[i]);
		assert_int_equal(a.uid, 1000);
		assert_int_equal(a.gid, 1000);
	}
	/* links, as memvfs counts them */
	a.nlink = 4;
	memvfs_set_attrs(m, "/u.q", &a);
	bytes = mv_copy(m, "/u.q", &n);
	assert_int_equal(quire_compact(db, NULL), QUIRE_EINVAL);
	msg_has("4 hard links");
	mv_unchanged(m, "/u.q", bytes, n, "four links");
	free(bytes);
	a.nlink = 1;
	memvfs_set_attrs(m, "/u.q", &a);

	/* root gives any owner */
	memvfs_user(m, 0, 0);
	a = (struct qvfs_attrs){.mode = 0640, .uid = 2000, .gid = 3000,
				.nlink = 1};
	memvfs_set_attrs(m, "/u.q", &a);
	QOK(quire_compact(db, NULL));
	QOK(memvfs_attrs(m, "/u.q", &a));
	assert_int_equal(a.uid, 2000);
	assert_int_equal(a.gid, 3000);
	assert_int_equal(a.mode, 0640);
	tu_expect(db, "k19", "round 2 of key 19");
	QOK(quire_close(db));
	memvfs_free(m);
}

/* Every attribute call (attrs, set_owner, set_mode, resolve) of a
 * compaction fails in turn: the call reports it, nothing changes. */
static void test_attr_faults(void **state)
{
	static const int errs[] = {EIO, EPERM, EACCES};
	uint64_t calls = 0, failed = 0;
	struct qvfs_attrs a = {.mode = 0640, .uid = 2000, .gid = 3000,
			       .nlink = 1};
	for (size_t k = 0; k < sizeof errs / sizeof *errs; k++) {
		for (uint64_t n = 0;; n++) { /* 0: the clean run */
			struct memvfs *m = memvfs_new(5);
			size_t size;
			quire *db = open_via("/f.q", memvfs_vfs(m),
					     QUIRE_CREATE);
			fill(db);
			memvfs_set_attrs(m, "/f.q", &a);
			uint8_t *bytes = mv_copy(m, "/f.q", &size);
			uint64_t c0 = memvfs_calls(m, MV_ATTR);
			if (n)
				memvfs_fault(m, MV_ATTR, n, errs[k], 0, 0);
			int e = quire_compact(db, NULL);
			uint64_t used = memvfs_calls(m, MV_ATTR) - c0;
			memvfs_clear_faults(m);
			if (!n) {
				QOK(e);
				calls = used;
			}
			if (e) {
				char ctx[64];
				snprintf(ctx, sizeof ctx, "%s at call %llu",
					 strerror(errs[k]),
					 (unsigned long long)n);
				failed++;
				if (e != QUIRE_EIO && e != QUIRE_EACCES)
					fail_msg("%s: %s (%s)", ctx,
						 quire_strerror(e),
						 quire_errmsg());
				msg_has("f.q");
				msg_has(strerror(errs[k]));
				mv_unchanged(m, "/f.q", bytes, size, ctx);
				QOK(quire_compact(db, NULL));
			}
			free(bytes);
			QOK(memvfs_attrs(m, "/f.q", &a));
			assert_int_equal(a.mode, 0640);
			assert_int_equal(a.uid, 2000);
			assert_int_equal(a.gid, 3000);
			tu_expect(db, "k00", "round 2 of key 0");
			QOK(quire_close(db));
			memvfs_free(m);
			if (n > calls)
				break;
		}
	}
	print_message("# %llu attribute calls per compaction, %llu failures "
		      "checked\n",
		      (unsigned long long)calls, (unsigned long long)failed);
	assert_true(calls >= 4 && failed >= calls);
}

/* Through a link in memvfs: the rename is over the file, the link stays,
 * and a crash at any call of the compaction leaves every commit
 * reachable through the link. */
static void test_link_crashes(void **state)
{
	uint64_t points = 0, states = 0;
	for (uint64_t n = 1;; n++) {
		struct memvfs *m = memvfs_new(n);
		struct holdvfs *h = holdvfs_new(memvfs_vfs(m));
		char got[256];
		quire *db = open_via("/data/t.q", memvfs_vfs(m), QUIRE_CREATE);
		QOK(quire_close(db));
		memvfs_symlink(m, "/l.q", "/data/t.q");
		db = open_via("/l.q", holdvfs_vfs(h), 0);
		fill(db);
		tu_put1(db, "last", "commit");
		uint64_t c0 = memvfs_calls(m, MV_MUTATE | MV_DIR);
		memvfs_crash_at(m, MV_MUTATE | MV_DIR, n);
		int e = quire_compact(db, NULL);
		int crashed = memvfs_crashed(m);
		if (!crashed) {
			QOK(e);
			points = memvfs_calls(m, MV_MUTATE | MV_DIR) - c0;
			assert_string_equal(memvfs_readlink(m, "/l.q"),
					    "/data/t.q");
			holdvfs_last_path(h, HV_RENAME, got, sizeof got);
			assert_string_equal(got, "/data/t.q");
			holdvfs_last_path(h, HV_SYNCDIR, got, sizeof got);
			assert_string_equal(got, "/data/t.q");
			QOK(quire_close(db));
			holdvfs_free(h);
			memvfs_free(m);
			break;
		}
		QOK(quire_close(db));
		/* the crash modes in turn over the crash points */
		memvfs_crash(m, (enum mv_crash)(n % MV_CRASH_NMODES), n);
		states++;
		assert_string_equal(memvfs_readlink(m, "/l.q"), "/data/t.q");
		db = open_via("/l.q", holdvfs_vfs(h), 0);
		tu_expect(db, "last", "commit");
		tu_expect(db, "k11", "round 2 of key 11");
		check_clean(db);
		tu_put1(db, "after", "crash");
		QOK(quire_compact(db, NULL));
		tu_expect(db, "after", "crash");
		QOK(quire_close(db));
		holdvfs_free(h);
		memvfs_free(m);
	}
	print_message("# %llu crash points in a compaction through a link\n",
		      (unsigned long long)points);
	assert_true(points > 5 && states == points);
}

/* --- quire_compact's arguments ------------------------------------------- */

static void test_args(void **state)
{
	struct memvfs *m = memvfs_new(3);
	quire_compact_options co;
	quire_txn *t;
	quire_stat st;
	size_t n;
	uint64_t T = 1800000000ull * 1000000000ull;
	memvfs_clock(m, T, 1000);
	quire *db = open_via("/a.q", memvfs_vfs(m), QUIRE_CREATE);
	fill(db);
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	uint8_t *bytes = mv_copy(m, "/a.q", &n);

	quire_compact_options_init(&co);
	co.keep_since_txn = st.txn_id + 1;
	assert_int_equal(quire_compact(db, &co), QUIRE_EINVAL);
	msg_has("past the newest commit");
	msg_has("/a.q");
	mv_unchanged(m, "/a.q", bytes, n, "keep_since_txn past the newest");
	co.keep_since_txn = UINT64_MAX;
	assert_int_equal(quire_compact(db, &co), QUIRE_EINVAL);
	mv_unchanged(m, "/a.q", bytes, n, "keep_since_txn UINT64_MAX");

	quire_compact_options_init(&co);
	co.keep_since_ns = T + 3600ull * 1000000000ull; /* an hour ahead */
	assert_int_equal(quire_compact(db, &co), QUIRE_EINVAL);
	msg_has("in the future");
	mv_unchanged(m, "/a.q", bytes, n, "keep_since_ns in the future");
	co.keep_since_ns = UINT64_MAX;
	assert_int_equal(quire_compact(db, &co), QUIRE_EINVAL);
	mv_unchanged(m, "/a.q", bytes, n, "keep_since_ns UINT64_MAX");
	free(bytes);

	/* the clock set back: the newest commit's time is the present, and
	 * keeping from it is no mistake */
	memvfs_clock(m, T - 3600ull * 1000000000ull, 1000);
	quire_compact_options_init(&co);
	co.keep_since_ns = st.commit_time_ns;
	QOK(quire_compact(db, &co));
	/* the newest commit itself, by txn and by time */
	quire_compact_options_init(&co);
	co.keep_since_txn = st.txn_id;
	QOK(quire_compact(db, &co));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	assert_int_equal(st.history_txn, st.txn_id);
	tu_expect(db, "k05", "round 2 of key 5");
	QOK(quire_close(db));
	memvfs_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_group, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_copy_never_wider, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hard_links, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_changed_meanwhile, setup,
						teardown),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_attr_faults),
		cmocka_unit_test(test_link_crashes),
		cmocka_unit_test(test_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
