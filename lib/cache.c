/*
 * cache.c - sharded node cache with CLOCK eviction and epoch reclamation.
 *
 * 64 shards, each an open-addressing hash table of tagged node addresses
 * and a CLOCK ring. Inserts, evictions and table growth take the shard's
 * mutex; lookups take no lock at all. That is safe because every lookup
 * happens inside a transaction, which holds an epoch: nothing it can reach
 * (an evicted node, an outgrown table) is freed before it ends. A lookup
 * that races with a change may miss (and read the node from the file) but
 * never returns a wrong node: it checks the node's own offset, and nodes
 * never change.
 *
 * Eviction unlinks nodes into a retired queue stamped with the global epoch
 * (which it then advances); reclaim_locked() takes out what is older than
 * every running transaction, and it is freed after the lock is released.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "format.h"
#include "nindex.h"
#include "node.h"
#include "util.h"

#define NSHARDS 64
#define OVERHEAD 64 /* bytes charged per node beyond its data and index */
#define LINE 64
#define PREFETCH_LINES 6 /* the whole index of a leaf of about 40 entries */

/* A cached node is one block: room for its search index (nindex.h, whole
 * lines), this 48-byte header at a cache-line boundary, the node's bytes.
 * A lookup touches the line of the header, which holds the node's block
 * header too (size, tree, level, count), and the index lines just before
 * it, where the fences end; it fetches them all at once, so that the
 * search that follows waits for memory only once more, for the entry it
 * lands on. The index is built by the second search (cache_nindex): a scan
 * never needs it, and a commit that looks into a leaf once and replaces it
 * does not pay for it. */
struct cnode {
	uint64_t off;                   /* set before publication */
	uint32_t xbytes;                /* bytes of the index before it */
	uint32_t charge;                /* bytes it counts against the budget */
	struct cnode *rprev, *rnext;    /* CLOCK ring; retired queue: rnext */
	uint64_t retired;               /* epoch stamp once evicted */
	_Atomic uint8_t ref;            /* CLOCK: used since the hand passed */
	_Atomic uint8_t xstate;         /* X_NONE, X_SEEN, X_BUILDING, X_READY */
	uint8_t lead;                   /* block start to the index */
	_Alignas(16) uint8_t data[];
};

enum { X_NONE, X_SEEN, X_BUILDING, X_READY };

static void cnode_free(struct cnode *n)
{
	if (n)
		free((uint8_t *)n - n->xbytes - n->lead);
}

_Static_assert(offsetof(struct cnode, data) == 48,
	       "the header and the block header share a line");

/* A slot holds a node's address; its low 6 bits, zero as the header is
 * line-aligned, carry a tag from the hash of the node's offset, so that a
 * lookup reads a node other than its own only once in 64 probes past one.
 * Eight bytes a slot keep the tables small enough to stay in the CPU
 * cache. 0: free. */
struct slot {
	_Atomic uintptr_t v;
};

#define TAG_MASK ((uintptr_t)LINE - 1)

struct table {
	size_t cap;
	struct table *next;             /* retired queue */
	uint64_t retired;
	struct slot slot[];
};

struct shard {
	pthread_mutex_t mu;
	_Atomic(struct table *) tab;
	size_t count, bytes, budget;
	struct cnode *hand;
};

struct cache {
	struct shard shard[NSHARDS];
	pthread_mutex_t reg_mu;   /* running transactions and retired queues */
	struct epoch_slot reg;    /* sentinel of the running list */
	_Atomic uint64_t epoch;
	struct cnode *retired, *retired_tail; /* FIFO in epoch order */
	struct table *old_tables;            /* likewise, newest first */
	size_t retired_bytes, retire_limit;
};

static inline struct cnode *of_data(const uint8_t *d)
{
	return (struct cnode *)(void *)(d - offsetof(struct cnode, data));
}

static inline struct shard *shard_of(struct cache *c, uint64_t off)
{
	uint64_t h = (off >> 4) * 0x9e3779b97f4a7c15ull;
	return &c->shard[h >> 58];
}

static inline uint64_t hash_off(uint64_t off)
{
	return (off >> 4) * 0xff51afd7ed558ccdull;
}

