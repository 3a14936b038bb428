/*
 * receive.c - quire_receive(): apply a replication stream (ship.c) to a
 * copy of the database, which serves readers meanwhile: a follower.
 *
 * The copy is written the way a writer writes its file: bytes past the
 * newest commit first, verified (the forward walk of FORMAT.md section 4
 * checks every block's checksum and the chain of headers), synced, and
 * only then named by a live slot. Readers of other processes see a new
 * commit once the slot names it, as they see any writer's. A crash
 * leaves the copy at its last complete commit; the bytes of one cut
 * short lie past every slot and are cut by the next writer.
 *
 * Nothing a stream says is trusted: frames carry a CRC and consecutive
 * sequence numbers, data must arrive at the next offset, bytes the copy
 * already holds must be equal (else the histories diverged), and a
 * commit is applied only once the walk finds exactly it. A stream that
 * fails any check is refused and the copy cut back to its last commit.
 *
 * A new copy, and the new file of a compacted leader (a second START
 * frame), are built as "<dst>.partial" and renamed over dst at their first
 * commit, after the old file's slot is marked superseded so its readers
 * move to the new one, as after a compaction.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "format.h"
#include "handle.h"
#include "ident.h"
#include "internal.h"
#include "io.h"
#include "recover.h"
#include "snap.h"
#include "stream.h"
#include "util.h"

struct recv {
	qvfs *vfs;
	unsigned mode;          /* of a new copy */
	int busy_ms;
	unsigned flags;
	const char *dst;        /* as the caller named it (messages) */
	char *path;             /* the file dst resolves to */
	char *ppath;            /* "<path>.partial" */
	quire_stream_read_fn read;
	void *ctx;
	quire_stream_stats *st;
	quire *d;               /* the copy, its writer lock held (or NULL) */
	struct qhdr last;       /* the copy's newest commit */
	qvfs_file *pf;          /* "<path>.partial" being built (or NULL) */
	int made;               /* "<path>.partial" is ours, to remove on
				 * failure */
	uint64_t end;           /* the offset the next data must start at */
	int wrote;              /* bytes went past the copy's newest commit */
	uint64_t seq;           /* the next frame's sequence number */
	int started;
	int mid;                /* data came after the last START or COMMIT */
	int whole;              /* the file is sent from byte 0 */
	uint64_t c_off, c_txn;  /* the last COMMIT frame */
	uint8_t file_id[QF_FILE_ID]; /* of the file being received */
	uint8_t *buf;           /* a payload */
	uint8_t *cmp;           /* the copy's bytes, to compare with one */
};

/* Read exactly n bytes; *eof (if not NULL) is set when the stream ended
 * before the first. */
static int read_all(struct recv *r, uint8_t *p, size_t n, int *eof)
{
	size_t done = 0;
	if (eof)
		*eof = 0;
	while (done < n) {
		size_t got = 0;
		if (r->read(r->ctx, p + done, n - done, &got) != 0)
			return qerr(QUIRE_EIO, "stream: the read function "
					       "failed; %s holds commit %llu",
				    r->dst, (unsigned long long)r->last.txn);
		if (got == 0) {
			if (done == 0 && eof) {
				*eof = 1;
				return 0;
			}
			return qerr(QUIRE_ECORRUPT,
				    "stream: cut short inside frame %llu",
				    (unsigned long long)r->seq);
		}
		done += QMIN(got, n - done);
	}
	return 0;
}

/* Open dst as the copy and take its writer lock; QUIRE_ENOENT (no
 * message) when it does not exist. */
static int open_copy(struct recv *r)
{
	int e = qdb_open_copy(r->path, r->vfs, r->busy_ms, &r->d);
	if (e == QUIRE_ENOENT) {
		qerr_clear();
		return e;
	}
	if (e == 0 && (e = writer_acquire(r->d)) != 0) {
		qdb_free(r->d);
		r->d = NULL;
	}
	if (e)
		return e;
	if ((e = df_writer_begin(r->d)) == 0) {
		struct snap *cur = snap_acquire(r->d);
		r->last = cur->h;
		snap_release(cur);
		r->end = r->last.total_bytes;
	}
	return e;
}

