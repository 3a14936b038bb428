/*
 * node.h - the tree node layout, searched in place.
 *
 * A node is one block: the 16-byte block header (count in aux, tree id and
 * level in b5/b6), then an array of 16-bit entry offsets, then the entries in
 * key order. Searches binary-search the offset array and compare keys where
 * they lie (a cached node also has an index for that, nindex.h); nothing
 * is decoded whole. node_verify() checks a node completely
 * once, when it enters the cache, so that the accessors below may then trust
 * it without bounds checks.
 *
 * Leaf entry:      varint klen, key, varint meta, varint vh,
 *                  then vlen value bytes (vh = vlen << 1) or, for a value
 *                  stored out of line, varint offset of its value block
 *                  (vh = vlen << 1 | 1).
 * Internal entry:  varint klen, key (the smallest key of the child),
 *                  varint child offset, varint child node size,
 *                  varint entry count of the child subtree,
 *                  varint bytes of the child subtree (nodes + value blocks).
 */
#ifndef QUIRE_NODE_H
#define QUIRE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "util.h"

struct lentry {
	const uint8_t *key;
	uint32_t klen;
	uint64_t meta;  /* key tree: sequence number; seq tree: txn id */
	uint32_t vlen;
	int ool;        /* value stored out of line at ool_off */
	uint64_t ool_off;
	const uint8_t *val; /* inline value bytes, when !ool */
};

struct ientry {
	const uint8_t *key;
	uint32_t klen;
	uint64_t child_off;
	uint32_t child_size;
	uint64_t count;
	uint64_t bytes;
};

static inline unsigned node_count(const uint8_t *n)
{
	return ld16(n + 12);
}

static inline unsigned node_level(const uint8_t *n)
{
	return n[6];
}

static inline uint32_t node_size(const uint8_t *n)
{
	return ld32(n + 8);
}

/* Byte offset of entry i in the node. */
static inline unsigned node_entry_at(const uint8_t *n, unsigned i)
{
	return ld16(n + 16 + 2 * i);
}

static inline const uint8_t *node_entry(const uint8_t *n, unsigned i,
					const uint8_t **end)
{
	unsigned c = node_count(n);
	*end = n + (i + 1 < c ? node_entry_at(n, i + 1) : node_size(n));
	return n + node_entry_at(n, i);
}

/* Key of the entry at byte offset off of the node (leaf or internal: both
 * start with klen, key). */
static inline const uint8_t *node_key_at(const uint8_t *n, unsigned off,
					 uint32_t *klen)
{
	const uint8_t *e = n + off;
	uint64_t l = 0;
	if (QLIKELY(e[0] < 0x80)) {
		*klen = e[0];
		return e + 1;
	}
	size_t k = varint_get(e, e + VARINT_MAX, &l);
	*klen = (uint32_t)l;
	return e + k;
}

/* Key of entry i. */
static inline const uint8_t *node_key(const uint8_t *n, unsigned i,
				      uint32_t *klen)
{
	return node_key_at(n, node_entry_at(n, i), klen);
}

/* Full structural check of a node read from offset off. Returns 0 or
 * QUIRE_ECORRUPT with a message. tree and level are what the parent
 * promised (level < 0: any). */
int node_verify(const uint8_t *n, uint32_t size, uint64_t off, int tree,
		int level);

/* Decode one entry from [p, end); 1 if it parses exactly to end, else 0. */
int lentry_parse(const uint8_t *p, const uint8_t *end, struct lentry *e);
int ientry_parse(const uint8_t *p, const uint8_t *end, struct ientry *e);

/* Entry i of a verified node; the _at forms take the entry's byte offset
 * (node_entry_at, nindex_entry_at) instead. */
void node_leaf_entry(const uint8_t *n, unsigned i, struct lentry *e);
void node_int_entry(const uint8_t *n, unsigned i, struct ientry *e);
void node_leaf_entry_at(const uint8_t *n, unsigned at, struct lentry *e);
void node_int_entry_at(const uint8_t *n, unsigned at, struct ientry *e);

/* Leaf: index of the first key >= key (count if none); *exact says whether
 * it is equal. Internal: index of the child that may hold key. */
unsigned node_lower_bound(const uint8_t *n, const void *key, size_t klen,
			  int *exact);
/* The same, searching only [from, count). */
unsigned node_lower_bound_from(const uint8_t *n, unsigned from,
			       const void *key, size_t klen, int *exact);
unsigned node_child_for(const uint8_t *n, const void *key, size_t klen);
/* Before one search of a node that is likely not in the CPU cache: a
 * binary search reads a key at a different place of the node at each step,
 * each a cache miss waited for in turn; this asks for the keys of the
 * first five steps at once (every midpoint either branch may take: 31, all
 * of a 4 KiB leaf of 100-byte values), so that those misses overlap.
 * Measured (HACKING): point lookups 13% faster at 1M keys and 5-8% at
 * 10M; six steps were no better, seven slower. Searches of a node already
 * in the cache (a fold merging many keys into one leaf) skip it. */
void node_prefetch_search(const uint8_t *n);

/* Encoders return the number of bytes written; *_size give it beforehand. */
size_t leaf_entry_size(size_t klen, uint64_t meta, size_t vlen, int ool,
		       uint64_t ool_off);
size_t leaf_entry_put(uint8_t *d, const void *key, size_t klen, uint64_t meta,
		      const void *val, size_t vlen, int ool, uint64_t ool_off);
size_t int_entry_size(size_t klen, uint64_t child_off, uint32_t child_size,
		      uint64_t count, uint64_t bytes);
size_t int_entry_put(uint8_t *d, const struct ientry *e);

/* Size of a node holding the given entries. */
static inline size_t node_bytes(unsigned count, size_t entry_bytes)
{
	return QF_BLOCK_HDR + 2 * (size_t)count + entry_bytes;
}

/* Write the block header of a node of count entries and size bytes; the
 * caller places the offsets and entries, then seals it (qblock_seal). */
void node_header(uint8_t *d, int tree, unsigned level, unsigned count,
		 uint32_t size);


#endif
