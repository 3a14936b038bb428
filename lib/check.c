/*
 * check.c - quire_check(): verify everything a commit reaches.
 *
 * Reads every node from the file (not from the cache, which holds what was
 * verified earlier, not what the disk holds now) and checks what a lookup
 * would only assume: key bounds across nodes, that each separator is the
 * first key of its child, and that entry counts and byte totals add up to
 * what the parent (or the header) records. Value blocks are read and their
 * checksums verified. Damage is reported and the walk goes on with the
 * siblings, so one bad node does not hide the others.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "crc32c.h"
#include "error.h"
#include "file.h"
#include "io.h"
#include "oplog.h"
#include "pending.h"
#include "tomb.h"
#include "tree.h"
#include "txn.h"

struct chk {
	quire *db;
	struct qfile *qf;       /* the file of the snapshot checked */
	const struct qhdr *h;
	quire_check_fn fn;
	void *ctx;
	uint64_t problems;
	uint8_t *vbuf; /* for streaming value blocks */
	int err;       /* the check itself failed (out of memory) */
};

static const char *const tree_name[QT_NTREES] = {
	[QT_KEYS] = "key tree's", [QT_SEQ] = "oplog's",
	[QT_COMMITS] = "commit index's", [QT_DEAD] = "tombstone tree's"};

struct bound {
	const uint8_t *key;
	uint32_t klen;
	int set;
};

static void report(struct chk *c, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct chk *c, uint64_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->fn)
		c->fn(c->ctx, off, msg);
}

#define VCHUNK ((size_t)1 << 20)

/* Read a value block of vlen bytes at off and verify its checksum; key
 * (NULL: none) is whose value it is, for the report. */
static void check_value(struct chk *c, uint64_t off, uint32_t vlen,
			const uint8_t *key, uint32_t klen)
{
	uint8_t hdr[QF_BLOCK_HDR];
	char kb[QERR_KEY_BUF];
	const char *of = key ? qerr_key(kb, key, klen) : "an operation";
	struct qblock b;
	if (df_read(c->qf, hdr, sizeof hdr, off, "value") != 0) {
		report(c, off, "value block of %s: %s", of, quire_errmsg());
		return;
	}
	qblock_get(hdr, &b);
	if (b.type != QB_VALUE || b.size != QF_BLOCK_HDR + (uint64_t)vlen) {
		report(c, off, "value block of %s: not the value its entry "
			       "describes",
		       of);
		return;
	}
	uint32_t crc = crc32c(qblock_crc_start(off), hdr + 4, QF_BLOCK_HDR - 4);
	for (uint64_t done = 0; done < vlen;) {
		size_t k = (size_t)QMIN((uint64_t)VCHUNK, vlen - done);
		if (df_read(c->qf, c->vbuf, k, off + QF_BLOCK_HDR + done,
			    "value") != 0) {
			report(c, off, "value block of %s: %s", of,
			       quire_errmsg());
			return;
		}
		crc = crc32c(crc, c->vbuf, k);
		done += k;
	}
	if (crc != b.crc)
		report(c, off, "value block of %s: checksum mismatch", of);
}

static int in_bounds(const uint8_t *k, uint32_t kl, const struct bound *lo,
		     const struct bound *hi)
{
	return (!lo->set || key_cmp(k, kl, lo->key, lo->klen) >= 0) &&
	       (!hi->set || key_cmp(k, kl, hi->key, hi->klen) < 0);
}

