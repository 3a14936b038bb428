/*
 * ship.c - quire_ship(): the committed bytes of a database as a stream of
 * frames (stream.c), for quire_receive() at the other end of any
 * transport.
 *
 * Like a backup it holds no lock of the database: each round pins a read
 * snapshot and sends what lies between the last commit sent and the
 * snapshot's, then one COMMIT frame naming the snapshot's commit, so the
 * receiver always ends at a commit the sender had. A following ship waits
 * for the next commit with quire_wait() and sends a heartbeat when none
 * comes for a while. When the database has been compacted (a new file
 * id) the stream goes on with a new START and the new file from byte 0,
 * which the receiver builds beside its copy and swaps in.
 *
 * Only synced commits are shipped: a commit made with QUIRE_NOSYNC goes
 * once a later sync covers it (the live slot's durable commit), so that
 * no follower holds a commit a power loss could still take from the
 * database, which would make the follower diverge from it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "internal.h"
#include "stream.h"
#include "txn.h"
#include "util.h"

#define HEARTBEAT_MS 1000

struct ship {
	quire *db;
	quire_stream_write_fn write;
	void *ctx;
	quire_stream_stats *st;
	uint64_t seq;                 /* of the next frame */
	uint64_t end;                 /* bytes of the file sent so far */
	int started;
	uint8_t file_id[QF_FILE_ID];  /* of the file being sent */
	uint8_t *buf;                 /* frame header + the longest payload */
};

/* Send the frame whose payload is already at s->buf + QS_FRAME_HDR. */
static int emit(struct ship *s, uint8_t type, uint64_t off, uint32_t len)
{
	struct qframe f = {.type = type, .len = len, .seq = s->seq, .off = off};
	qframe_put(s->buf, &f, s->buf + QS_FRAME_HDR);
	if (s->write(s->ctx, s->buf, QS_FRAME_HDR + (size_t)len) != 0)
		return qerr(QUIRE_ECANCELED, "quire_ship: stopped by the "
					     "stream's write function");
	s->seq++;
	return 0;
}

/* START for the file qf, extending base (NULL: from byte 0). */
static int start(struct ship *s, struct qfile *qf, const struct qhdr *base)
{
	struct qstart st = {.base_txn = base ? base->txn : 0,
			    .base_end = base ? base->total_bytes : 0,
			    .hdr_len = base ? base->size : 0};
	uint8_t *p = s->buf + QS_FRAME_HDR;
	int e;
	memcpy(st.file_id, qf->file_id, QF_FILE_ID);
	/* the base's header bytes go after the fixed part */
	if (base && (e = df_read(qf, p + QS_START_FIXED, base->size,
				 base->self_off, "a header")) != 0)
		return e;
	st.hdr = p + QS_START_FIXED;
	qstart_put(p, &st);
	memcpy(s->file_id, qf->file_id, QF_FILE_ID);
	s->end = st.base_end;
	s->started = 1;
	return emit(s, QS_START, 0, QS_START_FIXED + st.hdr_len);
}

/* Send the bytes after what was sent up to h's end, and h's COMMIT. */
static int send_commit(struct ship *s, struct qfile *qf, const struct qhdr *h)
{
	uint8_t *p = s->buf + QS_FRAME_HDR;
	int e;
	while (s->end < h->total_bytes) {
		/* the superblock alone: the receiver puts its own slots in */
		uint64_t max = s->end < QF_SUPER_SIZE ? QF_SUPER_SIZE - s->end
						      : QS_DATA_MAX;
		uint32_t n = (uint32_t)QMIN(max, h->total_bytes - s->end);
		if ((e = df_read(qf, p, n, s->end, "committed bytes")) != 0 ||
		    (e = emit(s, QS_DATA, s->end, n)) != 0)
			return e;
		s->st->bytes += n;
		s->end += n;
	}
	st64(p, h->txn);
	st64(p + 8, h->total_bytes);
	if ((e = emit(s, QS_COMMIT, h->self_off, QS_COMMIT_SIZE)) != 0)
		return e;
	s->st->commits++;
	s->st->txn = h->txn;
	return 0;
}

/*
 * Pin the newest synced commit in *out (the newest commit when it is
 * synced, as without QUIRE_NOSYNC it always is); *next_seq is the newest
 * commit's next sequence number, what a wait for a later commit waits
 * past.
 */
