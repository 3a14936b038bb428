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

#include "error.h"
#include "gate.h"
#include "memtable.h"
#include "tree.h"
#include "txn.h"
#include "wbuf.h"

void writer_release(quire *db)
{
	df_unlock(db);
	gate_leave(db->gate);
}

int writer_acquire(quire *db)
{
	if (gate_enter(db->gate) != 0)
		return qerr(QUIRE_EBUSY, "%s: this thread already holds a write "
					 "transaction of this file; end it first",
			    db->path);
	int e = df_lock(db);
	if (e)
		gate_leave(db->gate);
	return e;
}

int txn_begin_read(quire *db, struct snap *snap, quire_txn **out)
{
	quire_txn *txn = calloc(1, sizeof *txn);
	if (!txn) {
		snap_release(snap);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	txn->db = db;
	txn->snap = snap;
	cache_enter(snap->qf->cache, &txn->es);
	txn->next_seq = snap->h.next_seq;
	atomic_fetch_add(&db->ntxn, 1);
	*out = txn;
	return 0;
}

int quire_begin(quire *db, unsigned int flags, quire_txn **out)
{
	int e;
	qerr_clear();
	if (!db || !out || (flags & ~QUIRE_RDONLY))
		return qerr(QUIRE_EINVAL, "quire_begin: bad arguments");
	if (flags & QUIRE_RDONLY) {
		struct snap *s = snap_acquire(db);
		if (df_stale_snap(s)) {
			snap_release(s);
			if ((e = df_refresh(db)) != 0)
				return e;
			s = snap_acquire(db);
		}
		return txn_begin_read(db, s, out);
	}
	quire_txn *txn = calloc(1, sizeof *txn);
	if (!txn)
		return qerr(QUIRE_ENOMEM, "out of memory");
	txn->db = db;
	{
		if ((e = qdb_writable(db)) == 0 &&
		    (e = writer_acquire(db)) == 0 &&
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
	txn->snap = snap_acquire(db);
	cache_enter(txn->snap->qf->cache, &txn->es);
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
		.garbage_ratio = h->total_bytes ? (double)(h->total_bytes -
							  h->live_bytes) /
							 (double)h->total_bytes
						: 0.0,
		.history_txn = h->history_txn,
		.history_seq = h->history_seq,
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
	int e = df_read(txn->snap->qf, vb->data, size, off, "value");
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

int txn_lookup(quire_txn *txn, const void *key, size_t klen,
	       struct wval *v, uint64_t *seq)
{
	*seq = 0;
	if (txn->wb) {
		struct wnode *n = wbuf_find(txn->wb, key, klen);
		if (n) {
			if (n->op == WOP_DEL)
				return QUIRE_NOTFOUND;
			*v = n->v;
			*seq = txn->snap->h.next_seq + n->last;
			return 0;
		}
	}
	const struct mt_ver *mv =
		mt_get(txn->snap->mt, key, klen, txn->snap->h.next_seq);
	if (mv) {
		if (mv->op == WOP_DEL)
			return QUIRE_NOTFOUND;
		*v = mv->v;
		*seq = mv->seq;
		return 0;
	}
	struct lentry le;
	int e = tree_get(txn->snap->qf, &txn->snap->h.root[QT_KEYS], QT_KEYS, key,
			 klen, &le);
	if (!e) {
		*v = (struct wval){le.val, le.vlen, le.ool, le.ool_off};
		*seq = le.meta;
	}
	return e;
}

int quire_get_seq(quire_txn *txn, const void *key, size_t klen,
		  quire_val *val, uint64_t *seq)
{
	int e;
	struct wval v;
	uint64_t s;
	qerr_clear();
	if ((e = check_key(txn, key, klen, "quire_get")) != 0)
		return e;
	e = txn_lookup(txn, key, klen, &v, &s);
	if (seq)
		*seq = s;
	return e || !val ? e : txn_value(txn, &v, &txn->vbufs, val);
}

int quire_get(quire_txn *txn, const void *key, size_t klen, quire_val *val)
{
	if (!val)
		return qerr(QUIRE_EINVAL, "quire_get: bad arguments");
	return quire_get_seq(txn, key, klen, val, NULL);
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
	uint64_t seq;
	if ((e = txn_lookup(txn, key, klen, &v, &seq)) != 0)
		return e;
	if ((e = wbuf_add(txn->wb, WOP_DEL, key, klen, NULL)) != 0)
		return qerr(e, "out of memory");
	txn->next_seq++;
	txn->gen++;
	return 0;
}

/* 0 if key is at version expect (0: absent), else QUIRE_ECONFLICT. */
static int check_version(quire_txn *txn, const void *key, size_t klen,
			 uint64_t expect, const char *fn)
{
	struct wval v;
	uint64_t seq;
	int e = check_key(txn, key, klen, fn);
	if (!e && (e = txn_lookup(txn, key, klen, &v, &seq)) == QUIRE_NOTFOUND)
		e = 0;
	if (!e && seq != expect)
		e = qerr(QUIRE_ECONFLICT, "%s: the key is at version %llu, not "
					  "%llu",
			 fn, (unsigned long long)seq,
			 (unsigned long long)expect);
	return e;
}

int quire_put_if(quire_txn *txn, const void *key, size_t klen,
		 const void *val, size_t vlen, uint64_t expect_seq)
{
	qerr_clear();
	int e = check_version(txn, key, klen, expect_seq, "quire_put_if");
	return e ? e : quire_put(txn, key, klen, val, vlen);
}

int quire_del_if(quire_txn *txn, const void *key, size_t klen,
		 uint64_t expect_seq)
{
	qerr_clear();
	int e = check_version(txn, key, klen, expect_seq, "quire_del_if");
	return e ? e : quire_del(txn, key, klen);
}

int quire_checkpoint(quire *db)
{
	quire_txn *txn;
	int e = quire_begin(db, 0, &txn);
	if (e)
		return e;
	if (txn->snap->h.pending_ops)
		e = commit_write(txn, 1);
	quire_abort(txn);
	return e;
}

void vbufs_free(struct vbuf **list)
{
	while (*list) {
		struct vbuf *n = (*list)->next;
		free(*list);
		*list = n;
	}
}

/* Free the transaction; its cursors stay allocated but detached. */
static void txn_end(quire_txn *txn)
{
	quire *db = txn->db;
	cursors_detach(txn);
	vbufs_free(&txn->vbufs);
	cache_exit(txn->snap->qf->cache, &txn->es);
	snap_release(txn->snap);
	free(txn->meta);
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
			e = commit_write(txn, 0);
		}
	}
	quire *db = txn->db;
	int wrote = txn->write && !e;
	txn_end(txn);
	if (wrote && db->opts.auto_compact_ratio > 0)
		compact_auto(db);
	return e;
}

int quire_commit_with(quire_txn *txn, const void *meta, size_t len)
{
	qerr_clear();
	if (!txn || (!meta && len)) {
		quire_abort(txn);
		return qerr(QUIRE_EINVAL, "quire_commit_with: bad arguments");
	}
	if (len > QUIRE_MAX_META_SIZE) {
		quire_abort(txn);
		return qerr(QUIRE_ETOOBIG, "quire_commit_with: metadata of %zu "
					   "bytes exceeds the limit of %u",
			    len, QUIRE_MAX_META_SIZE);
	}
	if (txn->write && len) {
		if (!(txn->meta = malloc(len))) {
			quire_abort(txn);
			return qerr(QUIRE_ENOMEM, "out of memory");
		}
		memcpy(txn->meta, meta, len);
		txn->meta_len = len;
	}
	return quire_commit(txn);
}

void quire_abort(quire_txn *txn)
{
	if (!txn)
		return;
	if (txn->write)
		df_rollback(txn->db);
	txn_end(txn);
}
