/*
 * test_badfiles.c - damaged files give a clear error or a committed state.
 *
 * A database is built on the in-memory VFS with a history of commits whose
 * contents are recorded. Then copies of its image are truncated (at every
 * header boundary and at many other points), bit-flipped, overwritten with
 * random bytes, or replaced by random or empty files, and each one is opened
 * and read completely (and written to). Every outcome must be one of: open
 * fails with ENOTDB, ECORRUPT or EVERSION; reads fail with ECORRUPT; or the
 * content equals one of the committed states. Never a crash, never a hang
 * (an alarm fails the test), never other data.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "workload.h"

static const char *path = "/bad.quire";
/* Seconds after which a test counts as hung: well over what the slowest
 * sweep takes under ASan on a busy machine (about 250 s). */
#define HANG_S 900
static struct wl_plan plan;
static uint8_t *image;
static size_t image_size;
static uint64_t *headers; /* offsets of every commit header, newest first */
static uint64_t *hdr_end;  /* where each one ends */
static size_t nheaders;
static uint64_t outcomes[4]; /* open error, read error, state, write ok */
static void big_build(void);
static void big_free(void);

static int is_clear(int e)
{
	return e == QUIRE_ECORRUPT || e == QUIRE_ENOTDB || e == QUIRE_EVERSION;
}

/* An open of a damaged image failed: it must say so clearly. */
static void open_failed_clearly(int e, const char *what)
{
	if (!is_clear(e))
		fail_msg("%s: open returned %s (%s)", what, quire_strerror(e),
			 quire_errmsg());
	if (!*quire_errmsg())
		fail_msg("%s: error without a message", what);
}

#define ANY_STATE (-2) /* damage: any committed state, or a clear error */
#define NO_STATE (-1)  /* nothing committed fits: open must fail clearly */

/* Open img and classify what happens; fail on anything not allowed. want
 * (not ANY_STATE) is the one outcome allowed: that commit's state, read
 * without error (a truncated file opens at the last commit it holds). */
static void probe_want(const uint8_t *img, size_t n, unsigned flags,
		       int want, const char *what)
{
	struct memvfs *m = memvfs_new(plan.o.seed);
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_options_init(&o);
	o.flags = flags;
	o.node_size = plan.o.node_size;
	o.cache_size = (size_t)1 << 20;
	o.auto_compact_ratio = 0; /* the probe judges the file as opened */
	memvfs_set(m, path, img, n);
	int e = qdb_open_vfs(path, &o, memvfs_vfs(m), &db);
	if (e) {
		open_failed_clearly(e, what);
		if (want >= 0)
			fail_msg("%s: commit %d fits in the file, yet open gave "
				 "%s (%s)",
				 what, want, quire_strerror(e), quire_errmsg());
		outcomes[0]++;
		memvfs_free(m);
		return;
	}
	if (want == NO_STATE)
		fail_msg("%s: no commit fits in the file, yet it opened", what);
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	if (want >= 0 && !wl_same(t, &plan.state[want]))
		fail_msg("%s: does not show commit %d, the last that fits",
			 what, want);
	int found = want >= 0 ? want : -1;
	for (int i = plan.o.commits; i >= 0 && found < 0; i--)
		if (wl_same(t, &plan.state[i]))
			found = i;
	if (found < 0) {
		/* not a committed state: then reading must report damage */
		quire_cursor *c;
		quire_val k, v;
		QOK(quire_cursor_open(t, &c));
		for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c))
			if ((e = quire_cursor_key(c, &k)) != 0 ||
			    (e = quire_cursor_value(c, &v)) != 0)
				break;
		quire_cursor_close(c);
		if (e != QUIRE_ECORRUPT)
			fail_msg("%s: content is no committed state and "
				 "reading it gave %s",
				 what, quire_strerror(e));
		outcomes[1]++;
	} else {
		outcomes[2]++;
	}
	quire_abort(t);
	if (!(flags & QUIRE_RDONLY)) {
		/* a write must either work or report the damage */
		e = quire_begin(db, 0, &t);
		if (!e) {
			for (int i = 0; !e && i < 40; i++) {
				char k[16];
				snprintf(k, sizeof k, "k%04d", i * 10);
				e = quire_put(t, k, strlen(k), "new", 3);
			}
			e = e ? (quire_abort(t), e) : quire_commit(t);
		}
		if (e && !is_clear(e))
			fail_msg("%s: writing gave %s (%s)", what,
				 quire_strerror(e), quire_errmsg());
		if (!e)
			outcomes[3]++;
	}
	QOK(quire_close(db));
	memvfs_free(m);
}

