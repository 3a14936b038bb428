/*
 * keyspace.c - named keyspaces: views, the catalog, create, rename, drop,
 * list and stat.
 *
 * A keyspace is a range of internal keys (kspace.h), so its data needs no
 * structure of its own; the catalog is two more ranges of the key tree,
 * name -> id and id -> name, written in the transaction that changes them
 * and so committed, checkpointed, compacted and read AS-OF with
 * everything else. Ids come from a counter in the catalog's meta record
 * and are never reused: a feed that names keyspace 7 means one keyspace
 * for the file's whole life.
 *
 * The first keyspace of a file turns the keyspace feature on. Its
 * transaction first moves every default key starting with 0xff to its
 * escaped internal key (delete the raw range, put them back), since from
 * then on raw keys of that range mean the catalog and named keyspaces; the
 * meta record keeps the sequence number where the new encoding starts, for
 * feeds that read older operations.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "error.h"
#include "keyspace.h"
#include "lookup.h"
#include "txn.h"

/* The meta record: the sequence numbers where the first keyspace's
 * escaping of default keys starts and ends (where internal keys start),
 * the next id to give. */
#define META_LEN 20

static int check_name(const void *name, size_t nlen, const char *fn)
{
	if (!name || !nlen || nlen > QUIRE_MAX_KEYSPACE_NAME)
		return qerr(QUIRE_EINVAL, "%s: a keyspace name is 1 to %d "
					  "bytes",
			    fn, QUIRE_MAX_KEYSPACE_NAME);
	return 0;
}

/* The catalog key of name: ff 01 name, in buf. */
static size_t name_key(uint8_t *buf, const void *name, size_t nlen)
{
	buf[0] = KS_TAG;
	buf[1] = KS_NAME;
	memcpy(buf + 2, name, nlen);
	return nlen + 2;
}

/* Look up internal key ik in txn and copy its value (at most cap bytes,
 * its length in *len). */
static int get_raw(quire_txn *txn, const uint8_t *ik, size_t il,
		   uint8_t *out, size_t cap, size_t *len)
{
	struct wval v;
	uint64_t seq;
	quire_val val;
	int e = txn_lookup(txn, ik, il, &v, &seq);
	if (!e)
		e = txn_value(txn, &v, &txn->vbufs, &val);
	if (e)
		return e;
	if (val.size > cap)
		return qerr(QUIRE_ECORRUPT, "%s: malformed keyspace catalog",
			    txn->db->path);
	memcpy(out, val.data, val.size);
	*len = val.size;
	return 0;
}

