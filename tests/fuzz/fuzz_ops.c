/*
 * fuzz_ops.c - libFuzzer target: the input is a program of operations run
 * against a database on the in-memory VFS and against the reference model.
 *
 * Byte 0 chooses the options (node size, checkpoint threshold, NOSYNC);
 * then each operation is one byte (its low 4 bits) followed by its
 * arguments. Keys come from a small space so that overwrites and deletes
 * hit; values come in and out of line. Crashes are either immediate
 * (memvfs_crash between operations) or armed to strike at the n-th write,
 * sync or truncate from then on, in the middle of whatever runs then.
 *
 * What must hold (a violation is a bug and calls abort()): before a crash
 * every call succeeds and returns what the model says; after every commit
 * and reopen the content equals the model; after a crash the reopened file
 * is one of the commits the crash-safety contract allows (the last
 * acknowledged one or the one in flight; with QUIRE_NOSYNC after a power
 * cut, any commit from the last durable one on), recognised by its txn id
 * and then compared whole, and quire_check finds nothing. AS-OF snapshots
 * of recent commits equal their models, and diffs against them report
 * exactly the keys that differ.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char path[] = "/ops.quire";

enum {
	OP_PUT, OP_DEL, OP_COMMIT, OP_ABORT, OP_CHECKPOINT, OP_REOPEN,
	OP_CRASH, OP_CRASHAT, OP_BEGINAT, OP_PUTN, OP_GET, OP_SYNC,
	OP_COMMITWITH, OP_SCAN, OP_CLOCK, OP_COMPACT
};

/* A commit's content, by txn id. */
struct state {
	uint64_t txn;
	struct model m;
};

#define RING 6    /* recent commits kept for AS-OF checks */
#define MAXOK 24  /* NOSYNC: commits kept since the last durable one */

struct run {
	const uint8_t *p, *end;
	struct memvfs *m;
	quire_options o;
	quire *db;
	quire_txn *w;          /* the write transaction, or NULL */
	uint64_t w_id;
	int w_ops;             /* operations that changed w */
	struct model wm;       /* what w must see */
	/* ok[0..nok): commits a power cut may leave (the durable one first);
	 * ok[nok - 1] is the last acknowledged one */
	struct state ok[MAXOK];
	int nok;
	struct state infl;     /* the commit in flight when a crash struck */
	int has_infl;
	/* commits that were in flight at a crash and not found after it: their
	 * bytes may still be on disk past the slot's latest commit, where a
	 * walk after a power cut can find them again, until a sync makes the
	 * writer's tail cut durable (see recover) */
	struct state orphan[4];
	int norphan;
	struct state ring[RING]; /* ring[0]: txn 0, the empty database */
	int nring, ring_next;
	int armed, crash_mode;
	uint64_t crash_seed;
	uint64_t vctr;
	char kbuf[4096], vbuf[12000];
};

static void fail(const char *what, int e)
{
	fprintf(stderr, "fuzz_ops: %s: %d %s (%s)\n", what, e,
		quire_strerror(e), quire_errmsg());
	abort();
}

