/*
 * test_api.c - the contract of every public call, one test per behaviour:
 * argument checking (bad input gives QUIRE_EINVAL, never a crash), how open
 * treats missing, empty, foreign and read-only files, key and value size
 * limits and the inline/out-of-line boundary, transaction ids, a write
 * transaction seeing its own changes through gets and open cursors,
 * snapshot isolation, quire_close refusing while transactions are open,
 * error strings and messages, statistics, sync and check; range and prefix
 * deletes: bad input, counts (none: nothing committed), 0xff and empty
 * prefixes, the transaction's view right after the call, the changes feed,
 * and a large range over a deep tree.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* A string as the (pointer, length) pair the API takes. */
#define STR(s) (s), strlen(s)

/* Each test gets a fresh database at f->path, open read-write. */
struct fx {
	char *path;
	quire *db;
};

static quire *open_ckpt(const char *path, unsigned flags, unsigned node_size,
			unsigned long checkpoint_ops)
{
	quire_options o;
	quire *db = NULL;
	quire_options_init(&o);
	o.flags = flags;
	if (node_size)
		o.node_size = node_size;
	if (checkpoint_ops)
		o.checkpoint_ops = checkpoint_ops;
	QOK(quire_open(path, &o, &db));
	assert_non_null(db);
	return db;
}

static quire *open_db(const char *path, unsigned flags, unsigned node_size)
{
	return open_ckpt(path, flags, node_size, 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->path = strdup(tu_path("api"));
	assert_non_null(f->path);
	f->db = open_db(f->path, QUIRE_CREATE, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	quire_close(f->db);
	unlink(f->path);
	free(f->path);
	free(f);
	return 0;
}

/* Close the fixture's handle and open the file again with flags. */
static void reopen(struct fx *f, unsigned flags)
{
	QOK(quire_close(f->db));
	f->db = NULL;
	f->db = open_db(f->path, flags, 0);
}

/* Replace the fixture's database by a new one with the given node size;
 * checkpoint_ops 0 keeps the default. */
static void fresh_ckpt(struct fx *f, unsigned node_size,
		       unsigned long checkpoint_ops)
{
	QOK(quire_close(f->db));
	f->db = NULL;
	assert_int_equal(unlink(f->path), 0);
	f->db = open_ckpt(f->path, QUIRE_CREATE, node_size, checkpoint_ops);
}

static void fresh(struct fx *f, unsigned node_size)
{
	fresh_ckpt(f, node_size, 0);
}

static quire_txn *begin(quire *db, unsigned flags)
{
	quire_txn *t = NULL;
	QOK(quire_begin(db, flags, &t));
	assert_non_null(t);
	return t;
}

static void put(quire_txn *t, const void *k, size_t kl, const void *v,
		size_t vl)
{
	QOK(quire_put(t, k, kl, v, vl));
}

/* The value of k in t must be exactly v. */
static void expect(quire_txn *t, const void *k, size_t kl, const void *v,
		   size_t vl)
{
	quire_val got = {0};
	QOK(quire_get(t, k, kl, &got));
	assert_int_equal(got.size, vl);
	if (vl)
		assert_memory_equal(got.data, v, vl);
}

static void expect_missing(quire_txn *t, const void *k, size_t kl)
{
	quire_val got;
	assert_int_equal(quire_get(t, k, kl, &got), QUIRE_NOTFOUND);
}

/* One committed transaction putting k = v. */
static void commit_kv(quire *db, const char *k, const char *v)
{
	quire_txn *t = begin(db, 0);
	put(t, STR(k), STR(v));
	QOK(quire_commit(t));
}

static uint64_t latest_id(quire *db)
{
	quire_txn *r = begin(db, QUIRE_RDONLY);
	uint64_t id = quire_txn_id(r);
	QOK(quire_commit(r));
	return id;
}

static uint64_t size_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* The whole file in a malloc'ed buffer. */
static uint8_t *slurp(const char *path, size_t *n)
{
	*n = (size_t)size_of(path);
	uint8_t *p = malloc(*n ? *n : 1);
	assert_non_null(p);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(p, 1, *n, fp), *n);
	fclose(fp);
	return p;
}

/* Bytes that differ for every (n, seed), so a value mixed up with another
 * is caught. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed, x = 0;
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			x = tu_rand(&s);
		p[i] = (uint8_t)(x >> (i % 8 * 8));
	}
}

/* r, the result of a cursor move, must be 0 with the cursor at key k. */
static void at(quire_cursor *c, int r, const char *k)
{
	quire_val kv;
	if (r != 0)
		fail_msg("cursor move = %d (%s), expected key \"%s\"", r,
			 quire_strerror(r), k);
	QOK(quire_cursor_key(c, &kv));
	if (kv.size != strlen(k) || memcmp(kv.data, k, kv.size) != 0)
		fail_msg("cursor at \"%.*s\", expected \"%s\"", (int)kv.size,
			 (const char *)kv.data, k);
}

static void at_value(quire_cursor *c, const char *v)
{
	quire_val vv;
	QOK(quire_cursor_value(c, &vv));
	if (vv.size != strlen(v) || memcmp(vv.data, v, vv.size) != 0)
		fail_msg("cursor value \"%.*s\", expected \"%s\"",
			 (int)vv.size, (const char *)vv.data, v);
}

/* Whether the value at the cursor is exactly p. */
static int value_is(quire_cursor *c, const void *p, size_t n)
{
	quire_val v;
	QOK(quire_cursor_value(c, &v));
	return v.size == n && memcmp(v.data, p, n) == 0;
}

static void test_version(void **state)
{
	int ma = -1, mi = -1, pa = -1;
	const char *s = quire_version(&ma, &mi, &pa);
	assert_non_null(s);
	assert_string_equal(s, QUIRE_VERSION_STRING);
	assert_int_equal(ma, QUIRE_VERSION_MAJOR);
	assert_int_equal(mi, QUIRE_VERSION_MINOR);
	assert_int_equal(pa, QUIRE_VERSION_PATCH);
	char buf[64];
	snprintf(buf, sizeof buf, "%d.%d.%d", ma, mi, pa);
	assert_string_equal(buf, s);
	/* every part is optional */
	assert_string_equal(quire_version(NULL, NULL, NULL), s);
}

/* Handle-level calls with NULL: EINVAL, outputs untouched. */
static void test_null_handles(void **state)
{
	struct fx *f = *state;
	quire *sentinel = (quire *)&sentinel, *db = sentinel;
	quire_txn *tsent = (quire_txn *)&tsent, *t = tsent;

	quire_options_init(NULL);
	assert_int_equal(quire_open(NULL, NULL, &db), QUIRE_EINVAL);
	assert_int_equal(quire_open("", NULL, &db), QUIRE_EINVAL);
	assert_ptr_equal(db, sentinel);
	assert_int_equal(quire_open(f->path, NULL, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_close(NULL), 0);
	assert_int_equal(quire_sync(NULL), QUIRE_EINVAL);

	assert_int_equal(quire_begin(NULL, 0, &t), QUIRE_EINVAL);
	assert_int_equal(quire_begin(NULL, QUIRE_RDONLY, &t), QUIRE_EINVAL);
	assert_ptr_equal(t, tsent);
	assert_int_equal(quire_begin(f->db, 0, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_begin(f->db, QUIRE_RDONLY, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_commit(NULL), QUIRE_EINVAL);
	quire_abort(NULL);

	/* none of that took the writer slot or left a transaction open */
	commit_kv(f->db, "k", "v");
	reopen(f, 0);
}

/* Transaction-level calls with NULL arguments. */
static void test_null_txn_args(void **state)
{
	struct fx *f = *state;
	quire_val v = {"x", 1};
	quire_stat st;
	uint64_t problems = 7;
	quire_txn *w = begin(f->db, 0);

	assert_int_equal(quire_get(NULL, STR("k"), &v), QUIRE_EINVAL);
	assert_int_equal(quire_get(w, NULL, 1, &v), QUIRE_EINVAL);
	assert_int_equal(quire_get(w, STR("k"), NULL), QUIRE_EINVAL);
	assert_string_equal(v.data, "x"); /* not written on failure */
	assert_int_equal(quire_put(NULL, STR("k"), STR("v")), QUIRE_EINVAL);
	assert_int_equal(quire_put(w, NULL, 1, STR("v")), QUIRE_EINVAL);
	assert_int_equal(quire_put(w, STR("k"), NULL, 1), QUIRE_EINVAL);
	assert_int_equal(quire_del(NULL, STR("k")), QUIRE_EINVAL);
	assert_int_equal(quire_del(w, NULL, 1), QUIRE_EINVAL);
	assert_int_equal(quire_txn_stat(NULL, &st), QUIRE_EINVAL);
	assert_int_equal(quire_txn_stat(w, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_check(NULL, NULL, NULL, &problems),
			 QUIRE_EINVAL);
	assert_int_equal(quire_check(w, NULL, NULL, NULL), QUIRE_EINVAL);
	assert_int_equal(problems, 7);

	/* a NULL pointer with length 0 is the empty key / value */
	put(w, NULL, 0, NULL, 0);
	expect(w, NULL, 0, NULL, 0);
	/* the failures left the transaction usable */
	put(w, STR("k"), STR("v"));
	QOK(quire_commit(w));
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("k"), STR("v"));
	expect(r, "", 0, NULL, 0);
	QOK(quire_txn_stat(r, &st));
	assert_int_equal(st.key_count, 2);
	QOK(quire_commit(r));
}

/* Cursor calls with NULL arguments. */
static void test_null_cursor_args(void **state)
{
	struct fx *f = *state;
	quire_val k = {"x", 1};
	commit_kv(f->db, "k", "v");
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	quire_cursor *csent = (quire_cursor *)&csent, *c = csent;

	assert_int_equal(quire_cursor_open(NULL, &c), QUIRE_EINVAL);
	assert_ptr_equal(c, csent);
	assert_int_equal(quire_cursor_open(r, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_seek(NULL, STR("k")), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_first(NULL), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_last(NULL), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_next(NULL), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_prev(NULL), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_key(NULL, &k), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_value(NULL, &k), QUIRE_EINVAL);
	quire_cursor_close(NULL);

	QOK(quire_cursor_open(r, &c));
	assert_int_equal(quire_cursor_seek(c, NULL, 1), QUIRE_EINVAL);
	/* unpositioned: no key yet */
	assert_int_equal(quire_cursor_key(c, &k), QUIRE_NOTFOUND);
	assert_string_equal(k.data, "x");
	at(c, quire_cursor_seek(c, NULL, 0), "k");
	assert_int_equal(quire_cursor_key(c, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_cursor_value(c, NULL), QUIRE_EINVAL);
	at_value(c, "v");
	quire_cursor_close(c);
	QOK(quire_commit(r));
}

/* Options not set up by quire_options_init() are refused. */
static void test_options_not_initialised(void **state)
{
	struct fx *f = *state;
	quire_options o;
	quire *sentinel = (quire *)&sentinel, *db = sentinel;
	char *path = strdup(tu_path("noinit"));
	assert_non_null(path);

	memset(&o, 0, sizeof o);
	o.flags = QUIRE_CREATE;
	o.mode = 0644;
	o.node_size = 4096;
	o.cache_size = (size_t)8 << 20;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_EINVAL);
	o.version = QUIRE_OPTIONS_VERSION + 1; /* a newer struct than ours */
	assert_int_equal(quire_open(path, &o, &db), QUIRE_EINVAL);
	assert_ptr_equal(db, sentinel);
	assert_false(exists(path));
	/* also for an existing file */
	assert_int_equal(quire_open(f->path, &o, &db), QUIRE_EINVAL);
	free(path);
}

static void test_bad_flags(void **state)
{
	struct fx *f = *state;
	quire_options o;
	quire *db = NULL;
	quire_txn *t = NULL;
	char *path = strdup(tu_path("badflags"));
	assert_non_null(path);

	quire_options_init(&o);
	o.flags = QUIRE_CREATE | 0x100u;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_EINVAL);
	assert_false(exists(path));
	o.flags = 0x40u;
	assert_int_equal(quire_open(f->path, &o, &db), QUIRE_EINVAL);
	assert_null(db);

	/* quire_begin knows only QUIRE_RDONLY */
	assert_int_equal(quire_begin(f->db, QUIRE_CREATE, &t), QUIRE_EINVAL);
	assert_int_equal(quire_begin(f->db, QUIRE_NOSYNC, &t), QUIRE_EINVAL);
	assert_int_equal(quire_begin(f->db, QUIRE_RDONLY | 0x80u, &t),
			 QUIRE_EINVAL);
	assert_null(t);
	/* and the refusals took no writer slot */
	commit_kv(f->db, "a", "b");
	free(path);
}

static void test_node_size_bounds(void **state)
{
	static const unsigned bad[] = {0, 1, 511, 32769, 65536, UINT_MAX};
	static const unsigned good[] = {512, 32768};
	quire_options o;
	quire *db = NULL;
	char *path = strdup(tu_path("nodesize"));
	assert_non_null(path);

	quire_options_init(&o);
	assert_int_equal(o.node_size, 4096);
	o.flags = QUIRE_CREATE;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		o.node_size = bad[i];
		assert_int_equal(quire_open(path, &o, &db), QUIRE_EINVAL);
		assert_null(db);
		assert_false(exists(path));
	}
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		quire_stat st;
		unlink(path);
		db = open_db(path, QUIRE_CREATE, good[i]);
		quire_txn *w = begin(db, 0);
		for (int k = 0; k < 200; k++) {
			char key[16];
			snprintf(key, sizeof key, "key%03d", k);
			put(w, STR(key), STR("some value"));
		}
		QOK(quire_commit(w));
		quire_txn *r = begin(db, QUIRE_RDONLY);
		QOK(quire_txn_stat(r, &st));
		assert_int_equal(st.node_size, good[i]);
		assert_int_equal(st.key_count, 200);
		expect(r, STR("key123"), STR("some value"));
		QOK(quire_commit(r));
		QOK(quire_close(db));
	}
	unlink(path);
	free(path);
}

static void test_open_missing(void **state)
{
	quire_options o;
	quire *db = NULL;
	char *path = strdup(tu_path("missing"));
	assert_non_null(path);

	quire_options_init(&o);
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ENOENT);
	assert_int_equal(quire_open(path, NULL, &db), QUIRE_ENOENT);
	o.flags = QUIRE_NOSYNC;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ENOENT);
	assert_null(db);
	assert_false(exists(path));
	free(path);
}

