/*
 * cache.c - sharded node cache with CLOCK eviction and epoch reclamation.
 *
 * 64 shards, each a chained hash table and a CLOCK ring under its own mutex,
 * so readers on different cores rarely meet. A lookup holds the shard lock
 * for a hash probe only. Eviction unlinks nodes into a retired list stamped
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
	uint8_t ref;
	struct cnode *hnext;            /* hash chain */
	struct cnode *rprev, *rnext;    /* CLOCK ring; retired list uses rnext */
	uint64_t retired;               /* epoch stamp once evicted */
	_Alignas(16) uint8_t data[];
};

struct shard {
	pthread_mutex_t mu;
	struct cnode **buckets;
	size_t nbuckets, count, bytes, budget;
	struct cnode *hand;
	uint64_t hits, misses;
};

struct cache {
	struct shard shard[NSHARDS];
	pthread_mutex_t reg_mu;   /* running transactions and the retired list */
	struct epoch_slot reg;    /* sentinel of the running list */
	_Atomic uint64_t epoch;
	struct cnode *retired;
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

static inline size_t bucket_of(struct shard *s, uint64_t off)
{
	uint64_t h = (off >> 4) * 0xff51afd7ed558ccdull;
	return (size_t)(h >> 32) & (s->nbuckets - 1);
}

struct cache *cache_new(size_t budget)
{
	struct cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &c->shard[i];
		pthread_mutex_init(&s->mu, NULL);
		s->nbuckets = 64;
		s->budget = budget / NSHARDS;
		s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
		if (!s->buckets) {
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
		for (size_t b = 0; s->buckets && b < s->nbuckets; b++)
			for (struct cnode *n = s->buckets[b], *next; n; n = next) {
				next = n->hnext;
				free(n);
			}
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	free_list(c->retired);
	pthread_mutex_destroy(&c->reg_mu);
	free(c);
}

/* Free retired nodes that no running transaction can hold. Called with
 * reg_mu held. */
static void reclaim_locked(struct cache *c)
{
	uint64_t min = UINT64_MAX;
	for (struct epoch_slot *s = c->reg.next; s != &c->reg; s = s->next)
		min = QMIN(min, s->epoch);
	struct cnode **pp = &c->retired;
	while (*pp) {
		struct cnode *n = *pp;
		if (n->retired < min) {
			*pp = n->rnext;
			c->retired_bytes -= n->size + OVERHEAD;
			free(n);
		} else {
			pp = &n->rnext;
		}
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
	pthread_mutex_lock(&s->mu);
	struct cnode *n = s->buckets[bucket_of(s, off)];
	while (n && n->off != off)
		n = n->hnext;
	if (n) {
		n->ref = 1;
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->mu);
	return n ? n->data : NULL;
}

static void grow(struct shard *s)
{
	size_t nb = s->nbuckets * 2;
	struct cnode **b = calloc(nb, sizeof *b);
	if (!b)
		return; /* longer chains, still correct */
	struct cnode **old = s->buckets;
	size_t onb = s->nbuckets;
	s->buckets = b;
	s->nbuckets = nb;
	for (size_t i = 0; i < onb; i++)
		for (struct cnode *n = old[i], *next; n; n = next) {
			next = n->hnext;
			size_t k = bucket_of(s, n->off);
			n->hnext = b[k];
			b[k] = n;
		}
	free(old);
}

/* Unlink one CLOCK victim other than keep from shard s; NULL if there is
 * none. Called with s->mu held. */
static struct cnode *evict_one(struct shard *s, const struct cnode *keep)
{
	if (s->count < 2)
		return NULL;
	for (;;) {
		struct cnode *n = s->hand;
		if (n->ref || n == keep) {
			n->ref = 0;
			s->hand = n->rnext;
			continue;
		}
		struct cnode **pp = &s->buckets[bucket_of(s, n->off)];
		while (*pp != n)
			pp = &(*pp)->hnext;
		*pp = n->hnext;
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
	size_t k = bucket_of(s, off);
	for (struct cnode *o = s->buckets[k]; o; o = o->hnext)
		if (o->off == off) {
			o->ref = 1;
			pthread_mutex_unlock(&s->mu);
			free(n);
			return o->data;
		}
	n->off = off;
	n->ref = 1;
	n->hnext = s->buckets[k];
	s->buckets[k] = n;
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
	if (s->count > s->nbuckets)
		grow(s);
	while (s->bytes > s->budget && (v = evict_one(s, n))) {
		v->rnext = victims;
		victims = v;
		vbytes += v->size + OVERHEAD;
	}
	pthread_mutex_unlock(&s->mu);

	if (victims) {
		/* Stamp and advance the epoch after unlinking: a transaction
		 * that sees the new epoch cannot find these nodes. */
		uint64_t e = atomic_fetch_add(&c->epoch, 1);
		pthread_mutex_lock(&c->reg_mu);
		struct cnode *last = victims;
		for (;;) {
			last->retired = e;
			if (!last->rnext)
				break;
			last = last->rnext;
		}
		last->rnext = c->retired;
		c->retired = victims;
		c->retired_bytes += vbytes;
		if (c->retired_bytes > c->retire_limit)
			reclaim_locked(c);
		pthread_mutex_unlock(&c->reg_mu);
	}
	return n->data;
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
