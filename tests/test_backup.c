/*
 * test_backup.c - quire_backup: full and incremental copies checked
 * against a model of every commit, a crash at every write, sync, rename
 * and directory sync of a backup, and bad input.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"

#define NCOMMITS 60

/* The source's content after each commit (state[txn]). */
struct hist {
	struct model state[NCOMMITS + 2];
	uint64_t txn[NCOMMITS + 2]; /* the txn id of commit i */
	int n;
};

static void one_commit(quire *db, struct hist *h, uint64_t *rng)
{
	quire_txn *t;
	struct model *m = &h->state[h->n + 1];
	model_copy(m, &h->state[h->n]);
	QOK(quire_begin(db, 0, &t));
	int ops = 1 + (int)tu_below(rng, 20);
	for (int i = 0; i < ops; i++) {
		char k[16], v[300];
		size_t vl = 1 + tu_below(rng, tu_below(rng, 8) ? 40 : 290);
		snprintf(k, sizeof k, "k%03llu",
			 (unsigned long long)tu_below(rng, 150));
		if (tu_below(rng, 5) == 0) {
			int e = quire_del(t, k, strlen(k));
			assert_true(e == 0 || e == QUIRE_NOTFOUND);
			model_del(m, k, strlen(k));
		} else {
			memset(v, 'a' + (int)tu_below(rng, 26), vl);
			QOK(quire_put(t, k, strlen(k), v, vl));
			model_put(m, k, strlen(k), v, vl);
		}
	}
	h->txn[h->n + 1] = quire_txn_id(t);
	QOK(quire_commit(t));
	h->n++;
}

/* The state index whose commit is txn. */
static int state_of(const struct hist *h, uint64_t txn)
{
	for (int i = 1; i <= h->n; i++)
		if (h->txn[i] == txn)
			return i;
	fail_msg("no commit %llu", (unsigned long long)txn);
	return -1;
}

/* dst opens at commit txn with that commit's content, and AS-OF an older
 * commit shows that one's. */
static void check_copy(qvfs *vfs, const char *dst, const struct hist *h,
		       uint64_t txn, uint64_t *rng)
{
	quire_options o;
	quire *d;
	quire_txn *t;
	int i = state_of(h, txn);
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(qdb_open_vfs(dst, &o, vfs, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), txn);
	model_check_txn(&h->state[i], t);
	uint64_t problems = 1;
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	quire_abort(t);
	int j = 1 + (int)tu_below(rng, (uint64_t)i);
	QOK(quire_begin_at(d, h->txn[j], &t));
	model_check_txn(&h->state[j], t);
	quire_abort(t);
	QOK(quire_close(d));
}

static void hist_free(struct hist *h)
{
	for (int i = 0; i <= h->n; i++)
		model_clear(&h->state[i]);
}

static quire *open_src(qvfs *vfs, const char *path)
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

/* Random commits; now and then a full backup to a new file, an
 * incremental one to a chain, or a compaction of the source (after which
 * the chain is refused, then replaced with QUIRE_BACKUP_FULL_IF_NEEDED).
 * Every copy must be the source at the commit it reports. */
static void test_model(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xbac0), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	qvfs *vfs = memvfs_vfs(m);
	struct hist h = {0};
	quire_backup_stats st;
	quire *db = open_src(vfs, "/src.q");
	int fulls = 0, incs = 0, compactions = 0, conflicts = 0;
	print_message("# seed %llu (QUIRE_SEED)\n", (unsigned long long)seed);
	h.txn[0] = 0;
	for (int c = 0; c < NCOMMITS; c++) {
		one_commit(db, &h, &rng);
		switch (tu_below(&rng, 8)) {
		case 0: {
			char dst[32];
			snprintf(dst, sizeof dst, "/full%d.q", fulls++);
			QOK(quire_backup(db, dst, 0, &st));
			assert_int_equal(st.full, 1);
			assert_int_equal(st.txn, h.txn[h.n]);
			check_copy(vfs, dst, &h, st.txn, &rng);
			break;
		}
		case 1:
		case 2: {
			int e = quire_backup(db, "/chain.q",
					     QUIRE_BACKUP_INCREMENTAL, &st);
			if (e == QUIRE_ECONFLICT) { /* compacted since */
				conflicts++;
				QOK(quire_backup(db, "/chain.q",
						 QUIRE_BACKUP_INCREMENTAL |
							 QUIRE_BACKUP_FULL_IF_NEEDED,
						 &st));
				assert_int_equal(st.full, 1);
			} else {
				QOK(e);
				incs++;
			}
			assert_int_equal(st.txn, h.txn[h.n]);
			check_copy(vfs, "/chain.q", &h, st.txn, &rng);
			break;
		}
		case 3:
			if (tu_below(&rng, 3) == 0) {
				QOK(quire_compact(db, NULL));
				compactions++;
			}
			break;
		default:
			break;
		}
	}
	/* the end of the chain, byte for byte a full copy past the
	 * superblock (whose slots differ) */
	QOK(quire_backup(db, "/chain.q", QUIRE_BACKUP_INCREMENTAL |
						 QUIRE_BACKUP_FULL_IF_NEEDED,
			 &st));
	QOK(quire_backup(db, "/last.q", 0, &st));
	size_t a, b;
	const uint8_t *pa = memvfs_data(m, "/chain.q", &a);
	const uint8_t *pb = memvfs_data(m, "/last.q", &b);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(a, b);
	assert_memory_equal(pa + 4096, pb + 4096, a - 4096);
	print_message("# %d full, %d incremental backups, %d compactions, "
		      "%d refused after one\n",
		      fulls, incs, compactions, conflicts);
	assert_true(incs >= 5);
	QOK(quire_close(db));
	hist_free(&h);
	memvfs_free(m);
}

