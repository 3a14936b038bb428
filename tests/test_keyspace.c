/*
 * test_keyspace.c - keyspaces (issue 14): named sorted key sets in one
 * file, reached through views (quire_keyspace), checked against a model.
 *
 * - model: thousands of random operations across the default keyspace and
 *   named ones in one write transaction (puts, deletes, CAS with the
 *   versions quire_get_seq gives, range and prefix deletes with their
 *   counts, cursor walks with changes made under them, creates, drops,
 *   renames), commits and aborts, snapshots held across commits, a second
 *   handle following, reopens, checkpoints and compactions; every state is
 *   compared whole (each keyspace by cursor both ways, seeks, gets,
 *   quire_keyspace_stat's keys and bytes, quire_keyspace_list's names in
 *   bytewise order) and every commit's changes feed entry by entry (its
 *   keyspace's number and its name at the time). Keys starting with 0xff
 *   are frequent (the default keyspace escapes them once a named keyspace
 *   exists), and the first operations make some before any keyspace exists.
 *   One run keeps every commit: at its end the whole feed, each view's
 *   filtered feed, and a replay of the feed into a new file are compared.
 * - AS-OF snapshots before and after a drop and a rename (and a
 *   re-creation under the old name), across a compaction and a reopen.
 * - the feed names of keyspaces renamed and dropped within a transaction.
 * - key history and diff per keyspace (views of different keyspaces:
 *   QUIRE_EINVAL).
 * - default keys starting with 0xff before and after the first keyspace
 *   (an aborted creation, then a committed one); empty keys; keys of
 *   QUIRE_MAX_KEY_SIZE in a keyspace with a 255-byte name.
 * - bad input: names, flags, read-only transactions, views after their
 *   transaction ended or their keyspace was dropped, commit of a view.
 * - compatibility: a file without keyspaces, then with one, reopened.
 * - crash safety: a crash at every write/sync/rename of commits that
 *   create keyspaces, write into two at once, rename and drop, in every
 *   crash mode of memvfs: the reopened file holds one whole commit.
 * - I/O faults: EIO and ENOSPC (once, persistent) at every call of every
 *   kind memvfs counts, over commits that make the first keyspaces (0xff
 *   default keys escaped), write two at once, rename, drop (a range
 *   delete), with a reopen, a checkpoint and reads of the list, stats and
 *   feeds between them (mapped, QUIRE_NOMMAP, checkpoint_ops 1): the call
 *   fails with a message, a failed fsync poisons the handle, the reopened
 *   file (also after a power cut) holds the commit before the failure or
 *   the failed one, whole (keyspaces, keys, the feed's keyspace events),
 *   checks clean, and takes a commit that creates a keyspace.
 *
 * A failure names its seed; QUIRE_SEED=<seed> replays it (KS_TRACE=1
 * prints the scans, puts, deletes and catalog operations on stderr).
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"

/* ---- failing with context ---- */

static char where[256];
static int trace; /* KS_TRACE=1: the scans' moves on stderr */

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void failf(const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail_msg("%s: %s", where, msg);
}

#define ROK(x)                                                               \
	do {                                                                 \
		int rok_ = (x);                                              \
		if (rok_ != 0)                                               \
			failf("%s = %d (%s: %s)", #x, rok_,                  \
			      quire_strerror(rok_), quire_errmsg());         \
	} while (0)

#define REQ(want, x)                                                         \
	do {                                                                 \
		int req_ = (x);                                              \
		if (req_ != (want))                                          \
			failf("%s = %d (%s: %s), expected %s", #x, req_,     \
			      quire_strerror(req_), quire_errmsg(), #want);  \
	} while (0)

/* A literal as (pointer, length): embedded NULs count. */
#define L(s) (const void *)(s), (sizeof(s) - 1)

/* A printable form of a name or key (\xNN escapes, cut at 40 bytes). */
static const char *show(const void *p, size_t n, char *buf, size_t bn)
{
	const uint8_t *b = p;
	size_t o = 0;
	for (size_t i = 0; i < n && i < 40 && o + 5 < bn; i++)
		o += (size_t)snprintf(buf + o, bn - o,
				      b[i] >= 0x21 && b[i] < 0x7f ? "%c"
								  : "\\x%02x",
				      b[i]);
	if (n > 40 && o + 12 < bn)
		o += (size_t)snprintf(buf + o, bn - o, "..(%zu)", n);
	buf[o] = 0;
	return buf;
}

/* ---- the names the random tests use ---- */

struct nm {
	const uint8_t *p;
	size_t n;
};
static uint8_t name_max1[QUIRE_MAX_KEYSPACE_NAME];
static uint8_t name_max2[QUIRE_MAX_KEYSPACE_NAME];
#define NM(s) {(const uint8_t *)(s), sizeof(s) - 1}
static struct nm pool[] = {
	NM("a"), NM("b"), NM("ab"), NM("users"), NM("\x00"), NM("\xff"),
	NM("\xff\x00"), NM("\xff\xff"), NM("a\xff"), NM("orders\x00x"),
	{name_max1, sizeof name_max1}, {name_max2, sizeof name_max2},
};
#define NPOOL (sizeof pool / sizeof pool[0])

static void pool_init(void)
{
	memset(name_max1, 'n', sizeof name_max1);
	memset(name_max2, 0xff, sizeof name_max2);
}

/* ---- a world: the default keyspace and the named ones ---- */

struct ks {
	uint8_t *name;
	size_t nlen;
	struct model m;
	int ident;       /* which keyspace (numbers never reused): index of
			  * its number in the feed checks */
	quire_txn *view; /* a view of it in the write transaction */
};

struct world {
	struct model def;
	struct ks *v;
	size_t n, cap;
};

static int world_find(const struct world *w, const void *name, size_t nlen)
{
	for (size_t i = 0; i < w->n; i++)
		if (tu_same(w->v[i].name, w->v[i].nlen, name, nlen))
			return (int)i;
	return -1;
}

static struct ks *world_add(struct world *w, const void *name, size_t nlen,
			    int ident)
{
	w->v = tu_push(w->v, &w->cap, w->n, sizeof *w->v, 8);
	struct ks *k = &w->v[w->n++];
	*k = (struct ks){tu_dup(name, nlen), nlen, {0}, ident, NULL};
	return k;
}

static void world_remove(struct world *w, size_t i)
{
	free(w->v[i].name);
	model_clear(&w->v[i].m);
	w->v[i] = w->v[--w->n];
}

static void world_clear(struct world *w)
{
	while (w->n)
		world_remove(w, w->n - 1);
	free(w->v);
	model_clear(&w->def);
	*w = (struct world){0};
}

static void world_copy(struct world *dst, const struct world *src)
{
	world_clear(dst);
	model_copy(&dst->def, &src->def);
	for (size_t i = 0; i < src->n; i++) {
		struct ks *k = world_add(dst, src->v[i].name, src->v[i].nlen,
					 src->v[i].ident);
		model_copy(&k->m, &src->v[i].m);
	}
}

static uint64_t model_bytes(const struct model *m)
{
	uint64_t b = 0;
	for (size_t i = 0; i < m->n; i++)
		b += m->v[i].klen + m->v[i].vlen;
	return b;
}

static int namecmp(const void *a, const void *b)
{
	const struct nm *x = a, *y = b;
	return tu_keycmp(x->p, x->n, y->p, y->n);
}

/* ---- quire_keyspace_list ---- */

struct listing {
	struct nm *v;
	size_t n, cap;
	size_t stop_after; /* return 7 after this many (0: never) */
};

static int list_cb(void *ctx, const void *name, size_t nlen)
{
	struct listing *l = ctx;
	l->v = tu_push(l->v, &l->cap, l->n, sizeof *l->v, 8);
	l->v[l->n++] = (struct nm){tu_dup(name, nlen), nlen};
	return l->stop_after && l->n == l->stop_after ? 7 : 0;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((void *)l->v[i].p);
	free(l->v);
	*l = (struct listing){0};
}

/* The names t lists are w's, in bytewise order. */
static void check_list(const struct world *w, quire_txn *t, const char *label)
{
	struct listing l = {0};
	struct nm *want = calloc(w->n + 1, sizeof *want);
	char b1[256], b2[256];
	assert_non_null(want);
	ROK(quire_keyspace_list(t, list_cb, &l));
	for (size_t i = 0; i < w->n; i++)
		want[i] = (struct nm){w->v[i].name, w->v[i].nlen};
	qsort(want, w->n, sizeof *want, namecmp);
	if (l.n != w->n)
		failf("%s: quire_keyspace_list gave %zu names, the model has "
		      "%zu (first listed: %s)",
		      label, l.n, w->n,
		      l.n ? show(l.v[0].p, l.v[0].n, b1, sizeof b1) : "-");
	for (size_t i = 0; i < l.n; i++)
		if (!tu_same(l.v[i].p, l.v[i].n, want[i].p, want[i].n))
			failf("%s: name %zu listed is %s, expected %s", label,
			      i, show(l.v[i].p, l.v[i].n, b1, sizeof b1),
			      show(want[i].p, want[i].n, b2, sizeof b2));
	listing_free(&l);
	if (w->n >= 2) { /* a nonzero return stops it and is returned */
		l.stop_after = 1;
		REQ(7, quire_keyspace_list(t, list_cb, &l));
		if (l.n != 1 || !tu_same(l.v[0].p, l.v[0].n, want[0].p,
					 want[0].n))
			failf("%s: a listing stopped by its callback went on "
			      "(%zu names)",
			      label, l.n);
		listing_free(&l);
	}
	free(want);
}

/* ---- comparing a keyspace with its model ---- */

static void seek_expect(quire_cursor *c, const struct model *m, const void *k,
			size_t kl, const char *label)
{
	quire_val ck;
	char b1[256], b2[256];
	size_t i = model_lower(m, k, kl);
	int rc = quire_cursor_seek(c, k, kl);
	if (i == m->n) {
		if (rc != QUIRE_NOTFOUND)
			failf("%s: seek to %s = %d (%s), expected "
			      "QUIRE_NOTFOUND",
			      label, show(k, kl, b1, sizeof b1), rc,
			      quire_strerror(rc));
		return;
	}
	if (rc != 0)
		failf("%s: seek to %s = %d (%s), expected entry %zu of %zu",
		      label, show(k, kl, b1, sizeof b1), rc, quire_strerror(rc),
		      i, m->n);
	ROK(quire_cursor_key(c, &ck));
	if (!tu_same(ck.data, ck.size, m->v[i].key, m->v[i].klen))
		failf("%s: seek to %s lands on %s, expected %s", label,
		      show(k, kl, b1, sizeof b1),
		      show(ck.data, ck.size, b2, sizeof b2),
		      show(m->v[i].key, m->v[i].klen, b1, sizeof b1));
}

/* t (a transaction or a view) shows exactly m: cursor forward and
 * backward, seeks, gets, quire_keyspace_stat. */
static void check_ks(const struct model *m, quire_txn *t, const char *label)
{
	quire_cursor *c;
	quire_val k, v;
	size_t i = 0;
	int rc;
	char b1[256], b2[256];
	uint64_t keys = 0, bytes = 0;
	static const struct nm probes[] = {
		NM(""), NM("\x00"), NM("\xfe"), NM("\xff"), NM("\xff\x00"),
		NM("\xff\x01"), NM("\xff\xff"), NM("\xff\xff\xff\xff\xff\xff"),
		NM("a"), NM("b\xff")};
	ROK(quire_cursor_open(t, &c));
	for (rc = quire_cursor_first(c); rc == 0;
	     rc = quire_cursor_next(c), i++) {
		ROK(quire_cursor_key(c, &k));
		if (i >= m->n)
			failf("%s: more keys than the model's %zu: %s", label,
			      m->n, show(k.data, k.size, b1, sizeof b1));
		ROK(quire_cursor_value(c, &v));
		if (!tu_same(k.data, k.size, m->v[i].key, m->v[i].klen))
			failf("%s: forward: key %zu of %zu is %s, the model's "
			      "%s",
			      label, i, m->n,
			      show(k.data, k.size, b1, sizeof b1),
			      show(m->v[i].key, m->v[i].klen, b2, sizeof b2));
		if (!tu_same(v.data, v.size, m->v[i].val, m->v[i].vlen))
			failf("%s: value of %s: %zu bytes, the model's %zu",
			      label, show(k.data, k.size, b1, sizeof b1),
			      v.size, m->v[i].vlen);
	}
	if (rc != QUIRE_NOTFOUND)
		failf("%s: forward scan: %d (%s: %s)", label, rc,
		      quire_strerror(rc), quire_errmsg());
	if (i != m->n)
		failf("%s: %zu keys forward, the model has %zu (its first: "
		      "%s)",
		      label, i, m->n,
		      show(m->v[i].key, m->v[i].klen, b1, sizeof b1));
	for (rc = quire_cursor_last(c); rc == 0; rc = quire_cursor_prev(c)) {
		ROK(quire_cursor_key(c, &k));
		if (i == 0)
			failf("%s: backward: more keys than the model: %s",
			      label, show(k.data, k.size, b1, sizeof b1));
		i--;
		if (!tu_same(k.data, k.size, m->v[i].key, m->v[i].klen))
			failf("%s: backward: key %zu of %zu is %s, the model's "
			      "%s",
			      label, i, m->n,
			      show(k.data, k.size, b1, sizeof b1),
			      show(m->v[i].key, m->v[i].klen, b2, sizeof b2));
	}
	if (rc != QUIRE_NOTFOUND || i != 0)
		failf("%s: backward scan ended at %zu: %d (%s)", label, i, rc,
		      quire_strerror(rc));
	for (i = 0; i < m->n; i += 1 + m->n / 10) {
		seek_expect(c, m, m->v[i].key, m->v[i].klen, label);
		if (m->v[i].klen < QUIRE_MAX_KEY_SIZE) {
			uint8_t *k2 = malloc(m->v[i].klen + 1);
			assert_non_null(k2);
			memcpy(k2, m->v[i].key, m->v[i].klen);
			k2[m->v[i].klen] = 0;
			seek_expect(c, m, k2, m->v[i].klen + 1, label);
			free(k2);
		}
	}
	for (i = 0; i < sizeof probes / sizeof probes[0]; i++)
		seek_expect(c, m, probes[i].p, probes[i].n, label);
	quire_cursor_close(c);
	for (i = 0; i < m->n; i++) {
		rc = quire_get(t, m->v[i].key, m->v[i].klen, &v);
		if (rc != 0)
			failf("%s: get %s = %d (%s)", label,
			      show(m->v[i].key, m->v[i].klen, b1, sizeof b1),
			      rc, quire_strerror(rc));
		if (!tu_same(v.data, v.size, m->v[i].val, m->v[i].vlen))
			failf("%s: get %s: %zu bytes, the model's %zu", label,
			      show(m->v[i].key, m->v[i].klen, b1, sizeof b1),
			      v.size, m->v[i].vlen);
	}
	for (i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		if (model_get(m, probes[i].p, probes[i].n))
			continue;
		rc = quire_get(t, probes[i].p, probes[i].n, &v);
		if (rc != QUIRE_NOTFOUND)
			failf("%s: get of the missing %s = %d (%s)", label,
			      show(probes[i].p, probes[i].n, b1, sizeof b1), rc,
			      quire_strerror(rc));
	}
	ROK(quire_keyspace_stat(t, &keys, &bytes));
	if (keys != m->n || bytes != model_bytes(m))
		failf("%s: quire_keyspace_stat: %llu keys, %llu bytes; the "
		      "model %zu keys, %llu bytes",
		      label, (unsigned long long)keys,
		      (unsigned long long)bytes, m->n,
		      (unsigned long long)model_bytes(m));
	keys = UINT64_MAX;
	ROK(quire_keyspace_stat(t, &keys, NULL));
	if (keys != m->n)
		failf("%s: quire_keyspace_stat without bytes: %llu keys, the "
		      "model %zu",
		      label, (unsigned long long)keys, m->n);
}

/* t shows exactly w: the list, every keyspace, and no other pool name. */
static void check_world(const struct world *w, quire_txn *t,
			const char *label)
{
	char lb[512], b1[256];
	quire_txn *v;
	check_list(w, t, label);
	snprintf(lb, sizeof lb, "%s, default keyspace", label);
	check_ks(&w->def, t, lb);
	for (size_t i = 0; i < w->n; i++) {
		const struct ks *k = &w->v[i];
		snprintf(lb, sizeof lb, "%s, keyspace %s", label,
			 show(k->name, k->nlen, b1, sizeof b1));
		int rc = quire_keyspace(t, k->name, k->nlen, 0, &v);
		if (rc != 0)
			failf("%s: quire_keyspace = %d (%s: %s)", lb, rc,
			      quire_strerror(rc), quire_errmsg());
		if (quire_txn_id(v) != quire_txn_id(t))
			failf("%s: the view's txn id %llu, its transaction's "
			      "%llu",
			      lb, (unsigned long long)quire_txn_id(v),
			      (unsigned long long)quire_txn_id(t));
		check_ks(&k->m, v, lb);
	}
	for (size_t i = 0; i < NPOOL; i++) {
		if (world_find(w, pool[i].p, pool[i].n) >= 0)
			continue;
		int rc = quire_keyspace(t, pool[i].p, pool[i].n, 0, &v);
		if (rc != QUIRE_NOTFOUND)
			failf("%s: quire_keyspace of the missing %s = %d (%s)",
			      label, show(pool[i].p, pool[i].n, b1, sizeof b1),
			      rc, quire_strerror(rc));
	}
}

/* The same without failing (for the crash test): 1 if t shows w. */
static int same_model(const struct model *m, quire_txn *t)
{
	quire_cursor *c;
	quire_val k, v;
	size_t i = 0;
	int rc, same = 1;
	if (quire_cursor_open(t, &c))
		return 0;
	for (rc = quire_cursor_first(c); rc == 0 && same;
	     rc = quire_cursor_next(c), i++) {
		if (i >= m->n || quire_cursor_key(c, &k) ||
		    quire_cursor_value(c, &v) ||
		    !tu_same(k.data, k.size, m->v[i].key, m->v[i].klen) ||
		    !tu_same(v.data, v.size, m->v[i].val, m->v[i].vlen))
			same = 0;
	}
	quire_cursor_close(c);
	return same && rc == QUIRE_NOTFOUND && i == m->n;
}

static int same_world(const struct world *w, quire_txn *t)
{
	struct listing l = {0};
	quire_txn *v;
	int same = quire_keyspace_list(t, list_cb, &l) == 0 && l.n == w->n &&
		   same_model(&w->def, t);
	listing_free(&l);
	for (size_t i = 0; same && i < w->n; i++)
		same = quire_keyspace(t, w->v[i].name, w->v[i].nlen, 0, &v) ==
			       0 &&
		       same_model(&w->v[i].m, v);
	return same;
}

static void on_problem(void *ctx, uint64_t off, const char *what)
{
	char *first = ctx;
	if (!*first)
		snprintf(first, 512, "offset %llu: %s", (unsigned long long)off,
			 what);
}

static void check_clean(quire *db)
{
	quire_txn *t;
	uint64_t problems = 0;
	char first[512] = "";
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	ROK(quire_check(t, on_problem, first, &problems));
	ROK(quire_commit(t));
	if (problems)
		failf("quire_check found %llu problems, the first: %s",
		      (unsigned long long)problems, first);
}

/* ---- the changes feed: what each operation must show ---- */

struct fent {
	int op, ident;
	int rename;       /* QUIRE_OP_KEYSPACE: a rename (ksn: old name) */
	int optional;     /* may be missing (2): what the conversion of the
			   * default keyspace's 0xff keys at the first creation
			   * reports today (a DEL_RANGE from 0xff and a PUT
			   * of each: see test_ff_keys, which requires none) */
	uint8_t *ksn;     /* the keyspace's name at the time (NULL: default) */
	size_t ksl;
	uint8_t *k, *v;
	size_t kl, vl;
	int to_last;
	uint64_t count;
	uint64_t seq, txn; /* as seen in the feed */
};

/* Keyspace numbers as the feed shows them: ids[ident] (0: not seen yet;
 * ident 0 is the default keyspace, number 0). */
struct idmap {
	uint32_t *ids;
	size_t n, cap;
};

static int ident_new(struct idmap *im)
{
	im->ids = tu_push(im->ids, &im->cap, im->n, sizeof *im->ids, 16);
	im->ids[im->n] = 0;
	return (int)im->n++;
}

static void fent_free(struct fent *e)
{
	free(e->ksn);
	free(e->k);
	free(e->v);
}

/* The oldest commit a compaction kept in the feed being read (its
 * history_txn): a keyspace's name at one of its operations is lost when
 * that commit itself renamed or dropped the keyspace after it (quire.h:
 * the name is then empty). */
static uint64_t names_lost_txn;

/* ch is e; learns the keyspace's number on first sight. */
static void match(struct idmap *im, const quire_change *ch,
		  const struct fent *e, const char *label)
{
	char b1[256], b2[256];
	if (ch->op != e->op)
		failf("%s: feed seq %llu: op %d (key %s), expected op %d (key "
		      "%s)",
		      label, (unsigned long long)ch->seq, ch->op,
		      show(ch->key.data, ch->key.size, b1, sizeof b1), e->op,
		      show(e->k, e->kl, b2, sizeof b2));
	if (e->ident == 0) {
		if (ch->keyspace_id != 0)
			failf("%s: feed seq %llu (op %d): keyspace %u, expected "
			      "the default (0)",
			      label, (unsigned long long)ch->seq, ch->op,
			      ch->keyspace_id);
	} else if (im->ids[e->ident]) {
		if (ch->keyspace_id != im->ids[e->ident])
			failf("%s: feed seq %llu (op %d, keyspace %s): keyspace "
			      "number %u, earlier operations had %u",
			      label, (unsigned long long)ch->seq, ch->op,
			      show(e->ksn, e->ksl, b1, sizeof b1),
			      ch->keyspace_id, im->ids[e->ident]);
	} else {
		if (ch->keyspace_id == 0)
			failf("%s: feed seq %llu (op %d): a named keyspace (%s) "
			      "with number 0",
			      label, (unsigned long long)ch->seq, ch->op,
			      show(e->ksn, e->ksl, b1, sizeof b1));
		for (size_t i = 1; i < im->n; i++)
			if (im->ids[i] == ch->keyspace_id)
				failf("%s: feed seq %llu: keyspace number %u "
				      "given again (to %s)",
				      label, (unsigned long long)ch->seq,
				      ch->keyspace_id,
				      show(e->ksn, e->ksl, b1, sizeof b1));
		im->ids[e->ident] = ch->keyspace_id;
	}
	if (e->op == QUIRE_OP_KEYSPACE && !e->rename) {
		if (ch->keyspace.size != 0 &&
		    !tu_same(ch->keyspace.data, ch->keyspace.size, e->k, e->kl))
			failf("%s: feed seq %llu: the creation of %s names "
			      "keyspace %s",
			      label, (unsigned long long)ch->seq,
			      show(e->k, e->kl, b1, sizeof b1),
			      show(ch->keyspace.data, ch->keyspace.size, b2,
				   sizeof b2));
	} else if (!tu_same(ch->keyspace.data, ch->keyspace.size, e->ksn,
			    e->ksl) &&
		   !(ch->keyspace.size == 0 && ch->txn_id == names_lost_txn)) {
		char b3[256];
		failf("%s: feed seq %llu (op %d, key %s): keyspace %u named "
		      "%s, expected %s",
		      label, (unsigned long long)ch->seq, ch->op,
		      show(ch->key.data, ch->key.size, b3, sizeof b3),
		      ch->keyspace_id,
		      show(ch->keyspace.data, ch->keyspace.size, b1, sizeof b1),
		      e->ksl ? show(e->ksn, e->ksl, b2, sizeof b2)
			     : "(default)");
	}
	if (e->op != QUIRE_OP_KEYSPACE_DROP &&
	    !tu_same(ch->key.data, ch->key.size, e->k, e->kl))
		failf("%s: feed seq %llu (op %d): key %s, expected %s", label,
		      (unsigned long long)ch->seq, ch->op,
		      show(ch->key.data, ch->key.size, b1, sizeof b1),
		      show(e->k, e->kl, b2, sizeof b2));
	switch (e->op) {
	case QUIRE_OP_PUT:
	case QUIRE_OP_DEL:
		if (!tu_same(ch->value.data, ch->value.size, e->v, e->vl) ||
		    ch->to_last || ch->count)
			failf("%s: feed seq %llu (op %d, key %s): value of %zu "
			      "bytes, to_last %d, count %llu; expected %zu "
			      "bytes, 0, 0",
			      label, (unsigned long long)ch->seq, ch->op,
			      show(e->k, e->kl, b1, sizeof b1), ch->value.size,
			      ch->to_last, (unsigned long long)ch->count,
			      e->vl);
		break;
	case QUIRE_OP_KEYSPACE_DROP:
		if (!ch->to_last || ch->count != e->count || ch->value.size)
			failf("%s: feed seq %llu, the drop of %s: to_last %d, "
			      "count %llu, value of %zu bytes; expected 1, "
			      "%llu, 0",
			      label, (unsigned long long)ch->seq,
			      show(e->ksn, e->ksl, b1, sizeof b1), ch->to_last,
			      (unsigned long long)ch->count, ch->value.size,
			      (unsigned long long)e->count);
		break;
	case QUIRE_OP_DEL_RANGE:
		if (ch->to_last != e->to_last || ch->count != e->count ||
		    (e->to_last ? ch->value.size != 0
				: !tu_same(ch->value.data, ch->value.size, e->v,
					   e->vl)))
			failf("%s: feed seq %llu, a range from %s: to_last %d, "
			      "count %llu, end %s; expected to_last %d, count "
			      "%llu, end %s",
			      label, (unsigned long long)ch->seq,
			      show(e->k, e->kl, b1, sizeof b1), ch->to_last,
			      (unsigned long long)ch->count,
			      show(ch->value.data, ch->value.size, b2,
				   sizeof b2),
			      e->to_last, (unsigned long long)e->count,
			      e->to_last ? "-" : "(see model)");
		break;
	}
}

/* Whether ch may be the optional entry e. */
static int soft_match(const quire_change *ch, const struct fent *e)
{
	if (ch->op != e->op || (e->ident == 0) != (ch->keyspace_id == 0))
		return 0;
	return tu_same(ch->key.data, ch->key.size, e->k, e->kl);
}

/* Read feed f (from its start) against the entries e[0..n), whose seqs
 * must increase from first_seq on (or, first_seq 0, be the seqs recorded
 * in them); optional entries may be missing. Returns the seq after the
 * last entry read. */
static uint64_t match_feed(struct idmap *im, quire_changes *f, struct fent *e,
			   size_t n, uint64_t first_seq, uint64_t txn,
			   const char *label)
{
	quire_change ch;
	size_t i = 0;
	uint64_t seq = first_seq;
	int rc;
	char b1[256];
	while ((rc = quire_changes_next(f, &ch)) == 0) {
		while (i < n && e[i].optional && !soft_match(&ch, &e[i]))
			i++;
		if (i == n)
			failf("%s: the feed has more than the %zu entries "
			      "expected: seq %llu, op %d, keyspace %u (%s), key "
			      "%s",
			      label, n, (unsigned long long)ch.seq, ch.op,
			      ch.keyspace_id,
			      show(ch.keyspace.data, ch.keyspace.size, b1,
				   sizeof b1),
			      show(ch.key.data, ch.key.size, b1, sizeof b1));
		uint64_t ws = first_seq ? seq : e[i].seq;
		uint64_t wt = txn ? txn : e[i].txn;
		/* (seqs may skip: the catalog's own operations take some) */
		if ((first_seq ? ch.seq < ws : ch.seq != ws) || ch.txn_id != wt)
			failf("%s: feed entry %zu: seq %llu, txn %llu; expected "
			      "seq %s%llu, txn %llu (op %d, key %s)",
			      label, i, (unsigned long long)ch.seq,
			      (unsigned long long)ch.txn_id,
			      first_seq ? ">= " : "", (unsigned long long)ws,
			      (unsigned long long)wt, ch.op,
			      show(ch.key.data, ch.key.size, b1, sizeof b1));
		if (e[i].optional == 2) { /* the conversion: no count check */
			struct fent x = e[i];
			x.count = ch.count;
			match(im, &ch, &x, label);
		} else {
			match(im, &ch, &e[i], label);
		}
		e[i].seq = ch.seq;
		e[i].txn = ch.txn_id;
		i++;
		seq = ch.seq + 1;
	}
	if (rc != QUIRE_NOTFOUND)
		failf("%s: quire_changes_next = %d (%s: %s)", label, rc,
		      quire_strerror(rc), quire_errmsg());
	while (i < n && e[i].optional)
		i++;
	if (i != n)
		failf("%s: the feed ended after %zu of %zu entries (next "
		      "expected: op %d, key %s)",
		      label, i, n, e[i].op, show(e[i].k, e[i].kl, b1, sizeof b1));
	return seq;
}

/* ---- the randomized model test ---- */

#define MAX_HELD 2
#define BIG_VALUE (60u << 10)

enum op { PUT, DEL, GET, CAS, RANGE, SCAN, CREATE, DROP, RENAME, LIST, STAT,
	  COMMIT, ABORT, WCHECK, SNAP, HELD, REOPEN, COMPACT, CKPT, NOPS };
static const unsigned weights[NOPS] = {
	[PUT] = 340, [DEL] = 90, [GET] = 110, [CAS] = 50, [RANGE] = 9,
	[SCAN] = 45, [CREATE] = 14, [DROP] = 3, [RENAME] = 7, [LIST] = 6,
	[STAT] = 10, [COMMIT] = 45, [ABORT] = 9, [WCHECK] = 3, [SNAP] = 4,
	[HELD] = 5, [REOPEN] = 2, [COMPACT] = 2, [CKPT] = 2};

static const char *const op_name[] = {
	"put", "del", "get", "cas", "range", "scan", "create", "drop",
	"rename", "list", "stat", "commit", "abort", "wcheck", "snap", "held",
	"reopen", "compact", "checkpoint"};

struct held {
	quire_txn *t;
	struct world w;
	uint64_t id;
};

struct run {
	uint64_t seed, rng, op;
	int feedrun;             /* keeps every commit; the whole feed is
				  * checked and replayed at the end */
	unsigned node_size;
	unsigned long ckpt;
	char *path;
	quire *db, *follower;
	quire_txn *w;
	uint64_t id, next_seq;
	struct world committed, cur;
	struct fent *j;          /* what the open transaction did */
	size_t nj, capj;
	struct fent *all;        /* feedrun: every committed entry */
	size_t nall, capall;
	struct idmap im;
	struct held held[MAX_HELD];
	int nheld;
	uint8_t *kbuf, *kbuf2, *kbuf3, *vbuf;
	/* figures */
	uint64_t nops[NOPS], commits, creates, drops, renames, rename_refused,
		 ranges, range_keys, cas_ok, cas_conflict, feeds, feeds_skipped,
		 max_keys, ff_before, views_ended, compacts;
	int ever_ks;             /* a keyspace was ever committed */
	int txn_created;         /* the open transaction created one */
};

static uint64_t below(struct run *r, uint64_t n)
{
	return tu_below(&r->rng, n);
}

static void set_where(struct run *r, int k)
{
	snprintf(where, sizeof where,
		 "seed %llu (replay: QUIRE_SEED=%llu%s), node_size %u, "
		 "checkpoint_ops %lu, op %llu (%s)",
		 (unsigned long long)r->seed, (unsigned long long)r->seed,
		 r->feedrun ? ", the feed run" : "", r->node_size, r->ckpt,
		 (unsigned long long)r->op, k < NOPS ? op_name[k] : "end");
}

static struct fent *jadd(struct run *r, int op, int ident, const void *ksn,
			 size_t ksl, const void *k, size_t kl, const void *v,
			 size_t vl)
{
	r->j = tu_push(r->j, &r->capj, r->nj, sizeof *r->j, 64);
	struct fent *e = &r->j[r->nj++];
	*e = (struct fent){.op = op,
			   .ident = ident,
			   .ksn = ksl ? tu_dup(ksn, ksl) : NULL,
			   .ksl = ksl,
			   .k = tu_dup(k, kl),
			   .kl = kl,
			   .v = vl ? tu_dup(v, vl) : NULL,
			   .vl = vl};
	return e;
}

static void jclear(struct run *r)
{
	for (size_t i = 0; i < r->nj; i++)
		fent_free(&r->j[i]);
	r->nj = 0;
}

/* A target of data operations: a keyspace of the write transaction (or of
 * a snapshot), its model and a view. */
struct tgt {
	struct model *m;
	quire_txn *v;
	int ident;
	const uint8_t *name; /* NULL: the default keyspace */
	size_t nlen;
};

static struct tgt tgt_of(struct run *r, struct world *w, quire_txn *t, int i)
{
	struct tgt g = {0};
	if (i < 0) {
		g.m = &w->def;
		g.v = t;
		if (below(r, 5) == 0) /* the default keyspace's own view */
			ROK(quire_keyspace(t, NULL, 0, 0, &g.v));
		return g;
	}
	struct ks *k = &w->v[i];
	g.m = &k->m;
	g.ident = k->ident;
	g.name = k->name;
	g.nlen = k->nlen;
	if (t == r->w) { /* views are kept, and sometimes taken anew */
		if (!k->view || below(r, 6) == 0)
			ROK(quire_keyspace(t, k->name, k->nlen, 0, &k->view));
		g.v = k->view;
	} else {
		ROK(quire_keyspace(t, k->name, k->nlen, 0, &g.v));
	}
	return g;
}

static struct tgt pick(struct run *r, struct world *w, quire_txn *t)
{
	if (!w->n || below(r, 100) < 30)
		return tgt_of(r, w, t, -1);
	return tgt_of(r, w, t, (int)below(r, w->n));
}

/* A key byte: mostly from "abcd", now and then 0x00 or 0xff. */
static uint8_t key_byte(struct run *r)
{
	uint64_t p = below(r, 64);
	return p == 0 ? 0x00 : p < 3 ? 0xff : (uint8_t)("abcd"[p & 3]);
}

/* A key into k: empty, short, long, now and then QUIRE_MAX_KEY_SIZE; a
 * quarter extend a prefix of a key of m; one in five starts with 0xff
 * (then 0x00, 0x01 or 0xff often follow). */
static size_t gen_key(struct run *r, uint8_t *k, const struct model *m)
{
	uint64_t p = below(r, 1000);
	size_t len, i = 0;
	if (p < 8)
		return 0;
	if (p < 10) {
		uint8_t fill = (uint8_t)"\xff\x00\x61"[below(r, 3)];
		memset(k, fill, QUIRE_MAX_KEY_SIZE);
		k[0] = below(r, 2) ? 0xff : fill;
		k[QUIRE_MAX_KEY_SIZE - 1] = key_byte(r);
		return QUIRE_MAX_KEY_SIZE;
	}
	if (p < 16)
		len = 17 + below(r, 300);
	else
		len = 1 + below(r, 1 + below(r, 12));
	if (m->n && below(r, 4) == 0) {
		const struct model_ent *e = &m->v[below(r, m->n)];
		i = below(r, (e->klen < len ? e->klen : len) + 1);
		memcpy(k, e->key, i);
	}
	for (; i < len; i++)
		k[i] = key_byte(r);
	if (below(r, 5) == 0) {
		k[0] = 0xff;
		if (len > 1 && below(r, 2))
			k[1] = (uint8_t)"\x00\x01\xff"[below(r, 3)];
	}
	return len;
}

/* A value into r->vbuf whose bytes depend on the operation number. */
static size_t gen_val(struct run *r)
{
	uint64_t p = below(r, 1000), s = r->seed ^ (r->op << 20), x = 0;
	size_t len;
	if (p < 50)
		len = 0;
	else if (p < 800)
		len = 1 + below(r, 64);
	else if (p < 930)
		len = 1000 + below(r, 50);
	else if (p < 997)
		len = 1050 + below(r, 4000);
	else
		len = (20u << 10) + below(r, BIG_VALUE - (20u << 10));
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = tu_rand(&s);
		r->vbuf[i] = (uint8_t)(x >> (i % 8 * 8));
	}
	return len;
}

