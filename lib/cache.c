/*
 * cache.c - sharded node cache with CLOCK eviction and epoch reclamation.
 *
 * 64 shards, each an open-addressing hash table (offsets inline, so a probe
 * touches one cache line) and a CLOCK ring under its own mutex, so readers
 * on different cores rarely meet. A lookup holds the shard lock for a probe
 * only; the reference bit is atomic so a commit can demote the nodes it
 * replaced without taking locks. Eviction unlinks nodes into a retired list stamped
 * with the global epoch (which it then advances); cache_reclaim() frees those
 * whose stamp is older than every running transaction.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cache.h"
#include "format.h"
#include "util.h"

#define NSHARDS 64
#define OVERHEAD 64 /* bytes charged per node beyond its data */

struct cnode {
	uint64_t off;
	uint32_t size;
	_Atomic uint8_t ref;            /* CLOCK: used since the hand passed */
	struct cnode *rprev, *rnext;    /* CLOCK ring; retired list uses rnext */
	uint64_t retired;               /* epoch stamp once evicted */
	_Alignas(16) uint8_t data[];
};

struct shard {
	pthread_mutex_t mu;
	uint64_t *keys;         /* node offsets; 0 marks a free slot */
	struct cnode **vals;
	size_t cap, count, bytes, budget;
	struct cnode *hand;
	uint64_t hits, misses;
};