/* A crash at every write, sync, rename and directory sync of a full and
 * then an incremental backup, in every way a crash can leave the disk:
 * the copy is absent or complete (full), at its old newest commit or the
 * new one (incremental), and passes quire_check. */
static void crash_backup(int incremental, uint64_t *states)
{
	uint64_t seed = tu_seed(0xc0b), rng;
	for (uint64_t n = 1;; n++) {
		int crashed = 0;
		for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
			struct memvfs *m = memvfs_new(seed);
			qvfs *vfs = memvfs_vfs(m);
			struct hist h = {0};
			quire_backup_stats st;
			rng = seed;
			quire *db = open_src(vfs, "/src.q");
			for (int c = 0; c < 6; c++)
				one_commit(db, &h, &rng);
			if (incremental)
				QOK(quire_backup(db, "/copy.q", 0, &st));
			uint64_t before = incremental ? st.txn : 0;
			for (int c = 0; c < 6; c++)
				one_commit(db, &h, &rng);
			QOK(quire_sync(db));
			memvfs_crash_at(m, MV_MUTATE | MV_DIR, n);
			int e = quire_backup(db, "/copy.q",
					     QUIRE_BACKUP_INCREMENTAL, &st);
			crashed = memvfs_crashed(m);
			quire_close(db);
			/* past the last call: a power cut after the backup
			 * returned 0 must find it complete */
			memvfs_crash(m,
				     crashed ? (enum mv_crash)mode
					     : MV_CRASH_DROP,
				     seed + n * 13 + (uint64_t)mode);
			if (!crashed) {
				QOK(e);
				check_copy(vfs, "/copy.q", &h, h.txn[h.n], &rng);
			} else {
				size_t sz;
				quire_options o;
				quire *d;
				quire_txn *t;
				quire_options_init(&o);
				o.flags = QUIRE_RDONLY;
				if (!incremental &&
				    !memvfs_data(m, "/copy.q", &sz)) {
					/* absent: fine */
				} else {
					QOK(qdb_open_vfs("/copy.q", &o, vfs,
							 &d));
					QOK(quire_begin(d, QUIRE_RDONLY, &t));
					uint64_t got = quire_txn_id(t);
					quire_abort(t);
					QOK(quire_close(d));
					if (got != h.txn[h.n])
						assert_int_equal(got, before);
					if (got)
						check_copy(vfs, "/copy.q", &h,
							   got, &rng);
				}
				(*states)++;
			}
			hist_free(&h);
			memvfs_free(m);
			if (!crashed)
				break;
		}
		if (!crashed)
			break;
	}
}

static void test_crash(void **state)
{
	(void)state;
	uint64_t states = 0;
	crash_backup(0, &states);
	uint64_t full = states;
	crash_backup(1, &states);
	print_message("# crash states: %llu of a full backup, %llu of an "
		      "incremental one\n",
		      (unsigned long long)full,
		      (unsigned long long)(states - full));
	assert_true(full >= 5 * MV_CRASH_NMODES);
	assert_true(states - full >= 5 * MV_CRASH_NMODES);
}

/* Real files: the copy takes the source's mode; bad input is refused
 * with nothing written. */