/* A key of the target's model (copied into k) or a new one. */
static size_t some_key(struct run *r, const struct tgt *g, uint8_t *k,
		       unsigned hit_pct)
{
	if (g->m->n && below(r, 100) < hit_pct) {
		const struct model_ent *e = &g->m->v[below(r, g->m->n)];
		memcpy(k, e->key, e->klen);
		return e->klen;
	}
	return gen_key(r, k, g->m);
}

static void do_put(struct run *r, const struct tgt *g, const uint8_t *k,
		   size_t kl, const uint8_t *v, size_t vl)
{
	if (trace) {
		char b1[256], b2[256];
		fprintf(stderr, "  put %s into %s\n", show(k, kl, b1, sizeof b1),
			g->name ? show(g->name, g->nlen, b2, sizeof b2)
				: "(default)");
	}
	ROK(quire_put(g->v, k, kl, v, vl));
	model_put(g->m, k, kl, v, vl);
	jadd(r, QUIRE_OP_PUT, g->ident, g->name, g->nlen, k, kl, v, vl);
}

/* k must not point into the model. */
static void do_del(struct run *r, const struct tgt *g, const uint8_t *k,
		   size_t kl)
{
	char b1[256];
	int rc = quire_del(g->v, k, kl);
	if (trace) {
		char b2[256];
		fprintf(stderr, "  del %s from %s = %d\n",
			show(k, kl, b1, sizeof b1),
			g->name ? show(g->name, g->nlen, b2, sizeof b2)
				: "(default)", rc);
	}
	if (model_get(g->m, k, kl)) {
		if (rc != 0)
			failf("del of the present %s = %d (%s: %s)",
			      show(k, kl, b1, sizeof b1), rc,
			      quire_strerror(rc), quire_errmsg());
		model_del(g->m, k, kl);
		jadd(r, QUIRE_OP_DEL, g->ident, g->name, g->nlen, k, kl, NULL,
		     0);
	} else if (rc != QUIRE_NOTFOUND) {
		failf("del of the missing %s = %d (%s)",
		      show(k, kl, b1, sizeof b1), rc, quire_strerror(rc));
	}
}

static void begin_write(struct run *r)
{
	ROK(quire_begin(r->db, 0, &r->w));
	if (quire_txn_id(r->w) != r->id + 1)
		failf("write transaction id %llu after commit %llu",
		      (unsigned long long)quire_txn_id(r->w),
		      (unsigned long long)r->id);
}

/* The write transaction ended: its views end with it. */
static void views_ended(struct run *r, quire_txn *stale)
{
	quire_val v;
	quire_cursor *c;
	for (size_t i = 0; i < r->cur.n; i++)
		r->cur.v[i].view = NULL;
	if (!stale)
		return;
	REQ(QUIRE_EINVAL, quire_get(stale, "a", 1, &v));
	REQ(QUIRE_EINVAL, quire_put(stale, "a", 1, "b", 1));
	REQ(QUIRE_EINVAL, quire_cursor_open(stale, &c));
	REQ(QUIRE_EINVAL, quire_keyspace_stat(stale, NULL, NULL));
	if (quire_txn_id(stale) != 0)
		failf("quire_txn_id of a view whose transaction ended: %llu",
		      (unsigned long long)quire_txn_id(stale));
	r->views_ended++;
}

static quire_txn *any_view(struct run *r)
{
	for (size_t i = 0; i < r->cur.n; i++)
		if (r->cur.v[i].view)
			return r->cur.v[i].view;
	return NULL;
}

/* A fresh snapshot of the writing handle shows the last commit, whole. */
static void verify_latest(struct run *r, quire *db, const char *label)
{
	quire_txn *t;
	quire_stat st;
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	ROK(quire_txn_stat(t, &st));
	if (quire_txn_id(t) != r->id || st.next_seq != r->next_seq)
		failf("%s: a snapshot of commit %llu (next seq %llu), expected "
		      "commit %llu (next seq %llu)",
		      label, (unsigned long long)quire_txn_id(t),
		      (unsigned long long)st.next_seq,
		      (unsigned long long)r->id,
		      (unsigned long long)r->next_seq);
	check_world(&r->committed, t, label);
	ROK(quire_commit(t));
}

static void finish_commit(struct run *r)
{
	uint64_t first_seq = r->next_seq, keys = r->cur.def.n;
	quire_txn *stale = any_view(r), *t;
	quire_stat st;
	quire_changes *f;
	ROK(quire_commit(r->w));
	r->w = NULL;
	views_ended(r, stale);
	r->ever_ks |= r->txn_created;
	r->txn_created = 0;
	if (!r->nj) { /* nothing changed: nothing committed */
		world_copy(&r->committed, &r->cur);
		return;
	}
	r->id++;
	r->commits++;
	world_copy(&r->committed, &r->cur);
	for (size_t i = 0; i < r->cur.n; i++)
		keys += r->cur.v[i].m.n;
	if (keys > r->max_keys)
		r->max_keys = keys;
	/* the commit's feed, entry by entry */
	ROK(quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(quire_txn_stat(t, &st));
	if (quire_txn_id(t) != r->id)
		failf("after commit %llu a snapshot shows %llu",
		      (unsigned long long)r->id,
		      (unsigned long long)quire_txn_id(t));
	int rc = quire_changes_open(t, first_seq - 1, &f);
	if (rc == QUIRE_EHISTORY && !r->feedrun) { /* a background compaction */
		r->feeds_skipped++;
	} else {
		ROK(rc);
		names_lost_txn = st.history_txn;
		uint64_t end = match_feed(&r->im, f, r->j, r->nj, first_seq,
					  r->id, "the commit's feed");
		names_lost_txn = 0;
		quire_changes_close(f);
		if (end > st.next_seq)
			failf("the commit's feed ends before seq %llu, the "
			      "commit's next seq is %llu",
			      (unsigned long long)end,
			      (unsigned long long)st.next_seq);
		r->feeds++;
		if (r->feedrun)
			for (size_t i = 0; i < r->nj; i++) {
				if (!r->j[i].txn) { /* an optional one missing */
					fent_free(&r->j[i]);
					continue;
				}
				r->all = tu_push(r->all, &r->capall, r->nall,
						 sizeof *r->all, 256);
				r->all[r->nall++] = r->j[i];
			}
	}
	ROK(quire_commit(t));
	if (r->feedrun && rc == 0)
		r->nj = 0; /* moved to r->all */
	jclear(r);
	r->next_seq = st.next_seq;
}

static void finish_abort(struct run *r)
{
	quire_txn *stale = any_view(r);
	quire_abort(r->w);
	r->w = NULL;
	views_ended(r, stale);
	r->txn_created = 0;
	world_copy(&r->cur, &r->committed);
	jclear(r);
}

static void end_write(struct run *r)
{
	if (below(r, 3))
		finish_commit(r);
	else
		finish_abort(r);
}

static void release_held(struct run *r, int i)
{
	struct held *h = &r->held[i];
	if (quire_txn_id(h->t) != h->id)
		failf("held snapshot of commit %llu now says %llu",
		      (unsigned long long)h->id,
		      (unsigned long long)quire_txn_id(h->t));
	check_world(&h->w, h->t, "a snapshot held across commits");
	ROK(quire_commit(h->t));
	world_clear(&h->w);
	r->held[i] = r->held[--r->nheld];
}

static void op_held(struct run *r)
{
	if (r->nheld == MAX_HELD || (r->nheld && below(r, 2))) {
		release_held(r, (int)below(r, (uint64_t)r->nheld));
		return;
	}
	struct held *h = &r->held[r->nheld++];
	*h = (struct held){0};
	ROK(quire_begin(r->db, QUIRE_RDONLY, &h->t));
	h->id = r->id;
	world_copy(&h->w, &r->committed);
}

static void open_handles(struct run *r, int create)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = QUIRE_NOSYNC | (create ? QUIRE_CREATE : 0);
	o.node_size = r->node_size;
	if (r->ckpt)
		o.checkpoint_ops = r->ckpt;
	ROK(quire_open(r->path, &o, &r->db));
	if (create) {
		o.flags = QUIRE_NOSYNC;
		ROK(quire_open(r->path, &o, &r->follower));
	}
}

static void op_reopen(struct run *r)
{
	end_write(r);
	while (r->nheld)
		release_held(r, r->nheld - 1);
	ROK(quire_close(r->db));
	r->db = NULL;
	open_handles(r, 0);
	verify_latest(r, r->db, "after a reopen");
	check_clean(r->db);
	begin_write(r);
}

