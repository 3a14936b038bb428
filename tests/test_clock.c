/*
 * test_clock.c - every wait of the library runs on the VFS's clock, so
 * that over memvfs a timeout passes in virtual time and a test proves it
 * without sleeping (tests never assert on real time):
 *
 *  - quire_wait: a timeout returns QUIRE_ETIMEDOUT once the clock moved
 *    by it (a minute costs nothing real), an operation already there
 *    returns at once without a nap, a commit of another process ends the
 *    wait at the next poll, one of another thread of the handle wakes it,
 *    and a VFS without cond_wait naps in sleep_ns instead;
 *  - the writer lock: a writer of another process gives up with
 *    QUIRE_EBUSY after busy_timeout_ms of the clock, polling with naps
 *    that grow to a bound (the last one cut to the deadline), and gets the
 *    lock when the holder commits meanwhile;
 *  - compaction: its last round waits for another process's writer in
 *    naps of the clock while it goes on copying; its held rounds turn
 *    writers of other processes away after their busy_timeout_ms and end
 *    once their slice of the clock has passed;
 *  - the POSIX VFS's nap waits on the monotonic clock pub_cv is made for.
 *
 * Handles opened through two holdvfs instances stand for two processes;
 * code of the test runs inside the library's naps through their hooks.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "holdvfs.h"
#include "internal.h"
#include "lock.h"
#include "memvfs.h"
#include "testutil.h"

#define STR(s) (s), strlen(s)
#define MS 1000000ull
/* quire_wait's nap when other processes' commits are polled for: in the
 * first second of a wait, and after it */
#define POLL_NS (1 * MS)
#define IDLE_POLL_NS (5 * MS)

static quire *open_via(qvfs *vfs, unsigned flags, int busy_ms)
{
	quire_options o;
	quire *db = NULL;
	quire_options_init(&o);
	o.flags = flags;
	o.busy_timeout_ms = busy_ms;
	o.auto_compact_ratio = 0; /* no background thread unless asked */
	QOK(qdb_open_vfs("db", &o, vfs, &db));
	return db;
}

/* The sequence number the next operation gets. */
static uint64_t next_seq(quire *db)
{
	quire_txn *t;
	quire_stat st;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	return st.next_seq;
}

static uint64_t mono(struct memvfs *m)
{
	qvfs *v = memvfs_vfs(m);
	return v->mono_ns(v);
}

/* ---- quire_wait ---------------------------------------------------------- */

static void test_wait_timeout(void **state)
{
	struct memvfs *m = memvfs_new(1);
	quire *db = open_via(memvfs_vfs(m), QUIRE_CREATE, 0);
	tu_put1(db, "a", "1");
	uint64_t seq = next_seq(db), t0 = mono(m);
	/* a minute: the test would take one if the naps were real */
	assert_int_equal(quire_wait(db, seq, 60 * 1000), QUIRE_ETIMEDOUT);
	uint64_t waited = mono(m) - t0;
	if (waited < 60 * 1000 * MS || waited > 60 * 1000 * MS + IDLE_POLL_NS)
		fail_msg("timed out after %llu ns of the clock",
			 (unsigned long long)waited);
	/* 0: one look, no nap */
	t0 = mono(m);
	assert_int_equal(quire_wait(db, seq, 0), QUIRE_ETIMEDOUT);
	assert_int_equal(mono(m), t0);
	QOK(quire_close(db));
	memvfs_free(m);
}

/* An operation already committed, by this handle or by another process
 * since this one last looked: at once, even without a timeout. */
static void test_wait_ready(void **state)
{
	struct memvfs *m = memvfs_new(2);
	struct holdvfs *ha = holdvfs_new(memvfs_vfs(m)),
		       *hb = holdvfs_new(memvfs_vfs(m));
	quire *a = open_via(holdvfs_vfs(ha), QUIRE_CREATE, 0);
	quire *b = open_via(holdvfs_vfs(hb), 0, 0);
	tu_put1(a, "a", "1");
	uint64_t seq = next_seq(a) - 1, t0 = mono(m);
	QOK(quire_wait(a, seq, -1));
	tu_put1(b, "b", "2");
	QOK(quire_wait(a, seq + 1, -1));
	assert_int_equal(mono(m), t0);
	tu_expect(a, "b", "2");
	QOK(quire_close(a));
	QOK(quire_close(b));
	holdvfs_free(ha);
	holdvfs_free(hb);
	memvfs_free(m);
}

struct committer {
	quire *db;   /* another process's handle */
	int naps, at; /* naps seen; the one to commit in */
};

static void commit_in_nap(void *ctx, int kind, int result)
{
	struct committer *c = ctx;
	if (++c->naps == c->at)
		tu_put1(c->db, "b", "2");
}

