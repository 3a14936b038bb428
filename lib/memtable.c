/*
 * memtable.c - pending operations: versioned skip list plus hash, one
 * writer, lock-free readers (see memtable.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "error.h"
#include "format.h"
#include "memtable.h"
#include "quire.h"
#include "util.h"

#define MAXH 16

_Static_assert(QF_MAX_KEY <= UINT16_MAX, "mt_node.klen");

/* A slot is one word, 0 when empty: the node's address with the top 16
 * bits of its key's hash above it, so that probing past other keys seldom
 * touches their nodes, one load gives both, and the table (with the ones
 * it outgrew, which readers may still be probing) costs half of what a
 * pointer and a hash side by side would. An address that does not fit in
 * 48 bits (tagged pointers, a larger address space) makes the memtable's
 * tables wide: slots of bare addresses, the hash compared in the node. */
#define ADDR_BITS 48
#define ADDR_MASK ((UINT64_C(1) << ADDR_BITS) - 1)

/* Beside the slots, a filter of 4 bits per slot: a blocked Bloom filter of
 * the keys, each setting two bits of one 64-bit word, so a lookup reads a
 * single word. A lookup of a key the table does not hold, the common case
 * for a point read, usually ends there: at the table's fullest (8 bits per
 * key) about 5% go on to the slots, against 12% with one bit per key, and
 * a slot is a cache miss of its own. The filter is an eighth of the size
 * of the slots, so it tends to stay in the CPU cache while they do not. */
struct mt_table {
	size_t cap, count;
	int wide;                       /* slots hold bare addresses */
	_Atomic uint64_t *filter;       /* cap / 16 words */
	_Atomic uint64_t slot[];
};

static inline uint64_t slot_tag(uint32_t h)
{
	return (uint64_t)(h >> 16) << ADDR_BITS;
}

int mt_test_wide;

static inline int fits(const struct mt_node *n)
{
	return ((uint64_t)(uintptr_t)n & ~ADDR_MASK) == 0 && !mt_test_wide;
}

static inline size_t filter_word(const struct mt_table *t, uint32_t h)
{
	return (size_t)(h >> 7 | h << 25) & (t->cap / 16 - 1);
}

/* The two bits of h in its word, from a multiplicative remix of h (its
 * own bits also pick the slot and the word). */
static inline uint64_t filter_bits(uint32_t h)
{
	uint32_t g = h * 0x9e3779b1u;
	return 1ull << (g >> 26) | 1ull << (g >> 20 & 63);
}