/* The id in catalog value v of vl bytes: 0, or QUIRE_ECORRUPT. */
static int catalog_id(quire_txn *txn, const uint8_t *v, size_t vl,
		      uint32_t *id)
{
	*id = vl != 4 ? 0
		      : (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
				(uint32_t)v[2] << 8 | v[3];
	if (!*id || *id > KS_ID_MAX)
		return qerr(QUIRE_ECORRUPT, "%s: malformed keyspace catalog",
			    txn->db->path);
	return 0;
}

/* The id of keyspace name in txn (no view): 0, QUIRE_NOTFOUND. */
static int find_id(quire_txn *txn, const void *name, size_t nlen,
		   uint32_t *id)
{
	uint8_t k[2 + QUIRE_MAX_KEYSPACE_NAME], v[4];
	size_t vl;
	if (!ks_escaped(txn))
		return QUIRE_NOTFOUND;
	int e = get_raw(txn, k, name_key(k, name, nlen), v, sizeof v, &vl);
	return e ? e : catalog_id(txn, v, vl, id);
}

/* The names of cat, after its entries. */
static const uint8_t *cat_names(const struct kscat *cat)
{
	return (const uint8_t *)&cat->e[cat->n];
}

/* Every name -> id record of the catalog txn sees, in name order, as one
 * block. */
static int build_catalog(quire_txn *txn, struct kscat **out)
{
	static const uint8_t first[3] = {KS_TAG, KS_NAME, 0};
	struct kspace raw = {0};
	struct kscat_ent *ents = NULL;
	uint8_t *names = NULL;
	size_t n = 0, cap = 0, bytes = 0, bcap = 0;
	quire_cursor *c;
	int e = cursor_open_ks(txn, &raw, &c);
	for (e = e ? e : quire_cursor_seek(c, first, 3); !e;
	     e = quire_cursor_next(c)) {
		quire_val k, v;
		uint32_t id;
		if ((e = quire_cursor_key(c, &k)) != 0)
			break;
		const uint8_t *p = k.data;
		if (k.size < 3 || p[0] != KS_TAG || p[1] != KS_NAME)
			break;
		if ((e = quire_cursor_value(c, &v)) != 0 ||
		    (e = catalog_id(txn, v.data, v.size, &id)) != 0)
			break;
		if (n == cap || bytes + k.size > bcap) {
			size_t nc = n == cap ? (cap ? cap * 2 : 16) : cap;
			size_t nb = bytes + k.size > bcap ? (bcap + k.size) * 2
							   : bcap;
			struct kscat_ent *ne = realloc(ents, nc * sizeof *ne);
			if (ne)
				ents = ne;
			uint8_t *nn = ne ? realloc(names, nb) : NULL;
			if (!nn) {
				e = qerr(QUIRE_ENOMEM, "out of memory");
				break;
			}
			names = nn;
			cap = nc;
			bcap = nb;
		}
		memcpy(names + bytes, p + 2, k.size - 2);
		ents[n++] = (struct kscat_ent){(uint32_t)bytes,
					       (uint32_t)(k.size - 2), id};
		bytes += k.size - 2;
	}
	quire_cursor_close(c);
	struct kscat *cat = NULL;
	if (e == QUIRE_NOTFOUND || !e) {
		e = 0;
		cat = malloc(sizeof *cat + n * sizeof *ents + bytes);
		if (!cat)
			e = qerr(QUIRE_ENOMEM, "out of memory");
	}
	if (cat) {
		atomic_init(&cat->refs, 1);
		cat->n = n;
		if (n)
			memcpy(cat->e, ents, n * sizeof *ents);
		if (bytes)
			memcpy(&cat->e[n], names, bytes);
	}
	free(ents);
	free(names);
	*out = cat;
	return e;
}

/* A snapshot without a catalog answers opens with a lookup in the key
 * tree, one for every CAT_OPENS_PER_BUILD keyspaces the file ever
 * numbered, before it builds one: the build reads every name, so those
 * opens pay for it. When the catalog changes every commit (or another
 * process commits), an open costs O(log n), never O(keyspaces). */
#define CAT_OPENS_PER_BUILD 8

/* The id of keyspace name in the catalog of txn's snapshot, which txn
 * left alone: one binary search once the snapshot has its catalog (shared
 * from the commit before, or built here once enough opens asked). */
static int find_in_snapshot(quire_txn *txn, const void *name, size_t nlen,
			    uint32_t *id)
{
	struct snap *s = txn->snap;
	struct kscat *cat = atomic_load(&s->cat), *none = NULL;
	int e;
	if (!cat) {
		uint32_t miss = atomic_fetch_add(&s->cat_misses, 1);
		if (!miss) {
			struct ks_meta m;
			if ((e = ks_meta(txn, &m)) != 0)
				return e;
			atomic_store(&s->cat_budget,
				     m.next_id / CAT_OPENS_PER_BUILD);
		}
		if (miss < atomic_load(&s->cat_budget))
			return find_id(txn, name, nlen, id);
		if ((e = build_catalog(txn, &cat)) != 0)
			return e;
		if (!atomic_compare_exchange_strong(&s->cat, &none, cat)) {
			free(cat); /* another thread's came first */
			cat = none;
		}
	}
	const uint8_t *names = cat_names(cat);
	size_t lo = 0, hi = cat->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct kscat_ent *m = &cat->e[mid];
		int c = key_cmp(names + m->off, m->len, name, nlen);
		if (!c) {
			*id = m->id;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return QUIRE_NOTFOUND;
}

int ks_meta(quire_txn *txn, struct ks_meta *m)
{
	static const uint8_t k[2] = {KS_TAG, KS_NAME};
	uint8_t v[META_LEN];
	size_t vl;
	int e = get_raw(txn, k, 2, v, sizeof v, &vl);
	if (e == QUIRE_NOTFOUND || (!e && vl != META_LEN))
		return qerr(QUIRE_ECORRUPT, "%s: the keyspace catalog has no "
					    "meta record",
			    txn->db->path);
	if (e)
		return e;
	m->conv_seq = ld64(v);
	m->flip_seq = ld64(v + 8);
	m->next_id = ld32(v + 16);
	if (m->conv_seq > m->flip_seq)
		return qerr(QUIRE_ECORRUPT, "%s: malformed keyspace catalog",
			    txn->db->path);
	return 0;
}

static int put_meta(quire_txn *txn, const struct ks_meta *m)
{
	static const uint8_t k[2] = {KS_TAG, KS_NAME};
	uint8_t v[META_LEN];
	st64(v, m->conv_seq);
	st64(v + 8, m->flip_seq);
	st32(v + 16, m->next_id);
	return txn_put_raw(txn, k, 2, v, sizeof v);
}

/* The catalog entries of keyspace id named name. */
static int put_names(quire_txn *txn, uint32_t id, const void *name,
		     size_t nlen)
{
	uint8_t k[2 + QUIRE_MAX_KEYSPACE_NAME], ik[KS_DATA_PFX];
	ks_put_id(ik, KS_ID, id); /* its last 4 bytes: the id, big-endian */
	int e = txn_put_raw(txn, k, name_key(k, name, nlen), ik + 2, 4);
	if (!e)
		e = txn_put_raw(txn, ik, KS_DATA_PFX, name, nlen);
	return e;
}

/* A default key the first keyspace escapes: its escaped key, value and
 * latest committed operation. */
struct moved {
	uint8_t *key, *val;
	size_t klen, vlen;
	uint64_t prev;
};

static void free_moved(struct moved *mv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(mv[i].key);
		free(mv[i].val);
	}
	free(mv);
}

/* Every default key of txn from 0xff on, escaped, in *out. */
static int collect(quire_txn *txn, struct moved **out, size_t *nout)
{
	static const uint8_t ff = KS_TAG;
	struct kspace raw = {0};
	struct moved *mv = NULL;
	size_t n = 0, cap = 0;
	quire_cursor *c = NULL;
	int live, e = cursor_open_ks(txn, &raw, &c);
	for (e = e ? e : quire_cursor_seek(c, &ff, 1); !e;
	     e = quire_cursor_next(c)) {
		quire_val k, v;
		if ((e = quire_cursor_key(c, &k)) != 0 ||
		    (e = quire_cursor_value(c, &v)) != 0)
			break;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct moved *m = realloc(mv, nc * sizeof *m);
			if (!m) {
				e = qerr(QUIRE_ENOMEM, "out of memory");
				break;
			}
			mv = m;
			cap = nc;
		}
		struct moved *m = &mv[n];
		m->key = malloc(k.size + 2);
		m->val = malloc(v.size ? v.size : 1);
		if (!m->key || !m->val) {
			free(m->key);
			free(m->val);
			e = qerr(QUIRE_ENOMEM, "out of memory");
			break;
		}
		n++;
		m->key[0] = KS_TAG;
		m->key[1] = KS_ESC;
		memcpy(m->key + 2, k.data, k.size);
		m->klen = k.size + 2;
		if (v.size)
			memcpy(m->val, v.data, v.size);
		m->vlen = v.size;
		if ((e = snap_latest_op(txn->snap, k.data, k.size, &m->prev,
					&live, NULL)) != 0)
			break;
	}
	quire_cursor_close(c);
	*out = mv;
	*nout = n;
	return e == QUIRE_NOTFOUND ? 0 : e;
}

