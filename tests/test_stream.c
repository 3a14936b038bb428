/*
 * test_stream.c - quire_ship and quire_receive: followers checked against
 * a model of every commit (incremental streams, full streams into an
 * existing copy, a following stream across compactions of the leader),
 * every way a transport can break a stream (a flipped bit in every frame,
 * a cut at every frame boundary, frames dropped, replayed, swapped or
 * taken from another database's stream), a crash and an I/O error at
 * every call of a receive, and a follower in another process serving
 * readers in a third while the leader commits and compacts.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "copymodel.h"
#include "internal.h"
#include "memvfs.h"
#include "stream.h"
#include "testutil.h"
#include "util.h"

#define NCOMMITS 80

/* A commit of one value of n bytes: a stream of several data frames. */
static void big_commit(quire *db, struct hist *h, size_t n)
{
	quire_txn *t;
	struct model *m = &h->state[h->n + 1];
	uint8_t *v = malloc(n);
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(i * 7 + n);
	model_copy(m, &h->state[h->n]);
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "big", 3, v, n));
	model_put(m, "big", 3, v, n);
	h->txn[h->n + 1] = quire_txn_id(t);
	QOK(quire_commit(t));
	h->n++;
	free(v);
}

static quire *open_leader(qvfs *vfs, const char *path)
{
	quire_options o;
	quire *db;
	quire_retention r = {.commits = QUIRE_KEEP_ALL};
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.auto_compact_ratio = 0; /* compactions are the test's */
	QOK(qdb_open_vfs(path, &o, vfs, &db));
	QOK(quire_set_retention(db, &r));
	return db;
}

/* The follower's newest commit (0: it does not open). */
static uint64_t newest(qvfs *vfs, const char *path)
{
	quire_options o;
	quire *d;
	quire_txn *t;
	uint64_t txn = 0;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	if (qdb_open_vfs(path, &o, vfs, &d) != 0)
		return 0;
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	txn = quire_txn_id(t);
	quire_abort(t);
	QOK(quire_close(d));
	return txn;
}

/* ---- a stream in memory ---------------------------------------------- */

struct sbuf {
	uint8_t *p;
	size_t n, cap;
	size_t rpos;     /* reading */
	uint64_t rng;    /* reads come in random pieces */
	int fail_write;  /* the write function refuses */
};

static int sbuf_write(void *ctx, const void *buf, size_t len)
{
	struct sbuf *s = ctx;
	if (s->fail_write)
		return 1;
	if (!len)
		return 0;
	if (s->n + len > s->cap) {
		s->cap = (s->n + len) * 2;
		s->p = realloc(s->p, s->cap);
		assert_non_null(s->p);
	}
	memcpy(s->p + s->n, buf, len);
	s->n += len;
	return 0;
}

static int sbuf_read(void *ctx, void *buf, size_t len, size_t *got)
{
	struct sbuf *s = ctx;
	size_t k = QMIN(len, s->n - s->rpos);
	*got = 0;
	if (!k)
		return 0;
	if (k > 1)
		k = 1 + (size_t)tu_below(&s->rng, k);
	memcpy(buf, s->p + s->rpos, k);
	s->rpos += k;
	*got = k;
	return 0;
}

static void sbuf_free(struct sbuf *s)
{
	free(s->p);
	memset(s, 0, sizeof *s);
}

/* Receive all of s into dst over vfs. */
static int receive(qvfs *vfs, const char *dst, struct sbuf *s,
		   unsigned flags, quire_stream_stats *st)
{
	s->rpos = 0;
	return qdb_receive_vfs(dst, NULL, vfs, flags, sbuf_read, s, st);
}

/* Where each frame of s starts (*n frames, the end at off[*n]). */
static size_t *frames(const struct sbuf *s, size_t *n)
{
	size_t cap = 0, k = 0, *off = NULL, pos = 0;
	while (pos < s->n) {
		off = tu_push(off, &cap, k + 2, sizeof *off, 64);
		off[k++] = pos;
		pos += QS_FRAME_HDR + ld32(s->p + pos + 8);
	}
	assert_int_equal(pos, s->n);
	off[k] = pos;
	*n = k;
	return off;
}

/* ---- the model ------------------------------------------------------- */

/* Random commits and compactions on the leader; now and then a follower
 * catches up: by an incremental stream from its newest commit, or by a
 * whole stream that it compares with what it holds; after a compaction
 * both are refused, and a whole stream replaces the follower with
 * QUIRE_RECEIVE_FULL_IF_NEEDED. Every follower is the leader at the
 * commit the stream ended with. */
