/*
 * test_compact.c - compaction checked against a model of every commit.
 *
 *   - model: a random workload (puts, deletes, overwrites, range deletes,
 *     values in and out of line, metadata and metadata-only commits,
 *     aborts, checkpoints, reopens, a steered clock) on the in-memory VFS
 *     records every commit and operation; at random points it compacts
 *     with a random retention (none, keep_since_txn, keep_since_ns,
 *     keep_last, combinations) and then checks, for every kept commit, its
 *     AS-OF state (by id and by time), its log entry and the changes feed
 *     from history_seq - 1 on (range deletes with their bounds and counts:
 *     compaction replays kept commits from the feed), key histories (of
 *     keys no range delete removed: histmodel.h), and QUIRE_EHISTORY for
 *     every dropped one; snapshots held across the compaction still read
 *     the old file; txn ids go on;
 *   - a long replay: many kept commits copied from a file several times
 *     the node cache;
 *   - threads: a writer commits nonstop and readers hold snapshots (and
 *     read AS-OF and feeds) across several compactions, one reader on a
 *     second handle; every state any of them saw equals the writer's
 *     record of that commit;
 *   - crash: a crash at every write, sync, truncate, rename and directory
 *     sync of a compaction (and of a commit made during it from the
 *     progress callback, and of two after it), in every way memvfs can
 *     leave the disk: the reopened file holds every acknowledged commit
 *     with the history from before or after the compaction, and compacts
 *     again;
 *   - faults: ENOSPC and EIO on the writes, syncs, open and rename of the
 *     ".compact" file: the call fails with that error, the new file is
 *     gone, nothing changed, writes go on; and once on any call of any
 *     file (reads included): nothing acknowledged is lost;
 *   - a leftover "<path>.compact" (garbage, a copy of the database, empty,
 *     a torn copy, read-only) disturbs neither open nor compaction; the
 *     progress callback's figures, and cancelling at its calls;
 *   - auto_compact_ratio compacts in the background, in a thread that
 *     paces itself (not with QUIRE_COMPACT_NOYIELD), and closing while it
 *     runs works; a paced compaction on a CPU another thread keeps busy
 *     sleeps, and does not while a writer waits for it (hurry); commits
 *     while its thread starts neither start another nor wait for it;
 *   - another process holding the database open sees the commits made
 *     after a compaction (quire_wait too), its older snapshot still reads,
 *     and its commits after the swap land in the new file; a writer in
 *     another process commits throughout repeated compactions;
 *   - handles of one file in one process: one opened before a compaction
 *     writes into the new file, one opened after it takes turns with the
 *     first one's writer, two compact at once;
 *   - arguments: bad options, read-only handles, the writing thread.
 *
 * The memvfs tests go through a thin wrapper VFS (cvfs below) that injects
 * faults into the ".compact" file only, and gives memvfs POSIX semantics
 * for a file that is renamed over or removed while open (its handles keep
 * reading what it held) and for a rename whose directory was not synced
 * yet when the power went (the old directory entry survives).
 *
 * QUIRE_SEED=<seed> replays a failure; QUIRE_LONG=1 runs more seeds and
 * crash states; QUIRE_COMPACT_ONLY=<pattern> runs only the tests whose
 * name matches (e.g. "*crash"). Each test prints its counts ("# ...").
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compact.h"
#include "histmodel.h"
#include "internal.h"
#include "memvfs.h"
#include "pace.h"
#include "testutil.h"
#include "workload.h"

#define PATH "/compact.quire"
#define CPATH PATH ".compact"

static int long_tier; /* QUIRE_LONG=1 */

/* Under ThreadSanitizer (scripts/check.sh) only the tests with threads or
 * processes run: the others take minutes there and give it nothing. */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif


/* What the running test is doing, and in which phase: every failure
 * names them. */
static char g_ctx[320];
static const char *g_phase = "";

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a forked worker of the crash test: where a failure goes (a worker
 * must not unwind into cmocka's runner). */
static int g_worker_fd = -1;

struct wresult {
	uint64_t states;
	int failed;
	char msg[1500];
};

static void worker_fail(const char *msg)
{
	struct wresult w = {.failed = 1};
	snprintf(w.msg, sizeof w.msg, "%s", msg);
	if (write(g_worker_fd, &w, sizeof w) != sizeof w)
		_exit(2);
	_exit(1);
}

static void failf(const char *fmt, ...)
{
	char msg[1024], all[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(all, sizeof all, "%s%s%s: %s", g_ctx, *g_phase ? ", " : "",
		 g_phase, msg);
	if (g_worker_fd >= 0)
		worker_fail(all);
	fail_msg("%s", all);
}

static void ctx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void ctx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_ctx, sizeof g_ctx, fmt, ap);
	va_end(ap);
	g_phase = "";
}

#define COK(x)                                                               \
	do {                                                                 \
		int cok_ = (x);                                              \
		if (cok_ != 0)                                               \
			failf("%s = %d (%s: %s)", #x, cok_,                  \
			      quire_strerror(cok_), quire_errmsg());         \
	} while (0)

#define CREQ(cond, ...)                                                      \
	do {                                                                 \
		if (!(cond))                                                 \
			failf(__VA_ARGS__);                                  \
	} while (0)

typedef unsigned long long ull;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* FNV-1a, for digests of snapshots and feeds */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fnv_kv(uint64_t h, const void *k, size_t kl, const void *v,
		       size_t vl)
{
	uint64_t l = kl;
	h = fnv(h, &l, sizeof l);
	h = fnv(h, k, kl);
	l = vl;
	h = fnv(h, &l, sizeof l);
	return fnv(h, v, vl);
}

#define FNV0 0xcbf29ce484222325ull

/* ==== cvfs: memvfs plus faults on the ".compact" file ================= */

/* A file that was renamed over or removed while open: its handles keep
 * what it held, as an unlinked inode does. */
struct orphan {
	int refs;
	uint8_t *p;
	size_t size;
	uint64_t dev, ino;
};

struct cfile {
	qvfs_file base;
	struct cvfs *v;
	qvfs_file *in; /* the memvfs handle; dead once orphaned */
	struct orphan *o;
	char path[256];
	struct cfile *next;
};

/* fault kinds: calls on the ".compact" file, and directory syncs */
#define CF_WRITE 0x1
#define CF_SYNC 0x2
#define CF_OPEN 0x4    /* an open that may create it */
#define CF_RENAME 0x8  /* renaming it over the database */
#define CF_SYNCDIR 0x10
#define CF_KINDS 5

struct cvfs {
	qvfs vfs; /* first: the library calls us through it */
	struct memvfs *m;
	qvfs *in;
	struct cfile *open;
	int fkinds, ferr, fpersist;
	uint64_t fn, fseen;
	uint64_t calls[CF_KINDS]; /* per kind, on the .compact file */
	/* a rename replaced path but no directory sync followed yet: after
	 * a power cut the old entry (with these bytes) may be what is left */
	int rename_unsynced;
	char saved_path[256];
	uint8_t *saved;
	size_t saved_size;
};

static int is_compact(const char *path)
{
	size_t n = strlen(path);
	return n > 8 && strcmp(path + n - 8, ".compact") == 0;
}

static int cv_hook(struct cvfs *v, int kind)
{
	for (int i = 0; i < CF_KINDS; i++)
		if (kind & (1 << i))
			v->calls[i]++;
	if (!(v->fkinds & kind))
		return 0;
	v->fseen++;
	if (v->fseen == v->fn || (v->fpersist && v->fseen > v->fn))
		return -v->ferr;
	return 0;
}

static void cv_fault(struct cvfs *v, int kinds, uint64_t n, int err,
		     int persist)
{
	v->fkinds = kinds;
	v->fn = n;
	v->fseen = 0;
	v->ferr = err;
	v->fpersist = persist;
}

static struct cfile *cf(qvfs_file *f)
{
	return (struct cfile *)f;
}

static void orphan_write(struct orphan *o, const void *p, size_t n,
			 uint64_t off)
{
	if (off + n > o->size) {
		o->p = realloc(o->p, (size_t)off + n);
		assert_non_null(o->p);
		memset(o->p + o->size, 0, (size_t)off + n - o->size);
		o->size = (size_t)off + n;
	}
	if (n)
		memcpy(o->p + off, p, n);
}

static ssize_t cf_read(qvfs_file *f, void *buf, size_t n, uint64_t off)
{
	struct cfile *c = cf(f);
	if (!c->o)
		return c->in->ops->read(c->in, buf, n, off);
	if (off >= c->o->size)
		return 0;
	size_t k = c->o->size - (size_t)off < n ? c->o->size - (size_t)off : n;
	memcpy(buf, c->o->p + off, k);
	return (ssize_t)k;
}

static ssize_t cf_write(qvfs_file *f, const void *buf, size_t n, uint64_t off)
{
	struct cfile *c = cf(f);
	if (c->o) {
		orphan_write(c->o, buf, n, off);
		return (ssize_t)n;
	}
	int e = is_compact(c->path) ? cv_hook(c->v, CF_WRITE) : 0;
	if (e)
		return e;
	return c->in->ops->write(c->in, buf, n, off);
}

static ssize_t cf_writev(qvfs_file *f, const struct iovec *iov, int n,
			 uint64_t off)
{
	struct cfile *c = cf(f);
	if (c->o) {
		ssize_t done = 0;
		for (int i = 0; i < n; i++) {
			orphan_write(c->o, iov[i].iov_base, iov[i].iov_len,
				     off + (uint64_t)done);
			done += (ssize_t)iov[i].iov_len;
		}
		return done;
	}
	int e = is_compact(c->path) ? cv_hook(c->v, CF_WRITE) : 0;
	if (e)
		return e;
	return c->in->ops->writev(c->in, iov, n, off);
}

static int cf_sync(qvfs_file *f)
{
	struct cfile *c = cf(f);
	if (c->o)
		return 0;
	int e = is_compact(c->path) ? cv_hook(c->v, CF_SYNC) : 0;
	return e ? e : c->in->ops->sync(c->in);
}

static int cf_truncate(qvfs_file *f, uint64_t size)
{
	struct cfile *c = cf(f);
	if (!c->o)
		return c->in->ops->truncate(c->in, size);
	if (size > c->o->size)
		orphan_write(c->o, "", 0, size);
	c->o->size = (size_t)size;
	return 0;
}

static int cf_size(qvfs_file *f, uint64_t *size)
{
	struct cfile *c = cf(f);
	if (!c->o)
		return c->in->ops->size(c->in, size);
	*size = c->o->size;
	return 0;
}

static int cf_lock(qvfs_file *f, int op)
{
	struct cfile *c = cf(f);
	return c->o ? 0 : c->in->ops->lock(c->in, op);
}

static int cf_identity(qvfs_file *f, uint64_t *dev, uint64_t *ino)
{
	struct cfile *c = cf(f);
	if (!c->o)
		return c->in->ops->identity(c->in, dev, ino);
	*dev = c->o->dev;
	*ino = c->o->ino;
	return 0;
}

/* An orphan's attributes are not kept: it is nobody's to compact. */
static int cf_attrs(qvfs_file *f, struct qvfs_attrs *a)
{
	struct cfile *c = cf(f);
	return c->o ? -ENOTSUP : c->in->ops->attrs(c->in, a);
}

static int cf_set_owner(qvfs_file *f, uint32_t uid, uint32_t gid)
{
	struct cfile *c = cf(f);
	return c->o ? 0 : c->in->ops->set_owner(c->in, uid, gid);
}

static int cf_set_mode(qvfs_file *f, unsigned mode)
{
	struct cfile *c = cf(f);
	return c->o ? 0 : c->in->ops->set_mode(c->in, mode);
}

static void cf_close(qvfs_file *f)
{
	struct cfile *c = cf(f), **pp = &c->v->open;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	if (c->o) {
		if (--c->o->refs == 0) {
			free(c->o->p);
			free(c->o);
		}
		/* memvfs freed the file this handle points to, so its close
		 * would touch freed memory: release the handle's memory only */
		free(c->in);
	} else {
		c->in->ops->close(c->in);
	}
	free(c);
}

static const struct qvfs_file_ops cf_ops = {
	.read = cf_read,
	.write = cf_write,
	.writev = cf_writev,
	.sync = cf_sync,
	.truncate = cf_truncate,
	.size = cf_size,
	.lock = cf_lock,
	.map = NULL,
	.identity = cf_identity,
	.close = cf_close,
	.attrs = cf_attrs,
	.set_owner = cf_set_owner,
	.set_mode = cf_set_mode,
};

static int cv_open(qvfs *vfs, const char *path, int flags, unsigned mode,
		   qvfs_file **out)
{
	struct cvfs *v = (struct cvfs *)vfs;
	qvfs_file *in;
	int e = is_compact(path) && (flags & QVFS_CREATE) ? cv_hook(v, CF_OPEN)
							  : 0;
	if (e)
		return e;
	if ((e = v->in->open(v->in, path, flags, mode, &in)) != 0)
		return e;
	struct cfile *c = calloc(1, sizeof *c);
	assert_non_null(c);
	c->base.ops = &cf_ops;
	c->v = v;
	c->in = in;
	snprintf(c->path, sizeof c->path, "%s", path);
	c->next = v->open;
	v->open = c;
	*out = &c->base;
	return 0;
}

/* The bytes of path (NULL if missing), copied. */
static uint8_t *cv_copy(struct cvfs *v, const char *path, size_t *n)
{
	const uint8_t *p = memvfs_data(v->m, path, n);
	return p ? tu_dup(p, *n) : NULL;
}

/* path is gone from the directory: its open handles keep copy (taken
 * before; consumed) and the identity they had. */
static void cv_orphan(struct cvfs *v, const char *path, uint8_t *copy,
		      size_t n, uint64_t dev, uint64_t ino)
{
	struct orphan *o = NULL;
	for (struct cfile *c = v->open; c; c = c->next) {
		if (c->o || strcmp(c->path, path) != 0)
			continue;
		if (!o) {
			o = calloc(1, sizeof *o);
			assert_non_null(o);
			*o = (struct orphan){.p = copy, .size = n, .dev = dev,
					     .ino = ino};
			copy = NULL;
		}
		c->o = o;
		o->refs++;
	}
	free(copy);
}

static void cv_identity(struct cvfs *v, const char *path, uint64_t *dev,
			uint64_t *ino)
{
	for (struct cfile *c = v->open; c; c = c->next)
		if (!c->o && strcmp(c->path, path) == 0)
			c->in->ops->identity(c->in, dev, ino);
}

static int cv_remove(qvfs *vfs, const char *path)
{
	struct cvfs *v = (struct cvfs *)vfs;
	size_t n = 0;
	uint64_t dev = 0, ino = 0;
	uint8_t *copy = cv_copy(v, path, &n);
	cv_identity(v, path, &dev, &ino);
	int e = v->in->remove(v->in, path);
	if (e) {
		free(copy);
		return e;
	}
	cv_orphan(v, path, copy, n, dev, ino);
	return 0;
}

static int cv_rename(qvfs *vfs, const char *from, const char *to,
		     int noreplace)
{
	struct cvfs *v = (struct cvfs *)vfs;
	size_t n = 0;
	uint64_t dev = 0, ino = 0;
	int e = is_compact(from) ? cv_hook(v, CF_RENAME) : 0;
	if (e)
		return e;
	uint8_t *copy = cv_copy(v, to, &n);
	cv_identity(v, to, &dev, &ino);
	if ((e = v->in->rename(v->in, from, to, noreplace)) != 0) {
		free(copy);
		return e;
	}
	if (copy) {
		free(v->saved);
		v->saved = tu_dup(copy, n);
		v->saved_size = n;
		snprintf(v->saved_path, sizeof v->saved_path, "%s", to);
		v->rename_unsynced = 1;
		cv_orphan(v, to, copy, n, dev, ino);
	}
	for (struct cfile *c = v->open; c; c = c->next)
		if (!c->o && strcmp(c->path, from) == 0)
			snprintf(c->path, sizeof c->path, "%s", to);
	return 0;
}

static int cv_sync_dir(qvfs *vfs, const char *path)
{
	struct cvfs *v = (struct cvfs *)vfs;
	int e = cv_hook(v, CF_SYNCDIR);
	if (e)
		return e;
	if ((e = v->in->sync_dir(v->in, path)) == 0)
		v->rename_unsynced = 0;
	return e;
}

static uint64_t cv_now(qvfs *vfs)
{
	struct cvfs *v = (struct cvfs *)vfs;
	return v->in->now_ns(v->in);
}

static uint64_t cv_mono(qvfs *vfs)
{
	struct cvfs *v = (struct cvfs *)vfs;
	return v->in->mono_ns(v->in);
}

static void cv_sleep(qvfs *vfs, uint64_t ns)
{
	struct cvfs *v = (struct cvfs *)vfs;
	v->in->sleep_ns(v->in, ns);
}

static uint64_t cv_boot(qvfs *vfs)
{
	struct cvfs *v = (struct cvfs *)vfs;
	return v->in->boot_id(v->in);
}

static void cv_random(qvfs *vfs, void *buf, size_t n)
{
	struct cvfs *v = (struct cvfs *)vfs;
	v->in->random(v->in, buf, n);
}

static int cv_resolve(qvfs *vfs, const char *path, char **out)
{
	struct cvfs *v = (struct cvfs *)vfs;
	return v->in->resolve(v->in, path, out);
}

static void cv_init(struct cvfs *v, struct memvfs *m)
{
	*v = (struct cvfs){.vfs = {.open = cv_open,
				   .remove = cv_remove,
				   .rename = cv_rename,
				   .sync_dir = cv_sync_dir,
				   .now_ns = cv_now,
				   .mono_ns = cv_mono,
				   .sleep_ns = cv_sleep,
				   .boot_id = cv_boot,
				   .random = cv_random,
				   .resolve = cv_resolve},
			   .m = m,
			   .in = memvfs_vfs(m)};
}

static void cv_done(struct cvfs *v)
{
	CREQ(!v->open, "a file of the database is still open");
	free(v->saved);
	v->saved = NULL;
}

/* After memvfs_crash: memvfs drops a renamed file whose directory entry
 * was not synced, taking the file it replaced with it; a real file system
 * keeps the old entry then. */
static void cv_crashed(struct cvfs *v, enum mv_crash mode)
{
	size_t n;
	CREQ(!v->open, "a file is still open at the crash");
	if (mode != MV_CRASH_PROCESS && v->rename_unsynced &&
	    !memvfs_data(v->m, v->saved_path, &n))
		memvfs_set(v->m, v->saved_path, v->saved, v->saved_size);
	v->rename_unsynced = 0;
	cv_fault(v, 0, 0, 0, 0);
}

/* ==== what a compaction keeps of the history (histmodel.h) ============ */

/* The oldest commit a compaction with options o keeps, when t0 is the
 * newest at its start and oldest the oldest the file still had. */
static uint64_t expect_oldest(const struct hmodel *hm, uint64_t oldest,
			      uint64_t t0, const quire_compact_options *o)
{
	uint64_t best = t0;
	if (o->keep_since_txn && o->keep_since_txn < best)
		best = o->keep_since_txn;
	if (o->keep_since_ns) {
		uint64_t t = 0;
		while (t < t0 && hm->c[t].time_ns < o->keep_since_ns)
			t++;
		best = t < best ? t : best;
	}
	if (o->keep_last) {
		uint64_t t = o->keep_last > t0 ? 0 : t0 - o->keep_last + 1;
		best = t < best ? t : best;
	}
	return best > oldest ? best : oldest;
}

/* ==== a database on memvfs and its model ============================== */

#define NKEYS 140
#define VBUF (64u << 10)

struct run {
	uint64_t seed, rng;
	struct memvfs *mv;
	struct cvfs cv;
	quire *db;
	unsigned node_size;
	unsigned long ckpt; /* checkpoint_ops of the open handle */
	int fixed_ckpt;     /* keep it at reopens */
	struct hmodel own, *hm; /* hm: own, or a model shared by replays */
	struct model cur;   /* the latest state */
	uint64_t oldest;    /* the history_txn the file must report */
	int lost_set;       /* lost_txn was the base of a compaction that */
	uint64_t lost_txn;  /* kept no history (see compacted()) */
	uint8_t *vbuf;
	int big;            /* 1: values of 16 to 32 KiB only; 2: 800 to 1000
			     * bytes (in line: a large sequence tree) */
	uint64_t reopens, ckpts, asof, dropped, feeds, hists, held, lost;
	uint64_t ranges, range_keys, hists_cut;
};