/* quire_compact, after a background compaction that may be running */
static void compact_now(quire *db)
{
	int rc, tries = 0;
	while ((rc = quire_compact(db, NULL)) == QUIRE_EBUSY && tries++ < 1000)
		usleep(10000);
	ROK(rc);
}

static void op_compact(struct run *r)
{
	end_write(r);
	compact_now(r->db);
	r->compacts++;
	verify_latest(r, r->db, "after a compaction");
	if (below(r, 2))
		verify_latest(r, r->follower,
			      "the second handle after a compaction");
	begin_write(r);
}

static void op_ckpt(struct run *r)
{
	quire_txn *t;
	quire_stat st;
	end_write(r);
	ROK(quire_checkpoint(r->db));
	ROK(quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(quire_txn_stat(t, &st));
	ROK(quire_commit(t));
	if (st.pending_ops || st.txn_id < r->id || st.txn_id > r->id + 1)
		failf("quire_checkpoint after commit %llu: commit %llu with "
		      "%llu operations pending",
		      (unsigned long long)r->id, (unsigned long long)st.txn_id,
		      (unsigned long long)st.pending_ops);
	r->id = st.txn_id;
	verify_latest(r, r->db, "after a checkpoint");
	begin_write(r);
}

static void op_snap(struct run *r)
{
	quire_txn *t, *v;
	int follower = (int)below(r, 2);
	ROK(quire_begin(follower ? r->follower : r->db, QUIRE_RDONLY, &t));
	if (quire_txn_id(t) != r->id)
		failf("a new snapshot of the %s handle shows commit %llu, the "
		      "last is %llu",
		      follower ? "second" : "writing",
		      (unsigned long long)quire_txn_id(t),
		      (unsigned long long)r->id);
	check_world(&r->committed, t,
		    follower ? "the second handle's snapshot" : "a snapshot");
	/* nothing is created from a read-only transaction */
	REQ(QUIRE_EINVAL, quire_keyspace(t, L("never"), QUIRE_CREATE, &v));
	ROK(quire_commit(t));
}

/* A transaction to read and the world it must show. */
static quire_txn *pick_txn(struct run *r, struct world **w, int *own)
{
	uint64_t p = below(r, 100);
	*own = 0;
	if (p < 70) {
		*w = &r->cur;
		return r->w;
	}
	if (p < 90 || !r->nheld) {
		quire_txn *t;
		ROK(quire_begin(p < 80 ? r->db : r->follower, QUIRE_RDONLY, &t));
		*own = 1;
		*w = &r->committed;
		return t;
	}
	struct held *h = &r->held[below(r, (uint64_t)r->nheld)];
	*w = &h->w;
	return h->t;
}

static void op_get(struct run *r)
{
	struct world *w;
	int own;
	quire_txn *t = pick_txn(r, &w, &own);
	struct tgt g = pick(r, w, t);
	quire_val v;
	uint64_t seq = 77;
	char b1[256];
	size_t kl = some_key(r, &g, r->kbuf, 60);
	const struct model_ent *e = model_get(g.m, r->kbuf, kl);
	int with_seq = below(r, 3) == 0;
	int rc = with_seq ? quire_get_seq(g.v, r->kbuf, kl, &v, &seq)
			  : quire_get(g.v, r->kbuf, kl, &v);
	if (e && rc != 0)
		failf("get of the present %s = %d (%s: %s)",
		      show(r->kbuf, kl, b1, sizeof b1), rc, quire_strerror(rc),
		      quire_errmsg());
	if (e && !tu_same(v.data, v.size, e->val, e->vlen))
		failf("get of %s: %zu bytes, the model holds %zu",
		      show(r->kbuf, kl, b1, sizeof b1), v.size, e->vlen);
	if (!e && rc != QUIRE_NOTFOUND)
		failf("get of the missing %s = %d (%s)",
		      show(r->kbuf, kl, b1, sizeof b1), rc, quire_strerror(rc));
	if (with_seq && (e ? seq == 0 : seq != 0))
		failf("get_seq of the %s %s gave seq %llu",
		      e ? "present" : "missing",
		      show(r->kbuf, kl, b1, sizeof b1), (unsigned long long)seq);
	if (own)
		ROK(quire_commit(t));
}

static void op_put(struct run *r)
{
	struct tgt g = pick(r, &r->cur, r->w);
	size_t kl = some_key(r, &g, r->kbuf, 30);
	size_t vl = gen_val(r);
	do_put(r, &g, r->kbuf, kl, r->vbuf, vl);
}

static void op_del(struct run *r)
{
	struct tgt g = pick(r, &r->cur, r->w);
	size_t kl = some_key(r, &g, r->kbuf, 75);
	do_del(r, &g, r->kbuf, kl);
}

/* Compare-and-swap with the versions quire_get_seq gives. */
static void op_cas(struct run *r)
{
	struct tgt g = pick(r, &r->cur, r->w);
	size_t kl = some_key(r, &g, r->kbuf, 70);
	quire_val v;
	uint64_t seq = 77;
	char b1[256];
	int rc = quire_get_seq(g.v, r->kbuf, kl, &v, &seq);
	const struct model_ent *e = model_get(g.m, r->kbuf, kl);
	if (e ? rc != 0 || seq == 0 : rc != QUIRE_NOTFOUND || seq != 0)
		failf("get_seq of %s %s = %d, seq %llu",
		      e ? "the present" : "the missing",
		      show(r->kbuf, kl, b1, sizeof b1), rc,
		      (unsigned long long)seq);
	switch (below(r, 5)) {
	case 0: /* the same key's version in another keyspace: no match */
		if (r->cur.n && e) {
			struct tgt o = pick(r, &r->cur, r->w);
			uint64_t s2 = 0;
			if (o.m == g.m ||
			    quire_get_seq(o.v, r->kbuf, kl, &v, &s2) != 0)
				break;
			if (s2 == seq)
				failf("one key in two keyspaces has one version "
				      "%llu",
				      (unsigned long long)seq);
			REQ(QUIRE_ECONFLICT,
			    quire_put_if(g.v, r->kbuf, kl, "x", 1, s2));
			REQ(QUIRE_ECONFLICT, quire_del_if(g.v, r->kbuf, kl, s2));
			r->cas_conflict++;
		}
		break;
	case 1: { /* a wrong version */
		uint64_t bad = e ? seq + 1000000 : 999999;
		REQ(QUIRE_ECONFLICT,
		    quire_put_if(g.v, r->kbuf, kl, "x", 1, bad));
		if (e)
			REQ(QUIRE_ECONFLICT,
			    quire_del_if(g.v, r->kbuf, kl, seq + 1000000));
		else
			REQ(QUIRE_NOTFOUND, quire_del_if(g.v, r->kbuf, kl, 0));
		r->cas_conflict++;
		break;
	}
	case 2: /* delete at the right version */
		if (e) {
			ROK(quire_del_if(g.v, r->kbuf, kl, seq));
			model_del(g.m, r->kbuf, kl);
			jadd(r, QUIRE_OP_DEL, g.ident, g.name, g.nlen, r->kbuf,
			     kl, NULL, 0);
			r->cas_ok++;
			break;
		}
		/* fall through */
	default: { /* put at the right version */
		size_t vl = gen_val(r);
		ROK(quire_put_if(g.v, r->kbuf, kl, r->vbuf, vl, seq));
		model_put(g.m, r->kbuf, kl, r->vbuf, vl);
		jadd(r, QUIRE_OP_PUT, g.ident, g.name, g.nlen, r->kbuf, kl,
		     r->vbuf, vl);
		r->cas_ok++;
		/* the new version differs, and the old one is stale */
		uint64_t s2 = 0;
		ROK(quire_get_seq(g.v, r->kbuf, kl, &v, &s2));
		if (s2 == seq || s2 == 0)
			failf("a put_if left the version at %llu",
			      (unsigned long long)s2);
		REQ(QUIRE_ECONFLICT,
		    quire_put_if(g.v, r->kbuf, kl, "y", 1, seq));
	}
	}
}

/* A bound near the keys of m: a key, a prefix of one, one just after. */
static size_t bound(struct run *r, const struct model *m, uint8_t *b)
{
	if (!m->n || below(r, 4) == 0) {
		static const struct nm fixed[] = {NM(""), NM("\xff"),
						  NM("\xff\x00"), NM("\xff\xff"),
						  NM("\xfe"), NM("b")};
		if (below(r, 2)) {
			const struct nm *f = &fixed[below(r, 6)];
			memcpy(b, f->p, f->n);
			return f->n;
		}
		size_t n = 1 + below(r, 4);
		for (size_t i = 0; i < n; i++)
			b[i] = key_byte(r);
		return n;
	}
	const struct model_ent *e = &m->v[below(r, m->n)];
	size_t n = e->klen;
	memcpy(b, e->key, n);
	switch (below(r, 3)) {
	case 0:
		n = below(r, n + 1);
		break;
	case 1:
		if (n < QUIRE_MAX_KEY_SIZE)
			b[n++] = 0;
		break;
	}
	return n;
}

static void op_range(struct run *r)
{
	struct tgt g = pick(r, &r->cur, r->w);
	uint64_t removed = UINT64_MAX;
	size_t want;
	struct fent *e;
	r->ranges++;
	if (below(r, 2)) { /* a prefix, often one starting with 0xff */
		size_t pl = bound(r, g.m, r->kbuf);
		if (below(r, 8) == 0)
			pl = 0; /* every key of the keyspace */
		ROK(quire_del_prefix(g.v, r->kbuf, pl, &removed));
		want = model_del_prefix(g.m, r->kbuf, pl);
		if (removed != want)
			failf("del_prefix removed %llu keys, the model %zu",
			      (unsigned long long)removed, want);
		if (!removed)
			return;
		e = jadd(r, QUIRE_OP_DEL_RANGE, g.ident, g.name, g.nlen,
			 r->kbuf, pl, NULL, 0);
		uint8_t *end = malloc(pl + 1);
		size_t el;
		assert_non_null(end);
		e->to_last = !tu_prefix_end(r->kbuf, pl, end, &el);
		if (!e->to_last) {
			e->v = tu_dup(end, el);
			e->vl = el;
		}
		free(end);
	} else {
		int from_null = below(r, 6) == 0, to_null = below(r, 5) == 0;
		size_t fl = from_null ? 0 : bound(r, g.m, r->kbuf);
		size_t tl = to_null ? 0 : bound(r, g.m, r->kbuf2);
		const uint8_t *from = from_null ? NULL : r->kbuf;
		const uint8_t *to = to_null ? NULL : r->kbuf2;
		if (from && to && tu_keycmp(to, tl, from, fl) < 0) {
			REQ(QUIRE_EINVAL, quire_del_range(g.v, from, fl, to, tl,
							  &removed));
			return;
		}
		ROK(quire_del_range(g.v, from, fl, to, tl, &removed));
		want = model_del_range(g.m, from, fl, to, tl);
		if (removed != want)
			failf("del_range removed %llu keys, the model %zu",
			      (unsigned long long)removed, want);
		if (!removed)
			return;
		e = jadd(r, QUIRE_OP_DEL_RANGE, g.ident, g.name, g.nlen, from,
			 fl, to, tl);
		e->to_last = to_null;
	}
	e->count = removed;
	r->range_keys += removed;
}

/* The cursor position the model predicts. */
struct cpos {
	int valid;
	uint8_t *key;
	size_t klen;
};

static void expect_at(quire_cursor *c, const struct model *m, int rc,
		      size_t i, struct cpos *p, int value)
{
	quire_val k, v;
	char b1[256], b2[256];
	if (i >= m->n) {
		if (rc != QUIRE_NOTFOUND)
			failf("cursor move = %d, expected the end", rc);
		if ((rc = quire_cursor_key(c, &k)) != QUIRE_NOTFOUND)
			failf("key of an unpositioned cursor = %d", rc);
		p->valid = 0;
		return;
	}
	if (rc != 0)
		failf("cursor move = %d (%s), expected entry %zu of %zu (%s)",
		      rc, quire_strerror(rc), i, m->n,
		      show(m->v[i].key, m->v[i].klen, b1, sizeof b1));
	ROK(quire_cursor_key(c, &k));
	if (!tu_same(k.data, k.size, m->v[i].key, m->v[i].klen))
		failf("cursor at %s, expected entry %zu of %zu (%s)",
		      show(k.data, k.size, b1, sizeof b1), i, m->n,
		      show(m->v[i].key, m->v[i].klen, b2, sizeof b2));
	if (value) {
		ROK(quire_cursor_value(c, &v));
		if (!tu_same(v.data, v.size, m->v[i].val, m->v[i].vlen))
			failf("cursor value of %s: %zu bytes, the model's %zu",
			      show(k.data, k.size, b1, sizeof b1), v.size,
			      m->v[i].vlen);
	}
	memcpy(p->key, k.data, k.size);
	p->klen = k.size;
	p->valid = 1;
}

/* Change the write transaction under a cursor on g: the key under it, a
 * key right after or before, or the same bytes in another keyspace (which
 * the cursor must not see). */
static void mutate_near(struct run *r, const struct tgt *g,
			const struct cpos *p)
{
	uint8_t *k = r->kbuf3;
	size_t kl;
	switch (p->valid ? below(r, 5) : 4) {
	case 0:
		memcpy(k, p->key, p->klen);
		do_del(r, g, k, p->klen);
		return;
	case 1:
		if (p->klen >= QUIRE_MAX_KEY_SIZE)
			return;
		memcpy(k, p->key, p->klen);
		k[p->klen] = (uint8_t)("\x00\x61\xff"[below(r, 3)]);
		kl = p->klen + 1;
		break;
	case 2:
		kl = below(r, p->klen + 1);
		memcpy(k, p->key, kl);
		if (kl == p->klen) {
			do_del(r, g, k, kl);
			return;
		}
		break;
	case 3: { /* the same key, another keyspace */
		struct tgt o = pick(r, &r->cur, r->w);
		size_t vl = gen_val(r);
		memcpy(k, p->key, p->klen);
		if (below(r, 3))
			do_put(r, &o, k, p->klen, r->vbuf, vl);
		else
			do_del(r, &o, k, p->klen);
		return;
	}
	default:
		kl = gen_key(r, k, g->m);
		if (below(r, 2)) {
			do_del(r, g, k, kl);
			return;
		}
	}
	size_t vl = gen_val(r);
	do_put(r, g, k, kl, r->vbuf, vl);
}

static void op_scan(struct run *r)
{
	struct world *w;
	int own;
	quire_txn *t = pick_txn(r, &w, &own);
	struct tgt g = pick(r, w, t);
	struct cpos p = {0, r->kbuf2, 0};
	quire_cursor *c;
	size_t kl = some_key(r, &g, r->kbuf, 50);
	if (kl < QUIRE_MAX_KEY_SIZE && below(r, 4) == 0)
		r->kbuf[kl++] = 0;
	ROK(quire_cursor_open(g.v, &c));
	if (trace) {
		char b1[256], b2[256];
		fprintf(stderr, "scan: %s txn, keyspace %s (%zu keys), key %s\n",
			t == r->w ? "write" : own ? "fresh" : "held",
			g.name ? show(g.name, g.nlen, b1, sizeof b1) : "(default)",
			g.m->n, show(r->kbuf, kl, b2, sizeof b2));
		for (size_t i = 0; i < g.m->n; i++)
			fprintf(stderr, "  model %zu: %s\n", i,
				show(g.m->v[i].key, g.m->v[i].klen, b1,
				     sizeof b1));
	}
	switch (below(r, 4)) {
	case 0:
		expect_at(c, g.m, quire_cursor_first(c), 0, &p, 1);
		break;
	case 1:
		expect_at(c, g.m, quire_cursor_last(c),
			  g.m->n ? g.m->n - 1 : 0, &p, 1);
		break;
	default:
		expect_at(c, g.m, quire_cursor_seek(c, r->kbuf, kl),
			  model_lower(g.m, r->kbuf, kl), &p, 1);
	}
	int dir = below(r, 2) ? 1 : -1;
	for (uint64_t n = below(r, 30); n; n--) {
		size_t i;
		if (t == r->w && below(r, 6) == 0)
			mutate_near(r, &g, &p);
		if (below(r, 5) == 0)
			dir = -dir;
		int rc = dir > 0 ? quire_cursor_next(c) : quire_cursor_prev(c);
		if (trace)
			fprintf(stderr, "  %s = %d\n", dir > 0 ? "next" : "prev",
				rc);
		if (!p.valid) {
			i = dir > 0 || !g.m->n ? 0 : g.m->n - 1;
		} else {
			i = model_lower(g.m, p.key, p.klen);
			if (dir > 0 && i < g.m->n &&
			    tu_same(g.m->v[i].key, g.m->v[i].klen, p.key,
				    p.klen))
				i++;
			else if (dir < 0)
				i = i ? i - 1 : g.m->n;
		}
		expect_at(c, g.m, rc, i, &p, below(r, 3) == 0);
	}
	quire_cursor_close(c);
	if (own)
		ROK(quire_commit(t));
}

/* A name: mostly of an existing keyspace. */
static struct nm pick_name(struct run *r)
{
	if (r->cur.n && below(r, 100) < 60) {
		const struct ks *k = &r->cur.v[below(r, r->cur.n)];
		return (struct nm){k->name, k->nlen};
	}
	return pool[below(r, NPOOL)];
}

static void op_create(struct run *r)
{
	struct nm n = pool[below(r, NPOOL)];
	quire_txn *v;
	int i = world_find(&r->cur, n.p, n.n);
	if (i < 0 && below(r, 3) == 0)
		REQ(QUIRE_NOTFOUND, quire_keyspace(r->w, n.p, n.n, 0, &v));
	ROK(quire_keyspace(r->w, n.p, n.n, QUIRE_CREATE, &v));
	if (quire_txn_id(v) != quire_txn_id(r->w))
		failf("a view's txn id is %llu, its transaction's %llu",
		      (unsigned long long)quire_txn_id(v),
		      (unsigned long long)quire_txn_id(r->w));
	if (i >= 0) { /* it exists: just a view of it */
		struct ks *k = &r->cur.v[i];
		quire_val val;
		if (k->m.n) {
			const struct model_ent *e = &k->m.v[below(r, k->m.n)];
			ROK(quire_get(v, e->key, e->klen, &val));
			if (!tu_same(val.data, val.size, e->val, e->vlen))
				failf("QUIRE_CREATE of an existing keyspace "
				      "gave a view with other values");
		}
		k->view = v;
		return;
	}
	if (!r->ever_ks && !r->txn_created) {
		/* the first keyspace of the file: the default keyspace's 0xff
		 * keys are converted (optional entries, see struct fent) */
		/* (every key from 0xff on starts with 0xff) */
		size_t lo = model_lower(&r->cur.def, "\xff", 1);
		size_t hi = r->cur.def.n;
		if (hi > lo) {
			r->ff_before++;
			struct fent *e = jadd(r, QUIRE_OP_DEL_RANGE, 0, NULL, 0,
					      "\xff", 1, NULL, 0);
			e->to_last = 1;
			e->optional = 2;
			for (size_t j = lo; j < hi; j++) {
				const struct model_ent *me = &r->cur.def.v[j];
				e = jadd(r, QUIRE_OP_PUT, 0, NULL, 0, me->key,
					 me->klen, me->val, me->vlen);
				e->optional = 2;
			}
		}
	}
	r->txn_created = 1;
	struct ks *k = world_add(&r->cur, n.p, n.n, ident_new(&r->im));
	k->view = v;
	jadd(r, QUIRE_OP_KEYSPACE, k->ident, n.p, n.n, n.p, n.n, NULL, 0);
	r->creates++;
	/* the new keyspace is empty, whatever the default keyspace holds */
	quire_cursor *c;
	ROK(quire_cursor_open(v, &c));
	REQ(QUIRE_NOTFOUND, quire_cursor_first(c));
	REQ(QUIRE_NOTFOUND, quire_cursor_last(c));
	quire_cursor_close(c);
}

static void op_drop(struct run *r)
{
	struct nm n = pick_name(r);
	uint64_t removed = UINT64_MAX;
	quire_val val;
	int i = world_find(&r->cur, n.p, n.n);
	if (i < 0) {
		REQ(QUIRE_NOTFOUND, quire_keyspace_drop(r->w, n.p, n.n,
							&removed));
		return;
	}
	struct ks *k = &r->cur.v[i];
	uint8_t *name = tu_dup(k->name, k->nlen);
	size_t nlen = k->nlen;
	quire_txn *old = k->view;
	if (!old)
		ROK(quire_keyspace(r->w, name, nlen, 0, &old));
	ROK(quire_keyspace_drop(r->w, name, nlen, &removed));
	if (removed != k->m.n)
		failf("quire_keyspace_drop removed %llu keys, the keyspace held "
		      "%zu",
		      (unsigned long long)removed, k->m.n);
	/* one change of the feed, with the keys it removed; a range over
	 * the whole keyspace just before it is reported as its own */
	struct fent *last = r->nj ? &r->j[r->nj - 1] : NULL;
	uint64_t count = removed;
	if (!removed && last && last->op == QUIRE_OP_DEL_RANGE &&
	    last->ident == k->ident && !last->kl && last->to_last) {
		count = last->count;
		fent_free(last);
		r->nj--;
	}
	struct fent *e = jadd(r, QUIRE_OP_KEYSPACE_DROP, k->ident, name, nlen,
			      NULL, 0, NULL, 0);
	e->to_last = 1;
	e->count = count;
	/* its views end; its name is free */
	REQ(QUIRE_EINVAL, quire_get(old, "a", 1, &val));
	REQ(QUIRE_EINVAL, quire_put(old, "a", 1, "b", 1));
	REQ(QUIRE_NOTFOUND, quire_keyspace(r->w, name, nlen, 0, &old));
	world_remove(&r->cur, (size_t)i);
	free(name);
	r->drops++;
}

static void op_rename(struct run *r)
{
	struct nm a = pick_name(r), b = pool[below(r, NPOOL)];
	for (int tries = 0; below(r, 10) < 7 && tries < 8; tries++) {
		/* mostly to a free name */
		if (world_find(&r->cur, b.p, b.n) < 0)
			break;
		b = pool[below(r, NPOOL)];
	}
	int i = world_find(&r->cur, a.p, a.n), j = world_find(&r->cur, b.p, b.n);
	quire_txn *v;
	quire_val val;
	if (tu_same(a.p, a.n, b.p, b.n))
		return;
	if (i < 0) {
		if (j < 0)
			REQ(QUIRE_NOTFOUND,
			    quire_keyspace_rename(r->w, a.p, a.n, b.p, b.n));
		return;
	}
	if (j >= 0) {
		REQ(QUIRE_EEXIST,
		    quire_keyspace_rename(r->w, a.p, a.n, b.p, b.n));
		r->rename_refused++;
		return;
	}
	struct ks *k = &r->cur.v[i];
	uint8_t *old = k->name;
	size_t ol = k->nlen;
	ROK(quire_keyspace_rename(r->w, old, ol, b.p, b.n));
	k->name = tu_dup(b.p, b.n);
	k->nlen = b.n;
	struct fent *e = jadd(r, QUIRE_OP_KEYSPACE, k->ident, old, ol, b.p, b.n,
			      NULL, 0);
	e->rename = 1;
	REQ(QUIRE_NOTFOUND, quire_keyspace(r->w, old, ol, 0, &v));
	free(old);
	/* a view taken before keeps showing it */
	if (k->view && k->m.n) {
		const struct model_ent *me = &k->m.v[below(r, k->m.n)];
		ROK(quire_get(k->view, me->key, me->klen, &val));
		if (!tu_same(val.data, val.size, me->val, me->vlen))
			failf("a view taken before a rename shows another "
			      "value");
	}
	r->renames++;
}

static void op_stat(struct run *r)
{
	struct world *w;
	int own;
	quire_txn *t = pick_txn(r, &w, &own);
	struct tgt g = pick(r, w, t);
	uint64_t keys = 0, bytes = 0;
	ROK(quire_keyspace_stat(g.v, &keys, &bytes));
	if (keys != g.m->n || bytes != model_bytes(g.m))
		failf("quire_keyspace_stat: %llu keys, %llu bytes; the model %zu "
		      "keys, %llu bytes",
		      (unsigned long long)keys, (unsigned long long)bytes,
		      g.m->n, (unsigned long long)model_bytes(g.m));
	if (own)
		ROK(quire_commit(t));
}

/* The feed run's end: the whole feed, each view's own, and a replay. */
struct idname {
	uint32_t id;
	uint8_t *name;
	size_t nlen;
};

static int idname_find(const struct idname *v, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return (int)i;
	return -1;
}

static void check_filtered(struct run *r, quire_txn *view, int ident,
			   const char *label)
{
	quire_changes *f;
	quire_change ch;
	size_t i = 0, n = 0;
	int rc;
	char b1[256];
	ROK(quire_changes_open(view, 0, &f));
	while ((rc = quire_changes_next(f, &ch)) == 0) {
		if (ch.op == QUIRE_OP_KEYSPACE ||
		    ch.op == QUIRE_OP_KEYSPACE_DROP) {
			if (ch.keyspace_id != r->im.ids[ident])
				failf("%s: a view's feed reports an event of "
				      "keyspace %u",
				      label, ch.keyspace_id);
			continue;
		}
		while (i < r->nall && (r->all[i].ident != ident ||
				       r->all[i].op >= QUIRE_OP_KEYSPACE))
			i++;
		if (i == r->nall)
			failf("%s: more entries than expected: seq %llu, op %d, "
			      "keyspace %u, key %s",
			      label, (unsigned long long)ch.seq, ch.op,
			      ch.keyspace_id,
			      show(ch.key.data, ch.key.size, b1, sizeof b1));
		if (ch.seq != r->all[i].seq || ch.txn_id != r->all[i].txn)
			failf("%s: seq %llu (txn %llu), expected seq %llu (txn "
			      "%llu)",
			      label, (unsigned long long)ch.seq,
			      (unsigned long long)ch.txn_id,
			      (unsigned long long)r->all[i].seq,
			      (unsigned long long)r->all[i].txn);
		struct fent x = r->all[i];
		if (x.optional == 2) /* the conversion: no count check */
			x.count = ch.count;
		match(&r->im, &ch, &x, label);
		i++;
		n++;
	}
	ROK(rc == QUIRE_NOTFOUND ? 0 : rc);
	while (i < r->nall && (r->all[i].ident != ident ||
			       r->all[i].op >= QUIRE_OP_KEYSPACE))
		i++;
	if (i != r->nall)
		failf("%s: the feed ended after %zu entries; missing seq %llu "
		      "(op %d)",
		      label, n, (unsigned long long)r->all[i].seq,
		      r->all[i].op);
	quire_changes_close(f);
}

/* Replay the unfiltered feed of db into a new file; it must hold w. */
static void replay(struct run *r, const struct world *w)
{
	quire *db2;
	quire_txn *t, *t2 = NULL, *v;
	quire_changes *f;
	quire_change ch;
	quire_options o;
	struct idname *map = NULL;
	size_t nmap = 0, cap = 0;
	uint64_t txn = 0, removed, entries = 0;
	int rc;
	char b1[256], b2[256], path2[4096];
	snprintf(path2, sizeof path2, "%s", tu_path("ks-replay"));
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	ROK(quire_open(path2, &o, &db2));
	ROK(quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(quire_changes_open(t, 0, &f));
	while ((rc = quire_changes_next(f, &ch)) == 0) {
		entries++;
		if (ch.txn_id != txn) {
			if (t2)
				ROK(quire_commit(t2));
			ROK(quire_begin(db2, 0, &t2));
			txn = ch.txn_id;
		}
		int m = ch.keyspace_id ? idname_find(map, nmap, ch.keyspace_id)
				       : -1;
		if (ch.op == QUIRE_OP_KEYSPACE) {
			if (m >= 0) { /* a rename: keyspace is the old name */
				if (!tu_same(ch.keyspace.data, ch.keyspace.size,
					     map[m].name, map[m].nlen))
					failf("replay: seq %llu renames keyspace "
					      "%u from %s, its name is %s",
					      (unsigned long long)ch.seq,
					      ch.keyspace_id,
					      show(ch.keyspace.data,
						   ch.keyspace.size, b1,
						   sizeof b1),
					      show(map[m].name, map[m].nlen, b2,
						   sizeof b2));
				ROK(quire_keyspace_rename(t2, map[m].name,
							  map[m].nlen,
							  ch.key.data,
							  ch.key.size));
				free(map[m].name);
				map[m].name = tu_dup(ch.key.data, ch.key.size);
				map[m].nlen = ch.key.size;
			} else {
				if (!ch.keyspace_id)
					failf("replay: seq %llu creates keyspace "
					      "number 0",
					      (unsigned long long)ch.seq);
				REQ(QUIRE_NOTFOUND,
				    quire_keyspace(t2, ch.key.data, ch.key.size,
						   0, &v));
				ROK(quire_keyspace(t2, ch.key.data, ch.key.size,
						   QUIRE_CREATE, &v));
				map = tu_push(map, &cap, nmap, sizeof *map, 16);
				map[nmap++] = (struct idname){
					ch.keyspace_id,
					tu_dup(ch.key.data, ch.key.size),
					ch.key.size};
			}
			continue;
		}
		if (ch.keyspace_id && m < 0)
			failf("replay: seq %llu (op %d) in keyspace %u, which no "
			      "QUIRE_OP_KEYSPACE named",
			      (unsigned long long)ch.seq, ch.op, ch.keyspace_id);
		if (m >= 0 ? !tu_same(ch.keyspace.data, ch.keyspace.size,
				      map[m].name, map[m].nlen)
			   : ch.keyspace.size != 0)
			failf("replay: seq %llu (op %d) names keyspace %s, the "
			      "feed's events say %s",
			      (unsigned long long)ch.seq, ch.op,
			      show(ch.keyspace.data, ch.keyspace.size, b1,
				   sizeof b1),
			      m >= 0 ? show(map[m].name, map[m].nlen, b2,
					    sizeof b2)
				     : "(default)");
		if (ch.op == QUIRE_OP_KEYSPACE_DROP) {
			ROK(quire_keyspace_drop(t2, map[m].name, map[m].nlen,
						&removed));
			if (removed != ch.count)
				failf("replay: the drop at seq %llu removed %llu "
				      "keys, the feed says %llu",
				      (unsigned long long)ch.seq,
				      (unsigned long long)removed,
				      (unsigned long long)ch.count);
			free(map[m].name);
			map[m] = map[--nmap];
			continue;
		}
		if (m >= 0)
			ROK(quire_keyspace(t2, map[m].name, map[m].nlen, 0, &v));
		else
			v = t2;
		switch (ch.op) {
		case QUIRE_OP_PUT:
			ROK(quire_put(v, ch.key.data, ch.key.size,
				      ch.value.data, ch.value.size));
			break;
		case QUIRE_OP_DEL:
			ROK(quire_del(v, ch.key.data, ch.key.size));
			break;
		case QUIRE_OP_DEL_RANGE:
			ROK(quire_del_range(v, ch.key.data, ch.key.size,
					    ch.to_last ? NULL : ch.value.data,
					    ch.value.size, &removed));
			if (removed != ch.count)
				failf("replay: the range at seq %llu removed "
				      "%llu keys, the feed says %llu",
				      (unsigned long long)ch.seq,
				      (unsigned long long)removed,
				      (unsigned long long)ch.count);
			break;
		default:
			failf("replay: seq %llu has op %d",
			      (unsigned long long)ch.seq, ch.op);
		}
	}
	ROK(rc == QUIRE_NOTFOUND ? 0 : rc);
	if (t2)
		ROK(quire_commit(t2));
	quire_changes_close(f);
	ROK(quire_commit(t));
	if (entries != r->nall)
		failf("replay: the feed has %llu entries, the commits made %zu",
		      (unsigned long long)entries, r->nall);
	ROK(quire_begin(db2, QUIRE_RDONLY, &t));
	check_world(w, t, "the replayed feed");
	ROK(quire_commit(t));
	ROK(quire_close(db2));
	unlink(path2);
	for (size_t i = 0; i < nmap; i++)
		free(map[i].name);
	free(map);
}

static void feed_end(struct run *r)
{
	quire_txn *t, *v;
	quire_changes *f;
	char lb[512], b1[256];
	ROK(quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(quire_changes_open(t, 0, &f));
	match_feed(&r->im, f, r->all, r->nall, 0, 0, "the whole feed");
	quire_changes_close(f);
	ROK(quire_keyspace(t, NULL, 0, 0, &v));
	check_filtered(r, v, 0, "the default keyspace's view's feed");
	for (size_t i = 0; i < r->committed.n; i++) {
		const struct ks *k = &r->committed.v[i];
		snprintf(lb, sizeof lb, "the feed of keyspace %s's view",
			 show(k->name, k->nlen, b1, sizeof b1));
		ROK(quire_keyspace(t, k->name, k->nlen, 0, &v));
		check_filtered(r, v, k->ident, lb);
	}
	ROK(quire_commit(t));
	replay(r, &r->committed);
}

static void run_seed(uint64_t seed, uint64_t nops, int feedrun)
{
	struct run r = {.seed = seed, .rng = seed, .feedrun = feedrun};
	static const unsigned long ckpts[] = {0, 1, 7, 50};
	quire_txn *t;
	quire_stat st;
	r.node_size = seed & 1 ? 512 : 4096;
	r.ckpt = ckpts[seed % 4];
	char pname[64];
	snprintf(pname, sizeof pname, "ks-%s-%llu", feedrun ? "feed" : "model",
		 (unsigned long long)seed);
	r.path = strdup(tu_path(pname));
	r.kbuf = malloc(QUIRE_MAX_KEY_SIZE + 1);
	r.kbuf2 = malloc(QUIRE_MAX_KEY_SIZE + 1);
	r.kbuf3 = malloc(QUIRE_MAX_KEY_SIZE + 1);
	r.vbuf = malloc(BIG_VALUE);
	assert_true(r.path && r.kbuf && r.kbuf2 && r.kbuf3 && r.vbuf);
	/* ident 0: the default keyspace, number 0 */
	r.im.ids = tu_push(r.im.ids, &r.im.cap, 0, sizeof *r.im.ids, 16);
	r.im.ids[0] = 0;
	r.im.n = 1;
	set_where(&r, NOPS);
	print_message("# seed %llu, node_size %u, checkpoint_ops %lu%s\n",
		      (unsigned long long)seed, r.node_size, r.ckpt,
		      feedrun ? ", every commit kept" : "");
	open_handles(&r, 1);
	if (feedrun) {
		quire_retention rp = {QUIRE_KEEP_ALL, 0};
		ROK(quire_set_retention(r.db, &rp));
	}
	ROK(quire_begin(r.db, QUIRE_RDONLY, &t));
	ROK(quire_txn_stat(t, &st));
	ROK(quire_commit(t));
	r.id = st.txn_id;
	r.next_seq = st.next_seq;
	begin_write(&r);
	for (r.op = 0; r.op < nops; r.op++) {
		/* the first operations leave 0xff keys in the default
		 * keyspace before any keyspace exists */
		int early = r.op < nops / 16;
		unsigned total = 0;
		int k;
		for (k = 0; k < NOPS; k++)
			total += early && (k == CREATE || k == RENAME ||
					   k == DROP)
					 ? 0
					 : weights[k];
		uint64_t p = below(&r, total);
		for (k = 0; k < NOPS; k++) {
			unsigned wk = early && (k == CREATE || k == RENAME ||
						k == DROP)
					      ? 0
					      : weights[k];
			if (p < wk)
				break;
			p -= wk;
		}
		r.nops[k]++;
		set_where(&r, k);
		switch ((enum op)k) {
		case PUT: op_put(&r); break;
		case DEL: op_del(&r); break;
		case GET: op_get(&r); break;
		case CAS: op_cas(&r); break;
		case RANGE: op_range(&r); break;
		case SCAN: op_scan(&r); break;
		case CREATE: op_create(&r); break;
		case DROP: op_drop(&r); break;
		case RENAME: op_rename(&r); break;
		case LIST: check_list(&r.cur, r.w, "the write transaction"); break;
		case STAT: op_stat(&r); break;
		case COMMIT:
			finish_commit(&r);
			begin_write(&r);
			break;
		case ABORT:
			finish_abort(&r);
			begin_write(&r);
			break;
		case WCHECK:
			check_world(&r.cur, r.w, "the write transaction");
			break;
		case SNAP: op_snap(&r); break;
		case HELD: op_held(&r); break;
		case REOPEN: op_reopen(&r); break;
		case COMPACT: op_compact(&r); break;
		case CKPT: op_ckpt(&r); break;
		default: break;
		}
	}
	r.op = nops;
	set_where(&r, NOPS);
	check_world(&r.cur, r.w, "the write transaction at the end");
	finish_commit(&r);
	while (r.nheld)
		release_held(&r, r.nheld - 1);
	verify_latest(&r, r.db, "at the end");
	verify_latest(&r, r.follower, "the second handle at the end");
	check_clean(r.db);
	if (feedrun)
		feed_end(&r);
	ROK(quire_close(r.db));
	open_handles(&r, 0);
	verify_latest(&r, r.db, "at the end, reopened");
	if (feedrun) {
		compact_now(r.db); /* keeps every commit */
		verify_latest(&r, r.db, "at the end, compacted");
		feed_end(&r);
	}
	ROK(quire_close(r.db));
	ROK(quire_close(r.follower));
	print_message("# seed %llu: %llu ops, %llu commits (%llu aborts), up "
		      "to %llu keys; %llu creates (%llu with 0xff default keys "
		      "before the first), %llu drops, %llu renames (%llu "
		      "refused), %llu ranges (%llu keys), CAS %llu ok / %llu "
		      "conflicts, %llu commit feeds checked (%llu compacted "
		      "away), %llu ended views tried, %llu reopens, %llu "
		      "compactions\n",
		      (unsigned long long)seed, (unsigned long long)nops,
		      (unsigned long long)r.commits,
		      (unsigned long long)r.nops[ABORT],
		      (unsigned long long)r.max_keys,
		      (unsigned long long)r.creates,
		      (unsigned long long)r.ff_before,
		      (unsigned long long)r.drops,
		      (unsigned long long)r.renames,
		      (unsigned long long)r.rename_refused,
		      (unsigned long long)r.ranges,
		      (unsigned long long)r.range_keys,
		      (unsigned long long)r.cas_ok,
		      (unsigned long long)r.cas_conflict,
		      (unsigned long long)r.feeds,
		      (unsigned long long)r.feeds_skipped,
		      (unsigned long long)r.views_ended,
		      (unsigned long long)r.nops[REOPEN],
		      (unsigned long long)r.compacts);
	/* floors well under what a run does, so no run checks nothing */
	uint64_t s = nops / 1000;
	if (r.commits < 30 * s || r.creates < 2 * s || r.drops < s ||
	    r.renames < s || r.ranges < 5 * s || r.cas_ok < 10 * s ||
	    r.cas_conflict < 5 * s || r.feeds < 20 * s || r.max_keys < 100 ||
	    r.views_ended < 10 * s || r.nops[WCHECK] < 1)
		failf("the run did too little (see the figures above)");
	if (!feedrun && (r.ff_before < 1 || r.compacts < 1 ||
			 r.nops[REOPEN] < 1))
		failf("the run made no creation over 0xff default keys, "
		      "compaction or reopen");
	unlink(r.path);
	world_clear(&r.committed);
	world_clear(&r.cur);
	jclear(&r);
	free(r.j);
	for (size_t i = 0; i < r.nall; i++)
		fent_free(&r.all[i]);
	free(r.all);
	free(r.im.ids);
	free(r.path);
	free(r.kbuf);
	free(r.kbuf2);
	free(r.kbuf3);
	free(r.vbuf);
}

static void test_model_a(void **state)
{
	run_seed(tu_seed(1), 12000, 0);
}

static void test_model_b(void **state)
{
	run_seed(tu_seed(1) + 1, 12000, 0);
}

static void test_model_feed(void **state)
{
	run_seed(tu_seed(1) + 2, 8000, 1);
}

/* ---- helpers of the deterministic tests ---- */

static quire *open_db(const char *path, unsigned flags, unsigned node_size)
{
	quire *db;
	quire_options o;
	quire_options_init(&o);
	o.flags = flags;
	if (node_size)
		o.node_size = node_size;
	ROK(quire_open(path, &o, &db));
	return db;
}

/* The view of keyspace name (NULL: the transaction itself). */
static quire_txn *vw(quire_txn *t, const void *name, size_t nlen)
{
	quire_txn *v;
	if (!name)
		return t;
	ROK(quire_keyspace(t, name, nlen, 0, &v));
	return v;
}

static struct model *wm(struct world *w, const void *name, size_t nlen)
{
	if (!name)
		return &w->def;
	int i = world_find(w, name, nlen);
	if (i < 0)
		failf("the model has no keyspace of %zu bytes", nlen);
	return &w->v[i].m;
}

static void dput(quire_txn *t, struct world *w, const void *ks, size_t ksl,
		 const void *k, size_t kl, const char *val)
{
	ROK(quire_put(vw(t, ks, ksl), k, kl, val, strlen(val)));
	model_put(wm(w, ks, ksl), k, kl, val, strlen(val));
}

static void ddel(quire_txn *t, struct world *w, const void *ks, size_t ksl,
		 const void *k, size_t kl)
{
	ROK(quire_del(vw(t, ks, ksl), k, kl));
	if (!model_del(wm(w, ks, ksl), k, kl))
		failf("ddel: not in the model");
}

static void dcreate(quire_txn *t, struct world *w, const void *name,
		    size_t nlen)
{
	quire_txn *v;
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, name, nlen, 0, &v));
	ROK(quire_keyspace(t, name, nlen, QUIRE_CREATE, &v));
	world_add(w, name, nlen, 0);
}

static void ddrop(quire_txn *t, struct world *w, const void *name,
		  size_t nlen)
{
	uint64_t removed = UINT64_MAX;
	int i = world_find(w, name, nlen);
	ROK(quire_keyspace_drop(t, name, nlen, &removed));
	if (removed != w->v[i].m.n)
		failf("drop removed %llu keys, the keyspace held %zu",
		      (unsigned long long)removed, w->v[i].m.n);
	world_remove(w, (size_t)i);
}

static void drename(quire_txn *t, struct world *w, const void *a, size_t al,
		    const void *b, size_t bl)
{
	int i = world_find(w, a, al);
	ROK(quire_keyspace_rename(t, a, al, b, bl));
	free(w->v[i].name);
	w->v[i].name = tu_dup(b, bl);
	w->v[i].nlen = bl;
}

static void check_latest(quire *db, const struct world *w, const char *label)
{
	quire_txn *t;
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	check_world(w, t, label);
	ROK(quire_commit(t));
}

static uint64_t commit_id(quire_txn *t)
{
	uint64_t id = quire_txn_id(t);
	ROK(quire_commit(t));
	return id;
}

/* The feed of t (a transaction or view) from seq since: ops and keys. */
struct seen {
	int op;
	uint32_t id;
	char key[64], ks[64];
	uint64_t count, txn;
	int to_last;
};

static size_t read_feed(quire_txn *t, uint64_t since, struct seen *s,
			size_t max)
{
	quire_changes *f;
	quire_change ch;
	size_t n = 0;
	int rc;
	ROK(quire_changes_open(t, since, &f));
	while ((rc = quire_changes_next(f, &ch)) == 0) {
		if (n == max)
			failf("the feed has more than %zu entries", max);
		s[n] = (struct seen){ch.op, ch.keyspace_id, "", "", ch.count,
				     ch.txn_id, ch.to_last};
		snprintf(s[n].key, sizeof s[n].key, "%.*s",
			 (int)(ch.key.size < 60 ? ch.key.size : 60),
			 (const char *)ch.key.data);
		snprintf(s[n].ks, sizeof s[n].ks, "%.*s",
			 (int)(ch.keyspace.size < 60 ? ch.keyspace.size : 60),
			 (const char *)ch.keyspace.data);
		n++;
	}
	REQ(QUIRE_NOTFOUND, rc);
	quire_changes_close(f);
	return n;
}

static void expect_seen(const struct seen *s, int op, const char *ks,
			const char *key, size_t i)
{
	if (s->op != op || strcmp(s->ks, ks) != 0 ||
	    (key && strcmp(s->key, key) != 0))
		failf("feed entry %zu: op %d, keyspace '%s' (%u), key '%s'; "
		      "expected op %d, keyspace '%s', key '%s'",
		      i, s->op, s->ks, s->id, s->key, op, ks, key ? key : "*");
}

/* ---- AS-OF before and after a drop and a rename ---- */

static void asof_all(quire *db, const uint64_t *ids, struct world *st,
		     int n, const char *when)
{
	char lb[128];
	quire_txn *t, *v;
	quire_val val;
	for (int i = 1; i <= n; i++) {
		snprintf(lb, sizeof lb, "%s: AS-OF commit %d (txn %llu)", when,
			 i, (unsigned long long)ids[i]);
		ROK(quire_begin_at(db, ids[i], &t));
		check_world(&st[i], t, lb);
		ROK(quire_commit(t));
	}
	/* before the drop, "a" holds its old keys; after, nothing */
	ROK(quire_begin_at(db, ids[2], &t));
	ROK(quire_get(vw(t, L("a")), L("k1"), &val));
	if (!tu_same(val.data, val.size, L("v1")))
		failf("%s: AS-OF before the drop, a/k1 is not v1", when);
	ROK(quire_get(vw(t, L("b")), L("y"), &val));
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, L("c"), 0, &v));
	/* the view of an AS-OF snapshot has the old keyspace's feed */
	struct seen s[16];
	size_t nf = read_feed(vw(t, L("a")), 0, s, 16);
	size_t data = 0;
	uint32_t aid = 0;
	for (size_t i = 0; i < nf; i++) {
		if (s[i].op >= QUIRE_OP_KEYSPACE)
			continue;
		expect_seen(&s[i], QUIRE_OP_PUT, "a", NULL, i);
		if (aid && s[i].id != aid)
			failf("%s: the old a's feed has keyspaces %u and %u",
			      when, aid, s[i].id);
		aid = s[i].id;
		data++;
	}
	if (data != 4)
		failf("%s: the AS-OF view of a shows %zu puts, expected 4", when,
		      data);
	ROK(quire_commit(t));
	ROK(quire_begin_at(db, ids[3], &t));
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, L("a"), 0, &v));
	ROK(quire_get(vw(t, L("b")), L("x"), &val));
	ROK(quire_commit(t));
	ROK(quire_begin_at(db, ids[4], &t));
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, L("b"), 0, &v));
	ROK(quire_get(vw(t, L("c")), L("x"), &val));
	ROK(quire_commit(t));
	/* the new a: its own keys and feed, another number */
	ROK(quire_begin_at(db, ids[5], &t));
	nf = read_feed(vw(t, L("a")), 0, s, 16);
	data = 0;
	for (size_t i = 0; i < nf; i++) {
		if (s[i].op >= QUIRE_OP_KEYSPACE)
			continue;
		expect_seen(&s[i], QUIRE_OP_PUT, "a", "k9", i);
		if (s[i].id == aid)
			failf("%s: the new a has the dropped one's number %u",
			      when, aid);
		data++;
	}
	if (data != 1)
		failf("%s: the new a's feed shows %zu puts, expected 1", when,
		      data);
	/* key history of the old a's key, through an AS-OF view */
	ROK(quire_commit(t));
	ROK(quire_begin_at(db, ids[2], &t));
	quire_history *h;
	quire_key_version kv;
	ROK(quire_history_open(vw(t, L("a")), L("k1"), &h));
	ROK(quire_history_next(h, &kv));
	if (kv.op != QUIRE_OP_PUT || kv.txn_id != ids[1] ||
	    !tu_same(kv.value.data, kv.value.size, L("v1")))
		failf("%s: history of the old a/k1: op %d, txn %llu", when,
		      kv.op, (unsigned long long)kv.txn_id);
	REQ(QUIRE_NOTFOUND, quire_history_next(h, &kv));
	quire_history_close(h);
	ROK(quire_commit(t));
}

