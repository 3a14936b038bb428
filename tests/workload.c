/*
 * workload.c - the crash and fault tests' workload (see workload.h).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compact.h"
#include "internal.h"
#include "workload.h"

void (*wl_fail_hook)(const char *msg);

void wl_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (wl_fail_hook)
		wl_fail_hook(msg);
	fail_msg("%s", msg);
	abort(); /* not reached: fail_msg does not return */
}

/* QOK of testutil.h, through wl_fail */
#undef QOK
#define QOK(x)                                                               \
	do {                                                                 \
		int qok_e_ = (x);                                            \
		if (qok_e_ != 0)                                             \
			wl_fail("%s = %d (%s: %s)", #x, qok_e_,              \
				quire_strerror(qok_e_), quire_errmsg());     \
	} while (0)

static uint8_t *rand_bytes(uint64_t *s, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)tu_rand(s);
	return p;
}

static size_t value_size(uint64_t *s, const struct wl_opts *o)
{
	int big_every = o->big_every;
	/* drawn only when asked for, so that older plans stay the same */
	if (o->huge_every && tu_below(s, (uint64_t)o->huge_every) == 0) {
		size_t lo = (size_t)64 << 10;
		size_t hi = o->huge_max ? o->huge_max : (size_t)1 << 20;
		return lo + (size_t)tu_below(s, hi - lo + 1);
	}
	if (big_every && tu_below(s, (uint64_t)big_every) == 0)
		return 1025 + (size_t)tu_below(s, 6000); /* out of line */
	switch (tu_below(s, 4)) {
	case 0: return 0;
	case 1: return (size_t)tu_below(s, 16);
	case 2: return 900 + (size_t)tu_below(s, 125); /* near the limit */
	default: return (size_t)tu_below(s, 200);
	}
}

/*
 * Range delete op of a commit whose content so far is m (what the write
 * transaction sees when it makes the call: its own earlier operations
 * included): a prefix of a key (10 or 100 of the short keys), a range
 * between two keys, from the smallest key or to the last, every key, one
 * key, or nothing. m loses the keys; *reput (if not NULL afterwards) is one
 * of them, for a put into the range later in the commit.
 */
static void make_range(uint64_t *s, uint64_t nkeys, int big, struct model *m,
		       struct wl_op *op, uint8_t **reput, size_t *reput_len)
{
	char a[16], b[16];
	int al = snprintf(a, sizeof a, "k%04u", (unsigned)tu_below(s, nkeys));
	int bl = snprintf(b, sizeof b, "k%04u",
			  (unsigned)tu_below(s, nkeys + 1));
	uint64_t kind = tu_below(s, 16);
	if (big) { /* the middle four fifths */
		al = snprintf(a, sizeof a, "k%04u", (unsigned)(nkeys / 10));
		bl = snprintf(b, sizeof b, "k%04u", (unsigned)(nkeys * 9 / 10));
		kind = 6;
	}
	op->range = 1;
	if (kind < 6) { /* a's first 3 or 4 bytes: 100 or 10 short keys */
		op->range = 2;
		op->klen = kind < 3 ? 3 : 4;
		op->key = tu_dup(a, op->klen);
	} else if (kind < 9) { /* [a, b) or [b, a) */
		if (tu_keycmp(b, (size_t)bl, a, (size_t)al) < 0) {
			char x[16];
			memcpy(x, a, sizeof x);
			memcpy(a, b, sizeof x);
			memcpy(b, x, sizeof x);
			int l = al;
			al = bl;
			bl = l;
		}
		op->key = tu_dup(a, (size_t)al);
		op->klen = (size_t)al;
		op->to = tu_dup(b, (size_t)bl);
		op->tlen = (size_t)bl;
	} else if (kind < 11) { /* from the smallest key */
		op->from_null = 1;
		op->to = tu_dup(b, (size_t)bl);
		op->tlen = (size_t)bl;
	} else if (kind < 13) { /* to the last key */
		op->key = tu_dup(a, (size_t)al);
		op->klen = (size_t)al;
		op->to_null = 1;
	} else if (kind == 13) { /* every key, three ways */
		switch (tu_below(s, 3)) {
		case 0:
			op->range = 2;
			op->key = tu_dup("", 0);
			break;
		case 1:
			op->range = 2;
			op->key = tu_dup("k", 1);
			op->klen = 1;
			break;
		default:
			op->from_null = op->to_null = 1;
		}
	} else if (kind == 14 && m->n) { /* one key: [k, k + "\0") */
		const struct model_ent *e = &m->v[tu_below(s, m->n)];
		op->key = tu_dup(e->key, e->klen);
		op->klen = e->klen;
		op->to = malloc(e->klen + 1);
		assert_non_null(op->to);
		memcpy(op->to, e->key, e->klen);
		op->to[e->klen] = 0;
		op->tlen = e->klen + 1;
	} else { /* nothing there */
		op->range = 2;
		op->key = tu_dup("k\xff", 2);
		op->klen = 2;
	}
	const uint8_t *from = op->from_null ? NULL : op->key;
	size_t lo = from ? model_lower(m, from, op->klen) : 0;
	if (lo < m->n && !*reput) {
		const struct model_ent *e = &m->v[lo];
		if (op->range == 2 ? tu_has_prefix(e->key, e->klen, op->key,
						   op->klen)
				   : op->to_null || tu_keycmp(e->key, e->klen,
							      op->to,
							      op->tlen) < 0) {
			*reput = tu_dup(e->key, e->klen);
			*reput_len = e->klen;
		}
	}
	op->removed = op->range == 2
			      ? model_del_prefix(m, op->key, op->klen)
			      : model_del_range(m, from, op->klen,
						op->to_null ? NULL : op->to,
						op->tlen);
}

