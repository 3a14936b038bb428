/*
 * space.c - what a file holds, and what a compaction would keep of it.
 *
 * Retention: a compaction keeps the commits from K on, K being the first
 * commit the policy (or the caller's keep_* options) keeps: one of the
 * newest N, or one made since a time. Older commits go (QUIRE_EHISTORY).
 *
 * Accounting: a compaction writes K's state bottom-up (full nodes), K's
 * own operations, the tombstones when older history stays, and every later
 * commit again as a batch. Its size follows from the counts each header
 * carries - the live keys, their key and value bytes, the values stored
 * out of line - and a model of how full nodes pack, so quire_txn_stat()
 * and the automatic trigger know the reclaimable bytes without reading
 * the trees. The model is tested against real compactions
 * (tests/test_space.c).
 */
#include "config.h"

#include "error.h"
#include "file.h"
#include "history.h"
#include "kspace.h"
#include "lookup.h"
#include "space.h"
#include "txn.h"

void space_policy(const struct qhdr *h, uint64_t now, struct keep *k)
{
	*k = (struct keep){0};
	if (h->retain_commits == QF_KEEP_ALL) {
		k->since_txn = 1; /* every commit the file still has */
		return;
	}
	k->last = h->retain_commits;
	if (h->retain_ns)
		k->since_ns = now > h->retain_ns ? now - h->retain_ns : 1;
}

int space_first_kept(quire_txn *txn, const struct keep *k, uint64_t *first)
{
	const struct snap *s = txn->snap;
	uint64_t n = s->h.txn, kept = n;
	if (k->last)
		kept = k->last > n ? 0 : n + 1 - k->last;
	if (k->since_txn && k->since_txn < kept)
		kept = k->since_txn;
	if (k->since_ns) {
		uint64_t t;
		int e = history_since(txn->db, s, k->since_ns, &t);
		if (e)
			return e;
		if (t < kept)
			kept = t;
	}
	*first = kept < s->h.history_txn ? s->h.history_txn : kept;
	return 0;
}

/* Expected length of the varint of a number drawn uniformly from [1, n]. */
static double varint_mean(uint64_t n)
{
	double sum = 0;
	uint64_t lo = 1;
	for (unsigned len = 1; lo <= n && len <= VARINT_MAX; len++) {
		uint64_t hi = len >= 9 ? n : QMIN(n, ((uint64_t)1 << (7 * len)) - 1);
		sum += (double)(hi - lo + 1) * len;
		lo = hi + 1;
	}
	return n ? sum / (double)n : 1;
}

/* x as a byte count: estimates made of estimates (the raw bytes after a
 * range delete) can leave the range of uint64_t, whose conversion would
 * be undefined. */
static uint64_t bytes_of(double x)
{
	return x <= 0 ? 0 : x >= 18446744073709549568.0 ? UINT64_MAX
							 : (uint64_t)x;
}

static double up(double x) /* ceil() without libm */
{
	double t = (double)bytes_of(x);
	return t < x ? t + 1 : t;
}

/* Bytes of a tree of n entries of e encoded bytes on average (keys of
 * about klen bytes), written bottom-up in nodes of node_size bytes: each
 * node is filled while the next entry fits, so about half an entry of
 * each is left empty; then a level of parent entries per level of nodes. */
static double packed(double n, double e, double klen, unsigned node_size)
{
	double bytes = 0, room = node_size - QF_BLOCK_HDR;
	const double parent = klen + 1 + 5 + 2 + 3 + 3 + 2; /* ientry, slot */
	if (n <= 0)
		return 0;
	for (;;) {
		double nodes = up(n * (e + 2) / (room - (e + 2) / 2));
		if (nodes < 1)
			nodes = 1;
		bytes += n * (e + 2) + nodes * QF_BLOCK_HDR;
		if (nodes <= 1)
			return bytes;
		n = nodes;
		e = parent - 2;
	}
}

/* The key tree of the state h describes, written by compaction. */
static double key_tree_bytes(const struct qhdr *h)
{
	double n = (double)h->key_count, ool = (double)h->live_ool_count;
	if (h->key_count == 0)
		return 0;
	/* entry: klen varint, key, meta (the seq that set it), vh, value or
	 * the value block's offset (a varint of the file position) */
	double inline_bytes = (double)(h->live_raw - h->live_ool);
	double e = (inline_bytes + n * (1 + varint_mean(h->next_seq) + 2) +
		    ool * 5) /
		   n;
	double klen = QMIN(e, 24.0);
	return packed(n, e, klen, h->node_size ? h->node_size : 4096) +
	       (double)h->live_ool + ool * QF_BLOCK_HDR;
}

/*
 * The commits after `first` (whose header is hk), copied as batches. A
 * batch commit's bytes here are the bytes its copy takes (batch, value
 * blocks, header: the same encoding), and the batch commits between two
 * checkpoints are contiguous, so each run of them is one subtraction. A
 * checkpoint's own operations went into the trees, not into a batch: those
 * are estimated as live-sized records. One header read per checkpoint.
 */
