/*
 * txn.c - transactions: begin, get, put, del, commit, abort.
 *
 * A write transaction buffers its operations (wbuf.c) and applies them at
 * commit in one sorted pass over each tree (modify.c): first the key tree,
 * whose new leaves tell where every put landed, then the by-sequence tree,
 * whose records point at those leaves. Values longer than QUIRE_INLINE_MAX
 * are written to the file at put time, so a transaction's memory does not
 * grow with its large values.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "memtable.h"
#include "modify.h"
#include "oplog.h"
#include "tree.h"
#include "txn.h"
#include "wbuf.h"

void writer_release(quire *db)
{
	df_unlock(db);
	pthread_mutex_lock(&db->write_mu);
	db->writer_active = 0;
	pthread_cond_signal(&db->write_cv);
	pthread_mutex_unlock(&db->write_mu);
}

int writer_acquire(quire *db)
{
	pthread_mutex_lock(&db->write_mu);
	while (db->writer_active)
		pthread_cond_wait(&db->write_cv, &db->write_mu);
	db->writer_active = 1;
	pthread_mutex_unlock(&db->write_mu);
	int e = df_lock(db);
	if (e) {
		pthread_mutex_lock(&db->write_mu);
		db->writer_active = 0;
		pthread_cond_signal(&db->write_cv);
		pthread_mutex_unlock(&db->write_mu);
	}
	return e;
}

int quire_begin(quire *db, unsigned int flags, quire_txn **out)
{
	int e;
	qerr_clear();
	if (!db || !out || (flags & ~QUIRE_RDONLY))
		return qerr(QUIRE_EINVAL, "quire_begin: bad arguments");
	quire_txn *txn = calloc(1, sizeof *txn);
	if (!txn)
		return qerr(QUIRE_ENOMEM, "out of memory");
	txn->db = db;
	if (flags & QUIRE_RDONLY) {
		if (df_stale(db) && (e = df_refresh(db)) != 0) {
			free(txn);
			return e;
		}
	} else {
		if (db->opts.flags & QUIRE_RDONLY)
			e = qerr(QUIRE_ERDONLY, "%s: opened read-only", db->path);
		else if (atomic_load(&db->failed))
			e = qerr(QUIRE_EFATAL, "%s: an earlier fsync failed; "
					       "reopen the database",
				 db->path);
		else if ((e = writer_acquire(db)) == 0 &&
			 (e = df_writer_begin(db)) != 0)
			writer_release(db);
		if (!e && !(txn->wb = wbuf_new((uintptr_t)txn ^ db->cur_txn))) {
			writer_release(db);
			e = qerr(QUIRE_ENOMEM, "out of memory");
		}
		if (e) {
			free(txn);
			return e;
		}
		txn->write = 1;
	}
	cache_enter(db->cache, &txn->es);
	txn->snap = snap_acquire(db);
	txn->next_seq = txn->snap->h.next_seq;
	atomic_fetch_add(&db->ntxn, 1);
	*out = txn;
	return 0;
}

uint64_t quire_txn_id(const quire_txn *txn)
{
	if (!txn)
		return 0;
	return txn->snap->h.txn + (txn->write ? 1 : 0);
}

int quire_txn_stat(quire_txn *txn, quire_stat *st)
{
	if (!txn || !st)
		return qerr(QUIRE_EINVAL, "quire_txn_stat: bad arguments");
	const struct qhdr *h = &txn->snap->h;
	*st = (quire_stat){
		.txn_id = h->txn,
		.commit_time_ns = h->time_ns,
		.next_seq = h->next_seq,
		.key_count = h->key_count,
		.live_bytes = h->live_bytes,
		.oplog_bytes = h->root[QT_SEQ].bytes,
		.file_bytes = h->total_bytes,
		.depth = h->root[QT_KEYS].height,
		.node_size = h->node_size,
		.pending_ops = h->pending_ops,
		.pending_bytes = h->pending_bytes,
	};
	return 0;
}

int txn_read_value(quire_txn *txn, uint64_t off, uint32_t vlen,
		   struct vbuf **list, const void **out)
{
	quire *db = txn->db;
	size_t size = QF_BLOCK_HDR + (size_t)vlen;
	struct vbuf *vb = malloc(sizeof *vb + size);
	if (!vb)
		return qerr(QUIRE_ENOMEM, "out of memory");
	int e = df_read(db, vb->data, size, off, "value");
	if (!e) {
		struct qblock b;
		qblock_get(vb->data, &b);
		if (b.type != QB_VALUE || b.size != size ||
		    !qblock_crc_ok(vb->data, b.size, off))
			e = qerr(QUIRE_ECORRUPT,
				 "%s: value block at offset %llu: %s", db->path,
				 (unsigned long long)off,
				 b.type != QB_VALUE || b.size != size
					 ? "not the value its entry describes"
					 : "checksum mismatch");
	}
	if (e) {
		free(vb);
		return e;
	}
	vb->next = *list;
	*list = vb;
	*out = vb->data + QF_BLOCK_HDR;
	return 0;
}

int txn_value(quire_txn *txn, const struct wval *v, struct vbuf **list,
	      quire_val *out)
{
	if (!v->ool) {
		*out = (quire_val){v->data, v->len};
		return 0;
	}
	/* our own out-of-line value may still sit in the append buffer */
	int e = txn->write ? df_flush(txn->db) : 0;
	if (!e)
		e = txn_read_value(txn, v->ool_off, v->len, list, &out->data);
	if (!e)
		out->size = v->len;
	return e;
}