static void check_leaf_entry(struct chk *c, int tree, const uint8_t *n,
			     uint64_t off, unsigned i, uint64_t *xbytes)
{
	struct lentry le;
	node_leaf_entry(n, i, &le);
	if (le.ool) {
		*xbytes += QF_BLOCK_HDR + (uint64_t)le.vlen;
		check_value(c, le.ool_off, le.vlen, tree == QT_KEYS ? le.key : NULL,
			    le.klen);
	}
	if (tree == QT_DEAD) {
		struct ttail t;
		uint64_t ck = qhdr_ckpt_seq(c->h);
		int has = le.ool ? -1 : ttail_get(le.val, le.vlen, &t);
		if (le.meta == 0 || le.meta >= ck)
			report(c, off, "tombstone %u: bad sequence number", i);
		else if (has < 0 ||
			 (has && (t.seq >= ck ||
				  !(c->h->features & QF_FEAT_TAILS) ||
				  !ttail_reaches(&t, le.key, le.klen))))
			report(c, off, "tombstone %u: bad tail", i);
		return;
	}
	if (tree == QT_COMMITS) {
		uint64_t hoff = 0;
		struct qhdr h;
		int e = 0;
		if (le.klen != 16 || le.ool ||
		    varint_get(le.val, le.val + le.vlen, &hoff) != le.vlen ||
		    hoff >= off || le.meta != ld64be(le.key + 8) ||
		    le.meta >= c->h->txn)
			report(c, off, "commit index entry %u: malformed", i);
		else if ((e = df_load_header(c->qf, hoff, &h)) == QUIRE_ENOMEM)
			c->err = e;
		else if (e)
			report(c, off, "commit index entry %u: %s", i,
			       quire_errmsg());
		else if (h.txn != le.meta || h.time_ns != ld64be(le.key))
			report(c, off, "commit index entry %u: names the header "
				       "of another commit",
			       i);
		return;
	}
	if (tree != QT_SEQ)
		return;
	struct oprec r;
	uint64_t seq = le.klen == 8 ? ld64be(le.key) : 0;
	if (le.klen != 8 || seq < c->h->history_seq ||
	    seq >= qhdr_ckpt_seq(c->h))
		report(c, off, "entry %u: sequence number out of range", i);
	else if (le.ool || oprec_parse(le.val, le.vlen, &r) != 0 ||
		 r.prev_seq >= seq)
		report(c, off, "entry %u (seq %llu): malformed operation record",
		       i, (unsigned long long)seq);
	else if (le.meta > c->h->txn || le.meta < c->h->history_txn)
		report(c, off, "entry %u (seq %llu): txn %llu out of range", i,
		       (unsigned long long)seq, (unsigned long long)le.meta);
	else if (r.kind == OP_PUTREF &&
		 (r.leaf_off < QF_SUPER_SIZE || r.leaf_off + r.leaf_size > off))
		report(c, off, "entry %u (seq %llu): leaf reference out of bounds",
		       i, (unsigned long long)seq);
	else if (r.kind == OP_PUT && r.ool)
		check_value(c, r.ool_off, r.vlen, r.key, r.klen);
}

/*
 * Check the subtree at (off, size, level) whose keys must lie in [lo, hi);
 * when lo is set the node's first key must equal it (separators are the
 * first key of their child). *count and *bytes receive the totals found.
 * Returns 0, or -1 if the node could not be read or verified.
 */
static int check_node(struct chk *c, int tree, uint64_t off, uint32_t size,
		      int level, const struct bound *lo, const struct bound *hi,
		      uint64_t *count, uint64_t *bytes)
{
	uint8_t *n = malloc(size ? size : 1);
	int ret = -1;
	if (!n) {
		c->err = qerr(QUIRE_ENOMEM, "out of memory");
		return -1;
	}
	if (df_read(c->qf, n, size, off, "node") != 0 ||
	    node_verify(n, size, off, tree, level) != 0) {
		char a[QERR_KEY_BUF], b[QERR_KEY_BUF];
		report(c, off, "%s; it covers the %s keys [%s, %s)",
		       quire_errmsg(), tree_name[tree],
		       lo->set ? qerr_key(a, lo->key, lo->klen) : "(start)",
		       hi->set ? qerr_key(b, hi->key, hi->klen) : "(end)");
		goto out;
	}
	unsigned cnt = node_count(n);
	uint32_t fl, ll;
	const uint8_t *fk = node_key(n, 0, &fl), *lk = node_key(n, cnt - 1, &ll);
	if (lo->set && key_cmp(fk, fl, lo->key, lo->klen) != 0)
		report(c, off, "first key differs from the parent's separator");
	if (!in_bounds(fk, fl, lo, hi) || !in_bounds(lk, ll, lo, hi))
		report(c, off, "keys outside the range the parent gives");
	*count = 0;
	*bytes = size;
	if (level == 0) {
		*count = cnt;
		for (unsigned i = 0; i < cnt; i++)
			check_leaf_entry(c, tree, n, off, i, bytes);
		ret = 0;
		goto out;
	}
	for (unsigned i = 0; i < cnt; i++) {
		struct ientry ie;
		struct bound clo, chi = *hi;
		node_int_entry(n, i, &ie);
		clo = (struct bound){ie.key, ie.klen, 1};
		if (i + 1 < cnt) {
			chi.key = node_key(n, i + 1, &chi.klen);
			chi.set = 1;
		}
		uint64_t cc, cb;
		if (check_node(c, tree, ie.child_off, ie.child_size, level - 1,
			       i || lo->set ? &clo : lo, &chi, &cc, &cb) == 0 &&
		    (cc != ie.count || cb != ie.bytes))
			report(c, ie.child_off,
			       "subtree holds %llu entries and %llu bytes, its "
			       "parent at offset %llu records %llu and %llu",
			       (unsigned long long)cc, (unsigned long long)cb,
			       (unsigned long long)off,
			       (unsigned long long)ie.count,
			       (unsigned long long)ie.bytes);
		*count += ie.count;
		*bytes += ie.bytes;
	}
	ret = 0;
out:
	free(n);
	return ret;
}

static void check_tree(struct chk *c, int tree, const char *name)
{
	const struct qroot *r = &c->h->root[tree];
	struct bound none = {0};
	uint64_t cnt, bytes;
	if (!r->off)
		return;
	if (check_node(c, tree, r->off, r->size, r->height - 1, &none, &none,
		       &cnt, &bytes) == 0 &&
	    (cnt != r->count || bytes != r->bytes))
		report(c, r->off,
		       "%s tree holds %llu entries and %llu bytes, the header "
		       "records %llu and %llu",
		       name, (unsigned long long)cnt, (unsigned long long)bytes,
		       (unsigned long long)r->count,
		       (unsigned long long)r->bytes);
}

