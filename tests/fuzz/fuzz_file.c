/*
 * fuzz_file.c - libFuzzer target: the input is a whole database file.
 *
 * The image is placed in the in-memory VFS and opened read-only, then read
 * every way the API allows: check, cursor scans both ways, gets, the commit
 * log, the changes feed, key history, AS-OF snapshots and diffs. Then it is
 * opened read-write for one batch commit and one checkpoint (tail cutting,
 * recovery, copy-on-write over whatever the file holds) and reopened.
 *
 * Errors are fine; what is not: a crash, a sanitizer report, a leak, a hang,
 * an unknown error code, a read-only open that changes the file, a read of a
 * snapshot that quire_check called clean failing with QUIRE_ECORRUPT, or a
 * successful commit that the reopened file does not show. Every walk is
 * bounded by the file size (each key or operation costs some bytes), so
 * going past that bound means the library loops.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "memvfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char path[] = "/fuzz.quire";

#define NKEYS 16

struct ctx {
	size_t limit;        /* more steps than this: a loop */
	int clean;           /* quire_check found nothing */
	uint8_t *keys[NKEYS];
	size_t klen[NKEYS];
	int nkeys;
	volatile uint64_t sink;
};

static void fail(const char *what, int e)
{
	fprintf(stderr, "fuzz_file: %s: %d %s (%s)\n", what, e,
		quire_strerror(e), quire_errmsg());
	abort();
}

/* Every return must be one of the documented codes. */
static int rc(const char *what, int e)
{
	if (e > 0 || e < QUIRE_ETIMEDOUT)
		fail(what, e);
	return e;
}

/* A read of the latest snapshot: ECORRUPT there contradicts a clean check. */
static int rd(struct ctx *c, const char *what, int e)
{
	rc(what, e);
	if (c->clean && e == QUIRE_ECORRUPT)
		fail(what, e);
	return e;
}

static void touch(struct ctx *c, quire_val v)
{
	const uint8_t *p = v.data;
	if (v.size)
		c->sink += p[0] + p[v.size - 1] + v.size;
}

static void remember(struct ctx *c, quire_val k)
{
	if (c->nkeys == NKEYS)
		return;
	uint8_t *d = malloc(k.size ? k.size : 1);
	if (!d)
		return;
	memcpy(d, k.data, k.size);
	c->keys[c->nkeys] = d;
	c->klen[c->nkeys++] = k.size;
}

static void scan(struct ctx *c, quire_txn *t, int latest)
{
	quire_cursor *cur;
	quire_val k, v;
	size_t n = 0;
	int e;
	if (rc("cursor_open", quire_cursor_open(t, &cur)))
		return;
	for (e = quire_cursor_first(cur); e == 0; e = quire_cursor_next(cur)) {
		if (++n > c->limit)
			fail("forward scan does not end", 0);
		if (rd(c, "cursor_key", quire_cursor_key(cur, &k)) ||
		    rd(c, "cursor_value", quire_cursor_value(cur, &v))) {
			e = 0;
			break;
		}
		touch(c, v);
		if (latest && (n <= NKEYS / 2 || n % 64 == 0))
			remember(c, k);
	}
	if (e != QUIRE_NOTFOUND && latest)
		rd(c, "forward scan", e);
	n = 0;
	for (e = quire_cursor_last(cur); e == 0; e = quire_cursor_prev(cur)) {
		if (++n > c->limit)
			fail("backward scan does not end", 0);
		if (rd(c, "cursor_key", quire_cursor_key(cur, &k)) ||
		    rd(c, "cursor_value", quire_cursor_value(cur, &v)))
			break;
		touch(c, v);
		if (latest && n <= 2)
			remember(c, k);
	}
	if (e != QUIRE_NOTFOUND && latest)
		rd(c, "backward scan", e);
	if (c->nkeys && quire_cursor_seek(cur, c->keys[0], c->klen[0]) == 0 &&
	    quire_cursor_key(cur, &k) == 0)
		touch(c, k);
	rc("seek", quire_cursor_seek(cur, "\xff\xff", 2));
	quire_cursor_close(cur);
}

static void gets(struct ctx *c, quire_txn *t, int latest)
{
	quire_val v;
	uint64_t seq;
	for (int i = 0; i < c->nkeys; i++) {
		int e = quire_get(t, c->keys[i], c->klen[i], &v);
		if (latest)
			rd(c, "get", e);
		else
			rc("get", e);
		/* a key the scan showed must be found */
		if (latest && e == QUIRE_NOTFOUND)
			fail("get of a scanned key", e);
		if (e == 0)
			touch(c, v);
		rc("get_seq", quire_get_seq(t, c->keys[i], c->klen[i], NULL,
					    &seq));
		/* a neighbour that is probably absent */
		uint8_t buf[64];
		size_t n = c->klen[i] < sizeof buf - 1 ? c->klen[i] : 62;
		memcpy(buf, c->keys[i], n);
		buf[n] = 0;
		rc("get neighbour", quire_get(t, buf, n + 1, &v));
	}
	rc("get empty", quire_get(t, "", 0, &v));
	rc("get other", quire_get(t, "fuzz", 4, &v));
}

