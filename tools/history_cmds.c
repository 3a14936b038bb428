/*
 * history_cmds.c - the quire tool's commands that read the past: snapshots
 * of old commits (--as-of of get, scan, dump and stat, named by txn id,
 * @UNIXTIME or ISO 8601 time), history (the commit
 * log), changes (every operation by sequence number, optionally followed as
 * new commits land), log (the versions of one key) and diff (the keys two
 * commits disagree on), each in the default keyspace or --keyspace's
 * (changes without it: in every keyspace). Output formats are in quire(1).
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "tsv.h"

/* ---- naming a commit ---------------------------------------------------- */

/* *v = *v * 10 + d unless that overflows. */
static int add_digit(uint64_t *v, char d)
{
	unsigned k = (unsigned)(d - '0');
	if (*v > (UINT64_MAX - k) / 10)
		return -1;
	*v = *v * 10 + k;
	return 0;
}

/* A fraction of a second after the point at *s, in ns; digits past
 * nanoseconds are dropped: rounding down keeps "at or before" true. */
static int fraction(const char **s, uint64_t *ns)
{
	int digits = 0;
	*ns = 0;
	if (**s < '0' || **s > '9')
		return -1;
	for (; **s >= '0' && **s <= '9'; ++*s)
		if (digits < 9) {
			*ns = *ns * 10 + (uint64_t)(**s - '0');
			digits++;
		}
	for (; digits < 9; digits++)
		*ns *= 10;
	return 0;
}

/* Exactly n digits at *s, then the character sep (0: none). */
static int field(const char **s, int n, char sep, unsigned *out)
{
	*out = 0;
	for (int i = 0; i < n; i++, ++*s) {
		if (**s < '0' || **s > '9')
			return -1;
		*out = *out * 10 + (unsigned)(**s - '0');
	}
	if (sep && *(*s)++ != sep)
		return -1;
	return 0;
}

/* Days from 1970-01-01 to the date (proleptic Gregorian), for year >= 0. */
static int64_t days_since_epoch(unsigned y, unsigned m, unsigned d)
{
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	unsigned yoe = (unsigned)(yy - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction]" with "Z" or an offset (+HH:MM, +HHMM,
 * +HH, or -): what quire prints in history and log, and what people
 * write. */
static int parse_iso(const char *s, uint64_t *ns)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
					 31, 31, 30, 31, 30, 31};
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	uint64_t frac = 0;
	int sign = 0;
	if (field(&s, 4, '-', &y) || field(&s, 2, '-', &mo) ||
	    field(&s, 2, 0, &d) || (*s != 'T' && *s != 't') ||
	    (s++, field(&s, 2, ':', &h)) || field(&s, 2, ':', &mi) ||
	    field(&s, 2, 0, &sec))
		return -1;
	if (*s == '.' && (s++, fraction(&s, &frac)))
		return -1;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (field(&s, 2, 0, &oh) || (*s == ':' && !*++s) ||
		    (*s && field(&s, 2, 0, &om)))
			return -1;
	} else {
		return -1; /* a time without a zone is ambiguous */
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))) ||
	    h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59)
		return -1;
	int64_t t = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		    sec - sign * (int64_t)(oh * 3600 + om * 60);
	if (t < 0 || (uint64_t)t > (UINT64_MAX - frac) / 1000000000u)
		return -1;
	*ns = (uint64_t)t * 1000000000u + frac;
	return 0;
}

int parse_point(const char *s, struct point *p)
{
	uint64_t v = 0, frac = 0;
	*p = (struct point){.set = 1, .by_time = s[0] == '@'};
	if (!p->by_time && strchr(s, '-')) {
		p->by_time = 1;
		return parse_iso(s, &p->v);
	}
	s += p->by_time;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++)
		if (add_digit(&v, *s))
			return -1;
	if (p->by_time && *s == '.' && (s++, fraction(&s, &frac)))
		return -1;
	if (*s)
		return -1;
	if (p->by_time) {
		if (v > (UINT64_MAX - frac) / 1000000000u)
			return -1;
		v = v * 1000000000u + frac;
	}
	p->v = v;
	return 0;
}