/* Another process commits during the third nap: the waiter sees it when
 * it polls after that nap, long before its timeout. */
static void test_wait_other_process(void **state)
{
	struct memvfs *m = memvfs_new(3);
	struct holdvfs *ha = holdvfs_new(memvfs_vfs(m)),
		       *hb = holdvfs_new(memvfs_vfs(m));
	quire *a = open_via(holdvfs_vfs(ha), QUIRE_CREATE, 0);
	quire *b = open_via(holdvfs_vfs(hb), 0, 0);
	tu_put1(a, "a", "1");
	struct committer c = {.db = b, .at = 3};
	holdvfs_hook(ha, HV_WAIT, commit_in_nap, &c);
	uint64_t seq = next_seq(a), t0 = mono(m);
	QOK(quire_wait(a, seq, 60 * 1000));
	holdvfs_hook(ha, 0, NULL, NULL);
	assert_int_equal(c.naps, 3);
	assert_int_equal(mono(m) - t0, 3 * POLL_NS);
	tu_expect(a, "b", "2");
	QOK(quire_close(a));
	QOK(quire_close(b));
	holdvfs_free(ha);
	holdvfs_free(hb);
	memvfs_free(m);
}

/* A VFS without cond_wait: quire_wait naps in sleep_ns, with the same
 * clock and the same polls (another process's commit is seen after the
 * nap it came in). */
static void test_wait_by_sleeping(void **state)
{
	struct memvfs *m = memvfs_new(8);
	struct holdvfs *ha = holdvfs_new(memvfs_vfs(m)),
		       *hb = holdvfs_new(memvfs_vfs(m));
	holdvfs_vfs(ha)->cond_wait = NULL;
	quire *a = open_via(holdvfs_vfs(ha), QUIRE_CREATE, 0);
	quire *b = open_via(holdvfs_vfs(hb), 0, 0);
	tu_put1(a, "a", "1");
	uint64_t seq = next_seq(a), t0 = mono(m);
	/* polled often for a second, then less: 1000 naps, then 200 */
	struct committer idle = {.db = b, .at = -1};
	holdvfs_hook(ha, HV_SLEEP, commit_in_nap, &idle);
	assert_int_equal(quire_wait(a, seq, 2000), QUIRE_ETIMEDOUT);
	holdvfs_hook(ha, 0, NULL, NULL);
	assert_int_equal(idle.naps, 1000 * MS / POLL_NS + 1000 * MS / IDLE_POLL_NS);
	assert_int_equal(mono(m) - t0, 2000 * MS);
	assert_int_equal(holdvfs_slept(ha), 2000 * MS);
	struct committer c = {.db = b, .at = 2};
	holdvfs_hook(ha, HV_SLEEP, commit_in_nap, &c);
	QOK(quire_wait(a, seq, 1000));
	holdvfs_hook(ha, 0, NULL, NULL);
	assert_int_equal(c.naps, 2);
	assert_int_equal(holdvfs_slept(ha), 2000 * MS + 2 * POLL_NS);
	QOK(quire_close(a));
	QOK(quire_close(b));
	holdvfs_free(ha);
	holdvfs_free(hb);
	memvfs_free(m);
}

struct waiter {
	quire *db;
	uint64_t seq;
	int rc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int naps;
};

static void count_nap(void *ctx, int kind, int result)
{
	struct waiter *w = ctx;
	pthread_mutex_lock(&w->mu);
	w->naps++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->rc = quire_wait(w->db, w->seq, 3600 * 1000);
	return NULL;
}

/* A commit of another thread of the handle ends the wait (pub_cv). The
 * naps wait for real here, for that thread; they still count in full on
 * the clock, which must stay short of the hour. */
static void test_wait_thread(void **state)
{
	struct memvfs *m = memvfs_new(4);
	struct holdvfs *h = holdvfs_new(memvfs_vfs(m));
	memvfs_wait_real(m, UINT64_MAX);
	/* threads share memvfs: no mapping read while it is written */
	quire *db = open_via(holdvfs_vfs(h), QUIRE_CREATE | QUIRE_NOMMAP, 0);
	tu_put1(db, "a", "1");
	struct waiter w = {.db = db, .seq = next_seq(db)};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	holdvfs_hook(h, HV_WAIT, count_nap, &w);
	uint64_t t0 = mono(m);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
	pthread_mutex_lock(&w.mu);
	while (!w.naps) /* it waits: the commit comes during the wait */
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	tu_put1(db, "b", "2");
	pthread_join(th, NULL);
	QOK(w.rc);
	assert_true(mono(m) - t0 < 3600 * 1000 * MS);
	holdvfs_hook(h, 0, NULL, NULL);
	QOK(quire_close(db));
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	holdvfs_free(h);
	memvfs_free(m);
}

