/*
 * rebuild.c - writing a compacted file, for compaction (compact.c) and
 * compacted backups (backup.c): the caller pins a commit of the source,
 * opens the new file, and then
 *
 * 1. rebuild_base chooses the first kept commit K (the options; never
 *    older than the file's own history) and builds the state of K
 *    bottom-up in the new file as its first commit, a checkpoint whose
 *    trees are written in key order (full nodes, one sequential stream):
 *    the key tree, K's own operations in the sequence tree (history_seq =
 *    K's first), and, when history is kept, the tombstones (so that key
 *    history stops at QUIRE_EHISTORY, not at a false "first version").
 *    That header has no predecessor: history_txn = K. It is synced, so
 *    the file has a durable base.
 * 2. rebuild_replay copies every later commit of a snapshot the new file
 *    lacks (K+1 .. that snapshot's commit) as a commit of the new file,
 *    with its own time and metadata: txn ids and sequence numbers come
 *    out the same. A commit whose batch the snapshot's memtable holds is
 *    copied as it is (chain and offsets patched); an older one is made
 *    again from the changes feed and the commit log, its operations in
 *    sequence order. Copied commits append batches only (folding them
 *    would copy the tree again per writer checkpoint); the caller asks
 *    for a fold between calls when rebuild_checkpoint_due says so. The
 *    compaction calls it in rounds while writers go on; a backup calls it
 *    for the one commit it copies.
 *
 * The new file is never synced after its base: the caller syncs it before
 * it gives it a name.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "arena.h"
#include "commit.h"
#include "error.h"
#include "feed.h"
#include "file.h"
#include "gate.h"
#include "history.h"
#include "lookup.h"
#include "memtable.h"
#include "modify.h"
#include "oplog.h"
#include "pace.h"
#include "rebuild.h"
#include "snap.h"
#include "space.h"
#include "tomb.h"
#include "tree.h"
#include "txn.h"

/* Entries per bulk-build chunk: bounds the memory a chunk pins (the
 * source's nodes its entries point into, when they come through the node
 * cache). A chunk ends with a flush, which leaves the file's 2 MiB piece
 * it ends in cached in small pages (append.c): from a mapped source,
 * chunks of about 8 MB of entries leave one piece in four that way (at
 * 10M keys 70% of the file PMD-mapped; twice that chunk, 82%, cost a
 * writer at 1M keys 30 MB more at its peak). */
#define CHUNK 16384
#define CHUNK_MAPPED 65536
#define REPORT_BYTES ((uint64_t)1 << 20)

static size_t chunk_for(const quire_txn *src)
{
	return src->snap->qf->smap ? CHUNK_MAPPED : CHUNK;
}

/* The callback or a closing handle may cancel. */
int rebuild_progress(struct rebuild *c, int force)
{
	uint64_t done = df_next_offset(c->t);
	if (c->pace && !gate_held(c->db->gate)) /* never holding writers off */
		pace_point(c->pace);
	if (c->cancel && atomic_load(c->cancel))
		return qerr(QUIRE_ECANCELED, "%s: %s canceled: the handle is "
					     "closing",
			    c->db->path, c->what);
	if (!c->o->progress || (!force && done < c->reported + REPORT_BYTES))
		return 0;
	c->reported = done;
	if (done >= c->total) /* a low estimate: done == total means done */
		c->total = done + done / 8 + 1;
	if (c->o->progress(c->o->progress_ctx, done, c->total))
		return qerr(QUIRE_ECANCELED, "%s: %s canceled by its progress "
					     "callback",
			    c->db->path, c->what);
	return 0;
}

