/*
 * quire.c - the quire command-line tool: put, get, del, scan, load, dump,
 * stat, check and salvage on a database file, and the command line itself;
 * the history commands (history, changes, log, diff, and --as-of reads) are
 * in history_cmds.c, compact and retention in compact_cmd.c. See quire(1).
 *
 * Exit status: 0 success, 1 "no" (key not found, nothing to delete, check
 * found problems, a key without history), 2 error (also a commit that does
 * not exist yet or history compacted away). Errors go to stderr, naming the
 * file and the reason. Reading commands open the file read-only and never
 * create it; writing commands create a missing database (compact and
 * retention do not) and wait up to 10 s for a writer in another process
 * (--no-wait: not at all); compact waits until it can finish, copying
 * meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quire.h"
#include "tool.h"
#include "tsv.h"







static size_t len(const char *s)
{
	return strlen(s);
}


/* Commit t, with the --meta text if one was given. */
static int commit(const struct opts *o, quire_txn *t)
{
	return o->meta ? quire_commit_with(t, o->meta, len(o->meta))
		       : quire_commit(t);
}

static int cmd_put(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t;
	int e, rc;
	if (o->npos != 3)
		return usage("put needs DB KEY VALUE");
	if ((rc = open_db(o, path, OPEN_CREATE, &db)) != 0)
		return rc;
	if ((e = quire_begin(db, 0, &t)) == 0 &&
	    (e = quire_put(t, o->pos[1], len(o->pos[1]), o->pos[2],
			   len(o->pos[2]))) != 0)
		quire_abort(t);
	else if (!e)
		e = commit(o, t);
	rc = e ? fail(path, e) : 0;
	quire_close(db);
	return rc;
}

static int cmd_del(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t;
	int e, rc;
	if (o->npos != 2)
		return usage("del needs DB KEY");
	if ((rc = open_db(o, path, OPEN_CREATE, &db)) != 0)
		return rc;
	if ((e = quire_begin(db, 0, &t)) == 0) {
		e = quire_del(t, o->pos[1], len(o->pos[1]));
		e = e ? (quire_abort(t), e) : commit(o, t);
	}
	rc = e == QUIRE_NOTFOUND ? 1 : e ? fail(path, e) : 0;
	quire_close(db);
	return rc;
}

static int cmd_get(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t;
	quire_val v;
	int e, rc;
	if (o->npos != 2)
		return usage("get needs DB KEY");
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0)
		return rc;
	if ((rc = begin_point(db, path, &o->as_of, &t)) != 0) {
		quire_close(db);
		return rc;
	}
	e = quire_get(t, o->pos[1], len(o->pos[1]), &v);
	if (!e) {
		fwrite(v.data, 1, v.size, stdout);
		putchar('\n');
	}
	quire_abort(t);
	rc = e == QUIRE_NOTFOUND ? 1 : e ? fail(path, e) : 0;
	quire_close(db);
	return rc;
}

static int cmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	return c ? c : (al > bl) - (al < bl);
}

/* The smallest key greater than every key starting with p, in buf; 0 if
 * there is none (p is empty or all 0xff). */
static size_t prefix_end(const char *p, unsigned char *buf)
{
	size_t n = strlen(p);
	memcpy(buf, p, n);
	while (n && buf[n - 1] == 0xff)
		n--;
	if (n)
		buf[n - 1]++;
	return n;
}