static inline size_t home_of(const struct table *t, uint64_t off)
{
	return (size_t)(hash_off(off) >> 32) & (t->cap - 1);
}

static inline uintptr_t tag_of(uint64_t off)
{
	return (uintptr_t)(hash_off(off) >> 26) & TAG_MASK;
}

static inline uintptr_t slot_get(const struct slot *s)
{
	return atomic_load_explicit(&((struct slot *)s)->v,
				    memory_order_acquire);
}

static inline struct cnode *slot_node(uintptr_t v)
{
	return (struct cnode *)(v & ~TAG_MASK);
}

/* Writers (shard mutex held): slot holding off, or the free slot where it
 * would go. */
static size_t probe(const struct table *t, uint64_t off)
{
	size_t i = home_of(t, off);
	uintptr_t v, tag = tag_of(off);
	while ((v = slot_get(&t->slot[i])) &&
	       ((v & TAG_MASK) != tag || slot_node(v)->off != off))
		i = (i + 1) & (t->cap - 1);
	return i;
}

static struct table *table_new(size_t cap)
{
	struct table *t = calloc(1, sizeof *t + cap * sizeof(struct slot));
	if (t)
		t->cap = cap;
	return t;
}

/* Publish v (a tagged node, or 0) in slot s: the node is complete. */
static void slot_set(struct slot *s, uintptr_t v)
{
	atomic_store_explicit(&s->v, v, memory_order_release);
}

static uintptr_t tagged(struct cnode *n)
{
	return (uintptr_t)n | tag_of(n->off);
}

/* Remove slot i, shifting later members of its probe run back. */
static void table_remove(struct table *t, size_t i)
{
	size_t mask = t->cap - 1, j = i;
	slot_set(&t->slot[i], 0);
	for (;;) {
		j = (j + 1) & mask;
		uintptr_t v = slot_get(&t->slot[j]);
		if (!v)
			return;
		size_t h = home_of(t, slot_node(v)->off);
		/* move j into the hole unless its home lies in (i, j] */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			slot_set(&t->slot[i], v);
			slot_set(&t->slot[j], 0);
			i = j;
		}
	}
}

struct cache *cache_new(size_t budget)
{
	struct cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shard[i];
		struct table *t = table_new(64);
		pthread_mutex_init(&s->mu, NULL);
		s->budget = budget / NSHARDS;
		atomic_init(&s->tab, t);
		if (!t) {
			cache_free(c);
			return NULL;
		}
	}
	pthread_mutex_init(&c->reg_mu, NULL);
	c->reg.next = c->reg.prev = &c->reg;
	c->retire_limit = QMAX(budget / 16, (size_t)1 << 20);
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shard[i];
		struct table *t = atomic_load(&s->tab);
		for (size_t b = 0; t && b < t->cap; b++)
			cnode_free(slot_node(slot_get(&t->slot[b])));
		free(t);
		pthread_mutex_destroy(&s->mu);
	}
	while (c->retired) {
		struct cnode *n = c->retired;
		c->retired = n->rnext;
		cnode_free(n);
	}
	while (c->old_tables) {
		struct table *t = c->old_tables;
		c->old_tables = t->next;
		free(t);
	}
	pthread_mutex_destroy(&c->reg_mu);
	free(c);
}

/* What reclaim_locked() unlinked, to be freed after reg_mu is released:
 * snapshot begins take reg_mu, so it is never held while freeing. */
struct garbage {
	struct cnode *nodes;
	struct table *tables;
};

/* Unlink retired nodes and tables that no running transaction can hold:
 * those stamped before the oldest running transaction began. The node
 * queue is in stamp order, so this stops at the first node still needed.
 * Called with reg_mu held. */
