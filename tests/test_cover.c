/*
 * test_cover.c - branches the other tests do not reach cheaply: every
 * validation rule of the header, superblock and slot decoders, each shown
 * to refuse a crafted input that passes its checksum (so the rule itself,
 * not the CRC, is what rejects it). Added from `make coverage` (issue 5).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"
#include "internal.h"
#include "testutil.h"

#define OFF (1u << 20) /* where the crafted header sits: far enough for a
			 * root of QF_NODE_MAX + 1 bytes below it */

static void poke(uint8_t *p, unsigned width, uint64_t v)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A valid header at OFF: empty trees, nothing pending, commit 5. */
static void base_header(uint8_t *buf)
{
	struct qhdr h = {
		.node_size = 4096,
		.self_off = OFF,
		.txn = 5,
		.time_ns = 1,
		.prev_off = QF_SUPER_SIZE,
		.commit_start = QF_SUPER_SIZE + QF_HDR_FIXED,
		.next_seq = 10,
		.history_seq = 1,
		.total_bytes = OFF + QF_HDR_FIXED,
		.ckpt_off = OFF,
		.retain_commits = 1,
	};
	memset(buf, 0, QF_HDR_FIXED + 512);
	qhdr_put(buf, &h);
}

struct pk {
	unsigned at, width;
	uint64_t v;
};

/* One rule: these fields changed, the block resealed, and the decoder
 * must refuse it with err. */
struct rule {
	const char *what;
	struct pk p[5];
	int err;
};

