/*
 * node.c - verify, search, decode and build tree nodes (layout in node.h).
 */
#include "config.h"

#include <string.h>

#include "error.h"
#include "node.h"

int lentry_parse(const uint8_t *e, const uint8_t *end, struct lentry *o)
{
	uint64_t v, vh;
	size_t k;
	if (!(k = varint_get(e, end, &v)) || v > QF_MAX_KEY)
		return 0;
	e += k;
	if ((uint64_t)(end - e) < v)
		return 0;
	o->key = e;
	o->klen = (uint32_t)v;
	e += v;
	if (!(k = varint_get(e, end, &o->meta)))
		return 0;
	e += k;
	if (!(k = varint_get(e, end, &vh)) || (vh >> 1) > QUIRE_MAX_VALUE_SIZE)
		return 0;
	e += k;
	o->vlen = (uint32_t)(vh >> 1);
	o->ool = (int)(vh & 1);
	if (o->ool) {
		if (!(k = varint_get(e, end, &o->ool_off)))
			return 0;
		e += k;
		o->val = NULL;
	} else {
		if ((uint64_t)(end - e) < o->vlen)
			return 0;
		o->val = e;
		o->ool_off = 0;
		e += o->vlen;
	}
	return e == end;
}

int ientry_parse(const uint8_t *e, const uint8_t *end, struct ientry *o)
{
	uint64_t v;
	size_t k;
	if (!(k = varint_get(e, end, &v)) || v > QF_MAX_KEY)
		return 0;
	e += k;
	if ((uint64_t)(end - e) < v)
		return 0;
	o->key = e;
	o->klen = (uint32_t)v;
	e += v;
	if (!(k = varint_get(e, end, &o->child_off)))
		return 0;
	e += k;
	if (!(k = varint_get(e, end, &v)) || v > QF_NODE_MAX)
		return 0;
	e += k;
	o->child_size = (uint32_t)v;
	if (!(k = varint_get(e, end, &o->count)))
		return 0;
	e += k;
	if (!(k = varint_get(e, end, &o->bytes)))
		return 0;
	e += k;
	return e == end;
}

int node_verify(const uint8_t *n, uint32_t size, uint64_t off, int tree,
		int level)
{
	struct qblock b;
	const char *why = NULL;
	if (size < QF_BLOCK_HDR)
		return qerr(QUIRE_ECORRUPT, "node at offset %llu: too small",
			    (unsigned long long)off);
	qblock_get(n, &b);
	if (b.type != QB_NODE || b.size != size)
		why = "not a node of the expected size";
	else if (!qblock_crc_ok(n, size, off))
		why = "checksum mismatch";
	else if (b.b5 != tree || (level >= 0 && b.b6 != level) || b.b7 != 0)
		why = "wrong tree or level";
	else if (b.aux == 0 || b.aux > 0xffff ||
		 QF_BLOCK_HDR + 2 * (uint64_t)b.aux > size)
		why = "bad entry count";
	if (why)
		goto bad;

	unsigned count = b.aux;
	uint32_t prev_end = QF_BLOCK_HDR + 2 * count;
	const uint8_t *pkey = NULL;
	uint32_t pklen = 0;
	for (unsigned i = 0; i < count; i++) {
		uint32_t s = ld16(n + 16 + 2 * i);
		uint32_t e = i + 1 < count ? ld16(n + 16 + 2 * (i + 1)) : size;
		if (s != prev_end || e <= s || e > size) {
			why = "entry offsets out of order";
			goto bad;
		}
		prev_end = e;
		const uint8_t *key;
		uint32_t klen;
		if (b.b6 == 0) {
			struct lentry le;
			if (!lentry_parse(n + s, n + e, &le)) {
				why = "malformed leaf entry";
				goto bad;
			}
			if (le.ool && (le.ool_off < QF_SUPER_SIZE ||
				       le.ool_off + QF_BLOCK_HDR + le.vlen > off)) {
				why = "value reference out of bounds";
				goto bad;
			}
			key = le.key;
			klen = le.klen;
		} else {
			struct ientry ie;
			if (!ientry_parse(n + s, n + e, &ie)) {
				why = "malformed internal entry";
				goto bad;
			}
			if (ie.child_off < QF_SUPER_SIZE ||
			    ie.child_off + ie.child_size > off ||
			    ie.child_size < QF_BLOCK_HDR || ie.count == 0 ||
			    ie.bytes < ie.child_size) {
				why = "child reference out of bounds";
				goto bad;
			}
			key = ie.key;
			klen = ie.klen;
		}
		if (i > 0 && key_cmp(pkey, pklen, key, klen) >= 0) {
			why = "keys out of order";
			goto bad;
		}
		pkey = key;
		pklen = klen;
	}
	return 0;
bad:
	return qerr(QUIRE_ECORRUPT, "node at offset %llu: %s",
		    (unsigned long long)off, why);
}

