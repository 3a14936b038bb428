/*
 * oplog.c - encode and parse operation records (layout in oplog.h).
 */
#include "config.h"

#include <string.h>

#include "format.h"
#include "oplog.h"
#include "quire.h"
#include "util.h"

size_t oprec_size(const struct oprec *r)
{
	size_t n = 1 + varint_len(r->prev_seq);
	if (r->kind == OP_PUTREF)
		return n + varint_len(r->leaf_off) + varint_len(r->leaf_size) +
		       varint_len(r->slot);
	n += varint_len(r->klen) + r->klen;
	if (r->kind == OP_RANGE)
		return n + varint_len(r->to_last ? 0 : (uint64_t)r->elen + 1) +
		       (r->to_last ? 0 : r->elen) + varint_len(r->count);
	if (r->kind == OP_PUT)
		n += varint_len(((uint64_t)r->vlen << 1) | (r->ool ? 1 : 0)) +
		     (r->ool ? varint_len(r->ool_off) : r->vlen);
	return n;
}

size_t oprec_put(uint8_t *d, const struct oprec *r)
{
	size_t n = 1;
	d[0] = (uint8_t)r->kind;
	n += varint_put(d + n, r->prev_seq);
	if (r->kind == OP_PUTREF) {
		n += varint_put(d + n, r->leaf_off);
		n += varint_put(d + n, r->leaf_size);
		n += varint_put(d + n, r->slot);
		return n;
	}
	n += varint_put(d + n, r->klen);
	if (r->klen)
		memcpy(d + n, r->key, r->klen);
	n += r->klen;
	if (r->kind == OP_RANGE) {
		n += varint_put(d + n, r->to_last ? 0 : (uint64_t)r->elen + 1);
		if (!r->to_last && r->elen)
			memcpy(d + n, r->end, r->elen);
		n += r->to_last ? 0 : r->elen;
		n += varint_put(d + n, r->count);
	} else if (r->kind == OP_PUT) {
		n += varint_put(d + n,
				((uint64_t)r->vlen << 1) | (r->ool ? 1 : 0));
		if (r->ool) {
			n += varint_put(d + n, r->ool_off);
		} else {
			if (r->vlen)
				memcpy(d + n, r->val, r->vlen);
			n += r->vlen;
		}
	}
	return n;
}

int oprec_parse(const uint8_t *p, size_t len, struct oprec *r)
{
	const uint8_t *end = p + len;
	uint64_t v;
	size_t k;
	if (!len)
		return -1;
	memset(r, 0, sizeof *r);
	r->kind = *p++;
	if (!(k = varint_get(p, end, &r->prev_seq)))
		return -1;
	p += k;
	if (r->kind == OP_PUTREF) {
		if (!(k = varint_get(p, end, &r->leaf_off)))
			return -1;
		p += k;
		if (!(k = varint_get(p, end, &v)) || v > QF_NODE_MAX)
			return -1;
		p += k;
		r->leaf_size = (uint32_t)v;
		if (!(k = varint_get(p, end, &v)) || v > 0xffff)
			return -1;
		p += k;
		r->slot = (uint32_t)v;
		return p == end ? 0 : -1;
	}
	if (r->kind != OP_DEL && r->kind != OP_PUT && r->kind != OP_RANGE)
		return -1;
	if (!(k = varint_get(p, end, &v)) || v > QF_MAX_KEY)
		return -1;
	p += k;
	if ((uint64_t)(end - p) < v)
		return -1;
	r->key = p;
	r->klen = (uint32_t)v;
	p += v;
	if (r->kind == OP_RANGE) {
		if (r->prev_seq || !(k = varint_get(p, end, &v)) ||
		    v > QF_MAX_KEY + 1)
			return -1;
		p += k;
		r->to_last = v == 0;
		r->elen = v ? (uint32_t)(v - 1) : 0;
		if ((uint64_t)(end - p) < r->elen)
			return -1;
		r->end = p;
		p += r->elen;
		if (!r->to_last &&
		    key_cmp(r->end, r->elen, r->key, r->klen) < 0)
			return -1;
		if (!(k = varint_get(p, end, &r->count)) || !r->count)
			return -1;
		p += k;
	} else if (r->kind == OP_PUT) {
		if (!(k = varint_get(p, end, &v)) ||
		    (v >> 1) > QUIRE_MAX_VALUE_SIZE)
			return -1;
		p += k;
		r->vlen = (uint32_t)(v >> 1);
		r->ool = (int)(v & 1);
		if (r->ool) {
			if (!(k = varint_get(p, end, &r->ool_off)))
				return -1;
			p += k;
		} else {
			if ((uint64_t)(end - p) < r->vlen)
				return -1;
			r->val = p;
			p += r->vlen;
		}
	}
	return p == end ? 0 : -1;
}