static unsigned byte(struct run *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

static struct state *acked(struct run *r)
{
	return &r->ok[r->nok - 1];
}

static int crashed(struct run *r)
{
	return memvfs_crashed(r->m);
}

/* Before the armed crash strikes, nothing may fail. */
static int must(struct run *r, const char *what, int e)
{
	if (e && !crashed(r))
		fail(what, e);
	return e;
}

static void state_set(struct state *s, uint64_t txn, const struct model *m)
{
	s->txn = txn;
	model_copy(&s->m, m);
}

/* A key: 192 short ones for collisions, or literal bytes, or a long one. */
static size_t key(struct run *r)
{
	unsigned b = byte(r);
	if (b < 0xc0) {
		r->kbuf[0] = (char)('a' + (b >> 4));
		r->kbuf[1] = (char)('0' + (b & 15));
		return 2;
	}
	size_t n = b - 0xc0;
	if (n == 63) {
		/* longer than a 512-byte node can hold twice */
		n = 300 + 50 * (byte(r) & 63);
		memset(r->kbuf, 'L', n);
		r->kbuf[n - 1] = (char)byte(r);
		return n;
	}
	for (size_t i = 0; i < n; i++)
		r->kbuf[i] = (char)byte(r);
	return n;
}

static size_t value(struct run *r)
{
	unsigned b = byte(r);
	size_t n = b < 0xf0 ? b : 1000 + 700 * (size_t)(b & 15);
	uint64_t c = ++r->vctr;
	for (size_t i = 0; i < n; i++)
		r->vbuf[i] = (char)(c * 131 + i * 7);
	return n;
}

static int cmpb(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : (al > bl) - (al < bl);
}

/* Whether the whole content of t is m: scans both ways and a get per key.
 * Returns NULL if it is, else what differs (*err: the error, if any). */
static const char *differ(const struct model *m, quire_txn *t, int *err)
{
	quire_cursor *c;
	quire_val k, v;
	const char *why = NULL;
	size_t i = 0;
	int e;
	if ((*err = quire_cursor_open(t, &c)))
		return "cursor_open";
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c), i++) {
		if (i >= m->n) {
			why = "more keys than the model";
			goto out;
		}
		if ((e = quire_cursor_key(c, &k)) ||
		    (e = quire_cursor_value(c, &v))) {
			why = "cursor read failed";
			goto out;
		}
		if (cmpb(k.data, k.size, m->v[i].key, m->v[i].klen) ||
		    cmpb(v.data, v.size, m->v[i].val, m->v[i].vlen)) {
			why = "an entry differs";
			goto out;
		}
	}
	if (e != QUIRE_NOTFOUND || i != m->n) {
		why = e != QUIRE_NOTFOUND ? "forward scan failed"
					  : "fewer keys than the model";
		goto out;
	}
	for (e = quire_cursor_last(c); e == 0; e = quire_cursor_prev(c)) {
		if (i == 0) {
			why = "backward scan: more keys";
			goto out;
		}
		i--;
		if ((e = quire_cursor_key(c, &k)) ||
		    cmpb(k.data, k.size, m->v[i].key, m->v[i].klen)) {
			why = "backward scan: an entry differs";
			goto out;
		}
	}
	if (e != QUIRE_NOTFOUND || i != 0) {
		why = "backward scan ended early";
		goto out;
	}
	for (i = 0; i < m->n && !why; i++) {
		if ((e = quire_get(t, m->v[i].key, m->v[i].klen, &v)))
			why = "get of a model key failed";
		else if (cmpb(v.data, v.size, m->v[i].val, m->v[i].vlen))
			why = "get returned another value";
	}
	e = 0;
out:
	*err = e;
	quire_cursor_close(c);
	return why;
}

static void same(const struct model *m, quire_txn *t, const char *what)
{
	int e;
	const char *why = differ(m, t, &e);
	if (why) {
		fprintf(stderr, "fuzz_ops: %s: %s\n", what, why);
		fail(what, e);
	}
}

/* The latest commit must be the acknowledged state. */
static void verify_latest(struct run *r, int check)
{
	quire_txn *t;
	uint64_t problems;
	int e;
	if ((e = quire_begin(r->db, QUIRE_RDONLY, &t)))
		fail("begin snapshot", e);
	if (quire_txn_id(t) != acked(r)->txn)
		fail("latest commit has another txn id", 0);
	same(&acked(r)->m, t, "latest content differs from the model");
	if (check) {
		if ((e = quire_check(t, NULL, NULL, &problems)))
			fail("check", e);
		if (problems)
			fail("check found problems", 0);
	}
	quire_abort(t);
}

static void ring_push(struct run *r, uint64_t txn, const struct model *m)
{
	if (r->nring < RING) {
		state_set(&r->ring[r->nring++], txn, m);
		return;
	}
	/* slot 0 keeps txn 0 */
	r->ring_next = r->ring_next % (RING - 1) + 1;
	state_set(&r->ring[r->ring_next], txn, m);
}

static void drop_orphans(struct run *r)
{
	for (int i = 0; i < r->norphan; i++)
		model_clear(&r->orphan[i].m);
	r->norphan = 0;
}

