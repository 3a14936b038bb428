/*
 * test_decode.c - crafted inputs for the decoders the other tests reach
 * only by chance: each rule shown to refuse an input that passes its
 * checksum (or, for the recovery walk, a commit that looks complete), so
 * that the rule itself is what rejects it. Added from `make coverage`
 * (issue 5), like test_cover.c.
 *
 *  - batch blocks (batch_verify): the block header, the counts and chain,
 *    every way a record can fail to parse or point outside, the index;
 *    and the accessors on a valid block;
 *  - a header's chain of pending batches (pending_load) that does not
 *    continue or does not add up to the header's totals;
 *  - the live slots: a latest commit that is not where the slot says, a
 *    durable commit that is not there (a synced commit damaged), a slot
 *    from another boot that names a commit the file does not hold, one
 *    whose durable commit is newer than the handle's;
 *  - a superblock whose file id no header carries; a damaged header with
 *    metadata (read in two steps);
 *  - the recovery walk (slots gone, so it starts from the beginning):
 *    commits appended after the newest one, valid (taken, also with a
 *    block) or each breaking one rule of blocks, headers and the chain
 *    (the walk stops before them, at the newest valid commit); a batch
 *    larger than the largest value block, as one big transaction writes
 *    it, is taken too (it was refused: a durable commit cut after a
 *    reboot).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "crc32c.h"
#include "format.h"
#include "internal.h"
#include "memtable.h"
#include "pending.h"
#include "snap.h"
#include "testutil.h"
#include "util.h"

/* --- batch blocks ------------------------------------------------------- */


#define BOFF ((uint64_t)1 << 20) /* where the crafted block sits */

struct bb {
	uint8_t b[4096];
	uint32_t size;
	uint32_t pos; /* where the next record goes */
	uint32_t nkeys, nops;
	uint32_t roff[16];
};

static void bb_start(struct bb *x, uint32_t nkeys)
{
	memset(x, 0, sizeof *x);
	x->nkeys = nkeys;
	x->pos = BATCH_FIXED + 8 * nkeys;
}

static void bb_byte(struct bb *x, uint8_t v)
{
	x->b[x->pos++] = v;
}

static void bb_varint(struct bb *x, uint64_t v)
{
	x->pos += (uint32_t)varint_put(x->b + x->pos, v);
}

static void bb_bytes(struct bb *x, const void *p, size_t n)
{
	memcpy(x->b + x->pos, p, n);
	x->pos += (uint32_t)n;
}

/* A record: op, key, prev_seq, and for a put an inline value or the
 * offset of a value block (ool). */
static void bb_rec(struct bb *x, int op, const char *key, uint64_t prev,
		   const char *val, int ool, uint64_t ool_off, uint32_t vlen)
{
	x->roff[x->nops++] = x->pos;
	bb_byte(x, (uint8_t)op);
	bb_varint(x, strlen(key));
	bb_bytes(x, key, strlen(key));
	bb_varint(x, prev);
	if (op != WOP_PUT)
		return;
	if (ool) {
		bb_varint(x, ((uint64_t)vlen << 1) | 1);
		bb_varint(x, ool_off);
	} else {
		bb_varint(x, (uint64_t)strlen(val) << 1);
		bb_bytes(x, val, strlen(val));
	}
}

static void bb_index(struct bb *x, unsigned i, uint32_t rn)
{
	st32(x->b + BATCH_FIXED + 8 * i, x->roff[rn]);
	st32(x->b + BATCH_FIXED + 8 * i + 4, rn);
}

/* Fill in the fixed part (nops as given) and seal. */
static void bb_seal(struct bb *x, uint32_t nops, uint64_t prev_off,
		    uint32_t prev_size)
{
	struct qblock h = {.type = QB_BATCH, .size = x->pos, .aux = x->nkeys};
	x->size = x->pos;
	qblock_put(x->b, &h);
	st64(x->b + 16, prev_off);
	st32(x->b + 24, prev_size);
	st32(x->b + 28, nops);
	st64(x->b + 32, 7);  /* txn */
	st64(x->b + 40, 10); /* first_seq */
	st64(x->b + 48, 123);
	qblock_seal(x->b, x->size, BOFF);
}

/* The valid block the rules start from: put b, del a, put c (out of
 * line), index a, b, c. */
