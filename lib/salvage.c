/*
 * salvage.c - quire_salvage(): copy what is still readable out of a
 * damaged database into a new one, and say what was lost.
 *
 * The newest commit the file opens at is the starting point. Its key tree
 * is walked in key order; a node that cannot be read or does not verify
 * loses the key range its parent gives it, [separator, next separator).
 * For such a range the key trees of older checkpoints are tried, newest
 * first (their nodes are older copies, and shared nodes are the same bytes,
 * so only an older copy can help): if one holds the whole range readable,
 * its entries are copied and the report says from which commit they come.
 * The pending batches of the commit are then applied on top, newest
 * operation per key winning; a damaged batch loses its operations and
 * those of every older batch (the chain runs through it). A value block
 * that does not verify loses its key. History is not copied: the new file
 * starts with one state.
 *
 * Everything read is verified as usual, so what is copied is exactly what
 * a committed version held; nothing is "repaired".
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "lookup.h"
#include "pending.h"
#include "tree.h"
#include "txn.h"

#define OLDER_CHECKPOINTS 64 /* how far back a lost range is looked for */
#define PUTS_PER_COMMIT 10000

/* The newest pending operation of a key. */
struct pop {
	const uint8_t *key;
	uint32_t klen;
	int op;
	struct wval v;
	uint64_t seq;
};

/* A leaf entry found in an older tree for a lost range. */
struct rent {
	uint8_t *key;
	uint32_t klen;
	struct wval v;
};

struct salv {
	quire_txn *src;         /* snapshot of the commit salvaged */
	quire *dst;
	quire_txn *w;           /* dst's open write transaction */
	size_t wputs;
	quire_check_fn fn;
	void *ctx;
	quire_salvage_stats *st;
	struct qroot older_root[OLDER_CHECKPOINTS]; /* older checkpoints */
	uint64_t older_txn[OLDER_CHECKPOINTS];
	int nolder;
	struct pop *pend;       /* sorted by key, one per key */
	size_t npend, ipend;
	uint8_t **blocks;       /* the batches pend points into */
	size_t nblocks, capblocks;
	int err;                /* a failure writing dst: stop */
};

static void report(struct salv *s, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct salv *s, uint64_t off, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s->fn)
		s->fn(s->ctx, off, msg);
}

/* A range bound for a message. */
static const char *show(char *buf, const uint8_t *k, uint32_t kl, int set,
			const char *none)
{
	return set ? qerr_key(buf, k, kl) : none;
}

/* ---- writing the new file -------------------------------------------- */

static int flush_dst(struct salv *s)
{
	int e = 0;
	if (s->w) {
		e = quire_commit(s->w);
		s->w = NULL;
	}
	s->wputs = 0;
	return e;
}

/* Copy one key and its value (read from the source file) into dst. */
static void put_dst(struct salv *s, const uint8_t *k, uint32_t kl,
		    const struct wval *v)
{
	quire_val val;
	struct vbuf *vb = NULL;
	char kb[QERR_KEY_BUF];
	int e;
	if (s->err)
		return;
	if ((e = txn_value(s->src, v, &vb, &val)) != 0) {
		report(s, v->ool_off, "value of key %s is damaged (%s): lost",
		       qerr_key(kb, k, kl), quire_errmsg());
		s->st->values_lost++;
		return;
	}
	if (!s->w && (e = quire_begin(s->dst, 0, &s->w)) != 0)
		goto fail;
	/* keys as stored: keyspaces' internal keys stay what they are */
	s->w->features |= s->src->snap->h.features & QF_FEAT_KEYSPACES;
	if ((e = txn_put_raw(s->w, k, kl, val.data, val.size)) != 0)
		goto fail;
	s->st->keys_copied++;
	if (++s->wputs >= PUTS_PER_COMMIT && (e = flush_dst(s)) != 0)
		goto fail;
	goto out;
fail:
	s->err = e;
out:
	vbufs_free(&vb);
}

