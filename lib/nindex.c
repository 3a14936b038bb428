/*
 * nindex.c - build and search the in-memory search index of a node (the
 * layout and the reason are in nindex.h).
 *
 * Order: suffixes compare as big-endian numbers after zero padding, so a
 * smaller suffix means a smaller key (the first differing byte is either a
 * real byte of both keys, or a padding zero of the shorter key against a
 * real nonzero byte of the longer, which is then the greater key). Equal
 * suffixes say nothing, and the keys themselves are compared.
 */
#include "config.h"

#include <string.h>

#include "nindex.h"
#include "node.h"

#define SUFFIX 6 /* key bytes per entry; the other two hold the offset */
#define GROUP 8  /* entries per line */

struct fences {
	uint16_t cplen;
	uint16_t unused[3];
	uint64_t fence[];
};

static inline size_t lines(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

static inline unsigned groups(unsigned count)
{
	return (count + GROUP - 1) / GROUP;
}

static inline const struct fences *fences_of(const void *x, unsigned count)
{
	return (const struct fences *)(const void *)((const uint8_t *)x +
						     lines(8 * (size_t)count));
}

static inline const uint8_t *prefix_of(const struct fences *f,
				       unsigned count)
{
	return (const uint8_t *)&f->fence[groups(count)];
}

/* SUFFIX bytes of k from p on, zero-padded, as a number. */
static inline uint64_t suffix(const uint8_t *k, size_t klen, size_t p)
{
	uint64_t s = 0;
	for (size_t i = p; i < p + SUFFIX; i++)
		s = s << 8 | (i < klen ? k[i] : 0);
	return s;
}

/* Length of the prefix every key of node n shares: that of its first and
 * last keys, as they are sorted. */
static size_t shared_prefix(const uint8_t *n)
{
	uint32_t al, bl;
	const uint8_t *a = node_key(n, 0, &al);
	const uint8_t *b = node_key(n, node_count(n) - 1, &bl);
	size_t cp = 0;
	while (cp < al && cp < bl && a[cp] == b[cp])
		cp++;
	return cp;
}

static size_t index_bytes(unsigned count, size_t cp)
{
	return lines(8 * (size_t)count) +
	       lines(sizeof(struct fences) + 8 * (size_t)groups(count) + cp);
}

size_t nindex_size(const uint8_t *n)
{
	return index_bytes(node_count(n), shared_prefix(n));
}

void nindex_build(void *x, const uint8_t *n)
{
	unsigned count = node_count(n);
	uint64_t *ent = x;
	struct fences *f = (struct fences *)fences_of(x, count);
	size_t cp = shared_prefix(n);
	uint32_t kl;
	const uint8_t *k = node_key(n, 0, &kl);
	memset(x, 0, index_bytes(count, cp));
	f->cplen = (uint16_t)cp;
	memcpy((uint8_t *)prefix_of(f, count), k, cp);
	for (unsigned i = 0; i < count; i++) {
		unsigned off = node_entry_at(n, i);
		k = node_key_at(n, off, &kl);
		ent[i] = suffix(k, kl, cp) << 16 | off;
		if (i % GROUP == 0)
			f->fence[i / GROUP] = ent[i];
	}
}

/* Where key falls against the shared prefix: -1 below every key of the
 * node, 1 above every key, 0 among them (*s is then its suffix). */
static int place(const struct fences *f, unsigned count, const uint8_t *key,
		 size_t klen, uint64_t *s)
{
	size_t cp = f->cplen, m = klen < cp ? klen : cp;
	int c = m ? memcmp(key, prefix_of(f, count), m) : 0;
	if (c)
		return c < 0 ? -1 : 1;
	if (klen < cp)
		return -1; /* a proper prefix of every key */
	*s = suffix(key, klen, cp);
	return 0;
}

/* Compare entry e of node n with key (suffix s). */
static inline int ent_cmp(const uint8_t *n, uint64_t e, uint64_t s,
			  const uint8_t *key, size_t klen)
{
	uint64_t es = e >> 16;
	if (es != s)
		return es < s ? -1 : 1;
	uint32_t kl;
	const uint8_t *k = node_key_at(n, (unsigned)(e & 0xffff), &kl);
	return key_cmp(k, kl, key, klen);
}

struct probe {
	const uint8_t *n;
	uint64_t s;
	const uint8_t *key;
	size_t klen;
	int strict;
};

/* Whether entry e lies past the key: compares above it (strict) or not
 * below it. */
static inline int past(const struct probe *p, uint64_t e)
{
	int c = ent_cmp(p->n, e, p->s, p->key, p->klen);
	return p->strict ? c > 0 : c >= 0;
}

/* Index of the first entry past the key (count if none): the fences give
 * the first group that starts past it; the answer is in the group before,
 * or it is that group's first entry. */
static unsigned first_past(const struct probe *p, const uint64_t *ent,
			   const struct fences *f, unsigned count)
{
	unsigned lo = 0, hi = groups(count);
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (past(p, f->fence[mid]))
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == 0)
		return 0;
	unsigned b = (lo - 1) * GROUP + 1, e = lo * GROUP;
	if (e > count)
		e = count;
	while (b < e) {
		unsigned mid = (b + e) / 2;
		if (past(p, ent[mid]))
			e = mid;
		else
			b = mid + 1;
	}
	return b;
}

unsigned nindex_lower_bound(const void *x, const uint8_t *n, const void *key,
			    size_t klen, int *exact)
{
	unsigned count = node_count(n);
	const struct fences *f = fences_of(x, count);
	struct probe p = {.n = n, .key = key, .klen = klen, .strict = 0};
	int where = place(f, count, key, klen, &p.s);
	*exact = 0;
	if (where)
		return where < 0 ? 0 : count;
	unsigned i = first_past(&p, x, f, count);
	*exact = i < count &&
		 ent_cmp(n, ((const uint64_t *)x)[i], p.s, key, klen) == 0;
	return i;
}

unsigned nindex_child_for(const void *x, const uint8_t *n, const void *key,
			  size_t klen)
{
	unsigned count = node_count(n);
	const struct fences *f = fences_of(x, count);
	struct probe p = {.n = n, .key = key, .klen = klen, .strict = 1};
	int where = place(f, count, key, klen, &p.s);
	if (where)
		return where < 0 ? 0 : count - 1;
	unsigned i = first_past(&p, x, f, count);
	return i ? i - 1 : 0;
}
