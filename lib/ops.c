/*
 * ops.c - finding, as of a snapshot, a commit by its txn id or its time
 * and an operation by its sequence number: what AS-OF snapshots, the
 * commit log, key history (history.c) and the changes feed (feed.c) all
 * read the past with.
 *
 * Where a commit's header is: the newest is the snapshot's own; those since
 * the last checkpoint end right after their batch (the memtable holds the
 * batches, oldest first); the checkpoint's is named by every header; older
 * ones are in the commit index tree, keyed by (time, txn). Commit times
 * never decrease, so that key orders commits by txn id as well as by time,
 * and one tree answers both questions in O(log commits).
 *
 * Where an operation is: below the snapshot's checkpoint sequence number in
 * the oplog tree, above it in a pending batch.
 */
#include "config.h"

#include "batch.h"
#include "error.h"
#include "file.h"
#include "keyspace.h"
#include "kspace.h"
#include "memtable.h"
#include "ops.h"
#include "oplog.h"
#include "tree.h"

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
int find_txn(quire *db, const struct snap *s, uint64_t txn, uint64_t *off)
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
int find_time(quire *db, const struct snap *s, uint64_t ns, int before,
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

/* ---- operations by sequence number ------------------------------------ */

/* The live block of s's memtable holding seq (seq above the checkpoint). */
const struct mt_block *block_of(const struct snap *s, uint64_t seq)
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
int decode_tree_op(struct qfile *qf, const struct lentry *le, struct op *o)
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

void decode_brec(const struct mt_block *b, const struct brec *r,
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
int op_at(quire *db, const struct snap *s, uint64_t seq, struct op *o)
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

/* ---- where keys are internal ------------------------------------------ */

/* Where the operations of txn's file have internal keys: from the first
 * keyspace's commit on (keyspace.c); nowhere without keyspaces. */
int keyspace_meta(quire_txn *txn, struct ks_meta *m)
{
	*m = (struct ks_meta){UINT64_MAX, UINT64_MAX, 0};
	return ks_escaped(txn) ? ks_meta(txn, m) : 0;
}
