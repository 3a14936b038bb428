/*
 * format.c - byte layouts of the block header, superblock, slots and commit
 * header. The offsets below are the ones tabulated in docs/FORMAT.md.
 */
#include "config.h"

#include <string.h>

#include "crc32c.h"
#include "error.h"
#include "format.h"
#include "util.h"

const uint8_t qf_super_magic[8] = {'Q', 'U', 'I', 'R', 'E', 'D', 'B', 0};
const uint8_t qf_header_magic[8] = {'Q', 'U', 'I', 'R', 'E', 'H', 'D', 'R'};

void qblock_put(uint8_t *p, const struct qblock *b)
{
	st32(p, b->crc);
	p[4] = b->type;
	p[5] = b->b5;
	p[6] = b->b6;
	p[7] = b->b7;
	st32(p + 8, b->size);
	st32(p + 12, b->aux);
}

void qblock_get(const uint8_t *p, struct qblock *b)
{
	b->crc = ld32(p);
	b->type = p[4];
	b->b5 = p[5];
	b->b6 = p[6];
	b->b7 = p[7];
	b->size = ld32(p + 8);
	b->aux = ld32(p + 12);
}

uint32_t qblock_crc_start(uint64_t off)
{
	uint8_t o[8];
	st64(o, off);
	return crc32c(0, o, 8);
}

void qblock_seal(uint8_t *p, uint32_t size, uint64_t off)
{
	st32(p, crc32c(qblock_crc_start(off), p + 4, size - 4));
}

int qblock_crc_ok(const uint8_t *p, uint32_t size, uint64_t off)
{
	return size >= QF_BLOCK_HDR &&
	       ld32(p) == crc32c(qblock_crc_start(off), p + 4, size - 4);
}

static void root_put(uint8_t *p, const struct qroot *r)
{
	st64(p, r->off);
	st32(p + 8, r->size);
	st16(p + 12, r->height);
	st16(p + 14, 0);
	st64(p + 16, r->count);
	st64(p + 24, r->bytes);
}

static void root_get(const uint8_t *p, struct qroot *r)
{
	r->off = ld64(p);
	r->size = ld32(p + 8);
	r->height = ld16(p + 12);
	r->count = ld64(p + 16);
	r->bytes = ld64(p + 24);
}

void qhdr_put(uint8_t *p, const struct qhdr *h)
{
	struct qblock b = {.type = QB_HEADER, .size = QF_HDR_FIXED + h->meta_len};
	memset(p, 0, QF_HDR_FIXED);
	qblock_put(p, &b);
	memcpy(p + 16, qf_header_magic, 8);
	st32(p + 24, h->features ? QF_HDR_V3 : QF_HDR_VERSION);
	st32(p + 28, h->node_size);
	memcpy(p + 32, h->file_id, QF_FILE_ID);
	st64(p + 48, h->self_off);
	st64(p + 56, h->txn);
	st64(p + 64, h->time_ns);
	st64(p + 72, h->prev_off);
	st64(p + 80, h->commit_start);
	st32(p + 88, h->range_crc);
	st32(p + 92, h->meta_len);
	st64(p + 96, h->next_seq);
	st64(p + 104, h->key_count);
	st64(p + 112, h->live_bytes);
	st64(p + 120, h->total_bytes);
	root_put(p + 128, &h->root[QT_KEYS]);
	root_put(p + 160, &h->root[QT_SEQ]);
	st64(p + 192, h->history_seq);
	st64(p + 200, h->history_txn);
	st64(p + 312, h->history_time);
	st64(p + 208, h->pending_off);
	st32(p + 216, h->pending_size);
	st32(p + 220, h->pending_batches);
	st64(p + 224, h->pending_ops);
	st64(p + 232, h->pending_bytes);
	st64(p + 240, h->ckpt_off);
	root_put(p + 248, &h->root[QT_COMMITS]);
	root_put(p + 280, &h->root[QT_DEAD]);
	st64(p + 320, h->retain_commits);
	st64(p + 328, h->retain_ns);
	st64(p + 336, h->live_raw);
	st64(p + 344, h->live_ool);
	st64(p + 352, h->live_ool_count);
	st64(p + 360, h->features);
	qblock_seal(p, b.size, h->self_off);
}

static int root_ok(const struct qroot *r, uint64_t self_off)
{
	if (r->off == 0)
		return r->height == 0 && r->count == 0 && r->bytes == 0 &&
		       r->size == 0;
	return r->height > 0 && r->height <= 64 && r->off >= QF_SUPER_SIZE &&
	       r->off + r->size <= self_off && r->size >= QF_BLOCK_HDR &&
	       r->size <= QF_NODE_MAX && r->bytes >= r->size;
}

