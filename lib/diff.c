/*
 * diff.c - the keys that differ between two snapshots of one file.
 *
 * Candidates come from two places. The key trees are walked side by side,
 * and whenever both walks stand at the start of the same node (same offset:
 * the same bytes, shared by the two commits) the whole subtree is skipped;
 * what remains are the keys of nodes the commits do not share. And the
 * pending operations: when both snapshots follow the same checkpoint, only
 * the keys of the batches between them; otherwise every pending key of
 * either. A tree key that is no pending candidate and stands in both trees
 * with the same sequence number has the same value in both; every other
 * candidate is looked up in both snapshots and reported if the two answers
 * differ. So the cost follows the size of the difference, not the size of
 * the database. A diff of two views of one keyspace starts both walks at
 * the keyspace's first key and stops at its end.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "kspace.h"
#include "lookup.h"
#include "memtable.h"
#include "tree.h"
#include "txn.h"

struct kref {
	const uint8_t *key;
	uint32_t klen;
};

struct quire_diff {
	quire_txn *a, *b;       /* both NULL once either ended */
	struct txn_dep dep_a, dep_b; /* on a and on b */
	struct tcur ta, tb;     /* key trees */
	struct kref *pend;      /* pending candidates, sorted, unique */
	size_t npend, ipend;
	uint8_t *last;          /* the last candidate looked at */
	uint32_t lastlen;
	struct vbuf *vb;
	struct kspace ks;
	uint8_t lo[KS_DATA_PFX], hi[KS_DATA_PFX]; /* its range */
	size_t lol, hil;
};

static int kref_cmp(const void *x, const void *y)
{
	const struct kref *a = x, *b = y;
	return key_cmp(a->key, a->klen, b->key, b->klen);
}

static int add_kref(struct kref **v, size_t *n, size_t *cap,
		    const uint8_t *key, uint32_t klen)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct kref *nv = realloc(*v, c * sizeof *nv);
		if (!nv)
			return qerr(QUIRE_ENOMEM, "out of memory");
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = (struct kref){key, klen};
	return 0;
}

/* Pending keys that may differ between the two snapshots. */
static int pending_candidates(quire_diff *d)
{
	const struct snap *sa = d->a->snap, *sb = d->b->snap;
	size_t cap = 0;
	int e = 0;
	if (sa->h.ckpt_off == sb->h.ckpt_off) {
		/* same checkpoint: the batches between the two commits */
		const struct snap *hi = sa->h.txn > sb->h.txn ? sa : sb;
		uint64_t lo = sa->h.txn < sb->h.txn ? sa->h.txn : sb->h.txn;
		const struct memtable *mt = hi->mt;
		for (size_t i = 0; !e && i < mt->nblocks; i++) {
			const struct mt_block *b = &mt_blocks(mt)[i];
			if (b->dead || b->bi.txn <= lo || b->bi.txn > hi->h.txn)
				continue;
			for (uint32_t k = 0; !e && k < b->bi.nkeys; k++) {
				struct brec r;
				batch_key(b->b, &b->bi, k, &r);
				e = add_kref(&d->pend, &d->npend, &cap, r.key,
					     r.klen);
			}
		}
	} else {
		const struct snap *s[2] = {sa, sb};
		for (int i = 0; !e && i < 2; i++) {
			struct mt_iter it;
			mt_iter_init(&it, s[i]->mt, s[i]->h.next_seq);
			for (int r = mt_first(&it); !e && r == 0; r = mt_next(&it)) {
				uint32_t kl;
				const uint8_t *k = mt_key(&it, &kl);
				e = add_kref(&d->pend, &d->npend, &cap, k, kl);
			}
		}
	}
	if (e || !d->npend)
		return e;
	qsort(d->pend, d->npend, sizeof *d->pend, kref_cmp);
	size_t w = 1;
	for (size_t i = 1; i < d->npend; i++)
		if (kref_cmp(&d->pend[i], &d->pend[w - 1]) != 0)
			d->pend[w++] = d->pend[i];
	d->npend = w;
	return 0;
}

/* One of the two transactions ended: only closing is left. */
static void diff_detach(quire_diff *d)
{
	txn_dep_del(&d->dep_a);
	txn_dep_del(&d->dep_b);
	vbufs_free(&d->vb);
	d->a = d->b = NULL;
}