int begin_point(quire *db, const char *path, const struct point *p,
		quire_txn **txn)
{
	char when[ISO_TIME_LEN];
	quire_txn *t;
	quire_stat st;
	int e;
	if (!p->set)
		e = quire_begin(db, QUIRE_RDONLY, txn);
	else if (p->by_time)
		e = quire_begin_at_time(db, p->v, QUIRE_AT_OR_BEFORE, txn);
	else
		e = quire_begin_at(db, p->v, txn);
	if (e != QUIRE_NOTFOUND)
		return e ? fail(path, e) : 0;
	/* the library leaves the wording of "not found" to the caller */
	if (p->by_time) {
		iso_time(p->v, when, sizeof when);
		fprintf(stderr, "quire: %s: no commit was made at or before %s\n",
			path, when);
		return 2;
	}
	fprintf(stderr, "quire: %s: there is no commit %" PRIu64 " yet", path,
		p->v);
	if (quire_begin(db, QUIRE_RDONLY, &t) == 0) {
		if (quire_txn_stat(t, &st) == 0)
			fprintf(stderr, " (the newest is %" PRIu64 ")", st.txn_id);
		quire_abort(t);
	}
	fputc('\n', stderr);
	return 2;
}

int begin_point_in(quire *db, const char *path, const struct point *p,
		   const struct ksname *ks, quire_txn **txn, quire_txn **view)
{
	int e, rc = begin_point(db, path, p, txn);
	if (rc)
		return rc;
	if ((e = keyspace_view(*txn, ks, 0, view)) != 0) {
		quire_abort(*txn);
		return keyspace_fail(path, ks, e);
	}
	return 0;
}

/* ---- history: the commit log ------------------------------------------- */

/* quire_log_get() keeps each entry's metadata until the transaction ends,
 * so a long walk renews its snapshot (of the same commit) every so many
 * entries to keep memory bounded. */
#define LOG_RENEW 4096

static void print_entry(const struct opts *o, const quire_log_entry *le)
{
	char when[ISO_TIME_LEN];
	uint64_t ops = le->next_seq > le->first_seq
			       ? le->next_seq - le->first_seq
			       : 0;
	iso_time(le->time_ns, when, sizeof when);
	if (o->json) {
		printf("{\"txn\":%" PRIu64 ",\"time\":\"%s\",\"time_ns\":%" PRIu64
		       ",\"first_seq\":%" PRIu64 ",\"next_seq\":%" PRIu64
		       ",\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"meta\":",
		       le->txn_id, when, le->time_ns, le->first_seq,
		       le->next_seq, ops, le->bytes);
		json_string(stdout, le->meta.data, le->meta.size);
		fputs("}\n", stdout);
		return;
	}
	printf("%" PRIu64 "\t%s\t", le->txn_id, when);
	if (ops)
		printf("%" PRIu64 "-%" PRIu64, le->first_seq, le->next_seq - 1);
	else
		putchar('-');
	printf("\t%" PRIu64 "\t%" PRIu64 "\t", ops, le->bytes);
	tsv_escape(stdout, le->meta.data, le->meta.size);
	putchar('\n');
}

/* The oldest commit the log still holds: quire_log_get() answers
 * QUIRE_EHISTORY for the ones before it. */
static int oldest_txn(quire_txn *t, uint64_t newest, uint64_t *oldest)
{
	uint64_t lo = 0, hi = newest; /* it is in [lo, hi] */
	quire_log_entry le;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int e = quire_log_get(t, mid, &le);
		if (e == 0)
			hi = mid;
		else if (e == QUIRE_EHISTORY || e == QUIRE_NOTFOUND)
			lo = mid + 1;
		else
			return e;
	}
	*oldest = lo;
	return 0;
}

int cmd_history(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t;
	quire_stat st;
	quire_log_entry le;
	uint64_t id;
	int e, rc;
	if ((rc = open_db(o, path, 0, &db)) != 0)
		return rc;
	if ((e = quire_begin(db, QUIRE_RDONLY, &t)) != 0) {
		t = NULL;
		goto out;
	}
	if ((e = quire_txn_stat(t, &st)) != 0)
		goto out;
	id = st.txn_id;
	if (o->reverse && (e = oldest_txn(t, st.txn_id, &id)) != 0)
		goto out;
	for (unsigned long long n = 0; n < o->limit && !output_failed(); n++) {
		if (n && n % LOG_RENEW == 0) {
			quire_abort(t);
			if ((e = quire_begin_at(db, st.txn_id, &t)) != 0) {
				t = NULL;
				break;
			}
		}
		e = quire_log_get(t, id, &le);
		if (e == QUIRE_EHISTORY || e == QUIRE_NOTFOUND) {
			e = 0; /* past the oldest commit kept */
			break;
		}
		if (e)
			break;
		print_entry(o, &le);
		if (o->reverse ? id == st.txn_id : id == 0)
			break;
		id = o->reverse ? id + 1 : id - 1;
	}
out:
	rc = e ? fail(path, e) : 0;
	if (t)
		quire_abort(t);
	quire_close(db);
	return rc;
}

