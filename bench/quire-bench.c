/*
 * quire-bench.c - db_bench workloads (LevelDB's, as ported to LMDB and
 * SQLite by Symas) against quire, LMDB, SQLite, LevelDB and RocksDB in one
 * run, measured as a user meets each engine: with its default options.
 * N is --num (default 1M), keys are 16 decimal digits, values --value-size
 * (100) random bytes.
 *
 *   fillseq      keys 0..N-1 in order, --batch (1000) keys per commit, no
 *                fsync
 *   fillrandom   N keys drawn uniformly from [0, N), same commits
 *   overwrite    N more random keys into the fillrandom database
 *   readrandom   N random lookups (after reopening the overwritten
 *                database), 100 per read transaction, touching the first
 *                and last byte of every value found
 *   readseq      one full scan forwards, touching every key and value
 *   readreverse  the same backwards
 *   readwhilewriting  one writer thread commits --batch random keys at a
 *                time (no fsync) into that database at full speed for
 *                --rww-secs (5) while readers look up random keys, 100 per
 *                read transaction, so that each new transaction sees new
 *                commits: 1 reader thread, then 2 reader threads, then 2
 *                reader processes that open the database themselves.
 *                Reads/s per reader and the writer's puts/s, and the
 *                CPU each used over the run (readers and writer thread:
 *                their own thread's CPU time; the writer's process: all
 *                of its threads, a background compaction's too, and in
 *                the thread variants the readers'), since on two cores
 *                the three share what there is. Each commit
 *                also puts a marker key, and at the end every reader must
 *                find the newest marker in a new read transaction (a
 *                check that readers, other processes' too, see new
 *                commits). LevelDB and RocksDB let only one process open
 *                a database: no process variant for them.
 *   fill100K     N/1000 (at least 1) values of 100 KiB under distinct
 *                keys in random order, one value per commit, no fsync:
 *                1000 values, 100 MB, at N = 1M
 *   read100K     10 lookups per value of fill100K's database at random,
 *                100 per read transaction, touching first and last byte
 *   fillsync     --sync-ops (10000) random keys, one per durable commit
 *   space        N distinct keys in random order (--batch per commit),
 *                then --space-rounds (5) rounds of N random overwrites,
 *                100 puts per commit, no fsync: overwrite puts/s, the
 *                file size sampled every 100 commits (peak) and after
 *                closing (final), against the raw key+value bytes and
 *                against LMDB's file; then quire with a retention policy
 *                that keeps the last 100 commits readable (quire-keep100).
 *                The run of an engine stops early (and says so) when the
 *                disk is nearly full.
 *   diff         quire only, after the others, once (it takes the best of
 *                5 repetitions itself): quire_diff of two versions one
 *                commit apart against a full scan (see run_diff)
 *
 * Defaults. Every engine runs with its defaults, as the "# engine" lines
 * of the output and each adapter's header say: quire with
 * quire_options_init() (64 MiB node cache), LMDB with a map size of eight
 * times the largest data set (at least 1 GiB; LMDB cannot do without
 * one), SQLite in WAL mode, LevelDB and RocksDB with default options (a
 * read transaction is a snapshot there). "No fsync" is each engine's way
 * of committing without fsync (QUIRE_NOSYNC, MDB_NOSYNC,
 * synchronous=OFF, sync=false). --tuned (or --cache-mb N) adds a quire
 * instance with a 1 GiB (N MiB) node cache, reported in its own table
 * labelled TUNED, never in the headline.
 *
 * Runs. Every workload runs --runs times (default 3); the tables show the
 * median ops/s with the range (min-max) and the quire/LMDB ratio of the
 * medians. A round runs every selected workload once, each for every
 * engine before the next workload starts, so that slow drift of the
 * machine hits all engines alike; every round starts from fresh databases
 * (a database goes as soon as no later workload of the round reads it; a
 * reading workload whose fill was not selected builds it, untimed, in a
 * process of its own, so that reader processes forked later do not
 * inherit the builder's heap). Only
 * the operations are timed (not open and close, not building key arrays).
 *
 * Memory. Each workload of each engine runs in a forked child process,
 * which builds its keys, opens the database, runs the workload and closes
 * it: engines never share memory or caches. The child's /proc/self/status
 * at the end of the workload, minus what it held before opening the
 * database (its key arrays: 16 bytes a key, 160 MB at 10M keys), is the
 * engine's memory: VmRSS, the part of it mapped from files (LMDB reads
 * through its map), and the peak VmHWM (reset before opening). The file
 * size after each workload is reported too.
 *
 * Not a test: it prints figures, and exits nonzero only when something
 * fails.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "quire.h"
#include "stats.h"

#define KLEN 16
#define BIGV (100 * 1024)	/* fill100K's value size */
#define RPT 100			/* lookups per read transaction */
#define SPACE_BATCH 100		/* puts per commit of space's overwrites */
#define SPACE_SAMPLE 100	/* commits between two file size samples */
#define MAXRUNS 25
#define MAXROUNDS 20		/* --space-rounds */
#define MAXINST 8

enum wl {
	W_FILLSEQ, W_FILLRANDOM, W_OVERWRITE, W_READRANDOM, W_READSEQ,
	W_READREVERSE, W_RWW1, W_RWW2, W_RWWP, W_FILL100K, W_READ100K,
	W_FILLSYNC, W_SPACE, NW
};

static const struct {
	const char *name;	/* in the output */
	const char *sel;	/* in --benchmarks */
	const char *db;		/* the directory it works on */
	int fresh;		/* starts from an empty one */
} wl[NW] = {
	[W_FILLSEQ] = {"fillseq", "fillseq", "seq", 1},
	[W_FILLRANDOM] = {"fillrandom", "fillrandom", "rand", 1},
	[W_OVERWRITE] = {"overwrite", "overwrite", "rand", 0},
	[W_READRANDOM] = {"readrandom", "readrandom", "rand", 0},
	[W_READSEQ] = {"readseq", "readseq", "rand", 0},
	[W_READREVERSE] = {"readreverse", "readreverse", "rand", 0},
	[W_RWW1] = {"rww-1thread", "readwhilewriting", "rand", 0},
	[W_RWW2] = {"rww-2threads", "readwhilewriting", "rand", 0},
	[W_RWWP] = {"rww-2procs", "readwhilewriting", "rand", 0},
	[W_FILL100K] = {"fill100K", "fill100K", "100k", 1},
	[W_READ100K] = {"read100K", "read100K", "100k", 0},
	[W_FILLSYNC] = {"fillsync", "fillsync", "sync", 1},
	[W_SPACE] = {"space", "space", "space", 1},
};

/* What a child reports of one workload of one engine (in shared memory). */
struct result {
	int ok, ran, skipped;
	uint64_t ops, found;
	double secs;
	uint64_t write_bytes, wchar, file_bytes;
	struct mem base, mem;	/* before opening; at the end of the work */
	/* readwhilewriting */
	int nreaders;
	uint64_t reads[2];
	double rsecs[2];
	double rcpu[2], wcpu, wproc_cpu; /* CPU seconds over the run */
	/* space */
	uint64_t load_ops, load_bytes, peak_bytes, final_bytes;
	uint64_t peak_disk; /* with a compaction's copy beside the file */
	double load_secs;
	int rounds_done, stopped;
	uint64_t round_bytes[MAXROUNDS];
};

/* An engine as the benchmark runs it: its options and its label. */
struct inst {
	const struct engine *e;
	struct bench_opts o;
	char label[24];
	int tuned;		/* reported only in the tuned table */
	int space_only;		/* the retention variant */
};

struct cfg {
	uint64_t num, sync_ops, seed, n100, r100;
	size_t value_size, batch, warmup_mb, tuned_cache_mb;
	unsigned runs, space_rounds;
	double rww_secs;
	const char *dir;
	int keep, tuned;
	int run[NW], run_diff;
	struct inst inst[MAXINST];
	int ninst;
	uint64_t map_bytes;
};

/* The random pool values are windows of. */
static char *g_vals;
static size_t g_vpool;

/* A sample of the space workload: the database file(s) apart from a
 * compaction's copy (the file's peak) and with it (the disk's peak). */
static void space_sample(const char *dir, struct result *r)
{
	uint64_t copies, all = dir_scan(dir, &copies);
	if (all - copies > r->peak_bytes)
		r->peak_bytes = all - copies;
	if (all > r->peak_disk)
		r->peak_disk = all;
}

