/*
 * tree.c - node loading, lookups and tree cursors.
 *
 * A node is read and verified once (node_verify) when it enters the cache;
 * a cache hit only re-checks that the node is what the parent promised
 * (size, tree, level), which a corrupt parent could get wrong.
 */
#include "config.h"

#include <stdlib.h>

#include "error.h"
#include "file.h"
#include "nindex.h"
#include "tree.h"

/* Whether the node at off is what its parent promised; it was verified. */
static int as_promised(const struct qfile *qf, const uint8_t *n, uint64_t off,
		       uint32_t size, int tree, int level)
{
	if (QLIKELY(node_size(n) == size && n[5] == tree && n[6] == level))
		return 0;
	return qerr(QUIRE_ECORRUPT,
		    "%s: node at offset %llu is not what its parent describes",
		    qf->path, (unsigned long long)off);
}

/* A node read in place from the mapping, verified at its first use. */
static int mapped_node(struct qfile *qf, uint64_t off, uint32_t size,
		       int tree, int level, const uint8_t **out)
{
	const uint8_t *n = fmap_at(&qf->map, qf->f, off, size);
	int e;
	if (!n)
		return 1; /* read it instead */
	if (QLIKELY(fmap_marked(&qf->map, off)))
		e = as_promised(qf, n, off, size, tree, level);
	else if ((e = node_verify(n, size, off, tree, level)) != 0)
		e = qerr_wrap(e, qf->path);
	else
		fmap_mark(&qf->map, off);
	*out = n;
	return qfile_check(qf) ? qfile_fault(qf) : e; /* the cause first */
}