static uint64_t below(struct run *r, uint64_t n)
{
	return tu_below(&r->rng, n);
}

/* Key number i: 0 is the empty key, every 23rd is 500 bytes long. */
static size_t key_of(unsigned i, uint8_t *k)
{
	if (i == 0)
		return 0;
	int n = snprintf((char *)k, 16, "%c%03u", i % 23 ? 'k' : 'L', i);
	if (i % 23)
		return (size_t)n;
	memset(k + n, 'x', 500);
	return (size_t)n + 500;
}

/* The value of the operation with sequence number seq: its bytes depend
 * on seq, so a stale value never passes for a newer one. */
static size_t gen_val(struct run *r, uint64_t seq)
{
	uint64_t p = below(r, 1000), s = r->seed ^ (seq << 24), x = 0;
	size_t len;
	if (r->big)
		len = r->big == 1 ? (16u << 10) + below(r, 16u << 10)
				  : 800 + below(r, 200);
	else if (p < 60)
		len = 0;
	else if (p < 700)
		len = 1 + below(r, 60);
	else if (p < 850)
		len = 1000 + below(r, 60); /* around the inline limit */
	else if (p < 992)
		len = 1100 + below(r, 3000);
	else
		len = (20u << 10) + below(r, 40u << 10);
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = tu_rand(&s);
		r->vbuf[i] = (uint8_t)(x >> (i % 8 * 8));
	}
	return len;
}

static void db_open(struct run *r, unsigned flags)
{
	static const unsigned long ckpts[] = {1, 7, 40, 100000};
	quire_options o;
	quire_options_init(&o);
	o.flags = flags;
	o.node_size = r->node_size;
	o.cache_size = (size_t)1 << 20; /* evictions while compacting */
	o.auto_compact_ratio = 0; /* the model says when to compact */
	if (!r->fixed_ckpt)
		r->ckpt = ckpts[below(r, 4)];
	o.checkpoint_ops = r->ckpt;
	COK(qdb_open_vfs(PATH, &o, &r->cv.vfs, &r->db));
}

static void run_setup(struct run *r, uint64_t seed, unsigned node_size,
		      unsigned long ckpt)
{
	*r = (struct run){.seed = seed,
			  .rng = seed,
			  .node_size = node_size,
			  .ckpt = ckpt,
			  .fixed_ckpt = ckpt != 0};
	r->hm = &r->own;
	r->vbuf = malloc(VBUF);
	assert_non_null(r->vbuf);
	r->mv = memvfs_new(seed);
	cv_init(&r->cv, r->mv);
}

/* A new database: commit 0 is the empty state. */
static void run_create(struct run *r, uint64_t seed, unsigned node_size,
		       unsigned long ckpt)
{
	quire_txn *t;
	quire_log_entry le;
	run_setup(r, seed, node_size, ckpt);
	db_open(r, QUIRE_CREATE);
	COK(quire_begin(r->db, QUIRE_RDONLY, &t));
	COK(quire_log_get(t, 0, &le));
	hm_add_commit(r->hm, &(struct hcommit){.time_ns = le.time_ns,
					       .first_seq = 1,
					       .next_seq = 1});
	quire_abort(t);
}

static void run_close(struct run *r)
{
	if (r->db)
		COK(quire_close(r->db));
	r->db = NULL;
}

static void run_free(struct run *r)
{
	run_close(r);
	cv_done(&r->cv);
	memvfs_free(r->mv);
	hm_free(&r->own);
	model_clear(&r->cur);
	free(r->vbuf);
}

static void reopen(struct run *r)
{
	run_close(r);
	db_open(r, 0);
	r->reopens++;
}

/* The commit just made (or none, if the id did not move): record it with
 * the time its log entry gives. Its operations are in the model already. */
static void record_commit(struct run *r, uint64_t first_seq,
			  const char *meta, size_t metalen)
{
	struct hmodel *hm = r->hm;
	quire_txn *t;
	quire_log_entry le;
	uint64_t last = hm_latest(hm);
	COK(quire_begin(r->db, QUIRE_RDONLY, &t));
	uint64_t id = quire_txn_id(t);
	if (id == last) {
		CREQ(hm->nops + 1 == first_seq && !metalen,
		     "a commit with changes got no txn id");
		quire_abort(t);
		return;
	}
	CREQ(id == last + 1, "commit got id %llu, want %llu", (ull)id,
	     (ull)last + 1);
	COK(quire_log_get(t, id, &le));
	CREQ(le.time_ns >= hm->c[last].time_ns,
	     "commit time went back: %llu after %llu", (ull)le.time_ns,
	     (ull)hm->c[last].time_ns);
	struct hcommit c = {.txn = id,
			    .time_ns = le.time_ns,
			    .first_seq = first_seq,
			    .next_seq = hm->nops + 1,
			    .metalen = metalen};
	memcpy(c.meta, meta, metalen);
	hm_add_commit(hm, &c);
	quire_abort(t);
}

/* A range delete (hm_pick_range) in write transaction w, whose state is
 * wm: the count must be the model's; recorded as *o (sequence number seq)
 * if it removed keys. Returns 1 if it did. */
static int range_del(struct run *r, quire_txn *w, struct model *wm,
		     uint64_t seq, uint64_t txn, struct hop *o)
{
	struct hrange g;
	uint64_t n = UINT64_MAX;
	quire_val v;
	hm_pick_range(&r->rng, NKEYS, &g);
	const uint8_t *fp = g.from_null ? NULL : g.from,
		      *tp = g.to_null ? NULL : g.to;
	COK(g.prefix ? quire_del_prefix(w, fp, g.fl, &n)
		     : quire_del_range(w, fp, g.fl, tp, g.tl, &n));
	*o = (struct hop){.seq = seq, .txn = txn};
	hm_set_range(o, fp, g.fl, g.prefix ? NULL : tp, g.tl, g.prefix);
	size_t at = model_lower(wm, o->k, o->kl);
	int first = at < wm->n && hm_in_range(o, wm->v[at].key, wm->v[at].klen);
	uint8_t *fk = first ? tu_dup(wm->v[at].key, wm->v[at].klen) : NULL;
	size_t fkl = first ? wm->v[at].klen : 0;
	o->count = hm_apply(wm, NULL, o);
	CREQ(n == o->count, "%s removed %llu keys, the model %llu",
	     g.prefix ? "del_prefix" : "del_range", (ull)n, (ull)o->count);
	if (fk) /* its first key is gone from the transaction */
		CREQ(quire_get(w, fk, fkl, &v) == QUIRE_NOTFOUND,
		     "a key the range removed is still there");
	free(fk);
	if (!o->count) {
		free(o->k);
		free(o->v);
		return 0;
	}
	r->ranges++;
	r->range_keys += o->count;
	return 1;
}

/* A write transaction of up to maxops random puts and deletes (about half
 * of them on present keys: overwrites) and now and then a range delete; a
 * few abort, a third carry metadata (with no operations: a metadata-only
 * commit). */
static void write_txn(struct run *r, int maxops)
{
	struct hmodel *hm = r->hm;
	quire_txn *w;
	uint8_t k[700];
	size_t want = (size_t)below(r, (uint64_t)maxops + 1), n = 0;
	uint64_t seq0 = hm->nops + 1, txn = hm_latest(hm) + 1;
	struct hop *mine = calloc(want + 1, sizeof *mine);
	struct model wm = {0};
	assert_non_null(mine);
	model_copy(&wm, &r->cur);
	COK(quire_begin(r->db, 0, &w));
	CREQ(quire_txn_id(w) == txn, "write txn id %llu, want %llu",
	     (ull)quire_txn_id(w), (ull)txn);
	for (size_t i = 0; i < want; i++) {
		size_t kl;
		if (below(r, 100) < 3) {
			n += (size_t)range_del(r, w, &wm, seq0 + n, txn,
					       &mine[n]);
			continue;
		}
		if (wm.n && below(r, 100) < 45) {
			const struct model_ent *e = &wm.v[below(r, wm.n)];
			memcpy(k, e->key, e->klen);
			kl = e->klen;
		} else {
			kl = key_of((unsigned)below(r, NKEYS), k);
		}
		struct hop o = {.seq = seq0 + n, .txn = txn};
		if (below(r, 100) < 72) {
			o.op = QUIRE_OP_PUT;
			o.vl = gen_val(r, o.seq);
			COK(quire_put(w, k, kl, r->vbuf, o.vl));
			o.v = tu_dup(r->vbuf, o.vl);
		} else {
			int present = model_get(&wm, k, kl) != NULL;
			int e = quire_del(w, k, kl);
			CREQ(e == (present ? 0 : QUIRE_NOTFOUND),
			     "del of a%s key: %d",
			     present ? " present" : "n absent", e);
			if (!present)
				continue;
			o.op = QUIRE_OP_DEL;
		}
		o.k = tu_dup(k, kl);
		o.kl = kl;
		hm_apply(&wm, NULL, &o);
		mine[n++] = o;
	}
	if (below(r, 100) < 6) {
		quire_abort(w);
		for (size_t i = 0; i < n; i++) {
			free(mine[i].k);
			free(mine[i].v);
		}
	} else {
		char mbuf[48] = "";
		size_t ml = 0;
		if (below(r, 3) == 0) {
			ml = (size_t)snprintf(mbuf, sizeof mbuf,
					      "who=u%llu why=%llu",
					      (ull)below(r, 9), (ull)txn);
			COK(quire_commit_with(w, mbuf, ml));
		} else {
			COK(quire_commit(w));
		}
		for (size_t i = 0; i < n; i++)
			hm_add_op(hm, &mine[i]);
		model_copy(&r->cur, &wm);
		record_commit(r, seq0, mbuf, ml);
	}
	free(mine);
	model_clear(&wm);
}

static void checkpoint(struct run *r)
{
	uint64_t first = r->hm->nops + 1;
	COK(quire_checkpoint(r->db));
	record_commit(r, first, "", 0);
	r->ckpts++;
}

/* Frozen for a while (commits share a time), set back (times must not
 * decrease), or jumping ahead. */
static void steer_clock(struct run *r)
{
	uint64_t now = r->hm->c[hm_latest(r->hm)].time_ns;
	switch (below(r, 3)) {
	case 0:
		memvfs_clock(r->mv, now, 0);
		break;
	case 1:
		memvfs_clock(r->mv, now - 5000 - below(r, 50000), 1000);
		break;
	default:
		memvfs_clock(r->mv, now + below(r, 1000000),
			     1000 + below(r, 9000));
	}
}

/* The history a compaction with options o (NULL: the defaults) leaves
 * when t0 is the newest commit at its start. When it keeps t0 only (no
 * keep_* options, or options that come to t0: keep_last 1, keep_since_txn
 * t0, ...) it copies no tombstones (rebuild.c: only when older history is
 * kept), so a key whose last operation in t0 is a delete loses its history
 * there: key history ends with QUIRE_NOTFOUND where the delete would come
 * (the feed still has it). */
static void compacted(struct run *r, const quire_compact_options *o,
		      uint64_t t0)
{
	quire_compact_options d;
	if (!o) {
		quire_compact_options_init(&d);
		o = &d;
	}
	r->oldest = expect_oldest(r->hm, r->oldest, t0, o);
	if (r->oldest == t0) {
		r->lost_set = 1;
		r->lost_txn = t0;
	}
}

/* Whether version s of key k is one compacted() says may be unreachable. */
static int lost_at(const struct run *r, uint64_t s, const uint8_t *k,
		   size_t kl)
{
	if (!r->lost_set || r->lost_txn < r->oldest)
		return 0;
	const struct hcommit *c = &r->hm->c[r->lost_txn];
	if (s < c->first_seq || s >= c->next_seq)
		return 0;
	for (uint64_t x = c->next_seq; x-- > c->first_seq;)
		if (r->hm->ops[x - 1].op != QUIRE_OP_DEL_RANGE &&
		    tu_same(r->hm->ops[x - 1].k, r->hm->ops[x - 1].kl, k, kl))
			return r->hm->ops[x - 1].op == QUIRE_OP_DEL;
	return 0;
}

/* ---- checks against the model ---------------------------------------- */

static void check_log(struct run *r, quire_txn *t, uint64_t i)
{
	const struct hcommit *c = &r->hm->c[i];
	quire_log_entry le;
	int e = quire_log_get(t, i, &le);
	CREQ(e == 0, "log of kept commit %llu (history from %llu): %d (%s)",
	     (ull)i, (ull)r->oldest, e, quire_errmsg());
	CREQ(le.txn_id == i && le.time_ns == c->time_ns &&
		     le.first_seq == c->first_seq && le.next_seq == c->next_seq,
	     "log of %llu: txn %llu time %llu seqs %llu..%llu, want time "
	     "%llu seqs %llu..%llu",
	     (ull)i, (ull)le.txn_id, (ull)le.time_ns, (ull)le.first_seq,
	     (ull)le.next_seq, (ull)c->time_ns, (ull)c->first_seq,
	     (ull)c->next_seq);
	CREQ(tu_same(le.meta.data, le.meta.size, c->meta, c->metalen),
	     "log of %llu: metadata \"%.*s\", want \"%.*s\"", (ull)i,
	     (int)le.meta.size, (const char *)le.meta.data, (int)c->metalen,
	     c->meta);
}

/* The feed of t (commit txn) from since: exactly the recorded operations
 * after since up to the commit's last one. */
static void check_feed(struct run *r, quire_txn *t, uint64_t txn,
		       uint64_t since)
{
	const struct hmodel *hm = r->hm;
	quire_changes *f;
	quire_change ch;
	uint64_t end = hm->c[txn].next_seq, s = since + 1;
	int e = quire_changes_open(t, since, &f);
	CREQ(e == 0, "feed of txn %llu from %llu (history from txn %llu): %d "
		     "(%s)",
	     (ull)txn, (ull)since, (ull)r->oldest, e, quire_errmsg());
	for (; (e = quire_changes_next(f, &ch)) == 0; s++) {
		CREQ(s < end, "feed of txn %llu from %llu runs past %llu (seq "
			      "%llu)",
		     (ull)txn, (ull)since, (ull)end, (ull)ch.seq);
		const struct hop *o = &hm->ops[s - 1];
		CREQ(ch.seq == s && ch.txn_id == o->txn && ch.op == o->op &&
			     tu_same(ch.key.data, ch.key.size, o->k, o->kl) &&
			     (o->op == QUIRE_OP_DEL
				      ? ch.value.size == 0
				      : tu_same(ch.value.data, ch.value.size,
						o->v, o->vl)) &&
			     ch.to_last == o->to_last && ch.count == o->count,
		     "feed of txn %llu from %llu: operation %llu is seq %llu "
		     "txn %llu op %d (%zu-byte key, %zu-byte value, to_last "
		     "%d, count %llu), want txn %llu op %d (%zu, %zu, %d, "
		     "%llu)",
		     (ull)txn, (ull)since, (ull)s, (ull)ch.seq, (ull)ch.txn_id,
		     ch.op, ch.key.size, ch.value.size, ch.to_last,
		     (ull)ch.count, (ull)o->txn, o->op, o->kl, o->vl,
		     o->to_last, (ull)o->count);
	}
	CREQ(e == QUIRE_NOTFOUND, "feed: %d (%s)", e, quire_errmsg());
	CREQ(s >= end, "feed of txn %llu from %llu ended at %llu, want %llu",
	     (ull)txn, (ull)since, (ull)s, (ull)end);
	quire_changes_close(f);
	r->feeds++;
}

/* The history of key k in t (commit txn): every version with seq >= hs,
 * newest first; then it may go on with genuine older versions, and ends
 * with QUIRE_NOTFOUND, or QUIRE_EHISTORY if older versions existed. */
static void check_key_history(struct run *r, quire_txn *t, uint64_t txn,
			      uint64_t hs, const uint8_t *k, size_t kl)
{
	const struct hmodel *hm = r->hm;
	quire_history *h;
	quire_key_version kv;
	int e, older = 0;
	uint64_t end = hm->c[txn].next_seq, last = end;
	COK(quire_history_open(t, k, kl, &h));
	for (uint64_t s = end; s-- > hs;) {
		const struct hop *o = &hm->ops[s - 1];
		if (!hm_in_history(hm, s, k, kl))
			continue;
		e = quire_history_next(h, &kv);
		if (e == QUIRE_EHISTORY && o->op == QUIRE_OP_DEL_RANGE &&
		    hm->c[o->txn].first_seq <= hs) {
			/* the commit before the range's, where the key's
			 * version before it is, was compacted away */
			quire_history_close(h);
			r->hists_cut++;
			return;
		}
		if (e == QUIRE_NOTFOUND && lost_at(r, s, k, kl)) {
			quire_history_close(h);
			r->lost++;
			return;
		}
		CREQ(e == 0, "history of key %.6s (%zu bytes) in txn %llu: %d "
			     "(%s), want version %llu",
		     (const char *)k, kl, (ull)txn, e, quire_errmsg(), (ull)s);
		CREQ(kv.seq == s && kv.txn_id == o->txn && kv.op == o->op &&
			     kv.time_ns == hm->c[o->txn].time_ns &&
			     (o->op != QUIRE_OP_PUT
				      ? kv.value.size == 0
				      : tu_same(kv.value.data, kv.value.size,
						o->v, o->vl)),
		     "history of key %.6s in txn %llu: seq %llu txn %llu op %d "
		     "time %llu, want seq %llu txn %llu op %d time %llu",
		     (const char *)k, (ull)txn, (ull)kv.seq, (ull)kv.txn_id,
		     kv.op, (ull)kv.time_ns, (ull)s, (ull)o->txn, o->op,
		     (ull)hm->c[o->txn].time_ns);
		last = s;
	}
	for (uint64_t s = 1; s < end; s++) {
		const struct hop *o = &hm->ops[s - 1];
		/* a range of the oldest commit kept too: whether it
		 * removed the key went with the commit before it */
		if (o->op == QUIRE_OP_DEL_RANGE)
			older |= hm_in_range(o, k, kl) &&
				 hm->c[o->txn].first_seq <= hs;
		else
			older |= s < hs && tu_same(o->k, o->kl, k, kl);
	}
	while ((e = quire_history_next(h, &kv)) == 0) {
		const struct hop *o =
			kv.seq && kv.seq < last ? &hm->ops[kv.seq - 1] : NULL;
		CREQ(o && o->op != QUIRE_OP_DEL_RANGE &&
			     tu_same(o->k, o->kl, k, kl) && kv.op == o->op &&
			     (o->op == QUIRE_OP_DEL
				      ? kv.value.size == 0
				      : tu_same(kv.value.data, kv.value.size,
						o->v, o->vl)),
		     "history of key %.6s in txn %llu (history seq %llu): "
		     "version seq %llu op %d is not an older version of the "
		     "key",
		     (const char *)k, (ull)txn, (ull)hs, (ull)kv.seq, kv.op);
		last = kv.seq;
	}
	CREQ(e == QUIRE_NOTFOUND || (e == QUIRE_EHISTORY && older),
	     "history of key %.6s in txn %llu (history seq %llu, %s older "
	     "versions): ends with %d (%s)",
	     (const char *)k, (ull)txn, (ull)hs, older ? "with" : "without", e,
	     quire_errmsg());
	quire_history_close(h);
	r->hists++;
}

/* A key for a history check: one a kept operation wrote, or any. */
static size_t pick_key(struct run *r, uint64_t hs, uint64_t end, uint8_t *k)
{
	if (end > hs && below(r, 2)) {
		const struct hop *o = &r->hm->ops[hs - 1 + below(r, end - hs)];
		memcpy(k, o->k, o->kl);
		return o->kl;
	}
	return key_of((unsigned)below(r, NKEYS), k);
}