static void db_dir(char *out, size_t n, const struct cfg *c,
		   const struct inst *in, const char *what)
{
	snprintf(out, n, "%s/%s-%s", c->dir, in->label, what);
}

static void fresh_dir(const char *dir)
{
	rm_dir(dir);
	if (mkdir(dir, 0755) != 0) {
		fprintf(stderr, "quire-bench: mkdir %s: %s\n", dir,
			strerror(errno));
		bench_die();
	}
}

/* Keys as db_bench writes them: the number in 16 decimal digits. */
static void fmt_key(char *k, uint64_t v)
{
	for (int d = KLEN - 1; d >= 0; d--, v /= 10)
		k[d] = (char)('0' + v % 10);
}

/* The seed of key set `set`: every run of a workload uses the same keys. */
static uint64_t set_seed(const struct cfg *c, uint64_t set)
{
	uint64_t s = c->seed * 0x100 + set;
	return splitmix(&s);
}

/* n keys: i in order (range 0) or drawn from [0, range). */
static char *make_keys(uint64_t n, uint64_t range, uint64_t seed)
{
	char *k = bench_xmalloc(n * KLEN);
	for (uint64_t i = 0; i < n; i++)
		fmt_key(k + i * KLEN, range ? splitmix(&seed) % range : i);
	return k;
}

static char *make_perm_keys(uint64_t n, uint64_t seed)
{
	uint64_t *p = make_perm(n, seed);
	char *k = bench_xmalloc(n * KLEN);
	for (uint64_t i = 0; i < n; i++)
		fmt_key(k + i * KLEN, p[i]);
	free(p);
	return k;
}

enum { K_FILL = 1, K_OVER, K_READ, K_SYNC, K_100K, K_READ100K, K_RWW,
       K_SPACE, K_DIFF };

/* The value the writes give the i-th key: a window of the random pool. */
static const char *val_of(size_t vlen, uint64_t i)
{
	return g_vals + (i * 97) % (g_vpool - vlen);
}

/* Run the writes of keys[0..n) in commits of batch keys. */
static int write_all(const struct engine *e, void *db, const char *keys,
		     uint64_t n, size_t batch, size_t vlen)
{
	struct kv *kv = bench_xmalloc(batch * sizeof *kv);
	int rc = 0;
	for (uint64_t i = 0; i < n && !rc;) {
		size_t m = 0;
		for (; m < batch && i < n; m++, i++) {
			kv[m].key = keys + i * KLEN;
			kv[m].val = val_of(vlen, i);
		}
		rc = e->write(db, kv, m, KLEN, vlen);
	}
	free(kv);
	return rc;
}

/* Lookups of keys[0..n) in read transactions of RPT: keys found or -1. */
static int64_t read_all(const struct engine *e, void *db, const char *keys,
			uint64_t n)
{
	int64_t found = 0;
	for (uint64_t i = 0; i < n; i += RPT) {
		size_t m = n - i < RPT ? (size_t)(n - i) : RPT;
		int64_t got = e->read_random(db, keys + i * KLEN, m, KLEN);
		if (got < 0)
			return -1;
		found += got;
	}
	return found;
}

static void *open_or_die(const struct inst *in, const char *dir,
			 const struct bench_opts *o)
{
	void *db = in->e->open(dir, o);
	if (!db) {
		fprintf(stderr, "quire-bench: %s: cannot open %s\n", in->label,
			dir);
		bench_die();
	}
	return db;
}

/* Load the database of workload w as fillrandom (or fill100K) does:
 * nonzero when a write failed. */
static int build_db(const struct cfg *c, const struct inst *in, int w,
		    const char *dir)
{
	void *db = open_or_die(in, dir, &in->o);
	char *keys;
	int rc;
	if (!strcmp(wl[w].db, "100k")) {
		keys = make_perm_keys(c->n100, set_seed(c, K_100K));
		rc = write_all(in->e, db, keys, c->n100, 1, BIGV);
	} else {
		keys = make_keys(c->num, c->num, set_seed(c, K_FILL));
		rc = write_all(in->e, db, keys, c->num, c->batch,
			       c->value_size);
	}
	free(keys);
	in->e->close(db);
	return rc;
}

/* The database a reading workload needs, when no earlier workload of the
 * round made it (--benchmarks without its fill), built untimed in a
 * process of its own: the workload's process, and the reader processes it forks,
 * start without the builder's heap (a forked reader writing into pages of
 * an inherited heap copies each one, a cost no separate program has). */
static void ensure_db(const struct cfg *c, const struct inst *in, int w,
		      const char *dir)
{
	struct stat st;
	int status;
	pid_t pid;
	if (stat(dir, &st) == 0)
		return;
	fresh_dir(dir);
	fflush(stdout);
	if ((pid = fork()) < 0) {
		perror("quire-bench: fork");
		bench_die();
	}
	if (pid == 0)
		_exit(build_db(c, in, w, dir) ? 1 : 0);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "quire-bench: %s: building %s failed\n",
			in->label, dir);
		bench_die();
	}
	printf("# %s %s: built its database as %s does (untimed, in a "
	       "process of its own)\n",
	       in->label, wl[w].name,
	       strcmp(wl[w].db, "100k") ? "fillrandom" : "fill100K");
}

/* ---- readwhilewriting ---------------------------------------------------- */

/*
 * Shared by the writer, reader threads and reader processes (MAP_SHARED).
 * Commit j of the writer also puts the marker key mark + j, outside the
 * readers' range, and then publishes committed = j + 1: a read transaction
 * a reader begins afterwards must find that key, which checks that readers
 * see new commits (of another process too).
 */
struct rww {
	atomic_int ready, go, stop, fail;
	atomic_uint_fast64_t committed;
	uint64_t mark;
	uint64_t reads[2], found[2], writes;
	double rsecs[2], wsecs;
	double rcpu[2], wcpu, wproc_cpu; /* CPU seconds over the run */
};

struct rww_arg {
	const struct cfg *c;
	const struct inst *in;
	const char *dir;
	void *db;	/* NULL: a reader opens its own handle */
	struct rww *sh;
	int idx;
};

static void rww_wait_go(struct rww *sh)
{
	while (!atomic_load(&sh->go))
		sleep_secs(1e-4);
}

static void rww_reader(const struct rww_arg *a)
{
	const struct engine *e = a->in->e;
	struct rww *sh = a->sh;
	struct bench_opts ro = a->in->o;
	void *db = a->db;
	char keys[RPT * KLEN];
	uint64_t seed = set_seed(a->c, K_RWW) + 1 + (uint64_t)a->idx;
	uint64_t n = 0, found = 0;
	ro.reader = 1;
	if (!db && !(db = e->open(a->dir, &ro))) {
		atomic_store(&sh->fail, 1);
		atomic_fetch_add(&sh->ready, 1);
		return;
	}
	atomic_fetch_add(&sh->ready, 1);
	rww_wait_go(sh);
	double t0 = now(), c0 = cpu_secs(0);
	while (!atomic_load(&sh->stop)) {
		for (int j = 0; j < RPT; j++)
			fmt_key(keys + j * KLEN, splitmix(&seed) % a->c->num);
		int64_t got = e->read_random(db, keys, RPT, KLEN);
		if (got < 0) {
			atomic_store(&sh->fail, 1);
			break;
		}
		n += RPT;
		found += (uint64_t)got;
	}
	sh->rsecs[a->idx] = now() - t0;
	sh->rcpu[a->idx] = cpu_secs(0) - c0;
	sh->reads[a->idx] = n;
	sh->found[a->idx] = found;
	uint64_t last = atomic_load(&sh->committed);
	if (last && !atomic_load(&sh->fail)) {
		fmt_key(keys, sh->mark + last - 1);
		if (e->read_random(db, keys, 1, KLEN) != 1) {
			fprintf(stderr, "quire-bench: %s readwhilewriting: "
				"reader %d does not see commit %" PRIu64
				" of the writer\n", a->in->label, a->idx,
				last);
			atomic_store(&sh->fail, 1);
		}
	}
	if (!a->db)
		e->close(db);
}

static void *rww_reader_thread(void *p)
{
	rww_reader(p);
	return NULL;
}

