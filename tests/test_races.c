/*
 * test_races.c - the interleavings of writers, readers and compactions
 * that lost acknowledged commits or touched freed memory, each forced in
 * one order by holding calls (holdvfs.c) instead of hoping for it.
 *
 * Handles opened through different holdvfs instances stand for different
 * processes (they meet only at the file locks); threads of one handle are
 * threads of one process.
 *
 *  - A writer waits for the lock of a file that a compaction replaces
 *    while a reader thread of its handle moves the handle to the new file:
 *    the writer must end up holding the new file's lock (a writer of
 *    another process then gets QUIRE_EBUSY), not the old one's, and the
 *    old file object must stay alive under its wait.
 *  - busy_timeout_ms bounds the whole wait, across a switch of files.
 *  - quire_close with a write transaction open while the background
 *    compaction waits for that transaction returns QUIRE_EBUSY at once.
 *  - A leftover "<path>.compact" is removed only if the name still gives
 *    the file that was found unlocked; a failed creation leaves none.
 *  - quire_wait's timeout does not follow the wall clock.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compact.h"
#include "gate.h"
#include "holdvfs.h"
#include "internal.h"
#include "lock.h"
#include "memvfs.h"
#include "testutil.h"

#define STR(s) (s), strlen(s)

static quire *open_via(const char *path, qvfs *vfs, unsigned flags,
		       int busy_ms)
{
	quire_options o;
	quire *db = NULL;
	quire_options_init(&o);
	o.flags = flags;
	o.busy_timeout_ms = busy_ms;
	QOK(qdb_open_vfs(path, &o, vfs, &db));
	return db;
}

/* --- a writer waiting while its handle moves to a compacted file ------- */

struct compact_run {
	quire *db;
	int rc;
};

static void *compact_thread(void *arg)
{
	struct compact_run *c = arg;
	c->rc = quire_compact(c->db, NULL);
	return NULL;
}

struct writer {
	quire *db;
	int rc_begin, rc_commit;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int began, go;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	quire_txn *t = NULL;
	w->rc_begin = quire_begin(w->db, 0, &t);
	if (w->rc_begin == 0)
		w->rc_begin = quire_put(t, STR("w-key"), STR("w"));
	pthread_mutex_lock(&w->mu);
	w->began = 1;
	pthread_cond_broadcast(&w->cv);
	while (!w->go)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	if (t)
		w->rc_commit = quire_commit(t);
	return NULL;
}

