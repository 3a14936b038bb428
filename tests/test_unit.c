/*
 * test_unit.c - the encoding layers one by one: CRC-32C, varints, key order,
 * the superblock, slots and commit header, node build/verify/search, the
 * node search index, operation records, and the pacing rule of a
 * background thread. Each decoder is also fed damaged input.
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
#include "format.h"
#include "nindex.h"
#include "node.h"
#include "oplog.h"
#include "pace.h"
#include "testutil.h"
#include "util.h"

static void test_crc32c(void **state)
{
	/* RFC 3720 B.4 test vectors */
	uint8_t buf[48];
	memset(buf, 0, 32);
	assert_int_equal(crc32c(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, 32);
	assert_int_equal(crc32c(0, buf, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc32c(0, buf, 32), 0x46dd794e);
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	/* hardware and software agree at every length and alignment, and
	 * continuing a CRC equals computing it at once */
	uint64_t s = 1;
	uint8_t big[6000]; /* long enough for the hw loop to read ahead */
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)tu_rand(&s);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n + off <= sizeof big; n += 37) {
			uint32_t a = crc32c(0, big + off, n);
			assert_int_equal(a, crc32c_sw(0, big + off, n));
			size_t h = n / 3;
			assert_int_equal(a, crc32c(crc32c(0, big + off, h),
						   big + off + h, n - h));
		}
}

static void test_varint(void **state)
{
	uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, 1ull << 32,
			   UINT64_MAX};
	uint8_t buf[VARINT_MAX];
	for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
		uint64_t out;
		size_t n = varint_put(buf, vals[i]);
		assert_int_equal(n, varint_len(vals[i]));
		assert_int_equal(varint_get(buf, buf + n, &out), n);
		assert_true(out == vals[i]);
		/* a truncated varint is refused */
		assert_int_equal(varint_get(buf, buf + n - 1, &out), 0);
	}
	memset(buf, 0x80, sizeof buf); /* never terminates */
	uint64_t out;
	assert_int_equal(varint_get(buf, buf + sizeof buf, &out), 0);
}

static void test_key_order(void **state)
{
	assert_true(key_cmp("", 0, "a", 1) < 0);
	assert_true(key_cmp(NULL, 0, NULL, 0) == 0);
	assert_true(key_cmp("ab", 2, "a", 1) > 0);
	assert_true(key_cmp("a\xff", 2, "b", 1) < 0);
	assert_true(key_cmp("\x80", 1, "\x7f", 1) > 0); /* unsigned bytes */
}

static void test_header_roundtrip(void **state)
{
	uint8_t buf[QF_HDR_FIXED];
	struct qhdr h = {.node_size = 4096,
			 .self_off = 100000,
			 .txn = 7,
			 .time_ns = 123456789,
			 .prev_off = 50000,
			 .commit_start = 50400,
			 .range_crc = 0xdeadbeef,
			 .next_seq = 42,
			 .key_count = 3,
			 .live_bytes = 600,
			 .total_bytes = 100000 + QF_HDR_FIXED,
			 .history_seq = 1,
			 .history_txn = 0,
			 .ckpt_off = 100000,
			 .retain_commits = 3,
			 .retain_ns = 9,
			 .live_raw = 500,
			 .live_ool = 300,
			 .live_ool_count = 1};
	h.root[QT_KEYS] = (struct qroot){60000, 600, 1, 3, 600};
	h.root[QT_COMMITS] = (struct qroot){62000, 200, 1, 7, 200};
	h.root[QT_SEQ] = (struct qroot){61000, 300, 1, 41, 300};
	memset(h.file_id, 0xab, QF_FILE_ID);
	qhdr_put(buf, &h);
	struct qhdr g;
	uint32_t need;
	QOK(qhdr_get(buf, sizeof buf, 100000, &g, &need));
	assert_int_equal(g.txn, 7);
	assert_int_equal(g.range_crc, 0xdeadbeef);
	assert_int_equal(g.root[QT_SEQ].count, 41);
	assert_int_equal(g.root[QT_COMMITS].off, 62000);
	assert_int_equal(g.root[QT_DEAD].off, 0);
	assert_int_equal(g.ckpt_off, 100000);
	assert_int_equal(g.retain_commits, 3);
	assert_int_equal(g.retain_ns, 9);
	assert_int_equal(g.live_raw, 500);
	assert_int_equal(g.live_ool, 300);
	assert_int_equal(g.live_ool_count, 1);
	assert_memory_equal(g.file_id, h.file_id, QF_FILE_ID);
	/* found at another offset: refused (a copy inside user data) */
	assert_int_equal(qhdr_get(buf, sizeof buf, 100001, &g, &need),
			 QUIRE_ECORRUPT);
	/* every single-bit flip is caught */
	for (size_t b = 0; b < sizeof buf * 8; b++) {
		buf[b / 8] ^= (uint8_t)(1 << (b % 8));
		int e = qhdr_get(buf, sizeof buf, 100000, &g, &need);
		assert_true(e == QUIRE_ECORRUPT || e == QUIRE_EVERSION);
		buf[b / 8] ^= (uint8_t)(1 << (b % 8));
	}
	/* consistent checksum, inconsistent fields */
	h.key_count = 4;
	qhdr_put(buf, &h);
	assert_int_equal(qhdr_get(buf, sizeof buf, 100000, &g, &need),
			 QUIRE_ECORRUPT);
}