int txn_leaf_value(quire_txn *txn, const struct lentry *le,
		   struct vbuf **list, quire_val *out)
{
	struct wval v = {le->val, le->vlen, le->ool, le->ool_off};
	return txn_value(txn, &v, list, out);
}

static int check_key(quire_txn *txn, const void *key, size_t klen,
		     const char *fn)
{
	if (!txn || (!key && klen))
		return qerr(QUIRE_EINVAL, "%s: bad arguments", fn);
	if (klen > QUIRE_MAX_KEY_SIZE)
		return qerr(QUIRE_ETOOBIG, "%s: key of %zu bytes exceeds the "
					   "limit of %d",
			    fn, klen, QUIRE_MAX_KEY_SIZE);
	return 0;
}

int txn_lookup_committed(quire_txn *txn, const void *key, size_t klen,
			 struct wval *v)
{
	const struct mt_ver *mv =
		mt_get(txn->snap->mt, key, klen, txn->snap->h.next_seq);
	if (mv) {
		*v = mv->v;
		return mv->op == WOP_DEL ? QUIRE_NOTFOUND : 0;
	}
	struct lentry le;
	int e = tree_get(txn->db, &txn->snap->h.root[QT_KEYS], QT_KEYS, key,
			 klen, &le);
	if (!e)
		*v = (struct wval){le.val, le.vlen, le.ool, le.ool_off};
	return e;
}

/* The value of key as the transaction sees it: its own operations first,
 * then the pending operations of its commit, then the tree. */
static int lookup(quire_txn *txn, const void *key, size_t klen,
		  struct wval *v)
{
	if (txn->wb) {
		struct wnode *n = wbuf_find(txn->wb, key, klen);
		if (n) {
			*v = n->v;
			return n->op == WOP_DEL ? QUIRE_NOTFOUND : 0;
		}
	}
	return txn_lookup_committed(txn, key, klen, v);
}

int quire_get(quire_txn *txn, const void *key, size_t klen, quire_val *val)
{
	int e;
	struct wval v;
	qerr_clear();
	if ((e = check_key(txn, key, klen, "quire_get")) != 0)
		return e;
	if (!val)
		return qerr(QUIRE_EINVAL, "quire_get: bad arguments");
	e = lookup(txn, key, klen, &v);
	return e ? e : txn_value(txn, &v, &txn->vbufs, val);
}

