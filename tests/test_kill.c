/*
 * test_kill.c - SIGKILL a committing process at random moments.
 *
 * What it proves: a process kill (the page cache survives, the machine
 * does not reboot) never loses an acknowledged commit, with or without
 * QUIRE_NOSYNC (the live slot is written after the commit, HACKING
 * invariant 4), and never leaves a file that fails to open, fails
 * quire_check or refuses further commits.
 *
 * How: a forked child opens a real file under $QUIRE_TEST_DIR and commits
 * as fast as it can: a few puts and deletes per commit over a small key
 * set, values in line, out of line (> 1 KiB) and now and then up to 1 MiB,
 * checkpoints every 1..64 operations, one child in three in QUIRE_NOSYNC
 * mode. Every operation comes from a deterministic generator (struct gen)
 * that the child inherits from the parent through fork(), so the parent
 * can recompute the state after every commit; the child only reports
 * "commit c acknowledged as txn t" over a pipe. The parent kills it at a
 * random moment (at once, after a random delay, or while it writes a large
 * value), reopens the file and requires: the open succeeds, quire_check
 * finds nothing, the newest txn is the last acknowledged one or the one
 * after it (the child may have committed once more without reporting it),
 * and the content is exactly the state of that commit. Ten more commits
 * and a reopen must work. Most files are then handed to the next child,
 * so recovery from a kill is followed by writes and another kill.
 *
 * 200 kills normally, 10,000 with QUIRE_LONG=1 (QUIRE_KILLS=N overrides).
 * Kill i uses seed QUIRE_SEED + i (default seed 1); a failure names it.
 * The moment of a kill is random, so QUIRE_SEED=<seed> replays a failing
 * configuration (flags, generator, kind of kill) as the first kill, on a
 * fresh file, not the exact moment: rerun a few times.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "workload.h"

#define NKEYS 40
#define MAXOPS 4
#define BIG_MIN ((size_t)64 << 10)
#define BIG_MAX ((size_t)1 << 20)
#define AFTER_COMMITS 10

/* --- the generator: parent and child compute the same commits ---------- */

struct kv {
	uint8_t present;
	uint32_t vlen;
	uint64_t vseed;
};

struct gen {
	uint64_t rng;
	struct kv k[NKEYS];
};

struct op {
	int key, del;
	size_t vlen;
	uint64_t vseed;
};

/* How often values are large: none (the parent's own commits), now and
 * then, or often (children the parent kills inside a large value). */
enum { BIG_NONE, BIG_RARE, BIG_OFTEN };

/* Key i: "k%02d", one in eight padded to 203 bytes. The fixed-width prefix
 * makes key order equal index order. */
static size_t key_of(int i, char *buf)
{
	size_t n = (size_t)snprintf(buf, 8, "k%02d", i);
	if (i % 8 == 7) {
		memset(buf + n, 'a' + i % 26, 200);
		n += 200;
	}
	return n;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		w = tu_rand(&s);
		memcpy(p + i, &w, 8);
	}
	if (i < n) {
		w = tu_rand(&s);
		memcpy(p + i, &w, n - i);
	}
}

static size_t gen_vlen(uint64_t *s, int big)
{
	uint64_t r = tu_below(s, 1000);
	if ((big == BIG_OFTEN && r < 250) || (big == BIG_RARE && r < 6))
		return BIG_MIN + (size_t)tu_below(s, BIG_MAX - BIG_MIN + 1);
	if (r < 300)
		return 1025 + (size_t)tu_below(s, 15000); /* out of line */
	if (r < 400)
		return 0;
	return (size_t)tu_below(s, 1025); /* in line, up to the limit */
}