/* A varint of a verified node: it is there and well formed. */
static inline const uint8_t *vget(const uint8_t *p, uint64_t *v)
{
	if (QLIKELY(p[0] < 0x80)) {
		*v = p[0];
		return p + 1;
	}
	*v = 0;
	return p + varint_get(p, p + VARINT_MAX, v);
}

/* The node is verified, so the entry parses: decode it without bounds
 * checks (every scan decodes every entry). */
void node_leaf_entry_at(const uint8_t *n, unsigned at, struct lentry *e)
{
	const uint8_t *p = n + at;
	uint64_t v = 0;
	p = vget(p, &v);
	e->key = p;
	e->klen = (uint32_t)v;
	p = vget(p + v, &e->meta);
	p = vget(p, &v);
	e->vlen = (uint32_t)(v >> 1);
	e->ool = (int)(v & 1);
	if (e->ool) {
		vget(p, &e->ool_off);
		e->val = NULL;
	} else {
		e->val = p;
		e->ool_off = 0;
	}
}

void node_int_entry_at(const uint8_t *n, unsigned at, struct ientry *e)
{
	ientry_parse(n + at, n + node_size(n), e);
}

void node_leaf_entry(const uint8_t *n, unsigned i, struct lentry *e)
{
	node_leaf_entry_at(n, node_entry_at(n, i), e);
}

void node_int_entry(const uint8_t *n, unsigned i, struct ientry *e)
{
	node_int_entry_at(n, node_entry_at(n, i), e);
}

#define PREFETCH_DEPTH 5 /* why: node.h, node_prefetch_search */

static void prefetch_steps(const uint8_t *n, unsigned lo, unsigned hi,
			   int depth)
{
	if (lo >= hi || depth == 0)
		return;
	unsigned mid = (lo + hi) / 2;
	__builtin_prefetch(n + node_entry_at(n, mid));
	prefetch_steps(n, lo, mid, depth - 1);
	prefetch_steps(n, mid + 1, hi, depth - 1);
}

void node_prefetch_search(const uint8_t *n)
{
	prefetch_steps(n, 0, node_count(n), PREFETCH_DEPTH);
}

unsigned node_lower_bound(const uint8_t *n, const void *key, size_t klen,
			  int *exact)
{
	return node_lower_bound_from(n, 0, key, klen, exact);
}

unsigned node_lower_bound_from(const uint8_t *n, unsigned from,
			       const void *key, size_t klen, int *exact)
{
	unsigned lo = from, hi = node_count(n);
	*exact = 0;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		uint32_t ml;
		const uint8_t *mk = node_key(n, mid, &ml);
		int c = key_cmp(mk, ml, key, klen);
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
			if (c == 0)
				*exact = 1;
		}
	}
	return lo;
}

unsigned node_child_for(const uint8_t *n, const void *key, size_t klen)
{
	/* last entry whose key is <= key; the first child also takes keys
	 * below its stored minimum */
	unsigned lo = 0, hi = node_count(n);
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		uint32_t ml;
		const uint8_t *mk = node_key(n, mid, &ml);
		if (key_cmp(mk, ml, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

size_t leaf_entry_size(size_t klen, uint64_t meta, size_t vlen, int ool,
		       uint64_t ool_off)
{
	return varint_len(klen) + klen + varint_len(meta) +
	       varint_len(((uint64_t)vlen << 1) | (ool ? 1 : 0)) +
	       (ool ? varint_len(ool_off) : vlen);
}

size_t leaf_entry_put(uint8_t *d, const void *key, size_t klen, uint64_t meta,
		      const void *val, size_t vlen, int ool, uint64_t ool_off)
{
	size_t n = varint_put(d, klen);
	if (klen)
		memcpy(d + n, key, klen);
	n += klen;
	n += varint_put(d + n, meta);
	n += varint_put(d + n, ((uint64_t)vlen << 1) | (ool ? 1 : 0));
	if (ool) {
		n += varint_put(d + n, ool_off);
	} else {
		if (vlen)
			memcpy(d + n, val, vlen);
		n += vlen;
	}
	return n;
}

size_t int_entry_size(size_t klen, uint64_t child_off, uint32_t child_size,
		      uint64_t count, uint64_t bytes)
{
	return varint_len(klen) + klen + varint_len(child_off) +
	       varint_len(child_size) + varint_len(count) + varint_len(bytes);
}

size_t int_entry_put(uint8_t *d, const struct ientry *e)
{
	size_t n = varint_put(d, e->klen);
	if (e->klen)
		memcpy(d + n, e->key, e->klen);
	n += e->klen;
	n += varint_put(d + n, e->child_off);
	n += varint_put(d + n, e->child_size);
	n += varint_put(d + n, e->count);
	n += varint_put(d + n, e->bytes);
	return n;
}

void node_header(uint8_t *d, int tree, unsigned level, unsigned count,
		 uint32_t size)
{
	struct qblock b = {.type = QB_NODE,
			   .b5 = (uint8_t)tree,
			   .b6 = (uint8_t)level,
			   .size = size,
			   .aux = count};
	qblock_put(d, &b);
}
