/*
 * compact-bench.c - figures for compaction (issue 4) and backup (issue
 * 13): how small a compacted file is against the raw data, how fast
 * compaction and a backup run against cp of the same file, how long a
 * writer committing nonstop waits while quire_compact runs in another
 * thread, and what an incremental backup after one commit costs.
 *
 *   size   --num keys of 16 bytes with 100-byte random values, put in
 *          random order in commits of 1000, then every key overwritten (in
 *          another random order, same commits), then quire_compact with
 *          the default options: file bytes before and after against the
 *          raw num * 116 bytes
 *   speed  that compaction timed (source file bytes per second) against
 *          cp of the source file followed by an fsync of the copy, since
 *          compaction syncs its new file too
 *   pause  a writer thread commits 100 random puts at a time nonstop on a
 *          database built the same way while the main thread compacts it:
 *          its commits and their begin..commit latency before, during and
 *          after the compaction
 *   backup quire_backup of a database built the same way (not compacted)
 *          to a new file, against cp of the file with an fsync (median of
 *          3 runs each); then, 3 times, one commit of 100 puts followed by
 *          an incremental quire_backup of that copy: its time and the
 *          bytes it copied
 *
 * Every compacted database is scanned afterwards (untimed) and must hold
 * exactly the keys and values written, the writer's included. Not a test:
 * it prints figures, and exits nonzero only when something fails.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "quire.h"
#include "stats.h"

#define KLEN 16
#define VLEN 100
#define BATCH 1000	/* puts per commit while building */
#define WBATCH 100	/* puts per commit of the pause writer */
#define VPOOL (VLEN + (1 << 20))
#define NTOP 5		/* longest commits listed per phase */

struct cfg {
	uint64_t num, seed;
	size_t cache_mb;	/* 0: the library's default */
	double before_secs, after_secs, timeout_secs;
	int sync;		/* the pause writer's commits are durable */
	int keep;
	int run_size, run_speed, run_pause, run_backup;
	const char *dir;
};

static char *g_vals;		/* the random pool values are taken from */
static char g_dir[4096];
static int g_made_dir, g_keep;

static _Noreturn void die(const char *what, int e)
{
	fprintf(stderr, "compact-bench: %s: %s (%s)\n", what, quire_strerror(e),
		quire_errmsg());
	exit(1);
}

static _Noreturn void die_os(const char *what)
{
	fprintf(stderr, "compact-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "compact-bench: out of memory\n");
		exit(1);
	}
	return p;
}

static void db_path(char *out, size_t n, const char *name, const char *suffix)
{
	snprintf(out, n, "%s/%s%s", g_dir, name, suffix);
}

/* Our files only: with --dir the directory may hold other things. */
static void cleanup(void)
{
	static const char *const names[] = {"size.quire", "pause.quire",
					    "backup.quire"};
	static const char *const suffixes[] = {"", ".compact", ".cp", ".copy",
					       ".copy.partial"};
	char path[4200];
	if (g_keep || !g_dir[0])
		return;
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 5; j++) {
			db_path(path, sizeof path, names[i], suffixes[j]);
			unlink(path);
		}
	if (g_made_dir)
		rmdir(g_dir);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Keys as db_bench writes them: the number in 16 decimal digits, so key
 * order is number order. */
static void key_of(char *k, uint64_t i)
{
	for (int d = KLEN - 1; d >= 0; d--, i /= 10)
		k[d] = (char)('0' + i % 10);
}

/* Key i's value at generation g (0: the fill, 1: the overwrite, 2 + c:
 * the pause writer's commit c): a window of the random pool that moves
 * with g, so the final scan tells the versions apart. */
static const char *val_of(uint64_t i, uint64_t g)
{
	return g_vals + (i * 97 + g * 7919) % (VPOOL - VLEN);
}

/* 0..n-1 in random order: every key exactly once, so the raw data is
 * exactly n * (KLEN + VLEN) bytes. */
static uint64_t *shuffled(uint64_t n, uint64_t *seed)
{
	uint64_t *a = xmalloc((n ? n : 1) * sizeof *a);
	for (uint64_t i = 0; i < n; i++)
		a[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = splitmix(seed) % i, t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
	return a;
}

static quire *open_db(const char *path, unsigned flags, size_t cache_mb)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = flags;
	if (cache_mb)
		o.cache_size = cache_mb << 20;
	int e = quire_open(path, &o, &db);
	if (e)
		die("quire_open", e);
	return db;
}

