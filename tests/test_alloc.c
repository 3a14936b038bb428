/*
 * test_alloc.c - allocation failure at every allocation of a workload.
 *
 * The program is linked with -Wl,--wrap=malloc,calloc,realloc,strdup,free,
 * so every allocation the library makes goes through the wrappers below
 * (the library is linked in whole as libquire_core.la). While the wrappers
 * are armed they count allocations and make the n-th one fail (return
 * NULL), once or from then on. Allocations of the in-memory VFS and of the
 * test itself are not counted: the VFS is reached through a shim that
 * suspends counting, and the test allocates nothing while armed.
 *
 * The workload (wl_plan from workload.c, played by this file) creates a
 * database, makes commits of puts (small, near the inline limit and out of
 * line) and deletes, some with metadata, some aborted, some folded into
 * the trees (a small checkpoint_ops, and quire_checkpoint), reads through
 * gets and cursors (also on the write transaction), walks the history
 * (quire_begin_at, quire_begin_at_time, quire_log_get, the changes feed,
 * key histories, diffs, quire_wait), checks the file and reopens it.
 * A first, unarmed run records the outcome of every call (its return code
 * and a hash of what it returned): the transcript. Then for n = 1, 2, ...
 * the workload runs with the n-th allocation failing, until a run finishes
 * without reaching allocation n. Every call must give the transcript's
 * outcome or fail with QUIRE_ENOMEM (so a failure never shows as wrong data,
 * a false QUIRE_NOTFOUND or a corruption report); at the first failure the
 * run stops and
 *   - with the failure still in force, everything it left open is closed
 *     (and, when the failure persists, quire_close() returns 0);
 *   - after a single failure, the same handle shows exactly the last
 *     acknowledged commit, and commits again: ENOMEM is not sticky;
 *   - reopened, the database passes quire_check and holds exactly the last
 *     acknowledged commit: quire_commit() promises that on failure nothing
 *     of the transaction is visible, so the commit in flight must not be
 *     there either (see KNOWN BUGS below);
 *   - no block the library allocated is left over: the wrappers keep the
 *     count of live blocks, which must be back to its value before the run
 *     (LeakSanitizer, in the ASan build, also checks at exit).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <execinfo.h>

#include "format.h"
#include "internal.h"
#include "memvfs.h"
#include "workload.h"

/* --- the allocator wrappers ------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

/* The library starts no threads, so plain variables do. */
static struct {
	int armed;
	int persist;
	uint64_t fail_at;     /* the counted allocation that fails */
	uint64_t count;       /* allocations counted since arming */
	uint64_t injected;    /* failures returned */
	uint64_t slot_writes; /* slot writes seen by the shim at the first */
	long live;            /* blocks allocated and not yet freed */
	int suspend;          /* inside the VFS: not the library's memory */
} al;

static uint64_t shim_slot_writes;

/* QUIRE_ALLOC_TRACE=1: print the stack of each run's first failing
 * allocation (module offsets: addr2line -f -e tests/test_alloc
 * names them). */
static int trace;

static void trace_here(void)
{
	void *pc[32];
	int n = backtrace(pc, 32);
	fprintf(stderr, "# allocation %llu fails at:\n",
		(unsigned long long)al.fail_at);
	backtrace_symbols_fd(pc + 1, n - 1, 2);
}

static int fail_now(void)
{
	if (!al.armed || al.suspend)
		return 0;
	al.count++;
	if (al.count == al.fail_at || (al.persist && al.count > al.fail_at)) {
		if (!al.injected) {
			al.slot_writes = shim_slot_writes;
			if (trace)
				trace_here();
		}
		al.injected++;
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t n)
{
	if (fail_now())
		return NULL;
	void *p = __real_malloc(n);
	if (p)
		al.live++;
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_now())
		return NULL;
	void *p = __real_calloc(n, size);
	if (p)
		al.live++;
	return p;
}

void *__wrap_realloc(void *p, size_t n)
{
	if (fail_now())
		return NULL; /* p stays allocated, as realloc promises */
	void *q = __real_realloc(p, n);
	if (!p && q)
		al.live++;
	else if (p && !n && !q)
		al.live--;
	return q;
}

