/*
 * quire-bench.c - db_bench workloads (LevelDB's, as ported to LMDB and
 * SQLite by Symas) against quire, LMDB and SQLite in one run, with ratios.
 *
 *   fillseq     keys 0..N-1 in order, --batch keys per commit, no fsync
 *   fillrandom  N keys drawn uniformly from [0, N), same commits
 *   overwrite   N more random keys into the fillrandom database
 *   readrandom  N random lookups in one read transaction (after reopening
 *               the overwritten database)
 *   readseq     one full scan, touching every key and value
 *   fillsync    --sync-ops random keys, one per durable commit
 *   diff        quire only, after the others: quire_diff of two versions
 *               one commit apart against a full scan (see run_diff)
 *
 * Only the operations are timed (not open and close). Each workload runs
 * for every engine before the next workload starts, so that slow drift of
 * the machine hits all engines alike. Not a test: it prints figures.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "quire.h"

#define KLEN 16
#define NBENCH 6

volatile unsigned bench_sink;

static const char *const bench_names[NBENCH] = {
	"fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "fillsync",
};

struct result {
	int ran;
	uint64_t ops;
	double secs;
	uint64_t write_bytes, wchar, file_bytes;
};

struct cfg {
	uint64_t num, sync_ops, seed;
	size_t value_size, batch, cache_mb, warmup_mb;
	const char *dir;
	int keep;
	int run[NBENCH], run_diff;
	const struct engine *eng[3];
	int neng;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t total = 0;
	char path[4096];
	struct stat st;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

/* write_bytes (storage writes) and wchar (bytes passed to write calls) of
 * this process, from /proc/self/io; zeros where unavailable. */
static void proc_io(uint64_t *write_bytes, uint64_t *wchar)
{
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");
	*write_bytes = *wchar = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;
		if (sscanf(line, "write_bytes: %llu", &v) == 1)
			*write_bytes = v;
		else if (sscanf(line, "wchar: %llu", &v) == 1)
			*wchar = v;
	}
	fclose(f);
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

static void fresh_dir(char *out, size_t n, const struct cfg *c,
		      const struct engine *e, const char *what)
{
	snprintf(out, n, "%s/%s-%s", c->dir, e->name, what);
	rm_dir(out);
	if (mkdir(out, 0755) != 0) {
		fprintf(stderr, "quire-bench: mkdir %s: %s\n", out,
			strerror(errno));
		exit(1);
	}
}

/* Keys as db_bench writes them: the number in 16 decimal digits. */
static char *make_keys(uint64_t n, uint64_t range, uint64_t *seed)
{
	char *k = malloc(n * KLEN);
	if (!k) {
		fprintf(stderr, "quire-bench: out of memory\n");
		exit(1);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = range ? splitmix(seed) % range : i;
		for (int d = KLEN - 1; d >= 0; d--, v /= 10)
			k[i * KLEN + (uint64_t)d] = (char)('0' + v % 10);
	}
	return k;
}

/* The value the writes give the i-th key: a window of the random pool. */
static const char *val_of(const char *vals, size_t vpool, size_t vlen,
			  uint64_t i)
{
	return vals + (i * 97) % (vpool - vlen);
}

/* Run the writes of keys[0..n) in commits of batch keys. */
static int write_all(const struct engine *e, void *db, const char *keys,
		     uint64_t n, size_t batch, const char *vals, size_t vpool,
		     size_t vlen)
{
	struct kv *kv = malloc(batch * sizeof *kv);
	int rc = 0;
	for (uint64_t i = 0; i < n && !rc;) {
		size_t m = 0;
		for (; m < batch && i < n; m++, i++) {
			kv[m].key = keys + i * KLEN;
			kv[m].val = val_of(vals, vpool, vlen, i);
		}
		rc = e->write(db, kv, m, KLEN, vlen);
	}
	free(kv);
	return rc;
}

static void print_result(const char *engine, const char *bench,
			 const struct result *r, size_t vlen)
{
	double ops = r->secs > 0 ? (double)r->ops / r->secs : 0;
	printf("%-7s %-11s %12.0f ops/s %8.1f MB/s %8.3f s  write_bytes "
	       "%12" PRIu64 "  wchar %12" PRIu64 "  file %12" PRIu64 "\n",
	       engine, bench, ops, ops * (double)(KLEN + vlen) / 1e6, r->secs,
	       r->write_bytes, r->wchar, r->file_bytes);
	fflush(stdout);
}