static void close_copy(struct recv *r)
{
	if (!r->d)
		return;
	writer_release(r->d);
	qdb_free(r->d);
	r->d = NULL;
}

/* Start "<path>.partial" for a file sent from byte 0, with the copy's
 * attributes when it replaces one. */
static int begin_partial(struct recv *r)
{
	struct qvfs_attrs a;
	int e = r->d ? ident_attrs(r->d->qf->f, r->dst, &a) : QUIRE_NOTFOUND;
	if (e && e != QUIRE_NOTFOUND)
		return e;
	qerr_clear();
	if (e == 0 && (e = ident_single(r->dst, &a)) != 0)
		return e;
	if ((e = ident_create(r->vfs, r->ppath, e == 0 ? &a : NULL, r->mode,
			      &r->pf)) == 0)
		r->made = 1;
	return e;
}

/* The copy's bytes [off, off + n) must be p's (they were committed). */
static int same_bytes(struct recv *r, const uint8_t *p, size_t n, uint64_t off)
{
	int e = df_read(r->d->qf, r->cmp, n, off, "committed bytes");
	if (e == 0 && memcmp(p, r->cmp, n) != 0)
		e = qerr(QUIRE_ECONFLICT,
			 "%s has diverged from the stream's database: their "
			 "bytes at offset %llu differ (written to since it "
			 "was copied?)",
			 r->dst, (unsigned long long)off);
	return e;
}

static int on_start(struct recv *r, size_t len)
{
	struct qstart s;
	int e = qstart_get(r->buf, len, &s);
	if (e)
		return e;
	if (r->started) {
		/* the leader was compacted: its new file from byte 0 */
		if (s.base_end != 0 || r->pf ||
		    !memcmp(s.file_id, r->file_id, QF_FILE_ID) ||
		    r->end != r->last.total_bytes)
			return qerr(QUIRE_ECORRUPT, "stream: frame %llu: a "
						    "start frame out of place",
				    (unsigned long long)r->seq);
	} else if ((e = open_copy(r)) != QUIRE_ENOENT) {
		if (e)
			return e;
		r->st->txn_before = r->st->txn = r->last.txn;
		int other = memcmp(s.file_id, r->d->qf->file_id, QF_FILE_ID);
		if (other && !(s.base_end == 0 &&
			       (r->flags & QUIRE_RECEIVE_FULL_IF_NEEDED)))
			return qerr(QUIRE_ECONFLICT,
				    "%s is not a copy of the stream's database "
				    "(another file id: another database, or "
				    "it was compacted since)",
				    r->dst);
		if (s.base_end > r->last.total_bytes)
			return qerr(QUIRE_ECONFLICT,
				    "%s ends at commit %llu, but the stream "
				    "starts after commit %llu: ship from %llu",
				    r->dst, (unsigned long long)r->last.txn,
				    (unsigned long long)s.base_txn,
				    (unsigned long long)r->last.txn);
		if (!other && s.base_end &&
		    (e = same_bytes(r, s.hdr, s.hdr_len,
				    s.base_end - s.hdr_len)) != 0)
			return e;
		if (!other) {
			r->started = 1;
			r->whole = s.base_end == 0;
			memcpy(r->file_id, s.file_id, QF_FILE_ID);
			r->end = s.base_end;
			return 0;
		}
	} else if (s.base_end != 0) {
		return qerr(QUIRE_ECONFLICT,
			    "%s does not exist, and the stream starts after "
			    "commit %llu: a new copy needs the whole stream "
			    "(ship from 0)",
			    r->dst, (unsigned long long)s.base_txn);
	}
	/* a new file: dst absent, replaced, or the leader compacted */
	r->started = 1;
	r->whole = 1;
	memcpy(r->file_id, s.file_id, QF_FILE_ID);
	r->end = 0;
	return begin_partial(r);
}

/* The superblock of a file sent from byte 0: its own, with no live slot
 * (the first commit's is written once the walk has verified it). */
