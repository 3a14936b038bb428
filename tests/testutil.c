/*
 * testutil.c - scratch paths, random numbers, the reference model.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format.h"
#include "node.h"
#include "testutil.h"

uint8_t *tu_node(int level, const uint8_t *ents, const size_t *lens,
		 unsigned n, uint32_t *size)
{
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += lens[i];
	*size = (uint32_t)node_bytes(n, total);
	uint8_t *node = malloc(*size);
	assert_non_null(node);
	node_header(node, QT_KEYS, (unsigned)level, n, *size);
	uint32_t pos = QF_BLOCK_HDR + 2 * n;
	for (unsigned i = 0; i < n; i++) {
		st16(node + QF_BLOCK_HDR + 2 * i, (uint16_t)pos);
		memcpy(node + pos, ents, lens[i]);
		ents += lens[i];
		pos += (uint32_t)lens[i];
	}
	qblock_seal(node, *size, TU_NODE_OFF);
	return node;
}

void *tu_push(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : first;
	arr = realloc(arr, *cap * size);
	assert_non_null(arr);
	return arr;
}

char *tu_pathcat(char *dst, size_t n, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + lb + 1 > n)
		fail_msg("path too long: %s%s", a, b);
	memcpy(dst, a, la);
	memcpy(dst + la, b, lb + 1);
	return dst;
}

const char *tu_path(const char *name)
{
	static char buf[4096];
	const char *dir = getenv("QUIRE_TEST_DIR");
	snprintf(buf, sizeof buf, "%s/%s-%ld.quire", dir && *dir ? dir : "/tmp",
		 name, (long)getpid());
	unlink(buf);
	return buf;
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t tu_below(uint64_t *s, uint64_t n)
{
	return n ? tu_rand(s) % n : 0;
}

uint64_t tu_seed(uint64_t def)
{
	const char *e = getenv("QUIRE_SEED");
	return e && *e ? strtoull(e, NULL, 0) : def;
}

static int cmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : (al > bl) - (al < bl);
}

size_t model_lower(const struct model *m, const void *k, size_t kl)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp(m->v[mid].key, m->v[mid].klen, k, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int tu_same(const void *a, size_t al, const void *b, size_t bl)
{
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

uint8_t *tu_dup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

void model_put(struct model *m, const void *k, size_t kl, const void *v,
	       size_t vl)
{
	size_t i = model_lower(m, k, kl);
	if (i < m->n && cmp(m->v[i].key, m->v[i].klen, k, kl) == 0) {
		free(m->v[i].val);
		m->v[i].val = tu_dup(v, vl);
		m->v[i].vlen = vl;
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = realloc(m->v, m->cap * sizeof *m->v);
		assert_non_null(m->v);
	}
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof *m->v);
	m->v[i] = (struct model_ent){tu_dup(k, kl), tu_dup(v, vl), kl, vl};
	m->n++;
}

int model_del(struct model *m, const void *k, size_t kl)
{
	size_t i = model_lower(m, k, kl);
	if (i == m->n || cmp(m->v[i].key, m->v[i].klen, k, kl) != 0)
		return 0;
	free(m->v[i].key);
	free(m->v[i].val);
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
	m->n--;
	return 1;
}

const struct model_ent *model_get(const struct model *m, const void *k,
				  size_t kl)
{
	size_t i = model_lower(m, k, kl);
	if (i < m->n && cmp(m->v[i].key, m->v[i].klen, k, kl) == 0)
		return &m->v[i];
	return NULL;
}

void model_clear(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].val);
	}
	free(m->v);
	*m = (struct model){0};
}

void model_copy(struct model *dst, const struct model *src)
{
	model_clear(dst);
	dst->cap = dst->n = src->n;
	dst->v = malloc((src->n ? src->n : 1) * sizeof *dst->v);
	assert_non_null(dst->v);
	for (size_t i = 0; i < src->n; i++)
		dst->v[i] = (struct model_ent){
			tu_dup(src->v[i].key, src->v[i].klen),
			tu_dup(src->v[i].val, src->v[i].vlen), src->v[i].klen,
			src->v[i].vlen};
}

static void same(const struct model_ent *e, quire_val k, quire_val v,
		 size_t i)
{
	if (cmp(e->key, e->klen, k.data, k.size) != 0)
		fail_msg("entry %zu: key differs from the model", i);
	if (cmp(e->val, e->vlen, v.data, v.size) != 0)
		fail_msg("entry %zu: value differs from the model (%zu vs %zu "
			 "bytes)",
			 i, v.size, e->vlen);
}

void model_check_txn(const struct model *m, quire_txn *txn)
{
	quire_cursor *c;
	quire_val k, v;
	size_t i = 0;
	int r;
	QOK(quire_cursor_open(txn, &c));
	for (r = quire_cursor_first(c); r == 0; r = quire_cursor_next(c), i++) {
		if (i >= m->n)
			fail_msg("database has more keys than the model (%zu)",
				 m->n);
		QOK(quire_cursor_key(c, &k));
		QOK(quire_cursor_value(c, &v));
		same(&m->v[i], k, v, i);
	}
	if (r != QUIRE_NOTFOUND)
		fail_msg("forward scan: %s (%s)", quire_strerror(r),
			 quire_errmsg());
	if (i != m->n)
		fail_msg("database has %zu keys, the model %zu", i, m->n);
	for (r = quire_cursor_last(c); r == 0; r = quire_cursor_prev(c)) {
		if (i == 0)
			fail_msg("backward scan: more keys than the model");
		i--;
		QOK(quire_cursor_key(c, &k));
		QOK(quire_cursor_value(c, &v));
		same(&m->v[i], k, v, i);
	}
	if (r != QUIRE_NOTFOUND || i != 0)
		fail_msg("backward scan ended early at %zu: %s", i,
			 quire_strerror(r));
	quire_cursor_close(c);
	for (i = 0; i < m->n; i++) {
		QOK(quire_get(txn, m->v[i].key, m->v[i].klen, &v));
		if (cmp(m->v[i].val, m->v[i].vlen, v.data, v.size) != 0)
			fail_msg("get of entry %zu differs from the model", i);
	}
}

int tu_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	return cmp(a, al, b, bl);
}

int tu_has_prefix(const void *k, size_t kl, const void *p, size_t pl)
{
	return kl >= pl && (pl == 0 || memcmp(k, p, pl) == 0);
}

int tu_prefix_end(const void *p, size_t pl, uint8_t *end, size_t *el)
{
	const uint8_t *b = p;
	while (pl && b[pl - 1] == 0xff)
		pl--;
	*el = 0;
	if (!pl)
		return 0;
	memcpy(end, b, pl);
	end[pl - 1]++;
	*el = pl;
	return 1;
}

/* Remove entries [lo, hi) of m. */
static void model_cut(struct model *m, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++) {
		free(m->v[i].key);
		free(m->v[i].val);
	}
	memmove(&m->v[lo], &m->v[hi], (m->n - hi) * sizeof *m->v);
	m->n -= hi - lo;
}