int rebuild_check(quire *db, const struct qhdr *h,
		  const quire_compact_options *o, const char *fn)
{
	uint64_t now = o->keep_since_ns > h->time_ns ? db->vfs->now_ns(db->vfs)
						     : 0;
	if (o->keep_since_txn > h->txn)
		return qerr(QUIRE_EINVAL, "%s: %s: keep_since_txn %llu is past "
					  "the newest commit (%llu)",
			    db->path, fn, (unsigned long long)o->keep_since_txn,
			    (unsigned long long)h->txn);
	/* commit times never go back: after the clock did, the newest
	 * commit's time is the present */
	if (o->keep_since_ns > h->time_ns && o->keep_since_ns > now)
		return qerr(QUIRE_EINVAL, "%s: %s: keep_since_ns %llu lies in "
					  "the future (now: %llu ns since 1970)",
			    db->path, fn, (unsigned long long)o->keep_since_ns,
			    (unsigned long long)now);
	return 0;
}

/* ---- 1: the state of K, bottom-up ------------------------------------- */

/*
 * Entries of one tree of a snapshot with its pending operations applied,
 * in key order: tree entries not overridden by a pending version, plus
 * the pending versions whose operation is `want` (WOP_PUT for the key
 * tree, WOP_DEL for the tombstones).
 */
struct merged {
	quire_txn *src;
	int want;
	int tails;             /* tombstones: the tree may hold tails */
	struct tcur tc;
	int tree_ok;           /* tc positioned */
	struct mt_iter mi;
	int mt_ok;             /* mi positioned */
};

static int merged_at(struct merged *m, const void *key, size_t klen,
		     int after)
{
	int e = key ? tcur_seek(&m->tc, key, klen) : tcur_first(&m->tc);
	if (e == 0 && key && after) {
		uint32_t kl;
		const uint8_t *k = tcur_key(&m->tc, &kl);
		if (key_cmp(k, kl, key, klen) == 0)
			e = tcur_next(&m->tc);
	}
	if (e && e != QUIRE_NOTFOUND)
		return e;
	m->tree_ok = e == 0;
	m->mt_ok = (key ? mt_seek(&m->mi, key, klen, !after)
			: mt_first(&m->mi)) == 0;
	return 0;
}

static void merged_init(struct merged *m, quire_txn *src, int tree, int want)
{
	m->src = src;
	m->want = want;
	m->tails = tree == QT_DEAD &&
		   (src->snap->h.features & QF_FEAT_TAILS) != 0;
	tcur_init(&m->tc, src->snap->qf, tree, &src->snap->h.root[tree]);
	mt_iter_init(&m->mi, src->snap->mt, src->snap->h.next_seq);
}

/* The value of a tombstone (an empty one, but not a NULL pointer). */
static const uint8_t no_value[1];

/* A pending operation v on a key of the tombstones (te: the tree's entry of
 * it, te->key NULL: none) as an entry, keeping the tail there (tomb.c):
 * 1 with *out filled, 0 for none. */
static int pending_tomb(struct merged *m, const struct mt_ver *v,
			const uint8_t *k, uint32_t kl, const struct lentry *te,
			struct mut *out, int *err)
{
	const struct snap *s = m->src->snap;
	const uint8_t *tv;
	uint32_t tlen;
	int exact;
	if (v->op != WOP_DEL) { /* a put: only a tail starting there stays */
		*err = 0;
		if (!te->key || !te->vlen)
			return 0;
		*out = (struct mut){.key = te->key, .klen = te->klen,
				    .meta = te->meta,
				    .v = {te->val, te->vlen, 0, 0}};
		return 1;
	}
	if ((*err = tomb_carry(s->qf, &s->h.root[QT_DEAD], k, kl, &exact, &tv,
			       &tlen)) != 0)
		return 0;
	*out = (struct mut){.key = k, .klen = kl, .meta = v->seq,
			    .v = {tlen ? tv : no_value, tlen, 0, 0}};
	return 1;
}

/* The next entry: 0 with *out filled, QUIRE_NOTFOUND at the end, or an
 * error. The bytes stay valid until the source's epoch is renewed. */
