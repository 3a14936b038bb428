/*
 * mkcorpus.c - write the seed corpus of the fuzz targets.
 *
 *   tests/fuzz/mkcorpus DIR     (DIR is tests/fuzz/corpus in the source tree)
 *
 * Everything is built on the in-memory VFS with fixed seeds and its
 * deterministic clock, so the output is the same on every run and the
 * committed corpus can be checked against a fresh one. It writes:
 *   DIR/fuzz_file/    database images of different shapes (empty, a few
 *                     keys, a deep tree of 512-byte nodes, values out of
 *                     line, pending batches, metadata commits, after
 *                     checkpoints) and crash images (a crash struck in the
 *                     middle of a workload, in each memvfs_crash mode);
 *   DIR/fuzz_decode/  the blocks of some of those images, each with the
 *                     selector prefix fuzz_decode.c expects;
 *   DIR/fuzz_ops/     operation programs for fuzz_ops.c.
 * Seed inputs are starting points for mutation, so they need to be valid
 * and varied, not large.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "memvfs.h"
#include "node.h"
#include "testutil.h"
#include "util.h"

static const char *outdir;
static const char dbpath[] = "/seed.quire";
static int nfiles;
static size_t nbytes;

static void die(const char *what, int e)
{
	fprintf(stderr, "mkcorpus: %s: %s (%s)\n", what, quire_strerror(e),
		quire_errmsg());
	exit(1);
}

#define OK(x)                                                                \
	do {                                                                 \
		int ok_e_ = (x);                                             \
		if (ok_e_)                                                   \
			die(#x, ok_e_);                                      \
	} while (0)

static void mkdirs(const char *sub)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", outdir);
	if (mkdir(p, 0755) && errno != EEXIST)
		die(p, QUIRE_EIO);
	snprintf(p, sizeof p, "%s/%s", outdir, sub);
	if (mkdir(p, 0755) && errno != EEXIST)
		die(p, QUIRE_EIO);
}

static void emit(const char *sub, const char *name, const void *data,
		 size_t size)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s/%s", outdir, sub, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		die(p, QUIRE_EIO);
	nfiles++;
	nbytes += size;
}

/* --- database images ----------------------------------------------------- */

struct shape {
	const char *name;
	unsigned node_size;
	unsigned long checkpoint_ops;
	int nosync;
	int commits, ops;     /* commits of up to ops operations */
	int keyspace;
	int big_every;        /* one value in n out of line (0: none) */
	int del_every;        /* one operation in n a delete (0: none) */
	int meta_every;       /* one commit in n with metadata */
	int ckpt_every;       /* quire_checkpoint before every n-th commit */
	int reopen_every;
};

static const struct shape shapes[] = {
	{"01-empty", 4096, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0},
	{"02-few-keys", 4096, 0, 0, 1, 5, 5, 0, 0, 0, 0, 0},
	{"03-pending-batches", 4096, 0, 0, 12, 4, 30, 0, 5, 0, 0, 0},
	{"04-deep-512", 512, 1, 0, 14, 20, 400, 0, 6, 0, 0, 0},
	{"05-out-of-line", 1024, 8, 0, 10, 3, 12, 2, 0, 0, 0, 0},
	{"06-metadata", 4096, 0, 0, 10, 2, 10, 0, 0, 2, 0, 0},
	{"07-checkpoints", 512, 16, 0, 25, 6, 60, 7, 4, 3, 5, 7},
	{"08-nosync", 1024, 10, 1, 15, 5, 40, 9, 5, 4, 0, 0},
	{"09-folded-deletes", 512, 1, 0, 20, 8, 50, 0, 2, 0, 0, 0},
};

static int put_value(quire_txn *t, const char *k, uint64_t *rng, int big)
{
	static char v[6000];
	size_t n = big ? 1100 + tu_below(rng, 4000) : tu_below(rng, 60);
	for (size_t i = 0; i < n; i++)
		v[i] = (char)('a' + (i + n) % 26);
	return quire_put(t, k, strlen(k), v, n);
}