/* Common checks of put and del: a usable write transaction. */
static int writable(quire_txn *txn, const char *fn)
{
	if (!txn->write)
		return qerr(QUIRE_EINVAL, "%s: read-only transaction", fn);
	if (txn->err)
		return qerr(txn->err, "%s: an earlier operation of this "
				      "transaction failed; abort it",
			    fn);
	return 0;
}

int quire_put(quire_txn *txn, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	int e;
	qerr_clear();
	if ((e = check_key(txn, key, klen, "quire_put")) != 0 ||
	    (e = writable(txn, "quire_put")) != 0)
		return e;
	if (!val && vlen)
		return qerr(QUIRE_EINVAL, "quire_put: bad arguments");
	if (vlen > QUIRE_MAX_VALUE_SIZE)
		return qerr(QUIRE_ETOOBIG, "quire_put: value of %zu bytes "
					   "exceeds the limit of %zu",
			    vlen, QUIRE_MAX_VALUE_SIZE);
	struct wval v = {val, (uint32_t)vlen, 0, 0};
	if (vlen > QUIRE_INLINE_MAX) {
		if ((e = df_append_value(txn->db, val, vlen, &v.ool_off)) != 0)
			return txn->err = e; /* the append area is now unknown */
		v.ool = 1;
		v.data = NULL;
	}
	if ((e = wbuf_add(txn->wb, WOP_PUT, key, klen, &v)) != 0)
		return qerr(e, "out of memory");
	txn->next_seq++;
	txn->gen++;
	return 0;
}

int quire_del(quire_txn *txn, const void *key, size_t klen)
{
	int e;
	qerr_clear();
	if ((e = check_key(txn, key, klen, "quire_del")) != 0 ||
	    (e = writable(txn, "quire_del")) != 0)
		return e;
	struct wval v;
	if ((e = lookup(txn, key, klen, &v)) != 0)
		return e;
	if ((e = wbuf_add(txn->wb, WOP_DEL, key, klen, NULL)) != 0)
		return qerr(e, "out of memory");
	txn->next_seq++;
	txn->gen++;
	return 0;
}

/* The header of the commit txn is making, before its trees change. */
static void next_header(quire_txn *txn, struct qhdr *h)
{
	const struct qhdr *base = &txn->snap->h;
	uint64_t now = txn->db->vfs->now_ns(txn->db->vfs);
	*h = *base;
	h->meta_len = 0;
	h->node_size = txn->db->opts.node_size;
	h->txn = base->txn + 1;
	h->time_ns = now > base->time_ns ? now : base->time_ns;
	h->prev_off = base->self_off;
	h->next_seq = txn->next_seq;
}

/*
 * The usual commit: append the operations as one batch block (plus any
 * value blocks written at put time) and a header; the trees stay as they
 * are. The memtable learns the batch before the header is written, which
 * no snapshot can notice: its versions lie beyond every published
 * next_seq, and are undone if the commit fails.
 */