/* Put key ord[i] for every i, BATCH per commit, as generation g. */
static void put_all(quire *db, const uint64_t *ord, uint64_t n, uint64_t g)
{
	char k[KLEN];
	for (uint64_t i = 0; i < n;) {
		quire_txn *t;
		int e = quire_begin(db, 0, &t);
		if (e)
			die("quire_begin", e);
		for (uint64_t m = 0; m < BATCH && i < n; m++, i++) {
			key_of(k, ord[i]);
			e = quire_put(t, k, KLEN, val_of(ord[i], g), VLEN);
			if (e) {
				quire_abort(t);
				die("quire_put", e);
			}
		}
		if ((e = quire_commit(t)) != 0)
			die("quire_commit", e);
	}
}

/* A fresh database at path holding every key at generation 1: filled in
 * one random order, overwritten in another. Synced and closed. Commits
 * without fsync, as quire-bench fills, then one quire_sync. */
static void build(const struct cfg *c, const char *path, uint64_t *seed)
{
	char side[4200];
	unlink(path);
	snprintf(side, sizeof side, "%s.compact", path);
	unlink(side);
	quire *db = open_db(path, QUIRE_CREATE | QUIRE_NOSYNC, c->cache_mb);
	uint64_t *ord = shuffled(c->num, seed);
	double t0 = now();
	put_all(db, ord, c->num, 0);
	double t1 = now();
	free(ord);
	ord = shuffled(c->num, seed);
	double t2 = now();
	put_all(db, ord, c->num, 1);
	int e = quire_sync(db);
	if (e)
		die("quire_sync", e);
	double t3 = now();
	free(ord);
	if ((e = quire_close(db)) != 0)
		die("quire_close", e);
	printf("# built %s: %" PRIu64 " keys put in %.3f s, all overwritten "
	       "in %.3f s, file %" PRIu64 " bytes\n",
	       path, c->num, t1 - t0, t3 - t2, file_size(path));
	fflush(stdout);
}

static void db_stat(quire *db, quire_stat *st)
{
	quire_txn *t;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		die("quire_begin", e);
	e = quire_txn_stat(t, st);
	quire_abort(t);
	if (e)
		die("quire_txn_stat", e);
}

static void print_stat(const char *part, const char *when, const char *path,
		       const quire_stat *st)
{
	printf("%-5s %-16s file %12" PRIu64 " (header says %12" PRIu64 ")  "
	       "live %12" PRIu64 "  garbage %.3f  keys %" PRIu64 "  depth %u  "
	       "pending %" PRIu64 "  txn %" PRIu64 " (history from %" PRIu64
	       ")\n",
	       part, when, file_size(path), st->file_bytes, st->live_bytes,
	       st->garbage_ratio, st->key_count, st->depth, st->pending_ops,
	       st->txn_id, st->history_txn);
	fflush(stdout);
}

/* Scan the latest snapshot (untimed): it must hold exactly keys 0..n-1,
 * key i with val_of(i, gen ? gen[i] : g). Exits at the first difference. */
static void verify(quire *db, uint64_t n, const uint32_t *gen, uint64_t g,
		   const char *part)
{
	quire_txn *t;
	quire_cursor *cur;
	quire_val k, v;
	char want[KLEN];
	uint64_t i = 0;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e || (e = quire_cursor_open(t, &cur)) != 0)
		die("verify: open", e);
	for (e = quire_cursor_first(cur); e == 0;
	     e = quire_cursor_next(cur), i++) {
		if ((e = quire_cursor_key(cur, &k)) != 0 ||
		    (e = quire_cursor_value(cur, &v)) != 0)
			die("verify: cursor", e);
		key_of(want, i);
		const char *wv = val_of(i, gen ? gen[i] : g);
		if (i >= n || k.size != KLEN || memcmp(k.data, want, KLEN) ||
		    v.size != VLEN || memcmp(v.data, wv, VLEN)) {
			fprintf(stderr, "compact-bench: %s: after compaction "
				"entry %" PRIu64 " is key %.*s (value %zu bytes"
				"%s), expected key %.*s with its last value\n",
				part, i, (int)k.size, (const char *)k.data,
				v.size, v.size == VLEN &&
				memcmp(v.data, wv, VLEN) ? ", other bytes" : "",
				KLEN, i < n ? want : "(none)");
			exit(1);
		}
	}
	quire_cursor_close(cur);
	quire_abort(t);
	if (e != QUIRE_NOTFOUND)
		die("verify: cursor", e);
	if (i != n) {
		fprintf(stderr, "compact-bench: %s: after compaction %" PRIu64
			" keys, expected %" PRIu64 "\n", part, i, n);
		exit(1);
	}
	printf("# %s: verified: all %" PRIu64 " keys with their last values\n",
	       part, n);
}

/* The progress callback: what it was told, and a deadline after which it
 * cancels, so that a compaction that never catches up with the writer
 * ends the run instead of hanging it. */