/* Run the shape; with crash_at > 0 the crash strikes at that mutating call
 * and the workload stops there. */
static struct memvfs *build(const struct shape *s, uint64_t crash_at)
{
	struct memvfs *m = memvfs_new(7);
	quire_options o;
	quire *db;
	quire_txn *t;
	uint64_t rng = 42;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | (s->nosync ? QUIRE_NOSYNC : 0);
	o.node_size = s->node_size;
	if (s->checkpoint_ops)
		o.checkpoint_ops = s->checkpoint_ops;
	OK(qdb_open_vfs(dbpath, &o, memvfs_vfs(m), &db));
	o.flags &= ~QUIRE_CREATE;
	if (crash_at)
		memvfs_crash_at(m, MV_MUTATE, crash_at);
	int bigs = 0, ops = 0;
	for (int c = 1; c <= s->commits && !memvfs_crashed(m); c++) {
		if (s->reopen_every && c % s->reopen_every == 0) {
			if (quire_close(db))
				die("close", QUIRE_EIO);
			if (qdb_open_vfs(dbpath, &o, memvfs_vfs(m), &db))
				return m;
		}
		if (s->ckpt_every && c % s->ckpt_every == 0 &&
		    quire_checkpoint(db))
			break;
		if (quire_begin(db, 0, &t))
			break;
		int n = 1 + (int)tu_below(&rng, (uint64_t)s->ops);
		for (int i = 0; i < n && !memvfs_crashed(m); i++) {
			char k[32];
			snprintf(k, sizeof k, "key%05u",
				 (unsigned)tu_below(&rng, (uint64_t)s->keyspace));
			if (s->del_every && ++ops % s->del_every == 0) {
				quire_del(t, k, strlen(k));
				continue;
			}
			int big = s->big_every && ++bigs % s->big_every == 0;
			if (put_value(t, k, &rng, big))
				break;
		}
		if (memvfs_crashed(m)) {
			quire_abort(t);
			break;
		}
		if (s->meta_every && c % s->meta_every == 0) {
			char meta[64];
			int ml = snprintf(meta, sizeof meta, "commit %d by seed", c);
			quire_commit_with(t, meta, (size_t)ml);
		} else {
			quire_commit(t);
		}
	}
	quire_close(db);
	return m;
}

static void emit_image(struct memvfs *m, const char *name)
{
	size_t n;
	const uint8_t *d = memvfs_data(m, dbpath, &n);
	if (d)
		emit("fuzz_file", name, d, n);
}

/* --- decoder inputs from an image's blocks ------------------------------- */

static void emit_dec(const char *img, int sel, uint64_t off, int tree,
		     int level, const uint8_t *p, size_t n, const char *kind)
{
	uint8_t *b = malloc(n + 7);
	char name[128];
	if (!b)
		die("malloc", QUIRE_ENOMEM);
	b[0] = (uint8_t)sel;
	st32(b + 1, (uint32_t)(off - QF_SUPER_SIZE));
	b[5] = (uint8_t)tree;
	b[6] = (uint8_t)level;
	memcpy(b + 7, p, n);
	snprintf(name, sizeof name, "%s-%s-%llu", img, kind,
		 (unsigned long long)off);
	emit("fuzz_decode", name, b, n + 7);
	free(b);
}