static void probe(const uint8_t *img, size_t n, unsigned flags,
		  const char *what)
{
	probe_want(img, n, flags, ANY_STATE, what);
}

/* The newest commit whose header ends within the first n bytes (txn k is
 * headers[nheaders - 1 - k]). */
static int fits(uint64_t n)
{
	for (size_t i = 0; i < nheaders; i++)
		if (hdr_end[i] <= n)
			return (int)(nheaders - 1 - i);
	return NO_STATE;
}

static int setup(void **state)
{
	struct wl_opts o = {.seed = tu_seed(31), .commits = 30, .max_ops = 20,
			    .node_size = 512, .big_every = 10,
			    .checkpoint_ops = 120};
	struct wl_result r;
	struct memvfs *m = memvfs_new(o.seed);
	wl_plan_make(&plan, &o);
	wl_run(&plan, memvfs_vfs(m), path, &r);
	if (r.err)
		fail_msg("building the database: %s", r.msg);
	const uint8_t *d = memvfs_data(m, path, &image_size);
	image = malloc(image_size);
	memcpy(image, d, image_size);
	memvfs_free(m);

	/* every commit header, found by walking the prev chain */
	struct qhdr h;
	uint32_t need;
	struct qslot s0, s1;
	int ok0 = qslot_get(image + QF_SLOT0_OFF, &s0) == 0;
	int ok1 = qslot_get(image + QF_SLOT1_OFF, &s1) == 0;
	assert_true(ok0 || ok1);
	uint64_t off = ok0 && (!ok1 || s0.counter > s1.counter)
			       ? s0.latest_off
			       : s1.latest_off;
	headers = calloc((size_t)o.commits + 1, sizeof *headers);
	hdr_end = calloc((size_t)o.commits + 1, sizeof *hdr_end);
	while (off && nheaders <= (size_t)o.commits &&
	       qhdr_get(image + off, image_size - off, off, &h, &need) == 0) {
		assert_int_equal(h.txn, o.commits - (int)nheaders);
		hdr_end[nheaders] = off + h.size;
		headers[nheaders++] = off;
		off = h.prev_off;
	}
	assert_int_equal(nheaders, o.commits + 1);
	big_build();
	return 0;
}

static int teardown(void **state)
{
	print_message("# outcomes: %llu open errors, %llu read errors, %llu "
		      "committed states, %llu writes after damage\n",
		      (unsigned long long)outcomes[0],
		      (unsigned long long)outcomes[1],
		      (unsigned long long)outcomes[2],
		      (unsigned long long)outcomes[3]);
	wl_plan_free(&plan);
	big_free();
	free(image);
	free(headers);
	free(hdr_end);
	return 0;
}

/* Cut at every commit boundary, inside every header, and every 211 bytes
 * between: the file opens at exactly the last commit that fits, read-only
 * and for writing, or (nothing fits) fails clearly. */
static void test_truncated(void **state)
{
	char what[64];
	size_t probes = 0, opened = 0;
	for (size_t i = 0; i < nheaders; i++) {
		uint64_t h = headers[i];
		uint64_t cuts[] = {h, h + 1, h + QF_HDR_FIXED - 1,
				   hdr_end[i] - 1, hdr_end[i], hdr_end[i] + 1};
		for (size_t j = 0; j < sizeof cuts / sizeof *cuts; j++) {
			if (cuts[j] > image_size)
				continue;
			int want = fits(cuts[j]);
			snprintf(what, sizeof what, "truncated at %llu",
				 (unsigned long long)cuts[j]);
			probe_want(image, (size_t)cuts[j], QUIRE_RDONLY, want,
				   what);
			probe_want(image, (size_t)cuts[j], 0, want, what);
			probes += 2;
			opened += want >= 0 ? 2 : 0;
		}
	}
	for (size_t cut = 0; cut < image_size; cut += 211) {
		snprintf(what, sizeof what, "truncated at %zu", cut);
		probe_want(image, cut, QUIRE_RDONLY, fits(cut), what);
		probes++;
		opened += fits(cut) >= 0;
	}
	print_message("# truncations: %zu probes, %zu opened at the last "
		      "commit that fits\n",
		      probes, opened);
	assert_true(probes >= nheaders * 10 && opened >= nheaders * 8);
}

