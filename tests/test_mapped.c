/*
 * test_mapped.c - reading in place through the file mapping (fmap.h).
 *
 *  - A flipped bit in a node or a value block reached in place gives
 *    QUIRE_ECORRUPT to gets, cursors and diffs, never the bytes; the rest
 *    of the file still reads.
 *  - A file another program truncates under a reader: the SIGBUS is
 *    contained, the reader gets QUIRE_EIO and the process goes on.
 *  - A mapping that cannot be made, or cannot grow, falls back to reading
 *    with read(): the same content either way, and with QUIRE_NOMMAP.
 *  - Large values come straight from the mapping (no copy per read),
 *    and are stored as put although they are written from the caller's
 *    buffer.
 *  - The verified marks (a byte per span, a bit per granule) say marked
 *    exactly for the blocks marked and not forgotten since, whatever
 *    number of blocks share a span: a model of thousands of operations.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holdvfs.h"
#include "fmap.h"
#include "internal.h"
#include "testutil.h"
#include "tree.h"

#define NKEYS 3000
#define BIG 5000 /* stored out of line */

static void key_of(char *k, int i)
{
	snprintf(k, 16, "key%06d", i);
}

static size_t val_of(uint8_t *v, int i, int round)
{
	size_t n = i % 97 == 0 ? BIG : 40 + (size_t)(i % 60);
	for (size_t j = 0; j < n; j++)
		v[j] = (uint8_t)(i * 31 + j + round);
	return n;
}

/* NKEYS keys (some values out of line), checkpointed: commit 1. Then
 * commit 2 changes one key and checkpoints again. */
static void build(const char *path, struct model *m, int changed)
{
	quire_options o;
	quire *db;
	quire_txn *t;
	uint8_t v[BIG];
	char k[16];
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	unlink(path);
	QOK(quire_open(path, &o, &db));
	QOK(quire_begin(db, 0, &t));
	for (int i = 0; i < NKEYS; i++) {
		key_of(k, i);
		size_t n = val_of(v, i, 0);
		QOK(quire_put(t, k, strlen(k), v, n));
		if (m)
			model_put(m, k, strlen(k), v, n);
	}
	QOK(quire_commit(t));
	QOK(quire_checkpoint(db));
	QOK(quire_begin(db, 0, &t));
	key_of(k, changed);
	size_t n = val_of(v, changed, 1);
	QOK(quire_put(t, k, strlen(k), v, n));
	if (m)
		model_put(m, k, strlen(k), v, n);
	QOK(quire_commit(t));
	QOK(quire_checkpoint(db));
	QOK(quire_close(db));
}

static quire *open_ro(const char *path, unsigned flags, qvfs *vfs)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY | flags;
	QOK(qdb_open_vfs(path, &o, vfs ? vfs : qvfs_unix(), &db));
	return db;
}

/* Where key's leaf and (if out of line) its value block are. */
static void locate(const char *path, const char *key, uint64_t *leaf,
		   uint64_t *val)
{
	quire *db = open_ro(path, 0, NULL);
	quire_txn *t;
	struct tcur c;
	struct lentry le;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	tcur_init(&c, t->snap->qf, QT_KEYS, &t->snap->h.root[QT_KEYS]);
	QOK(tcur_seek(&c, key, strlen(key)));
	*leaf = c.lv[0].off;
	tcur_entry(&c, &le);
	*val = le.ool ? le.ool_off : 0;
	quire_abort(t);
	QOK(quire_close(db));
}

static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* Scan forward with values: the first error met (0: none). */
static int scan(quire_txn *t)
{
	quire_cursor *c;
	quire_val k, v;
	int e;
	QOK(quire_cursor_open(t, &c));
	while ((e = quire_cursor_next(c)) == 0 &&
	       (e = quire_cursor_key(c, &k)) == 0 &&
	       (e = quire_cursor_value(c, &v)) == 0)
		;
	quire_cursor_close(c);
	return e == QUIRE_NOTFOUND ? 0 : e;
}

