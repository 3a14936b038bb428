/*
 * crc32c.c - CRC-32C with hardware acceleration.
 *
 * The dispatch is resolved on the first call and cached in a function
 * pointer; a race between two first callers is harmless because both store
 * the same value.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>

#include "crc32c.h"
#include "util.h"

#define POLY 0x82f63b78u /* reversed Castagnoli polynomial */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	pthread_once(&table_once, table_init);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) { /* slicing-by-8 */
		uint64_t w = ld64(p) ^ crc;
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		      table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		      table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		      table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

/*
 * The crc32 instruction has a latency of three cycles but a throughput of
 * one, so three independent streams run three times as fast as one. Each
 * stream covers STRIDE bytes; the first two results are then moved forward
 * over the bytes that follow them ("multiplied by x^(8n)") with tables, as in
 * Mark Adler's crc32c.c, and folded into the third.
 */
#define STRIDE 256
/* A long buffer is often read from memory (a value block verified at its
 * first read from the mapping) and the hardware prefetchers stop at every
 * page boundary: the loop asks for the bytes a page ahead itself (a
 * quarter faster from memory; nothing lost on bytes in cache, where the
 * crc32 instructions set the pace). */
#define AHEAD 4096

static uint32_t shift_tab[4][256]; /* multiply by x^(8 * 2 * STRIDE) */
static uint32_t shift1_tab[4][256]; /* multiply by x^(8 * STRIDE) */
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* a(x) * b(x) mod P(x), bit-reflected */
static uint32_t gf2_mul(uint32_t a, uint32_t b)
{
	uint32_t prod = 0;
	for (int i = 0; i < 32; i++) {
		if (a & 0x80000000u)
			prod ^= b;
		a <<= 1;
		b = (b >> 1) ^ (POLY & (0u - (b & 1)));
	}
	return prod;
}

/* x^(8n) mod P, reflected */
static uint32_t x8n(size_t n)
{
	uint32_t r = 0x80000000u, sq = 0x00800000u; /* x^0, x^8 */
	for (; n; n >>= 1) {
		if (n & 1)
			r = gf2_mul(sq, r);
		sq = gf2_mul(sq, sq);
	}
	return r;
}

static void shift_init(void)
{
	uint32_t m2 = x8n(2 * STRIDE), m1 = x8n(STRIDE);
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 0; k < 4; k++) {
			shift_tab[k][i] = gf2_mul(m2, i << (8 * k));
			shift1_tab[k][i] = gf2_mul(m1, i << (8 * k));
		}
}

static inline uint32_t shift(uint32_t (*t)[256], uint32_t c)
{
	return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^
	       t[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc,
							     const void *buf,
							     size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	if (len >= 3 * STRIDE) {
		pthread_once(&shift_once, shift_init);
		do {
			uint64_t c1 = 0, c2 = 0;
			if (len >= 3 * STRIDE + AHEAD)
				for (size_t i = 0; i < 3 * STRIDE; i += 64)
					__builtin_prefetch(p + AHEAD + i);
			for (size_t i = 0; i < STRIDE; i += 8) {
				uint64_t a, b, d;
				memcpy(&a, p + i, 8);
				memcpy(&b, p + STRIDE + i, 8);
				memcpy(&d, p + 2 * STRIDE + i, 8);
				c = _mm_crc32_u64(c, a);
				c1 = _mm_crc32_u64(c1, b);
				c2 = _mm_crc32_u64(c2, d);
			}
			c = shift(shift_tab, (uint32_t)c) ^
			    shift(shift1_tab, (uint32_t)c1) ^ c2;
			p += 3 * STRIDE;
			len -= 3 * STRIDE;
		} while (len >= 3 * STRIDE);
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static _Atomic(crc_fn) impl;

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc_fn f = atomic_load_explicit(&impl, memory_order_relaxed);
	if (QUNLIKELY(!f)) {
		__builtin_cpu_init();
		f = __builtin_cpu_supports("sse4.2") ? crc32c_hw : crc32c_sw;
		atomic_store_explicit(&impl, f, memory_order_relaxed);
	}
	return f(crc, buf, len);
}
#else
uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_sw(crc, buf, len);
}
#endif