char *__wrap_strdup(const char *s)
{
	if (fail_now())
		return NULL;
	char *p = __real_strdup(s);
	if (p)
		al.live++;
	return p;
}

void __wrap_free(void *p)
{
	if (p)
		al.live--;
	__real_free(p);
}

static void arm(uint64_t fail_at, int persist)
{
	al.armed = 1;
	al.persist = persist;
	al.fail_at = fail_at;
	al.count = al.injected = al.slot_writes = 0;
}

static void disarm(void)
{
	al.armed = 0;
}

/* --- a VFS shim: the memvfs's own allocations are not the library's ---- */

struct shim {
	qvfs base;
	qvfs *in;
};

struct shim_file {
	qvfs_file base;
	qvfs_file *in;
};

#define IN(f) (((struct shim_file *)(f))->in)

static ssize_t sh_read(qvfs_file *f, void *buf, size_t n, uint64_t off)
{
	al.suspend++;
	ssize_t r = IN(f)->ops->read(IN(f), buf, n, off);
	al.suspend--;
	return r;
}

/* A 64-byte write at a slot is the last write of a commit: from then on
 * the commit counts, for this process and after a reopen. */
static void note_slot(size_t n, uint64_t off)
{
	if (n == QF_SLOT_SIZE && (off == QF_SLOT0_OFF || off == QF_SLOT1_OFF))
		shim_slot_writes++;
}

static ssize_t sh_write(qvfs_file *f, const void *buf, size_t n, uint64_t off)
{
	al.suspend++;
	ssize_t r = IN(f)->ops->write(IN(f), buf, n, off);
	al.suspend--;
	if (r == (ssize_t)n)
		note_slot(n, off);
	return r;
}

static ssize_t sh_writev(qvfs_file *f, const struct iovec *iov, int n,
			 uint64_t off)
{
	al.suspend++;
	ssize_t r = IN(f)->ops->writev(IN(f), iov, n, off);
	al.suspend--;
	if (n == 1 && r == (ssize_t)iov[0].iov_len)
		note_slot(iov[0].iov_len, off);
	return r;
}

static int sh_sync(qvfs_file *f)
{
	al.suspend++;
	int r = IN(f)->ops->sync(IN(f));
	al.suspend--;
	return r;
}

static int sh_truncate(qvfs_file *f, uint64_t size)
{
	al.suspend++;
	int r = IN(f)->ops->truncate(IN(f), size);
	al.suspend--;
	return r;
}

static int sh_size(qvfs_file *f, uint64_t *size)
{
	al.suspend++;
	int r = IN(f)->ops->size(IN(f), size);
	al.suspend--;
	return r;
}

static int sh_lock(qvfs_file *f, int op)
{
	al.suspend++;
	int r = IN(f)->ops->lock(IN(f), op);
	al.suspend--;
	return r;
}

static const void *sh_map(qvfs_file *f, size_t len)
{
	const void *r = NULL;
	al.suspend++;
	if (IN(f)->ops->map)
		r = IN(f)->ops->map(IN(f), len);
	al.suspend--;
	return r;
}

static int sh_identity(qvfs_file *f, uint64_t *dev, uint64_t *ino)
{
	int r = -ENOSYS;
	al.suspend++;
	if (IN(f)->ops->identity)
		r = IN(f)->ops->identity(IN(f), dev, ino);
	al.suspend--;
	return r;
}

static int sh_attrs(qvfs_file *f, struct qvfs_attrs *a)
{
	int r = -ENOTSUP;
	al.suspend++;
	if (IN(f)->ops->attrs)
		r = IN(f)->ops->attrs(IN(f), a);
	al.suspend--;
	return r;
}

static int sh_set_owner(qvfs_file *f, uint32_t uid, uint32_t gid)
{
	int r = -ENOTSUP;
	al.suspend++;
	if (IN(f)->ops->set_owner)
		r = IN(f)->ops->set_owner(IN(f), uid, gid);
	al.suspend--;
	return r;
}

static int sh_set_mode(qvfs_file *f, unsigned mode)
{
	int r = -ENOTSUP;
	al.suspend++;
	if (IN(f)->ops->set_mode)
		r = IN(f)->ops->set_mode(IN(f), mode);
	al.suspend--;
	return r;
}