/* A read-only open never creates the file, even if asked to. */
static void test_open_missing_rdonly(void **state)
{
	quire_options o;
	quire *db = NULL;
	char *path = strdup(tu_path("missing-ro"));
	assert_non_null(path);

	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ENOENT);
	o.flags = QUIRE_RDONLY | QUIRE_CREATE;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ENOENT);
	assert_null(db);
	assert_false(exists(path));
	free(path);
}

static void test_open_directory(void **state)
{
	static const unsigned flags[] = {0, QUIRE_CREATE, QUIRE_RDONLY};
	quire_options o;
	quire *db = NULL;
	char *path = strdup(tu_path("dir")), init[4200];
	assert_non_null(path);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(init, sizeof init, "%s.init", path);

	quire_options_init(&o);
	for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
		o.flags = flags[i];
		assert_int_equal(quire_open(path, &o, &db), QUIRE_EINVAL);
		assert_null(db);
		assert_non_null(strstr(quire_errmsg(), path));
	}
	assert_false(exists(init));
	assert_int_equal(rmdir(path), 0); /* still an (empty) directory */
	free(path);
}

/* A foreign file is never taken for a database, nor overwritten. */
static void test_open_text_file(void **state)
{
	static const unsigned flags[] = {0, QUIRE_CREATE, QUIRE_RDONLY,
					 QUIRE_CREATE | QUIRE_NOSYNC};
	static const char line[] = "This is not a database.\n";
	char text[6000];
	/* shorter and longer than an empty database */
	const size_t lens[2] = {sizeof line - 1, sizeof text};
	quire_options o;
	quire *db = NULL;
	char *path = strdup(tu_path("text"));
	assert_non_null(path);
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = line[i % (sizeof line - 1)];

	quire_options_init(&o);
	for (size_t l = 0; l < 2; l++) {
		write_file(path, text, lens[l]);
		for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
			o.flags = flags[i];
			assert_int_equal(quire_open(path, &o, &db),
					 QUIRE_ENOTDB);
			assert_null(db);
			size_t n;
			uint8_t *now = slurp(path, &n);
			assert_int_equal(n, lens[l]);
			assert_memory_equal(now, text, n);
			free(now);
		}
	}
	unlink(path);
	free(path);
}

static void test_open_empty_file(void **state)
{
	quire_options o;
	quire *db = NULL;
	quire_stat st;
	char *path = strdup(tu_path("empty"));
	assert_non_null(path);
	write_file(path, "", 0);

	quire_options_init(&o);
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ENOTDB);
	o.flags = QUIRE_RDONLY;
	assert_int_equal(quire_open(path, &o, &db), QUIRE_ENOTDB);
	assert_null(db);
	assert_int_equal(size_of(path), 0);

	/* QUIRE_CREATE initialises it in place */
	db = open_db(path, QUIRE_CREATE, 0);
	assert_true(size_of(path) > 0);
	quire_txn *r = begin(db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), 0);
	QOK(quire_txn_stat(r, &st));
	assert_int_equal(st.key_count, 0);
	QOK(quire_commit(r));
	commit_kv(db, "k", "v");
	QOK(quire_close(db));

	db = open_db(path, 0, 0);
	r = begin(db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), 1);
	expect(r, STR("k"), STR("v"));
	QOK(quire_commit(r));
	QOK(quire_close(db));
	unlink(path);
	free(path);
}

/* A read-only handle refuses writes and never changes the file. */
static void test_rdonly_handle(void **state)
{
	struct fx *f = *state;
	quire_txn *t = NULL;
	commit_kv(f->db, "k", "v");
	QOK(quire_close(f->db));
	f->db = NULL;
	size_t n0, n1;
	uint8_t *before = slurp(f->path, &n0);

	f->db = open_db(f->path, QUIRE_RDONLY, 0);
	assert_int_equal(quire_begin(f->db, 0, &t), QUIRE_ERDONLY);
	assert_null(t);
	assert_int_equal(quire_sync(f->db), QUIRE_ERDONLY);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("k"), STR("v"));
	assert_int_equal(quire_put(r, STR("k"), STR("w")), QUIRE_EINVAL);
	QOK(quire_commit(r));
	QOK(quire_close(f->db));
	f->db = NULL;

	uint8_t *after = slurp(f->path, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);
}

/* put and del through a read snapshot: EINVAL, and nothing changes. */
static void test_write_through_read_txn(void **state)
{
	struct fx *f = *state;
	commit_kv(f->db, "k", "v");
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_put(r, STR("k"), STR("w")), QUIRE_EINVAL);
	assert_int_equal(quire_put(r, STR("new"), STR("w")), QUIRE_EINVAL);
	assert_int_equal(quire_del(r, STR("k")), QUIRE_EINVAL);
	assert_int_equal(quire_del(r, STR("nothing")), QUIRE_EINVAL);
	expect(r, STR("k"), STR("v"));
	expect_missing(r, STR("new"));
	QOK(quire_commit(r));

	r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), 1);
	expect(r, STR("k"), STR("v"));
	expect_missing(r, STR("new"));
	QOK(quire_commit(r));
}

static void test_key_sizes(void **state)
{
	struct fx *f = *state;
	uint8_t *big = malloc(QUIRE_MAX_KEY_SIZE + 1);
	assert_non_null(big);
	fill(big, QUIRE_MAX_KEY_SIZE + 1, 11);
	quire_cursor *c;
	quire_val v;

	quire_txn *w = begin(f->db, 0);
	put(w, "", 0, STR("empty key"));
	put(w, big, QUIRE_MAX_KEY_SIZE, STR("biggest key"));
	put(w, STR("k"), STR("v"));
	expect(w, NULL, 0, STR("empty key"));
	expect(w, big, QUIRE_MAX_KEY_SIZE, STR("biggest key"));
	/* one byte too long: refused by every call taking a key */
	assert_int_equal(quire_put(w, big, QUIRE_MAX_KEY_SIZE + 1, STR("x")),
			 QUIRE_ETOOBIG);
	assert_int_equal(quire_get(w, big, QUIRE_MAX_KEY_SIZE + 1, &v),
			 QUIRE_ETOOBIG);
	assert_int_equal(quire_del(w, big, QUIRE_MAX_KEY_SIZE + 1),
			 QUIRE_ETOOBIG);
	QOK(quire_cursor_open(w, &c));
	assert_int_equal(quire_cursor_seek(c, big, QUIRE_MAX_KEY_SIZE + 1),
			 QUIRE_ETOOBIG);
	quire_cursor_close(c);
	QOK(quire_commit(w));

	reopen(f, 0);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, "", 0, STR("empty key"));
	expect(r, big, QUIRE_MAX_KEY_SIZE, STR("biggest key"));
	assert_int_equal(quire_get(r, big, QUIRE_MAX_KEY_SIZE + 1, &v),
			 QUIRE_ETOOBIG);
	QOK(quire_cursor_open(r, &c));
	/* the empty key sorts first */
	QOK(quire_cursor_first(c));
	QOK(quire_cursor_key(c, &v));
	assert_int_equal(v.size, 0);
	QOK(quire_cursor_seek(c, big, QUIRE_MAX_KEY_SIZE));
	QOK(quire_cursor_key(c, &v));
	assert_int_equal(v.size, QUIRE_MAX_KEY_SIZE);
	assert_memory_equal(v.data, big, QUIRE_MAX_KEY_SIZE);
	assert_int_equal(quire_cursor_seek(c, big, QUIRE_MAX_KEY_SIZE + 1),
			 QUIRE_ETOOBIG);
	quire_cursor_close(c);
	QOK(quire_commit(r));

	w = begin(f->db, 0);
	QOK(quire_del(w, NULL, 0));
	QOK(quire_del(w, big, QUIRE_MAX_KEY_SIZE));
	QOK(quire_commit(w));
	r = begin(f->db, QUIRE_RDONLY);
	expect_missing(r, "", 0);
	expect_missing(r, big, QUIRE_MAX_KEY_SIZE);
	expect(r, STR("k"), STR("v"));
	QOK(quire_commit(r));
	free(big);
}

static void test_empty_values(void **state)
{
	struct fx *f = *state;
	quire_cursor *c;
	quire_txn *w = begin(f->db, 0);
	put(w, STR("a"), NULL, 0);
	put(w, STR("b"), "ignored", 0);
	expect(w, STR("a"), NULL, 0);
	expect(w, STR("b"), NULL, 0);
	QOK(quire_commit(w));

	reopen(f, 0);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("a"), NULL, 0);
	expect(r, STR("b"), NULL, 0);
	QOK(quire_cursor_open(r, &c));
	at(c, quire_cursor_first(c), "a");
	at_value(c, "");
	at(c, quire_cursor_next(c), "b");
	at_value(c, "");
	assert_int_equal(quire_cursor_next(c), QUIRE_NOTFOUND);
	quire_cursor_close(c);
	QOK(quire_commit(r));
}

/* Values around the inline limit (1024 bytes; longer ones are stored out of
 * line) read back the same from the write transaction, its cursor, a
 * snapshot and after reopen, also when a value changes sides. */