static const struct rule rules[] = {
	{"not a header block", {{4, 1, QB_NODE}}, QUIRE_ECORRUPT},
	{"block too small", {{8, 4, QF_HDR_V1 - 1}}, QUIRE_ECORRUPT},
	{"version 2 block of a version 1 size",
	 {{8, 4, QF_HDR_V1}, {120, 8, OFF + QF_HDR_V1}},
	 QUIRE_ECORRUPT},
	{"block too large", {{8, 4, QF_HDR_FIXED + QF_META_MAX + 1}},
	 QUIRE_ECORRUPT},
	{"bad magic", {{16, 1, 'X'}}, QUIRE_ECORRUPT},
	{"other version", {{24, 4, QF_HDR_V3 + 1}}, QUIRE_EVERSION},
	{"version 3 without features", {{24, 4, QF_HDR_V3}}, QUIRE_ECORRUPT},
	{"a feature this library lacks", {{24, 4, QF_HDR_V3}, {360, 8, 8}},
	 QUIRE_EVERSION},
	{"version 0", {{24, 4, 0}}, QUIRE_EVERSION},
	{"no commit kept", {{320, 8, 0}}, QUIRE_ECORRUPT},
	{"version 2 with features", {{360, 8, 1}}, QUIRE_ECORRUPT},
	{"out-of-line bytes beyond the raw bytes", {{344, 8, 1}},
	 QUIRE_ECORRUPT},
	{"out-of-line values beyond the keys", {{336, 8, 5}, {352, 8, 1}},
	 QUIRE_ECORRUPT},
	{"self offset", {{48, 8, OFF + 8}}, QUIRE_ECORRUPT},
	{"meta length", {{92, 4, 8}}, QUIRE_ECORRUPT},
	{"total bytes", {{120, 8, OFF}}, QUIRE_ECORRUPT},
	{"commit start low", {{80, 8, 100}}, QUIRE_ECORRUPT},
	{"commit start high", {{80, 8, OFF + 8}}, QUIRE_ECORRUPT},
	{"previous header overlaps", {{72, 8, QF_SUPER_SIZE + 64}},
	 QUIRE_ECORRUPT},
	/* empty roots must be all zero */
	{"empty root with height", {{140, 2, 1}}, QUIRE_ECORRUPT},
	{"empty root with count", {{144, 8, 1}}, QUIRE_ECORRUPT},
	{"empty root with bytes", {{152, 8, 1}}, QUIRE_ECORRUPT},
	{"empty root with size", {{136, 4, 1}}, QUIRE_ECORRUPT},
	/* a root at 4096, 100 bytes, height 1, made wrong one way each */
	{"root without height",
	 {{128, 8, 4096}, {136, 4, 100}, {152, 8, 100}}, QUIRE_ECORRUPT},
	{"root too high",
	 {{128, 8, 4096}, {136, 4, 100}, {140, 2, 65}, {152, 8, 100}},
	 QUIRE_ECORRUPT},
	{"root in the superblock",
	 {{128, 8, 100}, {136, 4, 100}, {140, 2, 1}, {152, 8, 100}},
	 QUIRE_ECORRUPT},
	{"root past the header",
	 {{128, 8, OFF - 50}, {136, 4, 100}, {140, 2, 1}, {152, 8, 100}},
	 QUIRE_ECORRUPT},
	{"root smaller than a block",
	 {{128, 8, 4096}, {136, 4, 8}, {140, 2, 1}, {152, 8, 100}},
	 QUIRE_ECORRUPT},
	{"root larger than a node",
	 {{128, 8, 4096}, {136, 4, QF_NODE_MAX + 1}, {140, 2, 1},
	  {152, 8, 1u << 20}},
	 QUIRE_ECORRUPT},
	{"root bytes below its size",
	 {{128, 8, 4096}, {136, 4, 100}, {140, 2, 1}, {152, 8, 99}},
	 QUIRE_ECORRUPT},
	{"sequence root", {{160, 8, 5000}}, QUIRE_ECORRUPT},
	{"commit index root", {{248, 8, 5000}}, QUIRE_ECORRUPT},
	{"tombstone root", {{280, 8, 5000}}, QUIRE_ECORRUPT},
	{"checkpoint low", {{240, 8, 100}}, QUIRE_ECORRUPT},
	{"checkpoint high", {{240, 8, OFF + 8}}, QUIRE_ECORRUPT},
	{"checkpoint after the previous header", {{240, 8, 6000}},
	 QUIRE_ECORRUPT},
	{"pending offset alone", {{208, 8, 5000}}, QUIRE_ECORRUPT},
	{"pending batches without offset", {{220, 4, 1}}, QUIRE_ECORRUPT},
	{"pending in the superblock",
	 {{208, 8, 100}, {216, 4, 10}, {232, 8, 10}}, QUIRE_ECORRUPT},
	{"pending past the header",
	 {{208, 8, OFF - 5}, {216, 4, 10}, {232, 8, 10}}, QUIRE_ECORRUPT},
	{"pending bytes below its size",
	 {{208, 8, 5000}, {216, 4, 10}, {232, 8, 9}}, QUIRE_ECORRUPT},
	{"key count", {{104, 8, 3}}, QUIRE_ECORRUPT},
	{"live bytes", {{112, 8, 3}}, QUIRE_ECORRUPT},
	{"next sequence 0", {{96, 8, 0}}, QUIRE_ECORRUPT},
	{"more pending than sequence numbers",
	 {{208, 8, 5000}, {216, 4, 10}, {232, 8, 10}, {112, 8, 10},
	  {224, 8, 10}},
	 QUIRE_ECORRUPT},
	{"history after the checkpoint", {{192, 8, 11}}, QUIRE_ECORRUPT},
	{"history commit after this one", {{200, 8, 6}}, QUIRE_ECORRUPT},
};