void wl_plan_make(struct wl_plan *p, const struct wl_opts *o)
{
	uint64_t s = o->seed;
	uint64_t nkeys = o->nkeys ? (uint64_t)o->nkeys : 400;
	*p = (struct wl_plan){.o = *o};
	p->c = calloc((size_t)o->commits + 1, sizeof *p->c);
	p->state = calloc((size_t)o->commits + 1, sizeof *p->state);
	assert_non_null(p->c);
	assert_non_null(p->state);
	for (int c = 1; c <= o->commits; c++) {
		struct wl_commit *wc = &p->c[c];
		model_copy(&p->state[c], &p->state[c - 1]);
		wc->nops = 1 + (int)tu_below(&s, (uint64_t)o->max_ops);
		wc->ops = calloc((size_t)wc->nops, sizeof *wc->ops);
		assert_non_null(wc->ops);
		wc->reopen_before = o->reopen_every && c % o->reopen_every == 0;
		wc->abort_before = o->abort_every && c % o->abort_every == 0;
		wc->sync_after = o->nosync && o->sync_every &&
				 c % o->sync_every == 0;
		/* drawn only when asked for, so that older plans stay the
		 * same */
		int rpos = -1;
		uint8_t *reput = NULL;
		size_t reput_len = 0;
		int big = o->range_big_at == c;
		if ((o->range_every &&
		     tu_below(&s, (uint64_t)o->range_every) == 0) ||
		    big)
			rpos = (int)tu_below(&s, (uint64_t)wc->nops);
		for (int i = 0; i < wc->nops; i++) {
			struct wl_op *op = &wc->ops[i];
			struct model *m = &p->state[c];
			if (i == rpos) {
				make_range(&s, nkeys, big, m, op, &reput,
					   &reput_len);
				p->ranges++;
				p->range_commits += op->removed > 0;
				p->range_keys += op->removed;
				if (op->removed > (uint64_t)p->range_max)
					p->range_max = (int)op->removed;
				continue;
			}
			if (reput) { /* a key the range removed, put again */
				op->key = reput;
				op->klen = reput_len;
				reput = NULL;
				op->vlen = value_size(&s, o);
				op->val = rand_bytes(&s, op->vlen);
				model_put(m, op->key, op->klen, op->val,
					  op->vlen);
				continue;
			}
			if (m->n > 8 && tu_below(&s, 4) == 0) {
				const struct model_ent *e =
					&m->v[tu_below(&s, m->n)];
				op->del = 1;
				op->klen = e->klen;
				op->key = malloc(e->klen ? e->klen : 1);
				memcpy(op->key, e->key, e->klen);
				model_del(m, op->key, op->klen);
				continue;
			}
			char k[32];
			int kl = snprintf(k, sizeof k, "k%04u",
					  (unsigned)tu_below(&s, nkeys));
			if (tu_below(&s, 16) == 0) { /* a long key now and then */
				op->klen = 100 + (size_t)tu_below(&s, 600);
				op->key = rand_bytes(&s, op->klen);
				memcpy(op->key, k, (size_t)kl);
			} else {
				op->klen = (size_t)kl;
				op->key = (uint8_t *)strdup(k);
			}
			op->vlen = value_size(&s, o);
			op->val = rand_bytes(&s, op->vlen);
			model_put(m, op->key, op->klen, op->val, op->vlen);
		}
		free(reput); /* the range was the commit's last op */
	}
}