/* Turn the keyspace feature on in txn: escape the default keys that
 * start with 0xff (delete the raw range, put them back escaped, each
 * continuing its raw key's chain of versions), start the catalog. */
static int turn_on(quire_txn *txn)
{
	static const uint8_t ff = KS_TAG;
	struct moved *mv;
	size_t n;
	struct ks_meta m = {txn->next_seq, 0, 1};
	struct wrange r = {.from = &ff, .flen = 1, .to_last = 1};
	int e = collect(txn, &mv, &n);
	if (!e && n)
		e = txn_del_range_raw(txn, &r, NULL);
	txn->features |= QF_FEAT_KEYSPACES;
	for (size_t i = 0; !e && i < n; i++) {
		struct wnode *w;
		if ((e = txn_put_raw(txn, mv[i].key, mv[i].klen, mv[i].val,
				     mv[i].vlen)) != 0)
			break;
		w = wbuf_find(txn->wb, mv[i].key, mv[i].klen);
		w->linked = 1;
		w->tseq = mv[i].prev;
	}
	free_moved(mv, n);
	m.flip_seq = txn->next_seq; /* the meta record's own */
	return e ? e : put_meta(txn, &m);
}

static int create(quire_txn *txn, const void *name, size_t nlen,
		  uint32_t *id)
{
	struct ks_meta m;
	int e = ks_escaped(txn) ? 0 : turn_on(txn);
	if (!e)
		e = ks_meta(txn, &m);
	if (!e && m.next_id > KS_ID_MAX)
		e = qerr(QUIRE_EINVAL, "quire_keyspace: no keyspace ids left");
	if (e)
		return e;
	*id = m.next_id++;
	if ((e = put_meta(txn, &m)) == 0)
		e = put_names(txn, *id, name, nlen);
	return e;
}