/* A key of the tree (or an older tree) in key order: pending operations on
 * smaller keys go first, one on the same key wins. v NULL: only flush the
 * pending operations below k (k NULL: all of them). */
static void emit(struct salv *s, const uint8_t *k, uint32_t kl,
		 const struct wval *v)
{
	while (s->ipend < s->npend) {
		const struct pop *p = &s->pend[s->ipend];
		int c = k ? key_cmp(p->key, p->klen, k, kl) : -1;
		if (c > 0)
			break;
		if (p->op == WOP_PUT)
			put_dst(s, p->key, p->klen, &p->v);
		s->ipend++;
		if (c == 0)
			return; /* the pending operation replaces the tree's */
	}
	if (v)
		put_dst(s, k, kl, v);
}

/* ---- the key tree ------------------------------------------------------ */

struct bnd {
	const uint8_t *key;
	uint32_t klen;
	int set;
};

static int below_hi(const uint8_t *k, uint32_t kl, const struct bnd *hi)
{
	return !hi->set || key_cmp(k, kl, hi->key, hi->klen) < 0;
}

static int at_least_lo(const uint8_t *k, uint32_t kl, const struct bnd *lo)
{
	return !lo->set || key_cmp(k, kl, lo->key, lo->klen) >= 0;
}

/* Collect the entries of [lo, hi) of the subtree at (off, size, level) of
 * an older tree. 0, or -1 if any node the range needs is damaged. */
static int collect(struct salv *s, uint64_t off, uint32_t size, int level,
		   const struct bnd *lo, const struct bnd *hi,
		   struct rent **out, size_t *n, size_t *cap)
{
	const uint8_t *node;
	if (node_get(s->src->snap->qf, off, size, QT_KEYS, level, &node) != 0)
		return -1;
	unsigned cnt = node_count(node);
	for (unsigned i = 0; i < cnt; i++) {
		uint32_t kl;
		const uint8_t *k = node_key(node, i, &kl);
		if (!below_hi(k, kl, hi))
			break;
		if (level == 0) {
			struct lentry le;
			if (!at_least_lo(k, kl, lo))
				continue;
			node_leaf_entry(node, i, &le);
			if (*n == *cap) {
				size_t c = *cap ? *cap * 2 : 64;
				struct rent *r = realloc(*out, c * sizeof *r);
				if (!r)
					return -1;
				*out = r;
				*cap = c;
			}
			struct rent *r = &(*out)[*n];
			if (!(r->key = malloc(kl ? kl : 1)))
				return -1;
			memcpy(r->key, k, kl);
			r->klen = kl;
			r->v = (struct wval){le.val, le.vlen, le.ool, le.ool_off};
			if (!le.ool && le.vlen) { /* node memory is the txn's */
				uint8_t *d = malloc(le.vlen);
				if (!d) {
					free(r->key);
					return -1;
				}
				memcpy(d, le.val, le.vlen);
				r->v.data = d;
			}
			++*n;
			continue;
		}
		/* the child holds [k, next key): skip those wholly below lo */
		if (i + 1 < cnt) {
			uint32_t nl;
			const uint8_t *nk = node_key(node, i + 1, &nl);
			if (lo->set && key_cmp(nk, nl, lo->key, lo->klen) <= 0)
				continue;
		}
		struct ientry ie;
		node_int_entry(node, i, &ie);
		if (collect(s, ie.child_off, ie.child_size, level - 1, lo, hi,
			    out, n, cap) != 0)
			return -1;
	}
	return 0;
}

static void free_rents(struct rent *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].key);
		if (!r[i].v.ool)
			free((void *)r[i].v.data);
	}
	free(r);
}

/* The subtree for [lo, hi) could not be read: look for the range in older
 * checkpoints' trees. */
