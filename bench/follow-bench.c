/*
 * follow-bench.c - how long a commit on a leader takes to become visible
 * to a reader of a follower on the same machine (issue 13: "commit on the
 * leader -> visible on a follower in <= 10 ms, measured").
 *
 * Every role is its own process, as a user would run them:
 *
 *   L  the leader: its own writable handle; one small durable commit
 *      ("i" = the commit's number, "t" = the time) every --interval-ms,
 *      and the CLOCK_MONOTONIC time right after quire_commit() returned
 *      into a shared array
 *   S  the shipper: opens the leader's file read-only and runs
 *      quire_ship(QUIRE_SHIP_FOLLOW) into a pipe (what `quire ship
 *      --follow db | quire receive copy` does)
 *   R  the receiver: quire_receive() of the pipe into the follower file
 *   F  a reader of the follower: opens it with QUIRE_RDONLY, waits for each
 *      new commit with quire_wait() and begins a snapshot; the time it
 *      first sees a commit goes into a second shared array
 *
 * The latency of a commit is the time F first saw it minus the time L's
 * quire_commit() returned: it includes S noticing the commit (quire_wait
 * across processes), the pipe, R verifying and syncing it, and F noticing
 * it (quire_wait again). Both clocks are the same CLOCK_MONOTONIC, so no
 * clock skew enters. A second variant ships from a thread of the leader
 * on the leader's own handle (no S process): there quire_wait is woken
 * by the commit itself, which shows what the cross-process poll costs.
 *
 * Only commits made after the follower exists count: L makes one commit,
 * the first stream copies the file from byte 0, and L starts the measured
 * commits only once F has opened the follower and sees that commit.
 *
 * quire_wait() notices other processes' commits by polling every 5 ms, so
 * commits at a fixed 20 ms would meet the polls at nearly the same phase
 * every time; each commit is therefore scheduled a random 0-5 ms after its
 * slot (the mean interval stays --interval-ms).
 *
 * Not a test: it prints figures, and exits nonzero only when something
 * fails (a process failed, or the follower showed a wrong value).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "quire.h"
#include "stats.h"

#define POLL_NS 5000000ull	/* quire_wait's poll of other processes */
#define TARGET_MS 10.0		/* issue 13's bound */
#define READY_SECS 30		/* for the first stream and the reader */
#define STALL_SECS 10		/* a commit not seen after this: failure */

struct cfg {
	uint64_t num;
	unsigned interval_ms;
	int runs, keep;
	const char *dir;
};

/*
 * Shared by the parent and every child (MAP_SHARED|MAP_ANONYMOUS, made
 * before fork). Each array has one writer; the parent reads them only
 * after every child has exited.
 */
struct shared {
	_Atomic int created;	/* L: the database exists with commit 0 */
	_Atomic int ready;	/* F: the follower shows commit 0 */
	_Atomic int stop;	/* L: the shipper must stop now */
	_Atomic int failed;	/* anyone: give up */
	_Atomic uint64_t base_txn;	/* txn id of commit 0 */
	_Atomic uint64_t last_txn;	/* txn id of commit num, once made */
	_Atomic uint64_t seen_txn;	/* newest txn F has seen */
	uint64_t cap;			/* entries of seen_ns */
	_Atomic uint64_t *txn_of;	/* [num + 1] commit k's txn id (L) */
	_Atomic uint64_t *commit_ns;	/* [num + 1] quire_commit returned (L) */
	_Atomic uint64_t *seen_ns;	/* [cap] by txn - base: F saw it */
};