static void test_model(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0x5a1e), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	qvfs *vfs = memvfs_vfs(m);
	struct hist h = {0};
	quire_stream_stats st, rs;
	quire *db = open_leader(vfs, "/leader.q");
	int incs = 0, wholes = 0, compactions = 0, refused = 0, replaced = 0;
	print_message("# seed %llu (QUIRE_SEED)\n", (unsigned long long)seed);
	for (int c = 0; c < NCOMMITS; c++) {
		hist_commit(db, &h, &rng);
		uint64_t have = newest(vfs, "/f.q");
		struct sbuf s = {.rng = rng + (uint64_t)c};
		int e;
		switch (tu_below(&rng, 8)) {
		case 0:
		case 1:
		case 2: /* incremental, or the first whole one */
			e = quire_ship(db, have, 0, sbuf_write, &s, &st);
			if (e == QUIRE_EHISTORY) { /* compacted past it */
				sbuf_free(&s);
				QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
			} else {
				QOK(e);
				assert_int_equal(st.txn_before, have);
			}
			e = receive(vfs, "/f.q", &s, 0, &rs);
			if (e == QUIRE_ECONFLICT) { /* compacted since */
				refused++;
				assert_int_equal(newest(vfs, "/f.q"), have);
				if (st.txn_before) {
					sbuf_free(&s);
					QOK(quire_ship(db, 0, 0, sbuf_write, &s,
						       &st));
				}
				QOK(receive(vfs, "/f.q", &s,
					    QUIRE_RECEIVE_FULL_IF_NEEDED, &rs));
				replaced++;
			} else {
				QOK(e);
				assert_int_equal(rs.txn_before, have);
				incs++;
			}
			assert_int_equal(rs.txn, h.txn[h.n]);
			hist_check_copy(vfs, "/f.q", &h, rs.txn, &rng, 1);
			break;
		case 3: /* a whole stream into the follower it extends */
			QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
			e = receive(vfs, "/f.q", &s, 0, &rs);
			if (e == QUIRE_ECONFLICT) {
				refused++;
				assert_int_equal(newest(vfs, "/f.q"), have);
				QOK(receive(vfs, "/f.q", &s,
					    QUIRE_RECEIVE_FULL_IF_NEEDED, &rs));
				replaced++;
			} else {
				QOK(e);
				wholes++;
				if (have) /* only the new bytes were written */
					assert_true(rs.bytes < st.bytes);
			}
			hist_check_copy(vfs, "/f.q", &h, rs.txn, &rng, 1);
			break;
		case 4:
			if (tu_below(&rng, 2) == 0 ||
			    (c > NCOMMITS / 2 && !compactions)) {
				/* all history kept, or only the newest */
				quire_compact_options co;
				quire_compact_options_init(&co);
				co.keep_last = tu_below(&rng, 2);
				QOK(quire_compact(db, co.keep_last ? &co : NULL));
				compactions++;
			}
			break;
		default:
			break;
		}
		sbuf_free(&s);
	}
	/* caught up, the follower is byte for byte the leader past the
	 * superblock (whose slots differ) */
	struct sbuf s = {.rng = rng};
	uint64_t have = newest(vfs, "/f.q");
	int e = quire_ship(db, have, 0, sbuf_write, &s, &st);
	if (e == QUIRE_EHISTORY) {
		sbuf_free(&s);
		QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
	}
	if ((e = receive(vfs, "/f.q", &s, 0, &rs)) == QUIRE_ECONFLICT) {
		sbuf_free(&s); /* only a whole stream may replace it */
		QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
		QOK(receive(vfs, "/f.q", &s, QUIRE_RECEIVE_FULL_IF_NEEDED, &rs));
		replaced++;
	}
	QOK(e == QUIRE_ECONFLICT ? 0 : e);
	sbuf_free(&s);
	same_past_superblock(m, "/f.q", "/leader.q");
	print_message("# %d incremental and %d whole streams applied, %d "
		      "compactions, %d refused, %d replaced\n",
		      incs, wholes, compactions, refused, replaced);
	assert_true(incs >= 10);
	assert_true(wholes >= 3);
	assert_true(replaced >= 1);
	QOK(quire_close(db));
	hist_free(&h);
	memvfs_free(m);
}

/* A following ship driven from its own write function: at every commit or
 * heartbeat frame the leader commits, and now and then compacts, so the
 * stream carries new files too; after the last commit is shipped the
 * write function stops it. The receiver applies each commit and each new
 * file, and ends at the last commit (the stream has no end frame). */
struct follow_ctx {
	struct sbuf s;
	quire *db;
	struct hist *h;
	uint64_t rng;
	int commits, compactions;
};

static int follow_write(void *ctx, const void *buf, size_t len)
{
	struct follow_ctx *f = ctx;
	uint8_t type = ((const uint8_t *)buf)[4];
	sbuf_write(&f->s, buf, len);
	if (type != QS_COMMIT && type != QS_HEARTBEAT)
		return 0;
	if (f->commits == 40) /* shipped: stop at the heartbeat after it */
		return type == QS_HEARTBEAT;
	if ((f->commits >= 20 && !f->compactions) ||
	    tu_below(&f->rng, 10) == 0) {
		QOK(quire_compact(f->db, NULL));
		f->compactions++;
	}
	int n = 1 + (int)tu_below(&f->rng, 3);
	for (int i = 0; i < n && f->commits < 40; i++, f->commits++)
		hist_commit(f->db, f->h, &f->rng);
	return 0;
}

