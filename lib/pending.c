/*
 * pending.c - load a commit's pending batches (the operations committed
 * since the last checkpoint) into a memtable.
 *
 * A header names the newest batch; each batch names the one before it. A
 * handle that already holds a memtable for the same checkpoint only reads
 * the batches it has not seen (newer than mt->applied_txn), so following
 * another process's commits costs what they wrote, not what is pending;
 * their keys enter the memtable's hash only, and its ordered list when a
 * scan first needs them (memtable.h).
 * Every batch is verified, and the chain must add up to what the header
 * records; otherwise the commit is reported corrupt, never half-loaded.
 */
#include "config.h"

#include <stdlib.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "memtable.h"
#include "pending.h"
#include "util.h"

int pending_read(struct qfile *qf, uint64_t off, uint32_t size, uint8_t **out,
		 struct batch_info *bi)
{
	uint8_t *b = malloc(size ? size : 1);
	if (!b)
		return qerr(QUIRE_ENOMEM, "out of memory");
	int e = df_read(qf, b, size, off, "batch");
	if (!e && (e = batch_verify(b, size, off, bi)) != 0)
		e = qerr_wrap(e, qf->path);
	if (e) {
		free(b);
		return e;
	}
	*out = b;
	return 0;
}

/* The verified batch at off: in place when the file is mapped (*owned 0:
 * the memtable keeps pointing into the mapping, which lives as long as
 * the file object every snapshot of the memtable holds), else read. */
static int batch_at(struct qfile *qf, uint64_t off, uint32_t size,
		    const uint8_t **out, struct batch_info *bi, int *owned)
{
	const uint8_t *p = qf->smap ? fmap_at(&qf->map, qf->f, off, size) : NULL;
	uint8_t *b = NULL;
	int e;
	if (!p) {
		*owned = 1;
		e = pending_read(qf, off, size, &b, bi);
		*out = b;
		return e;
	}
	*owned = 0;
	e = batch_verify(p, size, off, bi);
	if (qfile_check(qf))
		return qfile_fault(qf);
	if (e)
		return qerr_wrap(e, qf->path);
	*out = p;
	return 0;
}

/* Where the newest batch mt holds is (0: none): the walk back from a new
 * header stops there instead of verifying a block it already holds, which
 * would double what a handle following another process's commits checks
 * for each of them. */
static uint64_t held_off(const struct memtable *mt)
{
	size_t nb = atomic_load(&((struct memtable *)mt)->nblocks);
	const struct mt_block *b = mt_blocks(mt);
	while (nb && atomic_load(&((struct mt_block *)b)[nb - 1].dead))
		nb--;
	return nb ? b[nb - 1].bi.off : 0;
}

int pending_load(struct qfile *qf, const struct qhdr *h, struct memtable *base,
		 struct memtable **out)
{
	uint64_t ckpt = qhdr_ckpt_seq(h);
	int whole = !base || base->ckpt_off != h->ckpt_off ||
		    base->applied_txn > h->txn;
	struct memtable *mt =
		whole ? mt_new(ckpt, 0, h->ckpt_off, base ? mt_keys(base) : 0)
		      : base;
	struct {
		const uint8_t *b;
		struct batch_info bi;
		int owned;
	} *chain = NULL;
	size_t n = 0, cap = 0;
	uint64_t off = h->pending_off, expect_end = h->next_seq, ops = 0,
		 bytes = 0;
	uint32_t size = h->pending_size;
	int e = 0;
	if (!mt)
		return qerr(QUIRE_ENOMEM, "out of memory");
	if (!whole)
		mt_ref(mt);
	uint64_t held = whole ? 0 : held_off(mt);
	/* newest first, back to what mt already holds */
	while (off && off != held && !e) {
		struct batch_info bi;
		const uint8_t *b = NULL;
		int owned = 0;
		if ((e = batch_at(qf, off, size, &b, &bi, &owned)) != 0)
			break;
		if (!whole && bi.txn <= mt->applied_txn) {
			if (owned)
				free((uint8_t *)b);
			break;
		}
		if (bi.txn > h->txn || bi.first_seq + bi.nops != expect_end ||
		    bi.first_seq < ckpt) {
			if (owned)
				free((uint8_t *)b);
			e = qerr(QUIRE_ECORRUPT,
				 "%s: batch at offset %llu does not continue "
				 "its chain",
				 qf->path, (unsigned long long)off);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			void *v = realloc(chain, cap * sizeof *chain);
			if (!v) {
				if (owned)
					free((uint8_t *)b);
				e = qerr(QUIRE_ENOMEM, "out of memory");
				break;
			}
			chain = v;
		}
		chain[n].b = b;
		chain[n].owned = owned;
		chain[n++].bi = bi;
		ops += bi.nops;
		bytes += bi.size + bi.xbytes;
		expect_end = bi.first_seq;
		off = bi.prev_off;
		size = bi.prev_size;
	}
	if (!e && whole &&
	    (n != h->pending_batches || ops != h->pending_ops ||
	     bytes != h->pending_bytes || expect_end != ckpt))
		e = qerr(QUIRE_ECORRUPT,
			 "%s: the pending batches of commit %llu do not add up "
			 "to its header",
			 qf->path, (unsigned long long)h->txn);
	if (!e && whole) { /* at once, in order */
		const uint8_t **bs = malloc((n ? n : 1) * sizeof *bs);
		struct batch_info *bis = malloc((n ? n : 1) * sizeof *bis);
		int *own = malloc((n ? n : 1) * sizeof *own);
		if (!bs || !bis || !own) {
			e = qerr(QUIRE_ENOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < n; i++) { /* oldest first */
				bs[i] = chain[n - 1 - i].b;
				bis[i] = chain[n - 1 - i].bi;
				own[i] = chain[n - 1 - i].owned;
			}
			mt_lock(mt);
			e = mt_load(mt, bs, bis, own, n);
			mt_unlock(mt);
			n = 0; /* the memtable's now, even on failure */
		}
		free(bs);
		free(bis);
		free(own);
	} else if (!e) {
		mt_lock(mt);
		while (n && !e) { /* oldest first */
			n--;
			e = mt_add_batch(mt, chain[n].b, &chain[n].bi,
					 chain[n].owned);
		}
		mt_unlock(mt);
	}
	while (n--)
		if (chain[n].owned)
			free((uint8_t *)chain[n].b);
	free(chain);
	if (e) {
		mt_unref(mt);
		return e;
	}
	*out = mt;
	return 0;
}