static void test_asof(void **state)
{
	const char *path = tu_path("ks-asof");
	struct world cur = {0}, st[6];
	memset(st, 0, sizeof st);
	uint64_t ids[6];
	quire_txn *t;
	quire_retention rp = {QUIRE_KEEP_ALL, 0};
	snprintf(where, sizeof where, "AS-OF");
	quire *db = open_db(path, QUIRE_CREATE, 512);
	ROK(quire_set_retention(db, &rp));

	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("a"));
	dcreate(t, &cur, L("b"));
	dput(t, &cur, L("a"), L("k1"), "v1");
	dput(t, &cur, L("a"), L("k2"), "v2");
	dput(t, &cur, L("a"), L("\xff"), "v3");
	dput(t, &cur, L("b"), L("x"), "1");
	dput(t, &cur, NULL, 0, L("d"), "0");
	dput(t, &cur, NULL, 0, L("\xff"), "dff");
	ids[1] = commit_id(t);
	world_copy(&st[1], &cur);

	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, L("a"), L("k3"), "v4");
	dput(t, &cur, L("b"), L("y"), "2");
	ids[2] = commit_id(t);
	world_copy(&st[2], &cur);
	ROK(quire_checkpoint(db)); /* the trees hold it now */

	ROK(quire_begin(db, 0, &t));
	ddrop(t, &cur, L("a"));
	ids[3] = commit_id(t);
	world_copy(&st[3], &cur);

	ROK(quire_begin(db, 0, &t));
	drename(t, &cur, L("b"), L("c"));
	dput(t, &cur, L("c"), L("z"), "3");
	ids[4] = commit_id(t);
	world_copy(&st[4], &cur);

	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("a"));
	dput(t, &cur, L("a"), L("k9"), "new");
	ids[5] = commit_id(t);
	world_copy(&st[5], &cur);

	asof_all(db, ids, st, 5, "as committed");
	ROK(quire_compact(db, NULL));
	asof_all(db, ids, st, 5, "after a compaction");
	ROK(quire_close(db));
	db = open_db(path, 0, 4096);
	asof_all(db, ids, st, 5, "after a reopen");
	check_clean(db);
	ROK(quire_close(db));
	unlink(path);
	world_clear(&cur);
	for (int i = 0; i < 6; i++)
		world_clear(&st[i]);
}