int quire_keyspace(quire_txn *txn, const void *name, size_t nlen,
		   unsigned int flags, quire_txn **out)
{
	static const char fn[] = "quire_keyspace";
	uint32_t id = 0;
	int e;
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, fn);
	if (!out || (flags & ~QUIRE_CREATE) || (!name && nlen))
		return qerr(QUIRE_EINVAL, "%s: bad arguments", fn);
	txn = ks_base(txn);
	if ((flags & QUIRE_CREATE) && !txn->write)
		return qerr(QUIRE_EINVAL, "%s: QUIRE_CREATE in a read-only "
					  "transaction",
			    fn);
	if (name) {
		if ((e = check_name(name, nlen, fn)) != 0)
			return e;
		e = !ks_escaped(txn) ? QUIRE_NOTFOUND
		    : txn->cat_dirty ? find_id(txn, name, nlen, &id)
				     : find_in_snapshot(txn, name, nlen, &id);
		if (e == QUIRE_NOTFOUND && (flags & QUIRE_CREATE)) {
			if (txn->err)
				return qerr(txn->err, "%s: an earlier operation "
						      "of this transaction "
						      "failed; abort it",
					    fn);
			e = create(txn, name, nlen, &id);
		}
		if (e)
			return e;
	}
	return txn_view(txn, id, out);
}

/* The base write transaction of txn for fn, and name's id in it. */
static int catalog_write(quire_txn **txn, const void *name, size_t nlen,
			 uint32_t *id, const char *fn)
{
	int e;
	if (!txn_usable(*txn))
		return txn_unusable(*txn, fn);
	*txn = ks_base(*txn);
	if ((e = check_name(name, nlen, fn)) != 0)
		return e;
	if (!(*txn)->write)
		return qerr(QUIRE_EINVAL, "%s: read-only transaction", fn);
	return find_id(*txn, name, nlen, id);
}