/* The next commit's operations (returns how many) applied to g. */
static int gen_commit(struct gen *g, struct op *ops, int big)
{
	int n = 1 + (int)tu_below(&g->rng, MAXOPS);
	for (int i = 0; i < n; i++) {
		struct op *o = &ops[i];
		o->key = (int)tu_below(&g->rng, NKEYS);
		struct kv *kv = &g->k[o->key];
		o->del = kv->present && tu_below(&g->rng, 3) == 0;
		if (o->del) {
			kv->present = 0;
			continue;
		}
		o->vlen = gen_vlen(&g->rng, big);
		o->vseed = tu_rand(&g->rng);
		kv->present = 1;
		kv->vlen = (uint32_t)o->vlen;
		kv->vseed = o->vseed;
	}
	return n;
}

static int same_content(const struct gen *a, const struct gen *b)
{
	for (int i = 0; i < NKEYS; i++) {
		const struct kv *x = &a->k[i], *y = &b->k[i];
		if (x->present != y->present)
			return 0;
		if (x->present && (x->vlen != y->vlen ||
				   (x->vlen && x->vseed != y->vseed)))
			return 0;
	}
	return 1;
}

/* --- the child ----------------------------------------------------------- */

/* One pipe record; writes of at most PIPE_BUF bytes are atomic, so a
 * killed child leaves whole records only. */
enum { R_CREATED = 1, R_ACK, R_BIG, R_ERR };
struct rec {
	uint32_t kind;
	int32_t err;
	uint64_t commit, txn;
	char msg[104];
};

struct cfg {
	int nosync, big;
	unsigned node_size;
	unsigned long checkpoint_ops;
};

static void send_rec(int fd, struct rec *r)
{
	/* EPIPE (the parent is gone) ends the child by SIGPIPE */
	while (write(fd, r, sizeof *r) < 0 && errno == EINTR)
		;
}

static void child_fail(int fd, const char *where, int e, uint64_t commit)
{
	struct rec r = {.kind = R_ERR, .err = e, .commit = commit};
	snprintf(r.msg, sizeof r.msg, "%s: %.60s", where, quire_errmsg());
	send_rec(fd, &r);
	_exit(1);
}

static void open_opts(quire_options *o, const struct cfg *c, unsigned flags)
{
	quire_options_init(o);
	o->flags = flags | (c->nosync ? QUIRE_NOSYNC : 0);
	o->node_size = c->node_size;
	o->checkpoint_ops = c->checkpoint_ops;
	o->cache_size = (size_t)4 << 20;
	o->auto_compact_ratio = 0; /* it compacts where the child says */
}

/* Commit forever; the parent's SIGKILL ends it. */
static void child(const char *path, int fd, struct gen g, const struct cfg *c)
{
	quire_options o;
	quire *db;
	quire_txn *t;
	struct op ops[MAXOPS];
	uint8_t *val = malloc(BIG_MAX);
	char key[256];
	int e;
	if (!val)
		child_fail(fd, "malloc", QUIRE_ENOMEM, 0);
	open_opts(&o, c, QUIRE_CREATE);
	if ((e = quire_open(path, &o, &db)) != 0)
		child_fail(fd, "open", e, 0);
	struct rec r = {.kind = R_CREATED};
	send_rec(fd, &r);
	for (uint64_t n = 1;; n++) {
		int nops = gen_commit(&g, ops, c->big);
		if ((e = quire_begin(db, 0, &t)) != 0)
			child_fail(fd, "begin", e, n);
		uint64_t txn = quire_txn_id(t);
		for (int i = 0; i < nops; i++) {
			size_t kl = key_of(ops[i].key, key);
			if (ops[i].del) {
				e = quire_del(t, key, kl);
			} else {
				fill(val, ops[i].vlen, ops[i].vseed);
				if (ops[i].vlen >= BIG_MIN) {
					/* lets the parent aim at it */
					struct rec b = {.kind = R_BIG,
							.commit = n};
					send_rec(fd, &b);
				}
				e = quire_put(t, key, kl, val, ops[i].vlen);
			}
			if (e)
				child_fail(fd, ops[i].del ? "del" : "put", e, n);
		}
		if ((e = quire_commit(t)) != 0)
			child_fail(fd, "commit", e, n);
		struct rec a = {.kind = R_ACK, .commit = n, .txn = txn};
		send_rec(fd, &a);
		/* kills land in compactions too: the reopen must find every
		 * acknowledged commit, in the old file or the new one */
		if (n % 8 == 0 && (e = quire_compact(db, NULL)) != 0)
			child_fail(fd, "compact", e, n);
	}
}

