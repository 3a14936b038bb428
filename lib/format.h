/*
 * format.h - encoders and validating decoders for the fixed structures of a
 * quire file: the block header shared by every block, the superblock with
 * its two live slots, and the commit header. docs/FORMAT.md is the
 * specification; the constants here must match it.
 *
 * Decoders never trust their input: each one checks the checksum, the magic
 * and every field it can, and returns QUIRE_ECORRUPT (with a message naming
 * the offset) instead of handing out a structure it could not verify.
 */
#ifndef QUIRE_FORMAT_H
#define QUIRE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define QF_VERSION 1           /* of the superblock (the file's layout) */
#define QF_SUPER_SIZE 4096u   /* the superblock; data starts after it */
#define QF_BLOCK_HDR 16u      /* every block starts with this header */
#define QF_HDR_VERSION 2       /* of the headers this library writes, */
#define QF_HDR_V3 3            /* or with feature bits set */
#define QF_HDR_FIXED 368u     /* fixed part of a commit header (version 2) */
#define QF_HDR_V1 320u        /* fixed part of a version 1 header */
#define QF_META_MAX 65536u    /* longest commit metadata */
#define QF_SLOT_SIZE 64u
#define QF_SLOT0_OFF 1024u    /* the two slots sit in different sectors */
#define QF_SLOT1_OFF 2048u
#define QF_NODE_MAX 65535u    /* node offsets are 16-bit */
#define QF_FILE_ID 16u

/* block types */
#define QB_HEADER 1
#define QB_NODE 2
#define QB_VALUE 3
#define QB_BATCH 4

/* trees named by a header */
#define QT_KEYS 0    /* user key -> value */
#define QT_SEQ 1     /* sequence number -> operation (the oplog) */
#define QT_COMMITS 2 /* (time, txn) -> header offset (the commit index) */
#define QT_DEAD 3    /* deleted key -> sequence number of its deletion */
#define QT_NTREES 4

extern const uint8_t qf_super_magic[8];
extern const uint8_t qf_header_magic[8];

/* The 16-byte header of every block after the superblock. */
struct qblock {
	uint32_t crc;  /* CRC-32C of bytes [4, size) of the block */
	uint8_t type;  /* QB_* */
	uint8_t b5;    /* node: tree id */
	uint8_t b6;    /* node: level (0 = leaf) */
	uint8_t b7;    /* reserved, 0 */
	uint32_t size; /* whole block, header included */
	uint32_t aux;  /* node: entry count; header: 0; value: 0 */
};

void qblock_put(uint8_t *p, const struct qblock *b);
void qblock_get(const uint8_t *p, struct qblock *b);
/* A block's checksum covers its file offset too (fed to the CRC before the
 * bytes), so a block that turns up anywhere but where it was written (a
 * misdirected or swapped write) fails: crc = CRC-32C(offset as 8 LE bytes,
 * then bytes [4, size)). qblock_crc_start() is the CRC state after the
 * offset, for callers that stream a block's bytes. */
uint32_t qblock_crc_start(uint64_t off);
/* Compute the CRC of a finished block of size bytes at p, to be written at
 * off, and store it. */
void qblock_seal(uint8_t *p, uint32_t size, uint64_t off);
/* Whether the stored CRC matches the block's bytes and offset. */
int qblock_crc_ok(const uint8_t *p, uint32_t size, uint64_t off);

/* A tree root as a header names it. */
struct qroot {
	uint64_t off;    /* 0: empty tree */
	uint32_t size;   /* root node size */
	uint16_t height; /* levels; 0 when empty */
	uint64_t count;  /* entries (keys or operations) */
	uint64_t bytes;  /* node and value-block bytes of the whole tree */
};