int quire_keyspace_rename(quire_txn *txn, const void *name, size_t nlen,
			  const void *newname, size_t newlen)
{
	static const char fn[] = "quire_keyspace_rename";
	uint8_t k[2 + QUIRE_MAX_KEYSPACE_NAME];
	uint32_t id, other;
	qerr_clear();
	int e = catalog_write(&txn, name, nlen, &id, fn);
	if (!e)
		e = check_name(newname, newlen, fn);
	if (e)
		return e;
	if ((e = find_id(txn, newname, newlen, &other)) == 0)
		return qerr(QUIRE_EEXIST, "%s: a keyspace of the new name "
					  "exists",
			    fn);
	if (e != QUIRE_NOTFOUND ||
	    (e = txn_del_raw(txn, k, name_key(k, name, nlen))) != 0)
		return e;
	return put_names(txn, id, newname, newlen);
}

int quire_keyspace_drop(quire_txn *txn, const void *name, size_t nlen,
			uint64_t *removed)
{
	static const char fn[] = "quire_keyspace_drop";
	uint8_t k[2 + QUIRE_MAX_KEYSPACE_NAME], lo[KS_DATA_PFX],
		hi[KS_DATA_PFX], ik[KS_DATA_PFX];
	size_t lol, hil;
	uint32_t id;
	qerr_clear();
	if (removed)
		*removed = 0;
	int e = catalog_write(&txn, name, nlen, &id, fn);
	if (e)
		return e;
	struct kspace ks = {id, 1, 1};
	ks_bounds(&ks, lo, &lol, hi, &hil);
	struct wrange r = {.from = lo, .flen = lol, .to = hi, .tlen = hil};
	ks_put_id(ik, KS_ID, id);
	if ((e = txn_del_range_raw(txn, &r, removed)) != 0 ||
	    (e = txn_del_raw(txn, k, name_key(k, name, nlen))) != 0 ||
	    (e = txn_del_raw(txn, ik, KS_DATA_PFX)) != 0)
		return e;
	txn_end_views(txn, id);
	return 0;
}

int quire_keyspace_list(quire_txn *txn, quire_keyspace_fn fn, void *ctx)
{
	struct kscat *cat = NULL;
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_keyspace_list");
	if (!fn)
		return qerr(QUIRE_EINVAL, "quire_keyspace_list: bad arguments");
	txn = ks_base(txn);
	if (!ks_escaped(txn))
		return 0;
	/* a copy: fn may call quire, the transaction's own writes too */
	int e = build_catalog(txn, &cat);
	for (size_t i = 0; !e && i < cat->n; i++)
		e = fn(ctx, cat_names(cat) + cat->e[i].off, cat->e[i].len);
	free(cat);
	return e;
}

int quire_keyspace_stat(quire_txn *txn, uint64_t *keys, uint64_t *bytes)
{
	uint8_t lo[KS_DATA_PFX], hi[KS_DATA_PFX];
	size_t lol, hil;
	quire_cursor *c;
	uint64_t n = 0, b = 0, vl;
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_keyspace_stat");
	if (!keys)
		return qerr(QUIRE_EINVAL, "quire_keyspace_stat: bad arguments");
	struct kspace ks = ks_of(txn);
	quire_txn *base = ks_base(txn);
	ks_bounds(&ks, lo, &lol, hi, &hil);
	struct wrange r = {.from = lo, .flen = lol, .to = hi, .tlen = hil,
			   .to_last = !hil};
	int e = txn_count_range(base, &r, &n);
	if (e || !bytes)
		goto out;
	if ((e = cursor_open_ks(base, &ks, &c)) != 0)
		goto out;
	for (e = quire_cursor_first(c); !e; e = quire_cursor_next(c)) {
		quire_val k;
		if ((e = quire_cursor_key(c, &k)) != 0 ||
		    (e = cursor_vlen(c, &vl)) != 0)
			break;
		b += k.size + vl;
	}
	quire_cursor_close(c);
	if (e == QUIRE_NOTFOUND)
		e = 0;
out:
	if (!e) {
		*keys = n;
		if (bytes)
			*bytes = b;
	}
	return e;
}
