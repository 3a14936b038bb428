/*
 * kspace.h - keyspaces as ranges of the one key tree.
 *
 * Every keyspace lives in the key tree (and so in the batches, the oplog,
 * the tombstones and the memtable) under an *internal key*; everything
 * below the public calls works on internal keys only, so history, range
 * deletes, compaction, backup and streams need nothing new. Once a file
 * has the keyspace feature (QF_FEAT_KEYSPACES, docs/FORMAT.md section 8.5):
 *
 *   k                  default keyspace key k, k[0] != 0xff
 *   ff 00 k            default keyspace key k, k[0] == 0xff (escaped)
 *   ff 01              the catalog's meta record
 *   ff 01 name         catalog: name -> keyspace id
 *   ff 02 id           catalog: id -> name (ids are 4 bytes, big-endian)
 *   ff 03 id k         key k of keyspace id
 *
 * Escaping keeps the default keyspace one range in its own order, below
 * the catalog, and leaves its keys untouched in files without the feature
 * (files written before keyspaces existed). A user key is always a suffix
 * of its internal key, so keys are returned without copying.
 */
#ifndef QUIRE_KSPACE_H
#define QUIRE_KSPACE_H

#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KS_TAG 0xffu
#define KS_ESC 0x00u
#define KS_NAME 0x01u
#define KS_ID 0x02u
#define KS_DATA 0x03u
/* Bytes before a named keyspace's key. */
#define KS_DATA_PFX 6
/* Longest internal key. */
#define QK_MAX_KEY QF_MAX_KEY
_Static_assert(QF_MAX_KEY == QUIRE_MAX_KEY_SIZE + KS_DATA_PFX, "QF_MAX_KEY");
/* Ids above this are never given (its successor bounds its range). */
#define KS_ID_MAX 0x7fffffffu

/* Which keyspace a call reaches, and how its keys are stored. */
struct kspace {
	uint32_t id; /* 0: the default keyspace */
	int esc;     /* the snapshot has the keyspace feature */
	int view;    /* called on a view: a feed reports this keyspace only */
};

/* The transaction a view reads and writes through (the txn itself if it
 * is no view). */
static inline quire_txn *ks_base(quire_txn *t)
{
	return t->base ? t->base : t;
}

/* Whether txn's keys are internal keys (the base transaction's). */
static inline int ks_escaped(const quire_txn *base)
{
	return ((base->snap->h.features | base->features) &
		QF_FEAT_KEYSPACES) != 0;
}

static inline struct kspace ks_of(quire_txn *t)
{
	return (struct kspace){t->ks_id, ks_escaped(ks_base(t)),
			       t->base != NULL};
}

static inline void ks_put_id(uint8_t *p, uint8_t tag, uint32_t id)
{
	p[0] = KS_TAG;
	p[1] = tag;
	p[2] = (uint8_t)(id >> 24);
	p[3] = (uint8_t)(id >> 16);
	p[4] = (uint8_t)(id >> 8);
	p[5] = (uint8_t)id;
}

static inline uint32_t ks_get_id(const uint8_t *p)
{
	return (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 |
	       (uint32_t)p[4] << 8 | p[5];
}

/* The internal key of user key (klen <= QUIRE_MAX_KEY_SIZE) in ks: key
 * itself, or built in buf (QK_MAX_KEY bytes). */
static inline const uint8_t *ks_key(const struct kspace *ks, const void *key,
				    size_t klen, uint8_t *buf, size_t *iklen)
{
	size_t pfx;
	if (ks->id) {
		ks_put_id(buf, KS_DATA, ks->id);
		pfx = KS_DATA_PFX;
	} else if (ks->esc && klen && *(const uint8_t *)key == KS_TAG) {
		buf[0] = KS_TAG;
		buf[1] = KS_ESC;
		pfx = 2;
	} else {
		*iklen = klen;
		return key;
	}
	if (klen)
		memcpy(buf + pfx, key, klen);
	*iklen = klen + pfx;
	return buf;
}

/* An internal key made from a user's key: the key itself (the default
 * keyspace), or built in buf, or for a long key on the heap. The calls
 * that run per key keep small frames: a key-sized buffer on the stack of
 * every get and put showed in their figures. */
struct ikey {
	const uint8_t *p;
	size_t len;
	uint8_t *heap;
	uint8_t buf[256];
};

/* k: the internal key of user key in ks; 0 or QUIRE_ENOMEM (then k needs
 * no ikey_done). */
static inline int ikey_make(struct ikey *k, const struct kspace *ks,
			    const void *key, size_t klen)
{
	uint8_t *b = k->buf;
	k->heap = NULL;
	if (!ks->id && !(ks->esc && klen && *(const uint8_t *)key == KS_TAG)) {
		k->p = key;
		k->len = klen;
		return 0;
	}
	if (klen + KS_DATA_PFX > sizeof k->buf &&
	    !(b = k->heap = malloc(klen + KS_DATA_PFX)))
		return QUIRE_ENOMEM;
	k->p = ks_key(ks, key, klen, b, &k->len);
	return 0;
}

static inline void ikey_done(struct ikey *k)
{
	free(k->heap);
}

/* How many bytes of internal key ik of keyspace ks come before the user's
 * key. */
static inline size_t ks_skip(const struct kspace *ks, const uint8_t *ik,
			     size_t iklen)
{
	if (ks->id)
		return KS_DATA_PFX;
	return ks->esc && iklen >= 2 && ik[0] == KS_TAG ? 2 : 0;
}

/* The internal range of ks: [lo, hi), hi NULL (hilen 0) to the last key.
 * lo and hi are KS_DATA_PFX bytes each. */
static inline void ks_bounds(const struct kspace *ks, uint8_t *lo,
			     size_t *lolen, uint8_t *hi, size_t *hilen)
{
	if (ks->id) {
		ks_put_id(lo, KS_DATA, ks->id);
		ks_put_id(hi, KS_DATA, ks->id + 1);
		*lolen = *hilen = KS_DATA_PFX;
	} else {
		*lolen = 0;
		hi[0] = KS_TAG;
		hi[1] = KS_NAME;
		*hilen = ks->esc ? 2 : 0;
	}
}

/* Whether internal key ik is one of the catalog's records (ff 01...,
 * ff 02...). */
static inline int ks_catalog(const uint8_t *ik, size_t len)
{
	return len >= 2 && ik[0] == KS_TAG &&
	       (ik[1] == KS_NAME || ik[1] == KS_ID);
}

/* What an internal key of a file with the feature is. */
enum { KK_DATA, KK_META, KK_NAME, KK_ID };

/* The kind of internal key ik; for KK_DATA its keyspace and how many
 * bytes precede the user's key, for KK_ID the id. */
static inline int ks_decode(const uint8_t *ik, size_t len, uint32_t *id,
			    size_t *skip)
{
	*id = 0;
	*skip = 0;
	if (len < 2 || ik[0] != KS_TAG)
		return KK_DATA;
	switch (ik[1]) {
	case KS_ESC:
		*skip = 2;
		return KK_DATA;
	case KS_NAME:
		return len == 2 ? KK_META : KK_NAME;
	case KS_ID:
		if (len != KS_DATA_PFX)
			break;
		*id = ks_get_id(ik);
		return KK_ID;
	case KS_DATA:
		if (len < KS_DATA_PFX)
			break;
		*id = ks_get_id(ik);
		*skip = KS_DATA_PFX;
		return KK_DATA;
	}
	return KK_META; /* nothing the library writes: hidden */
}

#endif