struct progress {
	uint64_t calls, done, total, first_total;
	double deadline;
	int timed_out;
};

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	if (!p->calls++)
		p->first_total = total;
	p->done = done;
	p->total = total;
	if (p->deadline > 0 && now() > p->deadline) {
		p->timed_out = 1;
		return 1;
	}
	return 0;
}

struct compaction {
	int err;	/* what quire_compact returned */
	uint64_t src_bytes, dst_bytes;
	double t0, t1;
	struct io io;	/* of the whole process while it ran */
	struct progress prog;
};

/* quire_compact with the default options (only the newest state kept)
 * plus the progress callback. A failure is reported here and left in
 * r->err for the caller. */
static void compact(const struct cfg *c, quire *db, const char *path,
		    const char *part, struct compaction *r)
{
	quire_compact_options co;
	struct io a, b;
	quire_compact_options_init(&co);
	memset(&r->prog, 0, sizeof r->prog);
	co.progress = on_progress;
	co.progress_ctx = &r->prog;
	r->src_bytes = file_size(path);
	proc_io(&a);
	r->t0 = now();
	r->prog.deadline = c->timeout_secs > 0 ? r->t0 + c->timeout_secs : 0;
	int e = r->err = quire_compact(db, &co);
	r->t1 = now();
	proc_io(&b);
	if (e) {
		fprintf(stderr, "compact-bench: %s: quire_compact failed after "
			"%.3f s: %s (%s)%s\n", part, r->t1 - r->t0,
			quire_strerror(e), quire_errmsg(),
			r->prog.timed_out ? "; canceled by the --timeout" : "");
		return;
	}
	r->dst_bytes = file_size(path);
	r->io.rchar = b.rchar - a.rchar;
	r->io.wchar = b.wchar - a.wchar;
	r->io.write_bytes = b.write_bytes - a.write_bytes;
	double s = r->t1 - r->t0;
	printf("%-5s %-16s %10.3f s  %8.1f MB/s of the source  source %12"
	       PRIu64 "  result %12" PRIu64 "  rchar %12" PRIu64 "  wchar %12"
	       PRIu64 "  write_bytes %12" PRIu64 "  progress calls %" PRIu64
	       " (last %" PRIu64 " of %" PRIu64 ", first total %" PRIu64 ")\n",
	       part, "quire_compact", s,
	       s > 0 ? (double)r->src_bytes / s / 1e6 : 0, r->src_bytes,
	       r->dst_bytes, r->io.rchar, r->io.wchar, r->io.write_bytes,
	       r->prog.calls, r->prog.done, r->prog.total,
	       r->prog.first_total);
	fflush(stdout);
}

/* cp src dst, then fsync the copy (compaction's result is durable too):
 * the seconds of the cp alone and of both. The copy is removed. */
static void time_cp(const char *src, const char *dst, double *cp_secs,
		    double *all_secs)
{
	char *argv[] = {"cp", (char *)src, (char *)dst, NULL};
	pid_t pid;
	int st;
	unlink(dst);
	double t0 = now();
	int e = posix_spawn(&pid, "/bin/cp", NULL, NULL, argv, environ);
	if (e) {
		errno = e;
		die_os("posix_spawn /bin/cp");
	}
	if (waitpid(pid, &st, 0) < 0)
		die_os("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "compact-bench: /bin/cp %s %s failed\n", src,
			dst);
		exit(1);
	}
	double t1 = now();
	int fd = open(dst, O_RDONLY);
	if (fd < 0 || fsync(fd) != 0)
		die_os("fsync of the copy");
	close(fd);
	double t2 = now();
	unlink(dst);
	*cp_secs = t1 - t0;
	*all_secs = t2 - t0;
}

/* ---- backup ------------------------------------------------------------ */

#define BRUNS 3

struct backup_fig {
	int ran;
	uint64_t file;
	double full[BRUNS], cp[BRUNS], inc[BRUNS];
	uint64_t inc_bytes[BRUNS];
};

static void backup_or_die(quire *db, const char *dst, unsigned flags,
			  quire_backup_stats *st)
{
	int e = quire_backup(db, dst, flags, st);
	if (e)
		die("quire_backup", e);
}