int node_get(struct qfile *qf, uint64_t off, uint32_t size, int tree, int level,
	     const uint8_t **out)
{
	if (size < QF_BLOCK_HDR || size > QF_NODE_MAX)
		return qerr(QUIRE_ECORRUPT, "%s: node at offset %llu: bad size",
			    qf->path, (unsigned long long)off);
	int e;
	if (qf->smap && (e = mapped_node(qf, off, size, tree, level, out)) <= 0)
		return e;
	const uint8_t *n = cache_lookup(qf->cache, off);
	if (n) {
		*out = n;
		return as_promised(qf, n, off, size, tree, level);
	}
	uint8_t *buf = malloc(size);
	if (!buf)
		return qerr(QUIRE_ENOMEM, "out of memory");
	e = df_read(qf, buf, size, off, "node");
	if (!e && (e = node_verify(buf, size, off, tree, level)) != 0)
		e = qerr_wrap(e, qf->path);
	if (e) {
		free(buf);
		return e;
	}
	if (!(*out = cache_insert(qf->cache, off, buf)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	return 0;
}

/* Byte offset of entry i of n, from its index x when it has one (the line
 * the search just read). */
static unsigned entry_at(const void *x, const uint8_t *n, unsigned i)
{
	return x ? nindex_entry_at(x, i) : node_entry_at(n, i);
}

/* The search index of a node from node_get: only nodes of the cache
 * have one. */
static const void *index_of(const struct qfile *qf, const uint8_t *n)
{
	return qf->smap ? NULL : cache_nindex(n);
}

/* node_lower_bound and node_child_for on a node from node_get, through
 * its index x (may be NULL); *at (unless NULL) receives the byte offset of
 * the entry found, when there is one. */
static unsigned lower_bound(const void *x, const uint8_t *n, const void *key,
			    size_t klen, int *exact, unsigned *at)
{
	unsigned i;
	if (x) {
		i = nindex_lower_bound(x, n, key, klen, exact);
	} else {
		node_prefetch_search(n);
		i = node_lower_bound(n, key, klen, exact);
	}
	if (at && *exact)
		*at = entry_at(x, n, i);
	return i;
}

static unsigned child_for(const void *x, const uint8_t *n, const void *key,
			  size_t klen, unsigned *at)
{
	unsigned i;
	if (x) {
		i = nindex_child_for(x, n, key, klen);
	} else {
		node_prefetch_search(n);
		i = node_child_for(n, key, klen);
	}
	if (at)
		*at = entry_at(x, n, i);
	return i;
}

int tree_get(struct qfile *qf, const struct qroot *root, int tree, const void *key,
	     size_t klen, struct lentry *e)
{
	if (!root->off)
		return QUIRE_NOTFOUND;
	uint64_t off = root->off;
	uint32_t size = root->size;
	for (int level = root->height - 1;; level--) {
		const uint8_t *n;
		int r = node_get(qf, off, size, tree, level, &n);
		if (r)
			return r;
		unsigned at;
		if (level == 0) {
			int exact;
			lower_bound(index_of(qf, n), n, key, klen, &exact,
				    &at);
			if (!exact)
				return qfile_check(qf) ? qfile_fault(qf)
						       : QUIRE_NOTFOUND;
			node_leaf_entry_at(n, at, e);
			return qfile_check(qf);
		}
		struct ientry ie;
		child_for(index_of(qf, n), n, key, klen, &at);
		node_int_entry_at(n, at, &ie);
		off = ie.child_off;
		size = ie.child_size;
	}
}

int tree_rank(struct qfile *qf, const struct qroot *root, int tree,
	      const void *key, size_t klen, uint64_t *rank)
{
	uint64_t off = root->off;
	uint32_t size = root->size;
	*rank = 0;
	if (!off)
		return 0;
	for (int level = root->height - 1;; level--) {
		const uint8_t *n;
		int r = node_get(qf, off, size, tree, level, &n), exact;
		if (r)
			return r;
		if (level == 0) {
			*rank += lower_bound(index_of(qf, n), n, key, klen,
					     &exact, NULL);
			return qfile_check(qf);
		}
		/* every key of the children before key's is smaller */
		unsigned i = child_for(index_of(qf, n), n, key, klen, NULL);
		struct ientry ie;
		for (unsigned j = 0; j < i; j++) {
			node_int_entry(n, j, &ie);
			*rank += ie.count;
		}
		node_int_entry(n, i, &ie);
		off = ie.child_off;
		size = ie.child_size;
	}
}

int tree_leaf_for(struct qfile *qf, const struct qroot *root, int tree,
		  const void *key, size_t klen, uint64_t *leaf,
		  const uint8_t **upper, uint32_t *ulen)
{
	uint64_t off = root->off;
	uint32_t size = root->size;
	*leaf = 0;
	*upper = NULL;
	*ulen = 0;
	for (int level = root->height - 1; off; level--) {
		const uint8_t *n;
		int r = node_get(qf, off, size, tree, level, &n);
		if (r)
			return r;
		if (level == 0) {
			*leaf = off;
			return 0;
		}
		unsigned at, i = child_for(index_of(qf, n), n, key, klen, &at);
		if (i + 1 < node_count(n)) /* deeper ones are nearer */
			*upper = node_key(n, i + 1, ulen);
		struct ientry ie;
		node_int_entry_at(n, at, &ie);
		off = ie.child_off;
		size = ie.child_size;
	}
	return 0;
}

void tcur_init(struct tcur *c, struct qfile *qf, int tree, const struct qroot *root)
{
	c->qf = qf;
	c->tree = tree;
	c->root = *root;
	c->valid = 0;
	c->ahead_len = 0;
}

/* Load the child of lv[level] at its index into lv[level - 1]. */
static int load_child(struct tcur *c, int level)
{
	struct ientry ie;
	node_int_entry(c->lv[level].n, c->lv[level].i, &ie);
	c->lv[level - 1].off = ie.child_off;
	return node_get(c->qf, ie.child_off, ie.child_size, c->tree, level - 1,
			&c->lv[level - 1].n);
}

/* A scan reading in place enters a new parent of leaves: when its
 * children lie close together in the file (as compaction and appends
 * write them) ask for the whole span at once, so that a scan of a file
 * not yet in memory reads ahead instead of waiting leaf by leaf. */
static void read_ahead(struct tcur *c, const uint8_t *parent)
{
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	unsigned n = node_count(parent);
	if (!c->qf->f->ops->willneed || n < 2)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct ientry ie;
		node_int_entry(parent, i, &ie);
		lo = QMIN(lo, ie.child_off);
		hi = QMAX(hi, ie.child_off + ie.child_size);
		sum += ie.child_size;
	}
	if (hi - lo <= 2 * sum)
		c->qf->f->ops->willneed(c->qf->f, lo, hi - lo);
}

/* The leaf a scan reads after the one at lv[0]: fetch it into the CPU
 * cache while this one is read, up to 4 KiB from the end the scan enters
 * (backwards too, where the hardware prefetchers, which follow rising
 * addresses, do not help). fetch_ahead asks for a few lines at each step
 * through this leaf: asked for all at once, they stalled the scan. */
static void prefetch_next(struct tcur *c, int last)
{
	const uint8_t *p = c->lv[1].n;
	unsigned i = c->lv[1].i;
	c->ahead_len = 0;
	if (last ? i == 0 : i + 1 >= node_count(p))
		return;
	struct ientry ie;
	node_int_entry(p, last ? i - 1 : i + 1, &ie);
	const uint8_t *n = fmap_at(&c->qf->map, c->qf->f, ie.child_off,
				   ie.child_size);
	if (!n)
		return;
	uint32_t len = QMIN(ie.child_size, 4096u);
	c->ahead = last ? n + ie.child_size - len : n;
	c->ahead_len = len;
	c->ahead_step = (len / node_count(c->lv[0].n) + 127) & ~63u;
}

/* One step's share of the lines prefetch_next chose, rounded up so that
 * all are asked for well before this leaf ends. */
static inline void fetch_ahead(struct tcur *c)
{
	for (uint32_t o = 0; o < c->ahead_step && c->ahead_len; o += 64) {
		__builtin_prefetch(c->ahead);
		c->ahead += 64;
		c->ahead_len -= QMIN(c->ahead_len, 64u);
	}
}

/* From lv[level] (already positioned) go down to the leaf, taking the first
 * (last != 0: the last) entry of each node below. A scan goes this way
 * from leaf to leaf, so it is also where reading ahead starts. */
static int descend(struct tcur *c, int level, int last)
{
	int top = level;
	for (; level > 0; level--) {
		int e = load_child(c, level);
		if (e) {
			c->valid = 0;
			return e;
		}
		c->lv[level - 1].i = last ? node_count(c->lv[level - 1].n) - 1 : 0;
		if (level == 2 && c->qf->smap)
			read_ahead(c, c->lv[1].n);
	}
	if (top >= 1 && c->qf->smap)
		prefetch_next(c, last);
	c->valid = 1;
	return 0;
}

static int load_root(struct tcur *c)
{
	c->valid = 0;
	c->ahead_len = 0;
	if (!c->root.off)
		return QUIRE_NOTFOUND;
	c->lv[c->root.height - 1].off = c->root.off;
	return node_get(c->qf, c->root.off, c->root.size, c->tree,
			c->root.height - 1, &c->lv[c->root.height - 1].n);
}

static int edge(struct tcur *c, int last)
{
	int e = load_root(c), top = c->root.height - 1;
	if (e)
		return e;
	c->lv[top].i = last ? node_count(c->lv[top].n) - 1 : 0;
	return descend(c, top, last);
}

int tcur_first(struct tcur *c)
{
	return edge(c, 0);
}

int tcur_last(struct tcur *c)
{
	return edge(c, 1);
}

int tcur_seek(struct tcur *c, const void *key, size_t klen)
{
	int e = load_root(c), exact;
	if (e)
		return e;
	for (int level = c->root.height - 1; level > 0; level--) {
		c->lv[level].i = child_for(index_of(c->qf, c->lv[level].n),
					   c->lv[level].n, key, klen, NULL);
		if ((e = load_child(c, level)) != 0)
			return e;
	}
	c->lv[0].i = lower_bound(index_of(c->qf, c->lv[0].n), c->lv[0].n, key,
				 klen, &exact, NULL);
	c->valid = 1;
	if (c->lv[0].i < node_count(c->lv[0].n))
		return 0;
	c->lv[0].i--; /* every key here is smaller: step to the next leaf */
	return tcur_next(c);
}

int tcur_seek_cmp(struct tcur *c,
		  int (*cmp)(const uint8_t *k, uint32_t klen, const void *ctx),
		  const void *ctx)
{
	int e = load_root(c);
	if (e)
		return e;
	for (int level = c->root.height - 1; level >= 0; level--) {
		const uint8_t *n = c->lv[level].n;
		unsigned lo = 0, hi = node_count(n);
		while (lo < hi) { /* entries with cmp < 0 (or <= 0 inside) */
			unsigned mid = (lo + hi) / 2;
			uint32_t kl;
			const uint8_t *k = node_key(n, mid, &kl);
			int r = cmp(k, kl, ctx);
			if (r < 0 || (level > 0 && r == 0))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (level > 0) {
			c->lv[level].i = lo ? lo - 1 : 0;
			if ((e = load_child(c, level)) != 0)
				return e;
			continue;
		}
		c->lv[0].i = lo;
	}
	c->valid = 1;
	if (c->lv[0].i < node_count(c->lv[0].n))
		return 0;
	c->lv[0].i--; /* all smaller here: the answer is in the next leaf */
	return tcur_next(c);
}

int tcur_skip(struct tcur *c, int level)
{
	int top = c->root.height - 1;
	for (level++; level <= top &&
		      c->lv[level].i + 1 >= node_count(c->lv[level].n);
	     level++)
		;
	if (level > top) {
		c->valid = 0;
		return QUIRE_NOTFOUND;
	}
	c->lv[level].i++;
	return descend(c, level, 0);
}

int tcur_next(struct tcur *c)
{
	if (!c->valid)
		return tcur_first(c);
	if (++c->lv[0].i < node_count(c->lv[0].n)) {
		fetch_ahead(c);
		return 0;
	}
	return tcur_skip(c, 0); /* past this leaf: the next one */
}

int tcur_prev(struct tcur *c)
{
	if (!c->valid)
		return tcur_last(c);
	if (c->lv[0].i > 0) {
		c->lv[0].i--;
		fetch_ahead(c);
		return 0;
	}
	int level = 1, top = c->root.height - 1;
	while (level <= top && c->lv[level].i == 0)
		level++;
	if (level > top) {
		c->valid = 0;
		return QUIRE_NOTFOUND;
	}
	c->lv[level].i--;
	return descend(c, level, 1);
}