static void test_inline_limit_values(void **state)
{
	struct fx *f = *state;
	static const size_t sizes[] = {1, 1000, 1023, 1024, 1025, 1026, 4096,
				       70000};
	enum { N = sizeof sizes / sizeof *sizes };
	uint8_t *vals[N];
	char keys[N][16];
	quire_cursor *c;
	quire_val v;

	for (size_t i = 0; i < N; i++) {
		vals[i] = malloc(sizes[i]);
		assert_non_null(vals[i]);
		fill(vals[i], sizes[i], 100 + i);
		snprintf(keys[i], sizeof keys[i], "v%05zu", sizes[i]);
	}
	for (int round = 0; round < 2; round++) {
		/* round 1 gives each key the value of its mirror: inline
		 * values go out of line and back */
		quire_txn *w = begin(f->db, 0);
		for (size_t i = 0; i < N; i++) {
			size_t j = round ? N - 1 - i : i;
			put(w, STR(keys[i]), vals[j], sizes[j]);
		}
		for (size_t i = 0; i < N; i++) {
			size_t j = round ? N - 1 - i : i;
			expect(w, STR(keys[i]), vals[j], sizes[j]);
		}
		QOK(quire_cursor_open(w, &c));
		size_t i = 0;
		for (int r = quire_cursor_first(c); r == 0;
		     r = quire_cursor_next(c), i++) {
			size_t j = round ? N - 1 - i : i;
			at(c, 0, keys[i]);
			QOK(quire_cursor_value(c, &v));
			assert_int_equal(v.size, sizes[j]);
			assert_memory_equal(v.data, vals[j], sizes[j]);
		}
		assert_int_equal(i, N);
		quire_cursor_close(c);
		QOK(quire_commit(w));

		for (int reopened = 0; reopened < 2; reopened++) {
			if (reopened)
				reopen(f, 0);
			quire_txn *r = begin(f->db, QUIRE_RDONLY);
			for (i = 0; i < N; i++) {
				size_t j = round ? N - 1 - i : i;
				expect(r, STR(keys[i]), vals[j], sizes[j]);
			}
			QOK(quire_cursor_open(r, &c));
			at(c, quire_cursor_last(c), keys[N - 1]);
			QOK(quire_cursor_value(c, &v));
			assert_int_equal(v.size, sizes[round ? 0 : N - 1]);
			quire_cursor_close(c);
			QOK(quire_commit(r));
		}
	}
	for (size_t i = 0; i < N; i++)
		free(vals[i]);
}

/* The largest value the format promises, QUIRE_MAX_VALUE_SIZE (1 GiB),
 * through a batch, a checkpoint and a reopen. */
static void test_max_value(void **state)
{
	struct fx *f = *state;
	const size_t n = QUIRE_MAX_VALUE_SIZE;
	uint8_t *big = malloc(n);
	quire_val v;
	assert_non_null(big);
	reopen(f, QUIRE_NOSYNC); /* sizes are under test, not the disk */
	memset(big, 0x5a, n);
	big[0] = 1;
	big[n - 1] = 2;
	quire_txn *w = begin(f->db, 0);
	put(w, STR("small"), STR("s")); /* not an append: a batch */
	QOK(quire_commit(w));
	w = begin(f->db, 0);
	put(w, STR("max"), big, n);
	QOK(quire_commit(w));
	QOK(quire_checkpoint(f->db));
	reopen(f, 0);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_get(r, STR("max"), &v));
	assert_int_equal(v.size, n);
	assert_true(memcmp(v.data, big, n) == 0);
	QOK(quire_commit(r));
	free(big);
}

static void test_huge_value(void **state)
{
	struct fx *f = *state;
	const size_t n = (size_t)64 << 20;
	uint8_t *big = malloc(n);
	uint64_t problems = 1;
	quire_stat st;
	assert_non_null(big);
	fill(big, n, 64);

	quire_txn *w = begin(f->db, 0);
	put(w, STR("big"), big, n);
	put(w, STR("small"), STR("s"));
	QOK(quire_commit(w));
	assert_true(size_of(f->path) > n);

	reopen(f, 0);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("big"), big, n);
	expect(r, STR("small"), STR("s"));
	QOK(quire_txn_stat(r, &st));
	assert_true(st.live_bytes > n);
	QOK(quire_check(r, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_commit(r));
	free(big);
}

/* The size check comes before the value is read: a small buffer with a
 * huge length is refused without being touched. */
static void test_value_too_big(void **state)
{
	struct fx *f = *state;
	char small[8] = "abcdefg";
	quire_txn *w = begin(f->db, 0);
	assert_int_equal(quire_put(w, STR("k"), small,
				   QUIRE_MAX_VALUE_SIZE + 1),
			 QUIRE_ETOOBIG);
	assert_int_equal(quire_put(w, STR("k"), small, SIZE_MAX),
			 QUIRE_ETOOBIG);
	expect_missing(w, STR("k"));
	/* the transaction goes on */
	put(w, STR("j"), small, 7);
	QOK(quire_commit(w));
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect_missing(r, STR("k"));
	expect(r, STR("j"), small, 7);
	QOK(quire_commit(r));
}

/* Deleting a missing key changes nothing, so its commit commits nothing. */
static void test_del_missing(void **state)
{
	struct fx *f = *state;
	commit_kv(f->db, "a", "1");
	uint64_t size = size_of(f->path);

	quire_txn *w = begin(f->db, 0);
	assert_int_equal(quire_txn_id(w), 2);
	assert_int_equal(quire_del(w, STR("b")), QUIRE_NOTFOUND);
	assert_int_equal(quire_del(w, "", 0), QUIRE_NOTFOUND);
	expect(w, STR("a"), STR("1"));
	QOK(quire_commit(w));
	assert_int_equal(latest_id(f->db), 1);
	assert_int_equal(size_of(f->path), size);

	/* a key put and deleted in the same transaction is gone for good */
	w = begin(f->db, 0);
	assert_int_equal(quire_txn_id(w), 2);
	put(w, STR("b"), STR("2"));
	QOK(quire_del(w, STR("b")));
	assert_int_equal(quire_del(w, STR("b")), QUIRE_NOTFOUND);
	QOK(quire_del(w, STR("a")));
	assert_int_equal(quire_del(w, STR("a")), QUIRE_NOTFOUND);
	QOK(quire_commit(w));
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), 2);
	expect_missing(r, STR("a"));
	expect_missing(r, STR("b"));
	QOK(quire_commit(r));
}

static void test_empty_commit(void **state)
{
	struct fx *f = *state;
	quire_stat a, b;
	uint64_t size = size_of(f->path);
	quire_txn *w = begin(f->db, 0);
	assert_int_equal(quire_txn_id(w), 1);
	QOK(quire_commit(w));
	assert_int_equal(latest_id(f->db), 0);
	assert_int_equal(size_of(f->path), size);

	commit_kv(f->db, "k", "v");
	size = size_of(f->path);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &a));
	QOK(quire_commit(r));
	w = begin(f->db, 0);
	QOK(quire_commit(w));
	r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &b));
	QOK(quire_commit(r));
	assert_int_equal(b.txn_id, 1);
	a.pinned_age_ns = b.pinned_age_ns = 0; /* the clock moved on */
	assert_memory_equal(&a, &b, sizeof a);
	assert_int_equal(size_of(f->path), size);

	/* an aborted transaction leaves no trace either */
	w = begin(f->db, 0);
	put(w, STR("k"), STR("changed"));
	put(w, STR("k2"), STR("new"));
	quire_abort(w);
	r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), 1);
	expect(r, STR("k"), STR("v"));
	expect_missing(r, STR("k2"));
	QOK(quire_commit(r));
	assert_int_equal(size_of(f->path), size);
}

static void test_txn_ids(void **state)
{
	struct fx *f = *state;
	quire_stat st;
	assert_int_equal(latest_id(f->db), 0);
	for (uint64_t i = 1; i <= 5; i++) {
		quire_txn *w = begin(f->db, 0);
		assert_int_equal(quire_txn_id(w), i);
		/* a write transaction's stat describes the commit it reads */
		QOK(quire_txn_stat(w, &st));
		assert_int_equal(st.txn_id, i - 1);
		put(w, STR("k"), STR("v"));
		QOK(quire_commit(w));
		quire_txn *r = begin(f->db, QUIRE_RDONLY);
		assert_int_equal(quire_txn_id(r), i);
		QOK(quire_txn_stat(r, &st));
		assert_int_equal(st.txn_id, i);
		QOK(quire_commit(r));
	}
	reopen(f, 0);
	assert_int_equal(latest_id(f->db), 5);
	quire_txn *w = begin(f->db, 0);
	assert_int_equal(quire_txn_id(w), 6);
	quire_abort(w);
	/* an abort does not use up an id */
	w = begin(f->db, 0);
	assert_int_equal(quire_txn_id(w), 6);
	quire_abort(w);
	reopen(f, QUIRE_RDONLY);
	assert_int_equal(latest_id(f->db), 5);
}

/* quire_get in a write transaction sees the transaction's own changes. */
static void test_own_writes_get(void **state)
{
	struct fx *f = *state;
	commit_kv(f->db, "old", "1");
	quire_txn *w = begin(f->db, 0);
	expect(w, STR("old"), STR("1"));
	put(w, STR("new"), STR("2"));
	expect(w, STR("new"), STR("2"));
	put(w, STR("new"), STR("22"));
	expect(w, STR("new"), STR("22"));
	put(w, STR("old"), STR("11"));
	expect(w, STR("old"), STR("11"));
	QOK(quire_del(w, STR("old")));
	expect_missing(w, STR("old"));
	put(w, STR("old"), STR("111"));
	expect(w, STR("old"), STR("111"));
	QOK(quire_del(w, STR("new")));
	expect_missing(w, STR("new"));

	/* nobody else sees them before the commit */
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("old"), STR("1"));
	expect_missing(r, STR("new"));
	QOK(quire_commit(r));
	QOK(quire_commit(w));
	r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("old"), STR("111"));
	expect_missing(r, STR("new"));
	QOK(quire_commit(r));
}

static void mput(struct model *m, quire_txn *w, const char *k, const char *v)
{
	put(w, STR(k), STR(v));
	model_put(m, STR(k), STR(v));
}

static void mdel(struct model *m, quire_txn *w, const char *k)
{
	QOK(quire_del(w, STR(k)));
	assert_true(model_del(m, STR(k)));
}

/* A cursor on a write transaction follows puts and deletes made while it
 * is open, before, after and at its position. */
static void test_own_writes_cursor(void **state)
{
	struct fx *f = *state;
	struct model m = {0};
	quire_cursor *c;
	quire_txn *w = begin(f->db, 0);
	mput(&m, w, "b", "B");
	mput(&m, w, "d", "D");
	mput(&m, w, "f", "F");
	mput(&m, w, "h", "H");
	QOK(quire_commit(w));

	w = begin(f->db, 0);
	QOK(quire_cursor_open(w, &c));
	at(c, quire_cursor_first(c), "b");
	mput(&m, w, "a", "A"); /* before the cursor */
	at(c, quire_cursor_next(c), "d");
	at(c, quire_cursor_prev(c), "b");
	at(c, quire_cursor_prev(c), "a");
	at_value(c, "A");
	assert_int_equal(quire_cursor_prev(c), QUIRE_NOTFOUND);
	at(c, quire_cursor_next(c), "a"); /* unpositioned: next is first */

	at(c, quire_cursor_seek(c, STR("d")), "d");
	mdel(&m, w, "d"); /* the key under the cursor */
	at(c, quire_cursor_next(c), "f");
	at(c, quire_cursor_prev(c), "b");
	at(c, quire_cursor_seek(c, STR("c")), "f");
	at(c, quire_cursor_seek(c, STR("d")), "f");

	at(c, quire_cursor_seek(c, STR("b")), "b");
	mput(&m, w, "c", "C"); /* right after the cursor */
	at(c, quire_cursor_next(c), "c");
	at_value(c, "C");
	mdel(&m, w, "c");
	mput(&m, w, "cc", "CC");
	mput(&m, w, "bb", "BB");
	at(c, quire_cursor_next(c), "cc");
	at(c, quire_cursor_prev(c), "bb");
	at(c, quire_cursor_prev(c), "b");
	at(c, quire_cursor_next(c), "bb");

	/* a new value for the key under the cursor */
	at(c, quire_cursor_seek(c, STR("f")), "f");
	mput(&m, w, "f", "F2");
	at(c, quire_cursor_next(c), "h");
	at(c, quire_cursor_prev(c), "f");
	at_value(c, "F2");

	at(c, quire_cursor_last(c), "h");
	mput(&m, w, "z", "Z");
	at(c, quire_cursor_next(c), "z");
	assert_int_equal(quire_cursor_next(c), QUIRE_NOTFOUND);
	at(c, quire_cursor_prev(c), "z"); /* unpositioned: prev is last */
	mdel(&m, w, "z");
	at(c, quire_cursor_prev(c), "h");
	at(c, quire_cursor_last(c), "h");
	model_check_txn(&m, w);

	/* delete everything while walking */
	int r = quire_cursor_first(c), n = 0;
	while (r == 0) {
		quire_val k;
		QOK(quire_cursor_key(c, &k));
		char key[8];
		assert_true(k.size < sizeof key);
		memcpy(key, k.data, k.size);
		key[k.size] = 0;
		mdel(&m, w, key);
		r = quire_cursor_next(c);
		n++;
	}
	assert_int_equal(r, QUIRE_NOTFOUND);
	assert_int_equal(n, 6);
	assert_int_equal(quire_cursor_first(c), QUIRE_NOTFOUND);
	assert_int_equal(quire_cursor_last(c), QUIRE_NOTFOUND);
	assert_int_equal(quire_cursor_seek(c, NULL, 0), QUIRE_NOTFOUND);
	mput(&m, w, "m", "M");
	at(c, quire_cursor_next(c), "m");
	at(c, quire_cursor_last(c), "m");
	quire_cursor_close(c);
	model_check_txn(&m, w);
	QOK(quire_commit(w));

	quire_txn *rt = begin(f->db, QUIRE_RDONLY);
	model_check_txn(&m, rt);
	QOK(quire_commit(rt));
	model_clear(&m);
}