static void sh_close(qvfs_file *f)
{
	al.suspend++;
	IN(f)->ops->close(IN(f));
	free(f);
	al.suspend--;
}

static const struct qvfs_file_ops sh_file_ops = {
	.read = sh_read,
	.write = sh_write,
	.writev = sh_writev,
	.sync = sh_sync,
	.truncate = sh_truncate,
	.size = sh_size,
	.lock = sh_lock,
	.map = sh_map,
	.identity = sh_identity,
	.close = sh_close,
	.attrs = sh_attrs,
	.set_owner = sh_set_owner,
	.set_mode = sh_set_mode,
};

#define INV(v) (((struct shim *)(v))->in)

static int sh_open(qvfs *v, const char *path, int flags, unsigned mode,
		   qvfs_file **out)
{
	qvfs_file *in;
	int e;
	al.suspend++;
	e = INV(v)->open(INV(v), path, flags, mode, &in);
	if (!e) {
		struct shim_file *f = malloc(sizeof *f);
		assert_non_null(f);
		f->base.ops = &sh_file_ops;
		f->in = in;
		*out = &f->base;
	}
	al.suspend--;
	return e;
}

static int sh_remove(qvfs *v, const char *path)
{
	al.suspend++;
	int r = INV(v)->remove(INV(v), path);
	al.suspend--;
	return r;
}

static int sh_rename(qvfs *v, const char *from, const char *to, int noreplace)
{
	al.suspend++;
	int r = INV(v)->rename(INV(v), from, to, noreplace);
	al.suspend--;
	return r;
}

static int sh_sync_dir(qvfs *v, const char *path)
{
	al.suspend++;
	int r = INV(v)->sync_dir(INV(v), path);
	al.suspend--;
	return r;
}

static uint64_t sh_now_ns(qvfs *v)
{
	al.suspend++;
	uint64_t r = INV(v)->now_ns(INV(v));
	al.suspend--;
	return r;
}

static uint64_t sh_mono_ns(qvfs *v)
{
	al.suspend++;
	uint64_t r = INV(v)->mono_ns(INV(v));
	al.suspend--;
	return r;
}

static void sh_sleep_ns(qvfs *v, uint64_t ns)
{
	al.suspend++;
	INV(v)->sleep_ns(INV(v), ns);
	al.suspend--;
}

static uint64_t sh_boot_id(qvfs *v)
{
	al.suspend++;
	uint64_t r = INV(v)->boot_id(INV(v));
	al.suspend--;
	return r;
}

static void sh_random(qvfs *v, void *buf, size_t n)
{
	al.suspend++;
	INV(v)->random(INV(v), buf, n);
	al.suspend--;
}

/* The resolved name is allocated by the VFS (never made to fail) and
 * freed by the library: the count of live blocks still balances. */
static int sh_resolve(qvfs *v, const char *path, char **out)
{
	int r = -ENOTSUP;
	al.suspend++;
	if (INV(v)->resolve)
		r = INV(v)->resolve(INV(v), path, out);
	al.suspend--;
	return r;
}

static void shim_init(struct shim *s, qvfs *in)
{
	s->base = (qvfs){.open = sh_open,
			 .remove = sh_remove,
			 .rename = sh_rename,
			 .sync_dir = sh_sync_dir,
			 .now_ns = sh_now_ns,
			 .mono_ns = sh_mono_ns,
			 .sleep_ns = sh_sleep_ns,
			 .boot_id = sh_boot_id,
			 .random = sh_random,
			 .resolve = sh_resolve};
	s->in = in;
}

/* --- the transcript ---------------------------------------------------- */

struct outcome {
	int rc;
	uint64_t h;
};

