/*
 * keyspace-bench.c - figures for keyspaces (issue 14, point 5): a database
 * of --keyspaces (100) named keyspaces of --per-keyspace (10k) keys each,
 * written, read at random and scanned through quire's keyspace views,
 * against LMDB with as many named databases, and against the same keys in
 * one keyspace (quire's default one, LMDB's main database) as the "no
 * keyspaces" reference. N = keyspaces * per-keyspace (1M) keys.
 *
 * The data. Entry e (0 <= e < N) lives in keyspace e % K (K: --keyspaces)
 * under the key (e * A + B) mod 10^16 in 16 decimal digits (A coprime to
 * 10, drawn from --seed: a bijection, so every key is distinct, and the
 * keys of one keyspace are spread over the whole key range). Its value is
 * a window of --value-size (100) bytes of a random pool. The reference
 * engines put the same N keys (already distinct) in one keyspace.
 *
 *   put    the N entries in random order, --batch (1000) puts per commit,
 *          no fsync: each commit touches about every keyspace (1000 puts
 *          over 100 keyspaces). quire: every write transaction opens the
 *          view of a keyspace the first time it puts into it
 *          (quire_keyspace with QUIRE_CREATE) and keeps it until the
 *          commit of the base transaction. LMDB: the MDB_dbi handles are
 *          opened once, when the environment is opened (that is how LMDB
 *          is used: a handle lives as long as the environment).
 *   get    N lookups of entries drawn uniformly at random (all present),
 *          --gets-per-txn (100) per read transaction; quire opens the view
 *          of a keyspace the first time the transaction needs it and keeps
 *          it for the rest of the transaction (what a user does: views
 *          end with their transaction), so this includes the cost of
 *          opening views
 *   get-1txn  the same N lookups in one read transaction: each view is
 *          opened once, so this is the lookup path of a view alone
 *   scan   one read transaction that scans every keyspace in turn from
 *          first to last key through a cursor, touching each key and
 *          value, and checks that every keyspace holds its keys (the
 *          reference engines: one scan of the N keys)
 *
 * Setup. Creating the K keyspaces (named databases) is done once, untimed,
 * in a transaction of its own when the empty database is opened; the
 * reference engines have nothing to create.
 *
 * Runs and memory. As quire-bench: every phase of every engine runs in a
 * forked child process that builds its key arrays, opens the database
 * (not timed), runs the phase and closes it. A round runs each phase for
 * every engine before the next phase, from fresh databases; --runs (3)
 * rounds; the table shows the median with the range (min-max), nearest
 * rank (bench/stats.c). Memory: the child's VmHWM (reset before the open)
 * minus its VmRSS before the open: what the engine added to the process at
 * its peak. The file size is that of the database directory after the
 * put phase. Every engine with its defaults: quire with
 * quire_options_init() and QUIRE_NOSYNC; LMDB with MDB_NOSYNC and a map
 * size of eight times the raw key+value bytes rounded up to a GiB, as
 * quire-bench does, and mdb_env_set_maxdbs(128) (at least K + 1) for the
 * named databases.
 *
 * Every lookup must find its key and every scan must see exactly the keys
 * put: the program fails otherwise. Not a test: it prints figures and
 * exits nonzero only when something fails.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LMDB
#include <lmdb.h>
#endif

#include "benchutil.h"
#include "quire.h"
#include "stats.h"

#define KLEN 16
#define MAXRUNS 25
#define MAXENG 4
#define KEYMOD 10000000000000000ull /* 10^16: keys are 16 digits */

/* ---- configuration and data ---------------------------------------------- */

struct cfg {
	uint64_t nks, per, num, gets, seed;
	size_t value_size, batch, gets_per_txn, warmup_mb;
	unsigned runs;
	int keep;
	const char *dir;
	uint64_t map_bytes;
	uint64_t mul, add;	/* the key bijection */
};

static struct cfg C;
static char *g_vals;
static size_t g_vpool;

static uint64_t ks_of(uint64_t e)
{
	return e % C.nks;
}

static void key_of(char *k, uint64_t e)
{
	uint64_t v = (uint64_t)(((unsigned __int128)e * C.mul + C.add) %
				KEYMOD);
	for (int d = KLEN - 1; d >= 0; d--, v /= 10)
		k[d] = (char)('0' + v % 10);
}