/* Print the keys in [lo, hi) (either bound may be absent) as TSV. */
static int scan(const struct opts *o, const char *path)
{
	const unsigned char *lo = NULL, *hi = NULL;
	size_t lol = 0, hil = 0;
	unsigned char *pe = NULL;
	quire *db;
	quire_txn *t;
	quire_cursor *c;
	quire_val k, v;
	int e, rc;
	if (o->start) {
		lo = (const unsigned char *)o->start;
		lol = len(o->start);
	}
	if (o->prefix) {
		size_t pl = len(o->prefix);
		if (!lo || cmp(o->prefix, pl, lo, lol) > 0) {
			lo = (const unsigned char *)o->prefix;
			lol = pl;
		}
		if (!(pe = malloc(pl + 1)))
			return fail(path, QUIRE_ENOMEM);
		if ((hil = prefix_end(o->prefix, pe)) != 0)
			hi = pe;
	}
	if (o->end && (!hi || cmp(o->end, len(o->end), hi, hil) < 0)) {
		hi = (const unsigned char *)o->end;
		hil = len(o->end);
	}
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0) {
		free(pe);
		return rc;
	}
	if ((rc = begin_point(db, path, &o->as_of, &t)) != 0)
		goto out;
	if ((e = quire_cursor_open(t, &c)) != 0) {
		quire_abort(t);
		rc = fail(path, e);
		goto out;
	}
	if (!o->reverse) {
		e = lo ? quire_cursor_seek(c, lo, lol) : quire_cursor_first(c);
	} else if (hi) { /* the last key below hi */
		e = quire_cursor_seek(c, hi, hil);
		e = e == QUIRE_NOTFOUND ? quire_cursor_last(c)
		    : e			? e
					: quire_cursor_prev(c);
	} else {
		e = quire_cursor_last(c);
	}
	for (unsigned long long n = 0; e == 0; n++) {
		if ((o->limit && n >= o->limit) ||
		    (e = quire_cursor_key(c, &k)) != 0)
			break;
		if ((o->reverse && lo && cmp(k.data, k.size, lo, lol) < 0) ||
		    (!o->reverse && hi && cmp(k.data, k.size, hi, hil) >= 0))
			break;
		if ((e = quire_cursor_value(c, &v)) != 0)
			break;
		tsv_escape(stdout, k.data, k.size);
		putchar('\t');
		tsv_escape(stdout, v.data, v.size);
		putchar('\n');
		e = o->reverse ? quire_cursor_prev(c) : quire_cursor_next(c);
	}
	rc = e && e != QUIRE_NOTFOUND ? fail(path, e) : output_done();
	quire_cursor_close(c);
	quire_abort(t);
out:
	quire_close(db);
	free(pe);
	return rc;
}

static int cmd_scan(const struct opts *o)
{
	if (o->npos != 1)
		return usage("scan needs DB");
	return scan(o, o->pos[0]);
}

static int cmd_dump(const struct opts *o)
{
	struct opts all = {
		.cmd = o->cmd, .no_wait = o->no_wait, .as_of = o->as_of};
	if (o->npos != 1)
		return usage("dump needs DB");
	return scan(&all, o->pos[0]);
}

static int cmd_load(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long long lineno = 0, inbatch = 0, keys = 0, commits = 0;
	int e = 0, rc;
	if (o->npos != 1)
		return usage("load needs DB");
	if ((rc = open_db(o, path, OPEN_CREATE, &db)) != 0)
		return rc;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		if (n && line[n - 1] == '\n')
			n--;
		char *tab = memchr(line, '\t', (size_t)n);
		size_t kl, vl, bad;
		if (!tab) {
			fprintf(stderr, "quire: stdin line %llu: no tab between "
					"key and value\n",
				lineno);
			rc = 2;
			break;
		}
		if (tsv_unescape((unsigned char *)line, (size_t)(tab - line), &kl,
				 &bad) ||
		    tsv_unescape((unsigned char *)tab + 1,
				 (size_t)(n - (tab - line) - 1), &vl, &bad)) {
			fprintf(stderr, "quire: stdin line %llu: bad escape or "
					"extra tab\n",
				lineno);
			rc = 2;
			break;
		}
		if (!t && (e = quire_begin(db, 0, &t)) != 0)
			break;
		if ((e = quire_put(t, line, kl, tab + 1, vl)) != 0)
			break;
		keys++;
		if (o->batch && ++inbatch == o->batch) {
			e = commit(o, t);
			t = NULL;
			inbatch = 0;
			if (e)
				break;
			commits++;
		}
	}
	if (!rc && !e && ferror(stdin)) {
		fprintf(stderr, "quire: reading stdin: %s\n", strerror(errno));
		rc = 2;
	}
	if (t && !rc && !e) {
		e = commit(o, t);
		commits += e == 0;
	} else if (t) {
		quire_abort(t);
	}
	if (e)
		rc = fail(path, e);
	if (o->verbose)
		fprintf(stderr, "quire: %s: %llu keys in %llu commits\n", path,
			rc ? keys - inbatch : keys, commits);
	free(line);
	quire_close(db);
	return rc;
}


static void stat_json(const char *path, const quire_stat *st,
		      const char *when)
{
	printf("{\"path\":");
	json_string(stdout, (const unsigned char *)path, len(path));
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

static int cmd_stat(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t;
	quire_stat st;
	char when[ISO_TIME_LEN];
	int e, rc;
	if (o->npos != 1)
		return usage("stat needs DB");
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0)
		return rc;
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
	return output_done();
}