static uint64_t hb(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	h ^= n;
	h *= 0x100000001b3ull;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t hu(uint64_t h, uint64_t x)
{
	return hb(h, &x, sizeof x);
}

static uint64_t hval(uint64_t h, quire_val v)
{
	return hb(h, v.data, v.size);
}

#define PATH "/alloc.quire"

/* One run of the workload, and what it left open. */
struct ctx {
	const struct wl_plan *p;
	qvfs *vfs;
	int recording;             /* the unarmed run that makes the transcript */
	struct outcome *tr;        /* the transcript */
	size_t ntr, captr;
	size_t nstep;

	quire *db;
	quire_txn *t, *t2, *t3;
	quire_cursor *cur;
	quire_changes *feed;
	quire_history *hist;
	quire_diff *diff;

	int created, acked, inflight;
	uint64_t slot_base;        /* slot writes before the commit in flight */
	int err;                   /* the failure that stopped the run */
	char where[48], msg[256];
};

/* Calls whose documentation in quire.h does not list QUIRE_ENOMEM: they
 * must not fail for want of memory. */
static const char *const undocumented[] = {"quire_cursor_key", "quire_close"};

/* Record or compare the outcome of one call; 1 stops the run. */
static int step(struct ctx *c, const char *what, int rc, uint64_t h)
{
	size_t i = c->nstep++;
	if (c->recording) {
		if (rc < 0 && rc != QUIRE_NOTFOUND)
			fail_msg("unarmed run: %s failed: %s (%s)", what,
				 quire_strerror(rc), quire_errmsg());
		if (c->ntr == c->captr) { /* not counted as live blocks */
			c->captr = c->captr ? 2 * c->captr : 1024;
			c->tr = __real_realloc(c->tr, c->captr * sizeof *c->tr);
			assert_non_null(c->tr);
		}
		c->tr[c->ntr++] = (struct outcome){rc, h};
		return 0;
	}
	if (i < c->ntr && c->tr[i].rc == rc && c->tr[i].h == h)
		return 0;
	if (rc == 0 || rc == QUIRE_NOTFOUND || i >= c->ntr)
		fail_msg("allocation %llu%s: step %zu, %s: returned %d with "
			 "hash %016llx, the unarmed run %d with %016llx",
			 (unsigned long long)al.fail_at,
			 al.persist ? " on" : "", i, what, rc,
			 (unsigned long long)h, i < c->ntr ? c->tr[i].rc : 99,
			 (unsigned long long)(i < c->ntr ? c->tr[i].h : 0));
	if (rc != QUIRE_ENOMEM || !al.injected)
		fail_msg("allocation %llu%s: step %zu, %s failed with %s, not "
			 "QUIRE_ENOMEM (%llu allocations failed): %s",
			 (unsigned long long)al.fail_at,
			 al.persist ? " on" : "", i, what, quire_strerror(rc),
			 (unsigned long long)al.injected, quire_errmsg());
	if (!*quire_errmsg())
		fail_msg("allocation %llu: %s failed without a message",
			 (unsigned long long)al.fail_at, what);
	for (size_t u = 0; u < sizeof undocumented / sizeof *undocumented; u++)
		if (strcmp(what, undocumented[u]) == 0)
			fail_msg("allocation %llu: %s failed with QUIRE_ENOMEM, "
				 "which its documentation does not list",
				 (unsigned long long)al.fail_at, what);
	c->err = rc;
	snprintf(c->where, sizeof c->where, "%s", what);
	snprintf(c->msg, sizeof c->msg, "%.250s", quire_errmsg());
	return 1;
}

/* Inside the workload functions: the outcome of one call. */
#define STEP(what_, rc_, h_)                                                 \
	do {                                                                 \
		if (step(c, (what_), (rc_), (h_)))                           \
			return 1;                                            \
	} while (0)
#define RUN(f_)                                                              \
	do {                                                                 \
		if (f_)                                                      \
			return 1;                                            \
	} while (0)

static int open_db(struct ctx *c, unsigned extra)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = extra | (c->p->o.nosync ? QUIRE_NOSYNC : 0);
	o.node_size = c->p->o.node_size;
	o.cache_size = (size_t)1 << 20;
	o.auto_compact_ratio = 0; /* the countdown must be deterministic */
	o.checkpoint_ops = c->p->o.checkpoint_ops;
	int e = qdb_open_vfs(PATH, &o, c->vfs, &c->db);
	STEP("quire_open", e, 0);
	if (extra & QUIRE_CREATE)
		c->created = 1;
	return 0;
}

