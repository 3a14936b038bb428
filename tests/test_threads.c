/*
 * test_threads.c - concurrency between threads and between processes.
 *
 * One writer thread commits continuously while four reader threads (two on
 * the writer's handle, two on a second, read-only one) check that every
 * snapshot is one whole commit: all values and the version key name the
 * same commit, the key count is what stat says, a cursor scan and gets
 * agree, and ids never go backwards. Then: threads sharing a handle that
 * begin snapshots together right after a commit all see it; a second
 * writer thread on the same handle waits for the first instead of failing;
 * a writer in another process gets QUIRE_EBUSY at once with
 * busy_timeout_ms = 0 and gets in once the holder commits with a timeout;
 * a read-only process sees commits made after it opened; and commits of a
 * child writer reach the parent's open handle.
 *
 * Threads never call cmocka: they record the first failure, which the main
 * thread reports. Children report through their exit status.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define STR(s) (s), strlen(s)

#define NKEYS 64
#define PUTS_PER_COMMIT 32
#define NCOMMITS 2000
#define NREADERS 4
#define VMAX 2048

static quire *open_db(const char *path, unsigned flags, int busy_ms)
{
	quire_options o;
	quire *db = NULL;
	quire_options_init(&o);
	o.flags = flags;
	o.busy_timeout_ms = busy_ms;
	QOK(quire_open(path, &o, &db));
	return db;
}

static void commit_kv(quire *db, const char *k, const char *v)
{
	quire_txn *t;
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, STR(k), STR(v)));
	QOK(quire_commit(t));
}

/* 0 if the value of k in t is the string v. */
static int has(quire_txn *t, const char *k, const char *v)
{
	quire_val got;
	int e = quire_get(t, STR(k), &got);
	if (e)
		return e;
	return got.size == strlen(v) && memcmp(got.data, v, got.size) == 0
		       ? 0
		       : 1;
}

static void expect(quire_txn *t, const char *k, const char *v)
{
	int e = has(t, k, v);
	if (e)
		fail_msg("%s: %d (%s), expected \"%s\"", k, e,
			 e < 0 ? quire_strerror(e) : "other value", v);
}

/* The value key k gets in commit c: it names both, and its length (some
 * are stored out of line) depends on both. */
static size_t make_value(char *buf, uint64_t c, unsigned k)
{
	int n = snprintf(buf, 64, "commit %" PRIu64 " key %u;", c, k);
	size_t len = (c + k) % 8 == 0 ? 1100 + (c * 31 + k) % 900
				       : 24 + (c * 7 + k) % 100;
	for (size_t i = (size_t)n; i < len; i++)
		buf[i] = (char)('a' + (c + k + i) % 26);
	return len;
}

static void key_name(char *buf, unsigned k)
{
	snprintf(buf, 16, "key%02u", k);
}

/* The k of a key named by key_name(), or -1. */
static int key_number(quire_val k)
{
	const char *d = k.data;
	if (k.size != 5 || memcmp(d, "key", 3) != 0 ||
	    !isdigit((unsigned char)d[3]) || !isdigit((unsigned char)d[4]))
		return -1;
	int n = (d[3] - '0') * 10 + (d[4] - '0');
	return n < NKEYS ? n : -1;
}

struct shared {
	const char *path;
	quire *db;          /* the writer's handle */
	atomic_int done;    /* the writer has finished */
	char err[512];      /* the writer's first failure */
};

struct reader {
	struct shared *s;
	quire *db;
	pthread_t th;
	uint64_t snapshots, ids, last_id; /* ids: distinct commits seen */
	char err[512];
};

/* Record a failure in buf and return -1 from the enclosing function. */
#define TFAIL(buf, ...)                                                      \
	do {                                                                 \
		snprintf(buf, sizeof buf, __VA_ARGS__);                      \
		return -1;                                                   \
	} while (0)

#define TOK(buf, x)                                                          \
	do {                                                                 \
		int tok_ = (x);                                              \
		if (tok_ != 0)                                               \
			TFAIL(buf, "%s = %d (%s: %s)", #x, tok_,             \
			      quire_strerror(tok_), quire_errmsg());         \
	} while (0)