/* Record an acknowledged commit. Without NOSYNC it is durable: the only
 * state a crash may leave besides the one in flight. */
static void ack(struct run *r, uint64_t txn, const struct model *m)
{
	if (!(r->o.flags & QUIRE_NOSYNC)) {
		drop_orphans(r);
		for (int i = 1; i < r->nok; i++)
			model_clear(&r->ok[i].m);
		r->nok = 1;
		state_set(&r->ok[0], txn, m);
	} else {
		state_set(&r->ok[r->nok++], txn, m);
	}
	ring_push(r, txn, m);
}

/* After quire_sync: everything acknowledged is durable. */
static void durable(struct run *r)
{
	drop_orphans(r);
	if (r->nok > 1) {
		struct state *l = acked(r);
		state_set(&r->ok[0], l->txn, &l->m);
		for (int i = 1; i < r->nok; i++)
			model_clear(&r->ok[i].m);
		r->nok = 1;
	}
}

static void sync_db(struct run *r)
{
	if (!must(r, "sync", quire_sync(r->db)))
		durable(r);
}

static int open_db(struct run *r)
{
	return qdb_open_vfs(path, &r->o, memvfs_vfs(r->m), &r->db);
}

static void close_db(struct run *r)
{
	if (r->w) {
		quire_abort(r->w);
		r->w = NULL;
	}
	if (r->db) {
		int e = quire_close(r->db);
		if (e == QUIRE_EBUSY)
			fail("close", e);
		r->db = NULL;
	}
}

/* The armed crash struck (or an immediate one is asked for): build the
 * image, reopen and find which allowed commit the file holds. */
static void recover(struct run *r, int mode, uint64_t seed)
{
	quire_txn *t;
	int e;
	close_db(r);
	if (getenv("FUZZ_OPS_TRACE"))
		fprintf(stderr, "   crash mode %d seed %llu%s\n", mode,
			(unsigned long long)seed,
			r->has_infl ? ", a commit in flight" : "");
	memvfs_crash(r->m, (enum mv_crash)mode, seed);
	r->armed = 0;
	if ((e = open_db(r)))
		fail("open after a crash", e);
	if ((e = quire_begin(r->db, QUIRE_RDONLY, &t)))
		fail("begin after a crash", e);
	uint64_t id = quire_txn_id(t);
	/* candidates, recognised by txn id; two may share one (an orphan and
	 * a later commit that reused its id), so the content decides */
	struct state *cand[MAXOK + 5], *found = NULL;
	int nc = 0, lo = mode == MV_CRASH_PROCESS ? r->nok - 1 : 0;
	if (r->has_infl)
		cand[nc++] = &r->infl;
	for (int i = lo; i < r->nok; i++)
		cand[nc++] = &r->ok[i];
	for (int i = 0; i < r->norphan && mode != MV_CRASH_PROCESS; i++)
		cand[nc++] = &r->orphan[i];
	for (int i = 0; i < nc && !found; i++) {
		int e2;
		if (cand[i]->txn == id && !differ(&cand[i]->m, t, &e2))
			found = cand[i];
	}
	if (!found) {
		fprintf(stderr, "fuzz_ops: after crash mode %d the file is at "
			"txn %llu (or another content); allowed %llu..%llu%s\n", mode,
			(unsigned long long)id,
			(unsigned long long)r->ok[lo].txn,
			(unsigned long long)acked(r)->txn,
			r->has_infl ? " and the one in flight" : "");
		abort();
	}
	quire_abort(t);
	struct state s = {0};
	state_set(&s, found->txn, &found->m);
	for (int i = 0; i < r->norphan; i++)
		if (&r->orphan[i] == found) {
			model_clear(&r->orphan[i].m);
			r->orphan[i] = r->orphan[--r->norphan];
			break;
		}
	for (int i = 0; i < r->nok; i++)
		model_clear(&r->ok[i].m);
	r->ok[0] = s;
	r->nok = 1;
	/* A commit in flight that did not show up is not gone: within this
	 * boot the slot hides it, but after a power cut the walk from the
	 * durable commit can find it, until a writer's tail cut is synced.
	 * That is allowed (it was in flight), so remember it. */
	if (r->has_infl && found != &r->infl && r->infl.txn > s.txn &&
	    r->norphan < 4)
		r->orphan[r->norphan++] = r->infl;
	else if (r->has_infl)
		model_clear(&r->infl.m);
	r->infl = (struct state){0};
	r->has_infl = 0;
	/* commits after the one found are gone; their ids will be reused */
	for (int i = 1; i < r->nring; i++)
		if (r->ring[i].txn >= s.txn) {
			model_clear(&r->ring[i].m);
			r->ring[i] = r->ring[--r->nring];
			r->ring[r->nring] = (struct state){0};
			i--;
		}
	r->ring_next = 0;
	if (r->nring < RING)
		ring_push(r, s.txn, &s.m);
	verify_latest(r, 1);
}

