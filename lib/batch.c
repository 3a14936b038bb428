/*
 * batch.c - encode and verify batch blocks (layout in docs/FORMAT.md).
 *
 *   block header (16)        aux = index entries
 *   16  u64 prev_off         24  u32 prev_size     28  u32 records
 *   32  u64 txn              40  u64 first_seq     48  u64 time_ns
 *   56  index: per key, u32 record offset + u32 record number
 *   records: u8 op, varint klen, key, varint prev_seq, and for a put:
 *            varint vh, then the value bytes or the varint offset of its
 *            value block
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "format.h"
#include "util.h"

static size_t rec_size(const struct wop *o, uint64_t prev)
{
	size_t n = 1 + varint_len(o->n->klen) + o->n->klen + varint_len(prev);
	if (o->op == WOP_PUT)
		n += varint_len(((uint64_t)o->v.len << 1) | (o->v.ool ? 1 : 0)) +
		     (o->v.ool ? varint_len(o->v.ool_off) : o->v.len);
	return n;
}

int batch_encode(const struct wbuf *wb, const struct batch_info *bi,
		 const uint64_t *prev, uint8_t **out, uint32_t *size)
{
	uint64_t total = BATCH_FIXED + 8 * (uint64_t)wb->nkeys;
	for (size_t i = 0; i < wb->nops; i++)
		total += rec_size(&wb->ops[i], prev[i]);
	if (total > 0xffffffffu - QF_BLOCK_HDR)
		return qerr(QUIRE_ETOOBIG, "transaction too large for one "
					   "batch block");
	uint8_t *b = malloc(total);
	uint32_t *roff = malloc((wb->nops ? wb->nops : 1) * sizeof *roff);
	if (!b || !roff) {
		free(b);
		free(roff);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	struct qblock h = {.type = QB_BATCH,
			   .size = (uint32_t)total,
			   .aux = (uint32_t)wb->nkeys};
	qblock_put(b, &h);
	st64(b + 16, bi->prev_off);
	st32(b + 24, bi->prev_size);
	st32(b + 28, (uint32_t)wb->nops);
	st64(b + 32, bi->txn);
	st64(b + 40, bi->first_seq);
	st64(b + 48, bi->time_ns);
	size_t pos = BATCH_FIXED + 8 * wb->nkeys;
	for (size_t i = 0; i < wb->nops; i++) {
		const struct wop *o = &wb->ops[i];
		roff[i] = (uint32_t)pos;
		b[pos++] = o->op;
		pos += varint_put(b + pos, o->n->klen);
		if (o->n->klen)
			memcpy(b + pos, o->n->key, o->n->klen);
		pos += o->n->klen;
		pos += varint_put(b + pos, prev[i]);
		if (o->op != WOP_PUT)
			continue;
		pos += varint_put(b + pos, ((uint64_t)o->v.len << 1) |
						   (o->v.ool ? 1 : 0));
		if (o->v.ool) {
			pos += varint_put(b + pos, o->v.ool_off);
		} else {
			if (o->v.len)
				memcpy(b + pos, o->v.data, o->v.len);
			pos += o->v.len;
		}
	}
	size_t k = 0;
	for (const struct wnode *n = wb->head->next[0]; n; n = n->next[0], k++) {
		st32(b + BATCH_FIXED + 8 * k, roff[n->last]);
		st32(b + BATCH_FIXED + 8 * k + 4, n->last);
	}
	free(roff);
	qblock_seal(b, (uint32_t)total, bi->off);
	*out = b;
	*size = (uint32_t)total;
	return 0;
}

/* Parse the record at b + pos (block of size bytes); returns the position
 * after it, or 0 if it does not parse. */
static uint32_t parse_rec(const uint8_t *b, uint32_t size, uint32_t pos,
			  struct brec *r)
{
	const uint8_t *p = b + pos, *end = b + size;
	uint64_t v;
	size_t k;
	if (p >= end)
		return 0;
	r->op = *p++;
	if (r->op != WOP_PUT && r->op != WOP_DEL)
		return 0;
	if (!(k = varint_get(p, end, &v)) || v > QF_MAX_KEY)
		return 0;
	p += k;
	if ((uint64_t)(end - p) < v)
		return 0;
	r->key = p;
	r->klen = (uint32_t)v;
	p += v;
	if (!(k = varint_get(p, end, &r->prev_seq)))
		return 0;
	p += k;
	r->v = (struct wval){0};
	if (r->op == WOP_PUT) {
		if (!(k = varint_get(p, end, &v)) ||
		    (v >> 1) > QUIRE_MAX_VALUE_SIZE)
			return 0;
		p += k;
		r->v.len = (uint32_t)(v >> 1);
		r->v.ool = (int)(v & 1);
		if (r->v.ool) {
			if (!(k = varint_get(p, end, &r->v.ool_off)))
				return 0;
			p += k;
		} else {
			if ((uint64_t)(end - p) < r->v.len)
				return 0;
			r->v.data = p;
			p += r->v.len;
		}
	}
	return (uint32_t)(p - b);
}