static int close_db(struct ctx *c)
{
	int e = quire_close(c->db);
	c->db = NULL;
	STEP("quire_close", e, 0);
	return 0;
}

/* The key and value at the cursor (after a move that returned rc). */
static int at_cursor(struct ctx *c, int rc, uint64_t *h)
{
	quire_val k, v;
	int e;
	if (rc)
		return 0;
	e = quire_cursor_key(c->cur, &k);
	STEP("quire_cursor_key", e, e ? 0 : hval(0, k));
	e = quire_cursor_value(c->cur, &v);
	STEP("quire_cursor_value", e, e ? 0 : hval(0, v));
	*h = hval(hval(*h, k), v);
	return 0;
}

/* Scan c->t: forward to the end, a few steps back from the end, a seek. */
static int scan(struct ctx *c, int forward_max)
{
	uint64_t h = 0;
	int e = quire_cursor_open(c->t, &c->cur), n = 0;
	STEP("quire_cursor_open", e, 0);
	for (e = quire_cursor_first(c->cur); !e; e = quire_cursor_next(c->cur)) {
		STEP(n ? "quire_cursor_next" : "quire_cursor_first", e, 0);
		RUN(at_cursor(c, e, &h));
		if (++n == forward_max)
			break;
	}
	if (e)
		STEP(n ? "quire_cursor_next" : "quire_cursor_first", e, 0);
	e = quire_cursor_last(c->cur);
	STEP("quire_cursor_last", e, 0);
	RUN(at_cursor(c, e, &h));
	for (int i = 0; !e && i < 3; i++) {
		e = quire_cursor_prev(c->cur);
		STEP("quire_cursor_prev", e, 0);
		RUN(at_cursor(c, e, &h));
	}
	e = quire_cursor_seek(c->cur, "k02", 3);
	STEP("quire_cursor_seek", e, 0);
	RUN(at_cursor(c, e, &h));
	STEP("scan", 0, h);
	quire_cursor_close(c->cur);
	c->cur = NULL;
	return 0;
}

static int get(struct ctx *c, quire_txn *t, const void *k, size_t kl)
{
	quire_val v;
	uint64_t seq;
	int e = quire_get_seq(t, k, kl, &v, &seq);
	STEP("quire_get", e, e ? 0 : hu(hval(0, v), seq));
	return 0;
}

/* Reads of the latest commit after commit cno. */
static int reads(struct ctx *c, int cno)
{
	const struct wl_commit *wc = &c->p->c[cno];
	quire_stat st;
	int e = quire_begin(c->db, QUIRE_RDONLY, &c->t);
	STEP("quire_begin", e, 0);
	RUN(get(c, c->t, wc->ops[0].key, wc->ops[0].klen));
	RUN(get(c, c->t, wc->ops[wc->nops - 1].key, wc->ops[wc->nops - 1].klen));
	RUN(get(c, c->t, "k0100", 5));
	e = quire_txn_stat(c->t, &st);
	STEP("quire_txn_stat", e, hb(0, &st, sizeof st));
	RUN(scan(c, cno % 3 == 0 ? 1000 : 8));
	quire_abort(c->t);
	c->t = NULL;
	return 0;
}

