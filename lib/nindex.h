/*
 * nindex.h - the search index the cache builds beside each node it holds.
 *
 * Binary search inside a node (node_lower_bound) reads the offset array and
 * then a key at a different place of the node for every step: five or six
 * cache misses for a 4 KiB leaf, which is most of the cost of a point lookup
 * once the node is in memory. The index holds what the search needs in a
 * few cache lines: for each entry, six bytes of its key (the bytes right
 * after the prefix every key of the node shares) and its offset in the
 * node. A search reads one line of group fences, then one line of eight
 * entries, and a key in the node only when six bytes cannot tell it apart.
 *
 * Layout (in memory only, never on disk; 64-byte aligned, every part a
 * whole number of 64-byte lines):
 *   ent[count]            uint64 (suffix big-endian << 16) | entry offset,
 *                         in key order: eight to a line, a group
 *   uint16 cplen, 6 bytes unused, then
 *   fence[(count+7)/8]    ent[8 * g], the first entry of each group,
 *   cplen bytes           the shared prefix.
 * The suffix is zero-padded: a key that ends inside it and one that goes on
 * with zero bytes tie, and the full comparison settles it. The fences come
 * last, so that they end where the cache's node header begins.
 */
#ifndef QUIRE_NINDEX_H
#define QUIRE_NINDEX_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the index of a verified node (a multiple of 64). */
size_t nindex_size(const uint8_t *n);

/* Build the index of verified node n into x (nindex_size(n) bytes,
 * 64-byte aligned). */
void nindex_build(void *x, const uint8_t *n);

/* node_lower_bound and node_child_for (node.h), answered through the index
 * x of node n. */
unsigned nindex_lower_bound(const void *x, const uint8_t *n, const void *key,
			    size_t klen, int *exact);
unsigned nindex_child_for(const void *x, const uint8_t *n, const void *key,
			  size_t klen);

/* Byte offset of entry i of node n (node_entry_at), from its index: the
 * line a search just read, where the node's offset array may be cold. */
static inline unsigned nindex_entry_at(const void *x, unsigned i)
{
	return (unsigned)(((const uint64_t *)x)[i] & 0xffff);
}

#endif