static const char *val_of(uint64_t e)
{
	return g_vals + (e * 97) % (g_vpool - C.value_size);
}

/* Keyspace i's name: "ks" and three or more digits. */
static size_t ks_name(char *buf, size_t n, uint64_t i)
{
	return (size_t)snprintf(buf, n, "ks%03" PRIu64, i);
}

static uint64_t *make_draws(uint64_t n, uint64_t range, uint64_t seed)
{
	uint64_t *p = bench_xmalloc(n * sizeof *p);
	for (uint64_t i = 0; i < n; i++)
		p[i] = splitmix(&seed) % range;
	return p;
}

/* ---- engines ------------------------------------------------------------- */

/*
 * An engine: named (K keyspaces) or one keyspace (the reference). The
 * entry calls take entry numbers; the engine finds keyspace, key and
 * value through ks_of, key_of, val_of.
 */
struct eng {
	const char *label;
	int named;
	void (*describe)(const struct eng *e, char *buf, size_t n);
	void *(*open)(const struct eng *e, const char *dir, int fresh);
	void (*close)(void *db);
	/* one commit of ent[0..n) */
	int (*put)(void *db, const uint64_t *ent, size_t n);
	/* ent[0..n) in one read transaction: keys found or -1 */
	int64_t (*get)(void *db, const uint64_t *ent, size_t n);
	/* every keyspace scanned in one read transaction; count[ks] = keys
	 * seen (count[0] only for the reference); -1 on error */
	int (*scan)(void *db, uint64_t *count);
	/* views (quire) opened so far, for the report; NULL: none */
	uint64_t (*views)(void *db);
};

/* -- quire -- */

struct qdb {
	quire *db;
	int named;
	quire_txn **v;		/* per keyspace: the view in this txn */
	char (*name)[24];
	size_t *nlen;
	uint64_t opened;
};

static int qfail(const char *what, int e)
{
	fprintf(stderr, "quire: %s: %s (%s)\n", what, quire_strerror(e),
		quire_errmsg());
	return -1;
}

static void q_describe(const struct eng *e, char *buf, size_t n)
{
	quire_options d;
	quire_options_init(&d);
	snprintf(buf, n, "quire %s: quire_options_init() defaults (node cache "
		 "%zu MiB), QUIRE_NOSYNC; %s", quire_version(NULL, NULL, NULL),
		 d.cache_size >> 20,
		 e->named ? "a named keyspace per keyspace, views opened once "
			    "per transaction"
			  : "every key in the default keyspace (no keyspaces)");
}

static void *q_open(const struct eng *en, const char *dir, int fresh)
{
	char path[4096];
	quire_options o;
	struct qdb *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->named = en->named;
	q->v = calloc(C.nks, sizeof *q->v);
	q->name = calloc(C.nks, sizeof *q->name);
	q->nlen = calloc(C.nks, sizeof *q->nlen);
	if (!q->v || !q->name || !q->nlen)
		return NULL;
	for (uint64_t i = 0; i < C.nks; i++)
		q->nlen[i] = ks_name(q->name[i], sizeof q->name[i], i);
	snprintf(path, sizeof path, "%s/bench.quire", dir);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	int e = quire_open(path, &o, &q->db);
	if (e) {
		qfail("open", e);
		return NULL;
	}
	if (fresh && q->named) {
		quire_txn *t, *v;
		if ((e = quire_begin(q->db, 0, &t)) != 0) {
			qfail("begin", e);
			return NULL;
		}
		for (uint64_t i = 0; i < C.nks; i++)
			if ((e = quire_keyspace(t, q->name[i], q->nlen[i],
						QUIRE_CREATE, &v)) != 0) {
				qfail("keyspace create", e);
				quire_abort(t);
				return NULL;
			}
		if ((e = quire_commit(t)) != 0) {
			qfail("commit (keyspaces)", e);
			return NULL;
		}
	}
	return q;
}

static void q_close(void *p)
{
	struct qdb *q = p;
	int e = quire_close(q->db);
	if (e)
		qfail("close", e);
	free(q->v);
	free(q->name);
	free(q->nlen);
	free(q);
}

