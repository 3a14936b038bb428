/*
 * event-store.c - an event store on quire: streams, appends with an expected
 * version, and a projection that stays exactly-once across crashes.
 *
 * Layout of the keys:
 *   stream/<name>/<version>  one event (an amount, "+100" or "-30"); the
 *                            version is 16 zero-padded digits, so a prefix
 *                            scan returns a stream's events in order
 *   head/<name>              the stream's version (its number of events)
 *   proj/balance/<name>      the projection: the sum of the amounts
 *   proj/position            the last sequence number the projector consumed
 *
 * Appends are optimistic: a client reads the head in a lock-free snapshot,
 * decides what to append (a withdrawal must be covered by the balance), and
 * writes with quire_put_if() on the head key's version (the sequence number
 * quire_get_seq() returned). If another client appended in between, the put
 * fails with QUIRE_ECONFLICT and the client reads again and re-decides.
 *
 * The projector reads the changes feed from proj/position and writes the new
 * balances and the new position in one commit. A crash either loses the
 * whole step or none of it, so no event is ever applied twice or skipped.
 * (A projector that runs all the time would sleep in quire_wait() between
 * steps instead of polling.)
 *
 * The program runs a demo that checks itself and exits 1 on any mismatch:
 *   event-store [FILE]      (default event-store.quire; FILE is recreated)
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <quire.h>

#define NCLIENTS 3  /* concurrent appenders ... */
#define NAPPENDS 20 /* ... of this many events each */

static const char *path = "event-store.quire";

/* Every quire call is checked; an unexpected error ends the program. */
static void check(int e, const char *what)
{
	if (e == 0)
		return;
	fprintf(stderr, "event-store: %s: %s (%s)\n", what, quire_strerror(e),
		quire_errmsg());
	exit(1);
}

/* A verification of the demo: report the mismatch and fail. */
static void expect(int ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "event-store: MISMATCH: %s\n", what);
	exit(1);
}

static quire *open_db(void)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	o.busy_timeout_ms = -1; /* wait for writers in other processes */
	check(quire_open(path, &o, &db), path);
	return db;
}

/* Values are not NUL-terminated: copy before parsing. */
static long long parse_num(quire_val v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%.*s", (int)v.size, (const char *)v.data);
	return strtoll(buf, NULL, 10);
}

/* The value of key as a number, 0 if the key is absent; its version (0 if
 * absent) in *seq unless seq is NULL. */
static long long get_num(quire_txn *t, const char *key, uint64_t *seq)
{
	quire_val v;
	int e = quire_get_seq(t, key, strlen(key), &v, seq);
	if (e == QUIRE_NOTFOUND)
		return 0;
	check(e, key);
	return parse_num(v);
}

static void put_num(quire_txn *t, const char *key, long long n)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", n);
	check(quire_put(t, key, strlen(key), buf, strlen(buf)), key);
}

/* What a client knows about a stream. */
struct stream {
	uint64_t version;  /* events in the stream */
	uint64_t head_seq; /* version of the head key: what put_if expects */
	long long balance; /* the events folded, straight from the stream */
};

/* Read a stream in a new snapshot, checking that its events are numbered
 * 1..version without a gap. */
static void read_stream(quire *db, const char *name, struct stream *s)
{
	char key[128], want[160];
	quire_txn *t;
	quire_cursor *c;
	quire_val k, v;
	int e;
	check(quire_begin(db, QUIRE_RDONLY, &t), "begin snapshot");
	snprintf(key, sizeof key, "head/%s", name);
	s->version = (uint64_t)get_num(t, key, &s->head_seq);
	s->balance = 0;
	snprintf(key, sizeof key, "stream/%s/", name);
	check(quire_cursor_open(t, &c), "cursor");
	uint64_t n = 0;
	for (e = quire_cursor_seek(c, key, strlen(key)); e == 0;
	     e = quire_cursor_next(c)) {
		check(quire_cursor_key(c, &k), "cursor key");
		if (k.size < strlen(key) || memcmp(k.data, key, strlen(key)))
			break; /* past the stream */
		snprintf(want, sizeof want, "%s%016" PRIu64, key, ++n);
		expect(k.size == strlen(want) && !memcmp(k.data, want, k.size),
		       "an event is missing");
		check(quire_cursor_value(c, &v), "cursor value");
		s->balance += parse_num(v);
	}
	if (e != QUIRE_NOTFOUND)
		check(e, "cursor next");
	quire_cursor_close(c);
	quire_abort(t);
	expect(n == s->version, "the head counts other events than the stream");
}