static struct shared *g_sh;
static char g_lpath[4200], g_fpath[4200];
static char g_dir[4096];
static int g_made_dir, g_keep;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull),
			      (long)(ns % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static void sleep_ms(unsigned ms)
{
	sleep_until(mono_ns() + (uint64_t)ms * 1000000ull);
}

/* In a child: say what failed, tell the others, and leave without the
 * parent's atexit cleanup (it would remove the files under the others). */
static void child_fail(const char *who, const char *what, int e)
{
	fprintf(stderr, "follow-bench: %s: %s: %s (%s)\n", who, what,
		quire_strerror(e), quire_errmsg());
	atomic_store(&g_sh->failed, 1);
	_exit(1);
}

static void die_os(const char *what)
{
	fprintf(stderr, "follow-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Wait until *flag is set; 0, or -1 when someone failed or time ran out. */
static int wait_flag(_Atomic int *flag, unsigned secs)
{
	uint64_t end = mono_ns() + (uint64_t)secs * 1000000000ull;
	while (!atomic_load(flag)) {
		if (atomic_load(&g_sh->failed) || mono_ns() > end)
			return -1;
		sleep_ms(1);
	}
	return 0;
}

/* --- the stream's transport: a pipe ------------------------------------ */

struct pipe_io {
	int fd;
};

/* Returns nonzero (quire_ship stops) once the leader asked for the stop:
 * the stream then ends at a frame boundary, after every measured commit. */
static int write_pipe(void *ctx, const void *buf, size_t len)
{
	struct pipe_io *io = ctx;
	const char *p = buf;
	if (atomic_load(&g_sh->stop))
		return -1;
	while (len) {
		ssize_t n = write(io->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_pipe(void *ctx, void *buf, size_t len, size_t *got)
{
	struct pipe_io *io = ctx;
	for (;;) {
		ssize_t n = read(io->fd, buf, len);
		if (n >= 0) {
			*got = (size_t)n;
			return 0;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* quire_ship's ending when the leader stopped it: only ECANCELED. */
static int ship_ok(int e)
{
	return e == QUIRE_ECANCELED && atomic_load(&g_sh->stop);
}

/* --- L: the leader --------------------------------------------------- */

/* One commit: "i" = k, "t" = the time just before commit. */
static uint64_t leader_commit(quire *db, uint64_t k)
{
	quire_txn *t;
	uint64_t now = mono_ns();
	int e = quire_begin(db, 0, &t);
	if (e)
		child_fail("leader", "begin", e);
	uint64_t id = quire_txn_id(t);
	if (k < UINT64_MAX)
		atomic_store(&g_sh->txn_of[k], id);
	if ((e = quire_put(t, "i", 1, &k, sizeof k)) != 0 ||
	    (e = quire_put(t, "t", 1, &now, sizeof now)) != 0) {
		quire_abort(t);
		child_fail("leader", "put", e);
	}
	if ((e = quire_commit(t)) != 0)
		child_fail("leader", "commit", e);
	if (k < UINT64_MAX)
		atomic_store(&g_sh->commit_ns[k], mono_ns());
	return id;
}

struct ship_thread {
	quire *db;
	struct pipe_io io;
	int e;
};

static void *ship_main(void *arg)
{
	struct ship_thread *s = arg;
	s->e = quire_ship(s->db, 0, QUIRE_SHIP_FOLLOW, write_pipe, &s->io,
			  NULL);
	/* the receiver's end of the stream */
	close(s->io.fd);
	return NULL;
}

/* ship_fd >= 0: ship from a thread on this handle (the second variant). */
static void run_leader(const struct cfg *c, int ship_fd, uint64_t seed)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	/* a compaction would restart the stream from byte 0 (a rebase):
	 * another figure than the one measured here */
	o.auto_compact_ratio = 0;
	int e = quire_open(g_lpath, &o, &db);
	if (e)
		child_fail("leader", g_lpath, e);
	atomic_store(&g_sh->base_txn, leader_commit(db, 0));
	atomic_store(&g_sh->created, 1);

	pthread_t th;
	struct ship_thread st = {.db = db, .io = {ship_fd}};
	if (ship_fd >= 0 && pthread_create(&th, NULL, ship_main, &st) != 0)
		child_fail("leader", "pthread_create", QUIRE_ENOMEM);

	/* the first stream copied the file and the reader is open */
	if (wait_flag(&g_sh->ready, READY_SECS) != 0) {
		fprintf(stderr, "follow-bench: leader: the follower's reader "
				"did not see commit 0 within %d s\n",
			READY_SECS);
		atomic_store(&g_sh->failed, 1);
		_exit(1);
	}

	uint64_t interval = (uint64_t)c->interval_ms * 1000000ull;
	uint64_t jitter = POLL_NS < interval / 2 ? POLL_NS : interval / 2;
	uint64_t start = mono_ns();
	for (uint64_t k = 1; k <= c->num; k++) {
		if (atomic_load(&g_sh->failed))
			_exit(1);
		uint64_t j = jitter ? splitmix(&seed) % jitter : 0;
		sleep_until(start + k * interval + j);
		leader_commit(db, k);
	}
	atomic_store(&g_sh->last_txn, atomic_load(&g_sh->txn_of[c->num]));

	/* Stop the shipper only once the last measured commit was seen, or
	 * it could be cut off; one more commit wakes the shipper, whose
	 * write then refuses. */
	uint64_t end = mono_ns() + STALL_SECS * 1000000000ull;
	while (atomic_load(&g_sh->seen_txn) < atomic_load(&g_sh->last_txn) &&
	       !atomic_load(&g_sh->failed) && mono_ns() < end)
		sleep_ms(1);
	atomic_store(&g_sh->stop, 1);
	leader_commit(db, UINT64_MAX);
	int rc = 0;
	if (ship_fd >= 0) {
		pthread_join(th, NULL);
		if (!ship_ok(st.e)) {
			fprintf(stderr, "follow-bench: leader: ship thread: "
					"%s\n",
				quire_strerror(st.e));
			rc = 1;
		}
	}
	if ((e = quire_close(db)) != 0)
		child_fail("leader", "close", e);
	_exit(rc);
}

/* --- S: the shipper, R: the receiver ------------------------------------ */

static void run_shipper(int fd)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	int e = quire_open(g_lpath, &o, &db);
	if (e)
		child_fail("shipper", g_lpath, e);
	struct pipe_io io = {fd};
	e = quire_ship(db, 0, QUIRE_SHIP_FOLLOW, write_pipe, &io, NULL);
	if (!ship_ok(e))
		child_fail("shipper", "quire_ship", e);
	close(fd);
	quire_close(db);
	_exit(0);
}

static void run_receiver(int fd)
{
	struct pipe_io io = {fd};
	quire_stream_stats st;
	int e = quire_receive(g_fpath, NULL, 0, read_pipe, &io, &st);
	/* a following stream has no end frame: the shipper was stopped and
	 * the pipe closed, which is what the receiver is told here */
	if (e != 0 && !(e == QUIRE_ECORRUPT &&
			strstr(quire_errmsg(), "without its end frame")))
		child_fail("receiver", "quire_receive", e);
	_exit(0);
}

/* --- F: the reader of the follower ----------------------------------- */

static void run_reader(const struct cfg *c)
{
	quire_options o;
	quire *db = NULL;
	int e;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	/* the follower appears (renamed into place) at the first commit
	 * received */
	uint64_t end = mono_ns() + READY_SECS * 1000000000ull;
	while ((e = quire_open(g_fpath, &o, &db)) == QUIRE_ENOENT) {
		if (atomic_load(&g_sh->failed) || mono_ns() > end)
			child_fail("reader", "the follower never appeared", e);
		sleep_ms(1);
	}
	if (e)
		child_fail("reader", g_fpath, e);

	uint64_t base = atomic_load(&g_sh->base_txn), last = 0;
	uint64_t progress = mono_ns();
	for (;;) {
		quire_txn *t;
		quire_stat s;
		quire_val v;
		if ((e = quire_begin(db, QUIRE_RDONLY, &t)) != 0)
			child_fail("reader", "begin", e);
		uint64_t now = mono_ns(), id = quire_txn_id(t);
		if ((e = quire_txn_stat(t, &s)) != 0)
			child_fail("reader", "quire_txn_stat", e);
		if (id > last && id >= base) {
			uint64_t k;
			if ((e = quire_get(t, "i", 1, &v)) != 0)
				child_fail("reader", "get i", e);
			memcpy(&k, v.data, sizeof k);
			/* the follower must show what the leader committed */
			if (v.size != sizeof k || k > c->num ||
			    atomic_load(&g_sh->txn_of[k]) != id) {
				fprintf(stderr, "follow-bench: reader: commit "
						"%" PRIu64 " shows the wrong "
						"\"i\"\n",
					id);
				atomic_store(&g_sh->failed, 1);
				_exit(1);
			}
			/* commits that arrived together became visible
			 * together */
			for (uint64_t x = last >= base ? last + 1 : base;
			     x <= id; x++) {
				if (x - base >= g_sh->cap)
					child_fail("reader", "txn ids past "
							     "the table",
						   QUIRE_EINVAL);
				atomic_store(&g_sh->seen_ns[x - base], now);
			}
			last = id;
			atomic_store(&g_sh->seen_txn, id);
			atomic_store(&g_sh->ready, 1);
			progress = now;
		}
		quire_abort(t);
		uint64_t lt = atomic_load(&g_sh->last_txn);
		if (lt && last >= lt)
			break;
		if (atomic_load(&g_sh->failed))
			_exit(1);
		if (now - progress > STALL_SECS * 1000000000ull &&
		    atomic_load(&g_sh->ready)) {
			fprintf(stderr, "follow-bench: reader: no new commit "
					"for %d s (saw %" PRIu64 ")\n",
				STALL_SECS, last);
			atomic_store(&g_sh->failed, 1);
			_exit(1);
		}
		e = quire_wait(db, s.next_seq, 200);
		if (e && e != QUIRE_ETIMEDOUT)
			child_fail("reader", "quire_wait", e);
	}
	quire_close(db);
	_exit(0);
}

/* --- the parent ------------------------------------------------------ */

static void unlink_files(void)
{
	static const char *const sfx[] = {"", ".partial", ".compact"};
	char p[4300];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", g_lpath, sfx[i]);
		unlink(p);
		snprintf(p, sizeof p, "%s%s", g_fpath, sfx[i]);
		unlink(p);
	}
}

static void cleanup(void)
{
	if (g_keep || !g_dir[0])
		return;
	unlink_files();
	if (g_made_dir)
		rmdir(g_dir);
}

static pid_t spawn(void (*fn)(void *), void *arg, int close1, int close2)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die_os("fork");
	if (pid == 0) {
		if (close1 >= 0)
			close(close1);
		if (close2 >= 0)
			close(close2);
		fn(arg);
		_exit(0);
	}
	return pid;
}

struct role {
	const struct cfg *c;
	int fd;
	uint64_t seed;
};

static void leader_fn(void *a)
{
	struct role *r = a;
	run_leader(r->c, r->fd, r->seed);
}

static void shipper_fn(void *a)
{
	/* a receiver gone: EPIPE from write, not death by SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	run_shipper(((struct role *)a)->fd);
}

static void receiver_fn(void *a)
{
	run_receiver(((struct role *)a)->fd);
}

static void reader_fn(void *a)
{
	run_reader(((struct role *)a)->c);
}

/* Reap the children; after a failure (or past the deadline) give the
 * others 2 s and then kill them. Returns 0 when all exited with 0. */
static int reap(pid_t *pids, int n, const char *const *names, uint64_t secs)
{
	int left = 0, rc = 0;
	uint64_t deadline = mono_ns() + secs * 1000000000ull, kill_at = 0;
	for (int i = 0; i < n; i++)
		left += pids[i] > 0;
	while (left) {
		int any = 0;
		for (int i = 0; i < n; i++) {
			int st;
			if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) !=
						    pids[i])
				continue;
			any = 1;
			left--;
			pids[i] = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "follow-bench: the %s process "
						"failed (status 0x%x)\n",
					names[i], st);
				rc = -1;
				atomic_store(&g_sh->failed, 1);
			}
		}
		uint64_t now = mono_ns();
		if (!kill_at && (atomic_load(&g_sh->failed) || now > deadline))
			kill_at = now + 2000000000ull;
		if (kill_at && now > kill_at) {
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			rc = -1;
		}
		if (!any)
			sleep_ms(5);
	}
	return rc;
}

struct result {
	size_t n, within;
	double med, p90, p99, max, min;
};

/* One run of a variant: 0 and *res, or -1. */
static int one_run(const struct cfg *c, int in_leader, uint64_t seed,
		   struct result *res)
{
	struct shared *sh = g_sh;
	uint64_t cap = sh->cap;
	_Atomic uint64_t *a = sh->txn_of, *b = sh->commit_ns, *s = sh->seen_ns;
	memset(sh, 0, sizeof *sh);
	sh->cap = cap;
	sh->txn_of = a;
	sh->commit_ns = b;
	sh->seen_ns = s;
	for (uint64_t k = 0; k <= c->num; k++) {
		atomic_store(&a[k], 0);
		atomic_store(&b[k], 0);
	}
	for (uint64_t x = 0; x < cap; x++)
		atomic_store(&s[x], 0);
	unlink_files();

	int p[2];
	if (pipe(p) != 0)
		die_os("pipe");
	pid_t pids[4] = {0};
	const char *names[4] = {"leader", "receiver", "shipper", "reader"};
	struct role lr = {c, in_leader ? p[1] : -1, seed};
	struct role rr = {c, p[0], 0}, sr = {c, p[1], 0}, fr = {c, -1, 0};
	if (in_leader)
		pids[0] = spawn(leader_fn, &lr, p[0], -1);
	else
		pids[0] = spawn(leader_fn, &lr, p[0], p[1]);
	/* the shipper opens the leader's file: it must exist */
	if (wait_flag(&sh->created, READY_SECS) != 0)
		atomic_store(&sh->failed, 1);
	if (!atomic_load(&sh->failed)) {
		pids[1] = spawn(receiver_fn, &rr, p[1], -1);
		if (!in_leader)
			pids[2] = spawn(shipper_fn, &sr, p[0], -1);
	}
	/* only the shipper and the receiver may hold the pipe, or the
	 * receiver never sees its end */
	close(p[0]);
	close(p[1]);
	if (!atomic_load(&sh->failed))
		pids[3] = spawn(reader_fn, &fr, -1, -1);
	uint64_t secs = READY_SECS + 2 * STALL_SECS +
			c->num * (c->interval_ms + 5) / 1000;
	if (reap(pids, 4, names, secs) != 0)
		return -1;

	double *lat = malloc((size_t)c->num * sizeof *lat);
	if (!lat)
		die_os("malloc");
	uint64_t base = atomic_load(&sh->base_txn);
	size_t n = 0, neg = 0;
	for (uint64_t k = 1; k <= c->num; k++) {
		uint64_t id = atomic_load(&a[k]), t0 = atomic_load(&b[k]);
		uint64_t t1 = id >= base && id - base < cap
				      ? atomic_load(&s[id - base])
				      : 0;
		if (!id || !t0 || !t1) {
			fprintf(stderr, "follow-bench: commit %" PRIu64
					" was never seen on the follower\n",
				k);
			free(lat);
			return -1;
		}
		/* seen before quire_commit returned: the leader was
		 * descheduled between its slot write and the clock */
		neg += t1 < t0;
		lat[n++] = ((double)t1 - (double)t0) / 1e6;
	}
	stats_sort(lat, n);
	res->n = n;
	res->within = 0;
	for (size_t i = 0; i < n; i++)
		res->within += lat[i] <= TARGET_MS;
	res->med = stats_pct(lat, n, 0.5);
	res->p90 = stats_pct(lat, n, 0.9);
	res->p99 = stats_pct(lat, n, 0.99);
	res->max = lat[n - 1];
	res->min = lat[0];
	free(lat);
	if (neg)
		printf("  (%zu commits were seen before the leader's "
		       "quire_commit returned)\n",
		       neg);
	return 0;
}

static int variant(const struct cfg *c, int in_leader)
{
	struct result *r = calloc((size_t)c->runs, sizeof *r);
	double *med = calloc((size_t)c->runs, sizeof *med);
	if (!r || !med)
		die_os("calloc");
	printf("\n%s\n",
	       in_leader ? "## leader ships: quire_ship in a thread on the "
			   "leader's handle -> pipe -> receiver process; "
			   "reader process on the follower"
			 : "## separate processes: leader | shipper "
			   "(quire_ship --follow, read-only handle) -> pipe "
			   "-> receiver; reader process on the follower");
	size_t all = 0, within = 0;
	double worst = 0;
	for (int i = 0; i < c->runs; i++) {
		if (one_run(c, in_leader, 1000 + (uint64_t)i, &r[i]) != 0) {
			free(r);
			free(med);
			return -1;
		}
		printf("run %d: %zu commits: median %.3f ms, p90 %.3f ms, "
		       "p99 %.3f ms, max %.3f ms (min %.3f); within %.0f ms: "
		       "%zu (%.1f%%)\n",
		       i + 1, r[i].n, r[i].med, r[i].p90, r[i].p99, r[i].max,
		       r[i].min, TARGET_MS, r[i].within,
		       100.0 * (double)r[i].within / (double)r[i].n);
		fflush(stdout);
		med[i] = r[i].med;
		all += r[i].n;
		within += r[i].within;
		if (r[i].max > worst)
			worst = r[i].max;
	}
	struct stats_range m = stats_range(med, (size_t)c->runs);
	printf("median of %d medians: %.3f ms (range %.3f-%.3f); max of all "
	       "runs %.3f ms; within %.0f ms: %zu of %zu (%.1f%%)\n",
	       c->runs, m.med, m.min, m.max, worst, TARGET_MS, within, all,
	       100.0 * (double)within / (double)all);
	fflush(stdout);
	free(r);
	free(med);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: follow-bench [--num N] [--interval-ms MS] [--dir DIR] "
		"[--runs N]\n"
		"  [--variant procs|leader|all] [--keep]\n"
		"procs: a separate shipper process; leader: the leader ships "
		"from a thread\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct cfg c = {.num = 500, .interval_ms = 20, .runs = 3,
			.dir = "/tmp"};
	const char *var = "all";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--keep")) {
			c.keep = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--num"))
			c.num = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--interval-ms"))
			c.interval_ms = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--dir"))
			c.dir = v;
		else if (!strcmp(a, "--runs"))
			c.runs = atoi(v);
		else if (!strcmp(a, "--variant"))
			var = v;
		else
			return usage();
	}
	int procs = !strcmp(var, "all") || !strcmp(var, "procs");
	int lead = !strcmp(var, "all") || !strcmp(var, "leader");
	if (!c.num || c.num > 100000000 || c.runs < 1 || c.runs > 1000 ||
	    !c.interval_ms || c.interval_ms > 60000 || !(procs || lead))
		return usage();

	snprintf(g_dir, sizeof g_dir, "%s", c.dir);
	if (mkdir(g_dir, 0755) == 0)
		g_made_dir = 1;
	else if (errno != EEXIST)
		die_os(g_dir);
	snprintf(g_lpath, sizeof g_lpath, "%s/follow-bench-%ld.leader.quire",
		 g_dir, (long)getpid());
	snprintf(g_fpath, sizeof g_fpath,
		 "%s/follow-bench-%ld.follower.quire", g_dir, (long)getpid());
	g_keep = c.keep;
	atexit(cleanup);

	/* txn ids are consecutive here, but the table allows gaps */
	uint64_t cap = 2 * c.num + 64;
	size_t bytes = sizeof(struct shared) +
		       (2 * (c.num + 1) + cap) * sizeof(_Atomic uint64_t);
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die_os("mmap");
	g_sh = m;
	g_sh->cap = cap;
	g_sh->txn_of = (_Atomic uint64_t *)(g_sh + 1);
	g_sh->commit_ns = g_sh->txn_of + c.num + 1;
	g_sh->seen_ns = g_sh->commit_ns + c.num + 1;

	char date[32];
	time_t t = time(NULL);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
	printf("# follow-bench (quire %s): %" PRIu64 " durable commits of 2 "
	       "small puts on the leader, one every %u ms (+ 0-%.0f ms "
	       "random), %d runs\n"
	       "# latency: leader's quire_commit returned -> a reader of the "
	       "follower (quire_wait + quire_begin, another process) sees "
	       "it\n"
	       "# %ld CPUs, %s, dir %s\n",
	       quire_version(NULL, NULL, NULL), c.num, c.interval_ms,
	       (double)(POLL_NS < c.interval_ms * 500000ull
				? POLL_NS
				: c.interval_ms * 500000ull) /
		       1e6,
	       c.runs, sysconf(_SC_NPROCESSORS_ONLN), date, g_dir);
	fflush(stdout);

	int rc = 0;
	if (procs && variant(&c, 0) != 0)
		rc = 1;
	if (!rc && lead && variant(&c, 1) != 0)
		rc = 1;
	if (rc)
		fprintf(stderr, "follow-bench: a run failed (see above)\n");
	munmap(m, bytes);
	return rc;
}