/* The view of keyspace ks in t, opened the first time t needs it. */
static int q_view(struct qdb *q, quire_txn *t, uint64_t ks, unsigned flags,
		  quire_txn **out)
{
	if (!q->named) {
		*out = t;
		return 0;
	}
	if (!q->v[ks]) {
		int e = quire_keyspace(t, q->name[ks], q->nlen[ks], flags,
				       &q->v[ks]);
		if (e)
			return e;
		q->opened++;
	}
	*out = q->v[ks];
	return 0;
}

static void q_forget(struct qdb *q)
{
	if (q->named)
		memset(q->v, 0, C.nks * sizeof *q->v);
}

static int q_put(void *p, const uint64_t *ent, size_t n)
{
	struct qdb *q = p;
	quire_txn *t, *v;
	char k[KLEN];
	int e = quire_begin(q->db, 0, &t);
	if (e)
		return qfail("begin", e);
	q_forget(q);
	for (size_t i = 0; i < n; i++) {
		key_of(k, ent[i]);
		if ((e = q_view(q, t, ks_of(ent[i]), QUIRE_CREATE, &v)) != 0 ||
		    (e = quire_put(v, k, KLEN, val_of(ent[i]),
				   C.value_size)) != 0) {
			quire_abort(t);
			return qfail("put", e);
		}
	}
	e = quire_commit(t);
	q_forget(q);
	return e ? qfail("commit", e) : 0;
}

static int64_t q_get(void *p, const uint64_t *ent, size_t n)
{
	struct qdb *q = p;
	quire_txn *t, *v;
	quire_val val;
	char k[KLEN];
	int64_t found = 0;
	int e = quire_begin(q->db, QUIRE_RDONLY, &t);
	if (e)
		return qfail("begin", e);
	q_forget(q);
	for (size_t i = 0; i < n; i++) {
		key_of(k, ent[i]);
		if ((e = q_view(q, t, ks_of(ent[i]), 0, &v)) != 0)
			break;
		e = quire_get(v, k, KLEN, &val);
		if (e == 0) {
			touch(val.data, val.size);
			found++;
		} else if (e != QUIRE_NOTFOUND)
			break;
	}
	quire_abort(t);
	q_forget(q);
	return e && e != QUIRE_NOTFOUND ? qfail("get", e) : found;
}

static int q_scan_one(quire_txn *v, uint64_t *count)
{
	quire_cursor *c;
	quire_val k, val;
	int e = quire_cursor_open(v, &c);
	if (e)
		return qfail("cursor", e);
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c)) {
		if ((e = quire_cursor_key(c, &k)) != 0 ||
		    (e = quire_cursor_value(c, &val)) != 0)
			break;
		touch(k.data, k.size);
		touch(val.data, val.size);
		(*count)++;
	}
	quire_cursor_close(c);
	return e != QUIRE_NOTFOUND ? qfail("scan", e) : 0;
}

static int q_scan(void *p, uint64_t *count)
{
	struct qdb *q = p;
	quire_txn *t, *v;
	int rc = 0;
	int e = quire_begin(q->db, QUIRE_RDONLY, &t);
	if (e)
		return qfail("begin", e);
	q_forget(q);
	for (uint64_t ks = 0; ks < (q->named ? C.nks : 1) && !rc; ks++) {
		if ((e = q_view(q, t, ks, 0, &v)) != 0)
			rc = qfail("keyspace", e);
		else
			rc = q_scan_one(v, &count[ks]);
	}
	quire_abort(t);
	q_forget(q);
	return rc;
}

static uint64_t q_views(void *p)
{
	return ((struct qdb *)p)->opened;
}

/* -- LMDB -- */

#ifdef HAVE_LMDB
struct ldb {
	MDB_env *env;
	int named;
	MDB_dbi *dbi;
};

static int lfail(const char *what, int e)
{
	fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(e));
	return -1;
}

static unsigned l_maxdbs(void)
{
	return C.nks + 1 > 128 ? (unsigned)C.nks + 1 : 128;
}