/* ---- changes: the operations by sequence number ------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The JSON members of a named keyspace's operation: its name (null when
 * the file's history no longer holds it) and number. */
static void json_keyspace(const quire_val *name, uint32_t id)
{
	fputs(",\"keyspace\":", stdout);
	if (name->size)
		json_string(stdout, name->data, name->size);
	else
		fputs("null", stdout);
	printf(",\"keyspace_id\":%" PRIu32, id);
}

/* A keyspace created, renamed or dropped: "SEQ TXN keyspace NAME", "SEQ
 * TXN rename_keyspace OLD NEW", "SEQ TXN drop_keyspace COUNT NAME" (COUNT
 * the keys it held, as a del_range's); in JSON keyspace (the name it has
 * after the operation), op, a rename's old name as from, a drop's
 * count. */
static void print_keyspace_change(const struct opts *o, const quire_change *c)
{
	int drop = c->op == QUIRE_OP_KEYSPACE_DROP;
	/* the feed names a created or renamed keyspace in key (a rename's
	 * old name in keyspace), a dropped one in keyspace */
	const quire_val *name = drop ? &c->keyspace : &c->key;
	const quire_val *old = !drop && c->keyspace.size ? &c->keyspace : NULL;
	const char *op = drop ? "drop_keyspace"
			 : old ? "rename_keyspace"
			       : "keyspace";
	if (o->json) {
		printf("{\"seq\":%" PRIu64 ",\"txn\":%" PRIu64, c->seq,
		       c->txn_id);
		json_keyspace(name, c->keyspace_id);
		printf(",\"op\":\"%s\"", op);
		if (old) {
			fputs(",\"from\":", stdout);
			json_string(stdout, old->data, old->size);
		}
		if (drop)
			printf(",\"count\":%" PRIu64, c->count);
		fputs("}\n", stdout);
		return;
	}
	printf("%" PRIu64 "\t%" PRIu64 "\t%s\t", c->seq, c->txn_id, op);
	if (drop)
		printf("%" PRIu64 "\t", c->count);
	if (old) {
		tsv_escape(stdout, old->data, old->size);
		putchar('\t');
	}
	tsv_escape(stdout, name->data, name->size);
	putchar('\n');
}

/* One operation as changes prints it, and load --changes reads it back
 * (quire(1)): "SEQ TXN put KEY VALUE", "SEQ TXN del KEY", and a range
 * delete as "SEQ TXN del_range COUNT START [END]": END is left out when
 * the range runs to the last key, which no END could say (an empty END
 * is the empty key). The JSON form names them start, end (null: to the
 * last key) and count. An operation of a named keyspace has "ks=NAME"
 * after TXN (JSON: keyspace and keyspace_id), so that the default
 * keyspace's lines stay as they were before keyspaces. */
static void print_change(const struct opts *o, const quire_change *c)
{
	int put = c->op == QUIRE_OP_PUT, range = c->op == QUIRE_OP_DEL_RANGE;
	const char *op = put ? "put" : range ? "del_range" : "del";
	if (c->op == QUIRE_OP_KEYSPACE || c->op == QUIRE_OP_KEYSPACE_DROP) {
		print_keyspace_change(o, c);
		return;
	}
	if (o->json) {
		printf("{\"seq\":%" PRIu64 ",\"txn\":%" PRIu64, c->seq,
		       c->txn_id);
		if (c->keyspace_id)
			json_keyspace(&c->keyspace, c->keyspace_id);
		printf(",\"op\":\"%s\",\"%s\":", op, range ? "start" : "key");
		json_string(stdout, c->key.data, c->key.size);
		if (put) {
			fputs(",\"value\":", stdout);
			json_string(stdout, c->value.data, c->value.size);
		} else if (range) {
			fputs(",\"end\":", stdout);
			if (c->to_last)
				fputs("null", stdout);
			else
				json_string(stdout, c->value.data,
					    c->value.size);
			printf(",\"count\":%" PRIu64, c->count);
		}
		fputs("}\n", stdout);
		return;
	}
	printf("%" PRIu64 "\t%" PRIu64 "\t", c->seq, c->txn_id);
	if (c->keyspace_id) {
		fputs("ks=", stdout);
		tsv_escape(stdout, c->keyspace.data, c->keyspace.size);
		putchar('\t');
	}
	printf("%s\t", op);
	if (range)
		printf("%" PRIu64 "\t", c->count);
	tsv_escape(stdout, c->key.data, c->key.size);
	if (put || (range && !c->to_last)) {
		putchar('\t');
		tsv_escape(stdout, c->value.data, c->value.size);
	}
	putchar('\n');
}