static int run_backup(const struct cfg *c, uint64_t *seed,
		      struct backup_fig *b)
{
	char path[4200], copy[4200], cp[4200];
	quire_backup_stats st;
	quire_stat a, z;
	db_path(path, sizeof path, "backup.quire", "");
	db_path(copy, sizeof copy, "backup.quire", ".copy");
	db_path(cp, sizeof cp, "backup.quire", ".cp");
	build(c, path, seed);
	b->file = file_size(path);
	quire *db = open_db(path, 0, c->cache_mb);
	for (int r = 0; r < BRUNS; r++) {
		double cp_only;
		time_cp(path, cp, &cp_only, &b->cp[r]);
		unlink(copy);
		double t0 = now();
		backup_or_die(db, copy, 0, &st);
		b->full[r] = now() - t0;
	}
	char k[KLEN];
	for (int r = 0; r < BRUNS; r++) {
		quire_txn *t;
		int e = quire_begin(db, 0, &t);
		for (uint64_t m = 0; !e && m < WBATCH; m++) {
			uint64_t i = splitmix(seed) % c->num;
			key_of(k, i);
			e = quire_put(t, k, KLEN, val_of(i, 2), VLEN);
		}
		if (e || (e = quire_commit(t)) != 0)
			die("a commit before the incremental backup", e);
		double t0 = now();
		backup_or_die(db, copy, QUIRE_BACKUP_INCREMENTAL, &st);
		b->inc[r] = now() - t0;
		b->inc_bytes[r] = st.bytes_copied;
		if (st.full) {
			fprintf(stderr, "compact-bench: the incremental backup "
					"made a full copy\n");
			exit(1);
		}
	}
	/* the copy is the database at its last commit */
	quire *cdb = open_db(copy, QUIRE_RDONLY, c->cache_mb);
	db_stat(db, &a);
	db_stat(cdb, &z);
	quire_close(cdb);
	quire_close(db);
	if (a.txn_id != z.txn_id || a.key_count != z.key_count ||
	    a.file_bytes != z.file_bytes) {
		fprintf(stderr, "compact-bench: the copy is at commit %" PRIu64
				", the database at %" PRIu64 "\n",
			z.txn_id, a.txn_id);
		return 1;
	}
	b->ran = 1;
	return 0;
}

/* ---- size and speed ---------------------------------------------------- */

struct size_speed {
	int ran;
	uint64_t raw, before, after;
	double compact_secs, cp_secs, cp_sync_secs;
};

static int run_size_speed(const struct cfg *c, uint64_t *seed,
			  struct size_speed *r)
{
	const char *part = c->run_size ? "size" : "speed";
	char path[4200], copy[4200];
	struct compaction cr;
	quire_stat st;
	db_path(path, sizeof path, "size.quire", "");
	db_path(copy, sizeof copy, "size.quire", ".cp");
	build(c, path, seed);
	r->raw = c->num * (KLEN + VLEN);
	r->before = file_size(path);
	if (c->run_speed) {
		/* before compacting: the same bytes, warm in the page cache
		 * for both */
		time_cp(path, copy, &r->cp_secs, &r->cp_sync_secs);
		printf("%-5s %-16s %10.3f s  %8.1f MB/s  (cp alone %.3f s, "
		       "%.1f MB/s)\n",
		       "speed", "cp+fsync", r->cp_sync_secs,
		       (double)r->before / r->cp_sync_secs / 1e6, r->cp_secs,
		       (double)r->before / r->cp_secs / 1e6);
	}
	/* durable commits: compaction runs as on a default handle */
	quire *db = open_db(path, 0, c->cache_mb);
	db_stat(db, &st);
	print_stat(part, "before", path, &st);
	compact(c, db, path, part, &cr);
	if (cr.err) {
		quire_close(db);
		return -1;
	}
	r->after = cr.dst_bytes;
	r->compact_secs = cr.t1 - cr.t0;
	db_stat(db, &st);
	print_stat(part, "after", path, &st);
	verify(db, c->num, NULL, 1, part);
	int e = quire_close(db);
	if (e)
		die("quire_close", e);
	unlink(path);
	r->ran = 1;
	if (c->run_size)
		printf("%-5s %-16s raw %" PRIu64 " (%" PRIu64 " x %d)  before %"
		       PRIu64 "  after %" PRIu64 "  after/raw %.3f  "
		       "before/raw %.3f\n",
		       "size", "result", r->raw, c->num, KLEN + VLEN, r->before,
		       r->after, (double)r->after / (double)r->raw,
		       (double)r->before / (double)r->raw);
	if (c->run_speed)
		printf("%-5s %-16s compaction %.1f MB/s  cp+fsync %.1f MB/s  "
		       "ratio %.3f  (cp alone %.1f MB/s, ratio %.3f)\n",
		       "speed", "result",
		       (double)r->before / r->compact_secs / 1e6,
		       (double)r->before / r->cp_sync_secs / 1e6,
		       r->cp_sync_secs / r->compact_secs,
		       (double)r->before / r->cp_secs / 1e6,
		       r->cp_secs / r->compact_secs);
	fflush(stdout);
	return 0;
}