static void in_flight(struct run *r, uint64_t txn, const struct model *m)
{
	if (r->has_infl)
		model_clear(&r->infl.m);
	state_set(&r->infl, txn, m);
	r->has_infl = 1;
}

static int need_w(struct run *r)
{
	if (r->w)
		return 0;
	if (must(r, "begin write", quire_begin(r->db, 0, &r->w))) {
		r->w = NULL;
		return -1;
	}
	r->w_id = quire_txn_id(r->w);
	if (r->w_id != acked(r)->txn + 1)
		fail("write transaction has an unexpected id", 0);
	r->w_ops = 0;
	model_copy(&r->wm, &acked(r)->m);
	return 0;
}

static void do_put(struct run *r, size_t kl, size_t vl)
{
	if (need_w(r))
		return;
	if (must(r, "put", quire_put(r->w, r->kbuf, kl, r->vbuf, vl)))
		return;
	model_put(&r->wm, r->kbuf, kl, r->vbuf, vl);
	r->w_ops++;
}

static void do_del(struct run *r, size_t kl)
{
	if (need_w(r))
		return;
	int e = quire_del(r->w, r->kbuf, kl);
	if (e && e != QUIRE_NOTFOUND && crashed(r))
		return;
	int had = model_get(&r->wm, r->kbuf, kl) != NULL;
	if (e != (had ? 0 : QUIRE_NOTFOUND))
		fail("del disagrees with the model", e);
	if (had) {
		model_del(&r->wm, r->kbuf, kl);
		r->w_ops++;
	}
}

static void commit_done(struct run *r, uint64_t txn, const struct model *m)
{
	ack(r, txn, m);
	/* NOSYNC: keep the list of possible states bounded */
	if (r->nok == MAXOK)
		sync_db(r);
}

static void do_commit(struct run *r, const void *meta, size_t mlen)
{
	if (!r->w && !meta)
		return;
	if (need_w(r))
		return;
	int changes = r->w_ops > 0 || meta;
	int e = meta ? quire_commit_with(r->w, meta, mlen) : quire_commit(r->w);
	r->w = NULL;
	if (e) {
		if (!crashed(r))
			fail("commit", e);
		if (changes)
			in_flight(r, r->w_id, &r->wm);
		model_clear(&r->wm);
		return;
	}
	if (changes)
		commit_done(r, r->w_id, &r->wm);
	model_clear(&r->wm);
	if (!crashed(r))
		verify_latest(r, 0);
}

/* A compaction that keeps every commit: nothing the model checks may
 * change, and it syncs the new file, so what was acknowledged is durable
 * after it. A crash inside it must leave the old file as it was. */
static void do_compact(struct run *r)
{
	quire_compact_options co;
	if (r->w)
		do_commit(r, NULL, 0);
	if (crashed(r))
		return;
	quire_compact_options_init(&co);
	co.keep_last = UINT64_MAX;
	if (!must(r, "compact", quire_compact(r->db, &co)))
		durable(r);
}