static void check_as_of(struct run *r, uint64_t txn, uint64_t upto,
			struct hm_replay *rp)
{
	const struct hmodel *hm = r->hm;
	uint64_t old = r->oldest, hs = hm->c[old].first_seq;
	uint8_t k[700];
	quire_txn *t;
	quire_log_entry le;
	int e = quire_begin_at(r->db, txn, &t);
	CREQ(e == 0, "AS-OF kept commit %llu (history from %llu): %d (%s)",
	     (ull)txn, (ull)old, e, quire_errmsg());
	CREQ(quire_txn_id(t) == txn, "AS-OF %llu shows txn %llu", (ull)txn,
	     (ull)quire_txn_id(t));
	if (!wl_same(t, hm_replay_to(hm, rp, txn)))
		failf("AS-OF %llu (history from %llu): the state differs from "
		      "the model",
		      (ull)txn, (ull)old);
	if (below(r, 4) == 0) {
		check_log(r, t, txn);
		CREQ(quire_log_get(t, txn + 1, &le) == QUIRE_NOTFOUND,
		     "AS-OF %llu: log beyond it", (ull)txn);
		check_feed(r, t, txn, hs - 1);
		size_t kl = pick_key(r, hs, hm->c[txn].next_seq, k);
		check_key_history(r, t, txn, hs, k, kl);
	}
	quire_abort(t);
	for (int before = 0; before <= 1; before++) {
		uint64_t ns = hm->c[txn].time_ns;
		int64_t w = hm_expect_at(hm, upto, ns, before);
		e = quire_begin_at_time(r->db, ns,
					before ? QUIRE_AT_OR_BEFORE
					       : QUIRE_AT_OR_AFTER,
					&t);
		if (w >= (int64_t)old)
			CREQ(e == 0 && quire_txn_id(t) == (uint64_t)w,
			     "AS-OF time %llu %s: %d, txn %llu, want txn %lld",
			     (ull)ns, before ? "or before" : "or after", e,
			     e ? 0ull : (ull)quire_txn_id(t), (long long)w);
		else
			CREQ(e == QUIRE_EHISTORY,
			     "AS-OF time %llu or after: %d, want "
			     "QUIRE_EHISTORY (commit %lld, the first at that "
			     "time, was dropped)",
			     (ull)ns, e, (long long)w);
		if (e == 0)
			quire_abort(t);
	}
	r->asof++;
}

/* Everything the file says about its history, against the model: the
 * latest commit is upto and the oldest kept one r->oldest. */
static void verify(struct run *r, uint64_t upto, int full)
{
	const struct hmodel *hm = r->hm;
	uint64_t old = r->oldest, hs = hm->c[old].first_seq,
		 end = hm->c[upto].next_seq;
	struct hm_replay rp = {0};
	quire_txn *t;
	quire_stat st;
	quire_log_entry le;
	quire_changes *f;
	uint8_t k[700];
	int e;

	COK(quire_begin(r->db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == upto,
	     "the latest snapshot shows txn %llu, want %llu",
	     (ull)quire_txn_id(t), (ull)upto);
	COK(quire_txn_stat(t, &st));
	CREQ(st.history_txn == old && st.history_seq == hs,
	     "stat: history txn %llu seq %llu, want txn %llu seq %llu",
	     (ull)st.history_txn, (ull)st.history_seq, (ull)old, (ull)hs);
	CREQ(st.next_seq == end, "stat: next seq %llu, want %llu",
	     (ull)st.next_seq, (ull)end);
	CREQ(st.live_bytes <= st.file_bytes && st.garbage_ratio >= 0 &&
		     st.garbage_ratio < 1,
	     "stat: live %llu of %llu bytes, garbage ratio %g",
	     (ull)st.live_bytes, (ull)st.file_bytes, st.garbage_ratio);
	if (!wl_same(t, hm_replay_to(hm, &rp, upto)))
		failf("the latest state (txn %llu) differs from the model",
		      (ull)upto);
	if (full && g_worker_fd < 0) /* it fails through cmocka */
		model_check_txn(&rp.m, t);
	CREQ(st.key_count == rp.m.n, "stat: %llu keys, want %zu",
	     (ull)st.key_count, rp.m.n);

	/* the log: every kept commit (a sample of long logs) */
	for (uint64_t i = old; i <= upto; i++)
		if (upto - old < 200 || i == old || i + 2 > upto ||
		    below(r, 4) == 0)
			check_log(r, t, i);
	if (old > 0) {
		uint64_t gone[3] = {0, old - 1, below(r, old)};
		for (int i = 0; i < 3; i++) {
			e = quire_log_get(t, gone[i], &le);
			CREQ(e == QUIRE_EHISTORY,
			     "log of dropped commit %llu (history from %llu): "
			     "%d, want QUIRE_EHISTORY",
			     (ull)gone[i], (ull)old, e);
		}
		r->dropped += 3;
	}
	e = quire_log_get(t, upto + 1, &le);
	CREQ(e == QUIRE_NOTFOUND, "log beyond the latest commit: %d", e);

	/* the changes feed from history_seq - 1 on, and from later points */
	check_feed(r, t, upto, hs - 1);
	check_feed(r, t, upto, hs - 1 + below(r, end - hs + 3));
	if (hs >= 2) {
		uint64_t since[2] = {hs - 2, below(r, hs - 1)};
		for (int i = 0; i < 2; i++) {
			e = quire_changes_open(t, since[i], &f);
			if (e == 0)
				quire_changes_close(f);
			CREQ(e == QUIRE_EHISTORY,
			     "feed from %llu with history seq %llu: %d, want "
			     "QUIRE_EHISTORY",
			     (ull)since[i], (ull)hs, e);
		}
		r->dropped += 2;
	}

	for (int i = 0; i < 4; i++) {
		size_t kl = pick_key(r, hs, end, k);
		check_key_history(r, t, upto, hs, k, kl);
	}
	if (full) {
		uint64_t probs = 0;
		COK(quire_check(t, NULL, NULL, &probs));
		CREQ(probs == 0, "quire_check found %llu problems", (ull)probs);
	}
	quire_abort(t);

	/* AS-OF: the oldest, the newest and a sample between, in order */
	uint64_t n = upto - old + 1, want = full ? 40 : 12;
	for (uint64_t i = old; i <= upto; i++)
		if (n <= want || i == old || i == upto || below(r, n) < want)
			check_as_of(r, i, upto, &rp);
	if (old > 0) {
		uint64_t gone[3] = {0, old - 1, below(r, old)};
		for (int i = 0; i < 3; i++) {
			e = quire_begin_at(r->db, gone[i], &t);
			if (e == 0)
				quire_abort(t);
			CREQ(e == QUIRE_EHISTORY,
			     "AS-OF dropped commit %llu (history from %llu): "
			     "%d, want QUIRE_EHISTORY",
			     (ull)gone[i], (ull)old, e);
		}
		/* by time: the last commit at or before a dropped one's time
		 * is that one, unless a kept one shares the time */
		uint64_t ns = hm->c[old - 1].time_ns;
		int64_t w = hm_expect_at(hm, upto, ns, 1);
		e = quire_begin_at_time(r->db, ns, QUIRE_AT_OR_BEFORE, &t);
		if (w >= (int64_t)old)
			CREQ(e == 0 && quire_txn_id(t) == (uint64_t)w,
			     "AS-OF time %llu or before: %d, want kept txn "
			     "%lld",
			     (ull)ns, e, (long long)w);
		else
			CREQ(e == QUIRE_EHISTORY,
			     "AS-OF time %llu or before (dropped commit %lld): "
			     "%d, want QUIRE_EHISTORY",
			     (ull)ns, (long long)w, e);
		if (e == 0)
			quire_abort(t);
		r->dropped += 4;
	}
	e = quire_begin_at(r->db, upto + 1, &t);
	if (e == 0)
		quire_abort(t);
	CREQ(e == QUIRE_NOTFOUND, "AS-OF a future commit: %d", e);
	model_clear(&rp.m);
}

/* ---- the model test -------------------------------------------------- */

struct held {
	quire_txn *t;
	uint64_t txn, hs;
};

/* A snapshot begun before a compaction still reads the old file: its
 * state, its log entry, its feed. */
static void check_held(struct run *r, const struct held *h)
{
	struct hm_replay rp = {0};
	uint64_t end = r->hm->c[h->txn].next_seq;
	CREQ(quire_txn_id(h->t) == h->txn, "held snapshot of %llu shows %llu",
	     (ull)h->txn, (ull)quire_txn_id(h->t));
	if (!wl_same(h->t, hm_replay_to(r->hm, &rp, h->txn)))
		failf("a snapshot of txn %llu held across the compaction "
		      "changed",
		      (ull)h->txn);
	check_log(r, h->t, h->txn);
	check_feed(r, h->t, h->txn,
		   (end > h->hs + 40 ? end - 40 : h->hs) - 1);
	model_clear(&rp.m);
	r->held++;
}

static const char *const mode_name[] = {"default", "since_txn", "since_ns",
					"last", "combined"};

static uint64_t pick_txn(struct run *r, uint64_t t0)
{
	uint64_t old = r->oldest, p = below(r, 10), k;
	if (p == 0)
		k = 1 + below(r, old + 1); /* at or before the oldest kept */
	else if (p == 1)
		k = t0 + 1 + below(r, 5);  /* beyond the newest */
	else
		k = old + below(r, t0 - old + 1);
	return k ? k : 1;
}

static uint64_t pick_ns(struct run *r, uint64_t t0)
{
	uint64_t old = r->oldest, p = below(r, 10);
	if (p == 0)
		return 1;                  /* every commit */
	if (p == 1)
		return UINT64_MAX;         /* none: the newest only */
	uint64_t ns = r->hm->c[old + below(r, t0 - old + 1)].time_ns;
	return ns - 1 + below(r, 3);
}

static uint64_t pick_last(struct run *r, uint64_t t0)
{
	if (below(r, 10) == 0)
		return t0 + 1 + below(r, 10); /* more than there are */
	return 1 + below(r, t0 - r->oldest + 1);
}

static void pick_options(struct run *r, int mode, uint64_t t0,
			 quire_compact_options *o)
{
	quire_compact_options_init(o);
	switch (mode) {
	case 0:
		break;
	case 1:
		o->keep_since_txn = pick_txn(r, t0);
		break;
	case 2:
		o->keep_since_ns = pick_ns(r, t0);
		break;
	case 3:
		o->keep_last = pick_last(r, t0);
		break;
	default:
		while (!!o->keep_since_txn + !!o->keep_since_ns +
			       !!o->keep_last < 2) {
			if (below(r, 2))
				o->keep_since_txn = pick_txn(r, t0);
			if (below(r, 2))
				o->keep_since_ns = pick_ns(r, t0);
			if (below(r, 2))
				o->keep_last = pick_last(r, t0);
		}
	}
}

struct mstats {
	uint64_t compactions, by_mode[5], commits, ops, kept, bytes_before,
		bytes_after, reopens, ckpts, asof, dropped, feeds, hists, held,
		lost;
	/* range deletes made, keys they removed, range deletes in commits
	 * after a compaction's base (replayed) by mode, key histories
	 * skipped (histmodel.h) */
	uint64_t ranges, range_keys, range_kept[5], hists_cut;
};

static void set_ctx(const struct run *r, const char *what)
{
	ctx("seed %llu (replay: QUIRE_SEED=%llu), "
				      "txn %llu: %s",
		 (ull)r->seed, (ull)r->seed, (ull)hm_latest(r->hm), what);
}

static void compact_step(struct run *r, int nth, struct mstats *ms)
{
	uint64_t t0 = hm_latest(r->hm), old = r->oldest;
	struct held held[3];
	int nheld = 0;
	quire_txn *t;
	quire_stat before, after;
	quire_compact_options o;
	char what[200];
	size_t n;

	snprintf(what, sizeof what, "before compaction %d", nth);
	set_ctx(r, what);
	verify(r, t0, 0);
	/* the latest snapshot and up to two older ones, held across it */
	for (int i = 0; i < 3; i++) {
		uint64_t txn = i == 0 ? t0 : old + below(r, t0 - old + 1);
		if (i && below(r, 2))
			continue;
		COK(quire_begin_at(r->db, txn, &t));
		held[nheld++] = (struct held){t, txn, r->hm->c[old].first_seq};
	}
	COK(quire_txn_stat(held[0].t, &before));
	int mode = (int)below(r, 5);
	pick_options(r, mode, t0, &o);
	uint64_t want = expect_oldest(r->hm, old, t0, &o);
	for (uint64_t s = r->hm->c[want].next_seq; s < r->hm->c[t0].next_seq;
	     s++)
		ms->range_kept[mode] +=
			r->hm->ops[s - 1].op == QUIRE_OP_DEL_RANGE;
	snprintf(what, sizeof what,
		 "compaction %d (%s: since_txn %llu since_ns %llu last %llu), "
		 "history from %llu, want from %llu",
		 nth, mode_name[mode], (ull)o.keep_since_txn,
		 (ull)o.keep_since_ns, (ull)o.keep_last, (ull)old, (ull)want);
	set_ctx(r, what);
	/* history that does not exist yet is refused, changing nothing: a
	 * txn past t0, a time after t0's (in the future unless the clock
	 * moved on since) */
	uint64_t newest_ns = r->hm->c[t0].time_ns;
	if (o.keep_since_txn > t0 || o.keep_since_ns > newest_ns) {
		uint8_t *img = cv_copy(&r->cv, PATH, &n);
		size_t n2;
		int e = quire_compact(r->db, &o);
		CREQ(e == 0 || e == QUIRE_EINVAL, "%d (%s)", e, quire_errmsg());
		CREQ(e || (o.keep_since_txn <= t0 &&
			   o.keep_since_ns != UINT64_MAX),
		     "options past the newest commit were taken");
		if (e == QUIRE_EINVAL) {
			const uint8_t *now = memvfs_data(r->mv, PATH, &n2);
			CREQ(img && now && n2 == n && !memcmp(img, now, n),
			     "a refused compaction changed the file");
			CREQ(!memvfs_data(r->mv, CPATH, &n2),
			     "a refused compaction left %s", CPATH);
			if (o.keep_since_txn > t0)
				o.keep_since_txn = t0;
			if (o.keep_since_ns > newest_ns)
				o.keep_since_ns = newest_ns;
			want = expect_oldest(r->hm, old, t0, &o);
			e = quire_compact(r->db, &o);
		}
		free(img);
		COK(e);
	} else {
		COK(quire_compact(r->db, &o));
	}
	CREQ(!memvfs_data(r->mv, CPATH, &n), "%s is still there (%zu bytes)",
	     CPATH, n);
	compacted(r, &o, t0);
	CREQ(r->oldest == want, "the model's oldest is off");
	g_phase = "right after it";
	verify(r, t0, 1);
	g_phase = "snapshots held across it";
	for (int i = 0; i < nheld; i++)
		check_held(r, &held[i]);
	COK(quire_begin(r->db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &after));
	quire_abort(t);
	if (mode == 0 && before.garbage_ratio > 0.6 &&
	    before.file_bytes > (256u << 10))
		CREQ(after.file_bytes < before.file_bytes,
		     "keeping the newest state only: %llu bytes before, %llu "
		     "after",
		     (ull)before.file_bytes, (ull)after.file_bytes);
	/* writes go on with the snapshots still held, which keep reading */
	g_phase = "commits after it";
	for (int i = 0; i < 3; i++)
		write_txn(r, 6);
	g_phase = "snapshots held across it and later commits";
	for (int i = 0; i < nheld; i++) {
		check_held(r, &held[i]);
		quire_abort(held[i].t);
	}
	if (below(r, 3) == 0) {
		g_phase = "reopened after it";
		reopen(r);
		verify(r, hm_latest(r->hm), 0);
	}
	if (below(r, 6) == 0) { /* again at once: nothing more to drop */
		g_phase = "compacted again at once";
		t0 = hm_latest(r->hm);
		COK(quire_compact(r->db, NULL));
		compacted(r, NULL, t0);
		verify(r, t0, 0);
		ms->compactions++;
		ms->by_mode[0]++;
	}
	ms->compactions++;
	ms->by_mode[mode]++;
	ms->kept += t0 - want + 1;
	ms->bytes_before += before.file_bytes;
	ms->bytes_after += after.file_bytes;
}

static void model_seed(uint64_t seed, int commits, struct mstats *ms)
{
	struct run r;
	run_create(&r, seed, seed % 3 ? 512 : 2048, 0);
	int next = 10 + (int)below(&r, 60), nth = 0;
	for (int i = 0; i < commits; i++) {
		set_ctx(&r, "workload");
		uint64_t p = below(&r, 1000);
		if (p < 15)
			reopen(&r);
		else if (p < 40)
			checkpoint(&r);
		else if (p < 70)
			steer_clock(&r);
		write_txn(&r, 10);
		if (i == next) {
			compact_step(&r, ++nth, ms);
			next = i + 10 + (int)below(&r, 90);
		}
	}
	compact_step(&r, ++nth, ms);
	reopen(&r);
	set_ctx(&r, "at the end, reopened");
	verify(&r, hm_latest(r.hm), 1);
	print_message("# seed %llu: %llu commits, %zu operations, %d "
		      "compactions, history from txn %llu at the end\n",
		      (ull)seed, (ull)hm_latest(r.hm), r.hm->nops, nth,
		      (ull)r.oldest);
	ms->commits += hm_latest(r.hm);
	ms->ops += r.hm->nops;
	ms->reopens += r.reopens;
	ms->ckpts += r.ckpts;
	ms->lost += r.lost;
	ms->asof += r.asof;
	ms->dropped += r.dropped;
	ms->feeds += r.feeds;
	ms->hists += r.hists;
	ms->held += r.held;
	ms->ranges += r.ranges;
	ms->range_keys += r.range_keys;
	ms->hists_cut += r.hists_cut;
	run_free(&r);
}

static void test_compact_model(void **state)
{
	(void)state;
	struct mstats ms = {0};
	uint64_t first = tu_seed(0xc0ac7);
	int seeds = long_tier ? 40 : 4, commits = long_tier ? 1500 : 500;
	for (int i = 0; i < seeds; i++)
		model_seed(i ? first + (uint64_t)i * 7919 : first, commits,
			   &ms);
	print_message("# model: %llu compactions (default %llu, since_txn "
		      "%llu, since_ns %llu, last %llu, combined %llu) over "
		      "%llu commits, %llu operations; %llu kept commits; %llu "
		      "AS-OF, %llu feeds, %llu key histories (%llu ending at a "
		      "tombstone not kept), %llu dropped-history checks, %llu "
		      "held snapshots, %llu checkpoints, %llu reopens; %llu -> "
		      "%llu bytes\n",
		      (ull)ms.compactions, (ull)ms.by_mode[0],
		      (ull)ms.by_mode[1], (ull)ms.by_mode[2],
		      (ull)ms.by_mode[3], (ull)ms.by_mode[4], (ull)ms.commits,
		      (ull)ms.ops, (ull)ms.kept, (ull)ms.asof, (ull)ms.feeds,
		      (ull)ms.hists, (ull)ms.lost, (ull)ms.dropped,
		      (ull)ms.held, (ull)ms.ckpts, (ull)ms.reopens,
		      (ull)ms.bytes_before,
		      (ull)ms.bytes_after);
	print_message("# model: %llu range deletes (%llu keys); in commits a "
		      "compaction kept after its base (by mode as above): "
		      "%llu %llu %llu %llu %llu; %llu key histories cut at a "
		      "range of the oldest commit kept\n",
		      (ull)ms.ranges, (ull)ms.range_keys,
		      (ull)ms.range_kept[0], (ull)ms.range_kept[1],
		      (ull)ms.range_kept[2], (ull)ms.range_kept[3],
		      (ull)ms.range_kept[4], (ull)ms.hists_cut);
	/* a seed makes about 470 commits, 12 compactions, 470 AS-OF, 210
	 * feeds, 220 key histories, 220 dropped-history checks and 40 held
	 * snapshots today */
	uint64_t n = (uint64_t)seeds;
	assert_true(ms.commits >= 300 * n && ms.compactions >= 4 * n);
	assert_true(ms.asof >= 100 * n && ms.feeds >= 50 * n &&
		    ms.hists >= 50 * n && ms.dropped >= 25 * n &&
		    ms.held >= 5 * n);
	/* range deletes: about 47 a seed (170 keys) today; every mode that
	 * keeps older commits replayed some (7 to 70 of them today) */
	assert_true(ms.ranges >= 20 * n && ms.range_keys >= 60 * n);
	for (int i = 1; i < 5; i++)
		assert_true(ms.range_kept[i] > 0);
}

/* ==== one compaction replayed: crashes, faults, leftovers, progress ==== */

/* A database file and its model, and the compaction to replay on it: the
 * progress callback may commit (a commit made during the compaction), and
 * a few commits follow it. */
struct img {
	const char *name;
	uint64_t seed;
	unsigned node_size;
	unsigned long ckpt;
	uint8_t *p;
	size_t n;
	struct hmodel hm;  /* the image's commits, then the clean replay's */
	uint64_t base;     /* the image's latest commit */
	uint64_t oldest;   /* its history_txn */
	uint64_t post;     /* the history_txn after the compaction */
	quire_compact_options o;
	int cb_commit;     /* the callback's first call commits */
	int after;         /* commits after the compaction */
	uint64_t points;   /* mutating calls of the clean replay */
	int cb_busy;       /* the callback could not commit: QUIRE_EBUSY */
	int cb_during;     /* it committed before the copy was done (not at
			    * the last call, which comes after the swap) */
};

/* What one replay did. */
struct xres {
	int rc;            /* of quire_compact */
	int acked;         /* commits acknowledged */
	int inflight;      /* a commit was under way when it stopped */
	uint64_t calls;    /* progress calls */
	uint64_t cb_call;  /* the one that committed */
	uint64_t last_done, last_total;
	int stopped;       /* a commit failed: no more commits */
	int cancel_at;     /* the progress call that asks to stop (0: none) */
	char bad[200];     /* a progress call broke the rules */
};

struct xctx {
	struct run *r;
	struct img *im;
	struct xres *x;
	int clean;
};

/* The deterministic commit number j of a replay (0: the callback's). */
static int replay_commit(struct xctx *c, int j)
{
	struct run *r = c->r;
	quire_txn *w;
	char k[32], v[64];
	int e = quire_begin(r->db, 0, &w);
	if (e) {
		c->x->stopped = 1;
		return e;
	}
	c->x->inflight = 1;
	uint64_t seq0 = r->hm->nops + 1, txn = quire_txn_id(w);
	for (int i = 0; i < 3; i++) {
		int kl = snprintf(k, sizeof k, "replay%d.%d", j, i);
		int vl = snprintf(v, sizeof v, "value %d.%d of txn %llu", j, i,
				  (ull)txn);
		if ((e = quire_put(w, k, (size_t)kl, v, (size_t)vl)) != 0) {
			quire_abort(w);
			c->x->stopped = 1;
			return e;
		}
		if (c->clean)
			hm_add_op(r->hm,
				  &(struct hop){.seq = seq0 + (uint64_t)i,
						.txn = txn,
						.op = QUIRE_OP_PUT,
						.k = tu_dup(k, (size_t)kl),
						.kl = (size_t)kl,
						.v = tu_dup(v, (size_t)vl),
						.vl = (size_t)vl});
	}
	if ((e = quire_commit(w)) != 0) {
		/* the model has the commits of the clean replay in order, so
		 * the replay stops at the first that failed */
		c->x->stopped = 1;
		return e;
	}
	c->x->inflight = 0;
	c->x->acked++;
	if (c->clean)
		record_commit(r, seq0, "", 0);
	return 0;
}

static int replay_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct xctx *c = ctx;
	struct xres *x = c->x;
	x->calls++;
	if (!*x->bad && (done > total || done < x->last_done))
		snprintf(x->bad, sizeof x->bad,
			 "progress call %llu: done %llu of %llu after %llu of "
			 "%llu",
			 (ull)x->calls, (ull)done, (ull)total,
			 (ull)x->last_done, (ull)x->last_total);
	x->last_done = done;
	x->last_total = total;
	if (x->calls == 1 && c->im->cb_commit && !x->inflight) {
		int e = replay_commit(c, 0);
		if (!e)
			x->cb_call = x->calls;
		if (e == QUIRE_EBUSY && c->clean)
			c->im->cb_busy = 1;
		else if (e && c->clean)
			failf("a commit in the progress callback: %d (%s)", e,
			      quire_errmsg());
	}
	return x->cancel_at && x->calls == (uint64_t)x->cancel_at;
}