static void test_follow(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xf011), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	qvfs *vfs = memvfs_vfs(m);
	struct hist h = {0};
	quire_stream_stats st, rs;
	quire *db = open_leader(vfs, "/leader.q");
	for (int c = 0; c < 5; c++)
		hist_commit(db, &h, &rng);
	struct follow_ctx f = {.s = {.rng = seed}, .db = db, .h = &h,
			       .rng = seed * 3};
	assert_int_equal(quire_ship(db, 0, QUIRE_SHIP_FOLLOW, follow_write, &f,
				    &st),
			 QUIRE_ECANCELED);
	assert_int_equal(st.txn, h.txn[h.n]);
	assert_int_equal(st.rebases, (uint64_t)f.compactions);
	/* no end frame: refused at the end, at the last commit */
	int e = receive(vfs, "/f.q", &f.s, 0, &rs);
	assert_int_equal(e, QUIRE_ECORRUPT);
	assert_non_null(strstr(quire_errmsg(), "end frame"));
	assert_int_equal(rs.txn, h.txn[h.n]);
	assert_true(rs.commits >= 10);
	hist_check_copy(vfs, "/f.q", &h, h.txn[h.n], &rng, 1);
	print_message("# %llu commit frames, %d compactions of the leader "
		      "followed\n",
		      (unsigned long long)rs.commits, f.compactions);
	assert_true(f.compactions >= 1);
	sbuf_free(&f.s);
	QOK(quire_close(db));
	hist_free(&h);
	memvfs_free(m);
}

/* Commits made with QUIRE_NOSYNC are shipped once a sync covers them:
 * a follower never holds a commit a power loss could take from the
 * leader. */
static void test_nosync(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0x5c), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	qvfs *vfs = memvfs_vfs(m);
	struct hist h = {0};
	quire_stream_stats st, rs;
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.auto_compact_ratio = 0;
	QOK(qdb_open_vfs("/leader.q", &o, vfs, &db));
	hist_commit(db, &h, &rng);
	QOK(quire_sync(db));
	uint64_t synced = h.txn[h.n];
	for (int c = 0; c < 4; c++)
		hist_commit(db, &h, &rng);
	struct sbuf s = {.rng = seed};
	QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
	assert_int_equal(st.txn, synced);
	QOK(receive(vfs, "/f.q", &s, 0, &rs));
	hist_check_copy(vfs, "/f.q", &h, synced, &rng, 0);
	sbuf_free(&s);
	/* a power loss now takes the unsynced commits from the leader; the
	 * follower never had them, so it still extends the leader */
	QOK(quire_sync(db));
	QOK(quire_ship(db, synced, 0, sbuf_write, &s, &st));
	assert_int_equal(st.txn, h.txn[h.n]);
	QOK(receive(vfs, "/f.q", &s, 0, &rs));
	hist_check_copy(vfs, "/f.q", &h, h.txn[h.n], &rng, 0);
	sbuf_free(&s);
	QOK(quire_close(db));
	hist_free(&h);
	memvfs_free(m);
}

/* ---- a broken stream ------------------------------------------------- */

/* Apply the mutated stream s to a copy of the follower at commit `from`
 * (bytes base, size bn): it must fail, and leave the follower exactly as
 * it was, or (only when the damage came after the commit frame) at the
 * stream's commit `to`. */
static void expect_refused(struct memvfs *m, struct sbuf *s,
			   const uint8_t *base, size_t bn, uint64_t from,
			   uint64_t to, int may_apply, const char *what,
			   size_t i)
{
	qvfs *vfs = memvfs_vfs(m);
	quire_stream_stats rs;
	memvfs_set(m, "/f.q", base, bn);
	int e = receive(vfs, "/f.q", s, 0, &rs);
	if (e == 0)
		fail_msg("%s of frame %zu: accepted", what, i);
	assert_true(e == QUIRE_ECORRUPT || e == QUIRE_ECONFLICT);
	assert_true(*quire_errmsg());
	uint64_t got = newest(vfs, "/f.q");
	size_t n;
	const uint8_t *p = memvfs_data(m, "/f.q", &n);
	if (got == from) {
		assert_int_equal(n, bn);
		assert_memory_equal(p + 4096, base + 4096, n - 4096);
	} else if (!may_apply || got != to) {
		fail_msg("%s of frame %zu: the follower at commit %llu", what,
			 i, (unsigned long long)got);
	}
	assert_null(memvfs_data(m, "/f.q.partial", &n));
}

