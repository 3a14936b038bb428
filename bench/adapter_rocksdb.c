/*
 * adapter_rocksdb.c - quire-bench engine: RocksDB through its C API with
 * the default options (rocksdb_options_create(): what C++ Options() gives,
 * create_if_missing aside). A transaction's writes go into one WriteBatch;
 * sync=false (the default) unless the workload syncs. A read transaction
 * is a snapshot, and lookups pin the value instead of copying it
 * (rocksdb_get_pinned). Only one process may open a database for writing;
 * other processes could open it read-only (a fixed view) or as a
 * secondary (which must be told to catch up), neither of which sees new
 * commits by itself, so the reader processes of readwhilewriting are
 * skipped; threads share the handle.
 */
#include "config.h"

#include "bench.h"

#ifdef HAVE_ROCKSDB
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wopts;
};

static int failed(const char *what, char *err)
{
	fprintf(stderr, "rocksdb: %s: %s\n", what, err ? err : "failed");
	rocksdb_free(err);
	return -1;
}

static void r_describe(char *buf, size_t n, const struct bench_opts *o)
{
	(void)o;
	snprintf(buf, n, "RocksDB %s: default options (create_if_missing); "
		 "sync=false unless the workload syncs; a snapshot per read "
		 "transaction, values pinned; one writing process per database",
#ifdef BENCH_ROCKSDB_VERSION
		 BENCH_ROCKSDB_VERSION
#else
		 "(version unknown)"
#endif
	);
}

static void r_close(void *p)
{
	struct rdb *r = p;
	if (r->db)
		rocksdb_close(r->db);
	if (r->wopts)
		rocksdb_writeoptions_destroy(r->wopts);
	if (r->opts)
		rocksdb_options_destroy(r->opts);
	free(r);
}

static void *r_open(const char *dir, const struct bench_opts *o)
{
	struct rdb *r = calloc(1, sizeof *r);
	char *err = NULL;
	if (!r)
		return NULL;
	r->opts = rocksdb_options_create();
	r->wopts = rocksdb_writeoptions_create();
	rocksdb_options_set_create_if_missing(r->opts, (unsigned char)!o->reader);
	rocksdb_writeoptions_set_sync(r->wopts, (unsigned char)!!o->sync);
	r->db = rocksdb_open(r->opts, dir, &err);
	if (err || !r->db) {
		failed("open", err);
		r_close(r);
		return NULL;
	}
	return r;
}

static int r_write(void *p, const struct kv *kv, size_t n, size_t klen,
		   size_t vlen)
{
	struct rdb *r = p;
	char *err = NULL;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	for (size_t i = 0; i < n; i++)
		rocksdb_writebatch_put(b, kv[i].key, klen, kv[i].val, vlen);
	rocksdb_write(r->db, r->wopts, b, &err);
	rocksdb_writebatch_destroy(b);
	return err ? failed("write", err) : 0;
}

static int64_t r_read_random(void *p, const char *keys, size_t n, size_t klen)
{
	struct rdb *r = p;
	char *err = NULL;
	int64_t found = 0;
	const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(r->db);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, snap);
	for (size_t i = 0; i < n && !err; i++) {
		rocksdb_pinnableslice_t *ps =
			rocksdb_get_pinned(r->db, ro, keys + i * klen, klen,
					   &err);
		if (ps) {
			size_t len;
			const char *val = rocksdb_pinnableslice_value(ps, &len);
			touch(val, len);
			rocksdb_pinnableslice_destroy(ps);
			found++;
		}
	}
	rocksdb_readoptions_destroy(ro);
	rocksdb_release_snapshot(r->db, snap);
	return err ? failed("get", err) : found;
}

static int64_t r_scan(void *p, int reverse)
{
	struct rdb *r = p;
	char *err = NULL;
	int64_t n = 0;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, ro);
	if (reverse)
		rocksdb_iter_seek_to_last(it);
	else
		rocksdb_iter_seek_to_first(it);
	for (; rocksdb_iter_valid(it);
	     reverse ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *val = rocksdb_iter_value(it, &vl);
		touch(k, kl);
		touch(val, vl);
		n++;
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return err ? failed("scan", err) : n;
}

static int64_t r_read_seq(void *p)
{
	return r_scan(p, 0);
}

static int64_t r_read_reverse(void *p)
{
	return r_scan(p, 1);
}

static const struct engine rocksdb_engine = {
	.name = "rocksdb",
	.shared_handle = 1,
	.multi_process = 0,
	.single_process = "RocksDB lets one process open a database for "
			  "writing; read-only and secondary instances in "
			  "other processes do not see new commits by "
			  "themselves",
	.describe = r_describe,
	.open = r_open,
	.close = r_close,
	.write = r_write,
	.read_random = r_read_random,
	.read_seq = r_read_seq,
	.read_reverse = r_read_reverse,
	.file_bytes = dir_bytes,
};

const struct engine *engine_rocksdb(void)
{
	return &rocksdb_engine;
}
#else
const struct engine *engine_rocksdb(void)
{
	return NULL;
}
#endif
