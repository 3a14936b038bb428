/*
 * cache.h - the node cache shared by every transaction of a handle, and the
 * epoch scheme that decides when an evicted node's memory may be freed.
 *
 * Nodes are immutable and named by their file offset, so a cached node is
 * valid for every snapshot that reaches it. A node pointer obtained inside a
 * transaction stays valid until that transaction ends: eviction only unlinks
 * a node and stamps it with the current epoch; the memory is freed once every
 * transaction that was running at that moment has ended. This is what lets a
 * quire_val point straight into a cached node.
 *
 * Only verified nodes of committed headers enter the cache: a commit that
 * fails must not leave entries behind, because its offsets are reused.
 */
#ifndef QUIRE_CACHE_H
#define QUIRE_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct cache;

/* A registration of a running transaction (embedded in the txn). */
struct epoch_slot {
	uint64_t epoch;
	struct epoch_slot *prev, *next;
};

struct cache *cache_new(size_t budget);
/* Free everything. No transaction may be running. */
void cache_free(struct cache *c);

void cache_enter(struct cache *c, struct epoch_slot *s);
void cache_exit(struct cache *c, struct epoch_slot *s);

/* The cached node at off, or NULL. Marks it recently used. */
const uint8_t *cache_lookup(struct cache *c, uint64_t off);

/* Add a verified node, held in memory from malloc that this call takes
 * over (it keeps a copy with room for the node's search index). Returns
 * the cached copy (or the one another thread inserted first), or NULL when
 * out of memory. */
const uint8_t *cache_insert(struct cache *c, uint64_t off, uint8_t *node);

/* The search index of a node returned by cache_lookup/cache_insert, built
 * now if this is its second search; NULL at its first search and while
 * another thread builds it (search the node itself then). */
const void *cache_nindex(const uint8_t *node);

/* Make a node returned by cache_lookup/cache_insert the next candidate for
 * eviction: a commit replaced it, so only older snapshots still want it.
 * The caller's transaction keeps the memory valid. */
void cache_demote(const uint8_t *node);

#endif