/* Reading the value under a cursor after a put of that very key gives the
 * new value, whether the key was committed or pending. */
static void test_cursor_value_after_put(void **state)
{
	static const char *const what[] = {
		"a committed key",
		"a pending key",
		"a pending key, now out of line",
		"a committed key, now out of line",
	};
	struct fx *f = *state;
	uint8_t big[3000];
	quire_cursor *c;
	int ok[4];
	fill(big, sizeof big, 3);
	commit_kv(f->db, "committed", "old");
	quire_txn *w = begin(f->db, 0);
	put(w, STR("pending"), STR("old"));
	QOK(quire_cursor_open(w, &c));
	at(c, quire_cursor_seek(c, STR("committed")), "committed");
	put(w, STR("committed"), STR("new"));
	ok[0] = value_is(c, STR("new"));
	at(c, quire_cursor_seek(c, STR("pending")), "pending");
	put(w, STR("pending"), STR("new"));
	ok[1] = value_is(c, STR("new"));
	put(w, STR("pending"), big, sizeof big);
	ok[2] = value_is(c, big, sizeof big);
	at(c, quire_cursor_first(c), "committed");
	put(w, STR("committed"), big, sizeof big);
	ok[3] = value_is(c, big, sizeof big);
	quire_cursor_close(c);
	quire_abort(w);
	/* (checked once the transaction is gone, so a failure leaks nothing) */
	for (int i = 0; i < 4; i++)
		if (!ok[i])
			fail_msg("the cursor shows the old value of %s after "
				 "a put of it",
				 what[i]);
}

/* Keys sort bytewise as unsigned bytes, a prefix before its extensions. */
static void test_key_order(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *k;
		size_t n;
	} keys[] = {
		{"", 0},        {"\0", 1},     {"\0\0", 2},    {"\1", 1},
		{"a", 1},       {"a\0", 2},    {"ab", 2},       {"b", 1},
		{"\x7f", 1},    {"\x80", 1},    {"\xff", 1},     {"\xff\0", 2},
		{"\xff\xff", 2},
	};
	enum { N = sizeof keys / sizeof *keys };
	quire_cursor *c;
	quire_val k;
	for (int stage = 0; stage < 3; stage++) {
		/* pending in a write transaction, committed, reopened */
		quire_txn *t = begin(f->db, stage ? QUIRE_RDONLY : 0);
		if (stage == 0)
			for (size_t i = 0; i < N; i++) {
				size_t j = i * 5 % N; /* not in order */
				put(t, keys[j].k, keys[j].n, &j, sizeof j);
			}
		QOK(quire_cursor_open(t, &c));
		size_t i = 0;
		for (int r = quire_cursor_first(c); r == 0;
		     r = quire_cursor_next(c), i++) {
			assert_true(i < N);
			QOK(quire_cursor_key(c, &k));
			assert_int_equal(k.size, keys[i].n);
			assert_memory_equal(k.data, keys[i].k, keys[i].n);
		}
		assert_int_equal(i, N);
		QOK(quire_cursor_seek(c, "a\0\0", 3));
		QOK(quire_cursor_key(c, &k));
		assert_int_equal(k.size, 2);
		assert_memory_equal(k.data, "ab", 2);
		QOK(quire_cursor_seek(c, "\xff\0\0", 3));
		QOK(quire_cursor_key(c, &k));
		assert_memory_equal(k.data, "\xff\xff", 2);
		assert_int_equal(quire_cursor_seek(c, "\xff\xff\0", 3),
				 QUIRE_NOTFOUND);
		quire_cursor_close(c);
		QOK(quire_commit(t));
		if (stage == 1)
			reopen(f, 0);
	}
}

static void check_bytes(quire_val v, const void *p, size_t n)
{
	assert_int_equal(v.size, n);
	assert_memory_equal(v.data, p, n);
}

/* Values returned by quire_get stay valid until the transaction ends (in a
 * write transaction: until that key is written again), however much else
 * is read or written meanwhile. */
static void test_value_lifetime(void **state)
{
	struct fx *f = *state;
	quire_options o;
	uint8_t val[1000], big[5000];
	char key[16];
	quire_val a, b, c, v;
	QOK(quire_close(f->db));
	f->db = NULL;
	assert_int_equal(unlink(f->path), 0);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.node_size = 512;
	o.cache_size = 0; /* the minimum, 1 MiB: reads below evict */
	QOK(quire_open(f->path, &o, &f->db));

	quire_txn *w = begin(f->db, 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "key%05d", i);
		fill(val, sizeof val, (uint64_t)i);
		put(w, STR(key), val, sizeof val);
	}
	fill(big, sizeof big, 99);
	put(w, STR("big"), big, sizeof big);
	QOK(quire_commit(w));

	/* a snapshot: nodes and value blocks stay put under it */
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_get(r, STR("key00010"), &a));
	QOK(quire_get(r, STR("big"), &b));
	w = begin(f->db, 0);
	put(w, STR("key00010"), STR("changed"));
	QOK(quire_del(w, STR("big")));
	QOK(quire_commit(w));
	quire_cursor *cur;
	QOK(quire_cursor_open(r, &cur));
	for (int e = quire_cursor_first(cur); e == 0;
	     e = quire_cursor_next(cur))
		QOK(quire_cursor_value(cur, &v));
	quire_cursor_close(cur);
	fill(val, sizeof val, 10);
	check_bytes(a, val, sizeof val);
	check_bytes(b, big, sizeof big);
	QOK(quire_commit(r));

	/* a write transaction: committed, pending and out-of-line values */
	w = begin(f->db, 0);
	put(w, STR("pending"), STR("mine"));
	QOK(quire_get(w, STR("key00020"), &a));
	QOK(quire_get(w, STR("pending"), &b));
	put(w, STR("big"), big, sizeof big);
	QOK(quire_get(w, STR("big"), &c));
	for (int i = 0; i < 3000; i += 2) {
		snprintf(key, sizeof key, "key%05d", i + 1);
		put(w, STR(key), STR("overwritten"));
		QOK(quire_get(w, STR(key), &v));
	}
	fill(val, sizeof val, 20);
	check_bytes(a, val, sizeof val);
	check_bytes(b, "mine", 4);
	check_bytes(c, big, sizeof big);
	QOK(quire_commit(w));
}

static void test_snapshot_isolation(void **state)
{
	struct fx *f = *state;
	commit_kv(f->db, "a", "1");
	commit_kv(f->db, "b", "1");
	quire_txn *old = begin(f->db, QUIRE_RDONLY);

	quire_txn *w = begin(f->db, 0);
	put(w, STR("a"), STR("2"));
	QOK(quire_del(w, STR("b")));
	put(w, STR("c"), STR("2"));
	/* a snapshot begun during the write does not see it either */
	quire_txn *during = begin(f->db, QUIRE_RDONLY);
	QOK(quire_commit(w));
	quire_txn *after = begin(f->db, QUIRE_RDONLY);

	for (int i = 0; i < 2; i++) {
		quire_txn *r = i ? during : old;
		assert_int_equal(quire_txn_id(r), 2);
		expect(r, STR("a"), STR("1"));
		expect(r, STR("b"), STR("1"));
		expect_missing(r, STR("c"));
	}
	assert_int_equal(quire_txn_id(after), 3);
	expect(after, STR("a"), STR("2"));
	expect_missing(after, STR("b"));
	expect(after, STR("c"), STR("2"));

	/* later commits do not reach the old snapshot */
	commit_kv(f->db, "a", "3");
	expect(old, STR("a"), STR("1"));
	expect(after, STR("a"), STR("2"));
	QOK(quire_commit(old));
	QOK(quire_commit(during));
	QOK(quire_commit(after));
}

static void test_close_busy(void **state)
{
	struct fx *f = *state;
	for (int write = 0; write < 2; write++) {
		quire_txn *t = begin(f->db, write ? 0 : QUIRE_RDONLY);
		assert_int_equal(quire_close(f->db), QUIRE_EBUSY);
		/* the handle still works */
		if (write)
			put(t, STR("k"), STR("v"));
		else
			expect_missing(t, STR("k"));
		QOK(quire_commit(t));
		reopen(f, 0);
	}
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("k"), STR("v"));
	quire_abort(r);
	QOK(quire_close(f->db));
	f->db = NULL;
}

/* A cursor outlives its transaction only to be closed. */
static void test_cursor_after_txn_end(void **state)
{
	struct fx *f = *state;
	quire_val v = {"x", 1};
	commit_kv(f->db, "k", "v");
	for (int write = 0; write < 2; write++) {
		quire_cursor *c;
		quire_txn *t = begin(f->db, write ? 0 : QUIRE_RDONLY);
		QOK(quire_cursor_open(t, &c));
		at(c, quire_cursor_first(c), "k");
		if (write)
			quire_abort(t);
		else
			QOK(quire_commit(t));
		assert_int_equal(quire_cursor_next(c), QUIRE_EINVAL);
		assert_int_equal(quire_cursor_prev(c), QUIRE_EINVAL);
		assert_int_equal(quire_cursor_first(c), QUIRE_EINVAL);
		assert_int_equal(quire_cursor_last(c), QUIRE_EINVAL);
		assert_int_equal(quire_cursor_seek(c, STR("k")), QUIRE_EINVAL);
		assert_int_equal(quire_cursor_key(c, &v), QUIRE_EINVAL);
		assert_int_equal(quire_cursor_value(c, &v), QUIRE_EINVAL);
		assert_string_equal(v.data, "x");
		quire_cursor_close(c);
		/* the transaction is really over */
		reopen(f, 0);
	}
}

/* Every call on a transaction that ended fails with QUIRE_EINVAL (what t
 * last read was key "k"); quire_abort does nothing, quire_txn_id is 0. */
static void expect_ended(quire_txn *t, quire_txn *live)
{
	quire_val v = {"x", 1};
	quire_stat st = {.txn_id = 99};
	quire_cursor *c = NULL;
	quire_changes *ch = NULL;
	quire_history *h = NULL;
	quire_diff *d = NULL;
	quire_log_entry le = {.txn_id = 99};
	uint64_t seq = 99;

	assert_int_equal(quire_get(t, STR("k"), &v), QUIRE_EINVAL);
	assert_int_equal(quire_get_seq(t, STR("k"), &v, &seq), QUIRE_EINVAL);
	assert_string_equal(v.data, "x");
	assert_int_equal(seq, 99);
	assert_int_equal(quire_put(t, STR("k"), STR("v")), QUIRE_EINVAL);
	assert_int_equal(quire_del(t, STR("k")), QUIRE_EINVAL);
	assert_int_equal(quire_put_if(t, STR("k"), STR("v"), 1), QUIRE_EINVAL);
	assert_int_equal(quire_del_if(t, STR("k"), 1), QUIRE_EINVAL);
	assert_int_equal(quire_del_range(t, STR("a"), STR("z"), &seq),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_range(t, NULL, 0, NULL, 0, NULL),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(t, STR("k"), &seq), QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(t, NULL, 0, NULL), QUIRE_EINVAL);
	assert_int_equal(quire_txn_stat(t, &st), QUIRE_EINVAL);
	assert_int_equal(st.txn_id, 99);
	assert_int_equal(quire_txn_id(t), 0);
	assert_int_equal(quire_cursor_open(t, &c), QUIRE_EINVAL);
	assert_int_equal(quire_changes_open(t, 0, &ch), QUIRE_EINVAL);
	assert_int_equal(quire_history_open(t, STR("k"), &h), QUIRE_EINVAL);
	assert_int_equal(quire_diff_open(t, live, &d), QUIRE_EINVAL);
	assert_int_equal(quire_diff_open(live, t, &d), QUIRE_EINVAL);
	assert_int_equal(quire_diff_open(t, t, &d), QUIRE_EINVAL);
	assert_int_equal(quire_log_get(t, 0, &le), QUIRE_EINVAL);
	assert_int_equal(le.txn_id, 99);
	assert_null(c);
	assert_null(ch);
	assert_null(h);
	assert_null(d);
	assert_int_equal(quire_commit(t), QUIRE_EINVAL);
	assert_int_equal(quire_commit_with(t, STR("meta")), QUIRE_EINVAL);
	assert_int_equal(quire_commit_with(t, NULL, 0), QUIRE_EINVAL);
	quire_abort(t);
	quire_abort(t);
}