/* Append n events to a stream that the caller saw as *seen. Returns 0, or
 * QUIRE_ECONFLICT if the stream has moved on since (nothing is written). */
static int append(quire *db, const char *name, const struct stream *seen,
		  const long long *amount, int n)
{
	char key[128], val[32];
	quire_txn *t;
	check(quire_begin(db, 0, &t), "begin");
	/* the head first: a conflict fails before anything else is written */
	snprintf(key, sizeof key, "head/%s", name);
	snprintf(val, sizeof val, "%" PRIu64, seen->version + (uint64_t)n);
	int e = quire_put_if(t, key, strlen(key), val, strlen(val),
			     seen->head_seq);
	if (e == QUIRE_ECONFLICT) {
		quire_abort(t);
		return e;
	}
	check(e, "put_if head");
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof key, "stream/%s/%016" PRIu64, name,
			 seen->version + 1 + (uint64_t)i);
		snprintf(val, sizeof val, "%+lld", amount[i]);
		check(quire_put(t, key, strlen(key), val, strlen(val)), key);
	}
	check(quire_commit(t), "commit append");
	return 0;
}

/* One projector step: apply up to max new events in one commit. With
 * crash_after > 0 the process kills itself after applying that many, before
 * its commit. Returns the number of events applied. */
static int project(quire *db, int max, int crash_after)
{
	quire_txn *t;
	quire_changes *f;
	quire_change c;
	uint64_t pos;
	char key[160];
	int n = 0, e = 0;
	check(quire_begin(db, 0, &t), "begin projector");
	/* the position is read in the transaction that will advance it */
	pos = (uint64_t)get_num(t, "proj/position", NULL);
	check(quire_changes_open(t, pos, &f), "changes feed");
	while (n < max && (e = quire_changes_next(f, &c)) == 0) {
		pos = c.seq; /* consumed, whether it is an event or not */
		const char *k = c.key.data;
		if (c.op != QUIRE_OP_PUT || c.key.size < 7 + 1 + 17 ||
		    memcmp(k, "stream/", 7) != 0)
			continue; /* heads, projections */
		/* "stream/<name>/<16 digits>" -> "proj/balance/<name>" */
		int nl = (int)c.key.size - 7 - 17;
		snprintf(key, sizeof key, "proj/balance/%.*s", nl, k + 7);
		put_num(t, key, get_num(t, key, NULL) + parse_num(c.value));
		if (++n == crash_after)
			raise(SIGKILL); /* no cleanup, no commit */
	}
	if (n < max && e != QUIRE_NOTFOUND)
		check(e, "changes next");
	quire_changes_close(f);
	if (n == 0) { /* only our own writes were new: not worth a commit */
		quire_abort(t);
		return 0;
	}
	put_num(t, "proj/position", (long long)pos);
	check(quire_commit(t), "commit projection");
	return n;
}

/* Show each stream and its projected balance, and check the projection:
 * against want[] if given, else against the balance recomputed from the
 * stream's events. */
static void report(quire *db, const char *const *names, int n,
		   const long long *want)
{
	quire_txn *t;
	struct stream s;
	char key[128];
	for (int i = 0; i < n; i++) {
		read_stream(db, names[i], &s);
		check(quire_begin(db, QUIRE_RDONLY, &t), "begin snapshot");
		snprintf(key, sizeof key, "proj/balance/%s", names[i]);
		long long p = get_num(t, key, NULL), w = want ? want[i] : s.balance;
		printf("  %-8s %3" PRIu64 " events, balance %5lld, "
		       "projected %5lld\n", names[i], s.version, s.balance, p);
		quire_abort(t);
		expect(p == w, "wrong projected balance");
	}
}

