/*
 * fmap.h - reading a database file in place: a read-only shared mapping
 * of the file, grown as the file grows, and a mark per block verified.
 *
 * Committed bytes never change (invariant 1), so a node or value block can
 * be served straight from the mapping - the operating system's page cache
 * is the cache, shared by every handle and process, with nothing to size
 * and nothing copied. What the mapping cannot give by itself is the
 * integrity promise: every block is checksum-verified before its first use
 * in the process (invariant 7). A mark records that the block starting
 * at an offset was verified. Blocks start on 16-byte granules, so a bit
 * per granule would do, but that bitmap is 1/128 of the file: at 10M keys
 * its word for a random leaf is a cache and TLB miss of its own beside
 * the leaf's. So a byte per 2 KiB span of the file comes first: it names
 * the granule of one verified block starting in the span. Tree nodes
 * of the default size are mostly at least half of the 4 KiB target (the
 * B-tree fill rule), so two rarely start in one span, and those bytes,
 * 1/2048 of the file, stay in the L2 cache. A second block verified in a
 * span (batches, nodes under half full, a smaller node_size) gets the bit
 * instead: a block is marked when its span's byte names it or its bit is
 * set. Both live in large zeroed chunks whose untouched pages cost no
 * memory.
 *
 * Views: when the file outgrows the mapping a larger one is made; the old
 * views stay mapped until the file object closes, so pointers handed out
 * (nodes, quire_val) stay valid as long as the snapshot that reached them.
 *
 * Faults: reading a page of a mapping fails with SIGBUS if the page cannot
 * be read (a disk error) or lies past the end of a file that another
 * process truncated. A handler installed with the first view catches those
 * that fall inside a view: it maps a page of zeros over the faulting page
 * and marks the file object failed, so the thread goes on, and the call
 * that touched the page (and every later one on that file object) returns
 * QUIRE_EIO. Faults elsewhere go to the handler that was there before.
 * The handler is installed again with every new view if something else
 * took SIGBUS over meanwhile (keeping that one for the faults not ours).
 */
#ifndef QUIRE_FMAP_H
#define QUIRE_FMAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "vfs.h"

struct fview {
	const uint8_t *base;
	uint64_t len;
	struct fview *next;  /* older views */
	int reg;             /* its slot in the fault registry, or -1 */
};

/* Verified marks cover up to FMAP_MARKED bytes of a file; blocks past it
 * are verified at every use. */
#define FMAP_CHUNK_BITS 30 /* bytes of file per chunk of marks */
#define FMAP_CHUNKS 1024
#define FMAP_MARKED ((uint64_t)FMAP_CHUNKS << FMAP_CHUNK_BITS)

struct fmap {
	_Atomic(struct fview *) view; /* newest; NULL: no mapping */
	pthread_mutex_t mu;           /* making views and chunks */
	_Atomic int failed;           /* a fault hit one of its views */
	_Atomic uint64_t mark_end;    /* no mark at or past it */
	_Atomic(uint8_t *) marks[FMAP_CHUNKS]; /* span bytes, bitmap */
};

/* An fmap without a view yet. */
void fmap_init(struct fmap *m);
/* Map the first len bytes of f (at least): the view's address, or NULL
 * when f cannot be mapped (the caller reads with read() instead). */
const uint8_t *fmap_open(struct fmap *m, qvfs_file *f, uint64_t len);
/* Unregister the views (the VFS unmaps them when f closes) and free the
 * marks. */
void fmap_done(struct fmap *m);

/* Pointer to the n bytes at off, growing the mapping when they lie past
 * it; NULL when there is no mapping or it cannot grow. The caller knows
 * the bytes are committed (so inside the file). */
const uint8_t *fmap_at(struct fmap *m, qvfs_file *f, uint64_t off,
		       uint64_t n);

/* A chunk of marks: the span bytes, then the bitmap. */
#define FMAP_CHUNK_MASK (((uint64_t)1 << FMAP_CHUNK_BITS) - 1)
#define FMAP_SPAN_BITS 11
#define FMAP_SPAN_BYTES ((uint64_t)1 << (FMAP_CHUNK_BITS - FMAP_SPAN_BITS))

static inline _Atomic uint64_t *fmap_chunk_bits(uint8_t *c)
{
	return (_Atomic uint64_t *)(c + FMAP_SPAN_BYTES);
}

/* The span byte of a block at off: its granule in the span plus one. */
static inline uint8_t fmap_span_tag(uint64_t off)
{
	return (uint8_t)(((off >> 4) & 127) + 1);
}

static inline int fmap_marked(struct fmap *m, uint64_t off)
{
	uint8_t *c;
	if (off >= FMAP_MARKED ||
	    !(c = atomic_load_explicit(&m->marks[off >> FMAP_CHUNK_BITS],
				       memory_order_acquire)))
		return 0;
	uint64_t in = off & FMAP_CHUNK_MASK, g = in >> 4;
	if (atomic_load_explicit((_Atomic uint8_t *)&c[in >> FMAP_SPAN_BITS],
				 memory_order_relaxed) == fmap_span_tag(off))
		return 1;
	return (atomic_load_explicit(&fmap_chunk_bits(c)[g >> 6],
				     memory_order_relaxed) >>
		(g & 63)) &
	       1;
}

/* Record that the block at off was verified (best effort: without memory
 * for the marks it will be verified again). */
void fmap_mark(struct fmap *m, uint64_t off);
/* Forget the marks of blocks at or after off (their bytes are about to be
 * written again: the tail of a failed or abandoned commit). */
void fmap_unmark_from(struct fmap *m, uint64_t off);

#endif
