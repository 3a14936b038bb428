/*
 * compact.c - online compaction: copy what is still needed into
 * "<path>.compact", catch up with the writers, swap the files.
 *
 * 1. Pin the newest commit T0 and choose the first kept commit K (the
 *    options; never older than the file's own history).
 * 2. Build the state of K bottom-up in the new file as its first commit, a
 *    checkpoint whose trees are written in key order (full nodes, one
 *    sequential stream): the key tree, K's own operations in the sequence
 *    tree (history_seq = K's first), and, when history is kept, the
 *    tombstones (so that key history stops at QUIRE_EHISTORY, not at a
 *    false "first version"). That header has no predecessor: history_txn
 *    = K. It is synced, so the file has a durable base.
 * 3. Replay every later commit (K+1 .. newest) from the changes feed and
 *    the commit log as ordinary commits of the new file, with their own
 *    times and metadata: txn ids and sequence numbers come out the same,
 *    because each commit's operations are replayed in sequence order.
 *    Copied commits append batches only (folding them would copy the
 *    tree again per writer checkpoint). Writers go on committing to the
 *    old file meanwhile; rounds repeat while a round still has much to
 *    copy, and after the first few each holds the writer locks (so the
 *    writers of every process) for at most SLICE_NS, so the copy gains on
 *    writers at full speed.
 *    Then both files are synced, so that the final round syncs little.
 * 4. Final round with the writer locks of the old file held (the writer
 *    pause): replay the rest, sync the new file, mark the old file's slot
 *    superseded, rename the new file over the path, sync the directory,
 *    and move the handle to the new file. Marking before renaming matters:
 *    a process that finds the mark while the path still names the old file
 *    (a compaction that died in between) ignores it, and one that finds
 *    the path moved reopens it, so no writer of another process can commit
 *    into the old, unlinked file.
 *
 * Until the rename, the old file is never written (the mark is a slot
 * write, like any commit's), so a crash or an error at any point leaves
 * the database as it was; the new file is removed, or by the next open if
 * the process died. Snapshots keep their own file (struct qfile), so
 * readers begun before the swap go on reading the old one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "arena.h"
#include "commit.h"
#include "compact.h"
#include "error.h"
#include "file.h"
#include "gate.h"
#include "handle.h"
#include "history.h"
#include "ident.h"
#include "lookup.h"
#include "memtable.h"
#include "modify.h"
#include "oplog.h"
#include "recover.h"
#include "snap.h"
#include "space.h"
#include "tree.h"
#include "txn.h"

/* Entries per bulk-build chunk: bounds the memory a chunk pins. */
#define CHUNK 16384
/* Rounds that copied fewer commits than this end the catch-up. */
#define SMALL_ROUND 16
/* Rounds run beside the writers; later ones hold the writers off for at
 * most SLICE_NS each, so that the copy gains on writers that commit as
 * fast as they can be copied. */
#define FREE_ROUNDS 3
#define SLICE_NS 20000000ull
#define REPORT_BYTES ((uint64_t)1 << 20)

struct compaction {
	quire *db;       /* the database */
	quire *t;        /* the new file's handle */
	const quire_compact_options *o;
	uint64_t total;  /* progress estimate */
	uint64_t reported;
	uint64_t src_end; /* source bytes the estimate covers */
	int ckpt_next;    /* the next commit copied is a checkpoint */
};

void quire_compact_options_init(quire_compact_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof *opts);
	opts->version = QUIRE_COMPACT_OPTIONS_VERSION;
}

/* Report progress; the callback or a closing handle may cancel. */
static int progress(struct compaction *c, int force)
{
	uint64_t done = df_next_offset(c->t);
	if (atomic_load(&c->db->compactor->closing))
		return qerr(QUIRE_ECANCELED, "%s: compaction canceled: the "
					     "handle is closing",
			    c->db->path);
	if (!c->o->progress || (!force && done < c->reported + REPORT_BYTES))
		return 0;
	c->reported = done;
	if (done >= c->total) /* a low estimate: done == total means done */
		c->total = done + done / 8 + 1;
	if (c->o->progress(c->o->progress_ctx, done, c->total))
		return qerr(QUIRE_ECANCELED, "%s: compaction canceled by its "
					     "progress callback",
			    c->db->path);
	return 0;
}