/* ---- pause ----------------------------------------------------------------
 *
 * The writer records the start and length of every commit, and whether it
 * was a checkpoint (the commit that reaches checkpoint_ops pending
 * operations folds them into the tree, which takes long on its own: see
 * HACKING.md); afterwards each commit is put into the phase it overlaps:
 * before (ended before quire_compact was called), during (overlaps the
 * call), after (began after it returned).
 */

struct lat {
	double start, secs;
	double wait;		/* of secs, in quire_begin: held off by another
				 * writer (here: the compaction) */
	uint64_t appended;	/* file bytes the commit added */
	int ckpt;
};

struct writer {
	quire *db;
	uint64_t n, seed, ckpt_ops;
	uint32_t *gen;		/* generation of each key's last value */
	atomic_int stop;
	struct lat *lat;
	size_t nlat, cap;
	int err;
	const char *what;
	char msg[512];
};

static int latest_stat(quire *db, quire_stat *st)
{
	quire_txn *t;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		return e;
	e = quire_txn_stat(t, st);
	quire_abort(t);
	return e;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t idx[WBATCH];
	quire_stat st;
	char k[KLEN];
	int e = latest_stat(w->db, &st);
	w->what = "quire_txn_stat";
	while (!e && !atomic_load(&w->stop)) {
		uint64_t g = 2 + w->nlat, pend = st.pending_ops;
		uint64_t fbytes = st.file_bytes;
		quire_txn *t;
		for (int j = 0; j < WBATCH; j++)
			idx[j] = splitmix(&w->seed) % w->n;
		double t0 = now();
		if ((e = quire_begin(w->db, 0, &t)) != 0) {
			w->what = "quire_begin";
			break;
		}
		double tb = now();
		for (int j = 0; j < WBATCH && !e; j++) {
			key_of(k, idx[j]);
			e = quire_put(t, k, KLEN, val_of(idx[j], g), VLEN);
		}
		if (e) {
			quire_abort(t);
			w->what = "quire_put";
			break;
		}
		if ((e = quire_commit(t)) != 0) {
			w->what = "quire_commit";
			break;
		}
		double t1 = now();
		for (int j = 0; j < WBATCH; j++)
			w->gen[idx[j]] = (uint32_t)g;
		/* untimed: was it a checkpoint? Only a commit due to reach
		 * the threshold counts, so that a swap to the compacted file
		 * (which may fold pending operations too) is not hidden */
		if ((e = latest_stat(w->db, &st)) != 0) {
			w->what = "quire_txn_stat";
			break;
		}
		if (w->nlat == w->cap) {
			struct lat *nl = realloc(w->lat,
						 2 * w->cap * sizeof *nl);
			if (!nl) {
				w->what = "realloc";
				w->err = QUIRE_ENOMEM;
				return NULL;
			}
			w->lat = nl;
			w->cap *= 2;
		}
		w->lat[w->nlat++] = (struct lat){
			.start = t0, .secs = t1 - t0, .wait = tb - t0,
			.appended = st.file_bytes > fbytes
					    ? st.file_bytes - fbytes : 0,
			.ckpt = pend + WBATCH >= w->ckpt_ops &&
				st.pending_ops < pend,
		};
	}
	if (e) {
		/* the message is thread-local: copy it for main */
		snprintf(w->msg, sizeof w->msg, "%s", quire_errmsg());
		w->err = e;
	}
	return NULL;
}

struct phase {
	const char *name;
	double secs;		/* how long the phase lasted */
	size_t n, nckpt;
	double p50, p99, max;	/* of every commit */
	double p99_plain, max_plain;	/* of the commits but checkpoints */
	double max_wait;	/* longest quire_begin: the writer held off */
};

/* Which phase commit l falls in: 0 before, 1 during, 2 after. */
static int phase_idx(const struct lat *l, double c0, double c1)
{
	if (l->start + l->secs <= c0)
		return 0;
	return l->start < c1 ? 1 : 2;
}

/* The figures of phase p; tmp has room for every commit. Prints them and
 * the phase's longest commits, at seconds from the call of quire_compact. */
