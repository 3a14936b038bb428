/*
 * arena.h - bump allocation for memory that lives exactly as long as a
 * transaction or a commit: keys and values of pending operations, encoded
 * entries of nodes being rebuilt. Freed all at once.
 */
#ifndef QUIRE_ARENA_H
#define QUIRE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t used; /* bytes handed out, for accounting */
};

/* Aligned to 8 bytes. NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_dup(struct arena *a, const void *p, size_t n);
void arena_free(struct arena *a);

#endif