static int superblock(struct recv *r, uint8_t *p, size_t n)
{
	struct qsuper s;
	if (n != QF_SUPER_SIZE || qsuper_get(p, &s) != 0 ||
	    memcmp(s.file_id, r->file_id, QF_FILE_ID) != 0)
		return qerr(QUIRE_ECORRUPT, "stream: frame %llu: not the "
					    "superblock of the file started",
			    (unsigned long long)r->seq);
	qsuper_clear_slots(p);
	return 0;
}

/* The copy is not a prefix of the file sent from byte 0, and may be
 * replaced: go on in "<path>.partial", starting with the bytes [0, upto)
 * both hold (its live slots cleared, as superblock() does). */
static int fork_partial(struct recv *r, uint64_t upto)
{
	int e;
	if (!(r->flags & QUIRE_RECEIVE_FULL_IF_NEEDED) || !r->whole)
		return QUIRE_ECONFLICT; /* the message is set */
	qerr_clear();
	if ((e = begin_partial(r)) != 0)
		return e;
	for (uint64_t off = 0; off < upto;) {
		size_t n = (size_t)QMIN((uint64_t)QS_DATA_MAX, upto - off);
		if ((e = df_read(r->d->qf, r->cmp, n, off, "committed bytes")) !=
		    0)
			return e;
		if (off == 0)
			qsuper_clear_slots(r->cmp);
		if ((e = io_write(r->pf, r->cmp, n, off)) != 0)
			return qerr_os(-e, "%s: writing %zu bytes at offset "
					   "%llu",
				       r->ppath, n, (unsigned long long)off);
		r->st->bytes += n;
		off += n;
	}
	return 0;
}

static int on_data(struct recv *r, uint64_t off, size_t n)
{
	uint8_t *p = r->buf;
	int e;
	if (!r->started || off != r->end)
		return qerr(QUIRE_ECORRUPT,
			    "stream: frame %llu: data at offset %llu, expected "
			    "%llu (frames lost, reordered or replayed)",
			    (unsigned long long)r->seq,
			    (unsigned long long)off,
			    (unsigned long long)r->end);
	if (off == 0 && (e = superblock(r, p, n)) != 0)
		return e;
	r->end += n;
	/* bytes the copy holds are compared (its own superblock stays) */
	uint64_t held = r->last.total_bytes;
	size_t k = off < held ? (size_t)QMIN((uint64_t)n, held - off) : 0;
	if (!r->pf && off > 0 && k && (e = same_bytes(r, p, k, off)) != 0 &&
	    (e = e == QUIRE_ECONFLICT ? fork_partial(r, off) : e) != 0)
		return e;
	if (r->pf) {
		if ((e = io_write(r->pf, p, n, off)) != 0)
			return qerr_os(-e, "%s: writing %zu bytes at offset "
					   "%llu",
				       r->ppath, n, (unsigned long long)off);
		r->st->bytes += n;
		return 0;
	}
	p += k;
	off += k;
	n -= k;
	if (!n)
		return 0;
	r->wrote = 1;
	if ((e = io_write(r->d->qf->f, p, n, off)) != 0)
		return qerr_os(-e, "%s: writing %zu bytes at offset %llu",
			       r->dst, n, (unsigned long long)off);
	r->st->bytes += n;
	return 0;
}

static int not_verified(struct recv *r, uint64_t txn)
{
	return qerr(QUIRE_ECORRUPT,
		    "stream: commit %llu does not verify in %s (a damaged or "
		    "forged stream)",
		    (unsigned long long)txn, r->dst);
}

/* The partial file's first commit is complete: verify it, mark the file
 * it replaces superseded, rename it into place and make it the copy. */
