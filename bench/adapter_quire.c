/*
 * adapter_quire.c - quire-bench engine: quire through its public API, with
 * quire_options_init() defaults unless the tuned instance sets the cache.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "quire.h"

struct qdb {
	quire *db;
};

static int failed(const char *what, int e)
{
	fprintf(stderr, "quire: %s: %s (%s)\n", what, quire_strerror(e),
		quire_errmsg());
	return -1;
}

static void q_describe(char *buf, size_t n, const struct bench_opts *o)
{
	quire_options d;
	quire_options_init(&d);
	if (o->cache_mb)
		snprintf(buf, n, "quire %s: TUNED: node cache %zu MiB (default "
			 "%zu MiB), otherwise quire_options_init() defaults; "
			 "QUIRE_NOSYNC unless the workload syncs",
			 quire_version(NULL, NULL, NULL), o->cache_mb,
			 d.cache_size >> 20);
	else
		snprintf(buf, n, "quire %s: quire_options_init() defaults "
			 "(node cache %zu MiB, checkpoint_ops %lu, node_size "
			 "%u); QUIRE_NOSYNC unless the workload syncs",
			 quire_version(NULL, NULL, NULL), d.cache_size >> 20,
			 d.checkpoint_ops, d.node_size);
}

static void *q_open(const char *dir, const struct bench_opts *bo)
{
	char path[4096];
	quire_options o;
	struct qdb *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	snprintf(path, sizeof path, "%s/bench.quire", dir);
	quire_options_init(&o);
	if (bo->reader)
		o.flags = QUIRE_RDONLY;
	else
		o.flags = QUIRE_CREATE | (bo->sync ? 0 : QUIRE_NOSYNC);
	if (bo->cache_mb)
		o.cache_size = bo->cache_mb << 20;
	int e = quire_open(path, &o, &q->db);
	if (e) {
		failed("open", e);
		free(q);
		return NULL;
	}
	if (bo->keep_commits && !bo->reader) {
		/* the retention variant: compactions (automatic ones too)
		 * keep the last N commits readable */
		quire_retention r = {.commits = bo->keep_commits};
		if ((e = quire_set_retention(q->db, &r)) != 0) {
			failed("set_retention", e);
			quire_close(q->db);
			free(q);
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
		failed("close", e);
	free(q);
}

static int q_write(void *p, const struct kv *kv, size_t n, size_t klen,
		   size_t vlen)
{
	struct qdb *q = p;
	quire_txn *t;
	int e = quire_begin(q->db, 0, &t);
	if (e)
		return failed("begin", e);
	for (size_t i = 0; i < n; i++)
		if ((e = quire_put(t, kv[i].key, klen, kv[i].val, vlen)) != 0) {
			quire_abort(t);
			return failed("put", e);
		}
	return (e = quire_commit(t)) ? failed("commit", e) : 0;
}

static int64_t q_read_random(void *p, const char *keys, size_t n, size_t klen)
{
	struct qdb *q = p;
	quire_txn *t;
	quire_val v;
	int64_t found = 0;
	int e = quire_begin(q->db, QUIRE_RDONLY, &t);
	if (e)
		return failed("begin", e);
	for (size_t i = 0; i < n; i++) {
		e = quire_get(t, keys + i * klen, klen, &v);
		if (e == 0) {
			touch(v.data, v.size);
			found++;
		} else if (e != QUIRE_NOTFOUND)
			break;
	}
	quire_abort(t);
	return e && e != QUIRE_NOTFOUND ? failed("get", e) : found;
}

static int64_t q_scan(void *p, int reverse)
{
	struct qdb *q = p;
	quire_txn *t;
	quire_cursor *c;
	quire_val k, v;
	int64_t n = 0;
	int e = quire_begin(q->db, QUIRE_RDONLY, &t);
	if (e)
		return failed("begin", e);
	if ((e = quire_cursor_open(t, &c)) != 0) {
		quire_abort(t);
		return failed("cursor", e);
	}
	for (e = reverse ? quire_cursor_last(c) : quire_cursor_first(c);
	     e == 0; e = reverse ? quire_cursor_prev(c) : quire_cursor_next(c)) {
		if ((e = quire_cursor_key(c, &k)) != 0 ||
		    (e = quire_cursor_value(c, &v)) != 0)
			break;
		touch(k.data, k.size);
		touch(v.data, v.size);
		n++;
	}
	quire_cursor_close(c);
	quire_abort(t);
	return e != QUIRE_NOTFOUND ? failed("scan", e) : n;
}

static int64_t q_read_seq(void *p)
{
	return q_scan(p, 0);
}

static int64_t q_read_reverse(void *p)
{
	return q_scan(p, 1);
}

static const struct engine quire_engine = {
	.name = "quire",
	.shared_handle = 1,
	.multi_process = 1,
	.has_retention = 1,
	.describe = q_describe,
	.open = q_open,
	.close = q_close,
	.write = q_write,
	.read_random = q_read_random,
	.read_seq = q_read_seq,
	.read_reverse = q_read_reverse,
	.file_bytes = dir_bytes,
};

const struct engine *engine_quire(void)
{
	return &quire_engine;
}

quire *engine_quire_handle(void *db)
{
	return ((struct qdb *)db)->db;
}