/* The history API on the latest commit. */
static int history(struct ctx *c, int full)
{
	quire_stat st;
	quire_log_entry le;
	quire_change ch;
	quire_key_version kv;
	quire_delta d;
	uint64_t h = 0, mid_time = 0;
	int e = quire_begin(c->db, QUIRE_RDONLY, &c->t);
	STEP("quire_begin", e, 0);
	QOK(quire_txn_stat(c->t, &st));
	uint64_t last = st.txn_id, mid = last / 2 ? last / 2 : 1;

	for (uint64_t id = 1; id <= last + 1; id++) {
		e = quire_log_get(c->t, id, &le);
		STEP("quire_log_get", e,
		     e ? 0
		       : hval(hu(hu(hu(hu(hu(0, le.txn_id), le.time_ns),
				       le.first_seq),
				    le.next_seq),
				 le.bytes),
			      le.meta));
		if (!e && id == mid)
			mid_time = le.time_ns;
	}

	e = quire_changes_open(c->t, full ? 0 : st.next_seq / 2, &c->feed);
	STEP("quire_changes_open", e, 0);
	while ((e = quire_changes_next(c->feed, &ch)) == 0) {
		h = hval(hval(hu(hu(hu(h, ch.seq), ch.txn_id), (uint64_t)ch.op),
			      ch.key),
			 ch.value);
		STEP("quire_changes_next", e, 0);
	}
	STEP("quire_changes_next", e, h);
	quire_changes_close(c->feed);
	c->feed = NULL;

	static const char *const keys[] = {"k0100", "k0200", "k0300"};
	for (int i = 0; i < (full ? 3 : 1); i++) {
		h = 0;
		e = quire_history_open(c->t, keys[i], 5, &c->hist);
		STEP("quire_history_open", e, 0);
		while ((e = quire_history_next(c->hist, &kv)) == 0) {
			h = hval(hu(hu(hu(hu(h, kv.seq), kv.txn_id), kv.time_ns),
				    (uint64_t)kv.op),
				 kv.value);
			STEP("quire_history_next", e, 0);
		}
		STEP("quire_history_next", e, h);
		quire_history_close(c->hist);
		c->hist = NULL;
	}

	e = quire_begin_at(c->db, mid, &c->t2);
	STEP("quire_begin_at", e, 0);
	RUN(get(c, c->t2, "k0100", 5));
	e = quire_begin_at_time(c->db, mid_time, QUIRE_AT_OR_BEFORE, &c->t3);
	STEP("quire_begin_at_time", e, 0);
	STEP("quire_txn_id", 0, quire_txn_id(c->t3));
	quire_abort(c->t3);
	c->t3 = NULL;

	h = 0;
	e = quire_diff_open(c->t2, c->t, &c->diff);
	STEP("quire_diff_open", e, 0);
	while ((e = quire_diff_next(c->diff, &d)) == 0) {
		h = hval(hval(hu(hu(hval(h, d.key), (uint64_t)d.in_a),
				 (uint64_t)d.in_b),
			      d.in_a ? d.a : (quire_val){0}),
			 d.in_b ? d.b : (quire_val){0});
		STEP("quire_diff_next", e, 0);
	}
	STEP("quire_diff_next", e, h);
	quire_diff_close(c->diff);
	c->diff = NULL;
	quire_abort(c->t2);
	c->t2 = NULL;

	if (full) {
		uint64_t probs;
		e = quire_check(c->t, NULL, NULL, &probs);
		STEP("quire_check", e, e ? 0 : probs);
	}
	quire_abort(c->t);
	c->t = NULL;
	e = quire_wait(c->db, st.next_seq - 1, 0);
	STEP("quire_wait", e, 0);
	return 0;
}

/* The write transaction of commit cno, up to and including its commit. */
static int commit(struct ctx *c, int cno)
{
	const struct wl_commit *wc = &c->p->c[cno];
	int e;
	if (wc->abort_before) { /* large values appended, then dropped */
		static uint8_t junk[3000];
		e = quire_begin(c->db, 0, &c->t);
		STEP("quire_begin", e, 0);
		for (int i = 0; i < 2; i++) {
			junk[0] = (uint8_t)i;
			e = quire_put(c->t, "junk", 4, junk, sizeof junk);
			STEP("quire_put", e, 0);
		}
		RUN(get(c, c->t, "junk", 4));
		quire_abort(c->t);
		c->t = NULL;
	}
	e = quire_begin(c->db, 0, &c->t);
	STEP("quire_begin", e, 0);
	c->inflight = 1;
	for (int i = 0; i < wc->nops; i++) {
		const struct wl_op *op = &wc->ops[i];
		e = op->del ? quire_del(c->t, op->key, op->klen)
			    : quire_put(c->t, op->key, op->klen, op->val,
					op->vlen);
		STEP(op->del ? "quire_del" : "quire_put", e, 0);
	}
	if (cno % 2 == 0) { /* the write transaction reads its own writes */
		RUN(get(c, c->t, wc->ops[0].key, wc->ops[0].klen));
		RUN(scan(c, 6));
	}
	c->slot_base = shim_slot_writes;
	if (cno % 3 == 0) {
		char meta[32];
		int n = snprintf(meta, sizeof meta, "commit %d", cno);
		e = quire_commit_with(c->t, meta, (size_t)n);
	} else {
		e = quire_commit(c->t);
	}
	c->t = NULL;
	STEP("quire_commit", e, 0);
	c->inflight = 0;
	c->acked = cno;
	return 0;
}

