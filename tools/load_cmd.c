/*
 * load_cmd.c - the quire tool's load command: records from standard input
 * (TSV lines as dump prints them, dump --json lines, or a changes --json
 * feed with its deletes) written in one commit, or one per --batch records.
 * A load that fails leaves an existing database as it was (but for the
 * batches committed before the failure) and no new file. See quire(1).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "tool.h"
#include "tsv.h"

/* One record of the input, its bytes in the line buffer. */
struct rec {
	unsigned char *key, *value;
	size_t klen, vlen;
	int del;
};

struct loader {
	const struct opts *o;
	const char *path;
	quire *db;
	quire_txn *t;
	unsigned long long inbatch, puts, dels, commits;
};

/* key<TAB>value, both TSV-escaped; NULL or what is wrong. */
static const char *parse_tsv(unsigned char *line, size_t n, struct rec *r)
{
	unsigned char *tab = memchr(line, '\t', n);
	size_t bad;
	if (!tab)
		return "no tab between key and value";
	if (tsv_unescape(line, (size_t)(tab - line), &r->klen, &bad) ||
	    tsv_unescape(tab + 1, n - (size_t)(tab - line) - 1, &r->vlen, &bad))
		return "bad escape, extra tab or raw carriage return";
	r->key = line;
	r->value = tab + 1;
	r->del = 0;
	return NULL;
}

static size_t skip_ws(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i;
}

/* One JSON object per line: {"key":K,"value":V} (dump --json), or with
 * changes also "op" ("put" or "del", which has no value) and the numbers
 * "seq" and "txn", which are not needed to replay. NULL or what is wrong. */
static const char *parse_json(unsigned char *line, size_t n, int changes,
			      struct rec *r)
{
	unsigned char *op = NULL;
	size_t oplen = 0, i = skip_ws(line, 0, n), used, len;
	*r = (struct rec){0};
	if (i == n || line[i++] != '{')
		return "not a JSON object";
	for (i = skip_ws(line, i, n); i < n && line[i] != '}';) {
		unsigned char *name = line + i, *val;
		size_t namelen;
		int number;
		if (json_unstring(name, n - i, &used, &namelen))
			return "bad member name";
		i = skip_ws(line, i + used, n);
		if (i == n || line[i++] != ':')
			return "no ':' after a member name";
		i = skip_ws(line, i, n);
		val = line + i;
#define IS(s) (namelen == sizeof s - 1 && !memcmp(name, s, namelen))
		number = IS("seq") || IS("txn");
		if (!(IS("key") || IS("value") ||
		      (changes && (number || IS("op")))))
			return changes ? "a member other than seq, txn, op, key "
					 "and value"
				       : "a member other than key and value (a "
					 "changes feed loads with --changes)";
		if (number) {
			size_t d = strspn((char *)val, "0123456789");
			if (!d || d > n - i)
				return "seq and txn are numbers";
			i += d;
		} else if (json_unstring(val, n - i, &used, &len)) {
			return "bad string";
		} else {
			i += used;
			if (IS("key") && !r->key) {
				r->key = val;
				r->klen = len;
			} else if (IS("value") && !r->value) {
				r->value = val;
				r->vlen = len;
			} else if (IS("op") && !op) {
				op = val;
				oplen = len;
			} else {
				return "a member given twice";
			}
		}
#undef IS
		i = skip_ws(line, i, n);
		if (i < n && line[i] == ',')
			i = skip_ws(line, i + 1, n);
		else if (i == n || line[i] != '}')
			return "no ',' or '}' after a member";
	}
	if (i == n || skip_ws(line, i + 1, n) != n)
		return "not one JSON object";
	if (changes && !(op && oplen == 3 && (!memcmp(op, "put", 3) ||
					      !memcmp(op, "del", 3))))
		return "no op \"put\" or \"del\"";
	r->del = op && op[0] == 'd';
	if (!r->key)
		return "no key";
	if (r->del ? r->value != NULL : r->value == NULL)
		return r->del ? "a del with a value" : "no value";
	return NULL;
}