static void test_writer_follows_compaction(void **state)
{
	char path[4200];
	tu_pathcat(path, sizeof path, tu_path("race-switch"), "");
	struct holdvfs *hw = holdvfs_new(qvfs_unix()),
		       *hc = holdvfs_new(qvfs_unix()),
		       *hs = holdvfs_new(qvfs_unix());
	quire *w = open_via(path, holdvfs_vfs(hw), QUIRE_CREATE, -1);
	quire *c = open_via(path, holdvfs_vfs(hc), 0, -1);
	quire *s = open_via(path, holdvfs_vfs(hs), 0, 0);
	char k[16];
	for (int i = 0; i < 50; i++) {
		snprintf(k, sizeof k, "k%02d", i);
		tu_put1(s, k, "v");
	}

	/* C compacts and stops in its directory sync, after the rename,
	 * holding the old file's writer lock */
	holdvfs_hold(hc, HV_SYNCDIR);
	struct compact_run cc = {.db = c};
	pthread_t ct, wt;
	assert_int_equal(pthread_create(&ct, NULL, compact_thread, &cc), 0);
	holdvfs_wait_held(hc, HV_SYNCDIR);

	/* W's writer thread waits for that lock */
	struct writer wr = {.db = w};
	pthread_mutex_init(&wr.mu, NULL);
	pthread_cond_init(&wr.cv, NULL);
	uint64_t r0 = holdvfs_refused(hw);
	assert_int_equal(pthread_create(&wt, NULL, writer_thread, &wr), 0);
	holdvfs_wait_refused(hw, r0 + 3);

	/* a reader thread of W (this one) moves the handle to the new
	 * file; the old file's last snapshot goes with it */
	tu_expect(w, "k07", "v");

	holdvfs_release(hc, HV_SYNCDIR);
	pthread_join(ct, NULL);
	QOK(cc.rc);

	pthread_mutex_lock(&wr.mu);
	while (!wr.began)
		pthread_cond_wait(&wr.cv, &wr.mu);
	pthread_mutex_unlock(&wr.mu);
	QOK(wr.rc_begin);
	assert_ptr_equal(w->lock_qf, w->qf);

	/* W holds the new file: another process must wait its turn */
	quire_txn *t;
	int e = quire_begin(s, 0, &t);
	if (e == 0)
		quire_abort(t);
	assert_int_equal(e, QUIRE_EBUSY);

	pthread_mutex_lock(&wr.mu);
	wr.go = 1;
	pthread_cond_broadcast(&wr.cv);
	pthread_mutex_unlock(&wr.mu);
	pthread_join(wt, NULL);
	QOK(wr.rc_commit);
	tu_put1(s, "s-key", "s");

	QOK(quire_close(w));
	QOK(quire_close(c));
	QOK(quire_close(s));
	quire *db = open_via(path, qvfs_unix(), 0, 0);
	tu_expect(db, "w-key", "w");
	tu_expect(db, "s-key", "s");
	tu_expect(db, "k49", "v");
	uint64_t problems = 1;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	quire_abort(t);
	QOK(quire_close(db));
	pthread_mutex_destroy(&wr.mu);
	pthread_cond_destroy(&wr.cv);
	holdvfs_free(hw);
	holdvfs_free(hc);
	holdvfs_free(hs);
	unlink(path);
}

/* --- busy_timeout_ms bounds the wait across a switch -------------------- */

/* In B's wait (on this thread), once it has spent a third of its timeout
 * on the old file: the compaction held before its directory sync goes on
 * and ends, so that B goes on waiting for the new file's lock. */
struct switcher {
	struct holdvfs *hb, *hc;
	pthread_t ct;
	uint64_t after_ns;
	int released;
};

static void finish_compaction(void *ctx, int kind, int result)
{
	struct switcher *sw = ctx;
	if (sw->released || holdvfs_slept(sw->hb) < sw->after_ns)
		return;
	sw->released = 1;
	holdvfs_release(sw->hc, HV_SYNCDIR);
	pthread_join(sw->ct, NULL);
}

static void test_timeout_across_switch(void **state)
{
	const int timeout_ms = 300; /* of memvfs's clock: nobody sleeps */
	struct memvfs *m = memvfs_new(11);
	struct holdvfs *hb = holdvfs_new(memvfs_vfs(m)),
		       *hc = holdvfs_new(memvfs_vfs(m));
	/* two threads share memvfs: no mapping read while it is written */
	quire *c = open_via("db", holdvfs_vfs(hc), QUIRE_CREATE | QUIRE_NOMMAP,
			    -1);
	quire *b = open_via("db", holdvfs_vfs(hb), QUIRE_NOMMAP, timeout_ms);
	tu_put1(c, "a", "1");

	holdvfs_hold(hc, HV_SYNCDIR);
	struct compact_run cc = {.db = c};
	struct switcher sw = {.hb = hb, .hc = hc,
			      .after_ns = (uint64_t)timeout_ms * 1000000u / 3};
	assert_int_equal(pthread_create(&sw.ct, NULL, compact_thread, &cc), 0);
	holdvfs_wait_held(hc, HV_SYNCDIR);

	/* the new file's queue lock is taken by "another process" that
	 * never lets it go, so B's wait goes on after the switch */
	qvfs *v = memvfs_vfs(m);
	qvfs_file *nf;
	assert_int_equal(v->open(v, "db", 0, 0, &nf), 0);
	assert_int_equal(nf->ops->lock(nf, QVFS_QUEUE_TRY), 0);

	quire_txn *t;
	holdvfs_hook(hb, HV_SLEEP, finish_compaction, &sw);
	assert_int_equal(quire_begin(b, 0, &t), QUIRE_EBUSY);
	holdvfs_hook(hb, 0, NULL, NULL);
	assert_true(sw.released);
	QOK(cc.rc);
	/* it switched files and still waited no longer than it may (to
	 * the deadline: the last nap is cut to it) */
	uint64_t slept = holdvfs_slept(hb);
	if (slept > (uint64_t)timeout_ms * 1000000u + QUEUE_NAP_NS)
		fail_msg("waited %llu ns in all, timeout %d ms",
			 (unsigned long long)slept, timeout_ms);
	if (slept < (uint64_t)timeout_ms * 1000000u / 2)
		fail_msg("gave up after %llu ns", (unsigned long long)slept);

	nf->ops->lock(nf, QVFS_QUEUE_UNLOCK);
	nf->ops->close(nf);
	tu_put1(b, "b", "2"); /* and it writes the new file once it may */
	tu_expect(c, "b", "2");
	QOK(quire_close(b));
	QOK(quire_close(c));
	holdvfs_free(hb);
	holdvfs_free(hc);
	memvfs_free(m);
}