static void l_describe(const struct eng *e, char *buf, size_t n)
{
	if (e->named)
		snprintf(buf, n, "%s; defaults except mapsize %.1f GiB (as "
			 "quire-bench), MDB_NOSYNC, mdb_env_set_maxdbs(%u); a "
			 "named database per keyspace (mdb_dbi_open "
			 "MDB_CREATE), handles opened once per environment",
			 mdb_version(NULL, NULL, NULL),
			 (double)C.map_bytes / (1 << 30), l_maxdbs());
	else
		snprintf(buf, n, "%s; defaults except mapsize %.1f GiB (as "
			 "quire-bench), MDB_NOSYNC; every key in the main "
			 "database (no named databases)",
			 mdb_version(NULL, NULL, NULL),
			 (double)C.map_bytes / (1 << 30));
}

static void *l_open(const struct eng *en, const char *dir, int fresh)
{
	struct ldb *l = calloc(1, sizeof *l);
	MDB_txn *t;
	char name[24];
	int e;
	(void)fresh;
	if (!l)
		return NULL;
	l->named = en->named;
	if (!(l->dbi = calloc(C.nks, sizeof *l->dbi)))
		return NULL;
	if ((e = mdb_env_create(&l->env)) ||
	    (e = mdb_env_set_mapsize(l->env, (size_t)C.map_bytes)) ||
	    (l->named && (e = mdb_env_set_maxdbs(l->env, l_maxdbs()))) ||
	    (e = mdb_env_open(l->env, dir, MDB_NOSYNC, 0644)) ||
	    (e = mdb_txn_begin(l->env, NULL, 0, &t))) {
		lfail("open", e);
		return NULL;
	}
	for (uint64_t i = 0; i < (l->named ? C.nks : 1); i++) {
		ks_name(name, sizeof name, i);
		if ((e = mdb_dbi_open(t, l->named ? name : NULL,
				      l->named ? MDB_CREATE : 0,
				      &l->dbi[i])) != 0) {
			lfail("dbi_open", e);
			mdb_txn_abort(t);
			return NULL;
		}
	}
	if ((e = mdb_txn_commit(t)) != 0) {
		lfail("commit (dbi_open)", e);
		return NULL;
	}
	return l;
}

static void l_close(void *p)
{
	struct ldb *l = p;
	mdb_env_close(l->env);
	free(l->dbi);
	free(l);
}

static MDB_dbi l_dbi(const struct ldb *l, uint64_t e)
{
	return l->dbi[l->named ? ks_of(e) : 0];
}

static int l_put(void *p, const uint64_t *ent, size_t n)
{
	struct ldb *l = p;
	MDB_txn *t;
	char kb[KLEN];
	int e = mdb_txn_begin(l->env, NULL, 0, &t);
	if (e)
		return lfail("begin", e);
	for (size_t i = 0; i < n; i++) {
		key_of(kb, ent[i]);
		MDB_val k = {KLEN, kb},
			v = {C.value_size, (void *)val_of(ent[i])};
		if ((e = mdb_put(t, l_dbi(l, ent[i]), &k, &v, 0)) != 0) {
			mdb_txn_abort(t);
			return lfail("put", e);
		}
	}
	return (e = mdb_txn_commit(t)) ? lfail("commit", e) : 0;
}

static int64_t l_get(void *p, const uint64_t *ent, size_t n)
{
	struct ldb *l = p;
	MDB_txn *t;
	char kb[KLEN];
	int64_t found = 0;
	int e = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t);
	if (e)
		return lfail("begin", e);
	for (size_t i = 0; i < n; i++) {
		key_of(kb, ent[i]);
		MDB_val k = {KLEN, kb}, v;
		if ((e = mdb_get(t, l_dbi(l, ent[i]), &k, &v)) == 0) {
			touch(v.mv_data, v.mv_size);
			found++;
		} else if (e != MDB_NOTFOUND)
			break;
	}
	mdb_txn_abort(t);
	return e && e != MDB_NOTFOUND ? lfail("get", e) : found;
}

static int l_scan(void *p, uint64_t *count)
{
	struct ldb *l = p;
	MDB_txn *t;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0;
	int e = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t);
	if (e)
		return lfail("begin", e);
	for (uint64_t ks = 0; ks < (l->named ? C.nks : 1) && !rc; ks++) {
		if ((e = mdb_cursor_open(t, l->dbi[ks], &c)) != 0) {
			rc = lfail("cursor", e);
			break;
		}
		for (e = mdb_cursor_get(c, &k, &v, MDB_FIRST); e == 0;
		     e = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			touch(k.mv_data, k.mv_size);
			touch(v.mv_data, v.mv_size);
			count[ks]++;
		}
		mdb_cursor_close(c);
		if (e != MDB_NOTFOUND)
			rc = lfail("scan", e);
	}
	mdb_txn_abort(t);
	return rc;
}
#endif