static void run_one(const struct cfg *c, int b, const struct engine *e,
		    struct result *r, const char *vals, size_t vpool,
		    const char *const keys[4])
{
	char dir[4096];
	uint64_t wb0, wc0, wb1, wc1;
	void *db;
	double t0 = 0, t1 = 0;
	int64_t got = 0;
	int sync = b == 5;
	if (b == 0)
		fresh_dir(dir, sizeof dir, c, e, "seq");
	else if (b == 1)
		fresh_dir(dir, sizeof dir, c, e, "rand");
	else if (b == 5)
		fresh_dir(dir, sizeof dir, c, e, "sync");
	else
		snprintf(dir, sizeof dir, "%s/%s-rand", c->dir, e->name);
	if (!(db = e->open(dir, sync, c->cache_mb)))
		exit(1);
	proc_io(&wb0, &wc0);
	t0 = now();
	switch (b) {
	case 0:
	case 1:
	case 2:
		got = write_all(e, db, keys[b], c->num, c->batch, vals, vpool,
				c->value_size);
		r->ops = c->num;
		break;
	case 3:
		got = e->read_random(db, keys[3], c->num, KLEN);
		r->ops = c->num;
		break;
	case 4:
		r->ops = (uint64_t)(got = e->read_seq(db));
		break;
	case 5:
		got = write_all(e, db, keys[1], c->sync_ops, 1, vals, vpool,
				c->value_size);
		r->ops = c->sync_ops;
		break;
	}
	t1 = now();
	proc_io(&wb1, &wc1);
	e->close(db);
	if (got < 0) {
		fprintf(stderr, "quire-bench: %s %s failed\n", e->name,
			bench_names[b]);
		exit(1);
	}
	if (b == 3)
		printf("# %s readrandom: %" PRId64 " of %" PRIu64 " found\n",
		       e->name, got, c->num);
	r->ran = 1;
	r->secs = t1 - t0;
	r->write_bytes = wb1 - wb0;
	r->wchar = wc1 - wc0;
	r->file_bytes = e->file_bytes(dir);
	print_result(e->name, bench_names[b], r, c->value_size);
}

/* Write and remove a scratch file: on virtual machines the first touch of
 * memory the guest has not used recently costs a fault in the host, which
 * would otherwise fall on whichever engine runs first. */
static void warm_up(const struct cfg *c)
{
	char path[4096];
	size_t chunk = (size_t)1 << 20;
	char *buf = calloc(1, chunk);
	snprintf(path, sizeof path, "%s/warmup", c->dir);
	FILE *f = fopen(path, "w");
	for (size_t i = 0; f && buf && i < c->warmup_mb; i++)
		fwrite(buf, 1, chunk, f);
	if (f)
		fclose(f);
	unlink(path);
	free(buf);
}