static void do_checkpoint(struct run *r)
{
	quire_txn *t;
	if (r->w)
		do_commit(r, NULL, 0);
	if (crashed(r))
		return;
	uint64_t next = acked(r)->txn + 1;
	if (quire_checkpoint(r->db)) {
		if (!crashed(r))
			fail("checkpoint", 0);
		in_flight(r, next, &acked(r)->m);
		return;
	}
	if (must(r, "begin", quire_begin(r->db, QUIRE_RDONLY, &t)))
		return;
	uint64_t id = quire_txn_id(t);
	quire_abort(t);
	if (id == next) {
		struct model copy = {0};
		model_copy(&copy, &acked(r)->m);
		commit_done(r, next, &copy);
		model_clear(&copy);
	} else if (id != next - 1) {
		fail("checkpoint gave an unexpected txn id", 0);
	}
	if (!crashed(r))
		verify_latest(r, 0);
}

static void do_reopen(struct run *r)
{
	close_db(r);
	if (must(r, "reopen", open_db(r))) {
		r->db = NULL;
		return;
	}
	if (!crashed(r))
		verify_latest(r, 1);
}

static void do_get(struct run *r, size_t kl)
{
	quire_txn *t = r->w;
	const struct model *m = &r->wm;
	quire_val v;
	if (!t) {
		if (must(r, "begin", quire_begin(r->db, QUIRE_RDONLY, &t)))
			return;
		m = &acked(r)->m;
	}
	int e = quire_get(t, r->kbuf, kl, &v);
	if (!(e && e != QUIRE_NOTFOUND && crashed(r))) {
		const struct model_ent *me = model_get(m, r->kbuf, kl);
		if (e != (me ? 0 : QUIRE_NOTFOUND))
			fail("get disagrees with the model", e);
		if (me && cmpb(v.data, v.size, me->val, me->vlen))
			fail("get returned another value", 0);
	}
	if (t != r->w)
		quire_abort(t);
}

static void do_scan(struct run *r)
{
	if (r->w) {
		/* reading a write transaction's large values back flushes
		 * them to the file, so an armed crash can strike here */
		int e;
		const char *why = differ(&r->wm, r->w, &e);
		if (why && !crashed(r)) {
			fprintf(stderr, "fuzz_ops: write transaction: %s\n",
				why);
			fail("write transaction differs from the model", e);
		}
	} else
		verify_latest(r, 0);
}

/* Differences between two models: keys in either whose values differ. */
static size_t model_diffs(const struct model *a, const struct model *b)
{
	size_t i = 0, j = 0, n = 0;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1
			: cmpb(a->v[i].key, a->v[i].klen, b->v[j].key,
			       b->v[j].klen);
		if (c < 0) {
			i++;
			n++;
		} else if (c > 0) {
			j++;
			n++;
		} else {
			n += cmpb(a->v[i].val, a->v[i].vlen, b->v[j].val,
				  b->v[j].vlen) != 0;
			i++;
			j++;
		}
	}
	return n;
}

static void check_diff(quire_txn *a, quire_txn *b, const struct model *ma,
		       const struct model *mb)
{
	quire_diff *d;
	quire_delta dl;
	uint8_t *prev = NULL;
	size_t plen = 0, real = 0;
	int e;
	if ((e = quire_diff_open(a, b, &d)))
		fail("diff_open", e);
	while ((e = quire_diff_next(d, &dl)) == 0) {
		if (prev && cmpb(prev, plen, dl.key.data, dl.key.size) >= 0)
			fail("diff keys out of order", 0);
		free(prev);
		prev = malloc(dl.key.size + 1);
		if (!prev)
			abort();
		memcpy(prev, dl.key.data, dl.key.size);
		plen = dl.key.size;
		const struct model_ent *ea = model_get(ma, dl.key.data,
						       dl.key.size);
		const struct model_ent *eb = model_get(mb, dl.key.data,
						       dl.key.size);
		if (dl.in_a != (ea != NULL) || dl.in_b != (eb != NULL))
			fail("diff says a key exists where it does not", 0);
		if (ea && cmpb(dl.a.data, dl.a.size, ea->val, ea->vlen))
			fail("diff gave another old value", 0);
		if (eb && cmpb(dl.b.data, dl.b.size, eb->val, eb->vlen))
			fail("diff gave another new value", 0);
		if (!ea && !eb)
			fail("diff reported a key in neither snapshot", 0);
		/* a key rewritten with the same value may be reported */
		real += !(ea && eb && ea->vlen == eb->vlen &&
			  cmpb(ea->val, ea->vlen, eb->val, eb->vlen) == 0);
	}
	free(prev);
	if (e != QUIRE_NOTFOUND)
		fail("diff_next", e);
	if (real != model_diffs(ma, mb))
		fail("diff missed keys that differ", 0);
	quire_diff_close(d);
}