static void test_bitflips(void **state)
{
	uint64_t s = tu_seed(32);
	uint8_t *img = malloc(image_size);
	char what[64];
	/* every bit of the newest header and of the slots */
	uint64_t ranges[][2] = {{headers[0], QF_HDR_FIXED},
				{QF_SLOT0_OFF, QF_SLOT_SIZE},
				{QF_SLOT1_OFF, QF_SLOT_SIZE},
				{0, 64}};
	for (size_t r = 0; r < 4; r++)
		for (uint64_t b = 0; b < ranges[r][1] * 8; b++) {
			uint64_t off = ranges[r][0] + b / 8;
			memcpy(img, image, image_size);
			img[off] ^= (uint8_t)(1u << (b % 8));
			snprintf(what, sizeof what, "bit %llu of byte %llu",
				 (unsigned long long)(b % 8),
				 (unsigned long long)off);
			probe(img, image_size, QUIRE_RDONLY, what);
		}
	/* and random bits anywhere */
	for (int i = 0; i < 3000; i++) {
		uint64_t off = tu_below(&s, image_size);
		int bit = (int)tu_below(&s, 8);
		memcpy(img, image, image_size);
		img[off] ^= (uint8_t)(1u << bit);
		snprintf(what, sizeof what, "bit %d of byte %llu", bit,
			 (unsigned long long)off);
		probe(img, image_size, i % 4 ? QUIRE_RDONLY : 0, what);
	}
	free(img);
}

static void test_random_bytes(void **state)
{
	uint64_t s = tu_seed(33);
	uint8_t *img = malloc(image_size);
	char what[64];
	for (int i = 0; i < 1000; i++) {
		memcpy(img, image, image_size);
		int n = 1 + (int)tu_below(&s, 16);
		uint64_t off = tu_below(&s, image_size);
		for (int j = 0; j < n && off + (uint64_t)j < image_size; j++)
			img[off + (uint64_t)j] = (uint8_t)tu_rand(&s);
		snprintf(what, sizeof what, "%d random bytes at %llu", n,
			 (unsigned long long)off);
		probe(img, image_size, i % 3 ? QUIRE_RDONLY : 0, what);
	}
	free(img);
}

/* Both live slots damaged: opening walks the whole file from the first
 * commit and still finds the newest one; one damaged slot is no loss
 * either. */
static void test_slots_damaged(void **state)
{
	uint8_t *img = malloc(image_size);
	uint64_t before = outcomes[2];
	for (int which = 0; which < 3; which++) {
		struct memvfs *m = memvfs_new(plan.o.seed + 1); /* a reboot */
		quire_options o;
		quire *db;
		quire_txn *t;
		memcpy(img, image, image_size);
		if (which != 1)
			memset(img + QF_SLOT0_OFF, 0xee, QF_SLOT_SIZE);
		if (which != 0)
			memset(img + QF_SLOT1_OFF, 0xee, QF_SLOT_SIZE);
		memvfs_set(m, path, img, image_size);
		quire_options_init(&o);
		o.flags = QUIRE_RDONLY;
		QOK(qdb_open_vfs(path, &o, memvfs_vfs(m), &db));
		QOK(quire_begin(db, QUIRE_RDONLY, &t));
		if (!wl_same(t, &plan.state[plan.o.commits]))
			fail_msg("slots damaged (%d): not the newest commit",
				 which);
		quire_abort(t);
		QOK(quire_close(db));
		memvfs_free(m);
		outcomes[2]++;
	}
	assert_int_equal(outcomes[2], before + 3);
	free(img);
}

/* Misdirected writes: one block's bytes land on another block of the same
 * size. Both carry valid-looking checksums, yet a reader must notice. */
static void test_misdirected(void **state)
{
	uint64_t s = tu_seed(35), *blk = malloc(image_size / 16 * sizeof *blk);
	size_t nblk = 0;
	uint8_t *img = malloc(image_size);
	char what[96];
	for (uint64_t pos = QF_SUPER_SIZE; pos + QF_BLOCK_HDR <= image_size;) {
		struct qblock b;
		qblock_get(image + pos, &b);
		if (b.size < QF_BLOCK_HDR || pos + b.size > image_size)
			break;
		blk[nblk++] = pos;
		pos += b.size;
	}
	assert_true(nblk > 100);
	int pairs = 0;
	for (int i = 0; i < 20000 && pairs < 400; i++) {
		uint64_t a = blk[tu_below(&s, nblk)], b = blk[tu_below(&s, nblk)];
		struct qblock ba, bb;
		qblock_get(image + a, &ba);
		qblock_get(image + b, &bb);
		if (a == b || ba.size != bb.size || ba.type != bb.type)
			continue;
		uint32_t sa = ba.size;
		memcpy(img, image, image_size);
		memcpy(img + b, image + a, sa);
		snprintf(what, sizeof what, "block at %llu copied over %llu",
			 (unsigned long long)a, (unsigned long long)b);
		probe(img, image_size, pairs % 2 ? QUIRE_RDONLY : 0, what);
		pairs++;
	}
	assert_true(pairs > 50);
	free(img);
	free(blk);
}