int qhdr_get(const uint8_t *buf, size_t len, uint64_t off, struct qhdr *h,
	     uint32_t *need)
{
	struct qblock b;
	*need = 0;
	if (len < QF_BLOCK_HDR)
		return qerr(QUIRE_ECORRUPT, "header at offset %llu: truncated",
			    (unsigned long long)off);
	qblock_get(buf, &b);
	if (b.type != QB_HEADER || b.size < QF_HDR_V1 ||
	    b.size > QF_HDR_FIXED + QF_META_MAX)
		return qerr(QUIRE_ECORRUPT, "offset %llu: not a commit header",
			    (unsigned long long)off);
	if (b.size > len) {
		*need = b.size;
		return qerr(QUIRE_ECORRUPT, "header at offset %llu: truncated",
			    (unsigned long long)off);
	}
	if (!qblock_crc_ok(buf, b.size, off))
		return qerr(QUIRE_ECORRUPT,
			    "header at offset %llu: checksum mismatch",
			    (unsigned long long)off);
	if (memcmp(buf + 16, qf_header_magic, 8) != 0)
		return qerr(QUIRE_ECORRUPT, "header at offset %llu: bad magic",
			    (unsigned long long)off);
	uint32_t version = ld32(buf + 24), fixed;
	if (version == 1) {
		fixed = QF_HDR_V1;
	} else if (version == QF_HDR_VERSION || version == QF_HDR_V3) {
		fixed = QF_HDR_FIXED;
	} else {
		return qerr(QUIRE_EVERSION,
			    "header at offset %llu: format version %u, this "
			    "library reads 1 to %u",
			    (unsigned long long)off, version, QF_HDR_V3);
	}
	h->features = version == QF_HDR_V3 ? ld64(buf + 360) : 0;
	if (h->features & ~(uint64_t)QF_FEAT_KNOWN)
		return qerr(QUIRE_EVERSION,
			    "header at offset %llu: features 0x%llx, this "
			    "library knows 0x%x",
			    (unsigned long long)off,
			    (unsigned long long)h->features, QF_FEAT_KNOWN);
	if (b.size < fixed)
		return qerr(QUIRE_ECORRUPT, "offset %llu: not a commit header",
			    (unsigned long long)off);
	h->size = b.size;
	h->node_size = ld32(buf + 28);
	memcpy(h->file_id, buf + 32, QF_FILE_ID);
	h->self_off = ld64(buf + 48);
	h->txn = ld64(buf + 56);
	h->time_ns = ld64(buf + 64);
	h->prev_off = ld64(buf + 72);
	h->commit_start = ld64(buf + 80);
	h->range_crc = ld32(buf + 88);
	h->meta_len = ld32(buf + 92);
	h->next_seq = ld64(buf + 96);
	h->key_count = ld64(buf + 104);
	h->live_bytes = ld64(buf + 112);
	h->total_bytes = ld64(buf + 120);
	root_get(buf + 128, &h->root[QT_KEYS]);
	root_get(buf + 160, &h->root[QT_SEQ]);
	h->history_seq = ld64(buf + 192);
	h->history_txn = ld64(buf + 200);
	h->history_time = ld64(buf + 312);
	h->pending_off = ld64(buf + 208);
	h->pending_size = ld32(buf + 216);
	h->pending_batches = ld32(buf + 220);
	h->pending_ops = ld64(buf + 224);
	h->pending_bytes = ld64(buf + 232);
	h->ckpt_off = ld64(buf + 240);
	root_get(buf + 248, &h->root[QT_COMMITS]);
	root_get(buf + 280, &h->root[QT_DEAD]);
	if (version == 1) { /* before retention: every commit was kept */
		h->retain_commits = QF_KEEP_ALL;
		h->retain_ns = 0;
		h->live_raw = QF_RAW_UNKNOWN;
		h->live_ool = h->live_ool_count = 0;
	} else {
		h->retain_commits = ld64(buf + 320);
		h->retain_ns = ld64(buf + 328);
		h->live_raw = ld64(buf + 336);
		h->live_ool = ld64(buf + 344);
		h->live_ool_count = ld64(buf + 352);
	}

	const char *why = NULL;
	if (h->self_off != off)
		why = "stored offset differs from its position";
	else if (h->size != fixed + h->meta_len)
		why = "size disagrees with metadata length";
	else if (h->total_bytes != off + h->size)
		why = "total bytes disagree with its position";
	else if (h->commit_start < QF_SUPER_SIZE || h->commit_start > off)
		why = "commit range out of bounds";
	else if (h->prev_off && h->prev_off + QF_HDR_V1 > h->commit_start)
		why = "previous header overlaps this commit";
	else if (!root_ok(&h->root[QT_KEYS], off) ||
		 !root_ok(&h->root[QT_SEQ], off) ||
		 !root_ok(&h->root[QT_COMMITS], off) ||
		 !root_ok(&h->root[QT_DEAD], off))
		why = "tree root out of bounds";
	else if (h->ckpt_off < QF_SUPER_SIZE || h->ckpt_off > off ||
		 (h->ckpt_off < off && h->ckpt_off > h->prev_off))
		why = "checkpoint reference out of bounds";
	else if ((h->pending_off == 0) !=
		 (h->pending_batches == 0 && h->pending_ops == 0 &&
		  h->pending_bytes == 0 && h->pending_size == 0) ||
		 (h->pending_off &&
		  (h->pending_off < QF_SUPER_SIZE ||
		   h->pending_off + h->pending_size > off ||
		   h->pending_bytes < h->pending_size)))
		why = "pending batches out of bounds";
	else if ((!h->pending_off && h->key_count != h->root[QT_KEYS].count) ||
		 h->live_bytes != h->root[QT_KEYS].bytes + h->pending_bytes)
		why = "key count or live bytes disagree with the key tree";
	else if (h->next_seq == 0 || h->pending_ops >= h->next_seq ||
		 h->history_seq > qhdr_ckpt_seq(h) || h->history_txn > h->txn ||
		 h->history_time > h->time_ns || (!h->history_txn && h->history_time))
		why = "sequence numbers out of order";
	else if (h->retain_commits == 0)
		why = "bad retention";
	else if (version > 1 && (version == QF_HDR_V3) != (ld64(buf + 360) != 0))
		why = "a version 2 header with features, or a version 3 one "
		      "without";
	else if (h->live_raw != QF_RAW_UNKNOWN &&
		 (h->live_ool > h->live_raw ||
		  h->live_ool_count > h->key_count))
		why = "live byte counts disagree";
	if (why)
		return qerr(QUIRE_ECORRUPT, "header at offset %llu: %s",
			    (unsigned long long)off, why);
	return 0;
}

