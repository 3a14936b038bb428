/*
 * history.c - reading the past: snapshots of old commits (AS-OF), the
 * commit log, the history of a key, and waiting for new commits. Finding
 * the commits and operations they read is ops.c's; the changes feed is
 * feed.c's.
 *
 * Every operation records the key's previous operation, so a key's history
 * is a chain. A range delete is in no key's chain of its own: where a
 * chain (or a tombstone tail, tomb.c) leads to one, the key's version
 * before it is looked up in the commit before the range's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "history.h"
#include "keyspace.h"
#include "kspace.h"
#include "lookup.h"
#include "memtable.h"
#include "ops.h"
#include "pending.h"
#include "recover.h"
#include "snap.h"
#include "txn.h"

/* ---- AS-OF snapshots -------------------------------------------------- */

int history_since(quire *db, const struct snap *s, uint64_t ns,
		  uint64_t *txn)
{
	uint64_t off;
	struct qhdr h;
	int e = find_time(db, s, ns, 0, &off);
	if (e == QUIRE_EHISTORY) { /* all that is left was made since */
		*txn = s->h.history_txn;
		qerr_clear();
		return 0;
	}
	if (e == QUIRE_NOTFOUND) {
		*txn = s->h.txn + 1;
		return 0;
	}
	if (e || (e = df_header(s->qf, off, &h)) != 0)
		return e;
	*txn = h.txn;
	return 0;
}

/* A snapshot of the commit whose header is at off, seen from cur. */
static int snap_at(quire *db, const struct snap *cur, uint64_t off,
		   struct snap **out)
{
	struct qhdr h;
	struct memtable *mt;
	int e = df_header(cur->qf, off, &h);
	if (e)
		return e;
	if ((e = pending_load(cur->qf, &h, cur->mt, &mt)) != 0)
		return e;
	*out = snap_make(&h, mt, cur->qf);
	mt_unref(mt);
	return *out ? 0 : qerr(QUIRE_ENOMEM, "out of memory");
}

/* A transaction reading the commit find finds in cur's file. */
static int begin_from(quire *db, const struct snap *cur,
		      int (*find)(quire *, const struct snap *, const void *,
				  uint64_t *),
		      const void *what, quire_txn **txn)
{
	struct snap *s = NULL;
	struct epoch_slot es;
	uint64_t off;
	int e;
	/* The search walks cur's commit index before any transaction holds
	 * its nodes: hold them as a transaction would, or another thread's
	 * eviction frees them under the walk. */
	cache_enter(cur->qf->cache, &es);
	if ((e = find(db, cur, what, &off)) == 0 &&
	    (e = snap_at(db, cur, off, &s)) == 0)
		e = txn_begin_read(db, s, txn);
	cache_exit(cur->qf->cache, &es);
	return e;
}

static int begin_found(quire *db, int (*find)(quire *, const struct snap *,
					      const void *, uint64_t *),
		       const void *what, quire_txn **txn)
{
	int e;
	qerr_clear();
	if (!db || !txn)
		return qerr(QUIRE_EINVAL, "bad arguments");
	if (df_stale(db) && (e = df_refresh(db)) != 0)
		return e;
	struct snap *cur = snap_acquire(db);
	e = begin_from(db, cur, find, what, txn);
	snap_release(cur);
	return e;
}

static int find_txn_cb(quire *db, const struct snap *s, const void *what,
		       uint64_t *off)
{
	return find_txn(db, s, *(const uint64_t *)what, off);
}

int history_begin_at(quire_txn *from, uint64_t txn_id, quire_txn **txn)
{
	return begin_from(from->db, from->snap, find_txn_cb, &txn_id, txn);
}

struct when {
	uint64_t ns;
	int before;
};

static int find_time_cb(quire *db, const struct snap *s, const void *what,
			uint64_t *off)
{
	const struct when *w = what;
	return find_time(db, s, w->ns, w->before, off);
}

int quire_begin_at(quire *db, uint64_t txn_id, quire_txn **txn)
{
	return begin_found(db, find_txn_cb, &txn_id, txn);
}

int quire_begin_at_time(quire *db, uint64_t unix_ns, unsigned int flags,
			quire_txn **txn)
{
	struct when w = {unix_ns, flags == QUIRE_AT_OR_BEFORE};
	if (flags != QUIRE_AT_OR_BEFORE && flags != QUIRE_AT_OR_AFTER)
		return qerr(QUIRE_EINVAL, "quire_begin_at_time: flags must be "
					  "QUIRE_AT_OR_BEFORE or "
					  "QUIRE_AT_OR_AFTER");
	return begin_found(db, find_time_cb, &w, txn);
}

/* ---- the commit log ---------------------------------------------------- */

/* The header at off and its metadata (in place, or read into a buffer of
 * the transaction). */
