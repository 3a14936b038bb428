/*
 * fuzz_decode.c - libFuzzer target for the validating decoders.
 *
 * The decoders are what stands between file bytes and the rest of the
 * library, so each must refuse anything malformed without reading outside
 * its buffer, and whatever it accepts must be safe for the unchecked
 * accessors that trust it (node_*, batch_key/next/record).
 *
 * Input: byte 0 picks the decoder (low 3 bits) and whether to reseal the
 * block's checksum first (bit 3: otherwise the fuzzer would almost never
 * get past the CRC and the structural checks behind it would go untested);
 * bytes 1-4 give the file offset (little-endian, plus 4096) for decoders
 * that take one; for node_verify byte 5 is the tree id and byte 6 the
 * expected level (0xff: any); the rest is the structure. It is copied into
 * a buffer of exactly its size so that AddressSanitizer sees any over-read.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "crc32c.h"
#include "format.h"
#include "node.h"
#include "oplog.h"
#include "quire.h"
#include "util.h"
#include "wbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep results alive so the compiler cannot drop the reads. */
static volatile uint64_t sink;

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Reseal a block whose header states a size that fits the buffer. */
static void reseal(uint8_t *b, size_t len, uint64_t off)
{
	if (len < QF_BLOCK_HDR)
		return;
	uint32_t s = le32(b + 8);
	if (s >= QF_BLOCK_HDR && s <= len)
		qblock_seal(b, s, off);
}

static void touch(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0;
	for (size_t i = 0; i < n; i++)
		h = h * 31 + b[i];
	sink += h;
}

static void do_header(uint8_t *b, size_t len, uint64_t off, int seal)
{
	struct qhdr h;
	uint32_t need;
	if (seal)
		reseal(b, len, off);
	if (len < QF_BLOCK_HDR)
		return; /* qhdr_get's contract: at least a block header */
	if (qhdr_get(b, len, off, &h, &need) == 0) {
		if (h.size > len || h.self_off != off)
			abort(); /* accepted something it did not check */
		touch(b + h.size - h.meta_len, h.meta_len); /* v1 or v2 */
		sink += h.txn + h.next_seq + h.pending_off;
	} else if (need && need <= len) {
		abort(); /* asked for more bytes than it needs */
	}
}

static void do_super(uint8_t *b, size_t len, int seal)
{
	struct qsuper s;
	struct qslot sl;
	if (len < QF_SUPER_SIZE) {
		/* a slot alone */
		if (len < QF_SLOT_SIZE)
			return;
		if (seal)
			st32(b + 60, crc32c(0, b, 60));
		if (qslot_get(b, &sl) == 0)
			sink += sl.latest_off + sl.counter;
		return;
	}
	if (seal) {
		st32(b + 252, crc32c(0, b, 252));
		st32(b + QF_SLOT0_OFF + 60, crc32c(0, b + QF_SLOT0_OFF, 60));
		st32(b + QF_SLOT1_OFF + 60, crc32c(0, b + QF_SLOT1_OFF, 60));
	}
	if (qsuper_get(b, &s) == 0)
		sink += s.created_ns;
	if (qslot_get(b + QF_SLOT0_OFF, &sl) == 0)
		sink += sl.latest_off;
	if (qslot_get(b + QF_SLOT1_OFF, &sl) == 0)
		sink += sl.durable_off;
}

