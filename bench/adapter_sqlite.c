/*
 * adapter_sqlite.c - quire-bench engine: SQLite in WAL mode with its
 * defaults otherwise (page cache, page size, auto-checkpoint), a WITHOUT
 * ROWID key-value table and prepared statements, as db_bench_sqlite3 uses
 * it. synchronous=OFF for the workloads that commit without fsync, FULL
 * for the durable ones; a 5 s busy timeout so that the connections of
 * readwhilewriting wait instead of failing at a transient lock.
 */
#include "config.h"

#include "bench.h"

#ifdef HAVE_SQLITE3
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

struct sdb {
	sqlite3 *db;
	sqlite3_stmt *put, *get, *scan, *rscan, *begin, *commit;
};

static int failed(struct sdb *s, const char *what)
{
	fprintf(stderr, "sqlite: %s: %s\n", what, sqlite3_errmsg(s->db));
	return -1;
}

static void s_describe(char *buf, size_t n, const struct bench_opts *o)
{
	(void)o;
	snprintf(buf, n, "SQLite %s: journal_mode=WAL, otherwise defaults "
		 "(cache_size, page_size, wal_autocheckpoint); synchronous=OFF "
		 "unless the workload syncs (then FULL); busy_timeout 5 s; "
		 "table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID",
		 sqlite3_libversion());
}

static void s_close(void *p)
{
	struct sdb *s = p;
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->scan);
	sqlite3_finalize(s->rscan);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_close(s->db);
	free(s);
}

static void *s_open(const char *dir, const struct bench_opts *o)
{
	char path[4096], pragmas[256];
	struct sdb *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	snprintf(path, sizeof path, "%s/bench.sqlite", dir);
	/* a reader's connection finds the table and WAL mode (which is
	 * persistent) in place */
	snprintf(pragmas, sizeof pragmas, "%s PRAGMA synchronous=%s;%s",
		 o->reader ? "" : "PRAGMA journal_mode=WAL;",
		 o->sync ? "FULL" : "OFF",
		 o->reader ? "" : "CREATE TABLE IF NOT EXISTS kv(k BLOB "
				  "PRIMARY KEY, v BLOB) WITHOUT ROWID;");
	if (sqlite3_open(path, &s->db) != SQLITE_OK ||
	    sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
	    sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv VALUES(?,?)",
			       -1, &s->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT v FROM kv WHERE k=?", -1, &s->get,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT k, v FROM kv ORDER BY k", -1,
			       &s->scan, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "SELECT k, v FROM kv ORDER BY k DESC", -1,
			       &s->rscan, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "BEGIN", -1, &s->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) !=
		    SQLITE_OK) {
		failed(s, "open");
		s_close(s);
		return NULL;
	}
	return s;
}

static int step(struct sdb *s, sqlite3_stmt *st, const char *what)
{
	int r = sqlite3_step(st);
	sqlite3_reset(st);
	return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : failed(s, what);
}

static int s_write(void *p, const struct kv *kv, size_t n, size_t klen,
		   size_t vlen)
{
	struct sdb *s = p;
	if (step(s, s->begin, "begin"))
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_blob(s->put, 1, kv[i].key, (int)klen, SQLITE_STATIC);
		sqlite3_bind_blob(s->put, 2, kv[i].val, (int)vlen, SQLITE_STATIC);
		if (step(s, s->put, "insert")) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return step(s, s->commit, "commit");
}

static int64_t s_read_random(void *p, const char *keys, size_t n, size_t klen)
{
	struct sdb *s = p;
	int64_t found = 0;
	if (step(s, s->begin, "begin"))
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_blob(s->get, 1, keys + i * klen, (int)klen,
				  SQLITE_STATIC);
		int r = sqlite3_step(s->get);
		if (r == SQLITE_ROW) {
			touch(sqlite3_column_blob(s->get, 0),
			      (size_t)sqlite3_column_bytes(s->get, 0));
			found++;
		} else if (r != SQLITE_DONE) {
			sqlite3_reset(s->get);
			failed(s, "select");
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		sqlite3_reset(s->get);
	}
	return step(s, s->commit, "commit") ? -1 : found;
}

static int64_t s_scan(struct sdb *s, sqlite3_stmt *st)
{
	int64_t n = 0;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		touch(sqlite3_column_blob(st, 0),
		      (size_t)sqlite3_column_bytes(st, 0));
		touch(sqlite3_column_blob(st, 1),
		      (size_t)sqlite3_column_bytes(st, 1));
		n++;
	}
	sqlite3_reset(st);
	return r == SQLITE_DONE ? n : failed(s, "scan");
}

static int64_t s_read_seq(void *p)
{
	struct sdb *s = p;
	return s_scan(s, s->scan);
}

static int64_t s_read_reverse(void *p)
{
	struct sdb *s = p;
	return s_scan(s, s->rscan);
}

static const struct engine sqlite_engine = {
	.name = "sqlite",
	/* one connection per thread: a shared one serialises its users */
	.shared_handle = 0,
	.multi_process = 1,
	.describe = s_describe,
	.open = s_open,
	.close = s_close,
	.write = s_write,
	.read_random = s_read_random,
	.read_seq = s_read_seq,
	.read_reverse = s_read_reverse,
	.file_bytes = dir_bytes,
};

const struct engine *engine_sqlite(void)
{
	return &sqlite_engine;
}
#else
const struct engine *engine_sqlite(void)
{
	return NULL;
}
#endif