/* A transaction handle used after quire_commit or quire_abort (read or
 * write) gets QUIRE_EINVAL from every call, and stays so while fewer than
 * 64 later transactions of the handle have begun (quire.h); the calls
 * change nothing: the write lock is free, the open count right. */
static void test_txn_after_end(void **state)
{
	struct fx *f = *state;
	commit_kv(f->db, "k", "v1");
	for (int write = 0; write < 2; write++) {
		for (int how = 0; how < 2; how++) {
			quire_txn *live = begin(f->db, QUIRE_RDONLY);
			quire_txn *t = begin(f->db, write ? 0 : QUIRE_RDONLY);
			expect(t, STR("k"), STR("v1"));
			if (write)
				put(t, STR("k"), STR("v2"));
			if (how)
				quire_abort(t);
			else
				QOK(quire_commit(t));
			expect_ended(t, live);
			expect(live, STR("k"), STR("v1"));
			QOK(quire_commit(live));
			/* 64 more transactions; t stays ended throughout */
			for (int i = 0; i < 64; i++) {
				quire_txn *n = begin(f->db, i % 2 ? 0 : QUIRE_RDONLY);
				assert_ptr_not_equal(n, t);
				quire_abort(n);
				assert_int_equal(quire_txn_id(t), 0);
				assert_int_equal(quire_get(t, STR("k"), &(quire_val){0}),
						 QUIRE_EINVAL);
			}
			/* the stale aborts did not count as transactions
			 * ending: one open still keeps the handle open */
			live = begin(f->db, QUIRE_RDONLY);
			assert_int_equal(quire_close(f->db), QUIRE_EBUSY);
			QOK(quire_commit(live));
			commit_kv(f->db, "k", "v1"); /* the writer is free */
			reopen(f, 0);
		}
	}
}

/* Feeds, key histories, diffs and cursors outlive their transaction only
 * to be closed: their calls fail with QUIRE_EINVAL, of a diff when either
 * of its transactions ended. Read and write transactions, committed and
 * aborted. */
static void test_handles_after_txn_end(void **state)
{
	struct fx *f = *state;
	quire_val v;
	commit_kv(f->db, "k", "v1");
	commit_kv(f->db, "j", "w1");
	for (int write = 0; write < 2; write++) {
		for (int how = 0; how < 3; how++) {
			quire_change chg = {.seq = 99};
			quire_key_version kv = {.seq = 99};
			quire_delta dl = {.in_a = 99};
			quire_txn *o = begin(f->db, QUIRE_RDONLY);
			quire_txn *t = begin(f->db, write ? 0 : QUIRE_RDONLY);
			quire_changes *ch;
			quire_history *h;
			quire_diff *d1, *d2, *d3, *kept;
			quire_cursor *c;
			QOK(quire_changes_open(t, 0, &ch));
			QOK(quire_changes_next(ch, &chg));
			assert_int_equal(chg.seq, 1);
			QOK(quire_history_open(t, STR("k"), &h));
			QOK(quire_diff_open(t, o, &d1));
			QOK(quire_diff_open(o, t, &d2));
			QOK(quire_diff_open(t, t, &d3));
			QOK(quire_diff_open(o, o, &kept));
			QOK(quire_cursor_open(t, &c));
			QOK(quire_cursor_first(c));
			if (write)
				put(t, STR("n"), STR("x"));
			/* one closed before its transaction ends */
			quire_diff *early;
			QOK(quire_diff_open(o, t, &early));
			quire_diff_close(early);
			if (how == 0)
				QOK(quire_commit(t));
			else if (how == 1)
				quire_abort(t);
			else /* the other transaction ends first */
				QOK(quire_commit(o));
			if (how < 2) {
				assert_int_equal(quire_changes_next(ch, &chg),
						 QUIRE_EINVAL);
				assert_int_equal(chg.seq, 1);
				assert_int_equal(quire_history_next(h, &kv),
						 QUIRE_EINVAL);
				assert_int_equal(kv.seq, 99);
				assert_int_equal(quire_cursor_next(c),
						 QUIRE_EINVAL);
				assert_int_equal(quire_cursor_value(c, &v),
						 QUIRE_EINVAL);
				assert_int_equal(quire_diff_next(d3, &dl),
						 QUIRE_EINVAL);
				/* o still works, and so does a diff of o alone */
				expect(o, STR("k"), STR("v1"));
				assert_int_equal(quire_diff_next(kept, &dl),
						 QUIRE_NOTFOUND);
			} else {
				/* t still works, and so do its feed, history,
				 * cursor and its diff with itself */
				QOK(quire_changes_next(ch, &chg));
				assert_int_equal(chg.seq, 2);
				QOK(quire_history_next(h, &kv));
				assert_int_equal(kv.seq, 1);
				QOK(quire_cursor_next(c));
				assert_int_equal(quire_diff_next(d3, &dl),
						 QUIRE_NOTFOUND);
				assert_int_equal(quire_diff_next(kept, &dl),
						 QUIRE_EINVAL);
			}
			assert_int_equal(quire_diff_next(d1, &dl), QUIRE_EINVAL);
			assert_int_equal(quire_diff_next(d2, &dl), QUIRE_EINVAL);
			assert_int_equal(dl.in_a, 99);
			/* closing a diff whose other transaction still runs
			 * takes it off that one; ending it later is safe */
			quire_diff_close(d1);
			quire_diff_close(d2);
			if (how < 2) {
				quire_diff_close(kept);
				QOK(quire_commit(o));
			} else {
				quire_abort(t);
				assert_int_equal(quire_changes_next(ch, &chg),
						 QUIRE_EINVAL);
				assert_int_equal(quire_diff_next(d3, &dl),
						 QUIRE_EINVAL);
				quire_diff_close(kept);
			}
			quire_diff_close(d3);
			quire_changes_close(ch);
			quire_history_close(h);
			quire_cursor_close(c);
			reopen(f, 0); /* nothing left open */
		}
	}
}

/* quire_check on a transaction that ended. The snapshot it read is still
 * held by another transaction, so that without the check the call reads
 * live memory and the assertion (not ASan) reports it. */
static void test_check_after_end(void **state)
{
	struct fx *f = *state;
	uint64_t problems = 99;
	commit_kv(f->db, "k", "v");
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	quire_txn *t = begin(f->db, QUIRE_RDONLY);
	QOK(quire_commit(t));
	assert_int_equal(quire_check(t, NULL, NULL, &problems), QUIRE_EINVAL);
	assert_int_equal(problems, 99);
	QOK(quire_commit(r));
}

static void test_strerror(void **state)
{
	static const int codes[] = {
		QUIRE_OK,       QUIRE_NOTFOUND, QUIRE_EINVAL,  QUIRE_ENOMEM,
		QUIRE_EIO,      QUIRE_ENOSPC,   QUIRE_ECORRUPT, QUIRE_EBUSY,
		QUIRE_ERDONLY,  QUIRE_ETOOBIG,  QUIRE_EFATAL,  QUIRE_ENOTDB,
		QUIRE_EVERSION, QUIRE_ENOENT,   QUIRE_EACCES,  QUIRE_EHISTORY,
		QUIRE_ECONFLICT, QUIRE_ETIMEDOUT, QUIRE_ECANCELED, QUIRE_EEXIST};
	static const int unknown[] = {1, -20, -100, 1000, INT_MIN, INT_MAX};
	enum { N = sizeof codes / sizeof *codes };
	for (size_t i = 0; i < N; i++) {
		const char *s = quire_strerror(codes[i]);
		assert_non_null(s);
		assert_true(*s);
		assert_string_not_equal(s, "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, quire_strerror(codes[j]));
	}
	for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
		assert_string_equal(quire_strerror(unknown[i]),
				    "unknown error");
}

/* The message of an open failure names the file. */
static void test_errmsg(void **state)
{
	struct fx *f = *state;
	quire *db = NULL;
	char *path = strdup(tu_path("errmsg"));
	assert_non_null(path);
	assert_int_equal(quire_open(path, NULL, &db), QUIRE_ENOENT);
	assert_non_null(strstr(quire_errmsg(), path));

	write_file(path, "not a database", 14);
	assert_int_equal(quire_open(path, NULL, &db), QUIRE_ENOTDB);
	assert_non_null(strstr(quire_errmsg(), path));
	unlink(path);

	/* other failures explain themselves too */
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_close(f->db), QUIRE_EBUSY);
	assert_true(*quire_errmsg());
	QOK(quire_commit(r));
	free(path);
}

/* Every commit folded into the tree at once (checkpoint_ops 1): the tree
 * figures move with each commit. */
static void test_txn_stat(void **state)
{
	struct fx *f = *state;
	quire_stat st, prev;
	char key[32], val[32];
	fresh_ckpt(f, 512, 1);

	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &prev));
	QOK(quire_commit(r));
	assert_int_equal(prev.txn_id, 0);
	assert_int_equal(prev.key_count, 0);
	assert_int_equal(prev.depth, 0);
	assert_int_equal(prev.live_bytes, 0);
	assert_int_equal(prev.file_bytes, size_of(f->path));

	unsigned keys = 0, max_depth = 0;
	for (int c = 1; c <= 30; c++) {
		quire_txn *w = begin(f->db, 0);
		int n = c == 1 ? 1 : 100;
		for (int i = 0; i < n; i++, keys++) {
			/* distinct keys, not in order */
			snprintf(key, sizeof key, "key%06u",
				 keys * 7919 % 100003);
			snprintf(val, sizeof val, "value %u", keys);
			put(w, STR(key), STR(val));
		}
		QOK(quire_commit(w));
		r = begin(f->db, QUIRE_RDONLY);
		QOK(quire_txn_stat(r, &st));
		QOK(quire_commit(r));
		assert_int_equal(st.txn_id, c);
		assert_int_equal(st.key_count, keys);
		assert_int_equal(st.next_seq, prev.next_seq + (uint64_t)n);
		assert_int_equal(st.node_size, 512);
		assert_true(st.file_bytes > prev.file_bytes);
		assert_int_equal(st.file_bytes, size_of(f->path));
		assert_true(st.live_bytes > prev.live_bytes);
		assert_true(st.live_bytes <= st.file_bytes);
		assert_true(st.oplog_bytes > prev.oplog_bytes);
		assert_true(st.commit_time_ns >= prev.commit_time_ns);
		assert_true(st.depth >= prev.depth);
		if (c == 1)
			assert_int_equal(st.depth, 1);
		max_depth = st.depth;
		prev = st;
	}
	/* 2901 keys do not fit in two levels of 512-byte nodes */
	assert_true(max_depth >= 3);
	assert_true(prev.commit_time_ns > 0);
}

/* Commits that are not folded yet: pending figures, and quire_checkpoint
 * moving them into the tree with the content unchanged. */