static void test_super_and_slots(void **state)
{
	uint8_t buf[QF_SUPER_SIZE] = {0};
	struct qsuper s = {.version = QF_VERSION, .created_ns = 5}, g;
	memset(s.file_id, 7, QF_FILE_ID);
	qsuper_put(buf, &s);
	QOK(qsuper_get(buf, &g));
	assert_memory_equal(g.file_id, s.file_id, QF_FILE_ID);
	buf[100] ^= 1;
	assert_int_equal(qsuper_get(buf, &g), QUIRE_ECORRUPT);
	buf[0] = 'X';
	assert_int_equal(qsuper_get(buf, &g), QUIRE_ENOTDB);

	struct qslot sl = {.latest_off = 9000, .latest_txn = 5,
			   .durable_off = 8000, .durable_txn = 4,
			   .boot_id = 77, .counter = 12}, sg;
	uint8_t sb[QF_SLOT_SIZE];
	qslot_put(sb, &sl);
	QOK(qslot_get(sb, &sg));
	assert_int_equal(sg.counter, 12);
	assert_int_equal(sg.durable_off, 8000);
	memset(sb, 0, sizeof sb); /* a never-written slot is invalid */
	assert_int_equal(qslot_get(sb, &sg), QUIRE_ECORRUPT);
}

/* A leaf of n keys "key0000", "key0002", ... with value = key. */
static uint8_t *make_leaf(unsigned n, uint32_t *size)
{
	uint8_t *ents = malloc((size_t)n * 64), *d = ents;
	size_t *lens = malloc(n * sizeof *lens);
	for (unsigned i = 0; i < n; i++) {
		char k[16];
		snprintf(k, sizeof k, "key%04u", i * 2);
		lens[i] = leaf_entry_put(d, k, 7, i, k, 7, 0, 0);
		d += lens[i];
	}
	uint8_t *node = tu_node(0, ents, lens, n, size);
	free(ents);
	free(lens);
	return node;
}

