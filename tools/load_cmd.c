/*
 * load_cmd.c - the quire tool's load command: records from standard input
 * (TSV lines as dump prints them, dump --json lines, or a changes feed as
 * changes prints it, TSV or --json, with its deletes, range deletes and
 * keyspace operations) written in one commit, or one per --batch records,
 * into the keyspaces the records name (dump --all-keyspaces' keyspace=
 * lines, a feed's ks= fields), --keyspace or the default keyspace. A load
 * that fails leaves an existing database as it was (but for the batches
 * committed before the failure) and no new file. See quire(1).
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
enum { REC_PUT, REC_DEL, REC_RANGE, REC_KEYSPACE, REC_RENAME, REC_DROP };

/* One record of the input, its bytes in the line buffer. A range delete
 * (REC_RANGE) runs from key (included) to value (excluded), or to the
 * last key when value is NULL. ks names the keyspace of a put or delete
 * (NULL: the loader's current one), the one REC_KEYSPACE creates (a
 * dump's keyspace= line also makes it current) and the one REC_DROP
 * drops; REC_RENAME renames keyspace key to value. */
struct rec {
	unsigned char *key, *value, *ks;
	size_t klen, vlen, kslen;
	int op;
};

struct loader {
	const struct opts *o;
	const char *path;
	quire *db;
	quire_txn *t;
	unsigned long long inbatch, puts, dels, ranges, range_keys, commits;
	/* The keyspace of records that name none: --keyspace, then that of
	 * a dump's last keyspace= line; the default one without has_cur. */
	int has_cur;
	size_t curlen;
	unsigned char cur[QUIRE_MAX_KEYSPACE_NAME];
	/* The view of the keyspace last written, until the transaction ends
	 * or a keyspace is renamed or dropped: a lookup per record saved. */
	quire_txn *view;
	size_t vlen;
	unsigned char vname[QUIRE_MAX_KEYSPACE_NAME];
};

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *name_check(size_t len)
{
	return len && len <= QUIRE_MAX_KEYSPACE_NAME
		       ? NULL
		       : "a keyspace name is 1 to " STR(
				 QUIRE_MAX_KEYSPACE_NAME) " bytes";
}

/* A keyspace name, TSV-escaped, as r->ks; NULL or what is wrong. */
static const char *tsv_keyspace(unsigned char *p, size_t n, struct rec *r)
{
	size_t bad;
	if (tsv_unescape(p, n, &r->kslen, &bad))
		return "bad escape or raw carriage return";
	r->ks = p;
	return name_check(r->kslen);
}

/* The line dump --all-keyspaces writes before a keyspace's records. */
#define KS_LINE "keyspace="
#define KS_LINE_LEN (sizeof KS_LINE - 1)

/* key<TAB>value, both TSV-escaped, or keyspace=NAME (no tab); NULL or
 * what is wrong. */