struct cache {
	struct shard shard[NSHARDS];
	pthread_mutex_t reg_mu;   /* running transactions and the retired list */
	struct epoch_slot reg;    /* sentinel of the running list */
	_Atomic uint64_t epoch;
	struct cnode *retired, *retired_tail; /* FIFO in epoch order */
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

static inline size_t home_of(const struct shard *s, uint64_t off)
{
	uint64_t h = (off >> 4) * 0xff51afd7ed558ccdull;
	return (size_t)(h >> 32) & (s->cap - 1);
}

/* Slot holding off, or the free slot where it would go. */
static size_t probe(const struct shard *s, uint64_t off)
{
	size_t i = home_of(s, off);
	while (s->keys[i] && s->keys[i] != off)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int table_alloc(struct shard *s, size_t cap)
{
	s->keys = calloc(cap, sizeof *s->keys);
	s->vals = calloc(cap, sizeof *s->vals);
	s->cap = cap;
	return s->keys && s->vals ? 0 : -1;
}

/* Remove slot i, shifting later members of its probe run back. */
static void table_remove(struct shard *s, size_t i)
{
	size_t mask = s->cap - 1, j = i;
	s->keys[i] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (!s->keys[j])
			return;
		size_t k = home_of(s, s->keys[j]);
		/* move j into the hole unless its home lies in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			s->keys[i] = s->keys[j];
			s->vals[i] = s->vals[j];
			s->keys[j] = 0;
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
		pthread_mutex_init(&s->mu, NULL);
		s->budget = budget / NSHARDS;
		if (table_alloc(s, 64) != 0) {
			cache_free(c);
			return NULL;
		}
	}
	pthread_mutex_init(&c->reg_mu, NULL);
	c->reg.next = c->reg.prev = &c->reg;
	c->retire_limit = QMAX(budget / 16, (size_t)1 << 20);
	return c;
}

static void free_list(struct cnode *n)
{
	while (n) {
		struct cnode *next = n->rnext;
		free(n);
		n = next;
	}
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shard[i];
		for (size_t b = 0; s->keys && b < s->cap; b++)
			if (s->keys[b])
				free(s->vals[b]);
		free(s->keys);
		free(s->vals);
		pthread_mutex_destroy(&s->mu);
	}
	free_list(c->retired);
	pthread_mutex_destroy(&c->reg_mu);
	free(c);
}

/* Free retired nodes that no running transaction can hold: those stamped
 * before the oldest running transaction began. The queue is in stamp order,
 * so this stops at the first node still needed. Called with reg_mu held. */
static void reclaim_locked(struct cache *c)
{
	uint64_t min = UINT64_MAX;
	for (struct epoch_slot *s = c->reg.next; s != &c->reg; s = s->next)
		min = QMIN(min, s->epoch);
	while (c->retired && c->retired->retired < min) {
		struct cnode *n = c->retired;
		c->retired = n->rnext;
		c->retired_bytes -= n->size + OVERHEAD;
		free(n);
	}
	if (!c->retired)
		c->retired_tail = NULL;
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
	pthread_mutex_lock(&c->reg_mu);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	if (c->retired)
		reclaim_locked(c);
	pthread_mutex_unlock(&c->reg_mu);
}

uint8_t *cache_alloc(uint32_t size)
{
	struct cnode *n = malloc(sizeof *n + size);
	if (!n)
		return NULL;
	n->size = size;
	return n->data;
}

void cache_discard(uint8_t *node)
{
	if (node)
		free(of_data(node));
}

const uint8_t *cache_lookup(struct cache *c, uint64_t off)
{
	struct shard *s = shard_of(c, off);
	struct cnode *n = NULL;
	pthread_mutex_lock(&s->mu);
	size_t i = probe(s, off);
	if (s->keys[i]) {
		n = s->vals[i];
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->mu);
	if (!n)
		return NULL;
	if (!atomic_load_explicit(&n->ref, memory_order_relaxed))
		atomic_store_explicit(&n->ref, 1, memory_order_relaxed);
	return n->data;
}

/* Double the table when it is 70% full. */
static void grow(struct shard *s)
{
	struct shard t = *s;
	if (table_alloc(&t, s->cap * 2) != 0) {
		free(t.keys);
		free(t.vals);
		return; /* stay fuller; still correct */
	}
	for (size_t i = 0; i < s->cap; i++)
		if (s->keys[i]) {
			size_t j = probe(&t, s->keys[i]);
			t.keys[j] = s->keys[i];
			t.vals[j] = s->vals[i];
		}
	free(s->keys);
	free(s->vals);
	s->keys = t.keys;
	s->vals = t.vals;
	s->cap = t.cap;
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
		table_remove(s, probe(s, n->off));
		n->rprev->rnext = n->rnext; /* count >= 2: the ring stays */
		n->rnext->rprev = n->rprev;
		s->hand = n->rnext;
		s->count--;
		s->bytes -= n->size + OVERHEAD;
		return n;
	}
}

const uint8_t *cache_insert(struct cache *c, uint64_t off, uint8_t *node)
{
	struct cnode *n = of_data(node), *victims = NULL, *v;
	struct shard *s = shard_of(c, off);
	size_t vbytes = 0;

	pthread_mutex_lock(&s->mu);
	size_t k = probe(s, off);
	if (s->keys[k]) { /* another thread loaded it first */
		struct cnode *o = s->vals[k];
		pthread_mutex_unlock(&s->mu);
		free(n);
		atomic_store_explicit(&o->ref, 1, memory_order_relaxed);
		return o->data;
	}
	n->off = off;
	atomic_init(&n->ref, 1);
	s->keys[k] = off;
	s->vals[k] = n;
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
	s->bytes += n->size + OVERHEAD;
	if (s->count * 10 > s->cap * 7)
		grow(s);
	while (s->bytes > s->budget && (v = evict_one(s, n))) {
		v->rnext = victims;
		victims = v;
		vbytes += v->size + OVERHEAD;
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
		if (c->retired_bytes > c->retire_limit)
			reclaim_locked(c);
		pthread_mutex_unlock(&c->reg_mu);
	}
	return n->data;
}

void cache_demote(const uint8_t *node)
{
	atomic_store_explicit(&of_data(node)->ref, 0, memory_order_relaxed);
}

void cache_get_stats(struct cache *c, struct cache_stats *st)
{
	*st = (struct cache_stats){0};
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shard[i];
		pthread_mutex_lock(&s->mu);
		st->hits += s->hits;
		st->misses += s->misses;
		st->nodes += s->count;
		st->bytes += s->bytes;
		pthread_mutex_unlock(&s->mu);
	}
}