static void test_flipped_bits(void **state)
{
	char path[4200], k[16], far[16];
	tu_pathcat(path, sizeof path, tu_path("mapped-flip"), "");
	const int changed = 1234; /* 1234 % 97 != 0: inline */
	uint64_t leaf, val, none;
	build(path, NULL, changed);
	key_of(k, changed);
	key_of(far, 5);
	locate(path, k, &leaf, &none);
	flip(path, leaf + 100); /* inside an entry of the newest leaf */

	quire *db = open_ro(path, 0, NULL);
	quire_txn *t, *old;
	quire_val v;
	assert_int_equal(quire_begin(db, QUIRE_RDONLY, &t), 0);
	assert_int_equal(quire_get(t, k, strlen(k), &v), QUIRE_ECORRUPT);
	assert_int_equal(quire_get(t, k, strlen(k), &v), QUIRE_ECORRUPT);
	QOK(quire_get(t, far, strlen(far), &v)); /* elsewhere: fine */
	assert_int_equal(scan(t), QUIRE_ECORRUPT);
	/* the diff against the commit before meets the damaged leaf */
	QOK(quire_begin_at(db, quire_txn_id(t) - 2, &old));
	quire_diff *d;
	quire_delta dl;
	QOK(quire_diff_open(old, t, &d));
	int e;
	while ((e = quire_diff_next(d, &dl)) == 0)
		;
	assert_int_equal(e, QUIRE_ECORRUPT);
	quire_diff_close(d);
	quire_abort(old);
	quire_abort(t);
	QOK(quire_close(db));

	/* a value block */
	build(path, NULL, changed);
	key_of(k, 97 * 3);
	locate(path, k, &none, &val);
	assert_true(val != 0);
	flip(path, val + QF_BLOCK_HDR + BIG / 2);
	db = open_ro(path, 0, NULL);
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, k, strlen(k), &v), QUIRE_ECORRUPT);
	assert_int_equal(scan(t), QUIRE_ECORRUPT);
	quire_abort(t);
	QOK(quire_close(db));
	unlink(path);
}

static void test_truncated_under_reader(void **state)
{
	char path[4200], k[16];
	tu_pathcat(path, sizeof path, tu_path("mapped-trunc"), "");
	build(path, NULL, 1);
	quire *db = open_ro(path, 0, NULL);
	quire_txn *t;
	quire_val v;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	key_of(k, 0);
	QOK(quire_get(t, k, strlen(k), &v));
	/* another program cuts the file to its superblock */
	assert_int_equal(truncate(path, 4096), 0);
	key_of(k, NKEYS - 1);
	assert_int_equal(quire_get(t, k, strlen(k), &v), QUIRE_EIO);
	assert_true(strstr(quire_errmsg(), "truncated") != NULL);
	assert_int_equal(scan(t), QUIRE_EIO);
	quire_abort(t);
	QOK(quire_close(db));
	unlink(path);
}

static void check_all(const char *path, const struct model *m,
		      unsigned flags, qvfs *vfs)
{
	quire *db = open_ro(path, flags, vfs);
	quire_txn *t;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	model_check_txn(m, t);
	quire_abort(t);
	QOK(quire_close(db));
}

static void test_mapping_fails(void **state)
{
	char path[4200];
	struct model m = {0};
	tu_pathcat(path, sizeof path, tu_path("mapped-fail"), "");
	build(path, &m, 7);
	struct holdvfs *h = holdvfs_new(qvfs_unix());
	check_all(path, &m, 0, NULL);           /* mapped */
	check_all(path, &m, QUIRE_NOMMAP, NULL); /* read() and the cache */
	holdvfs_map_limit(h, 0);                 /* no mapping at all */
	check_all(path, &m, 0, holdvfs_vfs(h));
	/* a first view too small for the file that cannot grow: nodes
	 * past it are read instead */
	holdvfs_map_limit(h, 64u << 20);
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	unlink(path);
	QOK(qdb_open_vfs(path, &o, holdvfs_vfs(h), &db));
	model_clear(&m);
	uint8_t *v = malloc(1 << 20);
	assert_non_null(v);
	for (int i = 0; i < 80; i++) { /* 80 MiB: past the first view */
		char k[16];
		key_of(k, i);
		memset(v, i, 1 << 20);
		QOK(quire_begin(db, 0, &t));
		QOK(quire_put(t, k, strlen(k), v, 1 << 20));
		QOK(quire_commit(t));
		model_put(&m, k, strlen(k), v, 1 << 20);
	}
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	model_check_txn(&m, t);
	quire_abort(t);
	QOK(quire_close(db));
	check_all(path, &m, 0, holdvfs_vfs(h));
	check_all(path, &m, 0, NULL);
	free(v);
	model_clear(&m);
	holdvfs_free(h);
	unlink(path);
}

/* Large values, written at once from the caller's buffer (64 KiB and
 * up): what was put is stored, whatever the caller does with its buffer
 * after the put; read twice, a value comes from the same place, the
 * mapping; a flipped bit in one gives QUIRE_ECORRUPT. */