/* A fresh memvfs holding the image, opened. hm is the model to check
 * against (the image's or the clean replay's). */
static void run_from(struct run *r, struct img *im, struct hmodel *hm)
{
	struct hm_replay rp = {0};
	run_setup(r, im->seed, im->node_size, im->ckpt);
	memvfs_set(r->mv, PATH, im->p, im->n);
	r->hm = hm;
	r->oldest = im->oldest;
	model_copy(&r->cur, hm_replay_to(hm, &rp, im->base));
	model_clear(&rp.m);
	db_open(r, 0);
}

/* The replay up to the end or the first failure; the handle is closed. */
static void replay(struct run *r, struct img *im, struct xres *x, int clean)
{
	struct xctx c = {r, im, x, clean};
	quire_compact_options o = im->o;
	o.progress = replay_progress;
	o.progress_ctx = &c;
	x->rc = quire_compact(r->db, &o);
	for (int j = 1; x->rc == 0 && !x->stopped && j <= im->after; j++)
		if (replay_commit(&c, j) != 0)
			break;
	if (clean && x->rc)
		failf("clean replay: quire_compact = %d (%s)", x->rc,
		      quire_errmsg());
	if (clean && *x->bad)
		failf("%s", x->bad);
	run_close(r);
}

#define IMG_COMPACTED 1 /* compacted once half way */
#define IMG_BIG 2       /* large values: several progress reports */
#define IMG_LEAN 4      /* small commits, then one large value each for
			 * keys of their own: over 1 MiB to copy (a progress
			 * report mid-copy) in a file not much larger */

/* A commit of one put of a large value to key "big<i>". */
static void put_big(struct run *r, int i)
{
	quire_txn *w;
	char k[16];
	size_t kl = (size_t)snprintf(k, sizeof k, "big%02d", i);
	uint64_t seq = r->hm->nops + 1;
	int big = r->big;
	r->big = 1;
	struct hop o = {.seq = seq, .txn = hm_latest(r->hm) + 1,
			.op = QUIRE_OP_PUT, .k = tu_dup(k, kl), .kl = kl};
	o.vl = gen_val(r, seq);
	o.v = tu_dup(r->vbuf, o.vl);
	r->big = big;
	COK(quire_begin(r->db, 0, &w));
	COK(quire_put(w, k, kl, o.v, o.vl));
	COK(quire_commit(w));
	hm_apply(&r->cur, NULL, &o);
	hm_add_op(r->hm, &o);
	record_commit(r, seq, "", 0);
}

/* A commit holding a range delete that removed keys (if hm_pick_range
 * finds some in ten tries). */
static void range_commit(struct run *r)
{
	struct hmodel *hm = r->hm;
	uint64_t seq0 = hm->nops + 1, txn = hm_latest(hm) + 1;
	struct model wm = {0};
	struct hop o;
	quire_txn *w;
	int made = 0;
	model_copy(&wm, &r->cur);
	COK(quire_begin(r->db, 0, &w));
	for (int i = 0; i < 10 && !made; i++)
		made = range_del(r, w, &wm, seq0, txn, &o);
	COK(quire_commit(w));
	if (made)
		hm_add_op(hm, &o);
	model_copy(&r->cur, &wm);
	model_clear(&wm);
	record_commit(r, seq0, "", 0);
}

static void img_make(struct img *im, const char *name, uint64_t seed,
		     unsigned node_size, unsigned long ckpt, int commits,
		     int flags)
{
	struct run r;
	*im = (struct img){.name = name, .seed = seed, .node_size = node_size,
			   .ckpt = ckpt};
	run_create(&r, seed, node_size, ckpt);
	r.big = (flags & IMG_BIG) != 0;
	ctx("image %s, seed %llu", name, (ull)seed);
	for (int i = 0; i < commits; i++) {
		if (i % 17 == 16)
			checkpoint(&r);
		if ((flags & IMG_LEAN) && i >= commits / 3) {
			put_big(&r, i);
			continue;
		}
		write_txn(&r, 8);
		if (i == commits - 3) /* one the compaction replays */
			range_commit(&r);
		if ((flags & IMG_COMPACTED) && i == commits / 2) {
			/* the history starts later */
			quire_compact_options o;
			quire_compact_options_init(&o);
			o.keep_last = 10;
			COK(quire_compact(r.db, &o));
			r.oldest = expect_oldest(r.hm, 0, hm_latest(r.hm), &o);
		}
	}
	run_close(&r);
	const uint8_t *p = memvfs_data(r.mv, PATH, &im->n);
	im->p = tu_dup(p, im->n);
	im->hm = r.own;
	r.own = (struct hmodel){0};
	im->base = hm_latest(&im->hm);
	im->oldest = r.oldest;
	run_free(&r);
}

/* The clean replay: the model of every commit it makes, the number of
 * mutating calls, and the history it leaves. */
static void img_clean(struct img *im)
{
	struct run r;
	struct xres x = {0};
	ctx("image %s, seed %llu, clean replay",
		 im->name, (ull)im->seed);
	run_from(&r, im, &im->hm);
	uint64_t c0 = memvfs_calls(r.mv, MV_MUTATE | MV_DIR);
	replay(&r, im, &x, 1);
	im->points = memvfs_calls(r.mv, MV_MUTATE | MV_DIR) - c0;
	im->cb_during = x.cb_call && x.cb_call < x.calls;
	im->post = expect_oldest(&im->hm, im->oldest, im->base, &im->o);
	/* the clean replay's file: the history the options ask for */
	g_phase = "the clean replay's file";
	db_open(&r, 0);
	compacted(&r, &im->o, im->base);
	verify(&r, hm_latest(&im->hm), 1);
	run_free(&r);
}

static void img_free(struct img *im)
{
	free(im->p);
	hm_free(&im->hm);
}

/* After a replay stopped by x (and the handle closed): reopen, and the
 * file must hold every acknowledged commit (and maybe the one under way),
 * with the history from before the compaction or the one it asked for
 * (that one if it succeeded); then it compacts again, takes a commit and
 * reopens. */
