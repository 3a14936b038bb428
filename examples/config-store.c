/*
 * config-store.c - versioned configuration on quire: every change is one
 * commit that records who made it and why (quire_commit_with), and every
 * old version stays readable (quire_begin_at). From that the program shows
 *   - the change log, newest first (quire_log_get),
 *   - what changed between two versions (quire_diff_*),
 *   - who set a setting to each of its values (quire_history_*),
 *   - a rollback: the state of an old version written as a new commit.
 * A rollback rewrites nothing, so the log still shows what was undone and
 * by whom, and the rollback itself can be rolled back.
 *
 * The program runs a demo that checks itself and exits 1 on any mismatch:
 *   config-store [FILE]      (default config-store.quire; FILE is recreated)
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <quire.h>

/* Every quire call is checked; an unexpected error ends the program. */
static void check(int e, const char *what)
{
	if (e == 0)
		return;
	fprintf(stderr, "config-store: %s: %s (%s)\n", what, quire_strerror(e),
		quire_errmsg());
	exit(1);
}

/* A verification of the demo: report the mismatch and fail. */
static void expect(int ok, const char *fmt, ...)
{
	va_list ap;
	if (ok)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "config-store: MISMATCH: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int val_is(quire_val v, const char *s)
{
	return v.size == strlen(s) && memcmp(v.data, s, v.size) == 0;
}

struct setting {
	const char *key, *value; /* value NULL: remove the setting */
};

/* Apply settings as one commit signed "who=... why=...". Returns the id of
 * the new commit. */
static uint64_t change(quire *db, const char *who, const char *why,
		       const struct setting *s, size_t n)
{
	quire_txn *t;
	char meta[256];
	check(quire_begin(db, 0, &t), "begin");
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(s[i].key);
		int e = s[i].value ? quire_put(t, s[i].key, kl, s[i].value,
					       strlen(s[i].value))
				   : quire_del(t, s[i].key, kl);
		check(e, s[i].key);
	}
	uint64_t id = quire_txn_id(t); /* the id this commit will get */
	int len = snprintf(meta, sizeof meta, "who=%s why=%s", who, why);
	check(quire_commit_with(t, meta, (size_t)len), "commit");
	return id;
}

/* The change log, newest commit first. */
static void print_log(quire *db)
{
	quire_txn *t;
	quire_log_entry le;
	char when[32];
	check(quire_begin(db, QUIRE_RDONLY, &t), "begin snapshot");
	printf("change log:\n");
	for (uint64_t id = quire_txn_id(t); id > 0; id--) {
		int e = quire_log_get(t, id, &le);
		if (e == QUIRE_EHISTORY)
			break; /* older commits were compacted away */
		check(e, "log");
		time_t sec = (time_t)(le.time_ns / 1000000000u);
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
			 gmtime_r(&sec, &tm));
		printf("  txn %" PRIu64 "  %s  %" PRIu64 " ops  %.*s\n",
		       le.txn_id, when, le.next_seq - le.first_seq,
		       (int)le.meta.size, (const char *)le.meta.data);
	}
	quire_abort(t);
}

static void print_val(const char *sign, quire_val k, quire_val v)
{
	printf("    %s %.*s = %.*s\n", sign, (int)k.size, (const char *)k.data,
	       (int)v.size, (const char *)v.data);
}

/* What changed from version a to version b. Returns the number of settings
 * that differ. */
static int print_diff(quire *db, uint64_t a, uint64_t b)
{
	quire_txn *ta, *tb;
	quire_diff *d;
	quire_delta x;
	int n = 0, e;
	check(quire_begin_at(db, a, &ta), "begin_at");
	check(quire_begin_at(db, b, &tb), "begin_at");
	check(quire_diff_open(ta, tb, &d), "diff");
	printf("  from txn %" PRIu64 " to txn %" PRIu64 ":\n", a, b);
	for (; (e = quire_diff_next(d, &x)) == 0; n++) {
		if (x.in_a)
			print_val("-", x.key, x.a);
		if (x.in_b)
			print_val("+", x.key, x.b);
	}
	if (e != QUIRE_NOTFOUND)
		check(e, "diff next");
	quire_diff_close(d);
	quire_abort(tb);
	quire_abort(ta);
	return n;
}

/* Every value key had, newest first, with who set it: a "blame". Returns
 * the number of versions. */
static int print_history(quire *db, const char *key)
{
	quire_txn *t;
	quire_history *h;
	quire_key_version v;
	quire_log_entry le;
	int n = 0, e;
	check(quire_begin(db, QUIRE_RDONLY, &t), "begin snapshot");
	check(quire_history_open(t, key, strlen(key), &h), "history");
	printf("history of %s:\n", key);
	for (; (e = quire_history_next(h, &v)) == 0; n++) {
		check(quire_log_get(t, v.txn_id, &le), "log");
		printf("  txn %" PRIu64 ": ", v.txn_id);
		if (v.op == QUIRE_OP_PUT)
			printf("set to %.*s", (int)v.value.size,
			       (const char *)v.value.data);
		else
			printf("removed");
		printf("  (%.*s)\n", (int)le.meta.size,
		       (const char *)le.meta.data);
	}
	if (e != QUIRE_NOTFOUND && e != QUIRE_EHISTORY)
		check(e, "history next");
	quire_history_close(h);
	quire_abort(t);
	return n;
}

/* Make the current state equal to version old's, as a new commit: apply the
 * difference from the newest state to the old one. Returns the new id. */
