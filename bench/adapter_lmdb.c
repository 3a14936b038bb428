/*
 * adapter_lmdb.c - quire-bench engine: LMDB with its defaults, except the
 * two things a user must choose: a map size (the largest the file may
 * grow; quire-bench passes several times the data) and MDB_NOSYNC for the
 * workloads that commit without fsync.
 */
#include "config.h"

#include "bench.h"

#ifdef HAVE_LMDB
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>

struct ldb {
	MDB_env *env;
	MDB_dbi dbi;
};

static int failed(const char *what, int e)
{
	fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(e));
	return -1;
}

static void l_describe(char *buf, size_t n, const struct bench_opts *o)
{
	snprintf(buf, n, "%s; defaults except mapsize %.1f GiB (LMDB needs "
		 "the largest file size up front: several times the data); "
		 "MDB_NOSYNC unless the workload syncs",
		 mdb_version(NULL, NULL, NULL),
		 (double)o->map_bytes / (1 << 30));
}

static void *l_open(const char *dir, const struct bench_opts *o)
{
	struct ldb *l = calloc(1, sizeof *l);
	MDB_txn *t;
	int e;
	unsigned flags = o->reader ? MDB_RDONLY : o->sync ? 0 : MDB_NOSYNC;
	if (!l)
		return NULL;
	if ((e = mdb_env_create(&l->env)) ||
	    (e = mdb_env_set_mapsize(l->env, (size_t)o->map_bytes)) ||
	    (e = mdb_env_open(l->env, dir, flags, 0644)) ||
	    (e = mdb_txn_begin(l->env, NULL, flags & MDB_RDONLY, &t)) ||
	    (e = mdb_dbi_open(t, NULL, 0, &l->dbi)) ||
	    (e = mdb_txn_commit(t))) {
		failed("open", e);
		mdb_env_close(l->env);
		free(l);
		return NULL;
	}
	return l;
}

static void l_close(void *p)
{
	struct ldb *l = p;
	mdb_env_close(l->env);
	free(l);
}

static int l_write(void *p, const struct kv *kv, size_t n, size_t klen,
		   size_t vlen)
{
	struct ldb *l = p;
	MDB_txn *t;
	int e = mdb_txn_begin(l->env, NULL, 0, &t);
	if (e)
		return failed("begin", e);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = {klen, (void *)kv[i].key}, v = {vlen, (void *)kv[i].val};
		if ((e = mdb_put(t, l->dbi, &k, &v, 0)) != 0) {
			mdb_txn_abort(t);
			return failed("put", e);
		}
	}
	return (e = mdb_txn_commit(t)) ? failed("commit", e) : 0;
}

static int64_t l_read_random(void *p, const char *keys, size_t n, size_t klen)
{
	struct ldb *l = p;
	MDB_txn *t;
	int64_t found = 0;
	int e = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t);
	if (e)
		return failed("begin", e);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = {klen, (void *)(keys + i * klen)}, v;
		if ((e = mdb_get(t, l->dbi, &k, &v)) == 0) {
			touch(v.mv_data, v.mv_size);
			found++;
		} else if (e != MDB_NOTFOUND)
			break;
	}
	mdb_txn_abort(t);
	return e && e != MDB_NOTFOUND ? failed("get", e) : found;
}

static int64_t l_scan(void *p, MDB_cursor_op first, MDB_cursor_op next)
{
	struct ldb *l = p;
	MDB_txn *t;
	MDB_cursor *c;
	MDB_val k, v;
	int64_t n = 0;
	int e = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &t);
	if (e)
		return failed("begin", e);
	if ((e = mdb_cursor_open(t, l->dbi, &c)) != 0) {
		mdb_txn_abort(t);
		return failed("cursor", e);
	}
	for (e = mdb_cursor_get(c, &k, &v, first); e == 0;
	     e = mdb_cursor_get(c, &k, &v, next)) {
		touch(k.mv_data, k.mv_size);
		touch(v.mv_data, v.mv_size);
		n++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(t);
	return e != MDB_NOTFOUND ? failed("scan", e) : n;
}

static int64_t l_read_seq(void *p)
{
	return l_scan(p, MDB_FIRST, MDB_NEXT);
}

static int64_t l_read_reverse(void *p)
{
	return l_scan(p, MDB_LAST, MDB_PREV);
}

static const struct engine lmdb_engine = {
	.name = "lmdb",
	.shared_handle = 1,
	.multi_process = 1,
	.describe = l_describe,
	.open = l_open,
	.close = l_close,
	.write = l_write,
	.read_random = l_read_random,
	.read_seq = l_read_seq,
	.read_reverse = l_read_reverse,
	.file_bytes = dir_bytes,
};

const struct engine *engine_lmdb(void)
{
	return &lmdb_engine;
}
#else
const struct engine *engine_lmdb(void)
{
	return NULL;
}
#endif