/* ---- feed names within one transaction ---- */

static void test_feed_names(void **state)
{
	const char *path = tu_path("ks-feednames");
	quire_txn *t, *a1, *v;
	struct seen s[32];
	uint64_t removed;
	snprintf(where, sizeof where, "feed names");
	quire *db = open_db(path, QUIRE_CREATE, 0);
	ROK(quire_begin(db, 0, &t));
	ROK(quire_put(t, L("d"), L("0")));
	ROK(quire_keyspace(t, L("a"), QUIRE_CREATE, &a1));
	ROK(quire_put(a1, L("k"), L("1")));
	ROK(quire_keyspace_rename(t, L("a"), L("b")));
	ROK(quire_put(a1, L("k2"), L("2"))); /* through the old view */
	ROK(quire_keyspace(t, L("a"), QUIRE_CREATE, &v));
	ROK(quire_put(v, L("k"), L("3")));
	ROK(quire_keyspace_drop(t, L("b"), &removed));
	if (removed != 2)
		failf("the drop removed %llu keys, expected 2",
		      (unsigned long long)removed);
	ROK(quire_put(t, L("e"), L("4")));
	uint64_t id1 = commit_id(t);

	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	size_t n = read_feed(t, 0, s, 32);
	if (n != 9)
		failf("the feed has %zu entries, expected 9", n);
	expect_seen(&s[0], QUIRE_OP_PUT, "", "d", 0);
	expect_seen(&s[1], QUIRE_OP_KEYSPACE, s[1].ks, "a", 1);
	if (s[1].ks[0] && strcmp(s[1].ks, "a"))
		failf("the creation of a names keyspace '%s'", s[1].ks);
	expect_seen(&s[2], QUIRE_OP_PUT, "a", "k", 2);
	expect_seen(&s[3], QUIRE_OP_KEYSPACE, "a", "b", 3);
	expect_seen(&s[4], QUIRE_OP_PUT, "b", "k2", 4);
	expect_seen(&s[5], QUIRE_OP_KEYSPACE, s[5].ks, "a", 5);
	expect_seen(&s[6], QUIRE_OP_PUT, "a", "k", 6);
	expect_seen(&s[7], QUIRE_OP_KEYSPACE_DROP, "b", NULL, 7);
	expect_seen(&s[8], QUIRE_OP_PUT, "", "e", 8);
	uint32_t first = s[1].id, second = s[5].id;
	if (!first || !second || first == second || s[0].id || s[8].id)
		failf("keyspace numbers: default %u/%u, first a %u, second a %u",
		      s[0].id, s[8].id, first, second);
	if (s[2].id != first || s[3].id != first || s[4].id != first ||
	    s[6].id != second || s[7].id != first)
		failf("operations carry the wrong keyspace numbers");
	if (!s[7].to_last || s[7].count != 2)
		failf("the drop's range: to_last %d, count %llu", s[7].to_last,
		      (unsigned long long)s[7].count);
	for (size_t i = 0; i < n; i++)
		if (s[i].txn != id1)
			failf("feed entry %zu has txn %llu, expected %llu", i,
			      (unsigned long long)s[i].txn,
			      (unsigned long long)id1);
	/* a view's feed: its keyspace only; the default's view: defaults */
	n = read_feed(vw(t, L("a")), 0, s, 32);
	size_t data = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].id != second)
			failf("a's feed has an entry of keyspace %u", s[i].id);
		if (s[i].op < QUIRE_OP_KEYSPACE) {
			expect_seen(&s[i], QUIRE_OP_PUT, "a", "k", i);
			data++;
		}
	}
	if (data != 1)
		failf("a's feed has %zu operations, expected 1", data);
	ROK(quire_keyspace(t, NULL, 0, 0, &v));
	n = read_feed(v, 0, s, 32);
	if (n != 2)
		failf("the default keyspace's feed has %zu entries", n);
	expect_seen(&s[0], QUIRE_OP_PUT, "", "d", 0);
	expect_seen(&s[1], QUIRE_OP_PUT, "", "e", 1);
	quire_stat st;
	ROK(quire_txn_stat(t, &st));
	ROK(quire_commit(t));

	/* a range over a whole keyspace and its drop: one change */
	ROK(quire_begin(db, 0, &t));
	v = vw(t, L("a"));
	ROK(quire_put(v, L("k2"), L("5")));
	ROK(quire_del_range(v, NULL, 0, NULL, 0, &removed));
	ROK(quire_keyspace_drop(t, L("a"), &removed));
	id1 = commit_id(t);
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	n = read_feed(t, st.next_seq - 1, s, 32);
	if (n != 2 || s[1].count != 2 || !s[1].to_last || s[1].txn != id1)
		failf("a put, a range and a drop: %zu changes, the last of "
		      "count %llu, to_last %d",
		      n, (unsigned long long)(n ? s[n - 1].count : 0),
		      n ? s[n - 1].to_last : 0);
	expect_seen(&s[0], QUIRE_OP_PUT, "a", "k2", 0);
	expect_seen(&s[1], QUIRE_OP_KEYSPACE_DROP, "a", "a", 1);
	ROK(quire_commit(t));
	ROK(quire_close(db));
	unlink(path);
}

/* ---- opening keyspaces in snapshots of another handle's commits ---- */

/* Open every keyspace of t by name, and some that do not exist, n times
 * over: each view must read its own marker. */
static void open_all(quire_txn *t, int nks, int rounds, int gen,
		     const char *label)
{
	char name[32], want[48];
	quire_txn *v;
	quire_val val;
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nks + 3; i++) {
			snprintf(name, sizeof name, "ks%03d", i);
			int rc = quire_keyspace(t, name, strlen(name), 0, &v);
			if (i >= nks) {
				if (rc != QUIRE_NOTFOUND)
					failf("%s: round %d: the missing "
					      "keyspace %s opened (%d)",
					      label, r, name, rc);
				continue;
			}
			ROK(rc);
			ROK(quire_get(v, "k", 1, &val));
			snprintf(want, sizeof want, "%s/%d", name, gen);
			if (!tu_same(val.data, val.size, want, strlen(want)))
				failf("%s: round %d: keyspace %s reads '%.*s', "
				      "expected '%s'",
				      label, r, name, (int)val.size,
				      (const char *)val.data, want);
		}
}

/* Another handle (as another process would) commits keyspace changes: a
 * reader's snapshots have no catalog to inherit, and opens must find the
 * right keyspaces both before and after one is built. */
static void test_open_foreign(void **state)
{
	(void)state;
	const char *path = tu_path("ks-foreign");
	snprintf(where, sizeof where, "opens in another handle's commits");
	unlink(path);
	quire *w = open_db(path, QUIRE_CREATE, 512), *r = open_db(path, 0, 512);
	quire_txn *t, *v;
	char name[32], val[48];
	int nks = 0;
	for (int gen = 0; gen < 6; gen++) {
		ROK(quire_begin(w, 0, &t));
		for (int i = 0; i < nks; i++) { /* every keyspace: new marker */
			snprintf(name, sizeof name, "ks%03d", i);
			snprintf(val, sizeof val, "%s/%d", name, gen);
			ROK(quire_keyspace(t, name, strlen(name), 0, &v));
			ROK(quire_put(v, "k", 1, val, strlen(val)));
		}
		for (int n = nks + 20 + 10 * gen; nks < n; nks++) {
			snprintf(name, sizeof name, "ks%03d", nks);
			snprintf(val, sizeof val, "%s/%d", name, gen);
			ROK(quire_keyspace(t, name, strlen(name), QUIRE_CREATE,
					   &v));
			ROK(quire_put(v, "k", 1, val, strlen(val)));
		}
		/* names moving between ids: a rename, a drop and a creation */
		if (!gen)
			ROK(quire_keyspace(t, "zz", 2, QUIRE_CREATE, &v));
		else
			ROK(quire_keyspace_rename(t, gen % 2 ? "zz" : "zy", 2,
						  gen % 2 ? "zy" : "zz", 2));
		if (gen == 3) {
			ROK(quire_keyspace_drop(t, "zy", 2, NULL));
			ROK(quire_keyspace(t, "zy", 2, QUIRE_CREATE, &v));
		}
		ROK(quire_commit(t));
		char label[64];
		snprintf(label, sizeof label, "commit %d, %d keyspaces", gen,
			 nks);
		const char *cur = gen % 2 ? "zy" : "zz",
			   *gone = gen % 2 ? "zz" : "zy";
		ROK(quire_begin(r, QUIRE_RDONLY, &t));
		for (int i = 0; i < 2; i++) { /* before a catalog, and after */
			ROK(quire_keyspace(t, cur, 2, 0, &v));
			REQ(QUIRE_NOTFOUND, quire_keyspace(t, gone, 2, 0, &v));
			open_all(t, nks, 2, gen, label);
		}
		ROK(quire_commit(t));
	}
	ROK(quire_close(r));
	ROK(quire_close(w));
	unlink(path);
}

/* ---- key history and diff per keyspace ---- */

struct ver {
	int op;
	uint64_t txn;
	const char *val;
};

static void expect_history(quire_txn *t, const void *k, size_t kl,
			   const struct ver *want, size_t n, const char *label)
{
	quire_history *h;
	quire_key_version kv;
	uint64_t last = UINT64_MAX;
	ROK(quire_history_open(t, k, kl, &h));
	for (size_t i = 0; i < n; i++) {
		int rc = quire_history_next(h, &kv);
		if (rc != 0)
			failf("%s: version %zu of %zu: %d (%s)", label, i, n, rc,
			      quire_strerror(rc));
		if (kv.op != want[i].op || kv.txn_id != want[i].txn ||
		    kv.seq >= last ||
		    (want[i].val && !tu_same(kv.value.data, kv.value.size,
					     want[i].val, strlen(want[i].val))))
			failf("%s: version %zu: op %d, txn %llu, seq %llu, "
			      "value '%.*s'; expected op %d, txn %llu, value "
			      "'%s'",
			      label, i, kv.op, (unsigned long long)kv.txn_id,
			      (unsigned long long)kv.seq,
			      (int)(kv.value.size < 40 ? kv.value.size : 40),
			      (const char *)kv.value.data, want[i].op,
			      (unsigned long long)want[i].txn,
			      want[i].val ? want[i].val : "");
		last = kv.seq;
	}
	int rc = quire_history_next(h, &kv);
	if (rc != QUIRE_NOTFOUND)
		failf("%s: more than %zu versions (%d: op %d, txn %llu)", label,
		      n, rc, kv.op, (unsigned long long)kv.txn_id);
	quire_history_close(h);
}

static void diff_views(quire_txn *a, quire_txn *b, const struct model *ma,
		       const struct model *mb, const char *label,
		       size_t want)
{
	quire_diff *d;
	ROK(quire_diff_open(a, b, &d));
	size_t n = model_check_diff(ma, mb, d);
	quire_diff_close(d);
	if (n != want)
		failf("%s: %zu keys differ, expected %zu", label, n, want);
}

static void test_history_diff(void **state)
{
	const char *path = tu_path("ks-hist");
	struct world cur = {0}, w1 = {0}, w4 = {0};
	quire_txn *t, *s1, *s4;
	quire_diff *d;
	uint64_t id[5];
	quire_retention rp = {QUIRE_KEEP_ALL, 0};
	char k[32], v[32];
	snprintf(where, sizeof where, "history and diff");
	quire *db = open_db(path, QUIRE_CREATE, 512);
	ROK(quire_set_retention(db, &rp));

	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("a"));
	dcreate(t, &cur, L("b"));
	dput(t, &cur, NULL, 0, L("k"), "d1");
	dput(t, &cur, L("a"), L("k"), "a1");
	dput(t, &cur, L("b"), L("k"), "b1");
	dput(t, &cur, L("a"), L("only-a"), "x");
	dput(t, &cur, NULL, 0, L("\xff" "k"), "dff");
	/* the same keys in all three, enough for several leaves */
	for (int i = 0; i < 300; i++) {
		snprintf(k, sizeof k, "key%04d", i);
		snprintf(v, sizeof v, "v%d", i);
		dput(t, &cur, NULL, 0, k, strlen(k), v);
		dput(t, &cur, L("a"), k, strlen(k), v);
		dput(t, &cur, L("b"), k, strlen(k), v);
	}
	id[1] = commit_id(t);
	world_copy(&w1, &cur);
	ROK(quire_checkpoint(db));

	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, L("a"), L("k"), "a2");
	dput(t, &cur, NULL, 0, L("k"), "d2");
	id[2] = commit_id(t);

	ROK(quire_begin(db, 0, &t));
	ddel(t, &cur, L("b"), L("k"));
	ddel(t, &cur, L("a"), L("k"));
	id[3] = commit_id(t);

	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, L("a"), L("k"), "a3");
	/* a's changes: some keys changed, deleted, added */
	for (int i = 0; i < 300; i += 7) {
		snprintf(k, sizeof k, "key%04d", i);
		if (i % 2)
			ddel(t, &cur, L("a"), k, strlen(k));
		else
			dput(t, &cur, L("a"), k, strlen(k), "changed");
	}
	dput(t, &cur, L("a"), L("new"), "n");
	dput(t, &cur, NULL, 0, L("\xff" "k"), "dff2");
	id[4] = commit_id(t);
	world_copy(&w4, &cur);

	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	const struct ver hd[] = {{QUIRE_OP_PUT, id[2], "d2"},
				 {QUIRE_OP_PUT, id[1], "d1"}};
	const struct ver ha[] = {{QUIRE_OP_PUT, id[4], "a3"},
				 {QUIRE_OP_DEL, id[3], NULL},
				 {QUIRE_OP_PUT, id[2], "a2"},
				 {QUIRE_OP_PUT, id[1], "a1"}};
	const struct ver hb[] = {{QUIRE_OP_DEL, id[3], NULL},
				 {QUIRE_OP_PUT, id[1], "b1"}};
	const struct ver hff[] = {{QUIRE_OP_PUT, id[4], "dff2"},
				  {QUIRE_OP_PUT, id[1], "dff"}};
	expect_history(t, L("k"), hd, 2, "history of k, default keyspace");
	expect_history(vw(t, NULL, 0), L("k"), hd, 2,
		       "history of k, the default keyspace's view");
	expect_history(vw(t, L("a")), L("k"), ha, 4, "history of a/k");
	expect_history(vw(t, L("b")), L("k"), hb, 2, "history of b/k");
	expect_history(t, L("only-a"), NULL, 0,
		       "history of a's key in the default keyspace");
	expect_history(vw(t, L("b")), L("only-a"), NULL, 0,
		       "history of a's key in b");
	expect_history(t, L("\xff" "k"), hff, 2, "history of a 0xff key");
	ROK(quire_commit(t));
	/* the write transaction's views read committed history too */
	ROK(quire_begin(db, 0, &t));
	expect_history(vw(t, L("a")), L("k"), ha, 4,
		       "history of a/k in a write transaction");
	quire_abort(t);

	ROK(quire_begin_at(db, id[1], &s1));
	ROK(quire_begin(db, QUIRE_RDONLY, &s4));
	diff_views(vw(s1, L("a")), vw(s4, L("a")), wm(&w1, L("a")),
		   wm(&w4, L("a")), "diff of a", 45);
	diff_views(vw(s1, L("b")), vw(s4, L("b")), wm(&w1, L("b")),
		   wm(&w4, L("b")), "diff of b", 1);
	diff_views(s1, s4, &w1.def, &w4.def, "diff of the default keyspace",
		   2);
	diff_views(vw(s4, L("a")), vw(s1, L("a")), wm(&w4, L("a")),
		   wm(&w1, L("a")), "diff of a, reversed", 45);
	diff_views(vw(s1, L("b")), vw(s1, L("b")), wm(&w1, L("b")),
		   wm(&w1, L("b")), "diff of b with itself", 0);
	REQ(QUIRE_EINVAL, quire_diff_open(vw(s1, L("a")), vw(s4, L("b")), &d));
	REQ(QUIRE_EINVAL, quire_diff_open(vw(s1, L("a")), s4, &d));
	REQ(QUIRE_EINVAL, quire_diff_open(s1, vw(s4, L("b")), &d));
	ROK(quire_commit(s1));
	ROK(quire_commit(s4));
	/* the same after a compaction (every commit kept) */
	ROK(quire_compact(db, NULL));
	ROK(quire_begin_at(db, id[1], &s1));
	ROK(quire_begin(db, QUIRE_RDONLY, &s4));
	diff_views(vw(s1, L("a")), vw(s4, L("a")), wm(&w1, L("a")),
		   wm(&w4, L("a")), "diff of a after a compaction", 45);
	expect_history(vw(s4, L("a")), L("k"), ha, 4,
		       "history of a/k after a compaction");
	ROK(quire_commit(s1));
	ROK(quire_commit(s4));
	ROK(quire_close(db));
	unlink(path);
	world_clear(&cur);
	world_clear(&w1);
	world_clear(&w4);
}