static int merged_next(struct merged *m, struct mut *out)
{
	for (;;) {
		uint32_t tk = 0, mk = 0;
		const uint8_t *tkey = m->tree_ok ? tcur_key(&m->tc, &tk) : NULL;
		const uint8_t *mkey = m->mt_ok ? mt_key(&m->mi, &mk) : NULL;
		if (!tkey && !mkey)
			return QUIRE_NOTFOUND;
		int cmp = !tkey ? 1 : !mkey ? -1 : key_cmp(tkey, tk, mkey, mk);
		if (cmp < 0) {
			struct lentry le;
			tcur_entry(&m->tc, &le);
			*out = (struct mut){
				.key = le.key, .klen = le.klen, .meta = le.meta,
				.v = {le.val, le.vlen, le.ool, le.ool_off}};
			int e = tcur_next(&m->tc);
			if (e && e != QUIRE_NOTFOUND)
				return e;
			m->tree_ok = e == 0;
			return 0;
		}
		struct lentry te = {0};
		if (cmp == 0) { /* the pending version overrides the tree */
			tcur_entry(&m->tc, &te);
			int e = tcur_next(&m->tc);
			if (e && e != QUIRE_NOTFOUND)
				return e;
			m->tree_ok = e == 0;
		}
		const struct mt_ver *v = mt_ver(&m->mi);
		int use = v->op == m->want, e = 0;
		if (m->tails) {
			use = pending_tomb(m, v, mkey, mk, &te, out, &e);
			if (e)
				return e;
		} else if (use) {
			struct wval none = {no_value, 0, 0, 0};
			*out = (struct mut){.key = mkey, .klen = mk, .meta = v->seq,
					    .v = m->want == WOP_PUT ? v->v : none};
		}
		m->mt_ok = mt_next(&m->mi) == 0;
		if (use)
			return 0;
	}
}

/* Copy an out-of-line value into the new file (an inline one stays as
 * it is: modify_tree copies it into the leaf). */
static int copy_value(struct rebuild *c, quire_txn *src, struct wval *v)
{
	if (!v->ool)
		return 0;
	struct vbuf *vb = NULL;
	const void *data;
	int e = txn_read_value(src, v->ool_off, v->len, &vb, &data);
	if (!e)
		e = df_append_value(c->t, data, v->len, &v->ool_off);
	vbufs_free(&vb);
	return e;
}

/* Renew the source transaction's epoch: nodes evicted meanwhile may then
 * be freed, so a long copy does not pin the whole file in memory. A feed
 * open on src points into such nodes: it is closed (*feed NULL), and its
 * user reopens it where it stood. */
static void renew_epoch(quire_txn *src, quire_changes **feed)
{
	if (feed) {
		quire_changes_close(*feed);
		*feed = NULL;
	}
	cache_exit(src->snap->qf->cache, &src->es);
	cache_enter(src->snap->qf->cache, &src->es);
}

/*
 * Where K's own puts landed in the new key tree, by sequence number
 * (pos[seq - first]; size 0: not a live version), so that the sequence
 * tree can refer to those leaf entries (PUTREF) instead of storing the
 * values twice. A leaf that a later chunk rewrites stays in the file, so
 * a reference to it stays valid.
 */
struct landed {
	uint64_t first, n;
	struct leafpos *pos;
};

/* Apply muts[0..n) (all past the tree's keys) to *root in the new file;
 * pos (may be NULL) receives where each landed. */
static int append_chunk(struct rebuild *c, int tree, struct mut *muts,
			size_t n, struct leafpos *pos, struct qroot *root)
{
	struct modify m;
	struct qroot old = *root;
	struct epoch_slot es; /* the nodes it reads and demotes stay alive */
	cache_enter(c->t->qf->cache, &es);
	modify_init(&m, c->t, 0);
	int e = modify_tree(&m, tree, &old, muts, n, pos, root);
	if (!e)
		e = df_flush(c->t); /* the nodes go out before their buffers */
	modify_done(&m, e == 0);
	cache_exit(c->t->qf->cache, &es);
	return e ? e : rebuild_progress(c, 0);
}