static int read_header(quire_txn *txn, uint64_t off, struct qhdr *h,
		       const uint8_t **meta)
{
	int e = df_header(txn->snap->qf, off, h);
	if (e)
		return e;
	*meta = NULL;
	if (!h->meta_len)
		return 0;
	struct qfile *qf = txn->snap->qf;
	uint64_t moff = off + h->size - h->meta_len;
	if (qf->smap && /* verified with its header: in place */
	    (*meta = fmap_at(&qf->map, qf->f, moff, h->meta_len)) != NULL)
		return 0;
	struct vbuf *vb = malloc(sizeof *vb + h->meta_len);
	if (!vb)
		return qerr(QUIRE_ENOMEM, "out of memory");
	if ((e = df_read(qf, vb->data, h->meta_len, moff,
			 "commit metadata")) != 0) {
		free(vb);
		return e;
	}
	vb->next = txn->vbufs;
	txn->vbufs = vb;
	*meta = vb->data;
	return 0;
}

int log_commit(quire_txn *txn, uint64_t txn_id, quire_log_entry *entry,
	       struct qhdr *h)
{
	struct qhdr prev;
	const uint8_t *meta;
	uint64_t off;
	int e;
	if ((e = find_txn(txn->db, txn->snap, txn_id, &off)) != 0 ||
	    (e = read_header(txn, off, h, &meta)) != 0)
		return e;
	prev.next_seq = h->history_seq; /* no predecessor: txn 0, or the
					 * first commit a compaction kept */
	if (h->prev_off &&
	    (e = df_header(txn->snap->qf, h->prev_off, &prev)) != 0)
		return e;
	*entry = (quire_log_entry){
		.txn_id = h->txn,
		.time_ns = h->time_ns,
		.first_seq = prev.next_seq,
		.next_seq = h->next_seq,
		.bytes = h->total_bytes - h->commit_start,
		.meta = {meta, h->meta_len},
	};
	return 0;
}

int quire_log_get(quire_txn *txn, uint64_t txn_id, quire_log_entry *entry)
{
	struct qhdr h;
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_log_get");
	if (!entry)
		return qerr(QUIRE_EINVAL, "quire_log_get: bad arguments");
	return log_commit(ks_base(txn), txn_id, entry, &h);
}

/* ---- the history of a key ------------------------------------------- */

struct quire_history {
	quire_txn *txn;              /* NULL once the transaction ended */
	struct txn_dep dep;          /* on txn */
	uint64_t seq;                /* next version to report; 0: none */
	struct ks_meta meta;         /* where internal keys start */
	int tagged;                  /* the key starts with 0xff: operations
				      * before meta.conv_seq were on another
				      * key of those bytes */
	uint64_t time_txn, time_ns;  /* the last commit time looked up */
	struct vbuf *vb;
	size_t klen, kskip;          /* the internal key; kskip: bytes of it
				      * the key's plain operations lack */
	uint8_t key[];
};

/* The transaction ended: only closing is left. */
static void history_detach(struct txn_dep *d)
{
	quire_history *h = DEP_OWNER(d, quire_history, dep);
	vbufs_free(&h->vb);
	h->txn = NULL;
}

