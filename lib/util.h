/*
 * util.h - small inline helpers shared by every module: little-endian loads
 * and stores (the file format is little-endian whatever the host), LEB128
 * varints, and key comparison.
 */
#ifndef QUIRE_UTIL_H
#define QUIRE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define QMIN(a, b) ((a) < (b) ? (a) : (b))
#define QMAX(a, b) ((a) > (b) ? (a) : (b))
#define QLIKELY(x) __builtin_expect(!!(x), 1)
#define QUNLIKELY(x) __builtin_expect(!!(x), 0)

static inline uint16_t ld16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t ld32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t ld64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void st16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void st32(void *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, 4);
}

static inline void st64(void *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

/* Big-endian 64-bit, used for sequence numbers stored as keys so that
 * memcmp order equals numeric order. */
static inline void st64be(void *p, uint64_t v)
{
	uint8_t *b = p;
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline uint64_t ld64be(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define VARINT_MAX 10

static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Decode a varint from [p, end). Returns bytes used, or 0 if it is truncated
 * or longer than 10 bytes: callers treat 0 as corruption. */
static inline size_t varint_get(const uint8_t *p, const uint8_t *end,
				uint64_t *out)
{
	if (QLIKELY(p < end && p[0] < 0x80)) { /* lengths and small numbers */
		*out = p[0];
		return 1;
	}
	/* two and three bytes (value sizes, sequence numbers) without the
	 * loop: verifying a node decodes those of every entry */
	if (QLIKELY(end - p >= 3)) {
		if (p[1] < 0x80) {
			*out = (p[0] & 0x7fu) | (uint64_t)p[1] << 7;
			return 2;
		}
		if (p[2] < 0x80) {
			*out = (p[0] & 0x7fu) | (uint64_t)(p[1] & 0x7f) << 7 |
			       (uint64_t)p[2] << 14;
			return 3;
		}
	}
	uint64_t v = 0;
	unsigned shift = 0;
	size_t n = 0;
	while (p + n < end && n < VARINT_MAX) {
		uint8_t b = p[n++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return n;
		}
		shift += 7;
	}
	return 0;
}

/* The one key order of quire: bytewise, a prefix before its extensions. */
static inline int key_cmp(const void *a, size_t alen, const void *b,
			  size_t blen)
{
	/* eight bytes at a time as big-endian words: keys are short, and a
	 * call of memcmp per comparison showed in every scan and search */
	const uint8_t *p = a, *q = b;
	size_t n = QMIN(alen, blen);
	for (; n >= 8; n -= 8, p += 8, q += 8) {
		uint64_t x = ld64be(p), y = ld64be(q);
		if (x != y)
			return x < y ? -1 : 1;
	}
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return (alen > blen) - (alen < blen);
}

#endif