static void lost_range(struct salv *s, uint64_t off, uint64_t count,
		       const struct bnd *lo, const struct bnd *hi)
{
	char a[QERR_KEY_BUF], b[QERR_KEY_BUF];
	s->st->nodes_damaged++;
	for (int i = 0; i < s->nolder; i++) {
		const struct qroot *r = &s->older_root[i];
		struct rent *got = NULL;
		size_t n = 0, cap = 0;
		if (r->off && collect(s, r->off, r->size, r->height - 1, lo, hi,
				      &got, &n, &cap) == 0) {
			report(s, off,
			       "node damaged: keys [%s, %s) restored from the "
			       "older commit %llu (%zu keys; %llu were there)",
			       show(a, lo->key, lo->klen, lo->set, "(start)"),
			       show(b, hi->key, hi->klen, hi->set, "(end)"),
			       (unsigned long long)s->older_txn[i], n,
			       (unsigned long long)count);
			for (size_t j = 0; j < n; j++)
				emit(s, got[j].key, got[j].klen, &got[j].v);
			s->st->keys_restored_older += n;
			free_rents(got, n);
			return;
		}
		free_rents(got, n);
	}
	report(s, off, "node damaged: keys [%s, %s) lost (%llu keys)",
	       show(a, lo->key, lo->klen, lo->set, "(start)"),
	       show(b, hi->key, hi->klen, hi->set, "(end)"),
	       (unsigned long long)count);
	s->st->keys_lost += count;
}

static void walk(struct salv *s, uint64_t off, uint32_t size, int level,
		 uint64_t count, const struct bnd *lo, const struct bnd *hi)
{
	const uint8_t *node;
	if (node_get(s->src->snap->qf, off, size, QT_KEYS, level, &node) != 0) {
		lost_range(s, off, count, lo, hi);
		return;
	}
	unsigned cnt = node_count(node);
	for (unsigned i = 0; i < cnt && !s->err; i++) {
		if (level == 0) {
			struct lentry le;
			node_leaf_entry(node, i, &le);
			struct wval v = {le.val, le.vlen, le.ool, le.ool_off};
			emit(s, le.key, le.klen, &v);
			continue;
		}
		struct ientry ie;
		struct bnd clo, chi = *hi;
		node_int_entry(node, i, &ie);
		clo = (struct bnd){ie.key, ie.klen, 1};
		if (i == 0)
			clo = *lo; /* the first child covers the node's range */
		if (i + 1 < cnt) {
			chi.key = node_key(node, i + 1, &chi.klen);
			chi.set = 1;
		}
		walk(s, ie.child_off, ie.child_size, level - 1, ie.count, &clo,
		     &chi);
	}
}

/* ---- pending operations ------------------------------------------------ */

static int pop_cmp(const void *x, const void *y)
{
	const struct pop *a = x, *b = y;
	int c = key_cmp(a->key, a->klen, b->key, b->klen);
	return c ? c : (a->seq < b->seq) - (a->seq > b->seq); /* newest first */
}

/* Keep a batch alive for the copy (its records point into it). */
static int keep_block(struct salv *s, uint8_t *b)
{
	if (s->nblocks == s->capblocks) {
		size_t c = s->capblocks ? s->capblocks * 2 : 16;
		uint8_t **nb = realloc(s->blocks, c * sizeof *nb);
		if (!nb) {
			free(b);
			return qerr(QUIRE_ENOMEM, "out of memory");
		}
		s->blocks = nb;
		s->capblocks = c;
	}
	s->blocks[s->nblocks++] = b;
	return 0;
}

static int add_pop(struct salv *s, const struct brec *r, size_t *cap)
{
	if (s->npend == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct pop *np = realloc(s->pend, c * sizeof *np);
		if (!np)
			return qerr(QUIRE_ENOMEM, "out of memory");
		s->pend = np;
		*cap = c;
	}
	s->pend[s->npend++] =
		(struct pop){r->key, r->klen, r->op, r->v, r->seq};
	return 0;
}

/* The newest pending operation of every key, from the chain of batches
 * (newest batch first), sorted by key. */