static void reclaim_locked(struct cache *c, struct garbage *g)
{
	uint64_t min = UINT64_MAX;
	for (struct epoch_slot *s = c->reg.next; s != &c->reg; s = s->next)
		min = QMIN(min, s->epoch);
	struct cnode *last = NULL;
	for (struct cnode *n = c->retired; n && n->retired < min; n = n->rnext) {
		c->retired_bytes -= n->charge;
		last = n;
	}
	if (last) {
		g->nodes = c->retired;
		c->retired = last->rnext;
		last->rnext = NULL;
		if (!c->retired)
			c->retired_tail = NULL;
	}
	for (struct table **pp = &c->old_tables; *pp;) {
		struct table *t = *pp;
		if (t->retired < min) {
			*pp = t->next;
			t->next = g->tables;
			g->tables = t;
		} else {
			pp = &t->next;
		}
	}
}

static void free_garbage(struct garbage *g)
{
	while (g->nodes) {
		struct cnode *n = g->nodes;
		g->nodes = n->rnext;
		cnode_free(n);
	}
	while (g->tables) {
		struct table *t = g->tables;
		g->tables = t->next;
		free(t);
	}
}

void cache_enter(struct cache *c, struct epoch_slot *s)
{
	pthread_mutex_lock(&c->reg_mu);
	s->epoch = atomic_load(&c->epoch);
	s->next = c->reg.next;
	s->prev = &c->reg;
	c->reg.next->prev = s;
	c->reg.next = s;
	pthread_mutex_unlock(&c->reg_mu);
}

void cache_exit(struct cache *c, struct epoch_slot *s)
{
	struct garbage g = {0};
	pthread_mutex_lock(&c->reg_mu);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	if (c->retired || c->old_tables)
		reclaim_locked(c, &g);
	pthread_mutex_unlock(&c->reg_mu);
	free_garbage(&g);
}

const void *cache_nindex(const uint8_t *node)
{
	struct cnode *n = of_data(node);
	uint8_t *x = (uint8_t *)n - n->xbytes;
	uint8_t st = atomic_load_explicit(&n->xstate, memory_order_acquire);
	if (st == X_READY)
		return x;
	if (st == X_NONE) {
		atomic_compare_exchange_strong(&n->xstate, &st, X_SEEN);
		return NULL;
	}
	if (st == X_SEEN &&
	    atomic_compare_exchange_strong(&n->xstate, &st, X_BUILDING)) {
		nindex_build(x, node);
		atomic_store_explicit(&n->xstate, X_READY, memory_order_release);
		return x;
	}
	return NULL; /* another thread is building it */
}

const uint8_t *cache_lookup(struct cache *c, uint64_t off)
{
	struct shard *s = shard_of(c, off);
	const struct table *t =
		atomic_load_explicit(&s->tab, memory_order_acquire);
	size_t i = home_of(t, off);
	uintptr_t tag = tag_of(off);
	for (;;) {
		uintptr_t v = slot_get(&t->slot[i]);
		if (!v)
			break;
		if ((v & TAG_MASK) == tag) {
			struct cnode *n = slot_node(v);
			/* the index lies before the header; the lines a
			 * search reads are among its last ones */
			for (int l = 1; l <= PREFETCH_LINES; l++)
				__builtin_prefetch(
					(const void *)((uintptr_t)n - l * LINE));
			if (n->off == off) {
				if (!atomic_load_explicit(&n->ref,
							  memory_order_relaxed))
					atomic_store_explicit(
						&n->ref, 1, memory_order_relaxed);
				return n->data;
			}
			/* another node with the same tag */
		}
		i = (i + 1) & (t->cap - 1);
	}
	return NULL;
}

/* Retire an outgrown table (reg_mu taken here). */
static void retire_table(struct cache *c, struct table *t)
{
	pthread_mutex_lock(&c->reg_mu);
	t->retired = atomic_fetch_add(&c->epoch, 1);
	t->next = c->old_tables;
	c->old_tables = t;
	pthread_mutex_unlock(&c->reg_mu);
}

/* Double the table when it is 70% full; the old one is retired. */
static void grow(struct cache *c, struct shard *s)
{
	struct table *old = atomic_load(&s->tab), *t = table_new(old->cap * 2);
	if (!t)
		return; /* stay fuller; still correct */
	for (size_t i = 0; i < old->cap; i++) {
		uintptr_t v = slot_get(&old->slot[i]);
		if (v)
			slot_set(&t->slot[probe(t, slot_node(v)->off)], v);
	}
	atomic_store_explicit(&s->tab, t, memory_order_release);
	retire_table(c, old);
}