static int commit_batch(quire_txn *txn)
{
	quire *db = txn->db;
	struct wbuf *wb = txn->wb;
	const struct qhdr *base = &txn->snap->h;
	struct memtable *mt = txn->snap->mt;
	struct qhdr h;
	int64_t delta = 0;
	int e;
	next_header(txn, &h);
	/* The key count moves by the keys this commit creates or removes.
	 * Keys past the largest committed key are new without a lookup (the
	 * common case of appends). */
	const uint8_t *maxk = NULL;
	uint32_t maxkl = 0;
	struct tcur tc;
	tcur_init(&tc, db, QT_KEYS, &base->root[QT_KEYS]);
	if ((e = tcur_last(&tc)) == 0)
		maxk = tcur_key(&tc, &maxkl);
	else if (e != QUIRE_NOTFOUND)
		return e;
	if (mt->tail[0] && (!maxk || key_cmp(mt->tail[0]->key,
					     mt->tail[0]->klen, maxk, maxkl) > 0)) {
		maxk = mt->tail[0]->key;
		maxkl = mt->tail[0]->klen;
	}
	for (struct wnode *n = wbuf_first(wb); n; n = wbuf_next(n)) {
		struct wval v;
		int r = QUIRE_NOTFOUND;
		if (maxk && key_cmp(n->key, n->klen, maxk, maxkl) <= 0)
			r = txn_lookup_committed(txn, n->key, n->klen, &v);
		if (r && r != QUIRE_NOTFOUND)
			return r;
		if (n->op == WOP_PUT && r == QUIRE_NOTFOUND)
			delta++;
		else if (n->op == WOP_DEL && r == 0)
			delta--;
	}
	uint64_t xbytes = 0;
	for (size_t i = 0; i < wb->nops; i++)
		if (wb->ops[i].v.ool)
			xbytes += QF_BLOCK_HDR + (uint64_t)wb->ops[i].v.len;
	struct batch_info bi = {.nkeys = (uint32_t)wb->nkeys,
				.nops = (uint32_t)wb->nops,
				.prev_off = base->pending_off,
				.prev_size = base->pending_size,
				.txn = h.txn,
				.first_seq = base->next_seq,
				.off = df_next_offset(db)};
	uint8_t *block;
	uint64_t off;
	if ((e = batch_encode(wb, &bi, &block, &bi.size)) != 0)
		return e;
	mt_lock(mt);
	e = mt_add_batch(mt, block, &bi); /* mt owns block from here */
	mt_unlock(mt);
	if (e)
		return e;
	if ((e = df_append_block(db, block, bi.size, &off)) == 0) {
		h.pending_off = off;
		h.pending_size = bi.size;
		h.pending_batches++;
		h.pending_ops += wb->nops;
		h.pending_bytes += bi.size + xbytes;
		h.key_count = (uint64_t)((int64_t)base->key_count + delta);
		h.live_bytes = h.root[QT_KEYS].bytes + h.pending_bytes;
		/* A reader of this handle may see the new slot and publish
		 * the commit first; snap_publish() then ignores ours. */
		if ((e = df_commit(db, &h)) == 0)
			return snap_publish(db, &h, mt);
	}
	mt_lock(mt);
	mt_undo_last(mt);
	mt_unlock(mt);
	return e;
}

/* Key-tree mutations of a checkpoint: the pending operations visible to
 * the transaction merged with its own, which win. */
static int checkpoint_muts(quire_txn *txn, struct mut **out, size_t *nout)
{
	struct memtable *mt = txn->snap->mt;
	struct wbuf *wb = txn->wb;
	struct mt_iter it;
	size_t n = 0;
	struct mut *km = malloc((mt->nkeys + wb->nkeys + 1) * sizeof *km);
	if (!km)
		return qerr(QUIRE_ENOMEM, "out of memory");
	mt_iter_init(&it, mt, txn->snap->h.next_seq);
	int r = mt_first(&it);
	struct wnode *w = wbuf_first(wb);
	while (r == 0 || w) {
		uint32_t kl = 0;
		const uint8_t *k = r == 0 ? mt_key(&it, &kl) : NULL;
		int c = !w ? -1 : r ? 1 : key_cmp(k, kl, w->key, w->klen);
		if (c < 0) {
			const struct mt_ver *v = mt_ver(&it);
			km[n++] = (struct mut){.key = k,
					       .klen = kl,
					       .del = v->op == WOP_DEL,
					       .meta = v->seq,
					       .v = v->v};
		} else {
			km[n] = (struct mut){
				.key = w->key,
				.klen = w->klen,
				.del = w->op == WOP_DEL,
				.meta = txn->snap->h.next_seq + w->last,
				.v = w->v};
			w->midx = (uint32_t)n++;
			w = wbuf_next(w);
		}
		if (c <= 0)
			r = mt_next(&it);
	}
	*out = km;
	*nout = n;
	return 0;
}

/* The oplog record of one operation; fin: the key-tree mutation it became,
 * if it is its key's last operation and a put. */