/* --- the parent ---------------------------------------------------------- */

static uint8_t *scratch; /* BIG_MAX bytes: expected values */

/* 1 if the snapshot holds exactly g's content; an error fails the test. */
static int holds(quire_txn *t, const struct gen *g, const char *ctx)
{
	quire_cursor *cur;
	quire_val k, v;
	char key[256];
	int e, same = 1, i = 0;
	QOK(quire_cursor_open(t, &cur));
	for (e = quire_cursor_first(cur); e == 0 && same;
	     e = quire_cursor_next(cur)) {
		while (i < NKEYS && !g->k[i].present)
			i++;
		if (i == NKEYS) {
			same = 0;
			break;
		}
		size_t kl = key_of(i, key);
		int ek = quire_cursor_key(cur, &k), ev = quire_cursor_value(cur, &v);
		if (ek || ev)
			fail_msg("%s: reading the cursor: %s (%s)", ctx,
				 quire_strerror(ek ? ek : ev), quire_errmsg());
		const struct kv *kv = &g->k[i];
		fill(scratch, kv->vlen, kv->vseed);
		if (k.size != kl || memcmp(k.data, key, kl) ||
		    v.size != kv->vlen ||
		    (v.size && memcmp(v.data, scratch, v.size)))
			same = 0;
		i++;
	}
	if (e != 0 && e != QUIRE_NOTFOUND)
		fail_msg("%s: scan: %s (%s)", ctx, quire_strerror(e),
			 quire_errmsg());
	quire_cursor_close(cur);
	while (same && i < NKEYS && !g->k[i].present)
		i++;
	return same && e == QUIRE_NOTFOUND && i == NKEYS;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct reader {
	int fd, eof;
	uint8_t buf[sizeof(struct rec)];
	size_t have;
	int created, big_seen;
	uint64_t acked, acked_txn;
	struct rec err;
};

/* Read what the pipe holds, waiting up to timeout_ms (0: do not wait). */
static void pump(struct reader *rd, int timeout_ms)
{
	struct pollfd p = {.fd = rd->fd, .events = POLLIN};
	while (!rd->eof && poll(&p, 1, timeout_ms) > 0) {
		ssize_t n = read(rd->fd, rd->buf + rd->have,
				 sizeof rd->buf - rd->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rd->eof = 1;
			break;
		}
		rd->have += (size_t)n;
		if (rd->have < sizeof rd->buf)
			continue;
		struct rec r;
		memcpy(&r, rd->buf, sizeof r);
		rd->have = 0;
		switch (r.kind) {
		case R_CREATED: rd->created = 1; break;
		case R_BIG: rd->big_seen = 1; break;
		case R_ACK:
			rd->acked = r.commit;
			rd->acked_txn = r.txn;
			break;
		default:
			if (!rd->err.kind)
				rd->err = r;
		}
		timeout_ms = 0;
	}
}

enum { K_NOW, K_SHORT, K_DELAY, K_BIG };
static const char *const kind_name[] = {"at once", "after < 1 ms",
					"after < 25 ms", "inside a large value"};

static uint64_t kills, verified, saw_inflight, saw_uncreated, saw_big,
	saw_compacting;

/* What the parent knows of the file between children. */
struct file {
	struct gen g; /* its content, and the generator's next commits */
	uint64_t txn; /* its newest txn */
};

/*
 * One child on path, starting from f (the file's current content), killed
 * in the way kind says; then the checks. f becomes the file after the
 * parent's own ten commits.
 */
static void run_one(const char *path, struct file *f, const struct cfg *c,
		    int kind, uint64_t s, const char *ctx0)
{
	int fds[2], status;
	char ctx[512];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child(path, fds[1], f->g, c);
		_exit(0);
	}
	close(fds[1]);
	struct reader rd = {.fd = fds[0]};
	if (kind == K_SHORT || kind == K_DELAY) {
		uint64_t end = now_ns() + 1000 * tu_below(&s, kind == K_SHORT
								 ? 1000
								 : 25000);
		struct timespec step = {0, 100000};
		while (!rd.eof && now_ns() < end) {
			pump(&rd, 0);
			nanosleep(&step, NULL);
		}
	} else if (kind == K_BIG) {
		/* wait for the announcement of a large value (a few
		 * seconds at most, then kill anyway), then land somewhere in
		 * its write or the commit that follows it */
		for (int i = 0; i < 500 && !rd.big_seen && !rd.eof; i++)
			pump(&rd, 10);
		struct timespec d = {0, (long)(1000 * tu_below(&s, 1500))};
		nanosleep(&d, NULL);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	while (!rd.eof)
		pump(&rd, -1);
	close(fds[0]);
	snprintf(ctx, sizeof ctx,
		 "%s, killed %s, nosync %d, checkpoint_ops %lu, node_size %u, "
		 "last acknowledged commit %llu (txn %llu)",
		 ctx0, kind_name[kind], c->nosync, c->checkpoint_ops,
		 c->node_size, (unsigned long long)rd.acked,
		 (unsigned long long)rd.acked_txn);
	if (rd.err.kind)
		fail_msg("%s: the child failed in commit %llu: %s: %s", ctx,
			 (unsigned long long)rd.err.commit,
			 quire_strerror(rd.err.err), rd.err.msg);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("%s: the child ended by itself (status %#x)", ctx,
			 status);

	/* the states allowed: after the last acknowledged commit, or one
	 * more. The txn numbering starts from the file's current txn. */
	struct gen a = f->g, b;
	struct op ops[MAXOPS];
	for (uint64_t i = 0; i < rd.acked; i++)
		gen_commit(&a, ops, c->big);
	b = a;
	gen_commit(&b, ops, c->big);

	quire_options o;
	quire *db;
	quire_txn *t;
	open_opts(&o, c, QUIRE_CREATE);
	char cpath[4200];
	snprintf(cpath, sizeof cpath, "%s.compact", path);
	if (access(cpath, F_OK) == 0) /* killed inside a compaction */
		saw_compacting++;
	int e = quire_open(path, &o, &db);
	if (e)
		fail_msg("%s: open after the kill: %s (%s)", ctx,
			 quire_strerror(e), quire_errmsg());
	wl_check_clean(db, ctx);
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	uint64_t txn = quire_txn_id(t), last = rd.acked ? rd.acked_txn : f->txn;
	int in_a = holds(t, &a, ctx), in_b = !in_a && holds(t, &b, ctx);
	quire_abort(t);
	if (!in_a && !in_b)
		fail_msg("%s: the content (txn %llu) is neither that of the "
			 "last acknowledged commit nor of the next one",
			 ctx, (unsigned long long)txn);
	/* every commit makes one txn, checkpoints included */
	if (rd.acked && rd.acked_txn != f->txn + rd.acked)
		fail_msg("%s: the file was at txn %llu before the child", ctx,
			 (unsigned long long)f->txn);
	if (txn < last || txn > last + 1)
		fail_msg("%s: newest txn is %llu", ctx,
			 (unsigned long long)txn);
	if (!same_content(&a, &b) && txn != last + (uint64_t)in_b)
		fail_msg("%s: txn %llu holds the content of txn %llu", ctx,
			 (unsigned long long)txn,
			 (unsigned long long)(last + (uint64_t)in_b));
	f->g = in_a ? a : b;

	/* life goes on: ten more commits, a reopen, the same content */
	for (int i = 0; i < AFTER_COMMITS; i++) {
		char key[256];
		int n = gen_commit(&f->g, ops, BIG_NONE);
		QOK(quire_begin(db, 0, &t));
		for (int j = 0; j < n; j++) {
			size_t kl = key_of(ops[j].key, key);
			if (ops[j].del) {
				QOK(quire_del(t, key, kl));
			} else {
				fill(scratch, ops[j].vlen, ops[j].vseed);
				QOK(quire_put(t, key, kl, scratch,
					      ops[j].vlen));
			}
		}
		QOK(quire_commit(t));
	}
	QOK(quire_close(db));
	open_opts(&o, c, 0);
	if ((e = quire_open(path, &o, &db)) != 0)
		fail_msg("%s: reopen after ten more commits: %s (%s)", ctx,
			 quire_strerror(e), quire_errmsg());
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	if (!holds(t, &f->g, ctx))
		fail_msg("%s: content after ten more commits and a reopen is "
			 "wrong",
			 ctx);
	f->txn = quire_txn_id(t);
	quire_abort(t);
	wl_check_clean(db, ctx);
	QOK(quire_close(db));
	kills++;
	verified += rd.acked;
	saw_inflight += in_b && !same_content(&a, &b);
	saw_uncreated += !rd.created;
	saw_big += kind == K_BIG && rd.big_seen;
}

static void test_kills(void **state)
{
	(void)state;
	const char *lg = getenv("QUIRE_LONG"), *nk = getenv("QUIRE_KILLS");
	long n = nk && *nk ? atol(nk) : lg && atoi(lg) > 0 ? 10000 : 200;
	uint64_t base = tu_seed(1);
	static const unsigned sizes[] = {512, 1024, 4096};
	char path[4096], init[4110];
	struct file f;
	int chain = 0;
	snprintf(path, sizeof path, "%s", tu_path("kill"));
	snprintf(init, sizeof init, "%s.init", path);
	scratch = malloc(BIG_MAX);
	assert_non_null(scratch);
	for (long i = 0; i < n; i++) {
		uint64_t seed = base + (uint64_t)i, s = seed * 0x2545f4914f6cdd1dull;
		char ctx[160];
		/* a fresh file for the first kill and for one in four; the
		 * others hand the recovered file to the next child */
		if (i == 0 || tu_below(&s, 4) == 0) {
			unlink(path);
			unlink(init);
			memset(&f, 0, sizeof f);
			f.g.rng = seed;
			chain = 0;
		}
		struct cfg c = {.nosync = tu_below(&s, 3) == 0,
				.node_size = sizes[tu_below(&s, 3)],
				.checkpoint_ops = 1 + tu_below(&s, 64)};
		int kind = (int)tu_below(&s, 8);
		kind = kind == 0 ? K_NOW : kind == 1 ? K_BIG
			 : kind < 4 ? K_SHORT : K_DELAY;
		c.big = kind == K_BIG ? BIG_OFTEN : BIG_RARE;
		snprintf(ctx, sizeof ctx,
			 "seed %llu (replay: QUIRE_SEED=%llu), kill %d on this "
			 "file",
			 (unsigned long long)seed, (unsigned long long)seed,
			 chain + 1);
		run_one(path, &f, &c, kind, s, ctx);
		chain++;
	}
	unlink(path);
	unlink(init);
	free(scratch);
	print_message("# kills: %llu, acknowledged commits verified: %llu\n",
		      (unsigned long long)kills, (unsigned long long)verified);
	print_message("# of which: %llu found the unreported commit, %llu "
		      "killed before the open returned, %llu inside a large "
		      "value, %llu inside a compaction\n",
		      (unsigned long long)saw_inflight,
		      (unsigned long long)saw_uncreated,
		      (unsigned long long)saw_big,
		      (unsigned long long)saw_compacting);
	/* about 1.4 acknowledged commits a kill today */
	assert_true(kills == (uint64_t)n && verified >= kills / 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