static const struct eng engines[] = {
	{"quire", 1, q_describe, q_open, q_close, q_put, q_get, q_scan,
	 q_views},
#ifdef HAVE_LMDB
	{"lmdb", 1, l_describe, l_open, l_close, l_put, l_get, l_scan, NULL},
#endif
	{"quire-1ks", 0, q_describe, q_open, q_close, q_put, q_get, q_scan,
	 NULL},
#ifdef HAVE_LMDB
	{"lmdb-1db", 0, l_describe, l_open, l_close, l_put, l_get, l_scan,
	 NULL},
#endif
};
#define NENG (sizeof engines / sizeof engines[0])

/* ---- phases ---------------------------------------------------------------- */

enum { P_PUT, P_GET, P_GET1, P_SCAN, NP };
static const char *const pname[NP] = {"put", "get", "get-1txn", "scan"};

struct result {
	int ok;
	uint64_t ops, found, views, file_bytes;
	double secs;
	struct mem base, mem;
};

enum { S_PUT = 1, S_GET, S_KEYS };

static uint64_t set_seed(uint64_t set)
{
	uint64_t s = C.seed * 0x100 + set;
	return splitmix(&s);
}

static void run_child(const struct eng *en, int ph, const char *dir,
		      struct result *r)
{
	uint64_t *ent = NULL, n = 0;
	uint64_t *count = calloc(C.nks, sizeof *count);
	if (!count)
		bench_die();
	if (ph == P_PUT) {
		rm_dir(dir);
		if (mkdir(dir, 0755) != 0) {
			fprintf(stderr, "keyspace-bench: mkdir %s: %s\n", dir,
				strerror(errno));
			bench_die();
		}
		ent = make_perm(n = C.num, set_seed(S_PUT));
	} else if (ph == P_GET || ph == P_GET1) {
		ent = make_draws(n = C.gets, C.num, set_seed(S_GET));
	}
	reset_hwm();
	proc_mem(&r->base);
	void *db = en->open(en, dir, ph == P_PUT);
	if (!db) {
		fprintf(stderr, "keyspace-bench: %s: cannot open %s\n",
			en->label, dir);
		bench_die();
	}
	int64_t found = 0;
	int rc = 0;
	double t0 = now();
	switch (ph) {
	case P_PUT:
		for (uint64_t i = 0; i < n && !rc; i += C.batch)
			rc = en->put(db, ent + i,
				     n - i < C.batch ? (size_t)(n - i)
						     : C.batch);
		break;
	case P_GET:
	case P_GET1: {
		size_t per = ph == P_GET1 ? (size_t)n : C.gets_per_txn;
		for (uint64_t i = 0; i < n && found >= 0; i += per) {
			int64_t got = en->get(db, ent + i,
					      n - i < per ? (size_t)(n - i)
							  : per);
			found = got < 0 ? -1 : found + got;
		}
		rc = found < 0;
		break;
	}
	case P_SCAN:
		rc = en->scan(db, count);
		for (uint64_t k = 0; k < C.nks; k++)
			n += count[k];
		break;
	}
	r->secs = now() - t0;
	r->ops = n;
	r->found = (uint64_t)found;
	r->views = en->views ? en->views(db) : 0;
	proc_mem(&r->mem);
	en->close(db);
	if (rc) {
		fprintf(stderr, "keyspace-bench: %s %s failed\n", en->label,
			pname[ph]);
		bench_die();
	}
	if ((ph == P_GET || ph == P_GET1) && r->found != n) {
		fprintf(stderr, "keyspace-bench: %s %s: found %" PRIu64
			" of %" PRIu64 " keys\n", en->label, pname[ph],
			r->found, n);
		bench_die();
	}
	if (ph == P_SCAN) {
		for (uint64_t k = 0; k < (en->named ? C.nks : 1); k++) {
			uint64_t want = en->named ? C.per : C.num;
			if (count[k] != want) {
				fprintf(stderr, "keyspace-bench: %s scan: "
					"keyspace %" PRIu64 " has %" PRIu64
					" keys, not %" PRIu64 "\n", en->label,
					k, count[k], want);
				bench_die();
			}
		}
	}
	r->file_bytes = dir_bytes(dir);
	free(ent);
	free(count);
	r->ok = 1;
}