static void check_after(struct run *r, struct img *im, const struct xres *x,
			int need_post, int full)
{
	quire_txn *t;
	quire_stat st;
	size_t n;
	g_phase = "reopened";
	db_open(r, 0);
	COK(quire_begin(r->db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	quire_abort(t);
	uint64_t lo = im->base + (uint64_t)x->acked;
	uint64_t hi = lo + (uint64_t)x->inflight;
	CREQ(st.txn_id >= lo && st.txn_id <= hi,
	     "reopened at txn %llu, want %llu..%llu (compaction returned %d)",
	     (ull)st.txn_id, (ull)lo, (ull)hi, x->rc);
	CREQ(st.history_txn == im->post ||
		     (!need_post && st.history_txn == im->oldest),
	     "history from txn %llu (latest %llu), want %llu as the "
	     "compaction asked%s (before it: %llu; it returned %d)",
	     (ull)st.history_txn, (ull)st.txn_id, (ull)im->post,
	     need_post ? "" : ", or as before", (ull)im->oldest, x->rc);
	if (st.history_txn == im->post)
		compacted(r, &im->o, im->base);
	verify(r, st.txn_id, full);
	/* life goes on: compact again (over any leftover), commit, reopen */
	g_phase = "compacted again";
	COK(quire_compact(r->db, NULL));
	CREQ(!memvfs_data(r->mv, CPATH, &n), "%s left after a compaction",
	     CPATH);
	compacted(r, NULL, st.txn_id);
	verify(r, st.txn_id, 0);
	struct model m = {0};
	struct hm_replay rp = {0};
	model_copy(&m, hm_replay_to(r->hm, &rp, st.txn_id));
	COK(quire_begin(r->db, 0, &t));
	COK(quire_put(t, "after", 5, "crash", 5));
	COK(quire_commit(t));
	model_put(&m, "after", 5, "crash", 5);
	g_phase = "a commit after compacting again, reopened";
	reopen(r);
	COK(quire_begin(r->db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == st.txn_id + 1 && wl_same(t, &m),
	     "after compacting again, a commit and a reopen: txn %llu, want "
	     "%llu, or the content differs",
	     (ull)quire_txn_id(t), (ull)st.txn_id + 1);
	quire_abort(t);
	if (full)
		wl_check_clean(r->db, g_ctx);
	model_clear(&m);
	model_clear(&rp.m);
}

static const char *const crash_mode_name[MV_CRASH_NMODES] = {
	"process", "drop", "all", "prefix", "subset",
	"torn512", "torn4k", "garbage", "zero", "sectors"};

static uint64_t crash_states;

/* Crash at every mutating call n of the replay with n % nw == w, in every
 * mode. */
static uint64_t crash_points(struct img *im, uint64_t w, uint64_t nw)
{
	uint64_t states = 0;
	for (uint64_t n = 1 + w; n <= im->points; n += nw) {
		for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
			struct run r;
			struct xres x = {0};
			run_from(&r, im, &im->hm);
			ctx("image %s, seed %llu (replay: QUIRE_SEED=%llu), "
			    "crash at mutating call %llu of %llu, mode %s",
			    im->name, (ull)im->seed, (ull)im->seed, (ull)n,
			    (ull)im->points, crash_mode_name[mode]);
			memvfs_crash_at(r.mv, MV_MUTATE | MV_DIR, n);
			replay(&r, im, &x, 0);
			CREQ(memvfs_crashed(r.mv), "no crash happened");
			memvfs_crash(r.mv, (enum mv_crash)mode,
				     im->seed * 31 + n * 7 + (uint64_t)mode);
			cv_crashed(&r.cv, (enum mv_crash)mode);
			/* quire_check and the slower model checks at every
			 * third point */
			check_after(&r, im, &x, 0, n % 3 == 0);
			run_free(&r);
			states++;
		}
	}
	return states;
}

static int p_read(int fd, char *buf, size_t n);

/* The crash points are independent: they are shared out among forked
 * workers (one per core), which report their count or their first
 * failure in one record. */
#define WORKERS 2

static void crash_everywhere(struct img *im)
{
	pid_t pid[WORKERS];
	int fd[WORKERS];
	uint64_t states = 0;
	struct wresult first = {0};
	for (int w = 0; w < WORKERS; w++) {
		int pp[2];
		assert_int_equal(pipe(pp), 0);
		fflush(NULL);
		pid[w] = fork();
		assert_true(pid[w] >= 0);
		if (pid[w] == 0) {
			close(pp[0]);
			g_worker_fd = pp[1];
			wl_fail_hook = worker_fail;
			struct wresult res = {0};
			res.states = crash_points(im, (uint64_t)w, WORKERS);
			ssize_t k = write(pp[1], &res, sizeof res);
			_exit(k == (ssize_t)sizeof res ? 0 : 2);
		}
		close(pp[1]);
		fd[w] = pp[0];
	}
	for (int w = 0; w < WORKERS; w++) {
		struct wresult res;
		int status;
		if (p_read(fd[w], (char *)&res, sizeof res) != 0) {
			res = (struct wresult){.failed = 1};
			snprintf(res.msg, sizeof res.msg,
				 "image %s, seed %llu: crash worker %d died",
				 im->name, (ull)im->seed, w);
		}
		close(fd[w]);
		assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
		if (res.failed && !first.failed)
			first = res;
		states += res.states;
	}
	if (first.failed)
		fail_msg("%s", first.msg);
	crash_states += states;
	uint64_t ranges = 0; /* in the commits the compaction replays */
	for (uint64_t s = im->hm.c[im->post].next_seq;
	     s < im->hm.c[im->base].next_seq; s++)
		ranges += im->hm.ops[s - 1].op == QUIRE_OP_DEL_RANGE;
	print_message("# crash %s: %llu calls of the compaction and the "
		      "commits around it, %llu states (the callback commit %s; "
		      "%llu range deletes replayed)\n",
		      im->name, (ull)im->points, (ull)states,
		      im->cb_busy     ? "got QUIRE_EBUSY"
		      : im->cb_during ? "during the copy"
				      : "at the last report: after the swap",
		      (ull)ranges);
	/* 26 to 66 calls an image today, each in every mode */
	assert_true(im->points >= 10 &&
		    states == im->points * MV_CRASH_NMODES);
}

/* The images: large values and pending operations at the start (default
 * retention); everything folded (keep_last); a file compacted before,
 * keep_since_ns and keep_since_txn together. */
static void img_variant(struct img *im, int v, uint64_t seed)
{
	switch (v) {
	case 0: /* over 1 MiB: a progress report, and a commit, mid-copy */
		img_make(im, "big-pending/default", seed, 1024, 40, 75,
			 IMG_LEAN);
		break;
	case 1:
		img_make(im, "folded/keep_last", seed, 512, 1, 40, 0);
		im->o.keep_last = 12;
		break;
	default:
		img_make(im, "compacted-before/since", seed, 1024, 25, 50, 1);
		im->o.keep_since_ns = im->hm.c[im->base - 20].time_ns;
		im->o.keep_since_txn = im->base - 5;
	}
	im->o.version = QUIRE_COMPACT_OPTIONS_VERSION;
	im->cb_commit = 1;
	im->after = 2;
}

static void test_compact_crash(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xc4a5);
	int seeds = long_tier ? 10 : 1;
	crash_states = 0;
	for (int s = 0; s < seeds; s++)
		for (int v = 0; v < 3; v++) {
			struct img im;
			img_variant(&im, v,
				    seed + (uint64_t)s * 101 + (uint64_t)v);
			img_clean(&im);
			CREQ(v || im.cb_during,
			     "image %s: the callback did not commit during "
			     "the copy",
			     im.name);
			crash_everywhere(&im);
			img_free(&im);
		}
	print_message("# crash states checked: %llu\n", (ull)crash_states);
}

/* ---- a long replay ----------------------------------------------------- */

/* Keeping many commits replays them all in one round, reading the feed of
 * a file several times the node cache (1 MiB): evicted nodes must not be
 * read. */
static void test_compact_long_replay(void **state)
{
	(void)state;
	struct run r;
	uint64_t seed = tu_seed(0x10a9);
	run_create(&r, seed, 1024, 64);
	r.big = 2;
	ctx("long replay, seed %llu (replay: QUIRE_SEED=%llu)", (ull)seed,
	    (ull)seed);
	for (int i = 0; i < (long_tier ? 8000 : 2500); i++)
		write_txn(&r, 10);
	uint64_t t0 = hm_latest(r.hm);
	quire_compact_options o;
	quire_compact_options_init(&o);
	o.keep_since_txn = t0 / 4;
	g_phase = "keep the last three quarters";
	COK(quire_compact(r.db, &o));
	compacted(&r, &o, t0);
	verify(&r, t0, 1);
	quire_stat st;
	quire_txn *t;
	COK(quire_begin(r.db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	quire_abort(t);
	print_message("# long replay: %llu commits kept of %llu, %llu bytes\n",
		      (ull)(t0 - r.oldest + 1), (ull)t0, (ull)st.file_bytes);
	assert_true(t0 - r.oldest + 1 >= 1000); /* 1640 today */
	run_free(&r);
}

/* ---- wide trees --------------------------------------------------------- */

/* One commit of puts (del 0) or deletes of the keys w<from> .. w<to - 1>,
 * in the order given (descending when from > to). */
static void wide_commit(struct run *r, long from, long to, int del)
{
	quire_txn *w;
	char k[16], v[32];
	uint64_t seq0 = r->hm->nops + 1, txn = hm_latest(r->hm) + 1;
	long step = from < to ? 1 : -1;
	COK(quire_begin(r->db, 0, &w));
	for (long i = from; i != to; i += step) {
		size_t kl = (size_t)snprintf(k, sizeof k, "w%06ld", i);
		size_t vl = (size_t)snprintf(v, sizeof v, "%ld.%llu", i,
					     (ull)txn);
		struct hop o = {.seq = r->hm->nops + 1, .txn = txn,
				.k = tu_dup(k, kl), .kl = kl};
		if (del) {
			COK(quire_del(w, k, kl));
			o.op = QUIRE_OP_DEL;
		} else {
			COK(quire_put(w, k, kl, v, vl));
			o.op = QUIRE_OP_PUT;
			o.v = tu_dup(v, vl);
			o.vl = vl;
		}
		hm_apply(&r->cur, NULL, &o);
		hm_add_op(r->hm, &o);
	}
	COK(quire_commit(w));
	record_commit(r, seq0, "", 0);
}

/* More entries than compaction copies in one chunk (16384), in each tree
 * it copies: 36k keys (half of them deleted: tombstones), a kept commit
 * of 18k operations, pending operations on top. */
static void test_compact_wide(void **state)
{
	(void)state;
	struct run r;
	uint64_t seed = tu_seed(0x1de);
	long n = long_tier ? 120000 : 36000;
	quire_compact_options o;
	run_create(&r, seed, 512, 100000);
	ctx("wide trees, %ld keys", n);
	wide_commit(&r, 0, n, 0);
	checkpoint(&r);
	wide_commit(&r, n - 1, n / 2 - 1, 1); /* the last half, deleted */
	uint64_t k = hm_latest(r.hm);
	for (int i = 0; i < 4; i++) /* pending on top */
		write_txn(&r, 10);
	wide_commit(&r, n / 4, n / 4 + 300, 0);
	uint64_t t0 = hm_latest(r.hm);
	quire_compact_options_init(&o);
	o.keep_since_txn = k;
	g_phase = "keeping the commit of the deletes on";
	COK(quire_compact(r.db, &o));
	compacted(&r, &o, t0);
	verify(&r, t0, 1);
	g_phase = "reopened";
	reopen(&r);
	verify(&r, t0, 1);
	g_phase = "then keeping the newest only";
	COK(quire_compact(r.db, NULL));
	compacted(&r, NULL, t0);
	verify(&r, t0, 1);
	run_free(&r);
}

/* ---- faults ----------------------------------------------------------- */

struct cfault {
	const char *name;
	int kind, err, persist, qerr; /* qerr 1: 0 or QUIRE_EIO */
};

static const struct cfault cfaults[] = {
	{"write ENOSPC", CF_WRITE, ENOSPC, 0, QUIRE_ENOSPC},
	{"write ENOSPC persistent", CF_WRITE, ENOSPC, 1, QUIRE_ENOSPC},
	{"write EIO", CF_WRITE, EIO, 0, QUIRE_EIO},
	{"sync EIO", CF_SYNC, EIO, 0, QUIRE_EIO},
	{"sync ENOSPC", CF_SYNC, ENOSPC, 0, QUIRE_ENOSPC},
	{"open ENOSPC", CF_OPEN, ENOSPC, 0, QUIRE_ENOSPC},
	{"rename EIO", CF_RENAME, EIO, 0, QUIRE_EIO},
	{"directory sync EIO", CF_SYNCDIR, EIO, 0, 1},
};

static int kind_index(int kind)
{
	int i = 0;
	while (!(kind & (1 << i)))
		i++;
	return i;
}

/* A fault on the .compact file: the compaction fails with its error, the
 * file is gone, nothing changed, and the handle goes on (a commit, a
 * compaction that works). */
static uint64_t faults_on_new_file(struct img *im)
{
	uint64_t runs = 0, calls[CF_KINDS];
	struct run r;
	size_t n;
	/* how many calls of each kind the compaction makes */
	run_from(&r, im, &im->hm);
	memset(r.cv.calls, 0, sizeof r.cv.calls);
	COK(quire_compact(r.db, &im->o));
	memcpy(calls, r.cv.calls, sizeof calls);
	run_free(&r);
	for (size_t f = 0; f < sizeof cfaults / sizeof *cfaults; f++) {
		const struct cfault *cf = &cfaults[f];
		uint64_t total = calls[kind_index(cf->kind)];
		CREQ(total > 0 || cf->kind == CF_SYNCDIR,
		     "image %s: the compaction made no %s call on the new file",
		     im->name, cf->name);
		for (uint64_t k = 1; k <= total; k++) {
			struct hmodel hm;
			uint64_t bytes;
			quire_txn *t;
			quire_stat st;
			hm_copy(&hm, &im->hm);
			hm_truncate(&hm, im->base);
			run_from(&r, im, &hm);
			ctx("image %s, seed %llu: %s at call %llu of %llu",
				 im->name, (ull)im->seed, cf->name, (ull)k,
				 (ull)total);
			COK(quire_begin(r.db, QUIRE_RDONLY, &t));
			COK(quire_txn_stat(t, &st));
			quire_abort(t);
			bytes = st.file_bytes;
			cv_fault(&r.cv, cf->kind, k, cf->err, cf->persist);
			quire_compact_options o = im->o;
			int e = quire_compact(r.db, &o);
			cv_fault(&r.cv, 0, 0, 0, 0);
			if (cf->qerr == 1)
				CREQ(e == 0 || e == QUIRE_EIO,
				     "quire_compact = %d (%s), want 0 or "
				     "QUIRE_EIO",
				     e, quire_errmsg());
			else
				CREQ(e == cf->qerr,
				     "quire_compact = %d (%s: %s), want %d", e,
				     quire_strerror(e), quire_errmsg(),
				     cf->qerr);
			g_phase = "after the failed compaction";
			CREQ(!memvfs_data(r.mv, CPATH, &n),
			     "%s left after the failure (%zu bytes)", CPATH, n);
			COK(quire_begin(r.db, QUIRE_RDONLY, &t));
			COK(quire_txn_stat(t, &st));
			quire_abort(t);
			if (e) {
				if (cf->qerr == 1 && st.history_txn == im->post)
					/* it was renamed */
					compacted(&r, &im->o, im->base);
				else
					CREQ(st.file_bytes == bytes,
					     "the failed compaction changed "
					     "the file: %llu bytes, was %llu",
					     (ull)st.file_bytes, (ull)bytes);
			} else {
				compacted(&r, &im->o, im->base);
			}
			verify(&r, im->base, 0);
			g_phase = "a commit after the failed compaction";
			write_txn(&r, 5); /* still writable */
			verify(&r, hm_latest(&hm), 0);
			uint64_t t0 = hm_latest(&hm);
			g_phase = "compacted again without faults, reopened";
			COK(quire_compact(r.db, &o));
			compacted(&r, &o, t0);
			reopen(&r);
			verify(&r, t0, 1);
			run_free(&r);
			hm_free(&hm);
			runs++;
		}
	}
	return runs;
}

/* Any call of the compaction (and the commits around it) fails once, on
 * any file: a failed call reports an error, and after a reopen every
 * acknowledged commit is there, with the old or the new history. */
static uint64_t faults_anywhere(struct img *im)
{
	static const struct {
		const char *name;
		int kinds, err;
	} kinds[] = {{"EIO on a mutating call", MV_MUTATE | MV_DIR, EIO},
		     {"ENOSPC on a mutating call", MV_MUTATE | MV_DIR, ENOSPC},
		     {"EIO on a read", MV_READ, EIO}};
	uint64_t runs = 0;
	for (size_t f = 0; f < sizeof kinds / sizeof *kinds; f++) {
		struct run r;
		struct xres x = {0};
		run_from(&r, im, &im->hm);
		uint64_t c0 = memvfs_calls(r.mv, kinds[f].kinds);
		replay(&r, im, &x, 0);
		uint64_t total = memvfs_calls(r.mv, kinds[f].kinds) - c0;
		run_free(&r);
		/* at most 50 points, spread over the calls */
		uint64_t step = total > 50 ? total / 50 : 1;
		for (uint64_t k = 1; k <= total; k += step) {
			x = (struct xres){0};
			run_from(&r, im, &im->hm);
			ctx("image %s, seed %llu: %s, call %llu of %llu",
				 im->name, (ull)im->seed, kinds[f].name, (ull)k,
				 (ull)total);
			memvfs_fault(r.mv, kinds[f].kinds, k, kinds[f].err, 0,
				     0);
			replay(&r, im, &x, 0);
			memvfs_clear_faults(r.mv);
			CREQ(x.rc == 0 || x.rc == QUIRE_EIO ||
				     x.rc == QUIRE_ENOSPC ||
				     x.rc == QUIRE_EFATAL,
			     "quire_compact = %d (%s)", x.rc, quire_errmsg());
			check_after(&r, im, &x, x.rc == 0, k % 3 == 1);
			run_free(&r);
			runs++;
		}
	}
	return runs;
}

static void test_compact_faults(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xfa17), a = 0, b = 0;
	for (int v = 0; v < 3; v++) {
		struct img im;
		img_variant(&im, v, seed + (uint64_t)v);
		img_clean(&im);
		a += faults_on_new_file(&im);
		b += faults_anywhere(&im);
		img_free(&im);
	}
	print_message("# faults: %llu runs with a fault on the new file, %llu "
		      "with one on any call\n",
		      (ull)a, (ull)b);
	assert_true(a >= 60 && b >= 150); /* 285 and 450 today */
}

/* ---- leftovers -------------------------------------------------------- */

static void test_compact_leftover(void **state)
{
	(void)state;
	struct img im;
	uint64_t seed = tu_seed(0x1ef7);
	img_variant(&im, 0, seed);
	im.cb_commit = 0;
	im.after = 0;
	uint8_t *junk = malloc(300u << 10);
	assert_non_null(junk);
	for (size_t i = 0; i < (300u << 10); i++)
		junk[i] = (uint8_t)tu_rand(&seed);
	static const char *const what[] = {"random bytes",
					   "a copy of the database",
					   "an empty file", "a half copy"};
	for (int w = 0; w < 4; w++) {
		struct run r;
		size_t n;
		run_setup(&r, im.seed, im.node_size, im.ckpt);
		memvfs_set(r.mv, PATH, im.p, im.n);
		switch (w) {
		case 0: memvfs_set(r.mv, CPATH, junk, 300u << 10); break;
		case 1: memvfs_set(r.mv, CPATH, im.p, im.n); break;
		case 2: memvfs_set(r.mv, CPATH, "", 0); break;
		default: memvfs_set(r.mv, CPATH, im.p, im.n / 2);
		}
		r.hm = &im.hm;
		r.oldest = im.oldest;
		ctx("leftover %s is %s", CPATH,
			 what[w]);
		g_phase = "opened";
		db_open(&r, 0);
		verify(&r, im.base, 1);
		g_phase = "compacted";
		COK(quire_compact(r.db, NULL));
		CREQ(!memvfs_data(r.mv, CPATH, &n), "%s still there", CPATH);
		compacted(&r, NULL, im.base);
		verify(&r, im.base, 1);
		g_phase = "compacted, reopened";
		reopen(&r);
		verify(&r, im.base, 1);
		run_free(&r);
	}
	img_free(&im);
	free(junk);

	/* on a real file system, a leftover the owner may not write */
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_stat st;
	char path[4096], cpath[4200];
	struct stat sb;
	snprintf(path, sizeof path, "%s", tu_path("leftover"));
	snprintf(cpath, sizeof cpath, "%s.compact", path);
	ctx("read-only leftover %.200s", cpath);
	int fd = open(cpath, O_CREAT | O_TRUNC | O_WRONLY, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	COK(quire_open(path, &o, &db));
	for (int i = 0; i < 20; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i % 5);
		COK(quire_begin(db, 0, &t));
		COK(quire_put(t, k, strlen(k), k, strlen(k)));
		COK(quire_commit(t));
	}
	COK(quire_compact(db, NULL));
	CREQ(stat(cpath, &sb) != 0, "%s still there", cpath);
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	CREQ(st.txn_id == 20 && st.history_txn == 20 && st.key_count == 5,
	     "after compacting: txn %llu, history from %llu, %llu keys",
	     (ull)st.txn_id, (ull)st.history_txn, (ull)st.key_count);
	quire_abort(t);
	COK(quire_close(db));
	unlink(cpath);
	unlink(path);
}

/* ---- progress and cancelling ----------------------------------------- */

static void test_compact_progress(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0x9a0c), cancels = 0, calls = 0, finals = 0;
	for (int v = 0; v < 2; v++) {
		struct img im;
		struct run r;
		struct xres x = {0};
		if (v == 0) {
			img_variant(&im, 0, seed);
		} else { /* over a few MiB: several reports */
			img_make(&im, "big/keep_last", seed + 1, 4096, 40, 160,
				 IMG_BIG);
			im.o.version = QUIRE_COMPACT_OPTIONS_VERSION;
			im.o.keep_last = 60;
		}
		im.cb_commit = 0;
		im.after = 0;
		img_clean(&im);
		run_from(&r, &im, &im.hm);
		ctx("image %s: progress", im.name);
		replay(&r, &im, &x, 1); /* checks done <= total, increasing */
		CREQ(x.calls >= 1, "the progress callback was never called");
		CREQ(x.last_done == x.last_total && x.last_total > 0,
		     "the last progress call says %llu of %llu",
		     (ull)x.last_done, (ull)x.last_total);
		calls += x.calls;
		run_free(&r);
		uint64_t total = x.calls, step = total > 40 ? total / 40 : 1;
		for (uint64_t k = 1; k <= total; k += step) {
			struct hmodel hm;
			quire_txn *t;
			quire_stat before, after;
			size_t n;
			hm_copy(&hm, &im.hm);
			run_from(&r, &im, &hm);
			ctx("image %s: cancel at progress call %llu of %llu",
			    im.name, (ull)k, (ull)total);
			COK(quire_begin(r.db, QUIRE_RDONLY, &t));
			COK(quire_txn_stat(t, &before));
			quire_abort(t);
			struct xres y = {.cancel_at = (int)k};
			struct xctx c = {&r, &im, &y, 0};
			quire_compact_options o = im.o;
			o.progress = replay_progress;
			o.progress_ctx = &c;
			int e = quire_compact(r.db, &o);
			CREQ(y.calls == k, "%llu progress calls after the one "
					   "that cancelled",
			     (ull)(y.calls - k));
			if (k == total && e == 0) {
				/* the last call reports the end: the files
				 * were swapped already */
				compacted(&r, &im.o, im.base);
				verify(&r, im.base, 0);
				run_free(&r);
				hm_free(&hm);
				finals++;
				continue;
			}
			CREQ(e == QUIRE_ECANCELED, "quire_compact = %d (%s), "
						   "want QUIRE_ECANCELED",
			     e, quire_errmsg());
			CREQ(!memvfs_data(r.mv, CPATH, &n), "%s still there",
			     CPATH);
			COK(quire_begin(r.db, QUIRE_RDONLY, &t));
			COK(quire_txn_stat(t, &after));
			quire_abort(t);
			CREQ(after.file_bytes == before.file_bytes &&
				     after.txn_id == before.txn_id,
			     "cancelled, yet the file changed: %llu bytes at "
			     "txn %llu, was %llu at %llu",
			     (ull)after.file_bytes, (ull)after.txn_id,
			     (ull)before.file_bytes, (ull)before.txn_id);
			g_phase = "after the cancelled compaction";
			verify(&r, im.base, 0);
			write_txn(&r, 4);
			uint64_t t0 = hm_latest(&hm);
			g_phase = "compacted after the cancelled one";
			COK(quire_compact(r.db, &im.o));
			compacted(&r, &im.o, t0);
			verify(&r, t0, 0);
			run_free(&r);
			hm_free(&hm);
			cancels++;
		}
		img_free(&im);
	}
	print_message("# progress: %llu calls in 2 compactions, %llu cancelled "
		      "at a call, %llu asked to at the last call (after the "
		      "swap: not cancelled)\n",
		      (ull)calls, (ull)cancels, (ull)finals);
	assert_true(calls >= 5 && cancels >= 3); /* 13 and 11 today */
}

/* ==== threads: a writer, readers holding snapshots, compactions ======= */

#define T_KEYS 64
#define T_READERS 3
#define T_FOLLOWER T_READERS /* rd[T_FOLLOWER] follows with quire_wait */
#define T_COMPACTIONS 6
#define T_EVERY 150 /* writer commits between compactions */
#define T_MAX 20000 /* then the writer rests: a bound on the work */

struct trec {
	uint64_t txn, first_seq;
	int nops;
	uint8_t key[8], del[8];
};

struct tshared {
	quire *db;
	atomic_int stop;
	atomic_uint_fast64_t commits;
	atomic_int compacted; /* compactions finished */
	struct trec *rec;     /* the writer's; others read it after the join */
	size_t nrec, caprec;
	pthread_mutex_t mu;
	char err[600];
	int failed;
};

static void tfail(struct tshared *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Threads never call cmocka: the first failure is kept for the main
 * thread, and everyone stops. */
static void tfail(struct tshared *s, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&s->mu);
	if (!s->failed) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof s->err, fmt, ap);
		va_end(ap);
		s->failed = 1;
	}
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->stop, 1);
}

static size_t tkey(unsigned k, char *buf)
{
	return (size_t)snprintf(buf, 8, "t%02u", k);
}

/* The value key k gets in commit txn: its bytes and length depend on
 * both; one in eight is stored out of line. buf holds 4 KiB. */
static size_t tval(uint64_t txn, unsigned k, uint8_t *buf)
{
	uint64_t s = txn * 1000003 + k, x = 0;
	size_t len = tu_rand(&s) % 8 == 0 ? 1100 + (size_t)(txn % 1500)
					  : 10 + (size_t)((txn + k) % 200);
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = tu_rand(&s);
		buf[i] = (uint8_t)(x >> (i % 8 * 8));
	}
	return len;
}

static void t_apply(struct model *m, const struct trec *rc)
{
	char k[8];
	uint8_t v[4096];
	for (int i = 0; i < rc->nops; i++) {
		size_t kl = tkey(rc->key[i], k);
		if (rc->del[i])
			model_del(m, k, kl);
		else
			model_put(m, k, kl, v, tval(rc->txn, rc->key[i], v));
	}
}

static uint64_t model_hash(const struct model *m)
{
	uint64_t h = FNV0;
	for (size_t i = 0; i < m->n; i++)
		h = fnv_kv(h, m->v[i].key, m->v[i].klen, m->v[i].val,
			   m->v[i].vlen);
	return h;
}

static void *t_writer(void *p)
{
	struct tshared *s = p;
	uint64_t rng = 4242, next_seq = 1;
	uint8_t present[T_KEYS] = {0}, v[4096];
	char k[8];
	while (!atomic_load(&s->stop)) {
		quire_txn *w;
		quire_stat st;
		if (s->nrec >= T_MAX) {
			usleep(1000);
			continue;
		}
		int e = quire_begin(s->db, 0, &w);
		if (e) {
			tfail(s, "writer: begin: %d (%s)", e, quire_errmsg());
			break;
		}
		struct trec rc = {.txn = quire_txn_id(w),
				  .first_seq = next_seq};
		if ((e = quire_txn_stat(w, &st)) != 0 ||
		    st.next_seq != next_seq) {
			tfail(s, "writer: txn %llu reads next seq %llu, want "
				 "%llu (%d)",
			      (ull)rc.txn, (ull)st.next_seq, (ull)next_seq, e);
			quire_abort(w);
			break;
		}
		rc.nops = 1 + (int)tu_below(&rng, 6);
		for (int i = 0; i < rc.nops && !e; i++) {
			unsigned key = (unsigned)tu_below(&rng, T_KEYS);
			size_t kl = tkey(key, k);
			int del = present[key] && tu_below(&rng, 3) == 0;
			e = del ? quire_del(w, k, kl)
				: quire_put(w, k, kl, v, tval(rc.txn, key, v));
			present[key] = !del;
			rc.key[i] = (uint8_t)key;
			rc.del[i] = (uint8_t)del;
		}
		if (e) {
			tfail(s, "writer: put/del: %d (%s)", e, quire_errmsg());
			quire_abort(w);
			break;
		}
		if ((e = quire_commit(w)) != 0) {
			tfail(s, "writer: commit of txn %llu: %d (%s)",
			      (ull)rc.txn, e, quire_errmsg());
			break;
		}
		next_seq += (uint64_t)rc.nops;
		if (s->nrec == s->caprec) {
			s->caprec = s->caprec ? s->caprec * 2 : 1024;
			s->rec = realloc(s->rec, s->caprec * sizeof *s->rec);
			if (!s->rec)
				abort(); /* test infrastructure only */
		}
		s->rec[s->nrec++] = rc;
		atomic_fetch_add(&s->commits, 1);
		if (tu_below(&rng, 150) == 0) {
			/* a checkpoint commit has no operations */
			quire_txn *t;
			if ((e = quire_checkpoint(s->db)) != 0 ||
			    (e = quire_begin(s->db, QUIRE_RDONLY, &t)) != 0) {
				tfail(s, "writer: checkpoint: %d (%s)", e,
				      quire_errmsg());
				break;
			}
			uint64_t id = quire_txn_id(t);
			quire_abort(t);
			if (id == rc.txn + 1)
				s->rec[s->nrec++] = (struct trec){
					.txn = id, .first_seq = next_seq};
			else if (id != rc.txn)
				tfail(s, "writer: after a checkpoint at txn "
					 "%llu the latest is %llu",
				      (ull)rc.txn, (ull)id);
			/* the array has room: one more per 1024 is fine */
			if (s->nrec == s->caprec) {
				s->caprec *= 2;
				s->rec = realloc(s->rec,
						 s->caprec * sizeof *s->rec);
				if (!s->rec)
					abort();
			}
		}
	}
	return NULL;
}