size_t model_del_range(struct model *m, const void *from, size_t fl,
		       const void *to, size_t tl)
{
	size_t lo = from ? model_lower(m, from, fl) : 0;
	size_t hi = to ? model_lower(m, to, tl) : m->n;
	if (hi <= lo)
		return 0;
	model_cut(m, lo, hi);
	return hi - lo;
}

size_t model_del_prefix(struct model *m, const void *p, size_t pl)
{
	size_t lo = model_lower(m, p, pl), hi = lo;
	while (hi < m->n && tu_has_prefix(m->v[hi].key, m->v[hi].klen, p, pl))
		hi++;
	model_cut(m, lo, hi);
	return hi - lo;
}

size_t model_check_diff(const struct model *a, const struct model *b,
			quire_diff *d)
{
	size_t i = 0, j = 0, n = 0;
	quire_delta dl;
	int r;
	for (;;) {
		const struct model_ent *ea = NULL, *eb = NULL;
		while (i < a->n || j < b->n) {
			int c = i == a->n   ? 1
				: j == b->n ? -1
					    : cmp(a->v[i].key, a->v[i].klen,
						  b->v[j].key, b->v[j].klen);
			ea = c <= 0 ? &a->v[i++] : NULL;
			eb = c >= 0 ? &b->v[j++] : NULL;
			if (!ea || !eb ||
			    cmp(ea->val, ea->vlen, eb->val, eb->vlen) != 0)
				break;
			ea = eb = NULL;
		}
		r = quire_diff_next(d, &dl);
		if (!ea && !eb) {
			if (r != QUIRE_NOTFOUND)
				fail_msg("diff: %d (%s) after the %zu keys the "
					 "models differ in",
					 r, quire_strerror(r), n);
			return n;
		}
		const struct model_ent *e = ea ? ea : eb;
		if (r != 0)
			fail_msg("diff: %d (%s) at difference %zu (a key of "
				 "%zu bytes)",
				 r, quire_strerror(r), n, e->klen);
		if (cmp(dl.key.data, dl.key.size, e->key, e->klen) != 0)
			fail_msg("diff: difference %zu at a key of %zu bytes, "
				 "the models at one of %zu",
				 n, dl.key.size, e->klen);
		if (dl.in_a != !!ea || dl.in_b != !!eb)
			fail_msg("diff: difference %zu: in_a %d in_b %d, the "
				 "models %d %d",
				 n, dl.in_a, dl.in_b, !!ea, !!eb);
		if (ea && cmp(dl.a.data, dl.a.size, ea->val, ea->vlen) != 0)
			fail_msg("diff: difference %zu: value in a differs", n);
		if (eb && cmp(dl.b.data, dl.b.size, eb->val, eb->vlen) != 0)
			fail_msg("diff: difference %zu: value in b differs", n);
		n++;
	}
}

void tu_put1(quire *db, const char *k, const char *v)
{
	quire_txn *t;
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, k, strlen(k), v, strlen(v)));
	QOK(quire_commit(t));
}

void tu_expect(quire *db, const char *k, const char *v)
{
	quire_txn *t;
	quire_val val;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	int e = quire_get(t, k, strlen(k), &val);
	if (e)
		fail_msg("get %s: %s (%s)", k, quire_strerror(e),
			 quire_errmsg());
	if (!tu_same(val.data, val.size, v, strlen(v)))
		fail_msg("get %s: \"%.*s\", want \"%s\"", k, (int)val.size,
			 (const char *)val.data, v);
	quire_abort(t);
}