static const char *parse_tsv(unsigned char *line, size_t n, struct rec *r)
{
	unsigned char *tab = memchr(line, '\t', n);
	size_t bad;
	*r = (struct rec){0};
	if (!tab && n >= KS_LINE_LEN && !memcmp(line, KS_LINE, KS_LINE_LEN)) {
		r->op = REC_KEYSPACE;
		return tsv_keyspace(line + KS_LINE_LEN, n - KS_LINE_LEN, r);
	}
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
 * del_range COUNT START [END], with ks=NAME after TXN in a named keyspace;
 * or SEQ TXN keyspace NAME, SEQ TXN rename_keyspace OLD NEW, SEQ TXN
 * drop_keyspace COUNT NAME. Tab-separated, keys, values and names
 * TSV-escaped;
 * SEQ, TXN and COUNT are not needed to replay but must be numbers. NULL
 * or what is wrong. */
static const char *parse_changes_tsv(unsigned char *line, size_t n,
				     struct rec *r)
{
	unsigned char *f[7], *p = line, *end = line + n, *tab;
	size_t len[7], nf = 0, a = 2, args, k, bad;
	const char *why;
	*r = (struct rec){0};
	do {
		if (nf == 7)
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
	if (len[2] >= 3 && !memcmp(f[2], "ks=", 3)) {
		if ((why = tsv_keyspace(f[2] + 3, len[2] - 3, r)) != NULL)
			return why;
		a = 3; /* the op comes after it */
	}
	args = nf - a - 1;
	if (IS(a, "put") && args == 2)
		r->op = REC_PUT;
	else if (IS(a, "del") && args == 1)
		r->op = REC_DEL;
	else if (IS(a, "del_range") && (args == 2 || args == 3) &&
		 NUMBER(a + 1))
		r->op = REC_RANGE;
	else if (!r->ks && IS(a, "keyspace") && args == 1)
		r->op = REC_KEYSPACE;
	else if (!r->ks && IS(a, "drop_keyspace") && args == 2 &&
		 NUMBER(a + 1))
		r->op = REC_DROP;
	else if (!r->ks && IS(a, "rename_keyspace") && args == 2)
		r->op = REC_RENAME;
	else
		return "not put KEY VALUE, del KEY, del_range COUNT START [END], "
		       "keyspace NAME, rename_keyspace OLD NEW or "
		       "drop_keyspace COUNT NAME";
#undef IS
#undef NUMBER
	if (r->op == REC_KEYSPACE)
		return tsv_keyspace(f[a + 1], len[a + 1], r);
	if (r->op == REC_DROP)
		return tsv_keyspace(f[a + 2], len[a + 2], r);
	/* the key (a range's start, the old name) and the value (its end,
	 * the new name) */
	k = r->op == REC_RANGE ? a + 2 : a + 1;
	if (tsv_unescape(f[k], len[k], &r->klen, &bad) ||
	    (k + 1 < nf && tsv_unescape(f[k + 1], len[k + 1], &r->vlen, &bad)))
		return "bad escape or raw carriage return";
	r->key = f[k];
	r->value = k + 1 < nf ? f[k + 1] : NULL;
	if (r->op != REC_RENAME)
		return NULL;
	why = name_check(r->klen);
	return why ? why : name_check(r->vlen);
}

/* A feed's keyspace operation op in JSON: keyspace names it, from a
 * rename's old name; range: it had start or end, count: a count (a
 * drop's keys). */
static const char *keyspace_op(struct rec *r, int op, unsigned char *from,
			       size_t flen, int range, int count)
{
	const char *why;
	r->op = op;
	if (r->key || r->value || range)
		return "keyspace, rename_keyspace and drop_keyspace have no key, "
		       "value, start or end";
	if (count && op != REC_DROP)
		return "count belongs to a del_range or a drop_keyspace";
	if (!r->ks)
		return "no keyspace";
	if (op != REC_RENAME)
		return from ? "from belongs to a rename_keyspace" : NULL;
	if (!from)
		return "a rename_keyspace needs from (the old name)";
	if ((why = name_check(flen)) != NULL)
		return why;
	/* rename key to value */
	r->key = from;
	r->klen = flen;
	r->value = r->ks;
	r->vlen = r->kslen;
	r->ks = NULL;
	return NULL;
}

static size_t skip_ws(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i;
}

/* One JSON object per line: {"key":K,"value":V} (dump --json), with
 * "keyspace" the record's keyspace, or {"keyspace":NAME} alone as dump
 * --all-keyspaces --json prints it before a keyspace's records; or with
 * changes an operation as changes --json prints it: "op" "put" (key and
 * value), "del" (key) or "del_range" (start, and end: a string, or null
 * for a range to the last key), in "keyspace" if named; "keyspace",
 * "drop_keyspace" (keyspace) or "rename_keyspace" (keyspace, from); and
 * the numbers "seq", "txn", "count" and "keyspace_id", which are not
 * needed to replay. NULL or what is wrong. */
static const char *parse_json(unsigned char *line, size_t n, int changes,
			      struct rec *r)
{
	unsigned char *op = NULL, *start = NULL, *end = NULL, *from = NULL;
	size_t oplen = 0, slen = 0, elen = 0, flen = 0, used, len;
	size_t i = skip_ws(line, 0, n);
	int has_end = 0, has_count = 0;
	const char *why;
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
		number = IS("seq") || IS("txn") || IS("count") ||
			 IS("keyspace_id");
		if (!(IS("key") || IS("value") || IS("keyspace") ||
		      (changes && (number || IS("op") || IS("start") ||
				   IS("end") || IS("from")))))
			return changes ? "a member other than seq, txn, "
					 "keyspace, keyspace_id, op, key, "
					 "value, start, end, count and from"
				       : "a member other than keyspace, key and "
					 "value (a changes feed loads with "
					 "--changes)";
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
		} else if (IS("keyspace") && n - i >= 4 &&
			   !memcmp(val, "null", 4)) {
			return "a keyspace of null: the feed did not know its "
			       "name";
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
			} else if (IS("keyspace") && !r->ks) {
				r->ks = val;
				r->kslen = len;
			} else if (IS("from") && !from) {
				from = val;
				flen = len;
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
	if (r->ks && (why = name_check(r->kslen)) != NULL)
		return why;
#define OP(s) (oplen == sizeof s - 1 && !memcmp(op, s, oplen))
	if (changes &&
	    !(op && (OP("put") || OP("del") || OP("del_range") ||
		     OP("keyspace") || OP("rename_keyspace") ||
		     OP("drop_keyspace"))))
		return "no op \"put\", \"del\", \"del_range\", \"keyspace\", "
		       "\"rename_keyspace\" or \"drop_keyspace\"";
	if (op && !(OP("put") || OP("del") || OP("del_range")))
		return keyspace_op(r, OP("keyspace")	   ? REC_KEYSPACE
				      : OP("drop_keyspace") ? REC_DROP
							    : REC_RENAME,
				   from, flen, start || has_end, has_count);
	/* a dump's {"keyspace":NAME}: the records after it go there */
	if (!op && r->ks && !r->key && !r->value) {
		r->op = REC_KEYSPACE;
		return NULL;
	}
	r->op = !op || OP("put") ? REC_PUT : OP("del") ? REC_DEL : REC_RANGE;
#undef OP
	if (from)
		return "from belongs to a rename_keyspace";
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

/* The view of keyspace name (NULL: the default one) in l->t; flags as
 * for quire_keyspace(). */
static int view(struct loader *l, const unsigned char *name, size_t len,
		unsigned flags, quire_txn **v)
{
	int e;
	if (!name) {
		*v = l->t;
		return 0;
	}
	if (l->view && l->vlen == len && !memcmp(l->vname, name, len)) {
		*v = l->view;
		return 0;
	}
	if ((e = quire_keyspace(l->t, name, len, flags, v)) != 0)
		return e;
	l->view = *v;
	l->vlen = len;
	memcpy(l->vname, name, len);
	return 0;
}

/* A feed replayed onto a database that lacks a key or keyspace has
 * nothing of it to delete: the end state is the same, so that is no
 * error. */
static int apply(struct loader *l, const struct rec *r)
{
	const unsigned char *ks = r->ks ? r->ks : l->has_cur ? l->cur : NULL;
	size_t kslen = r->ks ? r->kslen : l->curlen;
	uint64_t n = 0;
	quire_txn *v;
	int e;
	if (!l->t && (e = begin_write(l->o, l->db, l->path, &l->t)) != 0) {
		l->t = NULL;
		return e;
	}
	switch (r->op) {
	case REC_KEYSPACE:
		e = view(l, ks, kslen, QUIRE_CREATE, &v);
		break;
	case REC_RENAME:
		l->view = NULL;
		e = quire_keyspace_rename(l->t, r->key, r->klen, r->value,
					  r->vlen);
		break;
	case REC_DROP:
		l->view = NULL;
		if ((e = quire_keyspace_drop(l->t, ks, kslen, NULL)) ==
		    QUIRE_NOTFOUND)
			e = 0;
		break;
	case REC_RANGE:
		/* what it removes here, not the count the feed recorded: the
		 * same when replayed onto the state it was made in */
		if ((e = view(l, ks, kslen, 0, &v)) == 0)
			e = quire_del_range(v, r->key, r->klen, r->value,
					    r->vlen, &n);
		else if (e == QUIRE_NOTFOUND)
			e = 0;
		l->ranges += !e;
		l->range_keys += n;
		break;
	case REC_DEL:
		if ((e = view(l, ks, kslen, 0, &v)) == 0)
			e = quire_del(v, r->key, r->klen);
		if (e == QUIRE_NOTFOUND)
			e = 0;
		l->dels += !e;
		break;
	default:
		if ((e = view(l, ks, kslen, QUIRE_CREATE, &v)) == 0)
			e = quire_put(v, r->key, r->klen, r->value, r->vlen);
		l->puts += !e;
	}
	if (e || !l->o->batch || ++l->inbatch < l->o->batch)
		return e;
	e = commit_meta(l->o, l->t);
	l->t = NULL;
	l->view = NULL;
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
	struct ksname ks;
	int e = 0, rc, created;
	off_t size;
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0)
		return rc;
	if (ks.name) {
		l.has_cur = 1;
		l.curlen = ks.len;
		memcpy(l.cur, ks.name, ks.len);
		free(ks.name);
	}
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
		if (!why && r.op == REC_KEYSPACE && !o->changes) {
			/* a dump's keyspace line: its records follow */
			l.has_cur = 1;
			l.curlen = r.kslen;
			memcpy(l.cur, r.ks, r.kslen);
		}
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
