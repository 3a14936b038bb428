/*
 * bench.h - the engine interface of quire-bench: each engine (quire, LMDB,
 * SQLite, LevelDB, RocksDB) implements these few calls in its own
 * adapter_*.c, and quire-bench.c drives the same workloads through all of
 * them in one run.
 */
#ifndef QUIRE_BENCH_H
#define QUIRE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "benchutil.h"

/* A key and value to write (keys are 16 bytes, values value_size bytes). */
struct kv {
	const char *key;
	const char *val;
};

/* How to open a database. Everything not named here is the engine's
 * default: the point of the benchmark is what a user gets out of the box. */
struct bench_opts {
	/* Every commit is durable (fsync); else the engine's way of
	 * committing without fsync. */
	int sync;
	/* Open a database another handle created and writes, only to read
	 * it (reader threads that cannot share a handle, reader processes). */
	int reader;
	/* quire's node cache in MiB; 0: the library's default. Only the
	 * "tuned" instance sets it. */
	size_t cache_mb;
	/* LMDB's map size: LMDB must be told the largest size the file may
	 * reach; quire-bench makes it several times the data. */
	uint64_t map_bytes;
	/* Keep only the last this many commits (0: the default, everything).
	 * Only for an engine with has_retention. */
	uint64_t keep_commits;
};

struct engine {
	const char *name;
	/* Threads may share one handle: some read while one writes. Else
	 * each reader thread opens its own (opts.reader). */
	int shared_handle;
	/* Other processes may open the database (opts.reader) while this
	 * process writes it, and their new read transactions see its
	 * commits. Else single_process says why not. */
	int multi_process;
	const char *single_process;
	/* opts.keep_commits works (see the space workload). */
	int has_retention;
	/* One line on the version and what the options amount to. */
	void (*describe)(char *buf, size_t n, const struct bench_opts *o);
	/* Open (creating unless o->reader) the database in the empty or
	 * existing directory dir. NULL (with a message on stderr) on
	 * failure. */
	void *(*open)(const char *dir, const struct bench_opts *o);
	void (*close)(void *db);
	/* Write n pairs in one transaction. 0 or -1. */
	int (*write)(void *db, const struct kv *kv, size_t n, size_t klen,
		     size_t vlen);
	/* n lookups of keys[i * klen] in one read transaction (or snapshot),
	 * touching the first and last byte of each value found: keys found,
	 * or -1. */
	int64_t (*read_random)(void *db, const char *keys, size_t n,
			       size_t klen);
	/* One scan of every key and value, forwards or backwards, touching
	 * each: keys seen, or -1. */
	int64_t (*read_seq)(void *db);
	int64_t (*read_reverse)(void *db);
	/* Bytes the database occupies in dir. */
	uint64_t (*file_bytes)(const char *dir);
};

/* NULL when the engine was not found at configure time. */
const struct engine *engine_quire(void);
const struct engine *engine_lmdb(void);
const struct engine *engine_sqlite(void);
const struct engine *engine_leveldb(void);
const struct engine *engine_rocksdb(void);

/* The quire handle under a database engine_quire() opened, for the
 * workloads only quire has (diff). */
struct quire;
struct quire *engine_quire_handle(void *db);

#endif
