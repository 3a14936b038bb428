/*
 * bench.h - the engine interface of quire-bench: each engine (quire, LMDB,
 * SQLite) implements these few calls, and quire-bench.c drives the same
 * workloads through all of them in one run.
 */
#ifndef QUIRE_BENCH_H
#define QUIRE_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* A key and value to write (keys are 16 bytes, values value_size bytes). */
struct kv {
	const char *key;
	const char *val;
};

struct engine {
	const char *name;
	/* Open (creating) the database in the empty or existing directory
	 * dir; sync: every commit is durable. cache_mb: quire's node cache.
	 * NULL (with a message on stderr) on failure. */
	void *(*open)(const char *dir, int sync, size_t cache_mb);
	void (*close)(void *db);
	/* Write n pairs in one transaction. 0 or -1. */
	int (*write)(void *db, const struct kv *kv, size_t n, size_t klen,
		     size_t vlen);
	/* n lookups of keys[i * klen] in one read transaction: keys found,
	 * or -1. */
	int64_t (*read_random)(void *db, const char *keys, size_t n,
			       size_t klen);
	/* One scan of every key and value: keys seen, or -1. */
	int64_t (*read_seq)(void *db);
	/* Bytes the database occupies in dir. */
	uint64_t (*file_bytes)(const char *dir);
};

/* NULL when the engine was not found at configure time. */
const struct engine *engine_quire(void);
const struct engine *engine_lmdb(void);
const struct engine *engine_sqlite(void);

/* The quire handle under a database engine_quire() opened, for the
 * workloads only quire has (diff). */
struct quire;
struct quire *engine_quire_handle(void *db);

/* Size of the regular files directly in dir. */
uint64_t dir_bytes(const char *dir);

/* Read the first and last byte of what a scan returns, so that "touching"
 * the data is measured and cannot be optimised away. */
extern volatile unsigned bench_sink;
static inline void touch(const void *p, size_t n)
{
	if (n)
		bench_sink += ((const unsigned char *)p)[0] +
			      ((const unsigned char *)p)[n - 1];
}

#endif