void wl_plan_free(struct wl_plan *p)
{
	for (int c = 0; c <= p->o.commits; c++) {
		model_clear(&p->state[c]);
		if (c == 0)
			continue;
		for (int i = 0; i < p->c[c].nops; i++) {
			free(p->c[c].ops[i].key);
			free(p->c[c].ops[i].val);
			free(p->c[c].ops[i].to);
		}
		free(p->c[c].ops);
	}
	free(p->c);
	free(p->state);
}

static int open_db(const struct wl_plan *p, qvfs *vfs, const char *path,
		   unsigned extra, quire **db)
{
	quire_options o;
	quire_options_init(&o);
	o.flags = extra | (p->o.nosync ? QUIRE_NOSYNC : 0);
	o.node_size = p->o.node_size ? p->o.node_size : 4096;
	o.cache_size = (size_t)1 << 20;
	/* replays count every call: no thread */
	o.auto_compact_ratio = p->o.autocompact ? 0.25 : 0;
	if (p->o.checkpoint_ops)
		o.checkpoint_ops = p->o.checkpoint_ops;
	int e = qdb_open_vfs(path, &o, vfs, db);
	if (!e && p->o.autocompact)
		compact_run_inline(*db, 0);
	return e;
}

#define STOP(e_, what_)                                                      \
	do {                                                                 \
		r->err = (e_);                                               \
		snprintf(r->where, sizeof r->where, "%s", (what_));          \
		if (!*r->msg)                                                \
			snprintf(r->msg, sizeof r->msg, "%.500s",            \
				 quire_errmsg());                            \
		goto out;                                                    \
	} while (0)

/* The retention policy's commits after commit c of the plan (and its
 * policy change, if it makes one). */
static uint64_t retention_after(const struct wl_plan *p, int c)
{
	int every = p->o.retention_every;
	if (!every || c < every)
		return QUIRE_RETAIN_DEFAULT;
	return c / every % 2 ? 3 : QUIRE_KEEP_ALL;
}

/* The history API and gets on the latest commit (commit c of the plan):
 * every call may fail with an I/O error, which is returned; what is read
 * must be right. */
static int history_reads(const struct wl_plan *p, int c, quire *db)
{
	const struct wl_commit *wc = &p->c[c];
	static const struct wl_op any = {.key = (uint8_t *)"k0000", .klen = 5};
	const struct wl_op *op0 = &any; /* a key of the commit's: not a
					 * range's bound */
	for (int i = wc->nops; i-- > 0;)
		if (!wc->ops[i].range)
			op0 = &wc->ops[i];
	quire_txn *t, *t2;
	quire_stat st;
	quire_log_entry le;
	quire_changes *f;
	quire_change ch;
	quire_history *h;
	quire_key_version kv;
	quire_val v;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		return e;
	QOK(quire_txn_stat(t, &st));
	e = quire_log_get(t, st.txn_id, &le);
	if (e == QUIRE_NOTFOUND)
		wl_fail("commit %d: no log entry for txn %llu", c,
			(unsigned long long)st.txn_id);
	if (!e && (e = quire_changes_open(t, st.next_seq > 30 ? st.next_seq - 30
							       : 0,
					  &f)) == 0) {
		while ((e = quire_changes_next(f, &ch)) == 0)
			;
		quire_changes_close(f);
	}
	if (e == QUIRE_EHISTORY && p->o.autocompact) /* outside the policy */
		e = QUIRE_NOTFOUND;
	if (e == QUIRE_NOTFOUND &&
	    (e = quire_history_open(t, op0->key, op0->klen, &h)) == 0) {
		while ((e = quire_history_next(h, &kv)) == 0)
			;
		quire_history_close(h);
	}
	if (e == QUIRE_NOTFOUND)
		e = 0;
	if (!e && st.txn_id > 1 &&
	    (e = quire_begin_at(db, st.txn_id - 1, &t2)) == 0) {
		e = quire_get(t2, op0->key, op0->klen, &v);
		quire_abort(t2);
		if (e == QUIRE_NOTFOUND)
			e = 0;
	}
	if (e == QUIRE_EHISTORY && p->o.autocompact)
		e = 0;
	for (int i = 0; !e && i < wc->nops; i++) {
		if (wc->ops[i].range)
			continue;
		const struct model_ent *me =
			model_get(&p->state[c], wc->ops[i].key, wc->ops[i].klen);
		e = quire_get(t, wc->ops[i].key, wc->ops[i].klen, &v);
		if (e == QUIRE_NOTFOUND && !me)
			e = 0;
		else if (!e && (!me || v.size != me->vlen ||
				(v.size && memcmp(v.data, me->val, v.size))))
			wl_fail("commit %d: a get after it returns the wrong "
				"value",
				c);
	}
	quire_abort(t);
	if (e == QUIRE_NOTFOUND) /* the log or an AS-OF commit is missing */
		wl_fail("commit %d: history reads found no such commit", c);
	return e;
}