static void test_foreign_files(void **state)
{
	uint64_t s = tu_seed(34);
	static uint8_t junk[20000];
	char what[64];
	probe(junk, 0, QUIRE_RDONLY, "empty file");
	probe(junk, 0, 0, "empty file");
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)tu_below(&s, sizeof junk);
		for (size_t j = 0; j < n; j++)
			junk[j] = (uint8_t)tu_rand(&s);
		snprintf(what, sizeof what, "%zu random bytes", n);
		probe(junk, n, QUIRE_RDONLY, what);
	}
	/* random bytes behind a real superblock */
	memcpy(junk, image, QF_SUPER_SIZE);
	probe(junk, sizeof junk, QUIRE_RDONLY, "superblock then junk");
	/* garbage appended after a valid database: opens to the last commit */
	uint8_t *img = malloc(image_size + 5000);
	memcpy(img, image, image_size);
	for (size_t j = 0; j < 5000; j++)
		img[image_size + j] = (uint8_t)tu_rand(&s);
	uint64_t before = outcomes[2];
	probe(img, image_size + 5000, 0, "junk tail");
	assert_int_equal(outcomes[2], before + 1);
	free(img);
}

/*
 * The sweeps over a big database (issue 5, "Corruption"): several thousand
 * keys, values in line and out of line, several checkpoints and a chain of
 * pending batches at the end, 512-byte nodes so the trees are deep. Every
 * commit's full state is kept (which commit last wrote each key), so an
 * outcome is checked against the exact commit the snapshot claims to be,
 * entry by entry: data served before an error must be right too.
 */
#define BIG_KEYS 3000

/* Sanitizer builds (CI's ASan+UBSan run) are several times slower: they do
 * a quarter of the random probes, and still every header bit. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BIG_SCALE 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BIG_SCALE 4
#endif
#endif
#ifndef BIG_SCALE
#define BIG_SCALE 1
#endif
#define BIG_MAXTXN 64

struct bigval {
	uint32_t off, len; /* in big.pool */
};

static struct {
	uint8_t *img;
	size_t size;
	int ntxn;                     /* the newest commit */
	uint32_t *state[BIG_MAXTXN + 1]; /* [txn][key]: value id + 1, 0 absent */
	struct bigval *vals;
	size_t nvals, capvals;
	uint8_t *pool;
	size_t poolsize, poolcap;
	uint64_t hdr[BIG_MAXTXN + 1];   /* header offset of each commit */
	uint64_t start[BIG_MAXTXN + 1]; /* its commit_start */
	uint64_t end[BIG_MAXTXN + 1];   /* its total_bytes */
	uint64_t newest_slot;           /* offset of the slot naming ntxn */
	uint64_t seed;
	uint64_t boot_seed;             /* memvfs seed of the build: same boot */
} big;

/* What the sweeps saw, per sweep. */
struct tally {
	uint64_t open_err, read_err, newest, older, check_found, probes;
};

static size_t big_key(unsigned k, char *buf)
{
	int n = snprintf(buf, 16, "k%05u", k);
	if (k % 29 == 0) { /* long keys make the internal nodes fan out less */
		size_t len = 120 + k % 300;
		for (size_t i = (size_t)n; i < len; i++)
			buf[i] = (char)('a' + (k * 7 + i) % 26);
		return len;
	}
	return (size_t)n;
}

static uint32_t big_newval(uint64_t *s)
{
	size_t len;
	uint64_t r = tu_below(s, 200);
	if (r == 0 && tu_below(s, 3) == 0)
		len = 20000 + (size_t)tu_below(s, 50000); /* a long value */
	else if (r < 20)
		len = 1025 + (size_t)tu_below(s, 3000); /* out of line */
	else
		len = (size_t)tu_below(s, 400);
	if (big.nvals == big.capvals) {
		big.capvals = big.capvals ? 2 * big.capvals : 4096;
		big.vals = realloc(big.vals, big.capvals * sizeof *big.vals);
		assert_non_null(big.vals);
	}
	while (big.poolsize + len > big.poolcap) {
		big.poolcap = big.poolcap ? 2 * big.poolcap : (size_t)1 << 20;
		big.pool = realloc(big.pool, big.poolcap);
		assert_non_null(big.pool);
	}
	for (size_t i = 0; i < len; i++)
		big.pool[big.poolsize + i] = (uint8_t)tu_rand(s);
	big.vals[big.nvals] = (struct bigval){(uint32_t)big.poolsize,
					      (uint32_t)len};
	big.poolsize += len;
	return (uint32_t)++big.nvals; /* id + 1 */
}

