/*
 * modify.h - apply a sorted batch of mutations to a tree in one pass,
 * copy-on-write, the way couchstore's btree modify does: walk down splitting
 * the batch by the separators of each node, keep untouched subtrees by
 * reference, and rebuild each touched node exactly once. Unlike couchstore it
 * merges underfull nodes with a sibling, so deletes do not leave a tree of
 * slivers behind.
 */
#ifndef QUIRE_MODIFY_H
#define QUIRE_MODIFY_H

#include "arena.h"
#include "internal.h"
#include "wbuf.h"

enum { MUT_PUT, MUT_DEL, MUT_RANGE };

/*
 * One mutation. A batch is in key order, a range by its start key, and
 * keys are unique within it, but for a put or delete of a range's start
 * key, which comes after the range.
 *
 * MUT_RANGE removes every key k of the tree with key <= k < end (klen 0:
 * from the first key; end.key NULL: to the last). It applies to the tree
 * as it was: the puts and deletes of the batch inside the range come after
 * it (a put there stays). Ranges of one batch must not overlap, and none
 * may end before it starts: modify_tree refuses them (QUIRE_EINVAL).
 */
struct mut {
	const uint8_t *key;
	uint32_t klen;
	int del;        /* MUT_PUT, MUT_DEL or MUT_RANGE */
	uint64_t meta;  /* leaf entry meta (sequence number or txn id) */
	union {
		struct wval v;  /* the value, for a put */
		struct {
			const uint8_t *key;
			uint32_t klen;
		} end;          /* the end of a range (not in it) */
	};
};

/* Where a put landed: leaf offset and size, and its index in the leaf. */
struct leafpos {
	uint64_t off;
	uint32_t size, slot;
};

struct modify {
	quire *db;
	unsigned target, minfill;
	int cache_leaves;         /* hand new leaves to the cache too */
	struct arena ar;          /* encoded entries, freed by modify_done */
	struct {
		uint64_t off;
		uint8_t *buf;
		int keep;         /* cached even if leaves are not */
	} *nodes;                 /* nodes written, for the cache */
	size_t nnodes, cap;
	size_t ndropped;          /* nodes before it are in the file */
	const uint8_t **replaced; /* old nodes this commit rewrote */
	size_t nreplaced, capreplaced;
	/* per modify_tree call */
	const struct mut *mbase;
	struct leafpos *pos;
	int ranges;               /* the batch has ranges */
	/* keys the ranges removed from the tree, and their bytes as subtree
	 * byte counts measure them: the subtrees dropped whole (nodes and
	 * value blocks, never read), and each entry cut from a leaf that is
	 * rewritten (with its offset slot) and its value block */
	uint64_t rm_keys, rm_bytes;
};

/* cache_leaves: whether the leaves this modification writes are likely to
 * be read again soon (not so for appends, whose full leaves stay cold). */
void modify_init(struct modify *m, quire *db, int cache_leaves);

/*
 * Apply muts[0..n) to the tree rooted at old, appending the new nodes to the
 * commit being built; *out receives the new root. If pos is not NULL,
 * pos[i] receives where the put muts[i] was placed. m->rm_keys and
 * m->rm_bytes receive what the ranges removed of the old tree (keys that
 * puts of the batch bring back included). A range costs the two
 * paths to its ends: the subtrees between them go by reference, unread,
 * and what is left on the two paths is joined into common nodes, level by
 * level, merged as deletes merge them.
 */
int modify_tree(struct modify *m, int tree, const struct qroot *old,
		const struct mut *muts, size_t n, struct leafpos *pos,
		struct qroot *out);

/* Release everything; if committed, hand the written nodes to the cache
 * (a failed commit's offsets will be reused, so its nodes must not be;
 * leaves only with cache_leaves) and mark the versions they replaced as the
 * first to evict. */
void modify_done(struct modify *m, int committed);

#endif