static int seq_mut(struct modify *m, struct mut *sm, uint64_t seq,
		   uint64_t txn_id, int op, const uint8_t *key, uint32_t klen,
		   const struct wval *v, const struct leafpos *fin)
{
	struct oprec r = {0};
	if (fin) {
		r = (struct oprec){.kind = OP_PUTREF,
				   .leaf_off = fin->off,
				   .leaf_size = fin->size,
				   .slot = fin->slot};
	} else {
		r = (struct oprec){.kind = op == WOP_DEL ? OP_DEL : OP_PUT,
				   .key = key,
				   .klen = klen,
				   .vlen = v->len,
				   .ool = v->ool,
				   .ool_off = v->ool_off,
				   .val = v->data};
	}
	size_t len = oprec_size(&r);
	uint8_t *k = arena_alloc(&m->ar, 8), *rec = arena_alloc(&m->ar, len);
	if (!k || !rec)
		return qerr(QUIRE_ENOMEM, "out of memory");
	st64be(k, seq);
	oprec_put(rec, &r);
	*sm = (struct mut){.key = k,
			   .klen = 8,
			   .meta = txn_id,
			   .v = {.data = rec, .len = (uint32_t)len}};
	return 0;
}

/*
 * A checkpoint: fold every pending operation and the transaction's own into
 * the trees in one sorted pass each, and start an empty pending chain.
 * append: the transaction only appends (its full leaves are not cached).
 */
static int commit_checkpoint(quire_txn *txn, int append)
{
	quire *db = txn->db;
	struct wbuf *wb = txn->wb;
	const struct qhdr *base = &txn->snap->h;
	struct memtable *mt = txn->snap->mt, *fresh = NULL;
	uint64_t ckpt = qhdr_ckpt_seq(base), nall = txn->next_seq - ckpt;
	struct mut *km = NULL, *sm = NULL;
	struct leafpos *pos = NULL;
	int32_t *fin = NULL;
	size_t nk = 0, ns = 0;
	struct modify m;
	struct qhdr h;
	int e;
	modify_init(&m, db, !append);
	next_header(txn, &h);
	if ((e = checkpoint_muts(txn, &km, &nk)) != 0)
		goto out;
	sm = malloc(nall * sizeof *sm);
	pos = calloc(nk ? nk : 1, sizeof *pos);
	fin = malloc(nall * sizeof *fin);
	if (!sm || !pos || !fin) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	if ((e = modify_tree(&m, QT_KEYS, &base->root[QT_KEYS], km, nk, pos,
			     &h.root[QT_KEYS])) != 0)
		goto out;
	for (uint64_t i = 0; i < nall; i++)
		fin[i] = -1;
	for (size_t i = 0; i < nk; i++)
		if (!km[i].del)
			fin[km[i].meta - ckpt] = (int32_t)i;
	for (size_t b = 0; !e && b < mt->nblocks; b++) {
		const struct mt_block *mb = &mt->blocks[b];
		struct batch_iter it = {0};
		struct brec r;
		if (mb->dead || mb->bi.first_seq >= base->next_seq)
			continue;
		while (!e && batch_next(mb->b, &mb->bi, &it, &r)) {
			int32_t f = fin[r.seq - ckpt];
			e = seq_mut(&m, &sm[ns++], r.seq, mb->bi.txn, r.op, r.key,
				    r.klen, &r.v, f >= 0 ? &pos[f] : NULL);
		}
	}
	for (size_t i = 0; !e && i < wb->nops; i++) {
		const struct wop *o = &wb->ops[i];
		uint64_t seq = base->next_seq + i;
		int32_t f = fin[seq - ckpt];
		e = seq_mut(&m, &sm[ns++], seq, h.txn, o->op, o->n->key,
			    o->n->klen, &o->v, f >= 0 ? &pos[f] : NULL);
	}
	if (e)
		goto out;
	if (ns != nall) {
		e = qerr(QUIRE_ECORRUPT, "%s: pending operations missing at "
					 "checkpoint",
			 db->path);
		goto out;
	}
	if ((e = modify_tree(&m, QT_SEQ, &base->root[QT_SEQ], sm, ns, NULL,
			     &h.root[QT_SEQ])) != 0)
		goto out;
	h.pending_off = h.pending_ops = h.pending_bytes = 0;
	h.pending_size = h.pending_batches = 0;
	h.key_count = h.root[QT_KEYS].count;
	h.live_bytes = h.root[QT_KEYS].bytes;
	if (!(fresh = mt_new(h.next_seq, h.txn)))
		e = qerr(QUIRE_ENOMEM, "out of memory");
	else if ((e = df_commit(db, &h)) == 0)
		e = snap_publish(db, &h, fresh);
out:
	modify_done(&m, e == 0);
	mt_unref(fresh);
	free(km);
	free(sm);
	free(pos);
	free(fin);
	return e;
}