static void bb_valid(struct bb *x)
{
	bb_start(x, 3);
	bb_rec(x, WOP_PUT, "b", 0, "vb", 0, 0, 0);
	bb_rec(x, WOP_DEL, "a", 3, NULL, 0, 0, 0);
	bb_rec(x, WOP_PUT, "c", 11, NULL, 1, 4096, 5000);
	bb_index(x, 0, 1);
	bb_index(x, 1, 0);
	bb_index(x, 2, 2);
	bb_seal(x, 3, 8192, 100);
}

static void refuse(const struct bb *x, const char *what, const char *why)
{
	struct batch_info bi;
	int e = batch_verify(x->b, x->size, BOFF, &bi);
	if (e != QUIRE_ECORRUPT)
		fail_msg("batch \"%s\": %d, want QUIRE_ECORRUPT", what, e);
	if (why && !strstr(quire_errmsg(), why))
		fail_msg("batch \"%s\": message \"%s\" lacks \"%s\"", what,
			 quire_errmsg(), why);
}

static void test_batch_valid(void **state)
{
	struct bb x;
	struct batch_info bi;
	struct brec r;
	struct batch_iter it = {0};
	bb_valid(&x);
	assert_int_equal(batch_verify(x.b, x.size, BOFF, &bi), 0);
	assert_int_equal(bi.nops, 3);
	assert_int_equal(bi.nkeys, 3);
	assert_int_equal(bi.xbytes, QF_BLOCK_HDR + 5000);
	batch_key(x.b, &bi, 0, &r);
	assert_int_equal(r.op, WOP_DEL);
	assert_int_equal(r.seq, 11);
	assert_memory_equal(r.key, "a", 1);
	int n = 0;
	while (batch_next(x.b, &bi, &it, &r))
		n++;
	assert_int_equal(n, 3);
	batch_record(x.b, &bi, 12, &r);
	assert_int_equal(r.seq, 12);
	assert_int_equal(r.v.ool, 1);
	assert_int_equal(r.v.ool_off, 4096);
	/* a sequence number past the block: the walk ends at its end */
	batch_record(x.b, &bi, 99, &r);
	assert_int_equal(r.seq, 12);
	/* no records at all */
	bb_start(&x, 0);
	bb_seal(&x, 0, 0, 0);
	assert_int_equal(batch_verify(x.b, x.size, BOFF, &bi), 0);
}