static int write_all(struct shared *s)
{
	uint64_t rng = tu_seed(7);
	int present[NKEYS] = {0};
	char key[16], val[VMAX];
	for (uint64_t c = 1; c <= NCOMMITS; c++) {
		quire_txn *w;
		int put[NKEYS] = {0};
		TOK(s->err, quire_begin(s->db, 0, &w));
		if (quire_txn_id(w) != c)
			TFAIL(s->err, "write transaction %" PRIu64
				      " for commit %" PRIu64,
			      quire_txn_id(w), c);
		for (int n = 0; n < PUTS_PER_COMMIT;) {
			unsigned k = (unsigned)tu_below(&rng, NKEYS);
			if (put[k])
				continue;
			put[k] = 1;
			n++;
			key_name(key, k);
			size_t vl = make_value(val, c, k);
			TOK(s->err, quire_put(w, STR(key), val, vl));
		}
		/* a key not rewritten would hold an older commit's value */
		for (unsigned k = 0; k < NKEYS; k++) {
			if (present[k] && !put[k]) {
				key_name(key, k);
				TOK(s->err, quire_del(w, STR(key)));
			}
			present[k] = put[k];
		}
		snprintf(val, sizeof val, "%" PRIu64, c);
		TOK(s->err, quire_put(w, STR("version"), STR(val)));
		TOK(s->err, quire_commit(w));
	}
	return 0;
}

static void *writer_main(void *arg)
{
	write_all(arg);
	return NULL;
}

/* Scan snapshot id, which shows commit version: every key of that commit,
 * each with its value from that commit. seen[] and *count receive what the
 * scan found. */
static int scan(struct reader *r, quire_cursor *c, uint64_t id,
		uint64_t version, int *seen, uint64_t *count)
{
	quire_val k, v;
	char exp[VMAX];
	int e;
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c)) {
		++*count;
		TOK(r->err, quire_cursor_key(c, &k));
		if (k.size == 7 && memcmp(k.data, "version", 7) == 0)
			continue;
		int kn = key_number(k);
		if (kn < 0 || seen[kn])
			TFAIL(r->err, "unexpected key \"%.*s\"", (int)k.size,
			      (const char *)k.data);
		seen[kn] = 1;
		TOK(r->err, quire_cursor_value(c, &v));
		size_t el = make_value(exp, version, (unsigned)kn);
		if (v.size != el || memcmp(v.data, exp, el) != 0)
			TFAIL(r->err, "snapshot %" PRIu64 ": key%02d holds "
				      "\"%.*s\", not from that commit",
			      id, kn, (int)(v.size < 30 ? v.size : 30),
			      (const char *)v.data);
	}
	if (e != QUIRE_NOTFOUND)
		TFAIL(r->err, "scan: %d (%s)", e, quire_strerror(e));
	return 0;
}