static void phase_of(struct phase *ph, int p, const struct writer *w,
		     double c0, double c1, double *tmp)
{
	struct lat top[NTOP];
	size_t n = 0, np = 0, ntop = 0;
	double *plain = tmp + w->nlat;
	for (size_t i = 0; i < w->nlat; i++) {
		const struct lat *l = &w->lat[i];
		if (phase_idx(l, c0, c1) != p)
			continue;
		tmp[n++] = l->secs;
		if (l->wait > ph->max_wait)
			ph->max_wait = l->wait;
		if (!l->ckpt)
			plain[np++] = l->secs;
		/* keep the NTOP longest, longest first */
		size_t j = ntop;
		while (j > 0 && top[j - 1].secs < l->secs)
			j--;
		if (j < NTOP) {
			if (ntop < NTOP)
				ntop++;
			memmove(&top[j + 1], &top[j],
				(ntop - 1 - j) * sizeof *top);
			top[j] = *l;
		}
	}
	stats_sort(tmp, n);
	stats_sort(plain, np);
	ph->n = n;
	ph->nckpt = n - np;
	ph->p50 = stats_pct(tmp, n, 0.50);
	ph->p99 = stats_pct(tmp, n, 0.99);
	ph->max = n ? tmp[n - 1] : 0;
	ph->p99_plain = stats_pct(plain, np, 0.99);
	ph->max_plain = np ? plain[np - 1] : 0;
	printf("%-5s %-16s %8zu commits %7.0f/s  p50 %7.3f ms  p99 %7.3f ms  "
	       "max %8.3f ms;  %zu checkpoints; the others: p99 %7.3f ms  "
	       "max %8.3f ms; longest wait to begin %.3f ms  (%.3f s)\n",
	       "pause", ph->name, n, ph->secs > 0 ? (double)n / ph->secs : 0,
	       ph->p50 * 1e3, ph->p99 * 1e3, ph->max * 1e3, ph->nckpt,
	       ph->p99_plain * 1e3, ph->max_plain * 1e3, ph->max_wait * 1e3,
	       ph->secs);
	printf("# pause: %s: longest commits:", ph->name);
	for (size_t j = 0; j < ntop; j++)
		printf(" %.3f ms at %+.3f s (%.1f MB%s);", top[j].secs * 1e3,
		       top[j].start - c0, (double)top[j].appended / 1e6,
		       top[j].ckpt ? ", checkpoint" : "");
	printf("\n");
}

struct pause {
	int ran;
	double compact_secs;
	uint64_t src_bytes, dst_bytes;
	struct phase ph[3];
};

static int run_pause(const struct cfg *c, uint64_t *seed, struct pause *r)
{
	char path[4200];
	struct compaction cr;
	struct writer w;
	quire_options o;
	quire_stat st;
	pthread_t th;
	db_path(path, sizeof path, "pause.quire", "");
	build(c, path, seed);
	quire *db = open_db(path, c->sync ? 0 : QUIRE_NOSYNC, c->cache_mb);
	db_stat(db, &st);
	print_stat("pause", "before", path, &st);

	memset(&w, 0, sizeof w);
	quire_options_init(&o);
	w.db = db;
	w.n = c->num;
	w.seed = *seed ^ 0x5eedull;
	w.ckpt_ops = o.checkpoint_ops;	/* open_db leaves the default */
	w.gen = xmalloc(c->num * sizeof *w.gen);
	for (uint64_t i = 0; i < c->num; i++)
		w.gen[i] = 1;
	w.cap = (size_t)1 << 16;
	w.lat = xmalloc(w.cap * sizeof *w.lat);
	atomic_init(&w.stop, 0);
	double ws = now();
	if ((errno = pthread_create(&th, NULL, writer_main, &w)) != 0)
		die_os("pthread_create");
	sleep_secs(c->before_secs);
	compact(c, db, path, "pause", &cr);
	if (!cr.err)
		sleep_secs(c->after_secs);
	double we = now();
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	if (w.err) {
		fprintf(stderr, "compact-bench: pause: writer: %s: %s (%s)\n",
			w.what, quire_strerror(w.err), w.msg);
		exit(1);
	}
	printf("%-5s %-16s %s after %.3f s; the writer made %zu commits of %d "
	       "puts in all\n", "pause", "quire_compact",
	       cr.err ? "did not finish" : "finished", cr.t1 - cr.t0,
	       w.nlat, WBATCH);
	if (cr.err) {
		quire_close(db);
		return -1;
	}

	double *tmp = xmalloc((2 * w.nlat + 1) * sizeof *tmp);
	r->ph[0] = (struct phase){.name = "writer before", .secs = cr.t0 - ws};
	r->ph[1] = (struct phase){.name = "writer during",
				  .secs = cr.t1 - cr.t0};
	r->ph[2] = (struct phase){.name = "writer after", .secs = we - cr.t1};
	for (int p = 0; p < 3; p++)
		phase_of(&r->ph[p], p, &w, cr.t0, cr.t1, tmp);
	free(tmp);

	db_stat(db, &st);
	print_stat("pause", "after", path, &st);
	verify(db, c->num, w.gen, 0, "pause");
	int e = quire_close(db);
	if (e)
		die("quire_close", e);
	unlink(path);
	free(w.gen);
	free(w.lat);
	r->ran = 1;
	r->compact_secs = cr.t1 - cr.t0;
	r->src_bytes = cr.src_bytes;
	r->dst_bytes = cr.dst_bytes;
	fflush(stdout);
	return 0;
}