static void test_batch_rules(void **state)
{
	struct bb x;

	/* the block header */
	bb_valid(&x);
	x.size = BATCH_FIXED - 1;
	refuse(&x, "shorter than the fixed part", "expected size");
	bb_valid(&x);
	x.b[4] = QB_VALUE;
	qblock_seal(x.b, x.size, BOFF);
	refuse(&x, "another block type", "expected size");
	bb_valid(&x);
	st32(x.b + 8, x.size + 1);
	qblock_seal(x.b, x.size, BOFF);
	refuse(&x, "stored size differs", "expected size");
	for (int i = 5; i <= 7; i++) {
		bb_valid(&x);
		x.b[i] = 1;
		qblock_seal(x.b, x.size, BOFF);
		refuse(&x, "reserved header byte", "expected size");
	}
	bb_valid(&x);
	x.b[x.size - 1] ^= 1;
	refuse(&x, "checksum", "checksum");

	/* counts and chain */
	bb_valid(&x);
	st32(x.b + 12, 4); /* more index entries than records */
	qblock_seal(x.b, x.size, BOFF);
	refuse(&x, "nkeys > nops", "counts");
	bb_valid(&x);
	st32(x.b + 12, 100);
	st32(x.b + 28, 101); /* index larger than the block */
	qblock_seal(x.b, x.size, BOFF);
	refuse(&x, "index past the end", "counts");
	bb_valid(&x);
	st32(x.b + 12, 0);
	st32(x.b + 28, x.size + 1);
	qblock_seal(x.b, x.size, BOFF);
	refuse(&x, "nops > size", "counts");
	bb_valid(&x);
	st64(x.b + 16, BOFF - 50);
	qblock_seal(x.b, x.size, BOFF);
	refuse(&x, "previous batch overlaps", "chain");

	/* records */
	bb_start(&x, 0);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	bb_seal(&x, 2, 0, 0); /* a second record that is not there */
	refuse(&x, "record past the end", "malformed record");
	bb_start(&x, 0);
	bb_rec(&x, 7, "a", 0, NULL, 0, 0, 0);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "unknown operation", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_DEL);
	bb_byte(&x, 0x80); /* key length cut off */
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "key length truncated", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_DEL);
	bb_varint(&x, QUIRE_MAX_KEY_SIZE + 1);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "key too long", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_DEL);
	bb_varint(&x, 50);
	bb_bytes(&x, "abc", 3);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "key past the end", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_DEL);
	bb_varint(&x, 1);
	bb_byte(&x, 'a');
	bb_byte(&x, 0x80); /* prev_seq cut off */
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "prev_seq truncated", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_PUT);
	bb_varint(&x, 1);
	bb_byte(&x, 'a');
	bb_varint(&x, 0);
	bb_byte(&x, 0x80); /* value header cut off */
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "value header truncated", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_PUT);
	bb_varint(&x, 1);
	bb_byte(&x, 'a');
	bb_varint(&x, 0);
	bb_varint(&x, (uint64_t)(QUIRE_MAX_VALUE_SIZE + 1) << 1);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "value too large", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_PUT);
	bb_varint(&x, 1);
	bb_byte(&x, 'a');
	bb_varint(&x, 0);
	bb_varint(&x, (5000 << 1) | 1);
	bb_byte(&x, 0x80); /* value block offset cut off */
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "value offset truncated", "malformed record");
	bb_start(&x, 0);
	bb_byte(&x, WOP_PUT);
	bb_varint(&x, 1);
	bb_byte(&x, 'a');
	bb_varint(&x, 0);
	bb_varint(&x, 100 << 1);
	bb_bytes(&x, "short", 5);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "inline value past the end", "malformed record");
	bb_start(&x, 0);
	bb_rec(&x, WOP_PUT, "a", 0, NULL, 1, BOFF - 100, 200);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "value block reaching the batch", "malformed record");
	bb_start(&x, 0);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	bb_rec(&x, WOP_DEL, "b", 11, NULL, 0, 0, 0); /* its own seq */
	bb_seal(&x, 2, 0, 0);
	refuse(&x, "prev_seq not older", "malformed record");
	bb_start(&x, 0);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	bb_byte(&x, 0);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "bytes after the records", "do not fill");

	/* the index */
	bb_start(&x, 1);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	st32(x.b + BATCH_FIXED, x.roff[0]);
	st32(x.b + BATCH_FIXED + 4, 1); /* record 1 of 1 */
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "index names record past the end", "names no record");
	bb_start(&x, 1);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	st32(x.b + BATCH_FIXED, x.roff[0] + 1);
	st32(x.b + BATCH_FIXED + 4, 0);
	bb_seal(&x, 1, 0, 0);
	refuse(&x, "index offset differs", "names no record");
	bb_start(&x, 2);
	bb_rec(&x, WOP_DEL, "b", 0, NULL, 0, 0, 0);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	bb_index(&x, 0, 0);
	bb_index(&x, 1, 1);
	bb_seal(&x, 2, 0, 0);
	refuse(&x, "index out of order", "out of order");
	bb_start(&x, 2);
	bb_rec(&x, WOP_DEL, "a", 0, NULL, 0, 0, 0);
	bb_rec(&x, WOP_DEL, "a", 10, NULL, 0, 0, 0);
	bb_index(&x, 0, 0);
	bb_index(&x, 1, 1);
	bb_seal(&x, 2, 0, 0);
	refuse(&x, "a key twice in the index", "out of order");
}

/* --- files ---------------------------------------------------------------- */

static quire_options opts_with(unsigned flags)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = flags;
	o.checkpoint_ops = 100000;
	return o;
}

static void put_commit(quire *db, const char *key, const char *val,
		       const char *meta)
{
	quire_txn *t;
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, key, strlen(key), val, strlen(val)));
	if (meta)
		QOK(quire_commit_with(t, meta, strlen(meta)));
	else
		QOK(quire_commit(t));
}

static void pread_all(const char *path, void *buf, size_t n, off_t off)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void pwrite_all(const char *path, const void *buf, size_t n, off_t off)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void cut(const char *path, off_t len)
{
	assert_int_equal(truncate(path, len), 0);
}