static void test_pending_stat(void **state)
{
	struct fx *f = *state;
	quire_stat st;
	char key[32];
	fresh_ckpt(f, 512, 1000000);
	struct model m = {0};
	for (int c = 0; c < 20; c++) {
		quire_txn *w = begin(f->db, 0);
		for (int i = 0; i < 50; i++) {
			snprintf(key, sizeof key, "k%05d", (c * 50 + i) * 37 % 1001);
			mput(&m, w, key, key);
		}
		if (c % 3 == 2) {
			snprintf(key, sizeof key, "k%05d", c * 37 % 1001);
			if (model_get(&m, key, strlen(key)))
				mdel(&m, w, key);
		}
		QOK(quire_commit(w));
	}
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &st));
	assert_int_equal(st.key_count, m.n);
	assert_true(st.pending_ops > 0);
	assert_true(st.pending_bytes > 0);
	/* the first commit, appending to an empty tree, went into the tree */
	assert_true(st.live_bytes > st.pending_bytes);
	assert_true(st.depth >= 1);
	model_check_txn(&m, r);
	/* an old snapshot keeps its view across the checkpoint */
	QOK(quire_checkpoint(f->db));
	model_check_txn(&m, r);
	QOK(quire_commit(r));
	r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &st));
	assert_int_equal(st.pending_ops, 0);
	assert_int_equal(st.pending_bytes, 0);
	assert_int_equal(st.key_count, m.n);
	assert_true(st.depth >= 2);
	assert_true(st.oplog_bytes > 0);
	model_check_txn(&m, r);
	uint64_t problems = 1;
	QOK(quire_check(r, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_commit(r));
	QOK(quire_checkpoint(f->db)); /* nothing pending: no commit */
	r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), st.txn_id);
	QOK(quire_commit(r));
	reopen(f, 0);
	r = begin(f->db, QUIRE_RDONLY);
	model_check_txn(&m, r);
	QOK(quire_commit(r));
	model_clear(&m);
}

static void test_sync(void **state)
{
	struct fx *f = *state;
	QOK(quire_sync(f->db)); /* nothing to do is fine too */
	reopen(f, QUIRE_NOSYNC);
	commit_kv(f->db, "k", "v");
	QOK(quire_sync(f->db));
	commit_kv(f->db, "k", "w");
	QOK(quire_sync(f->db));
	reopen(f, QUIRE_RDONLY);
	assert_int_equal(quire_sync(f->db), QUIRE_ERDONLY);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	expect(r, STR("k"), STR("w"));
	QOK(quire_commit(r));
}

static void count_problem(void *ctx, uint64_t off, const char *what)
{
	(void)off;
	(void)what;
	++*(int *)ctx;
}

static void test_check_healthy(void **state)
{
	struct fx *f = *state;
	uint64_t problems = 99;
	int calls = 0;
	char key[32];
	uint8_t val[3000];

	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_check(r, count_problem, &calls, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_commit(r));

	fresh(f, 512);
	for (int c = 0; c < 10; c++) {
		quire_txn *w = begin(f->db, 0);
		for (int i = 0; i < 300; i++) {
			int k = (c * 300 + i) * 37 % 1500;
			snprintf(key, sizeof key, "k%05d", k);
			if (i % 5 == 4) {
				int e = quire_del(w, STR(key));
				assert_true(e == 0 || e == QUIRE_NOTFOUND);
				continue;
			}
			size_t vl = (size_t)(k * 13 % 3000);
			fill(val, vl, (uint64_t)k);
			put(w, STR(key), val, vl);
		}
		QOK(quire_commit(w));
	}
	r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_check(r, count_problem, &calls, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_check(r, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_commit(r));
	/* a write transaction checks the commit it reads */
	quire_txn *w = begin(f->db, 0);
	put(w, STR("pending"), STR("x"));
	QOK(quire_check(w, count_problem, &calls, &problems));
	assert_int_equal(problems, 0);
	quire_abort(w);
	assert_int_equal(calls, 0);
}

/* NOSYNC commits are complete in the file: closing without quire_sync and
 * opening again (same boot) finds them all. */
static void test_nosync_reopen(void **state)
{
	struct fx *f = *state;
	char key[16];
	reopen(f, QUIRE_NOSYNC);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof key, "k%02d", i);
		commit_kv(f->db, key, key);
	}
	static const unsigned flags[] = {0, QUIRE_RDONLY, QUIRE_NOSYNC};
	for (size_t j = 0; j < sizeof flags / sizeof *flags; j++) {
		reopen(f, flags[j]);
		quire_txn *r = begin(f->db, QUIRE_RDONLY);
		assert_int_equal(quire_txn_id(r), 20);
		for (int i = 0; i < 20; i++) {
			snprintf(key, sizeof key, "k%02d", i);
			expect(r, STR(key), STR(key));
		}
		QOK(quire_commit(r));
	}
}

/* ---- range and prefix deletes (quire_del_range, quire_del_prefix) ---- */

/* The next change of f must be exactly this (val NULL: a range to the
 * last key, or a delete); count 0 for anything but a range. */
static void expect_change(quire_changes *f, uint64_t seq, int op,
			  const void *k, size_t kl, const void *v, size_t vl,
			  int to_last, uint64_t count)
{
	quire_change c;
	QOK(quire_changes_next(f, &c));
	if (c.seq != seq || c.op != op || c.to_last != to_last ||
	    c.count != count)
		fail_msg("change seq %llu op %d to_last %d count %llu, "
			 "expected seq %llu op %d to_last %d count %llu",
			 (unsigned long long)c.seq, c.op, c.to_last,
			 (unsigned long long)c.count, (unsigned long long)seq,
			 op, to_last, (unsigned long long)count);
	if (!tu_same(c.key.data, c.key.size, k, kl))
		fail_msg("change %llu: key of %zu bytes, expected %zu",
			 (unsigned long long)seq, c.key.size, kl);
	if (!tu_same(c.value.data, c.value.size, v, vl))
		fail_msg("change %llu: value of %zu bytes, expected %zu",
			 (unsigned long long)seq, c.value.size, vl);
}

/* The newest commit's log entry and a feed of its operations (close the
 * feed, then end *r). */
static quire_changes *last_commit(quire *db, quire_txn **r,
				  quire_log_entry *le)
{
	quire_changes *f;
	*r = begin(db, QUIRE_RDONLY);
	QOK(quire_log_get(*r, quire_txn_id(*r), le));
	QOK(quire_changes_open(*r, le->first_seq - 1, &f));
	return f;
}

static void expect_feed_end(quire_changes *f)
{
	quire_change c;
	assert_int_equal(quire_changes_next(f, &c), QUIRE_NOTFOUND);
}

/* Bad input: to before from (QUIRE_EINVAL), a bound over the key limit
 * (QUIRE_ETOOBIG; the limit itself is fine), NULL with a length, NULL or
 * read-only transactions (QUIRE_EINVAL); none of it changes anything, and
 * the transaction goes on. removed may be NULL. */
static void test_range_bad_args(void **state)
{
	struct fx *f = *state;
	static uint8_t big[QUIRE_MAX_KEY_SIZE + 1];
	uint64_t n = 77;
	quire_txn *w = begin(f->db, 0);
	put(w, STR("a"), STR("1"));
	put(w, STR("b"), STR("2"));
	put(w, STR("c"), STR("3"));
	QOK(quire_commit(w));

	w = begin(f->db, 0);
	put(w, STR("bb"), STR("4"));
	/* to before from */
	assert_int_equal(quire_del_range(w, STR("b"), STR("a"), &n),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_range(w, STR("ba"), STR("b"), &n),
			 QUIRE_EINVAL); /* a proper prefix sorts first */
	assert_int_equal(quire_del_range(w, STR("c"), STR("bb"), &n),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_range(w, STR("a"), "", 0, &n),
			 QUIRE_EINVAL); /* "" is below every other key */
	assert_int_equal(quire_del_range(w, "\x00", 1, "", 0, &n),
			 QUIRE_EINVAL);
	/* too long */
	memset(big, 'z', sizeof big);
	assert_int_equal(quire_del_range(w, big, sizeof big, NULL, 0, &n),
			 QUIRE_ETOOBIG);
	assert_int_equal(quire_del_range(w, STR("a"), big, sizeof big, &n),
			 QUIRE_ETOOBIG);
	assert_int_equal(quire_del_range(w, NULL, 0, big, sizeof big, &n),
			 QUIRE_ETOOBIG);
	assert_int_equal(quire_del_prefix(w, big, sizeof big, &n),
			 QUIRE_ETOOBIG);
	/* NULL bounds with a length */
	assert_int_equal(quire_del_range(w, NULL, 1, STR("b"), &n),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(w, NULL, 1, &n), QUIRE_EINVAL);
	/* no transaction */
	assert_int_equal(quire_del_range(NULL, STR("a"), STR("b"), &n),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_range(NULL, NULL, 0, NULL, 0, NULL),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(NULL, STR("a"), &n), QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(NULL, NULL, 0, NULL), QUIRE_EINVAL);

	/* the failures changed nothing and left the transaction usable */
	expect(w, STR("a"), STR("1"));
	expect(w, STR("b"), STR("2"));
	expect(w, STR("bb"), STR("4"));
	expect(w, STR("c"), STR("3"));
	/* bounds of exactly the limit */
	memset(big, 'z', QUIRE_MAX_KEY_SIZE);
	QOK(quire_del_range(w, big, QUIRE_MAX_KEY_SIZE, NULL, 0, &n));
	assert_int_equal(n, 0);
	QOK(quire_del_prefix(w, big, QUIRE_MAX_KEY_SIZE, &n));
	assert_int_equal(n, 0);
	n = 77;
	QOK(quire_del_range(w, STR("c"), big, QUIRE_MAX_KEY_SIZE, &n));
	assert_int_equal(n, 1);
	expect_missing(w, STR("c"));
	/* removed may be NULL */
	QOK(quire_del_range(w, STR("a"), STR("b"), NULL));
	expect_missing(w, STR("a"));
	expect(w, STR("b"), STR("2"));
	QOK(quire_del_prefix(w, STR("b"), NULL));
	expect_missing(w, STR("b"));
	expect_missing(w, STR("bb"));
	put(w, STR("d"), STR("5"));
	QOK(quire_commit(w));
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_txn_id(r), 2);
	struct model m = {0};
	model_put(&m, STR("d"), STR("5"));
	model_check_txn(&m, r);

	/* read-only transactions */
	n = 77;
	assert_int_equal(quire_del_range(r, STR("a"), STR("z"), &n),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_range(r, NULL, 0, NULL, 0, NULL),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(r, STR("d"), &n), QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(r, NULL, 0, NULL), QUIRE_EINVAL);
	model_check_txn(&m, r);
	QOK(quire_commit(r));
	/* of a read-only handle too */
	reopen(f, QUIRE_RDONLY);
	r = begin(f->db, QUIRE_RDONLY);
	assert_int_equal(quire_del_range(r, NULL, 0, NULL, 0, &n),
			 QUIRE_EINVAL);
	assert_int_equal(quire_del_prefix(r, NULL, 0, &n), QUIRE_EINVAL);
	model_check_txn(&m, r);
	QOK(quire_commit(r));
	reopen(f, 0);
	assert_int_equal(latest_id(f->db), 2);
	model_clear(&m);
}

/* A call that finds nothing in its range (a gap, equal bounds, a range
 * ending at the empty key, a prefix nobody has) returns 0 with *removed 0
 * and leaves the transaction unchanged: alone it commits nothing (no
 * commit, no byte, same figures), between other operations it takes no
 * sequence number. A range counts what the transaction sees: its own
 * puts, not the keys it deleted; puts after the call stay. */