void wl_run(const struct wl_plan *p, qvfs *vfs, const char *path,
	    struct wl_result *r)
{
	quire *db = NULL;
	quire_txn *t = NULL;
	int e;
	memset(r, 0, sizeof *r);
	if ((e = open_db(p, vfs, path, QUIRE_CREATE, &db)) != 0)
		STOP(e, "create");
	r->created = 1;
	for (int c = 1; c <= p->o.commits; c++) {
		const struct wl_commit *wc = &p->c[c];
		if (wc->reopen_before) {
			e = quire_close(db);
			db = NULL;
			if (e)
				STOP(e, "close");
			if ((e = open_db(p, vfs, path, 0, &db)) != 0)
				STOP(e, "reopen");
		}
		if (wc->abort_before) { /* appends that must vanish */
			static uint8_t junk[3000];
			if ((e = quire_begin(db, 0, &t)) != 0)
				STOP(e, "begin");
			for (int i = 0; !e && i < 3; i++) {
				junk[0] = (uint8_t)i;
				e = quire_put(t, "junk", 4, junk, sizeof junk);
			}
			quire_abort(t);
			t = NULL;
			if (e)
				STOP(e, "put");
		}
		if ((e = quire_begin(db, 0, &t)) != 0)
			STOP(e, "begin");
		r->inflight = 1;
		for (int i = 0; i < wc->nops; i++) {
			const struct wl_op *op = &wc->ops[i];
			const uint8_t *from = op->from_null ? NULL : op->key;
			uint64_t n = UINT64_MAX;
			if (op->range == 2)
				e = quire_del_prefix(t, from, op->klen, &n);
			else if (op->range)
				e = quire_del_range(t, from, op->klen,
						    op->to_null ? NULL : op->to,
						    op->tlen, &n);
			else
				e = op->del ? quire_del(t, op->key, op->klen)
					    : quire_put(t, op->key, op->klen,
							op->val, op->vlen);
			if (e) {
				quire_abort(t);
				t = NULL;
				STOP(e, op->range == 2 ? "del_prefix"
					: op->range    ? "del_range"
					: op->del      ? "del"
						       : "put");
			}
			if (op->range && n != op->removed)
				wl_fail("commit %d: %s removed %llu keys, want "
					"%llu",
					c, op->range == 2 ? "del_prefix"
							  : "del_range",
					(unsigned long long)n,
					(unsigned long long)op->removed);
		}
		e = quire_commit(t);
		t = NULL;
		if (e) {
			quire_txn *t2;
			snprintf(r->msg, sizeof r->msg, "%.500s",
				 quire_errmsg());
			r->begin_after_fail = quire_begin(db, 0, &t2);
			if (!r->begin_after_fail)
				quire_abort(t2);
			STOP(e, "commit");
		}
		r->inflight = 0;
		r->acked = c;
		if (!p->o.nosync)
			r->durable = c;
		if (wc->sync_after) {
			if ((e = quire_sync(db)) != 0)
				STOP(e, "sync");
			r->durable = c;
		}
		if (p->o.checkpoint_every && c % p->o.checkpoint_every == 0 &&
		    (e = quire_checkpoint(db)) != 0)
			STOP(e, "checkpoint"); /* changes no content */
		if (p->o.retention_every && c % p->o.retention_every == 0) {
			quire_retention rp = {.commits =
						      retention_after(p, c)};
			if ((e = quire_set_retention(db, &rp)) != 0)
				STOP(e, "set_retention"); /* no content */
		}
		if (p->o.history_every && c % p->o.history_every == 0 &&
		    (e = history_reads(p, c, db)) != 0)
			STOP(e, "history");
	}
out:
	if (r->err && db && p->o.probe_poison) {
		/* what the handle does after the failure */
		quire_txn *t2;
		r->poisoned_begin = quire_begin(db, 0, &t2);
		if (!r->poisoned_begin)
			quire_abort(t2);
		r->poisoned_sync = quire_sync(db);
	}
	if (db && quire_close(db) != 0)
		wl_fail("close: %s", quire_errmsg());
}