static int pin_synced(quire *db, quire_txn **out, uint64_t *next_seq)
{
	quire_txn *t = NULL, *d = NULL;
	struct qslot sl;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		return e;
	*next_seq = t->snap->h.next_seq;
	if (df_read_slots(t->snap->qf, &sl) != 0 ||
	    sl.durable_txn >= t->snap->h.txn) {
		qerr_clear(); /* no slot to tell: a new file, synced */
		*out = t;
		return 0;
	}
	/* the synced commit of the snapshot's file (a compaction between
	 * the two begins: the new file's first commit is synced) */
	if ((e = quire_begin_at(db, sl.durable_txn, &d)) == 0 &&
	    d->snap->qf != t->snap->qf) {
		quire_abort(d);
		d = NULL;
		e = quire_begin(db, QUIRE_RDONLY, &d);
	}
	quire_abort(t);
	*out = d;
	return e;
}

/* The first round: START after commit from (0: from byte 0), then the
 * commits up to the newest. */
static int first(struct ship *s, uint64_t from)
{
	quire_txn *t = NULL, *b = NULL;
	uint64_t seq;
	int e = pin_synced(s->db, &t, &seq);
	if (e)
		return e;
	const struct qhdr *h = &t->snap->h;
	if (from > h->txn) {
		e = qerr(QUIRE_EINVAL, "quire_ship: commit %llu is past the "
				       "newest, %llu",
			 (unsigned long long)from, (unsigned long long)h->txn);
		goto out;
	}
	if (from && from < h->txn && (e = quire_begin_at(s->db, from, &b)) != 0)
		goto out;
	if (b && b->snap->qf != t->snap->qf) { /* compacted between */
		e = qerr(QUIRE_EHISTORY, "quire_ship: commit %llu is no longer "
					 "in the database (compacted away)",
			 (unsigned long long)from);
		goto out;
	}
	s->st->txn_before = from;
	if ((e = start(s, t->snap->qf, from ? (b ? &b->snap->h : h) : NULL)) ==
		    0 &&
	    h->total_bytes > s->end)
		e = send_commit(s, t->snap->qf, h);
	s->st->txn = h->txn;
out:
	quire_abort(b);
	quire_abort(t);
	return e;
}

/* A later round: what was committed since, a heartbeat if nothing was
 * within HEARTBEAT_MS. */
static int next(struct ship *s)
{
	quire_txn *t = NULL;
	uint64_t seq;
	int e = pin_synced(s->db, &t, &seq);
	if (e)
		return e;
	const struct qhdr *h = &t->snap->h;
	struct qfile *qf = t->snap->qf;
	if (memcmp(qf->file_id, s->file_id, QF_FILE_ID) != 0) {
		if ((e = start(s, qf, NULL)) == 0)
			e = send_commit(s, qf, h);
		s->st->rebases++;
	} else if (h->total_bytes > s->end) {
		e = send_commit(s, qf, h);
	} else {
		quire_abort(t);
		t = NULL;
		e = quire_wait(s->db, seq, HEARTBEAT_MS);
		if (e == QUIRE_ETIMEDOUT)
			e = emit(s, QS_HEARTBEAT, 0, 0);
	}
	quire_abort(t);
	return e;
}

int quire_ship(quire *db, uint64_t from_txn, unsigned int flags,
	       quire_stream_write_fn write, void *ctx, quire_stream_stats *st)
{
	quire_stream_stats none;
	struct ship s = {.db = db, .write = write, .ctx = ctx,
			 .st = st ? st : &none};
	int e;
	qerr_clear();
	if (!db || !write || (flags & ~QUIRE_SHIP_FOLLOW))
		return qerr(QUIRE_EINVAL, "quire_ship: bad arguments");
	memset(s.st, 0, sizeof *s.st);
	if (!(s.buf = malloc(QS_FRAME_HDR + QS_PAYLOAD_MAX)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	e = first(&s, from_txn);
	while (!e && (flags & QUIRE_SHIP_FOLLOW))
		e = next(&s);
	if (!e)
		e = emit(&s, QS_END, 0, 0);
	free(s.buf);
	return e;
}
