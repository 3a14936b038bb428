/*
 * memtable.h - the pending operations of a handle: every key touched by a
 * commit since the last checkpoint, with each of its versions.
 *
 * Snapshots read it without locks: a version is visible to a snapshot when
 * its sequence number is below the snapshot's next_seq, so versions of
 * commits the snapshot does not include are simply skipped. One writer at a
 * time (mt_lock) adds the batches of new commits; nothing is ever removed
 * until the memtable is freed, when the last snapshot using it ends. A
 * checkpoint folds the memtable into the trees and starts a new one.
 *
 * Structure: a skip list of keys (ordered iteration), each key with a chain
 * of versions, newest first, and an open-addressing hash of the keys (point
 * lookups in one probe). Writers publish with release stores, readers load
 * with acquire.
 *
 * A batch's new keys enter the hash at once and the list only when an
 * iteration needs the order (mt_iter_init links them under mt_lock):
 * point reads and commits never pay for ordering keys, and a checkpoint
 * sorts the keys that wait and appends them to the list in one pass
 * instead of searching the list for each. Searching was a fifth of a
 * random-insert writer's time and a third of a reader process's, which
 * loads every batch another process commits.
 */
#ifndef QUIRE_MEMTABLE_H
#define QUIRE_MEMTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "arena.h"
#include "batch.h"
#include "wbuf.h"

struct mt_ver {
	uint64_t seq;
	struct mt_ver *older;   /* set before publication, then constant */
	int op;                 /* WOP_PUT / WOP_DEL */
	_Atomic int dead;       /* its commit failed: never visible */
	struct wval v;
};

/* A key of the memtable: 32 bytes and its links (keys are at most
 * QF_MAX_KEY long). */
struct mt_node {
	const uint8_t *key;
	_Atomic(struct mt_ver *) newest;
	/* the node before it (NULL: the first), so that a scan backwards
	 * steps as cheaply as forwards; a reader may find it pointing at a
	 * node inserted later, whose versions it cannot see, and whose own
	 * predecessor was set before it was linked */
	_Atomic(struct mt_node *) prev;
	uint16_t klen;
	uint16_t height;
	uint32_t hash;
	_Atomic(struct mt_node *) next[];
};

/* A batch the memtable holds, in commit order. Readers index the array
 * while the writer appends: a grown array is a copy, the old one stays
 * until the memtable is freed (readers may still hold pointers into it),
 * and nblocks is raised only after the entry and the array are in place. */
struct mt_block {
	const uint8_t *b;       /* in memory of its own, or in the file's
				 * mapping (not owned) */
	struct batch_info bi;
	_Atomic int dead;       /* its commit failed */
	int owned;              /* b is to be freed with the memtable */
};

struct memtable {
	_Atomic int refs;
	pthread_mutex_t wmu;
	struct arena ar;            /* nodes and versions */
	struct mt_node *head;
	struct mt_node *tail[16];   /* writer: last node of each level */
	struct mt_node *max;        /* writer: the largest key, linked or not */
	_Atomic int height;
	_Atomic(struct mt_table *) table;
	struct mt_table **old_tables;
	size_t nold;
	_Atomic(struct mt_block *) blocks; /* batches the versions point into */
	_Atomic size_t nblocks;
	size_t capblocks;
	struct mt_block **old_blocks; /* outgrown arrays (see mt_block) */
	size_t nold_blocks;
	struct mt_node **unlinked;  /* in the hash, not yet in the list */
	_Atomic size_t nunlinked;   /* readers: 0 means the list is whole */
	size_t capunlinked;
	struct mt_ver **last;       /* versions of the newest batch (undo) */
	size_t nlast, caplast;
	uint64_t base_seq;          /* operations below it are in the trees */
	uint64_t ckpt_off;          /* header of the checkpoint it follows */
	_Atomic uint64_t applied_txn; /* newest batch added (readers check it
				      * without the lock: pending_load) */
	uint64_t undo_txn;          /* applied_txn before the newest batch */
	uint64_t nkeys;
	uint64_t rng;
};

/* Readers: the batch array (entries below nblocks are complete). */
static inline const struct mt_block *mt_blocks(const struct memtable *mt)
{
	return atomic_load_explicit(&((struct memtable *)mt)->blocks,
				    memory_order_acquire);
}

/* A memtable whose hash starts with room for expect_keys keys: the
 * number the memtable it follows (the one before a checkpoint) reached,
 * so that the next cycle does not grow the table by doubling, putting
 * every key into it again at each step (0: from the smallest). */
struct memtable *mt_new(uint64_t base_seq, uint64_t applied_txn,
		       uint64_t ckpt_off, uint64_t expect_keys);
/* Keys it holds, for mt_new's expect_keys (read under its lock: a
 * refresh may be adding to it). */
uint64_t mt_keys(struct memtable *mt);
void mt_ref(struct memtable *mt);
void mt_unref(struct memtable *mt);

/* Writers: hold mt_lock while adding. */
void mt_lock(struct memtable *mt);
void mt_unlock(struct memtable *mt);
/* Add a verified batch block; with owned, the memtable takes ownership
 * of block (also on failure), else block lives as long as the memtable
 * (the file's mapping). Its new keys wait for the list (see above). 0 or
 * QUIRE_ENOMEM. */
int mt_add_batch(struct memtable *mt, const uint8_t *block,
		 const struct batch_info *bi, int owned);
/* Load n verified batches, oldest first, into an empty memtable at once:
 * the keys of all of them merged in order, so that the list is built
 * from its end (no searches) and its nodes lie in key order in memory
 * (scans of a memtable loaded at open read it in order). The memtable
 * takes what owned[i] says of blocks[i], also on failure. 0 or
 * QUIRE_ENOMEM. */
int mt_load(struct memtable *mt, const uint8_t *const *blocks,
	    const struct batch_info *bis, const int *owned, size_t n);

/* The newest batch's commit failed: make its versions invisible forever. */
void mt_undo_last(struct memtable *mt);

/* Tests: nonzero makes memtables take no address as fitting a slot of
 * their hash table from then on, so that the table turns wide at the next
 * new key (the fallback for addresses of 48 bits or more, which test
 * machines do not hand out); mt_wide: whether mt's table is. */
extern int mt_test_wide;
int mt_wide(const struct memtable *mt);

/* Readers. bound: the snapshot's next_seq. */
const struct mt_ver *mt_get(const struct memtable *mt, const void *key,
			    size_t klen, uint64_t bound);

/* Iteration over keys with a version visible below bound. mt_iter_init
 * first links keys that wait (taking mt_lock: not to be called with it
 * held). */
struct mt_iter {
	const struct memtable *mt;
	uint64_t bound;
	struct mt_node *node;  /* NULL: not positioned / past the end */
};
void mt_iter_init(struct mt_iter *it, const struct memtable *mt,
		  uint64_t bound);
/* First key >= key (incl) or > key; last key <= key (incl) or < key. */
int mt_seek(struct mt_iter *it, const void *key, size_t klen, int incl);
int mt_seek_back(struct mt_iter *it, const void *key, size_t klen, int incl);
int mt_first(struct mt_iter *it);
int mt_last(struct mt_iter *it);
int mt_next(struct mt_iter *it);
int mt_prev(struct mt_iter *it);
/* Current key and its visible version (valid while the memtable lives). */
const uint8_t *mt_key(const struct mt_iter *it, uint32_t *klen);
const struct mt_ver *mt_ver(const struct mt_iter *it);

#endif