/* A client process: NAPPENDS appends of +1, each retried until it lands. */
static int client(void)
{
	quire *db = open_db();
	long long one = 1;
	struct stream s;
	int conflicts = 0;
	for (int i = 0; i < NAPPENDS;) {
		read_stream(db, "shared", &s);
		if (append(db, "shared", &s, &one, 1) == QUIRE_ECONFLICT)
			conflicts++; /* read again and retry */
		else
			i++;
	}
	printf("  client %d: %d appends, %d conflicts retried\n", (int)getpid(),
	       NAPPENDS, conflicts);
	check(quire_close(db), "close");
	fflush(stdout); /* the child leaves with _exit() */
	return 0;
}

/* Wait for a child: it must exit 0, or with sig > 0 be killed by sig. */
static void reap(pid_t pid, int sig)
{
	int st;
	expect(pid > 0 && waitpid(pid, &st, 0) == pid, "fork/wait failed");
	expect(sig ? WIFSIGNALED(st) && WTERMSIG(st) == sig
		   : WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "a child ended the wrong way");
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"alice", "bob", "shared"};
	struct stream a, b, s;
	if (argc > 1)
		path = argv[1];
	unlink(path); /* the demo starts from an empty store */
	quire *db = open_db();

	printf("appending to two streams\n");
	long long first[] = {100, 50, -30}, bobs[] = {20, 5};
	read_stream(db, "alice", &a);
	expect(append(db, "alice", &a, first, 3) == 0, "first append");
	read_stream(db, "bob", &b);
	expect(append(db, "bob", &b, bobs, 2) == 0, "bob's append");

	printf("two clients withdraw from alice at once\n");
	long long w70 = -70, w80 = -80;
	read_stream(db, "alice", &a); /* client A reads ... */
	read_stream(db, "alice", &b); /* ... so does client B */
	expect(b.balance >= 70 && append(db, "alice", &b, &w70, 1) == 0,
	       "B's withdrawal");
	int e = append(db, "alice", &a, &w80, 1); /* A's view is stale */
	printf("  A appends at version %" PRIu64 ": %s\n", a.version,
	       quire_strerror(e));
	expect(e == QUIRE_ECONFLICT, "stale append must conflict");
	read_stream(db, "alice", &a); /* A reads again and re-decides */
	printf("  A re-reads: version %" PRIu64 ", balance %lld: withdrawal "
	       "of 80 %s\n", a.version, a.balance,
	       a.balance >= 80 ? "accepted" : "rejected");
	expect(a.version == 4 && a.balance == 50, "alice after the race");

	/* Writers in other processes: each retries until its append lands.
	 * The handle is closed first; a child opens its own. */
	printf("%d processes append to one stream\n", NCLIENTS);
	check(quire_close(db), "close");
	fflush(stdout); /* or the children would print our buffer again */
	pid_t pids[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++)
		if ((pids[i] = fork()) == 0)
			_exit(client());
	for (int i = 0; i < NCLIENTS; i++)
		reap(pids[i], 0);

	/* A projector that is killed in the middle of its third step: two
	 * steps of 10 are committed, the third dies after 5 events. */
	printf("projector: steps of 10 events, killed in the third\n");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		db = open_db();
		project(db, 10, 0);
		project(db, 10, 0);
		project(db, 10, 5);
		_exit(3); /* not reached */
	}
	reap(pid, SIGKILL);

	/* Exactly the two committed steps are projected, in order: alice's 4
	 * events, bob's 2, then 14 of the +1s on shared. */
	static const long long after_crash[] = {50, 25, 14};
	db = open_db();
	report(db, names, 3, after_crash);

	printf("projector restarted\n");
	int steps = 0;
	while (project(db, 10, 0) > 0)
		steps++;
	printf("  %d more steps\n", steps);
	report(db, names, 3, NULL);
	read_stream(db, "shared", &s);
	expect(s.version == NCLIENTS * NAPPENDS, "events of shared lost");
	check(quire_close(db), "close");
	printf("event-store: all checks passed\n");
	return 0;
}