/* One snapshot: the same commit everywhere in it. */
static int check_snapshot(struct reader *r, quire_txn *t)
{
	quire_cursor *c;
	quire_stat st;
	quire_val v;
	char exp[VMAX], name[16];
	int seen[NKEYS] = {0};
	uint64_t version = 0, count = 0;

	uint64_t id = quire_txn_id(t);
	if (id < r->last_id)
		TFAIL(r->err, "snapshot %" PRIu64 " after %" PRIu64, id,
		      r->last_id);
	r->ids += id != r->last_id || !r->snapshots;
	r->last_id = id;
	r->snapshots++;
	TOK(r->err, quire_txn_stat(t, &st));
	if (st.txn_id != id)
		TFAIL(r->err, "stat says commit %" PRIu64 " in snapshot %"
			      PRIu64, st.txn_id, id);
	int e = quire_get(t, STR("version"), &v);
	if (e == 0) {
		if (v.size >= sizeof exp)
			TFAIL(r->err, "version of %zu bytes", v.size);
		memcpy(exp, v.data, v.size);
		exp[v.size] = 0;
		version = strtoull(exp, NULL, 10);
	} else if (e != QUIRE_NOTFOUND || id != 0) {
		TFAIL(r->err, "get version in snapshot %" PRIu64 ": %d", id, e);
	}
	if (version != id)
		TFAIL(r->err, "version %" PRIu64 " in snapshot %" PRIu64,
		      version, id);

	TOK(r->err, quire_cursor_open(t, &c));
	e = scan(r, c, id, version, seen, &count);
	quire_cursor_close(c);
	if (e)
		return e;
	if (count != st.key_count)
		TFAIL(r->err, "snapshot %" PRIu64 ": scan found %" PRIu64
			      " keys, stat says %" PRIu64,
		      id, count, st.key_count);
	if (id && count != PUTS_PER_COMMIT + 1)
		TFAIL(r->err, "commit %" PRIu64 " has %" PRIu64 " keys", id,
		      count);
	for (unsigned kn = 0; kn < NKEYS; kn++) {
		key_name(name, kn);
		e = quire_get(t, STR(name), &v);
		if (e != (seen[kn] ? 0 : QUIRE_NOTFOUND))
			TFAIL(r->err, "snapshot %" PRIu64 ": get %s = %d, the "
				      "scan %s it",
			      id, name, e, seen[kn] ? "found" : "did not find");
		size_t el = make_value(exp, version, kn);
		if (!e && (v.size != el || memcmp(v.data, exp, el) != 0))
			TFAIL(r->err, "snapshot %" PRIu64 ": get %s differs "
				      "from the scan",
			      id, name);
	}
	return 0;
}

static int snapshot(struct reader *r)
{
	quire_txn *t;
	TOK(r->err, quire_begin(r->db, QUIRE_RDONLY, &t));
	int e = check_snapshot(r, t);
	quire_abort(t);
	return e;
}

static int read_all(struct reader *r)
{
	int e = 0;
	while (!e && !atomic_load(&r->s->done))
		e = snapshot(r);
	/* the writer has finished: a new snapshot shows its last commit */
	if (!e && (e = snapshot(r)) == 0 && r->last_id != NCOMMITS)
		snprintf(r->err, sizeof r->err,
			 "snapshot %" PRIu64 " after commit %d completed",
			 r->last_id, NCOMMITS);
	return e;
}

static void *reader_main(void *arg)
{
	read_all(arg);
	return NULL;
}

static void test_readers_see_whole_commits(void **state)
{
	struct shared s = {.path = tu_path("threads")};
	struct reader rd[NREADERS];
	pthread_t wt;
	s.db = open_db(s.path, QUIRE_CREATE | QUIRE_NOSYNC, 0);
	/* readers 1 and 3 learn of commits through the file */
	quire *other = open_db(s.path, QUIRE_RDONLY, 0);
	for (int i = 0; i < NREADERS; i++) {
		rd[i] = (struct reader){.s = &s, .db = i % 2 ? other : s.db};
		assert_int_equal(pthread_create(&rd[i].th, NULL, reader_main,
						&rd[i]),
				 0);
	}
	assert_int_equal(pthread_create(&wt, NULL, writer_main, &s), 0);
	assert_int_equal(pthread_join(wt, NULL), 0);
	atomic_store(&s.done, 1);
	uint64_t total = 0, ids = 0;
	for (int i = 0; i < NREADERS; i++) {
		assert_int_equal(pthread_join(rd[i].th, NULL), 0);
		total += rd[i].snapshots;
		ids += rd[i].ids;
	}
	print_message("# %d commits; %" PRIu64 " snapshots checked, showing %"
		      PRIu64 " distinct commits (summed over the readers)\n",
		      NCOMMITS, total, ids);
	/* thousands of snapshots, hundreds of commits today */
	assert_true(total >= 100 && ids >= 2 * NREADERS);

	uint64_t problems = 1;
	quire_txn *t;
	QOK(quire_begin(s.db, QUIRE_RDONLY, &t));
	QOK(quire_check(t, NULL, NULL, &problems));
	QOK(quire_commit(t));
	QOK(quire_close(other));
	QOK(quire_close(s.db));
	unlink(s.path);
	if (s.err[0])
		fail_msg("writer: %s", s.err);
	for (int i = 0; i < NREADERS; i++)
		if (rd[i].err[0])
			fail_msg("reader %d (%s handle): %s", i,
				 i % 2 ? "other" : "writer's", rd[i].err);
	assert_int_equal(problems, 0);
}

