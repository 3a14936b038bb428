/*
 * oplog.h - operation records, the values of the by-sequence tree.
 *
 * The by-sequence tree maps a sequence number (8 bytes, big-endian, so that
 * byte order is numeric order) to the operation that got it; the leaf
 * entry's meta field holds the commit's txn id. Every record starts with
 * the kind byte and the varint sequence number of the same key's previous
 * operation (0: none), the chain that key history follows. The rest says
 * what was done without storing a value twice:
 *
 *   PUTREF  varint leaf offset, varint leaf size, varint slot
 *           The put is the key's last operation in its commit, so its key and
 *           value sit in a key-tree leaf written by the same commit; the
 *           record points at that entry. Leaves are never rewritten, so the
 *           reference stays valid as long as the file does.
 *   DEL     varint klen, key
 *   PUT     varint klen, key, varint vh, value bytes or varint block offset
 *           (vh as in a leaf entry). For a put that is not its key's last
 *           operation among those the checkpoint folds (overwritten later
 *           in the same or a later commit): its value is in no leaf.
 *   RANGE   varint klen, first key, varint end (0: to the last key, else
 *           the end key's length + 1), end key bytes, varint count
 *           A range delete (quire_del_range): every key from the first up
 *           to the end (not included) went, count of them. prev_seq is 0:
 *           no key's chain passes through it.
 */
#ifndef QUIRE_OPLOG_H
#define QUIRE_OPLOG_H

#include <stddef.h>
#include <stdint.h>

#define OP_PUTREF 1
#define OP_DEL 2
#define OP_PUT 3
#define OP_RANGE 4

struct oprec {
	int kind;
	uint64_t prev_seq;
	uint64_t leaf_off;
	uint32_t leaf_size, slot;
	const uint8_t *key;
	uint32_t klen;
	uint32_t vlen;
	int ool;
	uint64_t ool_off;
	const uint8_t *val;
	const uint8_t *end; /* OP_RANGE: the end key, unless to_last */
	uint32_t elen;
	int to_last;
	uint64_t count;
};

size_t oprec_size(const struct oprec *r);
size_t oprec_put(uint8_t *d, const struct oprec *r);
/* 0 if [p, p + len) is exactly one well-formed record, else -1. */
int oprec_parse(const uint8_t *p, size_t len, struct oprec *r);

#endif