static int install(struct recv *r, uint64_t off, uint64_t txn)
{
	quire *p = NULL;
	int e, locked = 0;
	if ((e = r->pf->ops->sync(r->pf)) != 0) {
		e = qerr_os(-e, "%s: fdatasync", r->ppath);
		goto out;
	}
	/* its lock passes to the handle's writer lock (one per file) */
	r->pf->ops->close(r->pf);
	r->pf = NULL;
	/* the open walks the whole file from its first commit */
	if ((e = qdb_open_copy(r->ppath, r->vfs, r->busy_ms, &p)) != 0 ||
	    (e = writer_acquire(p)) != 0)
		goto out;
	locked = 1;
	if ((e = df_writer_begin(p)) != 0)
		goto out;
	struct snap *cur = snap_acquire(p);
	int ok = cur->h.self_off == off && cur->h.txn == txn &&
		 cur->h.total_bytes == r->end;
	snap_release(cur);
	if (!ok) {
		e = not_verified(r, txn);
		goto out;
	}
	if (r->d && (e = df_write_slot(r->d, &r->last, QF_SLOT_SUPERSEDED)) !=
			    0)
		goto out;
	if ((e = r->vfs->rename(r->vfs, r->ppath, r->path, !r->d)) != 0) {
		e = e == -EEXIST ? qerr(QUIRE_EBUSY, "%s: created by someone "
						     "else meanwhile",
					r->dst)
				 : qerr_os(-e, "%s: renaming to %s", r->ppath,
					   r->dst);
		if (r->d) /* best effort: the mark alone is harmless */
			df_write_slot(r->d, &r->last, 0);
		goto out;
	}
	r->made = 0;
	if ((e = r->vfs->sync_dir(r->vfs, r->path)) != 0) {
		e = qerr_os(-e, "%s: written, but syncing its directory "
				"failed: after a power loss it may be missing",
			    r->dst);
		goto out;
	}
	writer_release(p);
	locked = 0;
	qdb_free(p);
	p = NULL;
	close_copy(r);
	if ((e = open_copy(r)) == QUIRE_ENOENT)
		e = qerr(QUIRE_ENOENT, "%s: removed by someone else", r->dst);
out:
	if (locked)
		writer_release(p);
	if (p)
		qdb_free(p);
	return e;
}

static int on_commit(struct recv *r, uint64_t off)
{
	uint64_t txn = ld64(r->buf), total = ld64(r->buf + 8);
	struct qhdr h;
	int e;
	if (!r->started || total != r->end || off >= total ||
	    total - off < QF_HDR_V1)
		return qerr(QUIRE_ECORRUPT, "stream: frame %llu: commit %llu "
					    "before its bytes",
			    (unsigned long long)r->seq,
			    (unsigned long long)txn);
	r->c_off = off;
	r->c_txn = txn;
	if (r->pf) {
		if ((e = install(r, off, txn)) != 0)
			return e;
	} else if (total <= r->last.total_bytes) {
		/* one the copy holds: its bytes were compared */
		return 0;
	} else {
		if ((e = df_walk(r->d, &r->last, &h)) != 0)
			return e;
		if (h.self_off != off || h.txn != txn || h.total_bytes != total)
			return not_verified(r, txn);
		if ((e = df_fsync(r->d)) != 0)
			return e;
		r->d->durable_off = h.self_off;
		r->d->durable_txn = h.txn;
		r->last = h;
		r->wrote = 0;
		if ((e = df_write_slot(r->d, &h, 0)) != 0)
			return e;
	}
	r->st->commits++;
	r->st->txn = txn;
	return 0;
}

/* The END frame: at a commit the copy holds. */
static int on_end(struct recv *r)
{
	if (r->mid || r->pf)
		return qerr(QUIRE_ECORRUPT, "stream: ended inside a commit");
	if (r->end >= r->last.total_bytes)
		return 0;
	int e = qerr(QUIRE_ECONFLICT,
		     "%s is ahead of the stream's database: it holds commits "
		     "up to %llu, which the stream does not (a leader that "
		     "lost commits, or a copy written to)",
		     r->dst, (unsigned long long)r->last.txn);
	if (r->c_txn && (e = fork_partial(r, r->end)) == 0)
		e = install(r, r->c_off, r->c_txn);
	return e;
}