#define NROUNDS 5000
#define NFRESH 8

struct fresh {
	quire *db;
	pthread_barrier_t *go, *done;
	const uint64_t *expected;
	uint64_t stale, stale_id;
	char err[512];
};

static void *fresh_reader(void *arg)
{
	struct fresh *f = arg;
	for (int i = 0; i < NROUNDS; i++) {
		quire_txn *t;
		pthread_barrier_wait(f->go);
		int e = quire_begin(f->db, QUIRE_RDONLY, &t);
		if (e && !f->err[0])
			snprintf(f->err, sizeof f->err, "quire_begin: %s",
				 quire_strerror(e));
		if (!e && quire_txn_id(t) != *f->expected) {
			f->stale++;
			f->stale_id = quire_txn_id(t);
		}
		if (!e)
			quire_abort(t);
		pthread_barrier_wait(f->done);
	}
	return NULL;
}

/* Threads sharing a second handle begin snapshots together right after
 * each commit (the barrier orders them after it): each must show that
 * commit, not the one before, even while the other thread is the one
 * loading the new header. */
static void test_snapshot_after_commit_sees_it(void **state)
{
	const char *path = tu_path("fresh");
	quire *db = open_db(path, QUIRE_CREATE | QUIRE_NOSYNC, 0);
	quire *other = open_db(path, QUIRE_RDONLY, 0);
	pthread_barrier_t go, done;
	pthread_t th[NFRESH];
	uint64_t expected = 0, stale = 0, stale_id = 0;
	struct fresh f[NFRESH];
	assert_int_equal(pthread_barrier_init(&go, NULL, NFRESH + 1), 0);
	assert_int_equal(pthread_barrier_init(&done, NULL, NFRESH + 1), 0);
	for (int i = 0; i < NFRESH; i++) {
		f[i] = (struct fresh){.db = other,
				      .go = &go,
				      .done = &done,
				      .expected = &expected};
		assert_int_equal(pthread_create(&th[i], NULL, fresh_reader,
						&f[i]),
				 0);
	}
	for (int i = 0; i < NROUNDS; i++) {
		quire_txn *w;
		QOK(quire_begin(db, 0, &w));
		QOK(quire_put(w, STR("k"), &i, sizeof i));
		QOK(quire_commit(w));
		expected = (uint64_t)i + 1;
		pthread_barrier_wait(&go);
		pthread_barrier_wait(&done);
	}
	for (int i = 0; i < NFRESH; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (f[i].err[0])
			fail_msg("reader %d: %s", i, f[i].err);
		stale += f[i].stale;
		if (f[i].stale)
			stale_id = f[i].stale_id;
	}
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&done);
	QOK(quire_close(other));
	QOK(quire_close(db));
	unlink(path);
	if (stale)
		fail_msg("%llu of %d snapshots begun after a commit showed "
			 "an older one (e.g. %llu)",
			 (unsigned long long)stale, NFRESH * NROUNDS,
			 (unsigned long long)stale_id);
}

struct second {
	quire *db;
	int ready_fd;       /* written just before quire_begin */
	atomic_int begun;   /* quire_begin has returned */
	int rc;
	uint64_t id;
	int saw_first;      /* the first writer's commit was visible */
};

static void *second_writer(void *arg)
{
	struct second *s = arg;
	quire_txn *w;
	if (write(s->ready_fd, "r", 1) != 1)
		return NULL;
	s->rc = quire_begin(s->db, 0, &w);
	atomic_store(&s->begun, 1);
	if (s->rc)
		return NULL;
	s->id = quire_txn_id(w);
	s->saw_first = has(w, "a", "1") == 0;
	if ((s->rc = quire_put(w, STR("b"), STR("2"))) == 0)
		s->rc = quire_commit(w);
	else
		quire_abort(w);
	return NULL;
}