static void *rww_writer_thread(void *p)
{
	const struct rww_arg *a = p;
	const struct cfg *c = a->c;
	struct rww *sh = a->sh;
	size_t b = c->batch;
	char *keys = bench_xmalloc(b * KLEN);
	struct kv *kv = bench_xmalloc(b * sizeof *kv);
	uint64_t seed = set_seed(c, K_RWW), n = 0, commits = 0;
	rww_wait_go(sh);
	double t0 = now(), c0 = cpu_secs(0), p0 = cpu_secs(1);
	while (!atomic_load(&sh->stop)) {
		for (size_t j = 0; j < b; j++) {
			uint64_t k = j ? splitmix(&seed) % c->num
				       : sh->mark + commits;
			fmt_key(keys + j * KLEN, k);
			kv[j] = (struct kv){keys + j * KLEN,
					    val_of(c->value_size, k + n)};
		}
		if (a->in->e->write(a->db, kv, b, KLEN, c->value_size)) {
			atomic_store(&sh->fail, 1);
			break;
		}
		atomic_store(&sh->committed, ++commits);
		n += b;
	}
	sh->wsecs = now() - t0;
	sh->wcpu = cpu_secs(0) - c0;
	sh->wproc_cpu = cpu_secs(1) - p0;
	sh->writes = n;
	free(keys);
	free(kv);
	return NULL;
}

/*
 * One variant of readwhilewriting in this (child) process: the writer
 * thread plus nthreads reader threads or nprocs reader processes. The
 * processes are forked before anything is opened or any thread started,
 * and each opens the database itself.
 */
static void run_rww(const struct cfg *c, const struct inst *in,
		    const char *dir, int nthreads, int nprocs,
		    struct result *r)
{
	const struct engine *e = in->e;
	struct rww *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct rww_arg ra[2], wa;
	pthread_t rt[2], wt;
	pid_t pid[2];
	int nr = nthreads + nprocs;
	if (sh == MAP_FAILED) {
		perror("quire-bench: mmap");
		bench_die();
	}
	memset(sh, 0, sizeof *sh);
	/* a marker range of its own per variant (they share the database) */
	sh->mark = c->num + (uint64_t)(1 + nthreads + 2 * nprocs) *
				    1000000000000ull;
	for (int i = 0; i < nr; i++)
		ra[i] = (struct rww_arg){c, in, dir, NULL, sh, i};
	fflush(stdout);
	for (int i = 0; i < nprocs; i++) {
		if ((pid[i] = fork()) < 0) {
			perror("quire-bench: fork");
			bench_die();
		}
		if (pid[i] == 0) {
			rww_reader(&ra[i]);
			fflush(stderr);
			_exit(atomic_load(&sh->fail) ? 1 : 0);
		}
	}
	void *db = open_or_die(in, dir, &in->o);
	wa = (struct rww_arg){c, in, dir, db, sh, 0};
	for (int i = 0; i < nthreads; i++) {
		ra[i].db = e->shared_handle ? db : NULL;
		if (pthread_create(&rt[i], NULL, rww_reader_thread, &ra[i])) {
			fprintf(stderr, "quire-bench: pthread_create failed\n");
			bench_die();
		}
	}
	if (pthread_create(&wt, NULL, rww_writer_thread, &wa)) {
		fprintf(stderr, "quire-bench: pthread_create failed\n");
		bench_die();
	}
	/* a reader process that died before it was ready never counts */
	for (double t0 = now(); atomic_load(&sh->ready) < nr;) {
		if (now() - t0 > 120) {
			fprintf(stderr, "quire-bench: %s readwhilewriting: "
				"the readers did not get ready\n", in->label);
			atomic_store(&sh->fail, 1);
			break;
		}
		sleep_secs(1e-3);
	}
	if (!atomic_load(&sh->fail)) {
		atomic_store(&sh->go, 1);
		sleep_secs(c->rww_secs);
	}
	atomic_store(&sh->stop, 1);
	atomic_store(&sh->go, 1);
	pthread_join(wt, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(rt[i], NULL);
	for (int i = 0; i < nprocs; i++) {
		int st;
		while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			atomic_store(&sh->fail, 1);
	}
	proc_mem(&r->mem);
	e->close(db);
	if (atomic_load(&sh->fail)) {
		fprintf(stderr, "quire-bench: %s %s failed\n", in->label,
			nprocs ? "readwhilewriting (processes)"
			       : "readwhilewriting");
		bench_die();
	}
	r->nreaders = nr;
	for (int i = 0; i < nr; i++) {
		r->reads[i] = sh->reads[i];
		r->rsecs[i] = sh->rsecs[i];
		r->rcpu[i] = sh->rcpu[i];
		r->found += sh->found[i];
	}
	r->wcpu = sh->wcpu;
	r->wproc_cpu = sh->wproc_cpu;
	r->ops = sh->writes;
	r->secs = sh->wsecs;
	munmap(sh, sizeof *sh);
}

/* ---- space ----------------------------------------------------------------- */

/* Less than 5% of the file system (or 1 GiB) left: an append-only file
 * with nothing reclaiming it can fill a disk, and the benchmark must not. */
static int disk_low(const char *dir)
{
	struct statvfs v;
	if (statvfs(dir, &v) != 0)
		return 0;
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize,
		 total = (uint64_t)v.f_blocks * v.f_frsize;
	return avail < total / 20 || avail < ((uint64_t)1 << 30);
}

/* keys: the load's, every key once in random order. */
static void run_space(const struct cfg *c, const struct inst *in,
		      const char *dir, const char *keys, struct result *r)
{
	const struct engine *e = in->e;
	size_t vlen = c->value_size;
	void *db = open_or_die(in, dir, &in->o);
	char kb[SPACE_BATCH * KLEN];
	struct kv kv[SPACE_BATCH];
	uint64_t seed = set_seed(c, K_SPACE) + 1, commits = 0, puts = 0;

	double t0 = now();
	if (write_all(e, db, keys, c->num, c->batch, vlen)) {
		fprintf(stderr, "quire-bench: %s space: load failed\n",
			in->label);
		bench_die();
	}
	r->load_secs = now() - t0;
	r->load_ops = c->num;
	r->load_bytes = e->file_bytes(dir);
	space_sample(dir, r);

	t0 = now();
	for (unsigned round = 0; round < c->space_rounds && !r->stopped;
	     round++) {
		for (uint64_t i = 0; i < c->num && !r->stopped;) {
			size_t m = 0;
			for (; m < SPACE_BATCH && i < c->num; m++, i++) {
				uint64_t k = splitmix(&seed) % c->num;
				fmt_key(kb + m * KLEN, k);
				kv[m] = (struct kv){kb + m * KLEN,
						    val_of(vlen, k + round + 1)};
			}
			if (e->write(db, kv, m, KLEN, vlen)) {
				fprintf(stderr, "quire-bench: %s space: "
					"overwrite failed\n", in->label);
				bench_die();
			}
			puts += m;
			if (++commits % SPACE_SAMPLE == 0) {
				space_sample(dir, r);
				if (disk_low(dir))
					r->stopped = 1;
			}
		}
		space_sample(dir, r);
		r->round_bytes[round] = e->file_bytes(dir);
		r->rounds_done = (int)round + 1;
	}
	r->secs = now() - t0;
	r->ops = puts;
	proc_mem(&r->mem);
	e->close(db);
	r->final_bytes = e->file_bytes(dir);
	space_sample(dir, r);
}

/* ---- one workload of one engine, in a child ----------------------------- */

static void run_child(const struct cfg *c, int w, const struct inst *in,
		      struct result *r)
{
	const struct engine *e = in->e;
	char dir[4096];
	char *keys = NULL;
	uint64_t n = 0;
	struct io io0, io1;
	struct bench_opts o = in->o;
	int64_t got = 0;
	void *db;