struct tseen {
	uint64_t txn, hash;
};

struct tfeed {
	uint64_t txn, since, hash, n;
};

struct treader {
	struct tshared *s;
	quire *db;
	pthread_t th;
	uint64_t rng;
	struct tseen *seen;
	size_t nseen, capseen;
	struct tfeed *feeds;
	size_t nfeeds, capfeeds;
	uint64_t snaps, rechecks, across, asof, asof_gone;
};

/* The digest of the state t shows, and its key count. */
static int t_digest(quire_txn *t, uint64_t *hash, uint64_t *count)
{
	quire_cursor *c;
	quire_val k, v;
	uint64_t h = FNV0, n = 0;
	int e = quire_cursor_open(t, &c);
	if (e)
		return e;
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c)) {
		if ((e = quire_cursor_key(c, &k)) != 0 ||
		    (e = quire_cursor_value(c, &v)) != 0)
			break;
		h = fnv_kv(h, k.data, k.size, v.data, v.size);
		n++;
	}
	quire_cursor_close(c);
	if (e != QUIRE_NOTFOUND)
		return e ? e : QUIRE_EINVAL;
	*hash = h;
	*count = n;
	return 0;
}

static uint64_t feed_step(uint64_t h, uint64_t seq, uint64_t txn, int op,
			  const void *k, size_t kl, const void *v, size_t vl)
{
	uint64_t hdr[3] = {seq, txn, (uint64_t)op};
	return fnv_kv(fnv(h, hdr, sizeof hdr), k, kl, v, vl);
}

static int t_feed_digest(quire_txn *t, uint64_t since, uint64_t *hash,
			 uint64_t *n)
{
	quire_changes *f;
	quire_change ch;
	uint64_t h = FNV0, c = 0;
	int e = quire_changes_open(t, since, &f);
	if (e)
		return e;
	while ((e = quire_changes_next(f, &ch)) == 0) {
		h = feed_step(h, ch.seq, ch.txn_id, ch.op, ch.key.data,
			      ch.key.size, ch.value.data, ch.value.size);
		c++;
	}
	quire_changes_close(f);
	if (e != QUIRE_NOTFOUND)
		return e;
	*hash = h;
	*n = c;
	return 0;
}

static void t_seen(struct treader *rd, uint64_t txn, uint64_t hash)
{
	if (rd->nseen == rd->capseen) {
		rd->capseen = rd->capseen ? rd->capseen * 2 : 4096;
		rd->seen = realloc(rd->seen, rd->capseen * sizeof *rd->seen);
		if (!rd->seen)
			abort();
	}
	rd->seen[rd->nseen++] = (struct tseen){txn, hash};
}

static void t_feed(struct treader *rd, const struct tfeed *f)
{
	if (rd->nfeeds == rd->capfeeds) {
		rd->capfeeds = rd->capfeeds ? rd->capfeeds * 2 : 1024;
		rd->feeds = realloc(rd->feeds,
				    rd->capfeeds * sizeof *rd->feeds);
		if (!rd->feeds)
			abort();
	}
	rd->feeds[rd->nfeeds++] = *f;
}

struct tsnap {
	quire_txn *t;
	uint64_t txn, hash;
	int compacted; /* compactions finished when it was begun */
};

/* A held snapshot must show what it showed first; its feed (over its last
 * operations) is recorded for the check against the writer's record. */
static int t_recheck(struct treader *rd, struct tsnap *h)
{
	uint64_t hash, n;
	quire_stat st;
	int e = t_digest(h->t, &hash, &n);
	if (e || hash != h->hash) {
		tfail(rd->s, "reader: the snapshot of txn %llu changed while "
			     "held (%d compactions since it began): %d",
		      (ull)h->txn,
		      atomic_load(&rd->s->compacted) - h->compacted, e);
		return -1;
	}
	rd->rechecks++;
	if (tu_below(&rd->rng, 3) == 0) {
		struct tfeed f = {.txn = h->txn};
		if ((e = quire_txn_stat(h->t, &st)) != 0)
			return tfail(rd->s, "reader: stat: %d", e), -1;
		f.since = st.next_seq > st.history_seq + 40
				  ? st.next_seq - 41
				  : st.history_seq - 1;
		if ((e = t_feed_digest(h->t, f.since, &f.hash, &f.n)) != 0) {
			tfail(rd->s, "reader: feed of held txn %llu from %llu "
				     "(history seq %llu): %d (%s)",
			      (ull)h->txn, (ull)f.since, (ull)st.history_seq, e,
			      quire_errmsg());
			return -1;
		}
		t_feed(rd, &f);
	}
	return 0;
}

/* Follows the commits as an event consumer would: quire_wait for the next
 * operation, then the changes feed from the last one read. A compaction
 * may drop operations it has not read yet (then it goes on from the
 * oldest kept one); every feed it read is checked against the writer's
 * record after the run. */
static void *t_follower(void *p)
{
	struct treader *rd = p;
	struct tshared *s = rd->s;
	uint64_t seq = 0; /* operations read: up to seq */
	while (!atomic_load(&s->stop)) {
		quire_txn *t;
		quire_stat st;
		uint64_t h, n;
		int e = quire_wait(rd->db, seq + 1, 20);
		if (e == QUIRE_ETIMEDOUT)
			continue;
		if (e || (e = quire_begin(rd->db, QUIRE_RDONLY, &t)) != 0) {
			tfail(s, "follower: wait/begin: %d (%s)", e,
			      quire_errmsg());
			break;
		}
		quire_txn_stat(t, &st);
		uint64_t since = seq;
		if (since + 1 < st.history_seq) { /* dropped while waiting */
			rd->asof_gone++;
			since = st.history_seq - 1;
		}
		e = t_feed_digest(t, since, &h, &n);
		if (e || since + n + 1 != st.next_seq) {
			tfail(s, "follower: feed of txn %llu from %llu: %d (%s), "
				 "%llu operations, next seq %llu",
			      (ull)st.txn_id, (ull)since, e, quire_errmsg(),
			      (ull)n, (ull)st.next_seq);
			quire_abort(t);
			break;
		}
		t_feed(rd, &(struct tfeed){.txn = st.txn_id, .since = since,
					   .hash = h, .n = n});
		seq = st.next_seq - 1;
		rd->snaps++;
		quire_abort(t);
	}
	return NULL;
}

static void *t_reader(void *p)
{
	struct treader *rd = p;
	struct tshared *s = rd->s;
	struct tsnap held[3], longh = {0};
	int nheld = 0;
	uint64_t last = 0;
	while (!atomic_load(&s->stop)) {
		quire_txn *t;
		quire_stat st = {0};
		uint64_t h = 0, n = 0;
		int e = quire_begin(rd->db, QUIRE_RDONLY, &t);
		if (e) {
			tfail(s, "reader: begin: %d (%s)", e, quire_errmsg());
			break;
		}
		uint64_t id = quire_txn_id(t);
		if (id < last) {
			tfail(s, "reader: a snapshot went back from txn %llu "
				 "to %llu",
			      (ull)last, (ull)id);
			quire_abort(t);
			break;
		}
		last = id;
		if ((e = quire_txn_stat(t, &st)) != 0 ||
		    (e = t_digest(t, &h, &n)) != 0 || st.key_count != n ||
		    st.txn_id != id) {
			tfail(s, "reader: txn %llu: %d (%s), stat says txn "
				 "%llu with %llu keys, a scan found %llu",
			      (ull)id, e, quire_errmsg(), (ull)st.txn_id,
			      (ull)st.key_count, (ull)n);
			quire_abort(t);
			break;
		}
		rd->snaps++;
		t_seen(rd, id, h);
		struct tsnap sn = {t, id, h, atomic_load(&s->compacted)};
		/* one snapshot is held until a compaction finished after it
		 * began; a few more come and go */
		if (!longh.t) {
			longh = sn;
		} else {
			if (nheld == 3) {
				int i = (int)tu_below(&rd->rng, 3);
				if (t_recheck(rd, &held[i]))
					break;
				quire_abort(held[i].t);
				held[i] = held[--nheld];
			}
			held[nheld++] = sn;
		}
		if (nheld && t_recheck(rd, &held[tu_below(&rd->rng, nheld)]))
			break;
		if (longh.compacted != atomic_load(&s->compacted)) {
			if (t_recheck(rd, &longh))
				break;
			rd->across++;
			quire_abort(longh.t);
			longh.t = NULL;
		}
		/* an older commit: kept, or gone */
		if (tu_below(&rd->rng, 6) == 0 && id > 0) {
			uint64_t want =
				id - tu_below(&rd->rng, id < 40 ? id : 40);
			e = quire_begin_at(rd->db, want, &t);
			if (e == QUIRE_EHISTORY) {
				rd->asof_gone++;
			} else if (e) {
				tfail(s, "reader: AS-OF %llu: %d (%s)",
				      (ull)want, e, quire_errmsg());
				break;
			} else {
				e = t_digest(t, &h, &n);
				quire_abort(t);
				if (e) {
					tfail(s, "reader: AS-OF %llu: %d (%s)",
					      (ull)want, e, quire_errmsg());
					break;
				}
				t_seen(rd, want, h);
				rd->asof++;
			}
		}
	}
	for (int i = 0; i < nheld; i++)
		quire_abort(held[i].t);
	if (longh.t)
		quire_abort(longh.t);
	return NULL;
}

/* The digest of the feed of commit txn from since, by the record. */
static uint64_t t_feed_expect(const struct tshared *s, uint64_t since,
			      uint64_t txn, uint64_t *n)
{
	uint64_t h = FNV0, c = 0;
	char k[8];
	uint8_t v[4096];
	size_t lo = 0, hi = s->nrec;
	while (lo < hi) { /* the first commit with operations after since */
		size_t mid = (lo + hi) / 2;
		const struct trec *rc = &s->rec[mid];
		if (rc->first_seq + (uint64_t)rc->nops <= since + 1)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->nrec && s->rec[i].txn <= txn; i++) {
		const struct trec *rc = &s->rec[i];
		for (int j = 0; j < rc->nops; j++) {
			uint64_t seq = rc->first_seq + (uint64_t)j;
			if (seq <= since)
				continue;
			size_t kl = tkey(rc->key[j], k);
			int del = rc->del[j];
			size_t vl = del ? 0 : tval(rc->txn, rc->key[j], v);
			h = feed_step(h, seq, rc->txn,
				      del ? QUIRE_OP_DEL : QUIRE_OP_PUT, k, kl,
				      v, vl);
			c++;
		}
	}
	*n = c;
	return h;
}

static void wait_commits(struct tshared *s, uint64_t n)
{
	uint64_t deadline = now_ms() + 300000; /* a guard against hangs */
	while (atomic_load(&s->commits) < n && !atomic_load(&s->stop)) {
		if (now_ms() > deadline)
			tfail(s, "the writer made %llu commits in 300 s, "
				 "waiting for %llu",
			      (ull)atomic_load(&s->commits), (ull)n);
		usleep(1000);
	}
}

/* In the main thread while the others run: record the failure (they are
 * joined before it is reported) and stop. */
#define TREQ(s, cond, ...)                                                   \
	if (!(cond)) {                                                       \
		tfail(s, __VA_ARGS__);                                       \
		break;                                                       \
	}

static void test_compact_threads(void **state)
{
	(void)state;
	struct tshared s = {0};
	struct treader rd[T_READERS + 1];
	pthread_t wt;
	quire_options o;
	quire *db2;
	quire_txn *t;
	quire_stat st;
	quire_log_entry le;
	char path[4096];
	uint64_t prev_ht = 0, during = 0, ht = 0;
	snprintf(path, sizeof path, "%s", tu_path("threads"));
	ctx("threads");
	pthread_mutex_init(&s.mu, NULL);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.checkpoint_ops = 50;
	o.node_size = 1024;
	o.auto_compact_ratio = 0; /* the compactor thread decides */
	COK(quire_open(path, &o, &s.db));
	o.flags = QUIRE_RDONLY;
	COK(quire_open(path, &o, &db2));
	for (int i = 0; i < T_READERS; i++) {
		rd[i] = (struct treader){.s = &s,
					 .db = i == 2 ? db2 : s.db,
					 .rng = 99 + (uint64_t)i};
		assert_int_equal(
			pthread_create(&rd[i].th, NULL, t_reader, &rd[i]), 0);
	}
	rd[T_FOLLOWER] = (struct treader){.s = &s, .db = s.db};
	assert_int_equal(pthread_create(&rd[T_FOLLOWER].th, NULL, t_follower,
					&rd[T_FOLLOWER]),
			 0);
	assert_int_equal(pthread_create(&wt, NULL, t_writer, &s), 0);
	for (int c = 0; c < T_COMPACTIONS && !atomic_load(&s.stop); c++) {
		quire_compact_options co;
		int e;
		wait_commits(&s, (uint64_t)(c + 1) * T_EVERY);
		TREQ(&s, (e = quire_begin(s.db, QUIRE_RDONLY, &t)) == 0,
		     "begin: %d", e);
		uint64_t L = quire_txn_id(t);
		quire_compact_options_init(&co);
		switch (c % 5) {
		case 1: co.keep_last = 60; break;
		case 2: co.keep_since_txn = L - 40; break;
		case 3:
			if (quire_log_get(t, L - 30, &le) == 0)
				co.keep_since_ns = le.time_ns;
			break;
		}
		quire_abort(t);
		uint64_t c0 = atomic_load(&s.commits);
		e = quire_compact(s.db, &co);
		TREQ(&s, e == 0,
		     "compaction %d at txn %llu (since_txn %llu, since_ns "
		     "%llu, last %llu): %d (%s)",
		     c + 1, (ull)L, (ull)co.keep_since_txn,
		     (ull)co.keep_since_ns, (ull)co.keep_last, e,
		     quire_errmsg());
		during += atomic_load(&s.commits) - c0;
		atomic_fetch_add(&s.compacted, 1);
		TREQ(&s, (e = quire_begin(s.db, QUIRE_RDONLY, &t)) == 0,
		     "begin: %d", e);
		quire_txn_stat(t, &st);
		uint64_t A = quire_txn_id(t);
		quire_abort(t);
		ht = st.history_txn;
		switch (c % 5) {
		case 1:
			TREQ(&s, ht + 60 >= L + 1 && ht <= A,
			     "compaction %d: history from %llu, want the last "
			     "60 of %llu..%llu",
			     c + 1, (ull)ht, (ull)L, (ull)A);
			break;
		case 2: /* no older than the last compaction left it: under
			 * load that one may have ended fewer than 40 commits
			 * before this one began */
			TREQ(&s, ht == QMAX(L - 40, prev_ht),
			     "compaction %d: history from %llu, want %llu",
			     c + 1, (ull)ht, (ull)QMAX(L - 40, prev_ht));
			break;
		case 3:
			TREQ(&s, ht >= prev_ht && ht <= L - 30,
			     "compaction %d: history from %llu, want "
			     "%llu..%llu",
			     c + 1, (ull)ht, (ull)prev_ht, (ull)L - 30);
			break;
		default:
			TREQ(&s, ht >= L && ht <= A,
			     "compaction %d: history from %llu, want the "
			     "commit current at its start (%llu..%llu)",
			     c + 1, (ull)ht, (ull)L, (ull)A);
		}
		prev_ht = ht;
	}
	atomic_store(&s.stop, 1);
	assert_int_equal(pthread_join(wt, NULL), 0);
	for (int i = 0; i <= T_FOLLOWER; i++)
		assert_int_equal(pthread_join(rd[i].th, NULL), 0);
	uint64_t ffeeds = rd[T_FOLLOWER].nfeeds,
		 fgaps = rd[T_FOLLOWER].asof_gone;
	if (s.failed)
		fail_msg("%s", s.err);

	/* the states the writer made; txn ids ran on through the swaps */
	ctx("threads, after the run");
	uint64_t final = s.nrec ? s.rec[s.nrec - 1].txn : 0;
	uint64_t *hash_at = calloc(final + 1, sizeof *hash_at);
	struct model m = {0};
	assert_non_null(hash_at);
	hash_at[0] = FNV0;
	for (size_t i = 0; i < s.nrec; i++) {
		CREQ(s.rec[i].txn == i + 1, "the writer's commit %zu got txn "
					    "%llu",
		     i + 1, (ull)s.rec[i].txn);
		t_apply(&m, &s.rec[i]);
		hash_at[i + 1] = model_hash(&m);
	}
	uint64_t seen = 0, feeds = 0, snaps = 0, rechecks = 0, across = 0,
		 asof = 0, gone = 0;
	for (int i = 0; i <= T_FOLLOWER; i++) {
		for (size_t j = 0; j < rd[i].nseen; j++) {
			const struct tseen *x = &rd[i].seen[j];
			CREQ(x->txn <= final && hash_at[x->txn] == x->hash,
			     "reader %d: its snapshot of txn %llu differs from "
			     "the writer's commit",
			     i, (ull)x->txn);
		}
		for (size_t j = 0; j < rd[i].nfeeds; j++) {
			const struct tfeed *f = &rd[i].feeds[j];
			uint64_t n, h = t_feed_expect(&s, f->since, f->txn, &n);
			CREQ(h == f->hash && n == f->n,
			     "reader %d: the feed of txn %llu from %llu (%llu "
			     "operations) differs from the record (%llu)",
			     i, (ull)f->txn, (ull)f->since, (ull)f->n, (ull)n);
		}
		seen += rd[i].nseen;
		feeds += rd[i].nfeeds;
		snaps += rd[i].snaps;
		rechecks += rd[i].rechecks;
		across += rd[i].across;
		asof += rd[i].asof;
		gone += rd[i].asof_gone;
		free(rd[i].seen);
		free(rd[i].feeds);
	}
	/* every commit since the last compaction's start is kept */
	COK(quire_begin(s.db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	CREQ(quire_txn_id(t) == final && wl_same(t, &m),
	     "the latest state (txn %llu) is not the writer's last (%llu)",
	     (ull)quire_txn_id(t), (ull)final);
	CREQ(st.history_txn == ht, "history from %llu, the last compaction "
				   "left %llu",
	     (ull)st.history_txn, (ull)ht);
	uint64_t n = 0, h = 0;
	COK(t_feed_digest(t, st.history_seq - 1, &h, &n));
	uint64_t wn, wh = t_feed_expect(&s, st.history_seq - 1, final, &wn);
	CREQ(h == wh && n == wn, "the feed from %llu (%llu operations) "
				 "differs from the record (%llu)",
	     (ull)st.history_seq - 1, (ull)n, (ull)wn);
	quire_abort(t);
	for (uint64_t x = ht; x <= final; x++) {
		uint64_t cnt;
		COK(quire_begin_at(s.db, x, &t));
		COK(t_digest(t, &h, &cnt));
		CREQ(h == hash_at[x], "AS-OF %llu differs from the writer's "
				      "commit",
		     (ull)x);
		quire_abort(t);
	}
	COK(quire_close(db2));
	COK(quire_close(s.db));
	o.flags = 0;
	COK(quire_open(path, &o, &s.db));
	COK(quire_begin(s.db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == final && wl_same(t, &m),
	     "after a reopen the state is not the writer's last");
	quire_abort(t);
	wl_check_clean(s.db, g_ctx);
	COK(quire_close(s.db));
	print_message("# threads: %zu writer commits (%llu during %d "
		      "compactions), %llu snapshots (%llu AS-OF, %llu AS-OF "
		      "gone), %llu rechecks of held ones (%llu across a "
		      "compaction), %llu states and %llu feeds checked against "
		      "the record; a quire_wait follower read %llu of them (%llu "
		      "after a compaction dropped what it had not read)\n",
		      s.nrec, (ull)during, T_COMPACTIONS, (ull)snaps, (ull)asof,
		      (ull)gone, (ull)rechecks, (ull)across, (ull)seen,
		      (ull)feeds, (ull)ffeeds, (ull)fgaps);
	/* thousands of each today (17 across); far fewer under TSan */
	assert_true(s.nrec >= T_COMPACTIONS * T_EVERY);
	assert_true(snaps >= 100 && seen >= 100 && rechecks >= 100 &&
		    feeds >= 20 && asof >= 10 && ffeeds >= 5 && across >= 1);
	free(hash_at);
	free(s.rec);
	model_clear(&m);
	pthread_mutex_destroy(&s.mu);
	unlink(path);
}

/* ==== auto_compact_ratio ============================================== */

static void overwrite(quire *db, struct model *m, uint64_t i)
{
	quire_txn *t;
	uint8_t v[6000];
	char k[16];
	COK(quire_begin(db, 0, &t));
	for (int j = 0; j < 4; j++) {
		size_t kl = (size_t)snprintf(k, sizeof k, "a%02llu",
					     (ull)((i * 4 + (uint64_t)j) % 32));
		memset(v, (int)(i + (uint64_t)j), sizeof v);
		memcpy(v, &i, sizeof i);
		COK(quire_put(t, k, kl, v, sizeof v));
		model_put(m, k, kl, v, sizeof v);
	}
	COK(quire_commit(t));
}

static void latest_stat(quire *db, quire_stat *st)
{
	quire_txn *t;
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, st));
	quire_abort(t);
}

/* flags: 0 or QUIRE_COMPACT_NOYIELD */
static void compact_auto(unsigned flags)
{
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_stat st;
	struct model m = {0};
	char path[4096], cpath[4200];
	struct stat sb;
	uint64_t i = 0, most = 0, deadline = now_ms() + 300000;
	snprintf(path, sizeof path, "%s", tu_path(flags ? "auto-ny" : "auto"));
	snprintf(cpath, sizeof cpath, "%s.compact", path);
	ctx("auto_compact_ratio 0.5, flags %#x", flags);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC | flags;
	o.checkpoint_ops = 16;
	o.auto_compact_ratio = 0.5;
	COK(quire_open(path, &o, &db));
	/* overwrites until a background compaction dropped the history (the
	 * handle looks at the reclaimable bytes as the file grows: writes go
	 * on, slowly once it is due, so that it looks again) */
	int due = 0;
	for (;;) {
		overwrite(db, &m, i++);
		if (due)
			usleep(2000);
		latest_stat(db, &st);
		if (st.history_txn > 0)
			break;
		most = st.file_bytes > most ? st.file_bytes : most;
		due = st.garbage_ratio > 0.5 &&
		      st.reclaimable_bytes > (1u << 20);
		CREQ(i < 8000, "garbage ratio %g after %llu commits",
		     st.garbage_ratio, (ull)i);
		CREQ(now_ms() < deadline,
		     "no compaction by itself after %llu commits (%llu bytes, "
		     "garbage ratio %g)",
		     (ull)i, (ull)st.file_bytes, st.garbage_ratio);
	}
	uint64_t first = i, small = st.file_bytes;
	/* its thread paced itself, unless told not to (where the scheduler
	 * statistics it paces by exist) */
	int want = !(flags & QUIRE_COMPACT_NOYIELD) &&
		   access("/proc/thread-self/schedstat", R_OK) == 0;
	CREQ(atomic_load(&db->compactor->bg_paced) == want,
	     "the background compaction paced itself: %d, want %d",
	     atomic_load(&db->compactor->bg_paced), want);
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	CREQ(wl_same(t, &m), "after the background compaction the state "
			     "differs");
	quire_abort(t);
	CREQ(st.file_bytes < most, "compacted, yet the file has %llu bytes, at "
				   "most %llu before",
	     (ull)st.file_bytes, (ull)most);
	/* on until the next one is due, and close while it runs */
	for (;;) {
		overwrite(db, &m, i++);
		latest_stat(db, &st);
		if (st.garbage_ratio > 0.5 &&
		    st.reclaimable_bytes > (1u << 20))
			break;
		CREQ(i < first + 4000, "garbage ratio %g after %llu commits",
		     st.garbage_ratio, (ull)(i - first));
	}
	COK(quire_close(db));
	CREQ(stat(cpath, &sb) != 0, "quire_close left %s (%lld bytes)", cpath,
	     (long long)sb.st_size);
	o.flags = 0;
	o.auto_compact_ratio = 0;
	COK(quire_open(path, &o, &db));
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == i && wl_same(t, &m),
	     "reopened after closing during a compaction: txn %llu, want "
	     "%llu, or the state differs",
	     (ull)quire_txn_id(t), (ull)i);
	quire_abort(t);
	wl_check_clean(db, g_ctx);
	COK(quire_close(db));
	print_message("# auto: compacted by itself after %llu commits (at most "
		      "%llu bytes, then %llu); closed after %llu more\n",
		      (ull)first, (ull)most, (ull)small,
		      (ull)(i - first));
	/* 1 MiB of garbage takes dozens of commits (60 and 38 today) */
	assert_true(first >= 20 && i - first >= 10);
	model_clear(&m);
	unlink(cpath);
	unlink(path);
}