/* ---- default keys starting with 0xff; empty keys ---- */

static void test_ff_keys(void **state)
{
	const char *path = tu_path("ks-ff");
	struct world cur = {0}, before = {0};
	quire_txn *t, *v;
	quire_cursor *c;
	quire_val val;
	uint64_t removed, seq0;
	quire_stat st;
	uint8_t *big = malloc(QUIRE_MAX_KEY_SIZE);
	assert_non_null(big);
	snprintf(where, sizeof where, "0xff default keys");
	quire *db = open_db(path, QUIRE_CREATE, 512);
	quire_retention rp = {QUIRE_KEEP_ALL, 0};
	ROK(quire_set_retention(db, &rp));

	/* before any keyspace: some folded into the tree, some pending */
	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, NULL, 0, L("\xff"), "ff");
	dput(t, &cur, NULL, 0, L("\xff\x00"), "ff00");
	dput(t, &cur, NULL, 0, L("\xff\x00\x00"), "ff0000");
	dput(t, &cur, NULL, 0, L("\xff\x01"), "ff01");
	dput(t, &cur, NULL, 0, L("\xff\xff"), "ffff");
	dput(t, &cur, NULL, 0, L(""), "empty");
	dput(t, &cur, NULL, 0, L("a"), "a");
	dput(t, &cur, NULL, 0, L("\xfe\xff"), "feff");
	memset(big, 0xff, QUIRE_MAX_KEY_SIZE);
	ROK(quire_put(t, big, QUIRE_MAX_KEY_SIZE, "bigff", 5));
	model_put(&cur.def, big, QUIRE_MAX_KEY_SIZE, "bigff", 5);
	big[1] = 0;
	ROK(quire_put(t, big, QUIRE_MAX_KEY_SIZE, "bigff00", 7));
	model_put(&cur.def, big, QUIRE_MAX_KEY_SIZE, "bigff00", 7);
	ROK(quire_commit(t));
	ROK(quire_checkpoint(db));
	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, NULL, 0, L("\xff\x01" "abc"), "pending");
	dput(t, &cur, NULL, 0, L("\xff\xff\xff"), "ffffff");
	dput(t, &cur, NULL, 0, L("\xff"), "ff-again");
	ROK(quire_commit(t));
	check_latest(db, &cur, "before any keyspace");
	world_copy(&before, &cur);
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	ROK(quire_txn_stat(t, &st));
	seq0 = st.next_seq;
	ROK(quire_commit(t));

	/* a creation that aborts leaves them as they were */
	ROK(quire_begin(db, 0, &t));
	ROK(quire_keyspace(t, L("ks"), QUIRE_CREATE, &v));
	ROK(quire_put(v, L("\xff"), L("in ks")));
	world_add(&cur, L("ks"), 0);
	model_put(wm(&cur, L("ks")), L("\xff"), L("in ks"));
	check_world(&cur, t, "a first keyspace, in its transaction");
	quire_abort(t);
	check_latest(db, &before, "after the aborted first keyspace");
	world_copy(&cur, &before);

	/* and one that commits */
	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("ks"));
	dcreate(t, &cur, L("\xff"));
	dput(t, &cur, L("ks"), L("\xff"), "in ks");
	dput(t, &cur, L("\xff"), L("\xff\xff"), "in ff");
	dput(t, &cur, NULL, 0, L("\xff\x02"), "ff02");
	check_world(&cur, t, "the first keyspaces, in their transaction");
	uint64_t conv_id = commit_id(t);
	check_latest(db, &cur, "after the first keyspaces");
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	/* cursors of the default keyspace stay inside it */
	ROK(quire_cursor_open(t, &c));
	ROK(quire_cursor_last(c));
	ROK(quire_cursor_key(c, &val));
	memset(big, 0xff, QUIRE_MAX_KEY_SIZE);
	if (!tu_same(val.data, val.size, big, QUIRE_MAX_KEY_SIZE))
		failf("the default keyspace's last key has %zu bytes",
		      val.size);
	REQ(QUIRE_NOTFOUND, quire_cursor_next(c));
	ROK(quire_cursor_seek(c, L("\xff\xff\xff\xff")));
	ROK(quire_cursor_key(c, &val));
	if (val.size != QUIRE_MAX_KEY_SIZE)
		failf("seek past 0xffffffff lands on a key of %zu bytes",
		      val.size);
	quire_cursor_close(c);
	ROK(quire_commit(t));

	/* range deletes of the default keyspace spare the named ones */
	ROK(quire_begin(db, 0, &t));
	ROK(quire_del_prefix(t, L("\xff\x00"), &removed));
	if (removed != model_del_prefix(&cur.def, L("\xff\x00")))
		failf("del_prefix 0xff00 removed %llu",
		      (unsigned long long)removed);
	check_world(&cur, t, "after del_prefix 0xff00");
	ROK(quire_del_range(t, L("\xff\x01"), NULL, 0, &removed));
	if (removed != model_del_range(&cur.def, L("\xff\x01"), NULL, 0))
		failf("del_range 0xff01.. removed %llu",
		      (unsigned long long)removed);
	check_world(&cur, t, "after del_range 0xff01 to the end");
	ROK(quire_commit(t));
	ROK(quire_close(db));
	db = open_db(path, 0, 4096);
	check_latest(db, &cur, "reopened");
	ROK(quire_compact(db, NULL));
	check_latest(db, &cur, "compacted");
	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, NULL, 0, L("\xff\x00"), "back");
	ROK(quire_del_prefix(t, NULL, 0, &removed));
	if (removed != cur.def.n)
		failf("del_prefix of every default key removed %llu, there "
		      "were %zu",
		      (unsigned long long)removed, cur.def.n);
	model_clear(&cur.def);
	check_world(&cur, t, "after deleting every default key");
	ROK(quire_commit(t));
	/* empty keys: in a named keyspace and the default one */
	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, L("ks"), L(""), "empty in ks");
	dput(t, &cur, NULL, 0, L(""), "empty again");
	dput(t, &cur, NULL, 0, L("\xff"), "ff3");
	ROK(quire_cursor_open(vw(t, L("ks")), &c));
	ROK(quire_cursor_first(c));
	ROK(quire_cursor_key(c, &val));
	if (val.size != 0)
		failf("ks's first key is not the empty key");
	quire_cursor_close(c);
	ROK(quire_commit(t));
	check_latest(db, &cur, "with empty keys");
	ROK(quire_begin(db, 0, &t));
	ddel(t, &cur, L("ks"), L(""));
	ROK(quire_commit(t));
	check_latest(db, &cur, "an empty key deleted");
	check_clean(db);
	/* (last, as it fails today) the commit that made the first
	 * keyspaces, as of then */
	ROK(quire_begin_at(db, conv_id, &t));
	/* the feed of that commit holds what it did, no more */
	struct seen s[16];
	size_t n = read_feed(t, seq0 - 1, s, 16);
	if (n != 5)
		failf("the first keyspaces' commit shows %zu feed entries, "
		      "expected 5 (2 creations, 3 puts)",
		      n);
	expect_seen(&s[0], QUIRE_OP_KEYSPACE, s[0].ks, "ks", 0);
	expect_seen(&s[2], QUIRE_OP_PUT, "ks", "\xff", 2);
	expect_seen(&s[4], QUIRE_OP_PUT, "", "\xff\x02", 4);
	/* the old keys keep their history */
	quire_history *h;
	quire_key_version kv;
	ROK(quire_history_open(t, L("\xff"), &h));
	ROK(quire_history_next(h, &kv));
	if (!tu_same(kv.value.data, kv.value.size, L("ff-again")))
		failf("history of default 0xff: newest value of %zu bytes",
		      kv.value.size);
	ROK(quire_history_next(h, &kv));
	if (!tu_same(kv.value.data, kv.value.size, L("ff")))
		failf("history of default 0xff: older value of %zu bytes",
		      kv.value.size);
	REQ(QUIRE_NOTFOUND, quire_history_next(h, &kv));
	quire_history_close(h);
	ROK(quire_commit(t));
	ROK(quire_close(db));
	unlink(path);
	world_clear(&cur);
	world_clear(&before);
	free(big);
}

/* ---- keys of QUIRE_MAX_KEY_SIZE in a keyspace of the longest name ---- */

static void test_max_keys(void **state)
{
	const char *path = tu_path("ks-max");
	struct world cur = {0};
	quire_txn *t, *v;
	uint64_t removed;
	uint8_t *k = malloc(QUIRE_MAX_KEY_SIZE + 1);
	static const uint8_t fills[] = {0xff, 0x00, 'a'};
	assert_non_null(k);
	snprintf(where, sizeof where, "max-size keys");
	pool_init();
	quire *db = open_db(path, QUIRE_CREATE, 512);
	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, name_max2, sizeof name_max2);
	dcreate(t, &cur, name_max1, sizeof name_max1);
	for (int ks = 0; ks < 3; ks++) {
		const uint8_t *nm = ks == 0 ? name_max2 : ks == 1 ? name_max1
								  : NULL;
		size_t nl = nm ? QUIRE_MAX_KEYSPACE_NAME : 0;
		for (size_t f = 0; f < sizeof fills; f++)
			for (int last = 0; last < 3; last++) {
				char val[32];
				memset(k, fills[f], QUIRE_MAX_KEY_SIZE);
				k[QUIRE_MAX_KEY_SIZE - 1] = (uint8_t)(last * 0x7f);
				snprintf(val, sizeof val, "%d/%zu/%d", ks, f,
					 last);
				dput(t, &cur, nm, nl, k, QUIRE_MAX_KEY_SIZE,
				     val);
				dput(t, &cur, nm, nl, k, 1 + last, val);
			}
		memset(k, 'z', QUIRE_MAX_KEY_SIZE + 1);
		REQ(QUIRE_ETOOBIG, quire_put(vw(t, nm, nl), k,
					     QUIRE_MAX_KEY_SIZE + 1, "x", 1));
		ROK(quire_keyspace(t, nm, nl, 0, &v));
	}
	check_world(&cur, t, "max-size keys, in their transaction");
	ROK(quire_commit(t));
	check_latest(db, &cur, "max-size keys, committed");
	ROK(quire_checkpoint(db));
	check_latest(db, &cur, "max-size keys, folded into the tree");
	ROK(quire_close(db));
	db = open_db(path, 0, 4096);
	check_latest(db, &cur, "max-size keys, reopened");
	ROK(quire_compact(db, NULL));
	check_latest(db, &cur, "max-size keys, compacted");
	/* a prefix delete over the 0xff max keys of the 0xff-named one */
	ROK(quire_begin(db, 0, &t));
	memset(k, 0xff, 100);
	ROK(quire_del_prefix(vw(t, name_max2, sizeof name_max2), k, 100,
			     &removed));
	if (removed != model_del_prefix(wm(&cur, name_max2, sizeof name_max2),
					k, 100))
		failf("del_prefix of 100 0xff bytes removed %llu",
		      (unsigned long long)removed);
	ddrop(t, &cur, name_max1, sizeof name_max1);
	check_world(&cur, t, "after a prefix delete and a drop");
	ROK(quire_commit(t));
	check_latest(db, &cur, "after a prefix delete and a drop");
	check_clean(db);
	ROK(quire_close(db));
	unlink(path);
	world_clear(&cur);
	free(k);
}

/* ---- bad input ---- */

static void test_bad_input(void **state)
{
	const char *path = tu_path("ks-bad");
	struct world cur = {0};
	quire_txn *t, *r, *v, *a, *ro;
	quire_cursor *c;
	quire_changes *f;
	quire_history *h;
	quire_val val;
	uint64_t removed;
	uint8_t name256[QUIRE_MAX_KEYSPACE_NAME + 1];
	struct listing l = {0};
	memset(name256, 'x', sizeof name256);
	snprintf(where, sizeof where, "bad input");
	quire *db = open_db(path, QUIRE_CREATE, 0);
	ROK(quire_begin(db, 0, &t));
	dput(t, &cur, NULL, 0, L("d"), "1");
	dcreate(t, &cur, L("a"));
	dcreate(t, &cur, L("b"));
	dput(t, &cur, L("a"), L("k"), "ak");

	/* names */
	REQ(QUIRE_EINVAL, quire_keyspace(t, "", 0, QUIRE_CREATE, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, "", 0, 0, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, name256, sizeof name256,
					 QUIRE_CREATE, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, name256, sizeof name256, 0, &v));
	ROK(quire_keyspace(t, name256, QUIRE_MAX_KEYSPACE_NAME, QUIRE_CREATE,
			   &v));
	world_add(&cur, name256, QUIRE_MAX_KEYSPACE_NAME, 0);
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, L("nope"), 0, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, L("x"), 0x80, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, L("x"), QUIRE_CREATE | 0x100, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(NULL, L("a"), 0, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, L("a"), 0, NULL));
	REQ(QUIRE_EINVAL, quire_keyspace(t, NULL, 3, 0, &v));
	/* rename */
	REQ(QUIRE_EINVAL, quire_keyspace_rename(t, "", 0, L("y")));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(t, L("a"), "", 0));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(t, L("a"), NULL, 0));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(t, L("a"), name256,
						sizeof name256));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(t, name256, sizeof name256,
						L("y")));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(NULL, L("a"), L("y")));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(t, NULL, 1, L("y")));
	REQ(QUIRE_NOTFOUND, quire_keyspace_rename(t, L("nope"), L("y")));
	REQ(QUIRE_EEXIST, quire_keyspace_rename(t, L("a"), L("b")));
	int rc = quire_keyspace_rename(t, NULL, 0, L("y"));
	if (rc != QUIRE_EINVAL && rc != QUIRE_NOTFOUND)
		failf("renaming the default keyspace = %d (%s)", rc,
		      quire_strerror(rc));
	/* drop */
	REQ(QUIRE_EINVAL, quire_keyspace_drop(NULL, L("a"), &removed));
	REQ(QUIRE_EINVAL, quire_keyspace_drop(t, "", 0, &removed));
	REQ(QUIRE_EINVAL, quire_keyspace_drop(t, name256, sizeof name256,
					      &removed));
	REQ(QUIRE_EINVAL, quire_keyspace_drop(t, NULL, 2, &removed));
	REQ(QUIRE_NOTFOUND, quire_keyspace_drop(t, L("nope"), &removed));
	rc = quire_keyspace_drop(t, NULL, 0, &removed);
	if (rc != QUIRE_EINVAL && rc != QUIRE_NOTFOUND)
		failf("dropping the default keyspace = %d (%s)", rc,
		      quire_strerror(rc));
	/* list, stat */
	REQ(QUIRE_EINVAL, quire_keyspace_list(NULL, list_cb, &l));
	REQ(QUIRE_EINVAL, quire_keyspace_list(t, NULL, &l));
	REQ(QUIRE_EINVAL, quire_keyspace_stat(NULL, &removed, NULL));
	/* keys too long through a view */
	{
		uint8_t *k = calloc(1, QUIRE_MAX_KEY_SIZE + 1);
		assert_non_null(k);
		REQ(QUIRE_ETOOBIG, quire_put(vw(t, L("a")), k,
					     QUIRE_MAX_KEY_SIZE + 1, "", 0));
		REQ(QUIRE_ETOOBIG, quire_get(vw(t, L("a")), k,
					     QUIRE_MAX_KEY_SIZE + 1, &val));
		free(k);
	}
	check_world(&cur, t, "after refused calls");

	/* commit and abort of a view are refused; the transaction goes on */
	a = vw(t, L("a"));
	if (quire_txn_id(a) != quire_txn_id(t))
		failf("a view's txn id %llu, its transaction's %llu",
		      (unsigned long long)quire_txn_id(a),
		      (unsigned long long)quire_txn_id(t));
	REQ(QUIRE_EINVAL, quire_commit(a));
	REQ(QUIRE_EINVAL, quire_commit_with(a, "m", 1));
	quire_abort(a);
	dput(t, &cur, L("a"), L("k2"), "after the refused commit");
	ROK(quire_get(a, L("k"), &val));
	check_world(&cur, t, "after commit and abort of a view");

	/* a view of a keyspace dropped in this transaction has ended */
	quire_txn *b = vw(t, L("b"));
	ROK(quire_cursor_open(b, &c));
	ddrop(t, &cur, L("b"));
	REQ(QUIRE_EINVAL, quire_get(b, L("k"), &val));
	REQ(QUIRE_EINVAL, quire_put(b, L("k"), L("v")));
	REQ(QUIRE_EINVAL, quire_del_prefix(b, NULL, 0, &removed));
	REQ(QUIRE_EINVAL, quire_keyspace_stat(b, &removed, NULL));
	rc = quire_cursor_first(c);
	if (rc != QUIRE_EINVAL && rc != QUIRE_NOTFOUND)
		failf("a cursor on a dropped keyspace's view: %d (%s)", rc,
		      quire_strerror(rc));
	quire_cursor_close(c);
	/* the name again: a new, empty keyspace; the old view stays ended */
	dcreate(t, &cur, L("b"));
	REQ(QUIRE_EINVAL, quire_get(b, L("k"), &val));
	dput(t, &cur, L("b"), L("fresh"), "1");
	REQ(QUIRE_EINVAL, quire_get(b, L("fresh"), &val));

	/* views end with their transaction */
	quire_cursor *c2 = NULL;
	ROK(quire_cursor_open(a, &c));
	ROK(quire_cursor_first(c));
	uint64_t id = commit_id(t);
	REQ(QUIRE_EINVAL, quire_cursor_first(c));
	REQ(QUIRE_EINVAL, quire_cursor_key(c, &val));
	REQ(QUIRE_EINVAL, quire_get(a, L("k"), &val));
	REQ(QUIRE_EINVAL, quire_put(a, L("k"), L("v")));
	REQ(QUIRE_EINVAL, quire_cursor_open(a, &c2));
	REQ(QUIRE_EINVAL, quire_keyspace_stat(a, &removed, NULL));
	REQ(QUIRE_EINVAL, quire_changes_open(a, 0, &f));
	REQ(QUIRE_EINVAL, quire_history_open(a, L("k"), &h));
	REQ(QUIRE_EINVAL, quire_keyspace(a, L("a"), 0, &v));
	REQ(QUIRE_EINVAL, quire_keyspace(t, L("a"), 0, &v));
	REQ(QUIRE_EINVAL, quire_keyspace_list(t, list_cb, &l));
	REQ(QUIRE_EINVAL, quire_commit(a));
	quire_abort(a);
	if (quire_txn_id(a) != 0)
		failf("an ended view's txn id: %llu",
		      (unsigned long long)quire_txn_id(a));
	/* (c was opened before the commit) */
	quire_cursor_close(c);
	check_latest(db, &cur, "committed");

	/* read-only transactions create, rename, drop and write nothing */
	ROK(quire_begin(db, QUIRE_RDONLY, &r));
	if (quire_txn_id(r) != id)
		failf("snapshot of %llu after commit %llu",
		      (unsigned long long)quire_txn_id(r),
		      (unsigned long long)id);
	REQ(QUIRE_EINVAL, quire_keyspace(r, L("new"), QUIRE_CREATE, &v));
	REQ(QUIRE_EINVAL, quire_keyspace_rename(r, L("a"), L("z")));
	REQ(QUIRE_EINVAL, quire_keyspace_drop(r, L("a"), &removed));
	ro = vw(r, L("a"));
	REQ(QUIRE_EINVAL, quire_put(ro, L("k"), L("v")));
	REQ(QUIRE_EINVAL, quire_del(ro, L("k")));
	REQ(QUIRE_EINVAL, quire_del_range(ro, NULL, 0, NULL, 0, &removed));
	REQ(QUIRE_EINVAL, quire_commit(ro));
	ROK(quire_get(ro, L("k"), &val));
	check_world(&cur, r, "a snapshot after refused writes");
	ROK(quire_commit(r));
	REQ(QUIRE_EINVAL, quire_get(ro, L("k"), &val));
	REQ(QUIRE_EINVAL, quire_keyspace_stat(ro, &removed, NULL));
	check_latest(db, &cur, "after the snapshot");

	/* a keyspace created in an aborted transaction never was */
	ROK(quire_begin(db, 0, &t));
	ROK(quire_keyspace(t, L("gone"), QUIRE_CREATE, &v));
	ROK(quire_put(v, L("k"), L("v")));
	quire_abort(t);
	REQ(QUIRE_EINVAL, quire_get(v, L("k"), &val));
	check_latest(db, &cur, "after an aborted creation");
	/* QUIRE_CREATE of an existing keyspace alone commits nothing */
	ROK(quire_begin(db, 0, &t));
	ROK(quire_keyspace(t, L("a"), QUIRE_CREATE, &v));
	ROK(quire_get(v, L("k"), &val));
	ROK(quire_commit(t));
	ROK(quire_begin(db, QUIRE_RDONLY, &r));
	if (quire_txn_id(r) != id)
		failf("a transaction that only opened an existing keyspace "
		      "committed (txn %llu, last %llu)",
		      (unsigned long long)quire_txn_id(r),
		      (unsigned long long)id);
	ROK(quire_commit(r));
	/* a creation alone commits */
	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("empty"));
	if (commit_id(t) != id + 1)
		failf("a transaction that only created a keyspace did not "
		      "commit");
	check_latest(db, &cur, "after a creation alone");
	/* (last, as it fails today) QUIRE_CREATE in a read-only
	 * transaction is refused, also when the keyspace exists */
	ROK(quire_begin(db, QUIRE_RDONLY, &r));
	rc = quire_keyspace(r, L("a"), QUIRE_CREATE, &v);
	ROK(quire_commit(r));
	if (rc != QUIRE_EINVAL)
		failf("QUIRE_CREATE of an existing keyspace in a read-only "
		      "transaction = %d (%s), expected QUIRE_EINVAL",
		      rc, quire_strerror(rc));
	ROK(quire_close(db));
	unlink(path);
	world_clear(&cur);
}

