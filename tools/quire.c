/*
 * quire.c - the quire command-line tool: put, get, del (a key, a prefix or
 * a range), scan, dump, stat, check, salvage and backup on a database
 * file, and the table of commands; load is in load_cmd.c, the history
 * commands (history, changes, log, diff, and --as-of reads) in
 * history_cmds.c, compact and retention in compact_cmd.c, the keyspace
 * commands in keyspace_cmds.c, the options in cmdline.c. See quire(1).
 *
 * Exit status: 0 success, 1 "no" (key not found, nothing to delete, check
 * found problems, a key without history), 2 error (also a commit that does
 * not exist yet, history compacted away, output that could not be
 * written). Errors go to stderr, naming the file and the reason. Reading
 * commands open the file read-only and never create it; writing commands
 * create a missing database (compact and retention do not) and wait up to
 * 10 s for a writer in another process (--no-wait: not at all), saying so
 * after the first second; compact waits until it can finish, copying
 * meanwhile.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "quire.h"
#include "tool.h"
#include "tsv.h"

/* The value of put's "-": all of stdin, up to the largest value the
 * library takes. 0, or 2 once reported. */
static int read_stdin(char **buf, size_t *len)
{
	size_t cap = 0, n = 0, k;
	char *b = NULL, *nb;
	int rc = 0;
	do {
		if (n == cap) {
			if (cap > QUIRE_MAX_VALUE_SIZE) {
				fprintf(stderr, "quire: the value on stdin is "
						"larger than the 1 GiB a value "
						"may be\n");
				rc = 2;
				break;
			}
			cap = cap ? cap * 2 : 65536;
			if (cap > QUIRE_MAX_VALUE_SIZE)
				cap = QUIRE_MAX_VALUE_SIZE + 1;
			if (!(nb = realloc(b, cap))) {
				fprintf(stderr, "quire: out of memory reading "
						"the value on stdin\n");
				rc = 2;
				break;
			}
			b = nb;
		}
		n += k = fread(b + n, 1, cap - n, stdin);
	} while (k);
	if (!rc && ferror(stdin)) {
		perror("quire: reading the value on stdin");
		rc = 2;
	}
	if (rc)
		free(b);
	*buf = rc ? NULL : b;
	*len = n;
	return rc;
}

static int cmd_put(const struct opts *o)
{
	const char *path = o->pos[0];
	char *key = NULL, *val = NULL;
	size_t klen, vlen;
	struct ksname ks;
	quire *db;
	quire_txn *t, *v;
	int e, rc;
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0 ||
	    (rc = arg_bytes(o, "KEY", o->pos[1], &key, &klen)) != 0)
		goto out;
	rc = strcmp(o->pos[2], "-") == 0
		     ? read_stdin(&val, &vlen)
		     : arg_bytes(o, "VALUE", o->pos[2], &val, &vlen);
	if (rc || (rc = open_db(o, path, OPEN_CREATE, &db)) != 0)
		goto out;
	/* a missing keyspace is created with its first key */
	rc = begin_write_in(o, db, path, &ks, QUIRE_CREATE, &t, &v);
	if (!rc) {
		e = quire_put(v, key, klen, val, vlen);
		e = e ? (quire_abort(t), e) : commit_meta(o, t);
		rc = e ? fail(path, e) : 0;
	}
	quire_close(db);
out:
	free(ks.name);
	free(key);
	free(val);
	return rc;
}

/* del --prefix P and del --range FROM TO: every key of the range goes in
 * one commit, and the line says how many; none is "no" (exit 1, nothing
 * committed), as for a single key. */
static int cmd_del_range(const struct opts *o)
{
	const char *path = o->pos[0];
	char *from = NULL, *to = NULL;
	size_t flen = 0, tlen = 0;
	uint64_t n = 0;
	struct ksname ks;
	quire *db;
	quire_txn *t, *v;
	int e, rc;
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0)
		goto out;
	if (o->prefix)
		rc = arg_bytes(o, "--prefix", o->prefix, &from, &flen);
	else if ((rc = arg_bytes(o, "--range FROM", o->range_from, &from,
				 &flen)) == 0)
		rc = arg_bytes(o, "--range TO", o->range_to, &to, &tlen);
	if (rc || (rc = open_db(o, path, OPEN_CREATE, &db)) != 0)
		goto out;
	if ((rc = begin_write_in(o, db, path, &ks, 0, &t, &v)) != 0)
		goto close;
	/* TO before FROM is the library's QUIRE_EINVAL, said there */
	e = o->prefix ? quire_del_prefix(v, from, flen, &n)
		      : quire_del_range(v, from, flen, to, tlen, &n);
	if (!e && n)
		e = commit_meta(o, t);
	else
		quire_abort(t);
	if (e) {
		rc = fail(path, e);
	} else {
		printf("%s: deleted %" PRIu64 " key%s\n", path, n,
		       n == 1 ? "" : "s");
		rc = n ? 0 : 1;
	}