static void decoder_inputs(struct memvfs *m, const char *img, int max)
{
	size_t n;
	const uint8_t *d = memvfs_data(m, dbpath, &n);
	int made = 0, oprecs = 0, entries = 0;
	if (!d || n < QF_SUPER_SIZE)
		return;
	emit_dec(img, 1, QF_SUPER_SIZE, 0, 0, d, QF_SUPER_SIZE, "super");
	emit_dec(img, 1, QF_SUPER_SIZE, 0, 0, d + QF_SLOT0_OFF, QF_SLOT_SIZE,
		 "slot");
	for (uint64_t off = QF_SUPER_SIZE; off + QF_BLOCK_HDR <= n && made < max;) {
		struct qblock b;
		qblock_get(d + off, &b);
		if (b.size < QF_BLOCK_HDR || off + b.size > n)
			break;
		const uint8_t *p = d + off;
		switch (b.type) {
		case QB_HEADER:
			emit_dec(img, 0, off, 0, 0, p, b.size, "header");
			made++;
			break;
		case QB_BATCH:
			emit_dec(img, 5, off, 0, 0, p, b.size, "batch");
			made++;
			break;
		case QB_NODE:
			emit_dec(img, 2, off, b.b5, b.b6, p, b.size, "node");
			made++;
			if (node_verify(p, b.size, off, b.b5, b.b6) != 0)
				break;
			/* entries, and the seq tree's operation records */
			for (unsigned i = 0; i < node_count(p) && i < 3; i++) {
				const uint8_t *end, *e = node_entry(p, i, &end);
				if (entries++ < 12)
					emit_dec(img, 6, off + i, 0, 0, e,
						 (size_t)(end - e), "entry");
				struct lentry le;
				if (b.b6 == 0 && b.b5 == QT_SEQ && oprecs < 12) {
					node_leaf_entry(p, i, &le);
					emit_dec(img, 4, off + i, 0, 0, le.val,
						 le.vlen, "oprec");
					oprecs++;
				}
			}
			break;
		default:
			break;
		}
		off += b.size;
	}
}

/* --- operation programs -------------------------------------------------- */

enum {
	P_PUT, P_DEL, P_COMMIT, P_ABORT, P_CHECKPOINT, P_REOPEN, P_CRASH,
	P_CRASHAT, P_BEGINAT, P_PUTN, P_GET, P_SYNC, P_COMMITWITH, P_SCAN,
	P_CLOCK
};

static void emit_prog(const char *name, const uint8_t *p, size_t n)
{
	emit("fuzz_ops", name, p, n);
}

/* A random program of about n operations (arguments are random bytes,
 * which fuzz_ops.c reads as keys, values and modes). */
static void random_prog(const char *name, uint8_t opts, uint64_t seed,
			size_t n, int crashes)
{
	uint8_t p[2048];
	size_t k = 0;
	p[k++] = opts;
	while (k < n && k + 8 < sizeof p) {
		unsigned r = (unsigned)tu_below(&seed, 100), op;
		if (r < 35)
			op = P_PUT;
		else if (r < 45)
			op = P_DEL;
		else if (r < 65)
			op = P_COMMIT;
		else if (r < 68)
			op = P_ABORT;
		else if (r < 72)
			op = P_CHECKPOINT;
		else if (r < 75)
			op = P_REOPEN;
		else if (r < 78)
			op = crashes ? P_CRASH : P_SCAN;
		else if (r < 81)
			op = crashes ? P_CRASHAT : P_GET;
		else if (r < 85)
			op = P_BEGINAT;
		else if (r < 89)
			op = P_PUTN;
		else if (r < 93)
			op = P_GET;
		else if (r < 95)
			op = P_SYNC;
		else if (r < 97)
			op = P_COMMITWITH;
		else
			op = P_SCAN;
		p[k++] = (uint8_t)op;
		for (int i = 0; i < 4; i++)
			p[k++] = (uint8_t)tu_rand(&seed);
		if (op == P_PUT && tu_below(&seed, 8) == 0)
			p[k - 2] = 0xf0 | (uint8_t)tu_below(&seed, 16);
	}
	emit_prog(name, p, k);
}