static void report(void *ctx, uint64_t off, const char *what)
{
	printf("offset %" PRIu64 ": %s\n", off, what);
}

static int cmd_check(const struct opts *o)
{
	const char *path = o->pos[0];
	quire *db;
	quire_txn *t;
	uint64_t problems;
	int e, rc;
	if (o->npos != 1)
		return usage("check needs DB");
	if ((rc = open_db(o, path, OPEN_READ, &db)) != 0)
		return rc;
	if ((e = quire_begin(db, QUIRE_RDONLY, &t)) == 0) {
		e = quire_check(t, report, NULL, &problems);
		quire_abort(t);
	}
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
	quire_salvage_stats st;
	if (o->npos != 2)
		return usage("salvage needs DB NEW");
	int e = quire_salvage(o->pos[0], o->pos[1], report, NULL, &st);
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

/* Options only some commands take; elsewhere they would be silently
 * meaningless (a del --as-of, say), so they are refused. */
#define TAKES_AS_OF 1u
#define TAKES_SINCE 2u /* --since and --follow */
#define TAKES_META 4u
#define TAKES_COMPACT 8u /* --keep-since, --auto, --quiet */
#define TAKES_POLICY 16u /* --keep-for, --keep-all */
#define TAKES_KEEP_LAST 32u

static const struct {
	const char *name;
	int (*fn)(const struct opts *o);
	unsigned takes;
} commands[] = {
	{"put", cmd_put, TAKES_META},
	{"get", cmd_get, TAKES_AS_OF},
	{"del", cmd_del, TAKES_META},
	{"scan", cmd_scan, TAKES_AS_OF},
	{"load", cmd_load, TAKES_META},
	{"dump", cmd_dump, TAKES_AS_OF},
	{"stat", cmd_stat, TAKES_AS_OF},
	{"check", cmd_check, 0},
	{"history", cmd_history, 0},
	{"changes", cmd_changes, TAKES_SINCE},
	{"log", cmd_log, 0},
	{"diff", cmd_diff, 0},
	{"salvage", cmd_salvage, 0},
	{"compact", cmd_compact, TAKES_COMPACT | TAKES_KEEP_LAST},
	{"retention", cmd_retention, TAKES_POLICY | TAKES_KEEP_LAST},
};

/* An option's value: "--opt=value" or the next argument. */
static const char *value_of(const char *arg, size_t namelen, int argc,
			    char **argv, int *i)
{
	if (arg[namelen] == '=')
		return arg + namelen + 1;
	if (arg[namelen] == 0 && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int number(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* A ratio in [0, 1), as quire_options.auto_compact_ratio takes:
 * plain decimal only (strtod would also take "inf", hex and spaces). */
static int ratio(const char *s, double *out)
{
	char *end;
	if (!s || !*s || s[strspn(s, "0123456789.")])
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || !(*out >= 0 && *out < 1) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	int dashdash = 0;
	/* options given that only some commands take, for the refusal */
	const char *compact_opt = NULL, *policy_opt = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (dashdash || a[0] != '-' || !a[1]) {
			if (!o.cmd)
				o.cmd = a;
			else if (o.npos < 3)
				o.pos[o.npos++] = a;
			else
				return usage("too many arguments");
			continue;
		}
#define OPT(name) (strncmp(a, name, sizeof name - 1) == 0 && \
		   (a[sizeof name - 1] == 0 || a[sizeof name - 1] == '='))
		if (strcmp(a, "--") == 0) {
			dashdash = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("quire %s\n", quire_version(NULL, NULL, NULL));
			return 0;
		} else if (strcmp(a, "--no-wait") == 0) {
			o.no_wait = 1;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o.verbose = 1;
		} else if (strcmp(a, "--json") == 0) {
			o.json = 1;
		} else if (strcmp(a, "--reverse") == 0) {
			o.reverse = 1;
		} else if (strcmp(a, "--follow") == 0) {
			o.follow = 1;
		} else if (OPT("--as-of")) {
			const char *v = value_of(a, 7, argc, argv, &i);
			if (!v || parse_point(v, &o.as_of))
				return bad_arg("--as-of needs a txn id or "
					       "@UNIXTIME");
		} else if (OPT("--since")) {
			/* the largest seq would leave no "next" to wait for */
			if (number(value_of(a, 7, argc, argv, &i), &o.since) ||
			    o.since == UINT64_MAX)
				return bad_arg("--since needs a sequence "
					       "number");
			o.has_since = 1;
		} else if (OPT("--meta")) {
			if (!(o.meta = value_of(a, 6, argc, argv, &i)))
				return bad_arg("--meta needs a value");
		} else if (OPT("--prefix")) {
			if (!(o.prefix = value_of(a, 8, argc, argv, &i)))
				return bad_arg("--prefix needs a value");
		} else if (OPT("--start")) {
			if (!(o.start = value_of(a, 7, argc, argv, &i)))
				return bad_arg("--start needs a value");
		} else if (OPT("--end")) {
			if (!(o.end = value_of(a, 5, argc, argv, &i)))
				return bad_arg("--end needs a value");
		} else if (OPT("--limit")) {
			if (number(value_of(a, 7, argc, argv, &i), &o.limit))
				return bad_arg("--limit needs a number");
		} else if (OPT("--keep-since")) {
			const char *v = value_of(a, 12, argc, argv, &i);
			if (!v || parse_point(v, &o.keep_since))
				return bad_arg("--keep-since needs a txn id or "
					       "@UNIXTIME");
			compact_opt = "--keep-since";
		} else if (OPT("--keep-last")) {
			if (number(value_of(a, 11, argc, argv, &i),
				   &o.keep_last) ||
			    !o.keep_last)
				return bad_arg("--keep-last needs a number > 0");
		} else if (OPT("--keep-for")) {
			const char *v = value_of(a, 10, argc, argv, &i);
			if (!v || parse_duration(v, &o.keep_for_ns))
				return bad_arg("--keep-for needs a duration > 0: "
					       "seconds, or a number with s, m, "
					       "h or d after it (90, 15m, 7d)");
			policy_opt = "--keep-for";
		} else if (strcmp(a, "--keep-all") == 0) {
			o.keep_all = 1;
			policy_opt = "--keep-all";
		} else if (OPT("--auto")) {
			/* the ratio only after '=': "--auto DB" names the DB;
			 * by default the library's own threshold */
			quire_options qo;
			quire_options_init(&qo);
			o.auto_ratio = qo.auto_compact_ratio;
			if (a[6] == '=' && ratio(a + 7, &o.auto_ratio))
				return bad_arg("--auto needs a ratio from 0 to "
					       "below 1, as in --auto=0.5");
			o.has_auto = 1;
			compact_opt = "--auto";
		} else if (strcmp(a, "--quiet") == 0) {
			o.quiet = 1;
			compact_opt = "--quiet";
		} else if (OPT("--batch")) {
			if (number(value_of(a, 7, argc, argv, &i), &o.batch) ||
			    !o.batch)
				return bad_arg("--batch needs a number > 0");
		} else {
			fprintf(stderr, "quire: unknown option %s\n", a);
			return usage(NULL);
		}
#undef OPT
	}
	if (!o.cmd)
		return usage("no command");
	for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
		unsigned takes = commands[c].takes;
		const char *stray = NULL;
		if (strcmp(o.cmd, commands[c].name) != 0)
			continue;
		if (o.as_of.set && !(takes & TAKES_AS_OF))
			stray = "--as-of";
		else if (o.has_since && !(takes & TAKES_SINCE))
			stray = "--since";
		else if (o.follow && !(takes & TAKES_SINCE))
			stray = "--follow";
		else if (o.meta && !(takes & TAKES_META))
			stray = "--meta";
		else if (compact_opt && !(takes & TAKES_COMPACT))
			stray = compact_opt;
		else if (policy_opt && !(takes & TAKES_POLICY))
			stray = policy_opt;
		else if (o.keep_last && !(takes & TAKES_KEEP_LAST))
			stray = "--keep-last";
		if (stray) {
			fprintf(stderr, "quire: %s does not take %s%s\n", o.cmd,
				stray,
				stray == policy_opt && takes & TAKES_COMPACT
					? " (quire retention sets the policy "
					  "compact obeys)"
					: "");
			return usage(NULL);
		}
		return commands[c].fn(&o);
	}
	fprintf(stderr, "quire: unknown command %s\n", o.cmd);
	return usage(NULL);
}