static void test_large_values_in_place(void **state)
{
	char path[4200];
	tu_pathcat(path, sizeof path, tu_path("mapped-large"), "");
	const size_t sizes[] = {64 << 10, 100 << 10, 1 << 20};
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_val a, b;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	unlink(path);
	QOK(quire_open(path, &o, &db));
	uint8_t *v = malloc(1 << 20), *want = malloc(1 << 20);
	assert_non_null(v);
	assert_non_null(want);
	for (size_t i = 0; i < (1u << 20); i++)
		want[i] = (uint8_t)(i * 7);
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		char k[16];
		size_t n = sizes[s];
		snprintf(k, sizeof k, "big%zu", s);
		memcpy(v, want, n);
		QOK(quire_begin(db, 0, &t));
		QOK(quire_put(t, k, strlen(k), v, n));
		memset(v, 0xee, n); /* the caller's again */
		QOK(quire_get(t, k, strlen(k), &a)); /* its own write */
		assert_int_equal(a.size, n);
		assert_memory_equal(a.data, want, n);
		QOK(quire_commit(t));
		QOK(quire_begin(db, QUIRE_RDONLY, &t));
		QOK(quire_get(t, k, strlen(k), &a));
		QOK(quire_get(t, k, strlen(k), &b));
		assert_int_equal(a.size, n);
		assert_ptr_equal(a.data, b.data);
		assert_memory_equal(a.data, want, n);
		const uint8_t *base = t->snap->qf->smap;
		assert_true((const uint8_t *)a.data > base &&
			    (const uint8_t *)a.data <
				    base + t->snap->h.total_bytes);
		quire_abort(t);
	}
	QOK(quire_checkpoint(db)); /* into the tree, where locate looks */
	QOK(quire_close(db));

	uint64_t leaf, val;
	locate(path, "big1", &leaf, &val);
	assert_true(val != 0);
	flip(path, val + QF_BLOCK_HDR + (100 << 10) - 1);
	db = open_ro(path, 0, NULL);
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, "big1", 4, &a), QUIRE_ECORRUPT);
	QOK(quire_get(t, "big0", 4, &a)); /* the others still read */
	assert_memory_equal(a.data, want, 64 << 10);
	quire_abort(t);
	QOK(quire_close(db));
	free(v);
	free(want);
	unlink(path);
}

/* Offsets of blocks for the marks model: runs of 600 blocks, 16 bytes to
 * 4992 apart (so 1 to 128 of them per 2 KiB span), across chunk edges and
 * the end of the range marks cover; the runs do not meet. */
#define NCAND 6000

static uint64_t cand_off(uint64_t *rs, uint64_t prev, int i)
{
	static const uint64_t bases[NCAND / 600] = { /* runs stay apart */
		0,	  1ULL << 24, (1ULL << 30) - 4096, 3ULL << 30,
		5ULL << 30, (7ULL << 30) - 2048, 9ULL << 30, 11ULL << 30,
		13ULL << 30, FMAP_MARKED - 2048,
	};
	if (i % 600 == 0)
		return bases[i / 600] + 16 * (tu_rand(rs) % 8);
	static const uint64_t step[] = {16, 32, 1024, 2032, 2048, 4096, 4992};
	return prev + step[tu_rand(rs) % 7];
}

static void test_marks_model(void **state)
{
	(void)state;
	uint64_t rs = tu_seed(91), *off = malloc(NCAND * sizeof *off);
	char *want = calloc(NCAND, 1);
	assert_non_null(off);
	assert_non_null(want);
	for (int i = 0; i < NCAND; i++)
		off[i] = cand_off(&rs, i ? off[i - 1] : 0, i);
	struct fmap m;
	fmap_init(&m);
	for (int op = 0; op < 40000; op++) {
		int i = (int)(tu_rand(&rs) % NCAND);
		if (tu_rand(&rs) % 500 == 0) { /* forget from a point */
			uint64_t from = off[i] + 16 * (tu_rand(&rs) % 3);
			fmap_unmark_from(&m, from);
			for (int j = 0; j < NCAND; j++)
				if (off[j] >= from)
					want[j] = 0;
		} else {
			fmap_mark(&m, off[i]);
			want[i] = off[i] < FMAP_MARKED;
		}
		if (op % 4000 == 3999 || tu_rand(&rs) % 8 == 0) {
			for (int j = 0; j < NCAND; j++)
				if (fmap_marked(&m, off[j]) != want[j])
					fail_msg("op %d: block at %llu: "
						 "marked %d, want %d",
						 op,
						 (unsigned long long)off[j],
						 !want[j], want[j]);
		}
	}
	fmap_done(&m);
	free(off);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flipped_bits),
		cmocka_unit_test(test_truncated_under_reader),
		cmocka_unit_test(test_mapping_fails),
		cmocka_unit_test(test_large_values_in_place),
		cmocka_unit_test(test_marks_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