/* Whether every key the transaction writes lies past the largest key of
 * its commit's tree (a pure append, as in loading sorted data). */
static int appends_only(quire_txn *txn, int *err)
{
	struct tcur tc;
	uint32_t kl;
	struct wnode *first = wbuf_first(txn->wb);
	tcur_init(&tc, txn->db, QT_KEYS, &txn->snap->h.root[QT_KEYS]);
	int e = tcur_last(&tc);
	*err = e == QUIRE_NOTFOUND ? 0 : e;
	if (e)
		return e == QUIRE_NOTFOUND;
	const uint8_t *k = tcur_key(&tc, &kl);
	return key_cmp(first->key, first->klen, k, kl) > 0;
}

/*
 * Batch or checkpoint. Small random commits append a batch: rewriting the
 * tree for them would copy a path of nodes per key. A commit that reaches
 * the checkpoint threshold folds everything. And while nothing is pending,
 * a commit that only appends past the largest key goes straight into the
 * tree, which for appends costs about what the batch would.
 */
static int commit_write(quire_txn *txn)
{
	const struct qhdr *base = &txn->snap->h;
	int e = 0;
	if (!txn->wb->nops)
		return 0;
	if (base->pending_ops + txn->wb->nops >= txn->db->opts.checkpoint_ops ||
	    base->pending_bytes >= QUIRE_CHECKPOINT_BYTES)
		e = commit_checkpoint(txn, 0);
	else if (base->pending_ops == 0 && appends_only(txn, &e))
		e = e ? e : commit_checkpoint(txn, 1);
	else if (!e)
		e = commit_batch(txn);
	if (e)
		df_rollback(txn->db);
	return e;
}

int quire_checkpoint(quire *db)
{
	quire_txn *txn;
	int e = quire_begin(db, 0, &txn);
	if (e)
		return e;
	if (txn->snap->h.pending_ops && (e = commit_checkpoint(txn, 0)) != 0)
		df_rollback(db);
	quire_abort(txn);
	return e;
}

/* Free the transaction; its cursors stay allocated but detached. */
static void txn_end(quire_txn *txn)
{
	quire *db = txn->db;
	cursors_detach(txn);
	for (struct vbuf *v = txn->vbufs, *next; v; v = next) {
		next = v->next;
		free(v);
	}
	cache_exit(db->cache, &txn->es);
	snap_release(txn->snap);
	if (txn->write) {
		wbuf_free(txn->wb);
		writer_release(db);
	}
	atomic_fetch_sub(&db->ntxn, 1);
	free(txn);
}

int quire_commit(quire_txn *txn)
{
	qerr_clear();
	if (!txn)
		return qerr(QUIRE_EINVAL, "quire_commit: no transaction");
	int e = 0;
	if (txn->write) {
		if (txn->err) {
			e = qerr(txn->err, "quire_commit: an earlier operation "
					   "of this transaction failed");
			df_rollback(txn->db);
		} else {
			e = commit_write(txn);
		}
	}
	txn_end(txn);
	return e;
}

void quire_abort(quire_txn *txn)
{
	if (!txn)
		return;
	if (txn->write)
		df_rollback(txn->db);
	txn_end(txn);
}