/* ---- step 2: the state of K, bottom-up ---------------------------------- */

/*
 * Entries of one tree of a snapshot with its pending operations applied,
 * in key order: tree entries not overridden by a pending version, plus
 * the pending versions whose operation is `want` (WOP_PUT for the key
 * tree, WOP_DEL for the tombstones).
 */
struct merged {
	quire_txn *src;
	int want;
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
	tcur_init(&m->tc, src->snap->qf, tree, &src->snap->h.root[tree]);
	mt_iter_init(&m->mi, src->snap->mt, src->snap->h.next_seq);
}

/* The next entry: 0 with *out filled, QUIRE_NOTFOUND at the end, or an
 * error. The bytes stay valid until the source's epoch is renewed. */
static int merged_next(struct merged *m, struct mut *out)
{
	static const uint8_t none[1];
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
		if (cmp == 0) { /* the pending version overrides the tree */
			int e = tcur_next(&m->tc);
			if (e && e != QUIRE_NOTFOUND)
				return e;
			m->tree_ok = e == 0;
		}
		const struct mt_ver *v = mt_ver(&m->mi);
		int use = v->op == m->want;
		if (use)
			*out = (struct mut){.key = mkey, .klen = mk, .meta = v->seq,
					    .v = m->want == WOP_PUT
							 ? v->v
							 : (struct wval){none, 0, 0, 0}};
		m->mt_ok = mt_next(&m->mi) == 0;
		if (use)
			return 0;
	}
}

/* Copy an out-of-line value into the new file (an inline one stays as
 * it is: modify_tree copies it into the leaf). */