/* A second writer of this process waits its turn, even with
 * busy_timeout_ms = 0 (which only concerns other processes): on the same
 * handle, or on another handle of the same file. */
static void second_writer_waits(int other_handle)
{
	char path[4096];
	snprintf(path, sizeof path, "%s", tu_path("second"));
	quire *db = open_db(path, QUIRE_CREATE | QUIRE_NOSYNC, 0);
	quire *db2 = other_handle ? open_db(path, QUIRE_NOSYNC, 0) : db;
	struct second s = {.db = db2};
	int fds[2];
	char b;
	pthread_t th;
	quire_txn *w;
	commit_kv(db, "a", "0");
	QOK(quire_begin(db, 0, &w));
	QOK(quire_put(w, STR("a"), STR("1")));

	assert_int_equal(pipe(fds), 0);
	s.ready_fd = fds[1];
	assert_int_equal(pthread_create(&th, NULL, second_writer, &s), 0);
	assert_int_equal(read(fds[0], &b, 1), 1);
	/* not synchronisation: a chance for a wrong early return to show */
	nanosleep(&(struct timespec){0, 50000000}, NULL);
	assert_int_equal(atomic_load(&s.begun), 0);
	QOK(quire_commit(w));
	assert_int_equal(pthread_join(th, NULL), 0);

	/* it began after the commit, so it saw it and took the next id */
	QOK(s.rc);
	assert_true(s.saw_first);
	assert_int_equal(s.id, 3);
	QOK(quire_begin(db, QUIRE_RDONLY, &w));
	assert_int_equal(quire_txn_id(w), 3);
	expect(w, "a", "1");
	expect(w, "b", "2");
	QOK(quire_commit(w));
	if (other_handle)
		QOK(quire_close(db2));
	QOK(quire_close(db));
	close(fds[0]);
	close(fds[1]);
	unlink(path);
}

static void test_second_writer_waits(void **state)
{
	(void)state;
	second_writer_waits(0);
}

static void test_second_handle_writer_waits(void **state)
{
	(void)state;
	second_writer_waits(1);
}

/* A thread that holds the write transaction and asks for another (or for
 * quire_sync/quire_checkpoint, which take the writer lock) would wait for
 * itself forever: it gets QUIRE_EBUSY, on either handle of the file. */
static void test_writer_waiting_for_itself(void **state)
{
	(void)state;
	char path[4096];
	snprintf(path, sizeof path, "%s", tu_path("self"));
	quire *db = open_db(path, QUIRE_CREATE | QUIRE_NOSYNC, 0);
	quire *db2 = open_db(path, QUIRE_NOSYNC, 0);
	quire_txn *w, *w2;
	QOK(quire_begin(db, 0, &w));
	QOK(quire_put(w, STR("a"), STR("1")));
	assert_int_equal(quire_begin(db, 0, &w2), QUIRE_EBUSY);
	assert_int_equal(quire_begin(db2, 0, &w2), QUIRE_EBUSY);
	assert_int_equal(quire_sync(db), QUIRE_EBUSY);
	assert_int_equal(quire_checkpoint(db), QUIRE_EBUSY);
	QOK(quire_commit(w)); /* the refusals changed nothing */
	QOK(quire_begin(db2, 0, &w2));
	expect(w2, "a", "1");
	QOK(quire_commit(w2));
	QOK(quire_sync(db));
	QOK(quire_close(db2));
	QOK(quire_close(db));
	unlink(path);
}

/* Run child(path, in, out) in a new process. down and up (each may be
 * NULL) are pipes to and from it; each side closes the ends it does not
 * use, so that a reader sees end-of-file when the other side is gone. */
static pid_t spawn(int (*child)(const char *, int, int), const char *path,
		   int *down, int *up)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (down)
			close(down[1]);
		if (up)
			close(up[0]);
		_exit(child(path, down ? down[0] : -1, up ? up[1] : -1));
	}
	if (down)
		close(down[0]);
	if (up)
		close(up[1]);
	return pid;
}