static double rate(const struct result *r)
{
	return r->secs > 0 ? (double)r->ops / r->secs : 0;
}

static double hwm_mb(const struct result *r)
{
	return mem_mb(r->mem.hwm, r->base.rss);
}

/* What a child runs: phase ph of engine en on dir (for run_in_child). */
struct job {
	const struct eng *en;
	int ph;
	const char *dir;
	struct result *r;
};

static void job_main(void *arg)
{
	const struct job *j = arg;
	run_child(j->en, j->ph, j->dir, j->r);
}

static void run_forked(const struct eng *en, int ph, unsigned run,
		       const char *dir, struct result *shared,
		       struct result *out)
{
	memset(shared, 0, sizeof *shared);
	struct job j = {en, ph, dir, shared};
	int st = run_in_child(job_main, &j);
	if (!WIFEXITED(st) || WEXITSTATUS(st) || !shared->ok) {
		fprintf(stderr, "keyspace-bench: %s %s run %u failed\n",
			en->label, pname[ph], run + 1);
		exit(1);
	}
	*out = *shared;
	printf("%-10s %-9s run %u %11.0f ops/s %8.3f s  %" PRIu64 " ops",
	       en->label, pname[ph], run + 1, rate(out), out->secs, out->ops);
	if (en->views)
		printf("  %" PRIu64 " views opened", out->views);
	printf("  file %.1f MB  hwm +%.1f MB (VmHWM %.1f MB, bench's own "
	       "%.1f MB)\n", (double)out->file_bytes / 1e6, hwm_mb(out),
	       (double)out->mem.hwm * 1024 / 1e6,
	       (double)out->base.rss * 1024 / 1e6);
	fflush(stdout);
}

/* ---- the table -------------------------------------------------------------- */

/* res[engine][phase][run] */
static struct result res[MAXENG][NP][MAXRUNS];
static int sel[MAXENG];

enum fig { F_RATE, F_HWM, F_FILE };

static struct stats_range fig(int i, int ph, enum fig f)
{
	double v[MAXRUNS];
	for (unsigned r = 0; r < C.runs; r++) {
		const struct result *x = &res[i][ph][r];
		v[r] = f == F_RATE ? rate(x)
		       : f == F_HWM ? hwm_mb(x)
				    : (double)x->file_bytes / 1e6;
	}
	return stats_range(v, C.runs);
}

static void cell(const struct stats_range *s, int dec)
{
	char lo[32], hi[32];
	snprintf(lo, sizeof lo, "%.*f", dec, s->min);
	snprintf(hi, sizeof hi, "%.*f", dec, s->max);
	if (s->n == 1 || !strcmp(lo, hi))
		printf(" %.*f |", dec, s->med);
	else
		printf(" %.*f (%s-%s) |", dec, s->med, lo, hi);
}

static int find_eng(const char *label)
{
	for (size_t i = 0; i < NENG; i++)
		if (sel[i] && !strcmp(engines[i].label, label))
			return (int)i;
	return -1;
}

static void ratio(int a, int b, int ph, enum fig f)
{
	if (a < 0 || b < 0)
		return;
	double x = fig(a, ph, f).med, y = fig(b, ph, f).med;
	if (x > 0 && y > 0)
		printf(" %.2f |", x / y);
	else
		printf(" n/a |");
}

static void row(const char *label, int ph, enum fig f, int dec)
{
	int q = find_eng("quire"), l = find_eng("lmdb"),
	    q1 = find_eng("quire-1ks");
	printf("| %s |", label);
	for (size_t i = 0; i < NENG; i++)
		if (sel[i]) {
			struct stats_range s = fig((int)i, ph, f);
			cell(&s, dec);
		}
	if (q >= 0 && l >= 0)
		ratio(q, l, ph, f);
	if (q >= 0 && q1 >= 0)
		ratio(q, q1, ph, f);
	printf("\n");
}

