/*
 * test_salvage.c - quire_salvage() on files damaged in known places.
 *
 * A database is built with many checkpoints (so older copies of the key
 * tree exist), values in and out of line, and pending batches on top; a
 * copy of the intact file is kept. Then one thing is damaged at a time: a
 * leaf, the root, a value block, a pending batch. The salvaged file must
 * hold exactly what the report promises: every key outside the damage with
 * its latest value; a range restored from an older commit with the values
 * that commit held (checked against the intact copy with quire_begin_at);
 * nothing else. The counts must match what the test knows it damaged, and
 * quire_check of the damaged file must name the damage.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "memtable.h"
#include "pending.h"
#include "testutil.h"
#include "tree.h"

#define NKEYS 1500

struct fx {
	char path[4096], orig[4096], out[4096];
	struct model m;
	uint64_t ckpt_txn; /* the commit whose trees the latest reads */
};

static uint64_t rng = 77;

static void gen_val(uint8_t *v, size_t *len, uint64_t n)
{
	uint64_t p = tu_below(&rng, 100), s = n * 0x9e3779b97f4a7c15ull;
	*len = p < 8 ? 1100 + tu_below(&rng, 2000) : 10 + tu_below(&rng, 50);
	for (size_t i = 0; i < *len; i++)
		v[i] = (uint8_t)(tu_rand(&s) >> 13);
}

static void commit_random(quire *db, struct model *m, int ops, uint64_t *n)
{
	static uint8_t v[4096];
	quire_txn *w;
	QOK(quire_begin(db, 0, &w));
	for (int i = 0; i < ops; i++) {
		char k[16];
		size_t vl;
		snprintf(k, sizeof k, "key%05llu",
			 (unsigned long long)tu_below(&rng, NKEYS));
		if (tu_below(&rng, 10) == 0) {
			if (quire_del(w, k, strlen(k)) == 0)
				model_del(m, k, strlen(k));
			continue;
		}
		gen_val(v, &vl, ++*n);
		QOK(quire_put(w, k, strlen(k), v, vl));
		model_put(m, k, strlen(k), v, vl);
	}
	QOK(quire_commit(w));
}