static int workload(struct ctx *c)
{
	const struct wl_plan *p = c->p;
	RUN(open_db(c, QUIRE_CREATE));
	for (int cno = 1; cno <= p->o.commits; cno++) {
		const struct wl_commit *wc = &p->c[cno];
		if (wc->reopen_before) {
			RUN(close_db(c));
			RUN(open_db(c, 0));
		}
		RUN(commit(c, cno));
		if (wc->sync_after)
			STEP("quire_sync", quire_sync(c->db), 0);
		if (cno % 5 == 0) {
			c->slot_base = shim_slot_writes;
			STEP("quire_checkpoint", quire_checkpoint(c->db), 0);
		}
		if (cno == p->o.commits / 2) { /* keeping all: history reads on */
			quire_compact_options co;
			quire_compact_options_init(&co);
			co.keep_last = UINT64_MAX;
			c->slot_base = shim_slot_writes;
			STEP("quire_compact", quire_compact(c->db, &co), 0);
		}
		RUN(reads(c, cno));
		if (cno % 4 == 0)
			RUN(history(c, 0));
	}
	RUN(close_db(c));
	RUN(open_db(c, 0));
	RUN(history(c, 1));
	RUN(close_db(c));
	return 0;
}

/* Close what the stopped run left open; all of it must work without
 * memory, since it runs with the failure still in force. */
static void close_all(struct ctx *c)
{
	quire_cursor_close(c->cur);
	quire_changes_close(c->feed);
	quire_history_close(c->hist);
	quire_diff_close(c->diff);
	quire_abort(c->t3);
	quire_abort(c->t2);
	quire_abort(c->t);
	c->cur = NULL;
	c->feed = NULL;
	c->hist = NULL;
	c->diff = NULL;
	c->t = c->t2 = c->t3 = NULL;
}

/* Content of a snapshot of db: the index of the state in lo..hi it
 * equals, or -1. */
static int content(quire *db, const struct wl_plan *p, int lo, int hi)
{
	quire_txn *t;
	int found = -1;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	for (int i = hi; i >= lo && found < 0; i--)
		if (wl_same(t, &p->state[i]))
			found = i;
	quire_abort(t);
	return found;
}

/* After a transient failure the handle must work as before: ENOMEM leaves
 * nothing behind that refuses later commits. The key put here is deleted
 * again, so the content stays the plan's. */
static int handle_recovers(quire *db, const struct wl_plan *p, int lo,
			   int hi, const char *ctx)
{
	quire_txn *t;
	quire_val v;
	int found = content(db, p, lo, hi);
	if (found < 0)
		return -1;
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "post", 4, "x", 1));
	QOK(quire_commit(t));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_get(t, "post", 4, &v));
	quire_abort(t);
	QOK(quire_begin(db, 0, &t));
	QOK(quire_del(t, "post", 4));
	QOK(quire_commit(t));
	if (content(db, p, found, found) != found)
		fail_msg("%s: the handle lost state %d after two commits", ctx,
			 found);
	return found;
}

/* Run the workload with allocation n failing (n = 0: none, recording the
 * transcript). Returns the allocations the run counted. */