/* ---- main -------------------------------------------------------------- */

/* Median (range) of n runs, scaled. */
static void med_range(const double *v, size_t n, double scale,
		      const char *unit)
{
	double tmp[BRUNS];
	memcpy(tmp, v, n * sizeof *v);
	struct stats_range r = stats_range(tmp, n);
	printf("%.3f %s (%.3f-%.3f)", r.med * scale, unit, r.min * scale,
	       r.max * scale);
}

static void backup_figures(const struct backup_fig *b)
{
	double mb = (double)b->file / 1e6, rate[BRUNS], cprate[BRUNS];
	if (!b->ran)
		return;
	for (int r = 0; r < BRUNS; r++) {
		rate[r] = mb / b->full[r];
		cprate[r] = mb / b->cp[r];
	}
	printf("backup of a %.1f MB file, median of %d (range):\n", mb, BRUNS);
	printf("  quire_backup to a new file: ");
	med_range(b->full, BRUNS, 1, "s");
	printf(", ");
	med_range(rate, BRUNS, 1, "MB/s");
	printf("\n  cp and fsync of the file:   ");
	med_range(b->cp, BRUNS, 1, "s");
	printf(", ");
	med_range(cprate, BRUNS, 1, "MB/s");
	printf("\n  incremental quire_backup after one commit of %d puts: ",
	       WBATCH);
	med_range(b->inc, BRUNS, 1e3, "ms");
	printf(", %" PRIu64 " bytes copied (last run)\n",
	       b->inc_bytes[BRUNS - 1]);
	fflush(stdout);
}