/* ---- compatibility: files without keyspaces ---- */

static void test_compat(void **state)
{
	const char *path = tu_path("ks-compat");
	struct world cur = {0};
	quire_txn *t, *v;
	struct listing l = {0};
	quire_val val;
	char k[32];
	snprintf(where, sizeof where, "compatibility");
	quire *db = open_db(path, QUIRE_CREATE, 0);
	for (int c = 0; c < 5; c++) {
		ROK(quire_begin(db, 0, &t));
		for (int i = 0; i < 50; i++) {
			snprintf(k, sizeof k, "%ckey%03d", c % 2 ? 0xff : 'k',
				 c * 50 + i);
			dput(t, &cur, NULL, 0, k, strlen(k), k);
		}
		ROK(quire_commit(t));
	}
	ROK(quire_close(db));
	db = open_db(path, 0, 0);
	check_latest(db, &cur, "a file without keyspaces, reopened");
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	ROK(quire_keyspace_list(t, list_cb, &l));
	if (l.n)
		failf("a file without keyspaces lists %zu", l.n);
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, L("x"), 0, &v));
	ROK(quire_get(vw(t, NULL, 0), L("kkey000"), &val));
	uint64_t id = commit_id(t);
	/* looking up a keyspace commits nothing */
	ROK(quire_begin(db, 0, &t));
	REQ(QUIRE_NOTFOUND, quire_keyspace(t, L("x"), 0, &v));
	ROK(quire_commit(t));
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	if (commit_id(t) != id)
		failf("a failed lookup committed");
	/* a read-only handle */
	quire *ro = open_db(path, QUIRE_RDONLY, 0);
	check_latest(ro, &cur, "read-only handle, no keyspaces");
	/* the first keyspace; the other handle follows */
	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("k"));
	dput(t, &cur, L("k"), L("kkey000"), "in k");
	dput(t, &cur, NULL, 0, L("\xff" "new"), "new default");
	ROK(quire_commit(t));
	check_latest(db, &cur, "with a keyspace");
	check_latest(ro, &cur, "the read-only handle, with a keyspace");
	ROK(quire_close(ro));
	ROK(quire_close(db));
	db = open_db(path, 0, 0);
	check_latest(db, &cur, "with a keyspace, reopened");
	check_clean(db);
	ro = open_db(path, QUIRE_RDONLY, 0);
	check_latest(ro, &cur, "a new read-only handle, with a keyspace");
	ROK(quire_close(ro));
	/* every keyspace dropped: the default one goes on */
	ROK(quire_begin(db, 0, &t));
	ddrop(t, &cur, L("k"));
	ROK(quire_commit(t));
	ROK(quire_close(db));
	db = open_db(path, 0, 0);
	check_latest(db, &cur, "all keyspaces dropped, reopened");
	ROK(quire_begin(db, 0, &t));
	dcreate(t, &cur, L("k"));
	dput(t, &cur, L("k"), L("again"), "1");
	ROK(quire_commit(t));
	ROK(quire_compact(db, NULL));
	ROK(quire_close(db));
	db = open_db(path, 0, 0);
	check_latest(db, &cur, "created again, compacted, reopened");
	check_clean(db);
	ROK(quire_close(db));
	unlink(path);
	world_clear(&cur);
	listing_free(&l);
}

/* ---- crash safety ---- */

enum { C_PUT, C_DEL, C_CREATE, C_DROP, C_RENAME, C_PREFIX, C_COMMIT };
struct cop {
	int kind;
	const char *ks; /* NULL: the default keyspace; C_RENAME: from */
	size_t ksl;
	const char *k; /* C_RENAME: to */
	size_t kl;
	const char *v;
	size_t vl;
};
static char crash_big[3000];
#define CK(s) s, sizeof(s) - 1
static const struct cop crash_plan[] = {
	{C_PUT, NULL, 0, CK("a"), CK("1")},
	{C_PUT, NULL, 0, CK("\xff"), CK("ff")},
	{C_PUT, NULL, 0, CK("\xff\x00"), CK("ff00")},
	{C_PUT, NULL, 0, CK("\xff\xff"), CK("ffff")},
	{C_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{C_CREATE, CK("k1"), NULL, 0, NULL, 0},
	{C_CREATE, CK("k2"), NULL, 0, NULL, 0},
	{C_PUT, CK("k1"), CK("a"), CK("k1a")},
	{C_PUT, CK("k1"), CK("\xff"), CK("k1ff")},
	{C_PUT, CK("k2"), CK("a"), CK("k2a")},
	{C_PUT, CK("k2"), CK("b"), crash_big, sizeof crash_big},
	{C_PUT, NULL, 0, CK("\xff\x01"), CK("z")},
	{C_DEL, NULL, 0, CK("a"), NULL, 0},
	{C_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{C_PUT, CK("k1"), CK("c"), CK("k1c")},
	{C_PREFIX, CK("k2"), CK(""), NULL, 0},
	{C_RENAME, CK("k1"), CK("k3"), NULL, 0},
	{C_CREATE, CK("k4"), NULL, 0, NULL, 0},
	{C_PUT, CK("k4"), CK("x"), CK("k4x")},
	{C_PUT, NULL, 0, CK("b"), CK("2")},
	{C_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{C_DROP, CK("k2"), NULL, 0, NULL, 0},
	{C_PUT, CK("k3"), CK("d"), CK("k3d")},
	{C_PUT, CK("k4"), CK("y"), crash_big, sizeof crash_big},
	{C_PUT, NULL, 0, CK("c"), CK("3")},
	{C_COMMIT, NULL, 0, NULL, 0, NULL, 0},
};
#define CRASH_OPS (sizeof crash_plan / sizeof crash_plan[0])
#define CRASH_COMMITS 4

/* The world after each commit of the plan. */
static void crash_states(struct world *st)
{
	struct world w = {0};
	int c = 0;
	world_copy(&st[0], &w);
	for (size_t i = 0; i < CRASH_OPS; i++) {
		const struct cop *o = &crash_plan[i];
		struct model *m = NULL;
		int j;
		if (o->kind == C_PUT || o->kind == C_DEL || o->kind == C_PREFIX)
			m = o->ks ? &w.v[world_find(&w, o->ks, o->ksl)].m
				  : &w.def;
		switch (o->kind) {
		case C_PUT: model_put(m, o->k, o->kl, o->v, o->vl); break;
		case C_DEL: model_del(m, o->k, o->kl); break;
		case C_PREFIX: model_del_prefix(m, o->k, o->kl); break;
		case C_CREATE: world_add(&w, o->ks, o->ksl, 0); break;
		case C_DROP:
			world_remove(&w, (size_t)world_find(&w, o->ks, o->ksl));
			break;
		case C_RENAME:
			j = world_find(&w, o->ks, o->ksl);
			free(w.v[j].name);
			w.v[j].name = tu_dup(o->k, o->kl);
			w.v[j].nlen = o->kl;
			break;
		case C_COMMIT: world_copy(&st[++c], &w); break;
		}
	}
	world_clear(&w);
}

struct cres {
	int created, acked, inflight;
};

static int crash_open(qvfs *vfs, unsigned long ckpt, unsigned flags,
		      quire **db)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = flags;
	o.node_size = 512;
	o.cache_size = (size_t)1 << 20;
	o.auto_compact_ratio = 0;
	if (ckpt)
		o.checkpoint_ops = ckpt;
	return qdb_open_vfs("/ks.quire", &o, vfs, db);
}

/* Play the plan until the first failure. */
static void crash_run(qvfs *vfs, unsigned long ckpt, struct cres *res)
{
	quire *db;
	quire_txn *t = NULL, *v;
	uint64_t n;
	int e = 0;
	*res = (struct cres){0};
	if (crash_open(vfs, ckpt, QUIRE_CREATE, &db))
		return;
	res->created = 1;
	for (size_t i = 0; i < CRASH_OPS && !e; i++) {
		const struct cop *o = &crash_plan[i];
		if (!t) {
			if ((e = quire_begin(db, 0, &t)) != 0)
				break;
			res->inflight = 1;
		}
		v = t;
		if (o->ks && (o->kind == C_PUT || o->kind == C_DEL ||
			      o->kind == C_PREFIX) &&
		    (e = quire_keyspace(t, o->ks, o->ksl, 0, &v)) != 0)
			break;
		switch (o->kind) {
		case C_PUT: e = quire_put(v, o->k, o->kl, o->v, o->vl); break;
		case C_DEL: e = quire_del(v, o->k, o->kl); break;
		case C_PREFIX:
			e = quire_del_prefix(v, o->k, o->kl, &n);
			break;
		case C_CREATE:
			e = quire_keyspace(t, o->ks, o->ksl, QUIRE_CREATE, &v);
			break;
		case C_DROP:
			e = quire_keyspace_drop(t, o->ks, o->ksl, &n);
			break;
		case C_RENAME:
			e = quire_keyspace_rename(t, o->ks, o->ksl, o->k,
						  o->kl);
			break;
		case C_COMMIT:
			e = quire_commit(t);
			t = NULL;
			if (!e) {
				res->acked++;
				res->inflight = 0;
			}
			break;
		}
	}
	if (t)
		quire_abort(t);
	if (quire_close(db))
		failf("close after the crash: %s", quire_errmsg());
}

/* ---- readers in threads while a writer renames and drops ---- */

#define TR_NAMES 6
#define TR_COMMITS 400

static const char *const tr_names[TR_NAMES] = {"a", "b", "c", "dd", "\xff",
					       "e\x00"};

struct tr_ctx {
	quire *db;
	_Atomic int done;
	_Atomic long bad;
	char why[256];
	pthread_mutex_t mu;
};

static void tr_bad(struct tr_ctx *x, const char *what, const char *name)
{
	pthread_mutex_lock(&x->mu);
	if (!atomic_fetch_add(&x->bad, 1))
		snprintf(x->why, sizeof x->why, "%s (keyspace %s)", what,
			 name);
	pthread_mutex_unlock(&x->mu);
}

/* Every snapshot: a keyspace named n holds key k = "n:..." (the writer
 * rewrites it in the commit that renames), and the list names exactly the
 * keyspaces that open. */
static void *tr_reader(void *arg)
{
	struct tr_ctx *x = arg;
	while (!atomic_load(&x->done)) {
		quire_txn *t, *v;
		quire_val val;
		if (quire_begin(x->db, QUIRE_RDONLY, &t) != 0) {
			tr_bad(x, "begin", "");
			break;
		}
		for (int i = 0; i < TR_NAMES; i++) {
			const char *n = tr_names[i];
			size_t nl = strlen(n) + (n[0] == 'e');
			int e = quire_keyspace(t, n, nl, 0, &v);
			if (e == QUIRE_NOTFOUND)
				continue;
			if (e || quire_get(v, "k", 1, &val) != 0)
				tr_bad(x, "open or get", n);
			else if (val.size < nl + 1 ||
				 memcmp(val.data, n, nl) != 0 ||
				 ((const char *)val.data)[nl] != ':')
				tr_bad(x, "a value of another keyspace", n);
		}
		quire_abort(t);
	}
	return NULL;
}

/* "name:c" into val (name may hold a NUL), its length. */
static size_t tr_val(char *val, const char *name, size_t nl, int c)
{
	memcpy(val, name, nl);
	return nl + (size_t)sprintf(val + nl, ":%d", c);
}

static void test_threads(void **state)
{
	(void)state;
	const char *path = tu_path("ks-threads");
	struct tr_ctx x = {.mu = PTHREAD_MUTEX_INITIALIZER};
	int live[TR_NAMES] = {0};
	pthread_t th[2];
	uint64_t seed = 7;
	snprintf(where, sizeof where, "readers in threads");
	x.db = open_db(path, QUIRE_CREATE, 512);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, tr_reader, &x),
				 0);
	for (int c = 0; c < TR_COMMITS; c++) {
		quire_txn *t, *v;
		char val[64];
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int i = (int)(seed >> 33) % TR_NAMES;
		int j = (int)(seed >> 45) % TR_NAMES, act = (int)(seed >> 60);
		const char *n = tr_names[i], *m = tr_names[j];
		size_t nl = strlen(n) + (n[0] == 'e');
		size_t ml = strlen(m) + (m[0] == 'e');
		ROK(quire_begin(x.db, 0, &t));
		if (live[i] && act < 3) {
			ROK(quire_keyspace_drop(t, n, nl, NULL));
			live[i] = 0;
		} else if (live[i] && !live[j] && act < 8) {
			ROK(quire_keyspace_rename(t, n, nl, m, ml));
			ROK(quire_keyspace(t, m, ml, 0, &v));
			ROK(quire_put(v, "k", 1, val, tr_val(val, m, ml, c)));
			live[i] = 0;
			live[j] = 1;
		} else {
			ROK(quire_keyspace(t, n, nl, QUIRE_CREATE, &v));
			ROK(quire_put(v, "k", 1, val, tr_val(val, n, nl, c)));
			ROK(quire_put(t, "k", 1, "default", 7));
			live[i] = 1;
		}
		ROK(quire_commit(t));
		if (c % 100 == 99)
			ROK(quire_checkpoint(x.db));
	}
	atomic_store(&x.done, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&x.bad))
		failf("%ld bad reads, the first: %s", atomic_load(&x.bad),
		      x.why);
	ROK(quire_close(x.db));
	unlink(path);
}

static void test_crash(void **state)
{
	struct world st[CRASH_COMMITS + 1], post = {0};
	struct cres res;
	uint64_t states = 0, found[CRASH_COMMITS + 1] = {0};
	memset(st, 0, sizeof st);
	memset(crash_big, 'B', sizeof crash_big);
	crash_states(st);
	static const unsigned long ckpts[] = {0, 1};
	for (size_t ci = 0; ci < 2; ci++) {
		unsigned long ckpt = ckpts[ci];
		struct memvfs *m = memvfs_new(7);
		crash_run(memvfs_vfs(m), ckpt, &res);
		snprintf(where, sizeof where, "crash, checkpoint_ops %lu, clean",
			 ckpt);
		if (res.acked != CRASH_COMMITS)
			failf("the clean run acknowledged %d commits: %s",
			      res.acked, quire_errmsg());
		uint64_t points = memvfs_calls(m, MV_MUTATE | MV_DIR);
		/* the clean run's result */
		quire *db;
		quire_txn *t;
		ROK(crash_open(memvfs_vfs(m), ckpt, 0, &db));
		ROK(quire_begin(db, QUIRE_RDONLY, &t));
		check_world(&st[CRASH_COMMITS], t, "the clean run");
		ROK(quire_commit(t));
		ROK(quire_close(db));
		memvfs_free(m);
		for (uint64_t n = 1; n <= points; n++)
			for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
				snprintf(where, sizeof where,
					 "crash, checkpoint_ops %lu, at call "
					 "%llu of %llu, mode %d",
					 ckpt, (unsigned long long)n,
					 (unsigned long long)points, mode);
				m = memvfs_new(7);
				memvfs_crash_at(m, MV_MUTATE | MV_DIR, n);
				crash_run(memvfs_vfs(m), ckpt, &res);
				memvfs_crash(m, (enum mv_crash)mode,
					     n * 31 + (uint64_t)mode);
				ROK(crash_open(memvfs_vfs(m), ckpt,
					       res.created ? 0 : QUIRE_CREATE,
					       &db));
				ROK(quire_begin(db, QUIRE_RDONLY, &t));
				int s = -1;
				for (int i = res.acked + res.inflight;
				     i >= res.acked && s < 0; i--)
					if (same_world(&st[i], t))
						s = i;
				if (s < 0) {
					/* say what it holds instead */
					int other = -1;
					for (int i = 0; i <= CRASH_COMMITS; i++)
						if (same_world(&st[i], t))
							other = i;
					failf("the reopened file holds none of "
					      "commits %d..%d (it holds commit "
					      "%d; -1: none of the plan's)",
					      res.acked,
					      res.acked + res.inflight, other);
				}
				ROK(quire_commit(t));
				found[s]++;
				check_clean(db);
				/* writing goes on */
				world_copy(&post, &st[s]);
				ROK(quire_begin(db, 0, &t));
				dcreate(t, &post, L("post"));
				dput(t, &post, L("post"), L("\xff"), "p");
				dput(t, &post, NULL, 0, L("\xff\x09"), "q");
				ROK(quire_commit(t));
				ROK(quire_close(db));
				ROK(crash_open(memvfs_vfs(m), ckpt, 0, &db));
				ROK(quire_begin(db, QUIRE_RDONLY, &t));
				check_world(&post, t, "after the crash, a commit "
						      "and a reopen");
				ROK(quire_commit(t));
				ROK(quire_close(db));
				memvfs_free(m);
				states++;
			}
	}
	print_message("# keyspace crash states checked: %llu (holding commit "
		      "0: %llu, 1: %llu, 2: %llu, 3: %llu, 4: %llu)\n",
		      (unsigned long long)states,
		      (unsigned long long)found[0],
		      (unsigned long long)found[1],
		      (unsigned long long)found[2],
		      (unsigned long long)found[3],
		      (unsigned long long)found[4]);
	if (states < 200 || !found[1] || !found[2] || !found[3] || !found[4])
		failf("too few crash states (%llu) or a commit never found",
		      (unsigned long long)states);
	for (int i = 0; i <= CRASH_COMMITS; i++)
		world_clear(&st[i]);
	world_clear(&post);
}

/* ---- I/O faults ---- */

/* The plan test_faults plays over keyspace commits: the first keyspaces of
 * a file whose default keyspace holds keys starting with 0xff (folded into
 * the tree first, so the escaping rewrites tree keys), puts into two
 * keyspaces in one commit, a rename, a reopen, a drop (a range delete: its
 * commit is a checkpoint), the dropped name created again, and reads of
 * quire_keyspace_list/stat and the feed between commits. */
enum { F_PUT, F_DEL, F_CREATE, F_DROP, F_RENAME, F_COMMIT, F_CKPT, F_REOPEN,
       F_READ };