static uint64_t rollback(quire *db, uint64_t old, const char *who)
{
	quire_txn *w, *now, *then;
	quire_diff *d;
	quire_delta x;
	char meta[128];
	int e;
	/* The writer first: while it is open nobody else commits, so the
	 * snapshot taken next is exactly the state it will change. */
	check(quire_begin(db, 0, &w), "begin");
	check(quire_begin(db, QUIRE_RDONLY, &now), "begin snapshot");
	check(quire_begin_at(db, old, &then), "begin_at");
	check(quire_diff_open(now, then, &d), "diff");
	while ((e = quire_diff_next(d, &x)) == 0) {
		if (x.in_b)
			e = quire_put(w, x.key.data, x.key.size, x.b.data,
				      x.b.size);
		else
			e = quire_del(w, x.key.data, x.key.size);
		check(e, "rollback write");
	}
	if (e != QUIRE_NOTFOUND)
		check(e, "diff next");
	quire_diff_close(d);
	quire_abort(then);
	quire_abort(now);
	uint64_t id = quire_txn_id(w);
	int len = snprintf(meta, sizeof meta, "who=%s why=rollback to txn %" PRIu64,
			   who, old);
	check(quire_commit_with(w, meta, (size_t)len), "commit rollback");
	return id;
}

/* Whether versions a and b hold exactly the same keys and values, by a full
 * scan of both (independent of quire_diff). */
static int same_content(quire *db, uint64_t a, uint64_t b)
{
	quire_txn *ta, *tb;
	quire_cursor *ca, *cb;
	quire_val ka, kb, va, vb;
	int ea, eb, same = 1;
	check(quire_begin_at(db, a, &ta), "begin_at");
	check(quire_begin_at(db, b, &tb), "begin_at");
	check(quire_cursor_open(ta, &ca), "cursor");
	check(quire_cursor_open(tb, &cb), "cursor");
	for (ea = quire_cursor_first(ca), eb = quire_cursor_first(cb);
	     same && ea == 0 && eb == 0;
	     ea = quire_cursor_next(ca), eb = quire_cursor_next(cb)) {
		check(quire_cursor_key(ca, &ka), "key");
		check(quire_cursor_key(cb, &kb), "key");
		check(quire_cursor_value(ca, &va), "value");
		check(quire_cursor_value(cb, &vb), "value");
		same = ka.size == kb.size && !memcmp(ka.data, kb.data, ka.size) &&
		       va.size == vb.size && !memcmp(va.data, vb.data, va.size);
	}
	if (same && (ea != QUIRE_NOTFOUND || eb != QUIRE_NOTFOUND)) {
		if (ea && ea != QUIRE_NOTFOUND)
			check(ea, "cursor");
		if (eb && eb != QUIRE_NOTFOUND)
			check(eb, "cursor");
		same = 0; /* one has keys left */
	}
	quire_cursor_close(cb);
	quire_cursor_close(ca);
	quire_abort(tb);
	quire_abort(ta);
	return same;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "config-store.quire";
	quire_options o;
	quire *db;
	unlink(path); /* the demo starts from an empty store */
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	check(quire_open(path, &o, &db), path);

	static const struct setting s1[] = {
		{"max_conn", "100"}, {"timeout", "30s"}, {"log_level", "info"}};
	static const struct setting s2[] = {{"max_conn", "200"}};
	static const struct setting s3[] = {
		{"log_level", "debug"}, {"timeout", NULL}, {"trace", "on"}};
	uint64_t v1 = change(db, "alice", "initial settings", s1, 3);
	uint64_t v2 = change(db, "bob", "raise limit", s2, 1);
	uint64_t v3 = change(db, "carol", "debug incident 42", s3, 3);
	print_log(db);

	printf("diff:\n");
	expect(print_diff(db, v1, v2) == 1, "v1 -> v2 changes one setting");
	/* log_level and max_conn changed, timeout removed, trace added */
	expect(print_diff(db, v1, v3) == 4, "v1 -> v3 changes four settings");
	expect(print_history(db, "max_conn") == 2, "max_conn has 2 versions");
	expect(print_history(db, "timeout") == 2, "timeout: set, removed");

	printf("rolling back to txn %" PRIu64 "\n", v2);
	uint64_t v4 = rollback(db, v2, "dave");
	expect(print_diff(db, v3, v4) == 3, "the rollback undoes v3's three");
	expect(same_content(db, v4, v2), "txn %" PRIu64 " should equal txn %"
	       PRIu64, v4, v2);
	expect(!same_content(db, v4, v3), "txn %" PRIu64 " still differs from "
	       "txn %" PRIu64, v4, v3);

	/* The rollback is a commit like any other: signed, in the log, and
	 * the version it undid is still there. */
	quire_txn *t;
	quire_log_entry le;
	quire_val v;
	check(quire_begin(db, QUIRE_RDONLY, &t), "begin snapshot");
	expect(quire_txn_id(t) == v4, "the rollback is the newest commit");
	check(quire_log_get(t, v4, &le), "log");
	char want[64];
	snprintf(want, sizeof want, "who=dave why=rollback to txn %" PRIu64, v2);
	expect(val_is(le.meta, want), "metadata of the rollback");
	expect(quire_get(t, "trace", 5, &v) == QUIRE_NOTFOUND, "trace is gone");
	check(quire_get(t, "timeout", 7, &v), "timeout");
	expect(val_is(v, "30s"), "timeout is back");
	quire_abort(t);
	check(quire_begin_at(db, v3, &t), "begin_at");
	check(quire_get(t, "trace", 5, &v), "trace at v3");
	expect(val_is(v, "on"), "txn %" PRIu64 " is unchanged", v3);
	quire_abort(t);
	print_log(db);

	check(quire_close(db), "close");
	printf("config-store: all checks passed\n");
	return 0;
}
