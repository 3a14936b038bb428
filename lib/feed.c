/*
 * feed.c - the changes feed: every operation in sequence (ops.c finds
 * them), reported in terms of keyspaces: a keyspace's internal keys turned
 * back into the user's, the catalog's records into keyspace events, with
 * the keyspace names of the feed's position.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "feed.h"
#include "file.h"
#include "keyspace.h"
#include "kspace.h"
#include "lookup.h"
#include "memtable.h"
#include "tree.h"
#include "txn.h"

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
	if ((e = snap_latest_op(f->txn->snap, ik, sizeof ik, &s, &live,
				NULL)) != 0)
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

/* Whether operation seq is the range delete of a keyspace drop: the whole
 * data range of keyspace id, with the delete of its id record two
 * operations on in the same commit (quire_keyspace_drop writes the range,
 * the name record, the id record, in that order). The drop is then one
 * change of the feed, at the id record, and carries the range's count. */
static int drop_range(quire_changes *f, uint64_t seq, uint32_t id,
		      uint64_t *count, int *is)
{
	const struct snap *s = f->txn->snap;
	uint8_t lo[KS_DATA_PFX], hi[KS_DATA_PFX], ik[KS_DATA_PFX];
	size_t lol, hil;
	struct kspace ks = {id, 1, 1};
	struct op r, d;
	int e;
	*is = 0;
	if (seq < s->h.history_seq || seq + 2 >= s->h.next_seq)
		return 0;
	if ((e = op_at(f->txn->db, s, seq, &r)) != 0 ||
	    (e = op_at(f->txn->db, s, seq + 2, &d)) != 0)
		return e;
	ks_bounds(&ks, lo, &lol, hi, &hil);
	ks_put_id(ik, KS_ID, id);
	*is = r.kind == QUIRE_OP_DEL_RANGE && d.kind == QUIRE_OP_DEL &&
	      r.txn == d.txn && !key_cmp(r.key, r.klen, lo, lol) &&
	      !r.to_last && !key_cmp(r.end, r.elen, hi, hil) &&
	      !key_cmp(d.key, d.klen, ik, sizeof ik);
	*count = r.count;
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
			       .v = {.data = c->value.data,
				      .len = (uint32_t)c->value.size}};
		int drop = c->op == QUIRE_OP_DEL, is = 0;
		if (drop && c->seq >= 2 &&
		    (e = drop_range(f, c->seq - 2, id, &c->count, &is)) != 0)
			return e;
		if (!is)
			c->count = 0;
		if (n->len > 0)
			memcpy(f->old, n->name, (size_t)n->len);
		c->keyspace.data = f->old;
		c->op = drop ? QUIRE_OP_KEYSPACE_DROP : QUIRE_OP_KEYSPACE;
		c->key = drop ? c->keyspace : c->value;
		c->value = (quire_val){NULL, 0};
		c->to_last = drop;
		name_from(n, &o);
		*report = !f->ks.view; /* a view's feed: its name only */
		return 0;
	}
	c->key.data = (const uint8_t *)c->key.data + skip;
	c->key.size -= skip;
	if (c->op == QUIRE_OP_DEL_RANGE && !f->ks.view && !c->key.size) {
		uint64_t count;
		int is;
		if ((e = drop_range(f, c->seq, id, &count, &is)) != 0)
			return e;
		if (is)
			return 0; /* reported with the drop */
	}
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