/* --- close while the background compaction waits for our writer ------- */

struct closer {
	quire *db;
	int rc, done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *close_thread(void *arg)
{
	struct closer *c = arg;
	int rc = quire_close(c->db);
	pthread_mutex_lock(&c->mu);
	c->rc = rc;
	c->done = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void test_close_with_writer_and_auto_compaction(void **state)
{
	char path[4200];
	tu_pathcat(path, sizeof path, tu_path("race-close"), "");
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.checkpoint_ops = 64;
	o.auto_compact_ratio = 0; /* the garbage stays (close compacts not) */
	QOK(quire_open(path, &o, &db));
	char val[512];
	memset(val, 'x', sizeof val);
	for (int i = 0; i < 4000; i++) { /* garbage: rewritten leaves */
		char k[16];
		snprintf(k, sizeof k, "k%03d", i % 300);
		QOK(quire_begin(db, 0, &t));
		QOK(quire_put(t, STR(k), val, sizeof val));
		QOK(quire_commit(t));
	}
	QOK(quire_close(db));

	o.flags = QUIRE_NOSYNC;
	o.auto_compact_ratio = 0.2;
	struct holdvfs *h = holdvfs_new(qvfs_unix());
	QOK(qdb_open_vfs(path, &o, holdvfs_vfs(h), &db));
	/* the background compaction stops at its first sync (its new file's
	 * base) until this thread holds the write transaction */
	holdvfs_hold(h, HV_SYNC);
	tu_put1(db, "trigger", "1");
	assert_true(db->compactor->bg_started);
	holdvfs_wait_held(h, HV_SYNC);
	QOK(quire_begin(db, 0, &t)); /* ... which it will wait for */
	holdvfs_release(h, HV_SYNC);
	for (int i = 0; i < 20000 && !gate_waiting(db->gate); i++)
		usleep(1000);
	assert_true(gate_waiting(db->gate));

	struct closer cl = {.db = db};
	pthread_t th;
	pthread_mutex_init(&cl.mu, NULL);
	pthread_cond_init(&cl.cv, NULL);
	assert_int_equal(pthread_create(&th, NULL, close_thread, &cl), 0);
	pthread_mutex_lock(&cl.mu);
	for (int i = 0; i < 100 && !cl.done; i++) { /* 10 s at most */
		pthread_mutex_unlock(&cl.mu);
		usleep(100000);
		pthread_mutex_lock(&cl.mu);
	}
	int done = cl.done;
	pthread_mutex_unlock(&cl.mu);
	if (!done)
		fail_msg("quire_close waits for the caller's own transaction");
	pthread_join(th, NULL);
	assert_int_equal(cl.rc, QUIRE_EBUSY);
	QOK(quire_put(t, STR("after"), STR("close")));
	QOK(quire_commit(t));
	QOK(quire_close(db));
	QOK(quire_open(path, &o, &db));
	tu_expect(db, "after", "close");
	QOK(quire_close(db));
	pthread_mutex_destroy(&cl.mu);
	pthread_cond_destroy(&cl.cv);
	holdvfs_free(h);
	unlink(path);
}

/* --- leftovers ------------------------------------------------------------ */

struct opener {
	const char *path;
	qvfs *vfs;
	quire *db;
};

static void *open_thread(void *arg)
{
	struct opener *op = arg;
	op->db = open_via(op->path, op->vfs, 0, 0);
	return NULL;
}

/* An opener finds "<path>.compact" unlocked (a crashed compaction's), and
 * before it takes the lock the name comes to give another compaction's
 * file: that one must stay. */
static void test_leftover_identity(void **state)
{
	char path[4200], tpath[4300], moved[4300];
	tu_pathcat(path, sizeof path, tu_path("race-left"), "");
	tu_pathcat(tpath, sizeof tpath, path, ".compact");
	tu_pathcat(moved, sizeof moved, path, ".moved");
	quire *db = open_via(path, qvfs_unix(), QUIRE_CREATE, 0);
	tu_put1(db, "a", "1");
	QOK(quire_close(db));
	FILE *fp = fopen(tpath, "w");
	assert_non_null(fp);
	fclose(fp);

	struct holdvfs *ho = holdvfs_new(qvfs_unix());
	holdvfs_hold(ho, HV_LOCK);
	struct opener op = {.path = path, .vfs = holdvfs_vfs(ho)};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, open_thread, &op), 0);
	holdvfs_wait_held(ho, HV_LOCK); /* it opened the leftover */
	assert_int_equal(rename(tpath, moved), 0);
	qvfs *u = qvfs_unix();
	qvfs_file *nf; /* a new compaction's file, in use */
	assert_int_equal(u->open(u, tpath, QVFS_CREATE, 0644, &nf), 0);
	assert_int_equal(nf->ops->lock(nf, QVFS_LOCK_TRY), 0);
	holdvfs_release(ho, HV_LOCK);
	pthread_join(th, NULL);
	assert_int_equal(access(tpath, F_OK), 0);
	nf->ops->lock(nf, QVFS_UNLOCK);
	nf->ops->close(nf);
	QOK(quire_close(op.db));
	/* unlocked and named as found: removed by the next writable open */
	db = open_via(path, qvfs_unix(), 0, 0);
	assert_int_equal(access(tpath, F_OK), -1);
	QOK(quire_close(db));
	holdvfs_free(ho);
	unlink(moved);
	unlink(path);
}