static void table(void)
{
	int q = find_eng("quire"), l = find_eng("lmdb"),
	    q1 = find_eng("quire-1ks");
	int cols = 0;
	printf("\n# %" PRIu64 " keyspaces x %" PRIu64 " keys = %" PRIu64
	       " keys of %d bytes, %zu-byte values, %zu puts per commit (no "
	       "fsync), %" PRIu64 " random gets (%zu per read transaction; "
	       "get-1txn: all in one), a scan of every keyspace; median of "
	       "%u runs (min-max); quire-1ks / lmdb-1db: the same keys in "
	       "one keyspace (no keyspaces)\n",
	       C.nks, C.per, C.num, KLEN, C.value_size, C.batch, C.gets,
	       C.gets_per_txn, C.runs);
	printf("\n| figure |");
	for (size_t i = 0; i < NENG; i++)
		if (sel[i]) {
			printf(" %s |", engines[i].label);
			cols++;
		}
	if (q >= 0 && l >= 0) {
		printf(" quire/lmdb |");
		cols++;
	}
	if (q >= 0 && q1 >= 0) {
		printf(" quire/quire-1ks |");
		cols++;
	}
	printf("\n|---|");
	while (cols--)
		printf("---:|");
	printf("\n");
	row("put ops/s", P_PUT, F_RATE, 0);
	row("get ops/s", P_GET, F_RATE, 0);
	row("get-1txn ops/s", P_GET1, F_RATE, 0);
	row("scan keys/s", P_SCAN, F_RATE, 0);
	row("file MB (after put)", P_PUT, F_FILE, 1);
	row("hwm MB: put", P_PUT, F_HWM, 1);
	row("hwm MB: get", P_GET, F_HWM, 1);
	row("hwm MB: get-1txn", P_GET1, F_HWM, 1);
	row("hwm MB: scan", P_SCAN, F_HWM, 1);
	if (q >= 0) {
		double v[MAXRUNS];
		for (unsigned r = 0; r < C.runs; r++)
			v[r] = (double)res[q][P_GET][r].views;
		struct stats_range s = stats_range(v, C.runs);
		printf("\nquire get: %.0f views opened for %" PRIu64
		       " gets (median), %.1f per read transaction\n", s.med,
		       C.gets, s.med * (double)C.gets_per_txn /
				       (double)C.gets);
	}
}