/* A decoded commit header. */
struct qhdr {
	uint32_t size;          /* block size (fixed part + meta_len) */
	uint32_t node_size;
	uint8_t file_id[QF_FILE_ID];
	uint64_t self_off;
	uint64_t txn;
	uint64_t time_ns;
	uint64_t prev_off;      /* 0 for the first header */
	uint64_t commit_start;  /* first byte of this commit's range */
	uint32_t range_crc;     /* CRC-32C of [commit_start, self_off) */
	uint32_t meta_len;
	uint64_t next_seq;
	uint64_t key_count;
	uint64_t live_bytes;
	uint64_t total_bytes;   /* self_off + size */
	struct qroot root[QT_NTREES];
	uint64_t history_seq;   /* oldest sequence number the oplog holds */
	uint64_t history_txn;   /* oldest commit still readable */
	uint64_t history_time;  /* time of the newest dropped commit
				 * (history_txn - 1), 0 if none */
	/* operations committed since the last checkpoint: a chain of batch
	 * blocks, newest first; the trees do not contain them yet */
	uint64_t pending_off;   /* newest batch, 0 if none */
	uint32_t pending_size;
	uint32_t pending_batches;
	uint64_t pending_ops;
	uint64_t pending_bytes;
	/* the header of the last checkpoint (this one's own offset for a
	 * checkpoint): the commit whose trees these are */
	uint64_t ckpt_off;
	/* version 2: the retention policy (the newest retain_commits commits,
	 * QF_KEEP_ALL: all, and those made in the last retain_ns ns stay
	 * when compaction drops history), and the key and value bytes of
	 * the live keys (QF_RAW_UNKNOWN in a version 1 header: then the
	 * out-of-line figures are 0) */
	uint64_t retain_commits;
	uint64_t retain_ns;
	uint64_t live_raw;
	uint64_t live_ool, live_ool_count; /* of them, the values stored out
					    * of line: bytes and how many */
	/* version 3: what a reader must know to read the file (QF_FEAT_*);
	 * a header without any is written as version 2, so that older
	 * readers keep reading files that use none */
	uint64_t features;
};

/* The sequence tree may hold range-delete records (kind 4). */
#define QF_FEAT_RANGES 1u
/* Keys are internal keys of keyspaces (lib/kspace.h): named keyspaces,
 * their catalog, escaped default keys. */
#define QF_FEAT_KEYSPACES 2u
/* Tombstone entries may carry tails: the keys a range delete removed
 * (lib/tomb.c). */
#define QF_FEAT_TAILS 4u
#define QF_FEAT_KNOWN (QF_FEAT_RANGES | QF_FEAT_KEYSPACES | QF_FEAT_TAILS)
/* Longest key in the file: a user's key (QUIRE_MAX_KEY_SIZE, quire.h)
 * after a named keyspace's 6-byte prefix (kspace.h). */
#define QF_MAX_KEY (8192 + 6)

#define QF_KEEP_ALL UINT64_MAX
#define QF_RAW_UNKNOWN UINT64_MAX

/* First sequence number not in the trees (the oplog tree holds
 * [history_seq, this)). */
static inline uint64_t qhdr_ckpt_seq(const struct qhdr *h)
{
	return h->next_seq - h->pending_ops;
}

/* Encode h into p[0..QF_HDR_FIXED) as a version 2 header and seal the
 * whole block; the caller has already placed meta_len bytes of metadata
 * at p + QF_HDR_FIXED. */
void qhdr_put(uint8_t *p, const struct qhdr *h);
/* Decode and verify a header block read from offset off: checksum, magic,
 * version, self offset and internal consistency. buf holds len >= 16 bytes;
 * if the block is longer, returns QUIRE_ECORRUPT with *need set to its size
 * so the caller can read it whole. */
int qhdr_get(const uint8_t *buf, size_t len, uint64_t off, struct qhdr *h,
	     uint32_t *need);

/* The static part of the superblock. */
struct qsuper {
	uint32_t version;
	uint8_t file_id[QF_FILE_ID];
	uint64_t created_ns;
};

/* A live slot: where the newest commit is, and the newest one known to be
 * on disk. See recover.c for how readers use it. */
struct qslot {
	uint64_t latest_off, latest_txn;
	uint64_t durable_off, durable_txn;
	uint64_t boot_id;
	uint64_t counter; /* the slot with the larger counter is current */
	uint32_t flags;   /* QF_SLOT_SUPERSEDED */
};

/* Slot flag: a compaction renamed a new file over this one's path. */
#define QF_SLOT_SUPERSEDED 1u

void qsuper_put(uint8_t *p, const struct qsuper *s);
int qsuper_get(const uint8_t *p, struct qsuper *s);
void qslot_put(uint8_t *p, const struct qslot *s);
int qslot_get(const uint8_t *p, struct qslot *s); /* 0 or QUIRE_ECORRUPT */
/* Empty both live slots of the superblock at p: a copy of a file names
 * its own newest commit, never the original's. */
void qsuper_clear_slots(uint8_t *p);

#endif