/* Commit ops random operations (or, with ops < 0, a put of every key) as
 * the next transaction; then maybe a checkpoint, which is a commit too. */
static void big_commit(quire *db, uint32_t *cur, int ops, uint64_t *s,
		       int checkpoint)
{
	quire_txn *t;
	char key[512];
	QOK(quire_begin(db, 0, &t));
	int txn = (int)quire_txn_id(t);
	for (int i = 0; i < (ops < 0 ? BIG_KEYS * 3 / 4 : ops); i++) {
		unsigned k = ops < 0 ? (unsigned)i * 4 / 3
				     : (unsigned)tu_below(s, BIG_KEYS);
		size_t kl = big_key(k, key);
		if (ops >= 0 && tu_below(s, 4) == 0) {
			int e = quire_del(t, key, kl);
			if (e != QUIRE_NOTFOUND)
				QOK(e);
			cur[k] = 0;
			continue;
		}
		uint32_t v = big_newval(s);
		QOK(quire_put(t, key, kl, big.pool + big.vals[v - 1].off,
			      big.vals[v - 1].len));
		cur[k] = v;
	}
	QOK(quire_commit(t));
	assert_true(txn <= BIG_MAXTXN);
	big.state[txn] = malloc(BIG_KEYS * sizeof *cur);
	memcpy(big.state[txn], cur, BIG_KEYS * sizeof *cur);
	big.ntxn = txn;
	if (checkpoint) {
		QOK(quire_checkpoint(db));
		QOK(quire_begin(db, QUIRE_RDONLY, &t));
		txn = (int)quire_txn_id(t);
		quire_abort(t);
		/* nothing pending (the first commit went into the trees at
		 * once) makes no commit */
		assert_true(txn == big.ntxn || txn == big.ntxn + 1);
		if (txn > big.ntxn) {
			big.state[txn] = malloc(BIG_KEYS * sizeof *cur);
			memcpy(big.state[txn], cur, BIG_KEYS * sizeof *cur);
			big.ntxn = txn;
		}
	}
}

static void big_build(void)
{
	struct memvfs *m;
	quire_options o;
	quire *db;
	uint32_t cur[BIG_KEYS] = {0};
	uint64_t s;
#ifdef __GLIBC__
	/* every probe allocates and frees copies of a multi-MiB image: keep
	 * them in the heap rather than paying fresh page faults each time */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
	big.seed = s = tu_seed(36);
	big.boot_seed = s;
	m = memvfs_new(big.boot_seed);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.node_size = 512;
	o.cache_size = (size_t)8 << 20;
	o.auto_compact_ratio = 0; /* the probe judges the file as opened */
	o.checkpoint_ops = 1ul << 30; /* checkpoints where big_commit says */
	QOK(qdb_open_vfs(path, &o, memvfs_vfs(m), &db));
	big.state[0] = calloc(BIG_KEYS, sizeof *cur);
	big_commit(db, cur, -1, &s, 1);
	/* five rounds of batches folded by a checkpoint, then four batches
	 * left pending: the newest header reaches a chain of them */
	for (int c = 0; c < 24; c++)
		big_commit(db, cur, 150, &s, c % 5 == 4);
	for (int c = 0; c < 4; c++)
		big_commit(db, cur, 150, &s, 0);
	QOK(quire_close(db));

	const uint8_t *d = memvfs_data(m, path, &big.size);
	big.img = malloc(big.size);
	memcpy(big.img, d, big.size);
	memvfs_free(m);

	struct qslot s0, s1;
	int ok0 = qslot_get(big.img + QF_SLOT0_OFF, &s0) == 0;
	int ok1 = qslot_get(big.img + QF_SLOT1_OFF, &s1) == 0;
	assert_true(ok0 && ok1);
	int newer0 = s0.counter > s1.counter;
	big.newest_slot = newer0 ? QF_SLOT0_OFF : QF_SLOT1_OFF;
	uint64_t off = newer0 ? s0.latest_off : s1.latest_off;
	assert_int_equal(newer0 ? s0.latest_txn : s1.latest_txn, big.ntxn);
	for (int txn = big.ntxn; txn >= 0; txn--) {
		struct qhdr h;
		uint32_t need;
		assert_int_equal(qhdr_get(big.img + off, big.size - off, off, &h,
					  &need),
				 0);
		assert_int_equal(h.txn, txn);
		big.hdr[txn] = off;
		big.start[txn] = h.commit_start;
		big.end[txn] = h.total_bytes;
		if (txn == big.ntxn)
			assert_true(h.pending_batches >= 4);
		off = h.prev_off;
	}
	assert_int_equal(big.end[big.ntxn], big.size);
	print_message("# big database: %zu bytes, %d commits, %zu values "
		      "(%zu bytes), seed %llu\n",
		      big.size, big.ntxn, big.nvals, big.poolsize,
		      (unsigned long long)big.seed);
}