static void test_frames(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xf4a3), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	qvfs *vfs = memvfs_vfs(m);
	struct hist h = {0};
	quire_stream_stats st, rs;
	quire *db = open_leader(vfs, "/leader.q");
	quire *other = open_leader(vfs, "/other.q");
	struct hist oh = {0};
	int checks = 0;
	for (int c = 0; c < 8; c++) {
		hist_commit(db, &h, &rng);
		hist_commit(other, &oh, &rng);
	}
	struct sbuf s = {.rng = seed};
	QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
	QOK(receive(vfs, "/f.q", &s, 0, &rs));
	uint64_t from = rs.txn;
	size_t bn;
	const uint8_t *fp = memvfs_data(m, "/f.q", &bn);
	uint8_t *base = tu_dup(fp, bn);
	for (int c = 0; c < 4; c++)
		hist_commit(db, &h, &rng);
	big_commit(db, &h, (size_t)5 << 19);
	hist_commit(db, &h, &rng);
	uint64_t to = h.txn[h.n];
	/* the stream: START, DATA..., COMMIT, END; and another database's */
	struct sbuf good = {.rng = seed}, alien = {.rng = seed};
	QOK(quire_ship(db, from, 0, sbuf_write, &good, &st));
	QOK(quire_ship(other, 0, 0, sbuf_write, &alien, &st));
	size_t nf, na;
	size_t *fo = frames(&good, &nf), *ao = frames(&alien, &na);
	assert_true(nf >= 6); /* START, 3 DATA at least, COMMIT, END */
	/* the commit frame is the last but one: damage to it (replayed, the
	 * next dropped) or after it may leave the follower at the new
	 * commit */
	for (size_t i = 0; i < nf; i++) {
		int after = i + 2 >= nf;
		size_t flen = fo[i + 1] - fo[i];
		/* a flipped bit, anywhere in the frame */
		for (int k = 0; k < 3; k++) {
			struct sbuf b = {.rng = rng + i};
			sbuf_write(&b, good.p, good.n);
			size_t bit = (size_t)tu_below(&rng, flen * 8);
			b.p[fo[i] + bit / 8] ^= (uint8_t)(1u << (bit % 8));
			expect_refused(m, &b, base, bn, from, to, after,
				       "a flipped bit", i);
			sbuf_free(&b);
			checks++;
		}
		/* cut before the frame, and inside it */
		struct sbuf b = {.rng = rng + i};
		sbuf_write(&b, good.p, fo[i]);
		expect_refused(m, &b, base, bn, from, to, after, "a cut", i);
		sbuf_write(&b, good.p + fo[i],
			   1 + (size_t)tu_below(&rng, flen - 1));
		expect_refused(m, &b, base, bn, from, to, after, "a cut", i);
		sbuf_free(&b);
		/* dropped */
		b.rng = rng;
		sbuf_write(&b, good.p, fo[i]);
		sbuf_write(&b, good.p + fo[i + 1], good.n - fo[i + 1]);
		expect_refused(m, &b, base, bn, from, to, after, "dropping", i);
		sbuf_free(&b);
		/* replayed: sent twice (after the end frame nothing is
		 * read, so not that one) */
		b.rng = rng;
		if (after)
			continue;
		sbuf_write(&b, good.p, fo[i + 1]);
		sbuf_write(&b, good.p + fo[i], good.n - fo[i]);
		expect_refused(m, &b, base, bn, from, to, after, "replaying", i);
		sbuf_free(&b);
		/* swapped with the next */
		if (i + 1 < nf) {
			b.rng = rng;
			sbuf_write(&b, good.p, fo[i]);
			sbuf_write(&b, good.p + fo[i + 1], fo[i + 2] - fo[i + 1]);
			sbuf_write(&b, good.p + fo[i], flen);
			sbuf_write(&b, good.p + fo[i + 2], good.n - fo[i + 2]);
			expect_refused(m, &b, base, bn, from, to,
				       i + 2 == nf, "swapping", i);
			sbuf_free(&b);
		}
		/* the frame of the same number from another database's
		 * stream in its place (end frames are all alike) */
		if (i < na && !after) {
			b.rng = rng;
			sbuf_write(&b, good.p, fo[i]);
			sbuf_write(&b, alien.p + ao[i], ao[i + 1] - ao[i]);
			sbuf_write(&b, good.p + fo[i + 1], good.n - fo[i + 1]);
			expect_refused(m, &b, base, bn, from, to, after,
				       "another stream's", i);
			sbuf_free(&b);
		}
		checks += 5;
	}
	/* another database's whole stream: refused, nothing written */
	expect_refused(m, &alien, base, bn, from, to, 0, "another database", 0);
	/* a stream that starts after the follower's newest commit: a gap */
	struct sbuf later = {.rng = seed};
	QOK(quire_ship(db, to - 1, 0, sbuf_write, &later, &st));
	expect_refused(m, &later, base, bn, from, to, 0, "a gap", 0);
	/* a follower written to since: diverged */
	memvfs_set(m, "/f.q", base, bn);
	quire_options o;
	quire *d;
	quire_options_init(&o);
	QOK(qdb_open_vfs("/f.q", &o, vfs, &d));
	tu_put1(d, "zz", "written");
	QOK(quire_close(d));
	size_t dn;
	fp = memvfs_data(m, "/f.q", &dn);
	uint8_t *div = tu_dup(fp, dn);
	expect_refused(m, &good, div, dn, from + 1, to, 0, "diverged", 0);
	/* and the good stream, still applied after all that */
	memvfs_set(m, "/f.q", base, bn);
	QOK(receive(vfs, "/f.q", &good, 0, &rs));
	hist_check_copy(vfs, "/f.q", &h, to, &rng, 1);
	/* the first stream again: the follower is ahead of it now */
	assert_int_equal(receive(vfs, "/f.q", &s, 0, &rs), QUIRE_ECONFLICT);
	assert_non_null(strstr(quire_errmsg(), "is ahead of"));
	assert_int_equal(newest(vfs, "/f.q"), to);
	/* which may replace it, from the first byte: back at `from` */
	QOK(receive(vfs, "/f.q", &s, QUIRE_RECEIVE_FULL_IF_NEEDED, &rs));
	hist_check_copy(vfs, "/f.q", &h, from, &rng, 1);
	sbuf_free(&s);
	/* and a diverged follower is replaced by a whole stream too */
	memvfs_set(m, "/f.q", div, dn);
	QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
	assert_int_equal(receive(vfs, "/f.q", &s, 0, &rs), QUIRE_ECONFLICT);
	QOK(receive(vfs, "/f.q", &s, QUIRE_RECEIVE_FULL_IF_NEEDED, &rs));
	hist_check_copy(vfs, "/f.q", &h, to, &rng, 1);
	assert_null(memvfs_data(m, "/f.q.partial", &dn));
	sbuf_free(&s);
	print_message("# %d broken streams refused (%zu frames)\n", checks + 4,
		      nf);
	assert_true(checks >= 20);
	free(div);
	free(fo);
	free(ao);
	free(base);
	sbuf_free(&good);
	sbuf_free(&alien);
	sbuf_free(&later);
	QOK(quire_close(other));
	QOK(quire_close(db));
	hist_free(&h);
	hist_free(&oh);
	memvfs_free(m);
}