static void test_compact_auto(void **state)
{
	(void)state;
	compact_auto(0);
}

static void test_compact_auto_noyield(void **state)
{
	(void)state;
	compact_auto(QUIRE_COMPACT_NOYIELD);
}

struct held_writer {
	quire *db;
	struct model *m;
	uint64_t from, n;
	_Atomic int done;
};

static void *held_writer_run(void *arg)
{
	struct held_writer *w = arg;
	for (uint64_t i = 0; i < w->n; i++)
		overwrite(w->db, w->m, w->from + i);
	atomic_store(&w->done, 1);
	return NULL;
}

/* A background compaction's thread that has not yet reached the
 * compaction itself (held there through test_hold) is running: commits
 * meanwhile, however much garbage they make, neither start another nor
 * take it for finished and wait for it to end (they once joined it, and
 * a writer so waited for a whole compaction). */
static void test_compact_auto_starting(void **state)
{
	(void)state;
	quire_options o;
	quire *db;
	quire_txn *t;
	struct model m = {0};
	char path[4096];
	uint64_t i = 0;
	pthread_t th;
	snprintf(path, sizeof path, "%s", tu_path("auto-start"));
	ctx("commits while a background compaction's thread starts");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.checkpoint_ops = 16;
	o.auto_compact_ratio = 0.5;
	COK(quire_open(path, &o, &db));
	atomic_store(&db->compactor->test_hold, 1);
	while (!atomic_load(&db->compactor->bg_active)) {
		overwrite(db, &m, i++);
		CREQ(i < 8000, "no background compaction started");
	}
	struct held_writer w = {.db = db, .m = &m, .from = i, .n = 400};
	CREQ(pthread_create(&th, NULL, held_writer_run, &w) == 0,
	     "pthread_create");
	for (int ms = 0; ms < 30000 && !atomic_load(&w.done); ms += 10)
		usleep(10000);
	int done = atomic_load(&w.done);
	atomic_store(&db->compactor->test_hold, 0);
	pthread_join(th, NULL);
	CREQ(done, "400 commits did not end while the compaction's thread "
		   "was held before compacting");
	COK(quire_close(db)); /* waits for the compaction */
	o.flags = 0;
	o.auto_compact_ratio = 0;
	COK(quire_open(path, &o, &db));
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == i + 400 && wl_same(t, &m),
	     "after the held compaction the state differs (txn %llu)",
	     (ull)quire_txn_id(t));
	quire_abort(t);
	COK(quire_close(db));
	model_clear(&m);
	unlink(path);
}

/* "<path>.compact" locked as another compaction's copy is while it is
 * written: a compaction of the database started meanwhile finds it busy. */
static qvfs_file *hold_copy(quire *db, const char *cpath)
{
	qvfs_file *f = NULL;
	CREQ(db->vfs->open(db->vfs, cpath, QVFS_CREATE, 0600, &f) == 0 &&
		     f->ops->lock(f, QVFS_LOCK_TRY) == 0,
	     "cannot hold %s", cpath);
	return f;
}

static void release_copy(qvfs_file *f, const char *cpath)
{
	f->ops->lock(f, QVFS_UNLOCK);
	f->ops->close(f);
	unlink(cpath);
}

/* The tag of the file the handle is on (compact_marks_now's). */
static uint64_t file_now(quire *db)
{
	uint64_t size;
	return compact_marks_now(db, &size).file;
}

/* Overwrites until the handle's automatic compaction has found another
 * running or failed (busy: the copy is held, else a second link), with
 * no compaction on the way: the file size then. */
static uint64_t until_refused(quire *db, struct model *m, uint64_t *i,
			      int busy)
{
	uint64_t size, file = file_now(db);
	for (;;) {
		struct compact_marks k = compact_marks_now(db, &size);
		CREQ(k.file == file, "compacted while it could not (%s)",
		     busy ? "another's copy held" : "a second link");
		if (k.busy || k.floor)
			return size;
		overwrite(db, m, (*i)++);
		CREQ(*i < 8000, "no compaction began");
	}
}

/* Another handle compacts the file: db goes over to the new one. */
static void other_compacts(quire *db, const char *path)
{
	quire_options o;
	quire *other;
	quire_stat st;
	uint64_t before = file_now(db);
	quire_options_init(&o);
	o.flags = QUIRE_NOSYNC;
	o.auto_compact_ratio = 0;
	COK(quire_open(path, &o, &other));
	COK(quire_compact(other, NULL));
	COK(quire_close(other));
	latest_stat(db, &st);
	CREQ(file_now(db) != before, "still on the old file");
}

/* Overwrites (compacting in the committing thread) until the handle
 * compacts by itself (moves to a new file): the largest file size on the
 * way (*calm: the largest with at most half of it reclaimable, before a
 * compaction was due). */
static uint64_t until_compacted(quire *db, struct model *m, uint64_t *i,
				uint64_t *calm)
{
	quire_stat st;
	uint64_t most = 0, start = *i, file = file_now(db);
	*calm = 0;
	for (;;) {
		overwrite(db, m, (*i)++);
		if (file_now(db) != file)
			return most;
		latest_stat(db, &st);
		most = QMAX(most, st.file_bytes);
		if (st.garbage_ratio <= 0.5)
			*calm = QMAX(*calm, st.file_bytes);
		CREQ(*i < start + 4000, "no compaction after %llu commits "
					"(%llu bytes, garbage ratio %g)",
		     (ull)(*i - start), (ull)st.file_bytes, st.garbage_ratio);
	}
}

/* A handle's automatic compaction that finds another compaction of the
 * database running (its copy's lock held) leaves the garbage to it and
 * tries again once the file has grown by a 32nd, not by the quarter a
 * failure waits for; and what it noted about one file, after finding
 * another running or after failing (a second link), does not hold on the
 * file another handle's compaction moved it to: its compaction comes
 * when due there, not a quarter past the old file's size. */
static void test_compact_auto_raced(void **state)
{
	(void)state;
	quire_options o;
	quire *db;
	quire_txn *t;
	struct model m = {0};
	char path[4096], cpath[4200], lpath[4200];
	uint64_t i = 0, calm, most, at;
	snprintf(path, sizeof path, "%s", tu_path("auto-raced"));
	snprintf(cpath, sizeof cpath, "%s.compact", path);
	snprintf(lpath, sizeof lpath, "%s.link", path);
	ctx("an automatic compaction that finds another running");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.checkpoint_ops = 16;
	o.auto_compact_ratio = 0.5;
	COK(quire_open(path, &o, &db));
	compact_run_inline(db, 0);
	for (int round = 0; round < 3; round++) {
		qvfs_file *f = NULL;
		if (round < 2)
			f = hold_copy(db, cpath);
		else
			CREQ(link(path, lpath) == 0, "link: %s", strerror(errno));
		at = until_refused(db, &m, &i, round < 2);
		/* found another: counted as running (commits leave their
		 * folding to it, none starts another) for a while */
		CREQ(db->hooks->running(db) == (round < 2),
		     "round %d: running %d after the compaction was refused",
		     round, db->hooks->running(db));
		if (f)
			release_copy(f, cpath);
		else
			unlink(lpath);
		if (round == 0) { /* tried again soon */
			most = until_compacted(db, &m, &i, &calm);
			CREQ(most <= at + at / 8,
			     "compacted at %llu bytes, after finding another "
			     "compaction at %llu",
			     (ull)most, (ull)at);
			continue;
		}
		other_compacts(db, path);
		most = until_compacted(db, &m, &i, &calm);
		CREQ(most <= calm + calm / 8,
		     "round %d: in the new file, compacted at %llu bytes, not "
		     "due at %llu (%s at %llu in the old one)",
		     round, (ull)most, (ull)calm,
		     round == 1 ? "found another compaction" : "failed",
		     (ull)at);
	}
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	CREQ(wl_same(t, &m), "after the compactions the state differs");
	quire_abort(t);
	COK(quire_close(db));
	model_clear(&m);
	unlink(path);
}

/* 1000 puts of random keys below n (8-byte values). */
static void put_random(quire *db, uint64_t *rng, uint64_t n)
{
	quire_txn *t;
	char k[24];
	COK(quire_begin(db, 0, &t));
	for (int j = 0; j < 1000; j++) {
		int kl = snprintf(k, sizeof k, "k%012llu",
				  (ull)tu_below(rng, n));
		COK(quire_put(t, k, (size_t)kl, "valueval", 8));
	}
	COK(quire_commit(t));
}

/* Pending operations that a checkpoint would fold into most of a large
 * tree are left to a compaction (the defaults); one that finds another
 * compaction of the database running leaves them to that one and the
 * commits go on appending batches (up to twice the threshold), instead
 * of giving up on folding by compaction and checkpointing at once; once
 * the other is gone, a compaction folds them. */
static void test_compact_fold_raced(void **state)
{
	(void)state;
	quire_options o;
	quire *db;
	quire_stat st;
	char path[4096], cpath[4200];
	uint64_t rng = tu_seed(77), keys = 200000, most = 0;
	snprintf(path, sizeof path, "%s", tu_path("fold-raced"));
	snprintf(cpath, sizeof cpath, "%s.compact", path);
	ctx("pending operations left to a compaction that finds another");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	COK(quire_open(path, &o, &db));
	compact_run_inline(db, 0);
	for (uint64_t i = 0; i < keys / 1000; i++) { /* in order: the tree */
		quire_txn *t;
		char k[24];
		COK(quire_begin(db, 0, &t));
		for (uint64_t j = 0; j < 1000; j++) {
			int kl = snprintf(k, sizeof k, "k%012llu",
					  (ull)(i * 1000 + j));
			COK(quire_put(t, k, (size_t)kl, "valueval", 8));
		}
		COK(quire_commit(t));
	}
	COK(quire_checkpoint(db));
	qvfs_file *f = hold_copy(db, cpath);
	uint64_t file = file_now(db);
	for (int c = 0; c < 200; c++) {
		put_random(db, &rng, keys);
		latest_stat(db, &st);
		most = QMAX(most, st.pending_ops);
		CREQ(file_now(db) == file, "compacted while another "
					   "compaction's copy was held");
	}
	release_copy(f, cpath);
	CREQ(most >= QUIRE_CHECKPOINT_OPS * 3 / 2,
	     "at most %llu operations pending while another compaction ran "
	     "(threshold %lu): folded by a checkpoint",
	     (ull)most, QUIRE_CHECKPOINT_OPS);
	for (int c = 0; file_now(db) == file; c++) {
		put_random(db, &rng, keys);
		CREQ(c < 100, "no compaction folded the pending operations");
	}
	latest_stat(db, &st);
	CREQ(st.pending_ops < QUIRE_CHECKPOINT_OPS,
	     "%llu operations pending after the compaction",
	     (ull)st.pending_ops);
	COK(quire_close(db));
	unlink(path);
}

/* A thread that keeps its CPU busy until told to stop. */
static void *spin(void *arg)
{
	_Atomic int *stop = arg;
	while (!atomic_load_explicit(stop, memory_order_relaxed))
		;
	return NULL;
}

/* Compact a 16 MB database with pace (hurry as given) on one CPU that a
 * spinning thread keeps busy: how long the compaction slept. */
static uint64_t paced_compaction(quire *db, int hurry_set)
{
	_Atomic int stop = 0, hurry = hurry_set;
	pthread_t th;
	struct pace pace;
	CREQ(pthread_create(&th, NULL, spin, &stop) == 0, "pthread_create");
	pace_start(&pace, db->vfs, &hurry);
	COK(compact_run(db, NULL, &pace, NULL));
	pace_end(&pace);
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	return pace.slept_ns;
}

static void test_compact_paced(void **state)
{
	(void)state;
#ifdef __linux__
	quire_options o;
	quire *db;
	quire_txn *t;
	cpu_set_t one, all;
	char path[4096];
	uint8_t v[160];
	if (access("/proc/thread-self/schedstat", R_OK) != 0 ||
	    sched_getaffinity(0, sizeof all, &all) != 0) {
		print_message("# no scheduler statistics: compactions never "
			      "pace themselves here\n");
		return;
	}
	snprintf(path, sizeof path, "%s", tu_path("paced"));
	ctx("a paced compaction beside a busy thread on one CPU");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.auto_compact_ratio = 0;
	COK(quire_open(path, &o, &db));
	for (uint64_t i = 0; i < 100000; i++) {
		char k[24];
		if (i % 1000 == 0)
			COK(quire_begin(db, 0, &t));
		size_t kl = (size_t)snprintf(k, sizeof k, "k%011llu",
					     (ull)(i * 7919 % 100000));
		memset(v, (int)i, sizeof v);
		COK(quire_put(t, k, kl, v, sizeof v));
		if (i % 1000 == 999)
			COK(quire_commit(t));
	}
	/* this thread and those it starts share one CPU */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	CREQ(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity: %s",
	     strerror(errno));
	uint64_t slept = paced_compaction(db, 0),
		 hurried = paced_compaction(db, 1);
	sched_setaffinity(0, sizeof all, &all);
	print_message("# paced compaction beside a busy thread: slept %.1f ms; "
		      "with a writer waiting %.1f ms\n",
		      slept / 1e6, hurried / 1e6);
	CREQ(slept > 0, "the compaction never gave the CPU up");
	CREQ(hurried == 0, "the compaction slept %llu ns while a writer "
			   "waited for it",
	     (ull)hurried);
	COK(quire_close(db));
	unlink(path);
#endif
}

/* ==== another process ================================================= */

#define P_KEYS 40

static void p_commit(quire *db, struct model *m, uint64_t txn, int del_too)
{
	quire_txn *w;
	uint8_t v[4096];
	char k[8];
	unsigned key = (unsigned)(txn * 7 % P_KEYS);
	size_t kl = (size_t)snprintf(k, sizeof k, "p%02u", key);
	size_t vl = tval(txn, key, v);
	COK(quire_begin(db, 0, &w));
	CREQ(quire_txn_id(w) == txn, "parent commit got txn %llu, want %llu",
	     (ull)quire_txn_id(w), (ull)txn);
	COK(quire_put(w, k, kl, v, vl));
	model_put(m, k, kl, v, vl);
	if (del_too) {
		kl = (size_t)snprintf(k, sizeof k, "p%02u",
				      (unsigned)(txn * 3 % P_KEYS));
		if (model_del(m, k, kl))
			COK(quire_del(w, k, kl));
	}
	COK(quire_commit(w));
}

struct pstate {
	uint64_t a, fin;       /* the commit the child reads first, the last
				* the parent makes */
	uint64_t last_seq;     /* the last operation of fin */
	struct model at_a, at_fin;
};