static void test_header_rules(void **state)
{
	static uint8_t buf[QF_HDR_FIXED + QF_META_MAX + 64];
	struct qhdr h;
	uint32_t need;
	base_header(buf);
	assert_int_equal(qhdr_get(buf, QF_HDR_FIXED, OFF, &h, &need), 0);
	assert_int_equal(h.txn, 5);
	for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
		const struct rule *r = &rules[i];
		base_header(buf);
		for (size_t j = 0; j < 5 && r->p[j].width; j++)
			poke(buf + r->p[j].at, r->p[j].width, r->p[j].v);
		uint32_t size = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 |
				(uint32_t)buf[10] << 16 |
				(uint32_t)buf[11] << 24;
		if (size >= QF_BLOCK_HDR && size <= sizeof buf)
			qblock_seal(buf, size, OFF);
		int e = qhdr_get(buf, sizeof buf, OFF, &h, &need);
		if (e != r->err)
			fail_msg("%s: qhdr_get gave %d (%s), not %d", r->what, e,
				 quire_errmsg(), r->err);
	}
	/* version 3 names its features */
	base_header(buf);
	poke(buf + 24, 4, QF_HDR_V3);
	poke(buf + 360, 8, QF_FEAT_RANGES);
	qblock_seal(buf, QF_HDR_FIXED, OFF);
	assert_int_equal(qhdr_get(buf, QF_HDR_FIXED, OFF, &h, &need), 0);
	assert_int_equal(h.features, QF_FEAT_RANGES);
	/* a block longer than the bytes at hand: the caller must read more */
	base_header(buf);
	poke(buf + 8, 4, QF_HDR_FIXED + 100);
	poke(buf + 92, 4, 100);
	qblock_seal(buf, QF_HDR_FIXED + 100, OFF);
	assert_int_equal(qhdr_get(buf, QF_HDR_FIXED, OFF, &h, &need),
			 QUIRE_ECORRUPT);
	assert_int_equal(need, QF_HDR_FIXED + 100);
	assert_int_equal(qhdr_get(buf, 8, OFF, &h, &need), QUIRE_ECORRUPT);
	assert_int_equal(need, 0);
	/* a version 1 header (320 bytes): every commit kept, counts unknown */
	base_header(buf);
	poke(buf + 8, 4, QF_HDR_V1);
	poke(buf + 24, 4, 1);
	poke(buf + 120, 8, OFF + QF_HDR_V1);
	qblock_seal(buf, QF_HDR_V1, OFF);
	assert_int_equal(qhdr_get(buf, QF_HDR_V1, OFF, &h, &need), 0);
	assert_int_equal(h.retain_commits, QF_KEEP_ALL);
	assert_int_equal(h.live_raw, QF_RAW_UNKNOWN);
	/* a header read from another offset fails its checksum */
	base_header(buf);
	assert_int_equal(qhdr_get(buf, QF_HDR_FIXED, OFF + 512, &h, &need),
			 QUIRE_ECORRUPT);
}

static void seal_super(uint8_t *p)
{
	poke(p + 252, 4, crc32c(0, p, 252));
}

static void test_superblock_rules(void **state)
{
	uint8_t p[256];
	struct qsuper s = {.version = QF_VERSION, .created_ns = 42}, got;
	qsuper_put(p, &s);
	assert_int_equal(qsuper_get(p, &got), 0);
	assert_int_equal(got.created_ns, 42);

	p[100] ^= 1; /* checksum */
	assert_int_equal(qsuper_get(p, &got), QUIRE_ECORRUPT);
	qsuper_put(p, &s);
	poke(p + 8, 4, QF_VERSION + 1);
	seal_super(p);
	assert_int_equal(qsuper_get(p, &got), QUIRE_EVERSION);
	qsuper_put(p, &s);
	poke(p + 12, 4, 8192); /* superblock size */
	seal_super(p);
	assert_int_equal(qsuper_get(p, &got), QUIRE_ECORRUPT);
	qsuper_put(p, &s);
	p[0] = 'X';
	assert_int_equal(qsuper_get(p, &got), QUIRE_ENOTDB);
}

static void test_slot_rules(void **state)
{
	const struct qslot good = {.latest_off = 9000, .latest_txn = 7,
				   .durable_off = 8000, .durable_txn = 6,
				   .boot_id = 3, .counter = 11};
	const struct qslot bad[] = {
		{9000, 5, 8000, 6, 3, 11, 0},  /* durable newer than latest */
		{100, 7, 100, 6, 3, 11, 0},    /* latest in the superblock */
		{9000, 7, 100, 6, 3, 11, 0},   /* durable in the superblock */
		{9000, 7, 9500, 6, 3, 11, 0},  /* durable after latest */
	};
	uint8_t p[QF_SLOT_SIZE];
	struct qslot got;
	qslot_put(p, &good);
	assert_int_equal(qslot_get(p, &got), 0);
	assert_int_equal(got.counter, 11);
	p[20] ^= 4;
	assert_int_equal(qslot_get(p, &got), QUIRE_ECORRUPT);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		qslot_put(p, &bad[i]);
		if (qslot_get(p, &got) != QUIRE_ECORRUPT)
			fail_msg("slot rule %zu not enforced", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_superblock_rules),
		cmocka_unit_test(test_slot_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