static void big_free(void)
{
	for (int i = 0; i <= BIG_MAXTXN; i++)
		free(big.state[i]);
	free(big.img);
	free(big.vals);
	free(big.pool);
}

static int same_val(uint32_t v, quire_val got)
{
	return got.size == big.vals[v - 1].len &&
	       (got.size == 0 ||
		memcmp(got.data, big.pool + big.vals[v - 1].off, got.size) ==
			0);
}

/* Read everything t shows and compare it with commit txn's state: a
 * forward scan, a get of every key of the universe, quire_check. Whatever
 * is served must be right; damage may only show as QUIRE_ECORRUPT (or as
 * problems quire_check finds). Returns 0 if all of it read cleanly, 1 if
 * reads reported damage, 2 if only quire_check found some. */
static int big_read_all(quire_txn *t, int txn, const char *what)
{
	const uint32_t *st = big.state[txn];
	quire_cursor *c;
	quire_val k, v;
	char key[512];
	int damaged = 0, e;
	unsigned next = 0; /* the scan has passed every key below this */

	QOK(quire_cursor_open(t, &c));
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c)) {
		while (next < BIG_KEYS && !st[next])
			next++;
		if ((e = quire_cursor_key(c, &k)) != 0)
			break;
		size_t kl = next < BIG_KEYS ? big_key(next, key) : 0;
		if (next == BIG_KEYS || k.size != kl ||
		    memcmp(k.data, key, kl) != 0)
			fail_msg("%s: commit %d: the scan served key \"%.*s\" "
				 "where \"%.*s\" belongs",
				 what, txn, (int)(k.size < 20 ? k.size : 20),
				 (const char *)k.data, (int)(kl < 20 ? kl : 20),
				 key);
		if ((e = quire_cursor_value(c, &v)) != 0)
			break;
		if (!same_val(st[next], v))
			fail_msg("%s: commit %d: the scan served a wrong value "
				 "for key %u (%zu bytes)",
				 what, txn, next, v.size);
		next++;
	}
	quire_cursor_close(c);
	if (e == QUIRE_NOTFOUND) {
		while (next < BIG_KEYS && !st[next])
			next++;
		if (next < BIG_KEYS)
			fail_msg("%s: commit %d: the scan ended before key %u",
				 what, txn, next);
	} else if (e == QUIRE_ECORRUPT) {
		damaged = 1;
	} else {
		fail_msg("%s: commit %d: the scan gave %s (%s)", what, txn,
			 quire_strerror(e), quire_errmsg());
	}

	for (unsigned i = 0; i < BIG_KEYS; i++) {
		size_t kl = big_key(i, key);
		e = quire_get(t, key, kl, &v);
		if (e == QUIRE_ECORRUPT) {
			damaged = 1;
			continue;
		}
		if (st[i] ? e != 0 || !same_val(st[i], v)
			  : e != QUIRE_NOTFOUND)
			fail_msg("%s: commit %d: get of key %u gave %s%s", what,
				 txn, i, quire_strerror(e),
				 e ? "" : " with a wrong value");
	}

	uint64_t problems = 0;
	e = quire_check(t, NULL, NULL, &problems);
	if (e)
		fail_msg("%s: quire_check gave %s (%s)", what, quire_strerror(e),
			 quire_errmsg());
	if (damaged && !problems)
		fail_msg("%s: reads reported damage that quire_check missed",
			 what);
	return damaged ? 1 : problems ? 2 : 0;
}

enum { NEWEST_ONLY, OLDER_OK, EXACTLY };