static off_t file_len(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* The newest commit as the handle sees it. */
static struct qhdr newest(quire *db)
{
	struct snap *s = snap_acquire(db);
	struct qhdr h = s->h;
	snap_release(s);
	return h;
}

static uint64_t txn_seen(const char *path)
{
	quire *db;
	quire_txn *t;
	quire_options o = opts_with(QUIRE_RDONLY);
	QOK(quire_open(path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	uint64_t id = quire_txn_id(t);
	quire_abort(t);
	QOK(quire_close(db));
	return id;
}

static void note_problem(void *ctx, uint64_t off, const char *msg)
{
	(void)off;
	if (strstr(msg, "does not hold"))
		++*(int *)ctx;
}

/* A slot names a commit that is damaged or gone: the file opens at the last
 * commit that verifies, txn, and quire_check reports what is missing. */
static void opens_at(const char *path, uint64_t txn, const char *what)
{
	quire *db;
	quire_txn *t;
	quire_options o = opts_with(QUIRE_RDONLY);
	uint64_t problems = 0;
	int missing = 0;
	QOK(quire_open(path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	if (quire_txn_id(t) != txn)
		fail_msg("%s: opened at commit %llu, not %llu", what,
			 (unsigned long long)quire_txn_id(t),
			 (unsigned long long)txn);
	QOK(quire_check(t, note_problem, &missing, &problems));
	if (!missing)
		fail_msg("%s: quire_check did not report the missing commit",
			 what);
	quire_abort(t);
	QOK(quire_close(db));
}

static void pending_refused(quire *db, const struct qhdr *h, const char *what,
			    const char *why)
{
	struct memtable *mt = NULL;
	int e = pending_load(db->qf, h, NULL, &mt);
	if (e != QUIRE_ECORRUPT)
		fail_msg("pending chain \"%s\": %d, want QUIRE_ECORRUPT", what,
			 e);
	if (!strstr(quire_errmsg(), db->path) || !strstr(quire_errmsg(), why))
		fail_msg("pending chain \"%s\": message \"%s\"", what,
			 quire_errmsg());
}

static void test_pending_chain(void **state)
{
	const char *path = tu_path("dec-pending");
	quire *db;
	/* read(), so that a batch past the end is a short read: in place,
	 * the header's own checks keep batches inside the file */
	quire_options o = opts_with(QUIRE_CREATE | QUIRE_NOMMAP);
	struct memtable *mt;
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	put_commit(db, "b", "2", NULL);
	put_commit(db, "c", "3", NULL);
	const struct qhdr h0 = newest(db);
	assert_int_equal(h0.pending_batches, 3);
	QOK(pending_load(db->qf, &h0, NULL, &mt));
	mt_unref(mt);

	struct qhdr h = h0;
	h.txn = h0.txn - 1; /* the newest batch is of a later commit */
	pending_refused(db, &h, "batch newer than the header",
			"does not continue");
	h = h0;
	h.next_seq = h0.next_seq + 1;
	pending_refused(db, &h, "sequence gap", "does not continue");
	h = h0;
	h.pending_ops = h0.pending_ops - 1; /* the oldest reaches below */
	pending_refused(db, &h, "batch older than the checkpoint",
			"does not continue");
	h = h0;
	h.pending_batches = h0.pending_batches + 1;
	pending_refused(db, &h, "batch count", "do not add up");
	h = h0;
	h.pending_ops = h0.pending_ops + 1;
	pending_refused(db, &h, "operation count", "do not add up");
	h = h0;
	h.pending_bytes = h0.pending_bytes + 1;
	pending_refused(db, &h, "byte count", "do not add up");
	h = h0;
	h.pending_size = 0;
	pending_refused(db, &h, "empty batch", "expected size");
	h = h0;
	h.pending_off = h0.self_off; /* a header, not a batch */
	pending_refused(db, &h, "not a batch", "expected size");
	h = h0;
	h.pending_off = h0.total_bytes;
	pending_refused(db, &h, "past the end", "past the end");
	QOK(quire_close(db));
	unlink(path);
}

/* --- the slots -------------------------------------------------------------- */

static void read_slot(const char *path, struct qslot *s)
{
	uint8_t a[QF_SLOT_SIZE], b[QF_SLOT_SIZE];
	struct qslot s0, s1;
	pread_all(path, a, sizeof a, QF_SLOT0_OFF);
	pread_all(path, b, sizeof b, QF_SLOT1_OFF);
	int ok0 = qslot_get(a, &s0) == 0, ok1 = qslot_get(b, &s1) == 0;
	assert_true(ok0 || ok1);
	*s = ok0 && (!ok1 || s0.counter > s1.counter) ? s0 : s1;
}

/* Write s as the newest slot. */
static void write_slot(const char *path, struct qslot *s)
{
	uint8_t buf[QF_SLOT_SIZE];
	struct qslot cur;
	read_slot(path, &cur);
	s->counter = cur.counter + 1;
	qslot_put(buf, s);
	assert_int_equal(qslot_get(buf, &cur), 0); /* or the reader skips it */
	pwrite_all(path, buf, sizeof buf,
		   (s->counter & 1) ? QF_SLOT1_OFF : QF_SLOT0_OFF);
}

static void zero_slots(const char *path)
{
	uint8_t z[QF_SLOT_SIZE] = {0};
	pwrite_all(path, z, sizeof z, QF_SLOT0_OFF);
	pwrite_all(path, z, sizeof z, QF_SLOT1_OFF);
}

static void test_slots(void **state)
{
	const char *p = tu_path("dec-slots");
	char path[4200];
	quire *db, *rd;
	quire_txn *t;
	quire_options o = opts_with(QUIRE_CREATE);
	struct qslot s, keep;
	tu_pathcat(path, sizeof path, p, "");
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	struct qhdr h1 = newest(db);
	put_commit(db, "b", "2", NULL);
	struct qhdr h2 = newest(db);
	QOK(quire_close(db));
	read_slot(path, &keep);

	/* the latest commit is not the one the slot names: recovery walks
	 * from the durable one and finds the newest */
	s = keep;
	s.latest_txn = h2.txn + 5;
	write_slot(path, &s);
	assert_int_equal(txn_seen(path), h2.txn);
	s = keep;
	s.latest_off = h1.self_off; /* a header, but of commit 1 */
	s.durable_off = h1.self_off; /* (a slot's durable is not newer) */
	s.durable_txn = h1.txn;
	write_slot(path, &s);
	assert_int_equal(txn_seen(path), h2.txn);

	/* the durable commit is not where the slot says: the walk starts at
	 * the other slot's, still finds the newest, and check reports it */
	s = keep;
	s.boot_id ^= 1; /* another boot: the slot's latest is not trusted */
	s.durable_off = h1.self_off;
	s.durable_txn = h2.txn;
	write_slot(path, &s);
	opens_at(path, h2.txn, "durable commit misplaced");
	o.flags = QUIRE_RDONLY;
	s = keep;
	write_slot(path, &s);

	/* a handle at commit 2; the slot (of another boot) names a commit 3
	 * the file does not hold: the walk finds nothing newer */
	QOK(quire_open(path, &o, &rd));
	s = keep;
	s.boot_id ^= 1;
	s.latest_txn = h2.txn + 1;
	write_slot(path, &s);
	QOK(quire_begin(rd, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), h2.txn);
	quire_abort(t);

	/* a writer commits 3 and 4 (in this boot); then the slot says
	 * another boot with 4 durable: the reader starts from there */
	o.flags = 0;
	QOK(quire_open(path, &o, &db));
	put_commit(db, "c", "3", NULL);
	put_commit(db, "d", "4", NULL);
	struct qhdr h4 = newest(db);
	read_slot(path, &s);
	s.boot_id ^= 1;
	write_slot(path, &s);
	QOK(quire_begin(rd, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), h4.txn);
	quire_abort(t);
	/* the same commit at another offset (in this boot): the writer's
	 * view stands */
	read_slot(path, &s);
	s.boot_id = keep.boot_id;
	s.latest_off = h1.self_off;
	s.durable_off = h1.self_off;
	s.durable_txn = h1.txn;
	write_slot(path, &s);
	put_commit(db, "e", "5", NULL);
	QOK(quire_close(db));
	QOK(quire_close(rd));
	assert_int_equal(txn_seen(path), h4.txn + 1);
	unlink(path);
}

/* KNOWN BUG (df_load_header): the decoder's complaint about a damaged
 * header reaches quire_errmsg() without the file's name. */
/* A superblock whose file id no header has; a header whose metadata is
 * damaged. */
static void test_foreign_and_meta(void **state)
{
	const char *p = tu_path("dec-foreign");
	char path[4200], meta[3000];
	quire *db;
	quire_options o = opts_with(QUIRE_CREATE);
	uint8_t sb[256];
	struct qsuper su;
	tu_pathcat(path, sizeof path, p, "");
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	QOK(quire_close(db));
	pread_all(path, sb, sizeof sb, 0);
	QOK(qsuper_get(sb, &su));
	su.file_id[0] ^= 0xff;
	qsuper_put(sb, &su);
	pwrite_all(path, sb, sizeof sb, 0);
	o.flags = QUIRE_RDONLY;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_errmsg(), path));
	/* without slots the walk finds no header of this file either */
	zero_slots(path);
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_errmsg(), "no valid commit header"));
	unlink(path);

	/* metadata longer than the header's fixed part, damaged */
	o.flags = QUIRE_CREATE;
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	memset(meta, 'm', sizeof meta - 1);
	meta[sizeof meta - 1] = 0;
	put_commit(db, "b", "2", meta);
	struct qhdr h = newest(db);
	QOK(quire_close(db));
	uint8_t c;
	pread_all(path, &c, 1, (off_t)(h.self_off + QF_HDR_FIXED + 100));
	c ^= 1;
	pwrite_all(path, &c, 1, (off_t)(h.self_off + QF_HDR_FIXED + 100));
	/* the newest commit does not verify: open at the one before */
	opens_at(path, h.txn - 1, "damaged metadata of the newest header");
	/* and damage in its fixed part */
	c ^= 1;
	pwrite_all(path, &c, 1, (off_t)(h.self_off + QF_HDR_FIXED + 100));
	pread_all(path, &c, 1, (off_t)(h.self_off + 100));
	c ^= 1;
	pwrite_all(path, &c, 1, (off_t)(h.self_off + 100));
	opens_at(path, h.txn - 1, "damaged fixed part of the newest header");
	unlink(path);
}

/* Header rules test_cover.c does not show (on a header with pending
 * batches, which its base header has not). */
static void test_header_rules(void **state)
{
	const char *path = tu_path("dec-hdr");
	quire *db;
	quire_options o = opts_with(QUIRE_CREATE);
	uint8_t buf[QF_HDR_FIXED];
	uint32_t need;
	struct qhdr h, got;
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	put_commit(db, "b", "2", NULL);
	h = newest(db);
	QOK(quire_close(db));
	assert_true(h.pending_off != 0);
	qhdr_put(buf, &h);
	QOK(qhdr_get(buf, sizeof buf, h.self_off, &got, &need));

	struct qhdr x = h;
	x.pending_bytes = x.pending_size - 1; /* less than its newest batch */
	x.live_bytes = x.root[QT_KEYS].bytes + x.pending_bytes;
	qhdr_put(buf, &x);
	assert_int_equal(qhdr_get(buf, sizeof buf, h.self_off, &got, &need),
			 QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_errmsg(), "pending batches"));
	x = h;
	x.pending_off = 0; /* no batches, but a size */
	x.pending_batches = 0;
	x.pending_ops = 0;
	x.pending_bytes = 0;
	qhdr_put(buf, &x);
	assert_int_equal(qhdr_get(buf, sizeof buf, h.self_off, &got, &need),
			 QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_errmsg(), "pending batches"));
	x = h;
	x.history_txn = 0;
	x.history_time = 1; /* a time for no commit */
	qhdr_put(buf, &x);
	assert_int_equal(qhdr_get(buf, sizeof buf, h.self_off, &got, &need),
			 QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_errmsg(), "out of order"));
	unlink(path);
}