static int copy_value(struct compaction *c, quire_txn *src, struct wval *v)
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
static int append_chunk(struct compaction *c, int tree, struct mut *muts,
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
	return e ? e : progress(c, 0);
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
static int copy_tree(struct compaction *c, quire_txn *src, int tree,
		     int want, struct qroot *root, struct landed *l,
		     struct qhdr *h)
{
	struct mut *muts = malloc(CHUNK * sizeof *muts);
	struct leafpos *pos = malloc(CHUNK * sizeof *pos);
	uint8_t *last = malloc(QUIRE_MAX_KEY_SIZE);
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
		if (++n < CHUNK)
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
static int copy_ops(struct compaction *c, quire_txn *src,
		    const struct landed *l, struct qroot *root)
{
	uint64_t first = l->first;
	const struct snap *s = src->snap;
	struct mut *muts = malloc(CHUNK * sizeof *muts);
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
				: o.kind == QUIRE_OP_DEL ? OP_DEL : OP_PUT,
			.prev_seq = o.prev_seq,
			.leaf_off = lp->off,
			.leaf_size = lp->size,
			.slot = lp->slot,
			.key = o.key,
			.klen = o.klen,
			.vlen = o.v.len,
			.ool = o.v.ool,
			.ool_off = o.v.ool_off,
			.val = o.v.data};
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
		if (n == CHUNK || seq + 1 == s->h.next_seq) {
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
static int build_base(struct compaction *c, quire_txn *src, int tombstones)
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
	h.history_time = hk->history_time; /* K was the oldest already */
	if (hk->txn > hk->history_txn) {    /* else the time of K - 1 */
		quire_log_entry prev;
		if ((e = quire_log_get(src, hk->txn - 1, &prev)) != 0)
			return e;
		h.history_time = prev.time_ns;
	}
	if (!(mt = mt_new(h.next_seq, h.txn, 0)))
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

/* ---- step 3: replaying commits ------------------------------------------ */

static int diverged(struct compaction *c, uint64_t txn)
{
	return qerr(QUIRE_ECORRUPT, "%s: compaction: commit %llu does not "
				    "replay as recorded",
		    c->db->path, (unsigned long long)txn);
}

/* Replay one commit, whose operations the feed delivers next. */
static int replay_one(struct compaction *c, quire_txn *src,
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
	c->ckpt_next = 0;
	for (uint64_t seq = le.first_seq; !e && seq < le.next_seq; seq++) {
		if ((e = quire_changes_next(feed, &ch)) != 0)
			break;
		if (ch.seq != seq || ch.txn_id != txn_id)
			e = diverged(c, txn_id);
		else if (ch.op == QUIRE_OP_PUT)
			e = quire_put(w, ch.key.data, ch.key.size, ch.value.data,
				      ch.value.size);
		else if ((e = quire_del(w, ch.key.data, ch.key.size)) ==
			 QUIRE_NOTFOUND)
			e = diverged(c, txn_id);
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
static int copy_one(struct compaction *c, quire_txn *src, uint64_t txn_id)
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
static int replay(struct compaction *c, quire_txn *src, uint64_t budget_ns,
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
			e = progress(c, 0);
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
static int checkpoint_due(struct compaction *c)
{
	struct snap *ts = snap_acquire(c->t);
	int due = ts->h.pending_ops >= 4 * c->t->opts.checkpoint_ops ||
		  ts->h.pending_bytes >= 4 * QUIRE_CHECKPOINT_BYTES;
	snap_release(ts);
	return due;
}

/* ---- step 4: the swap ---------------------------------------------------- */

/* Move the handle to the new file: its file, newest snapshot and writer
 * state. Called with the writer locks of both files held. */
static void adopt(quire *db, quire *t)
{
	pthread_mutex_lock(&db->refresh_mu);
	pthread_mutex_lock(&db->snap_mu);
	struct qfile *oldqf = db->qf, *oldlock = db->lock_qf;
	struct snap *old = db->cur;
	t->qf->path = db->path;
	db->qf = t->qf;
	db->lock_qf = t->qf; /* held since its creation; writer_release
			      * lets it go */
	qfile_ref(t->qf);
	db->cur = t->cur;
	atomic_store(&db->cur_txn, db->cur->h.txn);
	atomic_store(&db->cur_next_seq, db->cur->h.next_seq);
	t->qf = NULL;
	t->cur = NULL;
	pthread_mutex_unlock(&db->snap_mu);
	pthread_mutex_unlock(&db->refresh_mu);

	struct appender a = db->app;
	db->app = t->app;
	t->app = a;
	db->durable_off = t->durable_off;
	db->durable_txn = t->durable_txn;
	db->slot_counter = t->slot_counter;
	/* the old file's writers (other processes) may go on: they will find
	 * the mark and follow the path */
	oldlock->f->ops->lock(oldlock->f, QVFS_UNLOCK);
	qfile_unref(oldlock);
	qfile_unref(oldqf);
	snap_release(old);
	pthread_mutex_lock(&db->pub_mu);
	pthread_cond_broadcast(&db->pub_cv);
	pthread_mutex_unlock(&db->pub_mu);
}

/* Under the writer locks, before the rename: dest (where the copy goes)
 * still names the database file, which still has one name, and the copy
 * has its owner, group and mode (given at its creation; someone may have
 * changed them since). */
static int same_file(struct compaction *c, const char *dest)
{
	qvfs_file *f = c->db->qf->f, *tf = c->t->qf->f;
	struct qvfs_attrs a, ta;
	int e = ident_names(c->db->vfs, dest, f);
	if (e == 0)
		return qerr(QUIRE_EBUSY, "%s: the name no longer gives the "
					 "database file (moved or replaced while "
					 "it was compacted); nothing was changed",
			    dest);
	if (e == -ENOENT)
		return qerr_os(ENOENT, "%s: the database file is gone (moved "
				       "or removed while it was compacted); "
				       "nothing was changed",
			       dest);
	if (e < 0 && e != -ENOTSUP)
		return qerr_os(-e, "%s: open", dest);
	if ((e = ident_attrs(f, dest, &a)) != 0 ||
	    (e = ident_single(dest, &a)) != 0 ||
	    (e = ident_attrs(tf, c->t->path, &ta)) != 0)
		return e == QUIRE_NOTFOUND ? 0 : e;
	if (ta.mode == a.mode && ta.uid == a.uid && ta.gid == a.gid)
		return 0;
	return ident_give(tf, c->t->path, &a);
}

/* The final round and the swap, with the writer paused. */
static int finish(struct compaction *c)
{
	quire *db = c->db;
	quire_txn *src = NULL;
	uint64_t n;
	int e;
	/* the copy replaces the file the path resolves to: its name is the
	 * copy's without ".compact" (df_create_target) */
	size_t dlen = strlen(c->t->path) - (sizeof ".compact" - 1);
	char *dest = malloc(dlen + 1);
	if (!dest)
		return qerr(QUIRE_ENOMEM, "out of memory");
	memcpy(dest, c->t->path, dlen);
	dest[dlen] = 0;
	/* A writer of another process holds the lock (busy_timeout_ms is the
	 * callers' patience, not ours): go on copying while it commits. A
	 * closing handle cancels the wait for this process's writers. */
	while ((e = writer_acquire_for(db, 0, &db->compactor->closing)) == QUIRE_EBUSY) {
		if ((e = quire_begin(db, QUIRE_RDONLY, &src)) == 0)
			e = replay(c, src, 0, &n);
		if (src)
			quire_abort(src);
		src = NULL;
		if (e || (e = progress(c, 0)) != 0) {
			free(dest);
			return e;
		}
		db->vfs->sleep_ns(db->vfs, 1000000);
	}
	if (e) {
		free(dest);
		return e;
	}
	c->ckpt_next = 0; /* a checkpoint here would be the pause */
	if ((e = df_writer_begin(db)) != 0 ||
	    (e = txn_begin_read(db, snap_acquire(db), &src)) != 0 ||
	    (e = replay(c, src, 0, &n)) != 0 || (e = df_sync(c->t)) != 0 ||
	    (e = same_file(c, dest)) != 0 ||
	    (e = df_mark(db, QF_SLOT_SUPERSEDED)) != 0)
		goto out;
	if ((e = db->vfs->rename(db->vfs, c->t->path, dest, 0)) != 0) {
		e = qerr_os(-e, "%s: renaming over %s", c->t->path, dest);
		df_mark(db, 0); /* best effort: the mark alone is harmless */
		goto out;
	}
	int dir = db->vfs->sync_dir(db->vfs, dest);
	adopt(db, c->t);
	if (dir)
		e = qerr_os(-dir, "%s: compacted, but syncing the directory of "
				  "%s failed: after a power loss the old file "
				  "may be back (complete)",
			    db->path, dest);
out:
	writer_release(db);
	if (src) /* may close the old file: slow for a big one, so after */
		quire_abort(src);
	free(dest);
	return e;
}

/* ---- driving it ----------------------------------------------------------- */

static int run(struct compaction *c)
{
	quire *db = c->db;
	quire_txn *src = NULL, *base = NULL;
	int e = quire_begin(db, QUIRE_RDONLY, &src);
	if (e)
		return e;
	const struct qhdr *h = &src->snap->h;
	const quire_compact_options *o = c->o;
	struct keep keep = {o->keep_last, o->keep_since_txn, o->keep_since_ns};
	uint64_t k;
	if (!keep.last && !keep.since_txn && !keep.since_ns)
		space_policy(h, db->vfs->now_ns(db->vfs), &keep);
	if ((e = space_first_kept(src, &keep, &k)) != 0 ||
	    (e = k == h->txn ? 0 : quire_begin_at(db, k, &base)) != 0)
		goto out;
	int history = k < h->txn; /* tombstones too: key history then
				   * ends at QUIRE_EHISTORY, not early */
	c->total = (base ? base : src)->snap->h.live_bytes;
	c->src_end = (base ? base : src)->snap->h.total_bytes;
	if ((e = qdb_open_target(db, &c->t)) != 0 ||
	    (e = build_base(c, base ? base : src, history)) != 0 ||
	    (e = progress(c, 1)) != 0)
		goto out;
	if (base) {
		quire_abort(base);
		base = NULL;
	}
	/* Catch up until a round is short; then sync what was copied (the
	 * writer's pause should sync only the last few commits) and catch up
	 * with what was committed during that sync. */
	quire_abort(src);
	src = NULL;
	for (int round = 1, synced = 0;; round++) {
		uint64_t n = 0;
		int held = round > FREE_ROUNDS;
		if (checkpoint_due(c)) /* fold it in a free round */
			held = 0, c->ckpt_next = 1;
		/* a held round stops every writer, of any process, for a
		 * slice: it takes the writer locks (in turn with the others:
		 * the file lock's queue) */
		held = held && writer_acquire_for(db, SLICE_NS / 1000000,
						  &db->compactor->closing) == 0;
		qerr_clear();
		if ((e = quire_begin(db, QUIRE_RDONLY, &src)) == 0)
			e = replay(c, src, held ? SLICE_NS : 0, &n);
		if (held)
			writer_release(db);
		if (e || (e = progress(c, 1)) != 0)
			goto out;
		quire_abort(src);
		src = NULL;
		if (n < SMALL_ROUND) {
			if (synced)
				break;
			/* the old file too: on ext4 the final fsync would
			 * otherwise wait for the writers' unsynced data */
			if ((e = df_sync(c->t)) != 0 ||
			    (e = df_fsync(db)) != 0)
				goto out;
			synced = 1;
		}
	}
	if ((e = finish(c)) == 0 && o->progress) /* done: too late to cancel */
		o->progress(o->progress_ctx, c->total, c->total);
out:
	if (base)
		quire_abort(base);
	if (src)
		quire_abort(src);
	return e;
}

/* The options against the newest commit, and the file: history that
 * does not exist yet cannot be kept (a typo, a time in the wrong unit),
 * and a file with several names cannot be replaced by one rename. */
static int check_args(quire *db, const quire_compact_options *o)
{
	quire_txn *t;
	struct qvfs_attrs a;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		return e;
	const struct qhdr *h = &t->snap->h;
	uint64_t now = o->keep_since_ns > h->time_ns ? db->vfs->now_ns(db->vfs)
						     : 0;
	if (o->keep_since_txn > h->txn)
		e = qerr(QUIRE_EINVAL, "%s: quire_compact: keep_since_txn %llu "
				       "is past the newest commit (%llu)",
			 db->path, (unsigned long long)o->keep_since_txn,
			 (unsigned long long)h->txn);
	/* commit times never go back: after the clock did, the newest
	 * commit's time is the present */
	else if (o->keep_since_ns > h->time_ns && o->keep_since_ns > now)
		e = qerr(QUIRE_EINVAL, "%s: quire_compact: keep_since_ns %llu "
				       "lies in the future (now: %llu ns since "
				       "1970)",
			 db->path, (unsigned long long)o->keep_since_ns,
			 (unsigned long long)now);
	else if ((e = ident_attrs(t->snap->qf->f, db->path, &a)) == 0)
		e = ident_single(db->path, &a);
	quire_abort(t);
	return e == QUIRE_NOTFOUND ? 0 : e;
}

int quire_compact(quire *db, const quire_compact_options *opts)
{
	quire_compact_options defaults;
	qerr_clear();
	if (!opts) {
		quire_compact_options_init(&defaults);
		opts = &defaults;
	}
	if (!db || opts->version != QUIRE_COMPACT_OPTIONS_VERSION)
		return qerr(QUIRE_EINVAL, "quire_compact: bad arguments");
	int e = qdb_writable(db);
	if (e)
		return e;
	if (gate_held(db->gate))
		return qerr(QUIRE_EBUSY, "%s: this thread holds the write "
					 "transaction; end it before compacting",
			    db->path);
	if ((e = check_args(db, opts)) != 0)
		return e;
	int no = 0;
	if (!db->compactor)
		return qerr(QUIRE_EINVAL, "%s: quire_compact: a handle of the "
					  "library's own",
			    db->path);
	if (!atomic_compare_exchange_strong(&db->compactor->running, &no, 1))
		return qerr(QUIRE_EBUSY, "%s: a compaction of this handle is "
					 "running",
			    db->path);
	struct compaction c = {.db = db, .o = opts};
	e = run(&c);
	if (c.t) {
		int swapped = c.t->qf == NULL;
		if (!swapped) /* the database is as it was: drop the copy */
			db->vfs->remove(db->vfs, c.t->path);
		qdb_free(c.t);
	}
	atomic_store(&db->compactor->running, 0);
	return e;
}

