/*
 * adapter_leveldb.c - quire-bench engine: LevelDB through its C API with
 * the default options (create_if_missing aside: 4 MiB write buffer, 8 MiB
 * block cache, Snappy compression when the library has it, no Bloom
 * filter). A transaction's writes go into one WriteBatch; sync=false
 * (the default) unless the workload syncs. A read transaction is a
 * snapshot, so that its lookups see one state as they do in the other
 * engines; leveldb_get copies each value (its C API has no other way).
 * Only one process may open a database (its LOCK file), so the reader
 * processes of readwhilewriting are skipped; threads share the handle.
 */
#include "config.h"

#include "bench.h"

#ifdef HAVE_LEVELDB
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>

struct vdb {
	leveldb_t *db;
	leveldb_options_t *opts;
	leveldb_writeoptions_t *wopts;
};

static int failed(const char *what, char *err)
{
	fprintf(stderr, "leveldb: %s: %s\n", what, err ? err : "failed");
	leveldb_free(err);
	return -1;
}

static void v_describe(char *buf, size_t n, const struct bench_opts *o)
{
	(void)o;
	snprintf(buf, n, "LevelDB %d.%d: default options (create_if_missing); "
		 "sync=false unless the workload syncs; a snapshot per read "
		 "transaction; one process per database",
		 leveldb_major_version(), leveldb_minor_version());
}

static void v_close(void *p)
{
	struct vdb *v = p;
	if (v->db)
		leveldb_close(v->db);
	if (v->wopts)
		leveldb_writeoptions_destroy(v->wopts);
	if (v->opts)
		leveldb_options_destroy(v->opts);
	free(v);
}

static void *v_open(const char *dir, const struct bench_opts *o)
{
	struct vdb *v = calloc(1, sizeof *v);
	char *err = NULL;
	if (!v)
		return NULL;
	v->opts = leveldb_options_create();
	v->wopts = leveldb_writeoptions_create();
	leveldb_options_set_create_if_missing(v->opts, !o->reader);
	leveldb_writeoptions_set_sync(v->wopts, (unsigned char)!!o->sync);
	v->db = leveldb_open(v->opts, dir, &err);
	if (err || !v->db) {
		failed("open", err);
		v_close(v);
		return NULL;
	}
	return v;
}

static int v_write(void *p, const struct kv *kv, size_t n, size_t klen,
		   size_t vlen)
{
	struct vdb *v = p;
	char *err = NULL;
	leveldb_writebatch_t *b = leveldb_writebatch_create();
	for (size_t i = 0; i < n; i++)
		leveldb_writebatch_put(b, kv[i].key, klen, kv[i].val, vlen);
	leveldb_write(v->db, v->wopts, b, &err);
	leveldb_writebatch_destroy(b);
	return err ? failed("write", err) : 0;
}

static int64_t v_read_random(void *p, const char *keys, size_t n, size_t klen)
{
	struct vdb *v = p;
	char *err = NULL;
	int64_t found = 0;
	const leveldb_snapshot_t *snap = leveldb_create_snapshot(v->db);
	leveldb_readoptions_t *ro = leveldb_readoptions_create();
	leveldb_readoptions_set_snapshot(ro, snap);
	for (size_t i = 0; i < n && !err; i++) {
		size_t len;
		char *val = leveldb_get(v->db, ro, keys + i * klen, klen, &len,
					&err);
		if (val) {
			touch(val, len);
			leveldb_free(val);
			found++;
		}
	}
	leveldb_readoptions_destroy(ro);
	leveldb_release_snapshot(v->db, snap);
	return err ? failed("get", err) : found;
}

static int64_t v_scan(void *p, int reverse)
{
	struct vdb *v = p;
	char *err = NULL;
	int64_t n = 0;
	leveldb_readoptions_t *ro = leveldb_readoptions_create();
	leveldb_iterator_t *it = leveldb_create_iterator(v->db, ro);
	if (reverse)
		leveldb_iter_seek_to_last(it);
	else
		leveldb_iter_seek_to_first(it);
	for (; leveldb_iter_valid(it);
	     reverse ? leveldb_iter_prev(it) : leveldb_iter_next(it)) {
		size_t kl, vl;
		const char *k = leveldb_iter_key(it, &kl);
		const char *val = leveldb_iter_value(it, &vl);
		touch(k, kl);
		touch(val, vl);
		n++;
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	leveldb_readoptions_destroy(ro);
	return err ? failed("scan", err) : n;
}

static int64_t v_read_seq(void *p)
{
	return v_scan(p, 0);
}

static int64_t v_read_reverse(void *p)
{
	return v_scan(p, 1);
}

static const struct engine leveldb_engine = {
	.name = "leveldb",
	.shared_handle = 1,
	.multi_process = 0,
	.single_process = "LevelDB lets one process open a database (its "
			  "LOCK file)",
	.describe = v_describe,
	.open = v_open,
	.close = v_close,
	.write = v_write,
	.read_random = v_read_random,
	.read_seq = v_read_seq,
	.read_reverse = v_read_reverse,
	.file_bytes = dir_bytes,
};

const struct engine *engine_leveldb(void)
{
	return &leveldb_engine;
}
#else
const struct engine *engine_leveldb(void)
{
	return NULL;
}
#endif