close:
	quire_close(db);
out:
	free(ks.name);
	free(from);
	free(to);
	return rc;
}

static int cmd_del(const struct opts *o)
{
	const char *path = o->pos[0];
	char *key = NULL;
	size_t klen;
	struct ksname ks;
	quire *db;
	quire_txn *t, *v;
	int e, rc;
	if (o->given & (OPT_PREFIX | OPT_RANGE))
		return cmd_del_range(o);
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0 ||
	    (rc = arg_bytes(o, "KEY", o->pos[1], &key, &klen)) != 0 ||
	    (rc = open_db(o, path, OPEN_CREATE, &db)) != 0)
		goto out;
	if ((rc = begin_write_in(o, db, path, &ks, 0, &t, &v)) == 0) {
		e = quire_del(v, key, klen);
		e = e ? (quire_abort(t), e) : commit_meta(o, t);
		rc = e == QUIRE_NOTFOUND ? 1 : e ? fail(path, e) : 0;
	}
	quire_close(db);
out:
	free(ks.name);
	free(key);
	return rc;
}

/* A key and its value as get --json, scan and dump print them. */
static void print_pair(const struct opts *o, const quire_val *k,
		       const quire_val *v)
{
	if (o->json) {
		fputs("{\"key\":", stdout);
		json_string(stdout, k->data, k->size);
		fputs(",\"value\":", stdout);
		json_string(stdout, v->data, v->size);
		fputs("}\n", stdout);
		return;
	}
	tsv_escape(stdout, k->data, k->size);
	putchar('\t');
	tsv_escape(stdout, v->data, v->size);
	putchar('\n');
}

static int cmd_get(const struct opts *o)
{
	const char *path = o->pos[0];
	char *key = NULL;
	size_t klen;
	struct ksname ks;
	quire *db;
	quire_txn *t, *ksv;
	quire_val v;
	int e, rc;
	if (o->raw && o->json)
		return bad_arg("get: --raw and --json do not combine");
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0 ||
	    (rc = arg_bytes(o, "KEY", o->pos[1], &key, &klen)) != 0 ||
	    (rc = open_db(o, path, OPEN_READ, &db)) != 0)
		goto out;
	if ((rc = begin_point_in(db, path, &o->as_of, &ks, &t, &ksv)) != 0)
		goto close;
	e = quire_get(ksv, key, klen, &v);
	if (!e && o->json)
		print_pair(o, &(quire_val){key, klen}, &v);
	else if (!e) {
		/* a failed write's errno is still the reason here */
		if (fwrite(v.data, 1, v.size, stdout) == v.size && !o->raw)
			putchar('\n');
		output_failed();
	}
	quire_abort(t);
	rc = e == QUIRE_NOTFOUND ? 1 : e ? fail(path, e) : 0;
close:
	quire_close(db);
out:
	free(ks.name);
	free(key);
	return rc;
}

static int cmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : (al > bl) - (al < bl);
}

/* The smallest key greater than every key starting with p[0..n), in p
 * itself; its length, 0 if there is none (p is empty or all 0xff). */
static size_t prefix_end(char *p, size_t n)
{
	unsigned char *b = (unsigned char *)p;
	while (n && b[n - 1] == 0xff)
		n--;
	if (n)
		b[n - 1]++;
	return n;
}

/* The range of scan and dump: [lo, hi), either bound may be absent. */
struct range {
	char *start, *end, *prefix; /* the options' bytes, to free */
	const char *lo, *hi;
	size_t lol, hil;
};