static uint64_t run_once(struct ctx *ref, uint64_t n, int persist,
			 const char *name)
{
	long live0 = al.live;
	struct memvfs *m = memvfs_new(ref->p->o.seed);
	struct shim sh;
	struct ctx c = *ref;
	char ctx[400];
	shim_init(&sh, memvfs_vfs(m));
	c.vfs = &sh.base;
	c.recording = n == 0;

	arm(n ? n : UINT64_MAX, persist);
	int stopped = workload(&c);
	/* with a persistent failure still in force: teardown needs no
	 * memory */
	close_all(&c);
	uint64_t counted = al.count;
	if (n == 0) {
		ref->tr = c.tr;
		ref->ntr = c.ntr;
		ref->captr = c.captr;
	}
	snprintf(ctx, sizeof ctx, "%s, allocation %llu%s failing (%s: %s)",
		 name, (unsigned long long)n, persist ? " and on" : "",
		 c.where, c.msg);
	if (!stopped && n && c.nstep != c.ntr)
		fail_msg("%s: %zu calls, the unarmed run made %zu", ctx, c.nstep,
			 c.ntr);

	/* Did the failure come inside a commit after its slot write? */
	int late = stopped && (strcmp(c.where, "quire_commit") == 0 ||
			       strcmp(c.where, "quire_checkpoint") == 0) &&
		   al.slot_writes > c.slot_base;
	if (late && c.inflight)
		fail_msg("%s: the commit failed after it became durable", ctx);
	int lo = c.acked, hi = c.acked + (late && c.inflight);

	if (c.db && persist) {
		int e = quire_close(c.db);
		if (e)
			fail_msg("%s: close with the failure in force: %s", ctx,
				 quire_strerror(e));
		c.db = NULL;
	}
	disarm();
	if (c.db && handle_recovers(c.db, c.p, lo, hi, ctx) < 0)
		fail_msg("%s: the handle shows none of the states %d..%d", ctx,
			 lo, hi);
	if (c.db)
		QOK(quire_close(c.db));

	/* reopened: exactly what was acknowledged */
	struct wl_result r = {.created = c.created};
	wl_verify(c.p, memvfs_vfs(m), PATH, &r, lo, hi, ctx, NULL);
	memvfs_free(m);
	if (al.live != live0)
		fail_msg("%s: %ld blocks leaked", ctx, al.live - live0);
	return counted;
}

static uint64_t total_points, total_runs;

static void alloc_everywhere(const struct wl_opts *o, const char *name)
{
	struct wl_plan p;
	wl_plan_make(&p, o);
	struct ctx ref = {.p = &p};
	uint64_t points = run_once(&ref, 0, 0, name);
	uint64_t runs = 0;
	/* QUIRE_ALLOC_ONLY=n: just the runs of allocation n, to replay one */
	const char *only = getenv("QUIRE_ALLOC_ONLY");
	uint64_t first = only ? strtoull(only, NULL, 10) : 1;
	for (int persist = 0; persist < 2; persist++) {
		for (uint64_t n = first;; n++) {
			run_once(&ref, n, persist, name);
			runs++;
			if (!al.injected || only)
				break;
		}
	}
	print_message("# %s: %llu allocation failure points, %llu runs\n",
		      name, (unsigned long long)points,
		      (unsigned long long)runs);
	/* over a thousand points today; each failed once and from then on
	 * (QUIRE_ALLOC_ONLY: just the one) */
	assert_true(points >= 300);
	assert_true(only || runs > 2 * points);
	total_points += points;
	total_runs += runs;
	__real_free(ref.tr);
	wl_plan_free(&p);
}

static void test_sync(void **state)
{
	(void)state;
	struct wl_opts o = {.seed = tu_seed(31), .commits = 12, .max_ops = 8,
			    .node_size = 512, .big_every = 4, .reopen_every = 6,
			    .abort_every = 5, .checkpoint_ops = 12};
	alloc_everywhere(&o, "sync");
}

static void test_nosync(void **state)
{
	(void)state;
	struct wl_opts o = {.seed = tu_seed(32), .commits = 9, .max_ops = 10,
			    .node_size = 1024, .nosync = 1, .sync_every = 3,
			    .big_every = 5, .reopen_every = 4, .checkpoint_ops = 1};
	alloc_everywhere(&o, "nosync");
}

static int report(void **state)
{
	(void)state;
	print_message("# allocation failure points: %llu (%llu runs)\n",
		      (unsigned long long)total_points,
		      (unsigned long long)total_runs);
	return 0;
}

int main(void)
{
	trace = getenv("QUIRE_ALLOC_TRACE") != NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_nosync),
	};
	return cmocka_run_group_tests(tests, NULL, report);
}