static void test_node(void **state)
{
	uint32_t size;
	uint8_t *n = make_leaf(50, &size);
	QOK(node_verify(n, size, TU_NODE_OFF, QT_KEYS, 0));
	/* the same bytes elsewhere in the file: refused */
	assert_int_equal(node_verify(n, size, TU_NODE_OFF + 4096, QT_KEYS, 0),
			 QUIRE_ECORRUPT);
	assert_int_equal(node_count(n), 50);
	int exact;
	assert_int_equal(node_lower_bound(n, "key0010", 7, &exact), 5);
	assert_true(exact);
	assert_int_equal(node_lower_bound(n, "key0011", 7, &exact), 6);
	assert_false(exact);
	assert_int_equal(node_lower_bound(n, "", 0, &exact), 0);
	assert_int_equal(node_lower_bound(n, "z", 1, &exact), 50);
	struct lentry e;
	node_leaf_entry(n, 7, &e);
	assert_int_equal(e.meta, 7);
	assert_memory_equal(e.val, "key0014", 7);
	/* wrong expectations and damage are refused */
	assert_int_equal(node_verify(n, size, TU_NODE_OFF, QT_SEQ, 0),
			 QUIRE_ECORRUPT);
	assert_int_equal(node_verify(n, size, TU_NODE_OFF, QT_KEYS, 1),
			 QUIRE_ECORRUPT);
	assert_int_equal(node_verify(n, size - 1, TU_NODE_OFF, QT_KEYS, 0),
			 QUIRE_ECORRUPT);
	for (uint32_t b = 0; b < size * 8; b += 3) {
		n[b / 8] ^= (uint8_t)(1 << (b % 8));
		assert_int_equal(node_verify(n, size, TU_NODE_OFF, QT_KEYS, 0),
				 QUIRE_ECORRUPT);
		n[b / 8] ^= (uint8_t)(1 << (b % 8));
	}
	/* a valid checksum over out-of-order keys is still refused */
	struct lentry a, b;
	node_leaf_entry(n, 0, &a);
	node_leaf_entry(n, 1, &b);
	memcpy((uint8_t *)a.key, "key9999", 7);
	qblock_seal(n, size, TU_NODE_OFF);
	assert_int_equal(node_verify(n, size, TU_NODE_OFF, QT_KEYS, 0),
			 QUIRE_ECORRUPT);
	free(n);
}

static void test_internal_node(void **state)
{
	uint8_t ents[128];
	size_t lens[2];
	uint32_t size;
	struct ientry a = {(const uint8_t *)"a", 1, 5000, 100, 10, 700};
	struct ientry b = {(const uint8_t *)"m", 1, 6000, 120, 12, 900};
	lens[0] = int_entry_put(ents, &a);
	lens[1] = int_entry_put(ents + lens[0], &b);
	uint8_t *node = tu_node(1, ents, lens, 2, &size);
	QOK(node_verify(node, size, TU_NODE_OFF, QT_KEYS, 1));
	assert_int_equal(node_child_for(node, "0", 1), 0); /* below all */
	assert_int_equal(node_child_for(node, "a", 1), 0);
	assert_int_equal(node_child_for(node, "l", 1), 0);
	assert_int_equal(node_child_for(node, "m", 1), 1);
	assert_int_equal(node_child_for(node, "zz", 2), 1);
	/* a child that lies after its parent could form a cycle: refused */
	uint8_t *low = tu_node(1, ents, lens, 2, &size);
	qblock_seal(low, size, 6000);
	assert_int_equal(node_verify(low, size, 6000, QT_KEYS, 1),
			 QUIRE_ECORRUPT);
	free(low);
	free(node);
}

/* A random key made to collide: a prefix from a few shared stems, then a
 * tail from an alphabet with zero bytes, so that keys often agree on their
 * first bytes, end inside the index's six-byte window, or differ only in
 * trailing zeros. */
static size_t tie_key(uint64_t *rs, uint8_t *k, const uint8_t *stem,
		      size_t stemlen)
{
	static const uint8_t abc[] = {0, 0, 1, 'a', 'b', 0xff};
	size_t n = (size_t)(tu_rand(rs) % (stemlen + 1));
	memcpy(k, stem, n);
	size_t tail = (size_t)(tu_rand(rs) % 11);
	for (size_t i = 0; i < tail; i++)
		k[n++] = abc[tu_rand(rs) % sizeof abc];
	return n;
}

struct tkey {
	uint8_t b[32];
	size_t len;
};

static int tkey_cmp(const void *a, const void *b)
{
	const struct tkey *x = a, *y = b;
	return key_cmp(x->b, x->len, y->b, y->len);
}

/* The index answers every search exactly as the node does: random nodes
 * (leaves and internal nodes, 1 to 300 entries) of colliding keys, probed
 * with their own keys, near misses and random keys. */