/* Every accessor over a node node_verify accepted. */
static void walk_node(const uint8_t *n, const uint8_t *probe, size_t plen)
{
	unsigned c = node_count(n);
	int exact;
	for (unsigned i = 0; i < c; i++) {
		uint32_t kl;
		const uint8_t *k = node_key(n, i, &kl);
		touch(k, kl);
		if (node_level(n) == 0) {
			struct lentry e;
			node_leaf_entry(n, i, &e);
			if (e.klen != kl || e.key != k)
				abort();
			if (!e.ool)
				touch(e.val, e.vlen);
			sink += e.meta + e.ool_off;
		} else {
			struct ientry e;
			node_int_entry(n, i, &e);
			if (e.klen != kl || e.key != k)
				abort();
			sink += e.child_off + e.count + e.bytes;
			if (node_child_for(n, k, kl) != i)
				abort(); /* keys are unique and sorted */
		}
		if (node_lower_bound(n, k, kl, &exact) != i || !exact)
			abort();
		if (node_lower_bound_from(n, i, k, kl, &exact) != i)
			abort();
	}
	unsigned at = node_lower_bound(n, probe, plen, &exact);
	if (at > c)
		abort();
	if (node_level(n) > 0 && node_child_for(n, probe, plen) >= c)
		abort();
}

static void do_node(uint8_t *b, size_t len, uint64_t off, int tree,
		    int level, int seal)
{
	if (seal)
		reseal(b, len, off);
	if (len > QF_NODE_MAX)
		return; /* node sizes come from 16-bit-limited fields */
	if (node_verify(b, (uint32_t)len, off, tree, level) != 0)
		return;
	/* probe with a key that is not in the node: its own bytes */
	walk_node(b, b + 16, len > 24 ? 8 : 0);
}

static void do_oprec(const uint8_t *b, size_t len)
{
	struct oprec r;
	if (oprec_parse(b, len, &r) != 0)
		return;
	if (r.kind == OP_DEL || r.kind == OP_PUT)
		touch(r.key, r.klen);
	if (r.kind == OP_PUT && !r.ool)
		touch(r.val, r.vlen);
	sink += r.prev_seq + r.leaf_off + r.slot;
}

static void do_entries(const uint8_t *b, size_t len)
{
	struct lentry le;
	struct ientry ie;
	if (lentry_parse(b, b + len, &le)) {
		touch(le.key, le.klen);
		if (!le.ool)
			touch(le.val, le.vlen);
	}
	if (ientry_parse(b, b + len, &ie))
		touch(ie.key, ie.klen);
}

static void rec_touch(const struct brec *r)
{
	touch(r->key, r->klen);
	if (r->op == WOP_PUT && !r->v.ool)
		touch(r->v.data, r->v.len);
	sink += r->seq + r->prev_seq;
}

static void do_batch(uint8_t *b, size_t len, uint64_t off, int seal)
{
	struct batch_info bi;
	if (seal)
		reseal(b, len, off);
	if (len > UINT32_MAX || batch_verify(b, (uint32_t)len, off, &bi) != 0)
		return;
	struct batch_iter it = {0};
	struct brec r;
	uint32_t n = 0;
	while (batch_next(b, &bi, &it, &r)) {
		if (r.seq != bi.first_seq + n || r.prev_seq >= r.seq)
			abort();
		rec_touch(&r);
		n++;
	}
	if (n != bi.nops)
		abort();
	for (unsigned i = 0; i < bi.nkeys; i++) {
		batch_key(b, &bi, i, &r);
		rec_touch(&r);
	}
	if (bi.nops) {
		batch_record(b, &bi, bi.first_seq + bi.nops - 1, &r);
		rec_touch(&r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 7)
		return 0;
	int sel = data[0] & 7, seal = (data[0] & 8) != 0;
	uint64_t off = QF_SUPER_SIZE + (uint64_t)le32(data + 1);
	int tree = data[5] & 3;
	int level = data[6] == 0xff ? -1 : data[6];
	size_t len = size - 7;
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		return 0;
	memcpy(b, data + 7, len);
	switch (sel) {
	case 0:
		do_header(b, len, off, seal);
		break;
	case 1:
		do_super(b, len, seal);
		break;
	case 2:
	case 3:
		do_node(b, len, off, tree, level, seal);
		break;
	case 4:
		do_oprec(b, len);
		break;
	case 5:
		do_batch(b, len, off, seal);
		break;
	default:
		do_entries(b, len);
		break;
	}
	free(b);
	return 0;
}
