/*
 * test_badfiles.c - damaged files give a clear error or a committed state.
 *
 * A database is built on the in-memory VFS with a history of commits whose
 * contents are recorded. Then copies of its image are truncated (at every
 * header boundary and at many other points), bit-flipped, overwritten with
 * random bytes, or replaced by random or empty files, and each one is opened
 * and read completely (and written to). Every outcome must be one of: open
 * fails with ENOTDB, ECORRUPT or EVERSION; reads fail with ECORRUPT; or the
 * content equals one of the committed states. Never a crash, never a hang
 * (an alarm fails the test), never other data.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "workload.h"

static const char *path = "/bad.quire";
static struct wl_plan plan;
static uint8_t *image;
static size_t image_size;
static uint64_t *headers; /* offsets of every commit header */
static size_t nheaders;
static uint64_t outcomes[4]; /* open error, read error, state, write ok */

static int is_clear(int e)
{
	return e == QUIRE_ECORRUPT || e == QUIRE_ENOTDB || e == QUIRE_EVERSION;
}

/* Open img and classify what happens; fail on anything not allowed. */
static void probe(const uint8_t *img, size_t n, unsigned flags,
		  const char *what)
{
	struct memvfs *m = memvfs_new(plan.o.seed);
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_options_init(&o);
	o.flags = flags;
	o.node_size = plan.o.node_size;
	o.cache_size = (size_t)1 << 20;
	memvfs_set(m, path, img, n);
	int e = qdb_open_vfs(path, &o, memvfs_vfs(m), &db);
	if (e) {
		if (!is_clear(e))
			fail_msg("%s: open returned %s (%s)", what,
				 quire_strerror(e), quire_errmsg());
		if (!*quire_errmsg())
			fail_msg("%s: error without a message", what);
		outcomes[0]++;
		memvfs_free(m);
		return;
	}
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	int found = -1;
	for (int i = plan.o.commits; i >= 0 && found < 0; i--)
		if (wl_same(t, &plan.state[i]))
			found = i;
	if (found < 0) {
		/* not a committed state: then reading must report damage */
		quire_cursor *c;
		quire_val k, v;
		QOK(quire_cursor_open(t, &c));
		for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c))
			if ((e = quire_cursor_key(c, &k)) != 0 ||
			    (e = quire_cursor_value(c, &v)) != 0)
				break;
		quire_cursor_close(c);
		if (e != QUIRE_ECORRUPT)
			fail_msg("%s: content is no committed state and "
				 "reading it gave %s",
				 what, quire_strerror(e));
		outcomes[1]++;
	} else {
		outcomes[2]++;
	}
	quire_abort(t);
	if (!(flags & QUIRE_RDONLY)) {
		/* a write must either work or report the damage */
		e = quire_begin(db, 0, &t);
		if (!e) {
			for (int i = 0; !e && i < 40; i++) {
				char k[16];
				snprintf(k, sizeof k, "k%04d", i * 10);
				e = quire_put(t, k, strlen(k), "new", 3);
			}
			e = e ? (quire_abort(t), e) : quire_commit(t);
		}
		if (e && !is_clear(e))
			fail_msg("%s: writing gave %s (%s)", what,
				 quire_strerror(e), quire_errmsg());
		if (!e)
			outcomes[3]++;
	}
	QOK(quire_close(db));
	memvfs_free(m);
}

static int setup(void **state)
{
	struct wl_opts o = {.seed = tu_seed(31), .commits = 30, .max_ops = 20,
			    .node_size = 512, .big_every = 10,
			    .checkpoint_ops = 120};
	struct wl_result r;
	struct memvfs *m = memvfs_new(o.seed);
	wl_plan_make(&plan, &o);
	wl_run(&plan, memvfs_vfs(m), path, &r);
	if (r.err)
		fail_msg("building the database: %s", r.msg);
	const uint8_t *d = memvfs_data(m, path, &image_size);
	image = malloc(image_size);
	memcpy(image, d, image_size);
	memvfs_free(m);

	/* every commit header, found by walking the prev chain */
	struct qhdr h;
	uint32_t need;
	struct qslot s0, s1;
	int ok0 = qslot_get(image + QF_SLOT0_OFF, &s0) == 0;
	int ok1 = qslot_get(image + QF_SLOT1_OFF, &s1) == 0;
	assert_true(ok0 || ok1);
	uint64_t off = ok0 && (!ok1 || s0.counter > s1.counter)
			       ? s0.latest_off
			       : s1.latest_off;
	headers = calloc((size_t)o.commits + 1, sizeof *headers);
	while (off && nheaders <= (size_t)o.commits &&
	       qhdr_get(image + off, image_size - off, off, &h, &need) == 0) {
		headers[nheaders++] = off;
		off = h.prev_off;
	}
	assert_int_equal(nheaders, o.commits + 1);
	alarm(300); /* a hang fails the test instead of stalling CI */
	return 0;
}

