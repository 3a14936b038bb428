/*
 * testutil.h - helpers shared by the test programs: scratch paths, a seeded
 * random generator, and the in-memory model that randomized tests compare
 * the database against.
 */
#ifndef QUIRE_TESTUTIL_H
#define QUIRE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"

/* Fail the current cmocka test with the quire error if x is not 0. */
#define QOK(x)                                                               \
	do {                                                                 \
		int qok_e_ = (x);                                            \
		if (qok_e_ != 0)                                             \
			fail_msg("%s = %d (%s: %s)", #x, qok_e_,             \
				 quire_strerror(qok_e_), quire_errmsg());    \
	} while (0)

/* A fresh path "<test dir>/<name>-<pid>.quire"; any old file is removed.
 * The string is static: copy it to keep two. */
const char *tu_path(const char *name);
/* arr (n elements of size bytes, room for *cap) with room for one more:
 * the capacity doubles, starting at first. Fails the test when out of
 * memory. */
void *tu_push(void *arr, size_t *cap, size_t n, size_t size, size_t first);
/* A key-tree node at level of n encoded entries (lens[i] bytes each, back
 * to back in ents), laid out as modify.c does and sealed as if written at
 * offset TU_NODE_OFF; *size receives its size. Free it with free(). */
#define TU_NODE_OFF (1u << 19)
uint8_t *tu_node(int level, const uint8_t *ents, const size_t *lens,
		 unsigned n, uint32_t *size);
/* dst = a followed by b (a path: fails the test if it does not fit). */
char *tu_pathcat(char *dst, size_t n, const char *a, const char *b);

/* splitmix64 */
uint64_t tu_rand(uint64_t *state);
/* Uniform in [0, n). */
uint64_t tu_below(uint64_t *state, uint64_t n);
/* The seed for randomized tests: QUIRE_SEED from the environment or def. */
uint64_t tu_seed(uint64_t def);

/* A malloc'd copy of n bytes (never NULL: fails the test instead), and
 * whether two byte strings are equal. */
uint8_t *tu_dup(const void *p, size_t n);
int tu_same(const void *a, size_t al, const void *b, size_t bl);

/* Commit key k = v (strings) in a write transaction of its own; fail the
 * test unless the newest commit holds k = v. */
void tu_put1(quire *db, const char *k, const char *v);
void tu_expect(quire *db, const char *k, const char *v);

/* Sorted map of byte strings, the reference for model-based tests. */
struct model_ent {
	uint8_t *key, *val;
	size_t klen, vlen;
};
struct model {
	struct model_ent *v;
	size_t n, cap;
};

void model_put(struct model *m, const void *k, size_t kl, const void *v,
	       size_t vl);
int model_del(struct model *m, const void *k, size_t kl); /* 1 if it was there */
const struct model_ent *model_get(const struct model *m, const void *k,
				  size_t kl);
/* Index of the first key >= k. */
size_t model_lower(const struct model *m, const void *k, size_t kl);
void model_copy(struct model *dst, const struct model *src);
void model_clear(struct model *m);

/* Key order as quire's: memcmp, then the shorter first. */
int tu_keycmp(const void *a, size_t al, const void *b, size_t bl);
/* Whether key k starts with p. */
int tu_has_prefix(const void *k, size_t kl, const void *p, size_t pl);
/* The end of the range a prefix spans, the smallest key above every key
 * that starts with p: p without its trailing 0xff bytes, the last byte
 * left raised by one, into end (room for pl bytes), its length in *el.
 * Returns 0 when there is no such key (p empty or all 0xff: the range runs
 * to the last key), else 1. */
int tu_prefix_end(const void *p, size_t pl, uint8_t *end, size_t *el);

/* Delete the keys k with from <= k < to (from NULL: from the smallest;
 * to NULL: to the last, tl ignored; to < from deletes nothing); returns
 * how many went. */
size_t model_del_range(struct model *m, const void *from, size_t fl,
		       const void *to, size_t tl);
/* Delete the keys that start with p (pl 0: every key), found by comparing
 * bytes, not through tu_prefix_end; returns how many went. */
size_t model_del_prefix(struct model *m, const void *p, size_t pl);

/* Compare the whole content seen by txn with m (a cursor scan forward and
 * backward plus a get of every key). Returns 0 if equal, else fails the
 * test with a description. */
void model_check_txn(const struct model *m, quire_txn *txn);

/* Compare an open diff (a = the snapshot of model a, b of model b) with
 * what the models differ in: every key in one only or with different
 * values, in key order, and nothing else. Returns how many keys differ;
 * fails the test on any mismatch. */
size_t model_check_diff(const struct model *a, const struct model *b,
			quire_diff *d);

#endif