/* Note where the chunk's versions made by K landed. */
static void note_landed(struct landed *l, const struct mut *muts,
			const struct leafpos *pos, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		if (muts[i].meta >= l->first && muts[i].meta - l->first < l->n)
			l->pos[muts[i].meta - l->first] = pos[i];
}

/* Write a tree of the snapshot src (with its pending operations) into the
 * new file, chunk by chunk; l (key tree only, may be NULL) learns where
 * K's versions landed. */
static int copy_tree(struct rebuild *c, quire_txn *src, int tree,
		     int want, struct qroot *root, struct landed *l,
		     struct qhdr *h)
{
	size_t chunk = chunk_for(src);
	struct mut *muts = malloc(chunk * sizeof *muts);
	struct leafpos *pos = malloc(chunk * sizeof *pos);
	uint8_t *last = malloc(QF_MAX_KEY);
	struct merged m;
	size_t n = 0;
	uint32_t lastlen = 0;
	int e = 0;
	*root = (struct qroot){0};
	if (!muts || !pos || !last) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	merged_init(&m, src, tree, want);
	if ((e = merged_at(&m, NULL, 0, 0)) != 0)
		goto out;
	for (;;) {
		e = merged_next(&m, &muts[n]);
		if (e == QUIRE_NOTFOUND) {
			e = 0;
			break;
		}
		if (e || (e = copy_value(c, src, &muts[n].v)) != 0)
			goto out;
		if (h) { /* the live counts, exact again */
			uint32_t len = muts[n].v.len;
			h->live_raw += muts[n].klen + (uint64_t)len;
			if (len > QUIRE_INLINE_MAX) {
				h->live_ool += len;
				h->live_ool_count++;
			}
		}
		if (++n < chunk)
			continue;
		memcpy(last, muts[n - 1].key, muts[n - 1].klen);
		lastlen = muts[n - 1].klen;
		if ((e = append_chunk(c, tree, muts, n, pos, root)) != 0)
			goto out;
		note_landed(l, muts, pos, n);
		n = 0;
		renew_epoch(src, NULL);
		if ((e = merged_at(&m, last, lastlen, 1)) != 0)
			goto out;
	}
	if (n && (e = append_chunk(c, tree, muts, n, pos, root)) == 0)
		note_landed(l, muts, pos, n);
out:
	free(muts);
	free(pos);
	free(last);
	return e;
}

/* K's own operations, as sequence-tree records: a put whose version is
 * live refers to its leaf entry, the others carry their values (copied). */
static int copy_ops(struct rebuild *c, quire_txn *src,
		    const struct landed *l, struct qroot *root)
{
	uint64_t first = l->first;
	const struct snap *s = src->snap;
	size_t chunk = chunk_for(src);
	struct mut *muts = malloc(chunk * sizeof *muts);
	struct arena ar = {0};
	quire_changes *feed = NULL;
	size_t n = 0;
	int e = 0;
	*root = (struct qroot){0};
	if (!muts)
		e = qerr(QUIRE_ENOMEM, "out of memory");
	for (uint64_t seq = first; !e && seq < s->h.next_seq; seq++) {
		struct op o;
		const struct leafpos *lp = &l->pos[seq - first];
		if (!feed && (e = quire_changes_open(src, seq - 1, &feed)) != 0)
			break;
		if ((e = changes_next_op(feed, &o)) != 0 ||
		    (!lp->size && (e = copy_value(c, src, &o.v)) != 0))
			break;
		struct oprec r = {
			.kind = lp->size ? OP_PUTREF
				: o.kind == QUIRE_OP_DEL ? OP_DEL
				: o.kind == QUIRE_OP_DEL_RANGE ? OP_RANGE
							       : OP_PUT,
			.prev_seq = o.prev_seq,
			.leaf_off = lp->off,
			.leaf_size = lp->size,
			.slot = lp->slot,
			.key = o.key,
			.klen = o.klen,
			.vlen = o.v.len,
			.ool = o.v.ool,
			.ool_off = o.v.ool_off,
			.val = o.v.data,
			.end = o.end,
			.elen = o.elen,
			.to_last = o.to_last,
			.count = o.count};
		size_t len = oprec_size(&r);
		uint8_t *k = arena_alloc(&ar, 8), *rec = arena_alloc(&ar, len);
		if (!k || !rec) {
			e = qerr(QUIRE_ENOMEM, "out of memory");
			break;
		}
		st64be(k, seq);
		oprec_put(rec, &r);
		muts[n++] = (struct mut){.key = k, .klen = 8, .meta = o.txn,
					 .v = {rec, (uint32_t)len, 0, 0}};
		if (n == chunk || seq + 1 == s->h.next_seq) {
			e = append_chunk(c, QT_SEQ, muts, n, NULL, root);
			n = 0;
			arena_free(&ar); /* leaves it empty and usable */
			renew_epoch(src, &feed);
		}
	}
	quire_changes_close(feed);
	arena_free(&ar);
	free(muts);
	return e;
}