static char fault_big[3000];
static const struct cop fault_plan[] = {
	{F_PUT, NULL, 0, CK("a"), CK("1")},
	{F_PUT, NULL, 0, CK("\xff"), CK("ff")},
	{F_PUT, NULL, 0, CK("\xff\x00"), CK("ff00")},
	{F_PUT, NULL, 0, CK("\xff\xff"), fault_big, sizeof fault_big},
	{F_PUT, NULL, 0, CK("b"), CK("2")},
	{F_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{F_CKPT, NULL, 0, NULL, 0, NULL, 0},
	{F_CREATE, CK("k1"), NULL, 0, NULL, 0},
	{F_CREATE, CK("k2"), NULL, 0, NULL, 0},
	{F_PUT, CK("k1"), CK("a"), CK("k1a")},
	{F_PUT, CK("k1"), CK("\xff"), CK("k1ff")},
	{F_PUT, CK("k2"), CK("a"), CK("k2a")},
	{F_PUT, CK("k2"), CK("b"), fault_big, sizeof fault_big},
	{F_PUT, CK("k2"), CK("c"), CK("k2c")},
	{F_PUT, NULL, 0, CK("\xff\x01"), CK("z")},
	{F_DEL, NULL, 0, CK("a"), NULL, 0},
	{F_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{F_READ, NULL, 0, NULL, 0, NULL, 0},
	{F_RENAME, CK("k1"), CK("k3"), NULL, 0},
	{F_PUT, CK("k3"), CK("d"), CK("k3d")},
	{F_PUT, CK("k2"), CK("d"), CK("k2d")},
	{F_CREATE, CK("k4"), NULL, 0, NULL, 0},
	{F_PUT, CK("k4"), CK("x"), CK("k4x")},
	{F_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{F_REOPEN, NULL, 0, NULL, 0, NULL, 0},
	{F_DROP, CK("k2"), NULL, 0, NULL, 0},
	{F_PUT, CK("k3"), CK("e"), fault_big, sizeof fault_big},
	{F_PUT, NULL, 0, CK("c"), CK("3")},
	{F_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{F_READ, NULL, 0, NULL, 0, NULL, 0},
	{F_CREATE, CK("k2"), NULL, 0, NULL, 0},
	{F_PUT, CK("k2"), CK("a"), CK("again")},
	{F_DEL, CK("k3"), CK("a"), NULL, 0},
	{F_RENAME, CK("k4"), CK("k5"), NULL, 0},
	{F_COMMIT, NULL, 0, NULL, 0, NULL, 0},
	{F_READ, NULL, 0, NULL, 0, NULL, 0},
};
#define FAULT_OPS (sizeof fault_plan / sizeof fault_plan[0])
#define FAULT_COMMITS 5
#define MAX_KEV 16

/* A keyspace event of the unfiltered feed: a creation or rename
 * (QUIRE_OP_KEYSPACE), a named keyspace's range delete (the drop's) and
 * the drop. ident: which keyspace (numbers are never reused). */
struct kev {
	int commit, op, ident;
	const char *name; /* the new name; the dropped keyspace's name */
	size_t nl;
	const char *from; /* a rename's old name (NULL: a creation) */
	size_t fl;
	uint64_t count; /* the drop's range: the keys removed */
};

struct fmodel {
	struct world st[FAULT_COMMITS + 1]; /* after each commit */
	struct kev ev[MAX_KEV];
	size_t nev;
};

static void fault_model(struct fmodel *fm)
{
	struct world w = {0};
	int c = 0, idents = 0;
	memset(fm, 0, sizeof *fm);
	for (size_t i = 0; i < FAULT_OPS; i++) {
		const struct cop *o = &fault_plan[i];
		struct model *m = NULL;
		int j = o->ks ? world_find(&w, o->ks, o->ksl) : -1;
		struct kev *e = &fm->ev[fm->nev];
		assert_true(fm->nev + 2 <= MAX_KEV);
		if (o->kind == F_PUT || o->kind == F_DEL)
			m = o->ks ? &w.v[j].m : &w.def;
		switch (o->kind) {
		case F_PUT: model_put(m, o->k, o->kl, o->v, o->vl); break;
		case F_DEL: assert_true(model_del(m, o->k, o->kl)); break;
		case F_CREATE:
			world_add(&w, o->ks, o->ksl, ++idents);
			*e = (struct kev){c + 1, QUIRE_OP_KEYSPACE, idents,
					  o->ks, o->ksl, NULL, 0, 0};
			fm->nev++;
			break;
		case F_RENAME:
			*e = (struct kev){c + 1, QUIRE_OP_KEYSPACE,
					  w.v[j].ident, o->k, o->kl, o->ks,
					  o->ksl, 0};
			fm->nev++;
			free(w.v[j].name);
			w.v[j].name = tu_dup(o->k, o->kl);
			w.v[j].nlen = o->kl;
			break;
		case F_DROP:
			*e = (struct kev){c + 1, QUIRE_OP_KEYSPACE_DROP,
					  w.v[j].ident, o->ks, o->ksl, NULL, 0,
					  w.v[j].m.n};
			fm->nev++;
			world_remove(&w, (size_t)j);
			break;
		case F_COMMIT:
			assert_true(c < FAULT_COMMITS);
			world_copy(&fm->st[++c], &w);
			break;
		}
	}
	assert_int_equal(c, FAULT_COMMITS);
	world_clear(&w);
}

static void fault_model_free(struct fmodel *fm)
{
	for (int i = 0; i <= FAULT_COMMITS; i++)
		world_clear(&fm->st[i]);
}

/* A configuration of the handle, and what a run did. */
struct fcfg {
	const char *name;
	unsigned flags;
	unsigned long ckpt;
};

struct fres {
	int created, acked, inflight; /* as in workload.h */
	int err, poisoned;            /* poisoned: checked EFATAL after it */
	char what[64], msg[512];      /* the call that failed, its message */
	uint64_t ids[FAULT_COMMITS + 1]; /* txn id of each commit begun */
};

static int fault_open(qvfs *vfs, const struct fcfg *cfg, unsigned flags,
		      quire **db)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = flags | cfg->flags;
	o.node_size = 512;
	o.cache_size = (size_t)1 << 20;
	o.auto_compact_ratio = 0;
	if (cfg->ckpt)
		o.checkpoint_ops = cfg->ckpt;
	return qdb_open_vfs("/ksf.quire", &o, vfs, db);
}

/* The keyspace events of t's unfiltered feed are those of commits
 * 1..upto (ids: their txn ids), with one number per keyspace, never two;
 * returns what a feed call failed with (mismatches fail the test). */
static int check_events(quire_txn *t, const struct fmodel *fm, int upto,
			const uint64_t *ids, const char *label)
{
	quire_changes *f;
	quire_change ch;
	uint32_t idof[MAX_KEV + 1] = {0};
	size_t i = 0, want = 0;
	char b1[256], b2[256], b3[256];
	int rc;
	while (want < fm->nev && fm->ev[want].commit <= upto)
		want++;
	if ((rc = quire_changes_open(t, 0, &f)) != 0)
		return rc;
	while ((rc = quire_changes_next(f, &ch)) == 0) {
		if (ch.keyspace_id == 0 || ch.op < QUIRE_OP_DEL_RANGE)
			continue; /* (the conversion's range is the default's) */
		const char *got_key = show(ch.key.data, ch.key.size, b1,
					   sizeof b1);
		const char *got_ks = show(ch.keyspace.data, ch.keyspace.size,
					  b2, sizeof b2);
		if (i == want)
			failf("%s: feed seq %llu: keyspace event %zu (op %d, "
			      "key %s, keyspace %s), the model has %zu after "
			      "commit %d",
			      label, (unsigned long long)ch.seq, i, ch.op,
			      got_key, got_ks, want, upto);
		const struct kev *e = &fm->ev[i];
		int ok = ch.op == e->op && ch.txn_id == ids[e->commit];
		switch (e->op) {
		case QUIRE_OP_KEYSPACE:
			ok = ok && tu_same(ch.key.data, ch.key.size, e->name,
					   e->nl);
			if (e->from)
				ok = ok && tu_same(ch.keyspace.data,
						   ch.keyspace.size, e->from,
						   e->fl);
			else /* a creation: named, or not yet */
				ok = ok && (ch.keyspace.size == 0 ||
					    tu_same(ch.keyspace.data,
						    ch.keyspace.size, e->name,
						    e->nl));
			break;
		case QUIRE_OP_KEYSPACE_DROP: /* one change: its range too */
			ok = ok && ch.to_last && ch.count == e->count &&
			     tu_same(ch.key.data, ch.key.size, e->name,
				     e->nl) &&
			     tu_same(ch.keyspace.data, ch.keyspace.size,
				     e->name, e->nl);
			break;
		}
		if (!ok)
			failf("%s: keyspace event %zu: op %d, key %s, keyspace "
			      "%s, txn %llu, to_last %d, count %llu; expected "
			      "op %d of %s (from %s) in commit %d (txn %llu), "
			      "count %llu",
			      label, i, ch.op, got_key, got_ks,
			      (unsigned long long)ch.txn_id, ch.to_last,
			      (unsigned long long)ch.count, e->op,
			      show(e->name, e->nl, b3, sizeof b3),
			      e->from ? e->from : "-", e->commit,
			      (unsigned long long)ids[e->commit],
			      (unsigned long long)e->count);
		if (!idof[e->ident]) {
			for (int k = 1; k <= MAX_KEV; k++)
				if (idof[k] == ch.keyspace_id)
					failf("%s: keyspace event %zu: number "
					      "%u given to two keyspaces",
					      label, i, ch.keyspace_id);
			idof[e->ident] = ch.keyspace_id;
		} else if (idof[e->ident] != ch.keyspace_id) {
			failf("%s: keyspace event %zu: number %u, earlier "
			      "events of the keyspace had %u",
			      label, i, ch.keyspace_id, idof[e->ident]);
		}
		i++;
	}
	quire_changes_close(f);
	if (rc != QUIRE_NOTFOUND)
		return rc;
	if (i != want)
		failf("%s: the feed has %zu keyspace events, the model %zu "
		      "after commit %d",
		      label, i, want, upto);
	return 0;
}

/* The reads of the plan (F_READ): the list, the stat of every keyspace,
 * each view's filtered feed, the unfiltered feed's keyspace events. An
 * error is returned (its message in r); wrong content fails the test. */
static int fault_read(quire *db, const struct fmodel *fm, struct fres *r)
{
	const struct world *w = &fm->st[r->acked];
	struct listing l = {0};
	quire_txn *t = NULL, *v;
	quire_changes *f;
	quire_change ch;
	uint64_t keys, bytes;
	char b1[256];
	int rc;
	if ((rc = quire_begin(db, QUIRE_RDONLY, &t)) != 0) {
		snprintf(r->what, sizeof r->what, "read: begin");
		goto out;
	}
	snprintf(r->what, sizeof r->what, "read: quire_keyspace_list");
	if ((rc = quire_keyspace_list(t, list_cb, &l)) != 0)
		goto out;
	if (l.n != w->n)
		failf("read after commit %d: %zu keyspaces listed, the model "
		      "has %zu",
		      r->acked, l.n, w->n);
	for (size_t i = 0; i < l.n; i++)
		if (world_find(w, l.v[i].p, l.v[i].n) < 0 ||
		    (i && tu_keycmp(l.v[i - 1].p, l.v[i - 1].n, l.v[i].p,
				    l.v[i].n) >= 0))
			failf("read after commit %d: listed %s (%zu), not in "
			      "the model or out of order",
			      r->acked, show(l.v[i].p, l.v[i].n, b1, sizeof b1),
			      i);
	for (size_t i = 0; i <= w->n; i++) {
		const struct model *m = i < w->n ? &w->v[i].m : &w->def;
		const char *nm = i < w->n ? show(w->v[i].name, w->v[i].nlen,
						 b1, sizeof b1)
					  : "(default)";
		snprintf(r->what, sizeof r->what, "read: keyspace %s", nm);
		v = t;
		if (i < w->n && (rc = quire_keyspace(t, w->v[i].name,
						     w->v[i].nlen, 0, &v)) != 0)
			goto out;
		snprintf(r->what, sizeof r->what, "read: stat of %s", nm);
		if ((rc = quire_keyspace_stat(v, &keys, &bytes)) != 0)
			goto out;
		if (keys != m->n || bytes != model_bytes(m))
			failf("read after commit %d: keyspace %s: stat gives "
			      "%llu keys, %llu bytes; the model %zu, %llu",
			      r->acked, nm, (unsigned long long)keys,
			      (unsigned long long)bytes, m->n,
			      (unsigned long long)model_bytes(m));
		if (i == w->n)
			break;
		/* a view's feed: one number, its own, on every entry */
		snprintf(r->what, sizeof r->what, "read: feed of %s", nm);
		if ((rc = quire_changes_open(v, 0, &f)) != 0)
			goto out;
		uint32_t id = 0;
		while ((rc = quire_changes_next(f, &ch)) == 0) {
			if (!ch.keyspace_id || (id && ch.keyspace_id != id))
				failf("read after commit %d: the feed of %s "
				      "has an entry of keyspace %u",
				      r->acked, nm, ch.keyspace_id);
			id = ch.keyspace_id;
		}
		quire_changes_close(f);
		if (rc != QUIRE_NOTFOUND)
			goto out;
	}
	snprintf(r->what, sizeof r->what, "read: the feed");
	rc = check_events(t, fm, r->acked, r->ids, "read");
out:
	if (rc)
		snprintf(r->msg, sizeof r->msg, "%.500s", quire_errmsg());
	listing_free(&l);
	if (t)
		quire_abort(t);
	return rc;
}

#define FSTOP(e_, what_)                                                     \
	do {                                                                 \
		r->err = (e_);                                               \
		snprintf(r->what, sizeof r->what, "%s", (what_));            \
		snprintf(r->msg, sizeof r->msg, "%.500s", quire_errmsg());   \
		goto out;                                                    \
	} while (0)

/* Play the plan until the first failure. */
static void fault_run(qvfs *vfs, const struct fcfg *cfg,
		      const struct fmodel *fm, struct fres *r)
{
	static const char *const kind_what[] = {
		"put", "del", "quire_keyspace (create)", "quire_keyspace_drop",
		"quire_keyspace_rename", "commit"};
	quire *db = NULL;
	quire_txn *t = NULL, *v;
	uint64_t n;
	int e;
	memset(r, 0, sizeof *r);
	if ((e = fault_open(vfs, cfg, QUIRE_CREATE, &db)) != 0)
		FSTOP(e, "open (create)");
	r->created = 1;
	for (size_t i = 0; i < FAULT_OPS; i++) {
		const struct cop *o = &fault_plan[i];
		switch (o->kind) {
		case F_CKPT:
			if ((e = quire_checkpoint(db)) != 0)
				FSTOP(e, "checkpoint");
			continue;
		case F_REOPEN:
			e = quire_close(db);
			db = NULL;
			if (e)
				FSTOP(e, "close");
			if ((e = fault_open(vfs, cfg, 0, &db)) != 0)
				FSTOP(e, "reopen");
			continue;
		case F_READ:
			if ((r->err = fault_read(db, fm, r)) != 0)
				goto out;
			continue;
		}
		if (!t) {
			if ((e = quire_begin(db, 0, &t)) != 0)
				FSTOP(e, "begin");
			r->ids[r->acked + 1] = quire_txn_id(t);
		}
		v = t;
		if (o->ks && (o->kind == F_PUT || o->kind == F_DEL) &&
		    (e = quire_keyspace(t, o->ks, o->ksl, 0, &v)) != 0)
			FSTOP(e, "quire_keyspace");
		switch (o->kind) {
		case F_PUT: e = quire_put(v, o->k, o->kl, o->v, o->vl); break;
		case F_DEL: e = quire_del(v, o->k, o->kl); break;
		case F_CREATE:
			e = quire_keyspace(t, o->ks, o->ksl, QUIRE_CREATE, &v);
			break;
		case F_DROP:
			e = quire_keyspace_drop(t, o->ks, o->ksl, &n);
			break;
		case F_RENAME:
			e = quire_keyspace_rename(t, o->ks, o->ksl, o->k,
						  o->kl);
			break;
		case F_COMMIT:
			r->inflight = 1;
			e = quire_commit(t);
			t = NULL;
			if (!e) {
				r->acked++;
				r->inflight = 0;
			}
			break;
		}
		if (e)
			FSTOP(e, kind_what[o->kind]);
	}
out:
	if (t)
		quire_abort(t);
	if (r->err && db && strstr(r->msg, "fdatasync")) {
		/* the handle never again reports anything durable */
		quire_txn *t2;
		int b = quire_begin(db, 0, &t2);
		if (!b)
			quire_abort(t2);
		int s = quire_sync(db);
		if (b != QUIRE_EFATAL || s != QUIRE_EFATAL)
			failf("after a failed fsync (%s: %s), a write "
			      "transaction gave %d and quire_sync %d, not "
			      "QUIRE_EFATAL",
			      r->what, r->msg, b, s);
		r->poisoned = 1;
	}
	if (db && (e = quire_close(db)) != 0)
		failf("close after %s: %d (%s)", r->err ? r->what : "the plan",
		      e, quire_errmsg());
}
#undef FSTOP

/* Reopen (faults off): the file holds commit acked or (in flight)
 * acked + 1, whole: keyspaces, keys, values, list, stat, the feed's
 * keyspace events; it checks clean; a commit that creates a keyspace
 * goes through and survives a reopen. Returns the commit found. */
static int fault_verify(struct memvfs *m, const struct fcfg *cfg,
			const struct fmodel *fm, const struct fres *r)
{
	qvfs *vfs = memvfs_vfs(m);
	struct world post = {0};
	quire *db;
	quire_txn *t;
	int s = -1;
	ROK(fault_open(vfs, cfg, r->created ? 0 : QUIRE_CREATE, &db));
	ROK(quire_begin(db, QUIRE_RDONLY, &t));
	for (int i = r->acked + r->inflight; i >= r->acked && s < 0; i--)
		if (same_world(&fm->st[i], t))
			s = i;
	if (s < 0) {
		int other = -1;
		for (int i = 0; i <= FAULT_COMMITS; i++)
			if (same_world(&fm->st[i], t))
				other = i;
		failf("the reopened file holds none of commits %d..%d (it "
		      "holds commit %d; -1: none of the plan's)",
		      r->acked, r->acked + r->inflight, other);
	}
	check_world(&fm->st[s], t, "reopened");
	ROK(check_events(t, fm, s, r->ids, "reopened"));
	ROK(quire_commit(t));
	check_clean(db);
	/* writing goes on */
	world_copy(&post, &fm->st[s]);
	ROK(quire_begin(db, 0, &t));
	dcreate(t, &post, L("post"));
	dput(t, &post, L("post"), L("\xff"), "p");
	dput(t, &post, NULL, 0, L("\xff\x09"), "q");
	ROK(quire_commit(t));
	ROK(quire_close(db));
	ROK(fault_open(vfs, cfg, 0, &db));
	check_latest(db, &post, "after the fault, a commit and a reopen");
	ROK(quire_close(db));
	/* and after a power cut: the failed commit's bytes, even synced,
	 * never come back in front of the later one (also when the creation
	 * failed syncing the directory: the next writer syncs it) */
	memvfs_crash(m, MV_CRASH_DROP, 1);
	ROK(fault_open(vfs, cfg, 0, &db));
	check_latest(db, &post, "after the fault, a commit and a power cut");
	ROK(quire_close(db));
	world_clear(&post);
	return s;
}

static const struct {
	const char *name;
	int err, persist;
} io_faults[] = {
	{"EIO", EIO, 0},
	{"EIO persistent", EIO, 1},
	{"ENOSPC", ENOSPC, 0},
	{"ENOSPC persistent", ENOSPC, 1},
};
#define NFAULTS (sizeof io_faults / sizeof io_faults[0])
static const char *const kind_name[9] = {"read", "write", "sync",
					 "truncate", "size", "lock",
					 "open", "dir", "attr"};

struct fstats {
	uint64_t runs, failed, poisoned, reads_failed, per_kind[9];
	uint64_t ks_failed; /* a create, rename or drop failed itself */
	uint64_t found[2][FAULT_COMMITS + 1]; /* reopened, after a power cut */
	uint64_t in_flight[2]; /* the failed commit found whole */
};

/* Fault f at call n of kind k, then reopen; with power_cut, a power cut
 * (every unsynced write lost) between the failure and the reopen. */
static void fault_one(const struct fcfg *cfg, const struct fmodel *fm,
		      int k, uint64_t n, uint64_t calls, size_t f,
		      int power_cut, struct fstats *fs)
{
	struct memvfs *m = memvfs_new(11);
	struct fres r;
	snprintf(where, sizeof where,
		 "faults (%s): %s at %s call %llu of %llu%s", cfg->name,
		 io_faults[f].name, kind_name[k], (unsigned long long)n,
		 (unsigned long long)calls,
		 power_cut ? ", then a power cut" : "");
	memvfs_fault(m, 1 << k, n, io_faults[f].err, io_faults[f].persist, 0);
	fault_run(memvfs_vfs(m), cfg, fm, &r);
	if (r.err) {
		size_t wl = strlen(where);
		snprintf(where + wl, sizeof where - wl,
			 ", %.40s failed: %.100s", r.what, r.msg);
		if (r.err != QUIRE_EIO && r.err != QUIRE_ENOSPC)
			failf("error %d (%s), not QUIRE_EIO or QUIRE_ENOSPC",
			      r.err, quire_strerror(r.err));
		if (!*r.msg)
			failf("an error without a message");
	}
	if (power_cut)
		memvfs_crash(m, MV_CRASH_DROP, n);
	else
		memvfs_clear_faults(m);
	int s = fault_verify(m, cfg, fm, &r);
	memvfs_free(m);
	fs->found[power_cut][s]++;
	fs->in_flight[power_cut] += s > r.acked;
	if (power_cut)
		return;
	fs->runs++;
	fs->per_kind[k]++;
	fs->failed += r.err != 0;
	fs->reads_failed += r.err && !strncmp(r.what, "read", 4);
	fs->poisoned += r.poisoned;
	fs->ks_failed += r.err && !strncmp(r.what, "quire_keyspace", 14);
}

static void test_faults(void **state)
{
	static const struct fcfg cfgs[] = {
		{"mapped", 0, 0},
		{"QUIRE_NOMMAP", QUIRE_NOMMAP, 0},
		{"checkpoint_ops 1", 0, 1},
	};
	struct fmodel fm;
	struct fres r;
	struct fstats fs = {0};
	memset(fault_big, 'F', sizeof fault_big);
	fault_model(&fm);
	for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
		const struct fcfg *cfg = &cfgs[ci];
		uint64_t calls[9];
		struct memvfs *m = memvfs_new(11);
		snprintf(where, sizeof where, "faults (%s), clean run",
			 cfg->name);
		fault_run(memvfs_vfs(m), cfg, &fm, &r);
		if (r.err || r.acked != FAULT_COMMITS)
			failf("the clean run acknowledged %d commits; %s: %s",
			      r.acked, r.what, r.msg);
		for (int k = 0; k < 9; k++)
			calls[k] = memvfs_calls(m, 1 << k);
		if (fault_verify(m, cfg, &fm, &r) != FAULT_COMMITS)
			failf("the clean run's file is not at its last commit");
		memvfs_free(m);
		for (int k = 0; k < 9; k++)
			for (uint64_t n = 1; n <= calls[k]; n++)
				for (size_t f = 0; f < NFAULTS; f++)
					for (int pc = 0; pc < 2; pc++)
						fault_one(cfg, &fm, k, n,
							  calls[k], f, pc,
							  &fs);
	}
	print_message("# keyspace I/O fault injections: %llu, each also with "
		      "a power cut before the reopen (%llu failed a call, "
		      "%llu of them a read step, %llu a keyspace create, "
		      "rename or drop; %llu failed fsyncs checked for "
		      "QUIRE_EFATAL)\n",
		      (unsigned long long)fs.runs,
		      (unsigned long long)fs.failed,
		      (unsigned long long)fs.reads_failed,
		      (unsigned long long)fs.ks_failed,
		      (unsigned long long)fs.poisoned);
	print_message("# per kind:");
	for (int k = 0; k < 9; k++)
		print_message(" %s %llu", kind_name[k],
			      (unsigned long long)fs.per_kind[k]);
	print_message("\n");
	for (int pc = 0; pc < 2; pc++)
		print_message("# %s: holding commit 0: %llu, 1: %llu, 2: %llu, "
			      "3: %llu, 4: %llu, 5: %llu; the failed commit "
			      "whole: %llu\n",
			      pc ? "after a power cut" : "reopened",
			      (unsigned long long)fs.found[pc][0],
			      (unsigned long long)fs.found[pc][1],
			      (unsigned long long)fs.found[pc][2],
			      (unsigned long long)fs.found[pc][3],
			      (unsigned long long)fs.found[pc][4],
			      (unsigned long long)fs.found[pc][5],
			      (unsigned long long)fs.in_flight[pc]);
	snprintf(where, sizeof where, "faults");
	for (int k = 0; k < 3; k++) /* read (not mapped), write, sync */
		if (!fs.per_kind[k])
			failf("no %s call was ever failed", kind_name[k]);
	for (int i = 0; i <= FAULT_COMMITS; i++)
		if (!fs.found[0][i] || !fs.found[1][i])
			failf("no fault left the file at commit %d", i);
	if (fs.runs < 800 || fs.failed < fs.runs / 2 || !fs.poisoned ||
	    !fs.reads_failed || !fs.ks_failed || !fs.in_flight[1])
		failf("too few injections (%llu), failures (%llu), poisoned "
		      "handles (%llu), failed reads (%llu), failed keyspace "
		      "calls (%llu) or failed commits found whole after a "
		      "power cut (%llu)",
		      (unsigned long long)fs.runs,
		      (unsigned long long)fs.failed,
		      (unsigned long long)fs.poisoned,
		      (unsigned long long)fs.reads_failed,
		      (unsigned long long)fs.ks_failed,
		      (unsigned long long)fs.in_flight[1]);
	fault_model_free(&fm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_compat),
		cmocka_unit_test(test_ff_keys),
		cmocka_unit_test(test_max_keys),
		cmocka_unit_test(test_feed_names),
		cmocka_unit_test(test_asof),
		cmocka_unit_test(test_open_foreign),
		cmocka_unit_test(test_history_diff),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_model_a),
		cmocka_unit_test(test_model_b),
		cmocka_unit_test(test_model_feed),
	};
	pool_init();
	trace = getenv("KS_TRACE") && *getenv("KS_TRACE");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