/* The newest version of a key in the history of the latest snapshot. */
static void check_history(quire_txn *t, const struct model *m, size_t idx)
{
	quire_history *h;
	quire_key_version kv;
	int e;
	if (!m->n)
		return;
	const struct model_ent *me = &m->v[idx % m->n];
	if ((e = quire_history_open(t, me->key, me->klen, &h)))
		fail("history_open", e);
	if ((e = quire_history_next(h, &kv)))
		fail("history of a present key is empty", e);
	if (kv.op != QUIRE_OP_PUT ||
	    cmpb(kv.value.data, kv.value.size, me->val, me->vlen))
		fail("newest version is not the current value", 0);
	uint64_t seq = kv.seq;
	size_t n = 0;
	while ((e = quire_history_next(h, &kv)) == 0) {
		if (kv.seq >= seq || ++n > 100000)
			fail("history not in decreasing seq order", 0);
		seq = kv.seq;
	}
	if (e != QUIRE_NOTFOUND)
		fail("history_next", e);
	quire_history_close(h);
}

static void do_begin_at(struct run *r, unsigned pick)
{
	quire_txn *t, *o;
	quire_log_entry le;
	int e;
	if (!r->nring)
		return;
	const struct state *s = &r->ring[pick % r->nring];
	if (must(r, "begin", quire_begin(r->db, QUIRE_RDONLY, &t)))
		return;
	if ((e = quire_begin_at(r->db, s->txn, &o))) {
		quire_abort(t);
		must(r, "begin_at", e);
		return;
	}
	if (quire_txn_id(o) != s->txn)
		fail("begin_at gave another commit", 0);
	same(&s->m, o, "AS-OF snapshot differs from its commit");
	if ((e = quire_log_get(t, s->txn, &le)))
		fail("log_get", e);
	if (le.txn_id != s->txn)
		fail("log_get gave another commit", 0);
	check_diff(o, t, &s->m, &acked(r)->m);
	check_history(t, &acked(r)->m, pick);
	quire_abort(o);
	quire_abort(t);
}

static void do_putn(struct run *r)
{
	unsigned n = byte(r) % 64 + 1, start = byte(r), stride = byte(r) | 1;
	for (unsigned i = 0; i < n && !crashed(r); i++) {
		int kl = snprintf(r->kbuf, sizeof r->kbuf, "p%03u",
				  (start + i * stride) % 500);
		size_t vl = 8 + (i * 13 + start) % 33;
		uint64_t c = ++r->vctr;
		for (size_t j = 0; j < vl; j++)
			r->vbuf[j] = (char)(c + j);
		do_put(r, (size_t)kl, vl);
	}
}

static const char *const op_names[16] = {
	"put", "del", "commit", "abort", "checkpoint", "reopen", "crash",
	"crashat", "begin_at", "putn", "get", "sync", "commit_with", "scan",
	"clock", "compact"};

