/*
 * stream.c - encoding and validating decoding of replication stream
 * frames (docs/FORMAT.md section 13).
 *
 * A stream carries a file's committed bytes at their own offsets, so the
 * receiver's file is byte for byte the sender's prefix and every block
 * checksum (which covers its offset) holds there too. The frame adds what
 * a transport can break: a CRC over header and payload (damage), a
 * sequence number (frames lost, replayed or reordered), and a magic and
 * version (another protocol on the pipe).
 */
#include "config.h"

#include <string.h>

#include "crc32c.h"
#include "error.h"
#include "stream.h"
#include "util.h"

static const uint8_t magic[4] = {'q', 's', 't', '1'};

/* header layout: magic[4] type[1] 0[3] len[4] seq[8] off[8] crc[4] */
#define CRC_OFF 28u

static uint32_t frame_crc(const uint8_t h[QS_FRAME_HDR], const void *p,
			  size_t len)
{
	return crc32c(crc32c(0, h, CRC_OFF), p, len);
}

void qframe_put(uint8_t h[QS_FRAME_HDR], const struct qframe *f,
		const void *p)
{
	memcpy(h, magic, 4);
	h[4] = f->type;
	h[5] = h[6] = h[7] = 0;
	st32(h + 8, f->len);
	st64(h + 12, f->seq);
	st64(h + 20, f->off);
	st32(h + CRC_OFF, frame_crc(h, p, f->len));
}

int qframe_get(const uint8_t h[QS_FRAME_HDR], struct qframe *f)
{
	if (memcmp(h, magic, 4) != 0)
		return qerr(QUIRE_ECORRUPT,
			    "stream: not a quire stream frame (bad magic)");
	f->type = h[4];
	f->len = ld32(h + 8);
	f->seq = ld64(h + 12);
	f->off = ld64(h + 20);
	if (f->type < QS_START || f->type > QS_END || h[5] || h[6] || h[7])
		return qerr(QUIRE_ECORRUPT,
			    "stream: frame %llu: unknown type %u or flags",
			    (unsigned long long)f->seq, h[4]);
	uint32_t max = f->type == QS_DATA ? QS_DATA_MAX
		     : f->type == QS_START ? QS_START_MAX
		     : f->type == QS_COMMIT ? QS_COMMIT_SIZE : 0;
	if (f->len > max || (f->type == QS_COMMIT && f->len != max) ||
	    (f->type == QS_DATA && f->len == 0))
		return qerr(QUIRE_ECORRUPT,
			    "stream: frame %llu: bad length %lu",
			    (unsigned long long)f->seq, (unsigned long)f->len);
	return 0;
}

int qframe_crc_ok(const uint8_t h[QS_FRAME_HDR], const void *p, size_t len)
{
	return ld32(h + CRC_OFF) == frame_crc(h, p, len);
}

/* payload: file_id[16] base_txn[8] base_end[8] hdr_len[4] hdr[hdr_len] */
void qstart_put(uint8_t *p, const struct qstart *s)
{
	memcpy(p, s->file_id, QF_FILE_ID);
	st64(p + 16, s->base_txn);
	st64(p + 24, s->base_end);
	st32(p + 32, s->hdr_len);
	if (s->hdr_len)
		memcpy(p + QS_START_FIXED, s->hdr, s->hdr_len);
}

int qstart_get(const uint8_t *p, size_t len, struct qstart *s)
{
	if (len < QS_START_FIXED)
		goto bad;
	memcpy(s->file_id, p, QF_FILE_ID);
	s->base_txn = ld64(p + 16);
	s->base_end = ld64(p + 24);
	s->hdr_len = ld32(p + 32);
	s->hdr = p + QS_START_FIXED;
	/* a stream from byte 0 names no base; one after a commit names it
	 * with its whole header, which lies before where the commit ends */
	if (len != QS_START_FIXED + (size_t)s->hdr_len ||
	    (s->base_end == 0) != (s->base_txn == 0) ||
	    (s->base_end == 0) != (s->hdr_len == 0) ||
	    (s->base_end && (s->hdr_len < QF_HDR_V1 ||
			     s->base_end < QF_SUPER_SIZE + s->hdr_len)))
		goto bad;
	return 0;
bad:
	return qerr(QUIRE_ECORRUPT, "stream: a malformed start frame");
}