/* ---- crashes and faults ---------------------------------------------- */

enum kind { NEW_COPY, INCREMENT, REPLACE, DIVERGED, NKINDS };
static const char *const kind_name[] = {
	"a new copy", "an increment", "a replacement after a compaction",
	"a replacement of a diverged copy"};

/* The receive flags a kind needs. */
static unsigned kind_flags(enum kind k)
{
	return k == REPLACE || k == DIVERGED ? QUIRE_RECEIVE_FULL_IF_NEEDED
					     : 0;
}

/* A leader with commits, a follower as the kind needs it, and the
 * stream to apply; returns the follower's newest commit before. */
static uint64_t setup(struct memvfs *m, enum kind k, struct hist *h,
		      struct sbuf *s, uint64_t seed)
{
	qvfs *vfs = memvfs_vfs(m);
	quire_stream_stats st, rs;
	uint64_t rng = seed, before = 0;
	quire *db = open_leader(vfs, "/leader.q");
	for (int c = 0; c < 5; c++)
		hist_commit(db, h, &rng);
	if (k != NEW_COPY) {
		struct sbuf f = {.rng = seed};
		QOK(quire_ship(db, 0, 0, sbuf_write, &f, &st));
		QOK(receive(vfs, "/f.q", &f, 0, &rs));
		before = rs.txn;
		sbuf_free(&f);
	}
	if (k == DIVERGED) { /* written to: "zz" at its commit before + 1 */
		quire_options o;
		quire *d;
		quire_options_init(&o);
		QOK(qdb_open_vfs("/f.q", &o, vfs, &d));
		tu_put1(d, "zz", "local");
		QOK(quire_close(d));
	}
	for (int c = 0; c < 5; c++)
		hist_commit(db, h, &rng);
	if (k == REPLACE)
		QOK(quire_compact(db, NULL));
	QOK(quire_ship(db, k == INCREMENT ? before : 0, 0, sbuf_write, s, &st));
	QOK(quire_close(db));
	return before;
}

/* After a crash or a failure: the follower is absent (a new copy only),
 * or opens at a commit from its old one to the stream's, with that
 * content (a crash may keep the bytes of some commits sent and not
 * others: recovery walks forward through those whole, as after any
 * writer's crash). */