/* ---- main ---------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr,
		"usage: keyspace-bench [--keyspaces K (100)] [--per-keyspace "
		"N (10000)] [--gets N (all keys)]\n"
		"       [--gets-per-txn N (100)] [--batch N (1000)] "
		"[--value-size N (100)] [--runs N (3)]\n"
		"       [--engines quire,lmdb,quire-1ks,lmdb-1db] [--dir D] "
		"[--seed N] [--warmup-mb N (256)] [--keep]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *list = "quire,lmdb,quire-1ks,lmdb-1db";
	char tmpl[] = "/tmp/keyspace-bench-XXXXXX";
	bench_prog = "keyspace-bench";
	C = (struct cfg){.nks = 100, .per = 10000, .seed = 301,
			 .value_size = 100, .batch = 1000, .gets_per_txn = 100,
			 .warmup_mb = 256, .runs = 3};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x = 0;
		if (!strcmp(a, "--keep")) {
			C.keep = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--engines"))
			list = v;
		else if (!strcmp(a, "--dir"))
			C.dir = v;
		else if (parse_u64(v, &x))
			return usage();
		else if (!strcmp(a, "--keyspaces"))
			C.nks = x;
		else if (!strcmp(a, "--per-keyspace"))
			C.per = x;
		else if (!strcmp(a, "--gets"))
			C.gets = x;
		else if (!strcmp(a, "--gets-per-txn"))
			C.gets_per_txn = (size_t)x;
		else if (!strcmp(a, "--batch"))
			C.batch = (size_t)x;
		else if (!strcmp(a, "--value-size"))
			C.value_size = (size_t)x;
		else if (!strcmp(a, "--runs"))
			C.runs = (unsigned)x;
		else if (!strcmp(a, "--seed"))
			C.seed = x;
		else if (!strcmp(a, "--warmup-mb"))
			C.warmup_mb = (size_t)x;
		else
			return usage();
	}
	C.num = C.nks * C.per;
	if (!C.gets)
		C.gets = C.num;
	if (!C.nks || C.nks > 100000 || !C.per || C.num > 1000000000ull ||
	    !C.batch || !C.gets_per_txn || !C.value_size ||
	    C.value_size > (1u << 20) || !C.runs || C.runs > MAXRUNS) {
		fprintf(stderr, "keyspace-bench: --keyspaces 1..100000, "
			"--per-keyspace, --batch, --gets-per-txn, --value-size "
			"positive (at most 10^9 keys), --runs 1..%d\n",
			MAXRUNS);
		return usage();
	}
	const char *labels[NENG];
	int any = 0;
	for (size_t i = 0; i < NENG; i++) {
		labels[i] = engines[i].label;
		any |= sel[i] = in_list(list, labels[i]);
	}
	size_t m;
	const char *bad = list_unknown(list, labels, NENG, NULL, &m);
	if (bad) {
		fprintf(stderr, "keyspace-bench: unknown or not built engine "
			"'%.*s' (built: quire, quire-1ks%s)\n", (int)m, bad,
#ifdef HAVE_LMDB
			", lmdb, lmdb-1db"
#else
			""
#endif
		);
		return usage();
	}
	if (!any)
		return usage();

	/* the key bijection: e * mul + add mod 10^16, mul coprime to 10 */
	uint64_t s = C.seed ^ 0x6b657973ull;
	C.mul = splitmix(&s) % KEYMOD | 1;
	if (C.mul % 5 == 0)
		C.mul += 2;
	C.add = splitmix(&s) % KEYMOD;
	/* LMDB's map as quire-bench sizes it: eight times the raw data,
	 * rounded up to a GiB */
	C.map_bytes = 8 * C.num * (KLEN + C.value_size);
	C.map_bytes = (C.map_bytes + ((uint64_t)1 << 30) - 1) >> 30 << 30;

	g_vpool = C.value_size + (1 << 20);
	g_vals = bench_xmalloc(g_vpool);
	uint64_t vs = C.seed;
	for (size_t i = 0; i < g_vpool; i++)
		g_vals[i] = (char)splitmix(&vs);

	if (!C.dir && !(C.dir = mkdtemp(tmpl))) {
		perror("keyspace-bench: mkdtemp");
		return 1;
	}
	mkdir(C.dir, 0755);

	char date[32];
	time_t t = time(NULL);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
	printf("# keyspace-bench (quire %s): %" PRIu64 " keyspaces x %" PRIu64
	       " keys, %d-byte keys, %zu-byte values, %zu puts per commit, "
	       "%" PRIu64 " gets (%zu per read transaction), %u runs; %ld "
	       "CPUs, %s, dir %s\n",
	       quire_version(NULL, NULL, NULL), C.nks, C.per, KLEN,
	       C.value_size, C.batch, C.gets, C.gets_per_txn, C.runs,
	       sysconf(_SC_NPROCESSORS_ONLN), date, C.dir);
	for (size_t i = 0; i < NENG; i++)
		if (sel[i]) {
			char d[512];
			engines[i].describe(&engines[i], d, sizeof d);
			printf("# engine %s: %s\n", engines[i].label, d);
		}
	printf("# every phase of every engine runs in its own process; hwm: "
	       "VmHWM minus the process's RSS before the open\n");

	/* first touches of memory and disk cost more on some VMs: not on
	 * whichever engine runs first */
	if (C.warmup_mb)
		warm_up(C.dir, C.warmup_mb);

	struct result *shared = mmap(NULL, sizeof *shared,
				     PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("keyspace-bench: mmap");
		return 1;
	}
	for (unsigned run = 0; run < C.runs; run++) {
		for (int ph = 0; ph < NP; ph++)
			for (size_t i = 0; i < NENG; i++) {
				char dir[4096];
				if (!sel[i])
					continue;
				snprintf(dir, sizeof dir, "%s/%s", C.dir,
					 engines[i].label);
				run_forked(&engines[i], ph, run, dir, shared,
					   &res[i][ph][run]);
			}
		if (!C.keep || run + 1 < C.runs)
			for (size_t i = 0; i < NENG; i++) {
				char dir[4096];
				snprintf(dir, sizeof dir, "%s/%s", C.dir,
					 engines[i].label);
				rm_dir(dir);
			}
	}
	table();
	if (!C.keep && C.dir == tmpl)
		rmdir(C.dir);
	free(g_vals);
	return 0;
}