/* Read and apply frames until the END frame. */
static int run(struct recv *r)
{
	uint8_t hdr[QS_FRAME_HDR];
	for (;;) {
		struct qframe f;
		int eof, e = read_all(r, hdr, sizeof hdr, &eof);
		if (e)
			return e;
		if (eof)
			return qerr(QUIRE_ECORRUPT,
				    "stream: ended without its end frame (the "
				    "sender stopped, or the stream was cut); "
				    "%s holds commit %llu",
				    r->dst, (unsigned long long)r->last.txn);
		if ((e = qframe_get(hdr, &f)) != 0 ||
		    (e = read_all(r, r->buf, f.len, NULL)) != 0)
			return e;
		if (!qframe_crc_ok(hdr, r->buf, f.len))
			return qerr(QUIRE_ECORRUPT, "stream: frame %llu: bad "
						    "checksum",
				    (unsigned long long)f.seq);
		if (f.seq != r->seq)
			return qerr(QUIRE_ECORRUPT,
				    "stream: frame %llu where %llu was due "
				    "(frames lost, reordered or replayed)",
				    (unsigned long long)f.seq,
				    (unsigned long long)r->seq);
		if (!r->started && f.type != QS_START)
			return qerr(QUIRE_ECORRUPT, "stream: does not begin "
						    "with a start frame");
		switch (f.type) {
		case QS_START:
			e = on_start(r, f.len);
			break;
		case QS_DATA:
			e = on_data(r, f.off, f.len);
			break;
		case QS_COMMIT:
			e = on_commit(r, f.off);
			break;
		case QS_END:
			return on_end(r);
		}
		r->mid = f.type == QS_DATA || (r->mid && f.type == QS_HEARTBEAT);
		if (e)
			return e;
		r->seq++;
	}
}

int qdb_receive_vfs(const char *dst, const quire_options *opts, qvfs *vfs,
		    unsigned int flags, quire_stream_read_fn read, void *ctx,
		    quire_stream_stats *st)
{
	quire_options defaults;
	quire_stream_stats none;
	struct recv r = {.vfs = vfs, .dst = dst, .flags = flags, .read = read,
			 .ctx = ctx, .st = st ? st : &none};
	int e;
	qerr_clear();
	if (!opts) {
		quire_options_init(&defaults);
		opts = &defaults;
	}
	if (!dst || !*dst || !read || (flags & ~QUIRE_RECEIVE_FULL_IF_NEEDED) ||
	    opts->version != QUIRE_OPTIONS_VERSION)
		return qerr(QUIRE_EINVAL, "quire_receive: bad arguments");
	memset(r.st, 0, sizeof *r.st);
	r.mode = opts->mode;
	r.busy_ms = opts->busy_timeout_ms;
	/* a copy behind a symbolic link is written where the link points */
	e = ident_resolve(vfs, dst, &r.path);
	if (e == QUIRE_ENOENT) {
		qerr_clear();
		e = (r.path = strdup(dst)) ? 0 : qerr(QUIRE_ENOMEM, "out of memory");
	}
	if (e)
		return e;
	size_t n = strlen(r.path);
	r.ppath = malloc(n + sizeof ".partial");
	r.buf = malloc(QS_PAYLOAD_MAX);
	r.cmp = malloc(QS_DATA_MAX);
	if (!r.ppath || !r.buf || !r.cmp) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(r.ppath, r.path, n);
	memcpy(r.ppath + n, ".partial", sizeof ".partial");
	e = run(&r);
out:
	if (r.pf)
		r.pf->ops->close(r.pf);
	if (r.made)
		vfs->remove(vfs, r.ppath);
	if (r.d) {
		/* refused or cut: nothing past the newest commit stays */
		if (e && r.wrote)
			r.d->qf->f->ops->truncate(r.d->qf->f,
						  r.last.total_bytes);
		close_copy(&r);
	}
	free(r.path);
	free(r.ppath);
	free(r.buf);
	free(r.cmp);
	return e;
}

int quire_receive(const char *dst, const quire_options *opts,
		  unsigned int flags, quire_stream_read_fn read, void *ctx,
		  quire_stream_stats *st)
{
	return qdb_receive_vfs(dst, opts, qvfs_unix(), flags, read, ctx, st);
}