static int get_range(const struct opts *o, struct range *r)
{
	size_t sl = 0, el = 0, pl = 0;
	int rc;
	*r = (struct range){0};
	if ((o->start &&
	     (rc = arg_bytes(o, "--start", o->start, &r->start, &sl)) != 0) ||
	    (o->end && (rc = arg_bytes(o, "--end", o->end, &r->end, &el)) != 0) ||
	    (o->prefix &&
	     (rc = arg_bytes(o, "--prefix", o->prefix, &r->prefix, &pl)) != 0))
		return rc;
	if (r->start) {
		r->lo = r->start;
		r->lol = sl;
	}
	if (r->prefix) {
		if (!r->lo || cmp(r->prefix, pl, r->lo, r->lol) > 0) {
			/* lo is the prefix, before prefix_end changes it */
			free(r->start);
			if (!(r->start = malloc(pl + 1))) {
				fprintf(stderr, "quire: out of memory\n");
				return 2;
			}
			r->lo = memcpy(r->start, r->prefix, pl);
			r->lol = pl;
		}
		if ((r->hil = prefix_end(r->prefix, pl)) != 0)
			r->hi = r->prefix;
	}
	if (r->end && (!r->hi || cmp(r->end, el, r->hi, r->hil) < 0)) {
		r->hi = r->end;
		r->hil = el;
	}
	return 0;
}

/* Position c at the first key of the range in the walk's direction. */
static int range_first(const struct opts *o, const struct range *r,
		       quire_cursor *c)
{
	int e;
	if (!o->reverse)
		return r->lo ? quire_cursor_seek(c, r->lo, r->lol)
			     : quire_cursor_first(c);
	if (!r->hi)
		return quire_cursor_last(c);
	/* the last key below hi */
	e = quire_cursor_seek(c, r->hi, r->hil);
	return e == QUIRE_NOTFOUND ? quire_cursor_last(c)
	       : e		   ? e
				   : quire_cursor_prev(c);
}

/* The keys of the range in t (a keyspace view or the default keyspace),
 * as TSV or JSON, at most --limit of them. 0 or a quire error. */
static int scan_range(const struct opts *o, const struct range *r,
		      quire_txn *t)
{
	quire_cursor *c = NULL;
	quire_val k, v;
	int e;
	if ((e = quire_cursor_open(t, &c)) == 0 && o->limit)
		e = range_first(o, r, c);
	for (unsigned long long n = 0; e == 0 && n < o->limit; n++) {
		if (output_failed() || (e = quire_cursor_key(c, &k)) != 0)
			break;
		/* past the end of the range in the walk's direction */
		if (o->reverse ? r->lo && cmp(k.data, k.size, r->lo, r->lol) < 0
			       : r->hi && cmp(k.data, k.size, r->hi, r->hil) >= 0)
			break;
		if ((e = quire_cursor_value(c, &v)) != 0)
			break;
		print_pair(o, &k, &v);
		e = o->reverse ? quire_cursor_prev(c) : quire_cursor_next(c);
	}
	quire_cursor_close(c);
	return e == QUIRE_NOTFOUND ? 0 : e;
}

struct dump_all {
	const struct opts *o;
	const struct range *r;
	quire_txn *t;
};

/* A named keyspace of dump --all-keyspaces: a line naming it, which load
 * reads as "create it, the records below go there" (so an empty one is
 * kept too), then its keys. 1 stops the listing once the output failed. */
static int dump_keyspace(void *ctx, const void *name, size_t nlen)
{
	struct dump_all *d = ctx;
	quire_txn *v;
	int e;
	if (output_failed())
		return 1;
	if ((e = quire_keyspace(d->t, name, nlen, 0, &v)) != 0)
		return e;
	if (d->o->json) {
		fputs("{\"keyspace\":", stdout);
		json_string(stdout, name, nlen);
		fputs("}\n", stdout);
	} else {
		fputs("keyspace=", stdout);
		tsv_escape(stdout, name, nlen);
		putchar('\n');
	}
	return scan_range(d->o, d->r, v);
}

/* scan and dump: the keys of the range (everything without options) of
 * the default keyspace or --keyspace; dump --all-keyspaces: of the
 * default keyspace, then of each named one. */