static int teardown(void **state)
{
	print_message("# outcomes: %llu open errors, %llu read errors, %llu "
		      "committed states, %llu writes after damage\n",
		      (unsigned long long)outcomes[0],
		      (unsigned long long)outcomes[1],
		      (unsigned long long)outcomes[2],
		      (unsigned long long)outcomes[3]);
	wl_plan_free(&plan);
	free(image);
	free(headers);
	return 0;
}

static void test_truncated(void **state)
{
	char what[64];
	for (size_t i = 0; i < nheaders; i++) {
		uint64_t h = headers[i];
		uint64_t cuts[] = {h, h + 1, h + QF_HDR_FIXED - 1,
				   h + QF_HDR_FIXED};
		for (size_t j = 0; j < 4; j++) {
			if (cuts[j] > image_size)
				continue;
			snprintf(what, sizeof what, "truncated at %llu",
				 (unsigned long long)cuts[j]);
			probe(image, (size_t)cuts[j], QUIRE_RDONLY, what);
			probe(image, (size_t)cuts[j], 0, what);
		}
	}
	for (size_t cut = 0; cut < image_size; cut += 211) {
		snprintf(what, sizeof what, "truncated at %zu", cut);
		probe(image, cut, QUIRE_RDONLY, what);
	}
}

static void test_bitflips(void **state)
{
	uint64_t s = tu_seed(32);
	uint8_t *img = malloc(image_size);
	char what[64];
	/* every bit of the newest header and of the slots */
	uint64_t ranges[][2] = {{headers[0], QF_HDR_FIXED},
				{QF_SLOT0_OFF, QF_SLOT_SIZE},
				{QF_SLOT1_OFF, QF_SLOT_SIZE},
				{0, 64}};
	for (size_t r = 0; r < 4; r++)
		for (uint64_t b = 0; b < ranges[r][1] * 8; b++) {
			uint64_t off = ranges[r][0] + b / 8;
			memcpy(img, image, image_size);
			img[off] ^= (uint8_t)(1u << (b % 8));
			snprintf(what, sizeof what, "bit %llu of byte %llu",
				 (unsigned long long)(b % 8),
				 (unsigned long long)off);
			probe(img, image_size, QUIRE_RDONLY, what);
		}
	/* and random bits anywhere */
	for (int i = 0; i < 3000; i++) {
		uint64_t off = tu_below(&s, image_size);
		int bit = (int)tu_below(&s, 8);
		memcpy(img, image, image_size);
		img[off] ^= (uint8_t)(1u << bit);
		snprintf(what, sizeof what, "bit %d of byte %llu", bit,
			 (unsigned long long)off);
		probe(img, image_size, i % 4 ? QUIRE_RDONLY : 0, what);
	}
	free(img);
}

static void test_random_bytes(void **state)
{
	uint64_t s = tu_seed(33);
	uint8_t *img = malloc(image_size);
	char what[64];
	for (int i = 0; i < 1000; i++) {
		memcpy(img, image, image_size);
		int n = 1 + (int)tu_below(&s, 16);
		uint64_t off = tu_below(&s, image_size);
		for (int j = 0; j < n && off + (uint64_t)j < image_size; j++)
			img[off + (uint64_t)j] = (uint8_t)tu_rand(&s);
		snprintf(what, sizeof what, "%d random bytes at %llu", n,
			 (unsigned long long)off);
		probe(img, image_size, i % 3 ? QUIRE_RDONLY : 0, what);
	}
	free(img);
}

