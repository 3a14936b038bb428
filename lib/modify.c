/*
 * modify.c - batch copy-on-write modification of a tree.
 *
 * modify_span() returns the complete list of entries that a touched node
 * would hold after the batch, without building it. The parent collects the
 * lists of consecutive touched children into one "run" and cuts the run into
 * new nodes (emit_nodes): greedily up to the target size, with the last two
 * rebalanced when the last would be underfull. A run too small for one
 * healthy node first absorbs an untouched neighbour. So every node written
 * is written once, siblings that shrink are merged, and the rightmost edge
 * (where sequential inserts land) is allowed to stay partly filled so that
 * appends leave full nodes behind.
 *
 * A range delete drops the children it holds whole by their parent's
 * entry, unread (the entry's counts say what went), and walks down only
 * to its two ends. The nodes on those two paths that the range joins are
 * rewritten as one "span" of nodes at each level, so what is left of them
 * on both sides shares new nodes, and the tree may lose levels.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "error.h"
#include "modify.h"
#include "tree.h"

/* An entry on its way into a new node: an existing entry (copied as it
 * is), a mutation (encoded straight into the new node), or a pointer to a
 * node this commit wrote. */
struct ment {
	const uint8_t *raw; /* encoded bytes; NULL: encode m->mbase[mut] */
	uint32_t len;       /* encoded size */
	int32_t mut;        /* leaf entry made from m->mbase[mut], else -1 */
	const uint8_t *node;/* existing entry: its node and index, for the key */
	uint32_t idx;
	uint32_t klen;      /* otherwise the key itself */
	const uint8_t *key;
	uint64_t count;     /* leaf: 1; internal: entries in the child */
	uint64_t xbytes;    /* leaf: value block bytes; internal: child bytes */
	uint8_t fresh;      /* internal entry naming a node of this commit */
};

static inline const uint8_t *ment_key(const struct ment *e, uint32_t *klen)
{
	if (e->node)
		return node_key(e->node, e->idx, klen);
	*klen = e->klen;
	return e->key;
}

struct elist {
	struct ment *v;
	size_t n, cap;
};

static int push(struct elist *l, const struct ment *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ment *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *e;
	return 0;
}

static void elist_free(struct elist *l)
{
	free(l->v);
	*l = (struct elist){0};
}

void modify_init(struct modify *m, quire *db, int cache_leaves)
{
	memset(m, 0, sizeof *m);
	m->db = db;
	m->cache_leaves = cache_leaves;
	m->target = db->opts.node_size;
	m->minfill = m->target / 2; /* the B-tree half-full rule */
}

void modify_done(struct modify *m, int committed)
{
	struct qfile *qf = m->db->qf;
	if (qf->smap) { /* read in place: what we wrote is known sound */
		for (size_t i = 0; i < m->nnodes; i++) {
			if (committed)
				fmap_mark(&qf->map, m->nodes[i].off);
			free(m->nodes[i].buf);
		}
		m->nnodes = 0;
	}
	for (size_t i = 0; committed && !qf->smap && i < m->nreplaced; i++)
		cache_demote(m->replaced[i]);
	for (size_t i = 0; i < m->nnodes; i++) {
		if (committed &&
		    (m->cache_leaves || m->nodes[i].keep ||
		     node_level(m->nodes[i].buf) > 0))
			cache_insert(qf->cache, m->nodes[i].off,
				     m->nodes[i].buf);
		else
			free(m->nodes[i].buf);
	}
	free(m->nodes);
	free(m->replaced);
	arena_free(&m->ar);
	m->nodes = NULL;
	m->replaced = NULL;
	m->nnodes = m->cap = m->nreplaced = m->capreplaced = 0;
	m->ndropped = 0;
}

/* A file read in place needs no copies of the leaves this modification
 * wrote once they are in the file: free them as the appender writes them
 * out, so that a checkpoint that rewrites a large tree holds a few
 * megabytes of them, not the tree. Internal nodes stay (the collapse of
 * the root looks into them). */
static void drop_written(struct modify *m)
{
	if (!m->db->qf->smap)
		return;
	uint64_t written = df_written(m->db);
	for (; m->ndropped < m->nnodes; m->ndropped++) {
		uint8_t *b = m->nodes[m->ndropped].buf;
		if (m->nodes[m->ndropped].off + node_size(b) > written)
			break;
		if (node_level(b) == 0) {
			free(b);
			m->nodes[m->ndropped].buf = NULL;
		}
	}
}