static int load_pending(struct salv *s, const struct qhdr *h)
{
	uint64_t off = h->pending_off;
	uint32_t size = h->pending_size;
	size_t cap = 0;
	int e = 0;
	while (off && !e) {
		uint8_t *b;
		struct batch_info bi;
		struct batch_iter it = {0};
		struct brec r;
		if (pending_read(s->src->snap->qf, off, size, &b, &bi) != 0) {
			report(s, off, "pending batch damaged (%s): its "
				       "operations and those of older pending "
				       "batches are lost",
			       quire_errmsg());
			s->st->batches_lost++;
			break;
		}
		if ((e = keep_block(s, b)) != 0)
			break;
		while (!e && batch_next(b, &bi, &it, &r))
			e = add_pop(s, &r, &cap);
		off = bi.prev_off;
		size = bi.prev_size;
	}
	if (e || !s->npend)
		return e;
	qsort(s->pend, s->npend, sizeof *s->pend, pop_cmp);
	size_t w = 1;
	for (size_t i = 1; i < s->npend; i++)
		if (key_cmp(s->pend[i].key, s->pend[i].klen, s->pend[w - 1].key,
			    s->pend[w - 1].klen))
			s->pend[w++] = s->pend[i];
	s->npend = w;
	return 0;
}

/* The key trees of up to OLDER_CHECKPOINTS checkpoints before h's. */
static void find_older(struct salv *s, const struct qhdr *h)
{
	struct qhdr ck, prev;
	if (df_load_header(s->src->snap->qf, h->ckpt_off, &ck) != 0)
		return;
	while (s->nolder < OLDER_CHECKPOINTS && ck.prev_off &&
	       ck.txn > h->history_txn &&
	       df_load_header(s->src->snap->qf, ck.prev_off, &prev) == 0 &&
	       df_load_header(s->src->snap->qf, prev.ckpt_off, &ck) == 0) {
		s->older_root[s->nolder] = ck.root[QT_KEYS];
		s->older_txn[s->nolder] = ck.txn;
		s->nolder++;
	}
}

int quire_salvage(const char *path, const char *newpath, quire_check_fn fn,
		  void *ctx, quire_salvage_stats *st)
{
	quire_options o;
	quire *src = NULL;
	struct salv s = {.fn = fn, .ctx = ctx, .st = st};
	int e;
	qerr_clear();
	if (!path || !newpath || !st)
		return qerr(QUIRE_EINVAL, "quire_salvage: bad arguments");
	*st = (quire_salvage_stats){0};
	if ((e = qdb_open_salvage(path, &src)) != 0)
		return e;
	qvfs_file *probe;
	if (src->vfs->open(src->vfs, newpath, QVFS_RDONLY, 0, &probe) == 0) {
		probe->ops->close(probe);
		quire_close(src);
		return qerr(QUIRE_EINVAL, "%s: exists; salvage writes a new file",
			    newpath);
	}
	if ((e = quire_begin(src, QUIRE_RDONLY, &s.src)) != 0)
		goto out;
	const struct qhdr *h = &s.src->snap->h;
	st->txn = h->txn;
	find_older(&s, h);
	if ((e = load_pending(&s, h)) != 0)
		goto out;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	if ((e = quire_open(newpath, &o, &s.dst)) != 0)
		goto out;
	const struct qroot *r = &h->root[QT_KEYS];
	struct bnd none = {0};
	if (r->off)
		walk(&s, r->off, r->size, r->height - 1, r->count, &none, &none);
	emit(&s, NULL, 0, NULL); /* pending keys past the tree's */
	if (!(e = s.err) && !(e = flush_dst(&s)))
		e = quire_sync(s.dst);
out:
	if (s.w)
		quire_abort(s.w);
	if (s.dst && quire_close(s.dst) != 0 && !e)
		e = QUIRE_EBUSY;
	if (e && s.dst) /* a partial copy would pass for a salvage */
		src->vfs->remove(src->vfs, newpath);
	quire_abort(s.src);
	quire_close(src);
	for (size_t i = 0; i < s.nblocks; i++)
		free(s.blocks[i]);
	free(s.blocks);
	free(s.pend);
	return e;
}