static int cmd_scan(const struct opts *o)
{
	const char *path = o->pos[0];
	int all = (o->given & OPT_ALL_KEYSPACES) != 0;
	struct range r = {0};
	struct ksname ks = {0};
	quire *db = NULL;
	quire_txn *t = NULL, *v;
	int e, rc;
	if (all && o->keyspace)
		return bad_arg("dump: --all-keyspaces and --keyspace do not "
			       "combine");
	if ((rc = get_range(o, &r)) != 0 ||
	    (rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0 ||
	    (rc = open_db(o, path, OPEN_READ, &db)) != 0 ||
	    (rc = begin_point_in(db, path, &o->as_of, &ks, &t, &v)) != 0)
		goto out;
	e = scan_range(o, &r, v);
	if (!e && all) {
		struct dump_all d = {o, &r, t};
		if ((e = quire_keyspace_list(t, dump_keyspace, &d)) > 0)
			e = 0; /* stopped: the output failed, said there */
	}
	rc = e ? fail(path, e) : 0;
out:
	quire_abort(t);
	quire_close(db);
	free(ks.name);
	free(r.start);
	free(r.end);
	free(r.prefix);
	return rc;
}

static void stat_json(const char *path, const quire_stat *st,
		      const char *when)
{
	printf("{\"path\":");
	json_string(stdout, (const unsigned char *)path, strlen(path));
	/* garbage_ratio: reclaimable_bytes / file_bytes (the name predates
	 * retention; kept) */
	printf(",\"txn\":%" PRIu64 ",\"time\":\"%s\",\"time_ns\":%" PRIu64
	       ",\"keys\":%" PRIu64 ",\"seq\":%" PRIu64
	       ",\"live_bytes\":%" PRIu64 ",\"file_bytes\":%" PRIu64
	       ",\"garbage_ratio\":%.6f,\"oplog_bytes\":%" PRIu64
	       ",\"pending_ops\":%" PRIu64 ",\"pending_bytes\":%" PRIu64
	       ",\"depth\":%u,\"node_size\":%u",
	       st->txn_id, when, st->commit_time_ns, st->key_count,
	       st->next_seq, st->live_bytes, st->file_bytes, st->garbage_ratio,
	       st->oplog_bytes, st->pending_ops, st->pending_bytes, st->depth,
	       st->node_size);
	policy_json(stdout, &st->retention);
	fputs(",\"raw_bytes\":", stdout);
	if (st->raw_bytes == UINT64_MAX) /* a quire 0.1 file */
		fputs("null", stdout);
	else
		printf("%" PRIu64, st->raw_bytes);
	printf(",\"history_bytes\":%" PRIu64 ",\"kept_bytes\":%" PRIu64
	       ",\"reclaimable_bytes\":%" PRIu64 ",\"pinned_bytes\":%" PRIu64
	       ",\"history_txn\":%" PRIu64 ",\"history_seq\":%" PRIu64 "}\n",
	       st->history_bytes, st->kept_bytes, st->reclaimable_bytes,
	       st->pinned_bytes, st->history_txn, st->history_seq);
}

/* The space lines say what each figure is: they are read by people
 * deciding whether to compact or change the policy. */
static void stat_text(const char *path, const quire_stat *st,
		      const char *when)
{
	char policy[POLICY_TEXT_LEN];
	policy_text(&st->retention, policy, sizeof policy);
	printf("file:          %s\n"
	       "txn:           %" PRIu64 "\n"
	       "time:          %s\n"
	       "keys:          %" PRIu64 "\n"
	       "next seq:      %" PRIu64 "\n"
	       "keep:          %s\n",
	       path, st->txn_id, when, st->key_count, st->next_seq, policy);
	if (st->raw_bytes == UINT64_MAX)
		printf("raw bytes:     unknown (written by quire 0.1; known "
		       "after a compaction)\n");
	else
		printf("raw bytes:     %" PRIu64 " (keys and values of the live "
		       "keys)\n",
		       st->raw_bytes);
	printf("live bytes:    %" PRIu64 " (what the newest state takes)\n"
	       "history bytes: %" PRIu64 " (older commits the policy keeps)\n"
	       "kept bytes:    %" PRIu64 " (what compaction would write)\n"
	       "file bytes:    %" PRIu64 "\n"
	       "reclaimable:   %" PRIu64 " bytes, %.1f%% of the file (what "
	       "compaction would free)\n"
	       "pinned bytes:  %" PRIu64 " (older files held open by "
	       "snapshots)\n"
	       "oplog bytes:   %" PRIu64 "\n"
	       "pending:       %" PRIu64 " operations, %" PRIu64 " bytes\n"
	       "depth:         %u\n"
	       "node size:     %u\n"
	       "oldest txn:    %" PRIu64 "\n"
	       "oldest seq:    %" PRIu64 "\n",
	       st->live_bytes, st->history_bytes, st->kept_bytes,
	       st->file_bytes, st->reclaimable_bytes, st->garbage_ratio * 100.0,
	       st->pinned_bytes, st->oplog_bytes, st->pending_ops,
	       st->pending_bytes, st->depth, st->node_size, st->history_txn,
	       st->history_seq);
}

/* stat --keyspace: the keys of that keyspace and their bytes. */
static int stat_keyspace(const struct opts *o, const char *path, quire *db,
			 const struct ksname *ks)
{
	quire_txn *t, *v;
	quire_stat st;
	uint64_t keys, bytes;
	char when[ISO_TIME_LEN];
	int e, rc;
	if ((rc = begin_point_in(db, path, &o->as_of, ks, &t, &v)) != 0)
		return rc;
	if ((e = quire_txn_stat(t, &st)) == 0)
		e = quire_keyspace_stat(v, &keys, &bytes);
	quire_abort(t);
	if (e)
		return fail(path, e);
	iso_time(st.commit_time_ns, when, sizeof when);
	if (o->json) {
		fputs("{\"path\":", stdout);
		json_string(stdout, (const unsigned char *)path, strlen(path));
		fputs(",\"keyspace\":", stdout);
		json_string(stdout, (const unsigned char *)ks->name, ks->len);
		printf(",\"txn\":%" PRIu64 ",\"time\":\"%s\",\"time_ns\":%" PRIu64
		       ",\"keys\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n",
		       st.txn_id, when, st.commit_time_ns, keys, bytes);
		return 0;
	}
	printf("file:          %s\n"
	       "keyspace:      ",
	       path);
	tsv_escape(stdout, (const unsigned char *)ks->name, ks->len);
	printf("\ntxn:           %" PRIu64 "\n"
	       "time:          %s\n"
	       "keys:          %" PRIu64 "\n"
	       "bytes:         %" PRIu64 " (its keys and values)\n",
	       st.txn_id, when, keys, bytes);
	return 0;
}

static int cmd_stat(const struct opts *o)
{
	const char *path = o->pos[0];
	struct ksname ks;
	quire *db;
	quire_txn *t;
	quire_stat st;
	char when[ISO_TIME_LEN];
	int e, rc;
	if ((rc = keyspace_arg(o, "--keyspace", o->keyspace, &ks)) != 0)
		return rc;
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0) {
		free(ks.name);
		return rc;
	}
	if (ks.name) {
		rc = stat_keyspace(o, path, db, &ks);
		quire_close(db);
		free(ks.name);
		return rc;
	}
	if ((rc = begin_point(db, path, &o->as_of, &t)) != 0) {
		quire_close(db);
		return rc;
	}
	if ((e = quire_txn_stat(t, &st)) != 0) {
		quire_abort(t);
		quire_close(db);
		return fail(path, e);
	}
	quire_abort(t);
	quire_close(db);
	iso_time(st.commit_time_ns, when, sizeof when);
	if (o->json)
		stat_json(path, &st, when);
	else
		stat_text(path, &st, when);
	return 0;
}

