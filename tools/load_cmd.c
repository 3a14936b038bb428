/*
 * load_cmd.c - the quire tool's load command: records from standard input
 * (TSV lines as dump prints them, dump --json lines, or a changes feed as
 * changes prints it, TSV or --json, with its deletes and range deletes)
 * written in one commit, or one per --batch records. A load that fails
 * leaves an existing database as it was (but for the batches committed
 * before the failure) and no new file. See quire(1).
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

/* What a record does. */
enum { REC_PUT, REC_DEL, REC_RANGE };

/* One record of the input, its bytes in the line buffer. A range delete
 * (REC_RANGE) runs from key (included) to value (excluded), or to the
 * last key when value is NULL. */
struct rec {
	unsigned char *key, *value;
	size_t klen, vlen;
	int op;
};

struct loader {
	const struct opts *o;
	const char *path;
	quire *db;
	quire_txn *t;
	unsigned long long inbatch, puts, dels, ranges, range_keys, commits;
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
	r->op = REC_PUT;
	return NULL;
}

/* A changes line: SEQ TXN put KEY VALUE, SEQ TXN del KEY or SEQ TXN
 * del_range COUNT START [END], tab-separated, keys and values
 * TSV-escaped; SEQ, TXN and COUNT are not needed to replay but must be
 * numbers. NULL or what is wrong. */
static const char *parse_changes_tsv(unsigned char *line, size_t n,
				     struct rec *r)
{
	unsigned char *f[6], *p = line, *end = line + n, *tab;
	size_t len[6], nf = 0, bad;
	*r = (struct rec){0};
	do {
		if (nf == 6)
			return "too many fields for a changes line";
		tab = memchr(p, '\t', (size_t)(end - p));
		f[nf] = p;
		len[nf++] = (size_t)((tab ? tab : end) - p);
		if (tab)
			p = tab + 1;
	} while (tab);
#define IS(i, s) (len[i] == sizeof s - 1 && !memcmp(f[i], s, len[i]))
#define NUMBER(i) (len[i] && strspn((char *)f[i], "0123456789") >= len[i])
	if (nf < 4 || !NUMBER(0) || !NUMBER(1))
		return "not a changes line (SEQ, TXN, op, key ...)";
	if (IS(2, "put") && nf == 5)
		r->op = REC_PUT;
	else if (IS(2, "del") && nf == 4)
		r->op = REC_DEL;
	else if (IS(2, "del_range") && (nf == 5 || nf == 6) && NUMBER(3))
		r->op = REC_RANGE;
	else
		return "not put KEY VALUE, del KEY or del_range COUNT START "
		       "[END]";
#undef IS
#undef NUMBER
	/* the key (a range's start) and the value (its end) */
	size_t k = r->op == REC_RANGE ? 4 : 3;
	if (tsv_unescape(f[k], len[k], &r->klen, &bad) ||
	    (k + 1 < nf && tsv_unescape(f[k + 1], len[k + 1], &r->vlen, &bad)))
		return "bad escape or raw carriage return";
	r->key = f[k];
	r->value = k + 1 < nf ? f[k + 1] : NULL;
	return NULL;
}

static size_t skip_ws(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i;
}

/* One JSON object per line: {"key":K,"value":V} (dump --json), or with
 * changes an operation as changes --json prints it: "op" "put" (key and
 * value), "del" (key) or "del_range" (start, and end: a string, or null
 * for a range to the last key), and the numbers "seq", "txn" and "count",
 * which are not needed to replay. NULL or what is wrong. */
static const char *parse_json(unsigned char *line, size_t n, int changes,
			      struct rec *r)
{
	unsigned char *op = NULL, *start = NULL, *end = NULL;
	size_t oplen = 0, slen = 0, elen = 0, used, len;
	size_t i = skip_ws(line, 0, n);
	int has_end = 0, has_count = 0;
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
		number = IS("seq") || IS("txn") || IS("count");
		if (!(IS("key") || IS("value") ||
		      (changes && (number || IS("op") || IS("start") ||
				   IS("end")))))
			return changes ? "a member other than seq, txn, op, "
					 "key, value, start, end and count"
				       : "a member other than key and value (a "
					 "changes feed loads with --changes)";
		if (number) {
			size_t d = strspn((char *)val, "0123456789");
			if (!d || d > n - i)
				return "seq, txn and count are numbers";
			if (IS("count") && has_count++)
				return "a member given twice";
			i += d;
		} else if (IS("end") && n - i >= 4 && !memcmp(val, "null", 4)) {
			/* end stays NULL: the range runs to the last key */
			if (has_end++)
				return "a member given twice";
			i += 4;
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
			} else if (IS("start") && !start) {
				start = val;
				slen = len;
			} else if (IS("end") && !has_end++) {
				end = val;
				elen = len;
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
#define OP(s) (oplen == sizeof s - 1 && !memcmp(op, s, oplen))
	if (changes && !(op && (OP("put") || OP("del") || OP("del_range"))))
		return "no op \"put\", \"del\" or \"del_range\"";
	r->op = !op || OP("put") ? REC_PUT : OP("del") ? REC_DEL : REC_RANGE;
#undef OP
	if (r->op == REC_RANGE) {
		if (r->key || r->value)
			return "a del_range has start and end, not key or "
			       "value";
		if (!start || !has_end)
			return "a del_range needs start and end (null: to the "
			       "last key)";
		r->key = start;
		r->klen = slen;
		r->value = end;
		r->vlen = elen;
		return NULL;
	}
	if (start || has_end || has_count)
		return "start, end and count belong to a del_range";
	if (!r->key)
		return "no key";
	if (r->op == REC_DEL ? r->value != NULL : r->value == NULL)
		return r->op == REC_DEL ? "a del with a value" : "no value";
	return NULL;
}

static int apply(struct loader *l, const struct rec *r)
{
	int e;
	if (!l->t && (e = begin_write(l->o, l->db, l->path, &l->t)) != 0) {
		l->t = NULL;
		return e;
	}
	if (r->op == REC_RANGE) {
		/* what it removes here, not the count the feed recorded: the
		 * same when replayed onto the state it was made in */
		uint64_t n = 0;
		e = quire_del_range(l->t, r->key, r->klen, r->value, r->vlen,
				    &n);
		l->ranges += !e;
		l->range_keys += n;
	} else if (r->op == REC_DEL) {
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
		      l->puts + l->dels + l->ranges, b, size > 0 ? " of " : "",
		      size > 0 ? s : "");
}

/* After a successful load: what -v reports. */
static void report(const struct loader *l)
{
	quire_txn *t;
	quire_stat st;
	fprintf(stderr, "quire: %s: %llu put%s%s %llu delete%s", l->path,
		l->puts, l->puts == 1 ? "" : "s", l->ranges ? "," : " and",
		l->dels, l->dels == 1 ? "" : "s");
	if (l->ranges)
		fprintf(stderr, " and %llu range delete%s (%llu key%s)",
			l->ranges, l->ranges == 1 ? "" : "s", l->range_keys,
			l->range_keys == 1 ? "" : "s");
	fprintf(stderr, " in %llu commit%s", l->commits,
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
		/* a changes feed in either form: a JSON line is an object,
		 * a TSV one starts with its sequence number */
		if (o->changes && !o->json &&
		    (skip_ws(line, 0, len) == len ||
		     line[skip_ws(line, 0, len)] != '{'))
			why = parse_changes_tsv(line, len, &r);
		else if (o->json || o->changes)
			why = parse_json(line, len, o->changes, &r);
		else
			why = parse_tsv(line, len, &r);
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