static void test_nindex(void **state)
{
	uint64_t rs = 7;
	unsigned probes = 0, ties = 0;
	for (int round = 0; round < 600; round++) {
		uint8_t stem[20];
		size_t stemlen = (size_t)(tu_rand(&rs) % sizeof stem);
		for (size_t i = 0; i < stemlen; i++)
			stem[i] = (uint8_t)(tu_rand(&rs) % 3 ? 'k' : 0);
		unsigned want = 1 + (unsigned)(tu_rand(&rs) % 300);
		struct tkey *keys = calloc(want, sizeof *keys);
		for (unsigned i = 0; i < want; i++)
			keys[i].len = tie_key(&rs, keys[i].b, stem, stemlen);
		qsort(keys, want, sizeof *keys, tkey_cmp);
		unsigned n = 0;
		for (unsigned i = 0; i < want; i++)
			if (!n || tkey_cmp(&keys[n - 1], &keys[i]))
				keys[n++] = keys[i];
		int level = (int)(tu_rand(&rs) % 2);
		uint8_t *ents = malloc((size_t)n * 64), *d = ents;
		size_t *lens = malloc(n * sizeof *lens);
		for (unsigned i = 0; i < n; i++) {
			struct ientry ie = {keys[i].b, (uint32_t)keys[i].len,
					    4096 + 100 * i, 100, 1, 100};
			lens[i] = level ? int_entry_put(d, &ie)
					: leaf_entry_put(d, keys[i].b,
							 keys[i].len, i, "v",
							 1, 0, 0);
			d += lens[i];
		}
		uint32_t size;
		uint8_t *node = tu_node(level, ents, lens, n, &size);
		QOK(node_verify(node, size, TU_NODE_OFF, QT_KEYS, level));
		size_t xs = nindex_size(node);
		assert_int_equal(xs % 64, 0);
		void *x = aligned_alloc(64, xs);
		nindex_build(x, node);
		for (unsigned i = 0; i < n; i++) {
			unsigned at = node_entry_at(node, i);
			assert_int_equal(nindex_entry_at(x, i), at);
			uint32_t kl;
			const uint8_t *k = node_key_at(node, at, &kl);
			assert_int_equal(kl, keys[i].len);
			assert_memory_equal(k, keys[i].b, kl);
			if (level) {
				struct ientry ie;
				node_int_entry_at(node, at, &ie);
				assert_int_equal(ie.child_off, 4096 + 100 * i);
			} else {
				struct lentry le;
				node_leaf_entry_at(node, at, &le);
				assert_int_equal(le.meta, i);
				assert_memory_equal(le.val, "v", 1);
			}
		}
		for (int p = 0; p < 200; p++) {
			struct tkey q;
			if (p % 3 == 0) { /* a key of the node, maybe changed */
				q = keys[tu_rand(&rs) % n];
				if (p % 2 && q.len < sizeof q.b)
					q.b[q.len++] = 0;
				else if (p % 5 == 0 && q.len)
					q.len--;
			} else {
				q.len = tie_key(&rs, q.b, stem, stemlen);
			}
			int e1, e2;
			unsigned a = node_lower_bound(node, q.b, q.len, &e1);
			assert_int_equal(nindex_lower_bound(x, node, q.b,
							    q.len, &e2), a);
			assert_int_equal(e1, e2);
			assert_int_equal(nindex_child_for(x, node, q.b, q.len),
					 node_child_for(node, q.b, q.len));
			probes++;
			ties += e1;
		}
		free(x);
		free(node);
		free(ents);
		free(lens);
		free(keys);
	}
	print_message("# index probes: %u (%u exact)\n", probes, ties);
	assert_true(probes >= 100000 && ties > probes / 10);
}