static void history(struct ctx *c, quire_txn *t, uint64_t txn)
{
	quire_log_entry le;
	uint64_t ids[] = {0, 1, txn / 2, txn ? txn - 1 : 0, txn, txn + 1};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (rc("log_get", quire_log_get(t, ids[i], &le)) == 0)
			touch(c, le.meta);

	quire_changes *f;
	quire_change ch;
	if (rc("changes_open", quire_changes_open(t, 0, &f)) == 0) {
		size_t n = 0;
		int e;
		while ((e = quire_changes_next(f, &ch)) == 0) {
			if (++n > c->limit)
				fail("changes feed does not end", 0);
			touch(c, ch.key);
			touch(c, ch.value);
		}
		rc("changes_next", e);
		quire_changes_close(f);
	}

	for (int i = 0; i < c->nkeys && i < 2; i++) {
		quire_history *h;
		quire_key_version kv;
		if (rc("history_open", quire_history_open(t, c->keys[i],
							  c->klen[i], &h)))
			continue;
		size_t n = 0;
		int e;
		while ((e = quire_history_next(h, &kv)) == 0) {
			if (++n > c->limit)
				fail("key history does not end", 0);
			touch(c, kv.value);
		}
		rc("history_next", e);
		quire_history_close(h);
	}
}

static void diff(struct ctx *c, quire_txn *a, quire_txn *b)
{
	quire_diff *d;
	quire_delta dl;
	if (rc("diff_open", quire_diff_open(a, b, &d)))
		return;
	size_t n = 0;
	int e;
	while ((e = quire_diff_next(d, &dl)) == 0) {
		if (++n > 2 * c->limit)
			fail("diff does not end", 0);
		touch(c, dl.key);
		if (dl.in_a)
			touch(c, dl.a);
		if (dl.in_b)
			touch(c, dl.b);
	}
	rc("diff_next", e);
	quire_diff_close(d);
}

static void read_all(struct ctx *c, quire *db)
{
	quire_txn *t, *o;
	quire_stat st;
	uint64_t problems = 0;
	if (rc("begin", quire_begin(db, QUIRE_RDONLY, &t)))
		return;
	rc("stat", quire_txn_stat(t, &st));
	uint64_t txn = quire_txn_id(t);
	if (rc("check", quire_check(t, NULL, NULL, &problems)) == 0)
		c->clean = problems == 0;
	scan(c, t, 1);
	gets(c, t, 1);
	c->clean = 0; /* history reaches beyond what check covers */
	history(c, t, txn);

	uint64_t ids[] = {0, 1, txn / 2, txn ? txn - 1 : 0};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		if (rc("begin_at", quire_begin_at(db, ids[i], &o)))
			continue;
		if (quire_txn_id(o) != ids[i])
			fail("begin_at gave another commit", 0);
		scan(c, o, 0);
		gets(c, o, 0);
		if (i == 2)
			history(c, o, ids[i]);
		diff(c, t, o);
		quire_abort(o);
	}
	if (rc("begin_at_time", quire_begin_at_time(db, st.commit_time_ns,
						    QUIRE_AT_OR_BEFORE, &o)) == 0)
		quire_abort(o);
	if (rc("begin_at_time", quire_begin_at_time(db, st.commit_time_ns / 2,
						    QUIRE_AT_OR_AFTER, &o)) == 0)
		quire_abort(o);
	quire_abort(t);
}

/* One batch commit and one checkpoint; then the reopened file must hold
 * what was acknowledged. */
static void write_some(struct ctx *c, struct memvfs *m, quire_options *o)
{
	quire *db;
	quire_txn *t;
	quire_val v;
	static const char val[] = "written by fuzz_file";
	int acked = 0;
	o->flags = 0;
	if (rc("open rw", qdb_open_vfs(path, o, memvfs_vfs(m), &db)))
		return;
	if (rc("begin write", quire_begin(db, 0, &t)) == 0) {
		if (rc("put", quire_put(t, "fuzz", 4, val, sizeof val)) == 0) {
			if (rc("commit", quire_commit(t)) == 0)
				acked = 1;
		} else {
			quire_abort(t);
		}
	}
	rc("checkpoint", quire_checkpoint(db));
	rc("close", quire_close(db));

	o->flags = QUIRE_RDONLY;
	int e = rc("reopen", qdb_open_vfs(path, o, memvfs_vfs(m), &db));
	if (e) {
		if (acked)
			fail("reopen after an acknowledged commit", e);
		return;
	}
	if (rc("begin", quire_begin(db, QUIRE_RDONLY, &t)) == 0) {
		e = rc("get", quire_get(t, "fuzz", 4, &v));
		/* a failed checkpoint leaves the earlier commit intact */
		if (acked && (e != 0 || v.size != sizeof val ||
			      memcmp(v.data, val, sizeof val) != 0))
			fail("acknowledged commit lost", e);
		scan(c, t, 0);
		quire_abort(t);
	}
	rc("close", quire_close(db));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = {.limit = size + 64};
	struct memvfs *m = memvfs_new(1);
	quire_options o;
	quire *db;
	size_t n;
	memvfs_set(m, path, data, size);
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	o.cache_size = (size_t)1 << 20;
	o.node_size = 512;
	o.checkpoint_ops = 64;
	if (rc("open", qdb_open_vfs(path, &o, memvfs_vfs(m), &db)) == 0) {
		read_all(&c, db);
		rc("close", quire_close(db));
	}
	const uint8_t *after = memvfs_data(m, path, &n);
	if (n != size || (size && (!after || memcmp(after, data, size) != 0)))
		fail("read-only open changed the file", 0);
	write_some(&c, m, &o);
	for (int i = 0; i < c.nkeys; i++)
		free(c.keys[i]);
	memvfs_free(m);
	return 0;
}