static int p_read(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* The child: a failure is a message to the parent and exit status 1. */
static void p_say(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void p_say(int fd, const char *fmt, ...)
{
	char msg[256] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (write(fd, msg, sizeof msg) != sizeof msg)
		_exit(2);
}

#define PFAIL(...)                                                           \
	do {                                                                 \
		p_say(out, "FAIL " __VA_ARGS__);                             \
		_exit(1);                                                    \
	} while (0)

static void p_child(const char *path, const struct pstate *ps, int in,
		    int out)
{
	quire_options o;
	quire *db;
	quire_txn *old, *t, *w;
	quire_stat st;
	quire_val v;
	char go[256];
	int e;
	quire_options_init(&o);
	o.busy_timeout_ms = 10000;
	if ((e = quire_open(path, &o, &db)) != 0)
		PFAIL("child: open: %d (%s)", e, quire_errmsg());
	if ((e = quire_begin(db, QUIRE_RDONLY, &old)) != 0 ||
	    quire_txn_id(old) != ps->a || !wl_same(old, &ps->at_a))
		PFAIL("child: the first snapshot is not txn %llu (%d)",
		      (ull)ps->a, e);
	p_say(out, "ready");
	/* the parent's commits after its compaction wake a waiter here */
	if ((e = quire_wait(db, ps->last_seq, 60000)) != 0)
		PFAIL("child: waiting for operation %llu, committed after the "
		      "parent's compaction: %d (%s)",
		      (ull)ps->last_seq, e, quire_errmsg());
	if (p_read(in, go, sizeof go))
		_exit(3);
	/* the parent compacted and committed: the old snapshot reads on */
	if (!wl_same(old, &ps->at_a))
		PFAIL("child: the snapshot of txn %llu changed after the "
		      "parent's compaction",
		      (ull)ps->a);
	if ((e = quire_begin(db, QUIRE_RDONLY, &t)) != 0 ||
	    quire_txn_id(t) != ps->fin || !wl_same(t, &ps->at_fin))
		PFAIL("child: after the parent's compaction and commits a new "
		      "snapshot shows txn %llu (%d), want %llu with its state",
		      e ? 0ull : (ull)quire_txn_id(t), e, (ull)ps->fin);
	if ((e = quire_txn_stat(t, &st)) != 0 || st.history_txn != ps->a)
		PFAIL("child: history from txn %llu (%d), want %llu",
		      (ull)st.history_txn, e, (ull)ps->a);
	quire_abort(t);
	if ((e = quire_begin_at(db, ps->a - 1, &t)) != QUIRE_EHISTORY)
		PFAIL("child: AS-OF dropped txn %llu: %d", (ull)ps->a - 1, e);
	if ((e = quire_begin_at(db, ps->a, &t)) != 0 || !wl_same(t, &ps->at_a))
		PFAIL("child: AS-OF kept txn %llu: %d", (ull)ps->a, e);
	quire_abort(t);
	quire_abort(old);
	/* a commit of this process lands in the new file */
	if ((e = quire_begin(db, 0, &w)) != 0 ||
	    quire_txn_id(w) != ps->fin + 1 ||
	    (e = quire_put(w, "child", 5, "1", 1)) != 0 ||
	    (e = quire_commit(w)) != 0)
		PFAIL("child: commit after the parent's compaction: %d (%s)",
		      e, quire_errmsg());
	p_say(out, "committed");
	if (p_read(in, go, sizeof go))
		_exit(3);
	/* the parent compacted again */
	if ((e = quire_begin(db, QUIRE_RDONLY, &t)) != 0 ||
	    quire_txn_id(t) != ps->fin + 1 ||
	    quire_get(t, "child", 5, &v) != 0 ||
	    (e = quire_txn_stat(t, &st)) != 0 ||
	    st.history_txn != ps->fin + 1)
		PFAIL("child: after the second compaction: txn %llu (%d), "
		      "history from %llu, want both %llu",
		      e ? 0ull : (ull)quire_txn_id(t), e, (ull)st.history_txn,
		      (ull)ps->fin + 1);
	quire_abort(t);
	if ((e = quire_begin(db, 0, &w)) != 0 ||
	    (e = quire_put(w, "child", 5, "2", 1)) != 0 ||
	    (e = quire_commit(w)) != 0)
		PFAIL("child: commit after the second compaction: %d (%s)", e,
		      quire_errmsg());
	if ((e = quire_close(db)) != 0)
		PFAIL("child: close: %d", e);
	p_say(out, "done");
	_exit(0);
}

static void p_expect(int fd, pid_t pid, const char *want)
{
	char msg[256];
	if (p_read(fd, msg, sizeof msg)) {
		int st;
		waitpid(pid, &st, 0);
		failf("the child ended (status %#x) instead of saying \"%s\"",
		      st, want);
	}
	msg[sizeof msg - 1] = 0;
	if (strcmp(msg, want) != 0) {
		waitpid(pid, NULL, 0);
		failf("%s", msg);
	}
}

static void test_compact_process(void **state)
{
	(void)state;
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_stat st;
	quire_val v;
	struct pstate ps = {0};
	struct model m = {0};
	char path[4096];
	int down[2], up[2], status;
	snprintf(path, sizeof path, "%s", tu_path("process"));
	ctx("another process");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.checkpoint_ops = 30;
	COK(quire_open(path, &o, &db));
	for (uint64_t i = 1; i <= 150; i++)
		p_commit(db, &m, i, i % 5 == 0);
	ps.a = 150;
	model_copy(&ps.at_a, &m);
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	quire_abort(t);
	ps.last_seq = st.next_seq - 1;
	/* the parent's commits after the compaction, known to the child */
	ps.fin = 170;
	{
		struct model f = {0};
		model_copy(&f, &m);
		for (uint64_t i = ps.a + 1; i <= ps.fin; i++) {
			ps.last_seq++;
			uint8_t vb[4096];
			char k[8];
			unsigned key = (unsigned)(i * 7 % P_KEYS);
			size_t kl = (size_t)snprintf(k, sizeof k, "p%02u", key);
			model_put(&f, k, kl, vb, tval(i, key, vb));
			if (i % 5 == 0) {
				unsigned d = (unsigned)(i * 3 % P_KEYS);
				kl = (size_t)snprintf(k, sizeof k, "p%02u", d);
				ps.last_seq += (uint64_t)model_del(&f, k, kl);
			}
		}
		ps.at_fin = f;
	}
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		p_child(path, &ps, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	char go[256] = "go";
	p_expect(up[0], pid, "ready");
	COK(quire_compact(db, NULL));
	for (uint64_t i = ps.a + 1; i <= ps.fin; i++)
		p_commit(db, &m, i, i % 5 == 0);
	CREQ(m.n == ps.at_fin.n, "the parent's model is off");
	assert_int_equal(write(down[1], go, sizeof go), (ssize_t)sizeof go);
	p_expect(up[0], pid, "committed");
	/* the child's commit is in the parent's file */
	model_put(&m, "child", 5, "1", 1);
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == ps.fin + 1 && wl_same(t, &m),
	     "the child's commit after the compaction: the parent sees txn "
	     "%llu, want %llu with the child's key",
	     (ull)quire_txn_id(t), (ull)ps.fin + 1);
	quire_abort(t);
	COK(quire_compact(db, NULL));
	assert_int_equal(write(down[1], go, sizeof go), (ssize_t)sizeof go);
	p_expect(up[0], pid, "done");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	CREQ(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	     "child status %#x", status);
	model_put(&m, "child", 5, "2", 1);
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	CREQ(quire_txn_id(t) == ps.fin + 2 && wl_same(t, &m) &&
		     st.history_txn == ps.fin + 1 &&
		     quire_get(t, "child", 5, &v) == 0 && v.size == 1 &&
		     *(const char *)v.data == '2',
	     "after the child's second commit: txn %llu history from %llu",
	     (ull)quire_txn_id(t), (ull)st.history_txn);
	quire_abort(t);
	COK(quire_close(db));
	o.flags = 0;
	COK(quire_open(path, &o, &db));
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	CREQ(quire_txn_id(t) == ps.fin + 2 && wl_same(t, &m),
	     "after a reopen: txn %llu", (ull)quire_txn_id(t));
	quire_abort(t);
	wl_check_clean(db, g_ctx);
	COK(quire_close(db));
	close(down[1]);
	close(up[0]);
	model_clear(&m);
	model_clear(&ps.at_a);
	model_clear(&ps.at_fin);
	unlink(path);
}

static void commit_one(quire *db, const char *k, uint64_t want_txn);

/* A writer in another process commits while this one compacts again and
 * again: every one of its commits is in the file afterwards. */
#define PW_COMMITS 300

static void pw_child(const char *path, int in, int out)
{
	quire_options o;
	quire *db;
	quire_txn *w;
	char go[256], k[16], v[32];
	int e;
	quire_options_init(&o);
	o.busy_timeout_ms = 60000; /* the compaction's last round waits */
	if ((e = quire_open(path, &o, &db)) != 0)
		PFAIL("writer child: open: %d (%s)", e, quire_errmsg());
	p_say(out, "ready");
	if (p_read(in, go, sizeof go))
		_exit(3);
	for (int i = 0; i < PW_COMMITS; i++) {
		size_t kl = (size_t)snprintf(k, sizeof k, "c%03d", i);
		size_t vl = (size_t)snprintf(v, sizeof v, "child %d", i);
		if ((e = quire_begin(db, 0, &w)) != 0 ||
		    (e = quire_put(w, k, kl, v, vl)) != 0 ||
		    (e = quire_commit(w)) != 0)
			PFAIL("writer child: commit %d: %d (%s)", i, e,
			      quire_errmsg());
		if (i % 8 == 0)
			usleep(500);
	}
	if ((e = quire_close(db)) != 0)
		PFAIL("writer child: close: %d", e);
	p_say(out, "done");
	_exit(0);
}

static void test_compact_process_writer(void **state)
{
	(void)state;
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_stat st;
	struct model m = {0};
	char path[4096], go[256] = "go";
	int down[2], up[2], status, n = 0;
	snprintf(path, sizeof path, "%s", tu_path("pwriter"));
	ctx("a writer in another process during compactions");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.checkpoint_ops = 40;
	/* busy_timeout_ms stays 0: the compaction's last round waits for
	 * the lock the child keeps taking by itself */
	COK(quire_open(path, &o, &db));
	for (uint64_t i = 1; i <= 100; i++)
		p_commit(db, &m, i, i % 5 == 0);
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		pw_child(path, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	p_expect(up[0], pid, "ready");
	assert_int_equal(write(down[1], go, sizeof go), (ssize_t)sizeof go);
	/* compact while the child commits, until it is done */
	for (;;) {
		struct pollfd pfd = {.fd = up[0], .events = POLLIN};
		quire_compact_options co;
		quire_compact_options_init(&co);
		co.keep_last = n % 2 ? 50 : 0;
		int e = quire_compact(db, &co);
		if (e) {
			waitpid(pid, NULL, 0);
			failf("compaction %d while the child commits: %d (%s)",
			      n + 1, e, quire_errmsg());
		}
		n++;
		if (poll(&pfd, 1, 0) > 0)
			break;
		usleep(2000);
	}
	p_expect(up[0], pid, "done");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	CREQ(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x",
	     status);
	for (int i = 0; i < PW_COMMITS; i++) {
		char k[16], v[32];
		size_t kl = (size_t)snprintf(k, sizeof k, "c%03d", i);
		size_t vl = (size_t)snprintf(v, sizeof v, "child %d", i);
		model_put(&m, k, kl, v, vl);
	}
	for (int pass = 0; pass < 2; pass++) {
		COK(quire_begin(db, QUIRE_RDONLY, &t));
		COK(quire_txn_stat(t, &st));
		CREQ(st.txn_id == 100 + PW_COMMITS && wl_same(t, &m),
		     "%s: txn %llu, want %d with every commit of the child",
		     pass ? "reopened" : "after the compactions",
		     (ull)st.txn_id, 100 + PW_COMMITS);
		quire_abort(t);
		wl_check_clean(db, g_ctx);
		COK(quire_close(db));
		o.flags = 0;
		COK(quire_open(path, &o, &db));
	}
	COK(quire_close(db));
	print_message("# another process's writer: %d commits during %d "
		      "compactions\n",
		      PW_COMMITS, n);
	assert_true(n >= 2); /* about 20 today */
	close(down[1]);
	close(up[0]);
	model_clear(&m);
	unlink(path);
}

/* ==== handles of one file in one process ============================== */

struct hwait {
	quire *db;
	int rc;
};

static void *second_writer(void *p)
{
	struct hwait *h = p;
	quire_txn *w;
	if ((h->rc = quire_begin(h->db, 0, &w)) == 0 &&
	    (h->rc = quire_put(w, "second", 6, "2", 1)) == 0)
		h->rc = quire_commit(w);
	return NULL;
}

static void *compact_thread(void *p)
{
	struct hwait *h = p;
	h->rc = quire_compact(h->db, NULL);
	return NULL;
}

/* Handles opened before a compaction of another handle write into the new
 * file; one opened after it still takes turns with the compacting handle's
 * writer (docs/FORMAT.md invariant 13) instead of failing. */
static void test_compact_handles(void **state)
{
	(void)state;
	quire_options o;
	quire *db, *before, *after;
	quire_txn *w, *t;
	quire_stat st;
	quire_val v;
	pthread_t th;
	char path[4096];
	snprintf(path, sizeof path, "%s", tu_path("handles"));
	ctx("two handles of one file");
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	COK(quire_open(path, &o, &db));
	o.flags = 0;
	COK(quire_open(path, &o, &before));
	for (int round = 0; round < 4; round++) { /* inode numbers recur */
		uint64_t base = (uint64_t)round * 4; /* four commits a round */
		commit_one(db, "a", base + 1);
		COK(quire_compact(db, NULL));
		commit_one(before, "b", base + 2);
		COK(quire_begin(db, QUIRE_RDONLY, &t));
		COK(quire_txn_stat(t, &st));
		CREQ(st.txn_id == base + 2 && st.history_txn == base + 1 &&
			     quire_get(t, "b", 1, &v) == 0,
		     "round %d: the other handle's commit after the "
		     "compaction: txn %llu, history from %llu",
		     round, (ull)st.txn_id, (ull)st.history_txn);
		quire_abort(t);
		COK(quire_open(path, &o, &after));
		struct hwait h = {after, 1};
		COK(quire_begin(db, 0, &w));
		assert_int_equal(
			pthread_create(&th, NULL, second_writer, &h), 0);
		usleep(50000); /* let it reach the gate */
		COK(quire_put(w, "first", 5, "1", 1));
		COK(quire_commit(w));
		assert_int_equal(pthread_join(th, NULL), 0);
		CREQ(h.rc == 0,
		     "round %d: a handle opened after the compaction: its "
		     "writer got %d (%s) instead of waiting for the other "
		     "handle's",
		     round, h.rc, quire_strerror(h.rc));
		COK(quire_close(after));
	}
	/* two handles compact at once: one may find the other running */
	struct hwait h = {before, 1};
	assert_int_equal(pthread_create(&th, NULL, compact_thread, &h), 0);
	int e = quire_compact(db, NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	CREQ((e == 0 || e == QUIRE_EBUSY) &&
		     (h.rc == 0 || h.rc == QUIRE_EBUSY) &&
		     (e == 0 || h.rc == 0),
	     "two compactions at once: %d and %d", e, h.rc);
	COK(quire_begin(before, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	CREQ(st.txn_id == 16 && st.history_txn == 16 && st.key_count == 4,
	     "after two compactions at once: txn %llu, history from %llu, "
	     "%llu keys",
	     (ull)st.txn_id, (ull)st.history_txn, (ull)st.key_count);
	quire_abort(t);
	wl_check_clean(db, g_ctx);
	COK(quire_close(before));
	COK(quire_close(db));
	unlink(path);
}

/* ==== arguments and refusals ========================================== */

static void commit_one(quire *db, const char *k, uint64_t want_txn)
{
	quire_txn *w;
	COK(quire_begin(db, 0, &w));
	CREQ(quire_txn_id(w) == want_txn, "commit gets txn %llu, want %llu",
	     (ull)quire_txn_id(w), (ull)want_txn);
	COK(quire_put(w, k, strlen(k), "v", 1));
	COK(quire_commit(w));
}

static void test_compact_args(void **state)
{
	(void)state;
	static const double bad[] = {-0.1, 1.0, 1.5};
	struct memvfs *mv = memvfs_new(3);
	struct cvfs cv;
	quire_options o;
	quire *db, *ro;
	quire_txn *w, *t;
	quire_compact_options co;
	quire_stat st;
	cv_init(&cv, mv);
	ctx("arguments");
	quire_compact_options_init(NULL);
	assert_int_equal(quire_compact(NULL, NULL), QUIRE_EINVAL);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		o.auto_compact_ratio = bad[i];
		CREQ(qdb_open_vfs(PATH, &o, &cv.vfs, &db) == QUIRE_EINVAL,
		     "auto_compact_ratio %g accepted", bad[i]);
	}
	o.auto_compact_ratio = NAN;
	CREQ(qdb_open_vfs(PATH, &o, &cv.vfs, &db) == QUIRE_EINVAL,
	     "auto_compact_ratio NaN accepted");
	o.auto_compact_ratio = 0;
	COK(qdb_open_vfs(PATH, &o, &cv.vfs, &db));
	/* an empty database: commit 0 stays, and ids start at 1 */
	COK(quire_compact(db, NULL));
	COK(quire_begin(db, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	CREQ(st.txn_id == 0 && st.history_txn == 0 && st.history_seq == 1,
	     "empty, compacted: txn %llu, history from %llu seq %llu",
	     (ull)st.txn_id, (ull)st.history_txn, (ull)st.history_seq);
	quire_abort(t);
	commit_one(db, "a", 1);
	/* options not set up by quire_compact_options_init */
	memset(&co, 0, sizeof co);
	assert_int_equal(quire_compact(db, &co), QUIRE_EINVAL);
	co.version = QUIRE_COMPACT_OPTIONS_VERSION + 1;
	assert_int_equal(quire_compact(db, &co), QUIRE_EINVAL);
	/* the thread that holds the write transaction */
	COK(quire_begin(db, 0, &w));
	assert_int_equal(quire_compact(db, NULL), QUIRE_EBUSY);
	COK(quire_put(w, "b", 1, "v", 1));
	COK(quire_commit(w));
	/* a read-only handle may not, but sees another handle's */
	o.flags = QUIRE_RDONLY;
	COK(qdb_open_vfs(PATH, &o, &cv.vfs, &ro));
	assert_int_equal(quire_compact(ro, NULL), QUIRE_ERDONLY);
	COK(quire_begin(ro, QUIRE_RDONLY, &t)); /* held across it */
	COK(quire_compact(db, NULL));
	CREQ(quire_txn_id(t) == 2 && quire_get(t, "b", 1, &(quire_val){0}) == 0,
	     "a snapshot of the read-only handle changed");
	quire_abort(t);
	commit_one(db, "c", 3);
	COK(quire_begin(ro, QUIRE_RDONLY, &t));
	COK(quire_txn_stat(t, &st));
	CREQ(st.txn_id == 3 && st.history_txn == 2 && st.key_count == 3,
	     "the read-only handle after the other's compaction: txn %llu, "
	     "history from %llu, %llu keys",
	     (ull)st.txn_id, (ull)st.history_txn, (ull)st.key_count);
	quire_abort(t);
	COK(quire_close(ro));
	COK(quire_close(db));
	cv_done(&cv);
	memvfs_free(mv);
}

static int setup(void **state)
{
	(void)state;
	const char *e = getenv("QUIRE_LONG");
	long_tier = e && atoi(e) > 0;
	return 0;
}

int main(void)
{
	/* the tests with threads or processes first: a TSan build runs
	 * only those */
#define THREADED_TESTS                                                         \
	cmocka_unit_test(test_compact_threads),                                \
		cmocka_unit_test(test_compact_auto),                           \
		cmocka_unit_test(test_compact_auto_noyield),                   \
		cmocka_unit_test(test_compact_paced),                          \
		cmocka_unit_test(test_compact_auto_starting),                  \
		cmocka_unit_test(test_compact_process),                        \
		cmocka_unit_test(test_compact_process_writer)
	const struct CMUnitTest threaded[] = {THREADED_TESTS};
	const struct CMUnitTest tests[] = {
		THREADED_TESTS,
		cmocka_unit_test(test_compact_auto_raced),
		cmocka_unit_test(test_compact_fold_raced),
		cmocka_unit_test(test_compact_handles),
		cmocka_unit_test(test_compact_args),
		cmocka_unit_test(test_compact_leftover),
		cmocka_unit_test(test_compact_progress),
		cmocka_unit_test(test_compact_faults),
		cmocka_unit_test(test_compact_crash),
		cmocka_unit_test(test_compact_long_replay),
		cmocka_unit_test(test_compact_wide),
		cmocka_unit_test(test_compact_model),
	};
	size_t n = TSAN_BUILD ? sizeof threaded / sizeof *threaded
			      : sizeof tests / sizeof *tests;
	const char *only = getenv("QUIRE_COMPACT_ONLY"); /* e.g. "*crash" */
	if (only && *only)
		cmocka_set_test_filter(only);
	return _cmocka_run_group_tests("tests", tests, n, setup, NULL);
}