/* What check, salvage and backup are doing, for the progress line. */
struct doing {
	struct progress p;
	const char *verb, *path; /* "checking", "x.quire" */
	uint64_t problems;
};

static void show_doing(struct doing *d)
{
	if (d->problems)
		progress_show(&d->p, 1, "%s %s: %llu problem%s so far ...",
			      d->verb, d->path, (unsigned long long)d->problems,
			      d->problems == 1 ? "" : "s");
	else
		progress_show(&d->p, 1, "%s %s ...", d->verb, d->path);
}

/* check's and salvage's problems: each names its offset once, and on a
 * terminal the progress line steps aside for it. */
static void report(void *ctx, uint64_t off, const char *what)
{
	struct doing *d = ctx;
	char at[32];
	int n = snprintf(at, sizeof at, "offset %" PRIu64, off);
	const char *s = what;
	progress_clear(&d->p);
	while ((s = strstr(s, at)) != NULL && s[n] >= '0' && s[n] <= '9')
		s += n;
	if (s)
		printf("%s\n", what);
	else
		printf("%s: %s\n", at, what);
	fflush(stdout);
	d->problems++;
	show_doing(d);
}

static int cmd_check(const struct opts *o)
{
	const char *path = o->pos[0];
	struct doing d = {.verb = "checking", .path = path};
	quire *db;
	quire_txn *t;
	uint64_t problems;
	int e, rc;
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0)
		return rc;
	/* the library reports problems, not progress: the line says what
	 * runs and how many problems it found so far */
	progress_start(&d.p);
	show_doing(&d);
	if ((e = quire_begin(db, QUIRE_RDONLY, &t)) == 0) {
		e = quire_check(t, report, &d, &problems);
		quire_abort(t);
	}
	progress_clear(&d.p);
	quire_close(db);
	if (e)
		return fail(path, e);
	if (problems)
		printf("%s: %" PRIu64 " problem%s\n", path, problems,
		       problems == 1 ? "" : "s");
	else
		printf("%s: no problems\n", path);
	return problems ? 1 : 0;
}