/* --- the recovery walk -------------------------------------------------------- */

/* A header-only commit after h (at h.total_bytes, no blocks), valid. */
static struct qhdr next_header(const struct qhdr *h, uint64_t start,
			       uint32_t chain)
{
	struct qhdr n = *h;
	n.prev_off = h->self_off;
	n.txn = h->txn + 1;
	n.time_ns = h->time_ns + 1;
	n.commit_start = start;
	n.range_crc = chain;
	n.meta_len = 0;
	n.size = QF_HDR_FIXED;
	return n;
}

/* Append header n at off (as sealed by qhdr_put for that offset). */
static void put_header(const char *path, struct qhdr n, uint64_t off)
{
	uint8_t buf[QF_HDR_FIXED];
	n.self_off = off;
	n.total_bytes = off + QF_HDR_FIXED;
	qhdr_put(buf, &n);
	pwrite_all(path, buf, sizeof buf, (off_t)off);
}

/* A block header of the given type and size at off, sealed over the
 * bytes that follow if they are there. */
static void put_block(const char *path, uint8_t type, uint32_t size,
		      uint64_t off, int seal)
{
	uint8_t buf[256] = {0};
	struct qblock b = {.type = type, .size = size};
	qblock_put(buf, &b);
	if (seal)
		qblock_seal(buf, size, off);
	pwrite_all(path, buf, size < sizeof buf && seal ? size : QF_BLOCK_HDR,
		   (off_t)off);
}