void qsuper_put(uint8_t *p, const struct qsuper *s)
{
	memset(p, 0, 256);
	memcpy(p, qf_super_magic, 8);
	st32(p + 8, s->version);
	st32(p + 12, QF_SUPER_SIZE);
	memcpy(p + 16, s->file_id, QF_FILE_ID);
	st64(p + 32, s->created_ns);
	st32(p + 252, crc32c(0, p, 252));
}

int qsuper_get(const uint8_t *p, struct qsuper *s)
{
	if (memcmp(p, qf_super_magic, 8) != 0)
		return qerr(QUIRE_ENOTDB, "no quire signature at offset 0");
	if (ld32(p + 252) != crc32c(0, p, 252))
		return qerr(QUIRE_ECORRUPT, "superblock: checksum mismatch");
	s->version = ld32(p + 8);
	if (s->version != QF_VERSION)
		return qerr(QUIRE_EVERSION,
			    "format version %u, this library reads %u",
			    s->version, QF_VERSION);
	if (ld32(p + 12) != QF_SUPER_SIZE)
		return qerr(QUIRE_ECORRUPT, "superblock: bad size");
	memcpy(s->file_id, p + 16, QF_FILE_ID);
	s->created_ns = ld64(p + 32);
	return 0;
}

void qslot_put(uint8_t *p, const struct qslot *s)
{
	memset(p, 0, QF_SLOT_SIZE);
	st64(p, s->latest_off);
	st64(p + 8, s->latest_txn);
	st64(p + 16, s->durable_off);
	st64(p + 24, s->durable_txn);
	st64(p + 32, s->boot_id);
	st64(p + 40, s->counter);
	st32(p + 48, s->flags);
	st32(p + 60, crc32c(0, p, 60));
}

int qslot_get(const uint8_t *p, struct qslot *s)
{
	if (ld32(p + 60) != crc32c(0, p, 60))
		return QUIRE_ECORRUPT;
	s->latest_off = ld64(p);
	s->latest_txn = ld64(p + 8);
	s->durable_off = ld64(p + 16);
	s->durable_txn = ld64(p + 24);
	s->boot_id = ld64(p + 32);
	s->counter = ld64(p + 40);
	s->flags = ld32(p + 48);
	if (s->durable_txn > s->latest_txn || s->latest_off < QF_SUPER_SIZE ||
	    s->durable_off < QF_SUPER_SIZE || s->durable_off > s->latest_off)
		return QUIRE_ECORRUPT;
	return 0;
}

void qsuper_clear_slots(uint8_t *p)
{
	memset(p + QF_SLOT0_OFF, 0, QF_SLOT_SIZE);
	memset(p + QF_SLOT1_OFF, 0, QF_SLOT_SIZE);
}
