/*
 * adapter_quire.c - quire-bench engine: quire through its public API.
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

static void *q_open(const char *dir, int sync, size_t cache_mb)
{
	char path[4096];
	quire_options o;
	struct qdb *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	snprintf(path, sizeof path, "%s/bench.quire", dir);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | (sync ? 0 : QUIRE_NOSYNC);
	o.cache_size = cache_mb << 20;
	int e = quire_open(path, &o, &q->db);
	if (e) {
		failed("open", e);
		free(q);
		return NULL;
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
		if (e == 0)
			found++;
		else if (e != QUIRE_NOTFOUND)
			break;
	}
	quire_abort(t);
	return e && e != QUIRE_NOTFOUND ? failed("get", e) : found;
}

static int64_t q_read_seq(void *p)
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
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c)) {
		quire_cursor_key(c, &k);
		quire_cursor_value(c, &v);
		touch(k.data, k.size);
		touch(v.data, v.size);
		n++;
	}
	quire_cursor_close(c);
	quire_abort(t);
	return e != QUIRE_NOTFOUND ? failed("scan", e) : n;
}

static const struct engine quire_engine = {
	.name = "quire",
	.open = q_open,
	.close = q_close,
	.write = q_write,
	.read_random = q_read_random,
	.read_seq = q_read_seq,
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