static void step(struct run *r, unsigned op)
{
	size_t kl, vl;
	switch (op) {
	case OP_PUT:
		kl = key(r);
		vl = value(r);
		do_put(r, kl, vl);
		break;
	case OP_DEL:
		do_del(r, key(r));
		break;
	case OP_COMMIT:
		do_commit(r, NULL, 0);
		break;
	case OP_ABORT:
		if (r->w) {
			quire_abort(r->w);
			r->w = NULL;
			model_clear(&r->wm);
		}
		break;
	case OP_CHECKPOINT:
		do_checkpoint(r);
		break;
	case OP_REOPEN:
		do_reopen(r);
		break;
	case OP_CRASH: {
		int mode = (int)(byte(r) % MV_CRASH_NMODES);
		recover(r, mode, byte(r));
		break;
	}
	case OP_CRASHAT: {
		unsigned n = byte(r) % 32 + 1;
		int mode = (int)(byte(r) % MV_CRASH_NMODES);
		if (r->armed)
			break;
		memvfs_crash_at(r->m, MV_MUTATE, n);
		r->armed = 1;
		r->crash_mode = mode;
		r->crash_seed = byte(r);
		break;
	}
	case OP_BEGINAT:
		do_begin_at(r, byte(r));
		break;
	case OP_PUTN:
		do_putn(r);
		break;
	case OP_GET:
		do_get(r, key(r));
		break;
	case OP_SYNC:
		/* quire_sync takes the writer's turn: from the thread that
		 * holds the write transaction it would wait for itself */
		if (r->w)
			do_commit(r, NULL, 0);
		if (!crashed(r))
			sync_db(r);
		break;
	case OP_COMMITWITH:
		vl = value(r);
		do_commit(r, r->vbuf, vl % 300 + 1);
		break;
	case OP_SCAN:
		do_scan(r);
		break;
	case OP_COMPACT:
		do_compact(r);
		break;
	case OP_CLOCK:
		/* set the clock back (or stop it): commit times must still
		 * never decrease */
		memvfs_clock(r->m, (uint64_t)byte(r) << 20, byte(r) & 3);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned nodes[4] = {512, 1024, 4096, 512};
	static const unsigned long ckpt[4] = {1, 4, 16, 131072};
	struct run *r = calloc(1, sizeof *r);
	int e;
	if (!r || size < 1) {
		free(r);
		return 0;
	}
	r->p = data + 1;
	r->end = data + size;
	r->m = memvfs_new(data[0]);
	quire_options_init(&r->o);
	r->o.flags = QUIRE_CREATE | (data[0] & 0x10 ? QUIRE_NOSYNC : 0);
	r->o.node_size = nodes[data[0] & 3];
	r->o.checkpoint_ops = ckpt[(data[0] >> 2) & 3];
	r->o.cache_size = (size_t)1 << 20;
	if ((e = open_db(r)))
		fail("create", e);
	r->o.flags &= ~QUIRE_CREATE;
	r->nok = 1; /* txn 0: the empty database, durable once created */
	r->nring = 1;
	/* FUZZ_OPS_TRACE=1 prints the program as it runs (reproductions) */
	int trace = getenv("FUZZ_OPS_TRACE") != NULL;
	while (r->p < r->end) {
		unsigned op = byte(r) & 15;
		if (trace)
			fprintf(stderr, "@%zu %s (acked txn %llu, %d ops in w)\n",
				(size_t)(r->p - data - 1), op_names[op],
				(unsigned long long)acked(r)->txn,
				r->w ? r->w_ops : -1);
		step(r, op);
		if (crashed(r)) {
			/* a crash armed by OP_CRASHAT struck */
			recover(r, r->crash_mode, r->crash_seed);
		}
		if (!r->db)
			fail("no handle", 0);
	}
	if (r->w) {
		quire_abort(r->w);
		r->w = NULL;
	}
	/* a crash armed at the end may strike in the abort; else disarm */
	if (crashed(r))
		recover(r, r->crash_mode, r->crash_seed);
	memvfs_clear_faults(r->m);
	verify_latest(r, 1);
	close_db(r);
	/* a clean reopen at the end sees the same */
	if ((e = open_db(r)))
		fail("final reopen", e);
	verify_latest(r, 1);
	close_db(r);
	memvfs_free(r->m);
	model_clear(&r->wm);
	for (int i = 0; i < r->nok; i++)
		model_clear(&r->ok[i].m);
	for (int i = 0; i < r->nring; i++)
		model_clear(&r->ring[i].m);
	if (r->has_infl)
		model_clear(&r->infl.m);
	drop_orphans(r);
	free(r);
	return 0;
}