static void test_oprec(void **state)
{
	uint8_t buf[128];
	struct oprec in[] = {
		{.kind = OP_PUTREF, .leaf_off = 123456, .leaf_size = 4000,
		 .slot = 17},
		{.kind = OP_DEL, .key = (const uint8_t *)"gone", .klen = 4},
		{.kind = OP_PUT, .key = (const uint8_t *)"k", .klen = 1,
		 .val = (const uint8_t *)"vvv", .vlen = 3},
		{.kind = OP_PUT, .key = (const uint8_t *)"", .klen = 0,
		 .vlen = 5000, .ool = 1, .ool_off = 99999},
		{.kind = OP_RANGE, .key = (const uint8_t *)"a", .klen = 1,
		 .end = (const uint8_t *)"b", .elen = 1, .count = 300},
		{.kind = OP_RANGE, .key = (const uint8_t *)"", .klen = 0,
		 .to_last = 1, .count = 1},
	};
	for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
		struct oprec out;
		size_t n = oprec_put(buf, &in[i]);
		assert_int_equal(n, oprec_size(&in[i]));
		QOK(oprec_parse(buf, n, &out));
		assert_int_equal(out.kind, in[i].kind);
		assert_int_equal(out.klen, in[i].klen);
		assert_int_equal(out.leaf_off, in[i].leaf_off);
		assert_int_equal(out.slot, in[i].slot);
		assert_int_equal(out.vlen, in[i].vlen);
		assert_int_equal(out.ool_off, in[i].ool_off);
		assert_int_equal(out.elen, in[i].elen);
		assert_int_equal(out.to_last, in[i].to_last);
		assert_int_equal(out.count, in[i].count);
		assert_int_equal(oprec_parse(buf, n - 1, &out), -1);
		assert_int_equal(oprec_parse(buf, n + 1, &out), -1);
	}
	buf[0] = 9;
	struct oprec out;
	assert_int_equal(oprec_parse(buf, 4, &out), -1);
	/* a range that ends before it starts, removes nothing, or sits in a
	 * key's chain is refused */
	struct oprec bad[] = {
		{.kind = OP_RANGE, .key = (const uint8_t *)"b", .klen = 1,
		 .end = (const uint8_t *)"a", .elen = 1, .count = 1},
		{.kind = OP_RANGE, .key = (const uint8_t *)"a", .klen = 1,
		 .to_last = 1, .count = 0},
		{.kind = OP_RANGE, .prev_seq = 5, .key = (const uint8_t *)"a",
		 .klen = 1, .to_last = 1, .count = 1},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(oprec_parse(buf, oprec_put(buf, &bad[i]), &out),
				 -1);
}

/* The pacing rule (pace.c) on made-up readings: ms is a millisecond. */
static void test_pace_rule(void **state)
{
	(void)state;
	const uint64_t ms = 1000000;
	_Atomic int hurry = 0;
	struct pace p = {.fd = -1, .hurry = &hurry};
	/* too short an interval: not judged, and it goes on */
	assert_int_equal(pace_decide(&p, 1 * ms, 1 * ms, 1 * ms), 0);
	assert_int_equal(p.wall, 0);
	/* alone on its CPU (waited an eighth of the time or less): no sleep */
	assert_int_equal(pace_decide(&p, 4 * ms, 4 * ms, ms / 2), 0);
	assert_int_equal(p.wall, 4 * ms);
	/* half of 4 ms spent waiting for the CPU, 2 ms on it: sleep 4 ms */
	assert_int_equal(pace_decide(&p, 8 * ms, 6 * ms, 2500000), 4 * ms);
	/* a long interval: at most PACE_MAX_SLEEP_NS */
	assert_int_equal(pace_decide(&p, 108 * ms, 56 * ms, 52500000),
			 PACE_MAX_SLEEP_NS);
	/* someone waits for the thread: no sleep, however busy the CPU */
	atomic_store(&hurry, 1);
	assert_int_equal(pace_decide(&p, 112 * ms, 58 * ms, 54500000), 0);
	atomic_store(&hurry, 0);
	assert_int_equal(pace_decide(&p, 116 * ms, 60 * ms, 56500000), 4 * ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_varint),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_super_and_slots),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_internal_node),
		cmocka_unit_test(test_nindex),
		cmocka_unit_test(test_oprec),
		cmocka_unit_test(test_pace_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
