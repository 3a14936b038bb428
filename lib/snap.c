/*
 * snap.c - snapshots: an immutable view of one commit, shared by the
 * transactions that read it, and their publication.
 *
 * db->cur is the newest commit this handle knows. Publishing a commit swaps
 * the pointer under snap_mu, which a snapshot holds only to take a
 * reference: readers never wait for a commit's I/O. A committer allocates
 * the snapshot before its commit is durable and installs it after, which
 * cannot fail (invariant 14).
 */
#include "config.h"

#include <stdlib.h>

#include "error.h"
#include "file.h"
#include "internal.h"
#include "memtable.h"
#include "snap.h"

struct snap *snap_acquire(quire *db)
{
	pthread_mutex_lock(&db->snap_mu);
	struct snap *s = db->cur;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&db->snap_mu);
	return s;
}

void kscat_unref(struct kscat *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

void snap_release(struct snap *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		kscat_unref(atomic_load(&s->cat));
		mt_unref(s->mt);
		qfile_unref(s->qf);
		free(s);
	}
}

struct snap *snap_alloc(void)
{
	return malloc(sizeof(struct snap));
}

static void snap_fill(struct snap *s, const struct qhdr *h,
		      struct memtable *mt, struct qfile *qf,
		      const struct snap *cat_from)
{
	struct kscat *c = cat_from ? atomic_load(&cat_from->cat) : NULL;
	if (c)
		atomic_fetch_add(&c->refs, 1);
	atomic_init(&s->cat, c);
	atomic_init(&s->cat_misses, 0);
	atomic_init(&s->cat_budget, UINT32_MAX);
	atomic_init(&s->refs, 1);
	s->h = *h;
	s->mt = mt;
	mt_ref(mt);
	s->qf = qf;
	qfile_ref(qf);
}

struct snap *snap_make(const struct qhdr *h, struct memtable *mt,
		       struct qfile *qf)
{
	struct snap *s = snap_alloc();
	if (s)
		snap_fill(s, h, mt, qf, NULL);
	return s;
}

int snap_publish(quire *db, const struct qhdr *h, struct memtable *mt)
{
	struct snap *s = snap_alloc();
	if (!s)
		return qerr(QUIRE_ENOMEM, "out of memory");
	snap_install(db, s, h, mt, NULL);
	return 0;
}

void snap_install(quire *db, struct snap *s, const struct qhdr *h,
		  struct memtable *mt, const struct snap *cat_from)
{
	snap_fill(s, h, mt, db->qf, cat_from);
	pthread_mutex_lock(&db->snap_mu);
	struct snap *old = db->cur;
	if (old && old->qf == s->qf && old->h.txn >= h->txn) { /* known */
		pthread_mutex_unlock(&db->snap_mu);
		snap_release(s);
		return;
	}
	db->cur = s;
	atomic_store(&db->cur_txn, h->txn);
	atomic_store(&db->cur_next_seq, h->next_seq);
	pthread_mutex_unlock(&db->snap_mu);
	snap_release(old);
	pthread_mutex_lock(&db->pub_mu); /* wake quire_wait() */
	pthread_cond_broadcast(&db->pub_cv);
	pthread_mutex_unlock(&db->pub_mu);
}