/* Note that this commit rewrites node n (it will be demoted in the cache). */
static int note_replaced(struct modify *m, const uint8_t *n)
{
	if (m->nreplaced == m->capreplaced) {
		size_t cap = m->capreplaced ? m->capreplaced * 2 : 256;
		const uint8_t **v = realloc(m->replaced, cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		m->replaced = v;
		m->capreplaced = cap;
	}
	m->replaced[m->nreplaced++] = n;
	return 0;
}

/* Load an existing node that this commit will rewrite. */
static int load_replaced(struct modify *m, int tree, uint64_t off,
			 uint32_t size, int level, const uint8_t **n)
{
	int e = node_get(m->db->qf, off, size, tree, level, n);
	return e ? e : note_replaced(m, *n);
}

/* Whether range r holds key k, given that it starts at or below it. */
static int range_past(const struct mut *r, const uint8_t *k, uint32_t kl)
{
	return !r->end.key || key_cmp(r->end.key, r->end.klen, k, kl) > 0;
}

/* Whether range r holds every key below u (NULL: every key), given that
 * it starts at or below the first of them. */
static int range_covers(const struct mut *r, const uint8_t *u, uint32_t ul)
{
	return !r->end.key ||
	       (u && key_cmp(r->end.key, r->end.klen, u, ul) >= 0);
}

/* Whether range r holds a key of leaf n. */
static int range_hits(const uint8_t *n, const struct mut *r)
{
	int exact;
	uint32_t kl;
	unsigned p = node_lower_bound(n, r->key, r->klen, &exact);
	if (p == node_count(n))
		return 0;
	const uint8_t *k = node_key(n, p, &kl);
	return range_past(r, k, kl);
}

/* Whether mutations change leaf n at all: deletes of keys it does not
 * hold do not (they are common: the tombstone tree receives a delete for
 * every key a checkpoint puts), nor do ranges between its keys. open: a
 * range that began before the leaf (may be NULL). */
static int leaf_changes(const uint8_t *n, const struct mut *open,
			const struct mut *mu, size_t nm)
{
	if (open && range_hits(n, open))
		return 1;
	for (size_t j = 0; j < nm; j++) {
		int exact;
		if (mu[j].del == MUT_PUT)
			return 1;
		if (mu[j].del == MUT_RANGE) {
			if (range_hits(n, &mu[j]))
				return 1;
			continue;
		}
		node_lower_bound(n, mu[j].key, mu[j].klen, &exact);
		if (exact)
			return 1;
	}
	return 0;
}

/* The entry i of an existing node, as a ment. noool: a leaf known to hold
 * no out-of-line values, whose entries need not be decoded. */
static struct ment existing(const uint8_t *n, unsigned i, int noool)
{
	const uint8_t *end, *p = node_entry(n, i, &end);
	struct ment e = {.raw = p,
			 .len = (uint32_t)(end - p),
			 .mut = -1,
			 .node = n,
			 .idx = i,
			 .count = 1};
	if (node_level(n) == 0) {
		struct lentry le;
		if (!noool && (lentry_parse(p, end, &le), le.ool))
			e.xbytes = QF_BLOCK_HDR + (uint64_t)le.vlen;
	} else {
		struct ientry ie;
		ientry_parse(p, end, &ie);
		e.count = ie.count;
		e.xbytes = ie.bytes;
	}
	return e;
}

static int push_range(struct elist *l, const uint8_t *n, unsigned from,
		      unsigned to, int noool)
{
	if (l->cap < l->n + (to - from)) {
		size_t cap = QMAX(l->cap * 2, l->n + (to - from) + 16);
		struct ment *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	for (unsigned i = from; i < to; i++)
		l->v[l->n++] = existing(n, i, noool);
	return 0;
}

static int push_node(struct elist *l, const uint8_t *n, int noool)
{
	return push_range(l, n, 0, node_count(n), noool);
}

/* Cut the entries of leaf n (c entries) from i on that range r holds (it
 * starts at or below entry i), counting them as removed; returns the
 * index of the first entry after them. */
static unsigned cut_range(struct modify *m, const uint8_t *n, unsigned c,
			  unsigned i, int noool, const struct mut *r)
{
	unsigned q = c;
	int exact;
	if (r->end.key && i < c)
		q = node_lower_bound_from(n, i, r->end.key, r->end.klen, &exact);
	for (unsigned k = i; k < q; k++) {
		struct ment x = existing(n, k, noool);
		m->rm_bytes += 2 + x.len + x.xbytes;
	}
	m->rm_keys += q - i;
	return q;
}

/* Merge a leaf's entries (n may be NULL: empty tree) with mutations;
 * open: a range that began before the leaf (may be NULL). */
static int merge_leaf(struct modify *m, const uint8_t *n, int noool,
		      const struct mut *open, const struct mut *mu, size_t nm,
		      struct elist *out)
{
	unsigned c = n ? node_count(n) : 0, i = 0;
	uint32_t lastlen = 0;
	const uint8_t *last = c ? node_key(n, c - 1, &lastlen) : NULL;
	int e = 0;
	if (open)
		i = cut_range(m, n, c, 0, noool, open);
	for (size_t j = 0; !e && j < nm; j++) {
		const struct mut *x = &mu[j];
		int exact = 0;
		unsigned p = c;
		/* mutations are sorted: search only what is left, and not at
		 * all past the last key (appends) */
		if (i < c && key_cmp(last, lastlen, x->key, x->klen) >= 0)
			p = node_lower_bound_from(n, i, x->key, x->klen, &exact);
		if ((e = push_range(out, n, i, p, noool)) != 0)
			break;
		i = p + (exact ? 1 : 0);
		if (x->del == MUT_RANGE)
			i = cut_range(m, n, c, p, noool, x);
		if (x->del)
			continue;
		struct ment me = {
			.len = (uint32_t)leaf_entry_size(x->klen, x->meta, x->v.len,
							 x->v.ool, x->v.ool_off),
			.mut = (int32_t)(x - m->mbase),
			.key = x->key,
			.klen = x->klen,
			.count = 1,
			.xbytes = x->v.ool ? QF_BLOCK_HDR + (uint64_t)x->v.len : 0,
		};
		e = push(out, &me);
	}
	return e ? e : push_range(out, n, i, c, noool);
}

static size_t span_bytes(const struct ment *e, size_t n)
{
	size_t b = QF_BLOCK_HDR;
	for (size_t i = 0; i < n; i++)
		b += 2 + e[i].len;
	return b;
}

/* Build, append and record one node of entries e[0..n). */
static int write_node(struct modify *m, int tree, unsigned level,
		      const struct ment *e, size_t n, struct elist *out)
{
	size_t ebytes = 0;
	uint64_t count = 0, xbytes = 0;
	for (size_t i = 0; i < n; i++) {
		ebytes += e[i].len;
		count += e[i].count;
		xbytes += e[i].xbytes;
	}
	size_t size = node_bytes((unsigned)n, ebytes);
	if (size > QF_NODE_MAX || n > 0xffff)
		return qerr(QUIRE_EINVAL, "node of %zu bytes exceeds the format",
			    size);
	if (m->nnodes == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		void *v = realloc(m->nodes, cap * sizeof *m->nodes);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		m->nodes = v;
		m->cap = cap;
	}
	uint8_t *buf = malloc(size);
	if (!buf)
		return qerr(QUIRE_ENOMEM, "out of memory");
	node_header(buf, tree, level, (unsigned)n, (uint32_t)size);
	uint32_t pos = QF_BLOCK_HDR + 2 * (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		st16(buf + QF_BLOCK_HDR + 2 * i, (uint16_t)pos);
		if (e[i].raw) {
			memcpy(buf + pos, e[i].raw, e[i].len);
		} else {
			const struct mut *x = &m->mbase[e[i].mut];
			leaf_entry_put(buf + pos, x->key, x->klen, x->meta,
				       x->v.data, x->v.len, x->v.ool,
				       x->v.ool_off);
		}
		pos += e[i].len;
	}
	uint64_t off = df_next_offset(m->db);
	qblock_seal(buf, (uint32_t)size, off);
	int err = df_append_block(m->db, buf, (uint32_t)size, &off);
	if (err) {
		free(buf);
		return err;
	}
	m->nodes[m->nnodes].off = off;
	m->nodes[m->nnodes].keep = 0;
	m->nodes[m->nnodes++].buf = buf;
	drop_written(m);
	if (level == 0 && m->pos)
		for (size_t i = 0; i < n; i++)
			if (e[i].mut >= 0)
				m->pos[e[i].mut] = (struct leafpos){
					off, (uint32_t)size, (uint32_t)i};

	struct ientry ie = {.child_off = off,
			    .child_size = (uint32_t)size,
			    .count = count,
			    .bytes = size + xbytes};
	ie.key = ment_key(&e[0], &ie.klen);
	size_t len = int_entry_size(ie.klen, off, ie.child_size, count, ie.bytes);
	uint8_t *raw = arena_alloc(&m->ar, len);
	if (!raw)
		return qerr(QUIRE_ENOMEM, "out of memory");
	int_entry_put(raw, &ie);
	struct ment pe = {.raw = raw,
			  .len = (uint32_t)len,
			  .mut = -1,
			  .key = raw + varint_len(ie.klen),
			  .klen = ie.klen,
			  .count = count,
			  .xbytes = ie.bytes,
			  .fresh = 1};
	return push(out, &pe);
}

/* Index in e[0..n) that splits its bytes in half, leaving at least minc
 * entries on each side when possible. */
static size_t midpoint(const struct ment *e, size_t n, size_t minc)
{
	size_t total = span_bytes(e, n), acc = QF_BLOCK_HDR, i = 0;
	while (i < n && acc < total / 2)
		acc += 2 + e[i++].len;
	if (i < minc)
		i = QMIN(minc, n);
	if (n - i < minc && n >= 2 * minc)
		i = n - minc;
	return i;
}

/* Cut e[0..n) into nodes at this level and push their pointers to out. */
static int emit_nodes(struct modify *m, int tree, unsigned level,
		      const struct ment *e, size_t n, int right_edge,
		      struct elist *out)
{
	size_t minc = level ? 2 : 1, start = 0, prev = 0;
	int have_prev = 0, err;
	while (start < n) {
		size_t i = start, bytes = QF_BLOCK_HDR;
		while (i < n && (i - start < minc ||
				 bytes + 2 + e[i].len <= m->target))
			bytes += 2 + e[i++].len;
		if (n - i < minc && i < n) /* never strand fewer than minc */
			i = n;
		if (i == n && have_prev && !right_edge && bytes < m->minfill) {
			/* last node underfull: split the last two evenly */
			size_t mid = prev + midpoint(e + prev, n - prev, minc);
			if ((err = write_node(m, tree, level, e + prev,
					      mid - prev, out)) != 0)
				return err;
			return write_node(m, tree, level, e + mid, n - mid, out);
		}
		if (have_prev &&
		    (err = write_node(m, tree, level, e + prev, start - prev,
				      out)) != 0)
			return err;
		prev = start;
		have_prev = 1;
		start = i;
	}
	return have_prev ? write_node(m, tree, level, e + prev, n - prev, out)
			 : 0;
}

/* A node the modification reaches: its entry in the parent, and where
 * that entry is (parent NULL: the root). */
struct kid {
	struct ientry ie;
	const uint8_t *parent;
	unsigned idx;
};

/*
 * Consecutive nodes of one level that are rewritten together: one node,
 * or nodes whose keys between them a range removed. What is left of those
 * belongs in common new nodes at every level below, or a range delete
 * would leave a trail of slivers down both of its paths.
 */
struct span {
	const struct kid *nodes; /* ie.key: each node's first key */
	size_t n;
	unsigned level;
	const struct mut *open;  /* a range from before the span into it */
	const struct mut *mu;    /* the mutations for the span's keys */
	size_t nm;
	const uint8_t *upper;    /* the span's keys are below it; NULL: the
				  * right edge of the tree */
	uint32_t ulen;
};

/* Children of a span to rewrite as one span, and that span's mutations. */
struct group {
	struct kid *v;
	size_t n, cap;
	const struct mut *open, *mu;
	size_t nm;
	const uint8_t *upper;
	uint32_t ulen;
};

static int group_add(struct group *g, const struct kid *k)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct kid *v = realloc(g->v, cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = *k;
	return 0;
}

/* End of the mutations from j on whose keys are below u. */
static size_t slice_end(const struct mut *mu, size_t j, size_t nm,
			const uint8_t *u, uint32_t ul)
{
	while (j < nm && key_cmp(mu[j].key, mu[j].klen, u, ul) < 0)
		j++;
	return j;
}

/* The range still open at key u after mu[0..nm) (open: the one open
 * before them): ranges do not overlap, so only the last can be. */
static const struct mut *next_open(const struct mut *open,
				   const struct mut *mu, size_t nm,
				   const uint8_t *u, uint32_t ul)
{
	for (size_t j = nm; j-- > 0;)
		if (mu[j].del == MUT_RANGE) {
			open = &mu[j];
			break;
		}
	return open && range_past(open, u, ul) ? open : NULL;
}

/* Whether a range holds every key of child ie (keys below u) and none of
 * mu[0..nm) puts a key into it: then it goes without being read. op: the
 * range open at the child's first key. */
static int dropped(const struct mut *op, const struct ientry *ie,
		   const struct mut *mu, size_t nm, const uint8_t *u,
		   uint32_t ul)
{
	if (!op && nm && mu[0].del == MUT_RANGE &&
	    key_cmp(mu[0].key, mu[0].klen, ie->key, ie->klen) <= 0)
		op = &mu[0];
	if (!op || !range_covers(op, u, ul))
		return 0;
	for (size_t j = 0; j < nm; j++)
		if (mu[j].del == MUT_PUT)
			return 0;
	return 1;
}

/*
 * Entries of the leaves of span s after its mutations, appended to out.
 * If they change nothing, *changed is 0 and nothing is appended: the
 * caller keeps the leaves as they are (deletes of absent keys are common).
 */
static int modify_leaves(struct modify *m, int tree, const struct span *s,
			 struct elist *out, int *changed)
{
	const struct mut *open = s->open;
	size_t j = 0;
	int e = 0;
	*changed = 0;
	for (size_t t = 0; !e && t < s->n; t++) {
		const struct ientry *ie = &s->nodes[t].ie, *nx = NULL;
		const uint8_t *n;
		size_t k = s->nm;
		if (t + 1 < s->n) {
			nx = &s->nodes[t + 1].ie;
			k = slice_end(s->mu, j, s->nm, nx->key, nx->klen);
		}
		if ((e = node_get(m->db->qf, ie->child_off, ie->child_size,
				  tree, 0, &n)) != 0)
			break;
		if (!*changed && leaf_changes(n, open, s->mu + j, k - j)) {
			/* the leaves before go into the new nodes as they are */
			*changed = 1;
			for (size_t u = 0; !e && u < t; u++) {
				const struct ientry *pe = &s->nodes[u].ie;
				const uint8_t *p;
				e = load_replaced(m, tree, pe->child_off,
						  pe->child_size, 0, &p);
				if (!e)
					e = push_node(out, p,
						      pe->bytes == pe->child_size);
			}
		}
		if (!e && *changed && (e = note_replaced(m, n)) == 0)
			e = merge_leaf(m, n, ie->bytes == ie->child_size, open,
				       s->mu + j, k - j, out);
		if (nx && m->ranges)
			open = next_open(open, s->mu + j, k - j, nx->key,
					 nx->klen);
		j = k;
	}
	return e;
}

/* Child i of the internal node n stays as it is. A run of new entries
 * before it ends there; a run too small for a healthy node takes the
 * child in. */
static int keep_child(struct modify *m, int tree, const uint8_t *n,
		      unsigned i, struct elist *run, struct elist *out)
{
	unsigned level = node_level(n);
	int e = 0;
	if (run->n) {
		int absorb = span_bytes(run->v, run->n) < m->minfill;
		if (absorb) {
			const uint8_t *sib;
			struct ientry ie;
			node_int_entry(n, i, &ie);
			e = load_replaced(m, tree, ie.child_off, ie.child_size,
					  (int)level - 1, &sib);
			if (!e)
				e = push_node(run, sib, ie.bytes == ie.child_size);
		}
		if (!e)
			e = emit_nodes(m, tree, level - 1, run->v, run->n, 0, out);
		run->n = 0;
		if (absorb || e)
			return e;
	}
	struct ment me = existing(n, i, 0);
	return push(out, &me);
}

static int modify_span(struct modify *m, int tree, const struct span *s,
		       struct elist *out, int *changed);

/* Rewrite the children of g (at level - 1) into run; if nothing below
 * them changes, they stay as they are. */
static int flush_group(struct modify *m, int tree, unsigned level,
		       struct group *g, struct elist *run, struct elist *out,
		       int *changed)
{
	if (!g->n)
		return 0;
	struct span sub = {.nodes = g->v,
			   .n = g->n,
			   .level = level - 1,
			   .open = g->open,
			   .mu = g->mu,
			   .nm = g->nm,
			   .upper = g->upper,
			   .ulen = g->ulen};
	int cc, e = modify_span(m, tree, &sub, run, &cc);
	*changed |= cc;
	for (size_t i = 0; !e && !cc && i < g->n; i++)
		e = keep_child(m, tree, g->v[i].parent, g->v[i].idx, run, out);
	g->n = 0;
	return e;
}

/*
 * Entries of span s after applying its mutations, appended to out. A
 * child that no mutation reaches stays as it is; one that a range holds
 * whole is dropped unread; the others are rewritten, those a range joins
 * as one span. The entries of consecutive rewritten children form a "run"
 * that is cut into new nodes. If the mutations change nothing below the
 * span, *changed is 0 and nothing is appended: the caller keeps its nodes
 * as they are.
 */
static int modify_span(struct modify *m, int tree, const struct span *s,
		       struct elist *out, int *changed)
{
	if (s->level == 0)
		return modify_leaves(m, tree, s, out, changed);
	size_t base = out->n, nrep = m->nreplaced, j = 0;
	const struct mut *open = s->open;
	struct elist run = {0};
	struct group g = {0};
	int e = 0;
	*changed = 0;
	for (size_t t = 0; !e && t < s->n; t++) {
		const struct ientry *pe = &s->nodes[t].ie;
		const uint8_t *n;
		unsigned c;
		if ((e = load_replaced(m, tree, pe->child_off, pe->child_size,
				       (int)s->level, &n)) != 0)
			break;
		c = node_count(n);
		for (unsigned i = 0; !e && i < c; i++) {
			const uint8_t *u = s->upper; /* the child's keys are below */
			uint32_t ul = s->ulen;
			size_t k = s->nm;
			if (i + 1 < c) {
				u = node_key(n, i + 1, &ul);
			} else if (t + 1 < s->n) {
				u = s->nodes[t + 1].ie.key;
				ul = s->nodes[t + 1].ie.klen;
			}
			if (i + 1 < c || t + 1 < s->n)
				k = slice_end(s->mu, j, s->nm, u, ul);
			const struct mut *op = open; /* open at the child */
			if (m->ranges && u)
				open = next_open(op, s->mu + j, k - j, u, ul);
			if (k == j && !op) {
				e = flush_group(m, tree, s->level, &g, &run, out,
						changed);
				if (!e)
					e = keep_child(m, tree, n, i, &run, out);
				continue;
			}
			struct kid kd = {.parent = n, .idx = i};
			node_int_entry(n, i, &kd.ie);
			if (m->ranges &&
			    dropped(op, &kd.ie, s->mu + j, k - j, u, ul)) {
				m->rm_keys += kd.ie.count;
				m->rm_bytes += kd.ie.bytes;
				*changed = 1;
			} else {
				/* a range open at the child joins it to the
				 * children before, back to where it began */
				if (!op)
					e = flush_group(m, tree, s->level, &g,
							&run, out, changed);
				if (!g.n) {
					g.open = op;
					g.mu = s->mu + j;
				}
				if (!e)
					e = group_add(&g, &kd);
				g.nm = (size_t)(s->mu + k - g.mu);
				g.upper = u;
				g.ulen = ul;
			}
			j = k;
		}
	}
	if (!e)
		e = flush_group(m, tree, s->level, &g, &run, out, changed);
	if (!e && run.n) {
		int edge = !s->upper;
		if (!edge && span_bytes(run.v, run.n) < m->minfill &&
		    out->n > base && !out->v[out->n - 1].fresh) {
			/* no right neighbour: take the left one in */
			struct ment left = out->v[--out->n];
			struct ientry ie;
			const uint8_t *sib;
			ientry_parse(left.raw, left.raw + left.len, &ie);
			struct elist merged = {0};
			e = load_replaced(m, tree, ie.child_off, ie.child_size,
					  (int)s->level - 1, &sib);
			if (!e)
				e = push_node(&merged, sib,
					      ie.bytes == ie.child_size);
			for (size_t r = 0; !e && r < run.n; r++)
				e = push(&merged, &run.v[r]);
			elist_free(&run);
			run = merged;
		}
		if (!e)
			e = emit_nodes(m, tree, s->level - 1, run.v, run.n, edge,
				       out);
	}
	elist_free(&run);
	free(g.v);
	if (!e && !*changed) { /* keep the span: drop its copied entries */
		out->n = base;
		m->nreplaced = nrep;
	}
	return e;
}

/* The node this commit wrote at off (the collapse below needs to look
 * into nodes that are not in the cache yet). */
static const uint8_t *fresh_node(struct modify *m, uint64_t off)
{
	for (size_t i = m->nnodes; i-- > 0;)
		if (m->nodes[i].off == off)
			return m->nodes[i].buf;
	return NULL;
}

/* Root from a single internal entry naming it. */
static void root_of(const struct ment *e, unsigned height, struct qroot *r)
{
	struct ientry ie;
	ientry_parse(e->raw, e->raw + e->len, &ie);
	*r = (struct qroot){.off = ie.child_off,
			    .size = ie.child_size,
			    .height = (uint16_t)height,
			    .count = ie.count,
			    .bytes = ie.bytes};
}

/* Note whether the batch has ranges; refuse a range that ends before it
 * starts or overlaps the one before (the walk down assumes that at most
 * one range is open at any key). */
static int check_ranges(struct modify *m, const struct mut *mu, size_t n)
{
	const struct mut *prev = NULL;
	m->ranges = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mut *r = &mu[i];
		if (r->del != MUT_RANGE)
			continue;
		if ((r->end.key &&
		     key_cmp(r->end.key, r->end.klen, r->key, r->klen) < 0) ||
		    (prev && range_past(prev, r->key, r->klen)))
			return qerr(QUIRE_EINVAL, "range delete %zu ends before "
						  "it starts or overlaps another",
				    i);
		prev = r;
		m->ranges = 1;
	}
	return 0;
}

int modify_tree(struct modify *m, int tree, const struct qroot *old,
		const struct mut *muts, size_t n, struct leafpos *pos,
		struct qroot *out)
{
	struct elist l = {0}, p = {0};
	unsigned level = 0;
	size_t first = m->nnodes;
	int e;
	m->mbase = muts;
	m->pos = pos;
	m->rm_keys = m->rm_bytes = 0;
	if ((e = check_ranges(m, muts, n)) != 0)
		return e;
	if (!n) {
		*out = *old;
		return 0;
	}
	int changed = 1;
	if (!old->off) {
		e = merge_leaf(m, NULL, 1, NULL, muts, n, &l);
	} else {
		struct kid root = {.ie = {.child_off = old->off,
					  .child_size = old->size,
					  .count = old->count,
					  .bytes = old->bytes}};
		struct span s = {.nodes = &root,
				 .n = 1,
				 .level = level = old->height - 1u,
				 .mu = muts,
				 .nm = n};
		e = modify_span(m, tree, &s, &l, &changed);
	}
	if (!e && !changed) {
		*out = *old;
		elist_free(&l);
		return 0;
	}
	while (!e) {
		if (l.n == 0) {
			*out = (struct qroot){0};
			break;
		}
		if (level > 0 && l.n == 1) {
			/* the root has one child: it becomes the root */
			root_of(&l.v[0], level, out);
			const uint8_t *c;
			while (out->height > 1 && (c = fresh_node(m, out->off)) &&
			       node_count(c) == 1) {
				struct ment me = existing(c, 0, 0);
				root_of(&me, out->height - 1u, out);
			}
			break;
		}
		e = emit_nodes(m, tree, level, l.v, l.n, 1, &p);
		elist_free(&l);
		l = p;
		p = (struct elist){0};
		level++;
		if (!e && l.n == 1) {
			root_of(&l.v[0], level, out);
			break;
		}
	}
	elist_free(&l);
	elist_free(&p);
	if (!e && out->height > TREE_MAX_HEIGHT)
		e = qerr(QUIRE_EINVAL, "tree too high");
	/* the last leaf written is the right edge of what changed; an
	 * append rewrites it next time, so it is worth caching */
	for (size_t i = m->nnodes; !e && i-- > first;)
		if (m->nodes[i].buf && node_level(m->nodes[i].buf) == 0) {
			m->nodes[i].keep = 1;
			break;
		}
	return e;
}