/* ---- the writer lock ----------------------------------------------------- */

struct naps {
	struct holdvfs *h;
	uint64_t last, ns[4096];
	int n;
	quire_txn *holder; /* committed in nap number commit_at */
	int commit_at;
};

static void record_nap(void *ctx, int kind, int result)
{
	struct naps *s = ctx;
	uint64_t slept = holdvfs_slept(s->h);
	assert_true(s->n < 4096);
	s->ns[s->n++] = slept - s->last;
	s->last = slept;
	if (s->n == s->commit_at)
		QOK(quire_commit(s->holder));
}

static void test_busy_timeout(void **state)
{
	const int busy_ms = 50;
	struct memvfs *m = memvfs_new(5);
	struct holdvfs *ha = holdvfs_new(memvfs_vfs(m)),
		       *hb = holdvfs_new(memvfs_vfs(m));
	quire *a = open_via(holdvfs_vfs(ha), QUIRE_CREATE, 0);
	quire *b = open_via(holdvfs_vfs(hb), 0, busy_ms);
	quire_txn *ta, *tb;
	QOK(quire_begin(a, 0, &ta));
	QOK(quire_put(ta, STR("a"), STR("1")));

	/* A holds it throughout: B gives up at its deadline */
	struct naps s = {.h = hb};
	holdvfs_hook(hb, HV_SLEEP, record_nap, &s);
	uint64_t t0 = mono(m);
	assert_int_equal(quire_begin(b, 0, &tb), QUIRE_EBUSY);
	uint64_t waited = mono(m) - t0;
	if (waited < busy_ms * MS || waited > busy_ms * MS + QUEUE_NAP_NS)
		fail_msg("gave up after %llu ns of the clock",
			 (unsigned long long)waited);
	assert_int_equal(holdvfs_slept(hb), waited);
	/* back-off: naps that grow to a bound, the last one cut short */
	assert_true(s.n > 2);
	for (int i = 1; i < s.n - 1; i++)
		if (s.ns[i] < s.ns[i - 1] || s.ns[i] > QUEUE_NAP_NS)
			fail_msg("nap %d of %d: %llu ns after %llu ns", i, s.n,
				 (unsigned long long)s.ns[i],
				 (unsigned long long)s.ns[i - 1]);
	assert_true(s.ns[s.n - 1] <= s.ns[s.n - 2]);
	assert_true(s.ns[s.n - 2] > s.ns[0]);

	/* A commits during B's fifth nap: B gets the lock then */
	s = (struct naps){.h = hb, .last = holdvfs_slept(hb), .holder = ta,
			  .commit_at = 5};
	t0 = mono(m);
	QOK(quire_begin(b, 0, &tb));
	assert_int_equal(s.n, 5);
	assert_true(mono(m) - t0 < busy_ms * MS);
	holdvfs_hook(hb, 0, NULL, NULL);
	QOK(quire_put(tb, STR("b"), STR("2")));
	QOK(quire_commit(tb));
	tu_expect(a, "a", "1");
	tu_expect(a, "b", "2");
	QOK(quire_close(a));
	QOK(quire_close(b));
	holdvfs_free(ha);
	holdvfs_free(hb);
	memvfs_free(m);
}

/* ---- compaction ---------------------------------------------------------- */

struct finisher {
	struct holdvfs *h;
	quire_txn *writer; /* another process's, committed after min_ns */
	uint64_t min_ns;
};

static void commit_after(void *ctx, int kind, int result)
{
	struct finisher *f = ctx;
	if (f->writer && holdvfs_slept(f->h) >= f->min_ns) {
		QOK(quire_commit(f->writer));
		f->writer = NULL;
	}
}

/* The last round needs the writer lock, which another process's write
 * transaction holds: compaction copies on in naps of 1 ms until it
 * commits (20 ms of the clock, no real time), then takes that commit
 * along. */
static void test_compact_waits_for_writer(void **state)
{
	struct memvfs *m = memvfs_new(6);
	struct holdvfs *ha = holdvfs_new(memvfs_vfs(m)),
		       *hb = holdvfs_new(memvfs_vfs(m));
	quire *a = open_via(holdvfs_vfs(ha), QUIRE_CREATE, 0);
	quire *b = open_via(holdvfs_vfs(hb), 0, 0);
	char k[16];
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof k, "k%02d", i);
		tu_put1(a, k, "old");
		tu_put1(a, k, "v");
	}
	quire_txn *tb;
	QOK(quire_begin(b, 0, &tb));
	QOK(quire_put(tb, STR("b"), STR("2")));
	struct finisher f = {.h = ha, .writer = tb, .min_ns = 20 * MS};
	holdvfs_hook(ha, HV_SLEEP, commit_after, &f);
	uint64_t t0 = mono(m);
	QOK(quire_compact(a, NULL));
	holdvfs_hook(ha, 0, NULL, NULL);
	assert_null(f.writer);
	assert_true(holdvfs_slept(ha) >= 20 * MS);
	assert_true(mono(m) - t0 >= 20 * MS);
	size_t size;
	assert_null(memvfs_data(m, "db.compact", &size)); /* renamed */
	tu_expect(a, "b", "2");
	tu_expect(a, "k19", "v");
	tu_put1(b, "c", "3"); /* B follows to the new file */
	tu_expect(a, "c", "3");
	QOK(quire_close(a));
	QOK(quire_close(b));
	holdvfs_free(ha);
	holdvfs_free(hb);
	memvfs_free(m);
}