	db_dir(dir, sizeof dir, c, in, wl[w].db);
	if (wl[w].fresh)
		fresh_dir(dir);
	else
		ensure_db(c, in, w, dir);
	switch (w) {
	case W_FILLSEQ:
		keys = make_keys(n = c->num, 0, 0);
		break;
	case W_FILLRANDOM:
		keys = make_keys(n = c->num, c->num, set_seed(c, K_FILL));
		break;
	case W_OVERWRITE:
		keys = make_keys(n = c->num, c->num, set_seed(c, K_OVER));
		break;
	case W_READRANDOM:
		keys = make_keys(n = c->num, c->num, set_seed(c, K_READ));
		break;
	case W_FILL100K:
		keys = make_perm_keys(n = c->n100, set_seed(c, K_100K));
		break;
	case W_READ100K:
		keys = make_keys(n = c->r100, c->n100, set_seed(c, K_READ100K));
		break;
	case W_FILLSYNC:
		keys = make_keys(n = c->sync_ops, c->num, set_seed(c, K_SYNC));
		o.sync = 1;
		break;
	case W_SPACE:
		keys = make_perm_keys(c->num, set_seed(c, K_SPACE));
		break;
	}
	reset_hwm();
	proc_mem(&r->base);
	proc_io(&io0);
	if (w == W_RWW1 || w == W_RWW2 || w == W_RWWP) {
		run_rww(c, in, dir, w == W_RWW1 ? 1 : w == W_RWW2 ? 2 : 0,
			w == W_RWWP ? 2 : 0, r);
	} else if (w == W_SPACE) {
		run_space(c, in, dir, keys, r);
	} else {
		db = open_or_die(in, dir, &o);
		double t0 = now();
		switch (w) {
		case W_FILLSEQ:
		case W_FILLRANDOM:
		case W_OVERWRITE:
			got = write_all(e, db, keys, n, c->batch,
					c->value_size);
			break;
		case W_FILL100K:
			got = write_all(e, db, keys, n, 1, BIGV);
			break;
		case W_FILLSYNC:
			got = write_all(e, db, keys, n, 1, c->value_size);
			break;
		case W_READRANDOM:
		case W_READ100K:
			got = read_all(e, db, keys, n);
			r->found = (uint64_t)got;
			break;
		case W_READSEQ:
			got = e->read_seq(db);
			n = (uint64_t)got;
			break;
		case W_READREVERSE:
			got = e->read_reverse(db);
			n = (uint64_t)got;
			break;
		}
		r->secs = now() - t0;
		r->ops = n;
		proc_mem(&r->mem);
		e->close(db);
		if (got < 0) {
			fprintf(stderr, "quire-bench: %s %s failed\n",
				in->label, wl[w].name);
			bench_die();
		}
	}
	proc_io(&io1);
	r->write_bytes = io1.write_bytes - io0.write_bytes;
	r->wchar = io1.wchar - io0.wchar;
	r->file_bytes = e->file_bytes(dir);
	free(keys);
	r->ran = r->ok = 1;
}

/* ---- the parent: rounds, children, results --------------------------------- */

/* a / b (0 if b is not positive) */
static double per(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static double rate(const struct result *r)
{
	return per((double)r->ops, r->secs);
}

enum fig { F_RATE, F_READER, F_RCPU, F_RPERCPU, F_FILE, F_PEAK, F_DISK,
	   F_FINAL, F_RSS, F_RSSFILE, F_HWM };

/* A readwhilewriting figure of reader i: lookups per second (F_READER),
 * its CPU share in percent (F_RCPU) or lookups per CPU second
 * (F_RPERCPU); the last two tell whether a reader is slower for its own
 * work or for less of the two cores. */
static double reader_fig(const struct result *r, int i, enum fig f)
{
	return f == F_RCPU     ? 100 * per(r->rcpu[i], r->rsecs[i])
	       : f == F_RPERCPU ? per((double)r->reads[i], r->rcpu[i])
				: per((double)r->reads[i], r->rsecs[i]);
}

/* That figure averaged over the readers. */
static double readers_mean(const struct result *r, enum fig f)
{
	double s = 0;
	for (int i = 0; i < r->nreaders; i++)
		s += reader_fig(r, i, f);
	return r->nreaders ? s / r->nreaders : 0;
}

static double mb(uint64_t bytes)
{
	return (double)bytes / 1e6;
}

static void print_run(const struct cfg *c, int w, const struct inst *in,
		      unsigned run, const struct result *r)
{
	printf("%-11s %-12s run %u ", in->label, wl[w].name, run + 1);
	if (w == W_RWW1 || w == W_RWW2 || w == W_RWWP) {
		printf("%10.0f reads/s per reader (readers:",
		       readers_mean(r, F_READER));
		for (int i = 0; i < r->nreaders; i++)
			printf(" %.0f", reader_fig(r, i, F_READER));
		printf(", %" PRIu64 " of %" PRIu64 " found)  writer %.0f "
		       "puts/s  cpu%%: readers", r->found,
		       r->reads[0] + r->reads[1], rate(r));
		for (int i = 0; i < r->nreaders; i++)
			printf(" %.0f", reader_fig(r, i, F_RCPU));
		printf(", writer thread %.0f, writer's process %.0f",
		       100 * per(r->wcpu, r->secs),
		       100 * per(r->wproc_cpu, r->secs));
	} else if (w == W_SPACE) {
		printf("%10.0f puts/s  load %.0f puts/s  file MB after the "
		       "load %.1f, after each round", rate(r),
		       r->load_secs > 0 ? (double)r->load_ops / r->load_secs
					: 0, mb(r->load_bytes));
		for (int i = 0; i < r->rounds_done; i++)
			printf(" %.1f", mb(r->round_bytes[i]));
		printf("  peak %.1f  final %.1f%s", mb(r->peak_bytes),
		       mb(r->final_bytes),
		       r->stopped ? "  (STOPPED: disk nearly full)" : "");
	} else {
		size_t vlen = w == W_FILL100K || w == W_READ100K
				      ? BIGV : c->value_size;
		printf("%10.0f ops/s %8.1f MB/s %8.3f s", rate(r),
		       rate(r) * (double)(KLEN + vlen) / 1e6, r->secs);
		if (w == W_READRANDOM || w == W_READ100K)
			printf("  %" PRIu64 " of %" PRIu64 " found", r->found,
			       r->ops);
	}
	printf("  write_bytes %" PRIu64 "  wchar %" PRIu64 "  file %.1f MB"
	       "  rss +%.1f MB (file-mapped +%.1f) hwm +%.1f MB over the "
	       "bench's own %.1f MB\n",
	       r->write_bytes, r->wchar, mb(r->file_bytes),
	       mem_mb(r->mem.rss, r->base.rss),
	       mem_mb(r->mem.file, r->base.file),
	       mem_mb(r->mem.hwm, r->base.rss), mem_mb(r->base.rss, 0));
	fflush(stdout);
}

/* What a child runs: workload w of instance in, reporting to r (for
 * run_in_child). */
struct job {
	const struct cfg *c;
	int w;
	const struct inst *in;
	struct result *r;
};

static void job_main(void *arg)
{
	const struct job *j = arg;
	run_child(j->c, j->w, j->in, j->r);
}

/* Run workload w of instance in once, in a child process. */
static void run_forked(const struct cfg *c, int w, const struct inst *in,
		       unsigned run, struct result *shared, struct result *out)
{
	if (disk_low(c->dir)) {
		fprintf(stderr, "quire-bench: less than 5%% of the disk under "
			"%s is free; stopping before %s %s\n", c->dir,
			in->label, wl[w].name);
		exit(1);
	}
	memset(shared, 0, sizeof *shared);
	struct job j = {c, w, in, shared};
	int st = run_in_child(job_main, &j);
	if (!WIFEXITED(st) || WEXITSTATUS(st) || !shared->ok) {
		fprintf(stderr, "quire-bench: %s %s run %u failed (%s %d)\n",
			in->label, wl[w].name, run + 1,
			WIFSIGNALED(st) ? "signal" : "exit status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		exit(1);
	}
	*out = *shared;
	print_run(c, w, in, run, out);
}

/* Median (of an even count: the mean of the middle two), min and max of
 * v[0..n). */
static struct stats_range stat3(double *v, int n)
{
	struct stats_range s = stats_range(v, (size_t)n);
	if (n && n % 2 == 0)
		s.med = (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}


static double fig_of(const struct result *r, enum fig f)
{
	switch (f) {
	case F_RATE:
		return rate(r);
	case F_READER:
	case F_RCPU:
	case F_RPERCPU:
		return readers_mean(r, f);
	case F_FILE:
		return mb(r->file_bytes);
	case F_PEAK:
		return mb(r->peak_bytes);
	case F_DISK:
		return mb(r->peak_disk);
	case F_FINAL:
		return mb(r->final_bytes);
	case F_RSS:
		return mem_mb(r->mem.rss, r->base.rss);
	case F_RSSFILE:
		return mem_mb(r->mem.file, r->base.file);
	case F_HWM:
		return mem_mb(r->mem.hwm, r->base.rss);
	}
	return 0;
}

/* res[inst][workload][run] */
typedef struct result resarr[NW][MAXRUNS];

static struct stats_range fig(const struct cfg *c, resarr *res, int i, int w,
			enum fig f)
{
	double v[MAXRUNS];
	int n = 0;
	for (unsigned r = 0; r < c->runs; r++)
		if (res[i][w][r].ran)
			v[n++] = fig_of(&res[i][w][r], f);
	return stat3(v, n);
}

static int find_inst(const struct cfg *c, const char *label)
{
	for (int i = 0; i < c->ninst; i++)
		if (!strcmp(c->inst[i].label, label))
			return i;
	return -1;
}

/* "median (min-max)" with the given number of decimals; sizes (dec > 0)
 * show their range only where the runs differ. */
static void cell(const struct stats_range *s, int dec)
{
	char lo[32], hi[32];
	snprintf(lo, sizeof lo, "%.*f", dec, s->min);
	snprintf(hi, sizeof hi, "%.*f", dec, s->max);
	if (!s->n)
		printf(" n/a |");
	else if (s->n == 1 || (dec && !strcmp(lo, hi)))
		printf(" %.*f |", dec, s->med);
	else
		printf(" %.*f (%.*f-%.*f) |", dec, s->med, dec, s->min, dec,
		       s->max);
}

static void ratio(double a, double b)
{
	if (a > 0 && b > 0)
		printf(a / b < 0.1 ? " %.4f |" : " %.2f |", a / b);
	else
		printf(" n/a |");
}

/* Whether tables get a quire/lmdb column: both ran. */
static int ratio_col(const struct cfg *c)
{
	return find_inst(c, "quire") >= 0 && find_inst(c, "lmdb") >= 0;
}

/* Table header over the instances with tuned == tuned. */
static void head(const struct cfg *c, const char *first, const char *unit,
		 int tuned, int with_ratio)
{
	int cols = 0;
	with_ratio = with_ratio && ratio_col(c);
	printf("\n| %s |", first);
	for (int i = 0; i < c->ninst; i++)
		if (c->inst[i].tuned == tuned && !c->inst[i].space_only) {
			printf(" %s%s |", c->inst[i].label, unit);
			cols++;
		}
	if (with_ratio) {
		printf(" quire/lmdb |");
		cols++;
	}
	printf("\n|---|");
	while (cols--)
		printf("---:|");
	printf("\n");
}

/* One row of figure f of workload w: each instance, then quire/lmdb. */
static void row(const struct cfg *c, resarr *res, const char *label, int w,
		enum fig f, int dec, int with_ratio)
{
	int q = find_inst(c, "quire"), l = find_inst(c, "lmdb");
	with_ratio = with_ratio && ratio_col(c);
	printf("| %s |", label);
	for (int i = 0; i < c->ninst; i++) {
		if (c->inst[i].tuned || c->inst[i].space_only)
			continue;
		struct stats_range s = fig(c, res, i, w, f);
		if (!s.n && res[i][w][0].skipped)
			printf(" skipped |");
		else
			cell(&s, dec);
	}
	if (with_ratio)
		ratio(q >= 0 ? fig(c, res, q, w, f).med : 0,
		      l >= 0 ? fig(c, res, l, w, f).med : 0);
	printf("\n");
}

static int is_rww(int w)
{
	return w == W_RWW1 || w == W_RWW2 || w == W_RWWP;
}

static void summary(const struct cfg *c, resarr *res)
{
	int any = 0;
	for (int w = 0; w < NW; w++)
		any |= c->run[w] && !is_rww(w) && w != W_SPACE;
	if (any) {
		printf("\n# Headline: every engine with its default options; "
		       "median ops/s of %u runs (min-max)\n", c->runs);
		head(c, "workload", " ops/s", 0, 1);
		for (int w = 0; w < NW; w++)
			if (c->run[w] && !is_rww(w) && w != W_SPACE)
				row(c, res, wl[w].name, w, F_RATE, 0, 1);
	}

	if (c->run[W_RWW1]) {
		printf("\n# readwhilewriting: a writer thread commits %zu "
		       "random puts at a time (no fsync) for %.1f s while "
		       "readers look up random keys, %d per read transaction; "
		       "median of %u runs (min-max)\n",
		       c->batch, c->rww_secs, RPT, c->runs);
		head(c, "readwhilewriting", "", 0, 1);
		static const char *const what[] = {
			"1 reader thread", "2 reader threads",
			"2 reader processes"};
		for (int w = W_RWW1; w <= W_RWWP; w++) {
			char lb[96];
			snprintf(lb, sizeof lb, "%s: reads/s per reader",
				 what[w - W_RWW1]);
			row(c, res, lb, w, F_READER, 0, 1);
			snprintf(lb, sizeof lb, "%s: CPU %% per reader",
				 what[w - W_RWW1]);
			row(c, res, lb, w, F_RCPU, 0, 1);
			snprintf(lb, sizeof lb, "%s: reads per reader CPU "
				 "second", what[w - W_RWW1]);
			row(c, res, lb, w, F_RPERCPU, 0, 1);
			snprintf(lb, sizeof lb, "%s: writer puts/s",
				 what[w - W_RWW1]);
			row(c, res, lb, w, F_RATE, 0, 1);
		}
		for (int i = 0; i < c->ninst; i++)
			if (!c->inst[i].tuned && !c->inst[i].e->multi_process)
				printf("%s: no reader processes: %s\n",
				       c->inst[i].label,
				       c->inst[i].e->single_process);
	}

	if (c->run[W_SPACE]) {
		int l = find_inst(c, "lmdb");
		double raw = (double)c->num * (double)(KLEN + c->value_size);
		printf("\n# space: %" PRIu64 " distinct keys loaded (%zu per "
		       "commit), then %u rounds of %" PRIu64 " random "
		       "overwrites, %d puts per commit, no fsync, default "
		       "options; file size sampled every %d commits; raw "
		       "key+value bytes %.1f MB; median of %u runs (min-max)\n",
		       c->num, c->batch, c->space_rounds, c->num, SPACE_BATCH,
		       SPACE_SAMPLE, raw / 1e6, c->runs);
		head(c, "space", "", 0, 1);
		row(c, res, "overwrite puts/s", W_SPACE, F_RATE, 0, 1);
		row(c, res, "peak file MB", W_SPACE, F_PEAK, 1, 1);
		row(c, res, "peak disk MB (file and compaction's copy)",
		    W_SPACE, F_DISK, 1, 1);
		row(c, res, "final file MB", W_SPACE, F_FINAL, 1, 1);
		static const struct {
			const char *label;
			enum fig f;
			int vs_lmdb;	/* else against the raw bytes */
		} rr[] = {{"peak / raw", F_PEAK, 0},
			  {"peak disk / raw", F_DISK, 0},
			  {"final / raw", F_FINAL, 0},
			  {"peak / LMDB's peak", F_PEAK, 1},
			  {"final / LMDB's final", F_FINAL, 1}};
		for (size_t j = 0; j < sizeof rr / sizeof *rr; j++) {
			if (rr[j].vs_lmdb && l < 0)
				continue;
			double d = rr[j].vs_lmdb
					   ? fig(c, res, l, W_SPACE, rr[j].f).med
					   : raw / 1e6;
			printf("| %s |", rr[j].label);
			for (int i = 0; i < c->ninst; i++)
				if (!c->inst[i].tuned && !c->inst[i].space_only)
					ratio(fig(c, res, i, W_SPACE,
						  rr[j].f).med, d);
			printf("%s\n", ratio_col(c) ? " |" : "");
		}
		int k = find_inst(c, "quire-keep100");
		if (k >= 0) {
			struct stats_range s;
			printf("\n| quire, retention of the last 100 commits "
			       "| overwrite puts/s | peak file MB | final file "
			       "MB |\n|---|---:|---:|---:|\n| quire-keep100 |");
			s = fig(c, res, k, W_SPACE, F_RATE);
			cell(&s, 0);
			s = fig(c, res, k, W_SPACE, F_PEAK);
			cell(&s, 1);
			s = fig(c, res, k, W_SPACE, F_FINAL);
			cell(&s, 1);
			printf("\n");
		}
		for (int i = 0; i < c->ninst; i++)
			for (unsigned r = 0; r < c->runs; r++)
				if (res[i][W_SPACE][r].stopped) {
					printf("%s: space run %u stopped "
					       "early, the disk was nearly "
					       "full\n", c->inst[i].label,
					       r + 1);
				}
	}

	if (c->run[W_READRANDOM] || any) {
		printf("\n# Memory: what the engine added to its process "
		       "(VmRSS, VmHWM minus the process before opening the "
		       "database), MB, median of %u runs; file-mapped: pages "
		       "of the database file mapped into the process (LMDB "
		       "reads through its map; shared page cache)\n", c->runs);
		head(c, "memory, MB", "", 0, 0);
		if (c->run[W_READRANDOM]) {
			row(c, res, "readrandom: VmRSS at the end", W_READRANDOM,
			    F_RSS, 1, 0);
			row(c, res, "readrandom: of it file-mapped",
			    W_READRANDOM, F_RSSFILE, 1, 0);
		}
		for (int w = 0; w < NW; w++)
			if (c->run[w]) {
				char lb[64];
				snprintf(lb, sizeof lb, "%s: VmHWM%s",
					 wl[w].name,
					 w == W_RWWP ? " (the writer's process)"
					 : is_rww(w) ? " (writer and readers)"
						     : "");
				row(c, res, lb, w, F_HWM, 1, 0);
			}
	}

	if (c->run[W_FILLSEQ] || c->run[W_FILLRANDOM] || c->run[W_OVERWRITE] ||
	    c->run[W_FILL100K] || c->run[W_FILLSYNC]) {
		printf("\n# File size after the fills, MB (median of %u runs)\n",
		       c->runs);
		head(c, "file MB after", "", 0, 1);
		static const int fills[] = {W_FILLSEQ, W_FILLRANDOM,
					    W_OVERWRITE, W_FILL100K,
					    W_FILLSYNC};
		for (size_t j = 0; j < sizeof fills / sizeof *fills; j++)
			if (c->run[fills[j]])
				row(c, res, wl[fills[j]].name, fills[j], F_FILE,
				    1, 1);
	}

	int t = find_inst(c, "quire-tuned"), q = find_inst(c, "quire"),
	    l = find_inst(c, "lmdb");
	if (t >= 0) {
		printf("\n# TUNED (not the headline): quire with a %zu MiB "
		       "node cache against quire and LMDB with their "
		       "defaults; median (min-max) of %u runs\n",
		       c->tuned_cache_mb, c->runs);
		printf("\n| workload | quire-tuned | quire (default) | lmdb "
		       "(default) | quire-tuned/lmdb |\n|---|---:|---:|---:|"
		       "---:|\n");
		for (int w = 0; w < NW; w++) {
			if (!c->run[w])
				continue;
			enum fig f = is_rww(w) ? F_READER : F_RATE;
			struct stats_range st = fig(c, res, t, w, f);
			printf("| %s%s |", wl[w].name,
			       is_rww(w) ? " reads/s per reader"
			       : w == W_SPACE ? " overwrite puts/s" : "");
			cell(&st, 0);
			st = q >= 0 ? fig(c, res, q, w, f)
				    : (struct stats_range){0};
			cell(&st, 0);
			st = l >= 0 ? fig(c, res, l, w, f)
				    : (struct stats_range){0};
			cell(&st, 0);
			ratio(fig(c, res, t, w, f).med, st.med);
			printf("\n");
		}
	}
	fflush(stdout);
}

/* ---- diff (quire only) ---------------------------------------------------
 *
 * quire_diff skips the subtrees two commits share, so a diff over a small
 * change should cost a tiny fraction of reading the database. Measured on a
 * --num key database (built as fillseq builds it) for changes of 11 and
 * 1000 keys, each while still pending in a batch (only the batch's keys are
 * candidates) and after quire_checkpoint folded it into the tree (only the
 * unshared leaves are), against a full scan of the newer snapshot.
 */

#define DIFF_REPS 5

/* One changed key: its number (keys holds key i at i * KLEN) and whether
 * the change deletes it (else it gets a new value). */
struct chg {
	uint64_t i;
	int del;
};

static int chg_cmp(const void *x, const void *y)
{
	const struct chg *a = x, *b = y;
	return (a->i > b->i) - (a->i < b->i);
}

/* Where a change takes key i's new value: one byte further into the random
 * pool than val_of(), so it differs. */
static const char *new_val(size_t vlen, uint64_t i)
{
	return g_vals + (i * 97 + 1) % (g_vpool - vlen);
}

static void diff_die(const char *what, int e)
{
	fprintf(stderr, "quire-bench: diff: %s: %s (%s)\n", what,
		quire_strerror(e), quire_errmsg());
	bench_die();
}

/* Run the whole diff of a and b: the keys reported, touched as the scan
 * touches them. */
static uint64_t diff_run(quire_txn *a, quire_txn *b)
{
	quire_diff *d;
	quire_delta dl;
	uint64_t n = 0;
	int e = quire_diff_open(a, b, &d);
	if (e)
		diff_die("quire_diff_open", e);
	while ((e = quire_diff_next(d, &dl)) == 0) {
		touch(dl.key.data, dl.key.size);
		touch(dl.a.data, dl.a.size);
		touch(dl.b.data, dl.b.size);
		n++;
	}
	quire_diff_close(d);
	if (e != QUIRE_NOTFOUND)
		diff_die("quire_diff_next", e);
	return n;
}

/*
 * Check (untimed) that the diff of a and b is exactly the change ch[0..n)
 * (sorted) made after a: the keys in order, deleted ones only in a, the
 * others with their old value in a and the new one in b. The number of
 * keys reported, or UINT64_MAX at the first one that is wrong.
 */
static uint64_t diff_verify(quire_txn *a, quire_txn *b, const struct chg *ch,
			    size_t n, const char *keys, size_t vlen)
{
	quire_diff *d;
	quire_delta dl;
	uint64_t got = 0;
	int e = quire_diff_open(a, b, &d);
	if (e)
		diff_die("quire_diff_open", e);
	while ((e = quire_diff_next(d, &dl)) == 0) {
		const struct chg *x = got < n ? &ch[got] : NULL;
		const char *k = x ? keys + x->i * KLEN : NULL;
		if (!x || dl.key.size != KLEN || memcmp(dl.key.data, k, KLEN) ||
		    !dl.in_a || dl.in_b != !x->del || dl.a.size != vlen ||
		    memcmp(dl.a.data, val_of(vlen, x->i), vlen) ||
		    (!x->del && (dl.b.size != vlen ||
				 memcmp(dl.b.data, new_val(vlen, x->i),
					vlen)))) {
			fprintf(stderr, "quire-bench: diff: delta %" PRIu64
				" is key %.*s (in a %d, in b %d), expected %s\n",
				got, (int)dl.key.size,
				(const char *)dl.key.data, dl.in_a, dl.in_b,
				x ? "another key or value" : "no more keys");
			got = UINT64_MAX;
			break;
		}
		got++;
	}
	quire_diff_close(d);
	if (e && e != QUIRE_NOTFOUND)
		diff_die("quire_diff_next", e);
	return got;
}

struct diff_row {
	size_t changed;
	const char *where;
	uint64_t differ;
	double diff_first, diff_best, scan_best;
};

/* Time a diff of a and b and a full scan of the latest snapshot, each the
 * best of DIFF_REPS runs (the first diff, which may load nodes, is shown
 * too). */
static void diff_measure(const struct engine *e, void *db, quire_txn *a,
			 quire_txn *b, uint64_t live, struct diff_row *r)
{
	r->diff_best = r->scan_best = 1e300;
	for (int rep = 0; rep < DIFF_REPS; rep++) {
		double t0 = now();
		r->differ = diff_run(a, b);
		double t1 = now();
		if (!rep)
			r->diff_first = t1 - t0;
		if (t1 - t0 < r->diff_best)
			r->diff_best = t1 - t0;
	}
	for (int rep = 0; rep < DIFF_REPS; rep++) {
		double t0 = now();
		int64_t n = e->read_seq(db);
		double t1 = now();
		if (n < 0 || (uint64_t)n != live) {
			fprintf(stderr, "quire-bench: diff: the scan saw %" PRId64
				" keys, expected %" PRIu64 "\n", n, live);
			bench_die();
		}
		if (t1 - t0 < r->scan_best)
			r->scan_best = t1 - t0;
	}
	printf("%-11s %-12s %5zu changed, %-7s %5" PRIu64 " differ  diff "
	       "%10.3f ms (first %.3f)  scan %10.3f ms  scan/diff %9.1f\n",
	       "quire", "diff", r->changed, r->where, r->differ,
	       r->diff_best * 1e3, r->diff_first * 1e3, r->scan_best * 1e3,
	       r->scan_best / r->diff_best);
	fflush(stdout);
}

static quire_txn *snapshot(quire *q)
{
	quire_txn *t;
	int e = quire_begin(q, QUIRE_RDONLY, &t);
	if (e)
		diff_die("quire_begin", e);
	return t;
}

/* In a child process, like every workload. */
static void run_diff(const struct cfg *c, const struct inst *in)
{
	/* puts and deletes of each change, the largest last */
	static const size_t sizes[][2] = {{10, 1}, {990, 10}};
	const size_t nsizes = sizeof sizes / sizeof sizes[0];
	const struct engine *e = in->e;
	size_t vlen = c->value_size;
	struct diff_row rows[4];
	int nrows = 0, bad = 0;
	uint64_t seed = set_seed(c, K_DIFF), live = c->num;
	char dir[4096];
	void *db;

	db_dir(dir, sizeof dir, c, in, "diff");
	fresh_dir(dir);
	char *keys = make_keys(c->num, 0, 0);
	db = open_or_die(in, dir, &in->o);
	quire *q = engine_quire_handle(db);
	double t0 = now();
	if (write_all(e, db, keys, c->num, c->batch, vlen) < 0)
		bench_die();
	printf("# diff: built %" PRIu64 " keys as fillseq does in %.3f s\n",
	       c->num, now() - t0);

	unsigned char *used = calloc(c->num / 8 + 1, 1);
	struct chg *ch = bench_xmalloc((sizes[nsizes - 1][0] +
					sizes[nsizes - 1][1]) * sizeof *ch);
	if (!used) {
		fprintf(stderr, "quire-bench: out of memory\n");
		bench_die();
	}
	for (size_t s = 0; s < nsizes; s++) {
		size_t n = sizes[s][0] + sizes[s][1];
		int err;
		if (n * 4 > c->num) {
			printf("# diff: --num too small for a change of %zu "
			       "keys\n", n);
			continue;
		}
		/* distinct keys never changed before: each delta is known */
		for (size_t j = 0; j < n; j++) {
			uint64_t i;
			do
				i = splitmix(&seed) % c->num;
			while (used[i / 8] & (1u << (i % 8)));
			used[i / 8] |= (unsigned char)(1u << (i % 8));
			ch[j] = (struct chg){i, j < sizes[s][1]};
		}
		qsort(ch, n, sizeof *ch, chg_cmp);

		/* a: nothing pending; b: the change, one commit later, as a
		 * batch; c: b folded into the tree */
		if ((err = quire_checkpoint(q)) != 0)
			diff_die("quire_checkpoint", err);
		quire_txn *ta = snapshot(q), *tw;
		if ((err = quire_begin(q, 0, &tw)) != 0)
			diff_die("quire_begin", err);
		for (size_t j = 0; !err && j < n; j++) {
			const char *k = keys + ch[j].i * KLEN;
			err = ch[j].del ? quire_del(tw, k, KLEN)
					: quire_put(tw, k, KLEN,
						    new_val(vlen, ch[j].i),
						    vlen);
		}
		if (err) {
			quire_abort(tw);
			diff_die("write", err);
		}
		if ((err = quire_commit(tw)) != 0)
			diff_die("quire_commit", err);
		live -= sizes[s][1];
		quire_txn *tb = snapshot(q);
		if (quire_txn_id(tb) != quire_txn_id(ta) + 1) {
			fprintf(stderr, "quire-bench: diff: snapshots %" PRIu64
				" and %" PRIu64 " are not one commit apart\n",
				quire_txn_id(ta), quire_txn_id(tb));
			bench_die();
		}
		rows[nrows] = (struct diff_row){.changed = n, .where = "pending"};
		diff_measure(e, db, ta, tb, live, &rows[nrows]);
		bad |= diff_verify(ta, tb, ch, n, keys, vlen) != n;
		bad |= rows[nrows++].differ != n;

		if ((err = quire_checkpoint(q)) != 0)
			diff_die("quire_checkpoint", err);
		quire_txn *tc = snapshot(q);
		rows[nrows] = (struct diff_row){.changed = n, .where = "tree"};
		diff_measure(e, db, ta, tc, live, &rows[nrows]);
		bad |= diff_verify(ta, tc, ch, n, keys, vlen) != n;
		bad |= rows[nrows++].differ != n;
		/* the same data, pending in one and folded in the other */
		bad |= diff_verify(tb, tc, NULL, 0, keys, vlen) != 0;
		quire_abort(ta);
		quire_abort(tb);
		quire_abort(tc);
		if (bad)
			break;
	}
	e->close(db);
	free(used);
	free(ch);
	free(keys);
	if (bad) {
		fprintf(stderr, "quire-bench: diff: the differing keys are not "
				"the changed ones\n");
		bench_die();
	}

	printf("\n| diff, %" PRIu64 " keys | keys changed | diff ms | full scan "
	       "ms | scan/diff |\n|---|---:|---:|---:|---:|\n",
	       c->num);
	for (int i = 0; i < nrows; i++)
		printf("| %s | %zu | %.3f | %.1f | %.1f |\n",
		       strcmp(rows[i].where, "tree")
			       ? "one commit apart, change in a batch"
			       : "the same, after quire_checkpoint",
		       rows[i].changed, rows[i].diff_best * 1e3,
		       rows[i].scan_best * 1e3,
		       rows[i].scan_best / rows[i].diff_best);
	if (!c->keep)
		rm_dir(dir);
	fflush(stdout);
}

static void diff_main(void *arg)
{
	const struct job *j = arg;
	run_diff(j->c, j->in);
}

static void diff_forked(const struct cfg *c, const struct inst *in)
{
	struct job j = {c, 0, in, NULL};
	int st = run_in_child(diff_main, &j);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "quire-bench: diff failed\n");
		exit(1);
	}
}

/* ---- options ---------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr,
		"usage: quire-bench [--num N] [--runs N] [--value-size N] "
		"[--batch N]\n"
		"  [--sync-ops N] [--rww-secs S] [--space-rounds N]\n"
		"  [--engines quire,lmdb,sqlite,leveldb,rocksdb] "
		"[--benchmarks LIST]\n"
		"  [--tuned] [--cache-mb N] [--dir DIR] [--keep] [--seed N] "
		"[--warmup-mb N]\n"
		"benchmarks: fillseq,fillrandom,overwrite,readrandom,readseq,"
		"readreverse,\n"
		"  readwhilewriting,fill100K,read100K,fillsync,space,diff "
		"(default: all);\n"
		"  one of readwhilewriting's: rww-1thread,rww-2threads,"
		"rww-2procs\n"
		"--tuned: also a quire with a 1 GiB node cache (--cache-mb N: "
		"N MiB), in a\n"
		"  separate table; the headline always uses every engine's "
		"defaults\n");
	return 2;
}

/* Every item of list is one of names[0..n) (or extra). */
static int list_ok(const char *list, const char *const *names, size_t n,
		   const char *extra)
{
	size_t len;
	const char *p = list_unknown(list, names, n, extra, &len);
	if (p)
		fprintf(stderr, "quire-bench: unknown name '%.*s'\n", (int)len,
			p);
	return !p;
}

int main(int argc, char **argv)
{
	struct cfg c = {.num = 1000000, .sync_ops = 10000, .seed = 301,
			.value_size = 100, .batch = 1000, .warmup_mb = 2048,
			.tuned_cache_mb = 1024, .runs = 3, .space_rounds = 5,
			.rww_secs = 5};
	const char *engines = "quire,lmdb,sqlite,leveldb,rocksdb";
	const char *benches = NULL;
	char tmpl[] = "/tmp/quire-bench-XXXXXX";
	bench_prog = "quire-bench";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x = 0;
		if (!strcmp(a, "--keep")) {
			c.keep = 1;
			continue;
		}
		if (!strcmp(a, "--tuned")) {
			c.tuned = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--engines"))
			engines = v;
		else if (!strcmp(a, "--benchmarks"))
			benches = v;
		else if (!strcmp(a, "--dir"))
			c.dir = v;
		else if (!strcmp(a, "--rww-secs"))
			c.rww_secs = strtod(v, NULL);
		else if (parse_u64(v, &x))
			return usage();
		else if (!strcmp(a, "--num"))
			c.num = x;
		else if (!strcmp(a, "--runs"))
			c.runs = (unsigned)x;
		else if (!strcmp(a, "--sync-ops"))
			c.sync_ops = x;
		else if (!strcmp(a, "--value-size"))
			c.value_size = (size_t)x;
		else if (!strcmp(a, "--batch"))
			c.batch = (size_t)x;
		else if (!strcmp(a, "--cache-mb")) {
			c.tuned_cache_mb = (size_t)x;
			c.tuned = 1;
		} else if (!strcmp(a, "--space-rounds"))
			c.space_rounds = (unsigned)x;
		else if (!strcmp(a, "--warmup-mb"))
			c.warmup_mb = (size_t)x;
		else if (!strcmp(a, "--seed"))
			c.seed = x;
		else
			return usage();
	}
	/* keys are 16 decimal digits, readwhilewriting's markers lie above
	 * --num */
	if (!c.num || c.num > 1000000000000ull || !c.batch || !c.value_size || !c.sync_ops || !c.runs ||
	    c.runs > MAXRUNS || !c.space_rounds ||
	    c.space_rounds > MAXROUNDS || !(c.rww_secs > 0) ||
	    (c.tuned && !c.tuned_cache_mb)) {
		fprintf(stderr, "quire-bench: --num (up to 10^12), --batch, "
			"--value-size, --sync-ops, --cache-mb and --rww-secs "
			"must be positive, --runs 1..%d, --space-rounds "
			"1..%d\n",
			MAXRUNS, MAXROUNDS);
		return usage();
	}
	c.n100 = c.num / 1000 ? c.num / 1000 : 1;
	c.r100 = 10 * c.n100;

	/* a workload by its group (readwhilewriting: all three) or its own
	 * name (rww-2procs alone) */
	const char *bnames[2 * NW];
	for (int w = 0; w < NW; w++) {
		bnames[2 * w] = wl[w].sel;
		bnames[2 * w + 1] = wl[w].name;
	}
	if (benches && !list_ok(benches, bnames, 2 * NW, "diff"))
		return usage();
	for (int w = 0; w < NW; w++)
		c.run[w] = !benches || in_list(benches, wl[w].sel) ||
			   in_list(benches, wl[w].name);
	c.run_diff = !benches || in_list(benches, "diff");

	const struct {
		const char *name;
		const struct engine *(*get)(void);
	} all[] = {{"quire", engine_quire}, {"lmdb", engine_lmdb},
		   {"sqlite", engine_sqlite}, {"leveldb", engine_leveldb},
		   {"rocksdb", engine_rocksdb}};
	const size_t nall = sizeof all / sizeof all[0];
	const char *enames[sizeof all / sizeof all[0]];
	for (size_t i = 0; i < nall; i++)
		enames[i] = all[i].name;
	if (!list_ok(engines, enames, nall, NULL))
		return usage();

	/* LMDB's map: several times the largest data set of the run (the
	 * space workload's file grows to about twice its raw data), at
	 * least 1 GiB; it only reserves address space */
	uint64_t raw = c.num * (KLEN + c.value_size),
		 big = c.n100 * (KLEN + BIGV);
	c.map_bytes = 8 * (raw > big ? raw : big);
	c.map_bytes = (c.map_bytes + ((uint64_t)1 << 30) - 1) >> 30 << 30;
	for (size_t i = 0; i < nall; i++) {
		if (!in_list(engines, all[i].name))
			continue;
		if (!all[i].get()) {
			printf("# %s: not built in (configure did not find "
			       "it)\n", all[i].name);
			continue;
		}
		struct inst *in = &c.inst[c.ninst++];
		in->e = all[i].get();
		in->o.map_bytes = c.map_bytes;
		snprintf(in->label, sizeof in->label, "%s", all[i].name);
	}
	int have_quire = find_inst(&c, "quire") >= 0;
	if (c.tuned && have_quire) {
		struct inst *in = &c.inst[c.ninst++];
		in->e = engine_quire();
		in->o.cache_mb = c.tuned_cache_mb;
		in->tuned = 1;
		snprintf(in->label, sizeof in->label, "quire-tuned");
	}
	if (c.run[W_SPACE] && have_quire && engine_quire()->has_retention) {
		struct inst *in = &c.inst[c.ninst++];
		in->e = engine_quire();
		in->o.keep_commits = 100;
		in->space_only = 1;
		snprintf(in->label, sizeof in->label, "quire-keep100");
	}
	if (!c.ninst) {
		fprintf(stderr, "quire-bench: no engine to run\n");
		return 2;
	}
	if (c.run_diff && !have_quire) {
		printf("# diff: quire is not among the engines; skipped\n");
		c.run_diff = 0;
	}
	if (!c.dir && !(c.dir = mkdtemp(tmpl))) {
		perror("quire-bench: mkdtemp");
		return 1;
	}
	mkdir(c.dir, 0755);

	char date[32];
	time_t t = time(NULL);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
	printf("# quire-bench (quire %s): %" PRIu64 " keys of %d bytes, %zu-byte "
	       "random values, %zu per commit; fillsync %" PRIu64 " commits; "
	       "fill100K %" PRIu64 " values of %d bytes, read100K %" PRIu64
	       " lookups\n# %u runs of each workload (median, range); "
	       "readwhilewriting %.1f s per variant; space %u rounds; %ld "
	       "CPUs, %s, dir %s, warm-up %zu MiB\n",
	       quire_version(NULL, NULL, NULL), c.num, KLEN, c.value_size,
	       c.batch, c.sync_ops, c.n100, BIGV, c.r100, c.runs, c.rww_secs,
	       c.space_rounds, sysconf(_SC_NPROCESSORS_ONLN), date, c.dir,
	       c.warmup_mb);
	for (int i = 0; i < c.ninst; i++) {
		char d[512];
		c.inst[i].e->describe(d, sizeof d, &c.inst[i].o);
		printf("# engine %s: %s\n", c.inst[i].label, d);
	}
	printf("# every workload of every engine runs in its own process; "
	       "rss/hwm: memory the engine added to it\n");

	g_vpool = (c.value_size > BIGV ? c.value_size : BIGV) + (1 << 20);
	g_vals = malloc(g_vpool);
	if (!g_vals) {
		fprintf(stderr, "quire-bench: out of memory\n");
		return 1;
	}
	uint64_t seed = c.seed;
	for (size_t i = 0; i < g_vpool; i++)
		g_vals[i] = (char)splitmix(&seed);
	warm_up(c.dir, c.warmup_mb);

	resarr *res = calloc((size_t)c.ninst, sizeof *res);
	struct result *shared = mmap(NULL, sizeof *shared,
				     PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!res || shared == MAP_FAILED) {
		fprintf(stderr, "quire-bench: out of memory\n");
		return 1;
	}
	for (unsigned run = 0; run < c.runs; run++) {
		for (int w = 0; w < NW; w++) {
			for (int i = 0; c.run[w] && i < c.ninst; i++) {
				struct inst *in = &c.inst[i];
				if (in->space_only && w != W_SPACE)
					continue;
				if (w == W_RWWP && !in->e->multi_process) {
					res[i][w][run].skipped = 1;
					if (!run)
						printf("# %s %s: skipped: %s\n",
						       in->label, wl[w].name,
						       in->e->single_process);
					continue;
				}
				run_forked(&c, w, in, run, shared,
					   &res[i][w][run]);
			}
			/* a database no later workload of the round reads
			 * goes now: at 10M keys some take many GB */
			int later = 0;
			for (int v = w + 1; v < NW; v++)
				later |= c.run[v] && !wl[v].fresh &&
					 !strcmp(wl[v].db, wl[w].db);
			if (c.run[w] && !later && !c.keep)
				for (int i = 0; i < c.ninst; i++) {
					char dir[4096];
					db_dir(dir, sizeof dir, &c, &c.inst[i],
					       wl[w].db);
					rm_dir(dir);
				}
		}
		/* the next round starts from fresh databases */
		if (!c.keep || run + 1 < c.runs)
			for (int i = 0; i < c.ninst; i++)
				for (int w = 0; w < NW; w++) {
					char dir[4096];
					db_dir(dir, sizeof dir, &c, &c.inst[i],
					       wl[w].db);
					rm_dir(dir);
				}
	}
	summary(&c, res);
	if (c.run_diff)
		diff_forked(&c, &c.inst[find_inst(&c, "quire")]);

	if (!c.keep && c.dir == tmpl)
		rmdir(c.dir);
	free(res);
	free(g_vals);
	return 0;
}