static void figures(const struct cfg *c, const struct size_speed *s,
		    const struct pause *p)
{
	printf("\n# figures (compact-bench, %" PRIu64 " keys)\n", c->num);
	if (s->ran && c->run_size) {
		double ratio = (double)s->after / (double)s->raw;
		printf("raw key+value bytes: %" PRIu64 "\n", s->raw);
		printf("file bytes before compaction: %" PRIu64 "\n",
		       s->before);
		printf("file bytes after compaction: %" PRIu64 "\n", s->after);
		printf("after/raw: %.3f (target <= 1.3: %s)\n", ratio,
		       ratio <= 1.3 ? "met" : "missed");
	}
	if (s->ran && c->run_speed) {
		double cmb = (double)s->before / s->compact_secs / 1e6;
		double ratio = s->cp_sync_secs / s->compact_secs;
		printf("compaction: %.1f MB/s (%.3f s for %" PRIu64 " bytes)\n",
		       cmb, s->compact_secs, s->before);
		printf("cp+fsync: %.1f MB/s (%.3f s)\n",
		       (double)s->before / s->cp_sync_secs / 1e6,
		       s->cp_sync_secs);
		printf("cp without fsync: %.1f MB/s (%.3f s)\n",
		       (double)s->before / s->cp_secs / 1e6, s->cp_secs);
		printf("compaction/cp+fsync: %.3f (target >= 0.5: %s)\n", ratio,
		       ratio >= 0.5 ? "met" : "missed");
		printf("compaction/cp without fsync: %.3f\n",
		       s->cp_secs / s->compact_secs);
	}
	if (p->ran) {
		printf("compaction with a writer (%s commits of %d puts): "
		       "finished in %.3f s, file %" PRIu64 " -> %" PRIu64
		       " bytes\n", c->sync ? "durable" : "nosync", WBATCH,
		       p->compact_secs, p->src_bytes, p->dst_bytes);
		printf("writer commits during compaction: %zu (%zu checkpoints)"
		       "\n", p->ph[1].n, p->ph[1].nckpt);
		for (int i = 0; i < 3; i++) {
			const struct phase *ph = &p->ph[i];
			const char *when = i == 0   ? "before"
					   : i == 1 ? "during"
						    : "after";
			printf("writer commit latency %s compaction: max %.3f "
			       "ms, p99 %.3f ms; without its %zu checkpoints: "
			       "max %.3f ms, p99 %.3f ms; %.0f commits/s\n",
			       when, ph->max * 1e3, ph->p99 * 1e3, ph->nckpt,
			       ph->max_plain * 1e3, ph->p99_plain * 1e3,
			       ph->secs > 0 ? (double)ph->n / ph->secs : 0);
		}
		printf("longest writer commit during compaction: %.3f ms, "
		       "checkpoints aside %.3f ms (target < 50 ms: %s, "
		       "checkpoints aside %s)\n",
		       p->ph[1].max * 1e3, p->ph[1].max_plain * 1e3,
		       p->ph[1].max < 0.050 ? "met" : "missed",
		       p->ph[1].max_plain < 0.050 ? "met" : "missed");
		printf("longest writer pause by compaction (wait in quire_begin): "
		       "%.3f ms (target < 50 ms: %s)\n",
		       p->ph[1].max_wait * 1e3,
		       p->ph[1].max_wait < 0.050 ? "met" : "missed");
	}
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: compact-bench [--num N] [--dir DIR] [--part size|speed|"
		"pause|backup|all]\n"
		"  [--sync] [--before-secs S] [--after-secs S] [--timeout S]\n"
		"  [--cache-mb N] [--seed N] [--keep]\n"
		"--part takes a comma list; --sync makes the pause writer's "
		"commits durable\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct cfg c = {.num = 1000000, .seed = 401, .before_secs = 3,
			.after_secs = 1, .timeout_secs = 600};
	const char *parts = "all";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--sync") || !strcmp(a, "--keep")) {
			*(a[2] == 's' ? &c.sync : &c.keep) = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--num"))
			c.num = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--dir"))
			c.dir = v;
		else if (!strcmp(a, "--part"))
			parts = v;
		else if (!strcmp(a, "--before-secs"))
			c.before_secs = strtod(v, NULL);
		else if (!strcmp(a, "--after-secs"))
			c.after_secs = strtod(v, NULL);
		else if (!strcmp(a, "--timeout"))
			c.timeout_secs = strtod(v, NULL);
		else if (!strcmp(a, "--cache-mb"))
			c.cache_mb = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			c.seed = strtoull(v, NULL, 10);
		else
			return usage();
	}
	int all = strstr(parts, "all") != NULL;
	c.run_size = all || strstr(parts, "size");
	c.run_speed = all || strstr(parts, "speed");
	c.run_pause = all || strstr(parts, "pause");
	c.run_backup = all || strstr(parts, "backup");
	if (!c.num || c.num > UINT32_MAX || c.before_secs < 0 ||
	    c.after_secs < 0 ||
	    !(c.run_size || c.run_speed || c.run_pause || c.run_backup))
		return usage();

	if (c.dir) {
		snprintf(g_dir, sizeof g_dir, "%s", c.dir);
		if (mkdir(g_dir, 0755) == 0)
			g_made_dir = 1;
		else if (errno != EEXIST)
			die_os(g_dir);
	} else {
		snprintf(g_dir, sizeof g_dir, "/tmp/compact-bench-XXXXXX");
		if (!mkdtemp(g_dir))
			die_os("mkdtemp");
		g_made_dir = 1;
	}
	g_keep = c.keep;
	atexit(cleanup);

	char date[32], cache[32] = "the library default";
	time_t t = time(NULL);
	if (c.cache_mb)
		snprintf(cache, sizeof cache, "%zu MiB", c.cache_mb);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
	printf("# compact-bench (quire %s): %" PRIu64 " keys of %d bytes, "
	       "%d-byte random values, %d per commit, then all overwritten\n"
	       "# pause writer: %d random puts per commit, %s, %.1f s before "
	       "and %.1f s after compaction\n"
	       "# node cache %s, %ld CPUs, %s, dir %s\n",
	       quire_version(NULL, NULL, NULL), c.num, KLEN, VLEN, BATCH,
	       WBATCH, c.sync ? "durable" : "QUIRE_NOSYNC", c.before_secs,
	       c.after_secs, cache,
	       sysconf(_SC_NPROCESSORS_ONLN), date, g_dir);
	fflush(stdout);

	uint64_t seed = c.seed;
	g_vals = xmalloc(VPOOL);
	for (size_t i = 0; i < VPOOL; i++)
		g_vals[i] = (char)splitmix(&seed);

	struct size_speed s = {0};
	struct pause p = {0};
	struct backup_fig b = {0};
	/* after a failed compaction the other parts would only fail too */
	int failed = (c.run_size || c.run_speed) &&
		     run_size_speed(&c, &seed, &s) != 0;
	if (!failed && c.run_pause)
		failed = run_pause(&c, &seed, &p) != 0;
	if (!failed && c.run_backup)
		failed = run_backup(&c, &seed, &b) != 0;
	figures(&c, &s, &p);
	backup_figures(&b);
	free(g_vals);
	if (failed) {
		printf("(incomplete: a compaction failed, or a backup was "
		       "not its database)\n");
		fprintf(stderr, "compact-bench: a part failed (see above); "
				"figures are incomplete\n");
		return 1;
	}
	return 0;
}