static uint64_t check_after(struct memvfs *m, enum kind k,
			    const struct hist *h, uint64_t before,
			    uint64_t *rng)
{
	qvfs *vfs = memvfs_vfs(m);
	size_t n;
	if (!memvfs_data(m, "/f.q", &n)) {
		assert_int_equal(k, NEW_COPY);
		return 0;
	}
	uint64_t got = newest(vfs, "/f.q");
	if (k == DIVERGED && got != h->txn[h->n]) {
		/* not replaced: the diverged copy as it was */
		assert_int_equal(got, before + 1);
		quire_options o;
		quire *d;
		quire_options_init(&o);
		o.flags = QUIRE_RDONLY;
		QOK(qdb_open_vfs("/f.q", &o, vfs, &d));
		tu_expect(d, "zz", "local");
		QOK(quire_close(d));
		return got;
	}
	assert_true(got != 0 && got >= before && got <= h->txn[h->n]);
	hist_check_copy(vfs, "/f.q", h, got, rng, 1);
	return got;
}

static void test_crash(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xc4a5), rng = seed;
	uint64_t states[NKINDS] = {0};
	for (int k = 0; k < NKINDS; k++) {
		for (uint64_t n = 1;; n++) {
			int crashed = 0;
			for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
				struct memvfs *m = memvfs_new(seed);
				struct hist h = {0};
				struct sbuf s = {.rng = seed};
				quire_stream_stats rs;
				uint64_t before = setup(m, (enum kind)k, &h, &s,
							seed);
				memvfs_crash_at(m, MV_MUTATE | MV_DIR, n);
				int e = receive(memvfs_vfs(m), "/f.q", &s,
						kind_flags((enum kind)k), &rs);
				crashed = memvfs_crashed(m);
				/* past the last call: a power cut after the
				 * receive returned 0 finds the new commit */
				memvfs_crash(m,
					     crashed ? (enum mv_crash)mode
						     : MV_CRASH_DROP,
					     seed + n * 13 + (uint64_t)mode);
				uint64_t got = check_after(m, (enum kind)k, &h,
							   before, &rng);
				if (!crashed) {
					QOK(e);
					assert_int_equal(got, h.txn[h.n]);
				} else {
					states[k]++;
				}
				sbuf_free(&s);
				hist_free(&h);
				memvfs_free(m);
				if (!crashed)
					break;
			}
			if (!crashed)
				break;
		}
		print_message("# %llu crash states of %s\n",
			      (unsigned long long)states[k], kind_name[k]);
		assert_true(states[k] >= 3 * MV_CRASH_NMODES);
	}
}

/* EIO and ENOSPC, once and for good, at every call of a receive: the
 * error is reported, and the follower is left absent or at a commit. */
static void test_faults(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xfa17), rng = seed;
	int injected = 0;
	static const int errs[] = {EIO, ENOSPC};
	for (int k = 0; k < NKINDS; k++) {
		for (int ei = 0; ei < 2; ei++) {
			for (int persist = 0; persist < 2; persist++) {
				for (uint64_t n = 1;; n++) {
					struct memvfs *m = memvfs_new(seed);
					struct hist h = {0};
					struct sbuf s = {.rng = seed};
					quire_stream_stats rs;
					uint64_t before = setup(m, (enum kind)k,
								&h, &s, seed);
					uint64_t calls0 = memvfs_calls(m, MV_ALL);
					memvfs_fault(m, MV_ALL, n, errs[ei],
						     persist, 0);
					int e = receive(memvfs_vfs(m), "/f.q",
							&s,
							kind_flags((enum kind)k),
							&rs);
					int hit = memvfs_calls(m, MV_ALL) >=
						  calls0 + n;
					memvfs_clear_faults(m);
					if (e) {
						assert_true(*quire_errmsg());
						assert_true(e == QUIRE_EIO ||
							    e == QUIRE_ENOSPC);
					}
					check_after(m, (enum kind)k, &h,
						    before, &rng);
					size_t pn; /* removing it may fail */
					if (!persist)
						assert_null(memvfs_data(
							m, "/f.q.partial", &pn));
					sbuf_free(&s);
					hist_free(&h);
					memvfs_free(m);
					if (!hit)
						break;
					injected++;
				}
			}
		}
	}
	print_message("# %d faults injected into receives\n", injected);
	assert_true(injected >= 100);
}

/* ---- real files, processes ------------------------------------------- */

struct fdio {
	int fd;
};