/* Print the operations of snapshot t after *last (updated as they are
 * printed), at most *left of them. */
static int print_changes(const struct opts *o, quire_txn *t, uint64_t *last,
			 unsigned long long *left)
{
	quire_changes *f;
	quire_change c;
	int e = quire_changes_open(t, *last, &f);
	if (e)
		return e;
	while (*left && !output_failed() &&
	       (e = quire_changes_next(f, &c)) == 0) {
		print_change(o, &c);
		*last = c.seq;
		*left -= o->limit != NO_LIMIT;
	}
	quire_changes_close(f);
	return e == QUIRE_NOTFOUND ? 0 : e;
}

int cmd_changes(const struct opts *o)
{
	const char *path = o->pos[0];
	const struct point newest = {0};
	uint64_t last = o->since;
	unsigned long long left = o->limit;
	struct ksname ks;
	quire *db;
	quire_txn *t, *v;
	int e = 0, rc;
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0)
		return rc;
	if (o->follow) {
		/* stopping a follower is the normal way to end it */
		struct sigaction sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if ((rc = open_db(o, path, 0, &db)) != 0) {
		free(ks.name);
		return rc;
	}
	for (;;) {
		/* the whole feed, or a view's: its keyspace's operations */
		if ((rc = begin_point_in(db, path, &newest, &ks, &t, &v)) != 0)
			break;
		e = print_changes(o, v, &last, &left);
		quire_abort(t);
		/* a reader at the other end of a pipe sees each batch now */
		fflush(stdout);
		if (e || output_failed() || !o->follow || !left)
			break;
		/* everything up to last was seen: wait for the operation
		 * after it, waking now and then to notice a signal */
		while (!stop &&
		       (e = quire_wait(db, last + 1, 100)) == QUIRE_ETIMEDOUT)
			;
		if (stop) {
			e = 0;
			break;
		}
		if (e)
			break;
	}
	if (e)
		rc = fail(path, e);
	quire_close(db);
	free(ks.name);
	return rc;
}

/* ---- log: the versions of one key ------------------------------------- */

static void print_version(const struct opts *o, const quire_key_version *v)
{
	char when[ISO_TIME_LEN];
	int put = v->op == QUIRE_OP_PUT;
	const char *op = put				 ? "put"
			 : v->op == QUIRE_OP_DEL_RANGE ? "del_range"
							 : "del";
	iso_time(v->time_ns, when, sizeof when);
	if (o->json) {
		printf("{\"seq\":%" PRIu64 ",\"txn\":%" PRIu64
		       ",\"time\":\"%s\",\"time_ns\":%" PRIu64 ",\"op\":\"%s\"",
		       v->seq, v->txn_id, when, v->time_ns, op);
		if (put) {
			fputs(",\"value\":", stdout);
			json_string(stdout, v->value.data, v->value.size);
		}
		fputs("}\n", stdout);
		return;
	}
	printf("%" PRIu64 "\t%" PRIu64 "\t%s\t%s", v->seq, v->txn_id, when,
	       op);
	if (put) {
		putchar('\t');
		tsv_escape(stdout, v->value.data, v->value.size);
	}
	putchar('\n');
}

int cmd_log(const struct opts *o)
{
	const char *path = o->pos[0];
	const struct point newest = {0};
	struct ksname ks;
	quire *db = NULL;
	quire_txn *t, *ksv;
	quire_history *h = NULL;
	quire_key_version v;
	unsigned long long n = 0;
	int e, rc, compacted = 0, found = 0;
	char *key = NULL;
	size_t klen;
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0 ||
	    (rc = arg_bytes(o, "KEY", o->pos[1], &key, &klen)) != 0 ||
	    (rc = open_db(o, path, 0, &db)) != 0 ||
	    (rc = begin_point_in(db, path, &newest, &ks, &t, &ksv)) != 0) {
		quire_close(db);
		free(key);
		free(ks.name);
		return rc;
	}
	/* one version is read even with --limit 0: whether there is one
	 * decides the exit status */
	if ((e = quire_history_open(ksv, key, klen, &h)) == 0)
		while ((n < o->limit || !found) && !output_failed() &&
		       (e = quire_history_next(h, &v)) == 0) {
			found = 1;
			if (n < o->limit) {
				print_version(o, &v);
				n++;
			}
		}
	if (e == QUIRE_EHISTORY) {
		/* the versions kept were printed; say why they stop */
		fprintf(stderr, "quire: %s: older versions of the key were "
				"compacted away\n",
			path);
		e = 0;
		compacted = 1;
	}
	if (e && e != QUIRE_NOTFOUND)
		rc = fail(path, e);
	else
		rc = found || compacted ? 0 : 1; /* never written: "no" */
	quire_history_close(h);
	quire_abort(t);
	quire_close(db);
	free(key);
	free(ks.name);
	return rc;
}