int wl_same(quire_txn *txn, const struct model *m)
{
	quire_cursor *c;
	quire_val k, v;
	size_t i = 0;
	int r, same = 1;
	if (quire_cursor_open(txn, &c))
		return 0;
	for (r = quire_cursor_first(c); r == 0 && same; r = quire_cursor_next(c)) {
		if (i >= m->n) {
			same = 0;
			break;
		}
		const struct model_ent *e = &m->v[i];
		if (quire_cursor_key(c, &k) ||
		    quire_cursor_value(c, &v) || k.size != e->klen ||
		    v.size != e->vlen || (k.size && memcmp(k.data, e->key, k.size)) ||
		    (v.size && memcmp(v.data, e->val, v.size)))
			same = 0;
		i++;
	}
	quire_cursor_close(c);
	return same && r == QUIRE_NOTFOUND && i == m->n;
}

void wl_check_clean(quire *db, const char *ctx)
{
	quire_txn *t;
	uint64_t probs;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_check(t, NULL, NULL, &probs));
	quire_abort(t);
	if (probs)
		wl_fail("%s: quire_check found %llu problems", ctx,
			 (unsigned long long)probs);
}

int wl_verify(const struct wl_plan *p, qvfs *vfs, const char *path,
	      const struct wl_result *r, int lo, int hi, const char *ctx,
	      uint64_t *file_bytes)
{
	quire *db;
	quire_txn *t;
	int e = open_db(p, vfs, path, r->created ? 0 : QUIRE_CREATE, &db), found = -1;
	if (e)
		wl_fail("%s: reopen after the crash: %s (%s)", ctx,
			 quire_strerror(e), quire_errmsg());
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	for (int i = hi; i >= lo && found < 0; i--)
		if (wl_same(t, &p->state[i]))
			found = i;
	if (found < 0)
		wl_fail("%s: content is none of the allowed states %d..%d", ctx,
			 lo, hi);
	/* the policy is old or new, never another (found's policy change
	 * may be the commit in flight) */
	quire_stat st;
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	if (st.retention.commits != retention_after(p, found) &&
	    st.retention.commits != retention_after(p, found - 1))
		wl_fail("%s: retention keeps %llu commits after commit %d",
			ctx, (unsigned long long)st.retention.commits, found);
	wl_check_clean(db, ctx);

	/* life goes on: ten more commits, a reopen, the same content */
	struct model m = {0};
	uint64_t s = p->o.seed ^ 0x5eed;
	model_copy(&m, &p->state[found]);
	for (int c = 0; c < 10; c++) {
		char k[24], v[64];
		snprintf(k, sizeof k, "after%02d", c);
		snprintf(v, sizeof v, "v%llu", (unsigned long long)tu_rand(&s));
		QOK(quire_begin(db, 0, &t));
		QOK(quire_put(t, k, strlen(k), v, strlen(v)));
		QOK(quire_commit(t));
		model_put(&m, k, strlen(k), v, strlen(v));
	}
	QOK(quire_close(db));
	QOK(open_db(p, vfs, path, 0, &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	if (!wl_same(t, &m))
		wl_fail("%s: content after ten more commits and a reopen is "
			 "wrong",
			 ctx);
	if (file_bytes) {
		QOK(quire_txn_stat(t, &st));
		*file_bytes = st.file_bytes;
	}
	quire_abort(t);
	wl_check_clean(db, ctx);
	QOK(quire_close(db));
	model_clear(&m);
	return found;
}
