/*
 * tree.h - reading a tree: loading verified nodes through the cache, point
 * lookups, and cursors that step through leaves in either direction.
 */
#ifndef QUIRE_TREE_H
#define QUIRE_TREE_H

#include "internal.h"
#include "node.h"

#define TREE_MAX_HEIGHT 64

/* The verified node at off; valid until the calling transaction ends. */
int node_get(struct qfile *qf, uint64_t off, uint32_t size, int tree, int level,
	     const uint8_t **out);

/* Find key; on success *e describes the leaf entry. 0 or QUIRE_NOTFOUND. */
int tree_get(struct qfile *qf, const struct qroot *root, int tree, const void *key,
	     size_t klen, struct lentry *e);

/* How many keys of the tree are below key, from the subtree counts of
 * the internal entries: one path, no leaves but the last. */
int tree_rank(struct qfile *qf, const struct qroot *root, int tree,
	      const void *key, size_t klen, uint64_t *rank);

/* The leaf a copy-on-write modification puts key into (the child for key
 * at every level; 0 in an empty tree), and the first key of the leaf after
 * it (*upper NULL: none). */
int tree_leaf_for(struct qfile *qf, const struct qroot *root, int tree,
		  const void *key, size_t klen, uint64_t *leaf,
		  const uint8_t **upper, uint32_t *ulen);

struct tcur {
	struct qfile *qf;
	int tree;
	struct qroot root;
	int valid;
	const uint8_t *ahead;   /* the next leaf's bytes a scan has not yet
				 * prefetched, ahead_step of them per step */
	uint32_t ahead_len, ahead_step;
	struct {
		const uint8_t *n;
		uint64_t off;
		unsigned i;
	} lv[TREE_MAX_HEIGHT]; /* lv[0] is the leaf level */
};

void tcur_init(struct tcur *c, struct qfile *qf, int tree, const struct qroot *root);
/* Each returns 0, QUIRE_NOTFOUND (cursor invalid), or an error. */
int tcur_first(struct tcur *c);
int tcur_last(struct tcur *c);
int tcur_seek(struct tcur *c, const void *key, size_t klen); /* first >= */
/* First entry whose key k has cmp(k, ctx) >= 0; cmp must grow with key
 * order (a key order of its own that agrees with the tree's). */
int tcur_seek_cmp(struct tcur *c,
		  int (*cmp)(const uint8_t *k, uint32_t klen, const void *ctx),
		  const void *ctx);
int tcur_next(struct tcur *c);
int tcur_prev(struct tcur *c);
/* Move past the whole subtree whose root is the cursor's node at level
 * (to the first entry after it). */
int tcur_skip(struct tcur *c, int level);

static inline void tcur_entry(const struct tcur *c, struct lentry *e)
{
	node_leaf_entry(c->lv[0].n, c->lv[0].i, e);
}

static inline const uint8_t *tcur_key(const struct tcur *c, uint32_t *klen)
{
	return node_key(c->lv[0].n, c->lv[0].i, klen);
}

#endif