/* Unlink one CLOCK victim other than keep from shard s; NULL if there is
 * none. Called with s->mu held. */
static struct cnode *evict_one(struct shard *s, const struct cnode *keep)
{
	if (s->count < 2)
		return NULL;
	for (;;) {
		struct cnode *n = s->hand;
		if (n == keep ||
		    atomic_exchange_explicit(&n->ref, 0, memory_order_relaxed)) {
			s->hand = n->rnext;
			continue;
		}
		struct table *t = atomic_load(&s->tab);
		table_remove(t, probe(t, n->off));
		n->rprev->rnext = n->rnext; /* count >= 2: the ring stays */
		n->rnext->rprev = n->rprev;
		s->hand = n->rnext;
		s->count--;
		s->bytes -= n->charge;
		return n;
	}
}

const uint8_t *cache_insert(struct cache *c, uint64_t off, uint8_t *node)
{
	struct cnode *victims = NULL, *v;
	struct shard *s = shard_of(c, off);
	size_t vbytes = 0, size = node_size(node), xbytes = nindex_size(node);
	size_t bytes = xbytes + sizeof *v + size;
	uint8_t *b = malloc(LINE - 1 + bytes);
	if (!b) {
		free(node);
		return NULL;
	}
	/* lead bytes first, so that the header starts a line */
	size_t lead = -((uintptr_t)b + xbytes) & (LINE - 1);
	struct cnode *n = (struct cnode *)(void *)(b + lead + xbytes);
	n->xbytes = (uint32_t)xbytes;
	n->lead = (uint8_t)lead;
	n->charge = (uint32_t)(bytes - sizeof *n + OVERHEAD);
	atomic_init(&n->xstate, X_NONE);
	memcpy(n->data, node, size);
	free(node);

	pthread_mutex_lock(&s->mu);
	struct table *t = atomic_load(&s->tab);
	size_t k = probe(t, off);
	uintptr_t v0 = slot_get(&t->slot[k]);
	if (v0) { /* another thread loaded it first */
		struct cnode *o = slot_node(v0);
		pthread_mutex_unlock(&s->mu);
		cnode_free(n);
		atomic_store_explicit(&o->ref, 1, memory_order_relaxed);
		return o->data;
	}
	n->off = off;
	atomic_init(&n->ref, 1);
	slot_set(&t->slot[k], tagged(n));
	if (s->hand) { /* insert just behind the hand: last to be examined */
		n->rnext = s->hand;
		n->rprev = s->hand->rprev;
		n->rprev->rnext = n;
		s->hand->rprev = n;
	} else {
		n->rnext = n->rprev = n;
		s->hand = n;
	}
	s->count++;
	s->bytes += n->charge;
	if (s->count * 10 > t->cap * 7)
		grow(c, s);
	while (s->bytes > s->budget && (v = evict_one(s, n))) {
		v->rnext = victims;
		victims = v;
		vbytes += v->charge;
	}
	pthread_mutex_unlock(&s->mu);

	if (victims) {
		/* Stamp and advance the epoch after unlinking: a transaction
		 * that sees the new epoch cannot find these nodes. Stamping
		 * under reg_mu keeps the queue in stamp order. */
		pthread_mutex_lock(&c->reg_mu);
		uint64_t e = atomic_fetch_add(&c->epoch, 1);
		struct cnode *last = victims;
		for (;;) {
			last->retired = e;
			if (!last->rnext)
				break;
			last = last->rnext;
		}
		if (c->retired_tail)
			c->retired_tail->rnext = victims;
		else
			c->retired = victims;
		c->retired_tail = last;
		c->retired_bytes += vbytes;
		struct garbage g = {0};
		if (c->retired_bytes > c->retire_limit)
			reclaim_locked(c, &g);
		pthread_mutex_unlock(&c->reg_mu);
		free_garbage(&g);
	}
	return n->data;
}

void cache_demote(const uint8_t *node)
{
	atomic_store_explicit(&of_data(node)->ref, 0, memory_order_relaxed);
}