static void reap(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child %s %d (the number of the step that failed)",
			 WIFEXITED(status) ? "exited with" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status)
					   : WTERMSIG(status));
}

/* Wait for the child's byte on fd; if it ended instead, report how. */
static void await(int fd, pid_t pid)
{
	char b;
	if (read(fd, &b, 1) != 1) {
		reap(pid);
		fail_msg("child ended without answering");
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Child of test_writer_in_other_process. Exit status: 0, or the step that
 * failed. */
static int busy_child(const char *path, int in, int out)
{
	quire_options o;
	quire *db;
	quire_txn *w;
	quire_options_init(&o);
	if (quire_open(path, &o, &db))
		return 1;
	double t0 = now_s();
	if (quire_begin(db, 0, &w) != QUIRE_EBUSY)
		return 2;
	if (now_s() - t0 > 1.0) /* "at once" */
		return 3;
	if (quire_close(db))
		return 4;
	o.busy_timeout_ms = 5000;
	if (quire_open(path, &o, &db))
		return 5;
	if (write(out, "w", 1) != 1)
		return 6;
	if (quire_begin(db, 0, &w))
		return 7;
	/* it got the lock after the parent's commit, and builds on it */
	if (quire_txn_id(w) != 3 || has(w, "p", "parent"))
		return 8;
	if (quire_put(w, STR("c"), STR("child")) || quire_commit(w))
		return 9;
	return quire_close(db) ? 10 : 0;
}

static void test_writer_in_other_process(void **state)
{
	const char *path = tu_path("busy");
	quire *db = open_db(path, QUIRE_CREATE, 0);
	quire_txn *w;
	int up[2];
	commit_kv(db, "base", "0");
	QOK(quire_begin(db, 0, &w));
	QOK(quire_put(w, STR("p"), STR("parent")));

	assert_int_equal(pipe(up), 0);
	pid_t pid = spawn(busy_child, path, NULL, up);
	/* the child has seen EBUSY and is about to wait for the lock */
	await(up[0], pid);
	/* not synchronisation: lets the child be waiting when we commit */
	nanosleep(&(struct timespec){0, 100000000}, NULL);
	QOK(quire_commit(w));
	reap(pid);

	QOK(quire_begin(db, QUIRE_RDONLY, &w));
	assert_int_equal(quire_txn_id(w), 3);
	expect(w, "p", "parent");
	expect(w, "c", "child");
	QOK(quire_commit(w));
	QOK(quire_close(db));
	close(up[0]);
	unlink(path);
}

#define NSTEPS 20

/* Child of test_reader_in_other_process: for each commit number the parent
 * sends, a new snapshot must show exactly that commit, while the snapshot
 * taken at open keeps showing commit 1. */
static int reader_child(const char *path, int in, int out)
{
	quire_options o;
	quire *db;
	quire_txn *first, *t;
	quire_stat st;
	char k[16], v[16];
	uint32_t j;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	if (quire_open(path, &o, &db) || quire_begin(db, QUIRE_RDONLY, &first))
		return 1;
	if (quire_txn_id(first) != 1 || has(first, "n", "1"))
		return 2;
	if (write(out, "r", 1) != 1)
		return 3;
	while (read(in, &j, sizeof j) == sizeof j && j) {
		snprintf(v, sizeof v, "%u", j);
		if (quire_begin(db, QUIRE_RDONLY, &t))
			return 4;
		if (quire_txn_id(t) != j || has(t, "n", v))
			return 5;
		if (quire_txn_stat(t, &st) || st.key_count != j)
			return 6;
		snprintf(k, sizeof k, "k%u", j - 1);
		snprintf(v, sizeof v, "%u", j - 1);
		if (has(t, k, v))
			return 7;
		snprintf(k, sizeof k, "k%u", j);
		if (has(t, k, "") != QUIRE_NOTFOUND)
			return 8;
		quire_abort(t);
		if (quire_txn_id(first) != 1 || has(first, "n", "1") ||
		    has(first, "k1", "1") != QUIRE_NOTFOUND)
			return 9;
		if (write(out, "a", 1) != 1)
			return 10;
	}
	quire_abort(first);
	return quire_close(db) ? 11 : 0;
}

static void test_reader_in_other_process(void **state)
{
	const char *path = tu_path("roproc");
	quire *db = open_db(path, QUIRE_CREATE, 0);
	int down[2], up[2];
	char key[32], val[16];
	commit_kv(db, "n", "1");
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	pid_t pid = spawn(reader_child, path, down, up);
	await(up[0], pid); /* it has opened the database */

	for (uint32_t j = 2; j <= NSTEPS; j++) {
		quire_txn *w;
		/* commit j holds n = j and keys k1 .. k(j-1) = "<i>" */
		snprintf(val, sizeof val, "%u", j);
		snprintf(key, sizeof key, "k%u", j - 1);
		QOK(quire_begin(db, 0, &w));
		QOK(quire_put(w, STR("n"), STR(val)));
		snprintf(val, sizeof val, "%u", j - 1);
		QOK(quire_put(w, STR(key), STR(val)));
		QOK(quire_commit(w));
		assert_int_equal(write(down[1], &j, sizeof j), sizeof j);
		await(up[0], pid);
	}
	uint32_t end = 0;
	assert_int_equal(write(down[1], &end, sizeof end), sizeof end);
	reap(pid);
	QOK(quire_close(db));
	close(down[1]);
	close(up[0]);
	unlink(path);
}

/* Child of test_parent_sees_child_commits: ten commits. */
static int writer_child(const char *path, int in, int out)
{
	quire *db;
	char key[32], val[16];
	if (quire_open(path, NULL, &db))
		return 1;
	for (int j = 1; j <= 10; j++) {
		quire_txn *w;
		snprintf(key, sizeof key, "child%d", j);
		snprintf(val, sizeof val, "%d", j);
		if (quire_begin(db, 0, &w) ||
		    quire_txn_id(w) != (uint64_t)j + 1)
			return 2;
		if (quire_put(w, STR(key), STR(val)) ||
		    quire_put(w, STR("x"), STR(val)) || quire_commit(w))
			return 3;
	}
	return quire_close(db) ? 4 : 0;
}

static void test_parent_sees_child_commits(void **state)
{
	const char *path = tu_path("childw");
	quire *db = open_db(path, QUIRE_CREATE, 0);
	quire_txn *old, *t;
	uint64_t problems = 1;
	char key[32], val[16];
	commit_kv(db, "x", "0");
	QOK(quire_begin(db, QUIRE_RDONLY, &old));
	reap(spawn(writer_child, path, NULL, NULL));

	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), 11);
	expect(t, "x", "10");
	for (int j = 1; j <= 10; j++) {
		snprintf(key, sizeof key, "child%d", j);
		snprintf(val, sizeof val, "%d", j);
		expect(t, key, val);
	}
	QOK(quire_commit(t));
	/* the snapshot from before keeps its commit */
	assert_int_equal(quire_txn_id(old), 1);
	expect(old, "x", "0");
	assert_int_equal(has(old, "child1", "1"), QUIRE_NOTFOUND);
	QOK(quire_commit(old));

	/* and our next write builds on the child's last commit */
	QOK(quire_begin(db, 0, &t));
	assert_int_equal(quire_txn_id(t), 12);
	expect(t, "child10", "10");
	QOK(quire_put(t, STR("x"), STR("parent")));
	QOK(quire_commit(t));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	expect(t, "x", "parent");
	expect(t, "child5", "5");
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_commit(t));
	QOK(quire_close(db));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers_see_whole_commits),
		cmocka_unit_test(test_snapshot_after_commit_sees_it),
		cmocka_unit_test(test_second_writer_waits),
		cmocka_unit_test(test_second_handle_writer_waits),
		cmocka_unit_test(test_writer_waiting_for_itself),
		cmocka_unit_test(test_writer_in_other_process),
		cmocka_unit_test(test_reader_in_other_process),
		cmocka_unit_test(test_parent_sees_child_commits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