static void test_range_count(void **state)
{
	struct fx *f = *state;
	quire_stat a, b;
	quire_log_entry le;
	quire_changes *fd;
	uint64_t n;
	commit_kv(f->db, "b", "1");
	commit_kv(f->db, "d", "2");
	uint64_t size = size_of(f->path);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &a));
	QOK(quire_commit(r));

	quire_txn *w = begin(f->db, 0);
	assert_int_equal(quire_txn_id(w), 3);
	static const struct {
		const char *from, *to; /* NULL: open; "": the empty key */
		size_t fl, tl;
	} empty[] = {
		{"c", "d", 1, 1},     {"b\0", "d", 2, 1}, {"d", "d", 1, 1},
		{"b", "b", 1, 1},     {"d\0", NULL, 2, 0}, {"x", NULL, 1, 0},
		{NULL, "", 0, 0},     {"", "", 0, 0},     {NULL, "b", 0, 1},
		{"", "a\xff", 0, 2}, {"bb", "c", 2, 1},
	};
	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
		n = 99;
		QOK(quire_del_range(w, empty[i].from, empty[i].fl, empty[i].to,
				    empty[i].tl, &n));
		if (n != 0)
			fail_msg("empty range %zu removed %llu", i,
				 (unsigned long long)n);
	}
	static const char *const none[] = {"c", "bb", "\xff", "b\0", "dd"};
	for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
		n = 99;
		QOK(quire_del_prefix(w, none[i], i == 3 ? 2 : strlen(none[i]),
				     &n));
		assert_int_equal(n, 0);
	}
	expect(w, STR("b"), STR("1"));
	expect(w, STR("d"), STR("2"));
	QOK(quire_commit(w));
	assert_int_equal(latest_id(f->db), 2);
	assert_int_equal(size_of(f->path), size);
	r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &b));
	QOK(quire_commit(r));
	a.pinned_age_ns = b.pinned_age_ns = 0;
	assert_memory_equal(&a, &b, sizeof a);

	/* between two puts: two sequence numbers, two changes */
	w = begin(f->db, 0);
	put(w, STR("e"), STR("3"));
	QOK(quire_del_range(w, STR("f"), NULL, 0, &n));
	assert_int_equal(n, 0);
	QOK(quire_del_prefix(w, STR("x"), &n));
	assert_int_equal(n, 0);
	put(w, STR("f"), STR("4"));
	QOK(quire_commit(w));
	fd = last_commit(f->db, &r, &le);
	assert_int_equal(le.txn_id, 3);
	assert_int_equal(le.first_seq, a.next_seq);
	assert_int_equal(le.next_seq, a.next_seq + 2);
	expect_change(fd, le.first_seq, QUIRE_OP_PUT, STR("e"), STR("3"), 0,
		      0);
	expect_change(fd, le.first_seq + 1, QUIRE_OP_PUT, STR("f"), STR("4"),
		      0, 0);
	expect_feed_end(fd);
	quire_changes_close(fd);
	QOK(quire_commit(r));

	/* keys b d e f: delete b, put c (new) and e (again), then a range
	 * over all: it saw c d e f; another over it finds nothing (no
	 * sequence number); a put after it stays */
	w = begin(f->db, 0);
	QOK(quire_del(w, STR("b")));
	put(w, STR("c"), STR("5"));
	put(w, STR("e"), STR("6"));
	n = 99;
	QOK(quire_del_range(w, NULL, 0, NULL, 0, &n));
	assert_int_equal(n, 4);
	QOK(quire_del_range(w, STR("a"), STR("z"), &n));
	assert_int_equal(n, 0);
	QOK(quire_del_prefix(w, NULL, 0, &n));
	assert_int_equal(n, 0);
	assert_int_equal(quire_del(w, STR("d")), QUIRE_NOTFOUND);
	put(w, STR("e"), STR("7"));
	expect(w, STR("e"), STR("7"));
	expect_missing(w, STR("b"));
	expect_missing(w, STR("c"));
	expect_missing(w, STR("d"));
	expect_missing(w, STR("f"));
	QOK(quire_commit(w));
	fd = last_commit(f->db, &r, &le);
	assert_int_equal(le.txn_id, 4);
	assert_int_equal(le.next_seq - le.first_seq, 5);
	expect_change(fd, le.first_seq, QUIRE_OP_DEL, STR("b"), NULL, 0, 0,
		      0);
	expect_change(fd, le.first_seq + 1, QUIRE_OP_PUT, STR("c"), STR("5"),
		      0, 0);
	expect_change(fd, le.first_seq + 2, QUIRE_OP_PUT, STR("e"), STR("6"),
		      0, 0);
	expect_change(fd, le.first_seq + 3, QUIRE_OP_DEL_RANGE, NULL, 0, NULL,
		      0, 1, 4);
	expect_change(fd, le.first_seq + 4, QUIRE_OP_PUT, STR("e"), STR("7"),
		      0, 0);
	expect_feed_end(fd);
	quire_changes_close(fd);
	QOK(quire_txn_stat(r, &b));
	assert_int_equal(b.key_count, 1);
	assert_int_equal(b.pending_ops, 0); /* a range delete checkpoints */
	struct model m = {0};
	model_put(&m, STR("e"), STR("7"));
	model_check_txn(&m, r);
	QOK(quire_commit(r));
	reopen(f, 0);
	r = begin(f->db, QUIRE_RDONLY);
	model_check_txn(&m, r);
	QOK(quire_commit(r));
	model_clear(&m);
}

/* Prefixes ending in 0xff bytes: the range's end carries (a\xff ends at
 * b); one of only 0xff bytes runs to the last key, also one of
 * QUIRE_MAX_KEY_SIZE bytes. The changes feed reports each as a range with
 * the end the prefix spans. */
static void test_prefix_ff(void **state)
{
	struct fx *f = *state;
	static uint8_t ff[QUIRE_MAX_KEY_SIZE];
	static const char *const keys[] = {
		"a", "a\xff", "a\xff\xff", "a\xff\xffz", "a\xfe\xff", "b",
		"\xfe", "\xfe\xff", "\xff", "\xff\x01", "\xff\xff",
		"\xff\xff\xff", "\xff\xfe",
	};
	struct model m = {0};
	quire_log_entry le;
	quire_changes *fd;
	uint64_t n;
	memset(ff, 0xff, sizeof ff);
	quire_txn *w = begin(f->db, 0);
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		mput(&m, w, keys[i], "v");
	put(w, "a\xff\0", 3, STR("v")); /* "a\xff" then a zero byte */
	model_put(&m, "a\xff\0", 3, STR("v"));
	put(w, ff, sizeof ff, STR("max"));
	model_put(&m, ff, sizeof ff, STR("max"));
	put(w, ff, sizeof ff - 1, STR("max-1"));
	model_put(&m, ff, sizeof ff - 1, STR("max-1"));
	QOK(quire_commit(w));

	w = begin(f->db, 0);
	/* the longest: just the one key */
	QOK(quire_del_prefix(w, ff, sizeof ff, &n));
	assert_int_equal(n, 1);
	assert_int_equal(model_del_prefix(&m, ff, sizeof ff), 1);
	QOK(quire_del_prefix(w, STR("a\xff"), &n));
	assert_int_equal(n, 4);
	assert_int_equal(model_del_prefix(&m, STR("a\xff")), 4);
	expect(w, STR("a\xfe\xff"), STR("v"));
	expect(w, STR("b"), STR("v"));
	QOK(quire_del_prefix(w, STR("\xff\xff"), &n));
	assert_int_equal(n, 3); /* \xff\xff, \xff\xff\xff, the 8191 */
	assert_int_equal(model_del_prefix(&m, STR("\xff\xff")), 3);
	QOK(quire_del_prefix(w, STR("\xfe"), &n));
	assert_int_equal(n, 2);
	assert_int_equal(model_del_prefix(&m, STR("\xfe")), 2);
	expect(w, STR("\xff"), STR("v"));
	model_check_txn(&m, w);
	QOK(quire_commit(w));

	quire_txn *r;
	fd = last_commit(f->db, &r, &le);
	assert_int_equal(le.next_seq - le.first_seq, 4);
	expect_change(fd, le.first_seq, QUIRE_OP_DEL_RANGE, ff, sizeof ff,
		      NULL, 0, 1, 1);
	expect_change(fd, le.first_seq + 1, QUIRE_OP_DEL_RANGE, STR("a\xff"),
		      STR("b"), 0, 4);
	expect_change(fd, le.first_seq + 2, QUIRE_OP_DEL_RANGE,
		      STR("\xff\xff"), NULL, 0, 1, 3);
	expect_change(fd, le.first_seq + 3, QUIRE_OP_DEL_RANGE, STR("\xfe"),
		      STR("\xff"), 0, 2);
	expect_feed_end(fd);
	quire_changes_close(fd);
	model_check_txn(&m, r);
	QOK(quire_commit(r));

	/* a single 0xff: everything from it to the last key */
	w = begin(f->db, 0);
	QOK(quire_del_prefix(w, STR("\xff"), &n));
	assert_int_equal(n, 3); /* \xff, \xff\x01, \xff\xfe */
	assert_int_equal(model_del_prefix(&m, STR("\xff")), 3);
	model_check_txn(&m, w);
	QOK(quire_commit(w));
	fd = last_commit(f->db, &r, &le);
	expect_change(fd, le.first_seq, QUIRE_OP_DEL_RANGE, STR("\xff"), NULL,
		      0, 1, 3);
	expect_feed_end(fd);
	quire_changes_close(fd);
	QOK(quire_commit(r));
	reopen(f, 0);
	r = begin(f->db, QUIRE_RDONLY);
	model_check_txn(&m, r); /* a, a\xfe\xff, b */
	assert_int_equal(m.n, 3);
	QOK(quire_commit(r));
	model_clear(&m);
}

/* The empty prefix, and a range open at both ends, delete every key: the
 * committed ones (in the tree and pending) and the transaction's own;
 * puts after it stay. NULL and "" are the same empty prefix. */