static uint32_t hash_of(const void *key, size_t klen)
{
	/* CRC is linear: keys that differ in their last bytes (1, 2, 3...)
	 * get related values; a murmur3 finaliser spreads them over the
	 * table so linear probing stays short */
	uint32_t h = crc32c(0x51ed27u, key, klen);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static struct mt_table *table_new(size_t cap, int wide)
{
	size_t sz = sizeof(struct mt_table) + cap * sizeof(uint64_t);
	struct mt_table *t = calloc(1, sz + cap / 16 * sizeof(uint64_t));
	if (t) {
		t->cap = cap;
		t->wide = wide;
		t->filter = (_Atomic uint64_t *)(void *)((char *)t + sz);
	}
	return t;
}

/* Slots for keys keys at most half full. */
static size_t cap_for(uint64_t keys)
{
	size_t cap = 64;
	while (cap < 2 * keys + 2)
		cap *= 2;
	return cap;
}

struct memtable *mt_new(uint64_t base_seq, uint64_t applied_txn,
		       uint64_t ckpt_off, uint64_t expect_keys)
{
	struct memtable *mt = calloc(1, sizeof *mt);
	if (!mt)
		return NULL;
	atomic_init(&mt->refs, 1);
	pthread_mutex_init(&mt->wmu, NULL);
	size_t hs = sizeof(struct mt_node) + MAXH * sizeof(struct mt_node *);
	mt->head = arena_alloc(&mt->ar, hs);
	struct mt_table *t = table_new(cap_for(expect_keys), 0);
	if (!t) /* a hint only: the table can still grow when needed */
		t = table_new(64, 0);
	if (!mt->head || !t) {
		free(t);
		arena_free(&mt->ar);
		free(mt);
		return NULL;
	}
	memset(mt->head, 0, hs);
	atomic_init(&mt->height, 1);
	atomic_init(&mt->table, t);
	mt->base_seq = base_seq;
	mt->applied_txn = applied_txn;
	mt->ckpt_off = ckpt_off;
	mt->rng = 0x9e3779b97f4a7c15ull ^ base_seq;
	return mt;
}

uint64_t mt_keys(struct memtable *mt)
{
	mt_lock(mt);
	uint64_t n = mt->nkeys;
	mt_unlock(mt);
	return n;
}

void mt_ref(struct memtable *mt)
{
	atomic_fetch_add(&mt->refs, 1);
}

void mt_unref(struct memtable *mt)
{
	if (!mt || atomic_fetch_sub(&mt->refs, 1) != 1)
		return;
	for (size_t i = 0; i < mt->nblocks; i++)
		if (mt->blocks[i].owned)
			free((uint8_t *)mt->blocks[i].b);
	for (size_t i = 0; i < mt->nold; i++)
		free(mt->old_tables[i]);
	for (size_t i = 0; i < mt->nold_blocks; i++)
		free(mt->old_blocks[i]);
	free(atomic_load(&mt->table));
	free(mt->old_tables);
	free(mt->old_blocks);
	free(mt->blocks);
	free(mt->last);
	free(mt->unlinked);
	arena_free(&mt->ar);
	pthread_mutex_destroy(&mt->wmu);
	free(mt);
}

void mt_lock(struct memtable *mt)
{
	pthread_mutex_lock(&mt->wmu);
}

void mt_unlock(struct memtable *mt)
{
	pthread_mutex_unlock(&mt->wmu);
}

static inline struct mt_node *slot_node(const struct mt_table *t, uint64_t w)
{
	return (struct mt_node *)(uintptr_t)(t->wide ? w : w & ADDR_MASK);
}

static struct mt_node *hash_find(const struct memtable *mt, const void *key,
				 size_t klen, uint32_t h)
{
	struct mt_table *t = atomic_load_explicit(
		&((struct memtable *)mt)->table, memory_order_acquire);
	size_t mask = t->cap - 1, i = h & mask;
	uint64_t w, tag = slot_tag(h), fb = filter_bits(h);
	struct mt_node *n;
	if ((atomic_load_explicit(&t->filter[filter_word(t, h)],
				  memory_order_relaxed) &
	     fb) != fb)
		return NULL;
	if (QUNLIKELY(t->wide)) {
		for (; (w = atomic_load_explicit(&t->slot[i],
						 memory_order_acquire)) != 0;
		     i = (i + 1) & mask) {
			n = (struct mt_node *)(uintptr_t)w;
			if (n->hash == h &&
			    key_cmp(n->key, n->klen, key, klen) == 0)
				return n;
		}
		return NULL;
	}
	for (; (w = atomic_load_explicit(&t->slot[i], memory_order_acquire)) !=
	       0;
	     i = (i + 1) & mask) {
		if ((w & ~ADDR_MASK) != tag)
			continue;
		n = (struct mt_node *)(uintptr_t)(w & ADDR_MASK);
		if (n->hash == h && key_cmp(n->key, n->klen, key, klen) == 0)
			return n;
	}
	return NULL;
}

/* n fits the table (fits(n) unless t->wide). */
static void table_put(struct mt_table *t, struct mt_node *n)
{
	size_t mask = t->cap - 1, i = n->hash & mask;
	uint64_t w = (uint64_t)(uintptr_t)n;
	/* set before the node is published: whoever can see the node can
	 * see the bit. One writer at a time (mt_lock, or a table no one
	 * else sees yet): a load and a store, not a locked read-modify-write
	 * that would stall on every key */
	_Atomic uint64_t *f = &t->filter[filter_word(t, n->hash)];
	atomic_store_explicit(f,
			      atomic_load_explicit(f, memory_order_relaxed) |
				      filter_bits(n->hash),
			      memory_order_relaxed);
	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
		i = (i + 1) & mask;
	atomic_store_explicit(&t->slot[i], t->wide ? w : w | slot_tag(n->hash),
			      memory_order_release);
	t->count++;
}

/* Replace the table with one of cap slots (wide: of bare addresses), then
 * publish it. Readers still using the old table see every key older than
 * the ones added after the switch, which their snapshots cannot see
 * anyway; the old one stays until the memtable is freed. */
static int table_rebuild(struct memtable *mt, size_t cap, int wide)
{
	struct mt_table *old = atomic_load(&mt->table);
	struct mt_table *t = table_new(cap, wide);
	struct mt_table **v = realloc(mt->old_tables,
				      (mt->nold + 1) * sizeof *v);
	if (!t || !v) {
		free(t);
		if (v)
			mt->old_tables = v;
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	mt->old_tables = v;
	for (size_t i = 0; i < old->cap; i++) { /* not the list: some keys
						 * may not be linked yet */
		uint64_t w = atomic_load_explicit(&old->slot[i],
						  memory_order_relaxed);
		if (w)
			table_put(t, slot_node(old, w));
	}
	mt->old_tables[mt->nold++] = old;
	atomic_store_explicit(&mt->table, t, memory_order_release);
	return 0;
}

/* Room in the table for one more key, at most half full; wide tables
 * from the first key whose address does not fit a slot's word. */
static int table_make_room(struct memtable *mt, const struct mt_node *n)
{
	struct mt_table *t = atomic_load(&mt->table);
	int wide = t->wide || !fits(n);
	if ((t->count + 1) * 2 <= t->cap && wide == t->wide)
		return 0;
	return table_rebuild(mt, (t->count + 1) * 2 <= t->cap ? t->cap
							      : t->cap * 2,
			     wide);
}

/* Last node with key < key at each level (prev may be NULL). */
static struct mt_node *find_lt(const struct memtable *mt, const void *key,
			       size_t klen, struct mt_node **prev)
{
	struct mt_node *x = mt->head;
	int h = atomic_load_explicit(&((struct memtable *)mt)->height,
				     memory_order_relaxed);
	for (int l = MAXH - 1; l >= 0; l--) {
		if (l < h) {
			for (;;) {
				struct mt_node *nx = atomic_load_explicit(
					&x->next[l], memory_order_acquire);
				if (!nx ||
				    key_cmp(nx->key, nx->klen, key, klen) >= 0)
					break;
				x = nx;
			}
		}
		if (prev)
			prev[l] = x;
	}
	return x;
}

static int rand_height(struct memtable *mt)
{
	int h = 1;
	for (;;) {
		mt->rng ^= mt->rng << 13;
		mt->rng ^= mt->rng >> 7;
		mt->rng ^= mt->rng << 17;
		if ((mt->rng & 3) || h == MAXH)
			return h;
		h++;
	}
}

/* find_lt() for a key larger than the last one inserted, whose
 * predecessors are still in prev (prev[0] NULL: none): the search starts
 * from them. Keys are linked in order, so each search walks the
 * gap to the previous key instead of the whole height of the list. */
static void find_lt_after(const struct memtable *mt, const void *key,
			  size_t klen, struct mt_node **prev)
{
	struct mt_node *x = mt->head;
	int h = atomic_load_explicit(&((struct memtable *)mt)->height,
				     memory_order_relaxed);
	int moved = 0; /* x went past the finger one level up */
	for (int l = MAXH - 1; l >= 0; l--) {
		if (l < h) {
			struct mt_node *f = prev[l];
			if (f != x && (!moved || key_cmp(f->key, f->klen, x->key,
							 x->klen) > 0))
				x = f, moved = 0;
			for (;;) {
				struct mt_node *nx = atomic_load_explicit(
					&x->next[l], memory_order_acquire);
				if (!nx ||
				    key_cmp(nx->key, nx->klen, key, klen) >= 0)
					break;
				x = nx;
				moved = 1;
			}
		}
		prev[l] = x;
	}
}

static int add_block(struct memtable *mt, const uint8_t *block,
		     const struct batch_info *bi, int owned);

/* A run of a bulk load: a batch and the position in its key index. */
struct run {
	const uint8_t *b;
	const struct batch_info *bi;
	uint32_t i;
	struct brec r; /* its current key's last operation */
};

/* run a comes before run b: by key, then by batch (older first). */
static int run_before(const struct run *a, const struct run *b)
{
	int c = key_cmp(a->r.key, a->r.klen, b->r.key, b->r.klen);
	return c < 0 || (c == 0 && a->bi->txn < b->bi->txn);
}

static void heap_down(struct run **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && run_before(h[l], h[m]))
			m = l;
		if (l + 1 < n && run_before(h[l + 1], h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct run *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* A node for key, not linked yet, with room in the hash table for it. */
static struct mt_node *new_node(struct memtable *mt, const uint8_t *key,
				uint32_t klen, uint32_t hash)
{
	int h = rand_height(mt);
	struct mt_node *n = arena_alloc(&mt->ar, sizeof *n + h * sizeof n->next[0]);
	if (!n || table_make_room(mt, n) != 0)
		return NULL;
	n->key = key;
	n->klen = (uint16_t)klen;
	n->hash = hash;
	n->height = (uint16_t)h;
	atomic_init(&n->newest, NULL);
	return n;
}

/* A node for key at the end of the list (every key so far is smaller). */
static struct mt_node *append_node(struct memtable *mt, const uint8_t *key,
				   uint32_t klen)
{
	struct mt_node *n = new_node(mt, key, klen, hash_of(key, klen));
	if (!n)
		return NULL;
	int h = n->height;
	atomic_init(&n->prev, mt->tail[0]);
	for (int l = 0; l < h; l++) {
		atomic_init(&n->next[l], NULL);
		struct mt_node *p = mt->tail[l] ? mt->tail[l] : mt->head;
		atomic_store_explicit(&p->next[l], n, memory_order_release);
		mt->tail[l] = n;
	}
	if (h > atomic_load_explicit(&mt->height, memory_order_relaxed))
		atomic_store_explicit(&mt->height, h, memory_order_relaxed);
	mt->max = n;
	table_put(atomic_load(&mt->table), n);
	mt->nkeys++;
	return n;
}

int mt_load(struct memtable *mt, const uint8_t *const *blocks,
	    const struct batch_info *bis, const int *owned, size_t n)
{
	struct run *runs = malloc((n ? n : 1) * sizeof *runs);
	struct run **heap = malloc((n ? n : 1) * sizeof *heap);
	size_t nh = 0, keys = 0;
	int e = 0;
	if (!runs || !heap)
		e = qerr(QUIRE_ENOMEM, "out of memory");
	size_t added = 0;
	for (; !e && added < n; added++) /* oldest first, as commits */
		if ((e = add_block(mt, blocks[added], &bis[added],
				   owned[added])) == 0)
			keys += bis[added].nkeys;
	for (size_t i = added; i < n; i++) /* not the memtable's */
		if (owned[i])
			free((uint8_t *)blocks[i]);
	size_t cap = cap_for(keys); /* the table at its size: no growth on
				     * the way, unless mt_new made it so */
	if (!e && keys && cap > atomic_load(&mt->table)->cap) {
		struct mt_table *t =
			table_new(cap, atomic_load(&mt->table)->wide);
		struct mt_table **v = realloc(mt->old_tables,
					      (mt->nold + 1) * sizeof *v);
		if (v)
			mt->old_tables = v;
		if (!t || !v) {
			free(t);
			e = qerr(QUIRE_ENOMEM, "out of memory");
		} else {
			mt->old_tables[mt->nold++] = atomic_load(&mt->table);
			atomic_store(&mt->table, t);
		}
	}
	for (size_t i = 0; !e && i < n; i++) {
		runs[i] = (struct run){.b = blocks[i], .bi = &bis[i]};
		if (bis[i].nkeys) {
			batch_key(blocks[i], &bis[i], 0, &runs[i].r);
			heap[nh++] = &runs[i];
		}
	}
	for (size_t i = nh; i-- > 0;)
		heap_down(heap, nh, i);
	struct mt_node *node = NULL;
	while (!e && nh) { /* keys in order; a key's versions oldest first */
		struct run *r = heap[0];
		if (!node || key_cmp(node->key, node->klen, r->r.key,
				     r->r.klen) != 0)
			node = append_node(mt, r->r.key, r->r.klen);
		struct mt_ver *v = arena_alloc(&mt->ar, sizeof *v);
		if (!node || !v) {
			e = qerr(QUIRE_ENOMEM, "out of memory");
			break;
		}
		v->seq = r->r.seq;
		v->op = r->r.op;
		v->v = r->r.v;
		atomic_init(&v->dead, 0);
		v->older = atomic_load_explicit(&node->newest,
						memory_order_relaxed);
		atomic_store_explicit(&node->newest, v, memory_order_release);
		if (++r->i < r->bi->nkeys)
			batch_key(r->b, r->bi, r->i, &r->r);
		else
			heap[0] = heap[--nh];
		heap_down(heap, nh, 0);
	}
	if (!e && n)
		mt->applied_txn = bis[n - 1].txn;
	free(runs);
	free(heap);
	return e;
}

/* Link n into the list; prev: the finger of the last link of a larger
 * key's run (see find_lt_after), left pointing at n's predecessors. */
static void link_node(struct memtable *mt, struct mt_node *n,
		      struct mt_node **prev)
{
	int h = n->height;
	const uint8_t *key = n->key;
	uint32_t klen = n->klen;
	struct mt_node *last = mt->tail[0];
	if (last && key_cmp(last->key, last->klen, key, klen) < 0) {
		/* past the end, as in sequential loads: no search */
		for (int l = 0; l < MAXH; l++)
			prev[l] = mt->tail[l] ? mt->tail[l] : mt->head;
	} else if (prev[0]) {
		find_lt_after(mt, key, klen, prev);
	} else {
		find_lt(mt, key, klen, prev);
	}
	for (int l = 0; l < h; l++)
		atomic_init(&n->next[l],
			    atomic_load_explicit(&prev[l]->next[l],
						 memory_order_relaxed));
	atomic_init(&n->prev, prev[0] == mt->head ? NULL : prev[0]);
	if (h > atomic_load_explicit(&mt->height, memory_order_relaxed))
		atomic_store_explicit(&mt->height, h, memory_order_relaxed);
	struct mt_node *after = atomic_load_explicit(&n->next[0],
						     memory_order_relaxed);
	for (int l = 0; l < h; l++) {
		atomic_store_explicit(&prev[l]->next[l], n,
				      memory_order_release);
		if (!atomic_load_explicit(&n->next[l], memory_order_relaxed))
			mt->tail[l] = n;
		prev[l] = n; /* the finger for the next, larger key */
	}
	if (after)
		atomic_store_explicit(&after->prev, n, memory_order_release);
}

/* A node for a new key: in the hash now, in the list when an iteration
 * needs it (link_pending; room in mt->unlinked is reserved by the
 * caller). */
static struct mt_node *add_node(struct memtable *mt, const uint8_t *key,
				uint32_t klen, uint32_t hash)
{
	struct mt_node *n = new_node(mt, key, klen, hash);
	if (!n)
		return NULL;
	size_t u = atomic_load_explicit(&mt->nunlinked, memory_order_relaxed);
	mt->unlinked[u] = n;
	atomic_store_explicit(&mt->nunlinked, u + 1, memory_order_relaxed);
	if (!mt->max || key_cmp(mt->max->key, mt->max->klen, key, klen) < 0)
		mt->max = n;
	table_put(atomic_load(&mt->table), n);
	mt->nkeys++;
	return n;
}

/* A node to link, with eight bytes of its key in an order a plain
 * integer comparison keeps, so that sorting seldom reads the key: the
 * eight after the prefix that every key to link shares (keys such as
 * "user:000012345" differ only late). */
struct pend {
	uint64_t pre;
	struct mt_node *n;
};

static int pend_cmp(const void *a, const void *b)
{
	const struct pend *x = a, *y = b;
	if (x->pre != y->pre)
		return x->pre < y->pre ? -1 : 1;
	return key_cmp(x->n->key, x->n->klen, y->n->key, y->n->klen);
}

/* Bytes [off, off + 8) of n's key, zeros past its end. */
static uint64_t key_prefix(const struct mt_node *n, uint32_t off)
{
	uint64_t p = 0;
	if (n->klen >= off + 8)
		return ld64be(n->key + off);
	for (uint32_t i = off; i < off + 8; i++)
		p = p << 8 | (i < n->klen ? n->key[i] : 0);
	return p;
}

/* How many leading bytes the keys of n[0..u) share. */
static uint32_t shared_prefix(struct mt_node *const *n, size_t u)
{
	const uint8_t *k = n[0]->key;
	uint32_t l = n[0]->klen;
	for (size_t i = 1; i < u && l; i++) {
		const uint8_t *x = n[i]->key;
		uint32_t j = 0, m = QMIN(l, (uint32_t)n[i]->klen);
		while (j + 8 <= m && ld64be(x + j) == ld64be(k + j))
			j += 8;
		while (j < m && x[j] == k[j])
			j++;
		l = j;
	}
	return l;
}

/* Sort v[0..u) (tmp: room for u more, cnt: 8 arrays of counts) by pre,
 * then by the whole key: a radix sort on pre, a byte a pass (skipping
 * bytes every element shares), then runs of equal pre by their keys. A
 * comparison sort of a few hundred thousand keys (whose first eight bytes
 * were all alike, as the bench's are) took a sixth of a random-insert
 * writer's time. The order only makes linking cheap: link_pending links
 * keys that come out of order correctly too. */
static void pend_sort(struct pend *v, struct pend *tmp, size_t (*cnt)[256],
		      size_t u)
{
	struct pend *a = v, *b = tmp;
	memset(cnt, 0, 8 * sizeof *cnt);
	for (size_t i = 0; i < u; i++)
		for (int d = 0; d < 8; d++)
			cnt[d][v[i].pre >> 8 * d & 255]++;
	for (int d = 0; d < 8; d++) {
		size_t *c = cnt[d], sum = 0;
		if (c[a[0].pre >> 8 * d & 255] == u)
			continue;
		for (int k = 0; k < 256; k++) {
			size_t t = c[k];
			c[k] = sum;
			sum += t;
		}
		for (size_t i = 0; i < u; i++)
			b[c[a[i].pre >> 8 * d & 255]++] = a[i];
		struct pend *t = a;
		a = b;
		b = t;
	}
	if (a != v)
		memcpy(v, a, u * sizeof *v);
	for (size_t i = 0, j; i < u; i = j) {
		for (j = i + 1; j < u && v[j].pre == v[i].pre; j++)
			;
		if (j - i > 1)
			qsort(v + i, j - i, sizeof *v, pend_cmp);
	}
}

/* Link every node added without linking. Sorted first, they go in with
 * one finger search from the last (an append where the list was empty, as
 * for a writer's memtable until its first scan), which costs a fraction
 * of searching the list for each; without memory for the sort, in the
 * order they came (each batch's keys are in order: a run per batch). */
static void link_pending(struct memtable *mt)
{
	size_t u = atomic_load_explicit(&mt->nunlinked, memory_order_relaxed);
	struct mt_node *finger[MAXH] = {NULL}, *last = NULL;
	size_t (*cnt)[256] = NULL; /* pend_sort's counts, after v */
	struct pend *v =
		u > 1 ? malloc(2 * u * sizeof *v + 8 * sizeof *cnt) : NULL;
	if (v) {
		cnt = (size_t(*)[256])(void *)(v + 2 * u);
		uint32_t off = shared_prefix(mt->unlinked, u);
		for (size_t i = 0; i < u; i++)
			v[i] = (struct pend){key_prefix(mt->unlinked[i], off),
					     mt->unlinked[i]};
		pend_sort(v, v + u, cnt, u);
		for (size_t i = 0; i < u; i++)
			mt->unlinked[i] = v[i].n;
		free(v);
	}
	for (size_t i = 0; i < u; i++) {
		struct mt_node *n = mt->unlinked[i];
		if (last && key_cmp(last->key, last->klen, n->key,
				    n->klen) > 0)
			memset(finger, 0, sizeof finger);
		link_node(mt, n, finger);
		last = n;
	}
	/* a reader that sees 0 sees the links (mt_iter_init) */
	atomic_store_explicit(&mt->nunlinked, 0, memory_order_release);
}

/* Append block to the batch array (readers index it while it grows: a
 * grown array is a copy, the old one stays until the memtable is freed). */
static int add_block(struct memtable *mt, const uint8_t *block,
		     const struct batch_info *bi, int owned)
{
	size_t nb = mt->nblocks;
	struct mt_block *cur = mt->blocks;
	if (nb == mt->capblocks) {
		size_t cap = mt->capblocks ? mt->capblocks * 2 : 16;
		struct mt_block *v = malloc(cap * sizeof *v);
		struct mt_block **o = realloc(mt->old_blocks,
					      (mt->nold_blocks + 1) * sizeof *o);
		if (o)
			mt->old_blocks = o;
		if (!v || !o) {
			free(v);
			return qerr(QUIRE_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < nb; i++) {
			v[i].b = cur[i].b;
			v[i].bi = cur[i].bi;
			v[i].owned = cur[i].owned;
			atomic_init(&v[i].dead, atomic_load(&cur[i].dead));
		}
		if (cur)
			mt->old_blocks[mt->nold_blocks++] = cur;
		mt->capblocks = cap;
		atomic_store(&mt->blocks, v);
		cur = v;
	}
	cur[nb].b = block;
	cur[nb].bi = *bi;
	cur[nb].owned = owned;
	atomic_init(&cur[nb].dead, 0);
	atomic_store(&mt->nblocks, nb + 1); /* after the entry: readers */
	return 0;
}

/* Room for the versions of a batch of nkeys keys (for mt_undo_last) and
 * for its new nodes in mt->unlinked. */
static int reserve(struct memtable *mt, uint32_t nkeys)
{
	size_t want = atomic_load_explicit(&mt->nunlinked,
					   memory_order_relaxed) + nkeys;
	if (nkeys > mt->caplast) {
		struct mt_ver **v = realloc(mt->last, nkeys * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		mt->last = v;
		mt->caplast = nkeys;
	}
	if (want > mt->capunlinked) {
		size_t cap = mt->capunlinked ? mt->capunlinked : 1024;
		while (cap < want)
			cap *= 2;
		struct mt_node **v = realloc(mt->unlinked, cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		mt->unlinked = v;
		mt->capunlinked = cap;
	}
	return 0;
}

/* A version for r (hash h) on its key's node, made if new; 0 when out of
 * memory, with the batch undone. */
static int add_key(struct memtable *mt, const struct brec *r, uint32_t h)
{
	struct mt_node *n = hash_find(mt, r->key, r->klen, h);
	struct mt_ver *v = arena_alloc(&mt->ar, sizeof *v);
	if (!v || (!n && !(n = add_node(mt, r->key, r->klen, h)))) {
		mt_undo_last(mt);
		return 0;
	}
	v->seq = r->seq;
	v->op = r->op;
	v->v = r->v;
	atomic_init(&v->dead, 0);
	v->older = atomic_load_explicit(&n->newest, memory_order_relaxed);
	atomic_store_explicit(&n->newest, v, memory_order_release);
	mt->last[mt->nlast++] = v;
	return 1;
}

/* Keys whose filter word and slot mt_add_batch fetches ahead of their
 * insertion: a table of millions of slots is out of the CPU cache, and
 * fetching for several keys while the keys before them go in waits for
 * memory once per several keys instead of twice per key (a reader process
 * following a writer's random keys, 1.5M pending: 170-190 ns per key
 * instead of 250-270). */
#define AHEAD 8

int mt_add_batch(struct memtable *mt, const uint8_t *block,
		 const struct batch_info *bi, int owned)
{
	if (reserve(mt, bi->nkeys) != 0 ||
	    add_block(mt, block, bi, owned) != 0) {
		if (owned)
			free((uint8_t *)block);
		return QUIRE_ENOMEM;
	}
	mt->undo_txn = mt->applied_txn;
	mt->nlast = 0;
	struct brec ahead[AHEAD];
	uint32_t ah[AHEAD];
	for (uint32_t i = 0; i < bi->nkeys + AHEAD; i++) {
		uint32_t j = i % AHEAD;
		if (i >= AHEAD && !add_key(mt, &ahead[j], ah[j]))
			return qerr(QUIRE_ENOMEM, "out of memory");
		if (i < bi->nkeys) {
			batch_key(block, bi, i, &ahead[j]);
			ah[j] = hash_of(ahead[j].key, ahead[j].klen);
			/* not in a helper: GCC takes a function of
			 * prefetches alone for one without effect and
			 * drops its calls */
			const struct mt_table *t = atomic_load_explicit(
				&mt->table, memory_order_relaxed);
			__builtin_prefetch(&t->filter[filter_word(t, ah[j])]);
			__builtin_prefetch(&t->slot[ah[j] & (t->cap - 1)]);
		}
	}
	mt->applied_txn = bi->txn;
	return 0;
}

void mt_undo_last(struct memtable *mt)
{
	for (size_t i = 0; i < mt->nlast; i++)
		atomic_store_explicit(&mt->last[i]->dead, 1,
				      memory_order_relaxed);
	mt->nlast = 0;
	if (mt->nblocks)
		atomic_store(&mt->blocks[mt->nblocks - 1].dead, 1);
	mt->applied_txn = mt->undo_txn;
}

static const struct mt_ver *visible(const struct mt_node *n, uint64_t bound)
{
	const struct mt_ver *v = atomic_load_explicit(
		&((struct mt_node *)n)->newest, memory_order_acquire);
	while (v && (v->seq >= bound ||
		     atomic_load_explicit(&((struct mt_ver *)v)->dead,
					  memory_order_relaxed)))
		v = v->older;
	return v;
}

int mt_wide(const struct memtable *mt)
{
	return atomic_load(&((struct memtable *)mt)->table)->wide;
}

const struct mt_ver *mt_get(const struct memtable *mt, const void *key,
			    size_t klen, uint64_t bound)
{
	struct mt_node *n = hash_find(mt, key, klen, hash_of(key, klen));
	return n ? visible(n, bound) : NULL;
}

void mt_iter_init(struct mt_iter *it, const struct memtable *mt,
		  uint64_t bound)
{
	struct memtable *w = (struct memtable *)mt;
	if (atomic_load_explicit(&w->nunlinked, memory_order_acquire)) {
		mt_lock(w); /* order is needed now: link what came unordered */
		link_pending(w);
		mt_unlock(w);
	}
	it->mt = mt;
	it->bound = bound;
	it->node = NULL;
}

static struct mt_node *next_of(struct mt_node *n)
{
	return atomic_load_explicit(&n->next[0], memory_order_acquire);
}

/* Move forward from n (inclusive) to a node with a visible version. */
/* A scan that merges the memtable with a tree waits for memory three
 * times per key of the memtable (node, version, key bytes: allocated in
 * commit order, read in key order). Fetch the next node's version and key
 * and the node after it now, so that they are there when the scan comes:
 * the next node itself was fetched the same way a step before. */
static void fetch_ahead(const struct mt_node *n)
{
	const struct mt_node *a = next_of((struct mt_node *)n);
	if (!a)
		return;
	__builtin_prefetch(a->key);
	__builtin_prefetch(atomic_load_explicit(&((struct mt_node *)a)->newest,
						memory_order_relaxed));
	__builtin_prefetch(next_of((struct mt_node *)a));
}

static int settle_fwd(struct mt_iter *it, struct mt_node *n)
{
	const struct mt_ver *v = NULL;
	while (n && !(v = visible(n, it->bound)))
		n = next_of(n);
	it->node = n;
	if (!n)
		return QUIRE_NOTFOUND;
	fetch_ahead(n);
	if (v->v.data) /* the scan reads the value when it gets there */
		__builtin_prefetch(v->v.data);
	return 0;
}

/* Move backward from n (inclusive; the head means none). */
static struct mt_node *prev_of(struct mt_node *n)
{
	return atomic_load_explicit(&n->prev, memory_order_acquire);
}

static int settle_back(struct mt_iter *it, struct mt_node *n)
{
	if (n == it->mt->head)
		n = NULL;
	while (n && !visible(n, it->bound))
		n = prev_of(n);
	it->node = n;
	if (n && (n = prev_of(n)) != NULL) { /* see fetch_ahead */
		__builtin_prefetch(n->key);
		__builtin_prefetch(atomic_load_explicit(&n->newest,
							memory_order_relaxed));
		__builtin_prefetch(prev_of(n));
	}
	return it->node ? 0 : QUIRE_NOTFOUND;
}

int mt_seek(struct mt_iter *it, const void *key, size_t klen, int incl)
{
	struct mt_node *n = next_of(find_lt(it->mt, key, klen, NULL));
	if (n && !incl && key_cmp(n->key, n->klen, key, klen) == 0)
		n = next_of(n);
	return settle_fwd(it, n);
}

int mt_seek_back(struct mt_iter *it, const void *key, size_t klen, int incl)
{
	struct mt_node *n = find_lt(it->mt, key, klen, NULL), *nx;
	if (incl && (nx = next_of(n)) &&
	    key_cmp(nx->key, nx->klen, key, klen) == 0)
		n = nx;
	return settle_back(it, n);
}

int mt_first(struct mt_iter *it)
{
	return settle_fwd(it, next_of(it->mt->head));
}

int mt_last(struct mt_iter *it)
{
	struct mt_node *x = it->mt->head;
	for (int l = MAXH - 1; l >= 0; l--)
		for (struct mt_node *nx;
		     (nx = atomic_load_explicit(&x->next[l],
						memory_order_acquire));)
			x = nx;
	return settle_back(it, x);
}

int mt_next(struct mt_iter *it)
{
	return it->node ? settle_fwd(it, next_of(it->node)) : mt_first(it);
}

int mt_prev(struct mt_iter *it)
{
	if (!it->node)
		return mt_last(it);
	return settle_back(it, prev_of(it->node));
}

const uint8_t *mt_key(const struct mt_iter *it, uint32_t *klen)
{
	*klen = it->node->klen;
	return it->node->key;
}

const struct mt_ver *mt_ver(const struct mt_iter *it)
{
	return visible(it->node, it->bound);
}