static void info_of(const uint8_t *b, struct batch_info *bi)
{
	bi->size = ld32(b + 8);
	bi->nkeys = ld32(b + 12);
	bi->prev_off = ld64(b + 16);
	bi->prev_size = ld32(b + 24);
	bi->nops = ld32(b + 28);
	bi->txn = ld64(b + 32);
	bi->first_seq = ld64(b + 40);
	bi->time_ns = ld64(b + 48);
}

int batch_verify(const uint8_t *b, uint32_t size, uint64_t off,
		 struct batch_info *bi)
{
	const char *why = NULL;
	/* each record's offset and key, so the index check below compares
	 * keys without parsing the records a second time */
	struct {
		uint32_t rec, key, klen;
	} *recs = NULL;
	if (size < BATCH_FIXED || b[4] != QB_BATCH || ld32(b + 8) != size ||
	    b[5] || b[6] || b[7])
		why = "not a batch block of the expected size";
	else if (!qblock_crc_ok(b, size, off))
		why = "checksum mismatch";
	if (why)
		goto bad;
	info_of(b, bi);
	bi->off = off;
	if (bi->nkeys > bi->nops ||
	    BATCH_FIXED + 8 * (uint64_t)bi->nkeys > size ||
	    bi->nops > size || (bi->prev_off && bi->prev_off + bi->prev_size > off)) {
		why = "bad counts or chain";
		goto bad;
	}
	if (!(recs = malloc((bi->nops ? bi->nops : 1) * sizeof *recs)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	uint32_t pos = BATCH_FIXED + 8 * bi->nkeys;
	bi->xbytes = 0;
	for (uint32_t i = 0; i < bi->nops; i++) {
		struct brec r;
		recs[i].rec = pos;
		if (!(pos = parse_rec(b, size, pos, &r)) ||
		    (r.v.ool && r.v.ool_off + QF_BLOCK_HDR + r.v.len > off) ||
		    r.prev_seq >= bi->first_seq + i) {
			why = "malformed record";
			goto bad;
		}
		if (r.v.ool)
			bi->xbytes += QF_BLOCK_HDR + (uint64_t)r.v.len;
		recs[i].key = (uint32_t)(r.key - b);
		recs[i].klen = r.klen;
	}
	if (pos != size) {
		why = "records do not fill the block";
		goto bad;
	}
	const uint8_t *pk = NULL;
	uint32_t pkl = 0;
	for (uint32_t i = 0; i < bi->nkeys; i++) {
		uint32_t ro = ld32(b + BATCH_FIXED + 8 * i),
			 rn = ld32(b + BATCH_FIXED + 8 * i + 4);
		if (rn >= bi->nops || recs[rn].rec != ro) {
			why = "index names no record";
			goto bad;
		}
		const uint8_t *k = b + recs[rn].key;
		if (i && key_cmp(pk, pkl, k, recs[rn].klen) >= 0) {
			why = "index out of order";
			goto bad;
		}
		pk = k;
		pkl = recs[rn].klen;
	}
	free(recs);
	return 0;
bad:
	free(recs);
	return qerr(QUIRE_ECORRUPT, "batch at offset %llu: %s",
		    (unsigned long long)off, why);
}

void batch_key(const uint8_t *b, const struct batch_info *bi, unsigned i,
	       struct brec *r)
{
	uint32_t ro = ld32(b + BATCH_FIXED + 8 * i);
	parse_rec(b, bi->size, ro, r);
	r->seq = bi->first_seq + ld32(b + BATCH_FIXED + 8 * i + 4);
}

void batch_record(const uint8_t *b, const struct batch_info *bi, uint64_t seq,
		  struct brec *r)
{
	struct batch_iter it = {0};
	while (batch_next(b, bi, &it, r) && r->seq < seq)
		;
}

int batch_next(const uint8_t *b, const struct batch_info *bi,
	       struct batch_iter *it, struct brec *r)
{
	if (it->i >= bi->nops)
		return 0;
	if (!it->pos)
		it->pos = BATCH_FIXED + 8 * bi->nkeys;
	it->pos = parse_rec(b, bi->size, it->pos, r);
	r->seq = bi->first_seq + it->i++;
	return 1;
}