/* Copy what is readable of a damaged database into a new one; exit 1 if
 * anything was lost or had to come from an older commit. */
static int cmd_salvage(const struct opts *o)
{
	struct doing d = {.verb = "salvaging", .path = o->pos[0]};
	quire_salvage_stats st;
	int e, rc;
	if ((rc = refuse_empty(o->pos[0])) != 0)
		return rc;
	progress_start(&d.p);
	show_doing(&d);
	e = quire_salvage(o->pos[0], o->pos[1], report, &d, &st);
	progress_clear(&d.p);
	if (e)
		return fail(o->pos[0], e);
	printf("%s: copied %" PRIu64 " keys of commit %" PRIu64 " into %s "
	       "(%" PRIu64 " from older commits); lost %" PRIu64 " keys of %"
	       PRIu64 " damaged nodes, %" PRIu64 " damaged values, %" PRIu64
	       " damaged pending batches\n",
	       o->pos[0], st.keys_copied, st.txn, o->pos[1],
	       st.keys_restored_older, st.keys_lost, st.nodes_damaged,
	       st.values_lost, st.batches_lost);
	return st.keys_lost || st.values_lost || st.batches_lost ||
			       st.keys_restored_older
		       ? 1
		       : 0;
}

/* A copy of the database as of its newest commit (quire_backup); with
 * --incremental, only what was committed after an earlier copy's newest
 * commit; with --compact, a compacted copy keeping what --keep-* (or the
 * retention policy) asks (quire_backup_compacted). */
static int cmd_backup(const struct opts *o)
{
	const char *src = o->pos[0], *dst = o->pos[1];
	struct doing d = {.verb = "backing up", .path = src};
	int compact = (o->given & OPT_COMPACT) != 0;
	quire_compact_options co;
	unsigned flags = 0;
	quire_backup_stats st;
	quire *db;
	int e, rc;
	if (compact && (o->given & (OPT_INCREMENTAL | OPT_FULL_IF_NEEDED)))
		return bad_arg("--compact writes a new copy: it does not "
			       "combine with --incremental or "
			       "--full-if-needed");
	if (!compact && (o->given & (OPT_KEEP_SINCE | OPT_KEEP_LAST)))
		return bad_arg("--keep-since and --keep-last choose the "
			       "history a --compact copy keeps");
	if (o->given & (OPT_INCREMENTAL | OPT_FULL_IF_NEEDED))
		flags |= QUIRE_BACKUP_INCREMENTAL;
	if (o->given & OPT_FULL_IF_NEEDED)
		flags |= QUIRE_BACKUP_FULL_IF_NEEDED;
	if ((rc = refuse_empty(src)) != 0 ||
	    (rc = open_db(o, src, OPEN_READ, &db)) != 0)
		return rc;
	if (compact && (rc = keep_options(o, src, db, &co)) != 0) {
		quire_close(db);
		return rc;
	}
	progress_start(&d.p);
	show_doing(&d);
	e = compact ? quire_backup_compacted(db, dst, &co, &st)
		    : quire_backup(db, dst, flags, &st);
	progress_clear(&d.p);
	if (e) {
		/* the message names the copy, or else the database */
		rc = fail(strstr(quire_errmsg(), dst) ? dst : src, e);
		if (e == QUIRE_ECONFLICT)
			fprintf(stderr, "quire: %s is left as it was; "
					"--full-if-needed replaces it with a "
					"full copy\n",
				dst);
	} else if (compact) {
		printf("%s: compacted into %s at commit %" PRIu64 " (%" PRIu64
		       " bytes)\n",
		       src, dst, st.txn, st.bytes_copied);
	} else if (st.full) {
		printf("%s: copied to %s at commit %" PRIu64 " (%" PRIu64
		       " bytes)\n",
		       src, dst, st.txn, st.bytes_copied);
	} else if (st.txn == st.txn_before) {
		printf("%s: %s is up to date at commit %" PRIu64 "\n", src, dst,
		       st.txn);
	} else {
		printf("%s: %s brought from commit %" PRIu64 " to %" PRIu64
		       " (%" PRIu64 " bytes)\n",
		       src, dst, st.txn_before, st.txn, st.bytes_copied);
	}
	quire_close(db);
	return rc;
}