struct chaser {
	struct memvfs *m;
	quire *db; /* the other process's handle */
	int commits, refused, limit;
	int streak, streak_over; /* refusals before it got in again */
};

static void chase(void *ctx, int kind, int result)
{
	struct chaser *c = ctx;
	quire_txn *t;
	char k[16];
	if (c->commits + c->refused >= c->limit)
		return;
	for (int i = 0, n = c->commits ? 1 : 20; i < n; i++) {
		uint64_t t0 = mono(c->m);
		int e = quire_begin(c->db, 0, &t);
		if (e == QUIRE_EBUSY) {
			assert_true(mono(c->m) - t0 >= 30 * MS);
			c->refused++;
			c->streak += !c->streak_over;
			break;
		}
		QOK(e);
		c->streak_over = c->streak > 0;
		snprintf(k, sizeof k, "c%04d", c->commits++);
		QOK(quire_put(t, STR(k), STR("v")));
		QOK(quire_commit(t));
	}
}

/* Another process commits during every write of the compaction (20 at its
 * first), so the rounds never get short: after the free rounds each round
 * holds the writer locks for a slice (20 ms). A commit tried then waits
 * its busy_timeout_ms (30 ms) on the clock and is refused, which ends the
 * slice: the writer gets in between rounds again. Whatever was committed
 * is in the compacted file. */
static void test_compact_slices(void **state)
{
	struct memvfs *m = memvfs_new(7);
	struct holdvfs *ha = holdvfs_new(memvfs_vfs(m)),
		       *hb = holdvfs_new(memvfs_vfs(m));
	quire *a = open_via(holdvfs_vfs(ha), QUIRE_CREATE, 0);
	quire *b = open_via(holdvfs_vfs(hb), 0, 30);
	tu_put1(a, "a", "1");
	struct chaser c = {.m = m, .db = b, .limit = 400};
	holdvfs_hook(ha, HV_WRITE, chase, &c);
	QOK(quire_compact(a, NULL));
	holdvfs_hook(ha, 0, NULL, NULL);
	if (!c.refused || c.commits < 3 * 20)
		fail_msg("%d commits, %d refused: no held round", c.commits,
			 c.refused);
	/* the refusal's wait used the slice up: the round ended after the
	 * commit it was copying (a few writes), and the writer got in */
	if (!c.streak_over || c.streak > 4)
		fail_msg("refused %d times before it got in again (%s)",
			 c.streak, c.streak_over ? "it did" : "it never did");
	char k[16];
	for (int i = 0; i < c.commits; i++) {
		snprintf(k, sizeof k, "c%04d", i);
		tu_expect(a, k, "v");
	}
	tu_put1(b, "after", "1");
	tu_expect(a, "after", "1");
	QOK(quire_close(a));
	QOK(quire_close(b));
	holdvfs_free(ha);
	holdvfs_free(hb);
	memvfs_free(m);
}

/* ---- the POSIX VFS ------------------------------------------------------- */

/* Its nap is a timed wait with a CLOCK_MONOTONIC deadline, the clock
 * pub_cv is made with: a deadline on another clock would make it end at
 * once (or decades late). A lower bound only, as for sleep_ns. */
static void test_unix_nap(void **state)
{
	qvfs *u = qvfs_unix();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t ca;
	pthread_cond_t cv;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&mu);
	uint64_t t0 = u->mono_ns(u);
	u->cond_wait(u, &cv, &mu, 2 * MS); /* nobody signals cv */
	assert_true(u->mono_ns(u) - t0 >= 2 * MS);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_timeout),
		cmocka_unit_test(test_wait_ready),
		cmocka_unit_test(test_wait_other_process),
		cmocka_unit_test(test_wait_by_sleeping),
		cmocka_unit_test(test_wait_thread),
		cmocka_unit_test(test_busy_timeout),
		cmocka_unit_test(test_compact_waits_for_writer),
		cmocka_unit_test(test_compact_slices),
		cmocka_unit_test(test_unix_nap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