struct walk_case {
	const char *what;
	int taken; /* the walk takes the crafted commit */
};

static void test_walk_rules(void **state)
{
	const char *p = tu_path("dec-walk");
	char path[4200];
	quire *db;
	quire_options o = opts_with(QUIRE_CREATE);
	tu_pathcat(path, sizeof path, p, "");
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	QOK(quire_checkpoint(db));
	put_commit(db, "b", "2", NULL);
	const struct qhdr h = newest(db);
	QOK(quire_close(db));
	const uint64_t E = h.total_bytes;
	assert_int_equal(file_len(path), (off_t)E);
	zero_slots(path);
	assert_int_equal(txn_seen(path), h.txn);

	struct qhdr n;
	uint8_t stored[4];
	/* valid: taken */
	put_header(path, next_header(&h, E, 0), E);
	assert_int_equal(txn_seen(path), h.txn + 1);
	cut(path, (off_t)E);
	/* valid with a value block before it */
	{
		uint8_t blk[26];
		struct qblock b = {.type = QB_VALUE, .size = sizeof blk};
		memset(blk, 'v', sizeof blk);
		qblock_put(blk, &b);
		qblock_seal(blk, sizeof blk, E);
		pwrite_all(path, blk, sizeof blk, (off_t)E);
		memcpy(stored, blk, 4);
		put_header(path, next_header(&h, E, crc32c(0, stored, 4)),
			   E + sizeof blk);
		assert_int_equal(txn_seen(path), h.txn + 1);
		/* the same with a wrong range checksum */
		put_header(path, next_header(&h, E, crc32c(0, stored, 4) ^ 1),
			   E + sizeof blk);
		assert_int_equal(txn_seen(path), h.txn);
		/* a block that continues past the end of the file */
		cut(path, (off_t)E);
		put_block(path, QB_VALUE, 5000, E, 0);
		assert_int_equal(txn_seen(path), h.txn);
		cut(path, (off_t)E);
	}

	/* the chain: each field breaks it */
	n = next_header(&h, E, 0);
	n.prev_off = h.prev_off;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);
	n = next_header(&h, E, 0);
	n.txn = h.txn + 2;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);
	n = next_header(&h, E, 0);
	n.time_ns = h.time_ns - 1;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);
	n = next_header(&h, E, 0);
	n.next_seq = h.next_seq - 1;
	n.pending_ops = h.pending_ops - 1; /* keep the checkpoint in place */
	n.history_seq = 1;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);
	n = next_header(&h, E, 0);
	n.range_crc = 5;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);
	n = next_header(&h, E, 0);
	n.file_id[0] ^= 1;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);
	/* a header that names another start of its commit */
	put_block(path, QB_VALUE, 16, E, 1);
	n = next_header(&h, E + 16, 0);
	put_header(path, n, E + 16);
	assert_int_equal(txn_seen(path), h.txn);
	cut(path, (off_t)E);
	/* a header the decoder refuses */
	n = next_header(&h, E, 0);
	n.ckpt_off = E + 8;
	put_header(path, n, E);
	assert_int_equal(txn_seen(path), h.txn);

	/* block headers */
	static const struct {
		uint8_t type;
		uint32_t size;
	} bad[] = {
		{QB_NODE, 8},                 /* smaller than a block header */
		{QB_NODE, QF_NODE_MAX + 1},   /* a node too large */
		{QB_BATCH, 8},
		{QB_VALUE, (uint32_t)(QF_BLOCK_HDR + QUIRE_MAX_VALUE_SIZE + 1)},
		{9, 64},                      /* no such type */
		{QB_HEADER, QF_HDR_FIXED - 1}, /* header too small */
		{QB_HEADER, QF_HDR_FIXED + QF_META_MAX + 1},
		{QB_HEADER, QF_HDR_FIXED + 1000}, /* past the end */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cut(path, (off_t)E);
		put_block(path, bad[i].type, bad[i].size, E, 0);
		uint8_t pad[QF_HDR_FIXED] = {0};
		pwrite_all(path, pad, sizeof pad, (off_t)E + QF_BLOCK_HDR);
		if (txn_seen(path) != h.txn)
			fail_msg("block %zu taken", i);
	}
	cut(path, (off_t)E);
	/* and a writer after it all cuts and continues */
	put_block(path, QB_NODE, 8, E, 0);
	o.flags = 0;
	QOK(quire_open(path, &o, &db));
	put_commit(db, "c", "3", NULL);
	QOK(quire_close(db));
	assert_int_equal(txn_seen(path), h.txn + 1);
	unlink(path);
}