static void copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int a = open(from, O_RDONLY), b = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t r;
	assert_true(a >= 0 && b >= 0);
	while ((r = read(a, buf, sizeof buf)) > 0)
		assert_int_equal(write(b, buf, (size_t)r), r);
	close(a);
	close(b);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	quire_options o;
	quire *db;
	quire_txn *t;
	uint64_t n = 0;
	assert_non_null(f);
	snprintf(f->path, sizeof f->path, "%s", tu_path("salvage"));
	snprintf(f->orig, sizeof f->orig, "%s", tu_path("salvage-orig"));
	snprintf(f->out, sizeof f->out, "%s", tu_path("salvage-out"));
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.node_size = 512;
	o.checkpoint_ops = 300;
	o.auto_compact_ratio = 0; /* older checkpoints stay for salvage */
	QOK(quire_open(f->path, &o, &db));
	for (int i = 0; i < 120; i++)
		commit_random(db, &f->m, 30, &n);
	QOK(quire_checkpoint(db));
	QOK(quire_close(db));
	o.checkpoint_ops = 1000000; /* what follows stays pending */
	QOK(quire_open(f->path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	f->ckpt_txn = quire_txn_id(t);
	quire_abort(t);
	for (int i = 0; i < 6; i++)
		commit_random(db, &f->m, 12, &n);
	QOK(quire_sync(db));
	QOK(quire_close(db));
	copy_file(f->path, f->orig); /* each test damages a fresh copy */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unlink(f->path);
	unlink(f->orig);
	unlink(f->out);
	model_clear(&f->m);
	free(f);
	return 0;
}

static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/* Reports of a salvage or check run. */
struct reports {
	char text[8192];
	uint64_t n, older_txn; /* older: the commit a range came from */
};

static void collect(void *ctx, uint64_t off, const char *what)
{
	struct reports *r = ctx;
	const char *p = strstr(what, "from the older commit ");
	size_t len = strlen(r->text);
	unsigned long long t;
	(void)off;
	r->n++;
	if (p && sscanf(p, "from the older commit %llu", &t) == 1)
		r->older_txn = t;
	snprintf(r->text + len, sizeof r->text - len, "# %s\n", what);
}

/* Run the salvage and compare the new file with the model: keys missing
 * there must be at most the lost ones (or absent from the older commit a
 * range came from); a key whose value differs must hold the value of the
 * older commit the report names. */
static void salvage_and_check(struct fx *f, quire_salvage_stats *st,
			      struct reports *rep, const struct model *want)
{
	quire_options o;
	quire *out, *orig = NULL;
	quire_txn *t, *old = NULL;
	quire_val v;
	uint64_t missing = 0, older = 0, copied = 0;
	unlink(f->out);
	memset(rep, 0, sizeof *rep);
	QOK(quire_salvage(f->path, f->out, collect, rep, st));
	print_message("%s", rep->text);
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(quire_open(f->out, &o, &out));
	QOK(quire_begin(out, QUIRE_RDONLY, &t));
	if (rep->older_txn) {
		QOK(quire_open(f->orig, &o, &orig));
		QOK(quire_begin_at(orig, rep->older_txn, &old));
	}
	for (size_t i = 0; i < want->n; i++) {
		const struct model_ent *e = &want->v[i];
		int r = quire_get(t, e->key, e->klen, &v);
		if (r == QUIRE_NOTFOUND) {
			/* lost, or absent from the older commit whose copy
			 * of the range was taken */
			if (!old || quire_get(old, e->key, e->klen, &v) == 0)
				missing++;
			continue;
		}
		QOK(r);
		if (v.size == e->vlen && !memcmp(v.data, e->val, v.size))
			continue;
		quire_val ov;
		if (!old)
			fail_msg("key %.*s: wrong value and no older range",
				 (int)e->klen, (const char *)e->key);
		QOK(quire_get(old, e->key, e->klen, &ov));
		assert_true(ov.size == v.size && !memcmp(ov.data, v.data, v.size));
		older++;
	}
	quire_cursor *c;
	QOK(quire_cursor_open(t, &c));
	for (int r = quire_cursor_first(c); r == 0; r = quire_cursor_next(c))
		copied++;
	quire_cursor_close(c);
	assert_int_equal(copied, st->keys_copied);
	assert_true(missing <= st->keys_lost + st->values_lost);
	assert_true(older <= st->keys_restored_older);
	/* a key only the older commit had (deleted since) may come back */
	assert_true(copied <= want->n + st->keys_restored_older);
	quire_abort(old);
	quire_close(orig);
	quire_abort(t);
	QOK(quire_close(out));
}

static uint64_t check_problems(const char *path, struct reports *rep)
{
	quire *db;
	quire_txn *t;
	uint64_t problems;
	memset(rep, 0, sizeof *rep);
	QOK(qdb_open_salvage(path, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_check(t, collect, rep, &problems));
	quire_abort(t);
	QOK(quire_close(db));
	return problems;
}

/* A leaf (level 0) or the root of the key tree, found through the key
 * tree of the latest commit; the offset of its middle byte. */
static uint64_t key_tree_node(struct fx *f, int root)
{
	quire_options o;
	quire *db;
	quire_txn *t;
	struct tcur c;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(quire_open(f->path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	const struct qroot *r = &t->snap->h.root[QT_KEYS];
	assert_true(r->height >= 3);
	tcur_init(&c, db->qf, QT_KEYS, r);
	QOK(tcur_seek(&c, "key00700", 8));
	uint64_t off = root ? r->off + r->size / 2
			    : c.lv[0].off + node_size(c.lv[0].n) / 2;
	quire_abort(t);
	QOK(quire_close(db));
	return off;
}

static void test_clean(void **state)
{
	struct fx *f = *state;
	quire_salvage_stats st;
	struct reports rep;
	copy_file(f->orig, f->path);
	salvage_and_check(f, &st, &rep, &f->m);
	assert_int_equal(rep.n, 0);
	assert_int_equal(st.keys_copied, f->m.n);
	assert_int_equal(st.keys_lost + st.values_lost + st.nodes_damaged +
				 st.batches_lost + st.keys_restored_older,
			 0);
	assert_int_equal(quire_salvage(f->path, f->out, NULL, NULL, &st),
			 QUIRE_EINVAL); /* it exists now */
}

static void test_damaged_leaf(void **state)
{
	struct fx *f = *state;
	quire_salvage_stats st;
	struct reports rep;
	copy_file(f->orig, f->path);
	flip(f->path, key_tree_node(f, 0));
	assert_true(check_problems(f->path, &rep) >= 1);
	assert_non_null(strstr(rep.text, "key tree's keys [\"key"));
	salvage_and_check(f, &st, &rep, &f->m);
	assert_int_equal(st.nodes_damaged, 1);
	assert_true(st.keys_lost + st.keys_restored_older > 0);
}

static void test_damaged_root(void **state)
{
	struct fx *f = *state;
	quire_salvage_stats st;
	struct reports rep;
	copy_file(f->orig, f->path);
	flip(f->path, key_tree_node(f, 1));
	salvage_and_check(f, &st, &rep, &f->m);
	assert_int_equal(st.nodes_damaged, 1);
	/* the root is rewritten by every checkpoint: an older one has it all */
	assert_true(rep.older_txn > 0 && rep.older_txn < f->ckpt_txn);
	assert_int_equal(st.keys_lost, 0);
}

static void test_damaged_value(void **state)
{
	struct fx *f = *state;
	quire_options o;
	quire *db;
	quire_txn *t;
	struct tcur c;
	struct lentry le;
	quire_salvage_stats st;
	struct reports rep;
	copy_file(f->orig, f->path);
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(quire_open(f->path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	tcur_init(&c, db->qf, QT_KEYS, &t->snap->h.root[QT_KEYS]);
	int r;
	for (r = tcur_first(&c); r == 0; r = tcur_next(&c)) {
		tcur_entry(&c, &le);
		/* out of line, and not overwritten by a pending operation */
		if (le.ool && le.meta < qhdr_ckpt_seq(&t->snap->h) &&
		    !mt_get(t->snap->mt, le.key, le.klen, UINT64_MAX))
			break;
	}
	QOK(r);
	uint64_t off = le.ool_off + QF_BLOCK_HDR + le.vlen / 2;
	quire_abort(t);
	QOK(quire_close(db));
	flip(f->path, off);
	assert_true(check_problems(f->path, &rep) >= 1);
	assert_non_null(strstr(rep.text, "value block of \"key"));
	salvage_and_check(f, &st, &rep, &f->m);
	assert_int_equal(st.values_lost, 1);
	assert_int_equal(st.nodes_damaged + st.keys_lost, 0);
	assert_int_equal(st.keys_copied + 1, f->m.n);
}

/* The second newest pending batch: it and every older pending batch are
 * lost, so the salvaged state is the checkpoint's plus the newest batch. */
static void test_damaged_batch(void **state)
{
	struct fx *f = *state;
	quire_options o;
	quire *db;
	quire_txn *t, *ck;
	quire_changes *feed;
	quire_change ch;
	uint8_t *b;
	struct batch_info bi;
	quire_salvage_stats st;
	struct reports rep;
	struct model want = {0};
	quire_val k, v;
	copy_file(f->orig, f->path);
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(quire_open(f->path, &o, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	const struct qhdr *h = &t->snap->h;
	QOK(pending_read(db->qf, h->pending_off, h->pending_size, &b, &bi));
	uint64_t newest_first = bi.first_seq, off = bi.prev_off;
	free(b);
	/* what survives: the checkpoint's state and the newest batch */
	QOK(quire_begin_at(db, f->ckpt_txn, &ck));
	quire_cursor *c;
	QOK(quire_cursor_open(ck, &c));
	for (int r = quire_cursor_first(c); r == 0; r = quire_cursor_next(c)) {
		QOK(quire_cursor_key(c, &k));
		QOK(quire_cursor_value(c, &v));
		model_put(&want, k.data, k.size, v.data, v.size);
	}
	quire_cursor_close(c);
	quire_abort(ck);
	QOK(quire_changes_open(t, newest_first - 1, &feed));
	while (quire_changes_next(feed, &ch) == 0)
		if (ch.op == QUIRE_OP_PUT)
			model_put(&want, ch.key.data, ch.key.size,
				  ch.value.data, ch.value.size);
		else
			model_del(&want, ch.key.data, ch.key.size);
	quire_changes_close(feed);
	quire_abort(t);
	QOK(quire_close(db));
	flip(f->path, off + 40);
	/* a plain open refuses the file; salvage does not */
	assert_int_equal(quire_open(f->path, &o, &db), QUIRE_ECORRUPT);
	salvage_and_check(f, &st, &rep, &want);
	assert_int_equal(st.batches_lost, 1);
	assert_int_equal(st.keys_copied, want.n);
	model_clear(&want);
}

/* A leaf no older checkpoint has a copy of: its keys are lost, exactly
 * those, and everything else is there. */
static void test_lost_range(void **state)
{
	struct fx *f = *state;
	quire_options o;
	quire *db;
	quire_txn *w;
	struct model m = {0};
	quire_salvage_stats st;
	struct reports rep;
	struct fx g = *f;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.node_size = 512;
	unlink(f->path);
	QOK(quire_open(f->path, &o, &db));
	QOK(quire_begin(db, 0, &w));
	for (int i = 0; i < 2000; i++) {
		char k[16], v[16];
		snprintf(k, sizeof k, "key%05d", i);
		snprintf(v, sizeof v, "v%d", i);
		QOK(quire_put(w, k, strlen(k), v, strlen(v)));
		model_put(&m, k, strlen(k), v, strlen(v));
	}
	QOK(quire_commit(w)); /* one checkpoint: no older tree */
	QOK(quire_close(db));
	g.m = m;
	flip(f->path, key_tree_node(&g, 0));
	salvage_and_check(&g, &st, &rep, &m);
	assert_int_equal(st.nodes_damaged, 1);
	assert_int_equal(st.keys_restored_older, 0);
	assert_true(st.keys_lost > 0 && st.keys_lost < 100);
	assert_int_equal(st.keys_copied + st.keys_lost, m.n);
	assert_non_null(strstr(rep.text, "lost ("));
	model_clear(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_damaged_leaf),
		cmocka_unit_test(test_damaged_root),
		cmocka_unit_test(test_damaged_value),
		cmocka_unit_test(test_damaged_batch),
		cmocka_unit_test(test_lost_range),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
