/*
 * txn.c - transactions: begin, get, put, del, commit, abort.
 *
 * A write transaction buffers its operations (wbuf.c) and applies them at
 * commit in one sorted pass over each tree (modify.c): first the key tree,
 * whose new leaves tell where every put landed, then the by-sequence tree,
 * whose records point at those leaves. Values longer than QUIRE_INLINE_MAX
 * are written to the file at put time, so a transaction's memory does not
 * grow with its large values.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "commit.h"
#include "error.h"
#include "file.h"
#include "lookup.h"
#include "memtable.h"
#include "recover.h"
#include "snap.h"
#include "space.h"
#include "tree.h"
#include "kspace.h"
#include "txn.h"
#include "wbuf.h"

/*
 * Transaction structs are never handed back to malloc while the handle is
 * open. An ended one is marked (state) and queued in db->txn_pool; the
 * oldest is reused only when more than TXN_QUARANTINE wait and at least
 * TXN_QUARANTINE transactions of the handle began since it ended. So a
 * handle used after its transaction ended finds it ended (QUIRE_EINVAL)
 * for at least that long, instead of freed memory; after that it may name
 * a transaction begun since, which is what quire.h warns about.
 */
#define TXN_QUARANTINE 64

void txn_pool_init(quire *db)
{
	pthread_mutex_init(&db->txn_pool.mu, NULL);
}

void txn_pool_free(quire *db)
{
	struct txn_pool *p = &db->txn_pool;
	while (p->head) {
		quire_txn *t = p->head;
		p->head = t->pool_next;
		free(t);
	}
	p->tail = NULL;
	p->n = 0;
	pthread_mutex_destroy(&p->mu);
}

/* A zeroed struct for a new transaction: the oldest ended one if its
 * quarantine is over, else a new one (NULL: out of memory). */