/* Append at E (sparse: the values are holes) a commit after h holding one
 * batch of two puts whose inline values make it larger than the largest
 * value block. */
static uint64_t put_big_batch(const char *path, const struct qhdr *h,
			      uint64_t E)
{
	const uint32_t vlen = 537000000u; /* two: more than 1 GiB + 16 */
	uint8_t head[BATCH_FIXED + 16], rec[2][16];
	size_t rlen = 0;
	uint32_t size = BATCH_FIXED + 16;
	for (int i = 0; i < 2; i++) { /* op, key, prev 0, vh, then the value */
		uint8_t *r = rec[i];
		r[0] = 1;
		r[1] = 1;
		r[2] = (uint8_t)('x' + i);
		r[3] = 0;
		rlen = 4 + varint_put(r + 4, (uint64_t)vlen << 1);
		size += (uint32_t)rlen + vlen;
	}
	struct qblock b = {.type = QB_BATCH, .size = size, .aux = 2};
	memset(head, 0, sizeof head);
	qblock_put(head, &b);
	st64(head + 16, h->pending_off);
	st32(head + 24, h->pending_size);
	st32(head + 28, 2);
	st64(head + 32, h->txn + 1);
	st64(head + 40, h->next_seq);
	st64(head + 48, h->time_ns + 1);
	uint64_t r0 = BATCH_FIXED + 16, r1 = r0 + rlen + vlen;
	st32(head + BATCH_FIXED, (uint32_t)r0);
	st32(head + BATCH_FIXED + 4, 0);
	st32(head + BATCH_FIXED + 8, (uint32_t)r1);
	st32(head + BATCH_FIXED + 12, 1);
	/* the block checksum, over the zeros too */
	static const uint8_t zeros[1 << 16];
	uint32_t crc = crc32c(qblock_crc_start(E), head + 4, sizeof head - 4);
	for (int i = 0; i < 2; i++) {
		crc = crc32c(crc, rec[i], rlen);
		for (uint32_t left = vlen; left;) {
			uint32_t k = left < sizeof zeros ? left : sizeof zeros;
			crc = crc32c(crc, zeros, k);
			left -= k;
		}
	}
	st32(head, crc);
	pwrite_all(path, head, sizeof head, (off_t)E);
	pwrite_all(path, rec[0], rlen, (off_t)(E + r0));
	pwrite_all(path, rec[1], rlen, (off_t)(E + r1));
	struct qhdr n = next_header(h, E, crc32c(0, head, 4));
	n.time_ns = h->time_ns + 1;
	n.next_seq = h->next_seq + 2;
	n.pending_off = E;
	n.pending_size = size;
	n.pending_batches = h->pending_batches + 1;
	n.pending_ops = h->pending_ops + 2;
	n.pending_bytes = h->pending_bytes + size;
	n.key_count = h->key_count + 2;
	n.live_bytes = n.root[QT_KEYS].bytes + n.pending_bytes;
	put_header(path, n, E + size);
	return vlen;
}

static void test_walk_big_batch(void **state)
{
	const char *p = tu_path("dec-bigbatch");
	char path[4200];
	quire *db;
	quire_txn *t;
	quire_val v;
	quire_options o = opts_with(QUIRE_CREATE);
	tu_pathcat(path, sizeof path, p, "");
	QOK(quire_open(path, &o, &db));
	put_commit(db, "a", "1", NULL);
	const struct qhdr h = newest(db);
	QOK(quire_close(db));
	uint32_t vlen = (uint32_t)put_big_batch(path, &h, h.total_bytes);
	zero_slots(path); /* as after a reboot that lost the slots */
	assert_int_equal(txn_seen(path), h.txn + 1);
	o.flags = QUIRE_RDONLY;
	QOK(quire_open(path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_get(t, "y", 1, &v));
	assert_int_equal(v.size, vlen);
	assert_int_equal(((const uint8_t *)v.data)[vlen - 1], 0);
	QOK(quire_get(t, "a", 1, &v));
	quire_abort(t);
	QOK(quire_close(db));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_valid),
		cmocka_unit_test(test_batch_rules),
		cmocka_unit_test(test_pending_chain),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_foreign_and_meta),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_walk_rules),
		cmocka_unit_test(test_walk_big_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