/* Both live slots damaged: opening walks the whole file from the first
 * commit and still finds the newest one; one damaged slot is no loss
 * either. */
static void test_slots_damaged(void **state)
{
	uint8_t *img = malloc(image_size);
	uint64_t before = outcomes[2];
	for (int which = 0; which < 3; which++) {
		struct memvfs *m = memvfs_new(plan.o.seed + 1); /* a reboot */
		quire_options o;
		quire *db;
		quire_txn *t;
		memcpy(img, image, image_size);
		if (which != 1)
			memset(img + QF_SLOT0_OFF, 0xee, QF_SLOT_SIZE);
		if (which != 0)
			memset(img + QF_SLOT1_OFF, 0xee, QF_SLOT_SIZE);
		memvfs_set(m, path, img, image_size);
		quire_options_init(&o);
		o.flags = QUIRE_RDONLY;
		QOK(qdb_open_vfs(path, &o, memvfs_vfs(m), &db));
		QOK(quire_begin(db, QUIRE_RDONLY, &t));
		if (!wl_same(t, &plan.state[plan.o.commits]))
			fail_msg("slots damaged (%d): not the newest commit",
				 which);
		quire_abort(t);
		QOK(quire_close(db));
		memvfs_free(m);
		outcomes[2]++;
	}
	assert_int_equal(outcomes[2], before + 3);
	free(img);
}

/* Misdirected writes: one block's bytes land on another block of the same
 * size. Both carry valid-looking checksums, yet a reader must notice. */
static void test_misdirected(void **state)
{
	uint64_t s = tu_seed(35), *blk = malloc(image_size / 16 * sizeof *blk);
	size_t nblk = 0;
	uint8_t *img = malloc(image_size);
	char what[96];
	for (uint64_t pos = QF_SUPER_SIZE; pos + QF_BLOCK_HDR <= image_size;) {
		struct qblock b;
		qblock_get(image + pos, &b);
		if (b.size < QF_BLOCK_HDR || pos + b.size > image_size)
			break;
		blk[nblk++] = pos;
		pos += b.size;
	}
	assert_true(nblk > 100);
	int pairs = 0;
	for (int i = 0; i < 20000 && pairs < 400; i++) {
		uint64_t a = blk[tu_below(&s, nblk)], b = blk[tu_below(&s, nblk)];
		struct qblock ba, bb;
		qblock_get(image + a, &ba);
		qblock_get(image + b, &bb);
		if (a == b || ba.size != bb.size || ba.type != bb.type)
			continue;
		uint32_t sa = ba.size;
		memcpy(img, image, image_size);
		memcpy(img + b, image + a, sa);
		snprintf(what, sizeof what, "block at %llu copied over %llu",
			 (unsigned long long)a, (unsigned long long)b);
		probe(img, image_size, pairs % 2 ? QUIRE_RDONLY : 0, what);
		pairs++;
	}
	assert_true(pairs > 50);
	free(img);
	free(blk);
}

static void test_foreign_files(void **state)
{
	uint64_t s = tu_seed(34);
	static uint8_t junk[20000];
	char what[64];
	probe(junk, 0, QUIRE_RDONLY, "empty file");
	probe(junk, 0, 0, "empty file");
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)tu_below(&s, sizeof junk);
		for (size_t j = 0; j < n; j++)
			junk[j] = (uint8_t)tu_rand(&s);
		snprintf(what, sizeof what, "%zu random bytes", n);
		probe(junk, n, QUIRE_RDONLY, what);
	}
	/* random bytes behind a real superblock */
	memcpy(junk, image, QF_SUPER_SIZE);
	probe(junk, sizeof junk, QUIRE_RDONLY, "superblock then junk");
	/* garbage appended after a valid database: opens to the last commit */
	uint8_t *img = malloc(image_size + 5000);
	memcpy(img, image, image_size);
	for (size_t j = 0; j < 5000; j++)
		img[image_size + j] = (uint8_t)tu_rand(&s);
	uint64_t before = outcomes[2];
	probe(img, image_size + 5000, 0, "junk tail");
	assert_int_equal(outcomes[2], before + 1);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_misdirected),
		cmocka_unit_test(test_slots_damaged),
		cmocka_unit_test(test_foreign_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