static int history_bytes(quire_txn *txn, uint64_t first,
			 const struct qhdr *hk, double *bytes)
{
	const struct qhdr *h = &txn->snap->h;
	struct qhdr cur = *h, ck, prev;
	double n = (double)h->key_count;
	/* a record: op, klen, key, prev seq, vh, value (or the offset of
	 * its value block), an index slot */
	double rec = n ? ((double)h->live_raw +
			  (double)h->live_ool_count * (QF_BLOCK_HDR + 4)) /
				 n +
				 5 + 8
		       : 32;
	int e;
	*bytes = 0;
	for (;;) {
		ck = cur;
		if (cur.ckpt_off != cur.self_off &&
		    (e = df_header(txn->snap->qf, cur.ckpt_off, &ck)) != 0)
			return e;
		const struct qhdr *lo = ck.txn > first ? &ck : hk;
		*bytes += (double)(cur.total_bytes - lo->total_bytes);
		if (ck.txn <= first || !ck.prev_off)
			return 0;
		if ((e = df_header(txn->snap->qf, ck.prev_off, &prev)))
			return e;
		*bytes += QF_HDR_FIXED + 56 + ck.meta_len +
			  (double)(ck.next_seq - prev.next_seq) * rec;
		cur = prev;
	}
}

int space_account(quire_txn *txn, struct space *sp)
{
	const struct qhdr *h = &txn->snap->h;
	quire *db = txn->db;
	struct keep k;
	uint64_t first;
	quire_log_entry le;
	struct qhdr hk;
	int e;
	*sp = (struct space){0};
	space_policy(h, db->vfs->now_ns(db->vfs), &k);
	if ((e = space_first_kept(txn, &k, &first)) != 0 ||
	    (e = log_commit(txn, first, &le, &hk)) != 0)
		return e;
	if (hk.live_raw == QF_RAW_UNKNOWN) { /* quire 0.1: no counts */
		sp->kept = h->total_bytes;
		return 0;
	}
	double kept = QF_SUPER_SIZE + QF_HDR_FIXED + hk.meta_len +
		      key_tree_bytes(&hk);
	/* K's own operations: sequence-tree records of 8-byte keys */
	double kops = (double)(le.next_seq - le.first_seq);
	kept += packed(kops, 1 + 8 + varint_mean(hk.txn) + 1 + 12,
		       8, hk.node_size ? hk.node_size : 4096);
	double history = 0;
	if (first < h->txn && (e = history_bytes(txn, first, &hk, &history)))
		return e;
	history += (double)hk.root[QT_DEAD].bytes;
	sp->history = bytes_of(history);
	sp->kept = bytes_of(kept + history);
	sp->reclaimable =
		h->total_bytes > sp->kept ? h->total_bytes - sp->kept : 0;
	return 0;
}

int quire_txn_stat(quire_txn *txn, quire_stat *st)
{
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_txn_stat");
	if (!st)
		return qerr(QUIRE_EINVAL, "quire_txn_stat: bad arguments");
	const struct qhdr *h = &txn->snap->h;
	struct space sp;
	uint64_t pbytes, ptxn, ptime, now = txn->db->vfs->now_ns(txn->db->vfs);
	int e = space_account(txn, &sp);
	if (e)
		return e;
	/* the keyspace catalog's records are no keys of the user's */
	static const uint8_t cat[2] = {KS_TAG, KS_NAME}, data[2] = {KS_TAG,
								    KS_DATA};
	struct wrange r = {.from = cat, .flen = 2, .to = data, .tlen = 2};
	int64_t ncat = 0;
	if (ks_escaped(ks_base(txn)) &&
	    (e = committed_count(ks_base(txn), &r, &ncat)) != 0)
		return e;
	txn_pinned(txn->db, &pbytes, &ptxn, &ptime);
	*st = (quire_stat){
		.txn_id = h->txn,
		.commit_time_ns = h->time_ns,
		.next_seq = h->next_seq,
		.key_count = h->key_count - (uint64_t)ncat,
		.live_bytes = h->live_bytes,
		.oplog_bytes = h->root[QT_SEQ].bytes,
		.file_bytes = h->total_bytes,
		.depth = h->root[QT_KEYS].height,
		.node_size = h->node_size,
		.pending_ops = h->pending_ops,
		.pending_bytes = h->pending_bytes,
		.garbage_ratio = h->total_bytes ? (double)sp.reclaimable /
							 (double)h->total_bytes
						: 0.0,
		.history_txn = h->history_txn,
		.history_seq = h->history_seq,
		.retention = {h->retain_commits, h->retain_ns},
		.raw_bytes = h->live_raw,
		.kept_bytes = sp.kept,
		.history_bytes = sp.history,
		.reclaimable_bytes = sp.reclaimable,
		.pinned_bytes = pbytes,
		.pinned_txn = ptxn,
		.pinned_age_ns = ptxn && now > ptime ? now - ptime : 0,
	};
	return 0;
}