/* The new file's first commit: the state of src's commit K as a
 * checkpoint without predecessor, synced. */
static int build_base(struct rebuild *c, quire_txn *src, int tombstones)
{
	const struct qhdr *hk = &src->snap->h;
	quire_log_entry le;
	struct qhdr h = {0};
	struct memtable *mt = NULL;
	struct landed l = {0};
	int e = quire_log_get(src, hk->txn, &le);
	if (e)
		return e;
	l.first = le.first_seq;
	l.n = le.next_seq - le.first_seq;
	if (!(l.pos = calloc(l.n ? l.n : 1, sizeof *l.pos)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	if ((e = copy_tree(c, src, QT_KEYS, WOP_PUT, &h.root[QT_KEYS], &l,
			   &h)) ||
	    (e = copy_ops(c, src, &l, &h.root[QT_SEQ])) ||
	    (tombstones && (e = copy_tree(c, src, QT_DEAD, WOP_DEL,
					  &h.root[QT_DEAD], NULL, NULL)))) {
		free(l.pos);
		return e;
	}
	free(l.pos);
	h.node_size = c->db->opts.node_size;
	h.txn = hk->txn;
	h.time_ns = hk->time_ns;
	h.meta_len = (uint32_t)le.meta.size;
	h.next_seq = hk->next_seq;
	h.key_count = h.root[QT_KEYS].count;
	h.live_bytes = h.root[QT_KEYS].bytes;
	h.history_seq = le.first_seq;
	h.history_txn = hk->txn;
	h.retain_commits = hk->retain_commits;
	h.retain_ns = hk->retain_ns;
	h.features = hk->features; /* K's records are copied */
	h.history_time = hk->history_time; /* K was the oldest already */
	if (hk->txn > hk->history_txn) {    /* else the time of K - 1 */
		quire_log_entry prev;
		if ((e = quire_log_get(src, hk->txn - 1, &prev)) != 0)
			return e;
		h.history_time = prev.time_ns;
	}
	if (!(mt = mt_new(h.next_seq, h.txn, 0, 0)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	if ((e = df_commit(c->t, &h, le.meta.data)) == 0) {
		mt->ckpt_off = h.self_off;
		e = snap_publish(c->t, &h, mt);
	}
	mt_unref(mt);
	/* the rest is synced before and at the swap (a crash before it leaves
	 * a leftover, never a database): no syncs on the way */
	c->t->opts.flags |= QUIRE_NOSYNC;
	c->t->nosync_walk = UINT64_MAX;
	c->t->defer_checkpoint = 1;
	return e;
}

int rebuild_base(struct rebuild *c, quire_txn *src)
{
	quire *db = c->db;
	quire_txn *base = NULL;
	const struct qhdr *h = &src->snap->h;
	const quire_compact_options *o = c->o;
	struct keep keep = {o->keep_last, o->keep_since_txn, o->keep_since_ns};
	uint64_t k;
	if (!keep.last && !keep.since_txn && !keep.since_ns)
		space_policy(h, db->vfs->now_ns(db->vfs), &keep);
	/* K in src's own file: the handle may have moved to a compacted one
	 * since src began (a backup runs beside compactions) */
	int e = space_first_kept(src, &keep, &k);
	if (!e && k != h->txn)
		e = history_begin_at(src, k, &base);
	if (e)
		return e;
	const struct qhdr *hk = &(base ? base : src)->snap->h;
	c->total = hk->live_bytes;
	c->src_end = hk->total_bytes;
	/* tombstones too when history is kept: key history then ends at
	 * QUIRE_EHISTORY, not early */
	if ((e = build_base(c, base ? base : src, k < h->txn)) == 0)
		e = rebuild_progress(c, 1);
	if (base)
		quire_abort(base);
	return e;
}

/* ---- 2: the commits after it ------------------------------------------ */

static int diverged(struct rebuild *c, uint64_t txn)
{
	return qerr(QUIRE_ECORRUPT, "%s: %s: commit %llu does not replay as "
				    "recorded",
		    c->db->path, c->what, (unsigned long long)txn);
}

/* Replay range delete ch: it must remove as many keys as it did. */
static int replay_range(struct rebuild *c, quire_txn *w,
			const quire_change *ch, uint64_t txn_id)
{
	uint64_t n;
	struct wrange r = {.from = ch->key.data,
			   .flen = (uint32_t)ch->key.size,
			   .to = ch->to_last ? NULL : ch->value.data,
			   .tlen = (uint32_t)ch->value.size,
			   .to_last = ch->to_last};
	int e = txn_del_range_raw(w, &r, &n);
	return e ? e : n != ch->count ? diverged(c, txn_id) : 0;
}

/* Replay one commit, whose operations the feed delivers next. */
static int replay_one(struct rebuild *c, quire_txn *src,
		      quire_changes *feed, uint64_t txn_id)
{
	quire_log_entry le;
	quire_change ch;
	quire_txn *w;
	struct qhdr h;
	int e = log_commit(src, txn_id, &le, &h);
	if (e || (e = quire_begin(c->t, 0, &w)) != 0)
		return e;
	if (quire_txn_id(w) != txn_id || w->next_seq != le.first_seq) {
		quire_abort(w);
		return diverged(c, txn_id);
	}
	w->replay_time = le.time_ns;
	w->set_retention = 1; /* as the commit had it */
	w->retention = (quire_retention){h.retain_commits, h.retain_ns};
	w->replay_ckpt = c->ckpt_next;
	w->features = h.features; /* the first keyspace's commit */
	c->ckpt_next = 0;
	for (uint64_t seq = le.first_seq; !e && seq < le.next_seq; seq++) {
		uint64_t prev;
		if ((e = changes_next_raw(feed, &ch, &prev)) != 0)
			break;
		int first = ch.op != QUIRE_OP_DEL_RANGE &&
			    !wbuf_find(w->wb, ch.key.data, ch.key.size);
		if (ch.seq != seq || ch.txn_id != txn_id)
			e = diverged(c, txn_id);
		else if (ch.op == QUIRE_OP_PUT)
			e = txn_put_raw(w, ch.key.data, ch.key.size,
					ch.value.data, ch.value.size);
		else if (ch.op == QUIRE_OP_DEL_RANGE)
			e = replay_range(c, w, &ch, txn_id);
		else if ((e = txn_del_raw(w, ch.key.data, ch.key.size)) ==
			 QUIRE_NOTFOUND)
			e = diverged(c, txn_id);
		if (!e && first) { /* its chain as recorded (the first
				    * keyspace's escaped keys link to other
				    * keys' chains) */
			struct wnode *n = wbuf_find(w->wb, ch.key.data,
						    ch.key.size);
			n->linked = 1;
			n->tseq = prev;
		}
	}
	if (e == QUIRE_NOTFOUND)
		e = diverged(c, txn_id);
	if (e) {
		quire_abort(w);
		return e;
	}
	return quire_commit_with(w, le.meta.data, le.meta.size);
}

/* The batch of commit txn in src's memtable (a commit since its
 * checkpoint), NULL if it has none there. */
static const struct mt_block *batch_of(const quire_txn *src, uint64_t txn)
{
	const struct memtable *mt = src->snap->mt;
	const struct mt_block *b = mt_blocks(mt);
	size_t lo = 0, hi = atomic_load(&((struct memtable *)mt)->nblocks);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b[mid].bi.txn < txn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < atomic_load(&((struct memtable *)mt)->nblocks) &&
			       b[lo].bi.txn == txn && !atomic_load(&b[lo].dead)
		       ? &b[lo]
		       : NULL;
}

/* Copy commit txn_id as it is, if it is a batch commit of src's memtable
 * whose values are all in line: 1 copied, 0 not (replay it), or an error. */
static int copy_one(struct rebuild *c, quire_txn *src, uint64_t txn_id)
{
	const struct mt_block *b = batch_of(src, txn_id);
	quire_log_entry le;
	struct qhdr h;
	quire_txn *w;
	int e;
	if (!b || b->bi.xbytes || txn_id > src->snap->h.txn)
		return 0;
	if ((e = log_commit(src, txn_id, &le, &h)) != 0)
		return e;
	if (h.live_raw == QF_RAW_UNKNOWN) /* quire 0.1's: count them anew */
		return 0;
	if ((e = quire_begin(c->t, 0, &w)) != 0)
		return e;
	e = commit_copy(w, b->b, &b->bi, &h, le.meta.data);
	quire_abort(w); /* committed (or rolled back) already */
	return e ? e : 1;
}

/* Replay the commits of src the new file lacks (with budget_ns, only as
 * many as fit in it); *n: how many. Commits whose batches src's memtable
 * holds are copied as they are; older ones are made again from the
 * changes feed. */
int rebuild_replay(struct rebuild *c, quire_txn *src, uint64_t budget_ns,
		   uint64_t *n)
{
	qvfs *vfs = c->db->vfs;
	uint64_t deadline = budget_ns ? vfs->mono_ns(vfs) + budget_ns : 0;
	struct snap *ts = snap_acquire(c->t);
	uint64_t have = ts->h.txn, next_seq = ts->h.next_seq;
	quire_changes *feed = NULL;
	snap_release(ts);
	*n = 0;
	if (src->snap->h.txn <= have)
		return 0;
	if (src->snap->h.total_bytes > c->src_end) {
		c->total += src->snap->h.total_bytes - c->src_end;
		c->src_end = src->snap->h.total_bytes;
	}
	int e = 0;
	for (uint64_t t = have + 1; !e && t <= src->snap->h.txn; t++) {
		int copied = c->ckpt_next ? 0 : copy_one(c, src, t);
		if (copied < 0) {
			e = copied;
			break;
		}
		if (copied) { /* the feed, if open, is behind now */
			quire_changes_close(feed);
			feed = NULL;
		} else if (!feed &&
			   (e = quire_changes_open(src, next_seq - 1, &feed))) {
			break;
		} else {
			e = replay_one(c, src, feed, t);
		}
		if (!e)
			e = rebuild_progress(c, 0);
		next_seq = c->t->cur_next_seq; /* set by replay_one's commit */
		if (++*n % 256 == 0)
			renew_epoch(src, &feed);
		if (deadline && vfs->mono_ns(vfs) > deadline)
			break;
	}
	quire_changes_close(feed);
	return e;
}

/* Whether the new file's pending operations must be folded now. Copied
 * commits append batches only (a checkpoint per writer checkpoint would
 * copy the tree again each time, and one inside a held round would be a
 * long pause); a compaction that chases a writer for long folds them
 * once in a while, in a round that does not hold the writers off. */
int rebuild_checkpoint_due(struct rebuild *c)
{
	struct snap *ts = snap_acquire(c->t);
	int due = ts->h.pending_ops >= 4 * c->t->opts.checkpoint_ops ||
		  ts->h.pending_bytes >= 4 * QUIRE_CHECKPOINT_BYTES;
	snap_release(ts);
	return due;
}
