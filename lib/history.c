/*
 * history.c - reading the past: snapshots of old commits, the commit log,
 * the changes feed, the history of a key, and waiting for new commits.
 *
 * Where a commit's header is: the newest is the snapshot's own; those since
 * the last checkpoint end right after their batch (the memtable holds the
 * batches, oldest first); the checkpoint's is named by every header; older
 * ones are in the commit index tree, keyed by (time, txn). Commit times
 * never decrease, so that key orders commits by txn id as well as by time,
 * and one tree answers both questions in O(log commits).
 *
 * Where an operation is: below the snapshot's checkpoint sequence number in
 * the oplog tree, above it in a pending batch. Each records the key's
 * previous operation, so a key's history is a chain.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "history.h"
#include "keyspace.h"
#include "kspace.h"
#include "lookup.h"
#include "memtable.h"
#include "oplog.h"
#include "pending.h"
#include "recover.h"
#include "snap.h"
#include "tree.h"
#include "txn.h"

/* ---- finding a commit ---------------------------------------------- */

/* Index one past the last block of mt that belongs to commits up to txn
 * (blocks are in commit order). */
static size_t blocks_upto(const struct memtable *mt, uint64_t txn)
{
	size_t lo = 0, hi = mt->nblocks;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (mt_blocks(mt)[mid].bi.txn <= txn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Among the first n blocks of mt (commit times never decrease), the number
 * made at or before ns (incl) or before it (!incl). */
static size_t blocks_until(const struct memtable *mt, size_t n, uint64_t ns,
			   int incl)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t t = mt_blocks(mt)[mid].bi.time_ns;
		if (t < ns || (incl && t == ns))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t block_header(const struct mt_block *b)
{
	return b->bi.off + b->bi.size; /* the header follows its batch */
}

static int be64_suffix_cmp(const uint8_t *k, uint32_t kl, const void *ctx)
{
	uint64_t want = *(const uint64_t *)ctx, have = kl == 16 ? ld64be(k + 8) : 0;
	return (have > want) - (have < want);
}

/* The header offset of an entry of the commit index. */
static int index_off(const struct tcur *c, uint64_t *off)
{
	struct lentry le;
	tcur_entry(c, &le);
	return le.ool || varint_get(le.val, le.val + le.vlen, off) != le.vlen
		       ? QUIRE_ECORRUPT
		       : 0;
}

/* The header of commit txn as of snapshot s. */
static int find_txn(quire *db, const struct snap *s, uint64_t txn,
		    uint64_t *off)
{
	const struct qhdr *h = &s->h;
	const struct memtable *mt = s->mt;
	struct qhdr ck;
	int e;
	if (txn > h->txn)
		return QUIRE_NOTFOUND;
	if (txn < h->history_txn)
		return qerr(QUIRE_EHISTORY, "%s: commit %llu was compacted away",
			    db->path, (unsigned long long)txn);
	if (txn == h->txn) {
		*off = h->self_off;
		return 0;
	}
	size_t n = blocks_upto(mt, txn);
	if (n && mt_blocks(mt)[n - 1].bi.txn == txn && !mt_blocks(mt)[n - 1].dead) {
		*off = block_header(&mt_blocks(mt)[n - 1]);
		return 0;
	}
	if ((e = df_header(s->qf, h->ckpt_off, &ck)) != 0)
		return e;
	if (txn == ck.txn) {
		*off = ck.self_off;
		return 0;
	}
	if (txn > ck.txn) /* every commit since the checkpoint has a batch */
		return qerr(QUIRE_ECORRUPT, "%s: commit %llu has no batch",
			    db->path, (unsigned long long)txn);
	struct tcur c;
	tcur_init(&c, s->qf, QT_COMMITS, &h->root[QT_COMMITS]);
	if ((e = tcur_seek_cmp(&c, be64_suffix_cmp, &txn)) != 0)
		return e == QUIRE_NOTFOUND ? qerr(QUIRE_ECORRUPT,
						  "%s: commit %llu missing from "
						  "the commit index",
						  db->path,
						  (unsigned long long)txn)
					   : e;
	uint32_t kl;
	const uint8_t *k = tcur_key(&c, &kl);
	if (be64_suffix_cmp(k, kl, &txn) != 0)
		return qerr(QUIRE_ECORRUPT,
			    "%s: commit %llu missing from the commit index",
			    db->path, (unsigned long long)txn);
	return index_off(&c, off);
}

/* The header of the last commit at or before ns (before) or the first at or
 * after it, as of snapshot s. */
static int find_time(quire *db, const struct snap *s, uint64_t ns, int before,
		     uint64_t *off)
{
	const struct qhdr *h = &s->h;
	const struct memtable *mt = s->mt;
	size_t n = blocks_upto(mt, h->txn);
	struct qhdr ck;
	struct tcur c;
	uint8_t key[16];
	int e;
	if ((e = df_header(s->qf, h->ckpt_off, &ck)) != 0)
		return e;
	tcur_init(&c, s->qf, QT_COMMITS, &h->root[QT_COMMITS]);
	if (before) { /* newest first: header, batches, checkpoint, index */
		if (h->time_ns <= ns) {
			*off = h->self_off;
			return 0;
		}
		for (size_t i = blocks_until(mt, n, ns, 1); i-- > 0;)
			if (!mt_blocks(mt)[i].dead) {
				*off = block_header(&mt_blocks(mt)[i]);
				return 0;
			}
		if (ck.time_ns <= ns) {
			*off = ck.self_off;
			return 0;
		}
		if (ns == UINT64_MAX) /* (ns + 1, 0) below would wrap */
			e = tcur_last(&c);
		else {
			st64be(key, ns + 1);
			st64be(key + 8, 0);
			e = tcur_seek(&c, key, 16);
			e = e == QUIRE_NOTFOUND ? tcur_last(&c)
			    : e			? e
						: tcur_prev(&c);
		}
	} else { /* oldest first: index, checkpoint, batches, header */
		if (h->history_txn && ns <= h->history_time)
			return qerr(QUIRE_EHISTORY, "%s: the first commit made "
						    "since then was compacted "
						    "away",
				    db->path);
		st64be(key, ns);
		st64be(key + 8, 0);
		if ((e = tcur_seek(&c, key, 16)) != QUIRE_NOTFOUND)
			goto found;
		if (ck.time_ns >= ns) {
			*off = ck.self_off;
			return 0;
		}
		for (size_t i = blocks_until(mt, n, ns, 0); i < n; i++)
			if (!mt_blocks(mt)[i].dead) {
				*off = block_header(&mt_blocks(mt)[i]);
				return 0;
			}
		if (h->time_ns >= ns) {
			*off = h->self_off;
			return 0;
		}
		return QUIRE_NOTFOUND;
	}
found:
	if (e == QUIRE_NOTFOUND && before && h->history_txn)
		return qerr(QUIRE_EHISTORY, "%s: the commits made by then were "
					    "compacted away",
			    db->path);
	if (e)
		return e;
	if ((e = index_off(&c, off)) != 0)
		return e;
	struct lentry le;
	tcur_entry(&c, &le);
	if (le.meta < h->history_txn)
		return qerr(QUIRE_EHISTORY, "%s: commit %llu was compacted away",
			    db->path, (unsigned long long)le.meta);
	return 0;
}

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

/* ---- operations by sequence number ------------------------------------ */

/* The live block of s's memtable holding seq (seq above the checkpoint). */
static const struct mt_block *block_of(const struct snap *s, uint64_t seq)
{
	const struct memtable *mt = s->mt;
	size_t lo = 0, hi = blocks_upto(mt, s->h.txn);
	while (lo < hi) { /* last block starting at or before seq */
		size_t mid = (lo + hi) / 2;
		if (mt_blocks(mt)[mid].bi.first_seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0)
		if (!mt_blocks(mt)[lo].dead)
			return &mt_blocks(mt)[lo];
	return NULL;
}

/* The operation an oplog-tree entry records. */
static int decode_tree_op(struct qfile *qf, const struct lentry *le,
			  struct op *o)
{
	struct oprec r;
	if (le->klen != 8 || le->ool || oprec_parse(le->val, le->vlen, &r))
		return qerr(QUIRE_ECORRUPT, "%s: malformed oplog entry",
			    qf->path);
	o->seq = ld64be(le->key);
	o->txn = le->meta;
	o->prev_seq = r.prev_seq;
	o->kind = r.kind == OP_DEL     ? QUIRE_OP_DEL
		  : r.kind == OP_RANGE ? QUIRE_OP_DEL_RANGE
				       : QUIRE_OP_PUT;
	o->key = r.key;
	o->klen = r.klen;
	o->v = (struct wval){r.val, r.vlen, r.ool, r.ool_off};
	o->end = r.end;
	o->elen = r.elen;
	o->to_last = r.to_last;
	o->count = r.count;
	if (r.kind != OP_PUTREF)
		return 0;
	const uint8_t *leaf;
	struct lentry e;
	int err = node_get(qf, r.leaf_off, r.leaf_size, QT_KEYS, 0, &leaf);
	if (err)
		return err;
	if (r.slot >= node_count(leaf))
		return qerr(QUIRE_ECORRUPT, "%s: oplog entry %llu names a "
					    "missing leaf entry",
			    qf->path, (unsigned long long)o->seq);
	node_leaf_entry(leaf, r.slot, &e);
	o->key = e.key;
	o->klen = e.klen;
	o->v = (struct wval){e.val, e.vlen, e.ool, e.ool_off};
	return 0;
}

static void decode_brec(const struct mt_block *b, const struct brec *r,
			struct op *o)
{
	*o = (struct op){.seq = r->seq,
			 .txn = b->bi.txn,
			 .prev_seq = r->prev_seq,
			 .kind = r->op == WOP_DEL ? QUIRE_OP_DEL : QUIRE_OP_PUT,
			 .key = r->key,
			 .klen = r->klen,
			 .v = r->v};
}

/* The operation with sequence number seq in snapshot s. */
static int op_at(quire *db, const struct snap *s, uint64_t seq, struct op *o)
{
	if (seq >= qhdr_ckpt_seq(&s->h)) {
		const struct mt_block *b = block_of(s, seq);
		struct brec r;
		if (!b || seq >= b->bi.first_seq + b->bi.nops)
			return qerr(QUIRE_ECORRUPT, "%s: operation %llu is in "
						    "no pending batch",
				    db->path, (unsigned long long)seq);
		batch_record(b->b, &b->bi, seq, &r);
		decode_brec(b, &r, o);
		return 0;
	}
	uint8_t key[8];
	struct lentry le;
	st64be(key, seq);
	int e = tree_get(s->qf, &s->h.root[QT_SEQ], QT_SEQ, key, 8, &le);
	if (e == QUIRE_NOTFOUND)
		e = qerr(QUIRE_ECORRUPT, "%s: operation %llu missing from the "
					 "oplog",
			 db->path, (unsigned long long)seq);
	return e ? e : decode_tree_op(s->qf, &le, o);
}

/* ---- the changes feed ------------------------------------------------- */

struct quire_changes {
	quire_txn *txn;       /* NULL once the transaction ended */
	struct txn_dep dep;   /* on txn */
	uint64_t next;        /* sequence number of the next operation */
	struct tcur t;        /* the oplog tree below the checkpoint */
	int tree_pos;         /* t is positioned */
	const struct mt_block *b;
	struct batch_iter it; /* position in batch b */
	struct vbuf *vb;      /* the value of the last operation */
	struct kspace ks;     /* ks.view: report keyspace ks.id only */
	struct ks_meta meta;  /* where internal keys start (UINT64_MAX:
			       * nowhere) */
	struct ksname *names; /* keyspace names at the feed's position, by
			       * id */
	size_t nnames;
	uint8_t old[QUIRE_MAX_KEYSPACE_NAME]; /* a renamed keyspace's old
					       * name */
};

/* A keyspace's name as the feed goes (len -1: none, dropped). */
struct ksname {
	uint32_t id;
	int len;
	uint8_t name[QUIRE_MAX_KEYSPACE_NAME];
};

/* The transaction ended: only closing is left. */
static void changes_detach(struct txn_dep *d)
{
	quire_changes *f = DEP_OWNER(d, quire_changes, dep);
	vbufs_free(&f->vb);
	f->txn = NULL;
}

/* Where the operations of txn's file have internal keys: from the first
 * keyspace's commit on (keyspace.c); nowhere without keyspaces. */
static int keyspace_meta(quire_txn *txn, struct ks_meta *m)
{
	*m = (struct ks_meta){UINT64_MAX, UINT64_MAX, 0};
	return ks_escaped(txn) ? ks_meta(txn, m) : 0;
}

int quire_changes_open(quire_txn *view, uint64_t since, quire_changes **out)
{
	qerr_clear();
	if (!txn_usable(view))
		return txn_unusable(view, "quire_changes_open");
	if (!out)
		return qerr(QUIRE_EINVAL, "quire_changes_open: bad arguments");
	quire_txn *txn = ks_base(view);
	/* since UINT64_MAX: past everything, an empty feed (since + 1
	 * would wrap) */
	if (since != UINT64_MAX && since + 1 < txn->snap->h.history_seq)
		return qerr(QUIRE_EHISTORY,
			    "%s: operations after %llu were compacted away; the "
			    "oldest kept is %llu",
			    txn->db->path, (unsigned long long)since,
			    (unsigned long long)txn->snap->h.history_seq);
	quire_changes *f = calloc(1, sizeof *f);
	if (!f)
		return qerr(QUIRE_ENOMEM, "out of memory");
	f->txn = txn;
	f->next = since == UINT64_MAX ? since : since + 1;
	tcur_init(&f->t, txn->snap->qf, QT_SEQ, &txn->snap->h.root[QT_SEQ]);
	f->ks = ks_of(view);
	int e = keyspace_meta(txn, &f->meta);
	if (e) {
		free(f);
		return e;
	}
	txn_dep_add(txn, &f->dep, changes_detach);
	*out = f;
	return 0;
}

/* The next operation of the feed into o. */
int changes_next_op(quire_changes *f, struct op *o)
{
	if (!f->txn)
		return qerr(QUIRE_EINVAL, "quire_changes_next: the feed's "
					  "transaction has ended");
	quire *db = f->txn->db;
	const struct snap *s = f->txn->snap;
	int e;
	if (f->next >= s->h.next_seq)
		return QUIRE_NOTFOUND;
	if (f->next < qhdr_ckpt_seq(&s->h)) {
		if (f->tree_pos) {
			e = tcur_next(&f->t);
		} else {
			uint8_t key[8];
			st64be(key, f->next);
			e = tcur_seek(&f->t, key, 8);
			f->tree_pos = 1;
		}
		struct lentry le;
		if (e == QUIRE_NOTFOUND)
			e = qerr(QUIRE_ECORRUPT, "%s: oplog ends before %llu",
				 db->path, (unsigned long long)f->next);
		if (e)
			return e;
		tcur_entry(&f->t, &le);
		if ((e = decode_tree_op(s->qf, &le, o)) != 0)
			return e;
	} else {
		struct brec r;
		if (!f->b || f->next >= f->b->bi.first_seq + f->b->bi.nops) {
			if (!(f->b = block_of(s, f->next)))
				return qerr(QUIRE_ECORRUPT, "%s: operation %llu "
							    "is in no batch",
					    db->path,
					    (unsigned long long)f->next);
			f->it = (struct batch_iter){0};
		}
		do {
			if (!batch_next(f->b->b, &f->b->bi, &f->it, &r))
				return qerr(QUIRE_ECORRUPT, "%s: batch lacks "
							    "operation %llu",
					    db->path,
					    (unsigned long long)f->next);
		} while (r.seq < f->next);
		decode_brec(f->b, &r, o);
	}
	if (o->seq != f->next)
		return qerr(QUIRE_ECORRUPT, "%s: operation %llu out of place",
			    db->path, (unsigned long long)f->next);
	f->next++;
	return 0;
}

int changes_next_raw(quire_changes *f, quire_change *c, uint64_t *prev_seq)
{
	struct op o;
	quire_val v = {NULL, 0};
	int e;
	vbufs_free(&f->vb);
	if ((e = changes_next_op(f, &o)) != 0)
		return e;
	if (o.kind == QUIRE_OP_PUT &&
	    (e = txn_value(f->txn, &o.v, &f->vb, &v)) != 0)
		return e;
	if (o.kind == QUIRE_OP_DEL_RANGE)
		v = (quire_val){o.end, o.elen};
	*c = (quire_change){.seq = o.seq,
			    .txn_id = o.txn,
			    .op = o.kind,
			    .key = {o.key, o.klen},
			    .value = v,
			    .to_last = o.to_last,
			    .count = o.count};
	*prev_seq = o.prev_seq;
	return 0;
}

/* Where keyspace id is or belongs in the feed's names. */
static size_t name_pos(const quire_changes *f, uint32_t id)
{
	size_t lo = 0, hi = f->nnames;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->names[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Set entry n from a catalog operation (id -> name): a put names it, a
 * delete drops it. */
static void name_from(struct ksname *n, const struct op *o)
{
	n->len = -1;
	if (o->kind == QUIRE_OP_PUT && !o->v.ool && o->v.len &&
	    o->v.len <= QUIRE_MAX_KEYSPACE_NAME) {
		memcpy(n->name, o->v.data, o->v.len);
		n->len = (int)o->v.len;
	}
}

/* The name of keyspace id before operation seq: the entry of the feed, or
 * the catalog's version of then, found on the chain of its id record. */
static int name_at(quire_changes *f, uint32_t id, uint64_t seq,
		   struct ksname **out)
{
	size_t i = name_pos(f, id);
	if (i < f->nnames && f->names[i].id == id) {
		*out = &f->names[i];
		return 0;
	}
	uint8_t ik[KS_DATA_PFX];
	uint64_t s;
	int live, e;
	struct ksname *n = realloc(f->names, (f->nnames + 1) * sizeof *n);
	if (!n)
		return qerr(QUIRE_ENOMEM, "out of memory");
	f->names = n;
	memmove(n + i + 1, n + i, (f->nnames - i) * sizeof *n);
	f->nnames++;
	n += i;
	n->id = id;
	n->len = -1;
	*out = n;
	ks_put_id(ik, KS_ID, id);
	if ((e = txn_latest_op(f->txn, ik, sizeof ik, &s, &live, NULL)) != 0)
		return e == QUIRE_NOTFOUND ? 0 : e;
	struct op o;
	uint64_t hist = f->txn->snap->h.history_seq, later = UINT64_MAX;
	while (s >= seq && s >= hist) {
		if ((e = op_at(f->txn->db, f->txn->snap, s, &o)) != 0)
			return e;
		later = s;
		s = o.prev_seq;
	}
	if (!s)
		return 0;
	if (s >= hist) {
		if ((e = op_at(f->txn->db, f->txn->snap, s, &o)) != 0)
			return e;
	} else { /* compacted away; but K, the oldest commit kept, was
		  * written whole: its state has the name of then unless
		  * K itself changed it after seq (then it is lost) */
		const struct snap *sn = f->txn->snap;
		uint64_t off;
		struct qhdr hk;
		struct lentry le;
		if ((e = find_txn(f->txn->db, sn, sn->h.history_txn, &off)) ||
		    (e = df_header(sn->qf, off, &hk)))
			return e;
		if (later < hk.next_seq)
			return 0;
		if ((e = tree_get(sn->qf, &hk.root[QT_KEYS], QT_KEYS, ik,
				  sizeof ik, &le)) != 0)
			return e == QUIRE_NOTFOUND ? 0 : e;
		o.kind = QUIRE_OP_PUT;
		o.v = (struct wval){le.val, le.vlen, le.ool, le.ool_off};
	}
	name_from(n, &o);
	return 0;
}

/* Change c of the feed in terms of keyspaces (kspace.h): 1 to report it,
 * 0 to pass it by (another keyspace's, or the catalog's own records). */
static int translate(quire_changes *f, quire_change *c, int *report)
{
	uint32_t id;
	size_t skip;
	struct ksname *n = NULL;
	*report = 0;
	if (c->seq < f->meta.conv_seq) { /* the default keyspace, as it is */
		*report = !f->ks.id;
		return 0;
	}
	if (c->seq < f->meta.flip_seq)
		return 0; /* escaping default keys: they stay what they were */
	int kind = ks_decode(c->key.data, c->key.size, &id, &skip), e;
	if (kind == KK_META || kind == KK_NAME || (kind == KK_ID && !id) ||
	    (f->ks.view && id != f->ks.id))
		return 0;
	c->keyspace_id = id;
	c->keyspace = (quire_val){NULL, 0};
	if (id && (e = name_at(f, id, c->seq, &n)) != 0)
		return e;
	if (n && n->len > 0)
		c->keyspace = (quire_val){n->name, (size_t)n->len};
	if (kind == KK_ID) { /* the catalog's id -> name record: the
			      * keyspace named (key) or dropped, keyspace
			      * its name before */
		struct op o = {.kind = c->op,
			       .v = {c->value.data, (uint32_t)c->value.size}};
		if (n->len > 0)
			memcpy(f->old, n->name, (size_t)n->len);
		c->keyspace.data = f->old;
		c->op = c->op == QUIRE_OP_PUT ? QUIRE_OP_KEYSPACE
					      : QUIRE_OP_KEYSPACE_DROP;
		c->key = c->op == QUIRE_OP_KEYSPACE ? c->value : c->keyspace;
		c->value = (quire_val){NULL, 0};
		name_from(n, &o);
		*report = !f->ks.view; /* a view's feed: its name only */
		return 0;
	}
	c->key.data = (const uint8_t *)c->key.data + skip;
	c->key.size -= skip;
	if (c->op == QUIRE_OP_DEL_RANGE && !c->to_last) {
		struct kspace ks = {id, 1, 1};
		uint8_t lo[KS_DATA_PFX], hi[KS_DATA_PFX];
		size_t lol, hil;
		ks_bounds(&ks, lo, &lol, hi, &hil);
		if (key_cmp(c->value.data, c->value.size, hi, hil) >= 0) {
			c->to_last = 1;
			c->value = (quire_val){NULL, 0};
		} else {
			skip = ks_skip(&ks, c->value.data, c->value.size);
			c->value.data = (const uint8_t *)c->value.data + skip;
			c->value.size -= skip;
		}
	}
	*report = 1;
	return 0;
}

int quire_changes_next(quire_changes *f, quire_change *c)
{
	int e, report = 0;
	qerr_clear();
	if (!f || !c)
		return qerr(QUIRE_EINVAL, "quire_changes_next: bad arguments");
	uint64_t prev;
	while (!report)
		if ((e = changes_next_raw(f, c, &prev)) != 0 ||
		    (e = translate(f, c, &report)) != 0)
			return e;
	return 0;
}

void quire_changes_close(quire_changes *f)
{
	if (!f)
		return;
	txn_dep_del(&f->dep);
	vbufs_free(&f->vb);
	free(f->names);
	free(f);
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
	uint8_t buf[QK_MAX_KEY];
	size_t il;
	qerr_clear();
	if (!txn_usable(view))
		return txn_unusable(view, "quire_history_open");
	if (!out || (!key && klen))
		return qerr(QUIRE_EINVAL, "quire_history_open: bad arguments");
	if (klen > QUIRE_MAX_KEY_SIZE)
		return qerr(QUIRE_ETOOBIG, "quire_history_open: key too long");
	struct kspace ks = ks_of(view);
	quire_txn *txn = ks_base(view);
	key = ks_key(&ks, key, klen, buf, &il);
	klen = il;
	quire_history *h = calloc(1, sizeof *h);
	if (!h)
		return qerr(QUIRE_ENOMEM, "out of memory");
	h->txn = txn;
	h->time_txn = UINT64_MAX;
	h->tagged = klen && *(const uint8_t *)key == KS_TAG;
	if ((e = keyspace_meta(txn, &h->meta)) != 0 ||
	    (e = txn_latest_op(txn, key, klen, &h->seq, &live, NULL)) != 0) {
		free(h);
		return e;
	}
	txn_dep_add(txn, &h->dep, history_detach);
	*out = h;
	return 0;
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
	for (;;) {
		if (!h->seq || (h->tagged && h->seq < h->meta.conv_seq))
			return QUIRE_NOTFOUND;
		if (h->seq < h->txn->snap->h.history_seq)
			return qerr(QUIRE_EHISTORY, "%s: older versions were "
						    "compacted away",
				    h->txn->db->path);
		if ((e = op_at(h->txn->db, h->txn->snap, h->seq, &o)) != 0)
			return e;
		if (h->seq >= h->meta.flip_seq || h->seq < h->meta.conv_seq)
			break;
		/* the first keyspace escaped the key: the same value, and
		 * its chain goes on with the key's plain operations */
		h->tagged = 0;
		h->seq = o.prev_seq;
	}
	if (o.kind == QUIRE_OP_DEL_RANGE) /* in no key's chain */
		return qerr(QUIRE_ECORRUPT, "%s: the history of a key leads "
					    "to range delete %llu",
			    h->txn->db->path, (unsigned long long)o.seq);
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
	h->seq = o.prev_seq;
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