static int fd_write(void *ctx, const void *buf, size_t len)
{
	struct fdio *io = ctx;
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(io->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_read(void *ctx, void *buf, size_t len, size_t *got)
{
	struct fdio *io = ctx;
	ssize_t n;
	while ((n = read(io->fd, buf, len)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return 1;
	*got = (size_t)n;
	return 0;
}

#define LEADER_COMMITS 300

/* The leader's commit i puts "n" = i and "x<i % 37>" = i: a snapshot
 * with "n" = c holds x<c % 37> = c and every other x at most c. */
static void check_snapshot(quire_txn *t)
{
	quire_val v;
	char k[16], buf[32];
	if (quire_get(t, "n", 1, &v) == QUIRE_NOTFOUND)
		return;
	snprintf(buf, sizeof buf, "%.*s", (int)v.size, (const char *)v.data);
	long c = atol(buf);
	for (int j = 0; j < 37; j++) {
		snprintf(k, sizeof k, "x%02d", j);
		int e = quire_get(t, k, strlen(k), &v);
		if (e == QUIRE_NOTFOUND) {
			assert_true(c < 37 && (j == 0 || j > c));
			continue;
		}
		QOK(e);
		snprintf(buf, sizeof buf, "%.*s", (int)v.size,
			 (const char *)v.data);
		long x = atol(buf);
		assert_true(x <= c);
		if (j == c % 37)
			assert_int_equal(x, c);
	}
}

struct leader {
	quire *db;
	_Atomic int done;
};

static void *leader_thread(void *arg)
{
	struct leader *l = arg;
	for (int i = 1; i <= LEADER_COMMITS; i++) {
		quire_txn *t;
		char k[16], v[32];
		QOK(quire_begin(l->db, 0, &t));
		snprintf(v, sizeof v, "%d", i);
		snprintf(k, sizeof k, "x%02d", i % 37);
		QOK(quire_put(t, "n", 1, v, strlen(v)));
		QOK(quire_put(t, k, strlen(k), v, strlen(v)));
		QOK(quire_commit(t));
		if (i % 100 == 0)
			QOK(quire_compact(l->db, NULL));
		if (i % 7 == 0)
			usleep(1000);
	}
	atomic_store(&l->done, 1);
	return NULL;
}

struct ship_ctx {
	struct fdio io;
	struct leader *l;
	uint64_t last; /* the leader's final commit, once done */
};

/* Stop following once the leader is done and its last commit shipped. */
static int ship_write(void *ctx, const void *buf, size_t len)
{
	struct ship_ctx *s = ctx;
	const uint8_t *p = buf;
	if (fd_write(&s->io, buf, len))
		return 1;
	if (p[4] == QS_COMMIT && s->last && ld64(p + QS_FRAME_HDR) >= s->last)
		return 1;
	if (p[4] == QS_HEARTBEAT && s->last)
		return 1;
	if (!s->last && atomic_load(&s->l->done)) {
		quire_txn *t;
		QOK(quire_begin(s->l->db, QUIRE_RDONLY, &t));
		s->last = quire_txn_id(t);
		quire_abort(t);
	}
	return 0;
}

/* A reader process of the follower: snapshots (checked), AS-OF one
 * commit back, waits for new commits; until the follower reaches `last`
 * (read from its pipe). Exits 0 when every check held. */
static void reader_process(const char *path, int lastfd)
{
	quire_options o;
	quire *d = NULL;
	uint64_t last = 0, seen = 0;
	int snaps = 0;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	for (int tries = 0; quire_open(path, &o, &d) != 0; tries++) {
		if (tries > 5000)
			_exit(3);
		usleep(1000);
	}
	fcntl(lastfd, F_SETFL, O_NONBLOCK);
	for (;;) {
		quire_txn *t;
		if (quire_begin(d, QUIRE_RDONLY, &t) != 0)
			_exit(4);
		uint64_t txn = quire_txn_id(t);
		if (txn < seen)
			_exit(5); /* went back */
		seen = txn;
		check_snapshot(t);
		quire_abort(t);
		if (txn > 2 && quire_begin_at(d, txn - 1, &t) == 0) {
			check_snapshot(t);
			quire_abort(t);
		}
		snaps++;
		if (!last) {
			uint64_t v;
			if (read(lastfd, &v, sizeof v) == (ssize_t)sizeof v)
				last = v;
		}
		if (last && seen >= last)
			break;
		quire_wait(d, 0, 20);
		usleep(500);
	}
	quire_close(d);
	_exit(snaps >= 2 ? 0 : 6);
}

static void test_processes(void **state)
{
	(void)state;
	char lpath[512], fpath[512], part[600];
	tu_pathcat(lpath, sizeof lpath, tu_path("stream"), "leader.q");
	tu_pathcat(fpath, sizeof fpath, tu_path("stream"), "follower.q");
	snprintf(part, sizeof part, "%s.partial", fpath);
	mkdir(tu_path("stream"), 0700);
	unlink(lpath);
	unlink(fpath);
	unlink(part);
	quire_options o;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	struct leader l = {0};
	QOK(quire_open(lpath, &o, &l.db));
	quire_retention r = {.commits = QUIRE_KEEP_ALL};
	QOK(quire_set_retention(l.db, &r));
	int pipefd[2], lastp[2];
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(pipe(lastp), 0);
	pid_t recv = fork();
	if (recv == 0) {
		close(pipefd[1]);
		close(lastp[0]);
		close(lastp[1]);
		struct fdio in = {pipefd[0]};
		quire_stream_stats st;
		int e = quire_receive(fpath, NULL, 0, fd_read, &in, &st);
		/* the stream ends without an end frame: the ship was stopped */
		_exit(e == QUIRE_ECORRUPT && st.commits > 0 ? 0 : 10);
	}
	close(pipefd[0]);
	pid_t reader = fork();
	if (reader == 0) {
		close(pipefd[1]);
		close(lastp[1]);
		reader_process(fpath, lastp[0]);
	}
	close(lastp[0]);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, leader_thread, &l), 0);
	struct ship_ctx s = {.io = {pipefd[1]}, .l = &l};
	quire_stream_stats st;
	assert_int_equal(quire_ship(l.db, 0, QUIRE_SHIP_FOLLOW, ship_write, &s,
				    &st),
			 QUIRE_ECANCELED);
	close(pipefd[1]);
	pthread_join(th, NULL);
	assert_true(write(lastp[1], &s.last, sizeof s.last) ==
		    (ssize_t)sizeof s.last);
	close(lastp[1]);
	int status;
	assert_int_equal(waitpid(recv, &status, 0), recv);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(waitpid(reader, &status, 0), reader);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	print_message("# followed %llu commits in %llu commit frames, %llu "
		      "compactions\n",
		      (unsigned long long)s.last,
		      (unsigned long long)st.commits,
		      (unsigned long long)st.rebases);
	assert_true(st.rebases >= 2);
	/* promoted: the follower opens for writing, at the leader's state */
	quire *d;
	o.flags = 0;
	QOK(quire_open(fpath, &o, &d));
	quire_txn *t;
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), s.last);
	check_snapshot(t);
	quire_abort(t);
	tu_put1(d, "promoted", "yes");
	QOK(quire_close(d));
	QOK(quire_close(l.db));
}