/* --escaped reads keys and keyspace names alike. */
#define KEYSPACE (OPT_KEYSPACE | OPT_ESCAPED)
#define READS_KEYS (OPT_AS_OF | OPT_JSON | KEYSPACE)
#define WRITES (OPT_META | OPT_NO_WAIT)

/* Every command, its arguments, the options it takes (cmdline.c refuses
 * the others) and those that stand in for its last argument. */
static const struct command commands[] = {
	{"put", "DB KEY VALUE", 3, WRITES | KEYSPACE, 0, cmd_put},
	{"get", "DB KEY", 2, READS_KEYS | OPT_RAW, 0, cmd_get},
	{"del", "DB KEY", 2, WRITES | KEYSPACE | OPT_PREFIX | OPT_RANGE,
	 OPT_PREFIX | OPT_RANGE, cmd_del},
	{"scan", "DB", 1, READS_KEYS | OPT_SCAN_RANGE, 0, cmd_scan},
	{"load", "DB", 1,
	 WRITES | OPT_BATCH | OPT_VERBOSE | OPT_JSON | OPT_CHANGES | KEYSPACE,
	 0, cmd_load},
	{"dump", "DB", 1, READS_KEYS | OPT_SCAN_RANGE | OPT_ALL_KEYSPACES, 0,
	 cmd_scan},
	{"stat", "DB", 1, OPT_AS_OF | OPT_JSON | KEYSPACE, 0, cmd_stat},
	{"check", "DB", 1, 0, 0, cmd_check},
	{"salvage", "DB NEW", 2, 0, 0, cmd_salvage},
	{"backup", "DB COPY", 2,
	 OPT_INCREMENTAL | OPT_FULL_IF_NEEDED | OPT_COMPACT | OPT_KEEP_SINCE |
		 OPT_KEEP_LAST,
	 0, cmd_backup},
	{"ship", "DB", 1, OPT_FROM | OPT_FOLLOW | OPT_VERBOSE, 0, cmd_ship},
	{"receive", "COPY", 1, OPT_FULL_IF_NEEDED, 0, cmd_receive},
	{"history", "DB", 1, OPT_LIMIT | OPT_REVERSE | OPT_JSON, 0,
	 cmd_history},
	{"changes", "DB", 1,
	 OPT_SINCE | OPT_FOLLOW | OPT_LIMIT | OPT_JSON | KEYSPACE, 0,
	 cmd_changes},
	{"log", "DB KEY", 2, OPT_LIMIT | OPT_JSON | KEYSPACE, 0, cmd_log},
	{"diff", "DB A B", 3, OPT_JSON | KEYSPACE, 0, cmd_diff},
	{"compact", "DB", 1,
	 OPT_KEEP_SINCE | OPT_KEEP_LAST | OPT_AUTO | OPT_QUIET | OPT_JSON, 0,
	 cmd_compact},
	{"retention", "DB", 1,
	 OPT_KEEP_LAST | OPT_KEEP_FOR | OPT_KEEP_ALL | OPT_JSON | OPT_NO_WAIT,
	 0, cmd_retention},
	{"keyspaces", "DB", 1, OPT_AS_OF | OPT_JSON, 0, cmd_keyspaces},
	{"drop-keyspace", "DB NAME", 2, WRITES | OPT_ESCAPED, 0,
	 cmd_drop_keyspace},
	{"rename-keyspace", "DB OLD NEW", 3, WRITES | OPT_ESCAPED, 0,
	 cmd_rename_keyspace},
};

int main(int argc, char **argv)
{
	struct opts o;
	const struct command *c;
	int rc = parse_args(argc, argv, commands,
			    sizeof commands / sizeof *commands, &o, &c);
	if (rc < 0)
		rc = c->fn(&o);
	/* output not written is a failure, whatever the command found */
	return output_close() ? 2 : rc;
}