static quire_txn *txn_alloc(quire *db)
{
	struct txn_pool *p = &db->txn_pool;
	pthread_mutex_lock(&p->mu);
	quire_txn *t = p->head;
	if (t && p->n > TXN_QUARANTINE &&
	    atomic_load(&p->begun) - t->pool_begun >= TXN_QUARANTINE) {
		if (!(p->head = t->pool_next))
			p->tail = NULL;
		p->n--;
	} else {
		t = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	if (t)
		memset(t, 0, sizeof *t);
	else
		t = calloc(1, sizeof *t);
	return t;
}

/* Queue an ended (or never begun) transaction struct for reuse. */
static void txn_recycle(quire *db, quire_txn *t)
{
	struct txn_pool *p = &db->txn_pool;
	t->state = TXN_ENDED;
	t->pool_next = NULL;
	pthread_mutex_lock(&p->mu);
	t->pool_begun = atomic_load(&p->begun);
	if (p->tail)
		p->tail->pool_next = t;
	else
		p->head = t;
	p->tail = t;
	p->n++;
	pthread_mutex_unlock(&p->mu);
}

/* Make txn (from txn_alloc, db and write set) a running transaction on
 * snap, whose reference it takes over. */
static void txn_start(quire_txn *txn, struct snap *snap, quire_txn **out)
{
	quire *db = txn->db;
	txn->snap = snap;
	cache_enter(snap->qf->cache, &txn->es);
	txn->next_seq = snap->h.next_seq;
	txn->state = TXN_LIVE;
	atomic_fetch_add(&db->ntxn, 1);
	atomic_fetch_add(&db->txn_pool.begun, 1);
	pthread_mutex_lock(&db->txn_pool.mu);
	txn->live_next = db->txn_pool.live;
	txn->live_pprev = &db->txn_pool.live;
	if (txn->live_next)
		txn->live_next->live_pprev = &txn->live_next;
	db->txn_pool.live = txn;
	pthread_mutex_unlock(&db->txn_pool.mu);
	*out = txn;
}

void txn_inner(quire *db, quire_txn *t)
{
	memset(t, 0, sizeof *t);
	t->db = db;
	t->snap = snap_acquire(db);
	t->next_seq = t->snap->h.next_seq;
	t->state = TXN_LIVE;
	cache_enter(t->snap->qf->cache, &t->es);
}

void txn_inner_end(quire_txn *t)
{
	vbufs_free(&t->vbufs);
	cache_exit(t->snap->qf->cache, &t->es);
	snap_release(t->snap);
	t->state = TXN_ENDED;
}

void txn_pinned(quire *db, uint64_t *bytes, uint64_t *txn, uint64_t *time)
{
	struct snap *newest = snap_acquire(db);
	*bytes = *txn = *time = 0;
	pthread_mutex_lock(&db->txn_pool.mu);
	struct qfile *cur = newest->qf, *seen[8];
	int nseen = 0;
	for (quire_txn *t = db->txn_pool.live; t; t = t->live_next) {
		const struct snap *s = t->snap;
		if (!*txn || s->h.txn < *txn) {
			*txn = s->h.txn;
			*time = s->h.time_ns;
		}
		int known = s->qf == cur;
		for (int i = 0; !known && i < nseen; i++)
			known = seen[i] == s->qf;
		uint64_t size;
		if (!known && nseen < 8) { /* an old file it keeps open */
			seen[nseen++] = s->qf;
			*bytes += s->qf->f->ops->size(s->qf->f, &size) == 0
					  ? size
					  : s->h.total_bytes;
		}
	}
	pthread_mutex_unlock(&db->txn_pool.mu);
	snap_release(newest);
}

int txn_unusable(const quire_txn *txn, const char *fn)
{
	return qerr(QUIRE_EINVAL, txn ? "%s: the transaction has ended"
				      : "%s: no transaction",
		    fn);
}

void txn_dep_add(quire_txn *txn, struct txn_dep *d,
		 void (*detach)(struct txn_dep *d))
{
	d->detach = detach;
	d->next = txn->deps;
	d->pprev = &txn->deps;
	if (txn->deps)
		txn->deps->pprev = &d->next;
	txn->deps = d;
}

void txn_dep_del(struct txn_dep *d)
{
	if (!d->pprev)
		return;
	*d->pprev = d->next;
	if (d->next)
		d->next->pprev = d->pprev;
	d->next = NULL;
	d->pprev = NULL;
}

/* Detach everything that lives on the ending transaction. A detach may
 * take other entries off the list (a diff on this transaction twice). */
static void deps_detach(quire_txn *txn)
{
	struct txn_dep *d;
	while ((d = txn->deps) != NULL) {
		txn_dep_del(d);
		d->detach(d);
	}
}

/* The base transaction ended: so does the view. */
static void view_detach(struct txn_dep *d)
{
	quire_txn *v = DEP_OWNER(d, quire_txn, ks_dep);
	txn_recycle(v->db, v);
}

int txn_view(quire_txn *base, uint32_t id, quire_txn **out)
{
	quire_txn *v = txn_alloc(base->db);
	if (!v)
		return qerr(QUIRE_ENOMEM, "out of memory");
	v->db = base->db;
	v->snap = base->snap;
	v->write = base->write;
	v->base = base;
	v->ks_id = id;
	v->state = TXN_LIVE;
	txn_dep_add(base, &v->ks_dep, view_detach);
	*out = v;
	return 0;
}

void txn_end_views(quire_txn *base, uint32_t id)
{
	struct txn_dep *d = base->deps, *next;
	for (; d; d = next) {
		next = d->next;
		if (d->detach == view_detach &&
		    DEP_OWNER(d, quire_txn, ks_dep)->ks_id == id) {
			txn_dep_del(d);
			view_detach(d);
		}
	}
}

int txn_begin_read(quire *db, struct snap *snap, quire_txn **out)
{
	quire_txn *txn = txn_alloc(db);
	if (!txn) {
		snap_release(snap);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	txn->db = db;
	txn_start(txn, snap, out);
	return 0;
}

int quire_begin(quire *db, unsigned int flags, quire_txn **out)
{
	int e;
	qerr_clear();
	if (!db || !out || (flags & ~QUIRE_RDONLY))
		return qerr(QUIRE_EINVAL, "quire_begin: bad arguments");
	if (flags & QUIRE_RDONLY) {
		struct snap *s = snap_acquire(db);
		if (df_stale_snap(s)) {
			snap_release(s);
			if ((e = df_refresh(db)) != 0)
				return e;
			s = snap_acquire(db);
		}
		return txn_begin_read(db, s, out);
	}
	if ((e = qdb_writable(db)) != 0 ||
	    (e = writer_acquire_for(db, db->opts.busy_timeout_ms, NULL)) != 0)
		return e; /* (the commit syncs the directory if it must) */
	quire_txn *txn = NULL;
	if ((e = df_writer_begin(db)) == 0 &&
	    (!(txn = txn_alloc(db)) ||
	     !(txn->wb = wbuf_new((uintptr_t)txn ^ db->cur_txn))))
		e = qerr(QUIRE_ENOMEM, "out of memory");
	if (e) {
		if (txn)
			txn_recycle(db, txn);
		writer_release(db);
		return e;
	}
	txn->db = db;
	txn->write = 1;
	txn_start(txn, snap_acquire(db), out);
	return 0;
}

uint64_t quire_txn_id(const quire_txn *txn)
{
	if (!txn_usable(txn))
		return 0;
	return txn->snap->h.txn + (txn->write ? 1 : 0);
}

static int check_key(quire_txn *txn, const void *key, size_t klen,
		     const char *fn)
{
	if (!txn_usable(txn))
		return txn_unusable(txn, fn);
	if (!key && klen)
		return qerr(QUIRE_EINVAL, "%s: bad arguments", fn);
	if (klen > QUIRE_MAX_KEY_SIZE)
		return qerr(QUIRE_ETOOBIG, "%s: key of %zu bytes exceeds the "
					   "limit of %d",
			    fn, klen, QUIRE_MAX_KEY_SIZE);
	return 0;
}

/* k: the internal key of user key in the keyspace txn reaches
 * (kspace.h). */
static inline int user_ikey(struct ikey *k, quire_txn *txn, const void *key,
			    size_t klen)
{
	struct kspace ks = ks_of(txn);
	return ikey_make(k, &ks, key, klen) ? qerr(QUIRE_ENOMEM, "out of "
								 "memory")
					    : 0;
}

int quire_get_seq(quire_txn *txn, const void *key, size_t klen,
		  quire_val *val, uint64_t *seq)
{
	int e;
	struct wval v;
	uint64_t s;
	struct ikey k;
	/* like cursor calls, gets and puts leave the message alone unless
	 * they fail: they are what a program calls most */
	if ((e = check_key(txn, key, klen, "quire_get")) != 0 ||
	    (e = user_ikey(&k, txn, key, klen)) != 0)
		return e;
	txn = ks_base(txn);
	e = txn_lookup(txn, k.p, k.len, &v, &s);
	ikey_done(&k);
	if (seq)
		*seq = s;
	return e || !val ? e : txn_value(txn, &v, &txn->vbufs, val);
}

int quire_get(quire_txn *txn, const void *key, size_t klen, quire_val *val)
{
	if (!val)
		return qerr(QUIRE_EINVAL, "quire_get: bad arguments");
	return quire_get_seq(txn, key, klen, val, NULL);
}

/* Common checks of put and del: a usable write transaction (a view's
 * base). */
static int writable(quire_txn *txn, const char *fn)
{
	if (!txn->write)
		return qerr(QUIRE_EINVAL, "%s: read-only transaction", fn);
	if (txn->err)
		return qerr(txn->err, "%s: an earlier operation of this "
				      "transaction failed; abort it",
			    fn);
	return 0;
}

int txn_put_raw(quire_txn *txn, const void *key, size_t klen,
		const void *val, size_t vlen)
{
	int e;
	if ((e = writable(txn, "quire_put")) != 0)
		return e;
	if (!val && vlen)
		return qerr(QUIRE_EINVAL, "quire_put: bad arguments");
	if (vlen > QUIRE_MAX_VALUE_SIZE)
		return qerr(QUIRE_ETOOBIG, "quire_put: value of %zu bytes "
					   "exceeds the limit of %zu",
			    vlen, QUIRE_MAX_VALUE_SIZE);
	struct wval v = {val, (uint32_t)vlen, 0, 0};
	if (vlen > QUIRE_INLINE_MAX) {
		if ((e = df_append_value(txn->db, val, vlen, &v.ool_off)) != 0)
			return txn->err = e; /* the append area is now unknown */
		v.ool = 1;
		v.data = NULL;
	}
	if ((e = wbuf_add(txn->wb, WOP_PUT, key, klen, &v)) != 0)
		return qerr(e, "out of memory");
	txn->next_seq++;
	txn->gen++;
	txn->cat_dirty |= ks_catalog(key, klen);
	return 0;
}

int quire_put(quire_txn *txn, const void *key, size_t klen, const void *val,
	      size_t vlen)
{
	struct ikey k;
	int e = check_key(txn, key, klen, "quire_put");
	if (e || (e = user_ikey(&k, txn, key, klen)) != 0)
		return e;
	e = txn_put_raw(ks_base(txn), k.p, k.len, val, vlen);
	ikey_done(&k);
	return e;
}

int txn_del_raw(quire_txn *txn, const void *key, size_t klen)
{
	int e;
	if ((e = writable(txn, "quire_del")) != 0)
		return e;
	struct wval v;
	uint64_t seq;
	if ((e = txn_lookup(txn, key, klen, &v, &seq)) != 0)
		return e;
	if ((e = wbuf_add(txn->wb, WOP_DEL, key, klen, NULL)) != 0)
		return qerr(e, "out of memory");
	txn->next_seq++;
	txn->gen++;
	txn->cat_dirty |= ks_catalog(key, klen);
	return 0;
}

int quire_del(quire_txn *txn, const void *key, size_t klen)
{
	struct ikey k;
	qerr_clear();
	int e = check_key(txn, key, klen, "quire_del");
	if (e || (e = user_ikey(&k, txn, key, klen)) != 0)
		return e;
	e = txn_del_raw(ks_base(txn), k.p, k.len);
	ikey_done(&k);
	return e;
}

int txn_del_range_raw(quire_txn *txn, struct wrange *r, uint64_t *removed)
{
	uint64_t n = 0;
	int e = writable(txn, "quire_del_range");
	if (!e)
		e = txn_count_range(txn, r, &n);
	if (!e && n) {
		static const uint8_t cat[2] = {KS_TAG, KS_NAME},
				     data[2] = {KS_TAG, KS_DATA};
		r->count = n;
		if (wbuf_add_range(txn->wb, r) != 0)
			return qerr(QUIRE_ENOMEM, "out of memory");
		txn->next_seq++;
		txn->gen++;
		txn->cat_dirty |= key_cmp(r->from, r->flen, data, 2) < 0 &&
				  (r->to_last ||
				   key_cmp(r->to, r->tlen, cat, 2) > 0);
	}
	if (!e && removed)
		*removed = n;
	return e;
}

/* Range [from, to) of user keys of txn's keyspace (to NULL: to its last
 * key; end_pfx: to is a prefix whose extensions are in the range too),
 * deleted as internal keys. */
static int del_user_range(quire_txn *txn, const void *from, size_t flen,
			  const void *to, size_t tlen, int end_pfx,
			  uint64_t *removed)
{
	struct kspace ks = ks_of(txn);
	uint8_t lo[KS_DATA_PFX], hi[KS_DATA_PFX];
	uint8_t *fbuf = malloc(2 * (size_t)QK_MAX_KEY), *tbuf = fbuf + QK_MAX_KEY;
	size_t il, tl = 0, lol, hil;
	if (!fbuf)
		return qerr(QUIRE_ENOMEM, "out of memory");
	const uint8_t *ik = ks_key(&ks, from, flen, fbuf, &il), *it = NULL;
	ks_bounds(&ks, lo, &lol, hi, &hil);
	if (to) {
		it = ks_key(&ks, to, tlen, tbuf, &tl);
		if (end_pfx) { /* the first key after every extension: the
				* prefix without its trailing 0xff bytes, its
				* last byte one up; none left: to the last */
			if (it != tbuf)
				memcpy(tbuf, it, tl);
			it = tbuf;
			while (tl && tbuf[tl - 1] == 0xff)
				tl--;
			if (tl)
				tbuf[tl - 1]++;
			else
				it = NULL;
		}
	}
	if (hil && (!it || key_cmp(it, tl, hi, hil) > 0)) {
		it = hi;
		tl = hil;
	}
	struct wrange r = {.from = ik,
			   .flen = (uint32_t)il,
			   .to = it,
			   .tlen = (uint32_t)tl,
			   .to_last = !it};
	int e = txn_del_range_raw(ks_base(txn), &r, removed);
	free(fbuf);
	return e;
}

int quire_del_range(quire_txn *txn, const void *from, size_t flen,
		    const void *to, size_t tlen, uint64_t *removed)
{
	static const char fn[] = "quire_del_range";
	int e;
	qerr_clear();
	if (removed)
		*removed = 0;
	if ((e = check_key(txn, from, flen, fn)) != 0 ||
	    (e = check_key(txn, to, tlen, fn)) != 0)
		return e;
	if (to && key_cmp(to, tlen, from, flen) < 0)
		return qerr(QUIRE_EINVAL, "%s: the range ends before it starts",
			    fn);
	return del_user_range(txn, from, flen, to, tlen, 0, removed);
}

int quire_del_prefix(quire_txn *txn, const void *prefix, size_t plen,
		     uint64_t *removed)
{
	static const char fn[] = "quire_del_prefix";
	int e;
	qerr_clear();
	if (removed)
		*removed = 0;
	if ((e = check_key(txn, prefix, plen, fn)) != 0)
		return e;
	return del_user_range(txn, prefix, plen, prefix ? prefix : "", plen,
			      1, removed);
}

/* 0 if internal key ik is at version expect (0: absent), else
 * QUIRE_ECONFLICT. */
static int check_version(quire_txn *txn, const uint8_t *ik, size_t il,
			 uint64_t expect, const char *fn)
{
	struct wval v;
	uint64_t seq;
	int e = txn_lookup(txn, ik, il, &v, &seq);
	if (e == QUIRE_NOTFOUND)
		e = 0;
	if (!e && seq != expect)
		e = qerr(QUIRE_ECONFLICT, "%s: the key is at version %llu, not "
					  "%llu",
			 fn, (unsigned long long)seq,
			 (unsigned long long)expect);
	return e;
}

/* A put (del 0) or delete of key if it is at version expect. */
static int write_if(quire_txn *txn, const void *key, size_t klen,
		    const void *val, size_t vlen, int del, uint64_t expect,
		    const char *fn)
{
	struct ikey k;
	qerr_clear();
	int e = check_key(txn, key, klen, fn);
	if (e || (e = user_ikey(&k, txn, key, klen)) != 0)
		return e;
	txn = ks_base(txn);
	if ((e = check_version(txn, k.p, k.len, expect, fn)) == 0)
		e = del ? txn_del_raw(txn, k.p, k.len)
			: txn_put_raw(txn, k.p, k.len, val, vlen);
	ikey_done(&k);
	return e;
}

int quire_put_if(quire_txn *txn, const void *key, size_t klen,
		 const void *val, size_t vlen, uint64_t expect_seq)
{
	return write_if(txn, key, klen, val, vlen, 0, expect_seq,
			"quire_put_if");
}

int quire_del_if(quire_txn *txn, const void *key, size_t klen,
		 uint64_t expect_seq)
{
	return write_if(txn, key, klen, NULL, 0, 1, expect_seq,
			"quire_del_if");
}

int quire_set_retention(quire *db, const quire_retention *r)
{
	quire_txn *txn;
	qerr_clear();
	if (!db || !r || r->commits == 0)
		return qerr(QUIRE_EINVAL, "quire_set_retention: bad arguments "
					  "(at least the newest commit stays)");
	int e = quire_begin(db, 0, &txn);
	if (e)
		return e;
	txn->set_retention = 1;
	txn->retention = *r;
	return quire_commit(txn);
}

int quire_checkpoint(quire *db)
{
	quire_txn *txn;
	int e = quire_begin(db, 0, &txn);
	if (e)
		return e;
	if (txn->snap->h.pending_ops)
		e = commit_write(txn, 1);
	quire_abort(txn);
	return e;
}

/* End the transaction: what lives on it is detached (it stays allocated
 * until closed) and the struct goes to the pool, marked ended. */
static void txn_end(quire_txn *txn)
{
	quire *db = txn->db;
	txn->state = TXN_ENDED;
	pthread_mutex_lock(&db->txn_pool.mu);
	*txn->live_pprev = txn->live_next;
	if (txn->live_next)
		txn->live_next->live_pprev = txn->live_pprev;
	pthread_mutex_unlock(&db->txn_pool.mu);
	deps_detach(txn);
	vbufs_free(&txn->vbufs);
	cache_exit(txn->snap->qf->cache, &txn->es);
	snap_release(txn->snap);
	free(txn->meta);
	if (txn->write) {
		wbuf_free(txn->wb);
		writer_release(db);
	}
	txn_recycle(db, txn);
	atomic_fetch_sub(&db->ntxn, 1); /* last: quire_close may free db */
}

/* Views are ended by their transaction only. */
static int view_refused(const char *fn)
{
	return qerr(QUIRE_EINVAL, "%s: a keyspace view; end the transaction "
				  "it came from",
		    fn);
}

int quire_commit(quire_txn *txn)
{
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_commit");
	if (txn->base)
		return view_refused("quire_commit");
	int e = 0;
	if (txn->write) {
		if (txn->err) {
			e = qerr(txn->err, "quire_commit: an earlier operation "
					   "of this transaction failed");
			df_rollback(txn->db);
		} else {
			e = commit_write(txn, 0);
		}
	}
	quire *db = txn->db;
	int wrote = txn->write && !e, fold = txn->fold;
	txn_end(txn);
	if (wrote && db->hooks)
		db->hooks->after_commit(db, fold);
	return e;
}

int quire_commit_with(quire_txn *txn, const void *meta, size_t len)
{
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_commit_with");
	if (txn->base)
		return view_refused("quire_commit_with");
	if (!meta && len) {
		quire_abort(txn);
		return qerr(QUIRE_EINVAL, "quire_commit_with: bad arguments");
	}
	if (len > QUIRE_MAX_META_SIZE) {
		quire_abort(txn);
		return qerr(QUIRE_ETOOBIG, "quire_commit_with: metadata of %zu "
					   "bytes exceeds the limit of %u",
			    len, QUIRE_MAX_META_SIZE);
	}
	if (txn->write && len) {
		if (!(txn->meta = malloc(len))) {
			quire_abort(txn);
			return qerr(QUIRE_ENOMEM, "out of memory");
		}
		memcpy(txn->meta, meta, len);
		txn->meta_len = len;
	}
	return quire_commit(txn);
}

void quire_abort(quire_txn *txn)
{
	if (!txn_usable(txn) || txn->base) /* NULL, ended already, or a
					     * view: nothing to do */
		return;
	if (txn->write)
		df_rollback(txn->db);
	txn_end(txn);
}