static void summary(const struct cfg *c, struct result res[][NBENCH])
{
	printf("\n| workload |");
	for (int e = 0; e < c->neng; e++)
		printf(" %s ops/s |", c->eng[e]->name);
	for (int e = 1; e < c->neng; e++)
		printf(" quire/%s |", c->eng[e]->name);
	printf("\n|---|");
	for (int e = 0; e < 2 * c->neng - 1; e++)
		printf("---:|");
	printf("\n");
	for (int b = 0; b < NBENCH; b++) {
		if (!c->run[b])
			continue;
		printf("| %s |", bench_names[b]);
		double q = 0;
		for (int e = 0; e < c->neng; e++) {
			const struct result *r = &res[e][b];
			double ops = r->secs > 0 ? (double)r->ops / r->secs : 0;
			if (e == 0)
				q = ops;
			printf(" %.0f |", ops);
		}
		for (int e = 1; e < c->neng; e++) {
			const struct result *r = &res[e][b];
			double ops = r->secs > 0 ? (double)r->ops / r->secs : 0;
			printf(" %.2f |", ops > 0 ? q / ops : 0);
		}
		printf("\n");
	}
	printf("\n| file bytes after | ");
	for (int e = 0; e < c->neng; e++)
		printf("%s: fillseq %.1f MB, fillrandom+overwrite %.1f MB; ",
		       c->eng[e]->name, (double)res[e][0].file_bytes / 1e6,
		       (double)res[e][2].file_bytes / 1e6);
	printf("|\n");
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

/* One changed key: its number (keys[0] holds key i at i * KLEN) and
 * whether the change deletes it (else it gets a new value). */
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
static const char *new_val(const char *vals, size_t vpool, size_t vlen,
			   uint64_t i)
{
	return vals + (i * 97 + 1) % (vpool - vlen);
}

static void diff_die(const char *what, int e)
{
	fprintf(stderr, "quire-bench: diff: %s: %s (%s)\n", what,
		quire_strerror(e), quire_errmsg());
	exit(1);
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
			    size_t n, const char *keys, const char *vals,
			    size_t vpool, size_t vlen)
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
		    memcmp(dl.a.data, val_of(vals, vpool, vlen, x->i), vlen) ||
		    (!x->del && (dl.b.size != vlen ||
				 memcmp(dl.b.data,
					new_val(vals, vpool, vlen, x->i),
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
			exit(1);
		}
		if (t1 - t0 < r->scan_best)
			r->scan_best = t1 - t0;
	}
	printf("%-7s %-11s %5zu changed, %-7s %5" PRIu64 " differ  diff %10.3f "
	       "ms (first %.3f)  scan %10.3f ms  scan/diff %9.1f\n",
	       e->name, "diff", r->changed, r->where, r->differ,
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

static void run_diff(const struct cfg *c, const char *vals, size_t vpool,
		     const char *keys)
{
	/* puts and deletes of each change, the largest last */
	static const size_t sizes[][2] = {{10, 1}, {990, 10}};
	const size_t nsizes = sizeof sizes / sizeof sizes[0];
	const struct engine *e = engine_quire();
	size_t vlen = c->value_size;
	struct diff_row rows[4];
	int nrows = 0, bad = 0;
	uint64_t seed = c->seed ^ 0xd1ffull, live = c->num;
	char dir[4096];
	void *db;

	fresh_dir(dir, sizeof dir, c, e, "diff");
	if (!(db = e->open(dir, 0, c->cache_mb)))
		exit(1);
	quire *q = engine_quire_handle(db);
	double t0 = now();
	if (write_all(e, db, keys, c->num, c->batch, vals, vpool, vlen) < 0)
		exit(1);
	printf("# diff: built %" PRIu64 " keys as fillseq does in %.3f s\n",
	       c->num, now() - t0);

	unsigned char *used = calloc(c->num / 8 + 1, 1);
	struct chg *ch = malloc((sizes[nsizes - 1][0] + sizes[nsizes - 1][1]) *
				sizeof *ch);
	if (!used || !ch) {
		fprintf(stderr, "quire-bench: out of memory\n");
		exit(1);
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
						    new_val(vals, vpool, vlen,
							    ch[j].i),
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
			exit(1);
		}
		rows[nrows] = (struct diff_row){.changed = n, .where = "pending"};
		diff_measure(e, db, ta, tb, live, &rows[nrows]);
		bad |= diff_verify(ta, tb, ch, n, keys, vals, vpool, vlen) != n;
		bad |= rows[nrows++].differ != n;

		if ((err = quire_checkpoint(q)) != 0)
			diff_die("quire_checkpoint", err);
		quire_txn *tc = snapshot(q);
		rows[nrows] = (struct diff_row){.changed = n, .where = "tree"};
		diff_measure(e, db, ta, tc, live, &rows[nrows]);
		bad |= diff_verify(ta, tc, ch, n, keys, vals, vpool, vlen) != n;
		bad |= rows[nrows++].differ != n;
		/* the same data, pending in one and folded in the other */
		bad |= diff_verify(tb, tc, NULL, 0, keys, vals, vpool, vlen) != 0;
		quire_abort(ta);
		quire_abort(tb);
		quire_abort(tc);
		if (bad)
			break;
	}
	e->close(db);
	free(used);
	free(ch);
	if (bad) {
		fprintf(stderr, "quire-bench: diff: the differing keys are not "
				"the changed ones\n");
		exit(1);
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
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: quire-bench [--num N] [--sync-ops N] [--value-size N]\n"
		"  [--batch N] [--engines quire,lmdb,sqlite] [--benchmarks LIST]\n"
		"  [--dir DIR] [--keep] [--cache-mb N] [--seed N] [--warmup-mb N]\n"
		"benchmarks: fillseq,fillrandom,overwrite,readrandom,readseq,"
		"fillsync,diff\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct cfg c = {.num = 1000000, .sync_ops = 10000, .seed = 301,
			.value_size = 100, .batch = 1000, .cache_mb = 1024,
			.warmup_mb = 2048};
	const char *engines = "quire,lmdb,sqlite", *benches = NULL;
	char tmpl[] = "/tmp/quire-bench-XXXXXX";
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
		else if (!strcmp(a, "--sync-ops"))
			c.sync_ops = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--value-size"))
			c.value_size = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--batch"))
			c.batch = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--cache-mb"))
			c.cache_mb = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--warmup-mb"))
			c.warmup_mb = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			c.seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--engines"))
			engines = v;
		else if (!strcmp(a, "--benchmarks"))
			benches = v;
		else if (!strcmp(a, "--dir"))
			c.dir = v;
		else
			return usage();
	}
	if (!c.num || !c.batch || !c.value_size || !c.sync_ops)
		return usage();
	int any = 0;
	for (int b = 0; b < NBENCH; b++)
		any |= c.run[b] = !benches ||
				  strstr(benches, bench_names[b]) != NULL;
	c.run_diff = !benches || strstr(benches, "diff") != NULL;
	const struct {
		const char *name;
		const struct engine *(*get)(void);
	} all[] = {{"quire", engine_quire}, {"lmdb", engine_lmdb},
		   {"sqlite", engine_sqlite}};
	for (size_t i = 0; i < 3; i++) {
		if (!strstr(engines, all[i].name))
			continue;
		if (!all[i].get())
			printf("# %s: not built in (configure did not find it)\n",
			       all[i].name);
		else
			c.eng[c.neng++] = all[i].get();
	}
	if (!c.neng || c.eng[0] != engine_quire()) {
		fprintf(stderr, "quire-bench: quire must be among the engines\n");
		return 2;
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
	       "random values, %zu per commit; fillsync %" PRIu64 " commits\n"
	       "# quire cache %zu MiB, %ld CPUs, %s, dir %s, warm-up %zu MiB\n",
	       quire_version(NULL, NULL, NULL), c.num, KLEN, c.value_size,
	       c.batch, c.sync_ops, c.cache_mb, sysconf(_SC_NPROCESSORS_ONLN),
	       date, c.dir, c.warmup_mb);

	uint64_t seed = c.seed;
	size_t vpool = c.value_size + (1 << 20);
	char *vals = malloc(vpool);
	for (size_t i = 0; vals && i < vpool; i++)
		vals[i] = (char)splitmix(&seed);
	const char *keys[4] = {make_keys(c.num, 0, &seed),
			       make_keys(c.num, c.num, &seed),
			       make_keys(c.num, c.num, &seed),
			       make_keys(c.num, c.num, &seed)};
	warm_up(&c);

	struct result res[3][NBENCH];
	memset(res, 0, sizeof res);
	for (int b = 0; b < NBENCH; b++)
		for (int e = 0; c.run[b] && e < c.neng; e++)
			run_one(&c, b, c.eng[e], &res[e][b], vals, vpool, keys);
	if (any)
		summary(&c, res);
	if (c.run_diff)
		run_diff(&c, vals, vpool, keys[0]);

	if (!c.keep)
		for (int e = 0; e < c.neng; e++) {
			const char *w[] = {"seq", "rand", "sync", "diff"};
			for (int i = 0; i < 4; i++) {
				char dir[4096];
				snprintf(dir, sizeof dir, "%s/%s-%s", c.dir,
					 c.eng[e]->name, w[i]);
				rm_dir(dir);
			}
		}
	if (!c.keep && c.dir == tmpl)
		rmdir(c.dir);
	for (int i = 0; i < 4; i++)
		free((void *)keys[i]);
	free(vals);
	return 0;
}
