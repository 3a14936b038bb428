/*
 * test_cache.c - the node cache on its own: lookups against a model of what
 * was inserted, under a budget small enough that eviction, table growth and
 * the removal of slots from probe runs go on all the time, with the epochs
 * of transactions ending and beginning (so evicted memory is freed; ASan
 * sees any node used after that). A lookup may miss a node that was
 * evicted, but must never return another node than the one asked for; a
 * node just inserted is found; the search index of a node found answers as
 * the node does. Two threads do the same at once (run under TSan too).
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "nindex.h"
#include "node.h"
#include "testutil.h"
#include "util.h"

#define NOFF 4000
/* a node costs about 300 bytes with its index and overhead: room for
 * about half of the offsets */
#define BUDGET (600 << 10)

/* A leaf of three entries whose keys and metas name its offset. */
static uint8_t *make_node(uint64_t off)
{
	uint8_t ents[96], *d = ents, k[9];
	size_t len[3];
	uint32_t size;
	for (int i = 0; i < 3; i++) {
		st64be(k, off);
		k[8] = (uint8_t)i;
		len[i] = leaf_entry_put(d, k, sizeof k, off, "v", 1, 0, 0);
		d += len[i];
	}
	return tu_node(0, ents, len, 3, &size);
}

/* Check that node n is the one at off, searching it twice (the second
 * search goes through its index). */
static void check_node(const uint8_t *n, uint64_t off)
{
	struct lentry e;
	node_leaf_entry(n, 1, &e);
	assert_int_equal(e.meta, off);
	uint8_t k[9];
	st64be(k, off);
	k[8] = 1;
	for (int pass = 0; pass < 2; pass++) {
		int exact;
		const void *x = cache_nindex(n);
		unsigned i = x ? nindex_lower_bound(x, n, k, sizeof k, &exact)
			       : node_lower_bound(n, k, sizeof k, &exact);
		assert_int_equal(i, 1);
		assert_true(exact);
	}
}

struct worker {
	struct cache *c;
	uint64_t seed;
	int solo;               /* no other thread evicts what it inserts */
	unsigned long hits, inserts, misses;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct epoch_slot ep;
	uint64_t rs = w->seed;
	cache_enter(w->c, &ep);
	for (int op = 0; op < 60000; op++) {
		uint64_t off = 4096 + 16 * (tu_rand(&rs) % NOFF);
		const uint8_t *n = cache_lookup(w->c, off);
		if (n) {
			check_node(n, off);
			w->hits++;
		} else {
			w->misses++;
			n = cache_insert(w->c, off, make_node(off));
			assert_non_null(n);
			check_node(n, off);
			const uint8_t *again = cache_lookup(w->c, off);
			if (w->solo)
				assert_ptr_equal(again, n);
			else if (again)
				check_node(again, off);
			w->inserts++;
		}
		if (op % 500 == 0) { /* a transaction ends, another begins */
			cache_exit(w->c, &ep);
			cache_enter(w->c, &ep);
		}
	}
	cache_exit(w->c, &ep);
	return NULL;
}

static void test_cache_model(void **state)
{
	(void)state;
	struct cache *c = cache_new(BUDGET);
	assert_non_null(c);
	struct worker w = {.c = c, .seed = 3, .solo = 1};
	work(&w);
	print_message("# one thread: %lu hits, %lu inserts\n", w.hits,
		      w.inserts);
	assert_true(w.hits > 10000);
	assert_true(w.inserts > NOFF); /* evicted nodes came back */
	cache_free(c);
}

static void test_cache_threads(void **state)
{
	(void)state;
	struct cache *c = cache_new(BUDGET);
	assert_non_null(c);
	struct worker w[2] = {{.c = c, .seed = 5}, {.c = c, .seed = 6}};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, work, &w[0]), 0);
	work(&w[1]);
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message("# two threads: %lu hits, %lu inserts\n",
		      w[0].hits + w[1].hits, w[0].inserts + w[1].inserts);
	assert_true(w[0].hits > 10000 && w[1].hits > 10000);
	assert_true(w[0].inserts + w[1].inserts > NOFF);
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_model),
		cmocka_unit_test(test_cache_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
