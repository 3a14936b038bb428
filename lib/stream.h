/*
 * stream.h - the frames of a replication stream (stream.c): what
 * quire_ship() writes and quire_receive() reads. docs/FORMAT.md section 13
 * is the specification; the constants here must match it.
 */
#ifndef QUIRE_STREAM_H
#define QUIRE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define QS_FRAME_HDR 32u          /* every frame starts with this header */
#define QS_DATA_MAX ((uint32_t)1 << 20) /* longest DATA payload */
#define QS_START_FIXED 36u        /* START payload before the base header */
#define QS_COMMIT_SIZE 16u        /* COMMIT payload */
/* longest START payload: the one with the longest header */
#define QS_START_MAX (QS_START_FIXED + QF_HDR_FIXED + QF_META_MAX)
/* longest payload of any frame */
#define QS_PAYLOAD_MAX QS_DATA_MAX
_Static_assert(QS_START_MAX <= QS_PAYLOAD_MAX, "START fits a payload");

/* frame types */
#define QS_START 1     /* a file: its id and the commit the stream extends */
#define QS_DATA 2      /* file bytes at an offset */
#define QS_COMMIT 3    /* the bytes sent so far end with this commit */
#define QS_HEARTBEAT 4 /* a following sender is alive; nothing new */
#define QS_END 5       /* the sender is done */

struct qframe {
	uint8_t type;
	uint32_t len;  /* payload bytes after the header */
	uint64_t seq;  /* 0 for the first frame, +1 for each next one */
	uint64_t off;  /* DATA: file offset; COMMIT: its header's offset */
};

/* START's payload. */
struct qstart {
	uint8_t file_id[QF_FILE_ID];
	uint64_t base_txn;     /* the commit the stream extends (0: none) */
	uint64_t base_end;     /* where that commit ends (0: from byte 0) */
	uint32_t hdr_len;      /* its header's bytes follow */
	const uint8_t *hdr;
};

/* Write the header of frame f, whose payload is p, into h (the CRC covers
 * both). */
void qframe_put(uint8_t h[QS_FRAME_HDR], const struct qframe *f,
		const void *p);
/* Decode a frame header: 0, or QUIRE_ECORRUPT with a message (bad magic,
 * type, reserved bits or length). The CRC is checked by qframe_crc_ok()
 * once the payload is in. */
int qframe_get(const uint8_t h[QS_FRAME_HDR], struct qframe *f);
int qframe_crc_ok(const uint8_t h[QS_FRAME_HDR], const void *p, size_t len);

/* START's payload into p (QS_START_FIXED + s->hdr_len bytes). */
void qstart_put(uint8_t *p, const struct qstart *s);
/* Decode START's payload (s->hdr points into p): 0 or QUIRE_ECORRUPT. */
int qstart_get(const uint8_t *p, size_t len, struct qstart *s);

#endif