int quire_history_open(quire_txn *view, const void *key, size_t klen,
		       quire_history **out)
{
	int live, e;
	struct ikey k;
	qerr_clear();
	if (!txn_usable(view))
		return txn_unusable(view, "quire_history_open");
	if (!out || (!key && klen))
		return qerr(QUIRE_EINVAL, "quire_history_open: bad arguments");
	if (klen > QUIRE_MAX_KEY_SIZE)
		return qerr(QUIRE_ETOOBIG, "quire_history_open: key too long");
	struct kspace ks = ks_of(view);
	quire_txn *txn = ks_base(view);
	if (ikey_make(&k, &ks, key, klen))
		return qerr(QUIRE_ENOMEM, "out of memory");
	key = k.p;
	klen = k.len;
	quire_history *h = calloc(1, sizeof *h + klen);
	if (!h) {
		ikey_done(&k);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	if (klen)
		memcpy(h->key, key, klen);
	h->klen = klen;
	h->txn = txn;
	h->time_txn = UINT64_MAX;
	h->tagged = klen && *(const uint8_t *)key == KS_TAG;
	if ((e = keyspace_meta(txn, &h->meta)) == 0)
		e = snap_latest_op(txn->snap, key, klen, &h->seq, &live, NULL);
	ikey_done(&k);
	if (e) {
		free(h);
		return e;
	}
	txn_dep_add(txn, &h->dep, history_detach);
	*out = h;
	return 0;
}

/* Range delete o reached the key: its operation before the range (in the
 * commit before o's; versions of o's own transaction that o removed were
 * never committed) and whether the key was there for o to remove. */
static int before_range(quire_history *h, const struct op *o, uint64_t *prev,
			int *removed)
{
	quire *db = h->txn->db;
	struct snap *s;
	uint64_t off;
	int e = o->txn ? find_txn(db, h->txn->snap, o->txn - 1, &off)
		       : QUIRE_NOTFOUND;
	if (e == QUIRE_NOTFOUND) /* the file's first commit */
		return qerr(QUIRE_ECORRUPT, "%s: range delete %llu in no "
					    "commit after another",
			    db->path, (unsigned long long)o->seq);
	if (e || (e = snap_at(db, h->txn->snap, off, &s)) != 0)
		return e;
	e = snap_latest_op(s, h->key + h->kskip, h->klen - h->kskip, prev,
			   removed, NULL);
	snap_release(s);
	return e;
}

int quire_history_next(quire_history *h, quire_key_version *v)
{
	struct op o;
	quire_val val = {NULL, 0};
	int e;
	qerr_clear();
	if (!h || !v)
		return qerr(QUIRE_EINVAL, "quire_history_next: bad arguments");
	if (!h->txn)
		return qerr(QUIRE_EINVAL, "quire_history_next: the history's "
					  "transaction has ended");
	vbufs_free(&h->vb);
	uint64_t prev;
	for (;;) {
		if (!h->seq || (h->tagged && h->seq < h->meta.conv_seq))
			return QUIRE_NOTFOUND;
		if (h->seq < h->txn->snap->h.history_seq)
			return qerr(QUIRE_EHISTORY, "%s: older versions were "
						    "compacted away",
				    h->txn->db->path);
		if ((e = op_at(h->txn->db, h->txn->snap, h->seq, &o)) != 0)
			return e;
		prev = o.prev_seq;
		if (o.kind == QUIRE_OP_DEL_RANGE) {
			int removed;
			if ((e = before_range(h, &o, &prev, &removed)) != 0)
				return e;
			if (removed)
				break;
			h->seq = prev; /* it found the key absent */
			continue;
		}
		if (h->seq >= h->meta.flip_seq || h->seq < h->meta.conv_seq)
			break;
		/* the first keyspace escaped the key: the same value, and
		 * its chain goes on with the key's plain operations */
		h->tagged = 0;
		h->kskip = 2;
		h->seq = prev;
	}
	if (o.txn != h->time_txn) {
		uint64_t off;
		struct qhdr hd;
		if ((e = find_txn(h->txn->db, h->txn->snap, o.txn, &off)) ||
		    (e = df_header(h->txn->snap->qf, off, &hd)))
			return e;
		h->time_txn = o.txn;
		h->time_ns = hd.time_ns;
	}
	if (o.kind == QUIRE_OP_PUT &&
	    (e = txn_value(h->txn, &o.v, &h->vb, &val)) != 0)
		return e;
	*v = (quire_key_version){.seq = o.seq,
				 .txn_id = o.txn,
				 .time_ns = h->time_ns,
				 .op = o.kind,
				 .value = val};
	h->seq = prev;
	return 0;
}

void quire_history_close(quire_history *h)
{
	if (!h)
		return;
	txn_dep_del(&h->dep);
	vbufs_free(&h->vb);
	free(h);
}

/* ---- following -------------------------------------------------------- */

/* Commits of this handle wake the waiter at once (pub_cv); those of other
 * processes show in the slots, a read of the mapped superblock that is
 * cheap enough to poll every millisecond for the first second of a wait
 * (a follower of a busy writer, which must see each commit within a few
 * ms, polls there) and every 5 ms after that (an idle one). The timeout and the naps run on the
 * VFS's monotonic clock: setting the wall clock neither stretches nor cuts
 * them, and a test VFS lets them pass without real waiting. */
int quire_wait(quire *db, uint64_t seq, int timeout_ms)
{
	int e;
	qerr_clear();
	if (!db)
		return qerr(QUIRE_EINVAL, "quire_wait: no handle");
	qvfs *vfs = db->vfs;
	uint64_t start = vfs->mono_ns(vfs);
	uint64_t end = timeout_ms < 0 ? UINT64_MAX
				      : start + (uint64_t)timeout_ms * 1000000u;
	pthread_mutex_lock(&db->pub_mu);
	for (;;) {
		pthread_mutex_unlock(&db->pub_mu);
		e = df_stale(db) ? df_refresh(db) : 0;
		pthread_mutex_lock(&db->pub_mu);
		if (e || atomic_load(&db->cur_next_seq) > seq)
			break;
		uint64_t now = vfs->mono_ns(vfs);
		uint64_t nap = now - start < 1000000000u ? 1000000 : 5000000;
		if (now >= end) {
			e = QUIRE_ETIMEDOUT;
			break;
		}
		if (nap > end - now)
			nap = end - now;
		if (vfs->cond_wait) {
			vfs->cond_wait(vfs, &db->pub_cv, &db->pub_mu, nap);
		} else {
			pthread_mutex_unlock(&db->pub_mu);
			vfs->sleep_ns(vfs, nap);
			pthread_mutex_lock(&db->pub_mu);
		}
	}
	pthread_mutex_unlock(&db->pub_mu);
	return e;
}