/* The pending batches: each verifies, values it names verify, and the
 * chain adds up to what the header records. */
static void check_pending(struct chk *c)
{
	const struct qhdr *h = c->h;
	uint64_t off = h->pending_off, end = h->next_seq, ops = 0, bytes = 0;
	uint32_t size = h->pending_size, n = 0;
	while (off) {
		uint8_t *b;
		struct batch_info bi;
		struct batch_iter it = {0};
		struct brec r;
		int e = pending_read(c->qf, off, size, &b, &bi);
		if (e == QUIRE_ENOMEM) {
			c->err = e;
			return;
		}
		if (e) {
			report(c, off, "%s", quire_errmsg());
			return;
		}
		if (bi.first_seq + bi.nops != end || bi.txn > h->txn)
			report(c, off, "batch does not continue its chain");
		while (batch_next(b, &bi, &it, &r))
			if (r.v.ool)
				check_value(c, r.v.ool_off, r.v.len, r.key,
					    r.klen);
		free(b);
		n++;
		ops += bi.nops;
		bytes += bi.size + bi.xbytes;
		end = bi.first_seq;
		off = bi.prev_off;
		size = bi.prev_size;
	}
	if (n != h->pending_batches || ops != h->pending_ops ||
	    bytes != h->pending_bytes || end != qhdr_ckpt_seq(h))
		report(c, h->self_off,
		       "header: %u pending batches of %llu operations, the "
		       "chain holds %u of %llu",
		       h->pending_batches, (unsigned long long)h->pending_ops, n,
		       (unsigned long long)ops);
}

/* One commit a slot names must be in the file. */
static void check_named(struct chk *c, const char *which, uint64_t off,
			uint64_t txn)
{
	struct qhdr h;
	int e = df_load_header(c->qf, off, &h);
	if (e == QUIRE_ENOMEM) {
		c->err = e;
		return;
	}
	if (e == 0 && h.txn == txn)
		return;
	report(c, off,
	       "the slot names %s commit %llu at offset %llu, which the file "
	       "does not hold (%s): the file was truncated or damaged after "
	       "that commit; it opens at the last commit that verifies",
	       which, (unsigned long long)txn, (unsigned long long)off,
	       e ? quire_errmsg() : "another commit is there");
}

/* The slots name commits the file must still hold (docs/FORMAT.md
 * invariant 4): the durable one always, the latest one if the slot was
 * written in this boot (before a reboot it may name a NOSYNC commit the
 * crash lost, which is no damage). Opening falls back past a missing
 * commit; this is where the loss is reported. */
static void check_slots(struct chk *c)
{
	struct qslot s[2];
	int n;
	if (df_slot_list(c->qf, s, &n) != 0) {
		report(c, QF_SLOT0_OFF, "slots: %s", quire_errmsg());
		return;
	}
	for (int i = 0; i < n; i++) {
		if (s[i].durable_off)
			check_named(c, "durable", s[i].durable_off,
				    s[i].durable_txn);
		if (c->db->boot_id && s[i].boot_id == c->db->boot_id &&
		    s[i].latest_off != s[i].durable_off)
			check_named(c, "latest", s[i].latest_off,
				    s[i].latest_txn);
	}
}

int quire_check(quire_txn *txn, quire_check_fn fn, void *ctx,
		uint64_t *problems)
{
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_check");
	if (!problems)
		return qerr(QUIRE_EINVAL, "quire_check: bad arguments");
	struct chk c = {.db = txn->db, .qf = txn->snap->qf,
			.h = &txn->snap->h, .fn = fn, .ctx = ctx};
	if (!(c.vbuf = malloc(VCHUNK)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	check_tree(&c, QT_KEYS, "key");
	check_tree(&c, QT_SEQ, "sequence");
	check_tree(&c, QT_COMMITS, "commit index");
	check_tree(&c, QT_DEAD, "tombstone");
	check_pending(&c);
	check_slots(&c);
	uint64_t ckpt = qhdr_ckpt_seq(c.h);
	if (c.h->root[QT_SEQ].count != ckpt - c.h->history_seq)
		report(&c, c.h->self_off,
		       "header: the oplog tree holds %llu operations, sequence "
		       "numbers %llu..%llu need %llu",
		       (unsigned long long)c.h->root[QT_SEQ].count,
		       (unsigned long long)c.h->history_seq,
		       (unsigned long long)ckpt,
		       (unsigned long long)(ckpt - c.h->history_seq));
	free(c.vbuf);
	*problems = c.problems;
	if (c.err) /* the check is incomplete, not the file bad */
		return qerr(c.err, "quire_check: out of memory; the check is "
				   "incomplete");
	qerr_clear();
	return 0;
}