static void diff_detach_a(struct txn_dep *dep)
{
	diff_detach(DEP_OWNER(dep, quire_diff, dep_a));
}

static void diff_detach_b(struct txn_dep *dep)
{
	diff_detach(DEP_OWNER(dep, quire_diff, dep_b));
}

int quire_diff_open(quire_txn *va, quire_txn *vb, quire_diff **out)
{
	int e;
	qerr_clear();
	if (!txn_usable(va) || !txn_usable(vb))
		return txn_unusable(txn_usable(va) ? vb : va, "quire_diff_open");
	if (va->ks_id != vb->ks_id)
		return qerr(QUIRE_EINVAL, "quire_diff_open: views of two "
					  "keyspaces");
	quire_txn *a = ks_base(va), *b = ks_base(vb);
	/* handles of one file name the same bytes by the same offsets */
	if (!out ||
	    memcmp(a->snap->qf->file_id, b->snap->qf->file_id, QF_FILE_ID) != 0)
		return qerr(QUIRE_EINVAL, "quire_diff_open: two transactions "
					  "of one file are needed");
	quire_diff *d = calloc(1, sizeof *d);
	if (!d || !(d->last = malloc(QF_MAX_KEY))) {
		free(d);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	d->a = a;
	d->b = b;
	txn_dep_add(a, &d->dep_a, diff_detach_a);
	txn_dep_add(b, &d->dep_b, diff_detach_b);
	d->lastlen = UINT32_MAX; /* no candidate yet */
	d->ks = ks_of(va);
	d->ks.esc |= ks_escaped(b);
	ks_bounds(&d->ks, d->lo, &d->lol, d->hi, &d->hil);
	tcur_init(&d->ta, a->snap->qf, QT_KEYS, &a->snap->h.root[QT_KEYS]);
	tcur_init(&d->tb, b->snap->qf, QT_KEYS, &b->snap->h.root[QT_KEYS]);
	if ((e = pending_candidates(d)) != 0 ||
	    ((e = tcur_seek(&d->ta, d->lo, d->lol)) && e != QUIRE_NOTFOUND) ||
	    ((e = tcur_seek(&d->tb, d->lo, d->lol)) && e != QUIRE_NOTFOUND)) {
		quire_diff_close(d);
		return e;
	}
	*out = d;
	return 0;
}

/* The highest level at which the cursor stands at the very start of a
 * subtree (its first key), or -1 if not even at a leaf's start. */
static int start_level(const struct tcur *c)
{
	int l = -1, top = c->root.height - 1;
	while (l < top && c->lv[l + 1].i == 0)
		l++;
	return l;
}

/* Skip subtrees both walks share; then the next tree key of either (the
 * smaller), in *k, and in *same whether both trees hold it at the same
 * version (sequence number): then both hold the same value. 0, or
 * QUIRE_NOTFOUND when both trees are done. */
static int tree_next(quire_diff *d, const uint8_t **k, uint32_t *kl,
		     int *same)
{
	int e;
	for (;;) {
		if (!d->ta.valid || !d->tb.valid)
			break;
		int la = start_level(&d->ta), lb = start_level(&d->tb);
		int l = la < lb ? la : lb, skip = -1;
		/* the highest common level where both sit on one node */
		for (; l >= 0; l--)
			if (l < d->ta.root.height && l < d->tb.root.height &&
			    d->ta.lv[l].off == d->tb.lv[l].off) {
				skip = l;
				break;
			}
		if (skip < 0)
			break;
		if (((e = tcur_skip(&d->ta, skip)) && e != QUIRE_NOTFOUND) ||
		    ((e = tcur_skip(&d->tb, skip)) && e != QUIRE_NOTFOUND))
			return e;
	}
	uint32_t al = 0, bl = 0;
	const uint8_t *ak = d->ta.valid ? tcur_key(&d->ta, &al) : NULL;
	const uint8_t *bk = d->tb.valid ? tcur_key(&d->tb, &bl) : NULL;
	if (!ak && !bk)
		return QUIRE_NOTFOUND;
	int c = !ak ? 1 : !bk ? -1 : key_cmp(ak, al, bk, bl);
	*k = c <= 0 ? ak : bk;
	*kl = c <= 0 ? al : bl;
	*same = 0;
	if (c == 0) {
		struct lentry ea, eb;
		tcur_entry(&d->ta, &ea);
		tcur_entry(&d->tb, &eb);
		*same = ea.meta == eb.meta;
	}
	if (c <= 0 && (e = tcur_next(&d->ta)) && e != QUIRE_NOTFOUND)
		return e;
	if (c >= 0 && (e = tcur_next(&d->tb)) && e != QUIRE_NOTFOUND)
		return e;
	return 0;
}

/* The value of key in t: 0 found, QUIRE_NOTFOUND, or an error. */
static int value_in(quire_txn *t, struct vbuf **vb, const uint8_t *key,
		    uint32_t klen, quire_val *v)
{
	uint64_t seq;
	struct wval w;
	int e = txn_lookup(t, key, klen, &w, &seq);
	return e ? e : txn_value(t, &w, vb, v);
}

int quire_diff_next(quire_diff *d, quire_delta *out)
{
	int e;
	qerr_clear();
	if (!d || !out)
		return qerr(QUIRE_EINVAL, "quire_diff_next: bad arguments");
	if (!d->a)
		return qerr(QUIRE_EINVAL, "quire_diff_next: a transaction of "
					  "the diff has ended");
	for (;;) {
		const uint8_t *tk = NULL, *k;
		uint32_t tkl = 0, kl;
		int same = 0;
		/* peek the next tree candidate without consuming the
		 * pending one, then take the smaller */
		struct tcur sa = d->ta, sb = d->tb;
		e = tree_next(d, &tk, &tkl, &same);
		if (e && e != QUIRE_NOTFOUND)
			return e;
		const struct kref *p =
			d->ipend < d->npend ? &d->pend[d->ipend] : NULL;
		if (e == QUIRE_NOTFOUND && !p)
			return QUIRE_NOTFOUND;
		int c = e ? 1 : !p ? -1 : key_cmp(tk, tkl, p->key, p->klen);
		if (c > 0) { /* the pending key first; the tree waits */
			d->ta = sa;
			d->tb = sb;
			k = p->key;
			kl = p->klen;
			d->ipend++;
		} else {
			k = tk;
			kl = tkl;
			if (c == 0)
				d->ipend++;
		}
		if (d->hil && key_cmp(k, kl, d->hi, d->hil) >= 0) {
			d->ta.valid = d->tb.valid = 0; /* past the keyspace */
			d->ipend = d->npend;
			return QUIRE_NOTFOUND;
		}
		if ((d->lol && key_cmp(k, kl, d->lo, d->lol) < 0) ||
		    (d->lastlen != UINT32_MAX &&
		     key_cmp(k, kl, d->last, d->lastlen) <= 0))
			continue; /* before the keyspace, or seen already */
		memcpy(d->last, k, kl);
		d->lastlen = kl;
		if (c < 0 && same)
			continue; /* one version in both trees, no pending one */

		quire_val va, vb;
		struct vbuf *bufs = NULL;
		int ea = value_in(d->a, &bufs, k, kl, &va);
		int eb = value_in(d->b, &bufs, k, kl, &vb);
		vbufs_free(&d->vb);
		d->vb = bufs;
		if ((ea && ea != QUIRE_NOTFOUND) || (eb && eb != QUIRE_NOTFOUND))
			return ea && ea != QUIRE_NOTFOUND ? ea : eb;
		if (ea && eb)
			continue; /* absent from both */
		if (!ea && !eb && va.size == vb.size &&
		    (!va.size || memcmp(va.data, vb.data, va.size) == 0))
			continue; /* equal */
		size_t skip = ks_skip(&d->ks, d->last, kl);
		*out = (quire_delta){.key = {d->last + skip, kl - skip},
				     .in_a = !ea,
				     .in_b = !eb,
				     .a = ea ? (quire_val){NULL, 0} : va,
				     .b = eb ? (quire_val){NULL, 0} : vb};
		return 0;
	}
}

void quire_diff_close(quire_diff *d)
{
	if (!d)
		return;
	diff_detach(d);
	free(d->pend);
	free(d->last);
	free(d);
}