static int apply(struct loader *l, const struct rec *r)
{
	int e;
	if (!l->t && (e = begin_write(l->o, l->db, l->path, &l->t)) != 0) {
		l->t = NULL;
		return e;
	}
	if (r->del) {
		/* a feed replayed onto a database that lacks the key has
		 * nothing to delete: the end state is the same */
		if ((e = quire_del(l->t, r->key, r->klen)) == QUIRE_NOTFOUND)
			e = 0;
		l->dels += !e;
	} else {
		e = quire_put(l->t, r->key, r->klen, r->value, r->vlen);
		l->puts += !e;
	}
	if (e || !l->o->batch || ++l->inbatch < l->o->batch)
		return e;
	e = commit_meta(l->o, l->t);
	l->t = NULL;
	l->inbatch = 0;
	l->commits += !e;
	return e;
}

/* The progress line: records, and bytes of the input (of its size when
 * it is a file). */
static void show(struct progress *p, const struct loader *l,
		 unsigned long long bytes, off_t size, int force)
{
	char b[16], s[16];
	if (!p->on)
		return;
	human(bytes, b, sizeof b);
	human(size > 0 ? (uint64_t)size : 0, s, sizeof s);
	progress_show(p, force, "loading %s: %llu records, %s%s%s", l->path,
		      l->puts + l->dels, b, size > 0 ? " of " : "",
		      size > 0 ? s : "");
}

/* After a successful load: what -v reports. */
static void report(const struct loader *l)
{
	quire_txn *t;
	quire_stat st;
	fprintf(stderr, "quire: %s: %llu put%s and %llu delete%s in %llu "
			"commit%s",
		l->path, l->puts, l->puts == 1 ? "" : "s", l->dels,
		l->dels == 1 ? "" : "s", l->commits,
		l->commits == 1 ? "" : "s");
	if (quire_begin(l->db, QUIRE_RDONLY, &t) == 0) {
		if (quire_txn_stat(t, &st) == 0)
			fprintf(stderr, "; %llu keys in the database",
				(unsigned long long)st.key_count);
		quire_abort(t);
	}
	fputc('\n', stderr);
}

int cmd_load(const struct opts *o)
{
	struct loader l = {.o = o, .path = o->pos[0]};
	struct progress prog;
	struct stat in;
	struct rec r;
	unsigned char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long long lineno = 0, bytes = 0;
	const char *why = NULL;
	int e = 0, rc, created;
	off_t size;
	/* a load that fails removes a file it created */
	created = access(l.path, F_OK) != 0 && errno == ENOENT;
	if ((rc = open_db(o, l.path, OPEN_CREATE, &l.db)) != 0)
		return rc;
	size = fstat(STDIN_FILENO, &in) == 0 && S_ISREG(in.st_mode) ? in.st_size
								    : 0;
	progress_start(&prog);
	show(&prog, &l, 0, size, 1);
	while ((n = getline((char **)&line, &cap, stdin)) >= 0) {
		size_t len = (size_t)n;
		lineno++;
		bytes += len;
		/* a line ends with LF, CRLF or the end of the input */
		if (len && line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		why = o->json || o->changes
			      ? parse_json(line, len, o->changes, &r)
			      : parse_tsv(line, len, &r);
		if (why || (e = apply(&l, &r)) != 0)
			break;
		show(&prog, &l, bytes, size, 0);
	}
	progress_clear(&prog);
	if (why) {
		fprintf(stderr, "quire: stdin line %llu: %s\n", lineno, why);
		rc = 2;
	} else if (!e && ferror(stdin)) {
		fprintf(stderr, "quire: reading stdin: %s\n", strerror(errno));
		rc = 2;
	}
	if (l.t && !rc && !e) {
		e = commit_meta(o, l.t);
		l.commits += !e;
	} else if (l.t) {
		quire_abort(l.t);
	}
	if (e)
		rc = fail(l.path, e);
	if (!rc && o->verbose)
		report(&l);
	free(line);
	quire_close(l.db);
	if (rc && created && unlink(l.path) != 0)
		fprintf(stderr, "quire: %s: removing it: %s\n", l.path,
			strerror(errno));
	return rc;
}