/*
 * Open a damaged copy read-only and read all of it. want is the commit it
 * must show; OLDER_OK allows want - 1 too (the damage lies in the newest
 * commit's own bytes: what a torn tail looks like); EXACTLY (a truncated
 * copy) allows no open error unless want is -1 (nothing fits), and then
 * requires one. new_boot opens it as after a reboot (the slots are no
 * longer authoritative: recovery walks).
 */
static void big_probe(const uint8_t *img, size_t n, int want, int older_ok,
		      int new_boot, struct tally *ty, const char *what)
{
	struct memvfs *m = memvfs_new(big.boot_seed + (new_boot ? 1 : 0));
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	o.cache_size = (size_t)8 << 20;
	memvfs_set(m, path, img, n);
	uint64_t writes = memvfs_calls(m, MV_MUTATE);
	ty->probes++;
	int e = qdb_open_vfs(path, &o, memvfs_vfs(m), &db);
	if (older_ok == EXACTLY && (e != 0) != (want < 0))
		fail_msg("%s: open gave %s (%s), yet %s", what,
			 quire_strerror(e), e ? quire_errmsg() : "",
			 want < 0 ? "no commit fits"
				  : "a commit fits in the file");
	if (e) {
		open_failed_clearly(e, what);
		ty->open_err++;
	} else {
		e = quire_begin(db, QUIRE_RDONLY, &t);
		if (e) {
			if (e != QUIRE_ECORRUPT)
				fail_msg("%s: begin gave %s", what,
					 quire_strerror(e));
			ty->read_err++;
		} else {
			int txn = (int)quire_txn_id(t);
			if (txn != want &&
			    !(older_ok == OLDER_OK && txn == want - 1))
				fail_msg("%s: shows commit %d; only %d%s may "
					 "be shown",
					 what, txn, want,
					 older_ok == OLDER_OK ? " or the one before"
							      : "");
			int r = big_read_all(t, txn, what);
			quire_abort(t);
			if (older_ok == EXACTLY && r == 1)
				fail_msg("%s: a truncated copy reported damage "
					 "in the commit it opened at", what);
			if (r == 1)
				ty->read_err++;
			else if (txn == want)
				ty->newest++;
			else
				ty->older++;
			ty->check_found += r == 2;
		}
		QOK(quire_close(db));
	}
	/* A read-only open never writes: no write, truncate or sync call
	 * reached the VFS, and (every 8th probe: comparing megabytes each
	 * time would be most of the cost) the bytes are the same. */
	size_t after;
	const uint8_t *d = memvfs_data(m, path, &after);
	if (memvfs_calls(m, MV_MUTATE) != writes || after != n ||
	    (ty->probes % 8 == 0 && n && memcmp(d, img, n) != 0))
		fail_msg("%s: the read-only open changed the file", what);
	memvfs_free(m);
}

static void tally_print(const char *name, const struct tally *ty)
{
	print_message("# %s: %llu probes: %llu open errors, %llu read errors, "
		      "%llu newest commit (%llu with damage only quire_check "
		      "saw), %llu the commit before\n",
		      name, (unsigned long long)ty->probes,
		      (unsigned long long)ty->open_err,
		      (unsigned long long)ty->read_err,
		      (unsigned long long)ty->newest,
		      (unsigned long long)ty->check_found,
		      (unsigned long long)ty->older);
}

/* Whether damage to [lo, hi) lies in the newest commit's own bytes: its
 * blocks, its header, or the slot that names it (written last). */
static int in_newest(uint64_t lo, uint64_t hi)
{
	return (lo >= big.start[big.ntxn] && hi <= big.size) ||
	       (lo >= big.newest_slot && hi <= big.newest_slot + QF_SLOT_SIZE);
}

/* Every bit of the last two commit headers, one at a time, opened in the
 * same boot and after a reboot. */
static void test_big_header_bits(void **state)
{
	struct tally ty = {0};
	uint8_t *img = malloc(big.size);
	char what[96];
	alarm(HANG_S); /* each sweep gets its own limit */
	memcpy(img, big.img, big.size);
	for (int txn = big.ntxn; txn >= big.ntxn - 1; txn--) {
		uint64_t h = big.hdr[txn], len = big.end[txn] - h;
		for (uint64_t b = 0; b < len * 8; b++) {
			uint64_t off = h + b / 8;
			img[off] ^= (uint8_t)(1u << (b % 8));
			snprintf(what, sizeof what,
				 "bit %u of byte %llu (header of commit %d)",
				 (unsigned)(b % 8), (unsigned long long)off, txn);
			big_probe(img, big.size, big.ntxn,
				  in_newest(off, off + 1), (int)(b & 1), &ty,
				  what);
			img[off] ^= (uint8_t)(1u << (b % 8));
		}
	}
	free(img);
	tally_print("header bits", &ty);
}