/* ---- diff: two commits compared ----------------------------------------- */

static void print_delta(const struct opts *o, const quire_delta *d)
{
	const char *what = !d->in_a ? "added" : !d->in_b ? "removed" : "changed";
	if (o->json) {
		printf("{\"op\":\"%s\",\"key\":", what);
		json_string(stdout, d->key.data, d->key.size);
		if (d->in_a) {
			fputs(",\"a\":", stdout);
			json_string(stdout, d->a.data, d->a.size);
		}
		if (d->in_b) {
			fputs(",\"b\":", stdout);
			json_string(stdout, d->b.data, d->b.size);
		}
		fputs("}\n", stdout);
		return;
	}
	printf("%c\t", !d->in_a ? '+' : !d->in_b ? '-' : '~');
	tsv_escape(stdout, d->key.data, d->key.size);
	if (d->in_a) {
		putchar('\t');
		tsv_escape(stdout, d->a.data, d->a.size);
	}
	if (d->in_b) {
		putchar('\t');
		tsv_escape(stdout, d->b.data, d->b.size);
	}
	putchar('\n');
}

/* diff --keyspace of a keyspace only one commit has (in_b: B): each of
 * its keys is only there. 0 or a quire error. */
static int diff_one_side(const struct opts *o, quire_txn *t, int in_b)
{
	quire_delta d = {.in_a = !in_b, .in_b = in_b};
	quire_cursor *c;
	int e = quire_cursor_open(t, &c);
	if (e)
		return e;
	/* next on a cursor not yet positioned is first */
	while (!output_failed() && (e = quire_cursor_next(c)) == 0) {
		if ((e = quire_cursor_key(c, &d.key)) != 0 ||
		    (e = quire_cursor_value(c, in_b ? &d.b : &d.a)) != 0)
			break;
		print_delta(o, &d);
	}
	quire_cursor_close(c);
	return e == QUIRE_NOTFOUND ? 0 : e;
}

int cmd_diff(const struct opts *o)
{
	const char *path = o->pos[0];
	struct point pa, pb;
	struct ksname ks;
	quire *db;
	quire_txn *a = NULL, *b = NULL, *va, *vb;
	quire_diff *d = NULL;
	quire_delta delta;
	int e = 0, ea, eb, rc;
	if (parse_point(o->pos[1], &pa) || parse_point(o->pos[2], &pb))
		return bad_arg("diff: a commit is a txn id, @UNIXTIME or an "
			       "ISO 8601 time");
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0)
		return rc;
	if ((rc = open_db(o, path, 0, &db)) != 0) {
		free(ks.name);
		return rc;
	}
	if ((rc = begin_point(db, path, &pa, &a)) != 0 ||
	    (rc = begin_point(db, path, &pb, &b)) != 0)
		goto out;
	/* a keyspace created or dropped between the two commits is empty in
	 * the commit without it; one neither commit has is "no keyspace" */
	ea = keyspace_view(a, &ks, 0, &va);
	eb = keyspace_view(b, &ks, 0, &vb);
	if (ea != QUIRE_NOTFOUND && ea)
		e = ea;
	else if (eb != QUIRE_NOTFOUND && eb)
		e = eb;
	else if (ea && eb)
		e = QUIRE_NOTFOUND;
	if (e) {
		rc = keyspace_fail(path, &ks, e);
		goto out;
	}
	if (ea || eb) {
		e = diff_one_side(o, ea ? vb : va, ea != 0);
	} else if ((e = quire_diff_open(va, vb, &d)) == 0) {
		while (!output_failed() &&
		       (e = quire_diff_next(d, &delta)) == 0)
			print_delta(o, &delta);
		quire_diff_close(d);
	}
	rc = e && e != QUIRE_NOTFOUND ? fail(path, e) : 0;
out:
	if (b)
		quire_abort(b);
	if (a)
		quire_abort(a);
	quire_close(db);
	free(ks.name);
	return rc;
}