static void test_prefix_empty(void **state)
{
	struct fx *f = *state;
	char key[32];
	uint64_t n;
	quire_stat st;
	for (int c = 0; c < 3; c++) {
		quire_txn *w = begin(f->db, 0);
		for (int i = 0; i < 100; i++) {
			snprintf(key, sizeof key, "k%03d", i * 3 + c);
			put(w, STR(key), STR(key));
		}
		QOK(quire_commit(w));
		if (c == 0)
			QOK(quire_checkpoint(f->db));
	}
	for (int how = 0; how < 3; how++) {
		quire_txn *w = begin(f->db, 0);
		put(w, STR("new"), STR("n"));
		put(w, "", 0, STR("empty key"));
		n = 0;
		if (how == 0)
			QOK(quire_del_prefix(w, NULL, 0, &n));
		else if (how == 1)
			QOK(quire_del_prefix(w, "", 0, &n));
		else
			QOK(quire_del_range(w, NULL, 0, NULL, 0, &n));
		assert_int_equal(n, 302);
		quire_cursor *c;
		QOK(quire_cursor_open(w, &c));
		assert_int_equal(quire_cursor_first(c), QUIRE_NOTFOUND);
		assert_int_equal(quire_cursor_last(c), QUIRE_NOTFOUND);
		assert_int_equal(quire_cursor_seek(c, "", 0), QUIRE_NOTFOUND);
		expect_missing(w, STR("k000"));
		expect_missing(w, STR("new"));
		expect_missing(w, "", 0);
		put(w, STR("after"), STR("a"));
		at(c, quire_cursor_first(c), "after");
		assert_int_equal(quire_cursor_next(c), QUIRE_NOTFOUND);
		quire_cursor_close(c);
		if (how < 2) { /* the keys are all back */
			quire_abort(w);
			quire_txn *r = begin(f->db, QUIRE_RDONLY);
			QOK(quire_txn_stat(r, &st));
			assert_int_equal(st.key_count, 300);
			expect(r, STR("k299"), STR("k299"));
			QOK(quire_commit(r));
			continue;
		}
		QOK(quire_commit(w));
	}
	reopen(f, 0);
	quire_txn *r = begin(f->db, QUIRE_RDONLY);
	struct model m = {0};
	model_put(&m, STR("after"), STR("a"));
	model_check_txn(&m, r);
	QOK(quire_txn_stat(r, &st));
	assert_int_equal(st.key_count, 1);
	assert_int_equal(st.pending_ops, 0);
	QOK(quire_commit(r));
	/* and the last key goes too: an empty database */
	quire_txn *w = begin(f->db, 0);
	QOK(quire_del_prefix(w, "", 0, &n));
	assert_int_equal(n, 1);
	QOK(quire_commit(w));
	reopen(f, 0);
	r = begin(f->db, QUIRE_RDONLY);
	QOK(quire_txn_stat(r, &st));
	assert_int_equal(st.key_count, 0);
	model_clear(&m);
	model_check_txn(&m, r);
	uint64_t problems = 1;
	QOK(quire_check(r, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_commit(r));
}

/* Inside the transaction, right after the call: gets and get_seq miss the
 * keys, quire_del of one is QUIRE_NOTFOUND, quire_put_if and quire_del_if
 * with its old version conflict, quire_put_if(expect 0) puts it; a cursor left on a removed key gives QUIRE_NOTFOUND until it moves
 * and then goes on from the key's place; a fresh cursor skips the range
 * both ways; puts into the range after the call stay; a second range
 * over the first counts only what is there again. The same with the
 * committed keys in the tree (checkpoint_ops 1) and pending. */
static void test_range_in_txn(void **state)
{
	struct fx *f = *state;
	char key[16], val[16];
	uint64_t n, seq;
	quire_val v;
	for (int pend = 0; pend < 2; pend++) {
		struct model m = {0};
		fresh_ckpt(f, 512, pend ? 0 : 1);
		quire_txn *w = begin(f->db, 0);
		for (int i = 0; i < 20; i++) {
			snprintf(key, sizeof key, "k%02d", i);
			snprintf(val, sizeof val, "v%02d", i);
			mput(&m, w, key, val);
		}
		QOK(quire_commit(w));

		w = begin(f->db, 0);
		mput(&m, w, "k05", "new");  /* replaced */
		mput(&m, w, "k055", "new"); /* added */
		mdel(&m, w, "k07");         /* deleted before */
		quire_cursor *c, *c2;
		uint64_t seq6 = 0;
		QOK(quire_get_seq(w, STR("k06"), NULL, &seq6));
		assert_true(seq6 > 0);
		QOK(quire_cursor_open(w, &c));
		at(c, quire_cursor_seek(c, STR("k08")), "k08");
		QOK(quire_cursor_open(w, &c2));
		at(c2, quire_cursor_seek(c2, STR("k04")), "k04");
		n = 0;
		QOK(quire_del_range(w, STR("k05"), STR("k10"), &n));
		assert_int_equal(n, 5); /* k05 k055 k06 k08 k09 */
		assert_int_equal(model_del_range(&m, STR("k05"), STR("k10")), 5);
		/* the cursor on k08 */
		assert_int_equal(quire_cursor_key(c, &v), QUIRE_NOTFOUND);
		assert_int_equal(quire_cursor_value(c, &v), QUIRE_NOTFOUND);
		at(c, quire_cursor_next(c), "k10");
		at(c, quire_cursor_prev(c), "k04");
		/* the cursor beside the range */
		at(c2, quire_cursor_next(c2), "k10");
		at(c2, quire_cursor_prev(c2), "k04");
		quire_cursor_close(c2);
		for (int i = 5; i < 10; i++) {
			snprintf(key, sizeof key, "k%02d", i);
			expect_missing(w, STR(key));
			seq = 99;
			assert_int_equal(quire_get_seq(w, STR(key), &v, &seq),
					 QUIRE_NOTFOUND);
			assert_int_equal(seq, 0);
		}
		expect_missing(w, STR("k055"));
		expect(w, STR("k04"), STR("v04"));
		expect(w, STR("k10"), STR("v10"));
		assert_int_equal(quire_del(w, STR("k06")), QUIRE_NOTFOUND);
		assert_int_equal(quire_del_if(w, STR("k06"), 0), QUIRE_NOTFOUND);
		/* its version before the call is gone with it */
		assert_int_equal(quire_put_if(w, STR("k06"), STR("x"), seq6),
				 QUIRE_ECONFLICT);
		assert_int_equal(quire_del_if(w, STR("k06"), seq6),
				 QUIRE_ECONFLICT);
		QOK(quire_put_if(w, STR("k06"), STR("again"), 0));
		model_put(&m, STR("k06"), STR("again"));
		mput(&m, w, "k07", "again");
		expect(w, STR("k06"), STR("again"));
		/* a fresh cursor */
		QOK(quire_cursor_open(w, &c2));
		at(c2, quire_cursor_seek(c2, STR("k05")), "k06");
		at(c2, quire_cursor_next(c2), "k07");
		at(c2, quire_cursor_next(c2), "k10");
		at(c2, quire_cursor_prev(c2), "k07");
		at(c2, quire_cursor_seek(c2, STR("k08")), "k10");
		at(c2, quire_cursor_prev(c2), "k07");
		quire_cursor_close(c2);
		/* the old cursor (at k04) sees the puts made after the call */
		at(c, quire_cursor_next(c), "k06");
		at_value(c, "again");
		quire_cursor_close(c);
		model_check_txn(&m, w);
		/* overlapping: k07 (put again) k10 k11 */
		QOK(quire_del_range(w, STR("k065"), STR("k12"), &n));
		assert_int_equal(n, 3);
		assert_int_equal(model_del_range(&m, STR("k065"), STR("k12")), 3);
		model_check_txn(&m, w);
		QOK(quire_commit(w));

		quire_log_entry le;
		quire_txn *r;
		quire_changes *fd = last_commit(f->db, &r, &le);
		/* put put del range put_if put range */
		assert_int_equal(le.next_seq - le.first_seq, 7);
		expect_change(fd, le.first_seq, QUIRE_OP_PUT, STR("k05"),
			      STR("new"), 0, 0);
		expect_change(fd, le.first_seq + 1, QUIRE_OP_PUT, STR("k055"),
			      STR("new"), 0, 0);
		expect_change(fd, le.first_seq + 2, QUIRE_OP_DEL, STR("k07"),
			      NULL, 0, 0, 0);
		expect_change(fd, le.first_seq + 3, QUIRE_OP_DEL_RANGE,
			      STR("k05"), STR("k10"), 0, 5);
		expect_change(fd, le.first_seq + 4, QUIRE_OP_PUT, STR("k06"),
			      STR("again"), 0, 0);
		expect_change(fd, le.first_seq + 5, QUIRE_OP_PUT, STR("k07"),
			      STR("again"), 0, 0);
		expect_change(fd, le.first_seq + 6, QUIRE_OP_DEL_RANGE,
			      STR("k065"), STR("k12"), 0, 3);
		expect_feed_end(fd);
		quire_changes_close(fd);
		model_check_txn(&m, r);
		QOK(quire_commit(r));
		reopen(f, 0);
		r = begin(f->db, QUIRE_RDONLY);
		model_check_txn(&m, r);
		uint64_t problems = 1;
		QOK(quire_check(r, NULL, NULL, &problems));
		assert_int_equal(problems, 0);
		QOK(quire_commit(r));
		model_clear(&m);
	}
}

/* 20000 keys in the tree of 512-byte nodes, 18000 of them removed by one
 * range: the count is exact, the commit rewrites only the paths to the
 * range's ends (the file grows by far less than the leaves removed), the
 * commit before stays readable (AS-OF), a diff shows the 18000 keys, the
 * figures and quire_check agree; then the same with the keys pending. */
static void test_range_big(void **state)
{
	struct fx *f = *state;
	char key[32], val[32];
	uint64_t n;
	quire_stat a, b;
	for (int pend = 0; pend < 2; pend++) {
		struct model m = {0}, before = {0};
		quire_options o;
		/* no automatic compaction: it would drop the commit before
		 * (AS-OF) and move the file (diff) */
		QOK(quire_close(f->db));
		f->db = NULL;
		assert_int_equal(unlink(f->path), 0);
		quire_options_init(&o);
		o.flags = QUIRE_CREATE;
		o.node_size = 512;
		o.auto_compact_ratio = 0;
		if (!pend)
			o.checkpoint_ops = 1;
		QOK(quire_open(f->path, &o, &f->db));
		/* (the first commit into an empty tree is folded at once) */
		quire_txn *w = begin(f->db, 0);
		mput(&m, w, "a", "first");
		QOK(quire_commit(w));
		w = begin(f->db, 0);
		for (int i = 0; i < 20000; i++) {
			snprintf(key, sizeof key, "key%06d", i * 7919 % 20000);
			snprintf(val, sizeof val, "value %d", i);
			mput(&m, w, key, val);
		}
		QOK(quire_commit(w));
		model_copy(&before, &m);
		quire_txn *old = begin(f->db, QUIRE_RDONLY);
		QOK(quire_txn_stat(old, &a));
		assert_int_equal(a.key_count, 20001);
		if (pend)
			assert_true(a.pending_ops >= 20000);
		else
			assert_true(a.depth >= 3);

		w = begin(f->db, 0);
		QOK(quire_del_range(w, STR("key001000"), STR("key019000"), &n));
		assert_int_equal(n, 18000);
		assert_int_equal(model_del_range(&m, STR("key001000"),
						 STR("key019000")),
				 18000);
		const struct model_ent *e = model_get(&m, STR("key000999"));
		assert_non_null(e);
		expect(w, STR("key000999"), e->val, e->vlen);
		expect_missing(w, STR("key001000"));
		expect_missing(w, STR("key018999"));
		model_check_txn(&m, w);
		QOK(quire_commit(w));

		quire_txn *r = begin(f->db, QUIRE_RDONLY);
		QOK(quire_txn_stat(r, &b));
		assert_int_equal(b.txn_id, a.txn_id + 1);
		assert_int_equal(b.key_count, 2001);
		assert_int_equal(b.next_seq, a.next_seq + 1);
		assert_int_equal(b.pending_ops, 0);
		if (!pend) {
			/* 18000 leaf entries of about 24 bytes went: some
			 * 400 KiB of leaves; two paths of 512-byte nodes
			 * plus the commit's own blocks are a few KiB */
			if (b.file_bytes - a.file_bytes > 32768)
				fail_msg("a range delete over a tree of %u "
					 "levels appended %llu bytes",
					 a.depth,
					 (unsigned long long)(b.file_bytes -
							      a.file_bytes));
			assert_true(b.depth <= a.depth);
		}
		model_check_txn(&m, r);
		uint64_t problems = 1;
		QOK(quire_check(r, NULL, NULL, &problems));
		assert_int_equal(problems, 0);
		/* the snapshot from before, a new one of that commit, and
		 * the diff */
		model_check_txn(&before, old);
		quire_txn *asof = NULL;
		QOK(quire_begin_at(f->db, a.txn_id, &asof));
		model_check_txn(&before, asof);
		QOK(quire_commit(asof));
		quire_diff *d;
		QOK(quire_diff_open(old, r, &d));
		assert_int_equal(model_check_diff(&before, &m, d), 18000);
		quire_diff_close(d);
		QOK(quire_commit(r));
		QOK(quire_commit(old));
		QOK(quire_close(f->db));
		f->db = NULL;
		o.flags = 0;
		QOK(quire_open(f->path, &o, &f->db));
		r = begin(f->db, QUIRE_RDONLY);
		model_check_txn(&m, r);
		QOK(quire_commit(r));
		model_clear(&m);
		model_clear(&before);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_version),
		T(test_null_handles),
		T(test_null_txn_args),
		T(test_null_cursor_args),
		T(test_options_not_initialised),
		T(test_bad_flags),
		T(test_node_size_bounds),
		T(test_open_missing),
		T(test_open_missing_rdonly),
		T(test_open_directory),
		T(test_open_text_file),
		T(test_open_empty_file),
		T(test_rdonly_handle),
		T(test_write_through_read_txn),
		T(test_key_sizes),
		T(test_empty_values),
		T(test_inline_limit_values),
		T(test_huge_value),
		T(test_max_value),
		T(test_value_too_big),
		T(test_del_missing),
		T(test_empty_commit),
		T(test_txn_ids),
		T(test_own_writes_get),
		T(test_own_writes_cursor),
		T(test_cursor_value_after_put),
		T(test_key_order),
		T(test_value_lifetime),
		T(test_snapshot_isolation),
		T(test_close_busy),
		T(test_cursor_after_txn_end),
		T(test_txn_after_end),
		T(test_handles_after_txn_end),
		T(test_check_after_end),
		T(test_strerror),
		T(test_errmsg),
		T(test_txn_stat),
		T(test_pending_stat),
		T(test_sync),
		T(test_check_healthy),
		T(test_nosync_reopen),
		T(test_range_bad_args),
		T(test_range_count),
		T(test_prefix_ff),
		T(test_prefix_empty),
		T(test_range_in_txn),
		T(test_range_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