static void test_files(void **state)
{
	(void)state;
	char src[512], dst[512], part[600];
	quire_options o;
	quire *db;
	quire_backup_stats st;
	struct stat sb;
	tu_pathcat(src, sizeof src, tu_path("backup"), "src.q");
	tu_pathcat(dst, sizeof dst, tu_path("backup"), "dst.q");
	snprintf(part, sizeof part, "%s.partial", dst);
	mkdir(tu_path("backup"), 0700);
	unlink(src);
	unlink(dst);
	unlink(part);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.mode = 0640;
	QOK(quire_open(src, &o, &db));
	tu_put1(db, "a", "1");
	assert_int_equal(quire_backup(NULL, dst, 0, &st), QUIRE_EINVAL);
	assert_int_equal(quire_backup(db, NULL, 0, &st), QUIRE_EINVAL);
	assert_int_equal(quire_backup(db, dst, 0x80, &st), QUIRE_EINVAL);
	assert_int_equal(quire_backup(db, src, QUIRE_BACKUP_INCREMENTAL, &st),
			 QUIRE_EINVAL);
	QOK(quire_backup(db, dst, 0, &st));
	QOK(stat(dst, &sb));
	assert_int_equal(sb.st_mode & 07777, 0640);
	/* exists: only an incremental backup appends */
	tu_put1(db, "b", "2");
	assert_int_equal(quire_backup(db, dst, 0, &st), QUIRE_EINVAL);
	QOK(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL, &st));
	assert_int_equal(st.full, 0);
	assert_true(st.txn > st.txn_before);
	/* up to date: nothing to copy */
	QOK(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL, &st));
	assert_int_equal(st.bytes_copied, 0);
	/* a leftover .partial blocks a new copy */
	FILE *f = fopen(part, "w");
	assert_non_null(f);
	fclose(f);
	unlink(dst);
	assert_int_equal(quire_backup(db, dst, 0, &st), QUIRE_EBUSY);
	assert_int_equal(access(dst, F_OK), -1);
	unlink(part);
	/* a copy written to is no longer a copy */
	QOK(quire_backup(db, dst, 0, &st));
	quire *d;
	o.flags = 0;
	QOK(quire_open(dst, &o, &d));
	tu_put1(d, "c", "3");
	QOK(quire_close(d));
	tu_put1(db, "e", "5");
	assert_int_equal(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL, &st),
			 QUIRE_ECONFLICT);
	QOK(quire_open(dst, &o, &d));
	tu_expect(d, "c", "3"); /* unchanged */
	QOK(quire_close(d));
	QOK(quire_backup(db, dst,
			 QUIRE_BACKUP_INCREMENTAL | QUIRE_BACKUP_FULL_IF_NEEDED,
			 &st));
	assert_int_equal(st.full, 1);
	QOK(quire_open(dst, &o, &d));
	quire_txn *t;
	quire_val v;
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, "c", 1, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	tu_expect(d, "e", "5");
	QOK(quire_close(d));
	/* through a symbolic link: the copy replaced stays behind the link */
	char lnk[520];
	snprintf(lnk, sizeof lnk, "%s.link", dst);
	unlink(lnk);
	QOK(symlink(dst, lnk));
	QOK(quire_open(dst, &o, &d));
	tu_put1(d, "f", "6"); /* no longer a copy */
	QOK(quire_close(d));
	QOK(quire_backup(db, lnk,
			 QUIRE_BACKUP_INCREMENTAL | QUIRE_BACKUP_FULL_IF_NEEDED,
			 &st));
	assert_int_equal(st.full, 1);
	QOK(lstat(lnk, &sb));
	assert_true(S_ISLNK(sb.st_mode));
	QOK(quire_open(dst, &o, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, "f", 1, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	tu_expect(d, "e", "5");
	QOK(quire_close(d));
	unlink(lnk);
	/* a copy with two names is not replaced: it would split in two */
	char twin[520];
	snprintf(twin, sizeof twin, "%s.twin", dst);
	unlink(twin);
	QOK(link(dst, twin));
	QOK(quire_open(dst, &o, &d));
	tu_put1(d, "g", "7");
	QOK(quire_close(d));
	assert_int_equal(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL |
						       QUIRE_BACKUP_FULL_IF_NEEDED,
				      &st),
			 QUIRE_EINVAL);
	QOK(quire_open(twin, &o, &d));
	tu_expect(d, "g", "7"); /* unchanged, still one file */
	QOK(quire_close(d));
	unlink(twin);
	QOK(quire_close(db));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