static void programs(void)
{
	/* hand-written: the basic paths each once */
	static const uint8_t basic[] = {
		0x02, P_PUT, 0x01, 5, P_PUT, 0x02, 0xf3, P_COMMIT, P_GET, 0x01,
		P_DEL, 0x01, P_COMMIT, P_REOPEN, P_BEGINAT, 1, P_SCAN};
	static const uint8_t deep[] = {
		0x00, P_PUTN, 63, 0, 7, P_COMMIT, P_PUTN, 63, 100, 3, P_COMMIT,
		P_CHECKPOINT, P_PUTN, 40, 9, 11, P_DEL, 0x05, P_COMMIT,
		P_BEGINAT, 2, P_REOPEN, P_SCAN};
	static const uint8_t crash[] = {
		0x00, P_PUT, 0x10, 20, P_COMMIT, P_CRASHAT, 3, 1, 9, P_PUT,
		0x11, 0xf5, P_PUT, 0x12, 30, P_COMMIT, P_PUT, 0x13, 1,
		P_COMMIT, P_CRASH, 4, 2, P_SCAN, P_BEGINAT, 0};
	static const uint8_t nosync[] = {
		0x11, P_PUT, 0x20, 3, P_COMMIT, P_PUT, 0x21, 4, P_COMMIT,
		P_SYNC, P_PUT, 0x22, 5, P_COMMIT, P_CRASH, 1, 0, P_PUT, 0x23,
		6, P_COMMIT, P_CRASH, 0, 0, P_SCAN};
	static const uint8_t meta[] = {
		0x06, P_COMMITWITH, 9, P_PUT, 0x30, 1, P_COMMITWITH, 40,
		P_CLOCK, 1, 0, P_PUT, 0x31, 2, P_COMMIT, P_BEGINAT, 1,
		P_BEGINAT, 2, P_CHECKPOINT, P_BEGINAT, 3};
	static const uint8_t longkey[] = {
		0x00, P_PUT, 0xff, 10, 'x', 7, P_PUT, 0xff, 20, 'y', 8,
		P_PUT, 0xc3, 0, 1, 2, 0xf1, P_COMMIT, P_CHECKPOINT, P_REOPEN};
	emit_prog("basic", basic, sizeof basic);
	emit_prog("deep", deep, sizeof deep);
	emit_prog("crash", crash, sizeof crash);
	emit_prog("nosync", nosync, sizeof nosync);
	emit_prog("meta", meta, sizeof meta);
	emit_prog("longkey", longkey, sizeof longkey);
	random_prog("rand-batches", 0x0c, 1, 300, 0);
	random_prog("rand-folded", 0x00, 2, 300, 0);
	random_prog("rand-ckpt4", 0x05, 3, 400, 1);
	random_prog("rand-nosync", 0x19, 4, 400, 1);
	random_prog("rand-crash", 0x08, 5, 600, 1);
	random_prog("rand-long", 0x0a, 6, 1000, 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	mkdirs("fuzz_file");
	mkdirs("fuzz_decode");
	mkdirs("fuzz_ops");
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		struct memvfs *m = build(&shapes[i], 0);
		char name[64];
		snprintf(name, sizeof name, "%s.quire", shapes[i].name);
		emit_image(m, name);
		if (i == 2 || i == 3 || i == 4 || i == 6)
			decoder_inputs(m, shapes[i].name, 10);
		memvfs_free(m);
	}
	/* crash images: a crash part way through the checkpoint workload,
	 * once per mode, at different points */
	for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
		const struct shape *s = &shapes[mode % 2 ? 6 : 7];
		struct memvfs *m = build(s, 20 + 7 * (uint64_t)mode);
		char name[64];
		memvfs_crash(m, (enum mv_crash)mode, (uint64_t)mode + 1);
		snprintf(name, sizeof name, "crash-%s-mode%d.quire",
			 s->name + 3, mode);
		emit_image(m, name);
		memvfs_free(m);
	}
	programs();
	printf("mkcorpus: %d files, %zu bytes in %s\n", nfiles, nbytes,
	       outdir);
	return 0;
}