static void test_big_random_damage(void **state)
{
	uint64_t s = tu_seed(37);
	struct tally bits = {0}, bytes = {0};
	uint8_t *img = malloc(big.size);
	char what[96];
	alarm(HANG_S);
	memcpy(img, big.img, big.size);
	for (int i = 0; i < 2000 / BIG_SCALE; i++) {
		uint64_t off = tu_below(&s, big.size);
		unsigned bit = (unsigned)tu_below(&s, 8);
		img[off] ^= (uint8_t)(1u << bit);
		snprintf(what, sizeof what, "bit %u of byte %llu (QUIRE_SEED=%llu)",
			 bit, (unsigned long long)off,
			 (unsigned long long)tu_seed(37));
		big_probe(img, big.size, big.ntxn, in_newest(off, off + 1),
			  i % 2, &bits, what);
		img[off] ^= (uint8_t)(1u << bit);
	}
	for (int i = 0; i < 1000 / BIG_SCALE; i++) {
		uint64_t off = tu_below(&s, big.size);
		size_t n = 1 + (size_t)tu_below(&s, 32);
		if (off + n > big.size)
			n = (size_t)(big.size - off);
		for (size_t j = 0; j < n; j++)
			img[off + j] = (uint8_t)tu_rand(&s);
		snprintf(what, sizeof what,
			 "%zu random bytes at %llu (QUIRE_SEED=%llu)", n,
			 (unsigned long long)off,
			 (unsigned long long)tu_seed(37));
		big_probe(img, big.size, big.ntxn, in_newest(off, off + n),
			  i % 2, &bytes, what);
		memcpy(img + off, big.img + off, n);
	}
	free(img);
	tally_print("random bit flips", &bits);
	tally_print("random bytes", &bytes);
}

/* The newest commit wholly inside the first n bytes. */
static int big_within(uint64_t n)
{
	int j = big.ntxn;
	while (j >= 0 && big.end[j] > n)
		j--;
	return j; /* -1: none, so no commit may be shown */
}

static void test_big_truncated(void **state)
{
	uint64_t s = tu_seed(38);
	struct tally ty = {0};
	char what[96];
	alarm(HANG_S);
	for (int txn = 0; txn <= big.ntxn; txn++) {
		uint64_t h = big.hdr[txn];
		uint64_t cuts[] = {big.start[txn], big.start[txn] + 1, h - 1,
				   h, h + 1, h + QF_HDR_FIXED / 2,
				   big.end[txn] - 1, big.end[txn]};
		for (size_t j = 0; j < sizeof cuts / sizeof *cuts; j++) {
			uint64_t cut = cuts[j];
			if (cut > big.size || cut < QF_SUPER_SIZE)
				continue;
			for (int boot = 0; boot < 2; boot++) {
				snprintf(what, sizeof what,
					 "cut at %llu (commit %d)",
					 (unsigned long long)cut, txn);
				big_probe(big.img, (size_t)cut,
					  big_within(cut), EXACTLY, boot, &ty,
					  what);
			}
		}
	}
	for (int i = 0; i < 300 / BIG_SCALE; i++) {
		uint64_t cut = tu_below(&s, big.size);
		snprintf(what, sizeof what, "cut at %llu (QUIRE_SEED=%llu)",
			 (unsigned long long)cut,
			 (unsigned long long)tu_seed(38));
		big_probe(big.img, (size_t)cut, big_within(cut), EXACTLY, i % 2,
			  &ty, what);
	}
	tally_print("truncations", &ty);
	assert_true(ty.probes >= 300 / BIG_SCALE + 8 * (uint64_t)big.ntxn &&
		    ty.newest > ty.probes / 2);
}

/* Each test gets its own limit: a hang fails it instead of stalling CI. */
static int own_alarm(void **state)
{
	(void)state;
	alarm(HANG_S);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_truncated, own_alarm),
		cmocka_unit_test_setup(test_bitflips, own_alarm),
		cmocka_unit_test_setup(test_random_bytes, own_alarm),
		cmocka_unit_test_setup(test_misdirected, own_alarm),
		cmocka_unit_test_setup(test_slots_damaged, own_alarm),
		cmocka_unit_test_setup(test_foreign_files, own_alarm),
		cmocka_unit_test(test_big_header_bits),
		cmocka_unit_test(test_big_random_damage),
		cmocka_unit_test(test_big_truncated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