/* Bad arguments and files: refused with a message, nothing written. */
static void test_args(void **state)
{
	(void)state;
	char lpath[512], fpath[512];
	tu_pathcat(lpath, sizeof lpath, tu_path("stream"), "args.q");
	tu_pathcat(fpath, sizeof fpath, tu_path("stream"), "args-copy.q");
	mkdir(tu_path("stream"), 0700);
	unlink(lpath);
	unlink(fpath);
	quire_options o;
	quire *db;
	quire_stream_stats st;
	struct sbuf s = {.rng = 1};
	struct stat sb;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.mode = 0640;
	QOK(quire_open(lpath, &o, &db));
	tu_put1(db, "a", "1");
	assert_int_equal(quire_ship(NULL, 0, 0, sbuf_write, &s, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_ship(db, 0, 0, NULL, &s, &st), QUIRE_EINVAL);
	assert_int_equal(quire_ship(db, 0, 0x80, sbuf_write, &s, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_ship(db, 99, 0, sbuf_write, &s, &st),
			 QUIRE_EINVAL);
	s.fail_write = 1;
	assert_int_equal(quire_ship(db, 0, 0, sbuf_write, &s, &st),
			 QUIRE_ECANCELED);
	s.fail_write = 0;
	assert_int_equal(quire_receive(NULL, NULL, 0, sbuf_read, &s, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_receive(fpath, NULL, 0, NULL, &s, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_receive(fpath, NULL, 0x80, sbuf_read, &s, &st),
			 QUIRE_EINVAL);
	/* not a stream at all */
	sbuf_write(&s, "hello, world, this is no stream of frames", 41);
	assert_int_equal(quire_receive(fpath, NULL, 0, sbuf_read, &s, &st),
			 QUIRE_ECORRUPT);
	assert_int_equal(access(fpath, F_OK), -1);
	sbuf_free(&s);
	/* an empty one */
	s.rng = 1;
	assert_int_equal(quire_receive(fpath, NULL, 0, sbuf_read, &s, &st),
			 QUIRE_ECORRUPT);
	/* a new copy takes opts->mode; a crash's leftover .partial (nobody
	 * holds it) is cleared away, one another receive holds is not */
	QOK(quire_ship(db, 0, 0, sbuf_write, &s, &st));
	o.mode = 0600;
	char part[600];
	snprintf(part, sizeof part, "%s.partial", fpath);
	qvfs *uv = qvfs_unix();
	qvfs_file *held;
	QOK(uv->open(uv, part, QVFS_CREATE, 0600, &held));
	QOK(held->ops->lock(held, QVFS_LOCK_TRY));
	assert_int_equal(quire_receive(fpath, &o, 0, sbuf_read, &s, &st),
			 QUIRE_EBUSY);
	assert_int_equal(access(fpath, F_OK), -1);
	held->ops->close(held); /* as a crash leaves it */
	s.rpos = 0;
	QOK(quire_receive(fpath, &o, 0, sbuf_read, &s, &st));
	assert_int_equal(access(part, F_OK), -1);
	QOK(stat(fpath, &sb));
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* once more: up to date, nothing written */
	s.rpos = 0;
	QOK(quire_receive(fpath, &o, 0, sbuf_read, &s, &st));
	assert_int_equal(st.bytes, 0);
	sbuf_free(&s);
	QOK(quire_close(db));
	unlink(lpath);
	unlink(fpath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_follow),
		cmocka_unit_test(test_nosync),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_processes),
		cmocka_unit_test(test_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