/* Creating the compaction's file fails (the disk is full): it is gone. */
static void test_failed_target_removed(void **state)
{
	struct memvfs *m = memvfs_new(7);
	quire *db = open_via("db", memvfs_vfs(m), QUIRE_CREATE, 0);
	tu_put1(db, "a", "1");
	/* the first write of a compaction is the new file's superblock */
	memvfs_fault(m, MV_WRITE, 1, ENOSPC, 0, 0);
	assert_int_equal(quire_compact(db, NULL), QUIRE_ENOSPC);
	size_t size;
	assert_null(memvfs_data(m, "db.compact", &size));
	memvfs_clear_faults(m);
	QOK(quire_compact(db, NULL));
	tu_expect(db, "a", "1");
	QOK(quire_close(db));
	memvfs_free(m);
}

/* --- quire_wait ------------------------------------------------------------ */

static void test_wait_ignores_wall_clock(void **state)
{
	struct memvfs *m = memvfs_new(9);
	quire *db = open_via("db", memvfs_vfs(m), QUIRE_CREATE, 0);
	tu_put1(db, "a", "1");
	memvfs_clock(m, 1000, 0); /* the wall clock jumps back and stops */
	quire_txn *t;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	quire_stat st;
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	assert_int_equal(quire_wait(db, st.next_seq, 30), QUIRE_ETIMEDOUT);
	QOK(quire_close(db));
	memvfs_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_follows_compaction),
		cmocka_unit_test(test_timeout_across_switch),
		cmocka_unit_test(test_close_with_writer_and_auto_compaction),
		cmocka_unit_test(test_leftover_identity),
		cmocka_unit_test(test_failed_target_removed),
		cmocka_unit_test(test_wait_ignores_wall_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
